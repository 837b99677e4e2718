use oauth_runtime::requires_scope;

#[requires_scope(r"photos\read")]
async fn handler() {}

fn main() {}
