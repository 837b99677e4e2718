//! Request parameters (RFC 6749 §3.1) and client authentication (§2.3.1).

use std::collections::HashMap;

use aws_lc_rs::digest;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::Server;
use super::config::Client;

/// Form or query parameters. Unknown ones are kept and ignored by the handlers; a repeated one is
/// an error, and one without a value counts as absent (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(input: &[u8]) -> Result<Params, String> {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(input) {
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(format!("parameter `{name}` is repeated"));
            }
        }
        map.retain(|_, v: &mut String| !v.is_empty());
        Ok(Params(map))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    Basic,
    Post,
    /// A public client naming itself with `client_id`.
    None,
}

/// An error of the token, introspection or revocation endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) description: String,
    /// Set when the client used HTTP Basic and failed: the answer then carries a Basic challenge.
    pub(crate) basic_challenge: bool,
}

impl OAuthError {
    pub(crate) fn new(code: &'static str, description: impl Into<String>) -> OAuthError {
        let status = if code == "invalid_client" { 401 } else { 400 };
        OAuthError {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }
}

fn form_decode(s: &str) -> String {
    let pair = format!("x={s}");
    form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Constant-time and length-independent: both sides are hashed first.
pub(crate) fn secrets_match(given: &str, expected: &str) -> bool {
    let a = digest::digest(&digest::SHA256, given.as_bytes());
    let b = digest::digest(&digest::SHA256, expected.as_bytes());
    a.as_ref().ct_eq(b.as_ref()).into()
}

/// Authenticates the client of a token, introspection or revocation request:
/// `client_secret_basic`, `client_secret_post`, or a public client's bare `client_id`.
pub(crate) fn authenticate_client<'s>(
    server: &'s Server,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(&'s Client, AuthMethod), OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let fail = |method: AuthMethod, why: &str| OAuthError {
        basic_challenge: method == AuthMethod::Basic,
        ..OAuthError::new("invalid_client", why)
    };
    let (id, secret, method) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method, not two",
            ));
        }
        (Some(credentials), None) => {
            let decoded = STANDARD
                .decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| fail(AuthMethod::Basic, "malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| fail(AuthMethod::Basic, "malformed Basic credentials"))?;
            if params
                .get("client_id")
                .is_some_and(|p| p != form_decode(id))
            {
                return Err(fail(
                    AuthMethod::Basic,
                    "client_id differs from the authenticated client",
                ));
            }
            (
                form_decode(id),
                Some(form_decode(secret)),
                AuthMethod::Basic,
            )
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| fail(AuthMethod::Post, "client_id is missing"))?;
            (id.to_owned(), Some(secret.to_owned()), AuthMethod::Post)
        }
        (None, None) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| fail(AuthMethod::None, "client authentication is required"))?;
            (id.to_owned(), None, AuthMethod::None)
        }
    };
    let client = server
        .clients
        .get(&id)
        .ok_or_else(|| fail(method, "unknown client or wrong secret"))?;
    match (&client.secret, secret) {
        (Some(expected), Some(given)) if secrets_match(&given, expected) => Ok((client, method)),
        (None, None) => Ok((client, method)),
        _ => Err(fail(method, "unknown client or wrong secret")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_section_3_1_repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"a=1&b=&c=x%20y").expect("valid");
        assert_eq!(
            (p.get("a"), p.get("b"), p.get("c")),
            (Some("1"), None, Some("x y"))
        );
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_match("s3cret", "s3cret"));
        assert!(!secrets_match("s3cret", "s3creT"));
        assert!(!secrets_match("", "s3cret"));
    }
}
