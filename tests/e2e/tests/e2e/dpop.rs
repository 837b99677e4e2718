//! DPoP (RFC 9449) end to end: the development server issues a DPoP-bound token for a proof made
//! with a key generated here, and the axum and Rocket examples in `Required` mode accept it only
//! with a fresh proof of that key for each request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth_e2e::support::{Answer, now};
use oauth_runtime::dev::{Client, DevServer, DevServerHandle, Grant, User};
use oauth_runtime::dpop::{DpopMode, DpopVerifier, MemoryReplayStore, jwk_thumbprint};
use oauth_runtime::{Algorithm, Authenticator, CachedVerifier, ManualClock, SigningKey};
use serde_json::{Value, json};

/// The development server the DPoP modules use, not started: a public client with the password
/// and refresh grants, and alice.
pub(crate) fn dpop_app_server() -> DevServer {
    DevServer::new()
        .audience(photos_demo::AUDIENCE)
        .scope("photos:read", "See your photos")
        .client(
            Client::public("dpop-app", ["http://127.0.0.1:8080/callback"])
                .with_grants([Grant::Password, Grant::RefreshToken]),
        )
        .user(User::new("alice", "wonderland"))
}

async fn dev_server() -> DevServerHandle {
    dpop_app_server().start().await.unwrap()
}

/// A DPoP proof (RFC 9449 §4.2) by `key` for `method` and `url`, for `token` when given.
fn proof(key: &SigningKey, method: &str, url: &str, token: Option<&str>) -> String {
    oauth_e2e::support::dpop_proof(key, method, url, now(), token, None)
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
    let api = oauth_e2e::support::start_axum_with(authenticator).await;
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
    let axum = oauth_e2e::support::start_axum_with(authenticator()).await;
    let rocket = oauth_e2e::support::start_rocket_with(authenticator()).await;
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

/// A proof by `key` for `GET url` and `token` with the given `iat` and a fresh `jti`.
fn proof_at(key: &SigningKey, url: &str, token: &str, iat: i64) -> String {
    oauth_e2e::support::dpop_proof(key, "GET", url, iat, Some(token), None)
}

/// The example API in `Required` mode with `dpop` in front of `server`, and a token bound to
/// `key`.
async fn bound_api(
    server: &DevServerHandle,
    key: &SigningKey,
    dpop: DpopVerifier,
) -> (String, String) {
    let jkt = jwk_thumbprint(&key.public_jwk().unwrap()).unwrap();
    let token = server.mint_token_with("alice", "photos:read", &json!({ "cnf": { "jkt": jkt } }));
    let authenticator = Authenticator::builder(server.verifier().unwrap())
        .realm(photos_demo::REALM)
        .dpop(DpopMode::Required)
        .dpop_verifier(dpop)
        .build()
        .unwrap();
    let api = oauth_e2e::support::start_axum_with(authenticator).await;
    (format!("{api}/photos"), token)
}

/// RFC 9449 §11.1, found by an attack: the `iat` check reads whole seconds, so a proof passes
/// until `iat + window + 1 s`; remembered only until `iat + window`, it was accepted again and
/// again in that last second (five times here, before the fix).
#[tokio::test]
async fn rfc9449_section_11_1_a_proof_is_accepted_once_even_in_its_last_second() {
    let server = dev_server().await;
    let client = SigningKey::generate(Algorithm::ES256).unwrap();
    let t = u64::try_from(now()).unwrap();
    let clock = ManualClock::at_unix(t);
    clock.advance(std::time::Duration::from_millis(500));
    let dpop = DpopVerifier::builder().clock(clock).build().unwrap();
    let (photos, token) = bound_api(&server, &client, dpop).await;
    let proof = proof_at(&client, &photos, &token, now() - 60);
    let authorization = format!("DPoP {token}");
    assert_eq!(call(&photos, &authorization, &[&proof]).await.status, 200);
    for _ in 0..4 {
        assert_eq!(call(&photos, &authorization, &[&proof]).await.status, 401);
    }
}

/// RFC 9449 §11.1, found by an attack: one client with one bound token filled the shared
/// in-memory replay store with fresh `jti`s (future-dated, so each lived two minutes), and every
/// other client's proofs were answered 503. Each client key now has a share of the store.
#[tokio::test]
async fn rfc9449_section_11_1_one_client_cannot_lock_others_out_of_the_replay_store() {
    let server = dev_server().await;
    let mallory = SigningKey::generate(Algorithm::ES256).unwrap();
    let alice = SigningKey::generate(Algorithm::ES256).unwrap();
    let dpop = DpopVerifier::builder()
        .replay_store(MemoryReplayStore::new(300).per_client(3))
        .build()
        .unwrap();
    let (photos, mallory_token) = bound_api(&server, &mallory, dpop).await;
    let jkt = jwk_thumbprint(&alice.public_jwk().unwrap()).unwrap();
    let alice_token =
        server.mint_token_with("alice", "photos:read", &json!({ "cnf": { "jkt": jkt } }));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let proof = proof_at(&mallory, &photos, &mallory_token, now() + 60);
        statuses.push(
            call(&photos, &format!("DPoP {mallory_token}"), &[&proof])
                .await
                .status,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 503, 503], "mallory's share is 3");
    let proof = proof_at(&alice, &photos, &alice_token, now());
    assert_eq!(
        call(&photos, &format!("DPoP {alice_token}"), &[&proof])
            .await
            .status,
        200,
        "another client is unaffected"
    );
}

#[oauth_runtime::requires_scope("photos:read")]
#[rocket::get("/configured")]
async fn configured(claims: oauth_runtime::Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

/// DPoP configured in `Rocket.toml` (`[default.oauth.dpop]`), read by
/// `AuthFairing::from_config()`: the mode, the algorithm list and the external URL that `htu`
/// is checked against (RFC 9449 §4.3 step 9) all take effect.
#[tokio::test(flavor = "multi_thread")]
async fn rfc9449_dpop_settings_from_rocket_configuration() {
    let server = dev_server().await;
    let figment = rocket::figment::Figment::from(oauth_e2e::support::rocket_config())
        .merge(("oauth.issuer", server.issuer()))
        .merge(("oauth.audience", photos_demo::AUDIENCE))
        .merge(("oauth.jwks", server.jwks().to_string()))
        .merge(("oauth.realm", "photos"))
        .merge((
            "oauth.dpop",
            json!({ "mode": "required", "external_url": "https://photos.example.com/",
                    "algorithms": ["ES256"] }),
        ));
    let rocket = rocket::custom(figment)
        .attach(oauth_runtime::rocket::AuthFairing::from_config())
        .mount("/", rocket::routes![configured]);
    let base = oauth_e2e::support::launch_rocket(rocket).await;
    let client_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let extra =
        json!({ "cnf": { "jkt": jwk_thumbprint(&client_key.public_jwk().unwrap()).unwrap() } });
    let bound = server.mint_token_with("alice", "photos:read", &extra);
    let url = format!("{base}/configured");
    let public = proof(
        &client_key,
        "GET",
        "https://photos.example.com/configured",
        Some(&bound),
    );
    let answer = call(&url, &format!("DPoP {bound}"), &[&public]).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "alice"));
    let local = proof(&client_key, "GET", &url, Some(&bound));
    let answer = call(&url, &format!("DPoP {bound}"), &[&local]).await;
    assert_eq!(answer.status, 401, "htu is the configured external URL");
    let answer = call(&url, &format!("Bearer {bound}"), &[]).await;
    assert_eq!(
        (answer.status, answer.www_authenticate.as_deref()),
        (
            401,
            Some(
                r#"DPoP realm="photos", error="invalid_token", error_description="a DPoP-bound access token is required", algs="ES256""#
            )
        ),
        "required, with the configured algorithm list"
    );
}
