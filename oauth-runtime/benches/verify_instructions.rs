//! Instruction counts of the same comparison as `benches/verify.rs`, for a result that does not
//! move with the machine's load. Run under callgrind and read the inclusive cost of each `run_*`
//! function (BENCHMARKS.md shows the commands):
//!
//! ```sh
//! cargo bench -p oauth-runtime --bench verify_instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out target/release/deps/verify_instructions-*[^.d]
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep run_
//! ```
//!
//! `run_axum_*` serve 2,000 requests each; their difference divided by 2,000 is the guard's cost.

mod common;

use std::hint::black_box;

use common::{Case, Served, case};
use oauth_runtime::Algorithm;
use serde_json::Value;

const ROUNDS: usize = 500;
const REQUESTS: usize = 2_000;

#[inline(never)]
fn run_decode(c: &Case) {
    for _ in 0..ROUNDS {
        assert!(
            black_box(jsonwebtoken::decode::<Value>(
                black_box(&c.token),
                &c.key,
                &c.validation
            ))
            .is_ok()
        );
    }
}

#[inline(never)]
fn run_ours(c: &Case) {
    for _ in 0..ROUNDS {
        assert!(black_box(c.ours.verify_token(black_box(&c.token))).is_ok());
    }
}

#[inline(never)]
fn run_decode_es256(c: &Case) {
    // A distinct body, so the linker does not fold the four wrappers into one.
    black_box("decode_es256");
    run_decode(c)
}
#[inline(never)]
fn run_ours_es256(c: &Case) {
    // A distinct body, so the linker does not fold the four wrappers into one.
    black_box("ours_es256");
    run_ours(c)
}
#[inline(never)]
fn run_decode_rs256(c: &Case) {
    // A distinct body, so the linker does not fold the four wrappers into one.
    black_box("decode_rs256");
    run_decode(c)
}
#[inline(never)]
fn run_ours_rs256(c: &Case) {
    // A distinct body, so the linker does not fold the four wrappers into one.
    black_box("ours_rs256");
    run_ours(c)
}

/// A function of its own per measured loop, so that callgrind reports each one by name.
macro_rules! requests {
    ($($name:ident: $router:ident $path:literal;)*) => {$(
        #[inline(never)]
        fn $name(s: &Served) {
            for _ in 0..REQUESTS {
                s.request(&s.$router, $path);
            }
        }
    )*};
}

requests! {
    run_axum_without_layer: bare "/unguarded";
    run_axum_unprotected: app "/unguarded";
    run_axum_protected: app "/protected";
    run_axum_with_path_unprotected: app "/unguarded/7";
    run_axum_with_path_protected: app "/protected/7";
}

fn main() {
    // `cargo bench` passes `--bench`; an argument `axum` runs the guard's loops alone.
    let es = case(Algorithm::ES256);
    if !std::env::args().any(|a| a == "axum") {
        run_decode_es256(&es);
        run_ours_es256(&es);
        let rs = case(Algorithm::RS256);
        run_decode_rs256(&rs);
        run_ours_rs256(&rs);
    }
    let served = Served::new(&es);
    run_axum_without_layer(&served);
    run_axum_unprotected(&served);
    run_axum_protected(&served);
    run_axum_with_path_unprotected(&served);
    run_axum_with_path_protected(&served);
}
