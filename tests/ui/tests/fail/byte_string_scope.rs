use oauth_runtime::requires_scope;

#[requires_scope(b"photos:read")]
async fn handler() {}

fn main() {}
