//! Several trusted issuers behind one verifier (tenants). The token's `iss`, read before any
//! signature is checked, only chooses whose verifier to ask; that verifier then checks
//! everything, the signature and `iss` itself included. An `iss` that is not trusted is refused
//! before any key is looked for, so a token can never make us fetch from a place it names
//! (RFC 8725 §3.10) nor be checked with another issuer's keys (RFC 8725 §3.8, RFC 9068 §4).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::OnceCell;

use crate::claims::Claims;
use crate::clock::{Clock, ClockRef};
use crate::verify::jws;
use crate::verify::jwt::{DEFAULT_MAX_TOKEN_LEN, JwtVerifier};
use crate::verify::{TokenVerifier, VerifyError};

/// An `iss` longer than this is refused without asking the resolver: issuer identifiers are
/// URLs, and the resolver need not defend itself against 16 KiB of junk.
pub const MAX_ISSUER_LEN: usize = 2048;

/// Why a [`MultiIssuerVerifier`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultiIssuerError {
    /// Neither a trusted issuer nor a resolver: every token would be refused.
    #[error("no issuer: add one with .trust(..) or a resolver with .resolver(..)")]
    NoIssuers,
    /// Two verifiers for one issuer: which one holds its keys cannot be told.
    #[error("issuer {0:?} is trusted twice")]
    Duplicate(String),
    /// A verifier that accepts any issuer, or several: it would let one tenant's keys vouch for
    /// another tenant's tokens.
    #[error(
        "each verifier given to .trust(..) must check exactly one issuer: build it with .issuer(..), not .allow_any_issuer()"
    )]
    NotOneIssuer,
    /// Settings that cannot work, such as a cache of zero issuers.
    #[error("invalid settings: {0}")]
    InvalidSettings(&'static str),
}

/// Why an [`IssuerResolver`] could not decide; the token is then answered as unverifiable for
/// now (503), and the issuer is asked about again next time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResolveError(String);

impl ResolveError {
    /// An error saying why, for the logs (never sent to clients).
    pub fn new(why: impl fmt::Display) -> Self {
        ResolveError(why.to_string())
    }
}

/// Finds the verifier of an issuer created at run time (a tenant), for a
/// [`MultiIssuerVerifier`]. Asked at most once at a time per issuer; its answers are cached.
///
/// Decide whether `issuer` is trusted from your own records (a tenant table) *before* any
/// network request: the `issuer` comes from a token nobody has verified yet. Bound your own
/// time, too (the HTTP client's timeout, the database's): requests for that issuer wait for the
/// answer.
///
/// ```
/// use std::collections::HashMap;
/// use oauth_runtime::{IssuerResolver, JwtVerifier, Key, ResolveError};
///
/// /// Tenants at `https://login.example.com/tenants/<name>`, each with its public key on record.
/// struct Tenants(HashMap<String, Key>);
///
/// #[oauth_runtime::async_trait]
/// impl IssuerResolver for Tenants {
///     async fn resolve(&self, issuer: &str) -> Result<Option<JwtVerifier>, ResolveError> {
///         let Some(name) = issuer.strip_prefix("https://login.example.com/tenants/") else {
///             return Ok(None);
///         };
///         let Some(key) = self.0.get(name) else {
///             return Ok(None);
///         };
///         // With feature `remote`, `.jwks_url(..)` or `.discover(..)` here instead: only now
///         // that the issuer is known to be a tenant.
///         JwtVerifier::builder()
///             .issuer(issuer)
///             .audience("photos-api")
///             .key(key.clone())
///             .build()
///             .map(Some)
///             .map_err(ResolveError::new)
///     }
/// }
/// # let _ = Tenants(HashMap::new());
/// ```
#[async_trait::async_trait]
pub trait IssuerResolver: Send + Sync + 'static {
    /// The verifier for tokens of `issuer`, built with `.issuer(issuer)`; `Ok(None)` when the
    /// issuer is not trusted; `Err` when that cannot be told now.
    async fn resolve(&self, issuer: &str) -> Result<Option<JwtVerifier>, ResolveError>;
}

/// A closure as an [`IssuerResolver`]; see [`MultiIssuerVerifierBuilder::resolver_fn`].
struct FnResolver<F>(F);

#[async_trait::async_trait]
impl<F, Fut> IssuerResolver for FnResolver<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<JwtVerifier>, ResolveError>> + Send + 'static,
{
    async fn resolve(&self, issuer: &str) -> Result<Option<JwtVerifier>, ResolveError> {
        (self.0)(issuer.to_owned()).await
    }
}

/// Verifies JWT access tokens of several trusted issuers, each with its own keys (static, a
/// JWKS URL or found by discovery), audience and scope claim: one [`JwtVerifier`] per issuer.
///
/// The token's `iss`, read before any signature check, chooses the verifier; it must equal a
/// trusted issuer exactly (RFC 9068 §4: no case folding, no trailing-slash games). That verifier
/// then checks the signature with its own keys and `iss` again, so a token naming tenant A but
/// signed by tenant B is refused. A token whose `iss` is not trusted, missing or malformed is
/// refused without a network request or a key lookup.
///
/// ```
/// use oauth_runtime::{Algorithm, JwtVerifier, MultiIssuerVerifier, SigningKey, TokenVerifier};
///
/// let (a, b) = (SigningKey::generate(Algorithm::ES256)?, SigningKey::generate(Algorithm::ES256)?);
/// let verifier = MultiIssuerVerifier::builder()
///     .trust(JwtVerifier::builder()
///         .issuer("https://a.example").audience("api").key(a.verification_key()?).build()?)
///     .trust(JwtVerifier::builder()
///         .issuer("https://b.example").audience("api").key(b.verification_key()?).build()?)
///     .build()?;
///
/// let claims = |iss: &str| serde_json::json!({ "iss": iss, "aud": "api", "exp": 4102444800u64 });
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// runtime.block_on(async {
///     assert!(verifier.verify(&a.sign_jwt(&claims("https://a.example"))).await.is_ok());
///     assert!(verifier.verify(&b.sign_jwt(&claims("https://b.example"))).await.is_ok());
///     // Signed by B in A's name: A's keys do not know it.
///     assert!(verifier.verify(&b.sign_jwt(&claims("https://a.example"))).await.is_err());
///     // Not trusted at all: refused before any key is looked for.
///     assert!(verifier.verify(&a.sign_jwt(&claims("https://evil.example"))).await.is_err());
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// For tenants created at run time, add an [`IssuerResolver`] (or a closure with
/// [`MultiIssuerVerifierBuilder::resolver_fn`]): issuers given with `.trust(..)` are looked up
/// first, then the resolver is asked, once at a time per issuer. Its verifiers are kept for the
/// `max_resolved` issuers used most recently; its refusals are remembered for `refused_ttl`
/// (up to `max_refused` of them, oldest out first), so that a flood of tokens with unknown `iss`
/// values costs the resolver one call per distinct value, not one per token.
pub struct MultiIssuerVerifier {
    fixed: HashMap<String, Arc<JwtVerifier>>,
    dynamic: Option<Dynamic>,
    max_token_len: usize,
}

impl fmt::Debug for MultiIssuerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.fixed.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("MultiIssuerVerifier")
            .field("issuers", &issuers)
            .field("resolver", &self.dynamic.is_some())
            .field("resolved", &self.resolved_count())
            .field("refused", &self.refused_count())
            .finish()
    }
}

/// Builds a [`MultiIssuerVerifier`]; see there.
#[must_use]
pub struct MultiIssuerVerifierBuilder {
    fixed: HashMap<String, Arc<JwtVerifier>>,
    resolver: Option<Arc<dyn IssuerResolver>>,
    max_resolved: usize,
    max_refused: usize,
    refused_ttl: Duration,
    max_token_len: usize,
    clock: ClockRef,
    error: Option<MultiIssuerError>,
}

impl fmt::Debug for MultiIssuerVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiIssuerVerifierBuilder")
            .field("issuers", &self.fixed.keys().collect::<Vec<_>>())
            .field("resolver", &self.resolver.is_some())
            .finish_non_exhaustive()
    }
}

impl MultiIssuerVerifier {
    /// Starts a builder: add issuers with [`MultiIssuerVerifierBuilder::trust`], a resolver
    /// for tenants created at run time, or both.
    pub fn builder() -> MultiIssuerVerifierBuilder {
        MultiIssuerVerifierBuilder {
            fixed: HashMap::new(),
            resolver: None,
            max_resolved: 1024,
            max_refused: 4096,
            refused_ttl: Duration::from_secs(300),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: ClockRef::default(),
            error: None,
        }
    }

    /// The issuers given with `.trust(..)`, in no particular order.
    pub fn trusted_issuers(&self) -> impl Iterator<Item = &str> {
        self.fixed.keys().map(String::as_str)
    }

    /// How many issuers the resolver vouched for are cached now: for tests and metrics.
    pub fn resolved_count(&self) -> usize {
        self.dynamic.as_ref().map_or(0, |d| {
            d.resolved
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
        })
    }

    /// How many refused issuers are remembered now (expired ones included until pushed out):
    /// for tests and metrics.
    pub fn refused_count(&self) -> usize {
        self.dynamic.as_ref().map_or(0, |d| {
            d.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .table
                .len()
        })
    }

    /// The verifier for `issuer`, or why there is none.
    async fn choose(&self, issuer: &str) -> Result<Arc<JwtVerifier>, VerifyError> {
        if let Some(verifier) = self.fixed.get(issuer) {
            return Ok(Arc::clone(verifier));
        }
        match &self.dynamic {
            Some(dynamic) => dynamic.choose(issuer).await,
            None => Err(VerifyError::InvalidIssuer),
        }
    }
}

impl MultiIssuerVerifierBuilder {
    /// Trusts the issuer `verifier` checks, with its keys, audience and scope claim. The
    /// verifier must be built with exactly one `.issuer(..)`.
    pub fn trust(mut self, verifier: JwtVerifier) -> Self {
        let Some(issuer) = verifier.sole_issuer().map(str::to_owned) else {
            self.error = self.error.or(Some(MultiIssuerError::NotOneIssuer));
            return self;
        };
        if self.fixed.contains_key(&issuer) {
            self.error = self.error.or(Some(MultiIssuerError::Duplicate(issuer)));
            return self;
        }
        self.fixed.insert(issuer, Arc::new(verifier));
        self
    }

    /// Asks `resolver` about issuers not given with `.trust(..)`. Replaces an earlier resolver.
    pub fn resolver(mut self, resolver: impl IssuerResolver) -> Self {
        self.resolver = Some(Arc::new(resolver));
        self
    }

    /// As [`MultiIssuerVerifierBuilder::resolver`], with an async closure from the issuer to
    /// its verifier (`Ok(None)`: not trusted).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use oauth_runtime::{Algorithm, JwtVerifier, MultiIssuerVerifier, ResolveError, SigningKey,
    ///     TokenVerifier};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256)?;
    /// let public = key.verification_key()?;
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let counted = Arc::clone(&calls);
    /// let verifier = MultiIssuerVerifier::builder()
    ///     .resolver_fn(move |issuer: String| {
    ///         counted.fetch_add(1, Ordering::SeqCst);
    ///         let public = public.clone();
    ///         async move {
    ///             // Trust is decided from your records before anything is fetched.
    ///             if issuer != "https://login.example.com/tenants/acme" {
    ///                 return Ok(None);
    ///             }
    ///             JwtVerifier::builder().issuer(issuer).audience("api").key(public).build()
    ///                 .map(Some).map_err(ResolveError::new)
    ///         }
    ///     })
    ///     .max_resolved(100)
    ///     .build()?;
    ///
    /// let token = |iss: &str| key.sign_jwt(&serde_json::json!({
    ///     "iss": iss, "aud": "api", "exp": 4102444800u64 }));
    /// tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    ///     for _ in 0..3 {
    ///         assert!(verifier.verify(&token("https://login.example.com/tenants/acme")).await.is_ok());
    ///         assert!(verifier.verify(&token("https://evil.example")).await.is_err());
    ///     }
    /// });
    /// // Once per issuer: the verifier and the refusal are both remembered.
    /// assert_eq!(calls.load(Ordering::SeqCst), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolver_fn<F, Fut>(self, resolve: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<JwtVerifier>, ResolveError>> + Send + 'static,
    {
        self.resolver(FnResolver(resolve))
    }

    /// How many of the resolver's issuers are kept, the least recently used giving way
    /// (default 1024). An issuer pushed out is resolved again when next seen, and its key set
    /// fetched again.
    pub fn max_resolved(mut self, max: usize) -> Self {
        self.max_resolved = max;
        self
    }

    /// How many refused issuers are remembered, the oldest giving way (default 4096). Each
    /// costs a fixed 32-byte digest however long the `iss` was.
    pub fn max_refused(mut self, max: usize) -> Self {
        self.max_refused = max;
        self
    }

    /// How long a refusal of the resolver's is remembered (default 5 min): a tenant created
    /// meanwhile waits at most this long to be seen. Zero remembers nothing.
    pub fn refused_ttl(mut self, ttl: Duration) -> Self {
        self.refused_ttl = ttl;
        self
    }

    /// The longest token taken apart to read its `iss`, in bytes (default 16 KiB); each
    /// issuer's verifier applies its own limit too.
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// The clock refusals expire by (default: the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<MultiIssuerVerifier, MultiIssuerError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if self.fixed.is_empty() && self.resolver.is_none() {
            return Err(MultiIssuerError::NoIssuers);
        }
        let dynamic = match self.resolver {
            None => None,
            Some(resolver) => {
                if self.max_resolved == 0 {
                    // Every token would build a verifier and fetch its keys anew.
                    return Err(MultiIssuerError::InvalidSettings(
                        "max_resolved must be at least 1",
                    ));
                }
                if self.refused_ttl > Duration::from_secs(100 * 365 * 24 * 3600) {
                    return Err(MultiIssuerError::InvalidSettings(
                        "refused_ttl is longer than a century",
                    ));
                }
                Some(Dynamic {
                    resolver,
                    max_resolved: self.max_resolved,
                    max_refused: self.max_refused,
                    refused_ttl: self.refused_ttl,
                    clock: self.clock,
                    resolved: RwLock::default(),
                    refused: Mutex::default(),
                    in_flight: Mutex::default(),
                    ticks: AtomicU64::new(0),
                })
            }
        };
        Ok(MultiIssuerVerifier {
            fixed: self.fixed,
            dynamic,
            max_token_len: self.max_token_len,
        })
    }
}

/// The `iss` of a token whose signature is not checked yet, for choosing the verifier. The
/// token is taken apart as for verification first (size, segments, base64url, header, `alg`),
/// so junk is refused here at no cost beyond decoding.
fn unverified_issuer(token: &str, max_len: usize) -> Result<String, VerifyError> {
    #[derive(serde::Deserialize)]
    struct Peek {
        // A duplicate `iss` is an error here, so two members cannot name two issuers.
        #[serde(default)]
        iss: Option<serde_json::Value>,
    }
    let parsed = jws::parse(token, max_len)?;
    let payload = parsed.unverified_payload();
    // serde would also read a struct from an array (`["https://a.example"]` as `iss`).
    if payload.trim_ascii_start().first() != Some(&b'{') {
        return Err(VerifyError::Malformed("payload is not a JSON object"));
    }
    let peek: Peek = serde_json::from_slice(payload)
        .map_err(|_| VerifyError::Malformed("payload is not a JSON object"))?;
    match peek.iss {
        Some(serde_json::Value::String(iss)) => Ok(iss),
        None | Some(serde_json::Value::Null) => Err(VerifyError::MissingClaim("iss".into())),
        Some(_) => Err(VerifyError::InvalidClaim("iss".into())),
    }
}

#[async_trait::async_trait]
impl TokenVerifier for MultiIssuerVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let issuer = unverified_issuer(token, self.max_token_len)?;
        self.choose(&issuer).await?.verify(token).await
    }
}

/// What one call of the resolver decided: a verifier, a refusal, or an error not remembered.
type Outcome = Result<Arc<JwtVerifier>, VerifyError>;

struct Resolved {
    verifier: Arc<JwtVerifier>,
    /// The tick of its last use, for choosing the least recently used.
    last_used: AtomicU64,
}

/// Refused issuers by the SHA-256 of their `iss`, so each costs the same whatever its length.
#[derive(Default)]
struct Refused {
    table: HashMap<[u8; 32], (SystemTime, u64)>,
    /// Insertion order, for eviction; the number tells a renewed entry from its older slot.
    order: VecDeque<([u8; 32], u64)>,
    inserted: u64,
}

impl Refused {
    fn is_refused(&self, key: &[u8; 32], now: SystemTime) -> bool {
        self.table
            .get(key)
            .is_some_and(|(expires, _)| *expires > now)
    }

    fn insert(&mut self, key: [u8; 32], expires: SystemTime, max: usize) {
        if max == 0 {
            return;
        }
        while self.table.len() >= max && !self.table.contains_key(&key) {
            let Some((old, number)) = self.order.pop_front() else {
                break;
            };
            if self.table.get(&old).is_some_and(|(_, n)| *n == number) {
                self.table.remove(&old);
            }
        }
        self.inserted += 1;
        self.table.insert(key, (expires, self.inserted));
        self.order.push_back((key, self.inserted));
        // Renewals leave stale slots behind; drop them before they outnumber the entries.
        if self.order.len() > 2 * max.max(self.table.len()) {
            let table = &self.table;
            self.order
                .retain(|(k, n)| table.get(k).is_some_and(|(_, m)| m == n));
        }
    }
}

/// The resolver and what it said.
struct Dynamic {
    resolver: Arc<dyn IssuerResolver>,
    max_resolved: usize,
    max_refused: usize,
    refused_ttl: Duration,
    clock: ClockRef,
    resolved: RwLock<HashMap<String, Resolved>>,
    refused: Mutex<Refused>,
    /// One resolution per issuer at a time; later requests for it wait on the same cell.
    in_flight: Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>,
    ticks: AtomicU64,
}

fn digest(issuer: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, issuer.as_bytes()).as_ref(),
    );
    out
}

/// Takes a resolution's cell out of the in-flight table when the resolution ends, finished or
/// abandoned (its request dropped), so that the table holds only resolutions under way.
struct InFlight<'a> {
    table: &'a Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>,
    issuer: &'a str,
    cell: &'a Arc<OnceCell<Outcome>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table
            .get(self.issuer)
            .is_some_and(|cell| Arc::ptr_eq(cell, self.cell))
        {
            table.remove(self.issuer);
        }
    }
}

impl Dynamic {
    fn cached(&self, issuer: &str) -> Option<Outcome> {
        if let Some(hit) = self
            .resolved
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(issuer)
        {
            hit.last_used.store(
                self.ticks.fetch_add(1, Ordering::Relaxed),
                Ordering::Relaxed,
            );
            return Some(Ok(Arc::clone(&hit.verifier)));
        }
        let refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        refused
            .is_refused(&digest(issuer), self.clock.now())
            .then_some(Err(VerifyError::InvalidIssuer))
    }

    async fn choose(&self, issuer: &str) -> Outcome {
        if issuer.len() > MAX_ISSUER_LEN {
            return Err(VerifyError::InvalidIssuer);
        }
        if let Some(outcome) = self.cached(issuer) {
            return outcome;
        }
        let cell = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(issuer) {
                Some(cell) => Arc::clone(cell),
                None => {
                    // A resolution may have ended since the look above: it stores its outcome
                    // before leaving this table, so a second look under the lock is final.
                    if let Some(outcome) = self.cached(issuer) {
                        return outcome;
                    }
                    let cell = Arc::new(OnceCell::new());
                    in_flight.insert(issuer.to_owned(), Arc::clone(&cell));
                    cell
                }
            }
        };
        // If the request running the resolver is dropped, a waiting one takes over.
        cell.get_or_init(|| self.resolve(issuer, &cell))
            .await
            .clone()
    }

    async fn resolve(&self, issuer: &str, cell: &Arc<OnceCell<Outcome>>) -> Outcome {
        let _in_flight = InFlight {
            table: &self.in_flight,
            issuer,
            cell,
        };
        match self.resolver.resolve(issuer).await {
            Ok(Some(verifier)) if verifier.sole_issuer() == Some(issuer) => {
                let verifier = Arc::new(verifier);
                self.remember(issuer, Arc::clone(&verifier));
                Ok(verifier)
            }
            Ok(Some(_)) => {
                // Another issuer's verifier, or one accepting any: its keys would vouch for
                // tokens in this issuer's name.
                tracing::error!(
                    issuer,
                    "the issuer resolver returned a verifier that does not check exactly this issuer; refused"
                );
                Err(VerifyError::InvalidIssuer)
            }
            Ok(None) => {
                let now = self.clock.now();
                if let Some(expires) = now.checked_add(self.refused_ttl) {
                    self.refused
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(digest(issuer), expires, self.max_refused);
                }
                Err(VerifyError::InvalidIssuer)
            }
            Err(error) => {
                tracing::warn!(issuer, %error, "the issuer resolver failed");
                Err(VerifyError::Unavailable(format!(
                    "the issuer resolver failed: {error}"
                )))
            }
        }
    }

    fn remember(&self, issuer: &str, verifier: Arc<JwtVerifier>) {
        let mut resolved = self
            .resolved
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        while resolved.len() >= self.max_resolved && !resolved.contains_key(issuer) {
            let Some(oldest) = resolved
                .iter()
                .min_by_key(|(_, r)| r.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            resolved.remove(&oldest);
        }
        resolved.insert(
            issuer.to_owned(),
            Resolved {
                verifier,
                last_used: AtomicU64::new(self.ticks.fetch_add(1, Ordering::Relaxed)),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::verify::signing::SigningKey;
    use jsonwebtoken::Algorithm;
    use serde_json::json;
    use std::sync::atomic::AtomicUsize;

    const A: &str = "https://a.example";
    const B: &str = "https://b.example";

    fn key(kid: &str) -> SigningKey {
        SigningKey::generate(Algorithm::ES256)
            .expect("key")
            .with_kid(kid)
    }

    fn verifier_for(issuer: &str, key: &SigningKey) -> JwtVerifier {
        JwtVerifier::builder()
            .issuer(issuer)
            .audience("api")
            .key(key.verification_key().expect("public key"))
            .build()
            .expect("verifier")
    }

    fn token(key: &SigningKey, iss: &str) -> String {
        key.sign_jwt(&json!({ "iss": iss, "aud": "api", "sub": "alice", "exp": 4102444800u64 }))
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// A tenant table that counts how often it is asked.
    struct Tenants {
        keys: HashMap<String, SigningKey>,
        calls: Arc<AtomicUsize>,
    }

    impl Tenants {
        fn new(tenants: &[(&str, &SigningKey)]) -> (Tenants, Arc<AtomicUsize>) {
            let calls = Arc::new(AtomicUsize::new(0));
            let keys = tenants
                .iter()
                .map(|(iss, key)| {
                    let copy = SigningKey::from_pkcs8_pem(key.to_pkcs8_pem().expect("pem"))
                        .expect("copy")
                        .with_kid(key.kid().expect("kid"));
                    ((*iss).to_owned(), copy)
                })
                .collect();
            (
                Tenants {
                    keys,
                    calls: Arc::clone(&calls),
                },
                calls,
            )
        }
    }

    #[async_trait::async_trait]
    impl IssuerResolver for Tenants {
        async fn resolve(&self, issuer: &str) -> Result<Option<JwtVerifier>, ResolveError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.keys.get(issuer).map(|key| verifier_for(issuer, key)))
        }
    }

    #[test]
    fn rfc9068_section_4_the_iss_chooses_the_verifier_and_must_match_exactly() {
        let (ka, kb) = (key("a"), key("b"));
        let verifier = MultiIssuerVerifier::builder()
            .trust(verifier_for(A, &ka))
            .trust(verifier_for(B, &kb))
            .build()
            .expect("builds");
        block_on(async {
            let claims = verifier.verify(&token(&ka, A)).await.expect("A's token");
            assert_eq!(claims.issuer(), Some(A));
            let claims = verifier.verify(&token(&kb, B)).await.expect("B's token");
            assert_eq!(claims.issuer(), Some(B));
            for near_miss in [
                "https://a.example/",
                "https://A.example",
                "https://a.example ",
                "http://a.example",
            ] {
                assert_eq!(
                    verifier.verify(&token(&ka, near_miss)).await.err(),
                    Some(VerifyError::InvalidIssuer),
                    "{near_miss}"
                );
            }
        });
    }

    #[test]
    fn rfc8725_section_3_8_a_token_in_one_issuers_name_signed_with_anothers_key_is_refused() {
        let (ka, kb) = (key("a"), key("b"));
        let verifier = MultiIssuerVerifier::builder()
            .trust(verifier_for(A, &ka))
            .trust(verifier_for(B, &kb))
            .build()
            .expect("builds");
        block_on(async {
            // B's kid: A's keys have no such key.
            assert_eq!(
                verifier.verify(&token(&kb, A)).await.err(),
                Some(VerifyError::UnknownKey {
                    kid: Some("b".into())
                })
            );
            // A's kid, B's signature.
            let forged = kb.sign_jwt_with_header(
                &json!({ "alg": "ES256", "kid": "a" }),
                &json!({ "iss": A, "aud": "api", "exp": 4102444800u64 }),
            );
            assert_eq!(
                verifier.verify(&forged).await.err(),
                Some(VerifyError::InvalidSignature)
            );
        });
    }

    #[test]
    fn a_missing_or_malformed_iss_is_refused_before_any_verifier_or_resolver() {
        let ka = key("a");
        let (tenants, calls) = Tenants::new(&[(A, &ka)]);
        let verifier = MultiIssuerVerifier::builder()
            .trust(verifier_for(B, &key("b")))
            .resolver(tenants)
            .build()
            .expect("builds");
        let sign = |payload: &str| {
            ka.sign_jwt_with_header(&json!({ "alg": "ES256", "kid": "a" }), &json!(null))
                .split('.')
                .next()
                .map(|header| {
                    format!(
                        "{header}.{}.c2ln",
                        base64::Engine::encode(
                            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                            payload
                        )
                    )
                })
                .expect("header")
        };
        block_on(async {
            let cases = [
                (
                    sign(r#"{"aud":"api"}"#),
                    VerifyError::MissingClaim("iss".into()),
                ),
                (
                    sign(r#"{"iss":null}"#),
                    VerifyError::MissingClaim("iss".into()),
                ),
                (
                    sign(r#"{"iss":42}"#),
                    VerifyError::InvalidClaim("iss".into()),
                ),
                (
                    sign(r#"{"iss":["https://a.example"]}"#),
                    VerifyError::InvalidClaim("iss".into()),
                ),
                (
                    sign(r#"{"iss":"https://evil","iss":"https://a.example"}"#),
                    VerifyError::Malformed("payload is not a JSON object"),
                ),
                (
                    sign("not json"),
                    VerifyError::Malformed("payload is not a JSON object"),
                ),
                (
                    sign("[1]"),
                    VerifyError::Malformed("payload is not a JSON object"),
                ),
                (
                    sign(r#"["https://a.example"]"#),
                    VerifyError::Malformed("payload is not a JSON object"),
                ),
                (
                    "a.b".to_owned(),
                    VerifyError::Malformed("a signed JWT has exactly three segments"),
                ),
                (
                    format!(
                        "eyJhbGciOiJub25lIn0.{}.",
                        base64::Engine::encode(
                            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                            r#"{"iss":"https://a.example"}"#
                        )
                    ),
                    VerifyError::UnsupportedAlgorithm("none".into()),
                ),
                (
                    "x".repeat(DEFAULT_MAX_TOKEN_LEN + 1),
                    VerifyError::TooLarge {
                        max: DEFAULT_MAX_TOKEN_LEN,
                    },
                ),
            ];
            for (token, expected) in cases {
                assert_eq!(
                    verifier.verify(&token).await.err(),
                    Some(expected),
                    "{token:.80}"
                );
            }
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the resolver was never asked"
        );
    }

    #[test]
    fn only_verifiers_of_exactly_one_issuer_are_trusted() {
        let k = key("a");
        let any = JwtVerifier::builder()
            .allow_any_issuer()
            .audience("api")
            .key(k.verification_key().expect("public"))
            .build()
            .expect("verifier");
        assert_eq!(
            MultiIssuerVerifier::builder().trust(any).build().err(),
            Some(MultiIssuerError::NotOneIssuer)
        );
        assert_eq!(
            MultiIssuerVerifier::builder()
                .trust(verifier_for(A, &k))
                .trust(verifier_for(A, &key("other")))
                .build()
                .err(),
            Some(MultiIssuerError::Duplicate(A.into()))
        );
        assert_eq!(
            MultiIssuerVerifier::builder().build().err(),
            Some(MultiIssuerError::NoIssuers)
        );
        let (tenants, _) = Tenants::new(&[]);
        assert!(matches!(
            MultiIssuerVerifier::builder()
                .resolver(tenants)
                .max_resolved(0)
                .build(),
            Err(MultiIssuerError::InvalidSettings(_))
        ));
    }

    #[test]
    fn rfc8725_section_3_10_untrusted_iss_values_cost_one_resolver_call_each() {
        let (ka, attacker) = (key("a"), key("x"));
        let (tenants, calls) = Tenants::new(&[(A, &ka)]);
        let verifier = MultiIssuerVerifier::builder()
            .resolver(tenants)
            .build()
            .expect("builds");
        block_on(async {
            let hostile: Vec<String> = (0..100)
                .map(|i| token(&attacker, &format!("https://tenant-{i}.evil.example")))
                .collect();
            for i in 0..10_000 {
                assert_eq!(
                    verifier.verify(&hostile[i % hostile.len()]).await.err(),
                    Some(VerifyError::InvalidIssuer)
                );
            }
            assert_eq!(calls.load(Ordering::SeqCst), 100);
            assert_eq!(verifier.refused_count(), 100);
            for _ in 0..10 {
                verifier.verify(&token(&ka, A)).await.expect("tenant A");
            }
            assert_eq!(calls.load(Ordering::SeqCst), 101, "A resolved once");
            assert_eq!(verifier.resolved_count(), 1);
        });
    }

    /// A resolver that trusts any issuer with `ka`'s public key, but answers only once `gate`
    /// gives a permit, counting its calls in `calls`.
    fn gated_resolver(
        ka: &SigningKey,
        gate: &Arc<tokio::sync::Semaphore>,
        calls: &Arc<AtomicUsize>,
    ) -> MultiIssuerVerifier {
        let (calls, gate) = (Arc::clone(calls), Arc::clone(gate));
        let public = ka.verification_key().expect("public");
        MultiIssuerVerifier::builder()
            .resolver_fn(move |issuer: String| {
                calls.fetch_add(1, Ordering::SeqCst);
                let (gate, public) = (Arc::clone(&gate), public.clone());
                async move {
                    let _ = gate.acquire().await;
                    let verifier = JwtVerifier::builder()
                        .issuer(issuer)
                        .audience("api")
                        .key(public)
                        .build()
                        .map_err(ResolveError::new)?;
                    Ok(Some(verifier))
                }
            })
            .build()
            .expect("builds")
    }

    #[test]
    fn concurrent_first_requests_for_one_issuer_share_one_resolution() {
        let ka = key("a");
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let verifier = gated_resolver(&ka, &gate, &calls);
        let verifier = Arc::new(verifier);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let (verifier, token) = (Arc::clone(&verifier), token(&ka, A));
                    tokio::spawn(async move { verifier.verify(&token).await })
                })
                .collect();
            while calls.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            // Give the other 49 every chance to start a second resolution before opening.
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.add_permits(1000);
            for task in tasks {
                task.await.expect("task").expect("accepted");
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let dynamic = verifier.dynamic.as_ref().expect("dynamic");
        assert!(dynamic.in_flight.lock().expect("lock").is_empty());
    }

    #[test]
    fn an_abandoned_resolution_leaves_nothing_behind() {
        let ka = key("a");
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let verifier = gated_resolver(&ka, &gate, &Arc::new(AtomicUsize::new(0)));
        block_on(async {
            let pending =
                tokio::time::timeout(Duration::from_millis(20), verifier.verify(&token(&ka, A)))
                    .await;
            assert!(pending.is_err(), "the resolver is held at the gate");
            let dynamic = verifier.dynamic.as_ref().expect("dynamic");
            assert!(dynamic.in_flight.lock().expect("lock").is_empty());
            gate.add_permits(10);
            verifier.verify(&token(&ka, A)).await.expect("resolved now");
        });
    }

    #[test]
    fn refusals_are_forgotten_after_refused_ttl() {
        let clock = ManualClock::at_unix(1_000_000);
        let (tenants, calls) = Tenants::new(&[]);
        let verifier = MultiIssuerVerifier::builder()
            .resolver(tenants)
            .refused_ttl(Duration::from_secs(60))
            .clock(clock.clone())
            .build()
            .expect("builds");
        let t = token(&key("x"), A);
        block_on(async {
            for _ in 0..3 {
                assert_eq!(
                    verifier.verify(&t).await.err(),
                    Some(VerifyError::InvalidIssuer)
                );
            }
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            clock.advance(Duration::from_secs(59));
            let _ = verifier.verify(&t).await;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            clock.advance(Duration::from_secs(1));
            let _ = verifier.verify(&t).await;
            assert_eq!(calls.load(Ordering::SeqCst), 2, "asked again once expired");
        });
    }

    #[test]
    fn refusals_are_bounded_the_oldest_out_first() {
        let (tenants, calls) = Tenants::new(&[]);
        let verifier = MultiIssuerVerifier::builder()
            .resolver(tenants)
            .max_refused(10)
            .build()
            .expect("builds");
        let x = key("x");
        block_on(async {
            for i in 0..25 {
                let _ = verifier.verify(&token(&x, &format!("https://{i}"))).await;
                assert!(verifier.refused_count() <= 10);
            }
            assert_eq!(calls.load(Ordering::SeqCst), 25);
            let _ = verifier.verify(&token(&x, "https://24")).await;
            assert_eq!(calls.load(Ordering::SeqCst), 25, "the newest is remembered");
            let _ = verifier.verify(&token(&x, "https://0")).await;
            assert_eq!(calls.load(Ordering::SeqCst), 26, "the oldest gave way");
            // Over long iss values too: the table holds digests, and the resolver never sees
            // an iss over the bound.
            let long = format!("https://{}", "x".repeat(MAX_ISSUER_LEN));
            assert_eq!(
                verifier.verify(&token(&x, &long)).await.err(),
                Some(VerifyError::InvalidIssuer)
            );
            assert_eq!(calls.load(Ordering::SeqCst), 26);
        });
    }

    #[test]
    fn resolved_issuers_are_bounded_the_least_recently_used_out_first() {
        let keys: Vec<(String, SigningKey)> = (0..3)
            .map(|i| (format!("https://t{i}"), key(&format!("k{i}"))))
            .collect();
        let table: Vec<(&str, &SigningKey)> = keys.iter().map(|(i, k)| (i.as_str(), k)).collect();
        let (tenants, calls) = Tenants::new(&table);
        let verifier = MultiIssuerVerifier::builder()
            .resolver(tenants)
            .max_resolved(2)
            .build()
            .expect("builds");
        let verifier = &verifier;
        let use_tenant = |i: usize| {
            let token = token(&keys[i].1, &keys[i].0);
            async move { verifier.verify(&token).await.map(|_| ()) }
        };
        block_on(async {
            use_tenant(0).await.expect("t0");
            use_tenant(1).await.expect("t1");
            use_tenant(0).await.expect("t0 again");
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            use_tenant(2).await.expect("t2");
            assert_eq!(verifier.resolved_count(), 2);
            use_tenant(0).await.expect("t0 was used last: still cached");
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            use_tenant(1).await.expect("t1 gave way: resolved again");
            assert_eq!(calls.load(Ordering::SeqCst), 4);
        });
    }

    #[test]
    fn rfc8725_section_3_8_a_resolver_vouching_with_another_issuers_verifier_is_refused() {
        let kb = key("b");
        let public = kb.verification_key().expect("public");
        let verifier = MultiIssuerVerifier::builder()
            .resolver_fn(move |issuer: String| {
                let public = public.clone();
                async move {
                    // A buggy resolver: B's verifier for A, or one that takes any issuer.
                    let builder = JwtVerifier::builder().audience("api").key(public);
                    let builder = if issuer == A {
                        builder.issuer(B)
                    } else {
                        builder.allow_any_issuer()
                    };
                    builder.build().map(Some).map_err(ResolveError::new)
                }
            })
            .build()
            .expect("builds");
        block_on(async {
            for iss in [A, "https://c.example"] {
                assert_eq!(
                    verifier.verify(&token(&kb, iss)).await.err(),
                    Some(VerifyError::InvalidIssuer),
                    "{iss}"
                );
            }
        });
        assert_eq!(verifier.resolved_count(), 0);
    }

    #[test]
    fn resolver_errors_are_answered_as_unavailable_and_not_remembered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let verifier = MultiIssuerVerifier::builder()
            .resolver_fn(move |_issuer: String| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err(ResolveError::new("tenant database down")) }
            })
            .build()
            .expect("builds");
        block_on(async {
            for _ in 0..2 {
                assert!(matches!(
                    verifier.verify(&token(&key("a"), A)).await.err(),
                    Some(VerifyError::Unavailable(_))
                ));
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(verifier.refused_count(), 0);
    }
}
