//! The verifier abstraction: turn a bearer token into verified [`Claims`] or say why not.
//!
//! Layer 4 of the crate (see its front page): a bearer token in, [`Claims`] or a reason out;
//! no web framework and no HTTP request here. JWS and JWT checks, key sets, introspection,
//! several issuers, the verified-token cache, and DPoP proofs (RFC 9449), which the request path
//! runs after the verifier.

// What the trait's implementations are made of, and the implementations.
pub(crate) mod cache;
pub mod dangerous;
pub mod dpop;
#[cfg(feature = "redis")]
pub mod dpop_redis;
#[cfg(feature = "remote")]
pub(crate) mod introspect;
pub(crate) mod issuers;
#[cfg(feature = "remote")]
pub(crate) mod jwks;
pub(crate) mod jws;
pub(crate) mod jwt;
pub(crate) mod keys;
pub(crate) mod signing;
#[cfg(feature = "remote")]
pub(crate) mod token_shape;
pub(crate) mod validation;

use std::sync::Arc;

use crate::claims::Claims;
pub use crate::error::{ConfirmationMethod, VerifyError};

/// Verifies bearer tokens. Implemented by [`JwtVerifier`](crate::JwtVerifier); implement it for
/// other token formats.
///
/// ```
/// use oauth_runtime::{Claims, ScopeClaim, TokenVerifier, VerifyError};
///
/// /// Accepts one fixed token, for a demo.
/// struct Fixed;
///
/// #[oauth_runtime::async_trait]
/// impl TokenVerifier for Fixed {
///     async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
///         if token != "let-me-in" {
///             return Err(VerifyError::InvalidSignature);
///         }
///         let json = serde_json::json!({ "sub": "demo", "scope": "photos:read" });
///         Claims::from_json(json, &ScopeClaim::Standard)
///     }
/// }
/// # let claims = futures_lite_block_on(Fixed.verify("let-me-in")).unwrap();
/// # assert!(claims.scopes().contains("photos:read"));
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token` and returns its claims.
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError>;

    /// An answer known without any work that could wait, such as a cache hit; `None` means ask
    /// [`TokenVerifier::verify`]. Lets the request path skip the boxed future of `verify` on
    /// hits. The default knows nothing.
    ///
    /// `token` is given as the request carried it, before its syntax is checked (RFC 6750 §2.1)
    /// or even known to be UTF-8, since checking costs more per byte than a lookup. Answer
    /// `Some(Ok(..))` only for a token this verifier accepted before, byte for byte; the request
    /// path uses a refusal only after the syntax checks passed.
    fn verify_now(&self, _token: &[u8]) -> Option<Result<Claims, VerifyError>> {
        None
    }

    /// The longest a [`CachedVerifier`](crate::CachedVerifier) in front should keep an accepted
    /// token when its own `max_ttl` is not set: a verifier whose answers can change before the
    /// token expires (introspection sees revocations) says how stale they may get. `None`, the
    /// default, leaves the cache's own default.
    fn suggested_cache_ttl(&self) -> Option<std::time::Duration> {
        None
    }
}

#[async_trait::async_trait]
impl<T: TokenVerifier + ?Sized> TokenVerifier for Arc<T> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        (**self).verify(token).await
    }
    fn verify_now(&self, token: &[u8]) -> Option<Result<Claims, VerifyError>> {
        (**self).verify_now(token)
    }
    fn suggested_cache_ttl(&self) -> Option<std::time::Duration> {
        (**self).suggested_cache_ttl()
    }
}

#[async_trait::async_trait]
impl<T: TokenVerifier + ?Sized> TokenVerifier for Box<T> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        (**self).verify(token).await
    }
    fn verify_now(&self, token: &[u8]) -> Option<Result<Claims, VerifyError>> {
        (**self).verify_now(token)
    }
    fn suggested_cache_ttl(&self) -> Option<std::time::Duration> {
        (**self).suggested_cache_ttl()
    }
}
