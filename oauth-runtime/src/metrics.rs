//! The numbers operators watch, through the [`metrics`](https://docs.rs/metrics) facade (cargo
//! feature `metrics`): they reach Prometheus, StatsD or OpenTelemetry through whichever exporter
//! the application installs. Without the feature every recording compiles to nothing; the names
//! and the label mapping below stay available (the `tracing` fields use the same labels).
//!
//! | Name | Type | Labels | What it counts |
//! |---|---|---|---|
//! | `oauth_requests_allowed_total` | counter | – | requests a [`ScopeGuard`](crate::ScopeGuard) let through (scopes and step-up met) |
//! | `oauth_requests_refused_total` | counter | `reason`, `detail` | refused requests, one per answer sent (400, 401, 403, 500, 503) |
//! | `oauth_token_cache_hits_total` | counter | – | tokens a [`CachedVerifier`](crate::CachedVerifier) answered without its verifier (remembered refusals included) |
//! | `oauth_token_cache_misses_total` | counter | – | tokens it passed to its verifier (or to a verification of the same token under way) |
//! | `oauth_jwks_fetches_total` | counter | `issuer`, `outcome` | key-set fetches: `ok`, `http_error`, `invalid`, `too_large`, `timeout`, `connect` |
//! | `oauth_jwks_seconds_since_refresh` | gauge | `issuer` | seconds since the key set was last fetched successfully (since its first use if never), updated at each key lookup and fetch |
//! | `oauth_jwks_last_refresh_timestamp_seconds` | gauge | `issuer` | Unix time of the last successful fetch |
//! | `oauth_introspection_requests_total` | counter | `outcome` | introspection calls (RFC 7662): the fetch outcomes and `busy` (refused at once, too many waiting) |
//! | `oauth_introspection_duration_seconds` | histogram | – | time of each introspection, waiting for a turn included |
//! | `oauth_dpop_replay_store_errors_total` | counter | `store`, `kind` | replay-store failures: `memory`/`full`, `redis`/`timeout`, `redis`/`error` |
//!
//! `reason` is one of [`REFUSAL_REASONS`] and `detail` one of [`REFUSAL_DETAILS`] (`none` where
//! the reason says all); [`refusal`] gives both for an [`AuthError`]. Every label value is a
//! fixed text of this crate, with one exception: `issuer`, the issuer the key set belongs to
//! (its URL when the verifier accepts other than exactly one issuer). It is configuration, not
//! request input: the issuers given to [`JwtVerifier`](crate::JwtVerifier)s, or vouched for by
//! an [`IssuerResolver`](crate::IssuerResolver) from the application's own records, so its
//! values are bounded by the issuers configured. No token, `sub`, `jti`, `kid`, algorithm name or
//! scope string from a request ever becomes a label.
//!
//! Recording costs a counter increment through the facade and never allocates on the request
//! path. Install the recorder before serving the first request: the per-issuer gauge handle is
//! taken at a key set's first use, and stays with the recorder installed then.

use crate::request::rejection::AuthError;
use crate::requirement::StepUpFailure;
use crate::verify::dpop::DpopError;
use crate::verify::{ConfirmationMethod, VerifyError};

/// Requests let through: counter, no labels.
pub const REQUESTS_ALLOWED: &str = "oauth_requests_allowed_total";
/// Requests refused: counter, labels `reason` and `detail`.
pub const REQUESTS_REFUSED: &str = "oauth_requests_refused_total";
/// Verified-token cache hits: counter, no labels.
pub const TOKEN_CACHE_HITS: &str = "oauth_token_cache_hits_total";
/// Verified-token cache misses: counter, no labels.
pub const TOKEN_CACHE_MISSES: &str = "oauth_token_cache_misses_total";
/// Key-set fetches: counter, labels `issuer` and `outcome`.
pub const JWKS_FETCHES: &str = "oauth_jwks_fetches_total";
/// Seconds since the last successful key-set fetch: gauge, label `issuer`.
pub const JWKS_SECONDS_SINCE_REFRESH: &str = "oauth_jwks_seconds_since_refresh";
/// Unix time of the last successful key-set fetch: gauge, label `issuer`.
pub const JWKS_LAST_REFRESH: &str = "oauth_jwks_last_refresh_timestamp_seconds";
/// Introspection calls: counter, label `outcome`.
pub const INTROSPECTION_REQUESTS: &str = "oauth_introspection_requests_total";
/// Introspection latency in seconds: histogram, no labels.
pub const INTROSPECTION_DURATION: &str = "oauth_introspection_duration_seconds";
/// DPoP replay-store failures: counter, labels `store` and `kind`.
pub const DPOP_REPLAY_STORE_ERRORS: &str = "oauth_dpop_replay_store_errors_total";

/// Every value of the `reason` label of [`REQUESTS_REFUSED`].
pub const REFUSAL_REASONS: &[&str] = &[
    "missing_token",
    "invalid_request",
    "invalid_token",
    "expired",
    "wrong_audience",
    "wrong_issuer",
    "insufficient_scope",
    "step_up",
    "dpop",
    "unavailable",
    "not_configured",
];

/// Every value of the `detail` label of [`REQUESTS_REFUSED`]: what went wrong within an
/// `invalid_token`, `step_up`, `dpop` or `unavailable` refusal, `none` for the other reasons.
pub const REFUSAL_DETAILS: &[&str] = &[
    "none",
    // invalid_token
    "malformed",
    "too_large",
    "unsupported_algorithm",
    "algorithm_mismatch",
    "unknown_key",
    "ambiguous_key",
    "signature",
    "unsupported_critical",
    "not_yet_valid",
    "missing_claim",
    "invalid_claim",
    "invalid_type",
    "inactive",
    "certificate_binding",
    "dpop_binding",
    "unknown_binding",
    // step_up
    "acr",
    "max_age",
    // dpop
    "missing_proof",
    "multiple_proofs",
    "wrong_type",
    "private_key",
    "bad_key",
    "method_mismatch",
    "url_mismatch",
    "stale_proof",
    "replayed",
    "ath_mismatch",
    "key_mismatch",
    "token_not_bound",
    "bound_token_as_bearer",
    "dpop_required",
    "use_nonce",
    // unavailable
    "verifier",
    "dpop_replay_store",
];

/// The labels of one refused request: fixed texts of this crate, whatever the request held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// One of [`REFUSAL_REASONS`].
    pub reason: &'static str,
    /// One of [`REFUSAL_DETAILS`].
    pub detail: &'static str,
}

/// A refusal's labels with, when recording, the metric key made of them once for all.
struct Labelled {
    refusal: Refusal,
    #[cfg(feature = "metrics")]
    key: ::metrics::Key,
}

/// A `&'static Labelled` for literal labels: the key is built at compile time, so that a
/// refusal is counted without allocating.
macro_rules! labelled {
    ($reason:literal) => {
        labelled!($reason, "none")
    };
    ($reason:literal, $detail:literal) => {{
        #[cfg(feature = "metrics")]
        static LABELS: [::metrics::Label; 2] = [
            ::metrics::Label::from_static_parts("reason", $reason),
            ::metrics::Label::from_static_parts("detail", $detail),
        ];
        static LABELLED: Labelled = Labelled {
            refusal: Refusal {
                reason: $reason,
                detail: $detail,
            },
            #[cfg(feature = "metrics")]
            key: ::metrics::Key::from_static_parts(REQUESTS_REFUSED, &LABELS),
        };
        &LABELLED
    }};
}

/// The labels of a refusal. The match is exhaustive, so a new kind of error gets its labels
/// when it is added, and every value it can give is in [`REFUSAL_REASONS`] and
/// [`REFUSAL_DETAILS`].
///
/// ```
/// use oauth_runtime::metrics::{Refusal, refusal};
/// use oauth_runtime::{AuthError, VerifyError};
///
/// let unknown = AuthError::InvalidToken(VerifyError::UnknownKey { kid: Some("attacker's text".into()) });
/// assert_eq!(refusal(&unknown), Refusal { reason: "invalid_token", detail: "unknown_key" });
/// assert_eq!(refusal(&AuthError::MissingToken).reason, "missing_token");
/// ```
pub fn refusal(error: &AuthError) -> Refusal {
    labels(error).refusal
}

fn labels(error: &AuthError) -> &'static Labelled {
    match error {
        AuthError::MissingToken => labelled!("missing_token"),
        AuthError::InvalidRequest(_) => labelled!("invalid_request"),
        AuthError::InvalidToken(error) => token_labels(error),
        AuthError::InsufficientScope { .. } => labelled!("insufficient_scope"),
        AuthError::InsufficientUserAuthentication { failed, .. } => match failed {
            StepUpFailure::Acr => labelled!("step_up", "acr"),
            StepUpFailure::MaxAge => labelled!("step_up", "max_age"),
        },
        AuthError::Dpop(error) => dpop_labels(error),
        AuthError::NotConfigured => labelled!("not_configured"),
    }
}

fn token_labels(error: &VerifyError) -> &'static Labelled {
    match error {
        VerifyError::Expired => labelled!("expired"),
        VerifyError::InvalidAudience => labelled!("wrong_audience"),
        VerifyError::InvalidIssuer => labelled!("wrong_issuer"),
        VerifyError::Unavailable(_) => labelled!("unavailable", "verifier"),
        VerifyError::Malformed(_) => labelled!("invalid_token", "malformed"),
        VerifyError::TooLarge { .. } => labelled!("invalid_token", "too_large"),
        VerifyError::UnsupportedAlgorithm(_) => {
            labelled!("invalid_token", "unsupported_algorithm")
        }
        VerifyError::AlgorithmMismatch { .. } => labelled!("invalid_token", "algorithm_mismatch"),
        VerifyError::UnknownKey { .. } => labelled!("invalid_token", "unknown_key"),
        VerifyError::AmbiguousKey => labelled!("invalid_token", "ambiguous_key"),
        VerifyError::InvalidSignature => labelled!("invalid_token", "signature"),
        VerifyError::UnsupportedCritical => labelled!("invalid_token", "unsupported_critical"),
        VerifyError::NotYetValid => labelled!("invalid_token", "not_yet_valid"),
        VerifyError::MissingClaim(_) => labelled!("invalid_token", "missing_claim"),
        VerifyError::InvalidClaim(_) => labelled!("invalid_token", "invalid_claim"),
        VerifyError::InvalidType => labelled!("invalid_token", "invalid_type"),
        VerifyError::Inactive => labelled!("invalid_token", "inactive"),
        VerifyError::UnverifiableBinding(method) => match method {
            ConfirmationMethod::ClientCertificate => {
                labelled!("invalid_token", "certificate_binding")
            }
            ConfirmationMethod::DpopKey => labelled!("invalid_token", "dpop_binding"),
            ConfirmationMethod::Other => labelled!("invalid_token", "unknown_binding"),
        },
    }
}

fn dpop_labels(error: &DpopError) -> &'static Labelled {
    match error {
        DpopError::StoreUnavailable(_) => labelled!("unavailable", "dpop_replay_store"),
        DpopError::MissingProof => labelled!("dpop", "missing_proof"),
        DpopError::MultipleProofs => labelled!("dpop", "multiple_proofs"),
        DpopError::TooLarge { .. } => labelled!("dpop", "too_large"),
        DpopError::Malformed(_) => labelled!("dpop", "malformed"),
        DpopError::WrongType => labelled!("dpop", "wrong_type"),
        DpopError::UnsupportedAlgorithm(_) => labelled!("dpop", "unsupported_algorithm"),
        DpopError::PrivateKey => labelled!("dpop", "private_key"),
        DpopError::BadKey(_) => labelled!("dpop", "bad_key"),
        DpopError::InvalidSignature => labelled!("dpop", "signature"),
        DpopError::MethodMismatch => labelled!("dpop", "method_mismatch"),
        DpopError::UrlMismatch => labelled!("dpop", "url_mismatch"),
        DpopError::StaleProof => labelled!("dpop", "stale_proof"),
        DpopError::Replayed => labelled!("dpop", "replayed"),
        DpopError::AccessTokenHashMismatch => labelled!("dpop", "ath_mismatch"),
        DpopError::KeyMismatch => labelled!("dpop", "key_mismatch"),
        DpopError::TokenNotBound => labelled!("dpop", "token_not_bound"),
        DpopError::BoundTokenAsBearer => labelled!("dpop", "bound_token_as_bearer"),
        DpopError::DpopRequired => labelled!("dpop", "dpop_required"),
        DpopError::UseNonce => labelled!("dpop", "use_nonce"),
    }
}

/// Registers the description and unit of every metric in the table with the installed
/// recorder, which exporters show (Prometheus' `# HELP`). Call it once, after installing the
/// recorder; recording works without it.
///
/// ```
/// oauth_runtime::metrics::describe(); // no recorder installed: does nothing
/// ```
#[cfg(feature = "metrics")]
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS_ALLOWED,
        "Requests a scope guard let through (scopes and step-up met)"
    );
    describe_counter!(
        REQUESTS_REFUSED,
        "Refused requests by reason and detail (bounded labels)"
    );
    describe_counter!(
        TOKEN_CACHE_HITS,
        "Tokens the verified-token cache answered without verifying"
    );
    describe_counter!(
        TOKEN_CACHE_MISSES,
        "Tokens the verified-token cache passed to its verifier"
    );
    describe_counter!(JWKS_FETCHES, "Key-set fetches by issuer and outcome");
    describe_gauge!(
        JWKS_SECONDS_SINCE_REFRESH,
        Unit::Seconds,
        "Seconds since the issuer's key set was last fetched successfully"
    );
    describe_gauge!(
        JWKS_LAST_REFRESH,
        Unit::Seconds,
        "Unix time of the last successful key-set fetch"
    );
    describe_counter!(INTROSPECTION_REQUESTS, "Introspection calls by outcome");
    describe_histogram!(
        INTROSPECTION_DURATION,
        Unit::Seconds,
        "Time of each introspection, waiting for a turn included"
    );
    describe_counter!(
        DPOP_REPLAY_STORE_ERRORS,
        "DPoP replay-store failures by store and kind"
    );
}

/// How a call to a remote endpoint (a key set, introspection) ended: the `outcome` label.
#[cfg(feature = "remote")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remote {
    /// An answer that could be used.
    Ok,
    /// A status other than 2xx, a refused redirect, or a transport error that is neither of the
    /// two below.
    HttpError,
    /// An answer that is not what was asked for (not JSON, not a key set, no usable key).
    Invalid,
    /// An answer over the size limit.
    TooLarge,
    /// No answer in time.
    Timeout,
    /// No connection.
    Connect,
    /// Not sent: too many calls waiting for a turn.
    Busy,
}

#[cfg(feature = "remote")]
impl Remote {
    /// The label value.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Remote::Ok => "ok",
            Remote::HttpError => "http_error",
            Remote::Invalid => "invalid",
            Remote::TooLarge => "too_large",
            Remote::Timeout => "timeout",
            Remote::Connect => "connect",
            Remote::Busy => "busy",
        }
    }

    /// The outcome of a failed `reqwest` call.
    #[cfg(feature = "remote")]
    pub(crate) fn of(error: &reqwest::Error) -> Remote {
        if error.is_timeout() {
            Remote::Timeout
        } else if error.is_connect() {
            Remote::Connect
        } else {
            Remote::HttpError
        }
    }
}

#[cfg(feature = "metrics")]
static METADATA: ::metrics::Metadata<'static> =
    ::metrics::Metadata::new(module_path!(), ::metrics::Level::INFO, Some(module_path!()));

#[cfg(feature = "metrics")]
fn increment(key: &::metrics::Key) {
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

/// A guard let a request through.
#[inline]
pub(crate) fn request_allowed() {
    #[cfg(feature = "metrics")]
    {
        static KEY: ::metrics::Key = ::metrics::Key::from_static_name(REQUESTS_ALLOWED);
        increment(&KEY);
    }
}

/// A request was refused with `error`.
#[inline]
pub(crate) fn request_refused(error: &AuthError) {
    #[cfg(feature = "metrics")]
    increment(&labels(error).key);
    #[cfg(not(feature = "metrics"))]
    let _ = error;
}

/// The token cache answered.
#[inline]
pub(crate) fn cache_hit() {
    #[cfg(feature = "metrics")]
    {
        static KEY: ::metrics::Key = ::metrics::Key::from_static_name(TOKEN_CACHE_HITS);
        increment(&KEY);
    }
}

/// The token cache did not know the token.
#[inline]
pub(crate) fn cache_miss() {
    #[cfg(feature = "metrics")]
    {
        static KEY: ::metrics::Key = ::metrics::Key::from_static_name(TOKEN_CACHE_MISSES);
        increment(&KEY);
    }
}

/// An introspection call ended with `outcome` after `elapsed`.
#[cfg(feature = "remote")]
#[inline]
pub(crate) fn introspection(outcome: Remote, elapsed: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::counter!(INTROSPECTION_REQUESTS, "outcome" => outcome.label()).increment(1);
        ::metrics::histogram!(INTROSPECTION_DURATION).record(elapsed.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, elapsed);
}

/// Which replay store failed, and how: the `store` and `kind` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "metrics", feature = "redis")), allow(dead_code))]
pub(crate) enum StoreFailure {
    /// The in-memory store is full of proofs in their window (or one client's share is).
    MemoryFull,
    /// Redis did not answer within the timeout.
    RedisTimeout,
    /// Redis answered with an error, an unexpected reply, or could not be reached.
    RedisError,
}

/// A DPoP replay store failed.
#[inline]
pub(crate) fn replay_store_error(failure: StoreFailure) {
    #[cfg(feature = "metrics")]
    {
        let counter = match failure {
            StoreFailure::MemoryFull => ::metrics::counter!(
                DPOP_REPLAY_STORE_ERRORS, "store" => "memory", "kind" => "full"
            ),
            StoreFailure::RedisTimeout => ::metrics::counter!(
                DPOP_REPLAY_STORE_ERRORS, "store" => "redis", "kind" => "timeout"
            ),
            StoreFailure::RedisError => ::metrics::counter!(
                DPOP_REPLAY_STORE_ERRORS, "store" => "redis", "kind" => "error"
            ),
        };
        counter.increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = failure;
}

/// The metrics of one remote key set: its `issuer` label, and the handle of its staleness
/// gauge, taken at first use so that each key lookup only stores a number.
#[cfg(feature = "remote")]
#[derive(Debug)]
pub(crate) struct KeySetMetrics {
    #[cfg(feature = "metrics")]
    issuer: std::sync::OnceLock<String>,
    #[cfg(feature = "metrics")]
    created: std::time::Instant,
    #[cfg(feature = "metrics")]
    since: std::sync::OnceLock<::metrics::Gauge>,
}

#[cfg(feature = "remote")]
impl KeySetMetrics {
    pub(crate) fn new() -> Self {
        KeySetMetrics {
            #[cfg(feature = "metrics")]
            issuer: std::sync::OnceLock::new(),
            #[cfg(feature = "metrics")]
            created: std::time::Instant::now(),
            #[cfg(feature = "metrics")]
            since: std::sync::OnceLock::new(),
        }
    }

    /// Names the issuer the key set belongs to (the first call wins); without one the label is
    /// the key set's URL.
    pub(crate) fn set_issuer(&self, issuer: &str) {
        #[cfg(feature = "metrics")]
        let _ = self.issuer.set(issuer.to_owned());
        #[cfg(not(feature = "metrics"))]
        let _ = issuer;
    }

    #[cfg(feature = "metrics")]
    fn issuer<'a>(&'a self, url: &'a str) -> &'a str {
        self.issuer.get().map_or(url, String::as_str)
    }

    /// The keys were looked up at `now`; `fetched` is when the keys held were fetched, if any.
    #[inline]
    pub(crate) fn looked_up(
        &self,
        url: &str,
        now: std::time::Instant,
        fetched: Option<std::time::Instant>,
    ) {
        #[cfg(feature = "metrics")]
        {
            let since = now.saturating_duration_since(fetched.unwrap_or(self.created));
            self.since
                .get_or_init(|| {
                    ::metrics::gauge!(JWKS_SECONDS_SINCE_REFRESH, "issuer" => self.issuer(url).to_owned())
                })
                .set(since.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (url, now, fetched);
    }

    /// A fetch ended with `outcome`; `fetched` is when the keys now held were fetched, if any.
    pub(crate) fn fetched(&self, url: &str, outcome: Remote, fetched: Option<std::time::Instant>) {
        #[cfg(feature = "metrics")]
        {
            let issuer = self.issuer(url).to_owned();
            ::metrics::counter!(JWKS_FETCHES, "issuer" => issuer.clone(), "outcome" => outcome.label())
                .increment(1);
            if outcome == Remote::Ok {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                ::metrics::gauge!(JWKS_LAST_REFRESH, "issuer" => issuer).set(unix.as_secs_f64());
            }
            self.looked_up(url, std::time::Instant::now(), fetched);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (url, outcome, fetched);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirement::{AuthnRequirement, Requirement};
    use crate::scope::{ScopeSet, ScopeToken};

    /// One error of every kind, each carrying text a client chose where the kind has any.
    fn every_refusal() -> Vec<AuthError> {
        const CHOSEN: &str = "Chosen-By-The-Client";
        static REQUIRED: [Requirement; 1] =
            [Requirement::Scope(ScopeToken::from_static("photos:read"))];
        let token = [
            VerifyError::Malformed("x"),
            VerifyError::TooLarge { max: 1 },
            VerifyError::UnsupportedAlgorithm(CHOSEN.into()),
            VerifyError::AlgorithmMismatch {
                token: CHOSEN.into(),
                key: CHOSEN.into(),
            },
            VerifyError::UnknownKey {
                kid: Some(CHOSEN.into()),
            },
            VerifyError::AmbiguousKey,
            VerifyError::InvalidSignature,
            VerifyError::UnsupportedCritical,
            VerifyError::Expired,
            VerifyError::NotYetValid,
            VerifyError::InvalidIssuer,
            VerifyError::InvalidAudience,
            VerifyError::MissingClaim(CHOSEN.into()),
            VerifyError::InvalidClaim(CHOSEN.into()),
            VerifyError::InvalidType,
            VerifyError::Inactive,
            VerifyError::UnverifiableBinding(ConfirmationMethod::ClientCertificate),
            VerifyError::UnverifiableBinding(ConfirmationMethod::DpopKey),
            VerifyError::UnverifiableBinding(ConfirmationMethod::Other),
            VerifyError::Unavailable(CHOSEN.into()),
        ];
        let dpop = [
            DpopError::MissingProof,
            DpopError::MultipleProofs,
            DpopError::TooLarge { max: 1 },
            DpopError::Malformed("x"),
            DpopError::WrongType,
            DpopError::UnsupportedAlgorithm(CHOSEN.into()),
            DpopError::PrivateKey,
            DpopError::BadKey(CHOSEN.into()),
            DpopError::InvalidSignature,
            DpopError::MethodMismatch,
            DpopError::UrlMismatch,
            DpopError::StaleProof,
            DpopError::Replayed,
            DpopError::AccessTokenHashMismatch,
            DpopError::KeyMismatch,
            DpopError::TokenNotBound,
            DpopError::BoundTokenAsBearer,
            DpopError::DpopRequired,
            DpopError::UseNonce,
            DpopError::StoreUnavailable(CHOSEN.into()),
        ];
        let mut all = vec![
            AuthError::MissingToken,
            AuthError::InvalidRequest("x"),
            AuthError::InsufficientScope {
                required: Requirement::All(std::borrow::Cow::Borrowed(&REQUIRED)),
                granted: ScopeSet::parse_delimited(CHOSEN).expect("a scope"),
            },
            AuthError::InsufficientUserAuthentication {
                required: AuthnRequirement::new().acr(&["urn:mfa"]),
                failed: StepUpFailure::Acr,
            },
            AuthError::InsufficientUserAuthentication {
                required: AuthnRequirement::new().max_age(1),
                failed: StepUpFailure::MaxAge,
            },
            AuthError::NotConfigured,
        ];
        all.extend(token.into_iter().map(AuthError::InvalidToken));
        all.extend(dpop.into_iter().map(AuthError::Dpop));
        all
    }

    #[test]
    fn every_refusal_maps_to_bounded_labels() {
        let all = every_refusal();
        let mut seen = std::collections::HashSet::new();
        for error in &all {
            let Refusal { reason, detail } = refusal(error);
            assert!(REFUSAL_REASONS.contains(&reason), "{error}: {reason}");
            assert!(REFUSAL_DETAILS.contains(&detail), "{error}: {detail}");
            for label in [reason, detail] {
                assert!(label.len() <= 32, "{label}");
                assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
                assert!(!label.contains("chosen"), "{error}: client text in {label}");
            }
            seen.insert((reason, detail));
        }
        // Each kind of error is told apart: as many label pairs as kinds.
        assert_eq!(seen.len(), all.len());
        // And every published value is used by some error.
        for reason in REFUSAL_REASONS {
            assert!(seen.iter().any(|(r, _)| r == reason), "{reason} unused");
        }
        for detail in REFUSAL_DETAILS {
            assert!(seen.iter().any(|(_, d)| d == detail), "{detail} unused");
        }
    }

    /// The step-up, DPoP and outage refusals carry the sub-reason operators need; the others
    /// say all with the reason.
    #[test]
    fn refusals_of_the_issue_list_have_their_reasons() {
        let cases = [
            (AuthError::MissingToken, ("missing_token", "none")),
            (
                AuthError::InvalidToken(VerifyError::Expired),
                ("expired", "none"),
            ),
            (
                AuthError::InvalidToken(VerifyError::InvalidAudience),
                ("wrong_audience", "none"),
            ),
            (
                AuthError::InvalidToken(VerifyError::InvalidIssuer),
                ("wrong_issuer", "none"),
            ),
            (
                AuthError::InvalidToken(VerifyError::InvalidSignature),
                ("invalid_token", "signature"),
            ),
            (AuthError::Dpop(DpopError::Replayed), ("dpop", "replayed")),
            (
                AuthError::Dpop(DpopError::StoreUnavailable("down".into())),
                ("unavailable", "dpop_replay_store"),
            ),
            (
                AuthError::InvalidToken(VerifyError::Unavailable("down".into())),
                ("unavailable", "verifier"),
            ),
        ];
        for (error, (reason, detail)) in cases {
            assert_eq!(refusal(&error), Refusal { reason, detail }, "{error}");
        }
    }

    #[cfg(feature = "remote")]
    #[test]
    fn remote_outcomes_are_the_documented_labels() {
        let all = [
            Remote::Ok,
            Remote::HttpError,
            Remote::Invalid,
            Remote::TooLarge,
            Remote::Timeout,
            Remote::Connect,
            Remote::Busy,
        ];
        let labels: Vec<&str> = all.iter().map(|r| r.label()).collect();
        assert_eq!(
            labels,
            [
                "ok",
                "http_error",
                "invalid",
                "too_large",
                "timeout",
                "connect",
                "busy"
            ]
        );
    }
}
