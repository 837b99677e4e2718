//! Step-up authentication (RFC 9470) as a client lives it: a token from a password login is
//! challenged by a route that asks for multi-factor login, the client authorizes again at the
//! development server with the challenge's `acr_values`, the person enters the one-time code on
//! the consent page (driven over real HTTP), and the new token passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth_e2e::support::{Answer, open_consent, submit_consent};
use oauth_runtime::dev::{
    ACR_MFA, ACR_PASSWORD, Client, DevServer, DevServerHandle, LoginLimits, User,
};
use oauth_runtime::{Authenticator, requires_scope};
use oauth2::PkceCodeChallenge;
use serde_json::Value;

use super::step_up::PAYMENTS_WRITE;

const REDIRECT: &str = "http://127.0.0.1:8080/callback";

#[requires_scope(PAYMENTS_WRITE, acr = "urn:oauth-dev:mfa")]
async fn pay() -> &'static str {
    "paid"
}

async fn dev_server(limits: LoginLimits) -> DevServerHandle {
    DevServer::new()
        .audience("payments-api")
        .scope("payments:write", "Make payments")
        .client(Client::public("wallet", [REDIRECT]))
        .user(User::new("alice", "wonderland").with_otp("123456"))
        .user(User::new("bob", "builder"))
        .login_limits(limits)
        .start()
        .await
        .unwrap()
}

async fn payments_api(server: &DevServerHandle) -> String {
    let authenticator = Authenticator::builder(server.verifier().unwrap())
        .realm("payments")
        .build()
        .unwrap();
    let router = axum::Router::new()
        .route("/pay", axum::routing::post(pay))
        .layer(authenticator.layer());
    oauth_e2e::support::serve(router).await
}

/// An authorization request of the public client `wallet` with PKCE and `extra` parameters;
/// returns its URL and the PKCE verifier.
fn authorize_url(server: &DevServerHandle, extra: &[(&str, &str)]) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut query = url_encoded(&[
        ("response_type", "code"),
        ("client_id", "wallet"),
        ("redirect_uri", REDIRECT),
        ("scope", "payments:write"),
        ("state", "s1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    if !extra.is_empty() {
        query = format!("{query}&{}", url_encoded(extra));
    }
    (
        format!("{}/authorize?{query}", server.issuer()),
        verifier.secret().clone(),
    )
}

fn url_encoded(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap().to_owned()
}

fn param(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The consent form submitted as `username` with `password` and, when given, `otp`.
fn fields<'a>(
    csrf: &'a str,
    username: &'a str,
    password: &'a str,
    otp: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("csrf_token", csrf),
        ("username", username),
        ("password", password),
        ("decision", "approve"),
    ];
    if let Some(otp) = otp {
        fields.push(("otp", otp));
    }
    fields
}

/// Exchanges `code` for tokens.
async fn exchange(server: &DevServerHandle, code: &str, verifier: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "wallet"),
            ("redirect_uri", REDIRECT),
            ("code", code),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn pay_with(api: &str, token: &str) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{api}/pay"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    Answer::from(response).await
}

/// The quoted value of `name` in a challenge.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')?;
    Some(challenge[start..start + end].to_owned())
}

/// RFC 9470 §3 and §4, the whole loop: password login, challenge naming `acr_values`, a new
/// authorization request with them, the one-time code (a wrong one refused first), and a token
/// that passes; its `acr` and `auth_time` survive a refresh.
#[tokio::test]
async fn rfc9470_section_4_step_up_loop_with_the_dev_server() {
    let server = dev_server(LoginLimits::default()).await;
    let api = payments_api(&server).await;

    // A plain login: no code asked, a token with acr urn:oauth-dev:pwd.
    let (url, verifier) = authorize_url(&server, &[]);
    let page = open_consent(&url).await;
    assert!(!page.html.contains("name=\"otp\""), "{}", page.html);
    let before_login = oauth_e2e::support::now();
    let response = submit_consent(
        server.issuer(),
        Some(&page.cookie),
        &fields(&page.csrf, "alice", "wonderland", None),
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let code = param(&location, "code").unwrap();
    let tokens = exchange(&server, &code, &verifier).await;
    let weak = tokens["access_token"].as_str().unwrap();
    let weak_claims = claims(weak);
    assert_eq!(weak_claims["acr"], ACR_PASSWORD);
    assert!(weak_claims["auth_time"].as_i64().unwrap() >= before_login);

    // The route asks for more: 401 insufficient_user_authentication naming the acr.
    let refused = pay_with(&api, weak).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    let challenge = refused.www_authenticate.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "{challenge}"
    );
    let acr_values = challenge_param(&challenge, "acr_values").unwrap();
    assert_eq!(acr_values, ACR_MFA);

    // Again, with the challenge's acr_values: the page asks for the one-time code.
    let (url, verifier) = authorize_url(&server, &[("acr_values", &acr_values)]);
    let page = open_consent(&url).await;
    assert!(page.html.contains("name=\"otp\""), "{}", page.html);
    assert!(page.html.contains("One-time code"), "{}", page.html);
    for otp in [Some("654321"), None] {
        let wrong = submit_consent(
            server.issuer(),
            Some(&page.cookie),
            &fields(&page.csrf, "alice", "wonderland", otp),
        )
        .await;
        assert_eq!(wrong.status(), 401, "{otp:?}");
        let html = wrong.text().await.unwrap();
        assert!(
            html.contains("wrong username, password or one-time code"),
            "{html}"
        );
    }
    let response = submit_consent(
        server.issuer(),
        Some(&page.cookie),
        &fields(&page.csrf, "alice", "wonderland", Some("123456")),
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(param(&location, "state").as_deref(), Some("s1"));
    let tokens = exchange(&server, &param(&location, "code").unwrap(), &verifier).await;
    let strong = tokens["access_token"].as_str().unwrap();
    let strong_claims = claims(strong);
    assert_eq!(strong_claims["acr"], ACR_MFA);

    let passed = pay_with(&api, strong).await;
    assert_eq!((passed.status, passed.body.as_str()), (200, "paid"));

    // A refresh is no new login: acr and auth_time stay those of the login.
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "wallet"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    let refreshed_claims = claims(refreshed["access_token"].as_str().unwrap());
    assert_eq!(refreshed_claims["acr"], ACR_MFA);
    assert_eq!(refreshed_claims["auth_time"], strong_claims["auth_time"]);
}

/// RFC 9470 §4: a user without a one-time code cannot pass a multi-factor login, whatever is
/// entered; wrong codes count towards the user's lockout like wrong passwords.
#[tokio::test]
async fn rfc9470_section_4_wrong_codes_are_counted_and_lock_the_user() {
    let server = dev_server(LoginLimits {
        per_user: 2,
        ..LoginLimits::default()
    })
    .await;
    let mfa = [("acr_values", ACR_MFA)];

    let (url, _) = authorize_url(&server, &mfa);
    let page = open_consent(&url).await;
    for otp in ["", "123456"] {
        let refused = submit_consent(
            server.issuer(),
            Some(&page.cookie),
            &fields(&page.csrf, "bob", "builder", Some(otp)),
        )
        .await;
        assert_eq!(refused.status(), 401, "bob has no code: {otp:?}");
    }

    // Two wrong codes for alice, on two pages: she is locked, the right code now refused too.
    for _ in 0..2 {
        let (url, _) = authorize_url(&server, &mfa);
        let page = open_consent(&url).await;
        let refused = submit_consent(
            server.issuer(),
            Some(&page.cookie),
            &fields(&page.csrf, "alice", "wonderland", Some("000000")),
        )
        .await;
        assert_eq!(refused.status(), 401);
    }
    let (url, _) = authorize_url(&server, &mfa);
    let page = open_consent(&url).await;
    let locked = submit_consent(
        server.issuer(),
        Some(&page.cookie),
        &fields(&page.csrf, "alice", "wonderland", Some("123456")),
    )
    .await;
    assert_eq!(locked.status(), 429);
    assert!(server.entry_counts().login_failures > 0);
}

/// RFC 9470 §4 with OpenID Connect's `max_age`: this server keeps no session, so every consent
/// page is a fresh login and any `max_age` is met (`auth_time` is the time of the form's
/// submission); one that is not a number of seconds is refused with `invalid_request`. The
/// metadata names the acr values it can perform.
#[tokio::test]
async fn rfc9470_section_4_max_age_and_acr_values_supported() {
    let server = dev_server(LoginLimits::default()).await;

    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        metadata["acr_values_supported"],
        serde_json::json!([ACR_PASSWORD, ACR_MFA])
    );

    // (An empty max_age counts as absent, RFC 6749 §3.1.)
    for bad in ["-1", "ten", "+5", "1e3", "99999999999999999999999"] {
        let (url, _) = authorize_url(&server, &[("max_age", bad)]);
        let response = oauth_e2e::support::browser()
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{bad:?}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(
            param(location, "error").as_deref(),
            Some("invalid_request"),
            "{bad:?}"
        );
    }

    // max_age=0: the login on the page is fresh, so the token's auth_time is now.
    let (url, verifier) = authorize_url(&server, &[("max_age", "0")]);
    let page = open_consent(&url).await;
    let before = oauth_e2e::support::now();
    let response = submit_consent(
        server.issuer(),
        Some(&page.cookie),
        &fields(&page.csrf, "alice", "wonderland", None),
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let tokens = exchange(&server, &param(&location, "code").unwrap(), &verifier).await;
    let auth_time = claims(tokens["access_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    assert!(auth_time >= before, "{auth_time} >= {before}");
}
