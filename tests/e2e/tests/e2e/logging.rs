//! Rejections are logged at debug level with their reason, and never with the token; a guard
//! recorded by `#[tracing::instrument]` shows its requirement, never the claims.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get as route_get;
use oauth_e2e::support::*;
use oauth_runtime::{Authenticator, Claims, requires_scope};

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

#[tokio::test]
async fn rejections_are_logged_with_reasons_and_without_tokens() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = scoped(subscriber);

    let keys = Keys::generate();
    let base = start_example(keys.verifier()).await;
    let url = format!("{base}/photos");
    let mut expired_claims = claims("photos:read");
    expired_claims["exp"] = (now() - 3600).into();
    let expired = keys.es.sign_jwt(&expired_claims);
    let narrow = keys.token("albums:read");
    let forged = Keys::generate().token("photos:read");

    assert_eq!(get(&url, Some(&expired)).await.status, 401);
    assert_eq!(get(&url, Some(&narrow)).await.status, 403);
    assert_eq!(get(&url, Some(&forged)).await.status, 401);
    assert_eq!(get(&url, None).await.status, 401);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for reason in [
        "token rejected: token expired",
        "insufficient scope: the handler requires photos:read; the token grants [albums:read]",
        "token rejected: invalid signature",
        "no bearer token in the request",
    ] {
        assert!(log.contains(reason), "missing {reason:?} in:\n{log}");
    }
    assert!(
        log.lines()
            .filter(|l| l.contains("request rejected"))
            .all(|l| l.contains("DEBUG"))
    );
    for token in [&expired, &narrow, &forged] {
        // Not the token, nor any of its three parts.
        for part in token.split('.') {
            assert!(!log.contains(part), "a token part leaked into the log");
        }
    }
}

// `#[requires_scope]` above `#[tracing::instrument]`: the hidden guard is a parameter by the time
// `instrument` looks, so it becomes a span field however `skip` names the user's own parameters.
#[requires_scope("photos:read")]
#[tracing::instrument(skip(claims))]
async fn instrumented(claims: Claims) -> &'static str {
    tracing::info!(
        subject_present = claims.subject().is_some(),
        "in the handler"
    );
    "ok"
}

#[tokio::test]
async fn an_instrumented_handler_records_the_guards_requirement_and_never_the_claims() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        // The target is the module path, `e2e::logging`: it would read as the `e2e` client_id
        // claim below, and a module path is no claim anyway.
        .with_target(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = scoped(subscriber);

    let keys = Keys::generate();
    let app = Router::new()
        .route("/instrumented", route_get(instrumented))
        .layer(Authenticator::new(keys.verifier()).layer());
    let base = serve(app).await;
    let a = get(
        &format!("{base}/instrumented"),
        Some(&keys.token("photos:read")),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("in the handler"))
        .unwrap_or_else(|| panic!("no handler event in:\n{log}"));
    assert!(
        line.contains("__oauth_scope_guard_0=ScopeGuard { requirement: photos:read, .. }"),
        "{line}"
    );
    for claim in ["alice", "e2e", photos_demo::AUDIENCE, ISSUER, "jti-"] {
        assert!(
            !log.contains(claim),
            "the claim {claim:?} leaked into:\n{log}"
        );
    }
}
