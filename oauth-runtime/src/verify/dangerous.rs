//! What skips checks, fenced and named so. Nothing here validates claims: a signature that
//! verifies says who wrote the token, not that it is still valid, meant for this API or an
//! access token at all. Use [`JwtVerifier::verify_token`](crate::JwtVerifier::verify_token) or
//! [`TokenVerifier`](crate::TokenVerifier) to accept requests.

use crate::verify::VerifyError;
use crate::verify::jwt::JwtVerifier;

pub use crate::verify::jws::VerifiedJws;

/// The signature layer alone: checks the compact JWS structure, picks the key by `kid` and
/// `alg` and verifies the signature with the verifier's keys given up front (not a remote key
/// set). `exp`, `nbf`, `iss`, `aud` and `typ` are not looked at.
///
/// ```
/// use oauth_runtime::{Algorithm, JwtVerifier, SigningKey, dangerous};
///
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let verifier = JwtVerifier::builder()
///     .issuer("https://issuer.test").audience("api").key(key.verification_key()?).build()?;
/// // Long expired, and still its signature verifies.
/// let token = key.sign_jwt(&serde_json::json!({ "exp": 1 }));
/// let jws = dangerous::verify_signature(&verifier, &token)?;
/// assert_eq!(jws.payload, br#"{"exp":1}"#);
/// assert!(verifier.verify_token(&token).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_signature(verifier: &JwtVerifier, token: &str) -> Result<VerifiedJws, VerifyError> {
    verifier.verify_signature(token)
}
