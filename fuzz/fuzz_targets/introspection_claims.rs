//! The introspection response mapping (RFC 7662 §2.2): the JSON parsing of the answer and
//! `Claims::from_json` as `IntrospectionVerifier` applies them (`active`, then the claims with
//! the standard scope claim), and the claim readers a handler then calls. The same mapping reads
//! JWT payloads.
//!
//! Input: the body of an introspection answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_runtime::{Claims, ScopeClaim, ScopeToken};
use serde_json::Value;

/// `IntrospectionVerifier`'s bound on an answer's body.
const MAX_BODY: usize = 64 * 1024;

fn exercise(claims: &Claims) {
    for scope in claims.scopes().iter() {
        assert!(claims.has_scope(scope.as_str()));
        assert!(
            ScopeToken::new(scope.as_str().to_owned()).is_ok(),
            "{scope:?}"
        );
    }
    let _ = (
        claims.issuer(),
        claims.subject(),
        claims.audience(),
        claims.expires_at(),
        claims.not_before(),
        claims.issued_at(),
        claims.jwt_id(),
        claims.client_id(),
        claims.get("active"),
    );
    let _ = claims.extra::<Value>();
    let _ = format!("{claims:?}");
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_BODY {
        return;
    }
    let Ok(answer) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let active = answer.get("active").and_then(Value::as_bool) == Some(true);
    for scope_claim in [ScopeClaim::Standard, ScopeClaim::named("permissions")] {
        if let Ok(claims) = Claims::from_json(answer.clone(), &scope_claim) {
            exercise(&claims);
            if scope_claim == ScopeClaim::Standard && active {
                assert_eq!(claims.get("active"), Some(&Value::Bool(true)));
            }
        }
    }
});
