//! The verified-token cache: hits skip the verifier, entries end at the token's `exp`, failures
//! are never cached, and only the exact token hits. Its memory bound is in `cache_memory.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth_runtime::{
    Algorithm, AuthError, Authenticator, CachedVerifier, Claims, JwtVerifier, ManualClock,
    SigningKey, TokenVerifier, VerifyError,
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

/// One clock moves the verifier and the cache together: no sleeping.
#[tokio::test]
async fn entries_end_at_the_tokens_expiry() {
    let clock = ManualClock::at_unix(1_000_000);
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let verifier = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .key(key.verification_key().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let cached = CachedVerifier::new(Counting(verifier, calls.clone())).clock(clock.clone());
    let t = token(&key, 1_000_002);
    cached.verify(&t).await.unwrap();
    cached.verify(&t).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(2));
    // Past `exp` the cache never answers; the verifier decides (here its 60 s leeway accepts).
    cached.verify(&t).await.unwrap();
    cached.verify(&t).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "expired entries are neither served nor stored"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(cached.verify(&t).await.unwrap_err(), VerifyError::Expired);
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

/// Entries are found by a fast hash but used only for the very token verified: a token one byte
/// away, at either end, is verified (and refused), never served from the entry.
#[tokio::test]
async fn only_the_exact_token_hits_its_entry() {
    let (key, cached, calls) = setup();
    let t = token(&key, now() + 600);
    cached.verify(&t).await.unwrap();
    let flip = |i: usize| {
        let mut bytes = t.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    for altered in [flip(0), flip(t.len() / 2), flip(t.len() - 1)] {
        assert_ne!(altered, t);
        assert!(cached.verify(&altered).await.is_err());
        assert_eq!(
            cached.verify_now(altered.as_bytes()).map(|r| r.is_ok()),
            None
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert!(cached.verify_now(t.as_bytes()).is_some_and(|r| r.is_ok()));
}

/// The request path asks the cache before checking a token's characters (RFC 6750 §2.1), but
/// takes only an acceptance from it then (refusals are kept apart and consulted only by
/// `verify`, after the syntax checks): a malformed token is answered as malformed even when the
/// cache remembers refusing it.
#[tokio::test]
async fn a_remembered_refusal_does_not_hide_a_syntax_error() {
    let (_, cached, _) = setup();
    let cached = Arc::new(cached.negative_ttl(Duration::from_secs(60)));
    let malformed = "not%a%b64token";
    assert!(cached.verify(malformed).await.is_err());
    assert_eq!(cached.refusals(), 1);
    assert!(cached.verify_now(malformed.as_bytes()).is_none());
    let authenticator = Authenticator::new(Arc::clone(&cached));
    let header = format!("Bearer {malformed}");
    let error = authenticator
        .authenticate(std::iter::once(header.as_bytes()), None)
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::InvalidRequest(_)), "{error:?}");
}

/// A real verifier that takes its time, counting calls.
struct Slow<V>(V, Arc<AtomicUsize>, Duration);

#[async_trait::async_trait]
impl<V: TokenVerifier> TokenVerifier for Slow<V> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.2).await;
        self.0.verify(token).await
    }
}

fn slow(
    delay: Duration,
) -> (
    SigningKey,
    Arc<CachedVerifier<Slow<JwtVerifier>>>,
    Arc<AtomicUsize>,
) {
    let (key, cached, _) = setup();
    let calls = Arc::new(AtomicUsize::new(0));
    let verifier = cached.inner().0.clone();
    let cached = CachedVerifier::new(Slow(verifier, calls.clone(), delay));
    (key, Arc::new(cached), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_a_new_token_verify_it_once() {
    let (key, cached, calls) = slow(Duration::from_millis(100));
    let t = Arc::new(token(&key, now() + 600));
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let (cached, t) = (Arc::clone(&cached), Arc::clone(&t));
            tokio::spawn(async move { cached.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().subject(), Some("s"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cached.verifying(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_requests_leave_nothing_behind() {
    let (key, cached, calls) = slow(Duration::from_millis(300));
    // Requests given up midway (a client gone), each with its own token.
    for exp in 0..200 {
        let t = token(&key, now() + 600 + exp);
        let gave_up = tokio::time::timeout(Duration::from_millis(1), cached.verify(&t)).await;
        assert!(gave_up.is_err());
    }
    assert_eq!(cached.verifying(), 0);
    // The one verifying is cancelled while another waits: the waiter verifies instead.
    let t = Arc::new(token(&key, now() + 600));
    let first = {
        let (cached, t) = (Arc::clone(&cached), Arc::clone(&t));
        tokio::spawn(async move { cached.verify(&t).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = {
        let (cached, t) = (Arc::clone(&cached), Arc::clone(&t));
        tokio::spawn(async move { cached.verify(&t).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(cached.verifying(), 1);
    first.abort();
    assert!(second.await.unwrap().is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 200 + 2);
    assert_eq!(cached.verifying(), 0);
}

/// Threads hitting the cache while others insert and evict (four times more tokens than
/// entries): every answer is the claims of the very token asked about, and the bound holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn threads_hitting_and_evicting_each_get_their_own_tokens_claims() {
    let (key, cached, _) = setup();
    let cached = Arc::new(cached.max_entries(8));
    let tokens: Arc<Vec<(String, String)>> = Arc::new(
        (0..32)
            .map(|i| {
                let subject = format!("user-{i}");
                let claims = json!({"iss": "https://issuer.test", "aud": "api",
                    "exp": now() + 600, "scope": "a", "sub": subject});
                (key.sign_jwt(&claims), subject)
            })
            .collect(),
    );
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let (cached, tokens) = (Arc::clone(&cached), Arc::clone(&tokens));
            tokio::spawn(async move {
                for n in 0..300 {
                    let (token, subject) = &tokens[(task * 7 + n * 13) % tokens.len()];
                    let claims = cached.verify(token).await.unwrap();
                    assert_eq!(claims.subject(), Some(subject.as_str()));
                    if let Some(known) = cached.verify_now(token.as_bytes()) {
                        assert_eq!(known.unwrap().subject(), Some(subject.as_str()));
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(cached.len() <= 8, "{} entries", cached.len());
}
