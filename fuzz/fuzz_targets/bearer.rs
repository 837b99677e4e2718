//! The bearer header parser (RFC 6750 §2.1 and §3.1): `located` then `token`, and the unchecked
//! form the verified-token cache looks tokens up by.
//!
//! Input: lines. A first line starting with `?` is the query string; every other line is one
//! `Authorization` header value (none, one, or several).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_runtime::fuzzing::{bearer_token, bearer_unchecked_token};

/// RFC 6750 §2.1 b64token characters.
fn b64token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n').peekable();
    let query = match lines.peek() {
        Some(first) if first.first() == Some(&b'?') => {
            let Ok(query) = std::str::from_utf8(&first[1..]) else {
                return;
            };
            lines.next();
            Some(query)
        }
        _ => None,
    };
    let headers: Vec<&[u8]> = lines.collect();
    for header in &headers {
        if let Some(rest) = bearer_unchecked_token(header) {
            assert!(
                header.ends_with(rest),
                "the unchecked token is not a suffix"
            );
        }
    }
    // A small limit reaches the length checks, the default the ordinary paths.
    for max_len in [16, oauth_runtime::DEFAULT_MAX_TOKEN_LEN] {
        let Ok(token) = bearer_token(&headers, query, max_len) else {
            continue;
        };
        assert_eq!(headers.len(), 1, "accepted with {} headers", headers.len());
        assert!(!token.is_empty() && token.len() <= max_len);
        assert!(token.bytes().all(b64token_byte), "{token:?}");
        assert!(
            token.trim_end_matches('=').bytes().all(|b| b != b'='),
            "`=` inside a b64token: {token:?}"
        );
        // The cache must find an accepted token under the same bytes it was verified as.
        assert_eq!(
            bearer_unchecked_token(headers[0]),
            Some(token.as_bytes()),
            "the cache would key {token:?} differently"
        );
    }
});
