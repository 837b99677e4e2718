use oauth_runtime::requires_scope;

const PHOTOS_READ: &str = "photos:read";

#[requires_scope(PHOTOS_READ)]
async fn handler() {}

fn main() {}
