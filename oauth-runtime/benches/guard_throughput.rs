//! The guard's throughput ratio, measured in pairs: batches of requests to the unguarded and the
//! protected handler alternate (in ABBA order, so that a drift of the machine's speed during a
//! round cancels), and the ratio is taken per round. The median over many rounds moves far less
//! than two separately measured averages on a shared machine.
//!
//! `cargo bench -p oauth-runtime --bench guard_throughput`; results are in BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use common::{Served, case, quartiles};
use oauth_runtime::Algorithm;

const ROUNDS: usize = 101;
const BATCH: usize = 5_000;

fn batch(served: &Served, app: &axum::Router, path: &str) -> Duration {
    let start = Instant::now();
    for _ in 0..BATCH {
        served.request(app, path);
    }
    start.elapsed()
}

/// Paired rounds for one handler: unguarded, protected, and unguarded without the layer.
fn compare(served: &Served, unguarded: &str, protected: &str) {
    let (app, bare) = (&served.app, &served.bare);
    let mut per_request = (Vec::new(), Vec::new(), Vec::new());
    let (mut guarded, mut layered) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (mut open, mut guard, mut no_layer) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let order = if round % 2 == 0 {
            [unguarded, protected]
        } else {
            [protected, unguarded]
        };
        for path in order.iter().chain(order.iter().rev()) {
            if *path == unguarded {
                open += batch(served, app, path);
                no_layer += batch(served, bare, path);
            } else {
                guard += batch(served, app, path);
            }
        }
        let ns = |d: Duration| d.as_secs_f64() * 1e9 / (2 * BATCH) as f64;
        per_request.0.push(ns(no_layer));
        per_request.1.push(ns(open));
        per_request.2.push(ns(guard));
        // Throughput behind the guard relative to the same handler unprotected.
        guarded.push(open.as_secs_f64() / guard.as_secs_f64());
        layered.push(no_layer.as_secs_f64() / guard.as_secs_f64());
    }
    let show = |name: &str, values: Vec<f64>, unit: &str| {
        let (median, q1, q3) = quartiles(values);
        println!("  {name:<56} median {median:8.3}{unit}  (quartiles {q1:.3} .. {q3:.3})");
    };
    println!(
        "{unguarded} against {protected}: {ROUNDS} rounds of {BATCH} requests to each, twice per round (ABBA)"
    );
    show(
        "ns per request, unguarded, router without the layer",
        per_request.0,
        " ns",
    );
    show(
        "ns per request, unguarded, same router",
        per_request.1,
        " ns",
    );
    show(
        "ns per request, protected (token cache warm)",
        per_request.2,
        " ns",
    );
    show("throughput protected / unguarded, same router", guarded, "");
    show("throughput protected / unguarded, no layer", layered, "");
}

fn main() {
    let served = Served::new(&case(Algorithm::ES256));
    // The handler of the target: no extractor of its own.
    compare(&served, "/unguarded", "/protected");
    // A handler with a path parameter.
    compare(&served, "/unguarded/7", "/protected/7");
}
