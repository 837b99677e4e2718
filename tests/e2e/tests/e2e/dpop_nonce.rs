//! Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at a resource server),
//! over real HTTP: the axum and the Rocket example with nonces on, sharing one nonce key as two
//! instances of one API would, and the development server requiring them at `/token`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oauth_e2e::support::{dpop_proof as proof, now};
use oauth_runtime::dev::DevServerHandle;
use oauth_runtime::dpop::{
    DEFAULT_NONCE_PERIOD, DpopMode, DpopNonces, DpopVerifier, jwk_thumbprint,
};
use oauth_runtime::{Algorithm, Authenticator, ManualClock, SigningKey};
use serde_json::{Value, json};

const ALGS: &str = r#"algs="ES256 ES384 RS256 PS256 EdDSA""#;

/// What the client saw, with the `DPoP-Nonce` header.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    www_authenticate: Option<String>,
    nonce: Option<String>,
    body: String,
}

async fn seen(response: reqwest::Response) -> Seen {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Seen {
        status: response.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        nonce: header("dpop-nonce"),
        body: response.text().await.unwrap(),
    }
}

async fn dev_server() -> DevServerHandle {
    super::dpop::dpop_app_server()
        .require_dpop_nonces()
        .start()
        .await
        .unwrap()
}

/// RFC 9449 §9: with nonces on, a proof without one gets 401 `use_dpop_nonce` and a
/// `DPoP-Nonce` header; the nonce then works, also at the other instance (axum and Rocket built
/// with one key); a proof with the previous period's nonce passes and the answer carries the
/// next one; a nonce two periods old is refused. axum and Rocket answer byte for byte alike.
#[tokio::test]
async fn rfc9449_section_9_resource_server_nonces_on_axum_and_rocket() {
    let server = dev_server().await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let jkt = jwk_thumbprint(&key.public_jwk().unwrap()).unwrap();
    let token = server.mint_token_with("alice", "photos:read", &json!({ "cnf": { "jkt": jkt } }));
    let clock = ManualClock::starting_now();
    let secret = [9u8; 32];
    let authenticator = || {
        let dpop = DpopVerifier::builder()
            .clock(clock.clone())
            .nonces(DpopNonces::with_key(&secret).unwrap())
            .build()
            .unwrap();
        Authenticator::builder(server.verifier().unwrap())
            .realm(photos_demo::REALM)
            .dpop(DpopMode::Required)
            .dpop_verifier(dpop)
            .build()
            .unwrap()
    };
    let bases = [
        oauth_e2e::support::start_axum_with(authenticator()).await,
        oauth_e2e::support::start_rocket_with(authenticator()).await,
    ];
    let call = |base: &str, iat: i64, nonce: Option<&str>| {
        let url = format!("{base}/photos");
        let proof = proof(&key, "GET", &url, iat, Some(&token), nonce);
        let request = reqwest::Client::new()
            .get(url)
            .header("authorization", format!("DPoP {token}"))
            .header("DPoP", proof);
        async move { seen(request.send().await.unwrap()).await }
    };
    let start = now();

    // No nonce: refused, with the nonce to use; the same answer from both.
    let axum = call(&bases[0], start, None).await;
    let rocket = call(&bases[1], start, None).await;
    assert_eq!(axum, rocket, "axum and Rocket answer alike");
    assert_eq!(axum.status, 401);
    assert_eq!(
        axum.www_authenticate.as_deref(),
        Some(
            format!(
                r#"DPoP realm="photos", error="use_dpop_nonce", error_description="the DPoP proof must carry the nonce sent in DPoP-Nonce", {ALGS}"#
            )
            .as_str()
        )
    );
    let first = axum.nonce.expect("DPoP-Nonce on the refusal");
    let body: Value = serde_json::from_str(&axum.body).unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");

    // The nonce works at either instance, and a current nonce needs no new one.
    for base in &bases {
        let ok = call(base, start, Some(&first)).await;
        assert_eq!(
            (ok.status, ok.nonce.as_deref()),
            (200, None),
            "{base}: {ok:?}"
        );
    }
    let made_up = call(&bases[0], start, Some("made-up")).await;
    assert_eq!(made_up.status, 401);

    // One period later: the old nonce still passes, and the answer names the next one.
    clock.advance(DEFAULT_NONCE_PERIOD);
    let later = start + i64::try_from(DEFAULT_NONCE_PERIOD.as_secs()).unwrap();
    let axum = call(&bases[0], later, Some(&first)).await;
    let rocket = call(&bases[1], later, Some(&first)).await;
    assert_eq!(axum.status, 200, "{axum:?}");
    assert_eq!((axum.status, &axum.nonce), (rocket.status, &rocket.nonce));
    let second = axum.nonce.expect("the next nonce on a success");
    assert_ne!(second, first);

    // Two periods later the first nonce is gone; the refusal carries the current one.
    clock.advance(DEFAULT_NONCE_PERIOD);
    let latest = later + i64::try_from(DEFAULT_NONCE_PERIOD.as_secs()).unwrap();
    let axum = call(&bases[0], latest, Some(&first)).await;
    let rocket = call(&bases[1], latest, Some(&first)).await;
    assert_eq!(axum, rocket);
    assert_eq!(axum.status, 401);
    let third = axum.nonce.expect("DPoP-Nonce on the refusal");
    assert!(third != first && third != second);
    let ok = call(&bases[1], latest, Some(&third)).await;
    assert_eq!(ok.status, 200);
}

/// Nonces are off unless configured: no `DPoP-Nonce` on any answer, and proofs need none.
#[tokio::test]
async fn rfc9449_section_9_no_nonce_header_unless_configured() {
    let server = dev_server().await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let jkt = jwk_thumbprint(&key.public_jwk().unwrap()).unwrap();
    let token = server.mint_token_with("alice", "photos:read", &json!({ "cnf": { "jkt": jkt } }));
    let authenticator = || {
        Authenticator::builder(server.verifier().unwrap())
            .realm(photos_demo::REALM)
            .dpop(DpopMode::Required)
            .build()
            .unwrap()
    };
    for base in [
        oauth_e2e::support::start_axum_with(authenticator()).await,
        oauth_e2e::support::start_rocket_with(authenticator()).await,
    ] {
        let url = format!("{base}/photos");
        for authorization in [format!("DPoP {token}"), "DPoP x".to_owned()] {
            let proof = proof(&key, "GET", &url, now(), Some(&token), None);
            let answer = seen(
                reqwest::Client::new()
                    .get(&url)
                    .header("authorization", authorization)
                    .header("DPoP", proof)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(answer.nonce, None, "{base}: {answer:?}");
        }
    }
}

async fn token_request(server: &DevServerHandle, key: &SigningKey, nonce: Option<&str>) -> Seen {
    let url = format!("{}/token", server.issuer());
    let proof = proof(key, "POST", &url, now(), None, nonce);
    seen(
        reqwest::Client::new()
            .post(url)
            .header("DPoP", proof)
            .form(&[
                ("grant_type", "password"),
                ("client_id", "dpop-app"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("scope", "photos:read"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// RFC 9449 §8: the development server, told to, requires a nonce at `/token`: 400
/// `use_dpop_nonce` with `DPoP-Nonce`, then a bound token for a proof carrying it.
#[tokio::test]
async fn rfc9449_section_8_dev_server_token_endpoint_nonces() {
    let server = dev_server().await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();

    let refused = token_request(&server, &key, None).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");
    let nonce = refused.nonce.expect("DPoP-Nonce on the refusal");

    let wrong = token_request(&server, &key, Some("not-the-nonce")).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.nonce.as_deref(), Some(nonce.as_str()));

    let issued = token_request(&server, &key, Some(&nonce)).await;
    assert_eq!(issued.status, 200, "{issued:?}");
    let body: Value = serde_json::from_str(&issued.body).unwrap();
    assert_eq!(body["token_type"], "DPoP");
    // A current nonce needs no successor (the period is a minute; allow for the boundary).
    if let Some(next) = issued.nonce {
        assert_ne!(next, nonce);
    }

    // Without a proof the nonce requirement does not apply: bearer tokens as before.
    let bearer = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "dpop-app"),
            ("username", "alice"),
            ("password", "wonderland"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    // A password grant is a password login (RFC 9470 §4): acr urn:oauth-dev:pwd, auth_time now.
    let body: Value = bearer.json().await.unwrap();
    let payload = body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["acr"], oauth_runtime::dev::ACR_PASSWORD);
    assert!(claims["auth_time"].as_i64().unwrap() >= now() - 60);
}
