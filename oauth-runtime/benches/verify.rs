//! Our JWT verification against a bare `jsonwebtoken::decode` of the same token, in the same run.
//!
//! `cargo bench -p oauth-runtime --bench verify`; results and ratios are in BENCHMARKS.md.
//! The baseline gets every advantage we get: its `DecodingKey` and `Validation` are built once,
//! outside the timed loop, exactly as ours are.

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use common::{Case, Served, case};
use oauth_runtime::{Algorithm, CachedVerifier, TokenVerifier};
use serde_json::Value;

fn bench_alg(c: &mut Criterion, alg: Algorithm) {
    let Case {
        token,
        ours,
        key,
        validation,
    } = case(alg);
    let mut group = c.benchmark_group(format!("{alg:?}"));
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &key, &validation))
    });
    group.bench_function("JwtVerifier::verify_token", |b| {
        b.iter(|| ours.verify_token(black_box(&token)))
    });
    group.bench_function("dangerous::verify_signature", |b| {
        b.iter(|| oauth_runtime::dangerous::verify_signature(&ours, black_box(&token)))
    });
    group.finish();
}

/// Polls a future that completes without waiting, as a cache hit does.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a cache hit must not wait"),
    }
}

/// The verified-token cache, warm, against the uncached verifier and a bare decode.
fn cache(c: &mut Criterion) {
    let Case {
        token,
        ours,
        key,
        validation,
    } = case(Algorithm::ES256);
    let cached = CachedVerifier::new(ours.clone());
    assert!(
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt")
            .block_on(cached.verify(&token))
            .is_ok()
    );
    let mut group = c.benchmark_group("cache ES256");
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Value>(black_box(&token), &key, &validation))
    });
    group.bench_function("JwtVerifier::verify_token", |b| {
        b.iter(|| ours.verify_token(black_box(&token)))
    });
    group.bench_function("CachedVerifier::verify (hit)", |b| {
        b.iter(|| ready(cached.verify(black_box(&token))))
    });
    group.finish();
}

/// A handler behind the guard (token cache warm) against the same handler unprotected in the same
/// router, and in a router without the authenticator's layer, all served in-process through
/// `tower::ServiceExt::oneshot` with the same request.
fn guard(c: &mut Criterion) {
    let served = Served::new(&case(Algorithm::ES256));
    let mut group = c.benchmark_group("axum handler");
    group.bench_function("/unguarded, no layer", |b| {
        b.iter(|| served.request(&served.bare, "/unguarded"))
    });
    // Paths of the same length, so that routing costs the same.
    for path in ["/unguarded", "/protected"] {
        group.bench_function(path, |b| b.iter(|| served.request(&served.app, path)));
    }
    group.finish();
}

/// The same two routes as [`guard`], served by `axum::serve` on loopback and called over one
/// keep-alive HTTP/1.1 connection, as a client sees them.
fn guard_over_http(c: &mut Criterion) {
    let case = case(Algorithm::ES256);
    let app = Served::new(&case).app;
    let token = case.token;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    runtime.spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let call = |path: &str| {
        let request = client
            .get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {token}"));
        async move {
            request
                .send()
                .await
                .expect("response")
                .bytes()
                .await
                .expect("body")
        }
    };
    assert_eq!(runtime.block_on(call("/protected")), "ok");
    let mut group = c.benchmark_group("axum over HTTP");
    for path in ["/unguarded", "/protected"] {
        group.bench_function(path, |b| b.iter(|| runtime.block_on(call(path))));
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    bench_alg(c, Algorithm::ES256);
    bench_alg(c, Algorithm::RS256);
}

criterion_group!(benches, verify, cache, guard, guard_over_http);
criterion_main!(benches);
