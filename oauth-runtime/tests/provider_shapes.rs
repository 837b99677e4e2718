//! The claim shapes real providers send, each verified end to end (signature, issuer, audience,
//! scopes) with the setting that provider needs.
#![allow(clippy::unwrap_used)]

use oauth_runtime::{
    Algorithm, JwtVerifier, JwtVerifierBuilder, ScopeClaim, SigningKey, VerifyError,
};
use serde_json::{Value, json};

fn exp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600
}

fn check(builder: JwtVerifierBuilder, claims: Value) -> Result<String, VerifyError> {
    let key = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .with_kid("k");
    let verifier: JwtVerifier = builder
        .key(key.verification_key().unwrap())
        .build()
        .unwrap();
    verifier
        .verify_token(&key.sign_jwt(&claims))
        .map(|c| c.scopes().to_string())
}

#[test]
fn keycloak_scope_string() {
    let iss = "https://sso.example.com/realms/photos";
    let claims = json!({"iss": iss, "aud": ["photos-api", "account"], "exp": exp(), "azp": "web",
        "scope": "openid photos:read profile", "realm_access": {"roles": ["user"]}});
    let b = JwtVerifier::builder().issuer(iss).audience("photos-api");
    assert_eq!(check(b, claims).unwrap(), "openid photos:read profile");
}

#[test]
fn entra_id_scp_string() {
    let iss = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0";
    let claims = json!({"iss": iss, "aud": "api://photos", "exp": exp(), "scp": "Photos.Read Photos.Write", "tid": "t"});
    let b = JwtVerifier::builder().issuer(iss).audience("api://photos");
    assert_eq!(check(b, claims).unwrap(), "Photos.Read Photos.Write");
}

#[test]
fn okta_scp_array() {
    let iss = "https://dev-1.okta.com/oauth2/default";
    let claims = json!({"iss": iss, "aud": "api://default", "exp": exp(), "scp": ["photos:read", "offline_access"], "cid": "c"});
    let b = JwtVerifier::builder().issuer(iss).audience("api://default");
    assert_eq!(check(b, claims).unwrap(), "offline_access photos:read");
}

#[test]
fn auth0_permissions_array() {
    let iss = "https://tenant.eu.auth0.com/";
    let claims = json!({"iss": iss, "aud": ["https://photos.example.com", "https://tenant.eu.auth0.com/userinfo"],
        "exp": exp(), "scope": "openid profile", "permissions": ["read:photos", "write:photos"]});
    let b = JwtVerifier::builder()
        .issuer(iss)
        .audience("https://photos.example.com")
        .scope_claim(ScopeClaim::named("permissions"));
    assert_eq!(check(b, claims).unwrap(), "read:photos write:photos");
}

#[test]
fn cognito_client_id_instead_of_aud_only_when_enabled() {
    let iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc";
    let claims = json!({"iss": iss, "exp": exp(), "client_id": "7abc", "token_use": "access", "scope": "photos/read"});
    let strict = JwtVerifier::builder().issuer(iss).audience("7abc");
    assert_eq!(
        check(strict, claims.clone()).unwrap_err(),
        VerifyError::MissingClaim("aud".into())
    );
    let lenient = JwtVerifier::builder()
        .issuer(iss)
        .audience("7abc")
        .accept_client_id_as_audience();
    assert_eq!(check(lenient, claims.clone()).unwrap(), "photos/read");
    let other = JwtVerifier::builder()
        .issuer(iss)
        .audience("another-client")
        .accept_client_id_as_audience();
    assert_eq!(
        check(other, claims).unwrap_err(),
        VerifyError::InvalidAudience
    );
}

#[test]
fn hydra_scope_string() {
    let iss = "https://hydra.example.com/";
    let claims = json!({"iss": iss, "aud": ["photos"], "exp": exp(), "client_id": "c", "scp": ["ignored"], "scope": "photos.read"});
    let b = JwtVerifier::builder().issuer(iss).audience("photos");
    assert_eq!(check(b, claims).unwrap(), "photos.read");
}
