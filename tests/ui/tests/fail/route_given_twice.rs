use oauth_runtime::requires_scope;

#[requires_scope("photos:read", route = "GET /photos", route = "GET /pictures")]
async fn handler() {}

fn main() {}
