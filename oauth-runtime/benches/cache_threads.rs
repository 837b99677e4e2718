//! The token cache shared by threads, as a multi-threaded server shares it: cache hits per second
//! with every thread on one cache, against every thread on a cache of its own (nothing shared,
//! the most the machine can do), measured in the same round. A ratio near 1 means threads do not
//! slow each other down.
//!
//! `cargo bench -p oauth-runtime --bench cache_threads`; results are in BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::{quartiles, token_for, verifier_for};
use oauth_runtime::{Algorithm, CachedVerifier, JwtVerifier, SigningKey, TokenVerifier};

const ROUNDS: usize = 31;
const HITS: usize = 400_000;

type Cache = Arc<CachedVerifier<JwtVerifier>>;

/// Hits per second of `threads` threads, thread `i` asking `caches[i]` about `tokens[i]`.
fn hits_per_second(caches: &[Cache], tokens: &[String]) -> f64 {
    let start = Arc::new(Barrier::new(caches.len() + 1));
    let threads: Vec<_> = caches
        .iter()
        .zip(tokens)
        .map(|(cache, token)| {
            let (cache, token, start) = (Arc::clone(cache), token.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..HITS {
                    assert!(black_box(cache.verify_now(black_box(token.as_bytes()))).is_some());
                }
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for thread in threads {
        thread.join().expect("thread");
    }
    (caches.len() * HITS) as f64 / began.elapsed().as_secs_f64()
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let key = SigningKey::generate(Algorithm::ES256)
        .expect("key")
        .with_kid("k");
    // One client per thread, each with its own token.
    let tokens: Vec<String> = (0..threads)
        .map(|i| token_for(&key, &format!("client-{i}")))
        .collect();
    let verifier = verifier_for(&key);
    let warm = |cache: &Cache| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        for token in &tokens {
            runtime.block_on(cache.verify(token)).expect("valid token");
        }
    };
    let shared: Cache = Arc::new(CachedVerifier::new(verifier.clone()));
    warm(&shared);
    let own: Vec<Cache> = (0..threads)
        .map(|_| {
            let cache = Arc::new(CachedVerifier::new(verifier.clone()));
            warm(&cache);
            cache
        })
        .collect();
    let shared_by_all = vec![Arc::clone(&shared); threads];
    let same_token = vec![tokens[0].clone(); threads];

    let (mut alone, mut distinct, mut same) = (Vec::new(), Vec::new(), Vec::new());
    let (mut distinct_ratio, mut same_ratio) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // The order rotates, so that a drift of the machine's speed does not favour one.
        let mut measured = [0.0; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            measured[which] = match which {
                0 => hits_per_second(&own, &tokens),
                1 => hits_per_second(&shared_by_all, &tokens),
                _ => hits_per_second(&shared_by_all, &same_token),
            };
        }
        alone.push(measured[0] / 1e6);
        distinct.push(measured[1] / 1e6);
        same.push(measured[2] / 1e6);
        distinct_ratio.push(measured[1] / measured[0]);
        same_ratio.push(measured[2] / measured[0]);
    }
    println!("{threads} threads, {ROUNDS} rounds of {HITS} cache hits per thread");
    let show = |name: &str, values: Vec<f64>| {
        let (m, q1, q3) = quartiles(values);
        println!("  {name:<58} median {m:7.3}  (quartiles {q1:.3} .. {q3:.3})");
    };
    show("M hits/s, a cache per thread", alone);
    show("M hits/s, one cache, a token per thread", distinct);
    show("M hits/s, one cache, one token", same);
    show(
        "one cache, a token per thread / a cache per thread",
        distinct_ratio,
    );
    show("one cache, one token / a cache per thread", same_ratio);
}
