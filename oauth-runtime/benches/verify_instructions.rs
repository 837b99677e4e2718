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

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use common::{Case, case};
use oauth_runtime::{Algorithm, Authenticator, CachedVerifier, requires_scope};
use serde_json::Value;
use tower::ServiceExt;

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

async fn open() -> &'static str {
    "ok"
}

#[requires_scope("photos:read")]
async fn protected() -> &'static str {
    "ok"
}

/// The same in-process requests as the criterion group "axum handler": one router, the handler
/// unprotected and behind the guard with the token cache warm.
struct Served {
    app: Router,
    /// The same unprotected route in a router without the authenticator's layer.
    bare: Router,
    runtime: tokio::runtime::Runtime,
    authorization: String,
}

impl Served {
    fn new(c: &Case) -> Served {
        let app = Router::new()
            .route("/unguarded", get(open))
            .route("/protected", get(protected))
            .layer(Authenticator::new(CachedVerifier::new(c.ours.clone())).layer())
            // What `axum::serve` does for every connection: handlers become routes once, instead
            // of on every request.
            .with_state(());
        let bare = Router::new()
            .route("/unguarded", get(open))
            .route("/protected", get(protected))
            .with_state(());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let served = Served {
            app,
            bare,
            runtime,
            authorization: format!("Bearer {}", c.token),
        };
        // Warms the cache, and proves both routes answer 200.
        served.request(&served.app, "/unguarded");
        served.request(&served.app, "/protected");
        served.request(&served.bare, "/unguarded");
        served
    }

    fn request(&self, app: &Router, path: &str) {
        let request = Request::builder()
            .uri(path)
            .header("authorization", &self.authorization)
            .body(Body::empty())
            .expect("request");
        let response = self
            .runtime
            .block_on(app.clone().oneshot(request))
            .expect("infallible");
        assert!(response.status().is_success());
        black_box(response);
    }
}

#[inline(never)]
fn run_axum_without_layer(s: &Served) {
    for _ in 0..REQUESTS {
        s.request(&s.bare, "/unguarded");
    }
}

#[inline(never)]
fn run_axum_unprotected(s: &Served) {
    for _ in 0..REQUESTS {
        s.request(&s.app, "/unguarded");
    }
}

#[inline(never)]
fn run_axum_protected(s: &Served) {
    for _ in 0..REQUESTS {
        s.request(&s.app, "/protected");
    }
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
}
