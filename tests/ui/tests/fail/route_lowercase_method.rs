use oauth_runtime::requires_scope;

#[requires_scope("photos:read", route = "get /photos")]
async fn handler() {}

fn main() {}
