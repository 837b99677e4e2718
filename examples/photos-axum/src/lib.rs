//! The photo API (see `photos-demo` for its routes and scopes), protected with
//! `#[requires_scope]` on axum.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use oauth_runtime::{Authenticator, Claims, requires_scope};
use photos_demo::{Album, NewPhoto, Photo, Store};

#[requires_scope("photos:read")]
async fn list_photos(State(store): State<Store>) -> Json<Vec<Photo>> {
    Json(store.list())
}

#[requires_scope("photos:write")]
async fn create_photo(
    State(store): State<Store>,
    claims: Claims,
    Json(new): Json<NewPhoto>,
) -> (StatusCode, Json<Photo>) {
    let owner = claims.subject().unwrap_or("unknown").to_owned();
    (StatusCode::CREATED, Json(store.create(new.title, owner)))
}

#[requires_scope("photos:write", "photos:delete")]
async fn delete_photo(State(store): State<Store>, Path(id): Path<u64>) -> StatusCode {
    if store.delete(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[requires_scope(any("photos:read", "albums:read"))]
async fn list_albums(State(store): State<Store>) -> Json<Vec<Album>> {
    Json(store.albums())
}

async fn health() -> &'static str {
    "ok"
}

/// The API's routes, protected by `authenticator`.
pub fn app(authenticator: Authenticator) -> Router {
    Router::new()
        .route("/photos", get(list_photos).post(create_photo))
        .route("/photos/{id}", delete(delete_photo))
        .route("/albums", get(list_albums))
        .route("/health", get(health))
        .with_state(Store::default())
        .layer(authenticator.layer())
}
