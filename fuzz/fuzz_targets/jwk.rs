//! JWK (RFC 7517 §4) and JWK Set (§5) parsing into verification keys, and the PEM/DER key
//! readers beside them.
//!
//! Input: text or bytes, tried as one JWK, as a JWK Set, as PEM and as DER.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_runtime::{Algorithm, Key, keys_from_jwk_set};

fn exercise(key: &Key) {
    // Re-binding to its own algorithm always works; across families (an asymmetric key as an
    // HMAC secret, RFC 8725 §3.1) never.
    let alg = key.algorithm();
    let again = key.clone().with_algorithm(alg).expect("its own algorithm");
    assert_eq!(again.kid(), key.kid());
    let hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
    if !hmac {
        assert!(key.clone().with_algorithm(Algorithm::HS256).is_err());
    }
    let _ = format!("{key:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = Key::from_jwk_json(text) {
            exercise(&key);
        }
        if let Ok(keys) = keys_from_jwk_set(text) {
            for key in &keys {
                exercise(key);
            }
            // Two keys of one kind sharing a kid would let the token choose: the set drops both.
            for (i, a) in keys.iter().enumerate() {
                for b in &keys[i + 1..] {
                    if a.kid().is_some() && a.kid() == b.kid() {
                        assert_ne!(
                            format!("{a:?}").split("type").nth(1),
                            format!("{b:?}").split("type").nth(1),
                            "two keys of one type share a kid"
                        );
                    }
                }
            }
        }
    }
    if let Ok(key) = Key::from_pem(data) {
        exercise(&key);
    }
    if let Ok(key) = Key::from_der(data) {
        exercise(&key);
    }
});
