//! Verifier settings read from configuration (Rocket.toml, a TOML or JSON file, environment via
//! figment), for set-ups that are configured rather than coded.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::authenticator::{Authenticator, AuthenticatorError};
use crate::claims::ScopeClaim;
use crate::jwt::{ConfigError, JwtVerifier};
use crate::keys::{Key, KeyError};

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
    Verifier(#[from] ConfigError),
    /// The authenticator settings are invalid.
    #[error(transparent)]
    Authenticator(#[from] AuthenticatorError),
    /// Two settings that contradict each other, such as an `issuer` and `allow_any_issuer`:
    /// one of them would be silently ignored.
    #[error("{0}")]
    Contradiction(&'static str),
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
        for pem in &self.public_keys_pem {
            builder = builder.key(Key::from_pem(pem)?);
        }
        for path in &self.public_key_files {
            let pem = std::fs::read(path).map_err(|source| AuthConfigError::KeyFile {
                path: path.clone(),
                source,
            })?;
            builder = builder.key(Key::from_pem(pem)?);
        }
        if let Some(jwks) = &self.jwks {
            builder = builder.jwk_set_json(jwks);
        }
        #[cfg(feature = "remote")]
        if let Some(url) = &self.jwks_url {
            builder = builder.jwks_url(url.clone());
        }
        if let Some(secs) = self.leeway_secs {
            builder = builder.leeway(Duration::from_secs(secs));
        }
        if let Some(claim) = &self.scope_claim {
            builder = builder.scope_claim(ScopeClaim::named(claim.clone()));
        }
        if let Some(max) = self.max_token_len {
            builder = builder.max_token_len(max);
        }
        let verifier = builder.require_rfc9068(self.rfc9068).build()?;
        let mut authenticator = Authenticator::builder(verifier);
        if let Some(realm) = &self.realm {
            authenticator = authenticator.realm(realm.clone());
        }
        if let Some(max) = self.max_token_len {
            authenticator = authenticator.max_token_len(max);
        }
        Ok(authenticator.build()?)
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
            Err(AuthConfigError::Verifier(ConfigError::NoKeys))
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
}
