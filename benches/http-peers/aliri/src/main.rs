//! aliri 0.6: an `Authority` over the run's JWK Set held in memory, with the algorithm, issuer
//! and audience pinned; `aliri_tower`'s `jwt_layer` verifies the token and an `aliri_axum`
//! scope guard requires `photos:read`, as aliri_axum's example does. aliri keeps no cache of
//! verified tokens: every request checks the signature.

use aliri::{Jwks, jwa, jwt};
use aliri_clock::UnixTime;
use aliri_oauth2::{Authority, HasScope, Scope};
use aliri_tower::Oauth2Authorizer;
use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};
use peers_common::{AUDIENCE, BODY, ISSUER, PATH, bind, fail, key_files};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
struct Claims {
    iss: jwt::Issuer,
    aud: jwt::Audiences,
    sub: jwt::Subject,
    exp: UnixTime,
    scope: Scope,
}

impl jwt::CoreClaims for Claims {
    fn nbf(&self) -> Option<UnixTime> {
        None
    }
    fn exp(&self) -> Option<UnixTime> {
        Some(self.exp)
    }
    fn aud(&self) -> &jwt::Audiences {
        &self.aud
    }
    fn iss(&self) -> Option<&jwt::IssuerRef> {
        Some(&self.iss)
    }
    fn sub(&self) -> Option<&jwt::SubjectRef> {
        Some(&self.sub)
    }
}

impl HasScope for Claims {
    fn scope(&self) -> &Scope {
        &self.scope
    }
}

aliri_axum::scope_guards! {
    type Claims = Claims;

    scope PhotosRead = "photos:read";
}

async fn photos(_: PhotosRead) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let keys = key_files();
    let jwks: Jwks =
        serde_json::from_str(&keys.jwks_json).unwrap_or_else(|e| fail(&format!("JWK Set: {e}")));
    let validator = jwt::CoreValidator::default()
        .add_approved_algorithm(jwa::Algorithm::RS256)
        .add_allowed_audience(jwt::Audience::from_static(AUDIENCE))
        .require_issuer(jwt::Issuer::from_static(ISSUER));
    let authority = Authority::new(jwks, validator);
    let authorizer = Oauth2Authorizer::new()
        .with_claims::<Claims>()
        .with_terse_error_handler();
    let app = Router::new()
        .route(PATH, get(photos))
        .layer(authorizer.jwt_layer(authority));
    let listener =
        tokio::net::TcpListener::from_std(bind()).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| fail(&format!("serve: {e}")));
}
