use oauth_runtime::requires_scope;

#[requires_scope("photos:read", "photos:write", "photos:read")]
async fn handler() {}

fn main() {}
