//! The photo API (see `photos-demo` for its routes and scopes), protected with
//! `#[requires_scope]` on axum.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use oauth_runtime::{Authenticator, Claims, requires_scope};
use photos_demo::{
    ALBUMS_READ, Album, ClientApp, NewPhoto, PHOTOS_DELETE, PHOTOS_READ, PHOTOS_WRITE, Photo, Store,
};

#[requires_scope(PHOTOS_READ)]
#[utoipa::path(get, path = "/photos", responses((status = 200, description = "All photos")))]
async fn list_photos(State(store): State<Store>) -> Json<Vec<Photo>> {
    Json(store.list())
}

#[requires_scope(PHOTOS_WRITE)]
#[utoipa::path(post, path = "/photos", responses((status = 201, description = "The new photo")))]
async fn create_photo(
    State(store): State<Store>,
    claims: Claims,
    Json(new): Json<NewPhoto>,
) -> (StatusCode, Json<Photo>) {
    let owner = claims.subject().unwrap_or("unknown").to_owned();
    (StatusCode::CREATED, Json(store.create(new.title, owner)))
}

#[requires_scope(PHOTOS_WRITE, PHOTOS_DELETE)]
#[utoipa::path(delete, path = "/photos/{id}", params(("id" = u64, Path, description = "The photo")), responses((status = 204, description = "Deleted"), (status = 404, description = "No such photo")))]
async fn delete_photo(State(store): State<Store>, Path(id): Path<u64>) -> StatusCode {
    if store.delete(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[requires_scope(any(PHOTOS_READ, ALBUMS_READ))]
#[utoipa::path(get, path = "/albums", responses((status = 200, description = "The albums")))]
async fn list_albums(State(store): State<Store>) -> Json<Vec<Album>> {
    Json(store.albums())
}

async fn health() -> &'static str {
    "ok"
}

/// The API's OpenAPI description; the security parts come from the `#[requires_scope]`
/// annotations and the scope catalog.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(list_photos, create_photo, delete_photo, list_albums))]
pub struct ApiDoc;

/// The OpenAPI document, with the OAuth2 scheme pointing at the authorization server `issuer`.
pub fn openapi(issuer: &str) -> utoipa::openapi::OpenApi {
    use utoipa::{Modify, OpenApi};
    let mut doc = ApiDoc::openapi();
    oauth_runtime::openapi::OAuth2Security::for_issuer(issuer).modify(&mut doc);
    doc
}

async fn home(State(client): State<Arc<ClientApp>>) -> Html<String> {
    Html(client.home())
}

async fn login(State(client): State<Arc<ClientApp>>) -> Response {
    match client.login() {
        Ok(login) => (
            [(SET_COOKIE, login.set_cookie)],
            Redirect::to(&login.location),
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error).into_response(),
    }
}

async fn callback(
    State(client): State<Arc<ClientApp>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let browser = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .find_map(photos_demo::login_cookie);
    match client.callback(query.as_deref(), browser).await {
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

/// The API of [`app`] with `GET /metrics`: what `handle`'s recorder holds, in the Prometheus
/// text format. Unguarded, like `/health`: a scraper has no token, and the page holds counts
/// and fixed labels only (see `oauth_runtime::metrics`), never a token or a subject.
pub fn app_with_metrics(
    authenticator: Authenticator,
    client: Arc<ClientApp>,
    handle: PrometheusHandle,
) -> Router {
    app(authenticator, client).merge(metrics_routes(handle))
}

/// `GET /metrics` alone, rendering `handle`.
pub fn metrics_routes(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let page = handle.render();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    page,
                )
            }
        }),
    )
}

/// The example's Prometheus recorder settings: histogram buckets for the introspection
/// latency (a summary otherwise), from 5 ms to the 5 s default timeout.
pub fn prometheus_builder() -> PrometheusBuilder {
    const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
    let builder = PrometheusBuilder::new();
    let matcher = Matcher::Full(oauth_runtime::metrics::INTROSPECTION_DURATION.to_owned());
    // Fails only for an empty list of buckets.
    match builder.set_buckets_for_metric(matcher, &BUCKETS) {
        Ok(builder) => builder,
        Err(_) => PrometheusBuilder::new(),
    }
}

/// Installs the Prometheus recorder as the process's recorder, once: a process has one global
/// recorder, so later calls return the same handle instead of failing. Call it before the
/// first request (`oauth_runtime::metrics` explains why). Errors if another recorder was
/// installed before.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    static INSTALLED: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let handle = prometheus_builder()
                .install_recorder()
                .map_err(|e| e.to_string())?;
            oauth_runtime::metrics::describe();
            Ok(handle)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    /// The global recorder can be set once per process: a second install hands back the first
    /// one's handle instead of failing.
    #[test]
    fn metrics_are_installed_once_per_process() {
        let first = super::install_metrics().expect("installed");
        metrics::counter!("photos_axum_test_total").increment(1);
        let second = super::install_metrics().expect("the same recorder");
        assert!(second.render().contains("photos_axum_test_total 1"));
        drop(first);
    }
}
