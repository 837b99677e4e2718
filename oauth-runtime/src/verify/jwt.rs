//! JWT access-token verification with keys known up front (RFC 7519, RFC 8725, RFC 9068).

use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::claims::{Claims, ScopeClaim};
use crate::clock::{Clock, ClockRef};
use crate::verify::jws::{self, VerifiedJws};
use crate::verify::keys::{Key, KeyError, keys_from_jwk_set};
use crate::verify::validation::{Check, ClaimRules};
use crate::verify::{TokenVerifier, VerifyError};

/// Tokens longer than this are refused before any decoding. Large enough for Keycloak and Entra
/// ID tokens that carry many roles and groups, small enough that a hostile token costs nothing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The clock skew tolerated on `exp` and `nbf` unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The name this error had before it said whose it is.
#[doc(hidden)]
pub type ConfigError = VerifierConfigError;

/// Why a verifier could not be built: a [`JwtVerifier`] (no keys, an insecure key-set URL,
/// failed discovery, ...) or an [`IntrospectionVerifier`](crate::IntrospectionVerifier) (an
/// insecure endpoint). Beside it: [`AuthenticatorError`](crate::AuthenticatorError) for the
/// authenticator, [`AuthConfigError`](crate::AuthConfigError) for configuration files,
/// [`DpopConfigError`](crate::verify::dpop::DpopConfigError) for DPoP settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierConfigError {
    /// No verification key was given.
    #[error("no verification key: add one with .key(..) or .jwk_set_json(..)")]
    NoKeys,
    /// The issuer check was neither configured nor explicitly turned off.
    #[error(
        "no issuer: call .issuer(\"https://your-issuer\") or, to accept tokens from any issuer, .allow_any_issuer()"
    )]
    NoIssuer,
    /// The audience check was neither configured nor explicitly turned off.
    #[error(
        "no audience: call .audience(\"your-api\") or, to accept tokens for any audience, .allow_any_audience()"
    )]
    NoAudience,
    /// Shared HMAC secrets and public keys in one verifier: whoever knows a public key could
    /// then try it as a secret, and a leaked JWKS would hold secrets. Use two verifiers.
    #[error("a verifier takes either HMAC secrets or public keys, not both")]
    MixedKeyTypes,
    /// Discovery of the issuer's metadata failed.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// A key set URL that is neither https nor on a loopback host.
    #[error("{0} must use https (plain http is accepted for loopback hosts only)")]
    InsecureUrl(String),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Settings that cannot work, such as a lifetime too long to represent.
    #[error("invalid settings: {0}")]
    InvalidSettings(String),
    /// A check both configured and waived, such as `.issuer(..)` with `.allow_any_issuer()`:
    /// which one was meant cannot be told.
    #[error("{0} is both configured and waived: keep one of the two calls")]
    Contradiction(&'static str),
}

/// Verifies JWT access tokens signed with keys given up front.
///
/// ```
/// use oauth_runtime::{Algorithm, JwtVerifier, Key};
///
/// let verifier = JwtVerifier::builder()
///     .issuer("https://auth.example.com")
///     .audience("photos-api")
///     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
///     .build()?;
///
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
///     &serde_json::json!({
///         "iss": "https://auth.example.com", "aud": "photos-api", "sub": "alice",
///         "exp": 4102444800u64, "scope": "photos:read",
///     }),
///     &jsonwebtoken::EncodingKey::from_secret(b"a secret of at least thirty-two bytes!"),
/// )?;
/// let claims = verifier.verify_token(&token)?;
/// assert!(claims.has_scope("photos:read"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    keys: Vec<Key>,
    #[cfg(feature = "remote")]
    remote: Option<std::sync::Arc<crate::verify::jwks::RemoteKeySet>>,
    rules: ClaimRules,
    rfc9068: bool,
    scope_claim: ScopeClaim,
    max_token_len: usize,
    clock: ClockRef,
}

/// Builds a [`JwtVerifier`]; see there.
#[derive(Debug)]
#[must_use]
pub struct JwtVerifierBuilder {
    keys: Vec<Key>,
    #[cfg(feature = "remote")]
    remote: Option<std::sync::Arc<crate::verify::jwks::RemoteKeySet>>,
    error: Option<VerifierConfigError>,
    issuer: Option<Check>,
    audience: Option<Check>,
    client_id_as_audience: bool,
    leeway: Duration,
    rfc9068: bool,
    scope_claim: ScopeClaim,
    max_token_len: usize,
    clock: ClockRef,
}

impl JwtVerifierBuilder {
    /// The exact `iss` tokens must carry.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        if matches!(self.issuer, Some(Check::Any)) {
            self.error = self
                .error
                .or(Some(VerifierConfigError::Contradiction("the issuer")));
        }
        self.issuer = Some(Check::OneOf(vec![issuer.into()]));
        self
    }

    /// Accepts tokens from any issuer. Only sound when the keys belong to one issuer alone.
    pub fn allow_any_issuer(mut self) -> Self {
        if matches!(self.issuer, Some(Check::OneOf(_))) {
            self.error = self
                .error
                .or(Some(VerifierConfigError::Contradiction("the issuer")));
        }
        self.issuer = Some(Check::Any);
        self
    }

    /// An audience this API answers to; call again to accept several. A token passes when its
    /// `aud` names at least one of them.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        match &mut self.audience {
            Some(Check::OneOf(list)) => list.push(audience.into()),
            Some(Check::Any) => {
                self.error = self
                    .error
                    .or(Some(VerifierConfigError::Contradiction("the audience")));
            }
            None => self.audience = Some(Check::OneOf(vec![audience.into()])),
        }
        self
    }

    /// Accepts tokens for any audience. Tokens minted for another API then work here too.
    pub fn allow_any_audience(mut self) -> Self {
        if matches!(self.audience, Some(Check::OneOf(_))) {
            self.error = self
                .error
                .or(Some(VerifierConfigError::Contradiction("the audience")));
        }
        self.audience = Some(Check::Any);
        self
    }

    /// For tokens without `aud` (Amazon Cognito access tokens), accept their `client_id` in its
    /// place: it must then be one of the configured audiences. Off by default; tokens with an
    /// `aud` are unaffected.
    pub fn accept_client_id_as_audience(mut self) -> Self {
        self.client_id_as_audience = true;
        self
    }

    /// Adds a verification key.
    pub fn key(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds several verification keys.
    pub fn keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// Adds the usable keys of a JWK Set given as JSON text; unusable keys are skipped.
    pub fn jwk_set_json(mut self, json: &str) -> Self {
        match keys_from_jwk_set(json) {
            Ok(keys) => self.keys.extend(keys),
            Err(e) => self.error = self.error.or(Some(VerifierConfigError::Key(e))),
        }
        self
    }

    /// Fetches the keys from a JWKS URL (https, or http on loopback), with the default HTTP client
    /// and cache settings. Replaces keys given directly.
    #[cfg(feature = "remote")]
    pub fn jwks_url(self, url: impl Into<String>) -> Self {
        self.jwks_url_with(
            url,
            crate::verify::jwks::default_client(),
            crate::verify::jwks::JwksSettings::default(),
        )
    }

    /// As [`JwtVerifierBuilder::jwks_url`], with your own `reqwest::Client` (custom CA, proxy,
    /// mTLS, User-Agent) and cache settings.
    #[cfg(feature = "remote")]
    pub fn jwks_url_with(
        self,
        url: impl Into<String>,
        client: reqwest::Client,
        settings: crate::verify::jwks::JwksSettings,
    ) -> Self {
        self.remote_keys(
            url.into(),
            client,
            settings,
            crate::verify::jwks::RemoteKeySet::new,
        )
    }

    /// Sets a remote key set made by `make` from an acceptable `url` (https, or http on
    /// loopback) and settings that can work, or remembers why not for `build()`.
    #[cfg(feature = "remote")]
    fn remote_keys(
        mut self,
        url: String,
        client: reqwest::Client,
        settings: crate::verify::jwks::JwksSettings,
        make: fn(
            String,
            reqwest::Client,
            crate::verify::jwks::JwksSettings,
        ) -> crate::verify::jwks::RemoteKeySet,
    ) -> Self {
        if !crate::verify::jwks::acceptable_url(&url) {
            self.error = self.error.or(Some(VerifierConfigError::InsecureUrl(url)));
            return self;
        }
        if let Err(why) = settings.check() {
            self.error = self
                .error
                .or(Some(VerifierConfigError::InvalidSettings(why)));
            return self;
        }
        self.remote = Some(std::sync::Arc::new(make(url, client, settings)));
        self
    }

    /// Sets the issuer and finds its key set through RFC 8414 metadata
    /// (`/.well-known/oauth-authorization-server`), falling back to OpenID Connect discovery
    /// (`/.well-known/openid-configuration`). The metadata's `issuer` must equal `issuer` exactly.
    #[cfg(feature = "remote")]
    pub async fn discover(self, issuer: &str) -> Result<Self, VerifierConfigError> {
        self.discover_with(
            issuer,
            crate::verify::jwks::default_client(),
            crate::verify::jwks::JwksSettings::default(),
        )
        .await
    }

    /// Sets the issuer and finds its key set through its metadata as
    /// [`discover`](JwtVerifierBuilder::discover) does, but when the first token needs a key
    /// rather than now: nothing is fetched at start, so an API whose provider is down then still
    /// starts (and answers 503 until the provider is back). See [`RemoteKeySet::discover`].
    ///
    /// [`RemoteKeySet::discover`]: crate::RemoteKeySet::discover
    ///
    /// ```
    /// use oauth_runtime::JwtVerifier;
    ///
    /// let verifier = JwtVerifier::builder()
    ///     .discover_lazily("https://sso.example.com/realms/acme")
    ///     .audience("photos-api")
    ///     .build()?;
    /// # let _ = verifier;
    /// # Ok::<(), oauth_runtime::VerifierConfigError>(())
    /// ```
    #[cfg(feature = "remote")]
    pub fn discover_lazily(self, issuer: impl Into<String>) -> Self {
        self.discover_lazily_with(
            issuer,
            crate::verify::jwks::default_client(),
            crate::verify::jwks::JwksSettings::default(),
        )
    }

    /// As [`JwtVerifierBuilder::discover_lazily`], with your own HTTP client and cache settings.
    #[cfg(feature = "remote")]
    pub fn discover_lazily_with(
        self,
        issuer: impl Into<String>,
        client: reqwest::Client,
        settings: crate::verify::jwks::JwksSettings,
    ) -> Self {
        let issuer = issuer.into();
        self.remote_keys(
            issuer.clone(),
            client,
            settings,
            |issuer, client, settings| {
                crate::verify::jwks::RemoteKeySet::discover(issuer, client, settings)
            },
        )
        .issuer(issuer)
    }

    /// As [`JwtVerifierBuilder::discover`], with your own HTTP client and cache settings.
    #[cfg(feature = "remote")]
    pub async fn discover_with(
        self,
        issuer: &str,
        client: reqwest::Client,
        settings: crate::verify::jwks::JwksSettings,
    ) -> Result<Self, VerifierConfigError> {
        if !crate::verify::jwks::acceptable_url(issuer) {
            return Err(VerifierConfigError::InsecureUrl(issuer.to_owned()));
        }
        let jwks_uri = crate::verify::jwks::discover_jwks_uri(&client, issuer, &settings)
            .await
            .map_err(VerifierConfigError::Discovery)?;
        Ok(self
            .issuer(issuer)
            .jwks_url_with(jwks_uri, client, settings))
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Strict RFC 9068: `typ` must be `at+jwt` and `iss`, `sub`, `aud`, `exp`, `iat`, `jti` and
    /// `client_id` must be present. Keeps ID tokens and other JWTs from passing as access tokens.
    pub fn require_rfc9068(mut self, strict: bool) -> Self {
        self.rfc9068 = strict;
        self
    }

    /// Where the scopes are (default: `scope`, else `scp`).
    pub fn scope_claim(mut self, claim: ScopeClaim) -> Self {
        self.scope_claim = claim;
        self
    }

    /// The clock `exp` and `nbf` are checked against (default: the system's). Tests set a
    /// [`ManualClock`](crate::ManualClock) to move time instead of sleeping.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// The longest token accepted, in bytes (default 16 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<JwtVerifier, VerifierConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        #[cfg(feature = "remote")]
        let remote = self.remote.is_some();
        #[cfg(not(feature = "remote"))]
        let remote = false;
        if self.keys.is_empty() && !remote {
            return Err(VerifierConfigError::NoKeys);
        }
        let is_hmac = |k: &Key| {
            matches!(
                k.algorithm(),
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            )
        };
        if self.keys.iter().any(is_hmac) && !self.keys.iter().all(is_hmac) {
            return Err(VerifierConfigError::MixedKeyTypes);
        }
        #[cfg(feature = "remote")]
        if let (Some(remote), Some(Check::OneOf(issuers))) = (&self.remote, &self.issuer)
            && let [issuer] = issuers.as_slice()
        {
            remote.set_issuer(issuer);
        }
        Ok(JwtVerifier {
            keys: self.keys,
            #[cfg(feature = "remote")]
            remote: self.remote,
            rules: ClaimRules {
                issuer: self.issuer.ok_or(VerifierConfigError::NoIssuer)?,
                audience: self.audience.ok_or(VerifierConfigError::NoAudience)?,
                client_id_as_audience: self.client_id_as_audience,
                leeway: crate::verify::validation::seconds(self.leeway),
                require_exp: true,
            },
            rfc9068: self.rfc9068,
            scope_claim: self.scope_claim,
            max_token_len: self.max_token_len,
            clock: self.clock,
        })
    }
}

impl JwtVerifier {
    /// Starts a builder. Issuer and audience must be set or explicitly waived; at least one key
    /// is needed.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            keys: Vec::new(),
            #[cfg(feature = "remote")]
            remote: None,
            error: None,
            issuer: None,
            audience: None,
            client_id_as_audience: false,
            leeway: DEFAULT_LEEWAY,
            rfc9068: false,
            scope_claim: ScopeClaim::Standard,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: ClockRef::default(),
        }
    }
}

impl JwtVerifier {
    /// The one issuer this verifier accepts, if it was built with exactly one: a
    /// [`crate::MultiIssuerVerifier`] files it under that name and trusts no other kind.
    pub(crate) fn sole_issuer(&self) -> Option<&str> {
        match &self.rules.issuer {
            Check::OneOf(issuers) if issuers.len() == 1 => issuers.first().map(String::as_str),
            _ => None,
        }
    }

    /// The signature layer alone, for [`crate::verify::dangerous::verify_signature`].
    pub(crate) fn verify_signature(&self, token: &str) -> Result<VerifiedJws, VerifyError> {
        self.verify_signature_with(&self.keys, token)
    }

    fn verify_signature_with(&self, keys: &[Key], token: &str) -> Result<VerifiedJws, VerifyError> {
        jws::verify(keys, jws::parse(token, self.max_token_len)?)
    }

    /// Verifies the signature, then the claims: `exp` (required), `nbf`, `iss`, `aud`, and in
    /// strict RFC 9068 mode `typ` and the claims that RFC requires.
    pub fn verify_token(&self, token: &str) -> Result<Claims, VerifyError> {
        self.verify_token_with(&self.keys, token)
    }

    fn verify_token_with(&self, keys: &[Key], token: &str) -> Result<Claims, VerifyError> {
        self.check_claims(self.verify_signature_with(keys, token)?)
    }

    fn check_claims(&self, verified: VerifiedJws) -> Result<Claims, VerifyError> {
        if self.rfc9068 {
            let typ = verified.typ.as_deref().unwrap_or_default();
            // RFC 9068 §4: "at+jwt", or the full media type; media types are case-insensitive.
            if !typ.eq_ignore_ascii_case("at+jwt")
                && !typ.eq_ignore_ascii_case("application/at+jwt")
            {
                return Err(VerifyError::InvalidType);
            }
        }
        let json: serde_json::Value = serde_json::from_slice(&verified.payload)
            .map_err(|_| VerifyError::Malformed("payload is not JSON"))?;
        let claims = Claims::from_json(json, &self.scope_claim)?;
        self.rules.validate(&claims, self.clock.unix_now())?;
        if self.rfc9068 {
            let present = [
                ("iss", claims.issuer().is_some()),
                ("sub", claims.subject().is_some()),
                ("aud", !claims.audience().is_empty()),
                ("iat", claims.issued_at().is_some()),
                ("jti", claims.jwt_id().is_some()),
                ("client_id", claims.client_id().is_some()),
            ];
            if let Some((name, _)) = present.iter().find(|(_, ok)| !ok) {
                return Err(VerifyError::MissingClaim((*name).to_owned()));
            }
        }
        Ok(claims)
    }
}

#[async_trait::async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        #[cfg(feature = "remote")]
        if let Some(remote) = &self.remote {
            // The token is taken apart first: a malformed one never makes us fetch keys.
            let parsed = jws::parse(token, self.max_token_len)?;
            if matches!(
                parsed.alg,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                // A remote key set never supplies a shared secret (see `keys_from_remote_jwk_set`).
                return Err(VerifyError::UnsupportedAlgorithm(parsed.header.alg));
            }
            let keys = remote.keys().await?;
            let key = match jws::select_key(&keys, parsed.alg, parsed.header.kid.as_deref()) {
                // A kid we do not know may be a key the issuer just added: look again, at most
                // once per cooldown and never while backing off, however many such tokens arrive.
                Err(VerifyError::UnknownKey { .. }) if remote.refresh_for_unknown_kid().await => {
                    let keys = remote.keys().await?;
                    return self.check_claims(jws::verify(&keys, parsed)?);
                }
                other => other?,
            };
            return self.check_claims(jws::signed_by(key, parsed)?);
        }
        self.verify_token(token)
    }
}
