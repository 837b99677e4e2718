//! Why a token was not accepted: the reason every verifier gives, and the vocabulary that the
//! claims reader, the request path and the metrics share. The answers built from it (RFC 6750
//! challenges) are the request path's, in `request/rejection.rs`.

/// Why a token was not accepted. Every variant but [`VerifyError::Unavailable`] is an
/// `invalid_token` answer (RFC 6750 §3.1). The `Display` text is for logs and never contains the
/// token; [`VerifyError::description`] is the shorter text sent to clients.
///
/// ```
/// use oauth_runtime::VerifyError;
///
/// let e = VerifyError::AlgorithmMismatch { token: "HS256".into(), key: "RS256".into() };
/// assert_eq!(e.to_string(), "token algorithm HS256 does not match the key's algorithm RS256");
/// assert_eq!(e.description(), "the access token is invalid");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a well-formed compact JWS (segments, base64url, JSON).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Longer than the configured maximum; rejected before any decoding.
    #[error("token is longer than {max} bytes")]
    TooLarge {
        /// The configured maximum.
        max: usize,
    },
    /// `alg` names an algorithm we never accept (`none`, unknown names).
    #[error("algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// The header's `alg` is not the algorithm of the key that matches the token.
    #[error("token algorithm {token} does not match the key's algorithm {key}")]
    AlgorithmMismatch {
        /// What the token claims.
        token: String,
        /// What the key is for.
        key: String,
    },
    /// No configured key has the token's `kid` (or, without `kid`, its algorithm).
    #[error("no key matches the token (kid {kid:?})")]
    UnknownKey {
        /// The token's `kid`, if any.
        kid: Option<String>,
    },
    /// Without a `kid`, more than one key could have signed the token.
    #[error("token names no kid and several keys fit")]
    AmbiguousKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The header has a `crit` extension we do not understand (RFC 7515 §4.1.11).
    #[error("unsupported critical header parameter")]
    UnsupportedCritical,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("unexpected issuer")]
    InvalidIssuer,
    /// `aud` names none of the configured audiences.
    #[error("unexpected audience")]
    InvalidAudience,
    /// A required claim is absent.
    #[error("missing claim `{0}`")]
    MissingClaim(String),
    /// A claim has the wrong JSON type or an invalid value.
    #[error("invalid claim `{0}`")]
    InvalidClaim(String),
    /// The `typ` header is not what strict RFC 9068 mode requires.
    #[error("token type is not accepted (RFC 9068 requires at+jwt)")]
    InvalidType,
    /// The authorization server says the token is not active (RFC 7662).
    #[error("token is not active")]
    Inactive,
    /// The verifier could not reach what it needs (a key set, an introspection endpoint).
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
    /// The token is bound to a key or certificate (`cnf`, RFC 7800) whose possession this
    /// server cannot check for the request: accepted, it would serve whoever holds a copy,
    /// which is what the binding exists to prevent (RFC 8705 §3, RFC 9449 §7.2). Raised by the
    /// [`Authenticator`](crate::Authenticator) for the claims of every verifier; see
    /// [`accept_unverified_binding`](crate::AuthenticatorBuilder::accept_unverified_binding).
    #[error("{}", .0.description())]
    UnverifiableBinding(ConfirmationMethod),
}

/// A confirmation method of a token's `cnf` claim (RFC 7800 §3.1) that an
/// [`Authenticator`](crate::Authenticator) could not check, in
/// [`VerifyError::UnverifiableBinding`].
///
/// ```
/// use oauth_runtime::{ConfirmationMethod, VerifyError};
///
/// let e = VerifyError::UnverifiableBinding(ConfirmationMethod::ClientCertificate);
/// assert_eq!(
///     e.description(),
///     "the access token is bound to a client certificate (cnf.x5t#S256), which this server cannot check"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfirmationMethod {
    /// `x5t#S256`: bound to a TLS client certificate (RFC 8705 §3.1). The TLS connection, and
    /// so the certificate, is not visible to this crate.
    ClientCertificate,
    /// `jkt`: bound to a DPoP key (RFC 9449 §6) on an authenticator that does not accept DPoP.
    DpopKey,
    /// Another member (`jwk`, `kid`, `jwe`, ...), or a `cnf` that is not a JSON object.
    Other,
}

impl ConfirmationMethod {
    /// The text sent to clients in `error_description` (RFC 6750 §3 characters only).
    pub fn description(self) -> &'static str {
        match self {
            ConfirmationMethod::ClientCertificate => {
                "the access token is bound to a client certificate (cnf.x5t#S256), which this \
                 server cannot check"
            }
            ConfirmationMethod::DpopKey => {
                "the access token is DPoP-bound (cnf.jkt), and this server does not accept DPoP"
            }
            ConfirmationMethod::Other => {
                "the access token is bound by a confirmation method (cnf) this server cannot check"
            }
        }
    }
}

impl VerifyError {
    /// A short, stable description safe to send to clients in `error_description`. Coarser than
    /// `Display`: clients learn that a token expired, not which check of ours failed.
    pub fn description(&self) -> &'static str {
        match self {
            VerifyError::Expired => "the access token expired",
            VerifyError::NotYetValid => "the access token is not valid yet",
            VerifyError::Unavailable(_) => "the access token cannot be verified right now",
            // Precise: the client holds a token that no retry will make good here.
            VerifyError::UnverifiableBinding(method) => method.description(),
            _ => "the access token is invalid",
        }
    }
}
