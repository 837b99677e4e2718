//! The typed guard that `#[requires_scope]` adds to a handler.

use std::fmt;
use std::marker::PhantomData;

use crate::claims::Claims;
use crate::request::authenticator::Authenticator;
use crate::request::rejection::AuthError;
use crate::requirement::{AuthnRequirement, Requirement, ScopeRequirement};

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
    /// Checks already verified claims against `R` with `authenticator`'s rules: the scopes
    /// first, then the user authentication (`acr`, `auth_time`) where `R` asks for it.
    ///
    /// Scopes come first because a token without them is refused (403) whatever the user's
    /// authentication: asking for a step-up (RFC 9470 §3) would only send the user through a
    /// second factor to be refused afterwards. The step-up 401 is for a token that is otherwise
    /// good enough, which is the case RFC 9470 §3 describes.
    pub fn check(authenticator: &Authenticator, claims: Claims) -> Result<Self, AuthError> {
        check_claims(authenticator, &claims, R::REQUIREMENT, R::AUTHENTICATION)?;
        Ok(ScopeGuard::admit(claims))
    }

    /// The guard for claims that [`check_claims`] accepted with `R`'s requirement. The adapters'
    /// extractors end here, so that all their work is in non-generic code compiled once for every
    /// handler, and only this wrapping is instantiated per requirement type.
    pub(crate) fn admit(claims: Claims) -> Self {
        ScopeGuard {
            claims,
            _requirement: PhantomData,
        }
    }

    /// The requirement this guard enforces.
    pub fn requirement() -> &'static Requirement {
        R::REQUIREMENT
    }

    /// Whether the handler requires a DPoP-bound token (the attribute's `dpop` flag): the
    /// framework adapters then authenticate the request with
    /// [`Authenticator::authenticate_route`].
    pub fn requires_dpop() -> bool {
        R::AUTHENTICATION.is_some_and(|a| a.requires_dpop())
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

/// [`ScopeGuard::check`] without the type: what every guard checks, whatever its requirement.
/// Non-generic so that it is compiled once, in this crate, and not once per protected handler.
pub(crate) fn check_claims(
    authenticator: &Authenticator,
    claims: &Claims,
    requirement: &'static Requirement,
    authentication: Option<&'static AuthnRequirement>,
) -> Result<(), AuthError> {
    authenticator.authorize(claims, requirement)?;
    if let Some(authentication) = authentication {
        authenticator.authorize_authentication(claims, authentication)?;
    }
    crate::metrics::request_allowed();
    Ok(())
}

/// Shows the requirement only. The guard is a parameter of every protected handler, so
/// `#[tracing::instrument]` and the like record it; the claims (subject, client, audience,
/// scopes) stay out of logs unless the handler asks for them through [`ScopeGuard::claims`].
///
/// ```
/// # use oauth_runtime::{Requirement, ScopeGuard, ScopeRequirement, ScopeToken};
/// # struct CanRead;
/// # impl ScopeRequirement for CanRead {
/// #     const REQUIREMENT: &'static Requirement =
/// #         &Requirement::Scope(ScopeToken::from_static("photos:read"));
/// # }
/// # fn show(guard: &ScopeGuard<CanRead>) {
/// assert_eq!(format!("{guard:?}"), "ScopeGuard { requirement: photos:read, .. }");
/// # }
/// ```
impl<R: ScopeRequirement> fmt::Debug for ScopeGuard<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard")
            .field("requirement", &format_args!("{}", R::REQUIREMENT))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeToken;

    struct CanRead;
    impl ScopeRequirement for CanRead {
        const REQUIREMENT: &'static Requirement =
            &Requirement::Scope(ScopeToken::from_static("photos:read"));
    }

    #[test]
    fn debug_shows_the_requirement_and_never_the_claims() {
        let json = serde_json::json!({
            "iss": "https://issuer.test",
            "sub": "alice",
            "client_id": "photo-app",
            "aud": "photos-api",
            "scope": "photos:read",
        });
        let claims = Claims::from_json(json, &crate::claims::ScopeClaim::Standard).expect("claims");
        let guard = ScopeGuard::<CanRead> {
            claims,
            _requirement: PhantomData,
        };
        let shown = format!("{guard:?} {guard:#?}");
        for claim in ["alice", "photo-app", "photos-api", "issuer.test"] {
            assert!(!shown.contains(claim), "{claim} in {shown}");
        }
        assert!(shown.starts_with("ScopeGuard { requirement: photos:read, .. }"));
    }
}
