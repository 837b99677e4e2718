use oauth_runtime::requires_scope;

#[requires_scope()]
async fn handler() {}

fn main() {}
