//! A scope hierarchy: a broader scope meets the requirement of every scope it implies,
//! transitively, and the catalog shows what implies what.
use oauth_runtime::{Requirement, ScopeSet, catalog, requires_scope};

oauth_runtime::scopes! {
    /// Manage the photos
    pub PHOTOS_ADMIN = "photos:admin" => [PHOTOS_WRITE];
    /// Upload photos
    pub PHOTOS_WRITE = "photos:write" => [PHOTOS_READ,];
    /// See your photos
    pub PHOTOS_READ = "photos:read";
}

#[requires_scope(PHOTOS_READ, route = "GET /photos")]
async fn photos() {}

#[requires_scope(PHOTOS_WRITE, route = "POST /photos")]
async fn upload() {}

#[requires_scope(PHOTOS_ADMIN, route = "DELETE /photos")]
async fn purge() {}

fn main() {
    let admin: ScopeSet = "photos:admin".parse().unwrap();
    assert!(Requirement::Scope(PHOTOS_READ.token()).is_satisfied_by(&admin));
    assert_eq!(PHOTOS_WRITE.implies(), ["photos:read"]);
    assert_eq!(catalog::hierarchy().implied_by("photos:read").len(), 2);
    assert_eq!(catalog::check(), Ok(()));
}
