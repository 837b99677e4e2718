//! A minimal development authorization server: what a developer runs instead of Keycloak on a
//! laptop and inside integration tests. Minimal in set-up, not in correctness.
//!
//! It serves RFC 8414 metadata, a JWKS, `/authorize` with a login and consent page, `/token`
//! (authorization code with PKCE, client credentials, rotating refresh tokens, and the legacy
//! password and implicit grants for clients that enable them), RFC 7662 introspection and RFC
//! 7009 revocation. Access tokens are RFC 9068 JWTs signed with ES256 by default.
//!
//! For MCP clients it also speaks RFC 8707 resource indicators ([`DevServer::resource`]), puts
//! `iss` in every authorization response (RFC 9207), and can register clients at `/register`
//! (RFC 7591, [`DevServer::dynamic_registration`]) or take a client ID metadata document's URL
//! as a `client_id` ([`DevServer::client_id_metadata_documents`]); [`DevServer::mcp_profile`]
//! switches all of that on and the legacy grants off.
//!
//! ```
//! use oauth_runtime::dev::{Client, DevServer, User};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = DevServer::new()
//!     .audience("photos-api")
//!     .scope("photos:read", "See your photos")
//!     .client(Client::confidential("backend", "s3cret", ["http://127.0.0.1:3000/cb"]))
//!     .user(User::new("alice", "wonderland"))
//!     .start()
//!     .await?;
//!
//! // Tokens for tests, really signed, without HTTP:
//! let token = server.mint_token("alice", "photos:read");
//! let claims = server.verifier()?.verify_token(&token)?;
//! assert_eq!(claims.subject(), Some("alice"));
//! assert!(server.issuer().starts_with("http://127.0.0.1:"));
//! # Ok(())
//! # }
//! ```

mod clients;
mod config;
mod endpoints;
#[doc(hidden)]
pub mod fuzzing;
mod page;
mod params;
mod resource_indicator;
mod store;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub use config::{
    Client, DevConfigError, DevServerConfig, Grant, Lifetimes, LoginLimits, ScopeInfo, User,
};

use crate::Algorithm;
use crate::verify::jwt::{JwtVerifier, VerifierConfigError};
use crate::verify::keys::KeyError;
use crate::verify::signing::SigningKey;
use store::{AccessRecord, Fill, RandomFailed, Store};

/// Configures and starts a development authorization server.
#[derive(Debug)]
#[must_use]
pub struct DevServer {
    clients: Vec<Client>,
    users: Vec<User>,
    scopes: Vec<ScopeInfo>,
    lifetimes: Lifetimes,
    login_limits: LoginLimits,
    audience: String,
    algorithm: Algorithm,
    key: Option<SigningKey>,
    key_file: Option<std::path::PathBuf>,
    port: u16,
    fill: Fill,
    resources: Vec<String>,
    mcp_profile: bool,
    max_registered: Option<usize>,
    metadata_documents: bool,
    dpop_nonces: bool,
    max_tracked_failures: usize,
}

impl Default for DevServer {
    fn default() -> Self {
        DevServer::new()
    }
}

impl DevServer {
    /// No clients, users or scopes yet; audience `api`, ES256, port 0 (any free port).
    pub fn new() -> DevServer {
        DevServer {
            clients: Vec::new(),
            users: Vec::new(),
            scopes: Vec::new(),
            lifetimes: Lifetimes::default(),
            login_limits: LoginLimits::default(),
            audience: "api".into(),
            algorithm: Algorithm::ES256,
            key: None,
            key_file: None,
            port: 0,
            fill: store::system_fill,
            resources: Vec::new(),
            mcp_profile: false,
            max_registered: None,
            metadata_documents: false,
            dpop_nonces: false,
            max_tracked_failures: store::MAX_TRACKED_FAILURES,
        }
    }

    /// Requires a server nonce in the DPoP proofs of token requests (RFC 9449 §8; off by
    /// default): a proof without the current one gets 400 `use_dpop_nonce` and a `DPoP-Nonce`
    /// header with the nonce to use. Nonces change every minute, under a key of this process.
    pub fn require_dpop_nonces(mut self) -> Self {
        self.dpop_nonces = true;
        self
    }

    /// Registers a client.
    pub fn client(mut self, client: Client) -> Self {
        self.clients.push(client);
        self
    }

    /// Registers a user.
    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Declares a scope with the description the consent page shows.
    pub fn scope(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.scopes.push(ScopeInfo {
            name: name.into(),
            description: description.into(),
        });
        self
    }

    /// The `aud` of every access token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Token lifetimes. Codes never live longer than 60 s.
    pub fn lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Limits on password guessing (5 failures per user, 20 per client, then 60 s locked).
    pub fn login_limits(mut self, limits: LoginLimits) -> Self {
        self.login_limits = limits;
        self
    }

    /// The algorithm of the key generated at start (ES256 by default; RS256 and EdDSA too).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Signs with this key instead of a generated one, so tokens survive restarts.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Signs with the PKCS#8 PEM key in `path` (P-256 gives ES256, RSA RS256, Ed25519 EdDSA);
    /// when the file does not exist, a key of the configured algorithm is generated and written
    /// there (readable by the owner only), so tokens survive restarts.
    pub fn key_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The port on 127.0.0.1 (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// A resource (RFC 8707) clients may request tokens for with the `resource` parameter at
    /// `/authorize` and `/token`: an absolute URI without fragment, kept in the canonical form
    /// of [`crate::canonical_resource_uri`]. A token's `aud` is then the resource(s) requested
    /// (a string for one, an array for several); without `resource` it is the configured
    /// [`DevServer::audience`]. Resources not configured are refused with `invalid_target`.
    ///
    /// ```
    /// use oauth_runtime::dev::DevServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = DevServer::new().resource("http://127.0.0.1:8080/mcp/").start().await?;
    /// // What a resource server for that resource verifies its tokens with:
    /// let verifier = server.resource_verifier("http://127.0.0.1:8080/mcp")?;
    /// # let _ = verifier;
    /// # Ok(())
    /// # }
    /// ```
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// Serves dynamic client registration at `/register` (RFC 7591) and advertises it as
    /// `registration_endpoint`: anyone may register a public client (`token_endpoint_auth_method`
    /// `none`, authorization code with PKCE, refresh tokens if asked for) with https redirect
    /// URIs or http ones on loopback. At most `max_clients` registrations are kept; beyond
    /// that the oldest gives way.
    pub fn dynamic_registration(mut self, max_clients: usize) -> Self {
        self.max_registered = Some(max_clients);
        self
    }

    /// Accepts as `client_id` the https URL (http on loopback) of a client ID metadata
    /// document, as the MCP authorization specification prefers: the document is fetched
    /// (8 KiB at most, with the key-set fetch timeout, redirects refused), must name itself as
    /// `client_id`, list the `redirect_uri` used and ask for no client authentication; it is
    /// cached by its `Cache-Control` between 1 minute and 1 hour (5 minutes without). At most
    /// 4 fetches run at once (beyond that a request is refused at once), one per URL, and a
    /// URL whose document was refused is refused again without a fetch for a minute.
    pub fn client_id_metadata_documents(mut self, enabled: bool) -> Self {
        self.metadata_documents = enabled;
        self
    }

    /// The profile MCP clients need (MCP authorization specification): the implicit and
    /// password grants off for every client, dynamic registration (100 clients unless
    /// [`DevServer::dynamic_registration`] says otherwise) and client ID metadata documents on.
    ///
    /// ```
    /// use oauth_runtime::dev::DevServer;
    ///
    /// let server = DevServer::new()
    ///     .resource("http://127.0.0.1:8080/mcp")
    ///     .scope("photos:read", "See your photos")
    ///     .mcp_profile();
    /// # let _ = server;
    /// ```
    pub fn mcp_profile(mut self) -> Self {
        self.mcp_profile = true;
        self
    }

    /// Draws random bytes (codes, tokens, CSRF tokens) from `fill` instead of the system RNG,
    /// so that tests can show what a failing generator does. Not for anything else.
    #[doc(hidden)]
    pub fn random_source(mut self, fill: fn(&mut [u8]) -> std::io::Result<()>) -> Self {
        self.fill = fill;
        self
    }

    /// Tracks the failed sign-ins of at most `max` usernames and `max` clients instead of
    /// 4096, so that tests can fill the tables with a few requests. Not for anything else.
    #[doc(hidden)]
    pub fn tracked_login_failures(mut self, max: usize) -> Self {
        self.max_tracked_failures = max.max(1);
        self
    }

    /// Binds 127.0.0.1 and serves until the handle is dropped or shut down.
    pub async fn start(self) -> Result<DevServerHandle, StartError> {
        let mut lifetimes = self.lifetimes;
        lifetimes.code = lifetimes.code.min(Duration::from_secs(60));
        lifetimes.check()?;
        self.login_limits.check()?;
        let mut resources = Vec::new();
        for resource in &self.resources {
            let canonical =
                crate::canonical_resource_uri(resource).map_err(|_| DevConfigError::Setting {
                    name: "resource",
                    rule: "must be an absolute URI without a fragment",
                })?;
            if !resources.contains(&canonical) {
                resources.push(canonical);
            }
        }
        let mut clients = self.clients;
        let (mut max_registered, mut metadata_documents) =
            (self.max_registered, self.metadata_documents);
        if self.mcp_profile {
            for client in &mut clients {
                client
                    .grants
                    .retain(|g| !matches!(g, Grant::Implicit | Grant::Password));
            }
            max_registered = max_registered.or(Some(clients::DEFAULT_MAX_REGISTERED));
            metadata_documents = true;
        }
        if max_registered == Some(0) {
            return Err(DevConfigError::Setting {
                name: "max_registered_clients",
                rule: "must be at least 1",
            }
            .into());
        }
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)))
                .await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://{addr}");
        let key = match (self.key, &self.key_file) {
            (Some(key), _) => key,
            (None, Some(path)) => load_or_create_key(path, self.algorithm)?,
            (None, None) => SigningKey::generate(self.algorithm)?,
        };
        let server = Arc::new(Server {
            issuer,
            audience: self.audience,
            clients: clients.into_iter().map(|c| (c.id.clone(), c)).collect(),
            users: self
                .users
                .into_iter()
                .map(|u| (u.username.clone(), u))
                .collect(),
            scopes: self.scopes,
            lifetimes,
            login_limits: self.login_limits,
            max_tracked_failures: self.max_tracked_failures,
            fill: self.fill,
            keys: RwLock::new(KeyRing {
                active: Arc::new(with_thumbprint_kid(key)),
                retired: Vec::new(),
            }),
            store: Store::default(),
            dpop: if self.dpop_nonces {
                crate::verify::dpop::DpopVerifier::builder()
                    .nonces(crate::verify::dpop::DpopNonces::random()?)
                    .build()?
            } else {
                crate::verify::dpop::DpopVerifier::default()
            },
            resources,
            registry: clients::Registry::new(max_registered, metadata_documents),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = endpoints::router(server.clone());
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "development authorization server stopped");
            }
        });
        Ok(DevServerHandle {
            server,
            addr,
            _shutdown: shutdown,
        })
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    /// The signing key could not be made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A setting cannot be right (a lifetime of zero or too long to compute an expiry with).
    #[error(transparent)]
    Config(#[from] DevConfigError),
    /// The DPoP settings could not be made (no randomness for the nonce key).
    #[error(transparent)]
    Dpop(#[from] crate::verify::dpop::DpopConfigError),
}

fn load_or_create_key(
    path: &std::path::Path,
    algorithm: Algorithm,
) -> Result<SigningKey, StartError> {
    match std::fs::read(path) {
        Ok(pem) => Ok(SigningKey::from_pkcs8_pem(pem)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(algorithm)?;
            let pem = key
                .to_pkcs8_pem()
                .ok_or_else(|| KeyError::Rejected("cannot export the key".into()))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::io::Write::write_all(&mut options.open(path)?, pem.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(StartError::Io(e)),
    }
}

/// `kid` = the first 12 bytes of the SHA-256 of the public key, base64url: stable across
/// restarts when the key comes from a file, distinct across keys.
fn with_thumbprint_kid(key: SigningKey) -> SigningKey {
    if key.kid().is_some() {
        return key;
    }
    let material = key.public_key_der().unwrap_or_default();
    let hash = digest::digest(&digest::SHA256, &material);
    let kid = URL_SAFE_NO_PAD.encode(&hash.as_ref()[..12]);
    key.with_kid(kid)
}

pub(crate) struct KeyRing {
    pub(crate) active: Arc<SigningKey>,
    /// Keys still published until their last tokens expire.
    pub(crate) retired: Vec<(Arc<SigningKey>, Instant)>,
}

pub(crate) struct Server {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    pub(crate) clients: HashMap<String, Client>,
    pub(crate) users: HashMap<String, User>,
    pub(crate) scopes: Vec<ScopeInfo>,
    pub(crate) lifetimes: Lifetimes,
    pub(crate) login_limits: LoginLimits,
    /// Usernames, and clients, whose failed sign-ins are tracked at most (see `store`).
    pub(crate) max_tracked_failures: usize,
    pub(crate) fill: Fill,
    pub(crate) keys: RwLock<KeyRing>,
    pub(crate) store: Store,
    /// Checks the DPoP proofs of token requests, with its own replay store.
    pub(crate) dpop: crate::verify::dpop::DpopVerifier,
    /// The resources tokens may be requested for (RFC 8707), canonical.
    pub(crate) resources: Vec<String>,
    /// Clients registered at run time or described by metadata documents.
    pub(crate) registry: clients::Registry,
}

/// How many entries the server holds, for tests that show its memory stays bounded.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryCounts {
    /// Open consent pages.
    pub pending: usize,
    /// Authorization codes, used ones included while their replay is still answered.
    pub codes: usize,
    /// Grants (one per code exchange or password login).
    pub grants: usize,
    /// Refresh tokens, used ones included until they expire.
    pub refresh_tokens: usize,
    /// Issued access tokens, for introspection and revocation.
    pub access_tokens: usize,
    /// Users and clients with recent failed sign-ins.
    pub login_failures: usize,
    /// Clients registered at `/register` (RFC 7591).
    pub registered_clients: usize,
    /// Client ID metadata documents cached.
    pub client_documents: usize,
}

/// The outcome of a sign-in attempt.
pub(crate) enum SignIn<'s> {
    Ok(&'s User),
    Wrong,
    /// Too many recent failures for this user or client; the password was not looked at.
    Locked,
}

/// The authentication context class (`acr`) of a login with the password alone.
pub const ACR_PASSWORD: &str = "urn:oauth-dev:pwd";

/// The `acr` of a login with the password and the user's one-time code. A client asks for it
/// with `acr_values=urn:oauth-dev:mfa` at `/authorize` (RFC 9470 §4), typically after a resource
/// server's `insufficient_user_authentication` challenge named it.
pub const ACR_MFA: &str = "urn:oauth-dev:mfa";

/// Compared against when the username is unknown, so that an unknown user costs the same work
/// as a wrong password and timing does not tell which usernames exist.
const DUMMY_PASSWORD: &str = "no such user: this value is only ever compared against";

/// Compared against when the user has no one-time code, for the same reason.
const DUMMY_CODE: &str = "no one-time code: this value is only ever compared against";

/// The user with these credentials. Exactly one constant-time comparison whatever the input,
/// two when a one-time code is asked for (`otp` is `Some`, holding what was entered): both are
/// made whatever the first one found, so timing does not tell which part was wrong.
pub(crate) fn find_user<'u>(
    users: &'u HashMap<String, User>,
    username: Option<&str>,
    password: Option<&str>,
    otp: Option<Option<&str>>,
) -> Option<&'u User> {
    let user = username.and_then(|name| users.get(name));
    let expected = user.map_or(DUMMY_PASSWORD, |u| u.password.as_str());
    let matches = params::secrets_match(password.unwrap_or_default(), expected);
    let code_matches = match otp {
        None => true,
        Some(given) => {
            // An empty configured code is no second factor: it must not pass an empty field.
            let expected = user
                .and_then(|u| u.otp.as_deref())
                .filter(|c| !c.is_empty());
            let same =
                params::secrets_match(given.unwrap_or_default(), expected.unwrap_or(DUMMY_CODE));
            same && expected.is_some() && given.is_some()
        }
    };
    user.filter(|_| matches && code_matches && password.is_some())
}

/// `now + duration`, or `now` (already expired) if that cannot be represented; lifetimes are
/// checked at start, so this is never reached.
pub(crate) fn later(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration).unwrap_or(now)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Server {
    fn keyring(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every published key: the active one and those retired less than a token lifetime ago.
    pub(crate) fn published_keys(&self) -> Vec<Arc<SigningKey>> {
        let ring = self.keyring();
        let now = Instant::now();
        std::iter::once(ring.active.clone())
            .chain(
                ring.retired
                    .iter()
                    .filter(|(_, until)| *until > now)
                    .map(|(k, _)| k.clone()),
            )
            .collect()
    }

    pub(crate) fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .published_keys()
            .iter()
            .filter_map(|k| k.public_jwk())
            .collect();
        json!({ "keys": keys })
    }

    /// Random bytes for a code or token, never a predictable stand-in.
    pub(crate) fn random_token(&self) -> Result<String, RandomFailed> {
        store::random_token(self.fill)
    }

    /// Signs an RFC 9068 access token and remembers it for introspection and revocation.
    pub(crate) fn mint(
        &self,
        client_id: &str,
        subject: &str,
        scope: &str,
        grant: Option<u64>,
        extra: &Value,
    ) -> Result<String, RandomFailed> {
        self.mint_for(&[], client_id, subject, scope, grant, extra)
    }

    /// As [`Server::mint`], for `resources` (RFC 8707): they become the `aud`.
    pub(crate) fn mint_for(
        &self,
        resources: &[String],
        client_id: &str,
        subject: &str,
        scope: &str,
        grant: Option<u64>,
        extra: &Value,
    ) -> Result<String, RandomFailed> {
        let now = unix_now();
        let jti = self.random_token()?;
        let mut claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": resource_indicator::audience(self, resources),
            "client_id": client_id,
            "iat": now,
            "exp": now.saturating_add(self.lifetimes.access_token.as_secs()),
            "jti": jti,
            "scope": scope,
        });
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            for (name, value) in extra {
                claims.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        let token = self.keyring().active.sign_jwt(&claims);
        // ECDSA signing draws randomness too; when it fails the signature comes back empty.
        if token.ends_with('.') {
            return Err(RandomFailed);
        }
        let expires = later(self.lifetimes.access_token);
        let mut store = self.store.lock();
        store.access.insert(
            jti,
            AccessRecord {
                grant,
                revoked: false,
                expires,
            },
        );
        if let Some(grant) = grant {
            store.extend_grant(grant, expires);
        }
        Ok(token)
    }

    /// A sign-in through `client_id`, limited per user and per client (see [`LoginLimits`]).
    /// `otp` is `Some` (what was entered) when the login must also show the user's one-time
    /// code; a wrong code counts as a failed sign-in like a wrong password.
    pub(crate) fn sign_in(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&str>,
        otp: Option<Option<&str>>,
    ) -> SignIn<'_> {
        let user_key: [u8; 32] = {
            let hash = digest::digest(&digest::SHA256, username.unwrap_or_default().as_bytes());
            let mut key = [0; 32];
            key.copy_from_slice(hash.as_ref());
            key
        };
        let now = Instant::now();
        // Checked and counted under one lock, so that concurrent guesses cannot slip past.
        let mut store = self.store.lock();
        if store.locked(
            &user_key,
            client_id,
            &self.login_limits,
            self.max_tracked_failures,
            now,
        ) {
            return SignIn::Locked;
        }
        match find_user(&self.users, username, password, otp) {
            Some(user) => {
                store.user_failures.remove(&user_key);
                SignIn::Ok(user)
            }
            None => {
                store.record_failure(user_key, client_id, self.login_limits.lockout, now);
                SignIn::Wrong
            }
        }
    }

    /// The configured description, else the one declared with `scopes!` in the program.
    pub(crate) fn scope_description(&self, scope: &str) -> Option<String> {
        self.configured_description(scope)
            .map(str::to_owned)
            .or_else(|| {
                crate::docs::catalog::declared_scopes()
                    .iter()
                    .find(|d| d.name() == scope)
                    .map(|d| d.description())
                    .filter(|d| !d.is_empty())
            })
    }

    fn configured_description(&self, scope: &str) -> Option<&str> {
        self.scopes
            .iter()
            .find(|s| s.name == scope)
            .map(|s| s.description.as_str())
            .filter(|d| !d.is_empty())
    }

    /// Configured scopes, and the scopes the program declares with `scopes!`.
    pub(crate) fn knows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.name == scope)
            || crate::docs::catalog::declared_scopes()
                .iter()
                .any(|d| d.name() == scope)
    }

    /// Every scope the server grants, for its metadata.
    pub(crate) fn scope_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.scopes.iter().map(|s| s.name.clone()).collect();
        for declared in crate::docs::catalog::declared_scopes() {
            if !names.iter().any(|n| n == declared.name()) {
                names.push(declared.name().to_owned());
            }
        }
        names
    }

    /// A verifier of every token this server issues, whatever resource it is for: what
    /// introspection and revocation need.
    pub(crate) fn verifier(&self) -> Result<JwtVerifier, VerifierConfigError> {
        self.verifier_for(std::iter::once(&self.audience).chain(&self.resources))
    }

    /// A verifier of this server's tokens for one of `audiences`.
    pub(crate) fn verifier_for<'a>(
        &self,
        audiences: impl IntoIterator<Item = &'a String>,
    ) -> Result<JwtVerifier, VerifierConfigError> {
        let keys = self
            .published_keys()
            .iter()
            .map(|k| k.verification_key())
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = JwtVerifier::builder()
            .issuer(self.issuer.clone())
            .require_rfc9068(true)
            .keys(keys);
        for audience in audiences {
            builder = builder.audience(audience.clone());
        }
        builder.build()
    }

    /// A configured client, a registered one, or one whose metadata document is cached.
    pub(crate) fn client(&self, id: &str) -> Option<Arc<Client>> {
        match self.clients.get(id) {
            Some(client) => Some(Arc::new(client.clone())),
            None => self.registry.get(id),
        }
    }

    /// As [`Server::client`], fetching the metadata document of a URL `client_id` when needed.
    /// `Err` is a fixed text for the error page.
    pub(crate) async fn resolve_client(
        &self,
        id: Option<&str>,
    ) -> Result<Arc<Client>, &'static str> {
        let id = id.ok_or("unknown or missing client_id")?;
        if let Some(client) = self.client(id) {
            return Ok(client);
        }
        if id.starts_with("https://") || id.starts_with("http://") {
            return self
                .registry
                .resolve_document(id)
                .await
                .map_err(|refused| refused.0);
        }
        Err("unknown or missing client_id")
    }
}

/// A running development server. Dropping it stops the server.
#[derive(Debug)]
pub struct DevServerHandle {
    server: Arc<Server>,
    addr: SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl DevServerHandle {
    /// The issuer URL, `http://127.0.0.1:PORT`; also the base of every endpoint.
    pub fn issuer(&self) -> &str {
        &self.server.issuer
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `aud` of its tokens.
    pub fn audience(&self) -> &str {
        &self.server.audience
    }

    /// A verifier for its tokens: its issuer and audience, its currently published keys, strict
    /// RFC 9068. (Keys rotated in later are not seen by this verifier; fetch the JWKS for that.)
    pub fn verifier(&self) -> Result<JwtVerifier, VerifierConfigError> {
        self.server.verifier_for([&self.server.audience])
    }

    /// As [`DevServerHandle::verifier`] for the resource server of `resource` (RFC 8707): it
    /// accepts only tokens whose `aud` names that resource, in canonical form
    /// ([`crate::canonical_resource_uri`]), so that a token for another resource is refused.
    pub fn resource_verifier(&self, resource: &str) -> Result<JwtVerifier, VerifierConfigError> {
        let canonical =
            crate::canonical_resource_uri(resource).unwrap_or_else(|_| resource.to_owned());
        self.server.verifier_for([&canonical])
    }

    /// A really signed access token for `subject` with `scopes` (space-delimited), as if issued
    /// to the client `dev`, without HTTP. Empty (which no verifier accepts) if the random
    /// number generator fails.
    pub fn mint_token(&self, subject: &str, scopes: &str) -> String {
        self.mint_token_with(subject, scopes, &Value::Null)
    }

    /// As [`DevServerHandle::mint_token`], with extra claims (standard claims are not replaced).
    pub fn mint_token_with(&self, subject: &str, scopes: &str, extra: &Value) -> String {
        self.server
            .mint("dev", subject, scopes, None, extra)
            .unwrap_or_else(|error| {
                tracing::error!(%error, "no token minted");
                String::new()
            })
    }

    /// How many entries the server holds in memory now (expired ones included until the next
    /// request sweeps them).
    #[doc(hidden)]
    pub fn entry_counts(&self) -> EntryCounts {
        let (registered_clients, client_documents) = self.server.registry.counts();
        EntryCounts {
            registered_clients,
            client_documents,
            ..self.server.store.peek().counts()
        }
    }

    /// The JWK Set it publishes.
    pub fn jwks(&self) -> Value {
        self.server.jwks()
    }

    /// Starts signing with a fresh key of the same algorithm; the old key stays published until
    /// the tokens it signed have expired.
    pub fn rotate_key(&self) -> Result<(), KeyError> {
        let mut ring = self
            .server
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let fresh = Arc::new(with_thumbprint_kid(SigningKey::generate(
            ring.active.algorithm(),
        )?));
        let old = std::mem::replace(&mut ring.active, fresh);
        ring.retired
            .push((old, later(self.server.lifetimes.access_token)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparisons_for(
        users: &HashMap<String, User>,
        username: Option<&str>,
        password: Option<&str>,
    ) -> (bool, usize) {
        comparisons_with_code(users, username, password, None)
    }

    fn comparisons_with_code(
        users: &HashMap<String, User>,
        username: Option<&str>,
        password: Option<&str>,
        otp: Option<Option<&str>>,
    ) -> (bool, usize) {
        let before = params::COMPARISONS.with(std::cell::Cell::get);
        let found = find_user(users, username, password, otp).is_some();
        (
            found,
            params::COMPARISONS.with(std::cell::Cell::get) - before,
        )
    }

    #[test]
    fn unknown_users_cost_the_same_comparison_as_wrong_passwords() {
        let users: HashMap<String, User> = [(
            "alice".to_owned(),
            User {
                username: "alice".into(),
                password: "wonderland".into(),
                otp: None,
            },
        )]
        .into();
        assert_eq!(
            comparisons_for(&users, Some("alice"), Some("wonderland")),
            (true, 1)
        );
        assert_eq!(
            comparisons_for(&users, Some("alice"), Some("x")),
            (false, 1)
        );
        assert_eq!(
            comparisons_for(&users, Some("mallory"), Some("x")),
            (false, 1)
        );
        assert_eq!(comparisons_for(&users, None, Some("x")), (false, 1));
        assert_eq!(comparisons_for(&users, Some("alice"), None), (false, 1));
    }

    /// RFC 9470 §4 step-up at the dev server: with a code asked for, the password and the code
    /// must both match, each compared whatever the other gave, and a user without a code (or
    /// with an empty one) never passes.
    #[test]
    fn a_second_factor_needs_the_users_code_and_costs_the_same_whatever_fails() {
        let users: HashMap<String, User> = [
            User::new("alice", "wonderland").with_otp("123456"),
            User::new("bob", "builder"),
            User::new("eve", "garden").with_otp(""),
        ]
        .into_iter()
        .map(|u| (u.username.clone(), u))
        .collect();
        let alice = |password, code| comparisons_with_code(&users, Some("alice"), password, code);
        assert_eq!(alice(Some("wonderland"), Some(Some("123456"))), (true, 2));
        assert_eq!(alice(Some("wonderland"), Some(Some("654321"))), (false, 2));
        assert_eq!(alice(Some("wonderland"), Some(None)), (false, 2));
        assert_eq!(alice(Some("x"), Some(Some("123456"))), (false, 2));
        // Without a code asked for, the password alone still signs alice in.
        assert_eq!(alice(Some("wonderland"), None), (true, 1));
        for (name, password) in [("bob", "builder"), ("eve", "garden")] {
            for code in [Some(""), None, Some(DUMMY_CODE)] {
                assert_eq!(
                    comparisons_with_code(&users, Some(name), Some(password), Some(code)),
                    (false, 2),
                    "{name} {code:?}"
                );
            }
        }
        assert_eq!(
            comparisons_with_code(&users, Some("mallory"), Some("x"), Some(Some("123456"))),
            (false, 2)
        );
    }
}
