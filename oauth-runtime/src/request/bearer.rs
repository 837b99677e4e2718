//! Finding the bearer token in a request (RFC 6750 §2).

use crate::request::rejection::AuthError;
use crate::verify::VerifyError;

/// Room for the scheme and the spaces after it when bounding a whole header by the token limit.
const SCHEME_SLACK: usize = 32;

/// The bytes a b64token body may hold, as a table: one load per byte on the request path.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| B64TOKEN[usize::from(b)])
}

fn query_has_access_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    })
}

/// The one `Authorization` header value of a request. Only the header method (RFC 6750 §2.1) is
/// accepted: a token in the query (§2.3, which RFC 9700 §2.4.2 says not to use) is refused rather
/// than ignored, so the client learns why. A header far longer than any acceptable token (more
/// than `max_len` plus room for the scheme) is refused before anything else looks at it.
pub(crate) fn located<'a>(
    mut authorization: impl Iterator<Item = &'a [u8]>,
    query: Option<&str>,
    max_len: usize,
) -> Result<&'a [u8], AuthError> {
    let in_query = query_has_access_token(query);
    let header = match (authorization.next(), authorization.next()) {
        (None, _) if in_query => {
            return Err(AuthError::InvalidRequest(
                "send the access token in the Authorization header, not in the URI",
            ));
        }
        (None, _) => return Err(AuthError::MissingToken),
        (Some(_), Some(_)) => {
            return Err(AuthError::InvalidRequest(
                "more than one Authorization header",
            ));
        }
        (Some(_), None) if in_query => {
            return Err(AuthError::InvalidRequest(
                "the access token was sent in more than one place",
            ));
        }
        (Some(header), None) => header,
    };
    if header.len() > max_len.saturating_add(SCHEME_SLACK) {
        return Err(AuthError::InvalidToken(VerifyError::TooLarge {
            max: max_len,
        }));
    }
    Ok(header)
}

/// What follows `Bearer ` in `header`, with none of [`token`]'s checks: only for looking up
/// tokens already verified, which passed those checks when they were. Costs nothing per byte of
/// the token.
pub(crate) fn unchecked_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(SCHEME.len())?;
    // The usual spelling first: one comparison of seven bytes.
    if scheme != SCHEME && !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    match rest.first()? {
        b' ' => rest
            .iter()
            .position(|&b| b != b' ')
            .map(|start| &rest[start..]),
        _ => Some(rest),
    }
}

/// Whether `header` uses the `DPoP` scheme (RFC 9449 §7.1), in any case.
pub(crate) fn is_dpop(header: &[u8]) -> bool {
    header
        .get(..DPOP_SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(DPOP_SCHEME))
}

/// `DPoP` and the one space that must follow it.
const DPOP_SCHEME: &[u8] = b"DPoP ";

/// `Bearer` and the one space that must follow it.
const SCHEME: &[u8] = b"Bearer ";

/// The bearer token in `header` (RFC 6750 §2.1): the `Bearer` scheme (any case), spaces, and
/// one b64token of at most `max_len` bytes. Another scheme means no bearer credentials.
pub(crate) fn token(header: &[u8], max_len: usize) -> Result<&str, AuthError> {
    credentials(header, "bearer", "the Bearer scheme needs a token", max_len)
}

/// The access token in a `DPoP` `header` (RFC 9449 §7.1): the same token68 form as a bearer
/// token's, after the `DPoP` scheme.
pub(crate) fn dpop_token(header: &[u8], max_len: usize) -> Result<&str, AuthError> {
    credentials(header, "dpop", "the DPoP scheme needs a token", max_len)
}

fn credentials<'h>(
    header: &'h [u8],
    scheme_name: &str,
    empty: &'static str,
    max_len: usize,
) -> Result<&'h str, AuthError> {
    let header = std::str::from_utf8(header)
        .ok()
        .filter(|h| h.is_ascii())
        .ok_or(AuthError::InvalidRequest(
            "the Authorization header is not ASCII",
        ))?;
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case(scheme_name) {
        // Another scheme (Basic, DPoP, ...): no credentials of this one were offered.
        return Err(AuthError::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::InvalidRequest(empty));
    }
    if token.len() > max_len {
        return Err(AuthError::InvalidToken(VerifyError::TooLarge {
            max: max_len,
        }));
    }
    if token.contains(' ') {
        return Err(AuthError::InvalidRequest(
            "more than one token in the Authorization header",
        ));
    }
    if !is_b64token(token) {
        return Err(AuthError::InvalidRequest(
            "the token has characters a bearer token cannot have",
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole request path's reading of a token: [`located`], then [`token`].
    fn extract<'a>(
        authorization: impl Iterator<Item = &'a [u8]>,
        query: Option<&str>,
        max_len: usize,
    ) -> Result<&'a str, AuthError> {
        token(located(authorization, query, max_len)?, max_len)
    }

    fn one(h: &str) -> Result<&str, AuthError> {
        extract(std::iter::once(h.as_bytes()), None, 100)
    }

    #[test]
    fn rfc6750_section_2_1_header_forms() {
        assert_eq!(one("Bearer abc.def-_~+/=="), Ok("abc.def-_~+/=="));
        assert_eq!(one("bearer abc"), Ok("abc"));
        assert_eq!(one("BEARER   abc"), Ok("abc"));
        assert_eq!(one("Basic dXNlcjpwYXNz"), Err(AuthError::MissingToken));
        assert!(matches!(one("Bearer"), Err(AuthError::InvalidRequest(_))));
        assert!(matches!(one("Bearer "), Err(AuthError::InvalidRequest(_))));
        assert!(matches!(
            one("Bearer a b"),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            one("Bearer a=b"),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            one("Bearer ==="),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            one("Bearer \"a\""),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            extract(std::iter::once(&b"Bearer \xff"[..]), None, 100),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn the_unchecked_form_only_strips_the_scheme() {
        let unchecked = |h: &'static [u8]| unchecked_token(h);
        assert_eq!(unchecked(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(unchecked(b"bEaReR   abc"), Some(&b"abc"[..]));
        assert_eq!(unchecked(b"Bearer a b\"c\xff"), Some(&b"a b\"c\xff"[..]));
        assert_eq!(unchecked(b"Bearerabc"), None);
        assert_eq!(unchecked(b"Basic abc"), None);
        assert_eq!(unchecked(b"Bearer    "), None);
    }

    #[test]
    fn the_b64token_table_is_exactly_rfc6750_section_2_1() {
        for b in 0u8..=255 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(B64TOKEN[usize::from(b)], expected, "byte {b:#x}");
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_inspection() {
        let long = format!("Bearer {}", "\u{e9}".repeat(100));
        assert_eq!(
            one(&long),
            Err(AuthError::InvalidToken(VerifyError::TooLarge { max: 100 }))
        );
        let long = format!("Bearer {}", "a".repeat(101));
        assert_eq!(
            one(&long),
            Err(AuthError::InvalidToken(VerifyError::TooLarge { max: 100 }))
        );
    }

    #[test]
    fn rfc6750_section_3_1_more_than_one_method_or_header() {
        let two = [&b"Bearer a"[..], &b"Bearer b"[..]];
        assert!(matches!(
            extract(two.into_iter(), None, 100),
            Err(AuthError::InvalidRequest(_))
        ));
        let h = [&b"Bearer a"[..]];
        assert!(matches!(
            extract(h.into_iter(), Some("x=1&access_token=a"), 100),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            extract(std::iter::empty(), Some("access_token=a"), 100),
            Err(AuthError::InvalidRequest(_))
        ));
        assert_eq!(
            extract(std::iter::empty(), Some("access=a"), 100),
            Err(AuthError::MissingToken)
        );
    }
}
