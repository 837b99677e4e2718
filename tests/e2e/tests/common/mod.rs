//! Shared set-up of the end-to-end tests: real keys made at run time, the example's real router
//! on 127.0.0.1:0, and a real HTTP client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use oauth_runtime::{Algorithm, Claims, JwtVerifier, SigningKey, TokenVerifier, VerifyError};
use serde_json::{Value, json};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The keys the example API trusts in these tests: an ES256 key (kid `es`) and an RS256 key
/// (kid `rs`).
pub struct Keys {
    pub es: SigningKey,
    pub rs: SigningKey,
}

impl Keys {
    pub fn generate() -> Keys {
        Keys {
            es: SigningKey::generate(Algorithm::ES256)
                .unwrap()
                .with_kid("es"),
            rs: SigningKey::generate(Algorithm::RS256)
                .unwrap()
                .with_kid("rs"),
        }
    }

    /// The example's own verifier configuration, trusting these keys.
    pub fn verifier(&self) -> JwtVerifier {
        photos_demo::verifier(
            ISSUER,
            [
                self.es.verification_key().unwrap(),
                self.rs.verification_key().unwrap(),
            ],
        )
        .unwrap()
    }

    pub fn token(&self, scopes: &str) -> String {
        self.es.sign_jwt(&claims(scopes))
    }
}

/// The issuer of the tests' own tokens.
pub const ISSUER: &str = "https://issuer.test";

/// Claims the example accepts (RFC 9068), granting `scopes`.
pub fn claims(scopes: &str) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": photos_demo::AUDIENCE,
        "sub": "alice",
        "client_id": "e2e",
        "iat": now,
        "exp": now + 600,
        "jti": format!("jti-{now}"),
        "scope": scopes,
    })
}

/// Wraps a real verifier and counts how often it runs, to show what is rejected before
/// verification and what is not verified twice.
#[derive(Clone)]
pub struct Counting<V> {
    pub inner: V,
    pub calls: Arc<AtomicUsize>,
}

impl<V> Counting<V> {
    pub fn new(inner: V) -> Self {
        Counting {
            inner,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[oauth_runtime::async_trait]
impl<V: TokenVerifier> TokenVerifier for Counting<V> {
    async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(token).await
    }
}

/// Serves `router` on 127.0.0.1:0 and returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Starts the example API with the example's authenticator around `verifier`.
pub async fn start_example(verifier: impl TokenVerifier) -> String {
    start_axum_with(example_authenticator(verifier)).await
}

/// The example's authenticator settings (its realm) around any verifier.
pub fn example_authenticator(verifier: impl TokenVerifier) -> oauth_runtime::Authenticator {
    oauth_runtime::Authenticator::builder(verifier)
        .realm(photos_demo::REALM)
        .build()
        .unwrap()
}

/// Starts the axum example with `authenticator`.
pub async fn start_axum_with(authenticator: oauth_runtime::Authenticator) -> String {
    serve(photos_axum::app(
        authenticator,
        Arc::new(unused_client_app()),
    ))
    .await
}

/// What the client saw.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub body: String,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        Answer {
            status,
            www_authenticate,
            body: response.text().await.unwrap(),
        }
    }
}

pub async fn get(url: &str, token: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    Answer::from(request.send().await.unwrap()).await
}

pub const INVALID_TOKEN: &str = r#"Bearer realm="photos", error="invalid_token", error_description="the access token is invalid""#;
pub const EXPIRED_TOKEN: &str =
    r#"Bearer realm="photos", error="invalid_token", error_description="the access token expired""#;
pub const NO_TOKEN: &str = r#"Bearer realm="photos""#;

pub fn invalid_request(why: &str) -> String {
    format!(r#"Bearer realm="photos", error="invalid_request", error_description="{why}""#)
}

pub fn insufficient(scope: &str) -> String {
    format!(
        r#"Bearer realm="photos", error="insufficient_scope", error_description="the access token lacks a required scope", scope="{scope}""#
    )
}

/// Starts the Rocket example with the example's authenticator around `verifier`, on
/// 127.0.0.1:0, and returns its base URL once it listens.
pub async fn start_rocket_example(verifier: impl TokenVerifier) -> String {
    start_rocket_with(example_authenticator(verifier)).await
}

/// Starts the Rocket example with `authenticator`.
pub async fn start_rocket_with(authenticator: oauth_runtime::Authenticator) -> String {
    launch_rocket(photos_rocket::app(
        rocket::custom(rocket_config()),
        authenticator,
        unused_client_app(),
    ))
    .await
}

/// Rocket on 127.0.0.1:0, quiet, not taking Ctrl-C from the test runner.
pub fn rocket_config() -> rocket::Config {
    let mut config = rocket::Config {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    };
    config.shutdown.ctrlc = false;
    config
}

/// Launches `rocket` in the background and returns its base URL once it listens.
pub async fn launch_rocket(rocket: rocket::Rocket<rocket::Build>) -> String {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let rocket = rocket.attach(rocket::fairing::AdHoc::on_liftoff("port", move |rocket| {
        let port = rocket.config().port;
        Box::pin(async move {
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(port);
            }
        })
    }));
    tokio::spawn(rocket.launch());
    format!("http://127.0.0.1:{}", rx.await.unwrap())
}

/// The web client pages need an authorization server; tests of the API alone point them nowhere.
pub fn unused_client_app() -> photos_demo::ClientApp {
    photos_demo::ClientApp::new("http://127.0.0.1:9", "http://127.0.0.1:9")
}

/// A browser that does not follow redirects, so each step can be looked at.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The consent page as the browser got it: its CSRF cookie and form token.
pub struct ConsentPage {
    pub cookie: String,
    pub csrf: String,
    pub html: String,
}

pub async fn open_consent(url: &str) -> ConsentPage {
    let response = browser().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    ConsentPage { cookie, csrf, html }
}

/// Submits the consent form of the server at `issuer`.
pub async fn submit_consent(
    issuer: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = browser().post(format!("{issuer}/authorize")).form(fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Logs in as alice and approves; returns where the server redirects the browser.
pub async fn approve_as_alice(issuer: &str, url: &str) -> String {
    let page = open_consent(url).await;
    let fields = [
        ("csrf_token", page.csrf.as_str()),
        ("username", "alice"),
        ("password", "wonderland"),
        ("decision", "approve"),
    ];
    let response = submit_consent(issuer, Some(&page.cookie), &fields).await;
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Asserts that a metadata document's `scopes_supported` lists every scope the examples declare.
pub fn assert_lists_the_declared_scopes(document: &Value) {
    for scope in [
        "albums:read",
        "photos:delete",
        "photos:read",
        "photos:write",
    ] {
        assert!(
            document["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(scope)),
            "{scope} in {document}"
        );
    }
}
