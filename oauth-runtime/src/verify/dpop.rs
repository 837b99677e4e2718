//! DPoP (RFC 9449): proofs of possession of a key, checked beside a sender-constrained access
//! token. No web framework here: the request path hands in the method, the URL and the header.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::clock::{Clock, ClockRef};
use crate::verify::keys::{Key, PRIVATE_MEMBERS};

/// Proofs longer than this are refused before decoding (8 KiB: a proof carrying a 4096-bit RSA
/// key and signature needs less than 2 KiB).
pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;

/// How far a proof's `iat` may lie from the verifier's clock, either way (RFC 9449 §11.1).
pub const DEFAULT_IAT_WINDOW: Duration = Duration::from_secs(60);

/// How many proofs the in-memory replay store remembers at most.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// `jti` values longer than this are refused: RFC 9449 §4.2 asks for 96 bits of randomness, which
/// a few dozen characters carry.
const MAX_JTI_LEN: usize = 256;

/// The signature algorithms of proofs accepted unless configured otherwise.
pub const DEFAULT_DPOP_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Whether an [`Authenticator`](crate::Authenticator) accepts DPoP-bound tokens (RFC 9449 §7).
///
/// ```
/// use oauth_runtime::{Algorithm, Authenticator, JwtVerifier, Key};
/// use oauth_runtime::dpop::{DpopMode, DpopVerifier};
///
/// let verifier = JwtVerifier::builder()
///     .issuer("https://auth.example.com")
///     .audience("photos-api")
///     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
///     .build()?;
/// let authenticator = Authenticator::builder(verifier)
///     .dpop(DpopMode::Required)
///     .dpop_verifier(DpopVerifier::builder().external_url("https://api.example.com").build()?)
///     .build()?;
/// # let _ = authenticator;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DpopMode {
    /// Bearer tokens only, as without DPoP support: the `DPoP` scheme counts as no credentials,
    /// and answers are those of RFC 6750 alone. A DPoP-bound token (`cnf.jkt`) is refused as
    /// one whose binding cannot be checked here
    /// ([`VerifyError::UnverifiableBinding`](crate::VerifyError::UnverifiableBinding)).
    #[default]
    Disabled,
    /// Bearer tokens and DPoP-bound tokens with their proofs; a DPoP-bound token (one with
    /// `cnf.jkt`) sent with the `Bearer` scheme is refused. Challenges name both schemes.
    Allowed,
    /// DPoP-bound tokens with their proofs only.
    Required,
}

/// Why a DPoP proof, or the binding between proof and token, was refused. [`DpopError::code`]
/// is the RFC 9449 §7.1 error code, [`DpopError::description`] the text sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The request carries no `DPoP` header where one is needed.
    #[error("no DPoP proof in the request")]
    MissingProof,
    /// More than one `DPoP` header (RFC 9449 §4.3 item 1).
    #[error("more than one DPoP header")]
    MultipleProofs,
    /// Longer than the configured maximum; refused before decoding.
    #[error("DPoP proof is longer than {max} bytes")]
    TooLarge {
        /// The configured maximum.
        max: usize,
    },
    /// Not a compact JWS of the DPoP form (RFC 9449 §4.3 items 2 and 3).
    #[error("malformed DPoP proof: {0}")]
    Malformed(&'static str),
    /// `typ` is not `dpop+jwt` (RFC 9449 §4.3 item 4).
    #[error("DPoP proof `typ` is not dpop+jwt")]
    WrongType,
    /// `alg` is not an asymmetric algorithm of the configured list (RFC 9449 §4.3 item 5).
    #[error("DPoP proof algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// The `jwk` header holds private key members (RFC 9449 §4.3 item 7).
    #[error("DPoP proof `jwk` holds private key members")]
    PrivateKey,
    /// The `jwk` header is not a usable public key for `alg`.
    #[error("DPoP proof `jwk` is not a usable public key: {0}")]
    BadKey(String),
    /// The signature does not verify with the `jwk` (RFC 9449 §4.3 item 6).
    #[error("DPoP proof signature does not verify")]
    InvalidSignature,
    /// `htm` is not the request's method (RFC 9449 §4.3 item 8).
    #[error("DPoP proof `htm` does not match the request method")]
    MethodMismatch,
    /// `htu` is not the request's URL (RFC 9449 §4.3 item 9).
    #[error("DPoP proof `htu` does not match the request URL")]
    UrlMismatch,
    /// `iat` lies outside the accepted window (RFC 9449 §4.3 item 11).
    #[error("DPoP proof `iat` is outside the accepted window")]
    StaleProof,
    /// The proof's `jti` was seen before within the window (RFC 9449 §11.1).
    #[error("DPoP proof was already used")]
    Replayed,
    /// `ath` is missing or is not the hash of the access token (RFC 9449 §4.3 item 12).
    #[error("DPoP proof `ath` does not match the access token")]
    AccessTokenHashMismatch,
    /// The token is bound to another key than the proof's (RFC 9449 §7.1, `cnf.jkt`).
    #[error("the access token is bound to another key than the DPoP proof's")]
    KeyMismatch,
    /// A token sent with the `DPoP` scheme carries no `cnf.jkt` binding (RFC 9449 §7.1).
    #[error("the access token is not DPoP-bound")]
    TokenNotBound,
    /// A DPoP-bound token sent with the `Bearer` scheme (RFC 9449 §7.2).
    #[error("a DPoP-bound access token was sent with the Bearer scheme")]
    BoundTokenAsBearer,
    /// The resource accepts only DPoP-bound tokens and got a bearer token.
    #[error("only DPoP-bound access tokens are accepted")]
    DpopRequired,
    /// The replay store could not answer; answered 503 like an unreachable key set.
    #[error("DPoP replay store unavailable: {0}")]
    StoreUnavailable(String),
    /// Server nonces are on and the proof carries no `nonce`, or one that is not current
    /// (RFC 9449 §8, §9): the answer carries a `DPoP-Nonce` header with the one to use.
    #[error("DPoP proof lacks the server's current nonce")]
    UseNonce,
}

impl DpopError {
    /// The error code of the `DPoP` challenge (RFC 9449 §7.1): `invalid_dpop_proof` for a bad
    /// proof, `invalid_token` for a token that does not fit it.
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::KeyMismatch
            | DpopError::TokenNotBound
            | DpopError::BoundTokenAsBearer
            | DpopError::DpopRequired => "invalid_token",
            DpopError::UseNonce => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }

    /// A short, stable text safe to send to clients.
    pub fn description(&self) -> &'static str {
        match self {
            DpopError::MissingProof => "a DPoP proof is required",
            DpopError::MultipleProofs => "more than one DPoP proof",
            DpopError::StaleProof => "the DPoP proof is too old or too new",
            DpopError::Replayed => "the DPoP proof was already used",
            DpopError::MethodMismatch | DpopError::UrlMismatch => {
                "the DPoP proof was made for another request"
            }
            DpopError::AccessTokenHashMismatch => "the DPoP proof was made for another token",
            DpopError::KeyMismatch => "the access token is bound to another key",
            DpopError::TokenNotBound => "the access token is not DPoP-bound",
            DpopError::BoundTokenAsBearer => "a DPoP-bound token needs the DPoP scheme",
            DpopError::DpopRequired => "a DPoP-bound access token is required",
            DpopError::StoreUnavailable(_) => "the DPoP proof cannot be checked right now",
            DpopError::UseNonce => "the DPoP proof must carry the nonce sent in DPoP-Nonce",
            _ => "the DPoP proof is invalid",
        }
    }
}

/// A replay store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReplayStoreError(pub String);

/// Remembers the proofs already used, so that each is accepted once (RFC 9449 §11.1).
///
/// The key is the SHA-256 of the proof key's thumbprint and the `jti`, so that one client
/// cannot spend another's `jti`; `until` is when the proof leaves the `iat` window, after which
/// it is refused as stale anyway and may be forgotten. Several instances of an API share one
/// store to refuse a proof replayed against another instance: implement the trait over a shared
/// database, one atomic "set if absent, with expiry" per call (in Redis, `SET key 1 NX EXAT
/// until`, first use when it answers OK).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use oauth_runtime::dpop::{DpopReplayStore, MemoryReplayStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryReplayStore::new(1_000);
/// let until = SystemTime::now() + Duration::from_secs(60);
/// assert!(store.first_use(&[7; 32], until).await?);
/// assert!(!store.first_use(&[7; 32], until).await?, "a second use is a replay");
/// # Ok(())
/// # }
/// ```
#[async_trait::async_trait]
pub trait DpopReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` as used until `until`; `true` if it was not recorded already. Must be
    /// atomic: of two concurrent calls with one key, one only may see `true`.
    async fn first_use(&self, key: &[u8; 32], until: SystemTime) -> Result<bool, ReplayStoreError>;

    /// As [`first_use`](DpopReplayStore::first_use), saying also whose proof it is: `client` is
    /// the SHA-256 of the proof key's thumbprint. A store with room for few entries uses it to
    /// keep one client from filling the store for all (the in-memory store does); the default
    /// ignores it.
    async fn first_use_by(
        &self,
        client: &[u8; 32],
        key: &[u8; 32],
        until: SystemTime,
    ) -> Result<bool, ReplayStoreError> {
        let _ = client;
        self.first_use(key, until).await
    }
}

/// The in-memory [`DpopReplayStore`]: at most `capacity` entries, each forgotten once its proof
/// is out of the window, and at most a share of them for one client key (1 % of the capacity by
/// default, see [`MemoryReplayStore::per_client`]), so that one client with one bound token
/// cannot fill the store and lock every other client out. When full of proofs still in their
/// window it refuses new proofs ([`DpopError::StoreUnavailable`], 503) rather than forget one
/// that could then be replayed. Expired entries leave in order of expiry, never by a scan.
#[derive(Debug)]
pub struct MemoryReplayStore {
    capacity: usize,
    per_client: usize,
    clock: ClockRef,
    seen: Mutex<Seen>,
}

/// The proofs remembered, their expiry order, and how many each client has.
#[derive(Debug, Default)]
struct Seen {
    entries: HashMap<[u8; 32], (SystemTime, [u8; 32])>,
    expiry: BinaryHeap<Reverse<(SystemTime, [u8; 32])>>,
    per_client: HashMap<[u8; 32], usize>,
}

impl Seen {
    /// Forgets what expired by `now`: each entry once, from the earliest.
    fn sweep(&mut self, now: SystemTime) {
        while let Some(Reverse((until, key))) = self.expiry.peek().copied() {
            if until > now {
                break;
            }
            self.expiry.pop();
            if let Some((recorded, client)) = self.entries.get(&key).copied()
                && recorded == until
            {
                self.entries.remove(&key);
                if let Some(n) = self.per_client.get_mut(&client) {
                    *n -= 1;
                    if *n == 0 {
                        self.per_client.remove(&client);
                    }
                }
            }
        }
    }
}

impl MemoryReplayStore {
    /// A store of at most `capacity` proofs, of which one client key may hold 1 % (at least 16).
    pub fn new(capacity: usize) -> Self {
        MemoryReplayStore {
            capacity,
            per_client: (capacity / 100).max(16).min(capacity),
            clock: ClockRef::default(),
            seen: Mutex::default(),
        }
    }

    /// The most proofs in their window that one client key may have remembered; its further
    /// proofs are refused (503) until some leave the window.
    pub fn per_client(mut self, n: usize) -> Self {
        self.per_client = n;
        self
    }

    /// Reads the time from `clock` (to forget entries), as the verifier does.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// How many proofs it remembers now.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait::async_trait]
impl DpopReplayStore for MemoryReplayStore {
    async fn first_use(&self, key: &[u8; 32], until: SystemTime) -> Result<bool, ReplayStoreError> {
        // Without a client, the key itself stands for one: no quota shared with others.
        self.first_use_by(key, key, until).await
    }

    async fn first_use_by(
        &self,
        client: &[u8; 32],
        key: &[u8; 32],
        until: SystemTime,
    ) -> Result<bool, ReplayStoreError> {
        let now = self.clock.now();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.sweep(now);
        if seen.entries.contains_key(key) {
            return Ok(false);
        }
        if seen.entries.len() >= self.capacity {
            crate::metrics::replay_store_error(crate::metrics::StoreFailure::MemoryFull);
            return Err(ReplayStoreError(format!(
                "{} proofs in their window: the in-memory store is full",
                seen.entries.len()
            )));
        }
        if seen.per_client.get(client).copied().unwrap_or(0) >= self.per_client {
            crate::metrics::replay_store_error(crate::metrics::StoreFailure::MemoryFull);
            return Err(ReplayStoreError(
                "this client key has too many proofs in their window".into(),
            ));
        }
        seen.entries.insert(*key, (until, *client));
        seen.expiry.push(Reverse((until, *key)));
        *seen.per_client.entry(*client).or_insert(0) += 1;
        Ok(true)
    }
}

/// Why a [`DpopVerifier`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopConfigError {
    /// An algorithm that is not asymmetric, or none at all.
    #[error("DPoP algorithms must be asymmetric and at least one: {0}")]
    Algorithms(String),
    /// The external URL is not an absolute `http` or `https` URL without query or fragment.
    #[error("external URL {0:?} must be an absolute http(s) URL without query or fragment")]
    ExternalUrl(String),
    /// A nonce key shorter than 32 bytes, a nonce period under a second, or no randomness.
    #[error("DPoP nonces: {0}")]
    Nonces(&'static str),
}

/// What a verified proof tells: the RFC 7638 thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The base64url SHA-256 JWK thumbprint of the proof's key (RFC 7638), as `cnf.jkt` holds it.
    pub jkt: String,
    /// With server nonces on, the current nonce when the proof's was the previous one (RFC 9449
    /// §8.2): send it in a `DPoP-Nonce` header of the successful answer, so that the client
    /// moves on before its nonce expires.
    pub next_nonce: Option<String>,
}

/// How long a nonce period lasts by default; a nonce is accepted in its own period and the
/// next, so for 60 to 120 s.
pub const DEFAULT_NONCE_PERIOD: Duration = Duration::from_secs(60);

/// Server-provided DPoP nonces (RFC 9449 §8 for an authorization server, §9 for a resource
/// server), without state: the nonce of a period is an HMAC-SHA256 of the period's number under
/// a key, and a proof passes with the nonce of the current period or of the one before. Several
/// instances built with the same key ([`DpopNonces::with_key`]) issue and accept the same
/// nonces; [`DpopNonces::random`] draws a key for this process alone.
///
/// A nonce bounds how early a proof can be made: a proof made by someone who stole the key a
/// while ago, or pre-computed for later, cannot carry a nonce that did not exist yet.
///
/// ```
/// use oauth_runtime::dpop::{DpopNonces, DpopVerifier};
///
/// let shared = [7u8; 32]; // in production: a secret of 32 random bytes, the same on every instance
/// let verifier = DpopVerifier::builder()
///     .nonces(DpopNonces::with_key(&shared)?)
///     .build()?;
/// let other_instance = DpopVerifier::builder()
///     .nonces(DpopNonces::with_key(&shared)?)
///     .build()?;
/// assert_eq!(verifier.current_nonce(), other_instance.current_nonce());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DpopNonces {
    key: aws_lc_rs::hmac::Key,
    period: Duration,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

/// Keeps nonce MACs apart from anything else the same key might sign.
const NONCE_LABEL: &[u8] = b"oauth-runtime DPoP nonce v1\0";

impl DpopNonces {
    /// Nonces under a key drawn now from the system's generator: for one instance (another
    /// instance refuses them, and answers `use_dpop_nonce` with its own).
    pub fn random() -> Result<DpopNonces, DpopConfigError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| DpopConfigError::Nonces("the random number generator failed"))?;
        DpopNonces::with_key(&secret)
    }

    /// Nonces under `secret` (at least 32 bytes), so that every instance configured with it
    /// accepts the nonces of the others. Keep it as secret as a signing key: whoever has it can
    /// make future nonces.
    pub fn with_key(secret: &[u8]) -> Result<DpopNonces, DpopConfigError> {
        if secret.len() < 32 {
            return Err(DpopConfigError::Nonces("the key must be at least 32 bytes"));
        }
        Ok(DpopNonces {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            period: DEFAULT_NONCE_PERIOD,
        })
    }

    /// How long one nonce is current (default [`DEFAULT_NONCE_PERIOD`], at least 1 s); it is
    /// accepted for one more period after that.
    pub fn period(mut self, period: Duration) -> DpopNonces {
        self.period = period;
        self
    }

    fn period_at(&self, unix_now: i64) -> u64 {
        u64::try_from(unix_now).unwrap_or(0) / self.period.as_secs().max(1)
    }

    fn tag(&self, period: u64) -> aws_lc_rs::hmac::Tag {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        ctx.update(NONCE_LABEL);
        ctx.update(&period.to_be_bytes());
        ctx.sign()
    }

    /// The nonce current at `unix_now`.
    fn nonce_at(&self, unix_now: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(self.period_at(unix_now)))
    }

    /// `Some(true)` for the current nonce, `Some(false)` for the previous period's, `None` for
    /// anything else. The MAC comparison is constant-time.
    fn check(&self, nonce: &str, unix_now: i64) -> Option<bool> {
        // 32 bytes are 43 base64url characters; anything longer is not decoded.
        if nonce.len() != 43 {
            return None;
        }
        let mac = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let current = self.period_at(unix_now);
        let matches = |period: u64| {
            let mut ctx = Vec::with_capacity(NONCE_LABEL.len() + 8);
            ctx.extend_from_slice(NONCE_LABEL);
            ctx.extend_from_slice(&period.to_be_bytes());
            aws_lc_rs::hmac::verify(&self.key, &ctx, &mac).is_ok()
        };
        if matches(current) {
            Some(true)
        } else if current > 0 && matches(current - 1) {
            Some(false)
        } else {
            None
        }
    }
}

/// Checks DPoP proofs (RFC 9449 §4.3). Cheap to clone; clones share the replay store.
///
/// ```
/// use oauth_runtime::dpop::{DpopVerifier, jwk_thumbprint};
/// use oauth_runtime::{Algorithm, SigningKey};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client_key = SigningKey::generate(Algorithm::ES256)?;
/// let jwk = client_key.public_jwk().expect("an asymmetric key");
/// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
/// let proof = client_key.sign_jwt_with_header(
///     &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk }),
///     &json!({ "jti": "a-unique-id", "htm": "POST", "htu": "https://auth.example/token", "iat": now }),
/// );
/// let verifier = DpopVerifier::builder().build()?;
/// let verified = verifier
///     .verify(&proof, "POST", "https://auth.example/token?x=1", None)
///     .await?;
/// assert_eq!(verified.jkt, jwk_thumbprint(&jwk)?);
/// assert!(verifier.verify(&proof, "POST", "https://auth.example/token", None).await.is_err(),
///     "a proof is accepted once");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DpopVerifier(Arc<Settings>);

struct Settings {
    algorithms: Vec<Algorithm>,
    window: Duration,
    max_len: usize,
    external_url: Option<String>,
    store: Arc<dyn DpopReplayStore>,
    clock: ClockRef,
    nonces: Option<DpopNonces>,
}

/// The defaults of [`DpopVerifier::builder`].
impl Default for DpopVerifier {
    fn default() -> Self {
        let clock = ClockRef::default();
        DpopVerifier(Arc::new(Settings {
            algorithms: DEFAULT_DPOP_ALGORITHMS.to_vec(),
            window: DEFAULT_IAT_WINDOW,
            max_len: DEFAULT_MAX_PROOF_LEN,
            external_url: None,
            store: Arc::new(MemoryReplayStore {
                clock: clock.clone(),
                ..MemoryReplayStore::new(DEFAULT_REPLAY_CAPACITY)
            }),
            clock,
            nonces: None,
        }))
    }
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.0.algorithms)
            .field("window", &self.0.window)
            .field("external_url", &self.0.external_url)
            .field("nonces", &self.0.nonces)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DpopVerifier`].
#[must_use]
#[derive(Debug)]
pub struct DpopVerifierBuilder {
    algorithms: Vec<Algorithm>,
    window: Duration,
    max_len: usize,
    external_url: Option<String>,
    store: Option<Arc<dyn DpopReplayStore>>,
    clock: ClockRef,
    nonces: Option<DpopNonces>,
}

impl DpopVerifierBuilder {
    /// The proof algorithms accepted (default [`DEFAULT_DPOP_ALGORITHMS`]); only asymmetric ones.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far `iat` may lie from now, either way (default 60 s). A proof is remembered by the
    /// replay store for as long, so a longer window costs memory.
    pub fn iat_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Proofs longer than this many bytes are refused before decoding (default 8 KiB).
    pub fn max_proof_len(mut self, max: usize) -> Self {
        self.max_len = max;
        self
    }

    /// The URL clients use to reach this API, such as `https://api.example.com` or
    /// `https://example.com/photos-api` behind a proxy that strips the prefix; the request path
    /// is appended to it to make the URL that `htu` must equal.
    ///
    /// Set it in production. Without it the URL is built from the request's own `Host` header
    /// and the scheme the server sees, and the `Host` header is written by the client: a proof
    /// made for another server could then be presented here with that server's name as `Host`.
    /// A proxy in front that rewrites `Host` or terminates TLS makes the built URL differ from
    /// the one clients sign, and every proof fail.
    pub fn external_url(mut self, url: impl Into<String>) -> Self {
        self.external_url = Some(url.into());
        self
    }

    /// Where used proofs are remembered (default: a [`MemoryReplayStore`] of
    /// [`DEFAULT_REPLAY_CAPACITY`] entries, for one instance).
    pub fn replay_store(mut self, store: impl DpopReplayStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Reads `iat` windows against `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// Requires server-provided nonces in proofs (RFC 9449 §8, §9; off by default): a proof
    /// without the current (or the previous) nonce is refused with `use_dpop_nonce`, and the
    /// answer carries the nonce to use in a `DPoP-Nonce` header.
    pub fn nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<DpopVerifier, DpopConfigError> {
        if self.algorithms.is_empty() || self.algorithms.iter().any(|a| !is_asymmetric(*a)) {
            return Err(DpopConfigError::Algorithms(format!(
                "{:?}",
                self.algorithms
            )));
        }
        let external_url = match self.external_url {
            None => None,
            Some(url) => {
                let trimmed = url.trim_end_matches('/');
                match normalize_url(trimmed) {
                    Some(normal) if !url.contains(['?', '#']) => Some(normal),
                    _ => return Err(DpopConfigError::ExternalUrl(url)),
                }
            }
        };
        if self
            .nonces
            .as_ref()
            .is_some_and(|n| n.period < Duration::from_secs(1))
        {
            return Err(DpopConfigError::Nonces(
                "the period must be at least 1 second",
            ));
        }
        let store = match self.store {
            Some(store) => store,
            None => Arc::new(MemoryReplayStore {
                clock: self.clock.clone(),
                ..MemoryReplayStore::new(DEFAULT_REPLAY_CAPACITY)
            }),
        };
        Ok(DpopVerifier(Arc::new(Settings {
            algorithms: self.algorithms,
            window: self.window,
            max_len: self.max_len,
            external_url: external_url.map(|u| u.trim_end_matches('/').to_owned()),
            store,
            clock: self.clock,
            nonces: self.nonces,
        })))
    }
}

fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The header members of a proof. Unknown members are ignored, duplicates refused.
#[derive(serde::Deserialize)]
struct ProofHeader {
    #[serde(default)]
    typ: Option<String>,
    alg: String,
    #[serde(default)]
    jwk: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(value).map(|_| true)
}

/// The claims of a proof (RFC 9449 §4.2).
#[derive(serde::Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: Value,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

impl DpopVerifier {
    /// Starts a builder with the defaults.
    pub fn builder() -> DpopVerifierBuilder {
        DpopVerifierBuilder {
            algorithms: DEFAULT_DPOP_ALGORITHMS.to_vec(),
            window: DEFAULT_IAT_WINDOW,
            max_len: DEFAULT_MAX_PROOF_LEN,
            external_url: None,
            store: None,
            clock: ClockRef::default(),
            nonces: None,
        }
    }

    /// With server nonces on, the nonce a proof must carry now, for a `DPoP-Nonce` header.
    pub fn current_nonce(&self) -> Option<String> {
        self.0
            .nonces
            .as_ref()
            .map(|n| n.nonce_at(self.0.clock.unix_now()))
    }

    /// Whether proofs must carry a server nonce.
    pub fn requires_nonce(&self) -> bool {
        self.0.nonces.is_some()
    }

    /// The accepted algorithms, for `algs` in challenges and `dpop_signing_alg_values_supported`.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.0.algorithms
    }

    /// The configured external URL, normalised, if any.
    pub fn external_url(&self) -> Option<&str> {
        self.0.external_url.as_deref()
    }

    /// As [`DpopVerifier::verify`] for a resource request with `access_token`, which is bound
    /// to the key of thumbprint `jkt` (its `cnf.jkt`): a proof of another key is refused before
    /// its `jti` is recorded.
    pub async fn verify_bound(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: &str,
        jkt: &str,
    ) -> Result<VerifiedProof, DpopError> {
        let (verified, replay_key, until) = self.check(proof, method, url, Some(access_token))?;
        if verified.jkt != jkt {
            return Err(DpopError::KeyMismatch);
        }
        self.record(verified, &replay_key, until).await
    }

    async fn record(
        &self,
        verified: VerifiedProof,
        replay_key: &[u8; 32],
        until: SystemTime,
    ) -> Result<VerifiedProof, DpopError> {
        let client = digest::digest(&digest::SHA256, verified.jkt.as_bytes());
        let mut client_key = [0; 32];
        client_key.copy_from_slice(client.as_ref());
        match self
            .0
            .store
            .first_use_by(&client_key, replay_key, until)
            .await
        {
            Ok(true) => Ok(verified),
            Ok(false) => Err(DpopError::Replayed),
            Err(ReplayStoreError(why)) => Err(DpopError::StoreUnavailable(why)),
        }
    }

    /// Checks `proof` (the `DPoP` header's value) for a request with `method` to `url` (absolute;
    /// query and fragment are ignored), and, for a resource request, that its `ath` is the hash
    /// of `access_token` (RFC 9449 §4.3). The proof's `jti` is recorded as used once every
    /// other check passed.
    pub async fn verify(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<VerifiedProof, DpopError> {
        let (verified, replay_key, until) = self.check(proof, method, url, access_token)?;
        self.record(verified, &replay_key, until).await
    }

    /// Every check but the replay store's.
    fn check(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<(VerifiedProof, [u8; 32], SystemTime), DpopError> {
        let settings = &self.0;
        if proof.len() > settings.max_len {
            return Err(DpopError::TooLarge {
                max: settings.max_len,
            });
        }
        let mut parts = proof.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed("a proof is a JWS of three segments"));
        };
        let b64 = |part: &str, what: &'static str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| DpopError::Malformed(what))
        };
        let header: ProofHeader =
            serde_json::from_slice(&b64(header_b64, "header is not base64url")?).map_err(|_| {
                DpopError::Malformed("header is not a JSON object of the DPoP form")
            })?;
        if header.crit {
            return Err(DpopError::Malformed("no critical extension is understood"));
        }
        if header.typ.as_deref() != Some("dpop+jwt") {
            return Err(DpopError::WrongType);
        }
        let alg = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|a| settings.algorithms.contains(a))
            .ok_or_else(|| DpopError::UnsupportedAlgorithm(header.alg.clone()))?;
        let jwk = header
            .jwk
            .ok_or(DpopError::Malformed("the header has no jwk"))?;
        let (key, jkt) = proof_key(&jwk, alg)?;
        let signature = b64(signature_b64, "signature is not base64url")?;
        let signed = &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verify(signed, &signature) {
            return Err(DpopError::InvalidSignature);
        }
        let claims: ProofClaims =
            serde_json::from_slice(&b64(payload_b64, "payload is not base64url")?).map_err(
                |_| DpopError::Malformed("the claims jti, htm, htu and iat are required"),
            )?;
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
            return Err(DpopError::Malformed("jti is empty or too long"));
        }
        if claims.htm != method {
            return Err(DpopError::MethodMismatch);
        }
        let expected = normalize_url(without_query(url));
        let claimed = normalize_url(without_query(&claims.htu));
        if expected.is_none() || expected != claimed {
            return Err(DpopError::UrlMismatch);
        }
        let iat = match &claims.iat {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.floor() as i64)
                })
                .ok_or(DpopError::Malformed("iat is not a date"))?,
            _ => return Err(DpopError::Malformed("iat is not a number")),
        };
        let now = settings.clock.unix_now();
        let window = i64::try_from(settings.window.as_secs()).unwrap_or(i64::MAX);
        if iat.abs_diff(now) > window.unsigned_abs() {
            return Err(DpopError::StaleProof);
        }
        // RFC 9449 §8, §9: checked before `ath` and the replay store, so that the first proof
        // of a client that has no nonce yet is answered with one and recorded nowhere.
        let next_nonce = match &settings.nonces {
            None => None,
            Some(nonces) => match claims.nonce.as_deref().and_then(|n| nonces.check(n, now)) {
                None => return Err(DpopError::UseNonce),
                Some(true) => None,
                Some(false) => Some(nonces.nonce_at(now)),
            },
        };
        if let Some(token) = access_token {
            let expected = access_token_hash(token);
            if claims.ath.as_deref() != Some(expected.as_str()) {
                return Err(DpopError::AccessTokenHashMismatch);
            }
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(jkt.as_bytes());
        ctx.update(b".");
        ctx.update(claims.jti.as_bytes());
        let mut replay_key = [0; 32];
        replay_key.copy_from_slice(ctx.finish().as_ref());
        // Remembered until the proof would be refused as stale anyway: the check above reads the
        // clock in whole seconds, so a proof passes until `iat + window + 1 s` (a second less
        // left a last second in which it could be replayed at will).
        let until_secs =
            u64::try_from(iat.saturating_add(window).saturating_add(1).max(0)).unwrap_or(0);
        let until = UNIX_EPOCH + Duration::from_secs(until_secs);
        Ok((VerifiedProof { jkt, next_nonce }, replay_key, until))
    }

    /// The URL a proof's `htu` must match for a request with `path` (no query), received with
    /// `scheme` and `host` (the `Host` header): the external URL with the path appended when one
    /// is configured, else built from `scheme` and `host`.
    pub fn request_url(&self, scheme: &str, host: Option<&str>, path: &str) -> Option<String> {
        match &self.0.external_url {
            Some(base) => Some(format!("{base}{path}")),
            None => host.map(|host| format!("{scheme}://{host}{path}")),
        }
    }
}

/// The verification key of a proof's `jwk`, bound to `alg`, and its RFC 7638 thumbprint.
fn proof_key(jwk: &Map<String, Value>, alg: Algorithm) -> Result<(Key, String), DpopError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::PrivateKey);
    }
    let value = Value::Object(jwk.clone());
    let jkt = jwk_thumbprint(&value)?;
    if let Some(stated) = jwk.get("alg")
        && stated.as_str() != Some(format!("{alg:?}").as_str())
    {
        return Err(DpopError::BadKey("the jwk's alg is not the proof's".into()));
    }
    let parsed: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(value).map_err(|e| DpopError::BadKey(e.to_string()))?;
    let key = Key::from_jwk(&parsed)
        .and_then(|k| k.with_algorithm(alg))
        .map_err(|e| DpopError::BadKey(e.to_string()))?;
    Ok((key, jkt))
}

/// The RFC 7638 JWK thumbprint: base64url of the SHA-256 of the key's required members in
/// lexicographic order, for EC (P-256, P-384), RSA and OKP (Ed25519, RFC 8037 §2) public keys.
///
/// ```
/// use oauth_runtime::dpop::jwk_thumbprint;
///
/// let jwk = serde_json::json!({ "kty": "OKP", "crv": "Ed25519",
///     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
/// // RFC 8037 Appendix A.3.
/// assert_eq!(jwk_thumbprint(&jwk)?, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
/// # Ok::<(), oauth_runtime::dpop::DpopError>(())
/// ```
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, DpopError> {
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.bytes().all(is_base64url_or_name))
            .ok_or(DpopError::BadKey(format!(
                "`{name}` is missing or malformed"
            )))
    };
    // Every value is checked to need no JSON escaping, so it is written as it is.
    let canonical = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => {
            let crv = member("crv")?;
            if !matches!(crv, "P-256" | "P-384") {
                return Err(DpopError::BadKey(format!("unsupported curve {crv}")));
            }
            format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                member("x")?,
                member("y")?
            )
        }
        Some("RSA") => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e")?,
            member("n")?
        ),
        Some("OKP") => {
            let crv = member("crv")?;
            if crv != "Ed25519" {
                return Err(DpopError::BadKey(format!("unsupported curve {crv}")));
            }
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, member("x")?)
        }
        _ => return Err(DpopError::BadKey("kty must be EC, RSA or OKP".into())),
    };
    Ok(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

fn is_base64url_or_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `ath`: the base64url SHA-256 of the access token's ASCII bytes (RFC 9449 §4.2).
///
/// ```
/// // RFC 9449 §7.1.
/// assert_eq!(
///     oauth_runtime::dpop::access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
///     "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
/// );
/// ```
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// `url` in the normal form of RFC 3986 §6.2.2 and §6.2.3 (as RFC 9449 §4.3 item 9 asks):
/// scheme and host in lower case, the default port dropped, an empty path as `/`,
/// percent-encodings in upper case and those of unreserved characters decoded. `None` for
/// anything but an absolute `http` or `https` URL with a host and no user information.
fn normalize_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let path_start = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(path_start);
    if authority.is_empty() || authority.contains('@') || !authority.is_ascii() {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~[]:%".contains(&b))
    {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 5 => {
            let p = p.trim_start_matches('0');
            (p != default_port).then_some(if p.is_empty() { "0" } else { p })
        }
        Some(_) => return None,
    };
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(port) = port {
        out.push(':');
        out.push_str(port);
    }
    if path.is_empty() {
        out.push('/');
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            let value = u8::from_str_radix(text, 16).ok()?;
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push_str(&text.to_ascii_uppercase());
            }
            i += 3;
        } else if b.is_ascii_graphic() {
            out.push(char::from(b));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::verify::signing::SigningKey;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;
    const URL: &str = "https://api.example/photos";

    struct Client {
        key: SigningKey,
        jwk: Value,
    }

    impl Client {
        fn new(alg: Algorithm) -> Client {
            let key = SigningKey::generate(alg).expect("key");
            let mut jwk = key.public_jwk().expect("public jwk");
            // The jwk as clients usually send it: no `use`, `alg` or `kid`.
            if let Some(map) = jwk.as_object_mut() {
                map.retain(|k, _| !matches!(k.as_str(), "use" | "alg" | "kid"));
            }
            Client { key, jwk }
        }

        fn header(&self) -> Value {
            json!({ "typ": "dpop+jwt", "alg": format!("{:?}", self.key.algorithm()), "jwk": self.jwk })
        }

        fn claims(&self, jti: &str) -> Value {
            json!({ "jti": jti, "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash("tok") })
        }

        fn proof_with(&self, header: &Value, claims: &Value) -> String {
            self.key.sign_jwt_with_header(header, claims)
        }

        fn proof(&self, jti: &str) -> String {
            self.proof_with(&self.header(), &self.claims(jti))
        }
    }

    fn verifier() -> (DpopVerifier, ManualClock) {
        let clock = ManualClock::at_unix(NOW);
        let verifier = DpopVerifier::builder()
            .clock(clock.clone())
            .build()
            .expect("defaults");
        (verifier, clock)
    }

    /// `rest` (payload and signature) with the signature of `other` instead.
    fn other_signature(rest: &str, other: &str) -> String {
        let payload = rest.split('.').next().expect("payload");
        let signature = other.rsplit('.').next().expect("signature");
        format!("{payload}.{signature}")
    }

    async fn check(verifier: &DpopVerifier, proof: &str) -> Result<VerifiedProof, DpopError> {
        verifier.verify(proof, "GET", URL, Some("tok")).await
    }

    #[test]
    fn rfc7638_section_3_1_thumbprint_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).expect("thumbprint"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc9449_section_7_1_ath_example() {
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn rfc9449_section_6_1_jkt_example() {
        // The proof key of RFC 9449 §4.1 and its `cnf.jkt` of §6.1.
        let jwk = json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).expect("thumbprint"),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    #[tokio::test]
    async fn rfc9449_section_4_3_a_good_proof_of_every_default_algorithm_passes() {
        let (verifier, _) = verifier();
        for alg in DEFAULT_DPOP_ALGORITHMS {
            let client = Client::new(alg);
            let verified = check(&verifier, &client.proof(&format!("jti-{alg:?}")))
                .await
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(verified.jkt, jwk_thumbprint(&client.jwk).expect("jkt"));
        }
    }

    #[tokio::test]
    async fn rfc9449_section_4_3_each_check_has_a_failing_case() {
        let (verifier, _) = verifier();
        let client = Client::new(Algorithm::ES256);
        let with_header = |edit: &dyn Fn(&mut Value)| {
            let mut header = client.header();
            edit(&mut header);
            client.proof_with(&header, &client.claims("j"))
        };
        let with_claims = |edit: &dyn Fn(&mut Value)| {
            let mut claims = client.claims("j");
            edit(&mut claims);
            client.proof_with(&client.header(), &claims)
        };
        let good = client.proof("j");
        let (head, rest) = good.split_once('.').expect("three segments");
        let cases: Vec<(String, DpopError)> = vec![
            // Item 2: one well-formed JWS.
            (
                "a.b".into(),
                DpopError::Malformed("a proof is a JWS of three segments"),
            ),
            (
                "a.b.c.d".into(),
                DpopError::Malformed("a proof is a JWS of three segments"),
            ),
            (
                format!("{}x", "a".repeat(DEFAULT_MAX_PROOF_LEN)),
                DpopError::TooLarge {
                    max: DEFAULT_MAX_PROOF_LEN,
                },
            ),
            // Item 4: typ.
            (
                with_header(&|h| h["typ"] = "JWT".into()),
                DpopError::WrongType,
            ),
            (
                with_header(&|h| {
                    h.as_object_mut().map(|m| m.remove("typ"));
                }),
                DpopError::WrongType,
            ),
            // Item 5: an asymmetric alg from the list; `none` and HMAC never.
            (
                with_header(&|h| h["alg"] = "none".into()),
                DpopError::UnsupportedAlgorithm("none".into()),
            ),
            (
                with_header(&|h| h["alg"] = "HS256".into()),
                DpopError::UnsupportedAlgorithm("HS256".into()),
            ),
            // Item 6: the jwk verifies the signature.
            (
                format!("{head}.{}", other_signature(rest, &client.proof("k"))),
                DpopError::InvalidSignature,
            ),
            (
                with_header(&|h| h["jwk"] = Client::new(Algorithm::ES256).jwk),
                DpopError::InvalidSignature,
            ),
            // Item 7: public members only.
            (
                with_header(&|h| h["jwk"]["d"] = "AAAA".into()),
                DpopError::PrivateKey,
            ),
            (
                with_header(&|h| {
                    h.as_object_mut().map(|m| m.remove("jwk"));
                }),
                DpopError::Malformed("the header has no jwk"),
            ),
            (
                with_header(&|h| h["crit"] = json!(["exp"])),
                DpopError::Malformed("no critical extension is understood"),
            ),
            // Item 8: htm.
            (
                with_claims(&|c| c["htm"] = "POST".into()),
                DpopError::MethodMismatch,
            ),
            (
                with_claims(&|c| c["htm"] = "get".into()),
                DpopError::MethodMismatch,
            ),
            // Item 9: htu.
            (
                with_claims(&|c| c["htu"] = "https://api.example/albums".into()),
                DpopError::UrlMismatch,
            ),
            (
                with_claims(&|c| c["htu"] = "https://other.example/photos".into()),
                DpopError::UrlMismatch,
            ),
            (
                with_claims(&|c| c["htu"] = "http://api.example/photos".into()),
                DpopError::UrlMismatch,
            ),
            (
                with_claims(&|c| c["htu"] = "/photos".into()),
                DpopError::UrlMismatch,
            ),
            // Item 11: iat within the window.
            (
                with_claims(&|c| c["iat"] = (NOW - 61).into()),
                DpopError::StaleProof,
            ),
            (
                with_claims(&|c| c["iat"] = (NOW + 61).into()),
                DpopError::StaleProof,
            ),
            (
                with_claims(&|c| c["iat"] = "now".into()),
                DpopError::Malformed("iat is not a number"),
            ),
            // Item 12: ath.
            (
                with_claims(&|c| c["ath"] = access_token_hash("other").into()),
                DpopError::AccessTokenHashMismatch,
            ),
            (
                with_claims(&|c| {
                    c.as_object_mut().map(|m| m.remove("ath"));
                }),
                DpopError::AccessTokenHashMismatch,
            ),
            (
                with_claims(&|c| {
                    c.as_object_mut().map(|m| m.remove("jti"));
                }),
                DpopError::Malformed("the claims jti, htm, htu and iat are required"),
            ),
            (
                with_claims(&|c| c["jti"] = "x".repeat(MAX_JTI_LEN + 1).into()),
                DpopError::Malformed("jti is empty or too long"),
            ),
        ];
        for (proof, expected) in cases {
            assert_eq!(
                check(&verifier, &proof).await,
                Err(expected.clone()),
                "{expected}"
            );
        }
        // None of the refused proofs spent the good proof's jti.
        check(&verifier, &good).await.expect("the good proof");
        // §11.1: replay.
        assert_eq!(check(&verifier, &good).await, Err(DpopError::Replayed));
    }

    #[tokio::test]
    async fn rfc9449_section_4_3_the_configured_algorithm_list_is_enforced() {
        let clock = ManualClock::at_unix(NOW);
        let verifier = DpopVerifier::builder()
            .algorithms([Algorithm::ES256])
            .clock(clock)
            .build()
            .expect("settings");
        let client = Client::new(Algorithm::EdDSA);
        assert_eq!(
            check(&verifier, &client.proof("j")).await,
            Err(DpopError::UnsupportedAlgorithm("EdDSA".into()))
        );
        assert!(matches!(
            DpopVerifier::builder()
                .algorithms([Algorithm::HS256])
                .build(),
            Err(DpopConfigError::Algorithms(_))
        ));
    }

    #[tokio::test]
    async fn rfc9449_section_4_3_a_jwk_alg_other_than_the_proofs_is_refused() {
        let (verifier, _) = verifier();
        let client = Client::new(Algorithm::ES256);
        let mut header = client.header();
        header["jwk"]["alg"] = "ES384".into();
        assert!(matches!(
            check(&verifier, &client.proof_with(&header, &client.claims("j"))).await,
            Err(DpopError::BadKey(_))
        ));
    }

    #[tokio::test]
    async fn rfc9449_section_11_1_replay_entries_expire_with_the_window_and_are_bounded() {
        let clock = ManualClock::at_unix(NOW);
        let store = Arc::new(MemoryReplayStore::new(2).with_clock(clock.clone()));
        let until = UNIX_EPOCH + Duration::from_secs(NOW + 60);
        assert_eq!(store.first_use(&[1; 32], until).await, Ok(true));
        assert_eq!(store.first_use(&[1; 32], until).await, Ok(false));
        assert_eq!(store.first_use(&[2; 32], until).await, Ok(true));
        // Full of live entries: refused rather than forgetting one that could be replayed.
        assert!(store.first_use(&[3; 32], until).await.is_err());
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            store
                .first_use(&[3; 32], until + Duration::from_secs(61))
                .await,
            Ok(true)
        );
        assert_eq!(store.len(), 1, "the expired entries were swept");
    }

    /// Found by an attack: the `iat` check reads whole seconds, so a proof passes until
    /// `iat + window + 1 s`, and its replay entry must live that long too; remembered only
    /// until `iat + window`, it could be replayed at will in the window's last second.
    #[tokio::test]
    async fn rfc9449_section_11_1_no_replay_in_the_last_second_of_the_window() {
        let (verifier, clock) = verifier();
        let client = Client::new(Algorithm::ES256);
        let mut claims = client.claims("last-second");
        claims["iat"] = (NOW - 60).into();
        let proof = client.proof_with(&client.header(), &claims);
        clock.advance(Duration::from_millis(500));
        assert!(check(&verifier, &proof).await.is_ok());
        assert_eq!(check(&verifier, &proof).await, Err(DpopError::Replayed));
        clock.advance(Duration::from_millis(400));
        assert_eq!(check(&verifier, &proof).await, Err(DpopError::Replayed));
        clock.advance(Duration::from_millis(200));
        assert_eq!(check(&verifier, &proof).await, Err(DpopError::StaleProof));
    }

    /// Found by an attack on this store: one client with one bound token sending fresh `jti`s
    /// filled the shared table and every other client's proofs were refused (503).
    #[tokio::test]
    async fn rfc9449_section_11_1_one_client_cannot_fill_the_replay_store() {
        let clock = ManualClock::at_unix(NOW);
        let store = MemoryReplayStore::new(100)
            .per_client(3)
            .with_clock(clock.clone());
        let until = UNIX_EPOCH + Duration::from_secs(NOW + 60);
        let (attacker, other) = ([1; 32], [2; 32]);
        for jti in 0..3u8 {
            assert_eq!(
                store.first_use_by(&attacker, &[jti; 32], until).await,
                Ok(true)
            );
        }
        assert!(
            store
                .first_use_by(&attacker, &[9; 32], until)
                .await
                .is_err()
        );
        assert_eq!(store.first_use_by(&other, &[10; 32], until).await, Ok(true));
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            store
                .first_use_by(&attacker, &[11; 32], until + Duration::from_secs(61))
                .await,
            Ok(true),
            "the quota frees as proofs leave the window"
        );
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn rfc9449_section_4_3_item_9_htu_is_compared_in_normal_form() {
        let (verifier, _) = verifier();
        let client = Client::new(Algorithm::ES256);
        for (i, (htu, request)) in [
            ("HTTPS://API.example:443/photos", URL),
            (
                "https://api.example/photos?x=1#f",
                "https://api.example/photos?y=2",
            ),
            ("https://api.example/%70hotos", URL),
            ("http://api.example:80", "http://api.example/"),
            ("https://api.example/a%2fb", "https://api.example/a%2Fb"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut claims = client.claims(&format!("n{i}"));
            claims["htu"] = htu.into();
            let proof = client.proof_with(&client.header(), &claims);
            verifier
                .verify(&proof, "GET", request, Some("tok"))
                .await
                .unwrap_or_else(|e| panic!("{htu} vs {request}: {e}"));
        }
        assert_eq!(normalize_url("https://user@api.example/"), None);
        assert_eq!(normalize_url("ftp://api.example/"), None);
        assert_eq!(normalize_url("https://api.example:99999999/"), None);
    }

    #[test]
    fn external_urls_are_checked_and_prefix_the_path() {
        let verifier = DpopVerifier::builder()
            .external_url("HTTPS://Example.com:443/api/")
            .build()
            .expect("settings");
        assert_eq!(
            verifier
                .request_url("http", Some("internal:8080"), "/photos")
                .as_deref(),
            Some("https://example.com/api/photos")
        );
        for bad in ["example.com", "https://example.com/?q", "ftp://example.com"] {
            assert!(
                DpopVerifier::builder().external_url(bad).build().is_err(),
                "{bad}"
            );
        }
    }

    fn nonce_verifier(nonces: DpopNonces) -> (DpopVerifier, ManualClock) {
        let clock = ManualClock::at_unix(NOW);
        let verifier = DpopVerifier::builder()
            .clock(clock.clone())
            .nonces(nonces)
            .build()
            .expect("nonces");
        (verifier, clock)
    }

    fn proof_with_nonce(client: &Client, jti: &str, nonce: Option<&str>, iat: u64) -> String {
        let mut claims = client.claims(jti);
        claims["iat"] = iat.into();
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        client.proof_with(&client.header(), &claims)
    }

    /// RFC 9449 §9 (and §8 for the token endpoint): with nonces on, a proof without one, with a
    /// made-up one or with one of a period long gone gets `use_dpop_nonce`; the current nonce
    /// passes; the previous period's passes too and tells the next one (§8.2). A refused proof
    /// is not recorded, so nothing of it is spent.
    #[tokio::test]
    async fn rfc9449_section_9_nonces_are_required_and_rotate() {
        let (verifier, clock) = nonce_verifier(DpopNonces::random().expect("random"));
        let client = Client::new(Algorithm::ES256);
        assert!(verifier.requires_nonce());
        let first = verifier.current_nonce().expect("a nonce");
        assert_eq!(first.len(), 43);

        let no_nonce = proof_with_nonce(&client, "n1", None, NOW);
        assert_eq!(check(&verifier, &no_nonce).await, Err(DpopError::UseNonce));
        assert_eq!(DpopError::UseNonce.code(), "use_dpop_nonce");
        for made_up in ["x", "", &"A".repeat(43), &"A".repeat(1_000)] {
            let proof = proof_with_nonce(&client, "n2", Some(made_up), NOW);
            assert_eq!(check(&verifier, &proof).await, Err(DpopError::UseNonce));
        }
        let other = DpopNonces::random().expect("random");
        let foreign = other.nonce_at(i64::try_from(NOW).expect("fits"));
        let proof = proof_with_nonce(&client, "n2", Some(&foreign), NOW);
        assert_eq!(check(&verifier, &proof).await, Err(DpopError::UseNonce));

        // The same jti, now with the nonce: the refusals above recorded nothing.
        let good = proof_with_nonce(&client, "n1", Some(&first), NOW);
        let verified = check(&verifier, &good).await.expect("current nonce");
        assert_eq!(verified.next_nonce, None);

        clock.advance(DEFAULT_NONCE_PERIOD);
        let second = verifier.current_nonce().expect("a nonce");
        assert_ne!(first, second, "a new period, a new nonce");
        let now = NOW + DEFAULT_NONCE_PERIOD.as_secs();
        let previous = proof_with_nonce(&client, "n3", Some(&first), now);
        let verified = check(&verifier, &previous).await.expect("previous period");
        assert_eq!(verified.next_nonce.as_deref(), Some(second.as_str()));

        clock.advance(DEFAULT_NONCE_PERIOD);
        let now = now + DEFAULT_NONCE_PERIOD.as_secs();
        let stale = proof_with_nonce(&client, "n4", Some(&first), now);
        assert_eq!(check(&verifier, &stale).await, Err(DpopError::UseNonce));
    }

    /// Nonces are stateless: instances configured with one key accept each other's; a key too
    /// short or a period under a second is refused when building.
    #[tokio::test]
    async fn rfc9449_section_9_instances_sharing_a_key_accept_each_others_nonces() {
        let secret = [42u8; 32];
        let (one, _) = nonce_verifier(DpopNonces::with_key(&secret).expect("key"));
        let (two, _) = nonce_verifier(DpopNonces::with_key(&secret).expect("key"));
        let (stranger, _) = nonce_verifier(DpopNonces::random().expect("random"));
        let nonce = one.current_nonce().expect("a nonce");
        assert_eq!(two.current_nonce().as_deref(), Some(nonce.as_str()));
        assert_ne!(stranger.current_nonce().as_deref(), Some(nonce.as_str()));
        let client = Client::new(Algorithm::ES256);
        let proof = proof_with_nonce(&client, "shared", Some(&nonce), NOW);
        assert_eq!(
            check(&stranger, &proof).await,
            Err(DpopError::UseNonce),
            "another key, another nonce"
        );
        check(&two, &proof)
            .await
            .expect("the other instance's nonce");

        assert!(matches!(
            DpopNonces::with_key(&[1; 31]),
            Err(DpopConfigError::Nonces(_))
        ));
        let short = DpopNonces::random()
            .expect("random")
            .period(Duration::from_millis(500));
        assert!(matches!(
            DpopVerifier::builder().nonces(short).build(),
            Err(DpopConfigError::Nonces(_))
        ));
        // Off by default: proofs without a nonce pass, and no nonce is offered.
        let (plain, _) = verifier();
        assert_eq!(plain.current_nonce(), None);
        let proof = proof_with_nonce(&client, "plain", None, NOW);
        check(&plain, &proof).await.expect("no nonce needed");
    }
}
