use oauth_runtime::requires_scope;

#[requires_scope("payments:write", acr = "")]
async fn handler() {}

fn main() {}
