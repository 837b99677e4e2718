//! Step-up authentication (RFC 9470) and the per-handler `dpop` flag (RFC 9449) end to end: a
//! small payments API on axum and on Rocket, tokens minted by the development server with the
//! `acr` and `auth_time` claims a login would put there, and real HTTP on 127.0.0.1. Both
//! frameworks must answer byte for byte alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oauth_e2e::support::{Answer, now};
use oauth_runtime::dev::{DevServer, DevServerHandle};
use oauth_runtime::dpop::jwk_thumbprint;
use oauth_runtime::{Algorithm, Authenticator, SigningKey, requires_scope};
use serde_json::{Value, json};

const MFA: &str = "urn:example:mfa";

// Declared, as every scope a handler in this binary requires must be: the catalog test checks
// the whole binary's registrations.
oauth_runtime::scopes! {
    /// See your payments
    pub PAYMENTS_READ = "payments:read";
    /// Make payments
    pub PAYMENTS_WRITE = "payments:write";
}

#[requires_scope(PAYMENTS_WRITE, acr = ["urn:example:mfa", "urn:example:hwk"], max_age = 300)]
async fn pay() -> &'static str {
    "paid"
}

#[requires_scope(PAYMENTS_READ, dpop)]
async fn statement() -> &'static str {
    "statement"
}

#[requires_scope(PAYMENTS_READ)]
async fn balance() -> &'static str {
    "balance"
}

#[requires_scope(PAYMENTS_WRITE, acr = ["urn:example:mfa", "urn:example:hwk"], max_age = 300)]
#[rocket::post("/pay")]
async fn rocket_pay() -> &'static str {
    "paid"
}

#[requires_scope(PAYMENTS_READ, dpop)]
#[rocket::get("/statement")]
async fn rocket_statement() -> &'static str {
    "statement"
}

#[requires_scope(PAYMENTS_READ)]
#[rocket::get("/balance")]
async fn rocket_balance() -> &'static str {
    "balance"
}

async fn dev_server() -> DevServerHandle {
    DevServer::new()
        .audience("payments-api")
        .scope("payments:read", "See your payments")
        .scope("payments:write", "Make payments")
        .start()
        .await
        .unwrap()
}

/// The same authenticator on both frameworks, DPoP disabled: the `dpop` handler must require a
/// bound token all the same.
fn authenticator(server: &DevServerHandle) -> Authenticator {
    Authenticator::builder(server.verifier().unwrap())
        .realm("payments")
        .build()
        .unwrap()
}

/// Base URLs of the axum and the Rocket API.
async fn start_both(server: &DevServerHandle) -> [String; 2] {
    let router = axum::Router::new()
        .route("/pay", axum::routing::post(pay))
        .route("/statement", axum::routing::get(statement))
        .route("/balance", axum::routing::get(balance))
        .layer(authenticator(server).layer());
    let axum_url = oauth_e2e::support::serve(router).await;
    let rocket = rocket::custom(oauth_e2e::support::rocket_config())
        .attach(authenticator(server).fairing())
        .mount(
            "/",
            rocket::routes![rocket_pay, rocket_statement, rocket_balance],
        );
    let rocket_url = oauth_e2e::support::launch_rocket(rocket).await;
    [axum_url, rocket_url]
}

async fn send(
    method: reqwest::Method,
    url: &str,
    authorization: &str,
    proof: Option<&str>,
) -> Answer {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    Answer::from(request.send().await.unwrap()).await
}

/// `POST /pay` on both frameworks; the two answers must be identical, and that one is returned.
async fn pay_on_both(urls: &[String; 2], token: &str) -> Answer {
    let auth = format!("Bearer {token}");
    let axum = send(
        reqwest::Method::POST,
        &format!("{}/pay", urls[0]),
        &auth,
        None,
    )
    .await;
    let rocket = send(
        reqwest::Method::POST,
        &format!("{}/pay", urls[1]),
        &auth,
        None,
    )
    .await;
    assert_eq!(axum, rocket, "axum and Rocket answer alike");
    axum
}

fn step_up_challenge(description: &str) -> String {
    format!(
        r#"Bearer realm="payments", error="insufficient_user_authentication", error_description="{description}", acr_values="urn:example:mfa urn:example:hwk", max_age="300""#
    )
}

/// RFC 9470 §3: a token with the scope but no (or a weaker) `acr` is challenged to step up; an
/// MFA token with a fresh `auth_time` passes; a stale or missing `auth_time` is challenged again.
#[tokio::test]
async fn rfc9470_section_3_step_up_challenges_on_axum_and_rocket() {
    let server = dev_server().await;
    let urls = start_both(&server).await;
    let mint = |extra: Value| server.mint_token_with("alice", "payments:write", &extra);

    let stronger = step_up_challenge("a stronger user authentication is required");
    for weak in [
        json!({}),
        json!({ "acr": "urn:example:pwd", "auth_time": now() }),
    ] {
        let answer = pay_on_both(&urls, &mint(weak)).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.www_authenticate.as_deref(), Some(stronger.as_str()));
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["error"], "insufficient_user_authentication");
        assert_eq!(body["acr_values"], "urn:example:mfa urn:example:hwk");
        assert_eq!(body["max_age"], 300);
    }

    let fresh = mint(json!({ "acr": MFA, "auth_time": now() - 10 }));
    let answer = pay_on_both(&urls, &fresh).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "paid"));

    // max_age = 300: an hour-old login is too old, and a token without auth_time cannot show
    // its age. (An hour, not 301 s, so that a slow machine cannot make a fresh one stale.)
    let recent = step_up_challenge("a more recent user authentication is required");
    for stale in [
        json!({ "acr": MFA, "auth_time": now() - 3_600 }),
        json!({ "acr": MFA }),
    ] {
        let answer = pay_on_both(&urls, &mint(stale)).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.www_authenticate.as_deref(), Some(recent.as_str()));
    }
}

/// The scope is checked before the authentication: a token without it gets 403
/// `insufficient_scope` even when its login is too weak, since stepping up would not help it.
#[tokio::test]
async fn rfc9470_section_3_a_missing_scope_wins_over_step_up() {
    let server = dev_server().await;
    let urls = start_both(&server).await;
    let token = server.mint_token_with("alice", "payments:read", &json!({}));
    let answer = pay_on_both(&urls, &token).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="payments", error="insufficient_scope", error_description="the access token lacks a required scope", scope="payments:write""#
        )
    );
}

/// A DPoP proof (RFC 9449 §4.2) by `key` for `GET url` and `token`.
fn proof(key: &SigningKey, url: &str, token: &str) -> String {
    oauth_e2e::support::dpop_proof(key, "GET", url, now(), Some(token), None)
}

/// RFC 9449 §7.1: a handler marked `dpop` takes only a DPoP-bound token with a valid proof, with
/// DPoP disabled for the rest of the API, and challenges with the `DPoP` scheme alone.
#[tokio::test]
async fn rfc9449_section_7_1_a_dpop_handler_requires_a_bound_token_on_axum_and_rocket() {
    let server = dev_server().await;
    let urls = start_both(&server).await;
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    let jkt = jwk_thumbprint(&key.public_jwk().unwrap()).unwrap();
    let bearer = server.mint_token("alice", "payments:read");
    let bound = server.mint_token_with("alice", "payments:read", &json!({ "cnf": { "jkt": jkt } }));
    let algs = r#"algs="ES256 ES384 RS256 PS256 EdDSA""#;

    let mut answers: [Vec<Answer>; 2] = Default::default();
    for (answers, base) in answers.iter_mut().zip(&urls) {
        let url = format!("{base}/statement");
        let get = |auth: String, proof: Option<String>| {
            let url = url.clone();
            async move { send(reqwest::Method::GET, &url, &auth, proof.as_deref()).await }
        };
        let refused = get(format!("Bearer {bearer}"), None).await;
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.www_authenticate.as_deref(),
            Some(
                format!(
                    r#"DPoP realm="payments", error="invalid_token", error_description="a DPoP-bound access token is required", {algs}"#
                )
                .as_str()
            )
        );
        answers.push(refused);
        // A bound token with the Bearer scheme, or without its proof, is no better.
        answers.push(get(format!("Bearer {bound}"), None).await);
        answers.push(get(format!("DPoP {bound}"), None).await);
        let good = proof(&key, &url, &bound);
        let passed = get(format!("DPoP {bound}"), Some(good.clone())).await;
        assert_eq!((passed.status, passed.body.as_str()), (200, "statement"));
        answers.push(passed);
        let replayed = get(format!("DPoP {bound}"), Some(good)).await;
        assert_eq!(
            replayed.www_authenticate.as_deref(),
            Some(
                format!(
                    r#"DPoP realm="payments", error="invalid_dpop_proof", error_description="the DPoP proof was already used", {algs}"#
                )
                .as_str()
            )
        );
        answers.push(replayed);
        // The rest of the API still takes bearer tokens and names no DPoP.
        let balance = send(
            reqwest::Method::GET,
            &format!("{base}/balance"),
            &format!("Bearer {bearer}"),
            None,
        )
        .await;
        assert_eq!((balance.status, balance.body.as_str()), (200, "balance"));
    }
    let [axum, rocket] = answers;
    for (a, r) in axum.iter().zip(&rocket) {
        assert_eq!(a, r, "axum and Rocket answer alike");
    }
}
