//! A loopback proxy in front of the development server's `/jwks` that goes down and comes back
//! on a fixed schedule: down for one period, up for the next, starting down, so that the run
//! begins with no key set ever fetched. While down it answers every other attempt with 503 and
//! resets the connection of the others. Written on plain TCP so that every answer, and every
//! failure to answer, is exactly the one intended.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::oracle::Timeline;

/// The largest request head read, and the largest key set passed on.
const MAX_HEAD: usize = 16 * 1024;
const MAX_KEY_SET: usize = 1024 * 1024;

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections that sent a request: every key-set fetch the verifier attempted.
    pub attempts: AtomicU64,
    /// Answered 503 while down.
    pub refused: AtomicU64,
    /// Reset without an answer while down.
    pub reset: AtomicU64,
    /// Upstream failures while up (must stay 0).
    pub upstream_errors: AtomicU64,
}

#[derive(Debug)]
pub struct Proxy {
    pub url: String,
    pub stats: Arc<ProxyStats>,
}

/// Whether the endpoint is down at `elapsed`: periods alternate down, up, down, ...
pub fn is_down(elapsed: Duration, period: Duration) -> bool {
    let period = period.as_millis().max(1);
    (elapsed.as_millis() / period).is_multiple_of(2)
}

pub async fn start(
    upstream: String,
    timeline: Arc<Timeline>,
    period: Duration,
) -> std::io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/jwks", listener.local_addr()?);
    let stats = Arc::new(ProxyStats::default());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    let shared = Arc::new(Shared {
        upstream,
        timeline,
        period,
        stats: stats.clone(),
        client,
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(shared.clone().handle(stream));
        }
    });
    Ok(Proxy { url, stats })
}

struct Shared {
    upstream: String,
    timeline: Arc<Timeline>,
    period: Duration,
    stats: Arc<ProxyStats>,
    client: reqwest::Client,
}

impl Shared {
    async fn handle(self: Arc<Self>, mut stream: TcpStream) {
        if !read_head(&mut stream).await {
            return;
        }
        let attempt = self.stats.attempts.fetch_add(1, Ordering::SeqCst);
        if is_down(self.timeline.now(), self.period) {
            if attempt.is_multiple_of(2) {
                self.stats.refused.fetch_add(1, Ordering::SeqCst);
                let body = "key set endpoint down";
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            } else {
                self.stats.reset.fetch_add(1, Ordering::SeqCst);
                // A reset, not an orderly close: the harshest way a connection can fail.
                let _ = stream.set_zero_linger();
            }
            return;
        }
        let Some(body) = self.fetch_upstream().await else {
            self.stats.upstream_errors.fetch_add(1, Ordering::SeqCst);
            let _ = stream
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            return;
        };
        let kids = kids(&body);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let number = self.timeline.delivering(kids);
        let written = async {
            stream.write_all(answer.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.flush().await
        };
        if written.await.is_ok() {
            self.timeline.delivered(number);
        }
        let _ = stream.shutdown().await;
    }

    async fn fetch_upstream(&self) -> Option<Vec<u8>> {
        let mut response = self.client.get(&self.upstream).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.ok()? {
            if body.len() + chunk.len() > MAX_KEY_SET {
                return None;
            }
            body.extend_from_slice(&chunk);
        }
        Some(body)
    }
}

/// Reads up to the end of the request head; false if the client went away, sent too much or
/// took too long.
async fn read_head(stream: &mut TcpStream) -> bool {
    let read = async {
        let mut head = Vec::with_capacity(1024);
        let mut buffer = [0u8; 1024];
        loop {
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buffer[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Some(());
            }
            if head.len() > MAX_HEAD {
                return None;
            }
        }
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), read).await,
        Ok(Some(()))
    )
}

/// The `kid`s of a JWK Set.
fn kids(body: &[u8]) -> Vec<String> {
    let Ok(set) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    set["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
