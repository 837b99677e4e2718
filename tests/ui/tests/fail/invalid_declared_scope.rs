// A declared scope that breaks RFC 6749 §3.3 is refused when its constant is evaluated.
use oauth_runtime::requires_scope;

oauth_runtime::scopes! {
    /// Has a space
    pub BAD = "photos read";
}

#[requires_scope(BAD)]
async fn handler() {}

fn main() {}
