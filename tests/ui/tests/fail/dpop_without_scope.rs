use oauth_runtime::requires_scope;

#[requires_scope(dpop, acr = "urn:example:mfa")]
async fn handler() {}

fn main() {}
