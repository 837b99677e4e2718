//! Each verification rule, checked at the verifier with the exact reason it gives, so that a
//! token refused over HTTP is known to be refused for the right reason.
#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use oauth_runtime::{
    Algorithm, JwtVerifier, Key, ScopeClaim, SigningKey, VerifierConfigError, VerifyError,
};
use serde_json::{Value, json};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({"iss": "https://issuer.test", "aud": "api", "sub": "s", "exp": now() + 600, "scope": "a"})
}

fn verifier(keys: &[&SigningKey]) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .keys(keys.iter().map(|k| k.verification_key().unwrap()))
        .build()
        .unwrap()
}

fn es(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(kid)
}

#[test]
fn rfc8725_section_3_1_reasons() {
    let key = es("k");
    let rsa = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .with_kid("r");
    let v = verifier(&[&key, &rsa]);
    let none = format!(
        "{}.{}.",
        base64_url(&json!({"alg": "none"}).to_string()),
        base64_url(&claims().to_string())
    );
    assert_eq!(
        v.verify_token(&none).unwrap_err(),
        VerifyError::UnsupportedAlgorithm("none".into())
    );

    let confused = SigningKey::hmac(Algorithm::HS256, &rsa.public_key_der().unwrap()).unwrap();
    let token = confused.sign_jwt_with_header(&json!({"alg": "HS256", "kid": "r"}), &claims());
    assert!(matches!(
        v.verify_token(&token),
        Err(VerifyError::AlgorithmMismatch { .. })
    ));

    let ps = SigningKey::generate(Algorithm::PS256).unwrap();
    let token = ps.sign_jwt_with_header(&json!({"alg": "PS256", "kid": "r"}), &claims());
    assert!(matches!(
        v.verify_token(&token),
        Err(VerifyError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn rfc7519_claim_reasons() {
    let key = es("k");
    let v = verifier(&[&key]);
    let with = |patch: Value| {
        let mut c = claims();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = val.clone();
            }
        }
        v.verify_token(&key.sign_jwt(&c))
    };
    assert_eq!(
        with(json!({"exp": now() - 61})).unwrap_err(),
        VerifyError::Expired
    );
    assert!(
        with(json!({"exp": now() - 50})).is_ok(),
        "default leeway is 60 s"
    );
    assert_eq!(
        with(json!({"nbf": now() + 61})).unwrap_err(),
        VerifyError::NotYetValid
    );
    assert!(with(json!({"nbf": now() + 50})).is_ok());
    assert_eq!(
        with(json!({"iss": "https://other"})).unwrap_err(),
        VerifyError::InvalidIssuer
    );
    assert_eq!(
        with(json!({"aud": ["x", "y"]})).unwrap_err(),
        VerifyError::InvalidAudience
    );
    assert!(
        with(json!({"aud": ["x", "api"]})).is_ok(),
        "one matching audience is enough"
    );
    assert_eq!(
        with(json!({"exp": null})).unwrap_err(),
        VerifyError::MissingClaim("exp".into())
    );
    assert_eq!(
        with(json!({"aud": null})).unwrap_err(),
        VerifyError::MissingClaim("aud".into())
    );
    assert_eq!(
        with(json!({"iss": null})).unwrap_err(),
        VerifyError::MissingClaim("iss".into())
    );
}

#[test]
fn structural_reasons() {
    let key = es("k");
    let v = verifier(&[&key]);
    let token = key.sign_jwt(&claims());
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = sig.as_bytes().to_vec();
    bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
    let flipped = format!("{head}.{}", String::from_utf8(bytes).unwrap());
    assert_eq!(
        v.verify_token(&flipped).unwrap_err(),
        VerifyError::InvalidSignature
    );
    assert!(matches!(
        v.verify_token(head),
        Err(VerifyError::Malformed(_))
    ));
    assert!(matches!(
        v.verify_token(&format!("{token}.a.b")),
        Err(VerifyError::Malformed(_))
    ));
    assert_eq!(
        v.verify_token(&"a".repeat(64 * 1024)).unwrap_err(),
        VerifyError::TooLarge {
            max: oauth_runtime::DEFAULT_MAX_TOKEN_LEN
        }
    );
    let crit = key.sign_jwt_with_header(
        &json!({"alg": "ES256", "kid": "k", "crit": ["b64"], "b64": false}),
        &claims(),
    );
    assert_eq!(
        v.verify_token(&crit).unwrap_err(),
        VerifyError::UnsupportedCritical
    );
    // RFC 7515 §4.1.11: `crit` is a non-empty array; `null` or any other value is no reason to
    // read it as absent.
    for odd in [json!(null), json!("b64"), json!({}), json!([]), json!(0)] {
        let header = json!({"alg": "ES256", "kid": "k", "crit": odd});
        let token = key.sign_jwt_with_header(&header, &claims());
        assert_eq!(
            v.verify_token(&token).unwrap_err(),
            VerifyError::UnsupportedCritical,
            "crit: {odd}"
        );
    }
    let dup = format!(
        "{}.{}",
        base64_url(r#"{"alg":"ES256","alg":"none","kid":"k"}"#),
        token.split_once('.').unwrap().1
    );
    assert!(
        matches!(v.verify_token(&dup), Err(VerifyError::Malformed(_))),
        "duplicate header members"
    );
}

#[test]
fn key_selection_reasons() {
    let (a, b) = (es("a"), es("b"));
    let v = verifier(&[&a, &b]);
    assert!(v.verify_token(&a.sign_jwt(&claims())).is_ok());
    assert!(v.verify_token(&b.sign_jwt(&claims())).is_ok());
    let unknown = a.sign_jwt_with_header(&json!({"alg": "ES256", "kid": "zzz"}), &claims());
    assert_eq!(
        v.verify_token(&unknown).unwrap_err(),
        VerifyError::UnknownKey {
            kid: Some("zzz".into())
        }
    );
    let no_kid = a.sign_jwt_with_header(&json!({"alg": "ES256"}), &claims());
    assert_eq!(
        v.verify_token(&no_kid).unwrap_err(),
        VerifyError::AmbiguousKey
    );

    // One key, no kid anywhere: it is used. A key configured without kid also serves tokens
    // that carry one (static keys with issuers that always set kid).
    let lone = SigningKey::generate(Algorithm::ES256).unwrap();
    let v = verifier(&[&lone]);
    assert!(v.verify_token(&lone.sign_jwt(&claims())).is_ok());
    let with_kid = lone.sign_jwt_with_header(&json!({"alg": "ES256", "kid": "x"}), &claims());
    assert!(v.verify_token(&with_kid).is_ok());
}

#[test]
fn rfc9068_strict_mode_reasons() {
    let key = es("k");
    let v = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .require_rfc9068(true)
        .key(key.verification_key().unwrap())
        .build()
        .unwrap();
    let jwt_typ = key.sign_jwt_with_header(
        &json!({"alg": "ES256", "kid": "k", "typ": "JWT"}),
        &claims(),
    );
    assert_eq!(
        v.verify_token(&jwt_typ).unwrap_err(),
        VerifyError::InvalidType
    );
    assert_eq!(
        v.verify_token(&key.sign_jwt(&claims())).unwrap_err(),
        VerifyError::MissingClaim("iat".into())
    );
    let mut full = claims();
    full["iat"] = now().into();
    full["jti"] = "j".into();
    full["client_id"] = "c".into();
    assert!(v.verify_token(&key.sign_jwt(&full)).is_ok());
}

#[test]
fn configuration_mistakes_are_errors_not_open_doors() {
    let key = es("k").verification_key().unwrap();
    let base = || JwtVerifier::builder().key(key.clone());
    assert_eq!(
        base().audience("api").build().unwrap_err(),
        VerifierConfigError::NoIssuer
    );
    assert_eq!(
        base().issuer("i").build().unwrap_err(),
        VerifierConfigError::NoAudience
    );
    assert_eq!(
        JwtVerifier::builder()
            .issuer("i")
            .audience("a")
            .build()
            .unwrap_err(),
        VerifierConfigError::NoKeys
    );
    let secret = Key::hmac(Algorithm::HS256, &[1; 32]).unwrap();
    assert_eq!(
        base()
            .issuer("i")
            .audience("a")
            .key(secret)
            .build()
            .unwrap_err(),
        VerifierConfigError::MixedKeyTypes
    );
    assert!(
        base()
            .allow_any_issuer()
            .allow_any_audience()
            .build()
            .is_ok()
    );
}

#[test]
fn provider_scope_claims_reach_the_claims() {
    let key = es("k");
    let v = JwtVerifier::builder()
        .issuer("https://issuer.test")
        .audience("api")
        .scope_claim(ScopeClaim::named("permissions"))
        .key(key.verification_key().unwrap())
        .build()
        .unwrap();
    let mut c = claims();
    c["permissions"] = json!(["read:photos", "write:photos"]);
    let claims = v.verify_token(&key.sign_jwt(&c)).unwrap();
    assert!(claims.has_scope("write:photos") && !claims.has_scope("a"));
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A check both configured and waived cannot say which was meant; before, the last call won
/// silently and `.issuer(..).allow_any_issuer()` accepted every issuer.
#[test]
fn a_check_both_configured_and_waived_is_a_configuration_error() {
    let key = || oauth_runtime::Key::hmac(oauth_runtime::Algorithm::HS256, &[7; 32]).unwrap();
    let builds = [
        JwtVerifier::builder()
            .issuer("https://a")
            .allow_any_issuer()
            .audience("api")
            .key(key())
            .build(),
        JwtVerifier::builder()
            .allow_any_issuer()
            .issuer("https://a")
            .audience("api")
            .key(key())
            .build(),
        JwtVerifier::builder()
            .issuer("https://a")
            .audience("api")
            .allow_any_audience()
            .key(key())
            .build(),
        JwtVerifier::builder()
            .issuer("https://a")
            .allow_any_audience()
            .audience("api")
            .key(key())
            .build(),
    ];
    for built in builds {
        assert!(
            matches!(
                built,
                Err(oauth_runtime::VerifierConfigError::Contradiction(_))
            ),
            "{built:?}"
        );
    }
}
