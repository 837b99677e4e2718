use oauth_runtime::requires_scope;

#[requires_scope("payments:write", dpop, dpop)]
async fn handler() {}

fn main() {}
