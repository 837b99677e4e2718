use oauth_runtime::requires_scope;

#[requires_scope(all(any("photos:read", ""), "albums read"))]
async fn handler() {}

fn main() {}
