use oauth_runtime::requires_scope;

#[requires_scope("payments:write", acr = "urn:example:mfa", acr = "urn:example:hwk")]
async fn handler() {}

fn main() {}
