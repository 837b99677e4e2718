//! Wycheproof JWS and JWK vectors (C2SP/wycheproof, Apache-2.0, see `vectors/wycheproof/`):
//! every `invalid` case is refused by our verification path, and every `valid` case whose
//! algorithm we support verifies at the signature level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oauth_runtime::{JwtVerifier, Key};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/tests/vectors/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The signature layer of our verifier, built from `keys`; `None` when no verifier can be built
/// (the keys are unusable), which refuses every token.
fn verifier(keys: Vec<Key>) -> Option<JwtVerifier> {
    JwtVerifier::builder()
        .allow_any_issuer()
        .allow_any_audience()
        .keys(keys)
        .build()
        .ok()
}

fn accepts(verifier: &Option<JwtVerifier>, jws: &Value) -> bool {
    // JSON-serialised JWS is not a bearer token: refusing it is right for our purpose.
    let (Some(verifier), Some(jws)) = (verifier, jws.as_str()) else {
        return false;
    };
    oauth_runtime::dangerous::verify_signature(verifier, jws).is_ok()
}

/// Cases where we deliberately answer otherwise than the file says, each with the reason. The
/// test holds us to exactly these answers.
const DEVIATIONS: &[(u64, bool, &str)] = &[
    (
        346,
        false,
        "the key's JWK says `alg: PS256`, the token PS384: a JWK's alg binds its key (RFC 8725 §3.1)",
    ),
    (350, false, "as 346, with key_ops"),
    (
        367,
        true,
        "byte-identical to the valid tcId 357, with the same key: the file contradicts itself",
    ),
    (
        370,
        true,
        "byte-identical to the valid tcId 357, with the same key: the file contradicts itself",
    ),
    (
        372,
        false,
        "`?` is not base64url, and RFC 7515 §2 allows no other characters",
    ),
    (
        373,
        false,
        "`?` is not base64url, and RFC 7515 §2 allows no other characters",
    ),
];

struct Tally {
    checked_invalid: usize,
    checked_valid: usize,
    unsupported_valid: Vec<String>,
    failures: Vec<String>,
}

fn run(groups: &[Value], keys_of: impl Fn(&Value) -> (Vec<Key>, bool)) -> Tally {
    let mut tally = Tally {
        checked_invalid: 0,
        checked_valid: 0,
        unsupported_valid: Vec::new(),
        failures: Vec::new(),
    };
    for group in groups {
        let (keys, supported) = keys_of(group);
        let verifier = verifier(keys);
        for case in group["tests"].as_array().unwrap() {
            let id = format!(
                "tcId {} ({}: {})",
                case["tcId"], group["comment"], case["comment"]
            );
            let accepted = accepts(&verifier, &case["jws"]);
            if let Some((_, expected, why)) = DEVIATIONS
                .iter()
                .find(|d| Some(d.0) == case["tcId"].as_u64())
            {
                if accepted != *expected {
                    tally
                        .failures
                        .push(format!("{id}: expected accepted={expected} because {why}"));
                }
                continue;
            }
            match case["result"].as_str().unwrap() {
                "invalid" => {
                    tally.checked_invalid += 1;
                    if accepted {
                        tally.failures.push(format!("accepted invalid {id}"));
                    }
                }
                "valid" if supported && verifier.is_some() => {
                    tally.checked_valid += 1;
                    if !accepted {
                        tally.failures.push(format!("refused valid {id}"));
                    }
                }
                _ => tally.unsupported_valid.push(id),
            }
        }
    }
    tally
}

/// Algorithms we verify. Anything else (ES512 on P-521 here) is unsupported, so its valid cases
/// are not expected to verify; its invalid cases must still be refused.
fn supported(alg: Option<&str>) -> bool {
    matches!(
        alg,
        None | Some(
            "HS256"
                | "HS384"
                | "HS512"
                | "ES256"
                | "ES384"
                | "RS256"
                | "RS384"
                | "RS512"
                | "PS256"
                | "PS384"
                | "PS512"
                | "EdDSA"
        )
    )
}

#[test]
fn json_web_signature_vectors() {
    let file = load("json_web_signature_test.json");
    let tally = run(file["testGroups"].as_array().unwrap(), |group| {
        // HMAC groups carry their secret as `private`; the others verify with `public`.
        let jwk = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let key = Key::from_jwk_json(&jwk.to_string());
        (key.into_iter().collect(), supported(jwk["alg"].as_str()))
    });
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert_eq!(
        tally.checked_invalid + 2,
        355,
        "every invalid case but two deviations was run"
    );
    // 46 valid cases: 4 deviations, 2 on P-521 (ES512), which we do not support.
    assert_eq!(tally.checked_valid, 40);
    assert_eq!(
        tally.unsupported_valid.len(),
        2,
        "{:#?}",
        tally.unsupported_valid
    );
    // Only the P-521 (ES512) cases are out of scope.
    assert!(
        tally
            .unsupported_valid
            .iter()
            .all(|id| id.contains("es521") || id.contains("Figure27")),
        "{:#?}",
        tally.unsupported_valid
    );
}

#[test]
fn json_web_key_vectors() {
    let file = load("json_web_key_test.json");
    let tally = run(file["testGroups"].as_array().unwrap(), |group| {
        let set = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let keys = oauth_runtime::keys_from_jwk_set(&set.to_string()).unwrap_or_default();
        (keys, true)
    });
    assert!(tally.failures.is_empty(), "{:#?}", tally.failures);
    assert_eq!(
        tally.checked_invalid + tally.checked_valid + tally.unsupported_valid.len(),
        26
    );
    assert!(
        tally.unsupported_valid.is_empty(),
        "{:#?}",
        tally.unsupported_valid
    );
}
