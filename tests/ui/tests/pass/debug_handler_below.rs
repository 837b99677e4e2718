//! The meant order on axum: `#[requires_scope]` above `#[axum::debug_handler]`, which then checks
//! the handler with its guard parameter; `#[tracing::instrument]` goes above both, so that the
//! guard is no field of its span.
use oauth_runtime::{Claims, requires_scope};

#[requires_scope("photos:read")]
#[axum::debug_handler]
async fn list_photos(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

fn main() {
    let _: axum::Router = axum::Router::new().route("/photos", axum::routing::get(list_photos));
}
