//! Key sets fetched over HTTP(S) from a JWKS URL: cached per `Cache-Control`, refreshed ahead of
//! expiry, refetched at most once per cooldown for unknown `kid`s with a single request in flight,
//! and served stale (within a bound) while the endpoint fails, with the refresh behind the
//! request and an exponential backoff between failed attempts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::metrics::{KeySetMetrics, Remote};
use crate::verify::VerifyError;
use crate::verify::keys::{Key, keys_from_remote_jwk_set};

/// How a remote key set is fetched and cached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksSettings {
    /// How long one fetch attempt may take in all (default 5 s): for a key set found by
    /// discovery that is the metadata lookup (the RFC 8414 location, then the OpenID one) and
    /// the key-set request together, so that a request waiting for keys never waits longer,
    /// however many HTTP requests the attempt needs. A metadata location that does not answer
    /// uses up the time, and the attempt fails without trying the other.
    pub timeout: Duration,
    /// The largest response accepted (default 1 MiB).
    pub max_body: usize,
    /// Lower bound of the cache lifetime taken from `Cache-Control: max-age` (default 1 min).
    pub min_ttl: Duration,
    /// Upper bound of the cache lifetime (default 1 day).
    pub max_ttl: Duration,
    /// Lifetime when the response says nothing (default 10 min).
    pub default_ttl: Duration,
    /// Least time between two fetches caused by unknown `kid`s (default 30 s), and the longest
    /// wait between attempts while the endpoint fails and stale keys serve (with no usable keys
    /// the wait stays under 5 s).
    pub cooldown: Duration,
    /// How long past expiry the last good keys keep serving while fetches fail (default 1 day).
    pub max_stale: Duration,
    /// The wait after a first failed fetch (default 1 s); it doubles with each further failure,
    /// up to `cooldown`, and each wait is shortened by a random part of up to half of it, so
    /// that many instances do not retry in step.
    pub initial_backoff: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            timeout: Duration::from_secs(5),
            max_body: 1024 * 1024,
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(600),
            cooldown: Duration::from_secs(30),
            max_stale: Duration::from_secs(24 * 3600),
            initial_backoff: Duration::from_secs(1),
        }
    }
}

impl JwksSettings {
    /// Whether these settings can work: a timeout and a body limit above zero, `min_ttl` at most
    /// `max_ttl`, and lifetimes short enough to add to the clock (`Duration::MAX` is not).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("JwksSettings::timeout must be above zero".into());
        }
        if self.max_body == 0 {
            return Err("JwksSettings::max_body must be above zero".into());
        }
        if self.min_ttl > self.max_ttl {
            return Err("JwksSettings::min_ttl is above max_ttl".into());
        }
        // A century is far beyond any sensible lifetime and far inside what `Instant` holds.
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        for (name, value) in [
            ("timeout", self.timeout),
            ("max_ttl", self.max_ttl),
            ("default_ttl", self.default_ttl),
            ("cooldown", self.cooldown),
            ("max_stale", self.max_stale),
            ("initial_backoff", self.initial_backoff),
        ] {
            if value > CENTURY {
                return Err(format!(
                    "JwksSettings::{name} ({value:?}) is longer than a century"
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Cached {
    keys: Arc<Vec<Key>>,
    expires: Instant,
    /// Until when these keys may still serve while fetches fail.
    usable_until: Instant,
    ttl: Duration,
}

impl Cached {
    /// When these keys were fetched: their lifetime counts from then.
    fn fetched_at(&self) -> Instant {
        self.expires.checked_sub(self.ttl).unwrap_or(self.expires)
    }
}

/// Failed attempts in a row, and when the next may start.
#[derive(Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
    /// Why the last attempt failed, for requests that find no usable keys while waiting.
    last_error: Option<String>,
}

/// A JWKS URL and what was last fetched from it. Shared by every request; cheap to query.
pub struct RemoteKeySet {
    url: String,
    /// Set for a key set found through the issuer's metadata: its `jwks_uri` once found,
    /// looked up again after a failed fetch in case the provider moved it.
    discovered: Option<RwLock<Option<String>>>,
    client: reqwest::Client,
    settings: JwksSettings,
    cached: RwLock<Option<Cached>>,
    backoff: Mutex<Backoff>,
    /// When an unknown `kid` last caused a fetch; the cooldown counts from here.
    last_kid_refresh: Mutex<Option<Instant>>,
    /// One fetch at a time; waiters reuse its result. Owned guards let a background refresh
    /// hold it.
    in_flight: Arc<tokio::sync::Mutex<()>>,
    fetches: AtomicU64,
    metrics: KeySetMetrics,
}

impl std::fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeySet")
            .field("url", &self.url)
            .field("fetches", &self.fetch_count())
            .finish()
    }
}

/// Reads `max-age` from `Cache-Control`; `no-store`/`no-cache` mean "as short as allowed".
pub(crate) fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = directive
            .strip_prefix("max-age=")
            .and_then(|s| s.parse::<u64>().ok())
        {
            age = Some(Duration::from_secs(secs));
        }
    }
    age
}

/// Whether `url` may serve keys: https, or http on a loopback host (development).
pub(crate) fn acceptable_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|parsed| acceptable(&parsed))
}

fn acceptable(url: &reqwest::Url) -> bool {
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}

/// The redirect rule for fetching keys and metadata: at most 5 hops, each of them https (or
/// http on loopback), so that a redirect cannot downgrade a fetch to plain http. The clients
/// this crate builds use it; build yours with it too when you bring your own:
///
/// ```
/// let client = reqwest::Client::builder()
///     .redirect(oauth_runtime::jwks_redirect_policy())
///     .build()?;
/// # Ok::<(), reqwest::Error>(())
/// ```
///
/// With a client built otherwise, only the first and the last URL can be checked (a response
/// whose final URL is not acceptable is refused); the hops between them cannot.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("more than 5 redirects")
        } else if !acceptable(attempt.url()) {
            let refused = format!(
                "redirect to {} refused: keys and metadata are fetched over https only",
                attempt.url()
            );
            attempt.error(refused)
        } else {
            attempt.follow()
        }
    })
}

/// The client used when the user brings none.
pub(crate) fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect_policy())
        .build()
        .unwrap_or_else(|error| {
            // Building fails only when the TLS backend cannot start; a plain client then fails
            // each fetch with the same reason, which the logs show.
            tracing::error!(%error, "building the HTTP client for key sets failed");
            reqwest::Client::new()
        })
}

/// The longest wait between attempts while no usable keys exist (every request is a 503 then):
/// a few seconds, so that an endpoint back up is noticed soon after it is.
const MAX_BACKOFF_WITHOUT_KEYS: Duration = Duration::from_secs(5);

/// A random factor in [0.5, 1): the jitter of a backoff.
fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    // Not a secret: if the system's generator fails, no jitter is still a correct backoff.
    let _ = aws_lc_rs::rand::fill(&mut byte);
    0.5 + f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX) / 2.0
}

impl RemoteKeySet {
    /// A key set at `url`, fetched with `client` (bring your own for a custom CA, proxy, mTLS or
    /// User-Agent, built with [`redirect_policy`](crate::jwks_redirect_policy)). Nothing is
    /// fetched until a token needs a key.
    pub fn new(
        url: impl Into<String>,
        client: reqwest::Client,
        settings: JwksSettings,
    ) -> RemoteKeySet {
        RemoteKeySet {
            url: url.into(),
            discovered: None,
            client,
            settings,
            cached: RwLock::new(None),
            backoff: Mutex::default(),
            last_kid_refresh: Mutex::new(None),
            in_flight: Arc::new(tokio::sync::Mutex::new(())),
            fetches: AtomicU64::new(0),
            metrics: KeySetMetrics::new(),
        }
    }

    /// The key set of `issuer`, found through its RFC 8414 metadata (falling back to OpenID
    /// Connect discovery) when a token first needs a key, not at start: an API whose provider
    /// is down when it starts comes up and answers 503 until the provider is back, as for a
    /// key-set URL. The metadata's `issuer` must equal `issuer` exactly. The lookup is part of
    /// each fetch attempt (same single flight, size limit and backoff), and
    /// [`JwksSettings::timeout`] bounds the lookup and the key-set request together, not each
    /// HTTP request; after a failed fetch the `jwks_uri` is looked up again.
    pub fn discover(
        issuer: impl Into<String>,
        client: reqwest::Client,
        settings: JwksSettings,
    ) -> RemoteKeySet {
        RemoteKeySet {
            discovered: Some(RwLock::new(None)),
            ..RemoteKeySet::new(issuer, client, settings)
        }
    }

    /// Names the issuer these keys belong to, for the `issuer` label of its metrics (the key
    /// set's URL until then; the first name given stays).
    pub(crate) fn set_issuer(&self, issuer: &str) {
        self.metrics.set_issuer(issuer);
    }

    /// The URL, or for a key set found by [`discover`](Self::discover) the issuer.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the keys are fetched from: the URL, or the `jwks_uri` of the issuer's metadata,
    /// looked up when not known yet.
    async fn jwks_uri(&self) -> Result<String, String> {
        let Some(discovered) = &self.discovered else {
            return Ok(self.url.clone());
        };
        let known = discovered
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(uri) = known {
            return Ok(uri);
        }
        let uri = discover_jwks_uri(&self.client, &self.url, &self.settings)
            .await
            .map_err(|e| format!("discovery failed: {e}"))?;
        *discovered.write().unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
        Ok(uri)
    }

    /// How many fetches were started: for tests and metrics.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    fn snapshot(&self) -> Option<Cached> {
        self.cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The keys to verify with now. Fresh keys are served as they are (a refresh starts in the
    /// background in the last fifth of their lifetime); expired keys within `max_stale` are
    /// served too while a refresh runs in the background. Only a request that finds no usable
    /// keys waits for a fetch, and not even then while the backoff after a failure lasts.
    pub async fn keys(self: &Arc<Self>) -> Result<Arc<Vec<Key>>, VerifyError> {
        let now = Instant::now();
        let snapshot = self.snapshot();
        self.metrics
            .looked_up(&self.url, now, snapshot.as_ref().map(Cached::fetched_at));
        match snapshot {
            Some(cached) if cached.expires > now => {
                if cached.expires.saturating_duration_since(now) < cached.ttl / 5 {
                    self.refresh_in_background(now);
                }
                Ok(cached.keys)
            }
            Some(cached) if cached.usable_until > now => {
                self.refresh_in_background(now);
                Ok(cached.keys)
            }
            _ => self.refresh_now(self.fetch_count()).await,
        }
    }

    /// The error while waiting out a backoff, if one lasts at `now`.
    fn backing_off(&self, now: Instant) -> Option<VerifyError> {
        let backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
        let until = backoff.not_before.filter(|until| *until > now)?;
        Some(VerifyError::Unavailable(format!(
            "key set {}: {}; next attempt in {:?}",
            self.url,
            backoff
                .last_error
                .as_deref()
                .unwrap_or("the last fetch failed"),
            until - now
        )))
    }

    /// Starts a fetch behind the request, unless one is under way or the backoff forbids it.
    fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        if self.backing_off(now).is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(guard) = Arc::clone(&self.in_flight).try_lock_owned() else {
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            let _ = this.fetch_and_store().await;
            drop(guard);
        });
    }

    /// Called when a token names a `kid` we do not have: fetches again unless an unknown `kid`
    /// already caused a fetch within the cooldown or a failed fetch is being waited out.
    /// Returns whether new keys may be there. While the endpoint fails, a token with an unknown
    /// `kid` is refused (401) like any token the usable keys cannot verify: 503 is kept for "no
    /// usable keys at all", so that made-up `kid`s cannot turn an outage into 503s.
    pub async fn refresh_for_unknown_kid(self: &Arc<Self>) -> bool {
        let seen = self.fetch_count();
        if self.backing_off(Instant::now()).is_some() {
            return false;
        }
        // Decided under a lock, so that of a burst of such tokens exactly one fetches.
        let allowed = {
            let mut last = self
                .last_kid_refresh
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *last {
                Some(at) if at.elapsed() < self.settings.cooldown => false,
                _ => {
                    *last = Some(Instant::now());
                    true
                }
            }
        };
        if allowed {
            return self.refresh_now(seen).await.is_ok() && self.fetch_count() > seen;
        }
        // Another token's fetch may be under way: wait for it, and look again if it completed.
        drop(self.in_flight.lock().await);
        self.fetch_count() > seen
    }

    /// Fetches in the foreground, one request at a time. `seen` is the fetch count the caller
    /// observed: if a fetch completed meanwhile, its outcome is shared instead of fetching again.
    async fn refresh_now(self: &Arc<Self>, seen: u64) -> Result<Arc<Vec<Key>>, VerifyError> {
        let _guard = self.in_flight.lock().await;
        if self.fetch_count() > seen {
            return self.usable_or_unavailable();
        }
        if let Some(waiting) = self.backing_off(Instant::now()) {
            return Err(waiting);
        }
        self.fetch_and_store().await
    }

    /// The keys if any may still serve, else why not.
    fn usable_or_unavailable(&self) -> Result<Arc<Vec<Key>>, VerifyError> {
        match self.snapshot() {
            Some(cached) if cached.usable_until > Instant::now() => Ok(cached.keys),
            _ => {
                let backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                Err(VerifyError::Unavailable(format!(
                    "key set {}: {}",
                    self.url,
                    backoff
                        .last_error
                        .as_deref()
                        .unwrap_or("no usable keys are cached")
                )))
            }
        }
    }

    /// One fetch; the caller holds `in_flight`. Success replaces the keys and ends the backoff;
    /// failure lengthens it, and the last good keys keep serving within `max_stale`.
    async fn fetch_and_store(&self) -> Result<Arc<Vec<Key>>, VerifyError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        match self.fetch().await {
            Ok((keys, ttl)) => {
                let keys = Arc::new(keys);
                let now = Instant::now();
                // `check()` bounded both durations, so neither addition overflows.
                let expires = now.checked_add(ttl).unwrap_or(now);
                let cached = Cached {
                    keys: keys.clone(),
                    expires,
                    usable_until: expires
                        .checked_add(self.settings.max_stale)
                        .unwrap_or(expires),
                    ttl,
                };
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(cached);
                *self.backoff.lock().unwrap_or_else(PoisonError::into_inner) = Backoff::default();
                self.metrics.fetched(&self.url, Remote::Ok, Some(now));
                Ok(keys)
            }
            Err((outcome, reason)) => {
                self.metrics.fetched(
                    &self.url,
                    outcome,
                    self.snapshot().as_ref().map(Cached::fetched_at),
                );
                // With no keys to serve every request fails until a fetch succeeds, so the wait
                // stays short; with stale keys serving, the endpoint is spared up to the cooldown.
                let cap = match self.snapshot() {
                    Some(cached) if cached.usable_until > Instant::now() => self.settings.cooldown,
                    _ => self.settings.cooldown.min(MAX_BACKOFF_WITHOUT_KEYS),
                };
                let wait = {
                    let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                    backoff.failures = backoff.failures.saturating_add(1);
                    let doubled = self
                        .settings
                        .initial_backoff
                        .saturating_mul(1 << (backoff.failures - 1).min(20));
                    let wait = doubled.min(cap).mul_f64(jitter());
                    backoff.not_before = Instant::now().checked_add(wait);
                    backoff.last_error = Some(reason.clone());
                    wait
                };
                match self.usable_or_unavailable() {
                    Ok(keys) => {
                        tracing::warn!(url = %self.url, %reason, retry_in = ?wait, "JWKS fetch failed; serving the last good keys");
                        Ok(keys)
                    }
                    Err(error) => {
                        tracing::error!(url = %self.url, %reason, retry_in = ?wait, "JWKS fetch failed and no usable keys are cached");
                        Err(error)
                    }
                }
            }
        }
    }

    /// One fetch, or how it failed (the `outcome` label) and why (for the logs), within
    /// `timeout` in all: every request waiting for keys waits on this one attempt, and with
    /// discovery it is up to three HTTP requests in a row, each of which would otherwise have
    /// the whole timeout to itself.
    async fn fetch(&self) -> Result<(Vec<Key>, Duration), (Remote, String)> {
        let timeout = self.settings.timeout;
        let attempt = async {
            let url = self
                .jwks_uri()
                .await
                .map_err(|why| (Remote::HttpError, why))?;
            self.fetch_from(&url).await
        };
        let fetched = tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err((
                    Remote::Timeout,
                    format!("no key set within {timeout:?} (discovery and key set together)"),
                ))
            });
        if let (Err(_), Some(discovered)) = (&fetched, &self.discovered) {
            *discovered.write().unwrap_or_else(PoisonError::into_inner) = None;
        }
        fetched
    }

    async fn fetch_from(&self, url: &str) -> Result<(Vec<Key>, Duration), (Remote, String)> {
        let response = self
            .client
            .get(url)
            .timeout(self.settings.timeout)
            .send()
            .await
            .map_err(|e| (Remote::of(&e), format!("request failed: {e}")))?;
        let ttl = max_age(response.headers())
            .unwrap_or(self.settings.default_ttl)
            .clamp(self.settings.min_ttl, self.settings.max_ttl);
        let body = read_body(response, &self.settings).await?;
        let invalid = |why: String| (Remote::Invalid, why);
        let text =
            std::str::from_utf8(&body).map_err(|_| invalid("the key set is not UTF-8".into()))?;
        let keys =
            keys_from_remote_jwk_set(text).map_err(|e| invalid(format!("not a JWK Set: {e}")))?;
        if keys.is_empty() {
            return Err(invalid("the key set has no usable signing key".into()));
        }
        Ok((keys, ttl))
    }
}

/// The body of a successful response from an acceptable final URL, within `max_body` and the
/// timeout (reqwest's per-request timeout covers the body too).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    settings: &JwksSettings,
) -> Result<Vec<u8>, (Remote, String)> {
    // With a client not built on `redirect_policy`, a redirect may have led elsewhere.
    if !acceptable(response.url()) {
        return Err((
            Remote::HttpError,
            format!("redirected to {}, which is not https", response.url()),
        ));
    }
    if !response.status().is_success() {
        return Err((Remote::HttpError, format!("status {}", response.status())));
    }
    let max = settings.max_body;
    let too_large = || {
        (
            Remote::TooLarge,
            format!("response larger than {max} bytes"),
        )
    };
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| (Remote::of(&e), format!("reading the body: {e}")))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The metadata locations for `issuer`: RFC 8414 §3.1 inserts the well-known segment between
/// host and path; OpenID Connect Discovery appends it to the issuer.
fn metadata_urls(issuer: &str) -> Result<[String; 2], String> {
    let parsed =
        reqwest::Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    Ok([
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ])
}

async fn fetch_json(
    client: &reqwest::Client,
    url: &str,
    settings: &JwksSettings,
) -> Result<serde_json::Value, String> {
    let response = client
        .get(url)
        .timeout(settings.timeout)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let body = read_body(response, settings)
        .await
        .map_err(|(_, e)| format!("{url}: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
}

/// Finds the `jwks_uri` of `issuer` through RFC 8414 metadata, falling back to OpenID Connect
/// discovery, both lookups together within `settings.timeout`. The document's `issuer` must
/// equal `issuer` exactly (RFC 8414 §3.3), and the `jwks_uri` must be https unless it is on a
/// loopback host.
pub(crate) async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    settings: &JwksSettings,
) -> Result<String, String> {
    let timeout = settings.timeout;
    tokio::time::timeout(timeout, lookup_jwks_uri(client, issuer, settings))
        .await
        .unwrap_or_else(|_| Err(format!("no metadata of {issuer} within {timeout:?}")))
}

async fn lookup_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    settings: &JwksSettings,
) -> Result<String, String> {
    let mut failures = Vec::new();
    for url in metadata_urls(issuer)? {
        match fetch_json(client, &url, settings).await {
            Ok(metadata) => {
                let advertised = metadata.get("issuer").and_then(|v| v.as_str());
                if advertised != Some(issuer) {
                    return Err(format!("{url} names issuer {advertised:?}, not {issuer:?}"));
                }
                let jwks_uri = metadata
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| format!("{url} has no jwks_uri"))?;
                if !acceptable_url(jwks_uri) {
                    return Err(format!(
                        "jwks_uri {jwks_uri} must use https (http only on loopback)"
                    ));
                }
                return Ok(jwks_uri.to_owned());
            }
            Err(e) => failures.push(e),
        }
    }
    Err(failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

    #[test]
    fn cache_control_max_age() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300, must-revalidate"),
        );
        assert_eq!(max_age(&h), Some(Duration::from_secs(300)));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(max_age(&h), Some(Duration::ZERO));
    }

    #[test]
    fn rfc8414_section_3_1_metadata_location() {
        let [rfc8414, oidc] = metadata_urls("https://idp.example.com/tenant/1").expect("url");
        assert_eq!(
            rfc8414,
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant/1"
        );
        assert_eq!(
            oidc,
            "https://idp.example.com/tenant/1/.well-known/openid-configuration"
        );
        let [rfc8414, _] = metadata_urls("http://127.0.0.1:9000").expect("url");
        assert_eq!(
            rfc8414,
            "http://127.0.0.1:9000/.well-known/oauth-authorization-server"
        );
    }
}
