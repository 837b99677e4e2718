use oauth_runtime::requires_scope;

#[requires_scope(42)]
async fn handler() {}

fn main() {}
