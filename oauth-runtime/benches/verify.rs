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
use oauth_runtime::{Algorithm, JwtVerifier, SigningKey};
use serde_json::{Value, json};

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

fn verify(c: &mut Criterion) {
    bench_alg(c, Algorithm::ES256);
    bench_alg(c, Algorithm::RS256);
}

criterion_group!(benches, verify);
criterion_main!(benches);
