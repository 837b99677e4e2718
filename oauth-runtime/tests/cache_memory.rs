//! The verified-token cache's bounds hold for the memory really allocated, not only for its own
//! bookkeeping: a cache filled far past its bound, up to a million distinct tokens, allocates no
//! more than `max_bytes` and holds no more than `max_entries`.
//!
//! Alone in its test binary, and one test function, since it counts every allocation of the
//! process.
#![allow(clippy::unwrap_used)]

use cap::Cap;
use oauth_runtime::{CachedVerifier, Claims, ScopeClaim, TokenVerifier, VerifyError};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// Builds fresh claims for every token, as a real verifier does after checking a signature.
struct Parsing(fn(&str) -> Value);

#[async_trait::async_trait]
impl TokenVerifier for Parsing {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        Claims::from_json((self.0)(token), &ScopeClaim::Standard)
    }
}

/// What Keycloak puts in an access token, with about 1 KB of token to match.
fn keycloak(token: &str) -> Value {
    json!({
        "exp": 4102444800u64, "iat": 1700000000, "auth_time": 1700000000, "jti": token[..36],
        "iss": "https://keycloak.example.com/realms/photos", "aud": ["photos-api", "account"],
        "sub": "f3f0c5a2-0b7e-4d7e-9a51-3c1b2f8e9d10", "typ": "Bearer", "azp": "photos-web",
        "sid": "1c7e0d9b-5a34-4f4e-8f0e-2f7c9b6a1d23", "acr": "1",
        "allowed-origins": ["https://photos.example.com"],
        "realm_access": { "roles": ["offline_access", "uma_authorization", "default-roles-photos"] },
        "resource_access": {
            "account": { "roles": ["manage-account", "manage-account-links", "view-profile"] },
            "photos-api": { "roles": ["reader", "uploader"] }
        },
        "scope": "openid profile email photos:read photos:write",
        "email_verified": true, "name": "Alice Example", "preferred_username": "alice",
        "given_name": "Alice", "family_name": "Example", "email": "alice@example.com"
    })
}

/// What an introspection answer of an opaque token carries (RFC 7662 §2.2).
fn introspected(token: &str) -> Value {
    json!({
        "active": true, "exp": 4102444800u64, "scope": "photos:read",
        "client_id": "photos-web", "sub": "alice", "jti": token
    })
}

/// Fills a cache with `count` distinct tokens of `len` bytes, far past its bounds, and returns
/// what stays allocated beyond what was allocated before the cache existed, and its entries.
fn fill(
    claims: fn(&str) -> Value,
    len: usize,
    count: u32,
    max_entries: usize,
    max_bytes: usize,
) -> (usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = ALLOCATOR.allocated();
    let cached = CachedVerifier::new(Parsing(claims))
        .max_entries(max_entries)
        .max_bytes(max_bytes);
    let mut token = String::with_capacity(len);
    for i in 0..count {
        token.clear();
        token.push_str(&format!("{i:036}"));
        token.extend(std::iter::repeat_n('x', len - 36));
        runtime.block_on(cached.verify(&token)).unwrap();
        if i % 100_000 == 0 {
            assert!(cached.len() <= max_entries && cached.bytes() <= max_bytes);
        }
    }
    drop(token);
    let used = ALLOCATOR.allocated() - before;
    assert!(cached.bytes() <= max_bytes && cached.len() <= max_entries);
    (used, cached.len())
}

#[test]
fn a_full_cache_allocates_no_more_than_its_bounds() {
    let max_bytes = 4 << 20;
    for (name, claims, len, count) in [
        ("Keycloak JWT", keycloak as fn(&str) -> Value, 1_100, 40_000),
        ("opaque token", introspected, 43, 1_000_000),
    ] {
        let (used, entries) = fill(claims, len, count, usize::MAX, max_bytes);
        println!(
            "{name}: {count} tokens, {entries} entries kept, {used} bytes allocated of {max_bytes}"
        );
        assert!(
            used <= max_bytes,
            "{name}: {used} bytes allocated for a bound of {max_bytes}"
        );
        // The estimate errs on the safe side, but not so far that the cache holds much less
        // than its bound allows.
        assert!(
            used >= max_bytes / 2,
            "{name}: only {used} bytes used of {max_bytes}"
        );
    }
    // When the entry bound is the tighter one, it holds too.
    let (used, entries) = fill(introspected, 43, 100_000, 1_000, max_bytes);
    assert_eq!(entries, 1_000);
    assert!(used < max_bytes, "{used}");
}
