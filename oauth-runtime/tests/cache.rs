//! The verified-token cache: hits skip the verifier, entries end at the token's `exp`, failures
//! are never cached, and memory stays within its bounds however many tokens pass.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth_runtime::{
    Algorithm, CachedVerifier, Claims, JwtVerifier, ScopeClaim, SigningKey, TokenVerifier,
    VerifyError,
};
use serde_json::json;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Counts calls to a real verifier.
struct Counting<V>(V, Arc<AtomicUsize>);

#[async_trait::async_trait]
impl<V: TokenVerifier> TokenVerifier for Counting<V> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.verify(token).await
    }
}

fn setup() -> (
    SigningKey,
    CachedVerifier<Counting<JwtVerifier>>,
    Arc<AtomicUsize>,
) {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let verifier = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .key(key.verification_key().unwrap())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    (
        key,
        CachedVerifier::new(Counting(verifier, calls.clone())),
        calls,
    )
}

fn token(key: &SigningKey, exp: i64) -> String {
    key.sign_jwt(
        &json!({"iss": "https://issuer.test", "aud": "api", "exp": exp, "scope": "a", "sub": "s"}),
    )
}

#[tokio::test]
async fn a_repeated_token_is_verified_once() {
    let (key, cached, calls) = setup();
    let t = token(&key, now() + 600);
    for _ in 0..100 {
        assert_eq!(cached.verify(&t).await.unwrap().subject(), Some("s"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn entries_end_at_the_tokens_expiry() {
    let (key, cached, calls) = setup();
    let t = token(&key, now() + 1);
    cached.verify(&t).await.unwrap();
    cached.verify(&t).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Past `exp` the cache never answers; the verifier decides (here its 60 s leeway accepts).
    cached.verify(&t).await.unwrap();
    cached.verify(&t).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "expired entries are neither served nor stored"
    );
}

#[tokio::test]
async fn failures_are_not_cached() {
    let (key, cached, calls) = setup();
    let expired = token(&key, now() - 3600);
    assert_eq!(
        cached.verify(&expired).await.unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(
        cached.verify(&expired).await.unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(cached.is_empty());
}

/// Answers every token with the same claims, at no cost, to push a million through the cache.
struct Accepting(Claims);

#[async_trait::async_trait]
impl TokenVerifier for Accepting {
    async fn verify(&self, _: &str) -> Result<Claims, VerifyError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn a_million_distinct_tokens_stay_within_the_bounds() {
    let claims = Claims::from_json(
        json!({"exp": now() + 3600, "scope": "a"}),
        &ScopeClaim::Standard,
    )
    .unwrap();
    let (max_entries, max_bytes) = (20_000, 2 << 20);
    let cached = CachedVerifier::new(Accepting(claims))
        .max_entries(max_entries)
        .max_bytes(max_bytes);
    let pad = "x".repeat(300);
    for i in 0..1_000_000u32 {
        cached.verify(&format!("{pad}{i}")).await.unwrap();
        if i % 100_000 == 0 {
            assert!(cached.len() <= max_entries && cached.bytes() <= max_bytes);
        }
    }
    assert!(cached.len() <= max_entries, "{}", cached.len());
    assert!(cached.bytes() <= max_bytes, "{}", cached.bytes());
    // With ~560 accounted bytes per entry, the byte bound is the tighter one here.
    assert!(
        cached.len() > 3_000,
        "the cache still holds what fits: {}",
        cached.len()
    );
}
