//! Request parameters (RFC 6749 §3.1) and client authentication (§2.3.1).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::Server;
use super::config::Client;

/// Form or query parameters. Unknown ones are kept and ignored by the handlers; a repeated one is
/// an error, and one without a value counts as absent (RFC 6749 §3.1). `resource` is the
/// exception: RFC 8707 §2 lets it repeat, one per target, read with [`Params::all`].
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>, Vec<String>);

/// The one parameter that may repeat (RFC 8707 §2).
const RESOURCE: &str = "resource";

/// More `resource` parameters than any configuration could grant are refused unread.
const MAX_RESOURCES: usize = 16;

impl Params {
    /// The error is a fixed text: it ends up in an `error_description` (RFC 6749 §5.2 allows
    /// few characters there) and must never echo what the request sent.
    pub(crate) fn parse(input: &[u8]) -> Result<Params, &'static str> {
        let mut map = HashMap::new();
        let mut resources = Vec::new();
        for (name, value) in form_urlencoded::parse(input) {
            if name == RESOURCE {
                if resources.len() == MAX_RESOURCES {
                    return Err("too many resource parameters");
                }
                if !value.is_empty() {
                    resources.push(value.into_owned());
                }
            } else if map.insert(name.into_owned(), value.into_owned()).is_some() {
                return Err("a parameter is repeated");
            }
        }
        map.retain(|_, v: &mut String| !v.is_empty());
        Ok(Params(map, resources))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every value of a parameter that may repeat (only `resource`), in the order sent.
    pub(crate) fn all(&self, name: &str) -> &[String] {
        if name == RESOURCE { &self.1 } else { &[] }
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
    /// Fixed texts only, within RFC 6749 §5.2's characters: never anything the request sent.
    pub(crate) description: &'static str,
    /// Set when the client used HTTP Basic and failed: the answer then carries a Basic challenge.
    pub(crate) basic_challenge: bool,
}

impl OAuthError {
    pub(crate) fn new(code: &'static str, description: &'static str) -> OAuthError {
        let status = match code {
            "invalid_client" => 401,
            "server_error" => 500,
            _ => 400,
        };
        OAuthError {
            status,
            code,
            description,
            basic_challenge: false,
        }
    }
}

/// Percent-decodes one half of Basic credentials. RFC 6749 §2.3.1 has the client form-encode its
/// id and secret before Basic, so `%XX` escapes are undone; but a form decoder must not be used:
/// it would stop at `&` or `=` and turn `+` into a space, and clients that do not encode at all
/// send a `+` that means `+`. An escape that is not two hex digits is kept as it is.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Splits decoded Basic credentials on the first `:` (an id cannot contain a raw one, RFC 7617
/// §2) and percent-decodes both halves.
pub(crate) fn split_basic(decoded: &str) -> Option<(String, String)> {
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id)?, percent_decode(secret)?))
}

#[cfg(test)]
thread_local! {
    /// How often this thread compared secrets: tests show that every path does the same work.
    pub(crate) static COMPARISONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Constant-time and length-independent: both sides are hashed first.
pub(crate) fn secrets_match(given: &str, expected: &str) -> bool {
    #[cfg(test)]
    COMPARISONS.with(|c| c.set(c.get() + 1));
    let a = digest::digest(&digest::SHA256, given.as_bytes());
    let b = digest::digest(&digest::SHA256, expected.as_bytes());
    a.as_ref().ct_eq(b.as_ref()).into()
}

/// Authenticates the client of a token, introspection or revocation request:
/// `client_secret_basic`, `client_secret_post`, or a public client's bare `client_id`.
pub(crate) fn authenticate_client(
    server: &Server,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(Arc<Client>, AuthMethod), OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    let fail = |method: AuthMethod, why: &'static str| OAuthError {
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
            let (id, secret) = split_basic(&decoded)
                .ok_or_else(|| fail(AuthMethod::Basic, "malformed Basic credentials"))?;
            if params.get("client_id").is_some_and(|p| p != id) {
                return Err(fail(
                    AuthMethod::Basic,
                    "client_id differs from the authenticated client",
                ));
            }
            (id, Some(secret), AuthMethod::Basic)
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
        .client(&id)
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
    fn rfc8707_section_2_resource_may_repeat_within_a_bound() {
        let p = Params::parse(b"resource=https%3A%2F%2Fa&resource=&resource=https%3A%2F%2Fb")
            .expect("valid");
        assert_eq!(p.all("resource"), ["https://a", "https://b"]);
        assert_eq!(p.get("resource"), None);
        assert!(p.all("scope").is_empty());
        let many = "resource=x&".repeat(MAX_RESOURCES + 1);
        assert!(Params::parse(many.as_bytes()).is_err());
        assert!(Params::parse("resource=x&".repeat(MAX_RESOURCES).as_bytes()).is_ok());
    }

    #[test]
    fn rfc6749_section_2_3_1_basic_halves_are_percent_decoded_without_form_rules() {
        let split = |s: &str| split_basic(s).expect("decodes");
        assert_eq!(split("a%3Ab:p%2Bss%25"), ("a:b".into(), "p+ss%".into()));
        // Form decoding would end the secret at `&` and read `+` as a space.
        assert_eq!(split("id:s&x=y"), ("id".into(), "s&x=y".into()));
        assert_eq!(split("id:a+b"), ("id".into(), "a+b".into()));
        // The first `:` separates; later ones belong to the secret.
        assert_eq!(split("id:a:b"), ("id".into(), "a:b".into()));
        // Broken escapes stay as they are; escapes that are not UTF-8 are refused.
        assert_eq!(split("id:%zz%4"), ("id".into(), "%zz%4".into()));
        assert_eq!(split("%C3%A9:%41"), ("\u{e9}".into(), "A".into()));
        assert!(split_basic("id:%FF").is_none());
        assert!(split_basic("no-colon").is_none());
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_match("s3cret", "s3cret"));
        assert!(!secrets_match("s3cret", "s3creT"));
        assert!(!secrets_match("", "s3cret"));
    }
}
