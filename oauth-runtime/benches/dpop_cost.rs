//! What DPoP costs a request beside a bearer token (issue 12): `authenticate_request` with the
//! token in the verified-token cache, once with `Bearer` and once with `DPoP` and a proof made
//! beforehand (a fresh `jti` each, in the in-memory replay store), so the difference is the
//! proof's checks: its decoding, one ES256 signature, the thumbprint and the store.
//!
//! `cargo bench -p oauth-runtime --bench dpop_cost` prints medians and p99s, the two kinds in
//! alternation so that a busy machine slows both alike. For counts that do not move with the
//! machine's load, run it under callgrind and read `run_bearer` and `run_dpop` (BENCHMARKS.md).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{unix_now, verifier_for};
use oauth_runtime::dpop::{
    DpopMode, DpopVerifier, MemoryReplayStore, access_token_hash, jwk_thumbprint,
};
use oauth_runtime::{Algorithm, Authenticator, CachedVerifier, HttpRequest, SigningKey};
use serde_json::json;

const REQUESTS: usize = 2_000;
const EXTERNAL: &str = "https://api.example";

const REQUEST: HttpRequest<'static> = HttpRequest {
    method: "GET",
    scheme: "https",
    host: Some("api.example"),
    path: "/photos",
    query: None,
};

#[inline(never)]
async fn run_bearer(authenticator: &Authenticator, authorization: &str) -> Duration {
    let started = Instant::now();
    let accepted = authenticator
        .authenticate_request(
            &REQUEST,
            std::iter::once(authorization.as_bytes()),
            std::iter::empty(),
        )
        .await;
    let took = started.elapsed();
    assert!(black_box(accepted).is_ok());
    took
}

#[inline(never)]
async fn run_dpop(authenticator: &Authenticator, authorization: &str, proof: &str) -> Duration {
    let started = Instant::now();
    let accepted = authenticator
        .authenticate_request(
            &REQUEST,
            std::iter::once(authorization.as_bytes()),
            std::iter::once(proof.as_bytes()),
        )
        .await;
    let took = started.elapsed();
    assert!(black_box(accepted).is_ok());
    took
}

/// Median and 99th percentile, in microseconds.
fn median_p99(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5).as_secs_f64() * 1e6, at(0.99).as_secs_f64() * 1e6)
}

fn main() {
    let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
    let client = SigningKey::generate(Algorithm::ES256).expect("key");
    let jwk = client.public_jwk().expect("public key");
    let now = unix_now();
    let claims = |bound: bool| {
        let mut claims = json!({
            "iss": "https://issuer.test", "aud": "api", "sub": "alice", "client_id": "c",
            "iat": now, "exp": now + 3600, "scope": "photos:read",
        });
        if bound {
            claims["cnf"] = json!({ "jkt": jwk_thumbprint(&jwk).expect("thumbprint") });
        }
        claims
    };
    let bearer = format!("Bearer {}", issuer.sign_jwt(&claims(false)));
    let bound = issuer.sign_jwt(&claims(true));
    let dpop = format!("DPoP {bound}");
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
    let ath = access_token_hash(&bound);
    // Made beforehand: what is measured is checking a proof, not signing one.
    let proofs: Vec<String> = (0..REQUESTS + 1)
        .map(|n| {
            client.sign_jwt_with_header(
                &header,
                &json!({ "jti": format!("bench-{n}"), "htm": "GET",
                    "htu": format!("{EXTERNAL}/photos"), "iat": now, "ath": ath }),
            )
        })
        .collect();
    let authenticator = Authenticator::builder(CachedVerifier::new(verifier_for(&issuer)))
        .dpop(DpopMode::Allowed)
        .dpop_verifier(
            DpopVerifier::builder()
                .external_url(EXTERNAL)
                .replay_store(MemoryReplayStore::new(1_000_000))
                .build()
                .expect("verifier"),
        )
        .build()
        .expect("authenticator");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Both tokens into the cache first.
        run_bearer(&authenticator, &bearer).await;
        run_dpop(&authenticator, &dpop, &proofs[REQUESTS]).await;
        let (mut bearer_times, mut dpop_times) = (Vec::new(), Vec::new());
        for proof in &proofs[..REQUESTS] {
            bearer_times.push(run_bearer(&authenticator, &bearer).await);
            dpop_times.push(run_dpop(&authenticator, &dpop, proof).await);
        }
        let (bearer_median, bearer_p99) = median_p99(bearer_times);
        let (dpop_median, dpop_p99) = median_p99(dpop_times);
        println!("authenticate_request with a cached ES256 token, {REQUESTS} each:");
        println!("  bearer: median {bearer_median:7.1} µs   p99 {bearer_p99:7.1} µs");
        println!("    DPoP: median {dpop_median:7.1} µs   p99 {dpop_p99:7.1} µs (ES256 proof)");
    });
}
