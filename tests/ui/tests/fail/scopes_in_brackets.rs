use oauth_runtime::requires_scope;

#[requires_scope(["photos:read", "albums:read"])]
async fn handler() {}

fn main() {}
