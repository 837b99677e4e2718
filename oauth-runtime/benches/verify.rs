//! Our JWT verification against a bare `jsonwebtoken::decode` of the same token, in the same run.
//!
//! `cargo bench -p oauth-runtime --bench verify`; results and ratios are in BENCHMARKS.md.
//! The baseline gets every advantage we get: its `DecodingKey` and `Validation` are built once,
//! outside the timed loop, exactly as ours are.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use oauth_runtime::{
    Algorithm, Authenticator, CachedVerifier, JwtVerifier, SigningKey, TokenVerifier,
    requires_scope,
};
use serde_json::{Value, json};
use tower::ServiceExt;

fn bench_alg(c: &mut Criterion, alg: Algorithm) {
    let signing = SigningKey::generate(alg).expect("key").with_kid("k");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = signing.sign_jwt(&json!({
        "iss": "https://issuer.test", "aud": "api", "sub": "alice", "client_id": "c",
        "iat": now, "exp": now + 3600, "jti": "j", "scope": "photos:read photos:write",
    }));

    let ours = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .key(signing.verification_key().expect("public key"))
        .build()
        .expect("verifier");
    assert!(ours.verify_token(&token).is_ok());

    let jwk: Jwk = serde_json::from_value(signing.public_jwk().expect("jwk")).expect("jwk");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&["https://issuer.test"]);
    validation.set_audience(&["api"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());

    let mut group = c.benchmark_group(format!("{alg:?}"));
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &key, &validation))
    });
    group.bench_function("JwtVerifier::verify_token", |b| {
        b.iter(|| ours.verify_token(black_box(&token)))
    });
    group.bench_function("JwtVerifier::verify_signature", |b| {
        b.iter(|| ours.verify_signature(black_box(&token)))
    });
    group.finish();
}

/// Polls a future that completes without waiting, as a cache hit does.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cache hit must not wait"),
    }
}

fn es256_setup() -> (String, JwtVerifier, DecodingKey, Validation) {
    let signing = SigningKey::generate(Algorithm::ES256)
        .expect("key")
        .with_kid("k");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = signing.sign_jwt(&json!({
        "iss": "https://issuer.test", "aud": "api", "sub": "alice", "client_id": "c",
        "iat": now, "exp": now + 3600, "jti": "j", "scope": "photos:read photos:write",
    }));
    let ours = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .key(signing.verification_key().expect("public key"))
        .build()
        .expect("verifier");
    let jwk: Jwk = serde_json::from_value(signing.public_jwk().expect("jwk")).expect("jwk");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&["https://issuer.test"]);
    validation.set_audience(&["api"]);
    (token, ours, key, validation)
}

/// The verified-token cache, warm, against the uncached verifier and a bare decode.
fn cache(c: &mut Criterion) {
    let (token, ours, key, validation) = es256_setup();
    let cached = CachedVerifier::new(ours.clone());
    assert!(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt")
            .block_on(cached.verify(&token))
            .is_ok()
    );
    let mut group = c.benchmark_group("cache ES256");
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &key, &validation))
    });
    group.bench_function("JwtVerifier::verify_token", |b| {
        b.iter(|| ours.verify_token(black_box(&token)))
    });
    group.bench_function("CachedVerifier::verify (hit)", |b| {
        b.iter(|| ready(cached.verify(black_box(&token))))
    });
    group.finish();
}

async fn open() -> &'static str {
    "ok"
}

#[requires_scope("photos:read")]
async fn protected() -> &'static str {
    "ok"
}

/// A handler behind the guard (token cache warm) against the same handler unprotected, both
/// served in-process through `tower::ServiceExt::oneshot`, with the same request.
fn guard(c: &mut Criterion) {
    let (token, ours, _, _) = es256_setup();
    let app = Router::new()
        .route("/open", get(open))
        .route("/protected", get(protected))
        .layer(Authenticator::new(CachedVerifier::new(ours)).layer());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let request = |path: &str| {
        Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    let status = runtime
        .block_on(app.clone().oneshot(request("/protected")))
        .expect("infallible")
        .status();
    assert!(status.is_success());
    let mut group = c.benchmark_group("axum handler");
    for path in ["/open", "/protected"] {
        group.bench_function(path, |b| {
            b.iter(|| {
                runtime
                    .block_on(app.clone().oneshot(request(path)))
                    .expect("infallible")
            })
        });
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    bench_alg(c, Algorithm::ES256);
    bench_alg(c, Algorithm::RS256);
}

criterion_group!(benches, verify, cache, guard);
criterion_main!(benches);
