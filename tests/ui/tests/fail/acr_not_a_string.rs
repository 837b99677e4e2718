use oauth_runtime::requires_scope;

#[requires_scope("payments:write", acr = urn_example_mfa)]
async fn handler() {}

fn main() {}
