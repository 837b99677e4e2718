//! The installed configuration: which verifier, which realm, how rejections look. Framework
//! adapters hand it the request's credentials and turn its answers into responses.

use std::fmt;
use std::sync::Arc;

use crate::claims::Claims;
use crate::clock::{Clock, ClockRef};
use crate::request::bearer;
use crate::request::rejection::{AuthError, DpopChallenge, ErrorResponse};
use crate::request::resource::ProtectedResource;
use crate::requirement::{AuthnRequirement, Requirement};
use crate::verify::dpop::{DpopError, DpopMode, DpopVerifier};
use crate::verify::jwt::DEFAULT_MAX_TOKEN_LEN;
use crate::verify::{ConfirmationMethod, TokenVerifier, VerifyError};

type Customize = dyn Fn(&AuthError, ErrorResponse) -> ErrorResponse + Send + Sync;

/// Verifies bearer tokens for protected handlers. Install one per application: on axum with
/// [`Authenticator::layer`], on Rocket with its fairing. Cheap to clone.
///
/// ```
/// use oauth_runtime::{Algorithm, Authenticator, ErrorResponse, JwtVerifier, Key};
///
/// let verifier = JwtVerifier::builder()
///     .issuer("https://auth.example.com")
///     .audience("photos-api")
///     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
///     .build()?;
/// let authenticator = Authenticator::builder(verifier)
///     .realm("photos")
///     // Replace the JSON body of every rejection, keeping status and challenge.
///     .map_response(|error, standard| ErrorResponse {
///         body: format!(r#"{{"message":"{}"}}"#, error.status()),
///         ..standard
///     })
///     .build()?;
/// # let _ = authenticator;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Authenticator(Arc<Inner>);

struct Inner {
    verifier: Arc<dyn TokenVerifier>,
    realm: Option<String>,
    resource: Option<ProtectedResource>,
    max_token_len: usize,
    customize: Option<Box<Customize>>,
    dpop: Option<Dpop>,
    /// For handlers marked `dpop`: the same proof checks and replay store as `dpop` (when the
    /// mode enables it), with only DPoP-bound tokens accepted.
    route_dpop: Dpop,
    /// The clock `max_age` is measured by.
    clock: ClockRef,
    /// Whether a 401 on a scope-guarded route names the route's scopes.
    scope_on_unauthorized: bool,
    /// Whether tokens bound to what this server cannot check pass as bearer tokens.
    accept_unverified_binding: bool,
}

/// DPoP settings of an authenticator whose mode is not [`DpopMode::Disabled`].
struct Dpop {
    required: bool,
    verifier: DpopVerifier,
    /// `algs` of the challenge, written once.
    algs: String,
}

impl Dpop {
    /// The mode's settings (none when disabled) and those of handlers marked `dpop`, sharing
    /// one verifier, so that a proof replayed from one kind of route to the other is caught.
    fn for_mode(mode: DpopMode, verifier: Option<DpopVerifier>) -> (Option<Dpop>, Dpop) {
        let verifier = verifier.unwrap_or_default();
        let route = Dpop::new(true, verifier.clone());
        let mode = match mode {
            DpopMode::Disabled => None,
            DpopMode::Allowed => Some(Dpop::new(false, verifier)),
            DpopMode::Required => Some(Dpop::new(true, verifier)),
        };
        (mode, route)
    }

    fn new(required: bool, verifier: DpopVerifier) -> Dpop {
        let algs: Vec<String> = verifier
            .algorithms()
            .iter()
            .map(|a| format!("{a:?}"))
            .collect();
        Dpop {
            required,
            verifier,
            algs: algs.join(" "),
        }
    }

    fn challenge(&self, via_dpop: bool) -> DpopChallenge<'_> {
        DpopChallenge {
            algs: &self.algs,
            bearer_too: !self.required,
            via_dpop,
        }
    }
}

/// The parts of an HTTP request that a DPoP proof is checked against (RFC 9449 §4.3), as the
/// framework adapters hand them over.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The method, such as `GET`.
    pub method: &'a str,
    /// `http` or `https`, as the server received the request.
    pub scheme: &'a str,
    /// The `Host` header (or the authority of an absolute request target).
    pub host: Option<&'a str>,
    /// The path, as the request carried it (percent-encoded), without the query.
    pub path: &'a str,
    /// The query, if any.
    pub query: Option<&'a str>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("realm", &self.0.realm)
            .field("max_token_len", &self.0.max_token_len)
            .field("custom_responses", &self.0.customize.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an [`Authenticator`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticatorError {
    /// The realm must fit in an HTTP quoted-string without escapes.
    #[error("realm {0:?} must be printable ASCII without `\"` or `\\`")]
    InvalidRealm(String),
    /// The resource identifier must be a URL without spaces, `"` or `\\`.
    #[error("resource {0:?} must be a URL without spaces, `\"` or `\\`")]
    InvalidResource(String),
    /// [`AuthenticatorBuilder::map_response`] gave, for a sample rejection, an answer that
    /// cannot be sent.
    #[error("map_response answers `{error}` with something that cannot be sent: {reason}")]
    InvalidResponse {
        /// The sample rejection.
        error: String,
        /// What is wrong with the answer.
        reason: String,
    },
}

/// Builds an [`Authenticator`].
#[must_use]
pub struct AuthenticatorBuilder {
    verifier: Arc<dyn TokenVerifier>,
    realm: Option<String>,
    resource: Option<ProtectedResource>,
    max_token_len: usize,
    customize: Option<Box<Customize>>,
    dpop_mode: DpopMode,
    dpop_verifier: Option<DpopVerifier>,
    clock: ClockRef,
    scope_on_unauthorized: bool,
    accept_unverified_binding: bool,
}

impl fmt::Debug for AuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl AuthenticatorBuilder {
    /// The `realm` of every challenge (RFC 6750 §3).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Describes this API as an RFC 9728 protected resource: the axum routes and the Rocket
    /// fairing then serve its metadata, and every 401 and 403 challenge links to it with
    /// `resource_metadata` (RFC 9728 §5.1).
    pub fn protected_resource(mut self, resource: ProtectedResource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Tokens longer than this many bytes are refused before verification (default 16 KiB).
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// Whether DPoP-bound tokens (RFC 9449) are accepted, beside bearer tokens or alone
    /// (default [`DpopMode::Disabled`]: bearer tokens only, answers as without DPoP support).
    pub fn dpop(mut self, mode: DpopMode) -> Self {
        self.dpop_mode = mode;
        self
    }

    /// How DPoP proofs are checked (algorithms, `iat` window, external URL, replay store);
    /// default [`DpopVerifier::builder`]'s defaults. Only used when [`AuthenticatorBuilder::dpop`]
    /// enables DPoP.
    pub fn dpop_verifier(mut self, verifier: DpopVerifier) -> Self {
        self.dpop_verifier = Some(verifier);
        self
    }

    /// The clock that a handler's `max_age` (RFC 9470) is measured by; default the system
    /// clock. Tests pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockRef::new(clock);
        self
    }

    /// Whether the 401 answers of a route protected by `#[requires_scope]` carry the route's
    /// scopes in a `scope` parameter of the challenge and the body (RFC 6750 §3 allows `scope`
    /// on any challenge), so that a client learns what to ask for before it has a token. MCP
    /// clients read it (MCP authorization, "scope selection"). Default off: the answers stay as
    /// they were. The scopes are those of the 403 (`insufficient_scope`) answer: the least that
    /// meets the route's requirement. The step-up 401 (`insufficient_user_authentication`) has
    /// none: its token already holds the scopes.
    ///
    /// ```
    /// use oauth_runtime::{Algorithm, Authenticator, JwtVerifier, Key};
    ///
    /// # let verifier = JwtVerifier::builder().issuer("https://auth.example.com").audience("api")
    /// #     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?).build()?;
    /// let authenticator = Authenticator::builder(verifier).scope_on_unauthorized(true).build()?;
    /// # let _ = authenticator;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scope_on_unauthorized(mut self, on: bool) -> Self {
        self.scope_on_unauthorized = on;
        self
    }

    /// Whether a token bound to a proof of possession that this server cannot check is taken
    /// as a plain bearer token. Default off: such a token is refused with 401 `invalid_token`
    /// and an `error_description` naming the binding ([`VerifyError::UnverifiableBinding`]).
    /// The bindings concerned are the token's `cnf` claim (RFC 7800), whichever verifier
    /// produced the claims (JWT or introspection): `x5t#S256`, a TLS client certificate that
    /// this crate never sees (RFC 8705 §3 requires the resource to check it); `jkt` when DPoP
    /// is disabled (RFC 9449 §7.2); any other member, and a `cnf` that is not an object.
    ///
    /// The risk accepted when on: such a token is as safe as a bearer token here, no more.
    /// Whoever obtains a copy (from a log, a proxy, another resource it was sent to) can use it,
    /// which is exactly what its issuer bound it to prevent. Meant for a phased rollout, while an
    /// authorization server starts binding tokens before this API can check the binding;
    /// turn it off again once it can. With DPoP enabled a `cnf.jkt` token still needs the
    /// `DPoP` scheme and a proof: the option never waives a check this server can make.
    ///
    /// ```
    /// use oauth_runtime::{Algorithm, AuthError, Authenticator, ConfirmationMethod, JwtVerifier, SigningKey, VerifyError};
    ///
    /// let issuer = SigningKey::generate(Algorithm::ES256)?;
    /// let verifier = || {
    ///     JwtVerifier::builder()
    ///         .issuer("https://auth.example.com")
    ///         .audience("api")
    ///         .key(issuer.verification_key()?)
    ///         .build()
    /// };
    /// let token = issuer.sign_jwt(&serde_json::json!({
    ///     "iss": "https://auth.example.com", "aud": "api", "exp": 4102444800u64,
    ///     "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" },
    /// }));
    /// let header = format!("Bearer {token}");
    /// # let run = |authenticator: Authenticator| {
    /// #     let header = header.clone();
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async move {
    /// #         authenticator.authenticate(std::iter::once(header.as_bytes()), None).await
    /// #     })
    /// # };
    ///
    /// // By default the certificate binding, which this server cannot check, is refused.
    /// let strict = Authenticator::builder(verifier()?).build()?;
    /// assert_eq!(
    ///     run(strict).err(),
    ///     Some(AuthError::InvalidToken(VerifyError::UnverifiableBinding(
    ///         ConfirmationMethod::ClientCertificate
    ///     )))
    /// );
    /// // During a rollout, knowingly accepted as a bearer token.
    /// let lenient = Authenticator::builder(verifier()?).accept_unverified_binding(true).build()?;
    /// assert!(run(lenient).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept_unverified_binding(mut self, accept: bool) -> Self {
        self.accept_unverified_binding = accept;
        self
    }

    /// Rewrites every rejection: receives the reason and the standard answer, returns the one to
    /// send. Used identically by every framework adapter.
    ///
    /// The answer must be sendable: a status from 400 to 599, and a `WWW-Authenticate` value of
    /// printable ASCII whose `error` and `error_description` hold no `"`, `\\` or control
    /// character (RFC 6750 §3). [`AuthenticatorBuilder::build`] calls `f` with sample
    /// rejections and fails with [`AuthenticatorError::InvalidResponse`] on such an answer, so
    /// that the mistake shows at start-up; one that still comes up later is replaced by the
    /// standard answer and logged at error level, never sent broken.
    ///
    /// ```
    /// use oauth_runtime::{Algorithm, Authenticator, AuthenticatorError, ErrorResponse, JwtVerifier, Key};
    ///
    /// let verifier = JwtVerifier::builder()
    ///     .issuer("https://auth.example.com")
    ///     .audience("photos-api")
    ///     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
    ///     .build()?;
    /// let built = Authenticator::builder(verifier)
    ///     .map_response(|_, standard| ErrorResponse {
    ///         www_authenticate: Some("Bearer realm=\"photos\"\r\nX-Injected: 1".into()),
    ///         ..standard
    ///     })
    ///     .build();
    /// assert!(matches!(built, Err(AuthenticatorError::InvalidResponse { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_response(
        mut self,
        f: impl Fn(&AuthError, ErrorResponse) -> ErrorResponse + Send + Sync + 'static,
    ) -> Self {
        self.customize = Some(Box::new(f));
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Authenticator, AuthenticatorError> {
        if let Some(realm) = &self.realm
            && !realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(AuthenticatorError::InvalidRealm(realm.clone()));
        }
        if let Some(resource) = &self.resource
            && !resource
                .metadata_url()
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(AuthenticatorError::InvalidResource(
                resource.resource().to_owned(),
            ));
        }
        if self.accept_unverified_binding {
            // Said once at start, so that an opt-out left on after a rollout shows in the logs.
            tracing::warn!(
                "accept_unverified_binding is on: tokens bound to a client certificate or key \
                 that this server cannot check are accepted as bearer tokens"
            );
        }
        let (dpop, route_dpop) = Dpop::for_mode(self.dpop_mode, self.dpop_verifier);
        if let Some(customize) = &self.customize {
            let metadata = self.resource.as_ref().map(ProtectedResource::metadata_url);
            for error in sample_rejections() {
                let standard = ErrorResponse::build(
                    &error,
                    self.realm.as_deref(),
                    metadata.as_deref(),
                    dpop.as_ref().map(|d| d.challenge(false)),
                    None,
                );
                if let Some(reason) = customize(&error, standard).problem() {
                    return Err(AuthenticatorError::InvalidResponse {
                        error: error.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(Authenticator(Arc::new(Inner {
            verifier: self.verifier,
            realm: self.realm,
            resource: self.resource,
            max_token_len: self.max_token_len,
            customize: self.customize,
            dpop,
            route_dpop,
            clock: self.clock,
            scope_on_unauthorized: self.scope_on_unauthorized,
            accept_unverified_binding: self.accept_unverified_binding,
        })))
    }
}

/// Runs a verification in a debug-level `oauth.verify` span whose fields say how it ended:
/// `outcome` (`verified` or `refused`) and, when refused, the bounded `reason` and `detail` of
/// [`crate::metrics::refusal`]. Never the token nor a claim: the span is for telling why, not
/// whom. At a level nobody listens to, the span costs one check of a cached flag.
async fn traced<T>(
    verification: impl Future<Output = Result<T, AuthError>>,
) -> Result<T, AuthError> {
    use tracing::Instrument as _;
    let span = tracing::debug_span!(
        "oauth.verify",
        outcome = tracing::field::Empty,
        reason = tracing::field::Empty,
        detail = tracing::field::Empty,
    );
    let outcome = verification.instrument(span.clone()).await;
    match &outcome {
        Ok(_) => {
            span.record("outcome", "verified");
        }
        Err(error) => {
            let labels = crate::metrics::refusal(error);
            span.record("outcome", "refused");
            span.record("reason", labels.reason);
            span.record("detail", labels.detail);
        }
    }
    outcome
}

/// The first binding in a token's `cnf` claim (RFC 7800 §3.1) that this server cannot check;
/// `jkt` counts as checked when `dpop_checked` (the request's DPoP proof is checked against it).
/// An absent or `null` `cnf` binds nothing. Certificate binding is named first: no change of
/// scheme on the client's side would make such a token good here.
fn unproven_binding(
    cnf: Option<&serde_json::Value>,
    dpop_checked: bool,
) -> Option<ConfirmationMethod> {
    let members = match cnf {
        None | Some(serde_json::Value::Null) => return None,
        Some(serde_json::Value::Object(members)) => members,
        // RFC 7800 §3.1: `cnf` is an object; anything else is a binding of unknown meaning.
        Some(_) => return Some(ConfirmationMethod::Other),
    };
    if members.contains_key("x5t#S256") {
        return Some(ConfirmationMethod::ClientCertificate);
    }
    if members.keys().any(|name| name != "jkt") {
        return Some(ConfirmationMethod::Other);
    }
    // RFC 9449 §7.2 lets a resource that does not know DPoP take a `jkt` token as a bearer
    // token; this one knows the claim, so it refuses a binding it was not asked to check.
    (members.contains_key("jkt") && !dpop_checked).then_some(ConfirmationMethod::DpopKey)
}

/// One rejection of each kind, to try a custom answer on before the first request.
fn sample_rejections() -> [AuthError; 8] {
    static SAMPLE: [Requirement; 1] = [Requirement::Scope(crate::scope::ScopeToken::from_static(
        "sample:scope",
    ))];
    [
        AuthError::MissingToken,
        AuthError::InvalidRequest("more than one Authorization header"),
        AuthError::InvalidToken(VerifyError::Malformed("sample")),
        AuthError::InvalidToken(VerifyError::Expired),
        AuthError::InvalidToken(VerifyError::Unavailable("sample".into())),
        AuthError::InsufficientScope {
            required: Requirement::All(std::borrow::Cow::Borrowed(&SAMPLE)),
            granted: crate::scope::ScopeSet::new(),
        },
        AuthError::InsufficientUserAuthentication {
            required: AuthnRequirement::new()
                .acr(&["sample:acr", "sample:acr2"])
                .max_age(300),
            failed: crate::requirement::StepUpFailure::Acr,
        },
        AuthError::NotConfigured,
    ]
}

impl Authenticator {
    /// An authenticator with the default settings.
    pub fn new(verifier: impl TokenVerifier) -> Authenticator {
        Authenticator(Arc::new(Inner {
            verifier: Arc::new(verifier),
            realm: None,
            resource: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            customize: None,
            dpop: None,
            route_dpop: Dpop::new(true, DpopVerifier::default()),
            clock: ClockRef::default(),
            scope_on_unauthorized: false,
            accept_unverified_binding: false,
        }))
    }

    /// Starts a builder.
    pub fn builder(verifier: impl TokenVerifier) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            verifier: Arc::new(verifier),
            realm: None,
            resource: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            customize: None,
            dpop_mode: DpopMode::Disabled,
            dpop_verifier: None,
            clock: ClockRef::default(),
            scope_on_unauthorized: false,
            accept_unverified_binding: false,
        }
    }

    /// The RFC 9728 description of this API, if configured.
    pub fn protected_resource(&self) -> Option<&ProtectedResource> {
        self.0.resource.as_ref()
    }

    /// The verifier.
    pub fn verifier(&self) -> &Arc<dyn TokenVerifier> {
        &self.0.verifier
    }

    /// Finds the request's bearer token (RFC 6750 §2.1: the `Authorization` header, whose values
    /// are given here, checked against a token in `query`) and verifies it. A token bound to a
    /// key or certificate (`cnf`) is refused, since no proof of it comes with a bearer token
    /// (see [`AuthenticatorBuilder::accept_unverified_binding`]).
    pub async fn authenticate<'a>(
        &self,
        authorization: impl Iterator<Item = &'a [u8]>,
        query: Option<&str>,
    ) -> Result<Claims, AuthError> {
        traced(self.authenticate_bearer(authorization, query)).await
    }

    async fn authenticate_bearer<'a>(
        &self,
        authorization: impl Iterator<Item = &'a [u8]>,
        query: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let header = bearer::located(authorization, query, self.0.max_token_len)?;
        let claims = self.bearer_claims(header).await?;
        self.check_binding(&claims, false)?;
        Ok(claims)
    }

    /// Refuses claims bound (`cnf`, RFC 7800) to something this request did not prove, when
    /// `via_dpop` is false also a DPoP key. Applied to the claims of every verifier and on
    /// every request, cache hits included: a cache remembers that a token verified, not that
    /// the request holding it proved the binding.
    fn check_binding(&self, claims: &Claims, via_dpop: bool) -> Result<(), AuthError> {
        let cnf = claims.get("cnf");
        // RFC 9449 §7.2: a server that accepts DPoP refuses a DPoP-bound token sent as a bearer
        // token, whatever the opt-out, which waives only checks this server cannot make.
        if !via_dpop && self.0.dpop.is_some() && cnf.and_then(|c| c.get("jkt")).is_some() {
            return Err(AuthError::Dpop(DpopError::BoundTokenAsBearer));
        }
        if self.0.accept_unverified_binding {
            return Ok(());
        }
        match unproven_binding(cnf, via_dpop) {
            None => Ok(()),
            Some(method) => Err(VerifyError::UnverifiableBinding(method).into()),
        }
    }

    async fn bearer_claims(&self, header: &[u8]) -> Result<Claims, AuthError> {
        // The syntax checks cost more per byte than a cache lookup. A token that the verifier
        // already accepted, byte for byte, passed them when it was; so a known acceptance is taken
        // before them, and anything else (unknown, or a known refusal) goes through the checks
        // first, so that a malformed token is reported as malformed.
        let verifier = &self.0.verifier;
        let unchecked = bearer::unchecked_token(header);
        let known = unchecked.and_then(|t| verifier.verify_now(t));
        if let Some(Ok(claims)) = known {
            return Ok(claims);
        }
        let token = bearer::token(header, self.0.max_token_len)?;
        // Asked already, unless the checks read the token differently (an unusual header form).
        let known = if unchecked == Some(token.as_bytes()) {
            known
        } else {
            verifier.verify_now(token.as_bytes())
        };
        if let Some(known) = known {
            return Ok(known?);
        }
        Ok(verifier.verify(token).await?)
    }

    /// The DPoP mode.
    pub fn dpop_mode(&self) -> DpopMode {
        match &self.0.dpop {
            None => DpopMode::Disabled,
            Some(dpop) if dpop.required => DpopMode::Required,
            Some(_) => DpopMode::Allowed,
        }
    }

    /// As [`Authenticator::authenticate`], and with DPoP enabled also the `DPoP` scheme: the
    /// token's proof (the `DPoP` header values in `dpop`) is checked against `request` and the
    /// token's `cnf.jkt` (RFC 9449 §4.3, §7.1) on every request, including those whose token a
    /// [`CachedVerifier`](crate::CachedVerifier) knows: a cache hit saves the token's
    /// signature check, never the proof's.
    pub async fn authenticate_request<'a>(
        &self,
        request: &HttpRequest<'_>,
        authorization: impl Iterator<Item = &'a [u8]>,
        dpop: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Claims, AuthError> {
        self.authenticate_route(request, authorization, dpop, false)
            .await
    }

    /// As [`Authenticator::authenticate_request`] for a handler that requires a
    /// sender-constrained token when `require_dpop` (the attribute's `dpop` flag): then only the
    /// `DPoP` scheme with a valid proof passes, whatever the mode (RFC 9449 §7.1).
    pub async fn authenticate_route<'a>(
        &self,
        request: &HttpRequest<'_>,
        authorization: impl Iterator<Item = &'a [u8]>,
        dpop: impl Iterator<Item = &'a [u8]>,
        require_dpop: bool,
    ) -> Result<Claims, AuthError> {
        self.authenticate_route_nonce(request, authorization, dpop, require_dpop)
            .await
            .0
    }

    /// As [`Authenticator::authenticate_route`], with the value of the `DPoP-Nonce` header the
    /// answer must carry when server nonces are on (RFC 9449 §9): the nonce to use after a
    /// `use_dpop_nonce` refusal, and the next one after a success with the previous period's.
    pub(crate) async fn authenticate_route_nonce<'a>(
        &self,
        request: &HttpRequest<'_>,
        authorization: impl Iterator<Item = &'a [u8]>,
        dpop: impl Iterator<Item = &'a [u8]>,
        require_dpop: bool,
    ) -> (Result<Claims, AuthError>, Option<String>) {
        match traced(self.route_with_proof(request, authorization, dpop, require_dpop)).await {
            Ok((claims, next_nonce)) => (Ok(claims), next_nonce),
            Err(error @ AuthError::Dpop(DpopError::UseNonce)) => {
                // The mode's and the `dpop` handlers' settings share one verifier.
                (Err(error), self.0.route_dpop.verifier.current_nonce())
            }
            Err(error) => (Err(error), None),
        }
    }

    /// Whether DPoP proofs must carry server nonces, so that answers may carry `DPoP-Nonce`.
    #[cfg(feature = "axum")]
    pub(crate) fn dpop_nonces(&self) -> bool {
        self.0.route_dpop.verifier.requires_nonce()
    }

    async fn route_with_proof<'a>(
        &self,
        request: &HttpRequest<'_>,
        authorization: impl Iterator<Item = &'a [u8]>,
        mut dpop: impl Iterator<Item = &'a [u8]>,
        require_dpop: bool,
    ) -> Result<(Claims, Option<String>), AuthError> {
        let settings = match (&self.0.dpop, require_dpop) {
            (_, true) => &self.0.route_dpop,
            (Some(settings), false) => settings,
            (None, false) => {
                return Ok((
                    self.authenticate_bearer(authorization, request.query)
                        .await?,
                    None,
                ));
            }
        };
        let header = bearer::located(authorization, request.query, self.0.max_token_len)?;
        if !bearer::is_dpop(header) {
            if settings.required {
                return Err(match bearer::token(header, self.0.max_token_len) {
                    Ok(_) => AuthError::Dpop(DpopError::DpopRequired),
                    Err(other) => other,
                });
            }
            let claims = self.bearer_claims(header).await?;
            // RFC 9449 §7.2: a bound token is only good with its proof.
            self.check_binding(&claims, false)?;
            return Ok((claims, None));
        }
        let token = bearer::dpop_token(header, self.0.max_token_len)?;
        let verifier = &self.0.verifier;
        let claims = match verifier.verify_now(token.as_bytes()) {
            Some(known) => known?,
            None => verifier.verify(token).await?,
        };
        // The proof below checks `jkt`; any other binding the token carries it does not.
        self.check_binding(&claims, true)?;
        let jkt = match claims.get("cnf").and_then(|c| c.get("jkt")) {
            None => return Err(AuthError::Dpop(DpopError::TokenNotBound)),
            // A `jkt` that is not a string matches no thumbprint.
            Some(jkt) => jkt.as_str().unwrap_or_default(),
        };
        let proof = match (dpop.next(), dpop.next()) {
            (None, _) => return Err(AuthError::Dpop(DpopError::MissingProof)),
            (Some(_), Some(_)) => return Err(AuthError::Dpop(DpopError::MultipleProofs)),
            (Some(proof), None) => std::str::from_utf8(proof)
                .map_err(|_| DpopError::Malformed("the DPoP header is not ASCII"))?,
        };
        let url = settings
            .verifier
            .request_url(request.scheme, request.host, request.path)
            .ok_or(DpopError::UrlMismatch)?;
        let verified = settings
            .verifier
            .verify_bound(proof, request.method, &url, token, jkt)
            .await?;
        Ok((claims, verified.next_nonce))
    }

    /// Checks verified claims against a requirement.
    pub fn authorize(&self, claims: &Claims, required: &Requirement) -> Result<(), AuthError> {
        if required.is_satisfied_by(claims.scopes()) {
            return Ok(());
        }
        Err(AuthError::InsufficientScope {
            required: required.clone(),
            granted: claims.scopes().clone(),
        })
    }

    /// Checks the user authentication behind verified claims (`acr` and `auth_time`) against a
    /// handler's step-up requirement (RFC 9470 §3). Its `dpop` part is not checked here: that
    /// decides how the request is authenticated ([`Authenticator::authenticate_route`]).
    ///
    /// ```
    /// use oauth_runtime::{Algorithm, AuthError, Authenticator, AuthnRequirement, Claims, JwtVerifier, Key, ScopeClaim};
    ///
    /// # let verifier = JwtVerifier::builder().issuer("https://auth.example.com").audience("api")
    /// #     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?).build()?;
    /// let authenticator = Authenticator::new(verifier);
    /// let mfa = AuthnRequirement::new().acr(&["urn:example:mfa"]);
    /// let password_only = Claims::from_json(serde_json::json!({"sub": "alice", "acr": "urn:example:pwd"}), &ScopeClaim::Standard)?;
    /// let refused = authenticator.authorize_authentication(&password_only, &mfa).unwrap_err();
    /// assert_eq!(refused.error_code(), Some("insufficient_user_authentication"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authorize_authentication(
        &self,
        claims: &Claims,
        required: &AuthnRequirement,
    ) -> Result<(), AuthError> {
        if !required.is_step_up() {
            return Ok(());
        }
        let acr = claims.get("acr").and_then(|v| v.as_str());
        // NumericDate (RFC 7519 §2) may carry a fraction; whole seconds are enough here.
        let auth_time = claims.get("auth_time").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        });
        required
            .check(acr, auth_time, self.0.clock.unix_now())
            .map_err(|failed| AuthError::InsufficientUserAuthentication {
                required: *required,
                failed,
            })
    }

    /// The answer to send for `error`: the standard RFC 6750 one, passed through
    /// [`AuthenticatorBuilder::map_response`] when set. Also logs the rejection at debug level
    /// (500s at error level), with its reason and never the token.
    pub fn reject(&self, error: &AuthError) -> ErrorResponse {
        self.reject_scheme(error, false)
    }

    /// As [`Authenticator::reject`] for a request whose `Authorization` header used the `DPoP`
    /// scheme when `via_dpop`: with DPoP enabled, the error then goes on the `DPoP` challenge.
    pub(crate) fn reject_scheme(&self, error: &AuthError, via_dpop: bool) -> ErrorResponse {
        self.reject_route(error, via_dpop, false)
    }

    /// As [`Authenticator::reject_scheme`] on a handler that requires a DPoP-bound token when
    /// `require_dpop`: its challenge is then the `DPoP` one alone, whatever the mode, since a
    /// bearer token would not do (RFC 9449 §7.1).
    pub(crate) fn reject_route(
        &self,
        error: &AuthError,
        via_dpop: bool,
        require_dpop: bool,
    ) -> ErrorResponse {
        self.reject_guarded(error, via_dpop, require_dpop, None)
    }

    /// As [`Authenticator::reject_route`] on a route guarded by `requirement`, whose scopes a
    /// 401 names when [`AuthenticatorBuilder::scope_on_unauthorized`] is on.
    pub(crate) fn reject_guarded(
        &self,
        error: &AuthError,
        via_dpop: bool,
        require_dpop: bool,
        requirement: Option<&Requirement>,
    ) -> ErrorResponse {
        crate::metrics::request_refused(error);
        let labels = crate::metrics::refusal(error);
        match error {
            AuthError::NotConfigured => tracing::error!("{error}"),
            _ => tracing::debug!(
                reason = labels.reason,
                detail = labels.detail,
                error = %error,
                "request rejected"
            ),
        }
        let metadata = self
            .0
            .resource
            .as_ref()
            .map(ProtectedResource::metadata_url);
        let standard = ErrorResponse::build(
            error,
            self.0.realm.as_deref(),
            metadata.as_deref(),
            if require_dpop {
                Some(self.0.route_dpop.challenge(via_dpop))
            } else {
                self.0.dpop.as_ref().map(|d| d.challenge(via_dpop))
            },
            requirement
                .filter(|_| {
                    self.0.scope_on_unauthorized
                        && error.status() == 401
                        && !matches!(error, AuthError::InsufficientUserAuthentication { .. })
                })
                .map(|r| r.sufficient_scopes().to_string()),
        );
        let Some(customize) = &self.0.customize else {
            return standard;
        };
        let custom = customize(error, standard.clone());
        match custom.problem() {
            None => custom,
            Some(problem) => {
                tracing::error!(
                    reason = %error,
                    "the answer from map_response cannot be sent ({problem}); sending the \
                     standard answer instead"
                );
                standard
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refusing;

    #[async_trait::async_trait]
    impl TokenVerifier for Refusing {
        async fn verify(&self, _: &str) -> Result<Claims, VerifyError> {
            Err(VerifyError::InvalidSignature)
        }
    }

    fn with_challenge(
        challenge: &'static str,
    ) -> impl Fn(&AuthError, ErrorResponse) -> ErrorResponse {
        move |_, standard| ErrorResponse {
            www_authenticate: Some(challenge.into()),
            ..standard
        }
    }

    #[test]
    fn rfc6750_section_3_a_401_names_the_routes_scopes_only_when_asked() {
        static ITEMS: [Requirement; 2] = [
            Requirement::Scope(crate::scope::ScopeToken::from_static("photos:read")),
            Requirement::Scope(crate::scope::ScopeToken::from_static("albums:read")),
        ];
        let route = Requirement::All(std::borrow::Cow::Borrowed(&ITEMS));
        let answer = |on: bool, error: &AuthError| {
            let authenticator = Authenticator::builder(Refusing)
                .realm("photos")
                .scope_on_unauthorized(on)
                .build()
                .expect("valid");
            authenticator.reject_guarded(error, false, false, Some(&route))
        };
        let missing = AuthError::MissingToken;
        let off = answer(false, &missing);
        // Off by default: the very answer of a route without the option.
        let plain = Authenticator::builder(Refusing)
            .realm("photos")
            .build()
            .expect("valid");
        assert_eq!(off, plain.reject_route(&missing, false, false));
        assert_eq!(
            off.www_authenticate.as_deref(),
            Some(r#"Bearer realm="photos""#)
        );
        let on = answer(true, &missing);
        assert_eq!(
            on.www_authenticate.as_deref(),
            Some(r#"Bearer realm="photos", scope="albums:read photos:read""#)
        );
        assert!(
            on.body.contains(r#""scope":"albums:read photos:read""#),
            "{}",
            on.body
        );
        let expired = answer(true, &AuthError::InvalidToken(VerifyError::Expired));
        assert!(
            expired
                .www_authenticate
                .as_deref()
                .is_some_and(|c| c.ends_with(r#", scope="albums:read photos:read""#)),
            "{expired:?}"
        );
        // Not on a 503, nor on the step-up 401, whose token holds the scopes already.
        let down = answer(
            true,
            &AuthError::InvalidToken(VerifyError::Unavailable("down".into())),
        );
        assert!(!down.body.contains("scope"), "{down:?}");
        let step_up = AuthError::InsufficientUserAuthentication {
            required: AuthnRequirement::new().max_age(60),
            failed: crate::requirement::StepUpFailure::MaxAge,
        };
        let step_up = answer(true, &step_up);
        assert!(
            !step_up
                .www_authenticate
                .unwrap_or_default()
                .contains("scope=")
        );
    }

    #[test]
    fn rfc6750_section_3_a_custom_answer_that_cannot_be_sent_fails_the_build() {
        for challenge in [
            "Bearer realm=\"api\"\r\nX-Injected: 1",
            "Bearer realm=\"api\u{7}\"",
            r#"Bearer error="invalid_token", error_description="say \"hi\"""#,
        ] {
            let built = Authenticator::builder(Refusing)
                .map_response(with_challenge(challenge))
                .build();
            assert!(
                matches!(built, Err(AuthenticatorError::InvalidResponse { .. })),
                "{challenge:?}"
            );
        }
        let built = Authenticator::builder(Refusing)
            .map_response(|_, standard| ErrorResponse {
                status: 200,
                ..standard
            })
            .build();
        assert!(matches!(
            built,
            Err(AuthenticatorError::InvalidResponse { .. })
        ));
        // A sendable custom answer builds.
        Authenticator::builder(Refusing)
            .map_response(with_challenge(r#"Bearer realm="api", error="login""#))
            .build()
            .expect("a valid challenge");
    }

    #[test]
    fn rfc6750_section_3_a_custom_answer_that_cannot_be_sent_is_replaced_at_run_time() {
        // Broken only for a rejection the build does not try.
        let authenticator = Authenticator::builder(Refusing)
            .realm("api")
            .map_response(|error, standard| match error {
                AuthError::InvalidToken(VerifyError::InvalidSignature) => ErrorResponse {
                    www_authenticate: Some("Bearer realm=\"api\"\nX-Injected: 1".into()),
                    body: "custom".into(),
                    ..standard
                },
                _ => standard,
            })
            .build()
            .expect("the samples are fine");
        let error = AuthError::InvalidToken(VerifyError::InvalidSignature);
        assert_eq!(
            authenticator.reject(&error),
            ErrorResponse::new(&error, Some("api"))
        );
    }

    /// RFC 9470 §3: `acr` among the accepted values, `auth_time` no older than `max_age`, and
    /// both required when asked for.
    #[test]
    fn rfc9470_section_3_acr_and_auth_time_are_checked() {
        use crate::requirement::StepUpFailure;
        use crate::{ManualClock, ScopeClaim};
        let clock = ManualClock::at_unix(10_000);
        let authenticator = Authenticator::builder(Refusing)
            .clock(clock.clone())
            .build()
            .expect("authenticator");
        let claims = |extra: serde_json::Value| {
            let mut json = serde_json::json!({"sub": "alice", "scope": "pay"});
            if let (Some(json), Some(extra)) = (json.as_object_mut(), extra.as_object()) {
                json.extend(extra.clone());
            }
            Claims::from_json(json, &ScopeClaim::Standard).expect("claims")
        };
        let failed = |required: &AuthnRequirement, extra| match authenticator
            .authorize_authentication(&claims(extra), required)
        {
            Ok(()) => None,
            Err(AuthError::InsufficientUserAuthentication { failed, .. }) => Some(failed),
            Err(other) => panic!("{other}"),
        };
        let mfa = AuthnRequirement::new().acr(&["urn:mfa", "urn:hwk"]);
        assert_eq!(failed(&mfa, serde_json::json!({"acr": "urn:hwk"})), None);
        for weak in [
            serde_json::json!({}),
            serde_json::json!({"acr": "urn:pwd"}),
            serde_json::json!({"acr": "URN:MFA"}),
            serde_json::json!({"acr": ["urn:mfa"]}),
            serde_json::json!({"acr": 1}),
        ] {
            assert_eq!(
                failed(&mfa, weak.clone()),
                Some(StepUpFailure::Acr),
                "{weak}"
            );
        }
        let recent = AuthnRequirement::new().max_age(300);
        assert_eq!(
            failed(&recent, serde_json::json!({"auth_time": 9_700})),
            None
        );
        assert_eq!(
            failed(&recent, serde_json::json!({"auth_time": 9_700.5})),
            None
        );
        // In the future (an issuer's clock ahead): age zero.
        assert_eq!(
            failed(&recent, serde_json::json!({"auth_time": 10_030})),
            None
        );
        for stale in [
            serde_json::json!({}),
            serde_json::json!({"auth_time": 9_699}),
            serde_json::json!({"auth_time": "9700"}),
            serde_json::json!({"auth_time": null}),
            serde_json::json!({"auth_time": i64::MIN}),
        ] {
            assert_eq!(
                failed(&recent, stale.clone()),
                Some(StepUpFailure::MaxAge),
                "{stale}"
            );
        }
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(
            failed(&recent, serde_json::json!({"auth_time": 9_700})),
            Some(StepUpFailure::MaxAge)
        );
        // Both: acr is reported first; a requirement of only `dpop` looks at no claim.
        let both = AuthnRequirement::new().acr(&["urn:mfa"]).max_age(300);
        assert_eq!(
            failed(&both, serde_json::json!({})),
            Some(StepUpFailure::Acr)
        );
        assert_eq!(
            failed(&AuthnRequirement::new().dpop(), serde_json::json!({})),
            None
        );
    }

    mod dpop {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::{SystemTime, UNIX_EPOCH};

        use serde_json::json;

        use super::*;
        use crate::verify::dpop::{access_token_hash, jwk_thumbprint};
        use crate::{Algorithm, CachedVerifier, JwtVerifier, SigningKey};

        const URL: &str = "http://api.test/photos";

        fn now() -> u64 {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs()
        }

        /// Counts the verifications that reach the real verifier, to tell cache hits apart.
        struct Counting(JwtVerifier, Arc<AtomicUsize>);

        #[async_trait::async_trait]
        impl TokenVerifier for Counting {
            async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
                self.1.fetch_add(1, Ordering::SeqCst);
                self.0.verify(token).await
            }
        }

        struct Setup {
            issuer: SigningKey,
            client: SigningKey,
            calls: Arc<AtomicUsize>,
        }

        impl Setup {
            fn new() -> Setup {
                Setup {
                    issuer: SigningKey::generate(Algorithm::ES256).expect("key"),
                    client: SigningKey::generate(Algorithm::ES256).expect("key"),
                    calls: Arc::new(AtomicUsize::new(0)),
                }
            }

            fn authenticator(&self, mode: DpopMode) -> Authenticator {
                self.builder(mode).build().expect("authenticator")
            }

            fn builder(&self, mode: DpopMode) -> AuthenticatorBuilder {
                let verifier = JwtVerifier::builder()
                    .issuer("https://issuer.test")
                    .audience("api")
                    .key(self.issuer.verification_key().expect("key"))
                    .build()
                    .expect("verifier");
                let cached = CachedVerifier::new(Counting(verifier, self.calls.clone()));
                Authenticator::builder(cached).realm("photos").dpop(mode)
            }

            fn token(&self, bound_to: Option<&SigningKey>) -> String {
                let mut claims = json!({
                    "iss": "https://issuer.test", "aud": "api", "sub": "alice",
                    "exp": now() + 600, "scope": "photos:read",
                });
                if let Some(key) = bound_to {
                    let jkt = jwk_thumbprint(&key.public_jwk().expect("jwk")).expect("jkt");
                    claims["cnf"] = json!({ "jkt": jkt });
                }
                self.issuer.sign_jwt(&claims)
            }

            /// A token whose `cnf` claim is `cnf`.
            fn token_with_cnf(&self, cnf: serde_json::Value) -> String {
                self.issuer.sign_jwt(&json!({
                    "iss": "https://issuer.test", "aud": "api", "sub": "alice",
                    "exp": now() + 600, "scope": "photos:read", "cnf": cnf,
                }))
            }

            fn jkt(&self) -> String {
                jwk_thumbprint(&self.client.public_jwk().expect("jwk")).expect("jkt")
            }
        }

        /// The refusal of a token bound by `method`.
        fn unverifiable(method: ConfirmationMethod) -> Option<AuthError> {
            Some(AuthError::InvalidToken(VerifyError::UnverifiableBinding(
                method,
            )))
        }

        /// Both bearer entry points: the adapters' one and the plain `authenticate`.
        async fn bearer_both(
            authenticator: &Authenticator,
            token: &str,
        ) -> [Result<Claims, AuthError>; 2] {
            let header = format!("Bearer {token}");
            [
                call(authenticator, &header, &[]).await,
                authenticator
                    .authenticate(std::iter::once(header.as_bytes()), None)
                    .await,
            ]
        }

        const CERTIFICATE: &str = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2";

        /// RFC 8705 §3: the resource MUST check that the client certificate of the connection
        /// is the one the token is bound to. This crate never sees that certificate, so a
        /// certificate-bound token is refused, in every mode and on a cache hit too: the cache
        /// remembers that the token verified, not that any request proved the binding.
        #[tokio::test]
        async fn rfc8705_section_3_a_certificate_bound_token_is_refused() {
            let setup = Setup::new();
            let token = setup.token_with_cnf(json!({ "x5t#S256": CERTIFICATE }));
            for mode in [DpopMode::Disabled, DpopMode::Allowed] {
                let authenticator = setup.authenticator(mode);
                for outcome in bearer_both(&authenticator, &token).await {
                    assert_eq!(
                        outcome.err(),
                        unverifiable(ConfirmationMethod::ClientCertificate),
                        "{mode:?}"
                    );
                }
            }
            assert_eq!(
                setup.calls.load(Ordering::SeqCst),
                2,
                "one verification per authenticator's cache: the second request was a hit, \
                 and refused too"
            );
            let refused = setup
                .authenticator(DpopMode::Disabled)
                .reject(&unverifiable(ConfirmationMethod::ClientCertificate).expect("an error"));
            assert_eq!(refused.status, 401);
            assert_eq!(
                refused.www_authenticate.as_deref(),
                Some(
                    r#"Bearer realm="photos", error="invalid_token", error_description="the access token is bound to a client certificate (cnf.x5t#S256), which this server cannot check""#
                )
            );
            assert_eq!(refused.problem(), None);
            // A DPoP proof proves the key, not the certificate.
            let both = setup.token_with_cnf(json!({ "x5t#S256": CERTIFICATE, "jkt": setup.jkt() }));
            let allowed = setup.authenticator(DpopMode::Allowed);
            let p = proof(&setup.client, "GET", URL, &both);
            assert_eq!(
                call(&allowed, &format!("DPoP {both}"), &[&p]).await.err(),
                unverifiable(ConfirmationMethod::ClientCertificate)
            );
        }

        /// RFC 9449 §7.2 allows a resource that does not know DPoP to take a `jkt`-bound token
        /// as a bearer token; this one knows the claim, and without DPoP it cannot check it.
        #[tokio::test]
        async fn rfc9449_section_7_2_a_dpop_bound_token_is_refused_without_dpop() {
            let setup = Setup::new();
            let bound = setup.token(Some(&setup.client));
            let disabled = setup.authenticator(DpopMode::Disabled);
            for _ in 0..2 {
                for outcome in bearer_both(&disabled, &bound).await {
                    assert_eq!(outcome.err(), unverifiable(ConfirmationMethod::DpopKey));
                }
            }
            assert_eq!(setup.calls.load(Ordering::SeqCst), 1, "cache hits refused");
            // With DPoP enabled, as before: the DPoP scheme's own refusal, now also through
            // the plain `authenticate`.
            let allowed = setup.authenticator(DpopMode::Allowed);
            for outcome in bearer_both(&allowed, &bound).await {
                assert_eq!(
                    outcome.err(),
                    Some(AuthError::Dpop(DpopError::BoundTokenAsBearer))
                );
            }
            let p = proof(&setup.client, "GET", URL, &bound);
            call(&allowed, &format!("DPoP {bound}"), &[&p])
                .await
                .expect("the DPoP scheme with its proof");
            // Unbound tokens pass as ever.
            for outcome in bearer_both(&disabled, &setup.token(None)).await {
                outcome.expect("an unbound token");
            }
        }

        /// RFC 7800 §3.1: `cnf` is an object of confirmation members. A member this server
        /// does not check, or a `cnf` of another type, is a binding of unknown meaning: refused.
        /// An absent, `null` or empty `cnf` binds nothing.
        #[tokio::test]
        async fn rfc7800_section_3_1_unknown_confirmation_methods_are_refused() {
            let setup = Setup::new();
            for mode in [DpopMode::Disabled, DpopMode::Allowed] {
                let authenticator = setup.authenticator(mode);
                for cnf in [
                    json!({ "jwk": { "kty": "oct", "k": "c2VjcmV0" } }),
                    json!({ "kid": "client-key-1" }),
                    json!({ "jwe": "a.b.c.d.e" }),
                    json!({ "unknown-method": true }),
                    json!("x5t#S256"),
                    json!(["jkt"]),
                    json!(42),
                    json!(true),
                ] {
                    let token = setup.token_with_cnf(cnf.clone());
                    for outcome in bearer_both(&authenticator, &token).await {
                        assert_eq!(
                            outcome.err(),
                            unverifiable(ConfirmationMethod::Other),
                            "{mode:?} {cnf}"
                        );
                    }
                }
                for cnf in [json!(null), json!({})] {
                    let token = setup.token_with_cnf(cnf.clone());
                    for outcome in bearer_both(&authenticator, &token).await {
                        outcome.unwrap_or_else(|e| panic!("{mode:?} {cnf}: {e}"));
                    }
                }
            }
            // A DPoP-bound token with one more member: the proof covers `jkt` only.
            let allowed = setup.authenticator(DpopMode::Allowed);
            let token = setup.token_with_cnf(json!({ "jkt": setup.jkt(), "kid": "k" }));
            let p = proof(&setup.client, "GET", URL, &token);
            assert_eq!(
                call(&allowed, &format!("DPoP {token}"), &[&p]).await.err(),
                unverifiable(ConfirmationMethod::Other)
            );
        }

        /// The explicit opt-out waives the checks this server cannot make, and only those:
        /// with DPoP enabled a `jkt` token still needs its proof (RFC 9449 §7.2).
        #[tokio::test]
        async fn rfc8705_section_3_the_opt_out_accepts_unverifiable_bindings_only() {
            let setup = Setup::new();
            let lenient = |mode| {
                setup
                    .builder(mode)
                    .accept_unverified_binding(true)
                    .build()
                    .expect("authenticator")
            };
            let disabled = lenient(DpopMode::Disabled);
            for cnf in [
                json!({ "x5t#S256": CERTIFICATE }),
                json!({ "jkt": setup.jkt() }),
                json!({ "kid": "k" }),
                json!("not an object"),
            ] {
                let token = setup.token_with_cnf(cnf.clone());
                for outcome in bearer_both(&disabled, &token).await {
                    outcome.unwrap_or_else(|e| panic!("{cnf}: {e}"));
                }
            }
            let allowed = lenient(DpopMode::Allowed);
            let both = setup.token_with_cnf(json!({ "x5t#S256": CERTIFICATE, "jkt": setup.jkt() }));
            for outcome in bearer_both(&allowed, &both).await {
                assert_eq!(
                    outcome.err(),
                    Some(AuthError::Dpop(DpopError::BoundTokenAsBearer))
                );
            }
            let p = proof(&setup.client, "GET", URL, &both);
            call(&allowed, &format!("DPoP {both}"), &[&p])
                .await
                .expect("the key proven, the certificate waived");
            let other_key = SigningKey::generate(Algorithm::ES256).expect("key");
            let p = proof(&other_key, "GET", URL, &both);
            assert_eq!(
                call(&allowed, &format!("DPoP {both}"), &[&p]).await.err(),
                Some(AuthError::Dpop(DpopError::KeyMismatch)),
                "the key is still checked"
            );
        }

        fn proof(key: &SigningKey, method: &str, url: &str, token: &str) -> String {
            let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk() });
            let claims = json!({
                "jti": format!("{}", now() as u128 * 1_000_000 + u128::from(rand_u32())),
                "htm": method, "htu": url, "iat": now(), "ath": access_token_hash(token),
            });
            key.sign_jwt_with_header(&header, &claims)
        }

        fn rand_u32() -> u32 {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            u32::try_from(NEXT.fetch_add(1, Ordering::SeqCst)).unwrap_or_default()
        }

        /// The request both call helpers send: `GET http://api.test/photos`.
        fn photos_request() -> HttpRequest<'static> {
            HttpRequest {
                method: "GET",
                scheme: "http",
                host: Some("api.test"),
                path: "/photos",
                query: None,
            }
        }

        async fn call(
            authenticator: &Authenticator,
            authorization: &str,
            proofs: &[&str],
        ) -> Result<Claims, AuthError> {
            let request = photos_request();
            authenticator
                .authenticate_request(
                    &request,
                    std::iter::once(authorization.as_bytes()),
                    proofs.iter().map(|p| p.as_bytes()),
                )
                .await
        }

        /// RFC 9449 §7.1 and §7.2: once the token is in the cache, its signature is not checked
        /// again, but every request still needs its own fresh proof of the bound key.
        #[tokio::test]
        async fn rfc9449_section_7_a_cache_hit_never_stands_in_for_the_proof() {
            let setup = Setup::new();
            let authenticator = setup.authenticator(DpopMode::Allowed);
            let token = setup.token(Some(&setup.client));
            let dpop = format!("DPoP {token}");
            let good = proof(&setup.client, "GET", URL, &token);
            call(&authenticator, &dpop, &[&good])
                .await
                .expect("a good proof");
            assert_eq!(setup.calls.load(Ordering::SeqCst), 1);

            let other_key = SigningKey::generate(Algorithm::ES256).expect("key");
            let refusals = [
                (
                    call(&authenticator, &dpop, &[]).await,
                    DpopError::MissingProof,
                ),
                (
                    call(&authenticator, &dpop, &[&good]).await,
                    DpopError::Replayed,
                ),
                (
                    call(&authenticator, &format!("Bearer {token}"), &[]).await,
                    DpopError::BoundTokenAsBearer,
                ),
                (
                    call(
                        &authenticator,
                        &format!("Bearer {token}"),
                        &[&proof(&setup.client, "GET", URL, &token)],
                    )
                    .await,
                    DpopError::BoundTokenAsBearer,
                ),
                (
                    call(
                        &authenticator,
                        &dpop,
                        &[&proof(&other_key, "GET", URL, &token)],
                    )
                    .await,
                    DpopError::KeyMismatch,
                ),
                (
                    call(
                        &authenticator,
                        &dpop,
                        &[&proof(&setup.client, "POST", URL, &token)],
                    )
                    .await,
                    DpopError::MethodMismatch,
                ),
                (
                    call(
                        &authenticator,
                        &dpop,
                        &[&proof(
                            &setup.client,
                            "GET",
                            "http://api.test/albums",
                            &token,
                        )],
                    )
                    .await,
                    DpopError::UrlMismatch,
                ),
                (
                    call(
                        &authenticator,
                        &dpop,
                        &[&proof(&setup.client, "GET", URL, "another-token")],
                    )
                    .await,
                    DpopError::AccessTokenHashMismatch,
                ),
                (
                    call(&authenticator, &dpop, &[&good, &good]).await,
                    DpopError::MultipleProofs,
                ),
            ];
            for (outcome, expected) in refusals {
                assert_eq!(outcome.err(), Some(AuthError::Dpop(expected)));
            }
            assert_eq!(setup.calls.load(Ordering::SeqCst), 1, "all were cache hits");
            call(
                &authenticator,
                &dpop,
                &[&proof(&setup.client, "GET", URL, &token)],
            )
            .await
            .expect("a fresh proof on a cache hit");
        }

        #[tokio::test]
        async fn rfc9449_section_7_1_modes_decide_which_tokens_pass() {
            let setup = Setup::new();
            let bearer = setup.token(None);
            let allowed = setup.authenticator(DpopMode::Allowed);
            call(&allowed, &format!("Bearer {bearer}"), &[])
                .await
                .expect("bearer is allowed");
            // An unbound token with the DPoP scheme is no DPoP-bound token.
            let p = proof(&setup.client, "GET", URL, &bearer);
            assert_eq!(
                call(&allowed, &format!("DPoP {bearer}"), &[&p]).await.err(),
                Some(AuthError::Dpop(DpopError::TokenNotBound))
            );
            let required = setup.authenticator(DpopMode::Required);
            assert_eq!(
                call(&required, &format!("Bearer {bearer}"), &[])
                    .await
                    .err(),
                Some(AuthError::Dpop(DpopError::DpopRequired))
            );
            let bound = setup.token(Some(&setup.client));
            let p = proof(&setup.client, "GET", URL, &bound);
            call(&required, &format!("dpop {bound}"), &[&p])
                .await
                .expect("bound token");
            // Disabled: the DPoP scheme is not understood at all, as before.
            let disabled = setup.authenticator(DpopMode::Disabled);
            let p = proof(&setup.client, "GET", URL, &bound);
            assert_eq!(
                call(&disabled, &format!("DPoP {bound}"), &[&p]).await.err(),
                Some(AuthError::MissingToken)
            );
        }

        #[test]
        fn rfc9449_section_7_1_challenges() {
            let setup = Setup::new();
            let algs = r#"algs="ES256 ES384 RS256 PS256 EdDSA""#;
            let allowed = setup.authenticator(DpopMode::Allowed);
            let required = setup.authenticator(DpopMode::Required);
            let challenge = |a: &Authenticator, e: &AuthError, via_dpop| {
                a.reject_scheme(e, via_dpop)
                    .www_authenticate
                    .expect("a challenge")
            };
            assert_eq!(
                challenge(&allowed, &AuthError::MissingToken, false),
                format!(r#"Bearer realm="photos", DPoP realm="photos", {algs}"#)
            );
            assert_eq!(
                challenge(&required, &AuthError::MissingToken, false),
                format!(r#"DPoP realm="photos", {algs}"#)
            );
            let replayed = AuthError::Dpop(DpopError::Replayed);
            assert_eq!(
                challenge(&allowed, &replayed, false),
                format!(
                    r#"Bearer realm="photos", DPoP realm="photos", error="invalid_dpop_proof", error_description="the DPoP proof was already used", {algs}"#
                )
            );
            let expired = AuthError::InvalidToken(VerifyError::Expired);
            assert_eq!(
                challenge(&allowed, &expired, false),
                format!(
                    r#"Bearer realm="photos", error="invalid_token", error_description="the access token expired", DPoP realm="photos", {algs}"#
                )
            );
            assert_eq!(
                challenge(&allowed, &expired, true),
                format!(
                    r#"Bearer realm="photos", DPoP realm="photos", error="invalid_token", error_description="the access token expired", {algs}"#
                )
            );
            for a in [&allowed, &required] {
                for e in [&replayed, &expired, &AuthError::MissingToken] {
                    assert_eq!(a.reject_scheme(e, true).problem(), None);
                }
            }
            let unavailable = AuthError::Dpop(DpopError::StoreUnavailable("full".into()));
            let answer = allowed.reject(&unavailable);
            assert_eq!((answer.status, answer.www_authenticate), (503, None));
        }

        async fn call_route(
            authenticator: &Authenticator,
            authorization: &str,
            proofs: &[&str],
        ) -> Result<Claims, AuthError> {
            let request = photos_request();
            authenticator
                .authenticate_route(
                    &request,
                    std::iter::once(authorization.as_bytes()),
                    proofs.iter().map(|p| p.as_bytes()),
                    true,
                )
                .await
        }

        /// RFC 9449 §7.1: a handler marked `dpop` takes only a DPoP-bound token with its proof,
        /// in every mode, and its challenge is the DPoP one alone.
        #[tokio::test]
        async fn rfc9449_section_7_1_a_dpop_handler_requires_a_bound_token_in_every_mode() {
            let setup = Setup::new();
            let bearer = setup.token(None);
            let bound = setup.token(Some(&setup.client));
            for mode in [DpopMode::Disabled, DpopMode::Allowed, DpopMode::Required] {
                let authenticator = setup.authenticator(mode);
                assert_eq!(
                    call_route(&authenticator, &format!("Bearer {bearer}"), &[])
                        .await
                        .err(),
                    Some(AuthError::Dpop(DpopError::DpopRequired)),
                    "{mode:?}"
                );
                assert_eq!(
                    call_route(&authenticator, &format!("Bearer {bound}"), &[])
                        .await
                        .err(),
                    Some(AuthError::Dpop(DpopError::DpopRequired)),
                    "{mode:?}"
                );
                assert_eq!(
                    call_route(&authenticator, &format!("DPoP {bound}"), &[])
                        .await
                        .err(),
                    Some(AuthError::Dpop(DpopError::MissingProof)),
                    "{mode:?}"
                );
                let p = proof(&setup.client, "GET", URL, &bound);
                call_route(&authenticator, &format!("DPoP {bound}"), &[&p])
                    .await
                    .expect("a bound token with its proof");
                // The same proof again is a replay, on either kind of route.
                assert_eq!(
                    call_route(&authenticator, &format!("DPoP {bound}"), &[&p])
                        .await
                        .err(),
                    Some(AuthError::Dpop(DpopError::Replayed)),
                    "{mode:?}"
                );
                let challenge = authenticator
                    .reject_route(&AuthError::Dpop(DpopError::DpopRequired), false, true)
                    .www_authenticate
                    .expect("a challenge");
                assert!(
                    challenge.starts_with("DPoP realm=\"photos\", error=\"invalid_token\""),
                    "{challenge}"
                );
                assert!(!challenge.contains("Bearer"), "{challenge}");
            }
            // In Disabled mode other handlers still take bearer tokens and know no DPoP.
            let disabled = setup.authenticator(DpopMode::Disabled);
            call(&disabled, &format!("Bearer {bearer}"), &[])
                .await
                .expect("bearer elsewhere");
        }
    }
}
