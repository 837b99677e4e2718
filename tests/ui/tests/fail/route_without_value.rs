use oauth_runtime::requires_scope;

#[requires_scope("photos:read", route)]
async fn handler() {}

fn main() {}
