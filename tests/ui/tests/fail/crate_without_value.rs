use oauth_runtime::requires_scope;

#[requires_scope("photos:read", crate)]
async fn handler() {}

fn main() {}
