use oauth_runtime::requires_scope;

#[requires_scope("fotos:läsa")]
async fn handler() {}

fn main() {}
