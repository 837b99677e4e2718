use oauth_runtime::requires_scope;

#[requires_scope(one_of("photos:read", "albums:read"))]
async fn handler() {}

fn main() {}
