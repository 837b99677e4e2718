//! The installed configuration: which verifier, which realm, how rejections look. Framework
//! adapters hand it the request's credentials and turn its answers into responses.

use std::fmt;
use std::sync::Arc;

use crate::bearer;
use crate::claims::Claims;
use crate::error::{AuthError, ErrorResponse};
use crate::jwt::DEFAULT_MAX_TOKEN_LEN;
use crate::requirement::Requirement;
use crate::resource::ProtectedResource;
use crate::verify::{TokenVerifier, VerifyError};

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
        if let Some(customize) = &self.customize {
            let metadata = self.resource.as_ref().map(ProtectedResource::metadata_url);
            for error in sample_rejections() {
                let standard = ErrorResponse::with_resource_metadata(
                    &error,
                    self.realm.as_deref(),
                    metadata.as_deref(),
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
        })))
    }
}

/// One rejection of each kind, to try a custom answer on before the first request.
fn sample_rejections() -> [AuthError; 7] {
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
    /// are given here, checked against a token in `query`) and verifies it.
    pub async fn authenticate<'a>(
        &self,
        authorization: impl Iterator<Item = &'a [u8]>,
        query: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let header = bearer::located(authorization, query, self.0.max_token_len)?;
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

    /// The answer to send for `error`: the standard RFC 6750 one, passed through
    /// [`AuthenticatorBuilder::map_response`] when set. Also logs the rejection at debug level
    /// (500s at error level), with its reason and never the token.
    pub fn reject(&self, error: &AuthError) -> ErrorResponse {
        match error {
            AuthError::NotConfigured => tracing::error!("{error}"),
            _ => tracing::debug!(reason = %error, "request rejected"),
        }
        let metadata = self
            .0
            .resource
            .as_ref()
            .map(ProtectedResource::metadata_url);
        let standard = ErrorResponse::with_resource_metadata(
            error,
            self.0.realm.as_deref(),
            metadata.as_deref(),
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
}
