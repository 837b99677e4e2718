//! Protect API handlers with OAuth 2.0 scopes.
//!
//! One attribute above a handler rejects requests without a token, with a bad token or with too
//! few scopes, each with the RFC 6750 answer (401, 400 or 403 and a precise `WWW-Authenticate`),
//! and hands the handler the verified [`Claims`]:
//!
//! ```
//! use oauth_runtime::{Claims, requires_scope};
//!
//! #[requires_scope("photos:read")]
//! async fn list_photos(claims: Claims) -> String {
//!     format!("photos of {}", claims.subject().unwrap_or("?"))
//! }
//! ```
//!
//! The pieces, one module each:
//! - scopes and requirements: [`ScopeToken`], [`ScopeSet`], [`Requirement`];
//! - verification: the [`TokenVerifier`] trait, [`JwtVerifier`] and its [`Key`]s, [`Claims`],
//!   several issuers ([`MultiIssuerVerifier`]), the token cache ([`CachedVerifier`]), the one
//!   [`Clock`] they all read, and what skips claim checks fenced in [`dangerous`];
//! - sender-constrained tokens: [`dpop`] (RFC 9449);
//! - answers: [`AuthError`] and [`ErrorResponse`];
//! - the installed configuration, [`Authenticator`], and the typed [`ScopeGuard`];
//! - configuration files: [`AuthConfig`];
//! - the numbers operators watch: [`metrics`] (names and labels; recorded with feature `metrics`);
//! - framework adapters behind cargo features: `axum` (default) and `rocket`.
//!
//! # Layers
//!
//! The source is in one folder per layer, and imports point one way, down this list; nothing
//! imports a layer above it:
//! 1. `frameworks/`: the adapters (`axum`, `rocket`), and `dev/`, the development server, each
//!    behind its cargo feature;
//! 2. `docs/`: the scope catalog ([`catalog`], `openapi`) and the RFC 9728 metadata document
//!    ([`ProtectedResource::document`] is written in `catalog`);
//! 3. `request/`: the request path with no framework: [`Authenticator`], bearer parsing,
//!    [`AuthError`] and its RFC 6750 answers, [`ScopeGuard`], configuration files,
//!    [`ProtectedResource`]'s challenge link;
//! 4. `verify/`: [`TokenVerifier`], [`JwtVerifier`] (the JWS layer apart from claim
//!    validation), key sets, introspection, [`MultiIssuerVerifier`], [`CachedVerifier`], the one
//!    claim-validation routine they share, DPoP proof checks ([`dpop`]), which the request path
//!    runs after the verifier, and what skips claim checks ([`dangerous`]);
//! 5. the root: the vocabulary: scopes, requirements, the scopes the program declares and their
//!    hierarchy, [`Claims`], [`VerifyError`], the one [`Clock`].
//!
//! The core (layers 3 to 5) depends on no web framework and reads nothing of the catalog: the
//! scope hierarchy that authorization applies is the vocabulary's (`declared.rs`), and the
//! catalog re-exports it. [`metrics`] stands beside the layers: every layer records through it.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// The vocabulary, which every layer reads; and `metrics` and `fuzzing`, beside the layers.
mod claims;
mod clock;
mod declared;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
mod requirement;
mod scope;

// The layers of the list above, one folder each.
#[cfg(feature = "dev-server")]
pub mod dev;
mod docs;
mod frameworks;
mod request;
mod verify;

// The public modules keep their paths at the root, wherever their folder is.
pub use docs::catalog;
#[cfg(feature = "utoipa")]
pub use docs::openapi;
#[cfg(feature = "axum")]
pub use frameworks::axum;
#[cfg(feature = "rocket")]
pub use frameworks::rocket;
pub use verify::dangerous;
pub use verify::dpop;
#[cfg(feature = "redis")]
pub use verify::dpop_redis;

pub use claims::{Claims, ScopeClaim};
pub use clock::{Clock, ManualClock, SystemClock};
pub use request::authenticator::{
    Authenticator, AuthenticatorBuilder, AuthenticatorError, HttpRequest,
};
pub use request::config::IssuerConfig;
pub use request::config::{AuthConfig, AuthConfigError, DpopConfig};
pub use request::guard::ScopeGuard;
pub use request::rejection::{AuthError, ErrorResponse};
pub use request::resource::{ProtectedResource, ResourceUriError, canonical_resource_uri};
pub use requirement::{
    AuthnRequirement, Requirement, ScopeRequirement, StepUpFailure, Unsatisfied,
};
pub use scope::{ScopeError, ScopeSet, ScopeToken};
pub use verify::cache::CachedVerifier;
pub use verify::dpop::{DpopMode, DpopVerifier};
#[cfg(feature = "remote")]
pub use verify::introspect::IntrospectionVerifier;
pub use verify::issuers::{
    IssuerResolver, MAX_ISSUER_LEN, MultiIssuerError, MultiIssuerVerifier,
    MultiIssuerVerifierBuilder, ResolveError,
};
#[cfg(feature = "remote")]
pub use verify::jwks::{JwksSettings, RemoteKeySet, redirect_policy as jwks_redirect_policy};
pub use verify::jwt::{
    ConfigError, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, JwtVerifier, JwtVerifierBuilder,
    VerifierConfigError,
};
pub use verify::keys::{Key, KeyError, keys_from_jwk_set};
pub use verify::signing::SigningKey;
pub use verify::{ConfirmationMethod, TokenVerifier, VerifyError};

/// The JOSE signature algorithms (from `jsonwebtoken`).
pub use jsonwebtoken::Algorithm;

/// For implementing [`TokenVerifier`] without depending on `async-trait` yourself.
pub use async_trait::async_trait;

/// Requires OAuth 2.0 scopes for a request handler.
///
/// ```
/// use oauth_runtime::{Claims, requires_scope};
///
/// // One scope.
/// #[requires_scope("photos:read")]
/// async fn list_photos(claims: Claims) -> String { String::new() }
///
/// // Several: all of them are needed.
/// #[requires_scope("photos:write", "photos:delete")]
/// async fn delete_photo() {}
///
/// // One of several is enough; `all` and `any` nest.
/// #[requires_scope(any("photos:read", "albums:read"))]
/// async fn list_albums() {}
///
/// #[requires_scope(all(any("photos:read", "albums:read"), "profile"))]
/// async fn profile_with_albums() {}
/// ```
///
/// The attribute adds a first parameter of type [`ScopeGuard`], so the check runs before any
/// other extractor, and a zero-sized type standing for the requirement, named after the function.
/// Everything else about the function stays as written: attributes, docs, visibility, generics,
/// `where` clauses, `async`, parameters and return type. The required scopes are appended to the
/// function's documentation.
///
/// Scopes are checked at compile time against RFC 6749 §3.3 (printable ASCII except space, `"`
/// and `\`); empty scopes, duplicates in one list, unknown keywords and non-literals are compile
/// errors that point at the offending token.
///
/// On free functions it works alone. The requirement type is defined beside the function, which
/// an `impl` block does not allow: for associated functions put [`scoped_handlers`] on the block.
/// On Rocket, put it above the route attribute.
///
/// The expansion names the runtime as `::oauth_runtime`. A crate that renames the dependency
/// (`renamed = { package = "oauth-runtime", .. }`) or reaches it through a re-export gives the
/// path with `crate = ..`:
///
/// ```
/// mod my_reexport {
///     pub use oauth_runtime;
/// }
///
/// #[oauth_runtime::requires_scope("photos:read", crate = my_reexport::oauth_runtime)]
/// async fn list_photos() {}
/// ```
pub use oauth_macros::requires_scope;

/// Lets [`requires_scope`] protect the associated functions (no `self`) of an inherent `impl`
/// block, such as handlers grouped under the type whose state they share.
///
/// An attribute on a function can only write items where the function is, and Rust allows no
/// struct inside an `impl` block, so `#[requires_scope]` alone on an associated function fails
/// with "struct is not supported in `trait`s or `impl`s". This attribute sees the whole block:
/// it puts each handler's requirement type and catalog entry before the block (named after the
/// block's type and the function, as `Photos::list` in the catalog) and its guard parameter into
/// the function, as on a free function.
///
/// ```
/// use axum::{Router, routing::get};
/// use oauth_runtime::{Claims, requires_scope, scoped_handlers};
///
/// struct Photos;
///
/// #[scoped_handlers]
/// impl Photos {
///     #[requires_scope("photos:read")]
///     async fn list(claims: Claims) -> String {
///         claims.subject().unwrap_or_default().to_owned()
///     }
///
///     #[requires_scope("photos:write")]
///     async fn upload() {}
/// }
///
/// let app: Router = Router::new().route("/photos", get(Photos::list).post(Photos::upload));
/// # let _ = app;
/// ```
///
/// Methods with `self` are refused (a router calls handlers without a value to call them on), as
/// are trait `impl` blocks (a trait's signature cannot gain a parameter). Rocket's route
/// attributes do not work on associated functions, so this is for axum and direct calls.
pub use oauth_macros::scoped_handlers;
