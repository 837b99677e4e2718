//! The server's memory: codes, grants, refresh tokens, issued access tokens and pending consent
//! forms. One lock; a development server needs correctness, not throughput.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::EntryCounts;
use super::config::LoginLimits;

/// Where random bytes come from: the system RNG, or a stand-in that tests use to make it fail.
pub(crate) type Fill = fn(&mut [u8]) -> std::io::Result<()>;

pub(crate) fn system_fill(bytes: &mut [u8]) -> std::io::Result<()> {
    SystemRandom::new()
        .fill(bytes)
        .map_err(|_| std::io::Error::other("the system random number generator failed"))
}

/// Randomness could not be had: nothing guessable is issued in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random number generator failed")]
pub(crate) struct RandomFailed;

/// 32 random bytes, base64url: codes, refresh tokens, CSRF tokens, `jti`s.
pub(crate) fn random_token(fill: Fill) -> Result<String, RandomFailed> {
    let mut bytes = [0u8; 32];
    fill(&mut bytes).map_err(|_| RandomFailed)?;
    // All zeros has odds of 2^-256 from a working generator: it means a broken one that did
    // not say so, and would make every code and token the same.
    if bytes.iter().all(|&b| b == 0) {
        return Err(RandomFailed);
    }
    Ok(URL_SAFE_NO_PAD.encode(bytes))
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
    /// The resources the authorization was for (RFC 8707); empty: the default audience.
    pub(crate) resources: Vec<String>,
    pub(crate) challenge: Option<Challenge>,
    pub(crate) expires: Instant,
    pub(crate) used: bool,
    pub(crate) grant: Option<u64>,
    /// The login on the consent page, for the tokens' `acr` and `auth_time`.
    pub(crate) login: Login,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt`).
    pub(crate) dpop_jkt: Option<String>,
}

/// How and when the user logged in: the `acr` and `auth_time` claims of every access token of
/// the grant, refreshed ones included (a refresh is no new login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) acr: &'static str,
    /// Seconds since the epoch.
    pub(crate) auth_time: u64,
}

impl Login {
    pub(crate) fn claims(&self) -> serde_json::Value {
        serde_json::json!({ "acr": self.acr, "auth_time": self.auth_time })
    }
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
    /// The resources granted (RFC 8707); tokens from the grant may name fewer, never more.
    pub(crate) resources: Vec<String>,
    pub(crate) revoked: bool,
    /// When its last token expires; kept until then for revocation and reuse detection.
    pub(crate) expires: Instant,
    /// The user's login that started the grant.
    pub(crate) login: Option<Login>,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub(crate) grant: u64,
    pub(crate) expires: Instant,
    pub(crate) used: bool,
    /// The thumbprint of the DPoP key a public client's refresh token is bound to (RFC 9449 §5).
    pub(crate) jkt: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub(crate) grant: Option<u64>,
    pub(crate) revoked: bool,
    pub(crate) expires: Instant,
}

/// A consent page that was shown and not yet answered, keyed by its CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_sent: bool,
    pub(crate) scope: String,
    pub(crate) resources: Vec<String>,
    pub(crate) state: Option<String>,
    pub(crate) challenge: Option<Challenge>,
    pub(crate) implicit: bool,
    pub(crate) expires: Instant,
    /// Failed sign-ins this page still allows.
    pub(crate) attempts_left: u32,
    /// Whether the client asked for a multi-factor login (`acr_values` naming it): then the
    /// page asks for the user's one-time code too.
    pub(crate) mfa: bool,
    /// RFC 9449 §10: `dpop_jkt`, bound into the code.
    pub(crate) dpop_jkt: Option<String>,
}

/// Failed sign-ins of one user or through one client.
#[derive(Debug, Clone)]
pub(crate) struct Failures {
    pub(crate) count: u32,
    /// A lockout period after the last failure: then they are forgotten.
    pub(crate) forget_at: Instant,
}

/// Open sign-in pages kept at most; a flood of `/authorize` evicts the oldest.
pub(crate) const MAX_PENDING: usize = 256;
/// Usernames, and clients, whose failures are tracked at most: attackers choose usernames
/// freely, and clients too where registration is open. A full table is never made room in by
/// forgetting a live record (that would lift a lock): it refuses what it cannot count.
pub(crate) const MAX_TRACKED_FAILURES: usize = 4096;
/// How long a used or expired code is remembered, to answer its replay by revoking its grant.
const CODE_MEMORY: Duration = Duration::from_secs(600);
/// Sweeping is a pass over every map; once a second is often enough to keep them bounded.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct Maps {
    pub(crate) codes: HashMap<String, CodeRecord>,
    pub(crate) grants: HashMap<u64, GrantRecord>,
    pub(crate) refresh: HashMap<String, RefreshRecord>,
    pub(crate) access: HashMap<String, AccessRecord>,
    pub(crate) pending: HashMap<String, Pending>,
    /// Keyed by the SHA-256 of the username, so that an entry has a fixed size.
    pub(crate) user_failures: HashMap<[u8; 32], Failures>,
    pub(crate) client_failures: HashMap<String, Failures>,
    next_grant: u64,
    next_sweep: Option<Instant>,
}

impl Maps {
    pub(crate) fn new_grant(&mut self, record: GrantRecord) -> u64 {
        self.next_grant += 1;
        self.grants.insert(self.next_grant, record);
        self.next_grant
    }

    /// Keeps a grant at least until `until`, when a token issued from it expires.
    pub(crate) fn extend_grant(&mut self, grant: u64, until: Instant) {
        if let Some(g) = self.grants.get_mut(&grant) {
            g.expires = g.expires.max(until);
        }
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

    /// Records a sign-in page; at the cap the oldest page gives way, so that a flood cannot
    /// grow memory and a person who opens a page now can still use it.
    pub(crate) fn add_pending(&mut self, csrf: String, pending: Pending) {
        if self.pending.len() >= MAX_PENDING
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
        {
            self.pending.remove(&oldest);
        }
        self.pending.insert(csrf, pending);
    }

    /// Whether sign-ins as this user or through this client are refused now: either is locked,
    /// or a failure of theirs could not be counted because its table holds `max_tracked` live
    /// records. Failing closed then is the price of a bound that cannot be used to lift a lock
    /// (evicting the oldest record would free a locked user once enough other names failed);
    /// the refusal lasts until records lapse, a lockout after their last failure.
    pub(crate) fn locked(
        &mut self,
        user: &[u8; 32],
        client: &str,
        limits: &LoginLimits,
        max_tracked: usize,
        now: Instant,
    ) -> bool {
        let over = |f: Option<&Failures>, limit: u32| {
            f.is_some_and(|f| f.count >= limit && f.forget_at > now)
        };
        if over(self.user_failures.get(user), limits.per_user)
            || over(self.client_failures.get(client), limits.per_client)
        {
            return true;
        }
        let room = |tracked: bool, map_len: usize| tracked || map_len < max_tracked;
        if room(
            self.user_failures.contains_key(user),
            self.user_failures.len(),
        ) && room(
            self.client_failures.contains_key(client),
            self.client_failures.len(),
        ) {
            return false;
        }
        // Sweeping runs once a second at most: records that lapsed since may make room now.
        self.user_failures.retain(|_, f| f.forget_at > now);
        self.client_failures.retain(|_, f| f.forget_at > now);
        !(room(
            self.user_failures.contains_key(user),
            self.user_failures.len(),
        ) && room(
            self.client_failures.contains_key(client),
            self.client_failures.len(),
        ))
    }

    /// Counts a failed sign-in. Ask [`Maps::locked`] first under the same lock: it is what
    /// keeps room for this record, so that nothing live is ever dropped here.
    pub(crate) fn record_failure(
        &mut self,
        user: [u8; 32],
        client: &str,
        lockout: Duration,
        now: Instant,
    ) {
        let forget_at = now.checked_add(lockout).unwrap_or(now);
        for failures in [
            self.user_failures.entry(user).or_insert(Failures {
                count: 0,
                forget_at,
            }),
            self.client_failures
                .entry(client.to_owned())
                .or_insert(Failures {
                    count: 0,
                    forget_at,
                }),
        ] {
            // Sweeping runs at most once a second: failures already forgotten may still be here.
            if failures.forget_at <= now {
                failures.count = 0;
            }
            failures.count = failures.count.saturating_add(1);
            failures.forget_at = forget_at;
        }
    }

    /// Drops what has expired, so memory stays bounded by what is live.
    pub(crate) fn sweep(&mut self, now: Instant) {
        self.pending.retain(|_, p| p.expires > now);
        self.refresh.retain(|_, r| r.expires > now);
        self.access.retain(|_, a| a.expires > now);
        self.grants.retain(|_, g| g.expires > now);
        // An expired code is kept only while its replay could still revoke something.
        let grants = &self.grants;
        self.codes.retain(|_, c| {
            c.expires > now
                || (now.saturating_duration_since(c.expires) < CODE_MEMORY
                    && c.grant.is_some_and(|g| grants.contains_key(&g)))
        });
        self.user_failures.retain(|_, f| f.forget_at > now);
        self.client_failures.retain(|_, f| f.forget_at > now);
    }

    pub(crate) fn counts(&self) -> EntryCounts {
        EntryCounts {
            pending: self.pending.len(),
            codes: self.codes.len(),
            grants: self.grants.len(),
            refresh_tokens: self.refresh.len(),
            access_tokens: self.access.len(),
            login_failures: self.user_failures.len() + self.client_failures.len(),
            ..EntryCounts::default()
        }
    }
}

/// The maps behind one lock.
#[derive(Debug, Default)]
pub(crate) struct Store(Mutex<Maps>);

impl Store {
    /// The maps, swept of what expired (at most once a second): every request that changes them
    /// passes here, so no path can grow them with dead entries.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Maps> {
        let mut maps = self.peek();
        let now = Instant::now();
        if maps.next_sweep.is_none_or(|at| at <= now) {
            maps.sweep(now);
            maps.next_sweep = now.checked_add(SWEEP_EVERY);
        }
        maps
    }

    /// The maps as they are, unswept.
    pub(crate) fn peek(&self) -> MutexGuard<'_, Maps> {
        // Every update leaves the maps consistent before it can panic; keep serving after one.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(i: usize) -> [u8; 32] {
        let mut user = [0; 32];
        user[..8].copy_from_slice(&(i as u64).to_le_bytes());
        user
    }

    /// A failed sign-in as `sign_in` counts it: refused when locked, else recorded.
    fn fail(maps: &mut Maps, user: [u8; 32], client: &str, limits: &LoginLimits, now: Instant) {
        if !maps.locked(&user, client, limits, MAX_TRACKED_FAILURES, now) {
            maps.record_failure(user, client, limits.lockout, now);
        }
    }

    #[test]
    fn failed_sign_ins_of_chosen_usernames_stay_under_the_cap() {
        let mut maps = Maps::default();
        let limits = LoginLimits {
            per_user: u32::MAX,
            per_client: u32::MAX,
            ..LoginLimits::default()
        };
        let now = Instant::now();
        for i in 0..MAX_TRACKED_FAILURES + 500 {
            fail(&mut maps, user(i), "client", &limits, now);
            fail(&mut maps, user(0), &format!("client{i}"), &limits, now);
        }
        assert_eq!(maps.user_failures.len(), MAX_TRACKED_FAILURES);
        assert_eq!(maps.client_failures.len(), MAX_TRACKED_FAILURES);
    }

    /// The attack: lock a user, then fail with as many other usernames as the table holds
    /// (through fresh registered clients, so that no client's limit stops it). Evicting the
    /// oldest record to make room freed the locked user long before the lockout ended.
    #[test]
    fn a_full_failure_table_keeps_every_lock_and_refuses_names_it_cannot_count() {
        let mut maps = Maps::default();
        let limits = LoginLimits::default();
        let start = Instant::now();
        let alice = [0xa1; 32];
        for _ in 0..limits.per_user {
            fail(&mut maps, alice, "victim", &limits, start);
        }
        assert!(maps.locked(&alice, "victim", &limits, MAX_TRACKED_FAILURES, start));
        let soon = start + Duration::from_secs(1);
        for i in 0..MAX_TRACKED_FAILURES + 100 {
            fail(
                &mut maps,
                user(i),
                &format!("fresh{}", i / 18),
                &limits,
                soon,
            );
        }
        assert_eq!(maps.user_failures.len(), MAX_TRACKED_FAILURES);
        assert!(
            maps.locked(&alice, "another", &limits, MAX_TRACKED_FAILURES, soon),
            "the lock outlives a flood of other usernames"
        );
        // Fails closed: a username the table cannot count is refused, whatever its password.
        let newcomer = user(MAX_TRACKED_FAILURES + 1000);
        assert!(maps.locked(&newcomer, "fresh0", &limits, MAX_TRACKED_FAILURES, soon));
        // A lockout after the flood's last failure the records lapse and sign-ins are open.
        let later = soon + limits.lockout;
        assert!(!maps.locked(&newcomer, "fresh0", &limits, MAX_TRACKED_FAILURES, later));
        assert!(!maps.locked(&alice, "victim", &limits, MAX_TRACKED_FAILURES, later));
    }

    #[test]
    fn a_full_client_failure_table_refuses_clients_it_cannot_count() {
        let mut maps = Maps::default();
        let limits = LoginLimits::default();
        let now = Instant::now();
        let max = 8;
        for i in 0..max {
            assert!(!maps.locked(&user(i), &format!("c{i}"), &limits, max, now));
            maps.record_failure(user(i), &format!("c{i}"), limits.lockout, now);
        }
        assert!(maps.locked(&user(0), "c-new", &limits, max, now));
        // Tracked clients and users still sign in (and have their failures counted).
        assert!(!maps.locked(&user(0), "c0", &limits, max, now));
        assert_eq!(maps.client_failures.len(), max);
        assert_eq!(maps.user_failures.len(), max);
    }

    #[test]
    fn failures_are_forgotten_a_lockout_after_the_last_one() {
        let mut maps = Maps::default();
        let limits = LoginLimits::default();
        let start = Instant::now();
        let user = [1; 32];
        for _ in 0..limits.per_user {
            maps.record_failure(user, "client", limits.lockout, start);
        }
        assert!(maps.locked(&user, "client", &limits, MAX_TRACKED_FAILURES, start));
        let later = start + limits.lockout;
        assert!(!maps.locked(&user, "client", &limits, MAX_TRACKED_FAILURES, later));
        // Not yet swept: one more failure starts a new count instead of locking again.
        maps.record_failure(user, "client", limits.lockout, later);
        assert!(!maps.locked(&user, "client", &limits, MAX_TRACKED_FAILURES, later));
        assert_eq!(maps.user_failures[&user].count, 1);
    }

    #[test]
    fn a_generator_that_fails_or_returns_zeros_gives_no_token() {
        assert_eq!(
            random_token(|_| Err(std::io::Error::other("no entropy"))),
            Err(RandomFailed)
        );
        assert_eq!(random_token(|_| Ok(())), Err(RandomFailed));
        let token = random_token(system_fill).expect("the system generator works");
        assert_eq!(token.len(), 43);
    }
}
