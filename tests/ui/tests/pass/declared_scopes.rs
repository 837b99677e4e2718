//! Declared scopes in place of literals, mixed with literals and nested, and their catalog entry.
use axum::{Router, routing::get};
use oauth_runtime::{ScopeRequirement, catalog, requires_scope};

mod scopes {
    oauth_runtime::scopes! {
        /// See your photos
        pub PHOTOS_READ = "photos:read";
        /// See your albums
        pub ALBUMS_READ = "albums:read";
    }
}
use scopes::PHOTOS_READ;

#[requires_scope(PHOTOS_READ, route = "GET /photos")]
async fn photos() {}

#[requires_scope(any(scopes::PHOTOS_READ, scopes::ALBUMS_READ), "profile")]
async fn albums() {}

fn main() {
    let _: Router = Router::new().route("/photos", get(photos)).route("/albums", get(albums));
    assert_eq!(
        __requires_scope_0_of_albums_must_sit_below_debug_handler_and_above_any_route_attribute::REQUIREMENT.to_string(),
        "all(any(photos:read, albums:read), profile)"
    );
    let photos = catalog::endpoints().into_iter().find(|e| e.function().ends_with("::photos")).unwrap();
    assert_eq!((photos.route(), photos.requirement().to_string().as_str()), (Some("GET /photos"), "photos:read"));
    // `profile` is used but not declared.
    let problems = catalog::check().unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
}
