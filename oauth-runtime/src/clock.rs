//! The one clock every verifier reads: the system's, or one a test sets, so that expiry is
//! tested by moving time rather than by sleeping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where verifiers and the token cache read the time: `exp`, `nbf` and cache lifetimes are all
/// measured against it. [`SystemClock`] unless configured otherwise.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The time now.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until moved, for tests; clones share one time.
///
/// ```
/// use std::time::Duration;
/// use oauth_runtime::{Algorithm, JwtVerifier, ManualClock, SigningKey, VerifyError};
///
/// let clock = ManualClock::at_unix(1_000);
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let verifier = JwtVerifier::builder()
///     .issuer("https://issuer.test").audience("api").key(key.verification_key()?)
///     .leeway(Duration::ZERO).clock(clock.clone()).build()?;
/// let token = key.sign_jwt(&serde_json::json!({
///     "iss": "https://issuer.test", "aud": "api", "exp": 1_060 }));
/// assert!(verifier.verify_token(&token).is_ok());
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(verifier.verify_token(&token).unwrap_err(), VerifyError::Expired);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    /// A clock showing `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        ManualClock(Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(secs))))
    }

    /// A clock showing the system's time now, from where it is then moved by hand.
    pub fn starting_now() -> Self {
        ManualClock(Arc::new(Mutex::new(SystemTime::now())))
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A verifier's clock: the system's unless one was set. Reading the system clock needs no call
/// through a pointer, which the cache's hit path would pay on every request.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClockRef(Option<Arc<dyn Clock>>);

impl ClockRef {
    pub(crate) fn new(clock: impl Clock) -> Self {
        ClockRef(Some(Arc::new(clock)))
    }

    pub(crate) fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(clock) => clock.now(),
        }
    }

    /// Seconds since the Unix epoch, the unit of every date claim (RFC 7519 §2).
    pub(crate) fn unix_now(&self) -> i64 {
        unix_seconds(self.now())
    }
}

/// Seconds since the Unix epoch; before the epoch (a broken clock) counts as the epoch, which
/// errs towards "expired".
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
