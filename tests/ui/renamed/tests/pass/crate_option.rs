//! The runtime under another name, given to the attribute with `crate = ..`: directly, from the
//! crate root, and through a re-export; on axum and on Rocket (whose typed-segment check names
//! the runtime too), with literals and declared scopes.
use axum::{Router, routing::get};
use renamed_runtime::{Claims, ScopeRequirement, catalog, requires_scope};

mod scopes {
    renamed_runtime::scopes! {
        /// See your photos
        pub PHOTOS_READ = "photos:read";
        /// See your albums
        pub ALBUMS_READ = "albums:read";
    }
}

mod my_reexport {
    pub use renamed_runtime as oauth_runtime;
}

#[requires_scope("photos:read", crate = renamed_runtime)]
async fn list_photos(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

#[requires_scope(any(scopes::PHOTOS_READ, scopes::ALBUMS_READ), crate = ::renamed_runtime, route = "GET /albums")]
async fn albums() {}

mod nested {
    use super::*;

    #[requires_scope("photos:write", crate = crate::my_reexport::oauth_runtime)]
    #[requires_scope("photos:read", crate = renamed_runtime)]
    pub async fn upload() {}
}

#[requires_scope(scopes::PHOTOS_READ, crate = renamed_runtime)]
#[rocket::get("/photos/<id>/<rest..>")]
async fn photo(id: u32, rest: std::path::PathBuf) -> String {
    format!("{id} {}", rest.display())
}

fn main() {
    let _: Router = Router::new()
        .route("/photos", get(list_photos))
        .route("/albums", get(albums))
        .route("/upload", get(nested::upload));
    let _ = rocket::build().mount("/", rocket::routes![photo]);
    assert_eq!(
        __requires_scope_0_of_albums_must_sit_below_debug_handler_and_above_any_route_attribute::REQUIREMENT.to_string(),
        "any(photos:read, albums:read)"
    );
    let routes: Vec<_> = catalog::endpoints().into_iter().filter_map(|e| e.route()).collect();
    assert!(routes.contains(&"GET /albums") && routes.contains(&"GET /photos/<id>/<rest..>"), "{routes:?}");
}
