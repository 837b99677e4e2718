//! Rejections and their RFC 6750 answers, shared by every framework adapter so that axum and
//! Rocket answer byte for byte alike.

use std::borrow::Cow;

use crate::requirement::{AuthnRequirement, Requirement, StepUpFailure};
use crate::scope::ScopeSet;
use crate::verify::VerifyError;
use crate::verify::dpop::DpopError;

/// The `Retry-After` of every 503 answer, in seconds. A 503 of ours means a dependency (key set,
/// introspection endpoint, DPoP replay store) is out for now; clients told when to come back
/// do not retry in a tight loop while it is.
#[cfg(any(feature = "axum", feature = "rocket"))]
pub(crate) const RETRY_AFTER_SECONDS: &str = "5";

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
    /// The token has the scopes, but the user's authentication behind it is too weak (`acr`)
    /// or too old (`auth_time`) for the handler (RFC 9470 §3 `insufficient_user_authentication`,
    /// answered 401 with `acr_values` and/or `max_age` in the challenge).
    #[error("insufficient user authentication: the handler requires {required}")]
    InsufficientUserAuthentication {
        /// The handler's requirement; its `acr` values and `max_age` go into the challenge.
        required: AuthnRequirement,
        /// Which part the token fell short of: it picks the description.
        failed: StepUpFailure,
    },
    /// A DPoP proof, or the binding between it and the token, was refused (RFC 9449 §7.1:
    /// `invalid_dpop_proof` or `invalid_token`, on the `DPoP` challenge), or the replay store
    /// could not answer (503).
    #[error("DPoP: {0}")]
    Dpop(#[from] DpopError),
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
            AuthError::Dpop(DpopError::StoreUnavailable(_)) => 503,
            AuthError::Dpop(_) => 401,
            AuthError::InsufficientScope { .. } => 403,
            AuthError::InsufficientUserAuthentication { .. } => 401,
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
            AuthError::InsufficientUserAuthentication { .. } => {
                Some("insufficient_user_authentication")
            }
            AuthError::Dpop(DpopError::StoreUnavailable(_)) => None,
            AuthError::Dpop(e) => Some(e.code()),
            AuthError::MissingToken | AuthError::NotConfigured => None,
        }
    }

    fn description(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "a bearer token is required",
            AuthError::InvalidRequest(why) => why,
            AuthError::InvalidToken(e) => e.description(),
            AuthError::Dpop(e) => e.description(),
            AuthError::InsufficientScope { .. } => "the access token lacks a required scope",
            AuthError::InsufficientUserAuthentication {
                failed: StepUpFailure::Acr,
                ..
            } => "a stronger user authentication is required",
            AuthError::InsufficientUserAuthentication { .. } => {
                "a more recent user authentication is required"
            }
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
        ErrorResponse::build(error, realm, resource_metadata, None, None)
    }

    /// The answer with the challenges of the schemes an authenticator accepts. `route_scope`,
    /// the scopes of the route (made of scope tokens), goes into a 401's `scope` parameter.
    pub(crate) fn build(
        error: &AuthError,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        dpop: Option<DpopChallenge<'_>>,
        route_scope: Option<String>,
    ) -> ErrorResponse {
        let code = error.error_code();
        // The same text in the challenge and the body, so both carry what RFC 6750 §3 allows.
        let description = rfc6750_text(error.description());
        let scope = match error {
            AuthError::InsufficientScope { required, .. } => {
                Some(required.sufficient_scopes().to_string())
            }
            _ => route_scope.filter(|_| error.status() == 401),
        };
        // RFC 9470 §3: what a new authorization request must ask for, the whole requirement
        // whichever part failed, so that one round trip meets it.
        let (acr_values, max_age) = match error {
            AuthError::InsufficientUserAuthentication { required, .. } => (
                Some(required.acr_values().join(" ")).filter(|v| !v.is_empty()),
                required.max_age_secs(),
            ),
            _ => (None, None),
        };

        let www_authenticate = matches!(error.status(), 400 | 401 | 403).then(|| {
            // Every value below is either ours (made RFC 6750 §3 text above), checked when the
            // `Authenticator` was built (realm, metadata URL, algorithm names) or made of scope
            // tokens, which RFC 6749 §3.3 keeps free of `"` and `\`: no escaping is needed.
            let mut leading: Vec<String> = Vec::new();
            if let Some(realm) = realm {
                leading.push(format!("realm=\"{realm}\""));
            }
            let mut detail: Vec<String> = Vec::new();
            if let Some(code) = code {
                detail.push(format!("error=\"{code}\""));
                detail.push(format!("error_description=\"{description}\""));
            }
            if let Some(scope) = &scope {
                detail.push(format!("scope=\"{scope}\""));
            }
            // acr values are checked to be free of space, `"` and `\` when the requirement
            // is built, like scope tokens.
            if let Some(acr_values) = &acr_values {
                detail.push(format!("acr_values=\"{acr_values}\""));
            }
            if let Some(max_age) = max_age {
                detail.push(format!("max_age=\"{max_age}\""));
            }
            let mut trailing: Vec<String> = Vec::new();
            if let Some(url) = resource_metadata.filter(|_| error.status() != 400) {
                trailing.push(format!("resource_metadata=\"{url}\""));
            }
            let challenge = |scheme: &str, with_detail: bool, extra: Option<String>| {
                let params: Vec<&String> = leading
                    .iter()
                    .chain(detail.iter().filter(|_| with_detail))
                    .chain(trailing.iter())
                    .chain(extra.iter())
                    .collect();
                if params.is_empty() {
                    scheme.to_owned()
                } else {
                    let joined: Vec<&str> = params.iter().map(|p| p.as_str()).collect();
                    format!("{scheme} {}", joined.join(", "))
                }
            };
            match dpop {
                None => challenge("Bearer", true, None),
                Some(dpop) => {
                    // RFC 9449 §7.1: the error goes with the scheme the client used; a
                    // proof's own errors are always the DPoP scheme's.
                    let on_dpop =
                        matches!(error, AuthError::Dpop(_)) || dpop.via_dpop || !dpop.bearer_too;
                    let algs = format!("algs=\"{}\"", dpop.algs);
                    let dpop_challenge = challenge("DPoP", on_dpop, Some(algs));
                    if dpop.bearer_too {
                        format!("{}, {dpop_challenge}", challenge("Bearer", !on_dpop, None))
                    } else {
                        dpop_challenge
                    }
                }
            }
        });

        let mut body = serde_json::Map::new();
        let body_code = code.unwrap_or(match error.status() {
            401 => "unauthorized",
            503 => "temporarily_unavailable",
            _ => "server_error",
        });
        body.insert("error".into(), body_code.into());
        body.insert("error_description".into(), description.as_ref().into());
        if let Some(scope) = scope {
            body.insert("scope".into(), scope.into());
        }
        if let Some(acr_values) = acr_values {
            body.insert("acr_values".into(), acr_values.into());
        }
        if let Some(max_age) = max_age {
            body.insert("max_age".into(), max_age.into());
        }
        ErrorResponse {
            status: error.status(),
            www_authenticate,
            body: serde_json::Value::Object(body).to_string(),
        }
    }
}

impl ErrorResponse {
    /// Why this answer cannot be sent as it is, if it cannot: a status that is not an error, a
    /// challenge that is no valid header value (a control character, a byte beyond ASCII, an
    /// unterminated quoted-string), or an `error` or `error_description` parameter outside RFC
    /// 6750 §3 (`"`, `\` or a control character). Frameworks would drop such a header silently
    /// (axum) or the whole connection (Rocket).
    pub(crate) fn problem(&self) -> Option<String> {
        if !(400..=599).contains(&self.status) {
            return Some(format!(
                "status {} is not an error status (400 to 599)",
                self.status
            ));
        }
        let challenge = self.www_authenticate.as_deref()?;
        if challenge.is_empty() || !challenge.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Some(format!(
                "the WWW-Authenticate value {challenge:?} is empty or holds a control character \
                 or a byte that is not printable ASCII"
            ));
        }
        let params = match auth_params(challenge) {
            Ok(params) => params,
            Err(why) => return Some(format!("the WWW-Authenticate value {challenge:?} {why}")),
        };
        params
            .into_iter()
            .find(|(name, value)| {
                let checked = ["error", "error_description"]
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n));
                let inner = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                checked && !is_rfc6750_text(inner)
            })
            .map(|(name, value)| {
                format!(
                    "the `{name}` parameter {value} holds `\"`, `\\` or a control character, \
                     which RFC 6750 §3 does not allow"
                )
            })
    }
}

/// How the `DPoP` challenge of an authenticator that accepts the scheme is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DpopChallenge<'a> {
    /// `algs` (RFC 9449 §7.1): the accepted proof algorithms, space-separated.
    pub(crate) algs: &'a str,
    /// Whether a `Bearer` challenge comes first (bearer tokens are accepted too).
    pub(crate) bearer_too: bool,
    /// Whether the request used the `DPoP` scheme, so its error goes on that challenge.
    pub(crate) via_dpop: bool,
}

/// RFC 6750 §3: `error` and `error_description` are `%x20-21 / %x23-5B / %x5D-7E`, printable
/// ASCII without `"` and `\`, so that they never need escaping.
fn is_rfc6750_text(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// `text` as RFC 6750 §3 allows it: `"` becomes `'`, any other byte outside the set `?`.
fn rfc6750_text(text: &str) -> Cow<'_, str> {
    if is_rfc6750_text(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '"' => '\'',
                c if c.is_ascii() && is_rfc6750_text(c.encode_utf8(&mut [0; 4])) => c,
                _ => '?',
            })
            .collect(),
    )
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `name=value` auth-parameters of a challenge (RFC 9110 §11.2), each value as written
/// (a token, or a quoted-string with its quotes). Scheme names, token68 and separators are
/// passed over; only an unterminated quoted-string is an error.
fn auth_params(challenge: &str) -> Result<Vec<(&str, &str)>, &'static str> {
    let bytes = challenge.as_bytes();
    let skip_spaces = |mut i: usize| {
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        i
    };
    let mut params = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while bytes.get(i).is_some_and(|&b| is_tchar(b)) {
            i += 1;
        }
        if i == start {
            i += 1;
            continue;
        }
        let name = &challenge[start..i];
        let equals = skip_spaces(i);
        if bytes.get(equals) != Some(&b'=') {
            continue;
        }
        let value_start = skip_spaces(equals + 1);
        let mut end = value_start;
        if bytes.get(end) == Some(&b'"') {
            end += 1;
            loop {
                match bytes.get(end) {
                    None => return Err("has an unterminated quoted-string"),
                    Some(b'"') => break,
                    Some(b'\\') => end += 2,
                    Some(_) => end += 1,
                }
            }
            end += 1;
        } else {
            while bytes.get(end).is_some_and(|&b| is_tchar(b)) {
                end += 1;
            }
        }
        params.push((name, challenge.get(value_start..end).unwrap_or_default()));
        i = end.max(equals + 1);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeToken;
    use std::borrow::Cow;

    /// RFC 9470 §3: 401 `insufficient_user_authentication`, with `acr_values` and `max_age`
    /// of the whole requirement whichever part failed, so that one new authorization meets it.
    #[test]
    fn rfc9470_section_3_insufficient_user_authentication_challenge() {
        let required = AuthnRequirement::new()
            .acr(&["urn:example:mfa", "urn:example:hwk"])
            .max_age(300);
        let acr = AuthError::InsufficientUserAuthentication {
            required,
            failed: StepUpFailure::Acr,
        };
        let r = ErrorResponse::with_resource_metadata(&acr, Some("pay"), Some("https://x/m"));
        assert_eq!(r.status, 401);
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(
                r#"Bearer realm="pay", error="insufficient_user_authentication", error_description="a stronger user authentication is required", acr_values="urn:example:mfa urn:example:hwk", max_age="300", resource_metadata="https://x/m""#
            )
        );
        assert_eq!(
            r.body,
            r#"{"acr_values":"urn:example:mfa urn:example:hwk","error":"insufficient_user_authentication","error_description":"a stronger user authentication is required","max_age":300}"#
        );
        assert_eq!(r.problem(), None);
        // Only max_age required: no acr_values at all.
        let old = AuthError::InsufficientUserAuthentication {
            required: AuthnRequirement::new().max_age(60),
            failed: StepUpFailure::MaxAge,
        };
        assert_eq!(
            ErrorResponse::new(&old, None).www_authenticate.as_deref(),
            Some(
                r#"Bearer error="insufficient_user_authentication", error_description="a more recent user authentication is required", max_age="60""#
            )
        );
    }

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

    #[test]
    fn rfc6750_section_3_built_in_descriptions_carry_no_quote_backslash_or_control() {
        let error = AuthError::InvalidRequest("a \"quoted\" \\ reason\r\nX-Injected: 1");
        let r = ErrorResponse::new(&error, Some("api"));
        assert_eq!(
            r.www_authenticate.as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"invalid_request\", \
                 error_description=\"a 'quoted' ? reason??X-Injected: 1\""
            )
        );
        assert_eq!(
            r.body,
            r#"{"error":"invalid_request","error_description":"a 'quoted' ? reason??X-Injected: 1"}"#
        );
        assert_eq!(r.problem(), None);
    }

    #[test]
    fn every_standard_answer_can_be_sent() {
        for error in [
            AuthError::MissingToken,
            AuthError::InvalidRequest("more than one Authorization header"),
            AuthError::InvalidToken(VerifyError::Expired),
            AuthError::InvalidToken(VerifyError::UnknownKey {
                kid: Some("\"\n".into()),
            }),
            AuthError::InvalidToken(VerifyError::Unavailable("down".into())),
            AuthError::NotConfigured,
        ] {
            let r = ErrorResponse::with_resource_metadata(
                &error,
                Some("photos"),
                Some("https://api.test/.well-known/oauth-protected-resource"),
            );
            assert_eq!(r.problem(), None, "{error:?}");
        }
    }

    #[test]
    fn rfc6750_section_3_answers_that_cannot_be_sent_are_named() {
        let answer = |status, challenge: &str| ErrorResponse {
            status,
            www_authenticate: Some(challenge.to_owned()),
            body: String::new(),
        };
        for (status, challenge) in [
            (401, "Bearer realm=\"a\"\r\nSet-Cookie: x=1"),
            (
                401,
                "Bearer error=\"invalid_token\", error_description=\"say \\\"hi\\\"\"",
            ),
            (401, "Bearer error_description=\"back\\slash\""),
            (401, "Bearer ERROR=\"tab\tbed\""),
            (401, "Bearer realm=\"open"),
            (401, "Bearer realm=\"ends in a backslash\\"),
            (401, "Bearer error_description=\"caf\u{e9}\""),
            (401, ""),
            (200, "Bearer"),
            (302, "Bearer"),
        ] {
            assert!(
                answer(status, challenge).problem().is_some(),
                "{status} {challenge:?}"
            );
        }
        for challenge in [
            "Bearer",
            "Bearer realm=\"a \\\"quoted\\\" realm\"",
            "Bearer error=invalid_token, error_description=\"fine text\"",
            "Bearer realm=\"a\", DPoP algs=\"ES256\"",
            "Bearer abc==",
        ] {
            assert_eq!(answer(401, challenge).problem(), None, "{challenge:?}");
        }
        assert_eq!(
            ErrorResponse {
                www_authenticate: None,
                ..answer(404, "")
            }
            .problem(),
            None
        );
    }
}
