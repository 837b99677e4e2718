//! `dpop_jkt` at `/authorize` (RFC 9449 §10): the development server binds the code to the key
//! the client names, and exchanges it only with a proof of that key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth_e2e::support::{approve_as_alice, browser, now};
use oauth_runtime::dev::{Client, DevServer, DevServerHandle, Grant, User};
use oauth_runtime::dpop::jwk_thumbprint;
use oauth_runtime::{Algorithm, SigningKey};
use oauth2::PkceCodeChallenge;
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:8080/callback";

async fn dev_server() -> DevServerHandle {
    DevServer::new()
        .audience("photos-api")
        .scope("photos:read", "See your photos")
        .client(Client::public("dpop-spa", [REDIRECT]))
        .client(
            Client::confidential("legacy", "legacy-secret", [REDIRECT])
                .with_grants([Grant::Implicit]),
        )
        .user(User::new("alice", "wonderland"))
        .start()
        .await
        .unwrap()
}

/// A DPoP proof (RFC 9449 §4.2) by `key` for `POST {issuer}/token`.
pub(crate) fn token_proof(key: &SigningKey, issuer: &str, nonce: Option<&str>) -> String {
    oauth_e2e::support::dpop_proof(key, "POST", &format!("{issuer}/token"), now(), None, nonce)
}

fn thumbprint(key: &SigningKey) -> String {
    jwk_thumbprint(&key.public_jwk().unwrap()).unwrap()
}

fn authorize_url(
    server: &DevServerHandle,
    client: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = reqwest::Url::parse(&format!("{}/authorize", server.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "photos:read")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    (url.to_string(), verifier.secret().clone())
}

fn param(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(&location.replace('#', "?"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn exchange(
    server: &DevServerHandle,
    code: &str,
    verifier: &str,
    proof: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "dpop-spa"),
            ("redirect_uri", REDIRECT),
            ("code", code),
            ("code_verifier", verifier),
        ]);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// RFC 9449 §10: the code remembers `dpop_jkt`; without a proof, or with a proof of another key,
/// the exchange is refused and the code is not spent; a proof of the named key gets a token
/// bound to it.
#[tokio::test]
async fn rfc9449_section_10_dpop_jkt_binds_the_code_to_the_key() {
    let server = dev_server().await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    let jkt = thumbprint(&key);

    let (url, verifier) = authorize_url(&server, "dpop-spa", &[("dpop_jkt", &jkt)]);
    let location = approve_as_alice(server.issuer(), &url).await;
    let code = param(&location, "code").unwrap();

    let (status, body) = exchange(&server, &code, &verifier, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    let wrong = token_proof(&other, server.issuer(), None);
    let (status, body) = exchange(&server, &code, &verifier, Some(&wrong)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    let right = token_proof(&key, server.issuer(), None);
    let (status, body) = exchange(&server, &code, &verifier, Some(&right)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let part = body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    assert_eq!(claims["cnf"]["jkt"], jkt.as_str());

    // Without dpop_jkt a code still goes to whoever has it and its verifier, bound or not.
    let (url, verifier) = authorize_url(&server, "dpop-spa", &[]);
    let location = approve_as_alice(server.issuer(), &url).await;
    let proof = token_proof(&other, server.issuer(), None);
    let (status, body) = exchange(
        &server,
        &param(&location, "code").unwrap(),
        &verifier,
        Some(&proof),
    )
    .await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
}

/// RFC 9449 §10: `dpop_jkt` is a base64url SHA-256 thumbprint; anything else, and `dpop_jkt` on
/// the implicit grant (where no proof is ever seen), is refused with `invalid_request`.
#[tokio::test]
async fn rfc9449_section_10_malformed_dpop_jkt_is_refused() {
    let server = dev_server().await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let good = thumbprint(&key);
    let too_short = &good[..42];
    let padded = format!("{}=", &good[..42]);
    let not_base64 = format!("{}!", &good[..42]);
    for bad in [too_short, &padded, &not_base64, "x"] {
        let (url, _) = authorize_url(&server, "dpop-spa", &[("dpop_jkt", bad)]);
        let response = browser().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 303, "{bad}");
        let location = response.headers()["location"].to_str().unwrap();
        assert_eq!(
            param(location, "error").as_deref(),
            Some("invalid_request"),
            "{bad}"
        );
    }
    let mut url = reqwest::Url::parse(&format!("{}/authorize", server.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "token")
        .append_pair("client_id", "legacy")
        .append_pair("scope", "photos:read")
        .append_pair("dpop_jkt", &good);
    let response = browser().get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains('#'), "{location}");
    assert_eq!(param(location, "error").as_deref(), Some("invalid_request"));
}
