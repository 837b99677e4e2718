use oauth_runtime::requires_scope;

#[requires_scope("profile", any())]
async fn handler() {}

fn main() {}
