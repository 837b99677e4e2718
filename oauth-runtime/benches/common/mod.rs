//! What both benchmarks compare: one token, our prepared verifier, and jsonwebtoken's key and
//! validation, built once.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use oauth_runtime::{Algorithm, JwtVerifier, SigningKey};
use serde_json::{Value, json};

pub struct Case {
    pub token: String,
    pub ours: JwtVerifier,
    pub key: DecodingKey,
    pub validation: Validation,
}

/// A fresh key of `alg`, an RFC 9068 token signed with it, and both verifiers, each checked once.
pub fn case(alg: Algorithm) -> Case {
    let signing = SigningKey::generate(alg).expect("key").with_kid("k");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = signing.sign_jwt(&json!({
        "iss": "https://issuer.test", "aud": "api", "sub": "alice", "client_id": "c",
        "iat": now, "exp": now + 3600, "jti": "j", "scope": "photos:read photos:write",
    }));
    let ours = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .key(signing.verification_key().expect("public key"))
        .build()
        .expect("verifier");
    let jwk: Jwk = serde_json::from_value(signing.public_jwk().expect("jwk")).expect("jwk");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&["https://issuer.test"]);
    validation.set_audience(&["api"]);
    assert!(ours.verify_token(&token).is_ok());
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
    Case {
        token,
        ours,
        key,
        validation,
    }
}
