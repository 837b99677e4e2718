use oauth_runtime::requires_scope;

#[requires_scope("payments:write", acr = ["urn:example:mfa", "urn:example:mfa"])]
async fn handler() {}

fn main() {}
