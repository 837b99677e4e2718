//! The compact JWS layer (RFC 7515): taking a token apart, choosing the key, checking the
//! signature. Nothing here looks at claims; `jwt.rs` does that, and `dangerous` is the only way
//! for a user to stop here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use crate::verify::VerifyError;
use crate::verify::keys::Key;

/// The header members we read. Unknown members are ignored (RFC 7515 §4), duplicates refused.
#[derive(serde::Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    /// Whether `crit` is there at all: we understand no extension, so any `crit` is refused,
    /// `null` and other non-arrays included (RFC 7515 §4.1.11 allows only a non-empty array).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(value).map(|_| true)
}

/// A compact JWS taken apart and decoded, its signature not yet checked. Everything here is
/// learnt from the token alone, so a malformed token is refused before any key is looked for
/// (and before a remote key set is fetched for it).
pub(crate) struct ParsedJws<'t> {
    pub(crate) header: Header,
    pub(crate) alg: Algorithm,
    /// The signing input: header and payload segments with the dot between them.
    signed: &'t [u8],
    signature: Vec<u8>,
    payload: Vec<u8>,
}

/// A JWS whose signature verified: its header's `typ` and its decoded payload.
#[derive(Debug)]
pub struct VerifiedJws {
    /// The header's `typ`, if any.
    pub typ: Option<String>,
    /// The payload bytes, base64url-decoded.
    pub payload: Vec<u8>,
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed(what))
}

/// Takes a compact JWS apart: size, segments, base64url, the header's JSON, `crit` and `alg`.
/// Needs no key.
pub(crate) fn parse(token: &str, max_len: usize) -> Result<ParsedJws<'_>, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge { max: max_len });
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(
            "a signed JWT has exactly three segments",
        ));
    };
    let header: Header = serde_json::from_slice(&b64(header_b64, "header is not base64url")?)
        .map_err(|_| VerifyError::Malformed("header is not a JSON object of the JWS form"))?;
    if header.crit {
        return Err(VerifyError::UnsupportedCritical);
    }
    // `none` and anything unknown stop here; there is no key for them.
    let alg: Algorithm = header
        .alg
        .parse()
        .map_err(|_| VerifyError::UnsupportedAlgorithm(header.alg.clone()))?;
    Ok(ParsedJws {
        header,
        alg,
        signed: &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()],
        signature: b64(signature_b64, "signature is not base64url")?,
        payload: b64(payload_b64, "payload is not base64url")?,
    })
}

impl ParsedJws<'_> {
    /// The payload bytes, base64url-decoded and NOT verified: only for choosing which verifier
    /// to ask (the issuer of a [`crate::MultiIssuerVerifier`]), never for trusting a claim.
    pub(crate) fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Chooses the key for `jws` among `keys` and checks the signature with it.
pub(crate) fn verify(keys: &[Key], jws: ParsedJws<'_>) -> Result<VerifiedJws, VerifyError> {
    let key = select_key(keys, jws.alg, jws.header.kid.as_deref())?;
    signed_by(key, jws)
}

pub(crate) fn signed_by(key: &Key, jws: ParsedJws<'_>) -> Result<VerifiedJws, VerifyError> {
    if !key.verify(jws.signed, &jws.signature) {
        return Err(VerifyError::InvalidSignature);
    }
    Ok(VerifiedJws {
        typ: jws.header.typ,
        payload: jws.payload,
    })
}

pub(crate) fn select_key<'k>(
    keys: &'k [Key],
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<&'k Key, VerifyError> {
    // With a kid, keys carrying that kid are the candidates; keys configured without a kid
    // stand in when none does, so a single static key works with issuers that always set one.
    let named: Vec<&Key> = match kid {
        Some(kid) => keys.iter().filter(|k| k.kid() == Some(kid)).collect(),
        None => Vec::new(),
    };
    let pool: Vec<&Key> = if named.is_empty() {
        keys.iter()
            .filter(|k| kid.is_none() || k.kid().is_none())
            .collect()
    } else {
        named
    };
    let mut fitting = pool.iter().filter(|k| k.algorithm() == alg);
    match (fitting.next(), fitting.next()) {
        (Some(key), None) => Ok(key),
        (Some(_), Some(_)) => Err(VerifyError::AmbiguousKey),
        (None, _) => match pool.first() {
            Some(other) => Err(VerifyError::AlgorithmMismatch {
                token: format!("{alg:?}"),
                key: format!("{:?}", other.algorithm()),
            }),
            None => Err(VerifyError::UnknownKey {
                kid: kid.map(str::to_owned),
            }),
        },
    }
}
