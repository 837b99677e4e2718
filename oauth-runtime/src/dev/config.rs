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
}

/// A user who can log in on the consent page (or with the password grant).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login name, which becomes the token's `sub`.
    pub username: String,
    /// The password.
    pub password: String,
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
