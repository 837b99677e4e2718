//! Rejections and their RFC 6750 answers, shared by every framework adapter so that axum and
//! Rocket answer byte for byte alike.

use crate::requirement::Requirement;
use crate::scope::ScopeSet;
use crate::verify::VerifyError;

/// Why a request was not let through.
///
/// ```
/// use oauth_runtime::{AuthError, VerifyError};
///
/// assert_eq!(AuthError::MissingToken.status(), 401);
/// assert_eq!(AuthError::MissingToken.error_code(), None);
/// let expired = AuthError::InvalidToken(VerifyError::Expired);
/// assert_eq!((expired.status(), expired.error_code()), (401, Some("invalid_token")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer credentials at all (RFC 6750 §3.1: answered without an error code).
    #[error("no bearer token in the request")]
    MissingToken,
    /// The credentials are malformed or sent more than once (RFC 6750 §3.1 `invalid_request`).
    #[error("malformed request: {0}")]
    InvalidRequest(&'static str),
    /// The token did not verify (RFC 6750 §3.1 `invalid_token`), or the verifier could not run
    /// ([`VerifyError::Unavailable`], answered 503).
    #[error("token rejected: {0}")]
    InvalidToken(#[from] VerifyError),
    /// The token is valid but lacks scopes (RFC 6750 §3.1 `insufficient_scope`).
    #[error("insufficient scope: the handler requires {required}; the token grants [{granted}]")]
    InsufficientScope {
        /// The handler's whole requirement.
        required: Requirement,
        /// What the token grants.
        granted: ScopeSet,
    },
    /// No verifier was installed for the route: a programming error, answered 500.
    #[error(
        "no oauth_runtime::Authenticator is installed for this route: add \
         `.layer(authenticator.layer())` to the axum Router (or attach the Rocket fairing)"
    )]
    NotConfigured,
}

impl AuthError {
    /// The HTTP status: 400, 401, 403, 500 or 503.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingToken => 401,
            AuthError::InvalidRequest(_) => 400,
            AuthError::InvalidToken(VerifyError::Unavailable(_)) => 503,
            AuthError::InvalidToken(_) => 401,
            AuthError::InsufficientScope { .. } => 403,
            AuthError::NotConfigured => 500,
        }
    }

    /// The RFC 6750 §3.1 error code, where one applies.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(VerifyError::Unavailable(_)) => None,
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
            AuthError::MissingToken | AuthError::NotConfigured => None,
        }
    }

    fn description(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "a bearer token is required",
            AuthError::InvalidRequest(why) => why,
            AuthError::InvalidToken(e) => e.description(),
            AuthError::InsufficientScope { .. } => "the access token lacks a required scope",
            AuthError::NotConfigured => "authentication is not configured",
        }
    }
}

/// A rejection as the client sees it, independent of any web framework: status,
/// `WWW-Authenticate` value and a small JSON body (`Content-Type: application/json`).
///
/// ```
/// use oauth_runtime::{AuthError, ErrorResponse, VerifyError};
///
/// let answer = ErrorResponse::new(&AuthError::InvalidToken(VerifyError::Expired), Some("photos"));
/// assert_eq!(answer.status, 401);
/// assert_eq!(
///     answer.www_authenticate.as_deref(),
///     Some(r#"Bearer realm="photos", error="invalid_token", error_description="the access token expired""#)
/// );
/// assert_eq!(answer.body, r#"{"error":"invalid_token","error_description":"the access token expired"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `WWW-Authenticate` header, for 400, 401 and 403.
    pub www_authenticate: Option<String>,
    /// The JSON body.
    pub body: String,
}

impl ErrorResponse {
    /// The standard answer to `error`. `realm` must already be a valid quoted-string body (the
    /// [`Authenticator`](crate::Authenticator) builder checks it).
    pub fn new(error: &AuthError, realm: Option<&str>) -> ErrorResponse {
        ErrorResponse::with_resource_metadata(error, realm, None)
    }

    /// As [`ErrorResponse::new`], with the RFC 9728 §5.1 `resource_metadata` parameter (the
    /// metadata URL) in 401 and 403 challenges.
    pub fn with_resource_metadata(
        error: &AuthError,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
    ) -> ErrorResponse {
        let code = error.error_code();
        let description = error.description();
        let scope = match error {
            AuthError::InsufficientScope { required, .. } => {
                Some(required.sufficient_scopes().to_string())
            }
            _ => None,
        };

        let www_authenticate = matches!(error.status(), 400 | 401 | 403).then(|| {
            // Every value below is either ours (fixed ASCII text without `"` or `\`) or made of
            // scope tokens, which RFC 6749 §3.3 keeps free of both: no escaping is needed.
            let mut params: Vec<String> = Vec::new();
            if let Some(realm) = realm {
                params.push(format!("realm=\"{realm}\""));
            }
            if let Some(code) = code {
                params.push(format!("error=\"{code}\""));
                params.push(format!("error_description=\"{description}\""));
            }
            if let Some(scope) = &scope {
                params.push(format!("scope=\"{scope}\""));
            }
            if let Some(url) = resource_metadata.filter(|_| error.status() != 400) {
                params.push(format!("resource_metadata=\"{url}\""));
            }
            if params.is_empty() {
                "Bearer".to_owned()
            } else {
                format!("Bearer {}", params.join(", "))
            }
        });

        let mut body = serde_json::Map::new();
        let body_code = code.unwrap_or(match error.status() {
            401 => "unauthorized",
            503 => "temporarily_unavailable",
            _ => "server_error",
        });
        body.insert("error".into(), body_code.into());
        body.insert("error_description".into(), description.into());
        if let Some(scope) = scope {
            body.insert("scope".into(), scope.into());
        }
        ErrorResponse {
            status: error.status(),
            www_authenticate,
            body: serde_json::Value::Object(body).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeToken;
    use std::borrow::Cow;

    #[test]
    fn rfc6750_section_3_1_no_credentials_gets_no_error_code() {
        let r = ErrorResponse::new(&AuthError::MissingToken, None);
        assert_eq!(
            (r.status, r.www_authenticate.as_deref()),
            (401, Some("Bearer"))
        );
        let r = ErrorResponse::new(&AuthError::MissingToken, Some("api"));
        assert_eq!(r.www_authenticate.as_deref(), Some("Bearer realm=\"api\""));
    }

    #[test]
    fn rfc6750_section_3_insufficient_scope_names_the_scope() {
        static BOTH: [Requirement; 2] = [
            Requirement::Scope(ScopeToken::from_static("photos:write")),
            Requirement::Scope(ScopeToken::from_static("photos:delete")),
        ];
        let e = AuthError::InsufficientScope {
            required: Requirement::All(Cow::Borrowed(&BOTH)),
            granted: ScopeSet::new(),
        };
        let r = ErrorResponse::new(&e, None);
        assert_eq!(r.status, 403);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(
                "Bearer error=\"insufficient_scope\", error_description=\"the access token lacks a required scope\", \
                 scope=\"photos:delete photos:write\""
            )
        );
        assert!(r.body.contains("\"scope\":\"photos:delete photos:write\""));
    }

    #[test]
    fn misconfiguration_and_outage_carry_no_challenge() {
        let r = ErrorResponse::new(&AuthError::NotConfigured, None);
        assert_eq!((r.status, r.www_authenticate), (500, None));
        let r = ErrorResponse::new(
            &AuthError::InvalidToken(VerifyError::Unavailable("down".into())),
            None,
        );
        assert_eq!((r.status, r.www_authenticate), (503, None));
        assert!(
            !r.body.contains("down"),
            "internal reasons stay in the logs"
        );
    }
}
