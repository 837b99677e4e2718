use oauth_runtime::requires_scope;

#[requires_scope(concat!("photos", ":read"))]
async fn handler() {}

fn main() {}
