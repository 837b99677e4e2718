//! The server's memory: codes, grants, refresh tokens, issued access tokens and pending consent
//! forms. One lock; a development server needs correctness, not throughput.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 32 random bytes, base64url: codes, refresh tokens, CSRF tokens, `jti`s.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG does not fail on supported platforms; a failure would leave zeros, which the
    // uniqueness checks of the maps below still catch as collisions.
    let _ = SystemRandom::new().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What `/authorize` recorded for a code.
#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri` (then the token request must too).
    pub(crate) redirect_uri_sent: bool,
    pub(crate) subject: String,
    pub(crate) scope: String,
    pub(crate) challenge: Option<Challenge>,
    pub(crate) expires: Instant,
    pub(crate) used: bool,
    pub(crate) grant: Option<u64>,
}

/// A PKCE challenge (RFC 7636 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) plain: bool,
    pub(crate) value: String,
}

/// One authorization: everything issued from one code or one password login.
#[derive(Debug, Clone)]
pub(crate) struct GrantRecord {
    pub(crate) client_id: String,
    pub(crate) subject: String,
    pub(crate) scope: String,
    pub(crate) revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub(crate) grant: u64,
    pub(crate) expires: Instant,
    pub(crate) used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub(crate) grant: Option<u64>,
    pub(crate) revoked: bool,
}

/// A consent page that was shown and not yet answered, keyed by its CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_sent: bool,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) challenge: Option<Challenge>,
    pub(crate) implicit: bool,
    pub(crate) expires: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Maps {
    pub(crate) codes: HashMap<String, CodeRecord>,
    pub(crate) grants: HashMap<u64, GrantRecord>,
    pub(crate) refresh: HashMap<String, RefreshRecord>,
    pub(crate) access: HashMap<String, AccessRecord>,
    pub(crate) pending: HashMap<String, Pending>,
    next_grant: u64,
}

impl Maps {
    pub(crate) fn new_grant(&mut self, record: GrantRecord) -> u64 {
        self.next_grant += 1;
        self.grants.insert(self.next_grant, record);
        self.next_grant
    }

    /// Ends a grant: its refresh tokens and access tokens stop being active.
    pub(crate) fn revoke_grant(&mut self, grant: u64) {
        if let Some(g) = self.grants.get_mut(&grant) {
            g.revoked = true;
        }
        for access in self.access.values_mut().filter(|a| a.grant == Some(grant)) {
            access.revoked = true;
        }
    }

    pub(crate) fn grant_alive(&self, grant: u64) -> bool {
        self.grants.get(&grant).is_some_and(|g| !g.revoked)
    }

    /// Drops what has expired, so memory stays bounded by what is live.
    pub(crate) fn sweep(&mut self, now: Instant) {
        self.codes
            .retain(|_, c| c.expires + Duration::from_secs(600) > now);
        self.pending.retain(|_, p| p.expires > now);
        self.refresh.retain(|_, r| r.expires > now);
    }
}

/// The maps behind one lock.
#[derive(Debug, Default)]
pub(crate) struct Store(Mutex<Maps>);

impl Store {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Maps> {
        // Every update leaves the maps consistent before it can panic; keep serving after one.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
