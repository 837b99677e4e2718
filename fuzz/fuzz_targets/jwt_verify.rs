//! `JwtVerifier::verify_token` and `verify_signature` with a fixed key set: the public keys and
//! HMAC secrets of the Wycheproof JWS vectors (fuzz/vectors/wycheproof), plus one HMAC secret
//! of our own that the second input form signs with.
//!
//! Input, one of two forms:
//! - a compact token, verified as it is: the signature layer with every key set;
//! - `{header JSON}` `\n` payload: signed here with the fixed secret, so that header and claims
//!   reach the checks behind the signature (`exp`, `nbf`, `iss`, `aud`, RFC 9068, scopes).
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use oauth_runtime::{Algorithm, JwtVerifier, Key, ScopeClaim, keys_from_jwk_set};
use serde_json::Value;

const VECTORS: &str = include_str!("../vectors/wycheproof/json_web_signature_test.json");
const SECRET: &[u8] = b"fuzzing secret, 32 bytes or more!";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "photos-api";

struct Verifiers {
    /// Every Wycheproof public key, as a fetched JWK Set would give them.
    public: JwtVerifier,
    /// The Wycheproof HMAC secrets and ours, any issuer and audience.
    hmac_lenient: JwtVerifier,
    /// Our secret alone, issuer and audience required, strict RFC 9068.
    hmac_strict: JwtVerifier,
    /// Our secret alone, client_id as audience, scopes in a claim of our choosing.
    hmac_cognito: JwtVerifier,
}

fn group_keys(member: &str) -> Vec<Value> {
    let vectors: Value = serde_json::from_str(VECTORS).expect("the vectors are JSON");
    vectors["testGroups"]
        .as_array()
        .expect("testGroups")
        .iter()
        .filter_map(|g| g.get(member).cloned())
        .collect()
}

static VERIFIERS: LazyLock<Verifiers> = LazyLock::new(|| {
    let public = serde_json::json!({ "keys": group_keys("public") }).to_string();
    let secrets: Vec<Key> = group_keys("private")
        .iter()
        .filter(|k| k["kty"] == "oct")
        .filter_map(|k| Key::from_jwk_json(&k.to_string()).ok())
        .collect();
    let ours = || Key::hmac(Algorithm::HS256, SECRET).expect("a long enough secret");
    Verifiers {
        public: JwtVerifier::builder()
            .keys(keys_from_jwk_set(&public).expect("the Wycheproof keys load"))
            .allow_any_issuer()
            .allow_any_audience()
            .build()
            .expect("public verifier"),
        hmac_lenient: JwtVerifier::builder()
            .keys(secrets)
            .key(ours().with_kid("ours"))
            .allow_any_issuer()
            .allow_any_audience()
            .build()
            .expect("lenient verifier"),
        hmac_strict: JwtVerifier::builder()
            .key(ours())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .audience("second-api")
            .require_rfc9068(true)
            .build()
            .expect("strict verifier"),
        hmac_cognito: JwtVerifier::builder()
            .key(ours())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .accept_client_id_as_audience()
            .scope_claim(ScopeClaim::named("permissions"))
            .max_token_len(512)
            .build()
            .expect("cognito verifier"),
    }
});

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn check_token(token: &str) {
    let v = &*VERIFIERS;
    for verifier in [&v.public, &v.hmac_lenient, &v.hmac_strict, &v.hmac_cognito] {
        let signature = oauth_runtime::dangerous::verify_signature(&verifier, token);
        // Taken before verifying, so that a second passing in between cannot fail the check.
        let before = now();
        let Ok(claims) = verifier.verify_token(token) else {
            continue;
        };
        assert!(signature.is_ok(), "claims accepted without a signature");
        // Whatever else passes, an accepted token carries an `exp` within the leeway.
        let exp = claims.expires_at().expect("accepted without exp");
        assert!(
            before < exp.saturating_add(oauth_runtime::DEFAULT_LEEWAY.as_secs() as i64),
            "accepted after expiry: {exp}"
        );
        if let Some(nbf) = claims.not_before() {
            // Read after verifying, for the same reason.
            assert!(now().saturating_add(60) >= nbf, "accepted before nbf {nbf}");
        }
        for scope in claims.scopes().iter() {
            assert!(claims.has_scope(scope.as_str()));
        }
    }
    if let Ok(claims) = v.hmac_strict.verify_token(token) {
        assert_eq!(claims.issuer(), Some(ISSUER));
        assert!(
            claims
                .audience()
                .iter()
                .any(|a| a == AUDIENCE || a == "second-api")
        );
        for present in [
            claims.subject().is_some(),
            claims.issued_at().is_some(),
            claims.jwt_id().is_some(),
            claims.client_id().is_some(),
        ] {
            assert!(present, "RFC 9068 claim missing from an accepted token");
        }
    }
    if let Ok(claims) = v.hmac_cognito.verify_token(token) {
        assert!(token.len() <= 512);
        assert_eq!(claims.issuer(), Some(ISSUER));
        let aud_ok = claims.audience().iter().any(|a| a == AUDIENCE)
            || (claims.audience().is_empty() && claims.client_id() == Some(AUDIENCE));
        assert!(aud_ok, "audience check passed wrongly");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        let (header, payload) = match data.iter().position(|&b| b == b'\n') {
            Some(at) => (&data[..at], &data[at + 1..]),
            None => (data, &b""[..]),
        };
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, SECRET),
            signed.as_bytes(),
        );
        check_token(&format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ));
    } else if let Ok(token) = std::str::from_utf8(data) {
        check_token(token);
    }
});
