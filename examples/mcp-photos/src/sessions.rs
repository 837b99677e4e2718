//! Which token holder opened each MCP session.
//!
//! rmcp's session id is the only thing that ties a later request to a session, and the MCP
//! specification warns that it must not stand for the caller. A session id that leaks (a log, a
//! proxy) would otherwise let any other holder of a valid token attach to the session, read its
//! event stream or end it. So the gate records who opened each session (`sub` and `client_id`
//! of the token) and answers a request on that session from anyone else as rmcp answers an
//! unknown session: 404.
//!
//! The binding fails closed: a session the gate has no record of is answered 404 too, whatever
//! rmcp still holds, and a session is never forgotten here while rmcp keeps it open for someone
//! else's sake. Memory stays bounded by two caps instead of by forgetting: a token holder's
//! session beyond [`SessionLimits::max_per_owner`] closes that holder's own oldest session (in
//! rmcp too), and a new session beyond [`SessionLimits::max_sessions`] in all is refused
//! (503), after the records of sessions rmcp has since ended (idle, deleted) are dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use oauth_runtime::Claims;

/// The most sessions remembered at once by default, all token holders together; a new session
/// beyond that is refused until one ends, so that opening sessions in a loop cannot grow memory.
pub const MAX_SESSIONS: usize = 10_000;

/// The most sessions one token holder keeps open at once by default: a new one beyond that
/// closes the holder's own oldest. Low enough that filling the whole table takes a hundred
/// distinct holders, high enough for any client that opens a session per task.
pub const MAX_SESSIONS_PER_OWNER: usize = 100;

/// How many MCP sessions the gate keeps track of (see [`crate::app_with_sessions`]).
///
/// ```
/// use mcp_photos::{MAX_SESSIONS, SessionLimits};
///
/// assert_eq!(SessionLimits::default().max_sessions, MAX_SESSIONS);
/// let small = SessionLimits::default().max_sessions(50).max_per_owner(5);
/// assert_eq!((small.max_sessions, small.max_per_owner), (50, 5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// The most sessions open at once, all token holders together; beyond that a new session
    /// is refused with 503.
    pub max_sessions: usize,
    /// The most sessions one token holder (`sub` and `client_id`) keeps open at once; beyond
    /// that the holder's own oldest session is closed.
    pub max_per_owner: usize,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits {
            max_sessions: MAX_SESSIONS,
            max_per_owner: MAX_SESSIONS_PER_OWNER,
        }
    }
}

impl SessionLimits {
    /// At most `max` sessions at once (at least one).
    pub fn max_sessions(mut self, max: usize) -> SessionLimits {
        self.max_sessions = max.max(1);
        self
    }

    /// At most `max` sessions per token holder (at least one).
    pub fn max_per_owner(mut self, max: usize) -> SessionLimits {
        self.max_per_owner = max.max(1);
        self
    }
}

/// The header rmcp's streamable HTTP transport keeps the session in.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Debug, Default)]
pub(crate) struct SessionOwners {
    owners: Mutex<Owners>,
    limits: SessionLimits,
}

#[derive(Debug, Default)]
struct Owners {
    by_session: HashMap<String, String>,
    /// Each holder's sessions, oldest first.
    by_owner: HashMap<String, VecDeque<String>>,
}

impl Owners {
    fn forget(&mut self, session: &str) {
        let Some(owner) = self.by_session.remove(session) else {
            return;
        };
        if let Some(sessions) = self.by_owner.get_mut(&owner) {
            sessions.retain(|s| s != session);
            if sessions.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
    }
}

/// What recording a new session came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Recorded; the opener's own oldest session, if named, was forgotten to stay within the
    /// per-holder cap and must be closed in rmcp too.
    Recorded(Option<String>),
    /// Not recorded: the table is full. The new session must be closed in rmcp.
    Full,
}

/// Who holds the token: subject and client, so that neither another user of the same client
/// nor another client of the same user inherits the session.
pub(crate) fn owner(claims: &Claims) -> String {
    format!(
        "{}\u{0}{}",
        claims.subject().unwrap_or_default(),
        claims.client_id().unwrap_or_default()
    )
}

impl SessionOwners {
    pub(crate) fn new(limits: SessionLimits) -> SessionOwners {
        SessionOwners {
            owners: Mutex::default(),
            limits,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Owners) -> T) -> T {
        f(&mut self.owners.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether `owner` may use `session`: only when it opened it. A session not known here is
    /// refused whether or not rmcp still has it: failing open would let a holder who can make
    /// the gate forget a record use that session with any token.
    pub(crate) fn allows(&self, session: &str, owner: &str) -> bool {
        self.with(|o| {
            o.by_session
                .get(session)
                .is_some_and(|known| known == owner)
        })
    }

    /// Records that `owner` opened `session`, within the limits.
    pub(crate) fn opened(&self, session: &str, owner: String) -> Opened {
        self.with(|o| {
            if o.by_session.contains_key(session) {
                return Opened::Recorded(None);
            }
            let held = o.by_owner.get(&owner).map_or(0, VecDeque::len);
            let mut evicted = None;
            if held >= self.limits.max_per_owner {
                // The holder's own oldest, never anyone else's: one holder cannot end other
                // users' sessions by opening many.
                evicted = o.by_owner.get(&owner).and_then(|s| s.front().cloned());
                if let Some(oldest) = &evicted {
                    o.forget(oldest);
                }
            } else if o.by_session.len() >= self.limits.max_sessions {
                return Opened::Full;
            }
            o.by_session.insert(session.to_owned(), owner.clone());
            o.by_owner
                .entry(owner)
                .or_default()
                .push_back(session.to_owned());
            Opened::Recorded(evicted)
        })
    }

    /// Forgets `session`: ended by its owner, or no longer known to rmcp.
    pub(crate) fn closed(&self, session: &str) {
        self.with(|o| o.forget(session));
    }

    /// Forgets every session for which `live` is false (rmcp has ended it).
    pub(crate) fn retain_live(&self, live: impl Fn(&str) -> bool) {
        self.with(|o| {
            let ended: Vec<String> = o.by_session.keys().filter(|s| !live(s)).cloned().collect();
            for session in ended {
                o.forget(&session);
            }
        });
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        self.with(|o| {
            (
                o.by_session.len(),
                o.by_owner.values().map(VecDeque::len).sum(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Opened, SessionLimits, SessionOwners};

    #[test]
    fn only_the_opener_may_use_a_session_and_an_unknown_one_is_refused() {
        let owners = SessionOwners::default();
        assert_eq!(owners.opened("s1", "alice".into()), Opened::Recorded(None));
        assert!(owners.allows("s1", "alice"));
        assert!(!owners.allows("s1", "bob"));
        assert!(!owners.allows("unknown", "bob"));
        owners.closed("s1");
        assert!(!owners.allows("s1", "alice"));
        assert!(!owners.allows("s1", "bob"));
        assert_eq!(owners.counts(), (0, 0));
    }

    #[test]
    fn one_holder_displaces_only_its_own_sessions_and_a_full_table_refuses() {
        let owners = SessionOwners::new(SessionLimits::default().max_sessions(4).max_per_owner(3));
        assert_eq!(owners.opened("a1", "alice".into()), Opened::Recorded(None));
        for s in ["m1", "m2", "m3"] {
            assert_eq!(owners.opened(s, "mallory".into()), Opened::Recorded(None));
        }
        assert_eq!(
            owners.opened("m4", "mallory".into()),
            Opened::Recorded(Some("m1".into()))
        );
        assert!(!owners.allows("m1", "mallory"));
        assert!(owners.allows("a1", "alice"));
        assert_eq!(owners.opened("b1", "bob".into()), Opened::Full);
        assert!(!owners.allows("b1", "bob"));
        assert_eq!(owners.counts(), (4, 4));

        // Sessions rmcp has ended make room again.
        owners.retain_live(|s| s != "m2" && s != "a1");
        assert_eq!(owners.counts(), (2, 2));
        assert_eq!(owners.opened("b1", "bob".into()), Opened::Recorded(None));
        assert!(owners.allows("b1", "bob"));
    }
}
