// `#[axum::debug_handler]` above the attribute checks the handler before the guard parameter is
// added, and its checks call the handler without it. The build fails, and the missing argument's
// type says where the attribute goes: below `debug_handler`.
use oauth_runtime::{Claims, requires_scope};

#[axum::debug_handler]
#[requires_scope("photos:read")]
async fn list_photos(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

fn main() {
    let _: axum::Router = axum::Router::new().route("/photos", axum::routing::get(list_photos));
}
