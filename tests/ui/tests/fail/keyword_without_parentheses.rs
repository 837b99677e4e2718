use oauth_runtime::requires_scope;

#[requires_scope(any)]
async fn handler() {}

fn main() {}
