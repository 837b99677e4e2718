//! What the shared replay store costs a DPoP request: `Authenticator::authenticate_request` with
//! a cached token and a fresh proof, its `jti` recorded in the in-memory store or in Redis over
//! loopback, the two measured in alternation so that a busy machine slows both alike. Also the
//! store's call alone.
//!
//! `cargo bench -p oauth-runtime --features redis --bench dpop_store`: starts its own
//! `redis-server` on a free loopback port without persistence (skipped, saying so, when none is
//! installed). Results are in BENCHMARKS.md.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{unix_now, verifier_for};
use oauth_runtime::dpop::{
    DpopMode, DpopReplayStore, DpopVerifier, MemoryReplayStore, access_token_hash, jwk_thumbprint,
};
use oauth_runtime::dpop_redis::RedisReplayStore;
use oauth_runtime::{Algorithm, Authenticator, CachedVerifier, HttpRequest, SigningKey};
use serde_json::json;

const REQUESTS: usize = 5_000;
const EXTERNAL: &str = "https://api.example";

fn authenticator(issuer: &SigningKey, store: impl DpopReplayStore) -> Authenticator {
    Authenticator::builder(CachedVerifier::new(verifier_for(issuer)))
        .dpop(DpopMode::Required)
        .dpop_verifier(
            DpopVerifier::builder()
                .external_url(EXTERNAL)
                .replay_store(store)
                .build()
                .expect("verifier"),
        )
        .build()
        .expect("authenticator")
}

/// Median and 99th percentile, in microseconds.
fn median_p99(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5).as_secs_f64() * 1e6, at(0.99).as_secs_f64() * 1e6)
}

fn main() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let redis = RedisReplayStore::builder(format!("redis://127.0.0.1:{port}/"))
            .build()
            .expect("store");
        // Ready when it answers; a generous bound for a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(20);
        while redis
            .first_use(&[0; 32], SystemTime::now() + Duration::from_secs(1))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server never answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
        let client = SigningKey::generate(Algorithm::ES256).expect("key");
        let jwk = client.public_jwk().expect("public key");
        let now = unix_now();
        let token = issuer.sign_jwt(&json!({
            "iss": "https://issuer.test", "aud": "api", "sub": "alice", "client_id": "c",
            "iat": now, "exp": now + 3600, "scope": "photos:read",
            "cnf": { "jkt": jwk_thumbprint(&jwk).expect("thumbprint") },
        }));
        let authorization = format!("DPoP {token}");
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
        let ath = access_token_hash(&token);
        let mut next = 0u64;
        let mut proof = || {
            next += 1;
            client.sign_jwt_with_header(
                &header,
                &json!({ "jti": format!("bench-{next}"), "htm": "GET",
                    "htu": format!("{EXTERNAL}/photos"), "iat": unix_now(), "ath": ath }),
            )
        };
        let request = HttpRequest {
            method: "GET",
            scheme: "https",
            host: Some("api.example"),
            path: "/photos",
            query: None,
        };
        let stores = [
            (
                "memory",
                authenticator(&issuer, MemoryReplayStore::new(1_000_000)),
            ),
            ("redis", authenticator(&issuer, redis.clone())),
        ];
        let mut samples = [Vec::new(), Vec::new()];
        for round in 0..REQUESTS + 200 {
            for (i, (_, authenticator)) in stores.iter().enumerate() {
                let proof = proof();
                let started = Instant::now();
                authenticator
                    .authenticate_request(
                        &request,
                        std::iter::once(authorization.as_bytes()),
                        std::iter::once(proof.as_bytes()),
                    )
                    .await
                    .expect("accepted");
                // The first rounds warm the token cache and the connection.
                if round >= 200 {
                    samples[i].push(started.elapsed());
                }
            }
        }
        println!(
            "DPoP request (authenticate_request, cached token, fresh ES256 proof), {REQUESTS} each:"
        );
        for ((name, _), samples) in stores.iter().zip(samples) {
            let (median, p99) = median_p99(samples);
            println!("  {name:>6}: median {median:7.1} µs   p99 {p99:7.1} µs");
        }

        let memory = MemoryReplayStore::new(1_000_000);
        let until = SystemTime::now() + Duration::from_secs(60);
        let mut alone = [Vec::new(), Vec::new()];
        for n in 0..REQUESTS as u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&n.to_le_bytes());
            key[4] = 1;
            let started = Instant::now();
            assert!(memory.first_use(&key, until).await.expect("memory"));
            alone[0].push(started.elapsed());
            let started = Instant::now();
            assert!(redis.first_use(&key, until).await.expect("redis"));
            alone[1].push(started.elapsed());
        }
        println!("The store's first_use alone, {REQUESTS} each:");
        for (name, samples) in ["memory", "redis"].into_iter().zip(alone) {
            let (median, p99) = median_p99(samples);
            println!("  {name:>6}: median {median:7.1} µs   p99 {p99:7.1} µs");
        }
    });
    let _ = server.kill();
    let _ = server.wait();
}
