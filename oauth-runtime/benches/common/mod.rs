//! What the benchmarks compare: one token, our prepared verifier, and jsonwebtoken's key and
//! validation, built once; and one handler served with and without the guard.
#![allow(dead_code)] // Each benchmark uses part of this.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use oauth_runtime::{
    Algorithm, Authenticator, CachedVerifier, JwtVerifier, SigningKey, requires_scope,
};
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Case {
    pub token: String,
    pub ours: JwtVerifier,
    pub key: DecodingKey,
    pub validation: Validation,
}

/// Seconds since the Unix epoch, for claims.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An RFC 9068 token for `subject`, signed with `key`, valid for an hour.
pub fn token_for(key: &SigningKey, subject: &str) -> String {
    let now = unix_now();
    key.sign_jwt(&json!({
        "iss": "https://issuer.test", "aud": "api", "sub": subject, "client_id": "c",
        "iat": now, "exp": now + 3600, "jti": "j", "scope": "photos:read photos:write",
    }))
}

/// Our verifier for the tokens of [`token_for`].
pub fn verifier_for(key: &SigningKey) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .key(key.verification_key().expect("public key"))
        .build()
        .expect("verifier")
}

/// A fresh key of `alg`, an RFC 9068 token signed with it, and both verifiers, each checked once.
pub fn case(alg: Algorithm) -> Case {
    let signing = SigningKey::generate(alg).expect("key").with_kid("k");
    let token = token_for(&signing, "alice");
    let ours = verifier_for(&signing);
    let jwk: Jwk = serde_json::from_value(signing.public_jwk().expect("jwk")).expect("jwk");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&["https://issuer.test"]);
    validation.set_audience(&["api"]);
    assert!(ours.verify_token(&token).is_ok());
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
    Case {
        token,
        ours,
        key,
        validation,
    }
}

async fn open() -> &'static str {
    "ok"
}

#[requires_scope("photos:read")]
async fn protected() -> &'static str {
    "ok"
}

/// A handler that already takes an extractor, as most do: axum splits the request into parts for
/// it whether or not the guard is there.
async fn photo(Path(id): Path<u32>) -> String {
    id.to_string()
}

#[requires_scope("photos:read")]
async fn protected_photo(Path(id): Path<u32>) -> String {
    id.to_string()
}

/// The same in-process requests as the criterion group "axum handler": one router, each handler
/// unprotected and behind the guard with the token cache warm.
pub struct Served {
    pub app: Router,
    /// The same unprotected route in a router without the authenticator's layer.
    pub bare: Router,
    runtime: tokio::runtime::Runtime,
    authorization: String,
}

impl Served {
    pub fn new(c: &Case) -> Served {
        let app = Router::new()
            .route("/unguarded", get(open))
            .route("/protected", get(protected))
            .route("/unguarded/{id}", get(photo))
            .route("/protected/{id}", get(protected_photo))
            .layer(Authenticator::new(CachedVerifier::new(c.ours.clone())).layer())
            // What `axum::serve` does for every connection: handlers become routes once, instead
            // of on every request.
            .with_state(());
        let bare = Router::new()
            .route("/unguarded", get(open))
            .route("/protected", get(protected))
            .route("/unguarded/{id}", get(photo))
            .route("/protected/{id}", get(protected_photo))
            .with_state(());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let served = Served {
            app,
            bare,
            runtime,
            authorization: format!("Bearer {}", c.token),
        };
        // Warms the cache, and proves both routes answer 200.
        served.request(&served.app, "/unguarded");
        served.request(&served.app, "/protected");
        served.request(&served.bare, "/unguarded");
        served.request(&served.app, "/unguarded/7");
        served.request(&served.app, "/protected/7");
        served
    }

    pub fn request(&self, app: &Router, path: &str) {
        let request = Request::builder()
            .uri(path)
            .header("authorization", &self.authorization)
            .body(Body::empty())
            .expect("request");
        let response = self
            .runtime
            .block_on(app.clone().oneshot(request))
            .expect("infallible");
        assert!(response.status().is_success());
        black_box(response);
    }
}

/// Median, first and third quartile.
pub fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}
