//! A verified-token cache around any verifier: a token seen before costs a hash and a lookup
//! instead of a signature check.

use std::collections::{HashMap, VecDeque};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::hash::{BuildHasher, RandomState};

use crate::claims::Claims;
use crate::verify::{TokenVerifier, VerifyError};

/// 128 bits of keyed SipHash: two independent secret keys per cache, so that nobody can make two
/// tokens share an entry, at a tenth of the cost of SHA-256 on the hot path.
type Key = u128;

struct Entry {
    outcome: Result<Claims, VerifyError>,
    /// Unix seconds after which the entry is not used.
    expires: i64,
    cost: usize,
}

#[derive(Default)]
struct Store {
    map: HashMap<Key, Entry>,
    /// Insertion order, for eviction.
    order: VecDeque<Key>,
    bytes: usize,
}

/// Bookkeeping per entry beyond the token's own size: hash key, map slot, queue slot, claims.
const ENTRY_OVERHEAD: usize = 256;

/// Caches successful verifications of `V`, keyed by a 128-bit keyed hash of the token (never the
/// token itself), each until the
/// token's `exp` (or `max_ttl`, whichever comes first), within a bound on entries and bytes.
/// Failures are not cached unless [`CachedVerifier::negative_ttl`] asks for it (useful in front
/// of introspection, where each check is a network call); an outage (`Unavailable`) never is.
///
/// ```
/// use std::time::Duration;
/// use oauth_runtime::{Algorithm, CachedVerifier, JwtVerifier, SigningKey, TokenVerifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let verifier = JwtVerifier::builder()
///     .issuer("https://issuer.test").audience("api").key(key.verification_key()?).build()?;
/// let cached = CachedVerifier::new(verifier).max_entries(100_000).max_bytes(64 << 20);
///
/// let token = key.sign_jwt(&serde_json::json!({
///     "iss": "https://issuer.test", "aud": "api", "exp": 4102444800u64, "scope": "a" }));
/// cached.verify(&token).await?;          // verifies the signature
/// cached.verify(&token).await?;          // a hash and a lookup
/// assert_eq!(cached.len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct CachedVerifier<V> {
    inner: V,
    store: RwLock<Store>,
    max_entries: usize,
    max_bytes: usize,
    max_ttl: Duration,
    negative_ttl: Duration,
    hashers: (RandomState, RandomState),
}

impl<V> std::fmt::Debug for CachedVerifier<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedVerifier")
            .field("entries", &self.len())
            .field("bytes", &self.bytes())
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl<V> CachedVerifier<V> {
    /// A cache of at most 10,000 entries and 16 MiB, entries living at most 1 h.
    pub fn new(inner: V) -> Self {
        CachedVerifier {
            inner,
            store: RwLock::new(Store::default()),
            max_entries: 10_000,
            max_bytes: 16 << 20,
            max_ttl: Duration::from_secs(3600),
            negative_ttl: Duration::ZERO,
            hashers: (RandomState::new(), RandomState::new()),
        }
    }

    fn key_of(&self, token: &str) -> Key {
        let high = self.hashers.0.hash_one(token);
        let low = self.hashers.1.hash_one(token);
        (u128::from(high) << 64) | u128::from(low)
    }

    /// Also remembers refusals (an inactive or invalid token) for this long (whole seconds; off
    /// by default), so a flood of bad tokens does not reach the verifier behind.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The most entries kept.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// The most bytes kept (an estimate: the token's length plus a fixed overhead per entry).
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// The longest an entry lives, whatever the token's `exp`.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Entries now held.
    pub fn len(&self) -> usize {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes now accounted.
    pub fn bytes(&self) -> usize {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }

    /// The wrapped verifier.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    fn lookup(&self, key: &Key, now: i64) -> Option<Result<Claims, VerifyError>> {
        let store = self.store.read().unwrap_or_else(PoisonError::into_inner);
        store
            .map
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| e.outcome.clone())
    }

    fn insert(&self, key: Key, outcome: &Result<Claims, VerifyError>, token_len: usize, now: i64) {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let expires = match outcome {
            Ok(claims) => match claims.expires_at() {
                Some(exp) => exp.min(now.saturating_add(secs(self.max_ttl))),
                None => return,
            },
            // An outage says nothing about the token.
            Err(VerifyError::Unavailable(_)) => return,
            Err(_) => now.saturating_add(secs(self.negative_ttl)),
        };
        let cost = token_len + ENTRY_OVERHEAD;
        if expires <= now || cost > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let mut store = self.store.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = store.map.insert(
            key,
            Entry {
                outcome: outcome.clone(),
                expires,
                cost,
            },
        ) {
            store.bytes -= old.cost;
        } else {
            store.order.push_back(key);
        }
        store.bytes += cost;
        // Evict the oldest, expired or not, until within both bounds.
        while store.map.len() > self.max_entries || store.bytes > self.max_bytes {
            let Some(oldest) = store.order.pop_front() else {
                break;
            };
            if let Some(entry) = store.map.remove(&oldest) {
                store.bytes -= entry.cost;
            }
        }
    }
}

#[async_trait::async_trait]
impl<V: TokenVerifier> TokenVerifier for CachedVerifier<V> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let key = self.key_of(token);
        let now = now();
        if let Some(outcome) = self.lookup(&key, now) {
            return outcome;
        }
        let outcome = self.inner.verify(token).await;
        self.insert(key, &outcome, token.len(), now);
        outcome
    }

    fn verify_now(&self, token: &str) -> Option<Result<Claims, VerifyError>> {
        self.lookup(&self.key_of(token), now())
    }
}
