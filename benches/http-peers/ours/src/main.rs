//! Ours: `#[requires_scope("photos:read")]` behind `Authenticator::layer()`, as the README's
//! first example shows, with the key in memory. By default the verifier is wrapped in a
//! `CachedVerifier` (the configuration the README recommends for production, and the one the
//! guide's throughput claim is about); `ours KEY_DIR --no-cache` serves the README's first
//! example verbatim, a signature check on every request.

use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};
use oauth_runtime::{Authenticator, CachedVerifier, JwtVerifier, Key, requires_scope};
use peers_common::{AUDIENCE, BODY, ISSUER, PATH, bind, fail, key_files};

#[requires_scope("photos:read")]
async fn photos() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let keys = key_files();
    let verifier = JwtVerifier::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .key(Key::from_pem(&keys.public_pem).unwrap_or_else(|e| fail(&format!("key: {e}"))))
        .build()
        .unwrap_or_else(|e| fail(&format!("verifier: {e}")));
    let authenticator = if std::env::args().any(|a| a == "--no-cache") {
        Authenticator::new(verifier)
    } else {
        Authenticator::new(CachedVerifier::new(verifier))
    };
    let app = Router::new()
        .route(PATH, get(photos))
        .layer(authenticator.layer());
    let listener =
        tokio::net::TcpListener::from_std(bind()).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| fail(&format!("serve: {e}")));
}
