//! Shared set-up of the end-to-end tests: real keys made at run time, the example's real router
//! on 127.0.0.1:0, and a real HTTP client.
// Test support: a failed step here is the calling test's failure, and the panic says where.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use oauth_runtime::{Algorithm, Claims, JwtVerifier, SigningKey, TokenVerifier, VerifyError};
use serde_json::{Value, json};

/// Seconds since the Unix epoch, as JWT claims count time.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The keys the example API trusts in these tests: an ES256 key (kid `es`) and an RS256 key
/// (kid `rs`).
#[derive(Debug)]
pub struct Keys {
    /// The ES256 key, kid `es`; signs [`Keys::token`].
    pub es: SigningKey,
    /// The RS256 key, kid `rs`.
    pub rs: SigningKey,
}

impl Keys {
    /// Two fresh keys, never seen by any other test.
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

    /// A valid token for the example API granting `scopes`, signed with the ES256 key.
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
#[derive(Clone, Debug)]
pub struct Counting<V> {
    /// The verifier that does the work.
    pub inner: V,
    /// How often `verify` ran, shared by every clone.
    pub calls: Arc<AtomicUsize>,
}

impl<V> Counting<V> {
    /// Counts the calls to `inner`, from zero.
    pub fn new(inner: V) -> Self {
        Counting {
            inner,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
    /// How often `verify` ran so far.
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
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub www_authenticate: Option<String>,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// Reads status, challenge and body of `response`.
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

/// `GET url`, with `token` as a bearer token if given.
pub async fn get(url: &str, token: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    Answer::from(request.send().await.unwrap()).await
}

/// The example's challenge for a bad or forged token (RFC 6750 §3.1 `invalid_token`).
pub const INVALID_TOKEN: &str = r#"Bearer realm="photos", error="invalid_token", error_description="the access token is invalid""#;
/// The example's challenge for an expired token.
pub const EXPIRED_TOKEN: &str =
    r#"Bearer realm="photos", error="invalid_token", error_description="the access token expired""#;
/// The example's challenge for a request without a token (RFC 6750 §3.1: no error code).
pub const NO_TOKEN: &str = r#"Bearer realm="photos""#;

/// The example's challenge for a malformed request, saying `why`.
pub fn invalid_request(why: &str) -> String {
    format!(r#"Bearer realm="photos", error="invalid_request", error_description="{why}""#)
}

/// The example's challenge for a token that lacks `scope`.
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
#[derive(Debug)]
pub struct ConsentPage {
    /// The `name=value` of the CSRF cookie, ready for a `Cookie` header.
    pub cookie: String,
    /// The form's `csrf_token` field.
    pub csrf: String,
    /// The whole page.
    pub html: String,
}

/// Opens the consent page at `url` in a fresh browser; the page must answer 200.
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

/// Makes `subscriber` the current thread's default until the guard drops.
///
/// Thread-local, not global: this binary runs every end-to-end test in one process, and a global
/// subscriber would collect the other tests' logs (and can be set only once). The tests here use
/// the current-thread runtime, so the requests they serve log on this thread.
///
/// tracing-core 0.1.36 caches per call site whether anyone listens, for the whole process. While
/// exactly one dispatcher is registered it asks the default of whichever thread reaches a call
/// site first (tokio-rs/tracing#3611): another test's thread, which has no subscriber, would mark
/// the runtime's rejection events "never" and this capture would miss them (seen as a flaky
/// missing reason when the tests shared the binary). A second, inert dispatcher kept for the
/// life of the process takes tracing-core off that path; the rebuild then re-asks every call site
/// marked while it was still on it.
pub fn scoped(
    subscriber: impl tracing::Subscriber + Send + Sync,
) -> tracing::subscriber::DefaultGuard {
    static INERT: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    INERT.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}

/// A DPoP proof (RFC 9449 §4.2) by `key` for `method` and `url`, issued at `iat`, with a `jti`
/// never used before in this process, the `ath` of `token` and the server's `nonce` when given.
pub fn dpop_proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    iat: i64,
    token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut claims = json!({
        "jti": format!("e2e-{}-{}", now(), NEXT.fetch_add(1, Ordering::SeqCst)),
        "htm": method,
        "htu": url,
        "iat": iat,
    });
    if let Some(token) = token {
        claims["ath"] = oauth_runtime::dpop::access_token_hash(token).into();
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    let header = json!({
        "typ": "dpop+jwt",
        "alg": format!("{:?}", key.algorithm()),
        "jwk": key.public_jwk().expect("a public key"),
    });
    key.sign_jwt_with_header(&header, &claims)
}

/// An RFC 7662 introspection endpoint on 127.0.0.1:0 that gives `answer` for every token: its
/// URL, and how many requests it got (to tell cache hits from calls).
pub async fn introspection_endpoint(answer: Value) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    (format!("{}/introspect", serve(app).await), calls)
}
