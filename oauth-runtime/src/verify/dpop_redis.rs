//! A DPoP replay store on Redis (feature `redis`), for an API run as several instances: a proof
//! used at one instance is refused at every other (RFC 9449 §11.1), which a per-instance
//! [`MemoryReplayStore`](crate::verify::dpop::MemoryReplayStore) cannot do.
//!
//! Each proof costs one round trip, `SET <namespace>:dpop:<hex key> 1 NX PX <ms>`: atomic in
//! Redis, so of two instances that get one proof at once, one only is told "first use". The key
//! is the verifier's SHA-256 of the proof key's thumbprint and the `jti` (the `jti` itself is
//! bounded before it is hashed), so a client chooses neither the length nor the text of a key.
//! The entry expires when the proof leaves its `iat` window, after which the verifier refuses
//! the proof as stale anyway.
//!
//! Failure policy: fail closed. When Redis is unreachable, answers with an error, or takes
//! longer than the timeout (default [`DEFAULT_REDIS_TIMEOUT`]), the proof is refused with
//! [`DpopError::StoreUnavailable`](crate::verify::dpop::DpopError::StoreUnavailable), which the
//! adapters answer `503` with `Retry-After`; it is never let through, since a proof nobody
//! recorded could be replayed at every instance. Bearer requests never touch the store. The
//! connection manager reconnects in the background, so the API recovers by itself once Redis is
//! back. The outage is logged once (`error`) when it starts and once (`warn`) when it ends, not
//! at each refused request.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Value};

use crate::clock::{Clock, ClockRef};
use crate::metrics::StoreFailure;
use crate::verify::dpop::{DpopReplayStore, ReplayStoreError};

/// How long a proof waits for Redis before it is refused (503): short, since every DPoP request
/// waits that long while Redis is slow or gone, and a round trip in one data centre takes well
/// under a millisecond.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);

/// The default namespace of the keys: `oauth-runtime:dpop:<64 hex digits>`.
pub const DEFAULT_NAMESPACE: &str = "oauth-runtime";

/// The longest namespace accepted, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// Entries never live longer than this, whatever `until` a caller passes: a bound on what one
/// entry can cost, far beyond any sensible `iat` window.
const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Why a [`RedisReplayStore`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL is not a Redis URL this build can use (`redis://`, `redis+unix://`). The URL
    /// itself is left out of the message: it may hold a password.
    #[error("not a usable Redis URL: {0}")]
    Url(String),
    /// The namespace is empty, longer than [`MAX_NAMESPACE_LEN`], or holds something other than
    /// ASCII letters, digits and `-_.:`.
    #[error("the Redis key namespace must be 1 to {MAX_NAMESPACE_LEN} of A-Z a-z 0-9 - _ . :")]
    Namespace,
    /// A timeout of zero would refuse every proof.
    #[error("the Redis timeout must be more than zero")]
    Timeout,
    /// Built outside a Tokio runtime: the connection manager's tasks need one.
    #[error("a RedisReplayStore must be built inside a Tokio runtime")]
    NoRuntime,
}

/// A [`DpopReplayStore`] on Redis, shared by the instances of an API. Cheap to clone: clones
/// share one connection.
///
/// ```no_run
/// use std::time::Duration;
/// use oauth_runtime::dpop::DpopVerifier;
/// use oauth_runtime::dpop_redis::RedisReplayStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisReplayStore::builder("redis://127.0.0.1:6379/")
///     .namespace("photos-api")
///     .timeout(Duration::from_millis(50))
///     .build()?;
/// let verifier = DpopVerifier::builder()
///     .external_url("https://api.example.com")
///     .replay_store(store)
///     .build()?;
/// # let _ = verifier;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisReplayStore {
    manager: ConnectionManager,
    prefix: String,
    timeout: Duration,
    clock: ClockRef,
    /// `host:port` only, for logs: the URL may hold a password.
    server: String,
    healthy: std::sync::Arc<AtomicBool>,
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("server", &self.server)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisReplayStore`].
#[must_use]
#[derive(Debug)]
pub struct RedisReplayStoreBuilder {
    url: String,
    namespace: String,
    timeout: Duration,
    clock: ClockRef,
}

impl RedisReplayStore {
    /// Starts a builder for the Redis server at `url` (`redis://[user:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            url: url.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            clock: ClockRef::default(),
        }
    }

    /// The Redis key of a replay key.
    fn key(&self, key: &[u8; 32]) -> String {
        let mut name = String::with_capacity(self.prefix.len() + 64);
        name.push_str(&self.prefix);
        for byte in key {
            let _ = write!(name, "{byte:02x}");
        }
        name
    }

    /// Logs the start of an outage, once until it ends.
    fn failed(&self, why: &str) -> ReplayStoreError {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::error!(
                server = %self.server,
                %why,
                "DPoP replay store on Redis unavailable: DPoP requests are refused (503) until it answers again"
            );
        }
        ReplayStoreError(format!("Redis at {}: {why}", self.server))
    }

    /// Logs the end of an outage, once.
    fn answered(&self) {
        if !self.healthy.load(Ordering::Acquire) && !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::warn!(server = %self.server, "DPoP replay store on Redis answers again");
        }
    }
}

impl RedisReplayStoreBuilder {
    /// The first part of every key (default [`DEFAULT_NAMESPACE`]), so that several APIs, or an
    /// API and other users, can share one Redis: `<namespace>:dpop:<hex>`. Instances that must
    /// refuse each other's proofs use the same namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long a proof waits for Redis before it is refused (default
    /// [`DEFAULT_REDIS_TIMEOUT`]). Connection attempts are bounded by it too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads the time from `clock`, as the verifier does, to turn a proof's end of window into
    /// an expiry from now.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// Checks the settings. Connects lazily: an API starts while Redis is down (its DPoP
    /// requests are refused until Redis answers), and a bad URL is an error here. Must run
    /// inside a Tokio runtime.
    pub fn build(self) -> Result<RedisReplayStore, RedisStoreError> {
        let namespace_ok = !self.namespace.is_empty()
            && self.namespace.len() <= MAX_NAMESPACE_LEN
            && self
                .namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !namespace_ok {
            return Err(RedisStoreError::Namespace);
        }
        if self.timeout.is_zero() {
            return Err(RedisStoreError::Timeout);
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::NoRuntime);
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| RedisStoreError::Url(e.to_string()))?;
        let server = client.get_connection_info().addr().to_string();
        // Reconnection runs in the background between requests, which each wait `timeout` at
        // most: retry soon after an outage, and never back off for long, so that an API is back
        // within about a second of Redis.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(4);
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisStoreError::Url(e.to_string()))?;
        Ok(RedisReplayStore {
            manager,
            prefix: format!("{}:dpop:", self.namespace),
            timeout: self.timeout,
            clock: self.clock,
            server,
            healthy: std::sync::Arc::new(AtomicBool::new(true)),
        })
    }
}

#[async_trait::async_trait]
impl DpopReplayStore for RedisReplayStore {
    async fn first_use(&self, key: &[u8; 32], until: SystemTime) -> Result<bool, ReplayStoreError> {
        let lifetime = until
            .duration_since(self.clock.now())
            .unwrap_or_default()
            .min(MAX_ENTRY_LIFETIME);
        // PX 0 is an error in Redis; a proof at the very end of its window still takes a slot.
        let millis = u64::try_from(lifetime.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis);
        let mut connection = self.manager.clone();
        let answer: Result<Result<Value, RedisError>, _> =
            tokio::time::timeout(self.timeout, command.query_async(&mut connection)).await;
        let first = match answer {
            Err(_) => {
                crate::metrics::replay_store_error(StoreFailure::RedisTimeout);
                return Err(
                    self.failed(&format!("no answer within {} ms", self.timeout.as_millis()))
                );
            }
            Ok(Err(error)) => {
                // The connection manager's own timeouts equal ours: an error saying so is one.
                crate::metrics::replay_store_error(if error.is_timeout() {
                    StoreFailure::RedisTimeout
                } else {
                    StoreFailure::RedisError
                });
                return Err(self.failed(&error.to_string()));
            }
            Ok(Ok(Value::Okay)) => true,
            Ok(Ok(Value::Nil)) => false,
            Ok(Ok(other)) => {
                crate::metrics::replay_store_error(StoreFailure::RedisError);
                return Err(self.failed(&format!("unexpected answer to SET NX: {other:?}")));
            }
        };
        self.answered();
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_are_checked() {
        let ok = || RedisReplayStore::builder("redis://127.0.0.1:1/");
        assert!(ok().build().is_ok(), "connects lazily");
        for namespace in ["", "a b", "ä", &"n".repeat(MAX_NAMESPACE_LEN + 1)] {
            assert_eq!(
                ok().namespace(namespace).build().err(),
                Some(RedisStoreError::Namespace),
                "{namespace:?}"
            );
        }
        assert_eq!(
            ok().timeout(Duration::ZERO).build().err(),
            Some(RedisStoreError::Timeout)
        );
        let bad = RedisReplayStore::builder("http://user:secret@example/")
            .build()
            .expect_err("not a Redis URL");
        assert!(!bad.to_string().contains("secret"), "{bad}");
    }

    #[test]
    fn building_outside_a_runtime_is_an_error_not_a_panic() {
        assert_eq!(
            RedisReplayStore::builder("redis://127.0.0.1:1/")
                .build()
                .err(),
            Some(RedisStoreError::NoRuntime)
        );
    }

    #[tokio::test]
    async fn keys_are_namespaced_hex_of_fixed_length() {
        let store = RedisReplayStore::builder("redis://127.0.0.1:1/")
            .namespace("photos-api")
            .build()
            .expect("settings");
        let key = store.key(&[0xab; 32]);
        assert_eq!(key, format!("photos-api:dpop:{}", "ab".repeat(32)));
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_closed_within_the_timeout() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let store = RedisReplayStore::builder("redis://127.0.0.1:1/")
            .timeout(Duration::from_millis(50))
            .build()
            .expect("settings");
        let until = SystemTime::now() + Duration::from_secs(60);
        let started = std::time::Instant::now();
        for _ in 0..3 {
            assert!(store.first_use(&[1; 32], until).await.is_err());
        }
        // Generous: a loaded machine may be slow, but never waits for a reconnect backoff.
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
