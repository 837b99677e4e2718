use oauth_runtime::requires_scope;

#[requires_scope("photos:read", crate = "renamed_runtime")]
async fn handler() {}

fn main() {}
