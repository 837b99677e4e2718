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

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use common::{Case, case};
use oauth_runtime::{Algorithm, Authenticator, CachedVerifier, TokenVerifier, requires_scope};
use serde_json::Value;
use tower::ServiceExt;

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
    group.bench_function("JwtVerifier::verify_signature", |b| {
        b.iter(|| ours.verify_signature(black_box(&token)))
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

async fn open() -> &'static str {
    "ok"
}

#[requires_scope("photos:read")]
async fn protected() -> &'static str {
    "ok"
}

/// A handler behind the guard (token cache warm) against the same handler unprotected, both
/// served in-process through `tower::ServiceExt::oneshot`, with the same request.
fn guard(c: &mut Criterion) {
    let Case { token, ours, .. } = case(Algorithm::ES256);
    let app = Router::new()
        .route("/unguarded", get(open))
        .route("/protected", get(protected))
        .layer(Authenticator::new(CachedVerifier::new(ours)).layer())
        // What `axum::serve` does for every connection: handlers become routes once, instead of
        // on every request.
        .with_state(());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let request = |path: &str| {
        Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    let status = runtime
        .block_on(app.clone().oneshot(request("/protected")))
        .expect("infallible")
        .status();
    assert!(status.is_success());
    let mut group = c.benchmark_group("axum handler");
    // Paths of the same length, so that routing costs the same.
    for path in ["/unguarded", "/protected"] {
        group.bench_function(path, |b| {
            b.iter(|| {
                runtime
                    .block_on(app.clone().oneshot(request(path)))
                    .expect("infallible")
            })
        });
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    bench_alg(c, Algorithm::ES256);
    bench_alg(c, Algorithm::RS256);
}

criterion_group!(benches, verify, cache, guard);
criterion_main!(benches);
