//! axum integration: [`ScopeGuard`] and [`Claims`] as extractors, and the layer that installs an
//! [`Authenticator`].
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use oauth_runtime::{Algorithm, Authenticator, Claims, JwtVerifier, Key, requires_scope};
//!
//! #[requires_scope("photos:read")]
//! async fn list_photos(claims: Claims) -> Json<Vec<String>> {
//!     Json(vec![format!("photos of {}", claims.subject().unwrap_or("?"))])
//! }
//!
//! // Optional authentication: `None` without a token, a 401 for a bad one.
//! async fn greet(claims: Option<Claims>) -> String {
//!     match claims {
//!         Some(c) => format!("hello {}", c.subject().unwrap_or("?")),
//!         None => "hello stranger".into(),
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = JwtVerifier::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("photos-api")
//!     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
//!     .build()?;
//! let authenticator = Authenticator::new(verifier);
//!
//! let app: Router = Router::new()
//!     .route("/photos", get(list_photos))
//!     .route("/hello", get(greet))
//!     .layer(authenticator.layer());
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::claims::Claims;
use crate::request::authenticator::{Authenticator, HttpRequest};
use crate::request::guard::{ScopeGuard, check_claims};
use crate::request::rejection::{AuthError, ErrorResponse, RETRY_AFTER_SECONDS};
use crate::requirement::{AuthnRequirement, Requirement, ScopeRequirement};
use crate::verify::dpop::{DpopError, DpopMode};

impl Authenticator {
    /// The RFC 9728 metadata routes (`GET /.well-known/oauth-protected-resource...`, at the
    /// path-inserted URL and at the root: see [`ProtectedResource::metadata_paths`](crate::ProtectedResource::metadata_paths)) when a
    /// [`ProtectedResource`](crate::ProtectedResource) is configured, else an empty router:
    /// `router.merge(authenticator.metadata_routes())`.
    pub fn metadata_routes<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        let Some(resource) = self.protected_resource() else {
            return axum::Router::new();
        };
        let paths = resource.metadata_paths();
        let resource = resource.clone();
        let document = axum::routing::get(move || {
            let body = resource.document().to_string();
            async move { ([(CONTENT_TYPE, "application/json")], body) }
        });
        // The path-inserted URL and, for a resource with a path, the root one (RFC 9728 §3.1).
        paths.iter().fold(axum::Router::new(), |router, path| {
            router.route(path, document.clone())
        })
    }

    /// The layer that makes this authenticator available to every route below it:
    /// `router.layer(authenticator.layer())`. Protected routes without it answer 500 and log
    /// what to add; they never pass unchecked.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer(self.clone())
    }
}

/// The [`tower_layer::Layer`] of [`Authenticator::layer`]. Put it on the router (or with
/// `route_layer` on the protected routes only); each request below it carries the authenticator.
///
/// ```
/// use axum::{Router, body::Body, http::{Request, StatusCode}, routing::get};
/// use oauth_runtime::{Algorithm, Authenticator, JwtVerifier, Key, requires_scope};
/// use tower::ServiceExt;
///
/// #[requires_scope("photos:read")]
/// async fn list_photos() -> &'static str { "[]" }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = JwtVerifier::builder()
///     .issuer("https://auth.example.com")
///     .audience("photos-api")
///     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
///     .build()?;
/// let app: Router = Router::new()
///     .route("/photos", get(list_photos))
///     .layer(Authenticator::new(verifier).layer());
///
/// let response = app.oneshot(Request::get("/photos").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer(Authenticator);

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            authenticator: self.0.clone(),
        }
    }
}

/// The service of [`AuthLayer`] (see its example): gives every request the authenticator, and
/// room for the claims verified for it, so that a second extractor in the same request neither
/// verifies again nor allocates.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Authenticator,
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for AuthService<S>
where
    S: tower_service::Service<Request<B>, Response = axum::http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Only with server nonces is there a header to add afterwards (RFC 9449 §9).
        let nonce = self
            .authenticator
            .dpop_nonces()
            .then(|| Arc::new(NonceSlot::default()));
        request.extensions_mut().insert(RequestAuth {
            authenticator: self.authenticator.clone(),
            verified: None,
            via_dpop: false,
            bound: false,
            nonce: nonce.clone(),
        });
        AuthFuture {
            inner: self.inner.call(request),
            nonce,
        }
    }
}

/// The `DPoP-Nonce` value the answer to this request carries, set while authenticating.
#[derive(Default)]
struct NonceSlot(Mutex<Option<HeaderValue>>);

pin_project_lite::pin_project! {
    /// The response future of [`AuthService`]: the inner service's, with the `DPoP-Nonce`
    /// header (RFC 9449 §9) added to the answer when authentication asked for one.
    pub struct AuthFuture<F> {
        #[pin]
        inner: F,
        nonce: Option<Arc<NonceSlot>>,
    }
}

impl<F, ResBody, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<axum::http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut output = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(slot)) = (&mut output, this.nonce.as_ref()) {
            let value = slot.0.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(value) = value {
                response.headers_mut().insert(DPOP_NONCE, value);
            }
        }
        Poll::Ready(output)
    }
}

/// RFC 9449 §8.1.
const DPOP_NONCE: &str = "dpop-nonce";

/// The answer to a rejected request: status, `WWW-Authenticate` and JSON body.
#[derive(Debug)]
pub struct AuthRejection(pub ErrorResponse);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let ErrorResponse {
            status,
            www_authenticate,
            body,
        } = self.0;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(challenge) = www_authenticate.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// What [`AuthService`] puts in each request. Private, so that nothing but our own extractors
/// can fill `verified`.
#[derive(Clone)]
struct RequestAuth {
    authenticator: Authenticator,
    /// Claims verified earlier in this request.
    verified: Option<Claims>,
    /// Whether the request used the `DPoP` scheme, which decides where a rejection's error goes.
    via_dpop: bool,
    /// Whether `verified` came with a valid DPoP proof, as a handler marked `dpop` needs.
    bound: bool,
    /// Where the `DPoP-Nonce` to answer with goes, when server nonces are on.
    nonce: Option<Arc<NonceSlot>>,
}

impl RequestAuth {
    fn of<'a>(
        extensions: &'a mut Extensions,
        uri: &Uri,
    ) -> Result<&'a mut RequestAuth, AuthRejection> {
        extensions.get_mut::<RequestAuth>().ok_or_else(|| {
            let error = AuthError::NotConfigured;
            tracing::error!(path = %uri.path(), "{error}");
            crate::metrics::request_refused(&error);
            AuthRejection(ErrorResponse::new(&error, None))
        })
    }

    async fn claims(
        &mut self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
        require_dpop: bool,
    ) -> Result<Claims, AuthError> {
        if let Some(claims) = &self.verified {
            // Claims verified without a proof came with the Bearer scheme; verifying again
            // could not change that, and must not consume a proof twice.
            if require_dpop && !self.bound {
                return Err(AuthError::Dpop(DpopError::DpopRequired));
            }
            return Ok(claims.clone());
        }
        let authorization = headers
            .get_all(AUTHORIZATION)
            .iter()
            .map(HeaderValue::as_bytes);
        if self.authenticator.dpop_mode() == DpopMode::Disabled && !require_dpop {
            // Nothing else is read, so nothing else is looked up.
            let claims = self
                .authenticator
                .authenticate(authorization, uri.query())
                .await?;
            self.verified = Some(claims.clone());
            return Ok(claims);
        }
        self.via_dpop = headers
            .get(AUTHORIZATION)
            .is_some_and(|h| crate::request::bearer::is_dpop(h.as_bytes()));
        let request = HttpRequest {
            method: method.as_str(),
            scheme: uri.scheme_str().unwrap_or("http"),
            host: uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok())),
            path: uri.path(),
            query: uri.query(),
        };
        let dpop = headers.get_all("dpop").iter().map(HeaderValue::as_bytes);
        let (outcome, nonce) = self
            .authenticator
            .authenticate_route_nonce(&request, authorization, dpop, require_dpop)
            .await;
        if let (Some(slot), Some(nonce)) = (&self.nonce, nonce)
            && let Ok(value) = HeaderValue::try_from(nonce)
        {
            *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        }
        let claims = outcome?;
        self.verified = Some(claims.clone());
        self.bound = self.via_dpop;
        Ok(claims)
    }

    fn reject(&self, error: &AuthError, require_dpop: bool) -> AuthRejection {
        AuthRejection(
            self.authenticator
                .reject_route(error, self.via_dpop, require_dpop),
        )
    }

    /// As [`RequestAuth::reject`] on a route guarded by `requirement`, which a 401 may name.
    fn reject_guarded(
        &self,
        error: &AuthError,
        require_dpop: bool,
        requirement: &Requirement,
    ) -> AuthRejection {
        AuthRejection(self.authenticator.reject_guarded(
            error,
            self.via_dpop,
            require_dpop,
            Some(requirement),
        ))
    }
}

impl<S: Send + Sync, R: ScopeRequirement> FromRequestParts<S> for ScopeGuard<R> {
    type Rejection = AuthRejection;

    // Every protected handler has its own `R`, so whatever is generic here is compiled once per
    // handler: that is only `Admit`'s wrapping, and the work is in `guard_claims`, compiled once.
    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        Admit {
            inner: guard_claims(parts, R::REQUIREMENT, R::AUTHENTICATION),
            _requirement: PhantomData,
        }
    }
}

/// The claims of a request that meet `requirement` (and `authentication`), or the answer that
/// refuses it: all of [`ScopeGuard`]'s extraction but the type.
async fn guard_claims(
    parts: &mut Parts,
    requirement: &'static Requirement,
    authentication: Option<&'static AuthnRequirement>,
) -> Result<Claims, AuthRejection> {
    let auth = RequestAuth::of(&mut parts.extensions, &parts.uri)?;
    let require_dpop = authentication.is_some_and(AuthnRequirement::requires_dpop);
    auth.claims(&parts.method, &parts.headers, &parts.uri, require_dpop)
        .await
        .and_then(|claims| {
            check_claims(&auth.authenticator, &claims, requirement, authentication)?;
            Ok(claims)
        })
        .map_err(|e| auth.reject_guarded(&e, require_dpop, requirement))
}

pin_project_lite::pin_project! {
    /// [`guard_claims`]'s future, its claims wrapped in the guard of `R`. A plain struct rather
    /// than an `async` block: its `poll` is the one function instantiated per handler.
    struct Admit<F, R> {
        #[pin]
        inner: F,
        _requirement: PhantomData<fn() -> R>,
    }
}

impl<F, R> Future for Admit<F, R>
where
    F: Future<Output = Result<Claims, AuthRejection>>,
    R: ScopeRequirement,
{
    type Output = Result<ScopeGuard<R>, AuthRejection>;

    // A `match` rather than `Poll::map` and `Result::map`, whose closures would be three more
    // functions compiled per handler.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.poll(cx) {
            Poll::Ready(Ok(claims)) => Poll::Ready(Ok(ScopeGuard::admit(claims))),
            Poll::Ready(Err(rejection)) => Poll::Ready(Err(rejection)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = RequestAuth::of(&mut parts.extensions, &parts.uri)?;
        auth.claims(&parts.method, &parts.headers, &parts.uri, false)
            .await
            .map_err(|e| auth.reject(&e, false))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Claims {
    type Rejection = AuthRejection;

    /// `None` when the request carries no bearer token; a token that is present but bad is still
    /// rejected, so a client cannot downgrade itself to anonymous by sending garbage.
    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth = RequestAuth::of(&mut parts.extensions, &parts.uri)?;
        match auth
            .claims(&parts.method, &parts.headers, &parts.uri, false)
            .await
        {
            Ok(claims) => Ok(Some(claims)),
            Err(AuthError::MissingToken) => Ok(None),
            Err(e) => Err(auth.reject(&e, false)),
        }
    }
}
