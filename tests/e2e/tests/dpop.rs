//! DPoP (RFC 9449) end to end: the development server issues a DPoP-bound token for a proof made
//! with a key generated here, and the axum and Rocket examples in `Required` mode accept it only
//! with a fresh proof of that key for each request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Answer, now};
use oauth_runtime::dev::{Client, DevServer, DevServerHandle, Grant, User};
use oauth_runtime::dpop::{DpopMode, access_token_hash, jwk_thumbprint};
use oauth_runtime::{Algorithm, Authenticator, CachedVerifier, SigningKey};
use serde_json::{Value, json};

async fn dev_server() -> DevServerHandle {
    DevServer::new()
        .audience(photos_demo::AUDIENCE)
        .scope("photos:read", "See your photos")
        .client(
            Client::public("dpop-app", ["http://127.0.0.1:8080/callback"])
                .with_grants([Grant::Password, Grant::RefreshToken]),
        )
        .user(User {
            username: "alice".into(),
            password: "wonderland".into(),
        })
        .start()
        .await
        .unwrap()
}

/// A DPoP proof (RFC 9449 §4.2) by `key` for `method` and `url`, for `token` when given.
fn proof(key: &SigningKey, method: &str, url: &str, token: Option<&str>) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut claims = json!({
        "jti": format!("e2e-{}-{}", now(), NEXT.fetch_add(1, Ordering::SeqCst)),
        "htm": method,
        "htu": url,
        "iat": now(),
    });
    if let Some(token) = token {
        claims["ath"] = access_token_hash(token).into();
    }
    let header = json!({
        "typ": "dpop+jwt",
        "alg": format!("{:?}", key.algorithm()),
        "jwk": key.public_jwk().unwrap(),
    });
    key.sign_jwt_with_header(&header, &claims)
}

async fn token_request(issuer: &str, form: &[(&str, &str)], proof: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .form(form);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn call(url: &str, authorization: &str, proofs: &[&str]) -> Answer {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("authorization", authorization);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    Answer::from(request.send().await.unwrap()).await
}

const ALGS: &str = r#"algs="ES256 ES384 RS256 PS256 EdDSA""#;

fn challenge(error: &str, description: &str) -> String {
    format!(r#"DPoP realm="photos", error="{error}", error_description="{description}", {ALGS}"#)
}

/// RFC 9449 §5, §7 and §4.3: token request with a proof, a bound token, every refusal on the
/// resource side, and a refresh bound to the same key.
#[tokio::test]
async fn rfc9449_full_flow_with_the_dev_server_and_the_axum_example() {
    let server = dev_server().await;
    let issuer = server.issuer().to_owned();
    let client_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let jkt = jwk_thumbprint(&client_key.public_jwk().unwrap()).unwrap();

    // RFC 9449 §5.1: the metadata names the proof algorithms.
    let metadata: Value = reqwest::get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "ES384", "RS256", "PS256", "EdDSA"])
    );

    // RFC 9449 §5: a token request with a proof gets a DPoP-bound token.
    let form = [
        ("grant_type", "password"),
        ("client_id", "dpop-app"),
        ("username", "alice"),
        ("password", "wonderland"),
        ("scope", "photos:read"),
    ];
    let token_url = format!("{issuer}/token");
    let (status, body) = token_request(
        &issuer,
        &form,
        Some(&proof(&client_key, "POST", &token_url, None)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(payload(&token)["cnf"]["jkt"], jkt.as_str(), "RFC 9449 §6.1");

    // A proof for another URL is refused at the token endpoint too.
    let (status, body) = token_request(
        &issuer,
        &form,
        Some(&proof(
            &client_key,
            "POST",
            &format!("{issuer}/other"),
            None,
        )),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );

    let authenticator = Authenticator::builder(CachedVerifier::new(server.verifier().unwrap()))
        .realm(photos_demo::REALM)
        .dpop(DpopMode::Required)
        .build()
        .unwrap();
    let api = common::start_axum_with(authenticator).await;
    let photos = format!("{api}/photos");
    let dpop = format!("DPoP {token}");

    // RFC 9449 §7.1: a good proof passes, twice with two proofs (the second a cache hit).
    let good = proof(&client_key, "GET", &photos, Some(&token));
    let answer = call(&photos, &dpop, &[&good]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let again = call(
        &photos,
        &dpop,
        &[&proof(&client_key, "GET", &photos, Some(&token))],
    )
    .await;
    assert_eq!(again.status, 200, "{again:?}");

    let other_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let refusals = [
        // §11.1: a replayed proof.
        (
            vec![good.clone()],
            dpop.clone(),
            challenge("invalid_dpop_proof", "the DPoP proof was already used"),
        ),
        // §4.3 item 8: wrong htm.
        (
            vec![proof(&client_key, "POST", &photos, Some(&token))],
            dpop.clone(),
            challenge(
                "invalid_dpop_proof",
                "the DPoP proof was made for another request",
            ),
        ),
        // §4.3 item 9: wrong htu.
        (
            vec![proof(
                &client_key,
                "GET",
                &format!("{api}/albums"),
                Some(&token),
            )],
            dpop.clone(),
            challenge(
                "invalid_dpop_proof",
                "the DPoP proof was made for another request",
            ),
        ),
        // §7.1: no proof.
        (
            vec![],
            dpop.clone(),
            challenge("invalid_dpop_proof", "a DPoP proof is required"),
        ),
        // §7.2: the bound token with the Bearer scheme.
        (
            vec![proof(&client_key, "GET", &photos, Some(&token))],
            format!("Bearer {token}"),
            challenge("invalid_token", "a DPoP-bound access token is required"),
        ),
        // §7.1: a proof by another key than the token's.
        (
            vec![proof(&other_key, "GET", &photos, Some(&token))],
            dpop.clone(),
            challenge("invalid_token", "the access token is bound to another key"),
        ),
        // §4.3 item 12: a proof for another token.
        (
            vec![proof(&client_key, "GET", &photos, Some("another-token"))],
            dpop.clone(),
            challenge(
                "invalid_dpop_proof",
                "the DPoP proof was made for another token",
            ),
        ),
    ];
    for (proofs, authorization, expected) in &refusals {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let answer = call(&photos, authorization, &proofs).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(answer.www_authenticate.as_deref(), Some(expected.as_str()));
    }

    // RFC 9449 §5: the public client's refresh token is bound to the same key.
    let refresh = body_refresh_token(&issuer, &client_key, &form).await;
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", "dpop-app"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = token_request(&issuer, &refresh_form, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let (status, body) = token_request(
        &issuer,
        &refresh_form,
        Some(&proof(&other_key, "POST", &token_url, None)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let (status, body) = token_request(
        &issuer,
        &refresh_form,
        Some(&proof(&client_key, "POST", &token_url, None)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let refreshed = body["access_token"].as_str().unwrap();
    assert_eq!(payload(refreshed)["cnf"]["jkt"], jkt.as_str());
}

/// A fresh bound token with its refresh token, for the refresh part of the flow.
async fn body_refresh_token(issuer: &str, key: &SigningKey, form: &[(&str, &str)]) -> String {
    let url = format!("{issuer}/token");
    let (status, body) = token_request(issuer, form, Some(&proof(key, "POST", &url, None))).await;
    assert_eq!(status, 200, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

/// RFC 9449 §7.1: with bearer tokens allowed too, both challenges; and axum and Rocket answer
/// every refusal with the same bytes.
#[tokio::test]
async fn rfc9449_section_7_1_axum_and_rocket_answer_alike() {
    let server = dev_server().await;
    let client_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let extra =
        json!({ "cnf": { "jkt": jwk_thumbprint(&client_key.public_jwk().unwrap()).unwrap() } });
    let bound = server.mint_token_with("alice", "photos:read", &extra);
    let bearer = server.mint_token("alice", "photos:read");
    let authenticator = || {
        Authenticator::builder(server.verifier().unwrap())
            .realm(photos_demo::REALM)
            .dpop(DpopMode::Allowed)
            .build()
            .unwrap()
    };
    let axum = common::start_axum_with(authenticator()).await;
    let rocket = common::start_rocket_with(authenticator()).await;
    let mut seen = Vec::new();
    for base in [&axum, &rocket] {
        let photos = format!("{base}/photos");
        let good = proof(&client_key, "GET", &photos, Some(&bound));
        let cases = [
            (format!("DPoP {bound}"), vec![good.clone()]),
            (format!("DPoP {bound}"), vec![good]),
            (format!("DPoP {bound}"), vec![]),
            (format!("Bearer {bound}"), vec![]),
            (format!("Bearer {bearer}"), vec![]),
            (
                format!("DPoP {bearer}"),
                vec![proof(&client_key, "GET", &photos, Some(&bearer))],
            ),
            ("Basic YTpi".to_owned(), vec![]),
        ];
        let mut answers = Vec::new();
        for (authorization, proofs) in &cases {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let answer = call(&photos, authorization, &proofs).await;
            answers.push((answer.status, answer.www_authenticate));
        }
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1], "axum and Rocket differ");
    let statuses: Vec<u16> = seen[0].iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [200, 401, 401, 401, 200, 401, 401]);
    assert_eq!(
        seen[0][3].1.as_deref(),
        Some(
            format!(
                r#"Bearer realm="photos", DPoP realm="photos", error="invalid_token", error_description="a DPoP-bound token needs the DPoP scheme", {ALGS}"#
            )
            .as_str()
        )
    );
    assert_eq!(
        seen[0][6].1.as_deref(),
        Some(format!(r#"Bearer realm="photos", DPoP realm="photos", {ALGS}"#).as_str())
    );
}
