//! huskarl: an `Rfc9068Validator` (RS256 only, issuer and audience required) whose verifier
//! factory hands it the run's JWK Set from memory instead of fetching a `jwks_uri`, as
//! huskarl-core's guide to static keys shows; `ValidatorLayer::require_scopes` requires
//! `photos:read`, as huskarl-axum's authorization guide shows. huskarl keeps no cache of
//! verified tokens: every request checks the signature.

use std::sync::Arc;

use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};
use huskarl_axum::layers::ValidatorLayer;
use huskarl_axum::resource_server::core::{
    EndpointUrl,
    crypto::verifier::{JwsVerifier, JwsVerifierFactory, JwsVerifierPlatform, MultiKeyVerifier},
    error::Error,
    jwk::{Jwks, PublicJwks},
    platform::MaybeSendBoxFuture,
};
use huskarl_axum::resource_server::validator::rfc9068::Rfc9068Validator;
use peers_common::{AUDIENCE, BODY, ISSUER, PATH, SCOPE, bind, fail, key_files};

/// The run's keys, given to the validator when it is built; nothing is fetched.
struct StaticKeys(PublicJwks);

impl JwsVerifierFactory for StaticKeys {
    fn build(
        &self,
        _jwks_uri: Option<&EndpointUrl>,
        platform: Arc<dyn JwsVerifierPlatform>,
    ) -> MaybeSendBoxFuture<'static, Result<Arc<dyn JwsVerifier>, Error>> {
        let jwks = self.0.clone();
        Box::pin(async move {
            let verifier = MultiKeyVerifier::from_jwks(&jwks, platform.as_ref()).await?;
            Ok(Arc::new(verifier) as Arc<dyn JwsVerifier>)
        })
    }
}

async fn photos() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let keys = key_files();
    let jwks: Jwks =
        serde_json::from_str(&keys.jwks_json).unwrap_or_else(|e| fail(&format!("JWK Set: {e}")));
    let validator = Rfc9068Validator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .allowed_signing_algorithms(vec!["RS256".to_owned()])
        .jws_verifier_factory(StaticKeys(jwks.into()))
        .build()
        .await
        .unwrap_or_else(|e| fail(&format!("validator: {e}")));
    let auth = ValidatorLayer::builder().validator(validator).build();
    let app = Router::new()
        .route(PATH, get(photos))
        .layer(auth.require_scopes([SCOPE]));
    let listener =
        tokio::net::TcpListener::from_std(bind()).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| fail(&format!("serve: {e}")));
}
