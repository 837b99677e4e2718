use oauth_runtime::requires_scope;

#[requires_scope(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all(all("a"))))))))))))))))))))))))))))))))))]
async fn handler() {}

fn main() {}
