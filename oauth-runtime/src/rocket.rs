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
//! therefore records its answer in request-local state, and the fairing writes it on the way out:
//! the same status, `WWW-Authenticate` and JSON body as on axum. Where the application registered
//! its own catcher for that status, the fairing keeps the catcher's body and only adds the
//! challenge header.
//!
//! Two things differ from axum because of Rocket itself: `Option<Claims>` is `None` for a bad
//! token as well as for a missing one (Rocket's own `Option` guard turns every failure into
//! `None`), and header values that are not UTF-8 are dropped by Rocket before any guard runs, so
//! such a request counts as one without credentials.

use std::io::Cursor;
use std::sync::Mutex;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Build, Request, Response, Rocket};

use crate::authenticator::Authenticator;
use crate::claims::Claims;
use crate::config::AuthConfig;
use crate::error::{AuthError, ErrorResponse};
use crate::guard::ScopeGuard;
use crate::requirement::ScopeRequirement;

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

/// The outcome of this request's authentication, computed once however many guards ask.
struct Verified(Result<Claims, AuthError>);

fn record(request: &Request<'_>, answer: ErrorResponse) -> Status {
    let status = Status::from_code(answer.status).unwrap_or(Status::InternalServerError);
    let slot = request.local_cache(Recorded::default);
    *slot
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(answer);
    status
}

async fn verify(request: &Request<'_>) -> Result<(Authenticator, Claims), (Status, AuthError)> {
    let Some(authenticator) = request.rocket().state::<Authenticator>() else {
        let error = AuthError::NotConfigured;
        tracing::error!(path = %request.uri().path(), "{error}");
        return Err((record(request, ErrorResponse::new(&error, None)), error));
    };
    let Verified(outcome) = request
        .local_cache_async(async {
            let headers = request.headers().get("Authorization").map(str::as_bytes);
            Verified(
                authenticator
                    .authenticate(headers, request.uri().query().map(|q| q.as_str()))
                    .await,
            )
        })
        .await;
    match outcome {
        Ok(claims) => Ok((authenticator.clone(), claims.clone())),
        Err(error) => Err((record(request, authenticator.reject(error)), error.clone())),
    }
}

#[rocket::async_trait]
impl<'r, R: ScopeRequirement> FromRequest<'r> for ScopeGuard<R> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let (authenticator, claims) = match verify(request).await {
            Ok(verified) => verified,
            Err(failure) => return Outcome::Error(failure),
        };
        match ScopeGuard::check(&authenticator, claims) {
            Ok(guard) => Outcome::Success(guard),
            Err(error) => Outcome::Error((record(request, authenticator.reject(&error)), error)),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Claims {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        match verify(request).await {
            Ok((_, claims)) => Outcome::Success(claims),
            Err(failure) => Outcome::Error(failure),
        }
    }
}

/// Serves the RFC 9728 metadata document.
#[derive(Clone)]
struct Metadata(crate::resource::ProtectedResource);

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

/// Whether the application has its own catcher for `status` on this request's path.
fn has_own_catcher(request: &Request<'_>, status: u16) -> bool {
    let path = request.uri().path();
    request.rocket().catchers().any(|c| {
        c.code.is_none_or(|code| code == status)
            && path.as_str().starts_with(c.base.path().as_str())
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
        let metadata = authenticator.protected_resource().map(|resource| {
            rocket::Route::new(
                rocket::http::Method::Get,
                &resource.metadata_path(),
                Metadata(resource.clone()),
            )
        });
        let rocket = rocket.manage(authenticator);
        Ok(match metadata {
            Some(route) => rocket.mount("/", vec![route]),
            None => rocket,
        })
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let recorded = request.local_cache(Recorded::default);
        let Some(answer) = recorded
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        // Only the answer to our own rejection is rewritten: an `Option<Claims>` that swallowed a
        // rejection lets the handler run, and its response stays as it is.
        if response.status().code != answer.status {
            return;
        }
        if let Some(challenge) = answer.www_authenticate {
            response.set_header(Header::new("WWW-Authenticate", challenge));
        }
        if has_own_catcher(request, answer.status) {
            return;
        }
        response.set_header(ContentType::JSON);
        response.set_sized_body(answer.body.len(), Cursor::new(answer.body));
    }
}
