//! What the development server knows: clients, users, scopes and lifetimes, built in code or read
//! from TOML.

use std::time::Duration;

use serde::Deserialize;

/// A grant type (RFC 6749 §4, §6) a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Grant {
    /// `authorization_code` (§4.1), with PKCE (RFC 7636).
    AuthorizationCode,
    /// `client_credentials` (§4.4), confidential clients only.
    ClientCredentials,
    /// `refresh_token` (§6), rotated on every use.
    RefreshToken,
    /// `password` (§4.3): legacy, off unless listed.
    Password,
    /// The implicit grant (§4.2, `response_type=token`): legacy, off unless listed.
    Implicit,
}

/// A registered client.
///
/// ```
/// use oauth_runtime::dev::{Client, Grant};
///
/// let spa = Client::public("demo-spa", ["http://127.0.0.1:8080/callback"]);
/// let backend = Client::confidential("demo-client", "demo-secret", ["http://127.0.0.1:8080/callback"])
///     .with_grants([Grant::AuthorizationCode, Grant::ClientCredentials, Grant::RefreshToken]);
/// assert!(spa.secret.is_none() && backend.secret.is_some());
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// The secret of a confidential client; `None` for a public one.
    #[serde(default)]
    pub secret: Option<String>,
    /// Redirect URIs, matched exactly (RFC 9700 §2.1).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The grants it may use.
    #[serde(default = "default_grants")]
    pub grants: Vec<Grant>,
    /// Whether `code_challenge_method=plain` is accepted from it (RFC 7636 §4.2; off by default).
    #[serde(default)]
    pub allow_plain_pkce: bool,
}

fn default_grants() -> Vec<Grant> {
    vec![Grant::AuthorizationCode, Grant::RefreshToken]
}

impl Client {
    /// A public client (no secret): authorization code with PKCE and refresh tokens.
    pub fn public(
        id: impl Into<String>,
        redirect_uris: impl IntoIterator<Item = impl Into<String>>,
    ) -> Client {
        Client {
            id: id.into(),
            secret: None,
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            grants: default_grants(),
            allow_plain_pkce: false,
        }
    }

    /// A confidential client: authorization code, client credentials and refresh tokens.
    pub fn confidential(
        id: impl Into<String>,
        secret: impl Into<String>,
        redirect_uris: impl IntoIterator<Item = impl Into<String>>,
    ) -> Client {
        Client {
            secret: Some(secret.into()),
            grants: vec![
                Grant::AuthorizationCode,
                Grant::ClientCredentials,
                Grant::RefreshToken,
            ],
            ..Client::public(id, redirect_uris)
        }
    }

    /// Replaces the grants it may use.
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = Grant>) -> Client {
        self.grants = grants.into_iter().collect();
        self
    }

    /// Accepts `code_challenge_method=plain` from this client.
    pub fn with_plain_pkce(mut self) -> Client {
        self.allow_plain_pkce = true;
        self
    }

    pub(crate) fn may(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether `uri` is one of its redirect URIs: matched exactly (RFC 9700 §2.1), except that
    /// for a public (native) client an http URI on a loopback IP literal matches on any port,
    /// since the app binds whatever port is free when it starts (RFC 8252 §7.3).
    pub(crate) fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == uri
                || (self.secret.is_none()
                    && loopback_without_port(registered)
                        .is_some_and(|r| loopback_without_port(uri) == Some(r)))
        })
    }
}

/// An `http` URI on `127.0.0.1` or `[::1]` split around its port: host and the rest (path,
/// query), or `None` for any other URI.
fn loopback_without_port(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let host_end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([':', '/', '?', '#']).unwrap_or(rest.len())
    };
    let (host, after_host) = rest.split_at(host_end);
    if host != "127.0.0.1" && host != "[::1]" {
        return None;
    }
    let tail = match after_host.strip_prefix(':') {
        Some(port_and_tail) => {
            let digits = port_and_tail
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(port_and_tail.len());
            if digits == 0 {
                return None;
            }
            &port_and_tail[digits..]
        }
        None => after_host,
    };
    // A bare authority and `/` are the same path.
    Some((host, if tail.is_empty() { "/" } else { tail }))
}

/// A user who can log in on the consent page (or with the password grant).
///
/// ```
/// use oauth_runtime::dev::User;
///
/// // A fixed one-time code stands in for a second factor (RFC 9470 step-up): asked for on the
/// // consent page when the client requests `acr_values=urn:oauth-dev:mfa`.
/// let alice = User::new("alice", "wonderland").with_otp("123456");
/// assert_eq!(alice.otp.as_deref(), Some("123456"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login name, which becomes the token's `sub`.
    pub username: String,
    /// The password.
    pub password: String,
    /// A fixed one-time code, the development stand-in for a second factor; `None`: this user
    /// cannot pass a login that asks for one.
    #[serde(default)]
    pub otp: Option<String>,
}

impl User {
    /// A user with a password and no second factor.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> User {
        User {
            username: username.into(),
            password: password.into(),
            otp: None,
        }
    }

    /// Sets the fixed one-time code asked for when a client requests multi-factor login.
    pub fn with_otp(mut self, code: impl Into<String>) -> User {
        self.otp = Some(code.into());
        self
    }
}

/// A scope the server grants, with the description shown on the consent page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeInfo {
    /// The scope.
    pub name: String,
    /// What it allows, for people.
    #[serde(default)]
    pub description: String,
}

/// Token lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Access tokens (default 1 h).
    pub access_token: Duration,
    /// Refresh tokens (default 30 days).
    pub refresh_token: Duration,
    /// Authorization codes (default and at most 60 s, RFC 6749 §4.1.2 recommends 10 min at most;
    /// RFC 9700 less).
    pub code: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token: Duration::from_secs(3600),
            refresh_token: Duration::from_secs(30 * 24 * 3600),
            code: Duration::from_secs(60),
        }
    }
}

/// The longest lifetime or lockout accepted. Longer ones are configuration mistakes (and
/// `Duration::MAX` would not even fit a clock reading).
const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

fn check_duration(name: &'static str, value: Duration) -> Result<(), DevConfigError> {
    let fits = std::time::Instant::now().checked_add(value).is_some();
    if value < Duration::from_secs(1) || value > MAX_DURATION || !fits {
        return Err(DevConfigError::Setting {
            name,
            rule: "must be between 1 second and 10 years",
        });
    }
    Ok(())
}

impl Lifetimes {
    /// Lifetimes are whole seconds (a JWT's `exp` is), from 1 s to 10 years; the code lifetime
    /// is checked after it is capped at 60 s.
    pub(crate) fn check(&self) -> Result<(), DevConfigError> {
        check_duration("access_token lifetime", self.access_token)?;
        check_duration("refresh_token lifetime", self.refresh_token)?;
        check_duration("code lifetime", self.code)
    }
}

/// Limits on password guessing, on the consent page and with the password grant. A locked
/// sign-in is refused without looking at the password, so guesses during a lock learn nothing.
///
/// ```
/// use std::time::Duration;
/// use oauth_runtime::dev::{DevServer, LoginLimits};
///
/// let server = DevServer::new().login_limits(LoginLimits {
///     lockout: Duration::from_secs(300),
///     ..LoginLimits::default()
/// });
/// # let _ = server;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed sign-ins as one username before it is locked (default 5). Unknown usernames are
    /// counted the same way, so a lock does not tell which users exist.
    pub per_user: u32,
    /// Failed sign-ins through one client, whatever the username, before sign-ins through it
    /// are locked (default 20): guessing across many usernames is limited too.
    pub per_client: u32,
    /// Failed sign-ins one consent page allows before it is closed and the person must start
    /// again from the application (default 3).
    pub per_page: u32,
    /// How long failures are remembered after the last one, and so how long a lock lasts
    /// (default 60 s).
    pub lockout: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_user: 5,
            per_client: 20,
            per_page: 3,
            lockout: Duration::from_secs(60),
        }
    }
}

impl LoginLimits {
    pub(crate) fn check(&self) -> Result<(), DevConfigError> {
        let at_least_one = |name, value: u32| {
            if value == 0 {
                Err(DevConfigError::Setting {
                    name,
                    rule: "must be at least 1",
                })
            } else {
                Ok(())
            }
        };
        at_least_one("login_limits.per_user", self.per_user)?;
        at_least_one("login_limits.per_client", self.per_client)?;
        at_least_one("login_limits.per_page", self.per_page)?;
        check_duration("login_limits.lockout", self.lockout)
    }
}

/// The whole server configuration as a TOML file holds it. Unknown keys are errors.
///
/// ```
/// use oauth_runtime::dev::DevServerConfig;
///
/// let config = DevServerConfig::from_toml(r#"
///     port = 9000
///     audience = "photos-api"
///     [[scopes]]
///     name = "photos:read"
///     description = "See your photos"
///     [[clients]]
///     id = "demo-spa"
///     redirect_uris = ["http://127.0.0.1:8080/callback"]
///     [[users]]
///     username = "alice"
///     password = "wonderland"
/// "#)?;
/// assert_eq!(config.port, 9000);
/// let demo = DevServerConfig::demo();
/// assert!(demo.clients.iter().any(|c| c.id == "demo-client"));
/// # Ok::<(), oauth_runtime::dev::DevConfigError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DevServerConfig {
    /// Port on 127.0.0.1 (0: any free one).
    #[serde(default)]
    pub port: u16,
    /// The `aud` of access tokens.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// `ES256` (default), `RS256` or `EdDSA`, for a generated key.
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// A PKCS#8 PEM private key file; generated there when missing.
    #[serde(default)]
    pub key_file: Option<std::path::PathBuf>,
    /// Access-token lifetime in seconds.
    #[serde(default)]
    pub access_token_ttl_secs: Option<u64>,
    /// Refresh-token lifetime in seconds.
    #[serde(default)]
    pub refresh_token_ttl_secs: Option<u64>,
    /// Scopes with their descriptions.
    #[serde(default)]
    pub scopes: Vec<ScopeInfo>,
    /// Clients.
    #[serde(default)]
    pub clients: Vec<Client>,
    /// Users.
    #[serde(default)]
    pub users: Vec<User>,
    /// Resources (RFC 8707) tokens may be requested for; see [`super::DevServer::resource`].
    #[serde(default)]
    pub resources: Vec<String>,
    /// The MCP profile; see [`super::DevServer::mcp_profile`].
    #[serde(default)]
    pub mcp_profile: bool,
    /// Dynamic client registration at `/register` (RFC 7591); see
    /// [`super::DevServer::dynamic_registration`].
    #[serde(default)]
    pub dynamic_registration: bool,
    /// Registered clients kept at most (default 100).
    #[serde(default)]
    pub max_registered_clients: Option<usize>,
    /// Client ID metadata documents; see [`super::DevServer::client_id_metadata_documents`].
    #[serde(default)]
    pub client_id_metadata_documents: bool,
    /// Whether token requests' DPoP proofs must carry a server nonce (RFC 9449 §8).
    #[serde(default)]
    pub require_dpop_nonces: bool,
}

fn default_audience() -> String {
    "api".into()
}

fn default_algorithm() -> String {
    "ES256".into()
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevConfigError {
    /// Not valid TOML of this shape.
    #[error("invalid configuration: {0}")]
    Toml(String),
    /// An algorithm the server cannot sign with.
    #[error("algorithm {0:?}: use ES256, RS256 or EdDSA")]
    Algorithm(String),
    /// A setting that cannot be right, such as a lifetime too long to compute an expiry with.
    #[error("{name} {rule}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// What it must be.
        rule: &'static str,
    },
}

impl DevServerConfig {
    /// Reads TOML.
    pub fn from_toml(text: &str) -> Result<DevServerConfig, DevConfigError> {
        toml::from_str(text).map_err(|e| DevConfigError::Toml(e.to_string()))
    }

    /// The built-in demo configuration: port 9000; audience `photos-api`; the photo scopes; the
    /// confidential client `demo-client` / `demo-secret` (authorization code, client credentials,
    /// refresh) and the public client `demo-spa` (PKCE), both redirecting to
    /// `http://127.0.0.1:8080/callback`; the user `alice` / `wonderland` with the one-time code
    /// `123456` for multi-factor logins.
    pub fn demo() -> DevServerConfig {
        // The file is part of the crate and tested, so it always parses.
        DevServerConfig::from_toml(include_str!("default.toml")).unwrap_or_else(|_| {
            DevServerConfig {
                port: 9000,
                audience: default_audience(),
                algorithm: default_algorithm(),
                key_file: None,
                access_token_ttl_secs: None,
                refresh_token_ttl_secs: None,
                scopes: Vec::new(),
                clients: Vec::new(),
                users: Vec::new(),
                resources: Vec::new(),
                mcp_profile: false,
                dynamic_registration: false,
                max_registered_clients: None,
                client_id_metadata_documents: false,
                require_dpop_nonces: false,
            }
        })
    }

    /// A server builder with these settings.
    pub fn into_server(self) -> Result<super::DevServer, DevConfigError> {
        let algorithm = match self.algorithm.as_str() {
            "ES256" => crate::Algorithm::ES256,
            "RS256" => crate::Algorithm::RS256,
            "EdDSA" => crate::Algorithm::EdDSA,
            other => return Err(DevConfigError::Algorithm(other.to_owned())),
        };
        let mut lifetimes = Lifetimes::default();
        if let Some(secs) = self.access_token_ttl_secs {
            lifetimes.access_token = Duration::from_secs(secs);
        }
        if let Some(secs) = self.refresh_token_ttl_secs {
            lifetimes.refresh_token = Duration::from_secs(secs);
        }
        lifetimes.check()?;
        let mut server = super::DevServer::new()
            .port(self.port)
            .audience(self.audience)
            .algorithm(algorithm)
            .lifetimes(lifetimes);
        if let Some(path) = self.key_file {
            server = server.key_file(path);
        }
        for scope in self.scopes {
            server = server.scope(scope.name, scope.description);
        }
        for client in self.clients {
            server = server.client(client);
        }
        for user in self.users {
            server = server.user(user);
        }
        for resource in self.resources {
            server = server.resource(resource);
        }
        if self.mcp_profile {
            server = server.mcp_profile();
        }
        if self.dynamic_registration || self.max_registered_clients.is_some() {
            server = server.dynamic_registration(
                self.max_registered_clients
                    .unwrap_or(super::clients::DEFAULT_MAX_REGISTERED),
            );
        }
        if self.client_id_metadata_documents {
            server = server.client_id_metadata_documents(true);
        }
        if self.require_dpop_nonces {
            server = server.require_dpop_nonces();
        }
        Ok(server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_configuration_parses() {
        let config =
            DevServerConfig::from_toml(include_str!("default.toml")).expect("default.toml");
        assert_eq!(config.port, 9000);
        assert_eq!(config.clients.len(), 2);
        // The demo user can pass a multi-factor login (RFC 9470 step-up) out of the box.
        assert!(
            config
                .users
                .iter()
                .any(|u| u.otp.as_deref() == Some("123456"))
        );
        assert!(
            config
                .clients
                .iter()
                .all(|c| !c.may(Grant::Implicit) && !c.may(Grant::Password))
        );
    }

    #[test]
    fn lifetimes_that_cannot_be_computed_with_are_refused() {
        for ttl in ["access_token_ttl_secs", "refresh_token_ttl_secs"] {
            // TOML integers are i64: the largest one still overflows a clock reading.
            for secs in [0, i64::MAX] {
                let config =
                    DevServerConfig::from_toml(&format!("{ttl} = {secs}")).expect("parses");
                assert!(
                    matches!(config.into_server(), Err(DevConfigError::Setting { .. })),
                    "{ttl} = {secs}"
                );
            }
        }
        let max = Lifetimes {
            access_token: Duration::MAX,
            ..Lifetimes::default()
        };
        assert!(max.check().is_err());
        assert!(Lifetimes::default().check().is_ok());
        assert!(
            LoginLimits {
                per_user: 0,
                ..LoginLimits::default()
            }
            .check()
            .is_err()
        );
        assert!(LoginLimits::default().check().is_ok());
    }

    #[test]
    fn rfc8252_section_7_3_loopback_redirects_of_public_clients_match_on_any_port() {
        let native = Client::public(
            "cli",
            ["http://127.0.0.1/callback", "http://[::1]:1/cb?x=1"],
        );
        for ok in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:49152/callback",
            "http://[::1]:8080/cb?x=1",
            "http://[::1]/cb?x=1",
        ] {
            assert!(native.allows_redirect(ok), "{ok}");
        }
        for refused in [
            "http://127.0.0.1:49152/callback/evil",
            "http://127.0.0.1:/callback",
            "http://127.0.0.2:80/callback",
            "http://localhost:80/callback",
            "https://127.0.0.1:443/callback",
            "http://127.0.0.1:8080/CALLBACK",
            "http://[::1]:8080/cb?x=2",
        ] {
            assert!(!native.allows_redirect(refused), "{refused}");
        }
        // A confidential client's redirect URIs stay exact (RFC 9700 §2.1).
        let web = Client::confidential("web", "s", ["http://127.0.0.1:8080/cb"]);
        assert!(web.allows_redirect("http://127.0.0.1:8080/cb"));
        assert!(!web.allows_redirect("http://127.0.0.1:8081/cb"));
    }

    #[test]
    fn mcp_settings_in_toml() {
        let config = DevServerConfig::from_toml(
            r#"
            resources = ["https://mcp.example/mcp"]
            mcp_profile = true
            max_registered_clients = 5
            "#,
        )
        .expect("parses");
        assert_eq!(config.resources, ["https://mcp.example/mcp"]);
        assert!(config.mcp_profile && !config.client_id_metadata_documents);
        assert_eq!(config.max_registered_clients, Some(5));
        assert!(config.into_server().is_ok());
    }

    #[test]
    fn one_time_codes_and_dpop_nonces_are_read_from_toml() {
        let config = DevServerConfig::from_toml(
            r#"
            require_dpop_nonces = true
            [[users]]
            username = "alice"
            password = "wonderland"
            otp = "123456"
            [[users]]
            username = "bob"
            password = "builder"
            "#,
        )
        .expect("parses");
        assert!(config.require_dpop_nonces);
        let codes: Vec<Option<&str>> = config.users.iter().map(|u| u.otp.as_deref()).collect();
        assert_eq!(codes, [Some("123456"), None]);
        assert!(config.into_server().expect("valid").dpop_nonces);
        assert!(
            !DevServerConfig::demo().require_dpop_nonces,
            "off by default"
        );
    }

    #[test]
    fn unknown_keys_and_algorithms_are_refused() {
        assert!(DevServerConfig::from_toml("prot = 1").is_err());
        let config = DevServerConfig::from_toml("algorithm = \"HS256\"").expect("parses");
        assert!(matches!(
            config.into_server(),
            Err(DevConfigError::Algorithm(_))
        ));
    }
}
