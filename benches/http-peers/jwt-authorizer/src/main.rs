//! jwt-authorizer 0.15: its layer with the key in memory (`from_rsa_pem_text`: nothing
//! to fetch or refresh), issuer and audience validated, and a claims check for the
//! scope, which its documentation gives as the way to express a permission (a failed check
//! is its 403). The crate has no cache of verified tokens: every request checks the signature.
//! Served from axum 0.7, the version the crate is built on.

use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, Validation};
use peers_common::{AUDIENCE, BODY, ISSUER, PATH, SCOPE, bind, fail, key_files};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
struct Claims {
    #[serde(default)]
    scope: String,
}

// Takes the claims as the crate's examples do, so that the extraction is measured too.
async fn photos(JwtClaims(_claims): JwtClaims<Claims>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let keys = key_files();
    let authorizer = JwtAuthorizer::<Claims>::from_rsa_pem_text(&keys.public_pem)
        .validation(Validation::new().iss(&[ISSUER]).aud(&[AUDIENCE]))
        .check(|claims: &Claims| claims.scope.split(' ').any(|s| s == SCOPE))
        .build()
        .await
        .unwrap_or_else(|e| fail(&format!("authorizer: {e}")));
    let app = Router::new()
        .route(PATH, get(photos))
        .layer(authorizer.into_layer());
    let listener =
        tokio::net::TcpListener::from_std(bind()).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| fail(&format!("serve: {e}")));
}
