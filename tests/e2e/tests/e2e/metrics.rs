//! The numbers operators watch: the axum example with `/metrics` on, good and bad requests over
//! real HTTP, and the Prometheus page read back with the counts moved by exactly what was sent.
//!
//! A process has one global recorder, and the other tests of this binary run alongside and
//! record too. So each test here records into a recorder of its own, set for its thread only
//! (`metrics::with_local_recorder`), and runs its servers and clients on a current-thread
//! runtime on that thread: every count on its page comes from its own requests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusRecorder;
use oauth_e2e::support::*;
use oauth_runtime::{
    Authenticator, CachedVerifier, IntrospectionVerifier, JwksSettings, JwtVerifier, TokenVerifier,
    VerifyError,
};
use photos_demo::{AUDIENCE, CLIENT_ID, CLIENT_SECRET, Options, REALM, authorization_server};

/// Runs `test` on this thread's own current-thread runtime, recording into `recorder`.
fn with_recorder<F: Future<Output = ()>>(recorder: &PrometheusRecorder, test: impl FnOnce() -> F) {
    ::metrics::with_local_recorder(recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
    });
}

/// The value of the series `series` (name and labels as rendered) on a Prometheus page; 0 when
/// absent, as Prometheus reads a counter not yet created.
fn value(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn refused(reason: &str, detail: &str) -> String {
    format!("oauth_requests_refused_total{{reason=\"{reason}\",detail=\"{detail}\"}}")
}

/// A token with `good`'s header and claims and the signature of another key's token.
fn forged(good: &str) -> String {
    let other = Keys::generate().token("photos:read");
    let (signed, _) = good.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{signed}.{signature}")
}

#[test]
fn the_metrics_page_counts_good_and_bad_requests_with_bounded_labels() {
    let recorder = photos_axum::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    with_recorder(&recorder, || async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let options = Options {
            port: 0,
            as_port: 0,
            ..Options::default()
        };
        let server = authorization_server(&options, &api).await.unwrap();
        let issuer = server.issuer().to_owned();
        // The example's authenticator, its keys fetched from the server's key set and its
        // tokens cached: the key-set and cache metrics move too.
        let verifier = JwtVerifier::builder()
            .audience(AUDIENCE)
            .discover(&issuer)
            .await
            .unwrap()
            .build()
            .unwrap();
        let authenticator = Authenticator::builder(CachedVerifier::new(verifier))
            .realm(REALM)
            .build()
            .unwrap();
        let app = photos_axum::app_with_metrics(
            authenticator,
            Arc::new(unused_client_app()),
            handle.clone(),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let good = server.mint_token("alice", "photos:read");
        let narrow = server.mint_token("bob", "albums:read");
        let forged = forged(&good);
        let photos = format!("{api}/photos");
        let before = get(&format!("{api}/metrics"), None).await.body;

        assert_eq!(get(&photos, None).await.status, 401);
        assert_eq!(get(&photos, Some(&forged)).await.status, 401);
        assert_eq!(get(&photos, Some(&narrow)).await.status, 403);
        for _ in 0..3 {
            assert_eq!(get(&photos, Some(&good)).await.status, 200);
        }

        let page = get(&format!("{api}/metrics"), None).await;
        assert_eq!(page.status, 200);
        let page = page.body;
        let moved = |series: &str| value(&page, series) - value(&before, series);
        assert_eq!(moved("oauth_requests_allowed_total"), 3.0, "{page}");
        assert_eq!(moved(&refused("missing_token", "none")), 1.0, "{page}");
        assert_eq!(moved(&refused("invalid_token", "signature")), 1.0, "{page}");
        assert_eq!(moved(&refused("insufficient_scope", "none")), 1.0, "{page}");
        let refusals: f64 = page
            .lines()
            .filter(|l| l.starts_with("oauth_requests_refused_total{"))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum();
        assert_eq!(refusals, 3.0, "nothing else was refused:\n{page}");
        // The forged, the narrow and the first good token reach the verifier; the next two good
        // requests are answered by the cache.
        assert_eq!(moved("oauth_token_cache_misses_total"), 3.0, "{page}");
        assert_eq!(moved("oauth_token_cache_hits_total"), 2.0, "{page}");
        // One fetch of the key set, labelled with the issuer it belongs to.
        let fetched = format!("oauth_jwks_fetches_total{{issuer=\"{issuer}\",outcome=\"ok\"}}");
        assert_eq!(value(&page, &fetched), 1.0, "{page}");
        let stale = value(
            &page,
            &format!("oauth_jwks_seconds_since_refresh{{issuer=\"{issuer}\"}}"),
        );
        assert!((0.0..60.0).contains(&stale), "{stale}");
        let refreshed = value(
            &page,
            &format!("oauth_jwks_last_refresh_timestamp_seconds{{issuer=\"{issuer}\"}}"),
        );
        assert!((refreshed - now() as f64).abs() < 60.0, "{refreshed}");

        // Labels are the crate's fixed texts: no token, subject or scope from a request.
        for secret in [&good, &narrow, &forged] {
            for part in secret.split('.') {
                assert!(!page.contains(part), "a token part on the page");
            }
        }
        for claim in ["alice", "bob", "albums:read", "photos:read"] {
            assert!(!page.contains(claim), "{claim} on the page:\n{page}");
        }
        // Unguarded, like /health: a scraper has no token.
        assert!(page.contains("# TYPE oauth_requests_refused_total counter"));
    });
}

/// Each way a key-set fetch fails is counted under its own `outcome`, per issuer.
#[test]
fn key_set_fetches_are_counted_by_outcome() {
    let recorder = photos_axum::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    with_recorder(&recorder, || async move {
        use axum::routing::get as route;
        let endpoint = axum::Router::new()
            .route(
                "/missing",
                route(|| async { (axum::http::StatusCode::NOT_FOUND, "") }),
            )
            .route("/junk", route(|| async { "not a key set" }))
            .route("/large", route(|| async { "x".repeat(4096) }))
            .route(
                "/slow",
                route(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    ""
                }),
            );
        let base = serve(endpoint).await;
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let mut settings = JwksSettings::default();
        settings.max_body = 1024;
        settings.timeout = Duration::from_millis(300);
        let token = Keys::generate().token("photos:read");
        for (tenant, url, outcome) in [
            ("missing", format!("{base}/missing"), "http_error"),
            ("junk", format!("{base}/junk"), "invalid"),
            ("large", format!("{base}/large"), "too_large"),
            ("slow", format!("{base}/slow"), "timeout"),
            ("closed", format!("{closed}/jwks"), "connect"),
        ] {
            let issuer = format!("https://{tenant}.example");
            let verifier = JwtVerifier::builder()
                .issuer(&issuer)
                .audience(AUDIENCE)
                .jwks_url_with(url, reqwest::Client::new(), settings.clone())
                .build()
                .unwrap();
            assert!(matches!(
                verifier.verify(&token).await,
                Err(VerifyError::Unavailable(_))
            ));
            let page = handle.render();
            let series =
                format!("oauth_jwks_fetches_total{{issuer=\"{issuer}\",outcome=\"{outcome}\"}}");
            assert_eq!(value(&page, &series), 1.0, "{series} in\n{page}");
            // Never fetched: stale since the key set's first use.
            let stale = format!("oauth_jwks_seconds_since_refresh{{issuer=\"{issuer}\"}}");
            assert!(page.contains(&stale), "{stale} in\n{page}");
        }
    });
}

/// Introspection calls are counted by outcome and timed.
#[test]
fn introspection_calls_are_counted_and_timed() {
    let recorder = photos_axum::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    with_recorder(&recorder, || async move {
        let options = Options {
            port: 0,
            as_port: 0,
            ..Options::default()
        };
        let server = authorization_server(&options, "http://127.0.0.1:9")
            .await
            .unwrap();
        let introspection = IntrospectionVerifier::new(
            format!("{}/introspect", server.issuer()),
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .unwrap();
        let good = server.mint_token("alice", "photos:read");
        introspection.verify(&good).await.unwrap();
        assert_eq!(
            introspection.verify("never-issued").await.err(),
            Some(VerifyError::Inactive)
        );
        let page = handle.render();
        assert_eq!(
            value(&page, "oauth_introspection_requests_total{outcome=\"ok\"}"),
            2.0,
            "{page}"
        );
        assert_eq!(
            value(&page, "oauth_introspection_duration_seconds_count"),
            2.0,
            "{page}"
        );
        assert!(page.contains("oauth_introspection_duration_seconds_bucket{le=\"0.005\"}"));
    });
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `oauth.verify` span says how each verification ended, with the same bounded labels as
/// the metrics, and never holds the token.
#[tokio::test]
async fn verification_spans_carry_outcome_and_reason_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _default = scoped(subscriber);

    let keys = Keys::generate();
    let base = start_example(keys.verifier()).await;
    let good = keys.token("photos:read");
    let forged = forged(&good);
    assert_eq!(
        get(&format!("{base}/photos"), Some(&good)).await.status,
        200
    );
    assert_eq!(
        get(&format!("{base}/photos"), Some(&forged)).await.status,
        401
    );

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let closed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("oauth.verify") && l.contains("close"))
        .collect();
    assert_eq!(closed.len(), 2, "{log}");
    assert!(closed[0].contains(r#"outcome="verified""#), "{log}");
    assert!(
        closed[1].contains(r#"outcome="refused" reason="invalid_token" detail="signature""#),
        "{log}"
    );
    for part in good.split('.').chain(forged.split('.')) {
        assert!(!log.contains(part), "a token part leaked into the log");
    }
}
