use oauth_runtime::requires_scope;

#[requires_scope("payments:write", dpop = true)]
async fn handler() {}

fn main() {}
