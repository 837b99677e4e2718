//! Opaque tokens, checked with the authorization server's introspection endpoint (RFC 7662).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::claims::{Claims, ScopeClaim};
use crate::verify::{TokenVerifier, VerifyError};

/// Asks the authorization server about each token (RFC 7662 §2), authenticating as a client
/// with HTTP Basic, and maps `active`, `scope`, `exp`, `sub`, `client_id`, `aud` and `iss` into
/// the same [`Claims`] as a JWT. `active: false` is `invalid_token`; an unreachable or failing
/// endpoint is `Unavailable` (503). Wrap it in a [`CachedVerifier`](crate::CachedVerifier), with
/// a maximum lifetime and a short negative lifetime, to spare the server. Tokens that no cache
/// can answer (a flood of distinct bad ones) reach the server at most
/// [`max_in_flight`](IntrospectionVerifier::max_in_flight) at a time:
///
/// ```no_run
/// use std::time::Duration;
/// use oauth_runtime::{CachedVerifier, IntrospectionVerifier};
///
/// let verifier = CachedVerifier::new(
///     IntrospectionVerifier::new("https://idp.example.com/introspect", "photos-api", "s3cret")
///         .expect_issuer("https://idp.example.com")
///         .max_in_flight(16),
/// )
/// .max_ttl(Duration::from_secs(60))
/// .negative_ttl(Duration::from_secs(5));
/// # let _ = verifier;
/// ```
#[derive(Debug, Clone)]
pub struct IntrospectionVerifier {
    endpoint: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    timeout: Duration,
    max_body: usize,
    issuer: Option<String>,
    audience: Option<String>,
    /// Shared by clones: one bound per verifier, however it is copied.
    in_flight: Arc<Semaphore>,
}

/// Introspection requests one verifier has under way at most, by default.
const MAX_IN_FLIGHT: usize = 32;

impl IntrospectionVerifier {
    /// The endpoint and the client credentials to call it with.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        IntrospectionVerifier {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            http: reqwest::Client::new(),
            timeout: Duration::from_secs(5),
            max_body: 64 * 1024,
            issuer: None,
            audience: None,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// The most introspection requests under way at once (default 32); further tokens wait
    /// their turn within [`timeout`](IntrospectionVerifier::timeout), then are `Unavailable`
    /// (503). Bounds what a flood of tokens no cache knows can ask of the server.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS)));
        self
    }

    /// Uses your own HTTP client (custom CA, proxy, mTLS, User-Agent).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    /// How long one verification may take, waiting for its turn included (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requires this `iss` in the answer, when the server sends one.
    pub fn expect_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires this audience among the answer's `aud`, when the server sends one.
    pub fn expect_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> VerifyError {
        VerifyError::Unavailable(format!("introspection at {}: {why}", self.endpoint))
    }

    /// [`Self::ask`] in turn, within the timeout.
    async fn ask_in_turn(&self, token: &str) -> Result<Value, VerifyError> {
        let in_turn = async {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|e| self.unavailable(e))?;
            self.ask(token).await
        };
        tokio::time::timeout(self.timeout, in_turn)
            .await
            .map_err(|_| self.unavailable(format_args!("no answer within {:?}", self.timeout)))?
    }

    async fn ask(&self, token: &str) -> Result<Value, VerifyError> {
        let mut response = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        if !response.status().is_success() {
            return Err(self.unavailable(format_args!("status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unavailable(e))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(self.unavailable("response too large"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| self.unavailable("response is not JSON"))
    }
}

#[async_trait::async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let answer = self.ask_in_turn(token).await?;
        if answer.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(VerifyError::Inactive);
        }
        let claims = Claims::from_json(answer, &ScopeClaim::Standard)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if claims
            .expires_at()
            .is_some_and(|exp| exp <= i64::try_from(now).unwrap_or(i64::MAX))
        {
            return Err(VerifyError::Expired);
        }
        if let (Some(expected), Some(iss)) = (&self.issuer, claims.issuer())
            && expected != iss
        {
            return Err(VerifyError::InvalidIssuer);
        }
        if let Some(expected) = &self.audience
            && !claims.audience().is_empty()
            && !claims.audience().contains(expected)
        {
            return Err(VerifyError::InvalidAudience);
        }
        Ok(claims)
    }
}
