//! Opaque tokens, checked with the authorization server's introspection endpoint (RFC 7662).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::claims::{Claims, ScopeClaim};
use crate::clock::{Clock, ClockRef};
use crate::metrics::Remote;
use crate::verify::jwt::VerifierConfigError;
use crate::verify::token_shape::{Shape, ShapeBook};
use crate::verify::validation::{Check, ClaimRules};
use crate::verify::{TokenVerifier, VerifyError};

/// Asks the authorization server about each token (RFC 7662 §2), authenticating as a client
/// with HTTP Basic, and maps `active`, `scope`, `exp`, `nbf`, `sub`, `client_id`, `aud` and
/// `iss` into the same [`Claims`] as a JWT, checked by the same rules. `active: false` is
/// `invalid_token`, and so is an answer about another kind of token (`token_type` naming a
/// refresh token, say); an unreachable or failing endpoint is `Unavailable` (503).
///
/// Wrap it in a [`CachedVerifier`](crate::CachedVerifier) to spare the server. The cache then
/// keeps an accepted token 60 s at most (see [`cache_ttl`](IntrospectionVerifier::cache_ttl)):
/// a token revoked at the server is still accepted here for up to that long. Tokens that no
/// cache can answer (a flood of distinct bad ones) reach the server at most
/// [`max_in_flight`](IntrospectionVerifier::max_in_flight) at a time:
///
/// ```no_run
/// use std::time::Duration;
/// use oauth_runtime::{CachedVerifier, IntrospectionVerifier};
///
/// let verifier = CachedVerifier::new(
///     IntrospectionVerifier::new("https://idp.example.com/introspect", "photos-api", "s3cret")?
///         .expect_issuer("https://idp.example.com")
///         .expect_audience("photos-api")
///         .max_in_flight(16),
/// )
/// .negative_ttl(Duration::from_secs(5));
/// # let _ = verifier;
/// # Ok::<(), oauth_runtime::VerifierConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct IntrospectionVerifier {
    endpoint: String,
    /// The endpoint as reqwest writes a URL (lower-case host, no default port), to tell a
    /// redirected answer from the endpoint's own.
    endpoint_url: reqwest::Url,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    timeout: Duration,
    max_body: usize,
    rules: ClaimRules,
    cache_ttl: Duration,
    clock: ClockRef,
    /// The turns every token may take, and the tokens waiting for one. Shared by clones: one
    /// bound per verifier, however it is copied.
    shared: Lane,
    max_waiting: usize,
    /// The turns kept for tokens shaped like ones the server said were active, and the tokens
    /// waiting for one: a flood of junk of another shape never reaches them.
    familiar: Option<Lane>,
    shapes: Arc<ShapeBook>,
}

/// Turns at the server, and the tokens waiting for one.
#[derive(Debug, Clone)]
struct Lane {
    turns: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Lane {
    fn with_turns(turns: usize) -> Lane {
        Lane {
            turns: Arc::new(Semaphore::new(turns.min(Semaphore::MAX_PERMITS))),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A lane of `turns`, or none for 0.
    fn new(turns: usize) -> Option<Lane> {
        (turns > 0).then(|| Lane::with_turns(turns))
    }
}

/// Introspection requests one verifier has under way at most, by default.
const MAX_IN_FLIGHT: usize = 32;

/// Tokens that wait for a turn at most, by default: beyond them a token is answered 503 at once.
const MAX_WAITING: usize = 64;

/// Introspection requests kept for familiar tokens, by default, beyond [`MAX_IN_FLIGHT`].
const FAMILIAR_IN_FLIGHT: usize = 8;

/// How long a cache in front keeps an accepted token by default: the longest a revocation at
/// the server goes unseen.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(60);

/// The client that sends tokens to the endpoint: it follows no redirect, since on a 307 or 308
/// the form, token included, would be sent again to wherever the redirect points.
fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|error| {
            tracing::error!(%error, "building the HTTP client for introspection failed");
            reqwest::Client::new()
        })
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined with `:`
/// for Basic authentication, so that a `:` or `%` in them survives the trip. A space is written
/// `%20` rather than the form's `+`: both decode to a space under the form rules, and `%20`
/// also under plain percent-decoding, which some servers apply to Basic credentials.
fn form_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .map(|part| if part == "+" { "%20" } else { part })
        .collect()
}

impl IntrospectionVerifier {
    /// The endpoint and the client credentials to call it with. The endpoint must be https
    /// (plain http only on a loopback host, for development), as for key sets.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, VerifierConfigError> {
        let endpoint = endpoint.into();
        let endpoint_url = match reqwest::Url::parse(&endpoint) {
            Ok(url) if crate::verify::jwks::acceptable_url(&endpoint) => url,
            _ => return Err(VerifierConfigError::InsecureUrl(endpoint)),
        };
        Ok(IntrospectionVerifier {
            endpoint,
            endpoint_url,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            http: no_redirect_client(),
            timeout: Duration::from_secs(5),
            max_body: 64 * 1024,
            rules: ClaimRules {
                issuer: Check::Any,
                audience: Check::Any,
                client_id_as_audience: false,
                // The server has just said the token is active; its own `exp` is not stretched.
                leeway: 0,
                require_exp: false,
            },
            cache_ttl: DEFAULT_INTROSPECTION_CACHE_TTL,
            clock: ClockRef::default(),
            shared: Lane::with_turns(MAX_IN_FLIGHT),
            max_waiting: MAX_WAITING,
            familiar: Lane::new(FAMILIAR_IN_FLIGHT),
            shapes: Arc::new(ShapeBook::default()),
        })
    }

    /// The most introspection requests under way at once (default 32); further tokens wait
    /// their turn within [`timeout`](IntrospectionVerifier::timeout), then are `Unavailable`
    /// (503). Bounds what a flood of tokens no cache knows can ask of the server.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.shared = Lane::with_turns(n.max(1));
        self
    }

    /// The most tokens waiting for a turn (default 64); a token that finds them all taken is
    /// `Unavailable` (503) at once instead of queueing. A flood of distinct tokens no cache
    /// knows then costs a token that arrives during it a fast 503 (which a client retries)
    /// rather than a wait behind the whole flood until the timeout.
    pub fn max_waiting(mut self, n: usize) -> Self {
        self.max_waiting = n;
        self
    }

    /// Introspection requests kept, beyond [`max_in_flight`](Self::max_in_flight), for tokens
    /// that look like ones the server has said were active (default 8; 0 keeps none).
    ///
    /// No verifier can tell a new good token from junk without asking, so a flood of distinct
    /// junk tokens would otherwise take every turn and a user's first request during it would
    /// be a 503. A token with the JWT header of an accepted token and about its length (opaque
    /// tokens: about its length) may take a turn of this lane when the others are taken, and
    /// waits here (up to [`max_waiting`](Self::max_waiting) such tokens) instead of behind the
    /// flood. Junk that copies a real token's shape shares this lane's bound, so it still holds
    /// the server's load; a rate limit per client in front of the API is what stops it.
    ///
    /// ```
    /// use oauth_runtime::IntrospectionVerifier;
    ///
    /// let verifier = IntrospectionVerifier::new("https://idp.example.com/introspect", "api", "s")?
    ///     .max_in_flight(24)
    ///     .familiar_in_flight(8); // at most 32 requests at the server at once
    /// # let _ = verifier;
    /// # Ok::<(), oauth_runtime::VerifierConfigError>(())
    /// ```
    pub fn familiar_in_flight(mut self, n: usize) -> Self {
        self.familiar = Lane::new(n);
        self
    }

    /// Uses your own HTTP client (custom CA, proxy, mTLS, User-Agent). Build it with
    /// `.redirect(reqwest::redirect::Policy::none())`: a client that follows a 307 or 308 sends
    /// the token again to the new location before this verifier sees the answer (it then
    /// refuses the answer, but the token has gone).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    /// How long one verification may take, waiting for its turn included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requires this `iss` in the answer: an answer without `iss` is refused.
    pub fn expect_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.rules.issuer = Check::OneOf(vec![issuer.into()]);
        self
    }

    /// Requires this audience among the answer's `aud`: an answer without `aud` is refused.
    pub fn expect_audience(mut self, audience: impl Into<String>) -> Self {
        match &mut self.rules.audience {
            Check::OneOf(list) => list.push(audience.into()),
            Check::Any => self.rules.audience = Check::OneOf(vec![audience.into()]),
        }
        self
    }

    /// How long a [`CachedVerifier`](crate::CachedVerifier) in front keeps an accepted token
    /// unless its own `max_ttl` is set (default 60 s). Longer spares the server more calls, and
    /// a token revoked there stays accepted here for up to that long.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The clock the answer's `exp` and `nbf` are checked against (default: the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> VerifyError {
        VerifyError::Unavailable(format!("introspection at {}: {why}", self.endpoint))
    }

    /// [`Self::ask`] in turn, within the timeout, counted and timed by outcome: a free turn of
    /// the shared lane if there is one, else a place in the queue of the familiar lane (for a
    /// token shaped like an accepted one) or of the shared lane (for any other).
    async fn ask_in_turn(&self, token: &str) -> Result<Value, VerifyError> {
        let started = std::time::Instant::now();
        let shape = Shape::of(token);
        let lane = match &self.familiar {
            Some(lane) if self.shapes.knows(&shape) => lane,
            _ => &self.shared,
        };
        let in_turn = async {
            let _permit = match self.shared.turns.try_acquire() {
                Ok(permit) => permit,
                Err(_) => match lane.turns.try_acquire() {
                    Ok(permit) => permit,
                    Err(_) => {
                        let _waiting =
                            Waiting::join(&lane.waiting, self.max_waiting).ok_or_else(|| {
                                (
                                    Remote::Busy,
                                    self.unavailable("too many tokens waiting for a turn"),
                                )
                            })?;
                        lane.turns
                            .acquire()
                            .await
                            .map_err(|e| (Remote::Busy, self.unavailable(e)))?
                    }
                },
            };
            self.ask(token).await
        };
        let outcome = tokio::time::timeout(self.timeout, in_turn)
            .await
            .unwrap_or_else(|_| {
                Err((
                    Remote::Timeout,
                    self.unavailable(format_args!("no answer within {:?}", self.timeout)),
                ))
            });
        let elapsed = started.elapsed();
        match outcome {
            Ok(answer) => {
                crate::metrics::introspection(Remote::Ok, elapsed);
                if answer.get("active").and_then(Value::as_bool) == Some(true) {
                    self.shapes.learn(shape);
                }
                Ok(answer)
            }
            Err((kind, error)) => {
                crate::metrics::introspection(kind, elapsed);
                Err(error)
            }
        }
    }

    /// One call, or how it failed (the `outcome` label) and why.
    async fn ask(&self, token: &str) -> Result<Value, (Remote, VerifyError)> {
        let failed = |e: reqwest::Error| (Remote::of(&e), self.unavailable(e));
        let mut response = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .basic_auth(
                form_encoded(&self.client_id),
                Some(form_encoded(&self.client_secret)),
            )
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(failed)?;
        if *response.url() != self.endpoint_url {
            return Err((
                Remote::HttpError,
                self.unavailable(format_args!(
                    "redirected to {}; introspection follows no redirect",
                    response.url()
                )),
            ));
        }
        if !response.status().is_success() {
            return Err((
                Remote::HttpError,
                self.unavailable(format_args!("status {}", response.status())),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > self.max_body {
                return Err((Remote::TooLarge, self.unavailable("response too large")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|_| (Remote::Invalid, self.unavailable("response is not JSON")))
    }
}

/// A place among the tokens waiting for a turn, given back when dropped (also when the request
/// is cancelled or times out while waiting).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether an answer's `token_type` (RFC 7662 §2.2, a type of RFC 6749 §7.1) or `token_use`
/// (Ory Hydra) may describe an access token. Refresh tokens and anything else are refused: an
/// introspection answer about a refresh token says it is active, not that it may call an API.
fn is_access_token(answer: &Value) -> Result<(), VerifyError> {
    match answer.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t))
            if [
                "bearer",
                "access_token",
                "dpop",
                "urn:ietf:params:oauth:token-type:access_token",
            ]
            .iter()
            .any(|a| t.eq_ignore_ascii_case(a)) => {}
        Some(_) => return Err(VerifyError::InvalidClaim("token_type".into())),
    }
    match answer.get("token_use") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(u)) if u == "access_token" => Ok(()),
        Some(_) => Err(VerifyError::InvalidClaim("token_use".into())),
    }
}

/// Maps an introspection answer to claims and applies `rules`: what [`IntrospectionVerifier`]
/// does with the server's JSON, apart from the network.
pub(crate) fn claims_from_answer(
    answer: Value,
    rules: &ClaimRules,
    now: i64,
) -> Result<Claims, VerifyError> {
    if answer.get("active").and_then(Value::as_bool) != Some(true) {
        return Err(VerifyError::Inactive);
    }
    is_access_token(&answer)?;
    let claims = Claims::from_json(answer, &ScopeClaim::Standard)?;
    rules.validate(&claims, now)?;
    Ok(claims)
}

#[async_trait::async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let answer = self.ask_in_turn(token).await?;
        claims_from_answer(answer, &self.rules, self.clock.unix_now())
    }

    fn suggested_cache_ttl(&self) -> Option<Duration> {
        Some(self.cache_ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> ClaimRules {
        IntrospectionVerifier::new("http://127.0.0.1:1/introspect", "api", "secret")
            .expect("loopback")
            .expect_issuer("https://as")
            .expect_audience("api")
            .rules
    }

    fn answer(extra: Value) -> Value {
        let mut answer = json!({
            "active": true, "iss": "https://as", "aud": "api", "scope": "a", "exp": 2000
        });
        if let (Some(answer), Value::Object(extra)) = (answer.as_object_mut(), extra) {
            answer.extend(extra);
        }
        answer
    }

    #[test]
    fn rfc7662_section_2_2_refresh_tokens_are_not_access_tokens() {
        let r = rules();
        for ok in ["Bearer", "bearer", "access_token", "DPoP"] {
            assert!(
                claims_from_answer(answer(json!({ "token_type": ok })), &r, 1000).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            json!("refresh_token"),
            json!("id_token"),
            json!("mac"),
            json!(7),
        ] {
            assert_eq!(
                claims_from_answer(answer(json!({ "token_type": bad })), &r, 1000).err(),
                Some(VerifyError::InvalidClaim("token_type".into())),
                "{bad}"
            );
        }
        assert!(
            claims_from_answer(answer(json!({ "token_use": "refresh_token" })), &r, 1000).is_err()
        );
    }

    #[test]
    fn rfc7662_configured_issuer_and_audience_must_be_present() {
        let r = rules();
        let mut no_iss = answer(json!({}));
        no_iss.as_object_mut().map(|o| o.remove("iss"));
        assert_eq!(
            claims_from_answer(no_iss, &r, 1000).err(),
            Some(VerifyError::MissingClaim("iss".into()))
        );
        let mut no_aud = answer(json!({}));
        no_aud.as_object_mut().map(|o| o.remove("aud"));
        assert_eq!(
            claims_from_answer(no_aud, &r, 1000).err(),
            Some(VerifyError::MissingClaim("aud".into()))
        );
    }

    #[test]
    fn rfc7662_nbf_and_exp_are_checked() {
        let r = rules();
        assert_eq!(
            claims_from_answer(answer(json!({ "nbf": 1500 })), &r, 1000).err(),
            Some(VerifyError::NotYetValid)
        );
        assert_eq!(
            claims_from_answer(answer(json!({})), &r, 2000).err(),
            Some(VerifyError::Expired)
        );
        assert_eq!(
            claims_from_answer(json!({ "active": false }), &r, 1000).err(),
            Some(VerifyError::Inactive)
        );
    }

    #[test]
    fn rfc6749_section_2_3_1_credentials_are_form_encoded() {
        assert_eq!(form_encoded("p+ss%"), "p%2Bss%25");
        assert_eq!(form_encoded("id:with colon"), "id%3Awith%20colon");
    }

    /// Found by an attack: the answer's URL was compared with the endpoint as written, and
    /// reqwest writes a URL in normal form, so an endpoint given as `http://LOCALHOST:1/x` or
    /// with its default port turned every answer into a 503.
    #[test]
    fn the_endpoint_is_compared_in_normal_form() {
        for written in [
            "http://LOCALHOST:9000/introspect",
            "https://idp.example.com:443/introspect",
            "https://idp.example.com",
        ] {
            let v = IntrospectionVerifier::new(written, "a", "b").expect("valid");
            let normal = reqwest::Url::parse(&written.to_ascii_lowercase()).expect("url");
            assert_eq!(v.endpoint_url, normal, "{written}");
            assert_eq!(v.endpoint, written, "logs keep the endpoint as written");
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        assert!(matches!(
            IntrospectionVerifier::new("http://idp.example.com/introspect", "a", "b"),
            Err(VerifierConfigError::InsecureUrl(_))
        ));
        assert!(IntrospectionVerifier::new("https://idp.example.com/introspect", "a", "b").is_ok());
        assert!(IntrospectionVerifier::new("http://localhost:9000/introspect", "a", "b").is_ok());
    }
}
