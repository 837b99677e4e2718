//! Rejections are logged at debug level with their reason, and never with the token.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;

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
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

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
