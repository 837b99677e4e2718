//! What each request deserves. The soak never asks the verifier what state it is in: it decides
//! from what it saw happen (which key sets its proxy delivered, and when) and from the token
//! alone, so that a verifier stuck in a wrong state is caught rather than believed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How an answer looked to the client, told apart by status and `WWW-Authenticate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200.
    Ok,
    /// 403 `insufficient_scope` naming `photos:read`.
    Forbidden,
    /// 401 `invalid_token`, "the access token is invalid".
    Invalid,
    /// 401 `invalid_token`, "the access token expired".
    Expired,
    /// 401 with a bare challenge: no credentials were offered.
    NoToken,
    /// 400 `invalid_request`.
    BadRequest,
    /// 503 without a challenge: the token cannot be verified right now.
    Unavailable,
    /// Anything else: always wrong.
    Other,
}

impl Answer {
    pub const ALL: [Answer; 8] = [
        Answer::Ok,
        Answer::Forbidden,
        Answer::Invalid,
        Answer::Expired,
        Answer::NoToken,
        Answer::BadRequest,
        Answer::Unavailable,
        Answer::Other,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Answer::Ok => "200",
            Answer::Forbidden => "403",
            Answer::Invalid => "401 invalid",
            Answer::Expired => "401 expired",
            Answer::NoToken => "401 no token",
            Answer::BadRequest => "400",
            Answer::Unavailable => "503",
            Answer::Other => "other",
        }
    }

    /// Classifies a response by its status and challenge. The challenges are compared whole,
    /// so a right status with a wrong challenge is `Other`.
    pub fn classify(status: u16, challenge: Option<&[u8]>) -> Answer {
        const INVALID: &[u8] = br#"Bearer realm="photos", error="invalid_token", error_description="the access token is invalid""#;
        const EXPIRED: &[u8] = br#"Bearer realm="photos", error="invalid_token", error_description="the access token expired""#;
        const NO_TOKEN: &[u8] = br#"Bearer realm="photos""#;
        const FORBIDDEN: &[u8] = br#"Bearer realm="photos", error="insufficient_scope", error_description="the access token lacks a required scope", scope="photos:read""#;
        const BAD_REQUEST: &[u8] = br#"Bearer realm="photos", error="invalid_request", "#;
        match (status, challenge) {
            (200, None) => Answer::Ok,
            (403, Some(FORBIDDEN)) => Answer::Forbidden,
            (401, Some(INVALID)) => Answer::Invalid,
            (401, Some(EXPIRED)) => Answer::Expired,
            (401, Some(NO_TOKEN)) => Answer::NoToken,
            (400, Some(c)) if c.starts_with(BAD_REQUEST) => Answer::BadRequest,
            (503, None) => Answer::Unavailable,
            _ => Answer::Other,
        }
    }
}

/// A set of acceptable answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allowed(u8);

impl Allowed {
    fn with(self, answer: Answer) -> Allowed {
        Allowed(self.0 | 1 << answer.index())
    }

    pub fn contains(self, answer: Answer) -> bool {
        self.0 & (1 << answer.index()) != 0
    }

    /// Whether more than one answer is acceptable: the request overlapped a moment the soak
    /// cannot place exactly (a key set being delivered, or its last usable moment).
    pub fn uncertain(self) -> bool {
        self.0.count_ones() > 1
    }
}

impl std::fmt::Display for Allowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Answer::ALL
            .iter()
            .filter(|a| self.contains(**a))
            .map(|a| a.label())
            .collect();
        write!(f, "{{{}}}", names.join(", "))
    }
}

/// What a token deserves, before the moment of the request is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deserves {
    /// Decided from the request alone (syntax, `alg`, size): never needs a key, never 503.
    Always(Answer),
    /// Needs the key set: this answer while usable keys exist, 503 while none do.
    WithKeys(Answer),
    /// Signed by the key rotated in mid-run: as `WithKeys`, but while the verifier cannot have
    /// the new key yet, an unknown `kid` is `invalid_token` (401).
    WithNewKey(Answer),
}

/// One key set that the proxy answered with 200: when it started sending, when the last byte
/// was written (`None` while sending, or if the write failed), and the `kid`s in it.
#[derive(Debug)]
struct Delivery {
    start: Duration,
    end: Option<Duration>,
    kids: Vec<String>,
}

/// What the soak knows of the key-set endpoint's history, in time since `epoch`.
#[derive(Debug)]
pub struct Timeline {
    epoch: Instant,
    deliveries: Mutex<Vec<Delivery>>,
    /// The `kid` of the key rotated in, once it is.
    new_kid: OnceLock<String>,
    /// How long a delivered key set may serve: its lifetime plus `max_stale`.
    usable_for: Duration,
    /// The longest the verifier may take to put a delivered key set to use. Far above what it
    /// needs (a few milliseconds for a small body), so that a loaded machine does not make the
    /// soak cry wolf; a verifier slower than this is itself a finding.
    grace: Duration,
    /// The first moment (µs since the epoch) an answer showed that the verifier holds keys: a
    /// token that needs them got an answer other than 503. Shortens the grace: from then on
    /// keys are surely there. `u64::MAX` until then.
    keys_proven: AtomicU64,
    /// The same for the rotated-in key: one of its tokens was accepted (200 or 403).
    new_key_proven: AtomicU64,
}

impl Timeline {
    pub fn new(usable_for: Duration, grace: Duration) -> Timeline {
        Timeline {
            epoch: Instant::now(),
            deliveries: Mutex::new(Vec::new()),
            new_kid: OnceLock::new(),
            usable_for,
            grace,
            keys_proven: AtomicU64::new(u64::MAX),
            new_key_proven: AtomicU64::new(u64::MAX),
        }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Time since the epoch.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Called before the first byte of a key set is written, so that any answer that could
    /// depend on it is checked knowing of it. Returns its number for [`Timeline::delivered`].
    pub fn delivering(&self, kids: Vec<String>) -> usize {
        let mut deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        deliveries.push(Delivery {
            start: self.now(),
            end: None,
            kids,
        });
        deliveries.len() - 1
    }

    /// Called once the whole key set was written.
    pub fn delivered(&self, number: usize) {
        let now = self.now();
        let mut deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(delivery) = deliveries.get_mut(number) {
            delivery.end = Some(now);
        }
    }

    pub fn set_new_kid(&self, kid: String) {
        let _ = self.new_kid.set(kid);
    }

    /// (Started deliveries, completed ones, and completed ones carrying the rotated-in key.)
    pub fn delivery_counts(&self) -> (usize, usize, usize) {
        let deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let new_kid = self.new_kid.get();
        let completed = deliveries.iter().filter(|d| d.end.is_some());
        (
            deliveries.len(),
            completed.clone().count(),
            completed
                .filter(|d| new_kid.is_some_and(|kid| d.kids.contains(kid)))
                .count(),
        )
    }

    /// Takes note of an accepted answer that shows what the verifier holds.
    pub fn observe(&self, deserves: Deserves, answer: Answer, answered: Duration) {
        let micros = u64::try_from(answered.as_micros()).unwrap_or(u64::MAX);
        let needs_keys = matches!(deserves, Deserves::WithKeys(_) | Deserves::WithNewKey(_));
        if needs_keys && answer != Answer::Unavailable {
            self.keys_proven.fetch_min(micros, Ordering::SeqCst);
        }
        if deserves == Deserves::WithNewKey(answer) {
            self.new_key_proven.fetch_min(micros, Ordering::SeqCst);
        }
    }

    /// For a request sent at `sent` and answered at `answered`: whether keys may have been
    /// usable at some moment of it, and whether they surely were during all of it. With
    /// `new_key`, only key sets carrying the rotated-in key count.
    ///
    /// A key set the proxy started to send at `start` cannot be in use before `start`, and once
    /// stored serves until at least `start + usable_for` (later sets only extend that; nothing
    /// removes keys). It is surely in use from `end + grace` on, or from an answer that proved
    /// keys there; it may still serve until `end + grace + usable_for`.
    fn keys(&self, sent: Duration, answered: Duration, new_key: bool) -> (bool, bool) {
        let deliveries = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let new_kid = self.new_kid.get();
        let proven = if new_key {
            &self.new_key_proven
        } else {
            &self.keys_proven
        };
        let proven = Duration::from_micros(proven.load(Ordering::SeqCst));
        let mut may = false;
        let mut sure = false;
        let mut first_start = None;
        for delivery in deliveries.iter() {
            if new_key && !new_kid.is_some_and(|kid| delivery.kids.contains(kid)) {
                continue;
            }
            first_start = first_start.or(Some(delivery.start));
            let end = delivery.end.unwrap_or(answered);
            may |= delivery.start < answered && sent < end + self.grace + self.usable_for;
            sure |= delivery.end.is_some_and(|end| end + self.grace <= sent)
                && answered < delivery.start + self.usable_for;
        }
        // Whatever set the proof saw was delivered no earlier than the first one.
        sure |=
            proven <= sent && first_start.is_some_and(|start| answered < start + self.usable_for);
        (may, sure)
    }

    /// Every answer acceptable for a token that deserves `deserves`, sent at `sent` and answered
    /// at `answered`.
    pub fn allowed(&self, deserves: Deserves, sent: Duration, answered: Duration) -> Allowed {
        let none = Allowed::default();
        match deserves {
            Deserves::Always(answer) => none.with(answer),
            Deserves::WithKeys(answer) => {
                let (may, sure) = self.keys(sent, answered, false);
                let mut allowed = none;
                if !sure {
                    allowed = allowed.with(Answer::Unavailable);
                }
                if may {
                    allowed = allowed.with(answer);
                }
                allowed
            }
            Deserves::WithNewKey(answer) => {
                let (may, sure) = self.keys(sent, answered, false);
                let (new_may, new_sure) = self.keys(sent, answered, true);
                let mut allowed = none;
                if !sure {
                    allowed = allowed.with(Answer::Unavailable);
                }
                if may && !new_sure {
                    allowed = allowed.with(Answer::Invalid);
                }
                if new_may {
                    allowed = allowed.with(answer);
                }
                allowed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timeline() -> Timeline {
        Timeline::new(10 * S, 2 * S)
    }

    fn at(timeline: &Timeline, start: u32, end: u32, kids: &[&str]) {
        let number = timeline.delivering(kids.iter().map(|k| (*k).to_owned()).collect());
        let mut deliveries = timeline.deliveries.lock().expect("lock");
        deliveries[number].start = S * start;
        deliveries[number].end = Some(S * end);
    }

    #[test]
    fn before_any_key_set_only_503_and_after_it_never() {
        let t = timeline();
        at(&t, 5, 6, &["old"]);
        let valid = Deserves::WithKeys(Answer::Ok);
        assert_eq!(
            t.allowed(valid, S, 2 * S),
            Allowed::default().with(Answer::Unavailable)
        );
        assert!(t.allowed(valid, 4 * S, 7 * S).contains(Answer::Ok));
        assert!(t.allowed(valid, 4 * S, 7 * S).contains(Answer::Unavailable));
        assert_eq!(
            t.allowed(valid, 9 * S, 10 * S),
            Allowed::default().with(Answer::Ok)
        );
        // Past the key set's usable time, with nothing newer: 503 again, never 200.
        assert_eq!(
            t.allowed(valid, 30 * S, 31 * S),
            Allowed::default().with(Answer::Unavailable)
        );
    }

    #[test]
    fn an_answer_that_needed_keys_proves_them_before_the_grace_ends() {
        let t = timeline();
        at(&t, 5, 6, &["old"]);
        let valid = Deserves::WithKeys(Answer::Ok);
        assert!(t.allowed(valid, 6 * S, 7 * S).contains(Answer::Unavailable));
        t.observe(Deserves::WithKeys(Answer::Invalid), Answer::Invalid, 6 * S);
        assert_eq!(
            t.allowed(valid, 6 * S, 7 * S),
            Allowed::default().with(Answer::Ok)
        );
        // A 503 proves nothing, and answers that need no key prove nothing either.
        let t = timeline();
        at(&t, 5, 6, &["old"]);
        t.observe(valid, Answer::Unavailable, 6 * S);
        t.observe(Deserves::Always(Answer::Invalid), Answer::Invalid, 6 * S);
        assert!(t.allowed(valid, 6 * S, 7 * S).contains(Answer::Unavailable));
    }

    #[test]
    fn a_new_kid_is_401_until_its_key_set_is_delivered() {
        let t = timeline();
        at(&t, 1, 1, &["old"]);
        t.set_new_kid("new".into());
        at(&t, 8, 8, &["old", "new"]);
        let new = Deserves::WithNewKey(Answer::Ok);
        assert_eq!(
            t.allowed(new, 4 * S, 5 * S),
            Allowed::default().with(Answer::Invalid)
        );
        let both = t.allowed(new, 7 * S, 9 * S);
        assert!(both.contains(Answer::Invalid) && both.contains(Answer::Ok));
        assert!(!both.contains(Answer::Unavailable));
        assert_eq!(
            t.allowed(new, 10 * S, 11 * S),
            Allowed::default().with(Answer::Ok)
        );
    }
}
