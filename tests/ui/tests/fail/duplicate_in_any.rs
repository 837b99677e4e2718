use oauth_runtime::requires_scope;

#[requires_scope(any("a", "b", "a"))]
async fn handler() {}

fn main() {}
