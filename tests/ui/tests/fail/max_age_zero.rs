use oauth_runtime::requires_scope;

#[requires_scope("payments:write", max_age = 0)]
async fn handler() {}

fn main() {}
