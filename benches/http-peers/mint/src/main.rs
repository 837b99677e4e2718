//! `mint KEY_DIR`: generates this run's RSA key (2048 bits), writes its public half as
//! `public.pem` and `jwks.json`, and writes `token`: one RS256 access token that every
//! contender is measured with. The private key stays in this process. A second token,
//! `token-other-scope`, differs only in its scope (`albums:read`): the script checks that every
//! contender refuses it, so that each is seen enforcing the scope and not only the signature.
//!
//! The token follows RFC 9068 (header `typ: at+jwt`; `iss`, `aud`, `exp`, `iat`, `sub`,
//! `client_id`, `jti`), because one contender (huskarl's `Rfc9068Validator`) accepts nothing
//! less; the others ignore the claims they do not check.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use peers_common::{AUDIENCE, ISSUER, KID, SCOPE, fail, key_dir};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// Ten years: the token must outlive any run, and no contender may refuse it as expired.
const LIFETIME_SECS: u64 = 10 * 365 * 24 * 3600;

fn main() {
    let dir = key_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|_| fail("RSA key generation"));
    let public = key.public_key();

    let der = public.as_der().unwrap_or_else(|_| fail("public key DER"));
    let b64 = STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");

    let jwks = json!({ "keys": [{
        "kty": "RSA",
        "kid": KID,
        "alg": "RS256",
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    }]});

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_else(|_| fail("clock before 1970"));
    let sign = |scope: &str| {
        let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": KID });
        let claims = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "client_id": "photos-client",
            "jti": format!("bench-{now}"),
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "scope": scope,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .unwrap_or_else(|_| fail("signing"));
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature))
    };

    let write = |name: &str, contents: &str| {
        std::fs::write(dir.join(name), contents)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", dir.join(name).display())))
    };
    write("public.pem", &pem);
    write("jwks.json", &jwks.to_string());
    write("token", &sign(SCOPE));
    write("token-other-scope", &sign("albums:read"));
}
