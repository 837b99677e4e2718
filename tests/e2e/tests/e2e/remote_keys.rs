//! Keys fetched from a JWKS URL: against the development authorization server, and against a
//! loopback JWKS server under the test's control that goes down, hangs, fails, lies, floods and
//! drops keys. Each test counts the fetches.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oauth_e2e::support::*;
use oauth_runtime::dev::DevServer;
use oauth_runtime::{Algorithm, JwksSettings, JwtVerifier, SigningKey, TokenVerifier, VerifyError};
use serde_json::json;

#[derive(Clone)]
enum Mode {
    Serve(serde_json::Value, &'static str),
    Status500,
    Garbage,
    Huge,
    Slow,
    /// A redirect to this location.
    Redirect(String),
}

#[derive(Clone)]
struct Jwks {
    mode: Arc<Mutex<Mode>>,
    hits: Arc<AtomicUsize>,
}

impl Jwks {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(jwks): State<Jwks>) -> Response {
    jwks.hits.fetch_add(1, Ordering::SeqCst);
    let mode = jwks.mode.lock().unwrap().clone();
    match mode {
        Mode::Serve(set, cache) => ([(CACHE_CONTROL, cache)], axum::Json(set)).into_response(),
        Mode::Status500 => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        Mode::Garbage => "{\"keys\": [".into_response(),
        Mode::Huge => format!(
            "{{\"keys\": [], \"pad\": \"{}\"}}",
            "x".repeat(10 * 1024 * 1024)
        )
        .into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "{}".into_response()
        }
        Mode::Redirect(to) => axum::response::Redirect::temporary(&to).into_response(),
    }
}

async fn jwks_server(mode: Mode) -> (Jwks, String) {
    let jwks = Jwks {
        mode: Arc::new(Mutex::new(mode)),
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new()
        .route("/jwks", get(serve_jwks))
        .with_state(jwks.clone());
    let base = serve(app).await;
    (jwks, format!("{base}/jwks"))
}

/// A JWKS server that can be switched off: its listener closes, so fetches are refused at
/// the TCP level (with a client that keeps no idle connections).
struct Stoppable {
    jwks: Jwks,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Stoppable {
    async fn start(mode: Mode) -> Stoppable {
        let jwks = Jwks {
            mode: Arc::new(Mutex::new(mode)),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        let app = axum::Router::new()
            .route("/jwks", get(serve_jwks))
            .with_state(jwks.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stoppable { jwks, url, task }
    }

    async fn stop(&self) {
        self.task.abort();
        // The listener is dropped with the aborted task.
        while reqwest::get(&self.url).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A client that opens a new connection per fetch, so that a stopped server is seen as one.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(oauth_runtime::jwks_redirect_policy())
        .build()
        .unwrap()
}

fn set_of(keys: &[&SigningKey]) -> serde_json::Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk().unwrap()).collect::<Vec<_>>() })
}

fn settings() -> JwksSettings {
    let mut s = JwksSettings::default();
    s.timeout = Duration::from_millis(500);
    s.min_ttl = Duration::from_millis(300);
    s.max_ttl = Duration::from_millis(300);
    s.cooldown = Duration::from_secs(30);
    s
}

fn verifier(url: &str, settings: JwksSettings) -> JwtVerifier {
    JwtVerifier::builder()
        .issuer(ISSUER)
        .audience(photos_demo::AUDIENCE)
        .jwks_url_with(url, reqwest::Client::new(), settings)
        .build()
        .unwrap()
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(kid)
}

#[tokio::test]
async fn keys_are_fetched_once_and_cached() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=600")).await;
    let mut s = settings();
    s.max_ttl = Duration::from_secs(600);
    let v = verifier(&url, s);
    for _ in 0..20 {
        assert!(v.verify(&k.sign_jwt(&claims("photos:read"))).await.is_ok());
    }
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn ten_thousand_unknown_kids_cause_one_fetch() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=600")).await;
    let mut s = settings();
    s.max_ttl = Duration::from_secs(600);
    let v = Arc::new(verifier(&url, s));
    assert!(v.verify(&k.sign_jwt(&claims("photos:read"))).await.is_ok());
    assert_eq!(jwks.hits(), 1);

    let stranger = key("unknown");
    let token = Arc::new(stranger.sign_jwt(&claims("photos:read")));
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let (v, token) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(
            task.await.unwrap(),
            Err(VerifyError::UnknownKey { .. })
        ));
    }
    assert_eq!(jwks.hits(), 2, "single flight: one refetch for all of them");
    // Within the cooldown, more unknown kids fetch nothing.
    assert!(
        v.verify(&key("other").sign_jwt(&claims("photos:read")))
            .await
            .is_err()
    );
    assert_eq!(jwks.hits(), 2, "cooldown");
}

#[tokio::test]
async fn a_new_kid_is_picked_up_without_a_restart() {
    let (old, new) = (key("old"), key("new"));
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&old]), "max-age=600")).await;
    let mut s = settings();
    s.max_ttl = Duration::from_secs(600);
    let v = verifier(&url, s);
    assert!(v.verify(&old.sign_jwt(&claims("a"))).await.is_ok());
    jwks.set(Mode::Serve(set_of(&[&old, &new]), "max-age=600"));
    assert!(
        v.verify(&new.sign_jwt(&claims("a"))).await.is_ok(),
        "unknown kid triggers a refetch"
    );
    assert_eq!(jwks.hits(), 2);
}

/// The README's promise, stale-if-error: once the keys have expired and the endpoint fails in
/// any way, requests are served from the last good keys at once while a refresh runs behind
/// them, and a failed refresh is retried only after a backoff, whatever the request rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_after_expiry_costs_requests_no_wait_and_few_fetches() {
    let k = key("k1");
    for (mode, name) in [
        (Some(Mode::Status500), "500"),
        (Some(Mode::Garbage), "invalid JSON"),
        (Some(Mode::Huge), "10 MiB"),
        (Some(Mode::Slow), "3 s delay"),
        (None, "connection refused"),
    ] {
        let server = Stoppable::start(Mode::Serve(set_of(&[&k]), "max-age=0")).await;
        let mut s = settings();
        s.timeout = Duration::from_millis(700);
        let v = JwtVerifier::builder()
            .issuer(ISSUER)
            .audience(photos_demo::AUDIENCE)
            .jwks_url_with(&server.url, unpooled(), s)
            .build()
            .unwrap();
        let tokens: Vec<String> = (0..200)
            .map(|i| k.sign_jwt(&claims(&format!("s{i}"))))
            .collect();
        assert!(v.verify(&tokens[0]).await.is_ok());
        match mode {
            Some(mode) => server.jwks.set(mode),
            None => server.stop().await,
        }
        tokio::time::sleep(Duration::from_millis(350)).await; // past the 300 ms lifetime
        let before = server.jwks.hits();
        let started = std::time::Instant::now();
        for token in &tokens {
            assert!(v.verify(token).await.is_ok(), "{name}: stale keys serve");
        }
        let took = started.elapsed();
        // Background fetches still under way may yet arrive; wait them out before counting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fetches = server.jwks.hits() - before;
        assert!(took < Duration::from_secs(1), "{name}: 200 took {took:?}");
        assert!(fetches <= 3, "{name}: {fetches} fetches");
        if name != "connection refused" {
            assert!(fetches >= 1, "{name}: a refresh was tried");
        }
    }
}

/// With no keys ever fetched, simultaneous first requests wait for one fetch together and all
/// get 503 when it fails; a request right after that is answered 503 at once, without a fetch,
/// until the backoff has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_requests_share_one_failed_fetch_and_then_back_off() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Status500).await;
    let v = Arc::new(verifier(&url, settings()));
    let token = Arc::new(k.sign_jwt(&claims("a")));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (v, token) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify(&token).await })
        })
        .collect();
    for task in tasks {
        let error = task.await.unwrap().unwrap_err();
        assert!(matches!(error, VerifyError::Unavailable(_)), "{error:?}");
        assert_eq!(oauth_runtime::AuthError::InvalidToken(error).status(), 503);
    }
    assert_eq!(jwks.hits(), 1, "one fetch for all");
    let started = std::time::Instant::now();
    for _ in 0..100 {
        assert!(matches!(
            v.verify(&token).await,
            Err(VerifyError::Unavailable(_))
        ));
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(jwks.hits(), 1, "no fetch during the backoff");
    jwks.set(Mode::Serve(set_of(&[&k]), "max-age=600"));
    tokio::time::sleep(Duration::from_millis(1100)).await; // the first backoff is at most 1 s
    assert!(v.verify(&token).await.is_ok(), "recovers after the backoff");
    assert_eq!(jwks.hits(), 2);
}

/// Unknown `kid`s do not get around the backoff: once a refresh failed, tokens naming keys
/// never seen cause no fetch until the backoff has passed, although no unknown `kid` has
/// started the cooldown yet.
#[tokio::test]
async fn unknown_kids_respect_the_backoff() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=0")).await;
    let v = verifier(&url, settings());
    assert!(v.verify(&k.sign_jwt(&claims("a"))).await.is_ok());
    jwks.set(Mode::Status500);
    tokio::time::sleep(Duration::from_millis(350)).await; // past the 300 ms lifetime
    assert!(
        v.verify(&k.sign_jwt(&claims("a"))).await.is_ok(),
        "stale keys"
    );
    for _ in 0..100 {
        if jwks.hits() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(jwks.hits(), 2, "the refresh behind that request failed");
    for i in 0..100 {
        let stranger = key(&format!("new-{i}"));
        // Usable keys exist, so this is an ordinary refusal (401); 503 is kept for "no usable
        // keys", or made-up kids would turn an outage into 503s.
        assert!(matches!(
            v.verify(&stranger.sign_jwt(&claims("a"))).await,
            Err(VerifyError::UnknownKey { .. })
        ));
    }
    assert_eq!(jwks.hits(), 2, "no fetch while backing off");
}

/// With no usable keys every request is a 503 until a fetch succeeds, so the backoff stays
/// under 5 s whatever the cooldown: an endpoint that comes back is noticed within seconds
/// (found by the soak, where a 30 s cooldown kept a cold start at 503 through whole up periods).
#[tokio::test]
async fn without_keys_the_backoff_stays_short() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Status500).await;
    let mut s = settings();
    s.cooldown = Duration::from_secs(60);
    s.initial_backoff = Duration::from_secs(20);
    let v = verifier(&url, s);
    let token = k.sign_jwt(&claims("a"));
    assert!(matches!(
        v.verify(&token).await,
        Err(VerifyError::Unavailable(_))
    ));
    jwks.set(Mode::Serve(set_of(&[&k]), "max-age=600"));
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert!(v.verify(&token).await.is_ok(), "retried within 5 s");
    assert_eq!(jwks.hits(), 2);
}

/// A token is taken apart before any key is looked for: junk, a token with `crit`, an HMAC
/// token (a remote set never holds secrets) never make the verifier fetch keys.
#[tokio::test]
async fn tokens_that_cannot_verify_fetch_no_keys() {
    let (jwks, url) = jwks_server(Mode::Status500).await;
    let v = verifier(&url, settings());
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("a"),
        &jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
    )
    .unwrap();
    for junk in [
        "",
        "garbage",
        "a.b.c",
        "a.b",
        "eyJhbGciOiJub25lIn0.e30.",
        hs.as_str(),
    ] {
        assert!(v.verify(junk).await.is_err(), "{junk}");
    }
    assert_eq!(jwks.hits(), 0);
}

/// RFC 8725 §3.2: a fetched key set is public; a shared secret or a private key in it is not
/// used, so a token signed with that secret is refused.
#[tokio::test]
async fn fetched_secrets_and_private_keys_are_dropped() {
    let k = key("k1");
    let secret = json!({ "kty": "oct", "kid": "shared", "alg": "HS256",
        "k": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc" });
    let (_, url) = jwks_server(Mode::Serve(
        json!({ "keys": [k.public_jwk().unwrap(), secret] }),
        "max-age=600",
    ))
    .await;
    let v = verifier(&url, settings());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("shared".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims("a"),
        &jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
    )
    .unwrap();
    assert!(v.verify(&forged).await.is_err());
    assert!(v.verify(&k.sign_jwt(&claims("a"))).await.is_ok());
}

/// A redirect may not take a key-set fetch off https: every hop is held to the rule of the
/// first, with our client and with a user's client built on `jwks_redirect_policy`; with any
/// other client the final URL is checked. (`keys.test` resolves to the loopback server here,
/// so nothing leaves the machine whatever happens.)
#[tokio::test]
async fn redirects_to_plain_http_are_refused_on_every_hop() {
    let k = key("k1");
    let (jwks, good) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=600")).await;
    let addr: std::net::SocketAddr = good
        .trim_start_matches("http://")
        .trim_end_matches("/jwks")
        .parse()
        .unwrap();
    let (_, redirecting) = jwks_server(Mode::Redirect(format!(
        "http://keys.test:{}/jwks",
        addr.port()
    )))
    .await;
    let with_policy = reqwest::Client::builder()
        .resolve("keys.test", addr)
        .redirect(oauth_runtime::jwks_redirect_policy())
        .build()
        .unwrap();
    let following = reqwest::Client::builder()
        .resolve("keys.test", addr)
        .build()
        .unwrap();
    for client in [with_policy, following] {
        let v = JwtVerifier::builder()
            .issuer(ISSUER)
            .audience(photos_demo::AUDIENCE)
            .jwks_url_with(&redirecting, client, settings())
            .build()
            .unwrap();
        assert!(matches!(
            v.verify(&k.sign_jwt(&claims("a"))).await,
            Err(VerifyError::Unavailable(_))
        ));
    }
    assert_eq!(
        jwks.hits(),
        1,
        "only the client without the policy followed"
    );
    // A redirect to loopback http stays allowed, as a first URL there is.
    let (_, to_loopback) = jwks_server(Mode::Redirect(good.clone())).await;
    let v = verifier(&to_loopback, settings());
    assert!(v.verify(&k.sign_jwt(&claims("a"))).await.is_ok());
}

/// Settings that cannot work are refused when the verifier is built, not by a panic later.
#[tokio::test]
async fn impossible_settings_are_a_configuration_error() {
    for change in [
        (|s: &mut JwksSettings| s.max_ttl = Duration::MAX) as fn(&mut JwksSettings),
        |s| s.max_stale = Duration::MAX,
        |s| s.default_ttl = Duration::MAX,
        |s| s.timeout = Duration::ZERO,
        |s| s.min_ttl = Duration::from_secs(10_000_000),
    ] {
        let mut s = JwksSettings::default();
        change(&mut s);
        let built = JwtVerifier::builder()
            .issuer(ISSUER)
            .audience(photos_demo::AUDIENCE)
            .jwks_url_with("https://idp.example.com/jwks", reqwest::Client::new(), s)
            .build();
        assert!(
            matches!(
                built,
                Err(oauth_runtime::VerifierConfigError::InvalidSettings(_))
            ),
            "{built:?}"
        );
    }
}

/// A refusal remembered for an unknown `kid` must not outlive the next key-set refresh: a
/// token signed with a freshly rotated key verifies as soon as the keys are fetched again.
#[tokio::test]
async fn a_rotated_key_verifies_through_a_negative_cache() {
    let (old, new) = (key("old"), key("new"));
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&old]), "max-age=600")).await;
    let mut s = settings();
    s.max_ttl = Duration::from_secs(600);
    s.cooldown = Duration::from_millis(200);
    let cached = oauth_runtime::CachedVerifier::new(verifier(&url, s))
        .negative_ttl(Duration::from_secs(600));
    let token = new.sign_jwt(&claims("a"));
    assert!(cached.verify(&token).await.is_err(), "not published yet");
    jwks.set(Mode::Serve(set_of(&[&old, &new]), "max-age=600"));
    tokio::time::sleep(Duration::from_millis(250)).await; // past the cooldown
    assert!(cached.verify(&token).await.is_ok());
}

/// A key removed from the set stops verifying as soon as the set is fetched again after its
/// expiry. The first request after expiry is still served from the old set (stale while the
/// refresh runs behind it); the refresh it starts drops the key.
#[tokio::test]
async fn removed_keys_stop_verifying_after_expiry() {
    let (a, b) = (key("a"), key("b"));
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&a, &b]), "max-age=0")).await;
    let v = verifier(&url, settings());
    assert!(v.verify(&a.sign_jwt(&claims("x"))).await.is_ok());
    jwks.set(Mode::Serve(set_of(&[&b]), "max-age=0"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(v.verify(&b.sign_jwt(&claims("x"))).await.is_ok());
    // The refresh runs in the background; give it time on a loaded machine.
    let mut outcome = v.verify(&a.sign_jwt(&claims("x"))).await;
    for _ in 0..100 {
        if outcome.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        outcome = v.verify(&a.sign_jwt(&claims("x"))).await;
    }
    assert!(
        matches!(outcome, Err(VerifyError::UnknownKey { .. })),
        "{outcome:?}"
    );
    assert!(v.verify(&b.sign_jwt(&claims("x"))).await.is_ok());
}

#[tokio::test]
async fn without_any_good_fetch_verification_is_unavailable() {
    let k = key("k1");
    for mode in [Mode::Status500, Mode::Garbage, Mode::Huge, Mode::Slow] {
        let (_, url) = jwks_server(mode).await;
        let v = verifier(&url, settings());
        assert!(matches!(
            v.verify(&k.sign_jwt(&claims("a"))).await,
            Err(VerifyError::Unavailable(_))
        ));
    }
    // Down: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    drop(listener);
    let v = verifier(&url, settings());
    let error = v.verify(&k.sign_jwt(&claims("a"))).await.unwrap_err();
    assert!(matches!(error, VerifyError::Unavailable(_)));
    assert_eq!(oauth_runtime::AuthError::InvalidToken(error).status(), 503);
}

#[tokio::test]
async fn stale_keys_stop_serving_after_the_staleness_bound() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=0")).await;
    let mut s = settings();
    s.max_stale = Duration::from_millis(200);
    let v = verifier(&url, s);
    assert!(v.verify(&k.sign_jwt(&claims("a"))).await.is_ok());
    jwks.set(Mode::Status500);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(matches!(
        v.verify(&k.sign_jwt(&claims("a"))).await,
        Err(VerifyError::Unavailable(_))
    ));
}

#[tokio::test]
async fn plain_http_is_refused_except_on_loopback() {
    let build = |url: &str| {
        JwtVerifier::builder()
            .allow_any_issuer()
            .allow_any_audience()
            .jwks_url(url)
            .build()
    };
    assert!(build("http://idp.example.com/jwks").is_err());
    assert!(build("http://10.0.0.1/jwks").is_err());
    assert!(build("https://idp.example.com/jwks").is_ok());
    assert!(build("http://127.0.0.1:9000/jwks").is_ok());
    assert!(build("http://localhost:9000/jwks").is_ok());
}

#[tokio::test]
async fn the_dev_servers_jwks_and_its_key_rotation() {
    let server = DevServer::new().audience("api").start().await.unwrap();
    let v = JwtVerifier::builder()
        .issuer(server.issuer())
        .audience("api")
        .jwks_url(format!("{}/jwks", server.issuer()))
        .build()
        .unwrap();
    assert!(v.verify(&server.mint_token("alice", "a")).await.is_ok());
    server.rotate_key().unwrap();
    assert!(
        v.verify(&server.mint_token("alice", "a")).await.is_ok(),
        "the rotated-in key is found"
    );
}

#[tokio::test]
async fn rfc8414_discovery_against_the_dev_server() {
    let server = DevServer::new().audience("api").start().await.unwrap();
    let v = JwtVerifier::builder()
        .audience("api")
        .discover(server.issuer())
        .await
        .unwrap()
        .build()
        .unwrap();
    assert!(v.verify(&server.mint_token("alice", "a")).await.is_ok());
    // RFC 8414 §3.3: the metadata must name exactly the configured issuer.
    let wrong = format!("{}/", server.issuer());
    let error = JwtVerifier::builder()
        .audience("api")
        .discover(&wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(error, oauth_runtime::VerifierConfigError::Discovery(_)),
        "{error}"
    );
}

#[tokio::test]
async fn discovery_falls_back_to_openid_configuration_and_checks_jwks_uri() {
    #[derive(Clone)]
    struct Doc(Arc<Mutex<serde_json::Value>>);
    async fn oidc(State(doc): State<Doc>) -> axum::Json<serde_json::Value> {
        axum::Json(doc.0.lock().unwrap().clone())
    }
    let k = key("k1");
    let (_, jwks_url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=600")).await;
    let doc = Doc(Arc::new(Mutex::new(json!({}))));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(oidc))
        .with_state(doc.clone());
    let issuer = serve(app).await;
    *doc.0.lock().unwrap() = json!({ "issuer": issuer, "jwks_uri": jwks_url });
    let v = JwtVerifier::builder()
        .audience(photos_demo::AUDIENCE)
        .discover(&issuer)
        .await
        .unwrap()
        .build()
        .unwrap();
    let mut c = claims("a");
    c["iss"] = issuer.clone().into();
    assert!(
        v.verify(&k.sign_jwt(&c)).await.is_ok(),
        "RFC 8414 path is 404 here; OIDC fallback used"
    );
    *doc.0.lock().unwrap() =
        json!({ "issuer": issuer, "jwks_uri": "http://keys.example.com/jwks" });
    assert!(
        JwtVerifier::builder()
            .audience("x")
            .discover(&issuer)
            .await
            .is_err(),
        "plain http jwks_uri off loopback"
    );
}

/// Discovery from configuration (`discover = true`, top level and per issuer) happens when the
/// first token needs a key, not at start: an API whose provider's metadata is down when it
/// starts still starts, answers 503 (never accepts), and verifies once the metadata is back.
/// The `jwks_uri` is looked up once, then reused (RFC 8414 §3).
#[tokio::test]
async fn rfc8414_discovery_from_configuration_waits_for_the_first_token() {
    #[derive(Clone)]
    struct Metadata {
        document: Arc<Mutex<Option<serde_json::Value>>>,
        hits: Arc<AtomicUsize>,
    }
    async fn metadata(State(m): State<Metadata>) -> Response {
        m.hits.fetch_add(1, Ordering::SeqCst);
        match m.document.lock().unwrap().clone() {
            Some(document) => axum::Json(document).into_response(),
            None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
    let k = key("k1");
    let (jwks, jwks_url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=600")).await;
    let m = Metadata {
        document: Arc::new(Mutex::new(None)),
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .with_state(m.clone());
    let issuer = serve(app).await;
    let config: oauth_runtime::AuthConfig = serde_json::from_value(json!({
        "issuer": issuer, "audience": photos_demo::AUDIENCE, "discover": true,
    }))
    .unwrap();
    let authenticator = config
        .authenticator()
        .expect("starts with the provider down");
    assert_eq!(m.hits.load(Ordering::SeqCst), 0, "nothing fetched at start");
    let api = start_axum_with(authenticator).await;
    let mut c = claims("photos:read");
    c["iss"] = issuer.clone().into();
    let token = k.sign_jwt(&c);
    let photos = format!("{api}/photos");
    assert_eq!(
        oauth_e2e::support::get(&photos, Some(&token)).await.status,
        503
    );

    *m.document.lock().unwrap() = Some(json!({ "issuer": issuer, "jwks_uri": jwks_url }));
    // The backoff after the failed attempt is at most 5 s while no keys exist.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = oauth_e2e::support::get(&photos, Some(&token)).await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "never anything but 503 before the keys");
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let looked_up = m.hits.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(
            oauth_e2e::support::get(&photos, Some(&token)).await.status,
            200
        );
    }
    assert_eq!(
        m.hits.load(Ordering::SeqCst),
        looked_up,
        "the jwks_uri is reused"
    );
    assert_eq!(jwks.hits(), 1);

    // Per issuer: one discovered, one with its key-set URL; discovery beside keys is an error.
    let other = key("k2");
    let (_, other_url) = jwks_server(Mode::Serve(set_of(&[&other]), "max-age=600")).await;
    let config: oauth_runtime::AuthConfig = serde_json::from_value(json!({
        "audience": photos_demo::AUDIENCE,
        "issuers": [
            { "issuer": issuer, "discover": true },
            { "issuer": "https://other.example", "jwks_url": other_url },
        ],
    }))
    .unwrap();
    let api = start_axum_with(config.authenticator().unwrap()).await;
    assert_eq!(
        oauth_e2e::support::get(&format!("{api}/photos"), Some(&token))
            .await
            .status,
        200
    );
    for contradiction in [
        json!({ "issuer": issuer, "audience": "a", "discover": true, "jwks_url": jwks_url }),
        json!({ "audience": "a", "discover": true, "jwks_url": jwks_url }),
        json!({ "audience": "a", "issuers": [
            { "issuer": issuer, "discover": true, "jwks": "{\"keys\":[]}" } ] }),
    ] {
        let config: oauth_runtime::AuthConfig =
            serde_json::from_value(contradiction.clone()).unwrap();
        assert!(
            matches!(
                config.authenticator(),
                Err(oauth_runtime::AuthConfigError::Contradiction(_))
            ),
            "{contradiction}"
        );
    }
}

/// A provider that moves its key set: once a fetch from the discovered `jwks_uri` fails, the
/// next attempt looks the metadata up again and finds the new location.
#[tokio::test]
async fn rfc8414_a_failed_fetch_looks_the_jwks_uri_up_again() {
    let (k1, k2) = (key("k1"), key("k2"));
    let (old, old_url) = jwks_server(Mode::Serve(set_of(&[&k1]), "max-age=600")).await;
    let (new, new_url) = jwks_server(Mode::Serve(set_of(&[&k1, &k2]), "max-age=600")).await;
    let document = Arc::new(Mutex::new(json!({})));
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get({
                let document = document.clone();
                move || async move { axum::Json(document.lock().unwrap().clone()) }
            }),
        )
        .route("/.well-known/openid-configuration", get(|| async { "{}" }));
    let issuer = serve(app).await;
    *document.lock().unwrap() = json!({ "issuer": issuer, "jwks_uri": old_url });
    let mut settings = JwksSettings::default();
    settings.cooldown = Duration::ZERO;
    settings.initial_backoff = Duration::from_millis(10);
    let v = JwtVerifier::builder()
        .audience(photos_demo::AUDIENCE)
        .discover_lazily_with(&issuer, unpooled(), settings)
        .build()
        .unwrap();
    let signed = |k: &SigningKey| {
        let mut c = claims("a");
        c["iss"] = issuer.clone().into();
        k.sign_jwt(&c)
    };
    assert!(v.verify(&signed(&k1)).await.is_ok());
    old.set(Mode::Status500);
    *document.lock().unwrap() = json!({ "issuer": issuer, "jwks_uri": new_url });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while v.verify(&signed(&k2)).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "never moved to the new key set"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(old.hits() >= 2, "the old location was tried");
    assert!(new.hits() >= 1, "and the new one found");
}

/// `JwksSettings::timeout` bounds a whole fetch attempt, not each of its HTTP requests: a lazily
/// discovered key set's first fetch is the RFC 8414 location (§3.1), the OpenID one, then the
/// key set, and every request that needs a key waits on that one attempt. Here the RFC 8414
/// location is slow to say 404 and the key set hangs: per request, that was the slow 404 plus a
/// whole timeout.
#[tokio::test]
async fn rfc8414_lazy_discovery_and_the_key_set_together_stay_within_the_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (jwks, jwks_url) = jwks_server(Mode::Slow).await;
    let openid_hits = Arc::new(AtomicUsize::new(0));
    let document = Arc::new(Mutex::new(json!({})));
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(|| async {
                tokio::time::sleep(TIMEOUT * 3 / 4).await;
                axum::http::StatusCode::NOT_FOUND
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get({
                let (document, hits) = (document.clone(), openid_hits.clone());
                move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(document.lock().unwrap().clone())
                }
            }),
        );
    let issuer = serve(app).await;
    *document.lock().unwrap() = json!({ "issuer": issuer, "jwks_uri": jwks_url });
    let mut settings = settings();
    settings.timeout = TIMEOUT;
    let v = JwtVerifier::builder()
        .audience(photos_demo::AUDIENCE)
        .discover_lazily_with(&issuer, unpooled(), settings)
        .build()
        .unwrap();
    let mut c = claims("a");
    c["iss"] = issuer.clone().into();
    let token = key("k1").sign_jwt(&c);

    let started = std::time::Instant::now();
    // A second request queued behind the same fetch waits no longer than the first.
    let (first, second) = tokio::join!(v.verify(&token), v.verify(&token));
    let waited = started.elapsed();
    for refused in [first, second] {
        assert!(
            matches!(refused, Err(VerifyError::Unavailable(_))),
            "{refused:?}"
        );
    }
    assert_eq!(
        openid_hits.load(Ordering::SeqCst),
        1,
        "the fallback was asked"
    );
    assert_eq!(jwks.hits(), 1, "and the key set");
    // Per request it was at least 3/4 + 1 timeout; the bound leaves room for a loaded machine.
    assert!(waited < TIMEOUT * 17 / 10, "{waited:?}");
}

mod introspection {
    use super::*;
    use oauth_runtime::dev::{Client, DevServerHandle, Lifetimes};
    use oauth_runtime::{CachedVerifier, IntrospectionVerifier};

    async fn server(access_ttl: Duration) -> DevServerHandle {
        DevServer::new()
            .audience("api")
            .scope("photos:read", "")
            .lifetimes(Lifetimes {
                access_token: access_ttl,
                ..Lifetimes::default()
            })
            .client(Client::confidential(
                "api",
                "api-secret",
                ["http://127.0.0.1:1/cb"],
            ))
            .start()
            .await
            .unwrap()
    }

    async fn client_credentials(server: &DevServerHandle) -> String {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/token", server.issuer()))
            .basic_auth("api", Some("api-secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "photos:read"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// RFC 7662 §2.2: the dev server answers `active: true` for a refresh token too, naming
    /// it in `token_type`; such an answer does not make the refresh token an access token.
    #[tokio::test]
    async fn rfc7662_a_refresh_token_is_not_an_access_token() {
        let server = DevServer::new()
            .audience("api")
            .scope("photos:read", "")
            .user(oauth_runtime::dev::User {
                username: "alice".into(),
                password: "wonderland".into(),
                otp: None,
            })
            .client(
                Client::confidential("api", "api-secret", ["http://127.0.0.1:1/cb"]).with_grants([
                    oauth_runtime::dev::Grant::Password,
                    oauth_runtime::dev::Grant::RefreshToken,
                ]),
            )
            .start()
            .await
            .unwrap();
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/token", server.issuer()))
            .basic_auth("api", Some("api-secret"))
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("scope", "photos:read"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = body["access_token"].as_str().unwrap();
        let refresh = body["refresh_token"].as_str().unwrap();
        let loose = IntrospectionVerifier::new(
            format!("{}/introspect", server.issuer()),
            "api",
            "api-secret",
        )
        .unwrap();
        for v in [&introspector(&server), &loose] {
            assert!(v.verify(access).await.is_ok());
            assert_eq!(
                v.verify(refresh).await.unwrap_err(),
                VerifyError::InvalidClaim("token_type".into())
            );
        }
    }

    /// RFC 6749 §2.3.1: the verifier form-encodes its id and secret before Basic, so that an
    /// id with `:` and a secret with `+`, `%` and a space reach the dev server as they are.
    #[tokio::test]
    async fn rfc6749_section_2_3_1_introspection_credentials_survive_basic() {
        let server = DevServer::new()
            .audience("api")
            .scope("photos:read", "")
            .client(Client::confidential(
                "api",
                "api-secret",
                ["http://127.0.0.1:1/cb"],
            ))
            .client(Client::confidential(
                "svc:reports",
                "p+ss% &x=y",
                ["http://127.0.0.1:1/cb"],
            ))
            .start()
            .await
            .unwrap();
        let token = client_credentials(&server).await;
        let v = IntrospectionVerifier::new(
            format!("{}/introspect", server.issuer()),
            "svc:reports",
            "p+ss% &x=y",
        )
        .unwrap();
        assert!(v.verify(&token).await.is_ok());
        let wrong = IntrospectionVerifier::new(
            format!("{}/introspect", server.issuer()),
            "svc:reports",
            "p+ss%",
        )
        .unwrap();
        assert!(matches!(
            wrong.verify(&token).await,
            Err(VerifyError::Unavailable(_))
        ));
    }

    /// Found by an attack: the answer's URL was compared with the endpoint byte for byte, and
    /// reqwest reports URLs in normal form, so an endpoint written with capitals (or a default
    /// port) answered 503 for every token. Compared as URLs now.
    #[tokio::test]
    async fn an_endpoint_not_in_normal_form_still_answers() {
        let server = server(Duration::from_secs(600)).await;
        let token = client_credentials(&server).await;
        let port = server.addr().port();
        for endpoint in [
            format!("http://localhost:{port}/introspect"),
            format!("http://LOCALHOST:{port}/introspect"),
        ] {
            let v = IntrospectionVerifier::new(&endpoint, "api", "api-secret").unwrap();
            assert!(v.verify(&token).await.is_ok(), "{endpoint}");
        }
    }

    /// On a 307 or 308 a client re-sends the form, token included, to the new location: the
    /// verifier follows no redirect, and the token never reaches the other end.
    #[tokio::test]
    async fn introspection_follows_no_redirect() {
        let leaked = Arc::new(AtomicUsize::new(0));
        let seen = leaked.clone();
        let app = axum::Router::new()
            .route(
                "/introspect",
                axum::routing::post(|| async { axum::response::Redirect::temporary("/elsewhere") }),
            )
            .route(
                "/elsewhere",
                axum::routing::post(move |body: String| {
                    let seen = seen.clone();
                    async move {
                        if body.contains("the-token") {
                            seen.fetch_add(1, Ordering::SeqCst);
                        }
                        axum::Json(json!({ "active": true, "exp": 4102444800u64 }))
                    }
                }),
            );
        let base = serve(app).await;
        let v = IntrospectionVerifier::new(format!("{base}/introspect"), "api", "secret").unwrap();
        assert!(matches!(
            v.verify("the-token").await,
            Err(VerifyError::Unavailable(_))
        ));
        assert_eq!(leaked.load(Ordering::SeqCst), 0);
    }

    /// RFC 7662 answers may change before the token expires (a revocation): a cache in front
    /// keeps them as long as the verifier suggests (60 s unless set), not up to the token's
    /// `exp` or the cache's hour.
    #[tokio::test]
    async fn the_cache_lifetime_of_introspection_answers_is_short() {
        let server = server(Duration::from_secs(600)).await;
        let token = client_credentials(&server).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let cached = CachedVerifier::new(Counting(
            introspector(&server).cache_ttl(Duration::from_secs(1)),
            calls.clone(),
        ));
        assert!(cached.verify(&token).await.is_ok());
        assert!(cached.verify(&token).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        reqwest::Client::new()
            .post(format!("{}/revoke", server.issuer()))
            .basic_auth("api", Some("api-secret"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2100)).await; // whole seconds: 1 s lives < 2 s
        assert_eq!(
            cached.verify(&token).await.unwrap_err(),
            VerifyError::Inactive,
            "the revocation is seen once the short lifetime ends"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// Counts the introspection calls: a real verifier, wrapped.
    struct Counting(IntrospectionVerifier, Arc<AtomicUsize>);

    #[oauth_runtime::async_trait]
    impl TokenVerifier for Counting {
        async fn verify(&self, token: &str) -> Result<oauth_runtime::Claims, VerifyError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.verify(token).await
        }
        fn suggested_cache_ttl(&self) -> Option<Duration> {
            self.0.suggested_cache_ttl()
        }
    }

    fn introspector(server: &DevServerHandle) -> IntrospectionVerifier {
        IntrospectionVerifier::new(
            format!("{}/introspect", server.issuer()),
            "api",
            "api-secret",
        )
        .unwrap()
        .expect_issuer(server.issuer())
        .expect_audience("api")
    }

    #[tokio::test]
    async fn rfc7662_active_tokens_map_into_claims() {
        let server = server(Duration::from_secs(600)).await;
        let token = client_credentials(&server).await;
        let claims = introspector(&server).verify(&token).await.unwrap();
        assert_eq!(
            (claims.client_id(), claims.subject()),
            (Some("api"), Some("api"))
        );
        assert!(claims.has_scope("photos:read"));
        assert_eq!(claims.issuer(), Some(server.issuer()));
    }

    #[tokio::test]
    async fn rfc7662_revoked_and_unknown_tokens_are_inactive() {
        let server = server(Duration::from_secs(600)).await;
        let token = client_credentials(&server).await;
        let v = introspector(&server);
        assert!(v.verify(&token).await.is_ok());
        reqwest::Client::new()
            .post(format!("{}/revoke", server.issuer()))
            .basic_auth("api", Some("api-secret"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(v.verify(&token).await.unwrap_err(), VerifyError::Inactive);
        assert_eq!(
            v.verify("garbage").await.unwrap_err(),
            VerifyError::Inactive
        );
        let wrong_secret =
            IntrospectionVerifier::new(format!("{}/introspect", server.issuer()), "api", "nope")
                .unwrap();
        assert!(matches!(
            wrong_secret.verify(&token).await,
            Err(VerifyError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn the_cache_spares_the_server_and_ends_at_expiry() {
        let server = server(Duration::from_secs(2)).await;
        let token = client_credentials(&server).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let cached = CachedVerifier::new(Counting(introspector(&server), calls.clone()))
            .max_ttl(Duration::from_secs(60))
            .negative_ttl(Duration::from_secs(60));
        for _ in 0..10 {
            assert!(cached.verify(&token).await.is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "hits");
        for _ in 0..10 {
            assert!(cached.verify("garbage").await.is_err());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "negative results are cached too"
        );
        tokio::time::sleep(Duration::from_millis(3100)).await;
        assert_eq!(
            cached.verify(&token).await.unwrap_err(),
            VerifyError::Inactive,
            "never past exp"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    /// An introspection endpoint under the test's control: every token is inactive, answered
    /// after `delay`; counts the requests and the most it had under way at once.
    #[derive(Clone, Default)]
    struct Load {
        now: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
        total: Arc<AtomicUsize>,
    }

    async fn slow_endpoint(delay: Duration) -> (Load, String) {
        let load = Load::default();
        let seen = load.clone();
        let answer = move || {
            let seen = seen.clone();
            async move {
                seen.total.fetch_add(1, Ordering::SeqCst);
                let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                seen.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                seen.now.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({ "active": false }))
            }
        };
        let app = axum::Router::new().route("/introspect", axum::routing::post(answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (load, url)
    }

    async fn verify_all(
        verifier: IntrospectionVerifier,
        tokens: usize,
    ) -> Vec<Result<oauth_runtime::Claims, VerifyError>> {
        let verifier = Arc::new(verifier);
        let tasks: Vec<_> = (0..tokens)
            .map(|i| {
                let verifier = Arc::clone(&verifier);
                tokio::spawn(async move { verifier.verify(&format!("unknown-{i}")).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_unknown_tokens_reaches_the_server_a_bounded_number_at_a_time() {
        let (load, url) = slow_endpoint(Duration::from_millis(50)).await;
        let verifier = IntrospectionVerifier::new(&url, "api", "secret")
            .unwrap()
            .max_in_flight(4)
            .max_waiting(100)
            .timeout(Duration::from_secs(30));
        for outcome in verify_all(verifier, 100).await {
            assert_eq!(outcome.unwrap_err(), VerifyError::Inactive);
        }
        assert_eq!(load.total.load(Ordering::SeqCst), 100, "each asked once");
        assert_eq!(
            load.peak.load(Ordering::SeqCst),
            4,
            "never more than 4 at once"
        );
    }

    /// Beyond the tokens waiting for a turn, a token is answered 503 at once: a flood cannot
    /// make every later token wait behind it until the timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_waiting_bound_tokens_are_refused_at_once() {
        let (load, url) = slow_endpoint(Duration::from_millis(300)).await;
        let verifier = IntrospectionVerifier::new(&url, "api", "secret")
            .unwrap()
            .max_in_flight(4)
            .max_waiting(10)
            .timeout(Duration::from_secs(30));
        let outcomes = verify_all(verifier, 100).await;
        let shed = outcomes
            .iter()
            .filter(|o| matches!(o, Err(VerifyError::Unavailable(_))))
            .count();
        let asked = load.total.load(Ordering::SeqCst);
        assert_eq!(asked + shed, 100, "each token either asked or shed");
        // Four at once and ten waiting; a turn freed while the tasks still arrive lets a few more
        // in, under load.
        assert!((14..=30).contains(&asked), "{asked} asked");
    }

    /// Issue 18 §1: a token shaped like one the server accepted gets a turn while distinct junk
    /// holds every turn of the shared lane and every place in its queue; junk of another shape
    /// is shed at once. Before the familiar lane the good token was shed with the junk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_shaped_like_an_accepted_one_gets_a_turn_during_a_junk_flood() {
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(|body: String| async move {
                let good = body.contains("token=good-");
                if !good {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                axum::Json(json!({ "active": good, "scope": "photos:read", "sub": "u" }))
            }),
        );
        let introspection = serve(app).await;
        let verifier = Arc::new(
            IntrospectionVerifier::new(format!("{introspection}/introspect"), "api", "s")
                .unwrap()
                .max_in_flight(4)
                .max_waiting(4)
                .timeout(Duration::from_secs(30)),
        );
        verifier
            .verify("good-0001")
            .await
            .expect("learns the shape");
        let junk: Vec<_> = (0..40)
            .map(|i| {
                let verifier = Arc::clone(&verifier);
                tokio::spawn(
                    async move { verifier.verify(&format!("{i}{}", "j".repeat(16_000))).await },
                )
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let newcomer = verifier.verify("good-0002").await;
        assert!(newcomer.is_ok(), "{newcomer:?}");
        assert!(
            started.elapsed() < Duration::from_millis(1400),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(
            verifier.verify(&"k".repeat(16_000)).await,
            Err(VerifyError::Unavailable(_))
        ));
        let mut shed = 0;
        for task in junk {
            if matches!(task.await.unwrap(), Err(VerifyError::Unavailable(_))) {
                shed += 1;
            }
        }
        assert!(shed >= 30, "{shed} of 40 junk tokens shed");
    }

    /// Issue 18 §1: with refusals remembered, bursts of thousands of distinct 16 KiB junk
    /// tokens (400 at once) against an introspection server that takes 200 ms must neither push
    /// a real user's cached token out nor make that user wait: the user's token is introspected
    /// once, and every one of the user's requests during the flood is answered 200 from the cache
    /// in less than one introspection takes. A new good token arriving during the flood is
    /// checked at once (200), in the lane kept for tokens shaped like accepted ones.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_junk_token_flood_leaves_a_cached_user_at_200_without_delay() {
        let asked = Arc::new(AtomicUsize::new(0));
        let user_asked = Arc::new(AtomicUsize::new(0));
        let (seen, user_seen) = (asked.clone(), user_asked.clone());
        let app = axum::Router::new().route(
            "/introspect",
            axum::routing::post(move |body: String| {
                let (seen, user_seen) = (seen.clone(), user_seen.clone());
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let form = reqwest::Url::parse(&format!("http://form/?{body}")).unwrap();
                    let token = form
                        .query_pairs()
                        .find(|(k, _)| k == "token")
                        .map(|(_, v)| v.into_owned());
                    if token.as_deref() == Some("good-user") {
                        user_seen.fetch_add(1, Ordering::SeqCst);
                    }
                    match token.as_deref() {
                        Some(t) if t.starts_with("good-") => axum::Json(json!({
                            "active": true, "scope": "photos:read", "sub": t,
                            "exp": now() + 600,
                        })),
                        _ => axum::Json(json!({ "active": false })),
                    }
                }
            }),
        );
        let introspection = serve(app).await;
        let cached = Arc::new(
            CachedVerifier::new(
                IntrospectionVerifier::new(format!("{introspection}/introspect"), "api", "s")
                    .unwrap(),
            )
            .negative_ttl(Duration::from_secs(60)),
        );
        let api = start_example(cached.clone()).await;
        let photos = format!("{api}/photos");
        assert_eq!(
            oauth_e2e::support::get(&photos, Some("good-user"))
                .await
                .status,
            200
        );
        // The same user's latency with no flood, from the cache: the baseline of the figures.
        let quiet = {
            let client = reqwest::Client::new();
            let mut times = Vec::new();
            for _ in 0..50 {
                let started = std::time::Instant::now();
                let response = client.get(&photos).bearer_auth("good-user").send().await;
                assert_eq!(response.unwrap().status(), 200);
                times.push(started.elapsed());
            }
            times.sort();
            times[times.len() / 2]
        };

        let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flood = {
            let photos = photos.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for wave in 0..8 {
                    let burst: Vec<_> = (0..400)
                        .map(|i| {
                            let junk = format!("{wave}-{i:04}-{}", "j".repeat(16_000));
                            let request = client.get(&photos).bearer_auth(junk);
                            tokio::spawn(async move { request.send().await.unwrap().status() })
                        })
                        .collect();
                    for request in burst {
                        let status = request.await.unwrap().as_u16();
                        assert!(status == 401 || status == 503, "{status}");
                    }
                }
            })
        };
        let user = {
            let (photos, flooding) = (photos.clone(), flooding.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut times = Vec::new();
                while flooding.load(Ordering::SeqCst) {
                    let started = std::time::Instant::now();
                    let response = client.get(&photos).bearer_auth("good-user").send().await;
                    assert_eq!(response.unwrap().status(), 200);
                    times.push(started.elapsed());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                times.sort();
                times
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = std::time::Instant::now();
        let newcomer = oauth_e2e::support::get(&photos, Some("good-newcomer"))
            .await
            .status;
        let newcomer_took = started.elapsed();
        flood.await.unwrap();
        flooding.store(false, Ordering::SeqCst);
        let times = user.await.unwrap();
        let (requests, slowest) = (times.len(), times.last().copied().unwrap_or_default());
        let median = times.get(requests / 2).copied().unwrap_or_default();
        let p99 = times.get(requests * 99 / 100).copied().unwrap_or_default();
        eprintln!(
            "flood of 3200 junk tokens: cached user quiet p50 {quiet:?}; during the flood \
             {requests} requests, p50 {median:?}, p99 {p99:?}, max {slowest:?}; \
             newcomer {newcomer} in {newcomer_took:?}; introspection asked {} times; \
             cache {} entries, {} refusals",
            asked.load(Ordering::SeqCst),
            cached.len(),
            cached.refusals()
        );
        assert!(requests >= 5, "{requests}");
        assert_eq!(
            user_asked.load(Ordering::SeqCst),
            1,
            "the user's entry stayed"
        );
        // The flood's 400 connections at once share this test's two cores with the API (and,
        // in CI, with other tests), so a cached request can still queue for the CPU: its time is
        // reported above and in BENCHMARKS.md, not asserted closely. What it never waits for is
        // introspection (asked once, above) or the 5 s timeout after which it would be a 503.
        assert!(
            slowest < Duration::from_secs(5),
            "the cached user waited {slowest:?}"
        );
        // A token no cache knows, shaped like the user's (the server said that one was active),
        // takes a turn kept apart from the flood's 16 KiB junk: checked at once, not shed.
        assert_eq!(
            newcomer, 200,
            "a new good token is checked during the flood"
        );
        // The CPU the flood leaves (two cores, shared with the API and other tests) sets how
        // fast; what it never does is wait out the 5 s timeout.
        assert!(
            newcomer_took < Duration::from_secs(5),
            "the new good token waited {newcomer_took:?}"
        );
        assert!(
            cached.verify_now(b"good-user").is_some_and(|r| r.is_ok()),
            "the user's entry survived"
        );
        assert_eq!(
            oauth_e2e::support::get(&photos, Some("good-newcomer"))
                .await
                .status,
            200
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_for_a_turn_counts_against_the_timeout() {
        let (load, url) = slow_endpoint(Duration::from_secs(5)).await;
        let verifier = IntrospectionVerifier::new(&url, "api", "secret")
            .unwrap()
            .max_in_flight(2)
            .timeout(Duration::from_millis(300));
        let started = std::time::Instant::now();
        for outcome in verify_all(verifier, 20).await {
            assert!(
                matches!(outcome, Err(VerifyError::Unavailable(_))),
                "{outcome:?}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // Two at first; a waiting token may take a freed turn in the same instant it times out.
        // The server's handlers do not notice that a timed-out client went away, so such a turn
        // overlaps with the first two there (seen under load), though never on our side.
        assert!(
            load.peak.load(Ordering::SeqCst) <= 4,
            "{}",
            load.peak.load(Ordering::SeqCst)
        );
        assert!(
            load.total.load(Ordering::SeqCst) <= 4,
            "{}",
            load.total.load(Ordering::SeqCst)
        );
    }
}

#[tokio::test]
async fn keys_are_refreshed_ahead_of_expiry_in_the_background() {
    let k = key("k1");
    let (jwks, url) = jwks_server(Mode::Serve(set_of(&[&k]), "max-age=1")).await;
    let mut s = settings();
    s.min_ttl = Duration::from_secs(1);
    s.max_ttl = Duration::from_secs(1);
    let v = verifier(&url, s);
    let token = k.sign_jwt(&claims("a"));
    assert!(v.verify(&token).await.is_ok());
    tokio::time::sleep(Duration::from_millis(850)).await;
    // In the last fifth of the lifetime: served from the cache, and a refresh starts behind it.
    assert!(v.verify(&token).await.is_ok());
    // The refresh runs in the background; give it time on a loaded machine.
    for _ in 0..100 {
        if jwks.hits() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        jwks.hits(),
        2,
        "refreshed ahead of expiry, without a request waiting for it"
    );
}
