//! The traffic: one task per keep-alive connection, each sending the mix in a loop until the
//! deadline and checking every answer as it arrives. Each task keeps its own fixed-size
//! tallies, merged at the end, so that the run allocates nothing per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::oracle::{Answer, Timeline};
use crate::tokens::{Kind, Tokens};

/// A request that takes longer than this is a hang, counted as a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer body read; the API's answers are far smaller.
const MAX_BODY: usize = 64 * 1024;
/// Wrong answers described in full, per connection.
const EXAMPLES: usize = 3;

/// Latencies in microseconds, in buckets 1/32 of a power of two wide (about 3 % precision).
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
}

const SUB: u32 = 32;
const SUB_BITS: u32 = 5;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; (SUB * 40) as usize],
        }
    }
}

impl Histogram {
    fn bucket(micros: u64) -> usize {
        if micros < u64::from(SUB) {
            return micros as usize;
        }
        let power = 63 - micros.leading_zeros();
        let offset = (micros >> (power - SUB_BITS)) & u64::from(SUB - 1);
        ((power - SUB_BITS + 1) * SUB + offset as u32) as usize
    }

    /// The lowest value of a bucket.
    fn value(bucket: usize) -> u64 {
        let bucket = bucket as u64;
        let sub = u64::from(SUB);
        if bucket < sub {
            return bucket;
        }
        let power = bucket / sub + u64::from(SUB_BITS) - 1;
        (1 << power) | (bucket % sub) << (power - u64::from(SUB_BITS))
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = Self::bucket(micros).min(self.buckets.len() - 1);
        self.buckets[bucket] += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// The latency below which `q` of the requests fall.
    pub fn quantile(&self, q: f64) -> Duration {
        let total: u64 = self.buckets.iter().sum();
        let rank = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (bucket, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank.max(1) {
                return Duration::from_micros(Self::value(bucket));
            }
        }
        Duration::ZERO
    }
}

/// What one connection saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Answers by kind and answer.
    pub answers: [[u64; Answer::ALL.len()]; Kind::ALL.len()],
    /// The first and last moment (ms since the epoch) each kind got each answer.
    pub seen: [[Option<(u64, u64)>; Answer::ALL.len()]; Kind::ALL.len()],
    pub wrong: u64,
    /// Answers checked against more than one acceptable answer.
    pub uncertain: u64,
    pub examples: Vec<String>,
    /// Requests that failed on the connection (reset, closed, timed out): must be 0.
    pub transport_errors: u64,
    pub reconnects: u64,
    pub latency: Histogram,
}

impl Tally {
    pub fn merge(&mut self, other: &Tally) {
        for kind in 0..Kind::ALL.len() {
            for answer in 0..Answer::ALL.len() {
                self.answers[kind][answer] += other.answers[kind][answer];
                self.seen[kind][answer] = match (self.seen[kind][answer], other.seen[kind][answer])
                {
                    (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                    (a, b) => a.or(b),
                };
            }
        }
        self.wrong += other.wrong;
        self.uncertain += other.uncertain;
        for example in &other.examples {
            if self.examples.len() < 20 {
                self.examples.push(example.clone());
            }
        }
        self.transport_errors += other.transport_errors;
        self.reconnects += other.reconnects;
        self.latency.merge(&other.latency);
    }

    pub fn requests(&self) -> u64 {
        self.answers.iter().flatten().sum()
    }
}

async fn connect(addr: std::net::SocketAddr) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// One connection's loop: sends the mix from position `start` until `deadline`.
pub async fn connection(
    addr: std::net::SocketAddr,
    start: usize,
    deadline: Instant,
    tokens: Arc<Tokens>,
    timeline: Arc<Timeline>,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    let mut n = start;
    let host = addr.to_string();
    while Instant::now() < deadline {
        let (kind, request) = tokens.pick(Kind::MIX[n % Kind::MIX.len()], n / Kind::MIX.len());
        n += 1;
        let Some(mut connected) = (match sender.take() {
            Some(s) => Some(s),
            None => {
                tally.reconnects += 1;
                connect(addr).await
            }
        }) else {
            tally.transport_errors += 1;
            // The server is not taking connections: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut builder = hyper::Request::get(request.path).header(HOST, host.as_str());
        if let Some(value) = &request.authorization {
            builder = builder.header(AUTHORIZATION, value.clone());
        }
        let Ok(http_request) = builder.body(Empty::<Bytes>::new()) else {
            tally.transport_errors += 1;
            continue;
        };
        let sent = timeline.now();
        let began = Instant::now();
        let exchange = async {
            connected.ready().await.ok()?;
            let response = connected.send_request(http_request).await.ok()?;
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .map(|v| v.as_bytes().to_vec());
            Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .ok()?;
            Some((status, challenge))
        };
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, exchange).await;
        let answered = timeline.now();
        let Ok(Some((status, challenge))) = outcome else {
            tally.transport_errors += 1;
            if tally.examples.len() < EXAMPLES {
                tally.examples.push(format!(
                    "{} at {:.3}s: no answer within {REQUEST_TIMEOUT:?} or connection failed",
                    kind.label(),
                    sent.as_secs_f64()
                ));
            }
            continue;
        };
        sender = Some(connected);
        tally.latency.record(began.elapsed());
        let answer = Answer::classify(status, challenge.as_deref());
        let (k, a) = (kind.index(), answer.index());
        tally.answers[k][a] += 1;
        let ms = u64::try_from(sent.as_millis()).unwrap_or(u64::MAX);
        tally.seen[k][a] = Some(match tally.seen[k][a] {
            Some((first, last)) => (first.min(ms), last.max(ms)),
            None => (ms, ms),
        });
        let allowed = timeline.allowed(kind.deserves(), sent, answered);
        tally.uncertain += u64::from(allowed.uncertain());
        if allowed.contains(answer) {
            timeline.observe(kind.deserves(), answer, answered);
        } else {
            tally.wrong += 1;
            if tally.examples.len() < EXAMPLES {
                tally.examples.push(format!(
                    "{} {} sent at {:.3}s, answered at {:.3}s: got {} ({status}, {:?}), deserved {allowed}",
                    kind.label(),
                    request.path,
                    sent.as_secs_f64(),
                    answered.as_secs_f64(),
                    answer.label(),
                    challenge.as_deref().map(String::from_utf8_lossy),
                ));
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for micros in 1..=10_000u64 {
            h.record(Duration::from_micros(micros));
        }
        let p50 = h.quantile(0.5).as_micros() as f64;
        let p99 = h.quantile(0.99).as_micros() as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.05, "{p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.05, "{p99}");
        for micros in [0u64, 1, 31, 32, 33, 64, 1000, 123_456_789] {
            let b = Histogram::bucket(micros);
            assert!(Histogram::value(b) <= micros, "{micros}");
            assert!(Histogram::value(b + 1) > micros, "{micros}");
        }
    }
}
