use oauth_runtime::requires_scope;

#[requires_scope("payments:write", max_age = -300)]
async fn handler() {}

fn main() {}
