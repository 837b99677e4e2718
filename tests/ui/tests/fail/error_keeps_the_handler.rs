// A wrong attribute is one error, and the handler stays as written: `main` still finds and routes
// it, so there is no follow-on "cannot find value" error, and rust-analyzer keeps seeing the
// function's body while the attribute is being fixed. The build fails, so nothing is served
// unprotected.
use axum::{Router, routing::get};
use oauth_runtime::{Claims, requires_scope};

#[requires_scope("photos read")]
async fn list_photos(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

fn main() {
    let _: Router = Router::new().route("/photos", get(list_photos));
}
