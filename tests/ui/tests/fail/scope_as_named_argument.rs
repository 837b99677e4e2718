use oauth_runtime::requires_scope;

#[requires_scope(scope = "photos:read")]
async fn handler() {}

fn main() {}
