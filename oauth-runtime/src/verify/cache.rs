//! A verified-token cache around any verifier: a token seen before costs a hash and a lookup
//! instead of a signature check.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_utils::sync::ShardedLock;
use hashbrown::HashTable;

use crate::claims::Claims;
use crate::clock::{Clock, ClockRef, unix_seconds};
use crate::verify::validation::seconds;
use crate::verify::{TokenVerifier, VerifyError};

struct Entry {
    token: Arc<[u8]>,
    claims: Claims,
    /// When the entry stops being used. A `SystemTime`, not seconds, so that a hit compares two
    /// clock readings instead of converting one.
    expires: SystemTime,
    cost: usize,
}

/// Entries are found by a fast hash of the token and confirmed by comparing the whole token, so
/// a hit is exactly the token that was verified: the hash decides only where to look, never
/// whether two tokens are the same. A cryptographic hash would make the comparison unnecessary
/// but costs more than everything else a cached request does (two SipHash passes over a typical
/// token measured ≈ 3.5 k instructions, the rest of the guard ≈ 2 k).
#[derive(Default)]
struct Store {
    table: HashTable<Entry>,
    /// Seeded at random per cache, so that nobody can choose tokens that share a slot.
    hasher: foldhash::fast::RandomState,
    /// Insertion order, for eviction; shares each token's allocation with its entry.
    order: VecDeque<Arc<[u8]>>,
    bytes: usize,
}

impl Store {
    fn get(&self, token: &[u8]) -> Option<&Entry> {
        self.table
            .find(self.hasher.hash_one(token), |e| same_token(&e.token, token))
    }

    fn get_mut(&mut self, token: &[u8]) -> Option<&mut Entry> {
        self.table
            .find_mut(self.hasher.hash_one(token), |e| same_token(&e.token, token))
    }

    fn insert_new(&mut self, entry: Entry) {
        self.order.push_back(Arc::clone(&entry.token));
        let Store { table, hasher, .. } = self;
        table.insert_unique(hasher.hash_one(&*entry.token), entry, |e| {
            hasher.hash_one(&*e.token)
        });
    }

    /// Removes the entry holding this very allocation (found by address, not by content).
    fn remove(&mut self, token: &Arc<[u8]>) -> Option<Entry> {
        let hash = self.hasher.hash_one(&**token);
        let found = self
            .table
            .find_entry(hash, |e| Arc::ptr_eq(&e.token, token));
        found.ok().map(|entry| entry.remove().0)
    }
}

/// Refused tokens, kept apart from the accepted ones so that no number of refusals can push a
/// verified token out. Each is found by the SHA-256 of its token and costs the same whatever the
/// token's length: a flood of long junk tokens fills this table, and only this table.
#[derive(Default)]
struct Refusals {
    table: HashMap<[u8; 32], Refusal>,
    /// Insertion order, for eviction; the number tells a renewed entry from its older slot.
    order: VecDeque<([u8; 32], u64)>,
    inserted: u64,
}

struct Refusal {
    error: VerifyError,
    expires: SystemTime,
    seq: u64,
}

fn digest(token: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token).as_ref());
    out
}

/// The error with its strings (a `kid`, an algorithm name, which come from the token) cut to a
/// fixed length, so that every refusal held costs about the same.
fn clipped(error: &VerifyError) -> VerifyError {
    fn clip(s: &str) -> String {
        const MAX: usize = 64;
        let mut end = s.len().min(MAX);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s[..end].to_owned()
    }
    match error {
        VerifyError::UnknownKey { kid } => VerifyError::UnknownKey {
            kid: kid.as_deref().map(clip),
        },
        VerifyError::UnsupportedAlgorithm(alg) => VerifyError::UnsupportedAlgorithm(clip(alg)),
        VerifyError::AlgorithmMismatch { token, key } => VerifyError::AlgorithmMismatch {
            token: clip(token),
            key: clip(key),
        },
        VerifyError::MissingClaim(name) => VerifyError::MissingClaim(clip(name)),
        VerifyError::InvalidClaim(name) => VerifyError::InvalidClaim(clip(name)),
        VerifyError::Unavailable(why) => VerifyError::Unavailable(clip(why)),
        other => other.clone(),
    }
}

impl Refusals {
    fn get(&self, key: &[u8; 32], now: SystemTime) -> Option<VerifyError> {
        self.table
            .get(key)
            .filter(|r| r.expires > now)
            .map(|r| r.error.clone())
    }

    fn insert(&mut self, key: [u8; 32], error: VerifyError, expires: SystemTime, max: usize) {
        self.inserted += 1;
        let seq = self.inserted;
        self.table.insert(
            key,
            Refusal {
                error,
                expires,
                seq,
            },
        );
        self.order.push_back((key, seq));
        while self.table.len() > max {
            let Some((oldest, seq)) = self.order.pop_front() else {
                break;
            };
            if self.table.get(&oldest).is_some_and(|r| r.seq == seq) {
                self.table.remove(&oldest);
            }
        }
        // Slots of renewed entries are dropped as they reach the front; this keeps the queue
        // from growing past twice the table while one token is refused again and again.
        while self.order.len() > 2 * max.max(1) {
            let Some((oldest, seq)) = self.order.pop_front() else {
                break;
            };
            if self.table.get(&oldest).is_some_and(|r| r.seq == seq) {
                self.table.remove(&oldest);
            }
        }
    }
}

/// A verification under way, which concurrent requests with the same token wait for.
type Pending = Arc<tokio::sync::OnceCell<Result<Claims, VerifyError>>>;

/// Verifications under way, by token.
#[derive(Default)]
struct InFlight {
    table: HashTable<(Arc<[u8]>, Pending)>,
    hasher: foldhash::fast::RandomState,
}

impl InFlight {
    /// The verification of `token` under way, or a new one.
    fn join(&mut self, token: &[u8]) -> Pending {
        let hash = self.hasher.hash_one(token);
        if let Some((_, pending)) = self.table.find(hash, |(t, _)| same_token(t, token)) {
            return Arc::clone(pending);
        }
        let pending = Pending::default();
        let InFlight { table, hasher } = self;
        table.insert_unique(hash, (Arc::from(token), Arc::clone(&pending)), |(t, _)| {
            hasher.hash_one(&**t)
        });
        pending
    }

    /// Lets go of `pending`; the last to let go removes it. Every clone is made and dropped
    /// under the lock around `self`, so the count is exact here.
    fn leave(&mut self, token: &[u8], pending: Pending) {
        if Arc::strong_count(&pending) > 2 {
            return;
        }
        let hash = self.hasher.hash_one(token);
        if let Ok(entry) = self
            .table
            .find_entry(hash, |(_, p)| Arc::ptr_eq(p, &pending))
        {
            entry.remove();
        }
    }
}

/// A request's part in a verification under way: leaves it when dropped, also when the request
/// is cancelled midway, so that nothing stays behind.
struct Joined<'a> {
    in_flight: &'a Mutex<InFlight>,
    token: &'a [u8],
    pending: Pending,
}

impl<'a> Joined<'a> {
    fn new(in_flight: &'a Mutex<InFlight>, token: &'a [u8]) -> Self {
        let pending = in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join(token);
        Joined {
            in_flight,
            token,
            pending,
        }
    }
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Ours goes under the lock too (an empty cell takes its place), so that whoever leaves
        // last sees the table's alone.
        in_flight.leave(self.token, std::mem::take(&mut self.pending));
    }
}

/// Whether `stored` and `offered` are the same token, in a time that depends on their length
/// only: no answer's timing tells a client how much of a cached token it guessed right. (Not
/// `subtle`'s slice comparison: it costs about ten times as much per byte, more than the rest of
/// a cached request.)
fn same_token(stored: &[u8], offered: &[u8]) -> bool {
    if stored.len() != offered.len() {
        return false;
    }
    let (stored_words, stored_rest) = stored.as_chunks::<8>();
    let (offered_words, offered_rest) = offered.as_chunks::<8>();
    let words = stored_words
        .iter()
        .zip(offered_words)
        .fold(0u64, |diff, (a, b)| {
            diff | (u64::from_ne_bytes(*a) ^ u64::from_ne_bytes(*b))
        });
    let rest = stored_rest
        .iter()
        .zip(offered_rest)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b));
    std::hint::black_box(words | u64::from(rest)) == 0
}

/// Bookkeeping per entry beyond the token's copy and its claims: the token's allocation header
/// and reference counts, its map slot (at the map's lowest load) and its queue slot (at the
/// queue's lowest load).
const ENTRY_OVERHEAD: usize = 32 + 2 * (size_of::<Entry>() + 1) + 2 * size_of::<Arc<[u8]>>();

/// Caches successful verifications of `V`, each until the token's `exp` (or `max_ttl`,
/// whichever comes first), within a bound on entries and bytes. Concurrent requests with the same
/// new token wait for one verification. Failures are not cached unless
/// [`CachedVerifier::negative_ttl`] asks for it (useful in front of introspection, where each
/// check is a network call); refusals then live in a table of their own, bounded by
/// [`CachedVerifier::max_refusals`], so that refused tokens never push accepted ones out. An
/// outage (`Unavailable`), an unknown `kid` (the next key-set refresh may bring it) and a token
/// not valid yet are never remembered.
///
/// Entries are keyed by a hash of the token with a random per-cache seed, and an entry is used
/// only for a token byte-for-byte equal to the one verified: no crafted token can share another's
/// entry. The cache therefore holds the tokens themselves (as the requests carrying them do), at
/// most `max_bytes` of them and none past its `exp`.
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
    /// Read on every request by every thread. A plain `RwLock` makes each reader write to one
    /// shared counter, so threads serving different tokens still slowed each other (two threads
    /// on one cache reached 0.71–0.76 of two separate caches); this lock gives each thread its own
    /// reader slot and makes the rare writer (a new token) take them all: 0.94–1.02
    /// (`benches/cache_threads.rs`).
    store: ShardedLock<Store>,
    max_entries: usize,
    max_bytes: usize,
    max_ttl: Duration,
    negative_ttl: Duration,
    max_refusals: usize,
    /// Consulted only when `store` has no answer, so a hit never takes this lock.
    refusals: Mutex<Refusals>,
    in_flight: Mutex<InFlight>,
    clock: ClockRef,
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

/// How long an entry lives at most unless the cache or the verifier says otherwise.
const DEFAULT_MAX_TTL: Duration = Duration::from_secs(3600);

impl<V: TokenVerifier> CachedVerifier<V> {
    /// A cache of at most 10,000 entries and 16 MiB, entries living at most 1 h, or less where
    /// the verifier suggests it: an [`IntrospectionVerifier`](crate::IntrospectionVerifier)'s
    /// answers are kept 60 s by default, so that a revocation is seen within a minute.
    pub fn new(inner: V) -> Self {
        let max_ttl = inner.suggested_cache_ttl().unwrap_or(DEFAULT_MAX_TTL);
        CachedVerifier {
            inner,
            store: ShardedLock::new(Store::default()),
            max_entries: 10_000,
            max_bytes: 16 << 20,
            max_ttl,
            negative_ttl: Duration::ZERO,
            max_refusals: 4096,
            refusals: Mutex::default(),
            in_flight: Mutex::default(),
            clock: ClockRef::default(),
        }
    }
}

impl<V> CachedVerifier<V> {
    /// Also remembers refusals (an inactive or invalid token) for this long (whole seconds; off
    /// by default), so that a client repeating a bad token does not reach the verifier behind.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// The clock entries' lifetimes are measured against (default: the system's). Give it the
    /// verifier's clock too, so that a [`ManualClock`](crate::ManualClock) moves both.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// The most refusals remembered (default 4,096), apart from the accepted tokens' entries
    /// and bytes; each costs about 200 bytes whatever its token's length.
    pub fn max_refusals(mut self, n: usize) -> Self {
        self.max_refusals = n;
        self
    }

    /// Refusals now remembered.
    pub fn refusals(&self) -> usize {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .table
            .len()
    }

    /// The most entries kept.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }

    /// The most bytes kept: each entry counts its copy of the token, an upper estimate of its
    /// claims' memory and the map's bookkeeping. Claims shared between entries count once per
    /// entry, so the bound errs on the safe side.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// The longest an entry lives, whatever the token's `exp`.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Distinct tokens being verified now (a request with the same token waits for the
    /// verification under way instead of starting another).
    pub fn verifying(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .table
            .len()
    }

    /// Entries now held.
    pub fn len(&self) -> usize {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .table
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

    fn lookup(&self, token: &[u8], now: SystemTime) -> Option<Result<Claims, VerifyError>> {
        let store = self.store.read().unwrap_or_else(PoisonError::into_inner);
        store
            .get(token)
            .filter(|e| e.expires > now)
            .map(|e| Ok(e.claims.clone()))
    }

    fn refused(&self, key: &[u8; 32], now: SystemTime) -> Option<VerifyError> {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key, now)
    }

    fn remember_refusal(&self, key: [u8; 32], error: &VerifyError, now: SystemTime) {
        match error {
            // An outage says nothing about the token; an unknown `kid` may be known after the
            // next key-set refresh; a token not valid yet becomes valid at its `nbf`.
            VerifyError::Unavailable(_)
            | VerifyError::UnknownKey { .. }
            | VerifyError::NotYetValid => return,
            _ => {}
        }
        if self.negative_ttl.is_zero() || self.max_refusals == 0 {
            return;
        }
        let Some(expires) = now.checked_add(self.negative_ttl) else {
            return;
        };
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, clipped(error), expires, self.max_refusals);
    }

    fn insert(&self, token: &str, claims: &Claims, now: SystemTime) {
        let now = unix_seconds(now);
        let Some(exp) = claims.expires_at() else {
            return;
        };
        let expires = exp.min(now.saturating_add(seconds(self.max_ttl)));
        let cost = token.len() + claims.memory_estimate() + ENTRY_OVERHEAD;
        if expires <= now || cost > self.max_bytes || self.max_entries == 0 {
            return;
        }
        // Positive, since it is after `now`.
        let expires = UNIX_EPOCH + Duration::from_secs(expires.unsigned_abs());
        let mut store = self.store.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = store.get_mut(token.as_bytes()) {
            // Verified again after its entry expired: renewed in place, keeping its queue slot.
            old.claims = claims.clone();
            old.expires = expires;
            let old_cost = std::mem::replace(&mut old.cost, cost);
            store.bytes -= old_cost;
        } else {
            store.insert_new(Entry {
                token: Arc::from(token.as_bytes()),
                claims: claims.clone(),
                expires,
                cost,
            });
        }
        store.bytes += cost;
        // Evict the oldest, expired or not, until within both bounds.
        while store.table.len() > self.max_entries || store.bytes > self.max_bytes {
            let Some(oldest) = store.order.pop_front() else {
                break;
            };
            if let Some(entry) = store.remove(&oldest) {
                store.bytes -= entry.cost;
            }
        }
    }
}

#[async_trait::async_trait]
impl<V: TokenVerifier> TokenVerifier for CachedVerifier<V> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let now = self.clock.now();
        if let Some(outcome) = self.lookup(token.as_bytes(), now) {
            crate::metrics::cache_hit();
            return outcome;
        }
        let refusal_key = (!self.negative_ttl.is_zero()).then(|| digest(token.as_bytes()));
        if let Some(error) = refusal_key.and_then(|key| self.refused(&key, now)) {
            crate::metrics::cache_hit();
            return Err(error);
        }
        // Counted here, not in `verify_now`: a request asks `verify_now` first and then, without
        // an answer, `verify`, which would count one miss twice.
        crate::metrics::cache_miss();
        let joined = Joined::new(&self.in_flight, token.as_bytes());
        // One request verifies; the others wait for its outcome. If it is cancelled, the next
        // waiter verifies instead.
        joined
            .pending
            .get_or_init(|| async {
                let outcome = self.inner.verify(token).await;
                match (&outcome, refusal_key) {
                    (Ok(claims), _) => self.insert(token, claims, now),
                    (Err(error), Some(key)) => self.remember_refusal(key, error, now),
                    (Err(_), None) => {}
                }
                outcome
            })
            .await
            .clone()
    }

    fn verify_now(&self, token: &[u8]) -> Option<Result<Claims, VerifyError>> {
        let known = self.lookup(token, self.clock.now());
        if known.is_some() {
            crate::metrics::cache_hit();
        }
        known
    }
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn same_token_is_byte_equality() {
        let token: Vec<u8> = (0..=255u8).cycle().take(517).collect();
        assert!(same_token(&token, &token.clone()));
        assert!(same_token(b"", b""));
        for i in [0, 7, 8, 255, 511, 512, 516] {
            let mut other = token.clone();
            other[i] ^= 0x01;
            assert!(!same_token(&token, &other), "byte {i}");
        }
        assert!(!same_token(&token, &token[..516]));
        assert!(!same_token(b"abc", b"abcd"));
    }
}
