// The guard is an ordinary extractor: a handler whose other parameters axum cannot extract is
// still refused, and the error names the user's handler.
use axum::{Router, routing::get};
use oauth_runtime::requires_scope;

struct NotAnExtractor;

#[requires_scope("photos:read")]
async fn handler(_: NotAnExtractor) {}

fn main() {
    let _: Router = Router::new().route("/", get(handler));
}
