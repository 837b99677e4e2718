//! The typed guard that `#[requires_scope]` adds to a handler.

use std::fmt;
use std::marker::PhantomData;

use crate::authenticator::Authenticator;
use crate::claims::Claims;
use crate::error::AuthError;
use crate::requirement::{Requirement, ScopeRequirement};

/// Proof that the request carried a verified token meeting `R`'s requirement.
///
/// `#[requires_scope(..)]` adds a parameter of this type to the handler, first, so it runs before
/// any extractor that reads the body. The framework work is done by this type's trait impls
/// (axum's `FromRequestParts`, Rocket's `FromRequest`), behind cargo features. Handlers normally
/// take [`Claims`] instead of naming this type.
///
/// ```
/// use oauth_runtime::{Requirement, ScopeGuard, ScopeRequirement, requires_scope};
///
/// #[requires_scope("photos:write", "photos:delete")]
/// async fn delete_photo() {}
///
/// // What the attribute generates is an ordinary type implementing `ScopeRequirement`; the same
/// // can be written by hand for a guard used without the attribute.
/// struct CanModerate;
/// impl ScopeRequirement for CanModerate {
///     const REQUIREMENT: &'static Requirement =
///         &Requirement::Scope(oauth_runtime::ScopeToken::from_static("photos:moderate"));
/// }
/// async fn moderate(_guard: ScopeGuard<CanModerate>) {}
/// assert_eq!(ScopeGuard::<CanModerate>::requirement().to_string(), "photos:moderate");
/// ```
pub struct ScopeGuard<R> {
    claims: Claims,
    _requirement: PhantomData<fn() -> R>,
}

impl<R: ScopeRequirement> ScopeGuard<R> {
    /// Checks already verified claims against `R` with `authenticator`'s rules.
    pub fn check(authenticator: &Authenticator, claims: Claims) -> Result<Self, AuthError> {
        authenticator.authorize(&claims, R::REQUIREMENT)?;
        Ok(ScopeGuard {
            claims,
            _requirement: PhantomData,
        })
    }

    /// The requirement this guard enforces.
    pub fn requirement() -> &'static Requirement {
        R::REQUIREMENT
    }

    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The verified claims, by value.
    pub fn into_claims(self) -> Claims {
        self.claims
    }
}

impl<R: ScopeRequirement> fmt::Debug for ScopeGuard<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard")
            .field("requirement", &format_args!("{}", R::REQUIREMENT))
            .field("claims", &self.claims)
            .finish()
    }
}
