//! Rocket integration: [`ScopeGuard`] and [`Claims`] as request guards, and the fairing that
//! installs an [`Authenticator`] and writes the RFC 6750 answers.
//!
//! Put `#[requires_scope]` **above** Rocket's route attribute: it must rewrite the function
//! before Rocket reads its parameters. Placed below, the build fails (the route would call the
//! handler without its guard), so a route can never run unprotected.
//!
//! ```
//! use oauth_runtime::{Algorithm, Authenticator, Claims, JwtVerifier, Key, requires_scope};
//! use rocket::{get, routes};
//!
//! #[requires_scope("photos:read")]
//! #[get("/photos")]
//! async fn list_photos(claims: Claims) -> String {
//!     format!("photos of {}", claims.subject().unwrap_or("?"))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = JwtVerifier::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("photos-api")
//!     .key(Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?)
//!     .build()?;
//! let rocket = rocket::build()
//!     .attach(Authenticator::new(verifier).fairing())
//!     .mount("/", routes![list_photos]);
//! # let _ = rocket;
//! # Ok(())
//! # }
//! ```
//!
//! Or configured in `Rocket.toml` (any [`AuthConfig`] field) with
//! `rocket::build().attach(AuthFairing::from_config())`:
//!
//! ```toml
//! [default.oauth]
//! issuer = "https://auth.example.com"
//! audience = "photos-api"
//! public_key_files = ["issuer.pem"]
//! realm = "photos"
//! ```
//!
//! Rocket answers a failed guard with a catcher that does not know which guard failed. The guard
//! therefore records its answer in request-local state, and a catcher that the fairing registers
//! at `/` writes it: the same status, `WWW-Authenticate` and JSON body as on axum. Where the
//! application registered its own catcher for that status and path (matched by path segments,
//! as Rocket matches them), that catcher answers and the fairing only adds the challenge header
//! when the catcher set none. An error that is not ours gets Rocket's default answer, as before.
//!
//! A route that `#[requires_scope]` protects checks its typed path segments (`<id>` of a `u32`,
//! `<path..>`) before the credentials: a request it could never serve is forwarded to the next
//! route, as an unprotected route would be, instead of being refused with 401. Query and data
//! guards still run after authentication, so a body is never read before it.
//!
//! Things that differ from axum because of Rocket itself:
//! - `Option<Claims>` is `None` for a bad token as well as for a missing one (Rocket's own
//!   `Option` guard turns every failure into `None`); the handler's own response then stays as
//!   it is. Only where a catcher of the application's covers the path and the handler answers
//!   with the very status of the absorbed rejection and without a `WWW-Authenticate` header of
//!   its own, does that response get the challenge added (the fairing cannot tell it from the
//!   catcher's answer; RFC 9110 §15.5.2 wants a challenge on every 401 anyway).
//! - Header values that are not UTF-8 are dropped by Rocket while it reads the request, before
//!   any fairing or guard runs, and leave no trace: such a header counts as absent. A request
//!   with one such `Authorization` header counts as one without credentials (401, where axum
//!   answers 400), and one with a second, valid `Authorization` header is judged by that one
//!   (where axum refuses the pair with 400). Refusing would need the raw headers, which Rocket
//!   0.5 gives no access to.

use std::io::Cursor;
use std::marker::PhantomData;
use std::sync::Mutex;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Build, Catcher, Request, Response, Rocket};

use crate::claims::Claims;
use crate::request::authenticator::{Authenticator, HttpRequest};
use crate::request::config::AuthConfig;
use crate::request::guard::{ScopeGuard, check_claims};
use crate::request::rejection::{AuthError, ErrorResponse, RETRY_AFTER_SECONDS};
use crate::requirement::{AuthnRequirement, Requirement, ScopeRequirement};
use crate::verify::dpop::{DpopError, DpopMode};

enum Source {
    Given(Authenticator),
    Config,
}

/// Installs an [`Authenticator`] in a Rocket application and writes the answers of rejected
/// requests. Attach it once: `rocket::build().attach(authenticator.fairing())`.
pub struct AuthFairing(Source);

impl std::fmt::Debug for AuthFairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.0 {
            Source::Given(_) => "given",
            Source::Config => "Rocket configuration `oauth`",
        };
        f.debug_struct("AuthFairing")
            .field("source", &source)
            .finish()
    }
}

impl AuthFairing {
    /// Reads an [`AuthConfig`] from the `oauth` key of Rocket's configuration at ignition; a bad
    /// or missing configuration stops the launch with an error that says what is wrong.
    pub fn from_config() -> AuthFairing {
        AuthFairing(Source::Config)
    }
}

impl Authenticator {
    /// The fairing that installs this authenticator in a Rocket application.
    pub fn fairing(&self) -> AuthFairing {
        AuthFairing(Source::Given(self.clone()))
    }
}

/// The answer a guard decided on, for the fairing to write.
#[derive(Default)]
struct Recorded(Mutex<Option<ErrorResponse>>);

/// The `DPoP-Nonce` value (RFC 9449 §9) the answer to this request carries, when server nonces
/// are on and authentication asked for one; written by `on_response` on any answer.
#[derive(Default)]
struct NonceSlot(Mutex<Option<String>>);

/// The outcome of this request's authentication, computed once however many guards ask, and
/// whether it came with a valid DPoP proof (as a handler marked `dpop` needs).
struct Verified(Result<Claims, AuthError>, bool);

fn record(request: &Request<'_>, answer: ErrorResponse) -> Status {
    // Any code the `Authenticator` lets through, as axum sends it (`from_code` knows only the
    // registered ones and would turn a custom 499 into 500).
    let status = Status::new(answer.status);
    let slot = request.local_cache(Recorded::default);
    *slot
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(answer);
    status
}

/// The recorded answer, taken: whoever writes it, writes it once.
fn take_recorded(request: &Request<'_>) -> Option<ErrorResponse> {
    request
        .local_cache(Recorded::default)
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

async fn verify(
    request: &Request<'_>,
    require_dpop: bool,
    requirement: Option<&Requirement>,
) -> Result<(Authenticator, Claims), (Status, AuthError)> {
    let Some(authenticator) = request.rocket().state::<Authenticator>() else {
        let error = AuthError::NotConfigured;
        tracing::error!(path = %request.uri().path(), "{error}");
        crate::metrics::request_refused(&error);
        return Err((record(request, ErrorResponse::new(&error, None)), error));
    };
    let Verified(outcome, bound) = request
        .local_cache_async(async {
            let headers = request.headers().get("Authorization").map(str::as_bytes);
            let query = request.uri().query().map(|q| q.as_str());
            if authenticator.dpop_mode() == DpopMode::Disabled && !require_dpop {
                return Verified(authenticator.authenticate(headers, query).await, false);
            }
            let host = request.host().map(ToString::to_string);
            let http = HttpRequest {
                method: request.method().as_str(),
                scheme: if request.rocket().config().tls_enabled() {
                    "https"
                } else {
                    "http"
                },
                host: host.as_deref(),
                path: request.uri().path().as_str(),
                query,
            };
            let dpop = request.headers().get("DPoP").map(str::as_bytes);
            let via_dpop = is_dpop(request);
            let (outcome, nonce) = authenticator
                .authenticate_route_nonce(&http, headers, dpop, require_dpop)
                .await;
            if nonce.is_some() {
                *request
                    .local_cache(NonceSlot::default)
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = nonce;
            }
            let bound = via_dpop && outcome.is_ok();
            Verified(outcome, bound)
        })
        .await;
    match outcome {
        // Claims verified without a proof came with the Bearer scheme; verifying again could
        // not change that, and must not consume a proof twice.
        Ok(_) if require_dpop && !bound => {
            let error = AuthError::Dpop(DpopError::DpopRequired);
            Err((
                reject(request, authenticator, &error, true, requirement),
                error,
            ))
        }
        Ok(claims) => Ok((authenticator.clone(), claims.clone())),
        Err(error) => Err((
            reject(request, authenticator, error, require_dpop, requirement),
            error.clone(),
        )),
    }
}

fn is_dpop(request: &Request<'_>) -> bool {
    request
        .headers()
        .get_one("Authorization")
        .is_some_and(|h| crate::request::bearer::is_dpop(h.as_bytes()))
}

/// Records the answer to `error`, its error on the challenge of the scheme the request used
/// (the `DPoP` challenge alone on a handler marked `dpop`); a 401 on a route guarded by
/// `requirement` may name its scopes.
fn reject(
    request: &Request<'_>,
    authenticator: &Authenticator,
    error: &AuthError,
    require_dpop: bool,
    requirement: Option<&Requirement>,
) -> Status {
    record(
        request,
        authenticator.reject_guarded(error, is_dpop(request), require_dpop, requirement),
    )
}

#[rocket::async_trait]
impl<'r, R: ScopeRequirement> FromRequest<'r> for ScopeGuard<R> {
    type Error = AuthError;

    // Every protected handler has its own `R`: the work is in `guard_claims`, compiled once, and
    // only the wrapping of its claims is compiled per handler.
    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        guard_claims(request, R::REQUIREMENT, R::AUTHENTICATION)
            .await
            .map(ScopeGuard::admit)
    }
}

/// The claims of a request that meet `requirement` (and `authentication`), or the recorded
/// answer that refuses it: all of [`ScopeGuard`]'s request guard but the type.
async fn guard_claims(
    request: &Request<'_>,
    requirement: &'static Requirement,
    authentication: Option<&'static AuthnRequirement>,
) -> Outcome<Claims, AuthError> {
    let require_dpop = authentication.is_some_and(AuthnRequirement::requires_dpop);
    let (authenticator, claims) = match verify(request, require_dpop, Some(requirement)).await {
        Ok(verified) => verified,
        Err(failure) => return Outcome::Error(failure),
    };
    match check_claims(&authenticator, &claims, requirement, authentication) {
        Ok(()) => Outcome::Success(claims),
        Err(error) => {
            let status = reject(
                request,
                &authenticator,
                &error,
                require_dpop,
                Some(requirement),
            );
            Outcome::Error((status, error))
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Claims {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        match verify(request, false, None).await {
            Ok((_, claims)) => Outcome::Success(claims),
            Err(failure) => Outcome::Error(failure),
        }
    }
}

/// What `#[requires_scope]` generates for a Rocket route with typed path segments: whether the
/// request's segments parse as the handler's parameters. Not meant to be implemented by hand.
#[doc(hidden)]
pub trait RouteSegments {
    /// `false` when a typed segment of the route fails to parse, so that the route could never
    /// serve the request.
    fn can_serve(request: &Request<'_>) -> bool;
}

/// The request guard that `#[requires_scope]` puts before its [`ScopeGuard`] on a Rocket route
/// with typed path segments. Rocket runs request guards before it parses the path, so without
/// this a request that the route could never serve (`/item/abc` for an `<id>` of `u32`) would be
/// refused for its credentials instead of reaching a lower-ranked route that serves it. It
/// forwards with 422, as Rocket's own parameter guards do, and reads nothing but the path.
#[doc(hidden)]
pub struct SegmentsFirst<R>(PhantomData<fn() -> R>);

impl<R> std::fmt::Debug for SegmentsFirst<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SegmentsFirst")
    }
}

#[rocket::async_trait]
impl<'r, R: RouteSegments> FromRequest<'r> for SegmentsFirst<R> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        if R::can_serve(request) {
            Outcome::Success(SegmentsFirst(PhantomData))
        } else {
            Outcome::Forward(Status::UnprocessableEntity)
        }
    }
}

/// Paths that `#[requires_scope]` expansions name, so that they need no `rocket` of their own.
#[doc(hidden)]
pub mod __private {
    pub use rocket::Request;
    pub use rocket::request::{FromParam, FromSegments};
}

/// The name of the catcher the fairing registers, to tell it from the application's own.
const CATCHER_NAME: &str = "oauth_runtime::rocket::AuthFairing";

/// The fairing's default catcher at `/`: writes the recorded answer when the error is ours, and
/// Rocket's default answer otherwise. Rocket picks it only where no catcher of the
/// application's matches, since every other catcher's base is at least as long and a catcher
/// for the status wins over a default one of the same base.
#[derive(Clone)]
struct AnswerCatcher;

#[rocket::async_trait]
impl rocket::catcher::Handler for AnswerCatcher {
    async fn handle<'r>(
        &self,
        status: Status,
        request: &'r Request<'_>,
    ) -> rocket::catcher::Result<'r> {
        match take_recorded(request) {
            Some(answer) if answer.status == status.code => {
                let mut response = Response::build().status(status).finalize();
                write_answer(&mut response, answer);
                Ok(response)
            }
            other => {
                // Not ours: put it back for `on_response`, and answer as Rocket would.
                if let Some(answer) = other {
                    record(request, answer);
                }
                Catcher::default().handler.handle(status, request).await
            }
        }
    }
}

fn write_answer(response: &mut Response<'_>, answer: ErrorResponse) {
    if let Some(challenge) = answer.www_authenticate {
        response.set_header(Header::new("WWW-Authenticate", challenge));
    }
    if answer.status == 503 {
        response.set_header(Header::new("Retry-After", RETRY_AFTER_SECONDS));
    }
    response.set_header(ContentType::JSON);
    response.set_sized_body(answer.body.len(), Cursor::new(answer.body));
}

/// Serves the RFC 9728 metadata document.
#[derive(Clone)]
struct Metadata(crate::request::resource::ProtectedResource);

#[rocket::async_trait]
impl rocket::route::Handler for Metadata {
    async fn handle<'r>(
        &self,
        request: &'r Request<'_>,
        _: rocket::Data<'r>,
    ) -> rocket::route::Outcome<'r> {
        let body = self.0.document().to_string();
        rocket::route::Outcome::from(request, (ContentType::JSON, body))
    }
}

/// Whether a catcher of the application's answers `status` on this request's path: one for that
/// status or a default one, whose base is a prefix of the path in whole segments (`/api` covers
/// `/api/x`, not `/apiary`), as Rocket matches catchers.
fn has_own_catcher(request: &Request<'_>, status: u16) -> bool {
    request.rocket().catchers().any(|c| {
        c.name.as_deref() != Some(CATCHER_NAME)
            && c.code.is_none_or(|code| code == status)
            && c.base
                .path()
                .segments()
                .prefix_of(request.uri().path().segments())
    })
}

#[rocket::async_trait]
impl Fairing for AuthFairing {
    fn info(&self) -> Info {
        Info {
            name: "oauth-runtime",
            kind: Kind::Ignite | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let authenticator = match &self.0 {
            Source::Given(authenticator) => authenticator.clone(),
            Source::Config => {
                let built = rocket
                    .figment()
                    .extract_inner::<AuthConfig>("oauth")
                    .map_err(|e| e.to_string())
                    .and_then(|config| config.authenticator().map_err(|e| e.to_string()));
                match built {
                    Ok(authenticator) => authenticator,
                    Err(error) => {
                        tracing::error!("the `oauth` configuration is not usable: {error}");
                        return Err(rocket);
                    }
                }
            }
        };
        // The path-inserted URL and, for a resource with a path, the root one (RFC 9728 §3.1).
        let metadata: Vec<rocket::Route> = authenticator
            .protected_resource()
            .map(|resource| {
                resource
                    .metadata_paths()
                    .iter()
                    .map(|path| {
                        rocket::Route::new(
                            rocket::http::Method::Get,
                            path,
                            Metadata(resource.clone()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut rocket = rocket.manage(authenticator);
        // A default catcher of the application's at `/` would collide with ours; with one, every
        // error is the application's to answer and the fairing adds the challenge.
        let root_default = rocket
            .catchers()
            .any(|c| c.code.is_none() && c.base.path().segments().is_empty());
        if !root_default {
            let mut catcher = Catcher::new(None, AnswerCatcher);
            catcher.name = Some(CATCHER_NAME.into());
            rocket = rocket.register("/", vec![catcher]);
        }
        Ok(if metadata.is_empty() {
            rocket
        } else {
            rocket.mount("/", metadata)
        })
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        if request
            .rocket()
            .state::<Authenticator>()
            .is_some_and(Authenticator::dpop_nonces)
        {
            let nonce = request
                .local_cache(NonceSlot::default)
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(nonce) = nonce {
                response.set_header(Header::new("DPoP-Nonce", nonce));
            }
        }
        // Taken already when our catcher wrote it.
        let Some(answer) = take_recorded(request) else {
            return;
        };
        // Left is the case of a catcher of the application's, which keeps its body and gets the
        // challenge. Anything else is a handler's own response (an `Option<Claims>` absorbed the
        // rejection, or the request was forwarded elsewhere) and stays as it is.
        if response.status().code != answer.status || !has_own_catcher(request, answer.status) {
            return;
        }
        if let Some(challenge) = answer.www_authenticate
            && !response.headers().contains("WWW-Authenticate")
        {
            response.set_header(Header::new("WWW-Authenticate", challenge));
        }
        if answer.status == 503 && !response.headers().contains("Retry-After") {
            response.set_header(Header::new("Retry-After", RETRY_AFTER_SECONDS));
        }
    }
}
