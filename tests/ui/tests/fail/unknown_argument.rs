use oauth_runtime::requires_scope;

#[requires_scope("photos:read", rank = 2)]
async fn handler() {}

fn main() {}
