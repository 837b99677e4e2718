//! The photo API (see `photos-demo` for its routes and scopes), protected with
//! `#[requires_scope]` on axum.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use oauth_runtime::{Authenticator, Claims, requires_scope};
use photos_demo::{
    ALBUMS_READ, Album, ClientApp, NewPhoto, PHOTOS_DELETE, PHOTOS_READ, PHOTOS_WRITE, Photo, Store,
};

#[requires_scope(PHOTOS_READ, route = "GET /photos")]
async fn list_photos(State(store): State<Store>) -> Json<Vec<Photo>> {
    Json(store.list())
}

#[requires_scope(PHOTOS_WRITE, route = "POST /photos")]
async fn create_photo(
    State(store): State<Store>,
    claims: Claims,
    Json(new): Json<NewPhoto>,
) -> (StatusCode, Json<Photo>) {
    let owner = claims.subject().unwrap_or("unknown").to_owned();
    (StatusCode::CREATED, Json(store.create(new.title, owner)))
}

#[requires_scope(PHOTOS_WRITE, PHOTOS_DELETE, route = "DELETE /photos/{id}")]
async fn delete_photo(State(store): State<Store>, Path(id): Path<u64>) -> StatusCode {
    if store.delete(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[requires_scope(any(PHOTOS_READ, ALBUMS_READ), route = "GET /albums")]
async fn list_albums(State(store): State<Store>) -> Json<Vec<Album>> {
    Json(store.albums())
}

async fn health() -> &'static str {
    "ok"
}

async fn home(State(client): State<Arc<ClientApp>>) -> Html<String> {
    Html(client.home())
}

async fn login(State(client): State<Arc<ClientApp>>) -> Redirect {
    Redirect::to(&client.login())
}

async fn callback(State(client): State<Arc<ClientApp>>, RawQuery(query): RawQuery) -> Response {
    match client.callback(query.as_deref()).await {
        Ok(page) => Html(page).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error).into_response(),
    }
}

/// The API's routes, protected by `authenticator`, and the web client's pages (`/`, `/login`,
/// `/callback`).
pub fn app(authenticator: Authenticator, client: Arc<ClientApp>) -> Router {
    let pages = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .with_state(client);
    Router::new()
        .route("/photos", get(list_photos).post(create_photo))
        .route("/photos/{id}", delete(delete_photo))
        .route("/albums", get(list_albums))
        .route("/health", get(health))
        .with_state(Store::default())
        .merge(authenticator.metadata_routes())
        .layer(authenticator.layer())
        .merge(pages)
}
