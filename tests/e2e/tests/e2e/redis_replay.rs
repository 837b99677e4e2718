//! The DPoP replay store on Redis (issue 17): instances of the photo API that share one real
//! `redis-server` refuse each other's used proofs (RFC 9449 §11.1), entries expire with the
//! `iat` window, and an outage of Redis refuses DPoP requests (503 with `Retry-After`) without
//! touching bearer requests, until Redis is back.
//!
//! Each test starts its own `redis-server` on a free loopback port, without persistence, and
//! stops it. Without `redis-server` installed these tests print that they were skipped and
//! pass, unless `OAUTH_REQUIRE_REDIS=1` (set by `.ci/run`), where a missing server fails them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use oauth_e2e::support::{Keys, now};
use oauth_runtime::dpop::{
    DpopMode, DpopReplayStore, DpopVerifier, ReplayStoreError, access_token_hash, jwk_thumbprint,
};
use oauth_runtime::dpop_redis::RedisReplayStore;
use oauth_runtime::{Algorithm, Authenticator, SigningKey};
use serde_json::json;

/// The URL clients use, the same for every instance as behind a load balancer: a proof names
/// it, not the instance that gets it.
const EXTERNAL: &str = "https://photos.example";

/// A `redis-server` of this test's own on 127.0.0.1, killed when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free port, or `None` (after saying so) when `redis-server` is not
    /// installed and CI did not ask for it.
    async fn start(test: &str) -> Option<Redis> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var("OAUTH_REQUIRE_REDIS").as_deref() != Ok("1"),
                "OAUTH_REQUIRE_REDIS=1 but `redis-server` is not installed: .ci/run installs it \
                 (apt-get install redis-server)"
            );
            eprintln!(
                "SKIPPED {test}: `redis-server` is not installed (apt-get install redis-server); \
                 CI sets OAUTH_REQUIRE_REDIS=1 and fails instead"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis { port, child: None };
        redis.restart().await;
        Some(redis)
    }

    /// Starts it (again) on its port and waits until it answers.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args(["--port", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.command(&["PING"]).await.is_none() {
            assert!(Instant::now() < deadline, "redis-server never answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// One command on a connection of its own; `None` when Redis does not answer.
    async fn command(&self, args: &[&str]) -> Option<redis::Value> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut connection = tokio::time::timeout(
            Duration::from_secs(2),
            client.get_multiplexed_async_connection(),
        )
        .await
        .ok()?
        .ok()?;
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command.query_async(&mut connection).await.ok()
    }

    async fn keys(&self, pattern: &str) -> Vec<String> {
        match self.command(&["KEYS", pattern]).await {
            Some(redis::Value::Array(keys)) => keys
                .into_iter()
                .map(|k| redis::from_redis_value::<String>(k).unwrap())
                .collect(),
            other => panic!("KEYS answered {other:?}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A client of the API: its DPoP key and a token bound to it (`cnf.jkt`).
struct DpopClient {
    key: SigningKey,
    token: String,
}

impl DpopClient {
    fn new(keys: &Keys) -> DpopClient {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let mut claims = oauth_e2e::support::claims("photos:read");
        claims["cnf"] = json!({ "jkt": jwk_thumbprint(&key.public_jwk().unwrap()).unwrap() });
        DpopClient {
            token: keys.es.sign_jwt(&claims),
            key,
        }
    }

    /// A fresh proof (RFC 9449 §4.2) for `GET /photos` at the external URL.
    fn proof(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let claims = json!({
            "jti": format!("redis-e2e-{}-{}", now(), NEXT.fetch_add(1, Ordering::SeqCst)),
            "htm": "GET",
            "htu": format!("{EXTERNAL}/photos"),
            "iat": now(),
            "ath": access_token_hash(&self.token),
        });
        let header =
            json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.public_jwk().unwrap() });
        self.key.sign_jwt_with_header(&header, &claims)
    }
}

/// What the client saw, with `Retry-After`.
#[derive(Debug)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    retry_after: Option<String>,
    body: String,
}

/// `GET /photos` at `base`. The client's own timeout shows that no request hangs.
async fn get(base: &str, authorization: &str, proof: Option<&str>) -> Answer {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut request = client
        .get(format!("{base}/photos"))
        .header("authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.expect("an answer, not a hang");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        retry_after: header("retry-after"),
        body: response.text().await.unwrap(),
    }
}

fn authenticator(keys: &Keys, mode: DpopMode, dpop: DpopVerifier) -> Authenticator {
    Authenticator::builder(keys.verifier())
        .realm(photos_demo::REALM)
        .dpop(mode)
        .dpop_verifier(dpop)
        .build()
        .unwrap()
}

fn dpop_verifier(store: impl DpopReplayStore, window: Duration) -> DpopVerifier {
    DpopVerifier::builder()
        .external_url(EXTERNAL)
        .iat_window(window)
        .replay_store(store)
        .build()
        .unwrap()
}

fn redis_store(redis: &Redis) -> RedisReplayStore {
    RedisReplayStore::builder(redis.url())
        .namespace("photos-e2e")
        .build()
        .unwrap()
}

/// RFC 9449 §11.1: the axum and the Rocket instance of the photo API, each with its own
/// connection to one Redis, as two processes behind a load balancer would be. A proof accepted
/// by one is refused by the other, whichever comes first, and of one proof sent to both at once
/// exactly one is accepted.
#[tokio::test]
async fn rfc9449_section_11_1_a_proof_used_at_one_instance_is_refused_at_another() {
    let Some(redis) = Redis::start("two instances").await else {
        return;
    };
    let keys = Keys::generate();
    let window = Duration::from_secs(60);
    let instance = |store| authenticator(&keys, DpopMode::Required, dpop_verifier(store, window));
    let a = oauth_e2e::support::start_axum_with(instance(redis_store(&redis))).await;
    let b = oauth_e2e::support::start_rocket_with(instance(redis_store(&redis))).await;
    let client = DpopClient::new(&keys);
    let dpop = format!("DPoP {}", client.token);
    let replayed =
        r#"error="invalid_dpop_proof", error_description="the DPoP proof was already used""#;

    for (first, second) in [(&a, &b), (&b, &a)] {
        let proof = client.proof();
        let accepted = get(first, &dpop, Some(&proof)).await;
        assert_eq!(accepted.status, 200, "{accepted:?}");
        let again = get(second, &dpop, Some(&proof)).await;
        assert_eq!(again.status, 401, "{again:?}");
        assert!(
            again
                .www_authenticate
                .as_deref()
                .unwrap()
                .contains(replayed),
            "{again:?}"
        );
    }

    for _ in 0..5 {
        let proof = client.proof();
        let (x, y) = tokio::join!(get(&a, &dpop, Some(&proof)), get(&b, &dpop, Some(&proof)));
        let mut statuses = [x.status, y.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "{x:?} {y:?}");
    }
}

/// RFC 9449 §11.1: an entry lives as long as its proof's `iat` window and no longer, under a
/// namespaced key of fixed length whatever the `jti`.
#[tokio::test]
async fn rfc9449_section_11_1_redis_entries_expire_with_the_iat_window() {
    let Some(redis) = Redis::start("expiry").await else {
        return;
    };
    let keys = Keys::generate();
    let window = Duration::from_secs(2);
    let api = oauth_e2e::support::start_axum_with(authenticator(
        &keys,
        DpopMode::Required,
        dpop_verifier(redis_store(&redis), window),
    ))
    .await;
    let client = DpopClient::new(&keys);
    let answer = get(
        &api,
        &format!("DPoP {}", client.token),
        Some(&client.proof()),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    let stored = redis.keys("*").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let hex = stored[0]
        .strip_prefix("photos-e2e:dpop:")
        .expect("namespaced");
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hex}"
    );
    let ttl = match redis.command(&["PTTL", &stored[0]]).await {
        Some(redis::Value::Int(ms)) => ms,
        other => panic!("PTTL answered {other:?}"),
    };
    // The entry lives until the first moment the proof is stale: `iat` and the check are in
    // whole seconds, so that is iat + window + 1 s, at most the window and a second from now.
    assert!(ttl > 0 && ttl <= 3_000, "PTTL {ttl} ms");

    let deadline = Instant::now() + Duration::from_secs(20);
    while !redis.keys("*").await.is_empty() {
        assert!(Instant::now() < deadline, "the entry never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

const OUTAGE: &str = "DPoP replay store on Redis unavailable";
const RECOVERY: &str = "DPoP replay store on Redis answers again";

/// Redis stopped under a running API: DPoP requests are refused with 503 and `Retry-After`,
/// never let through and never left hanging; bearer requests go on; the outage is logged once.
/// Redis started again on the same port: the same API accepts proofs again without a restart,
/// and says so once.
#[tokio::test]
async fn a_redis_outage_fails_dpop_closed_and_the_api_recovers_without_a_restart() {
    let Some(mut redis) = Redis::start("outage").await else {
        return;
    };
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Thread-local: the current-thread runtime serves the requests on this thread.
    let _default = oauth_e2e::support::scoped(subscriber);

    let keys = Keys::generate();
    let api = oauth_e2e::support::start_axum_with(authenticator(
        &keys,
        DpopMode::Allowed,
        dpop_verifier(redis_store(&redis), Duration::from_secs(60)),
    ))
    .await;
    let client = DpopClient::new(&keys);
    let dpop = format!("DPoP {}", client.token);
    let bearer = format!("Bearer {}", keys.token("photos:read"));
    let answer = get(&api, &dpop, Some(&client.proof())).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    redis.stop();
    for _ in 0..5 {
        let refused = get(&api, &dpop, Some(&client.proof())).await;
        assert_eq!(refused.status, 503, "fail closed: {refused:?}");
        assert_eq!(refused.retry_after.as_deref(), Some("5"), "{refused:?}");
        assert!(
            refused.body.contains("temporarily_unavailable"),
            "{refused:?}"
        );
        let answer = get(&api, &bearer, None).await;
        assert_eq!(
            answer.status, 200,
            "bearer requests need no store: {answer:?}"
        );
    }
    assert_eq!(captured.count(OUTAGE), 1, "the outage is logged once");
    assert_eq!(captured.count(RECOVERY), 0);

    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get(&api, &dpop, Some(&client.proof())).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And replays are refused again, through the recovered connection.
    let proof = client.proof();
    assert_eq!(get(&api, &dpop, Some(&proof)).await.status, 200);
    assert_eq!(get(&api, &dpop, Some(&proof)).await.status, 401);
    assert_eq!(captured.count(OUTAGE), 1);
    assert_eq!(captured.count(RECOVERY), 1, "the recovery is logged once");
}

/// A store that cannot answer, to see the answer without a Redis at all.
#[derive(Debug)]
struct Down;

#[oauth_runtime::async_trait]
impl DpopReplayStore for Down {
    async fn first_use(&self, _: &[u8; 32], _: SystemTime) -> Result<bool, ReplayStoreError> {
        Err(ReplayStoreError("down".into()))
    }
}

/// A replay store that cannot answer is a 503 with `Retry-After` (RFC 9110 §10.2.3), in axum
/// and in Rocket alike, so that clients come back later instead of at once.
#[tokio::test]
async fn rfc9110_section_10_2_3_a_store_outage_is_a_503_with_retry_after() {
    let keys = Keys::generate();
    let instance = || {
        authenticator(
            &keys,
            DpopMode::Required,
            dpop_verifier(Down, Duration::from_secs(60)),
        )
    };
    let client = DpopClient::new(&keys);
    let dpop = format!("DPoP {}", client.token);
    for api in [
        oauth_e2e::support::start_axum_with(instance()).await,
        oauth_e2e::support::start_rocket_with(instance()).await,
    ] {
        let answer = get(&api, &dpop, Some(&client.proof())).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(
            answer.retry_after.as_deref(),
            Some("5"),
            "{api}: {answer:?}"
        );
    }
}
