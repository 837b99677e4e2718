//! Which token holder opened each MCP session.
//!
//! rmcp's session id is the only thing that ties a later request to a session, and the MCP
//! specification warns that it must not stand for the caller. A session id that leaks (a log, a
//! proxy) would otherwise let any other holder of a valid token attach to the session, read its
//! event stream or end it. So the gate records who opened each session (`sub` and `client_id`
//! of the token) and answers a request on that session from anyone else as rmcp answers an
//! unknown session: 404.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use oauth_runtime::Claims;

/// The most sessions remembered; beyond that the oldest is forgotten (and its requests then
/// pass to rmcp unchecked by owner, still authorized by scope), so that opening sessions in a
/// loop cannot grow memory.
pub const MAX_SESSIONS: usize = 10_000;

/// How many MCP sessions the gate keeps track of (see [`crate::app_with_sessions`]).
///
/// ```
/// use mcp_photos::{MAX_SESSIONS, SessionLimits};
///
/// assert_eq!(SessionLimits::default().max_sessions, MAX_SESSIONS);
/// assert_eq!(SessionLimits::default().max_sessions(50).max_sessions, 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// The most sessions remembered at once, all token holders together.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> SessionLimits {
        SessionLimits {
            max_sessions: MAX_SESSIONS,
        }
    }
}

impl SessionLimits {
    /// At most `max` sessions at once (at least one).
    pub fn max_sessions(mut self, max: usize) -> SessionLimits {
        self.max_sessions = max.max(1);
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
    order: VecDeque<String>,
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

    /// Whether `owner` may use `session`: yes when it opened it or the session is not known
    /// here (rmcp then decides whether it exists).
    pub(crate) fn allows(&self, session: &str, owner: &str) -> bool {
        self.with(|o| o.by_session.get(session).is_none_or(|known| known == owner))
    }

    /// Records that `owner` opened `session`.
    pub(crate) fn opened(&self, session: &str, owner: String) {
        self.with(|o| {
            if o.by_session.insert(session.to_owned(), owner).is_none() {
                o.order.push_back(session.to_owned());
            }
            while o.order.len() > self.limits.max_sessions {
                if let Some(oldest) = o.order.pop_front() {
                    o.by_session.remove(&oldest);
                }
            }
        });
    }

    /// Forgets `session`, ended by its owner.
    pub(crate) fn closed(&self, session: &str) {
        self.with(|o| {
            if o.by_session.remove(session).is_some() {
                o.order.retain(|s| s != session);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_SESSIONS, SessionOwners};

    #[test]
    fn only_the_opener_may_use_a_session_and_the_record_stays_bounded() {
        let owners = SessionOwners::default();
        owners.opened("s1", "alice".into());
        assert!(owners.allows("s1", "alice"));
        assert!(!owners.allows("s1", "bob"));
        assert!(owners.allows("unknown", "bob"));
        owners.closed("s1");
        assert!(owners.allows("s1", "bob"));
        for i in 0..MAX_SESSIONS + 10 {
            owners.opened(&format!("s{i}"), "alice".into());
        }
        owners.with(|o| {
            assert_eq!(o.by_session.len(), MAX_SESSIONS);
            assert_eq!(o.order.len(), MAX_SESSIONS);
        });
    }
}
