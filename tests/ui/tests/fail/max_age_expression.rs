use oauth_runtime::requires_scope;

#[requires_scope("payments:write", max_age = 5 * 60)]
async fn handler() {}

fn main() {}
