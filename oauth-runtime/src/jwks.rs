//! Key sets fetched over HTTP(S) from a JWKS URL: cached per `Cache-Control`, refreshed ahead of
//! expiry, refetched at most once per cooldown for unknown `kid`s with a single request in flight,
//! and served stale (within a bound) while the endpoint fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::keys::{Key, keys_from_jwk_set};
use crate::verify::VerifyError;

/// How a remote key set is fetched and cached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksSettings {
    /// Per-request timeout (default 5 s).
    pub timeout: Duration,
    /// The largest response accepted (default 1 MiB).
    pub max_body: usize,
    /// Lower bound of the cache lifetime taken from `Cache-Control: max-age` (default 1 min).
    pub min_ttl: Duration,
    /// Upper bound of the cache lifetime (default 1 day).
    pub max_ttl: Duration,
    /// Lifetime when the response says nothing (default 10 min).
    pub default_ttl: Duration,
    /// Least time between two fetches caused by unknown `kid`s (default 30 s).
    pub cooldown: Duration,
    /// How long past expiry the last good keys keep serving while fetches fail (default 1 day).
    pub max_stale: Duration,
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
        }
    }
}

#[derive(Clone)]
struct Cached {
    keys: Arc<Vec<Key>>,
    expires: Instant,
    ttl: Duration,
}

/// A JWKS URL and what was last fetched from it. Shared by every request; cheap to query.
pub struct RemoteKeySet {
    url: String,
    client: reqwest::Client,
    settings: JwksSettings,
    cached: RwLock<Option<Cached>>,
    last_attempt: RwLock<Option<Instant>>,
    /// When an unknown `kid` last caused a fetch; the cooldown counts from here.
    last_kid_refresh: std::sync::Mutex<Option<Instant>>,
    /// One fetch at a time; waiters reuse its result.
    in_flight: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
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
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
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
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        _ => false,
    }
}

impl RemoteKeySet {
    /// A key set at `url`, fetched with `client` (bring your own for a custom CA, proxy, mTLS or
    /// User-Agent). Nothing is fetched until a token needs a key.
    pub fn new(
        url: impl Into<String>,
        client: reqwest::Client,
        settings: JwksSettings,
    ) -> RemoteKeySet {
        RemoteKeySet {
            url: url.into(),
            client,
            settings,
            cached: RwLock::new(None),
            last_attempt: RwLock::new(None),
            last_kid_refresh: std::sync::Mutex::new(None),
            in_flight: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
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

    /// The keys to verify with now: the cached ones while fresh; otherwise a fetch, falling back
    /// to the last good keys within the staleness bound.
    pub async fn keys(self: &Arc<Self>) -> Result<Arc<Vec<Key>>, VerifyError> {
        let now = Instant::now();
        match self.snapshot() {
            Some(cached) if cached.expires > now => {
                // Refresh ahead: in the last fifth of the lifetime a background fetch starts, so
                // requests rarely wait for one.
                self.refresh_ahead_if_due(&cached, now);
                Ok(cached.keys)
            }
            _ => self.refresh(None).await,
        }
    }

    fn refresh_ahead_if_due(self: &Arc<Self>, cached: &Cached, now: Instant) {
        let remaining = cached.expires.saturating_duration_since(now);
        if remaining < cached.ttl / 5 && self.in_flight.try_lock().is_ok() {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let _ = this.refresh(None).await;
            });
        }
    }

    /// Called when a token names a `kid` we do not have: fetches again unless an unknown `kid`
    /// already caused a fetch within the cooldown. Returns whether new keys may be there.
    pub async fn refresh_for_unknown_kid(self: &Arc<Self>) -> bool {
        let seen = self.fetch_count();
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
            return self.refresh(Some(seen)).await.is_ok() && self.fetch_count() > seen;
        }
        // Another token's fetch may be under way: wait for it, and look again if it completed.
        drop(self.in_flight.lock().await);
        self.fetch_count() > seen
    }

    /// Fetches, one request at a time. `seen` is the fetch count the caller observed: if a fetch
    /// completed meanwhile, its result is used instead of fetching again.
    async fn refresh(self: &Arc<Self>, seen: Option<u64>) -> Result<Arc<Vec<Key>>, VerifyError> {
        let seen = seen.unwrap_or_else(|| self.fetch_count());
        let _guard = self.in_flight.lock().await;
        if self.fetch_count() > seen
            && let Some(cached) = self.snapshot()
        {
            return Ok(cached.keys);
        }
        self.fetches.fetch_add(1, Ordering::SeqCst);
        *self
            .last_attempt
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        match self.fetch().await {
            Ok((keys, ttl)) => {
                let keys = Arc::new(keys);
                let cached = Cached {
                    keys: keys.clone(),
                    expires: Instant::now() + ttl,
                    ttl,
                };
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(cached);
                Ok(keys)
            }
            Err(reason) => match self.snapshot() {
                Some(cached) if cached.expires + self.settings.max_stale > Instant::now() => {
                    tracing::warn!(url = %self.url, %reason, "JWKS fetch failed; serving the last good keys");
                    Ok(cached.keys)
                }
                _ => {
                    tracing::error!(url = %self.url, %reason, "JWKS fetch failed and no usable keys are cached");
                    Err(VerifyError::Unavailable(format!(
                        "key set {}: {reason}",
                        self.url
                    )))
                }
            },
        }
    }

    async fn fetch(&self) -> Result<(Vec<Key>, Duration), String> {
        let mut response = self
            .client
            .get(&self.url)
            .timeout(self.settings.timeout)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let max = self.settings.max_body;
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(format!("response larger than {max} bytes"));
        }
        let ttl = max_age(response.headers())
            .unwrap_or(self.settings.default_ttl)
            .clamp(self.settings.min_ttl, self.settings.max_ttl);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
        {
            if body.len() + chunk.len() > max {
                return Err(format!("response larger than {max} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| "the key set is not UTF-8".to_owned())?;
        let keys = keys_from_jwk_set(text).map_err(|e| format!("not a JWK Set: {e}"))?;
        if keys.is_empty() {
            return Err("the key set has no usable signing key".into());
        }
        Ok((keys, ttl))
    }
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
    let mut response = client
        .get(url)
        .timeout(settings.timeout)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: status {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > settings.max_body {
            return Err(format!(
                "{url}: response larger than {} bytes",
                settings.max_body
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
}

/// Finds the `jwks_uri` of `issuer` through RFC 8414 metadata, falling back to OpenID Connect
/// discovery. The document's `issuer` must equal `issuer` exactly (RFC 8414 §3.3), and the
/// `jwks_uri` must be https unless it is on a loopback host.
pub(crate) async fn discover_jwks_uri(
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
