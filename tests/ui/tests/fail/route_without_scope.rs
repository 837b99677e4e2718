use oauth_runtime::requires_scope;

#[requires_scope(route = "GET /photos")]
async fn handler() {}

fn main() {}
