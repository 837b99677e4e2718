//! Verifier settings read from configuration (Rocket.toml, a TOML or JSON file, environment via
//! figment), for set-ups that are configured rather than coded.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::claims::ScopeClaim;
use crate::request::authenticator::{Authenticator, AuthenticatorError};
use crate::verify::dpop::{DpopConfigError, DpopMode, DpopVerifier};
use crate::verify::issuers::{MultiIssuerError, MultiIssuerVerifier};
use crate::verify::jwt::{JwtVerifier, JwtVerifierBuilder, VerifierConfigError};
use crate::verify::keys::{Key, KeyError};

/// What an [`Authenticator`] with a [`JwtVerifier`] needs, in a form serde can read. Unknown
/// fields are errors, so a misspelt setting is not silently ignored.
///
/// ```
/// use oauth_runtime::AuthConfig;
///
/// let config: AuthConfig = serde_json::from_value(serde_json::json!({
///     "issuer": "https://auth.example.com",
///     "audience": "photos-api",
///     "jwks": r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
///         "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///         "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
///     "leeway_secs": 30,
///     "realm": "photos",
///     "rfc9068": true
/// }))?;
/// let authenticator = config.authenticator()?;
/// # let _ = authenticator;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The exact `iss` tokens must carry.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accept any issuer instead (must be explicit).
    #[serde(default)]
    pub allow_any_issuer: bool,
    /// The audience, or a list of audiences, this API answers to.
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// Accept any audience instead (must be explicit).
    #[serde(default)]
    pub allow_any_audience: bool,
    /// Public keys as PEM text.
    #[serde(default)]
    pub public_keys_pem: Vec<String>,
    /// Files holding PEM public keys.
    #[serde(default)]
    pub public_key_files: Vec<PathBuf>,
    /// A JWK Set as JSON text.
    #[serde(default)]
    pub jwks: Option<String>,
    /// A JWK Set URL, fetched and cached (feature `remote`; https, or http on loopback).
    #[cfg(feature = "remote")]
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Find the key set through the issuer's metadata (RFC 8414, else OpenID Connect
    /// discovery) when the first token needs a key (feature `remote`); needs `issuer` and no
    /// other key source.
    #[cfg(feature = "remote")]
    #[serde(default)]
    pub discover: bool,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (default 60).
    #[serde(default)]
    pub leeway_secs: Option<u64>,
    /// The `realm` of challenges.
    #[serde(default)]
    pub realm: Option<String>,
    /// Strict RFC 9068 mode.
    #[serde(default)]
    pub rfc9068: bool,
    /// The claim holding scopes, when it is not `scope`/`scp` (Auth0: `permissions`).
    #[serde(default)]
    pub scope_claim: Option<String>,
    /// The longest token accepted, in bytes (default 16 KiB).
    #[serde(default)]
    pub max_token_len: Option<usize>,
    /// Several trusted issuers, each with its own keys: the token's `iss` chooses among them
    /// (see [`MultiIssuerVerifier`]). With this list, the top-level `issuer`,
    /// `allow_any_issuer` and keys must be left out; the top-level `audience`,
    /// `allow_any_audience`, `leeway_secs`, `rfc9068` and `scope_claim` apply to each issuer
    /// that does not set its own.
    ///
    /// In `Rocket.toml` (or any TOML file read into an `AuthConfig`):
    ///
    /// ```toml
    /// [default.oauth]
    /// audience = "photos-api"
    /// rfc9068 = true
    ///
    /// [[default.oauth.issuers]]
    /// issuer = "https://sso.example.com/realms/acme"
    /// jwks_url = "https://sso.example.com/realms/acme/protocol/openid-connect/certs"
    ///
    /// [[default.oauth.issuers]]
    /// issuer = "https://globex.eu.auth0.com/"
    /// jwks_url = "https://globex.eu.auth0.com/.well-known/jwks.json"
    /// scope_claim = "permissions"
    /// ```
    ///
    /// ```
    /// use oauth_runtime::{Algorithm, AuthConfig, SigningKey};
    ///
    /// let jwks = |key: &SigningKey| serde_json::json!({ "keys": [key.public_jwk()] }).to_string();
    /// let (a, b) = (SigningKey::generate(Algorithm::ES256)?, SigningKey::generate(Algorithm::RS256)?);
    /// let config: AuthConfig = serde_json::from_value(serde_json::json!({
    ///     "audience": "photos-api",
    ///     "issuers": [
    ///         { "issuer": "https://a.example.com", "jwks": jwks(&a) },
    ///         { "issuer": "https://b.example.com", "jwks": jwks(&b),
    ///           "audience": ["photos", "api://photos"], "scope_claim": "permissions" },
    ///     ],
    /// }))?;
    /// let authenticator = config.authenticator()?;
    /// # let _ = authenticator;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// DPoP (RFC 9449): whether DPoP-bound tokens are accepted or required, and how proofs are
    /// checked. Absent: bearer tokens only.
    ///
    /// ```toml
    /// [default.oauth.dpop]
    /// mode = "required"                       # "disabled" (default), "allowed" or "required"
    /// external_url = "https://api.example.com" # what clients sign as `htu`; set it in production
    /// algorithms = ["ES256", "EdDSA"]          # default: the asymmetric algorithms
    /// iat_window_secs = 60
    /// max_proof_len = 8192
    /// nonces = true                            # RFC 9449 §9; or nonce_key = "<32+ bytes>" shared
    /// nonce_period_secs = 60
    /// redis_url = "redis://replay.internal:6379" # feature `redis`: one store for all instances
    /// ```
    ///
    /// ```
    /// use oauth_runtime::AuthConfig;
    /// use oauth_runtime::dpop::DpopMode;
    ///
    /// let config: AuthConfig = serde_json::from_value(serde_json::json!({
    ///     "issuer": "https://auth.example.com",
    ///     "audience": "photos-api",
    ///     "jwks": r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
    ///         "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///         "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
    ///     "dpop": { "mode": "required", "external_url": "https://api.example.com",
    ///               "algorithms": ["ES256"] }
    /// }))?;
    /// assert_eq!(config.authenticator()?.dpop_mode(), DpopMode::Required);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[serde(default)]
    pub dpop: Option<DpopConfig>,
    /// Take tokens bound to what this server cannot check (`cnf.x5t#S256`, `cnf.jkt` without
    /// DPoP, other `cnf` members) as bearer tokens, for a phased rollout; default `false`:
    /// refused with `invalid_token`. See
    /// [`AuthenticatorBuilder::accept_unverified_binding`](crate::AuthenticatorBuilder::accept_unverified_binding)
    /// for the risk it accepts.
    ///
    /// ```toml
    /// [default.oauth]
    /// accept_unverified_binding = true
    /// ```
    #[serde(default)]
    pub accept_unverified_binding: bool,
}

/// The DPoP settings of an [`AuthConfig`] (RFC 9449), the builder methods of
/// [`DpopVerifier`](crate::verify::dpop::DpopVerifierBuilder) in a form serde can read. Unknown fields
/// are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DpopConfig {
    /// `disabled` (the default), `allowed` (bearer or DPoP) or `required` (DPoP only).
    #[serde(default)]
    pub mode: DpopMode,
    /// The URL clients use to reach the API, to which the request path is appended to check
    /// `htu` (see [`external_url`](crate::verify::dpop::DpopVerifierBuilder::external_url)).
    #[serde(default)]
    pub external_url: Option<String>,
    /// Proof algorithms accepted, by their JOSE names (`ES256`, `EdDSA`, `RS256`, ...); only
    /// asymmetric ones. Absent: the default list.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// How far a proof's `iat` may lie from now, either way.
    #[serde(default)]
    pub iat_window_secs: Option<u64>,
    /// The longest proof read, in bytes.
    #[serde(default)]
    pub max_proof_len: Option<usize>,
    /// Server nonces (RFC 9449 §9) under a key drawn at start, for one instance: proofs must
    /// carry a current `DPoP-Nonce`.
    #[serde(default)]
    pub nonces: bool,
    /// Server nonces under this shared secret (at least 32 bytes), so that every instance
    /// configured with it accepts the others' nonces. Keep it out of files in version control
    /// (Rocket reads `ROCKET_OAUTH={dpop={nonce_key="..."}}` from the environment).
    #[serde(default)]
    pub nonce_key: Option<String>,
    /// How long one nonce is current, in seconds (accepted one period more).
    #[serde(default)]
    pub nonce_period_secs: Option<u64>,
    /// A Redis server every instance shares as the replay store (feature `redis`); absent, each
    /// instance remembers proofs in its own memory. With it, [`AuthConfig::authenticator`] must
    /// be called inside a Tokio runtime (the store connects in the background).
    #[cfg(feature = "redis")]
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Prefix of the replay store's keys in Redis.
    #[cfg(feature = "redis")]
    #[serde(default)]
    pub redis_namespace: Option<String>,
    /// How long a replay check may wait for Redis before the request is refused (503).
    #[cfg(feature = "redis")]
    #[serde(default)]
    pub redis_timeout_ms: Option<u64>,
}

impl DpopConfig {
    fn verifier(&self) -> Result<DpopVerifier, AuthConfigError> {
        let mut builder = DpopVerifier::builder();
        if let Some(names) = &self.algorithms {
            let mut algorithms = Vec::with_capacity(names.len());
            for name in names {
                algorithms.push(name.parse::<jsonwebtoken::Algorithm>().map_err(|_| {
                    AuthConfigError::Dpop(DpopConfigError::Algorithms(name.clone()))
                })?);
            }
            builder = builder.algorithms(algorithms);
        }
        if let Some(url) = &self.external_url {
            builder = builder.external_url(url.clone());
        }
        if let Some(secs) = self.iat_window_secs {
            builder = builder.iat_window(Duration::from_secs(secs));
        }
        if let Some(max) = self.max_proof_len {
            builder = builder.max_proof_len(max);
        }
        let nonces = match (&self.nonce_key, self.nonces) {
            (Some(key), _) => Some(crate::verify::dpop::DpopNonces::with_key(key.as_bytes())?),
            (None, true) => Some(crate::verify::dpop::DpopNonces::random()?),
            (None, false) if self.nonce_period_secs.is_some() => {
                return Err(AuthConfigError::Contradiction(
                    "dpop.nonce_period_secs without nonces: set `nonces = true` or `nonce_key`",
                ));
            }
            (None, false) => None,
        };
        if let Some(nonces) = nonces {
            builder = builder.nonces(match self.nonce_period_secs {
                Some(secs) => nonces.period(Duration::from_secs(secs)),
                None => nonces,
            });
        }
        #[cfg(feature = "redis")]
        if let Some(url) = &self.redis_url {
            let mut store = crate::verify::dpop_redis::RedisReplayStore::builder(url.clone());
            if let Some(namespace) = &self.redis_namespace {
                store = store.namespace(namespace.clone());
            }
            if let Some(ms) = self.redis_timeout_ms {
                store = store.timeout(Duration::from_millis(ms));
            }
            builder = builder.replay_store(store.build()?);
        }
        Ok(builder.build()?)
    }
}

/// One trusted issuer of [`AuthConfig::issuers`]: its exact `iss`, its keys and, where they
/// differ from the top-level settings, its audience, leeway, RFC 9068 mode and scope claim.
/// Unknown fields are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Its audience or audiences (default: the top-level `audience`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// Accept any audience from this issuer (default: the top-level setting).
    #[serde(default)]
    pub allow_any_audience: bool,
    /// Public keys as PEM text.
    #[serde(default)]
    pub public_keys_pem: Vec<String>,
    /// Files holding PEM public keys.
    #[serde(default)]
    pub public_key_files: Vec<PathBuf>,
    /// A JWK Set as JSON text.
    #[serde(default)]
    pub jwks: Option<String>,
    /// A JWK Set URL, fetched and cached (feature `remote`; https, or http on loopback).
    #[cfg(feature = "remote")]
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Find this issuer's key set through its metadata when the first token of it needs a key
    /// (feature `remote`); no other key source beside it.
    #[cfg(feature = "remote")]
    #[serde(default)]
    pub discover: bool,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default)]
    pub leeway_secs: Option<u64>,
    /// Strict RFC 9068 mode.
    #[serde(default)]
    pub rfc9068: Option<bool>,
    /// The claim holding scopes, when it is not `scope`/`scp`.
    #[serde(default)]
    pub scope_claim: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Why an [`AuthConfig`] could not become an [`Authenticator`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// A key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The verifier settings are incomplete or inconsistent.
    #[error(transparent)]
    Verifier(#[from] VerifierConfigError),
    /// The authenticator settings are invalid.
    #[error(transparent)]
    Authenticator(#[from] AuthenticatorError),
    /// Two settings that contradict each other, such as an `issuer` and `allow_any_issuer`:
    /// one of them would be silently ignored.
    #[error("{0}")]
    Contradiction(&'static str),
    /// The `issuers` list cannot work (an issuer twice).
    #[error(transparent)]
    Issuers(#[from] MultiIssuerError),
    /// The `dpop` settings cannot work (a symmetric or unknown algorithm, a relative URL).
    #[error("dpop: {0}")]
    Dpop(#[from] DpopConfigError),
    /// The Redis replay store's settings cannot work.
    #[cfg(feature = "redis")]
    #[error("dpop: {0}")]
    Redis(#[from] crate::verify::dpop_redis::RedisStoreError),
}

/// Where a verifier's keys come from in the configuration, top level or one issuer's.
struct KeySources<'c> {
    pems: &'c [String],
    files: &'c [PathBuf],
    jwks: Option<&'c str>,
    #[cfg(feature = "remote")]
    jwks_url: Option<&'c str>,
    /// The issuer whose metadata names the key set, when `discover` is on.
    #[cfg(feature = "remote")]
    discover: Option<&'c str>,
}

impl KeySources<'_> {
    fn is_empty(&self) -> bool {
        #[cfg(feature = "remote")]
        let url = self.jwks_url.is_some() || self.discover.is_some();
        #[cfg(not(feature = "remote"))]
        let url = false;
        self.pems.is_empty() && self.files.is_empty() && self.jwks.is_none() && !url
    }

    fn add_to(
        &self,
        mut builder: JwtVerifierBuilder,
    ) -> Result<JwtVerifierBuilder, AuthConfigError> {
        #[cfg(feature = "remote")]
        if let Some(issuer) = self.discover {
            let others = !self.pems.is_empty()
                || !self.files.is_empty()
                || self.jwks.is_some()
                || self.jwks_url.is_some();
            if others {
                return Err(AuthConfigError::Contradiction(
                    "discover and keys: discovery finds the keys, give no other key source",
                ));
            }
            return Ok(builder.discover_lazily(issuer));
        }
        for pem in self.pems {
            builder = builder.key(Key::from_pem(pem)?);
        }
        for path in self.files {
            let pem = std::fs::read(path).map_err(|source| AuthConfigError::KeyFile {
                path: path.clone(),
                source,
            })?;
            builder = builder.key(Key::from_pem(pem)?);
        }
        if let Some(jwks) = self.jwks {
            builder = builder.jwk_set_json(jwks);
        }
        #[cfg(feature = "remote")]
        if let Some(url) = self.jwks_url {
            builder = builder.jwks_url(url);
        }
        Ok(builder)
    }
}

impl AuthConfig {
    /// Builds the verifier and authenticator these settings describe.
    pub fn authenticator(&self) -> Result<Authenticator, AuthConfigError> {
        if self.issuer.is_some() && self.allow_any_issuer {
            return Err(AuthConfigError::Contradiction(
                "issuer and allow_any_issuer: set one of them, not both",
            ));
        }
        if !self.audience.is_empty() && self.allow_any_audience {
            return Err(AuthConfigError::Contradiction(
                "audience and allow_any_audience: set one of them, not both",
            ));
        }
        #[cfg(feature = "remote")]
        if self.discover && self.issuer.is_none() {
            return Err(AuthConfigError::Contradiction(
                "discover without issuer: discovery starts from the issuer's URL",
            ));
        }
        let mut authenticator = if self.issuers.is_empty() {
            Authenticator::builder(self.single_verifier()?)
        } else {
            Authenticator::builder(self.multi_issuer_verifier()?)
        };
        if let Some(realm) = &self.realm {
            authenticator = authenticator.realm(realm.clone());
        }
        if let Some(max) = self.max_token_len {
            authenticator = authenticator.max_token_len(max);
        }
        if let Some(dpop) = &self.dpop {
            authenticator = authenticator
                .dpop(dpop.mode)
                .dpop_verifier(dpop.verifier()?);
        }
        Ok(authenticator
            .accept_unverified_binding(self.accept_unverified_binding)
            .build()?)
    }

    fn top_level_keys(&self) -> KeySources<'_> {
        KeySources {
            pems: &self.public_keys_pem,
            files: &self.public_key_files,
            jwks: self.jwks.as_deref(),
            #[cfg(feature = "remote")]
            jwks_url: self.jwks_url.as_deref(),
            #[cfg(feature = "remote")]
            discover: self.discover.then_some(self.issuer.as_deref()).flatten(),
        }
    }

    fn single_verifier(&self) -> Result<JwtVerifier, AuthConfigError> {
        let mut builder = JwtVerifier::builder();
        if let Some(issuer) = &self.issuer {
            builder = builder.issuer(issuer.clone());
        }
        if self.allow_any_issuer {
            builder = builder.allow_any_issuer();
        }
        for audience in &self.audience {
            builder = builder.audience(audience.clone());
        }
        if self.allow_any_audience {
            builder = builder.allow_any_audience();
        }
        builder = self.top_level_keys().add_to(builder)?;
        if let Some(secs) = self.leeway_secs {
            builder = builder.leeway(Duration::from_secs(secs));
        }
        if let Some(claim) = &self.scope_claim {
            builder = builder.scope_claim(ScopeClaim::named(claim.clone()));
        }
        if let Some(max) = self.max_token_len {
            builder = builder.max_token_len(max);
        }
        Ok(builder.require_rfc9068(self.rfc9068).build()?)
    }

    /// One verifier per entry of `issuers`, each built as a single-issuer configuration would
    /// be, with the top-level settings where the entry has none.
    pub(crate) fn multi_issuer_verifier(&self) -> Result<MultiIssuerVerifier, AuthConfigError> {
        if self.issuer.is_some() || self.allow_any_issuer {
            return Err(AuthConfigError::Contradiction(
                "issuers and a top-level issuer or allow_any_issuer: list every issuer in `issuers`",
            ));
        }
        if !self.top_level_keys().is_empty() {
            return Err(AuthConfigError::Contradiction(
                "issuers and top-level keys: give each issuer its own keys in `issuers`",
            ));
        }
        let mut multi = MultiIssuerVerifier::builder();
        for entry in &self.issuers {
            if !entry.audience.is_empty() && entry.allow_any_audience {
                return Err(AuthConfigError::Contradiction(
                    "audience and allow_any_audience in one issuer: set one of them, not both",
                ));
            }
            let mut builder = JwtVerifier::builder().issuer(entry.issuer.clone());
            let (audiences, any_audience) =
                if entry.audience.is_empty() && !entry.allow_any_audience {
                    (&self.audience, self.allow_any_audience)
                } else {
                    (&entry.audience, entry.allow_any_audience)
                };
            for audience in audiences {
                builder = builder.audience(audience.clone());
            }
            if any_audience {
                builder = builder.allow_any_audience();
            }
            builder = KeySources {
                pems: &entry.public_keys_pem,
                files: &entry.public_key_files,
                jwks: entry.jwks.as_deref(),
                #[cfg(feature = "remote")]
                jwks_url: entry.jwks_url.as_deref(),
                #[cfg(feature = "remote")]
                discover: entry.discover.then_some(entry.issuer.as_str()),
            }
            .add_to(builder)?;
            if let Some(secs) = entry.leeway_secs.or(self.leeway_secs) {
                builder = builder.leeway(Duration::from_secs(secs));
            }
            if let Some(claim) = entry.scope_claim.as_ref().or(self.scope_claim.as_ref()) {
                builder = builder.scope_claim(ScopeClaim::named(claim.clone()));
            }
            if let Some(max) = self.max_token_len {
                builder = builder.max_token_len(max);
            }
            let verifier = builder
                .require_rfc9068(entry.rfc9068.unwrap_or(self.rfc9068))
                .build()?;
            multi = multi.trust(verifier);
        }
        if let Some(max) = self.max_token_len {
            multi = multi.max_token_len(max);
        }
        Ok(multi.build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_settings_are_errors() {
        let r: Result<AuthConfig, _> = serde_json::from_value(serde_json::json!({"isuer": "x"}));
        assert!(r.is_err());
    }

    #[test]
    fn a_check_both_configured_and_waived_is_an_error() {
        for contradiction in [
            serde_json::json!({"issuer": "https://a", "allow_any_issuer": true}),
            serde_json::json!({"audience": "api", "allow_any_audience": true}),
        ] {
            let mut settings = serde_json::json!({
                "issuer": "https://a", "audience": "api",
                "jwks": r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
                    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#
            });
            let config: AuthConfig = serde_json::from_value(settings.clone()).expect("parses");
            assert!(config.authenticator().is_ok(), "control");
            for (name, value) in contradiction.as_object().expect("object") {
                settings[name] = value.clone();
            }
            let config: AuthConfig = serde_json::from_value(settings).expect("parses");
            assert!(
                matches!(
                    config.authenticator(),
                    Err(AuthConfigError::Contradiction(_))
                ),
                "{contradiction}"
            );
        }
    }

    #[test]
    fn missing_issuer_is_reported_as_such() {
        let config: AuthConfig = serde_json::from_value(serde_json::json!({
            "audience": ["a", "b"], "jwks": "{\"keys\":[]}"
        }))
        .expect("parses");
        assert!(matches!(
            config.authenticator(),
            Err(AuthConfigError::Verifier(VerifierConfigError::NoKeys))
        ));
        let config = AuthConfig {
            public_key_files: vec!["/nonexistent.pem".into()],
            ..config
        };
        assert!(matches!(
            config.authenticator(),
            Err(AuthConfigError::KeyFile { .. })
        ));
    }

    /// RFC 8705 §3: `accept_unverified_binding` in `Rocket.toml` reaches the authenticator;
    /// absent or false, a certificate-bound token (which this server cannot check) is refused.
    #[tokio::test]
    async fn rfc8705_section_3_the_binding_opt_out_is_read_from_toml() {
        use crate::verify::signing::SigningKey;
        use crate::verify::{ConfirmationMethod, VerifyError};
        use rocket::figment::Figment;
        use rocket::figment::providers::{Format, Toml};

        let issuer = SigningKey::generate(jsonwebtoken::Algorithm::ES256).expect("key");
        let jwks = serde_json::json!({ "keys": [issuer.public_jwk()] }).to_string();
        let read = |line: &str| {
            let text = format!(
                "[default.oauth]\nissuer = \"https://issuer.test\"\naudience = \"api\"\n\
                 jwks = '{jwks}'\n{line}\n"
            );
            Figment::from(Toml::string(&text).nested())
                .extract_inner::<AuthConfig>("oauth")
                .map_err(|e| e.to_string())
        };
        let token = issuer.sign_jwt(&serde_json::json!({
            "iss": "https://issuer.test", "aud": "api", "exp": 4102444800u64,
            "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" },
        }));
        let header = format!("Bearer {token}");
        for (line, accepted) in [
            ("", false),
            ("accept_unverified_binding = false", false),
            ("accept_unverified_binding = true", true),
        ] {
            let config = read(line).expect("parses");
            assert_eq!(config.accept_unverified_binding, accepted, "{line:?}");
            let outcome = config
                .authenticator()
                .expect("authenticator")
                .authenticate(std::iter::once(header.as_bytes()), None)
                .await;
            if accepted {
                outcome.expect("accepted as a bearer token");
            } else {
                assert_eq!(
                    outcome.err(),
                    Some(crate::AuthError::InvalidToken(
                        VerifyError::UnverifiableBinding(ConfirmationMethod::ClientCertificate)
                    )),
                    "{line:?}"
                );
            }
        }
        for wrong in [
            "accept_unverified_binding = \"yes\"",
            "accept_unverified_bindings = true",
        ] {
            assert!(read(wrong).is_err(), "{wrong}");
        }
    }

    mod several_issuers {
        use super::*;
        use crate::verify::signing::SigningKey;
        use crate::verify::{TokenVerifier, VerifyError};
        use jsonwebtoken::Algorithm;
        use serde_json::json;

        fn jwks(key: &SigningKey) -> String {
            json!({ "keys": [key.public_jwk()] }).to_string()
        }

        fn verify(config: &AuthConfig, token: &str) -> Result<crate::Claims, VerifyError> {
            let verifier = config.multi_issuer_verifier().expect("verifier");
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .block_on(verifier.verify(token))
        }

        #[test]
        fn each_issuer_has_its_keys_and_inherits_what_it_does_not_set() {
            let a = SigningKey::generate(Algorithm::ES256)
                .expect("key")
                .with_kid("a");
            let b = SigningKey::generate(Algorithm::ES256)
                .expect("key")
                .with_kid("b");
            let config: AuthConfig = serde_json::from_value(json!({
                "audience": "photos-api",
                "scope_claim": "permissions",
                "issuers": [
                    { "issuer": "https://a", "jwks": jwks(&a) },
                    { "issuer": "https://b", "jwks": jwks(&b), "audience": "other-api",
                      "scope_claim": "scope" },
                ],
            }))
            .expect("parses");
            assert!(config.authenticator().is_ok());
            let exp = 4102444800u64;
            let claims = verify(&config, &a.sign_jwt(&json!({
                "iss": "https://a", "aud": "photos-api", "exp": exp, "permissions": ["photos:read"]
            })))
            .expect("a, inheriting audience and scope claim");
            assert!(claims.has_scope("photos:read"));
            let claims = verify(
                &config,
                &b.sign_jwt(&json!({
                    "iss": "https://b", "aud": "other-api", "exp": exp, "scope": "photos:write"
                })),
            )
            .expect("b, with its own");
            assert!(claims.has_scope("photos:write"));
            assert_eq!(
                verify(
                    &config,
                    &b.sign_jwt(&json!({
                        "iss": "https://b", "aud": "photos-api", "exp": exp
                    }))
                )
                .err(),
                Some(VerifyError::InvalidAudience),
                "b's own audience replaces the top-level one"
            );
            assert_eq!(
                verify(
                    &config,
                    &b.sign_jwt(&json!({
                        "iss": "https://a", "aud": "photos-api", "exp": exp
                    }))
                )
                .err(),
                Some(VerifyError::UnknownKey {
                    kid: Some("b".into())
                }),
                "b's key does not sign for a"
            );
        }

        #[test]
        fn issuers_beside_top_level_issuer_or_keys_or_twice_are_errors() {
            let key = SigningKey::generate(Algorithm::ES256).expect("key");
            let entry = json!({ "issuer": "https://a", "jwks": jwks(&key) });
            for (extra, what) in [
                (json!({ "issuer": "https://top" }), "top-level issuer"),
                (json!({ "allow_any_issuer": true }), "allow_any_issuer"),
                (json!({ "jwks": jwks(&key) }), "top-level keys"),
            ] {
                let mut settings = json!({ "audience": "api", "issuers": [entry.clone()] });
                for (name, value) in extra.as_object().expect("object") {
                    settings[name] = value.clone();
                }
                let config: AuthConfig = serde_json::from_value(settings).expect("parses");
                assert!(
                    matches!(
                        config.authenticator(),
                        Err(AuthConfigError::Contradiction(_))
                    ),
                    "{what}"
                );
            }
            let config: AuthConfig = serde_json::from_value(json!({
                "audience": "api", "issuers": [entry.clone(), entry.clone()]
            }))
            .expect("parses");
            assert!(matches!(
                config.authenticator(),
                Err(AuthConfigError::Issuers(MultiIssuerError::Duplicate(_)))
            ));
            let config: AuthConfig = serde_json::from_value(json!({
                "issuers": [{ "issuer": "https://a", "jwks": jwks(&key),
                              "audience": "api", "allow_any_audience": true }]
            }))
            .expect("parses");
            assert!(matches!(
                config.authenticator(),
                Err(AuthConfigError::Contradiction(_))
            ));
            let config: AuthConfig =
                serde_json::from_value(json!({ "issuers": [entry] })).expect("parses");
            assert!(matches!(
                config.authenticator(),
                Err(AuthConfigError::Verifier(VerifierConfigError::NoAudience))
            ));
            let config: AuthConfig = serde_json::from_value(json!({
                "audience": "api", "issuers": [{ "issuer": "https://a" }]
            }))
            .expect("parses");
            assert!(matches!(
                config.authenticator(),
                Err(AuthConfigError::Verifier(VerifierConfigError::NoKeys))
            ));
            let misspelt: Result<AuthConfig, _> = serde_json::from_value(json!({
                "issuers": [{ "issuer": "https://a", "jwks_uri": "https://a/jwks" }]
            }));
            assert!(misspelt.is_err());
        }
    }

    /// The `dpop` table reaches the authenticator: its mode, its proof rules and the URL
    /// clients sign (RFC 9449 §4.3 `htu`), so a deployment configured by file gets what a coded
    /// one gets.
    mod dpop_settings {
        use super::*;
        use crate::request::authenticator::HttpRequest;
        use crate::verify::dpop::{access_token_hash, jwk_thumbprint};
        use crate::verify::signing::SigningKey;
        use jsonwebtoken::Algorithm;
        use serde_json::json;

        fn now() -> i64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default()
        }

        fn config(
            issuer: &SigningKey,
            dpop: serde_json::Value,
        ) -> Result<AuthConfig, serde_json::Error> {
            serde_json::from_value(json!({
                "issuer": "https://issuer.test",
                "audience": "api",
                "jwks": json!({ "keys": [issuer.public_jwk()] }).to_string(),
                "dpop": dpop,
            }))
        }

        async fn call(
            authenticator: &Authenticator,
            authorization: &str,
            proof: Option<&str>,
        ) -> Result<crate::Claims, crate::AuthError> {
            let request = HttpRequest {
                method: "GET",
                scheme: "http",
                host: Some("10.0.0.7:8080"),
                path: "/photos",
                query: None,
            };
            authenticator
                .authenticate_request(
                    &request,
                    std::iter::once(authorization.as_bytes()),
                    proof.into_iter().map(str::as_bytes),
                )
                .await
        }

        #[tokio::test]
        async fn rfc9449_section_4_3_the_configured_mode_and_external_url_apply() {
            let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
            let client = SigningKey::generate(Algorithm::ES256).expect("key");
            let authenticator = config(
                &issuer,
                json!({ "mode": "required", "external_url": "https://api.example.com/",
                        "algorithms": ["ES256"], "iat_window_secs": 30 }),
            )
            .expect("parses")
            .authenticator()
            .expect("authenticator");
            assert_eq!(authenticator.dpop_mode(), DpopMode::Required);
            let jkt = jwk_thumbprint(&client.public_jwk().expect("jwk")).expect("jkt");
            let token = issuer.sign_jwt(&json!({
                "iss": "https://issuer.test", "aud": "api", "sub": "alice",
                "exp": now() + 600, "cnf": { "jkt": jkt },
            }));
            let proof = |htu: &str, iat: i64, jti: &str| {
                client.sign_jwt_with_header(
                    &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": client.public_jwk() }),
                    &json!({ "jti": jti, "htm": "GET", "htu": htu, "iat": iat,
                             "ath": access_token_hash(&token) }),
                )
            };
            let dpop = format!("DPoP {token}");
            let signed_for_public_url = proof("https://api.example.com/photos", now(), "a");
            assert!(
                call(&authenticator, &dpop, Some(&signed_for_public_url))
                    .await
                    .is_ok()
            );
            let signed_for_host = proof("http://10.0.0.7:8080/photos", now(), "b");
            assert!(
                call(&authenticator, &dpop, Some(&signed_for_host))
                    .await
                    .is_err(),
                "htu is the external URL, not the Host header"
            );
            let outside_window = proof("https://api.example.com/photos", now() - 45, "c");
            assert!(
                call(&authenticator, &dpop, Some(&outside_window))
                    .await
                    .is_err(),
                "iat_window_secs = 30"
            );
            assert!(
                call(&authenticator, &format!("Bearer {token}"), None)
                    .await
                    .is_err(),
                "required: no bearer"
            );
        }

        #[cfg(feature = "redis")]
        #[tokio::test]
        async fn the_redis_replay_store_is_configured_by_its_url() {
            let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
            let good = config(
                &issuer,
                json!({ "mode": "allowed", "redis_url": "redis://127.0.0.1:1/",
                        "redis_namespace": "photos", "redis_timeout_ms": 50 }),
            )
            .expect("parses");
            assert!(good.authenticator().is_ok(), "connects lazily");
            for bad in [
                json!({ "mode": "allowed", "redis_url": "nonsense://x" }),
                json!({ "mode": "allowed", "redis_url": "redis://127.0.0.1:1/",
                        "redis_namespace": "a b" }),
                json!({ "mode": "allowed", "redis_url": "redis://127.0.0.1:1/",
                        "redis_timeout_ms": 0 }),
            ] {
                let config = config(&issuer, bad.clone()).expect("parses");
                assert!(
                    matches!(config.authenticator(), Err(AuthConfigError::Redis(_))),
                    "{bad}"
                );
            }
        }

        /// RFC 9449 §9: two instances configured with one `nonce_key` accept each other's
        /// nonces; a proof without one is refused with `use_dpop_nonce` and the nonce to use.
        #[tokio::test]
        async fn rfc9449_section_9_nonces_from_configuration_are_shared_by_key() {
            let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
            let client = SigningKey::generate(Algorithm::ES256).expect("key");
            let settings = json!({ "mode": "required", "external_url": "https://api.example.com",
                                   "nonce_key": "a shared secret of at least thirty-two bytes" });
            let instance = || {
                config(&issuer, settings.clone())
                    .expect("parses")
                    .authenticator()
                    .expect("authenticator")
            };
            let (a, b) = (instance(), instance());
            let jkt = jwk_thumbprint(&client.public_jwk().expect("jwk")).expect("jkt");
            let token = issuer.sign_jwt(&json!({
                "iss": "https://issuer.test", "aud": "api", "sub": "alice",
                "exp": now() + 600, "cnf": { "jkt": jkt },
            }));
            let proof = |jti: &str, nonce: Option<&str>| {
                let mut claims = json!({ "jti": jti, "htm": "GET",
                    "htu": "https://api.example.com/photos", "iat": now(),
                    "ath": access_token_hash(&token) });
                if let Some(nonce) = nonce {
                    claims["nonce"] = nonce.into();
                }
                client.sign_jwt_with_header(
                    &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": client.public_jwk() }),
                    &claims,
                )
            };
            let request = HttpRequest {
                method: "GET",
                scheme: "http",
                host: Some("10.0.0.7:8080"),
                path: "/photos",
                query: None,
            };
            let dpop = format!("DPoP {token}");
            let without = proof("n1", None);
            let (refused, nonce) = a
                .authenticate_route_nonce(
                    &request,
                    std::iter::once(dpop.as_bytes()),
                    std::iter::once(without.as_bytes()),
                    false,
                )
                .await;
            assert!(
                matches!(
                    refused,
                    Err(crate::AuthError::Dpop(
                        crate::verify::dpop::DpopError::UseNonce
                    ))
                ),
                "{refused:?}"
            );
            let nonce = nonce.expect("the nonce to use");
            let with = proof("n2", Some(&nonce));
            assert!(
                call(&b, &dpop, Some(&with)).await.is_ok(),
                "b accepts a's nonce"
            );
            let random = config(
                &issuer,
                json!({ "mode": "required",
                "external_url": "https://api.example.com", "nonces": true }),
            )
            .expect("parses")
            .authenticator()
            .expect("authenticator");
            assert!(
                call(&random, &dpop, Some(&proof("n3", Some(&nonce))))
                    .await
                    .is_err(),
                "a random key does not accept the shared key's nonces"
            );
        }

        #[test]
        fn rfc9449_dpop_settings_that_cannot_work_are_errors_at_start() {
            let issuer = SigningKey::generate(Algorithm::ES256).expect("key");
            for (dpop, what) in [
                (
                    json!({ "mode": "allowed", "algorithms": ["HS256"] }),
                    "symmetric",
                ),
                (
                    json!({ "mode": "allowed", "algorithms": ["ES257"] }),
                    "unknown algorithm",
                ),
                (
                    json!({ "mode": "allowed", "algorithms": [] }),
                    "no algorithm",
                ),
                (
                    json!({ "mode": "allowed", "external_url": "api.example.com" }),
                    "relative",
                ),
                (
                    json!({ "mode": "allowed", "nonce_key": "too short" }),
                    "short nonce key",
                ),
            ] {
                let config = config(&issuer, dpop).expect("parses");
                assert!(
                    matches!(config.authenticator(), Err(AuthConfigError::Dpop(_))),
                    "{what}"
                );
            }
            let period_alone = config(
                &issuer,
                json!({ "mode": "allowed", "nonce_period_secs": 30 }),
            )
            .expect("parses");
            assert!(matches!(
                period_alone.authenticator(),
                Err(AuthConfigError::Contradiction(_))
            ));
            for (dpop, what) in [
                (json!({ "mode": "sometimes" }), "unknown mode"),
                (
                    json!({ "mode": "allowed", "iat_window": 30 }),
                    "misspelt field",
                ),
            ] {
                assert!(config(&issuer, dpop).is_err(), "{what}");
            }
            let absent = config(&issuer, json!(null)).expect("parses");
            assert_eq!(
                absent.authenticator().expect("authenticator").dpop_mode(),
                DpopMode::Disabled
            );
            let allowed = config(&issuer, json!({ "mode": "allowed" })).expect("parses");
            assert_eq!(
                allowed.authenticator().expect("authenticator").dpop_mode(),
                DpopMode::Allowed
            );
        }
    }
}
