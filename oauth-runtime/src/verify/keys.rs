//! Verification keys: where they come from (PEM, DER, JWK, a shared secret) and which one
//! algorithm each is for.
//!
//! Each key is bound to exactly one algorithm when it is made, and a token is only checked with a
//! key whose algorithm equals the token's `alg` (RFC 8725 §3.1). That is what makes algorithm
//! confusion impossible: an RSA public key is never used as an HMAC secret, whatever the token
//! header says.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text could not be read.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// A PEM block of a kind we do not take, such as a private key or a certificate.
    #[error(
        "PEM block `{0}` is not a public key: give a `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` block"
    )]
    PemLabel(String),
    /// The DER structure could not be read.
    #[error("invalid DER public key: {0}")]
    Der(String),
    /// A key type we do not verify with.
    #[error("unsupported key type: {0}")]
    UnsupportedKeyType(String),
    /// An elliptic curve we do not verify with.
    #[error("unsupported curve: {0} (supported: P-256, P-384, Ed25519)")]
    UnsupportedCurve(String),
    /// The algorithm cannot be used with this kind of key.
    #[error("algorithm {alg} cannot be used with {key} key")]
    Incompatible {
        /// The algorithm asked for.
        alg: String,
        /// The kind of key.
        key: &'static str,
    },
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2).
    #[error("{alg} needs a secret of at least {min} bytes (RFC 7518 §3.2)")]
    WeakSecret {
        /// The algorithm.
        alg: String,
        /// The minimum length in bytes.
        min: usize,
    },
    /// The cryptographic library rejected the key (bad point, too small a modulus, ...).
    #[error("key rejected: {0}")]
    Rejected(String),
    /// A JWK marked for something other than signature verification.
    #[error("JWK is not for verifying signatures (`use` or `key_ops`)")]
    NotForSignatures,
    /// A JWK that is not valid JSON or lacks members.
    #[error("invalid JWK: {0}")]
    Jwk(String),
}

/// Where the key came from, kept so the key can be re-bound to another algorithm of its family.
#[derive(Clone)]
enum Material {
    /// Big-endian modulus and exponent.
    RsaComponents {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    /// 32 raw bytes.
    Ed25519(Vec<u8>),
    Secret(Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Curve {
    P256,
    P384,
}

// Each key is built once and shared behind an `Arc`, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    Public(ParsedPublicKey),
    Hmac(hmac::Key),
}

/// A key that verifies token signatures with one algorithm.
///
/// ```
/// use oauth_runtime::{Algorithm, Key};
///
/// let key = Key::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!")?
///     .with_kid("2024-01");
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert_eq!(key.kid(), Some("2024-01"));
///
/// // An HMAC secret can never be re-bound to an RSA or EC algorithm.
/// assert!(key.clone().with_algorithm(Algorithm::RS256).is_err());
/// # Ok::<(), oauth_runtime::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    alg: Algorithm,
    material: Material,
    // Shared so that clones do not parse the key again.
    prepared: Arc<Prepared>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("type", &self.key_type())
            .finish()
    }
}

const OID_RSA: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.101.112");

impl Key {
    /// A shared HMAC secret for `HS256`, `HS384` or `HS512`. The secret must be at least as long
    /// as the hash output (RFC 7518 §3.2).
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Key, KeyError> {
        Key::prepare(Material::Secret(secret.to_vec()), alg)
    }

    /// A public key in PEM: `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, P-256, P-384, Ed25519) or
    /// `RSA PUBLIC KEY` (PKCS#1). The algorithm defaults to RS256, ES256, ES384 or EdDSA by key
    /// type; change it with [`Key::with_algorithm`].
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Key, KeyError> {
        let block = pem::parse(pem.as_ref()).map_err(|e| KeyError::Pem(e.to_string()))?;
        match block.tag() {
            "PUBLIC KEY" => Key::from_der(block.contents()),
            "RSA PUBLIC KEY" => Key::prepare(rsa_from_pkcs1(block.contents())?, Algorithm::RS256),
            other => Err(KeyError::PemLabel(other.to_owned())),
        }
    }

    /// A public key as DER-encoded SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<Key, KeyError> {
        let info = spki::SubjectPublicKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Der(e.to_string()))?;
        let bits = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| KeyError::Der("public key bit string has unused bits".into()))?
            .to_vec();
        let oid = info.algorithm.oid;
        if oid == OID_RSA {
            Key::prepare(rsa_from_pkcs1(&bits)?, Algorithm::RS256)
        } else if oid == OID_ED25519 {
            Key::prepare(Material::Ed25519(bits), Algorithm::EdDSA)
        } else if oid == OID_EC {
            let curve_oid = info
                .algorithm
                .parameters_oid()
                .map_err(|_| KeyError::Der("EC key without a named curve".into()))?;
            let curve = if curve_oid == OID_P256 {
                Curve::P256
            } else if curve_oid == OID_P384 {
                Curve::P384
            } else {
                return Err(KeyError::UnsupportedCurve(curve_oid.to_string()));
            };
            Key::prepare(Material::Ec { curve, point: bits }, curve.algorithm())
        } else {
            Err(KeyError::UnsupportedKeyType(oid.to_string()))
        }
    }

    /// A JSON Web Key (RFC 7517). Its `kid` and `alg` are taken over; a key whose `use` is not
    /// `sig`, or whose `key_ops` lack `verify`, is refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<Key, KeyError> {
        let common = &jwk.common;
        if matches!(common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err(KeyError::NotForSignatures);
        }
        if matches!(common.key_operations, Some(ref ops) if !ops.contains(&KeyOperations::Verify)) {
            return Err(KeyError::NotForSignatures);
        }
        let b64 = |field: &str, value: &str| {
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| KeyError::Jwk(format!("`{field}` is not base64url")))
        };
        let (material, default_alg) = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => {
                let n = b64("n", &p.n)?;
                let e = b64("e", &p.e)?;
                (Material::RsaComponents { n, e }, Algorithm::RS256)
            }
            AlgorithmParameters::EllipticCurve(p) => {
                let curve = match p.curve {
                    EllipticCurve::P256 => Curve::P256,
                    EllipticCurve::P384 => Curve::P384,
                    ref other => return Err(KeyError::UnsupportedCurve(format!("{other:?}"))),
                };
                let (x, y) = (b64("x", &p.x)?, b64("y", &p.y)?);
                if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                    return Err(KeyError::Jwk("EC coordinates have the wrong length".into()));
                }
                let point = [&[0x04][..], &x, &y].concat();
                (Material::Ec { curve, point }, curve.algorithm())
            }
            AlgorithmParameters::OctetKeyPair(p) => {
                if p.curve != EllipticCurve::Ed25519 {
                    return Err(KeyError::UnsupportedCurve(format!("{:?}", p.curve)));
                }
                (Material::Ed25519(b64("x", &p.x)?), Algorithm::EdDSA)
            }
            AlgorithmParameters::OctetKey(p) => {
                (Material::Secret(b64("k", &p.value)?), Algorithm::HS256)
            }
            _ => {
                return Err(KeyError::UnsupportedKeyType("unknown kty".into()));
            }
        };
        let alg = match &common.key_algorithm {
            None => default_alg,
            Some(alg) => {
                let name = alg.to_string();
                name.parse::<Algorithm>()
                    .map_err(|_| KeyError::Incompatible {
                        alg: name,
                        key: material.kind(),
                    })?
            }
        };
        let key = Key::prepare(material, alg)?;
        Ok(match &common.key_id {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }

    /// A JSON Web Key given as JSON text.
    pub fn from_jwk_json(json: &str) -> Result<Key, KeyError> {
        let jwk: Jwk = serde_json::from_str(json).map_err(|e| KeyError::Jwk(e.to_string()))?;
        Key::from_jwk(&jwk)
    }

    /// Sets the key id that tokens name in their `kid` header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Key {
        self.kid = Some(kid.into());
        self
    }

    /// Binds the key to another algorithm of its family: an RSA key to `PS256`, say. Refused
    /// across families (RFC 8725 §3.1).
    pub fn with_algorithm(self, alg: Algorithm) -> Result<Key, KeyError> {
        let kid = self.kid;
        Key::prepare(self.material, alg).map(|k| Key { kid, ..k })
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn key_type(&self) -> &'static str {
        self.material.kind()
    }

    fn prepare(material: Material, alg: Algorithm) -> Result<Key, KeyError> {
        use Algorithm as A;
        let incompatible = || KeyError::Incompatible {
            alg: format!("{alg:?}"),
            key: material.kind(),
        };
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Rejected(e.to_string());
        let prepared = match &material {
            Material::Secret(secret) => {
                let (hmac_alg, min) = match alg {
                    A::HS256 => (hmac::HMAC_SHA256, 32),
                    A::HS384 => (hmac::HMAC_SHA384, 48),
                    A::HS512 => (hmac::HMAC_SHA512, 64),
                    _ => return Err(incompatible()),
                };
                if secret.len() < min {
                    return Err(KeyError::WeakSecret {
                        alg: format!("{alg:?}"),
                        min,
                    });
                }
                Prepared::Hmac(hmac::Key::new(hmac_alg, secret))
            }
            Material::RsaComponents { .. } => {
                let params: &'static sig::RsaParameters = match alg {
                    A::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    A::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    A::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    A::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                    A::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                    A::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(incompatible()),
                };
                let Material::RsaComponents { n, e } = &material else {
                    return Err(incompatible());
                };
                if has_roca_fingerprint(n) {
                    return Err(KeyError::Rejected(
                        "the RSA modulus has the ROCA fingerprint (CVE-2017-15361): \
                         its private key can be computed"
                            .into(),
                    ));
                }
                let components = RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                Prepared::Public(components.to_parsed_public_key(params).map_err(rejected)?)
            }
            Material::Ec { curve, point } => {
                if alg != curve.algorithm() {
                    return Err(incompatible());
                }
                let params: &'static sig::EcdsaVerificationAlgorithm = match curve {
                    Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
                    Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
                };
                Prepared::Public(ParsedPublicKey::new(params, point).map_err(rejected)?)
            }
            Material::Ed25519(raw) => {
                if alg != A::EdDSA {
                    return Err(incompatible());
                }
                if raw.len() != 32 {
                    return Err(KeyError::Rejected(
                        "Ed25519 public keys are 32 bytes".into(),
                    ));
                }
                Prepared::Public(ParsedPublicKey::new(&sig::ED25519, raw).map_err(rejected)?)
            }
        };
        Ok(Key {
            kid: None,
            alg,
            material,
            prepared: Arc::new(prepared),
        })
    }

    /// Whether `signature` is this key's signature of `message`. HMAC tags are compared in
    /// constant time.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &*self.prepared {
            Prepared::Public(key) => key.verify_sig(message, signature).is_ok(),
            Prepared::Hmac(key) => {
                let tag = hmac::sign(key, message);
                constant_time::verify_slices_are_equal(tag.as_ref(), signature).is_ok()
            }
        }
    }
}

/// Reads PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_from_pkcs1(der: &[u8]) -> Result<Material, KeyError> {
    use spki::der::asn1::UintRef;
    use spki::der::{Reader, SliceReader};
    let bad = |e: spki::der::Error| KeyError::Der(format!("RSA public key: {e}"));
    let mut reader = SliceReader::new(der).map_err(bad)?;
    let (n, e) = reader
        .sequence(|r| {
            let n: UintRef<'_> = r.decode()?;
            let e: UintRef<'_> = r.decode()?;
            Ok::<_, spki::der::Error>((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })
        .map_err(bad)?;
    reader.finish().map_err(bad)?;
    Ok(Material::RsaComponents { n, e })
}

/// Whether an RSA modulus was made by the Infineon library flaw known as ROCA (CVE-2017-15361).
/// Such moduli are `65537^k mod M` for a product `M` of small primes, so modulo each small prime
/// they fall in the subgroup that 65537 generates. A random modulus fails that test for one of
/// these primes with overwhelming probability.
fn has_roca_fingerprint(modulus: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = modulus
            .iter()
            .fold(0u32, |r, &b| (r * 256 + u32::from(b)) % p);
        let generator = 65537 % p;
        let mut power = 1u32;
        // Walk the cyclic subgroup generated by 65537 modulo p.
        for _ in 0..p {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                break;
            }
        }
        power == residue
    })
}

impl Material {
    fn kind(&self) -> &'static str {
        match self {
            Material::RsaComponents { .. } => "an RSA",
            Material::Ec {
                curve: Curve::P256, ..
            } => "a P-256",
            Material::Ec {
                curve: Curve::P384, ..
            } => "a P-384",
            Material::Ed25519(_) => "an Ed25519",
            Material::Secret(_) => "an HMAC secret",
        }
    }
}

impl Curve {
    fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// Reads a JWK Set (RFC 7517 §5), keeping every key that can verify signatures and skipping,
/// with a debug log, those that cannot (encryption keys, unknown types), so one odd key does not
/// take the whole set down. Keys of one type that share a `kid` are both dropped: the token
/// would choose between them.
///
/// ```
/// use oauth_runtime::keys_from_jwk_set;
///
/// let set = r#"{"keys": [
///   {"kty": "EC", "crv": "P-256", "kid": "sig-1", "use": "sig",
///    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
///   {"kty": "RSA", "kid": "enc-1", "use": "enc", "n": "sXch", "e": "AQAB"}
/// ]}"#;
/// let keys = keys_from_jwk_set(set)?;
/// assert_eq!(keys.len(), 1, "the encryption key is skipped");
/// assert_eq!(keys[0].kid(), Some("sig-1"));
/// # Ok::<(), oauth_runtime::KeyError>(())
/// ```
pub fn keys_from_jwk_set(json: &str) -> Result<Vec<Key>, KeyError> {
    keys_from_set(json, |_| true, usize::MAX)
}

/// The most keys a fetched set may hold: providers publish a handful (two to ten); a set of
/// thousands is an endpoint that wants to make every refresh expensive.
#[cfg(feature = "remote")]
pub(crate) const MAX_REMOTE_KEYS: usize = 100;

/// The members of a JWK that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2,
/// §6.4.1). A key set published for verifiers never carries them.
pub(crate) const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Reads a JWK Set fetched from someone else's server: as [`keys_from_jwk_set`], and also drops,
/// with a warning, every symmetric key (`kty: oct`) and every key with private members. A shared
/// secret served over the network would let whoever read it mint tokens, and a published private
/// key is a compromised one.
#[cfg(feature = "remote")]
pub(crate) fn keys_from_remote_jwk_set(json: &str) -> Result<Vec<Key>, KeyError> {
    keys_from_set(
        json,
        |value| {
            let symmetric = value.get("kty").and_then(|v| v.as_str()) == Some("oct");
            let private = PRIVATE_MEMBERS.iter().any(|m| value.get(*m).is_some());
            if symmetric || private {
                tracing::warn!(
                    kid = ?value.get("kid").and_then(|v| v.as_str()),
                    symmetric,
                    private,
                    "skipping a fetched JWK that is a shared secret or holds private key members"
                );
            }
            !(symmetric || private)
        },
        MAX_REMOTE_KEYS,
    )
}

fn keys_from_set(
    json: &str,
    acceptable: impl Fn(&serde_json::Value) -> bool,
    max_keys: usize,
) -> Result<Vec<Key>, KeyError> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let mut set: Set = serde_json::from_str(json).map_err(|e| KeyError::Jwk(e.to_string()))?;
    if set.keys.len() > max_keys {
        return Err(KeyError::Jwk(format!(
            "the set holds {} keys, more than the {max_keys} accepted",
            set.keys.len()
        )));
    }
    set.keys.retain(acceptable);
    // RFC 7517 §4.5: a kid should name one key; two keys of one type under one kid leave the
    // choice to the token, so neither is trusted. Counted before parsing, so that a broken
    // duplicate still disqualifies its twin.
    let id = |v: &serde_json::Value| match (v.get("kid"), v.get("kty")) {
        (Some(kid), kty) => Some((kid.to_string(), kty.map(ToString::to_string))),
        (None, _) => None,
    };
    let ids: Vec<_> = set.keys.iter().map(id).collect();
    // Counted in one pass: a set of many keys (a hostile endpoint's megabyte of tiny ones) must
    // not cost time in the square of their number.
    let mut uses: HashMap<&(String, Option<String>), usize> = HashMap::new();
    for id in ids.iter().flatten() {
        *uses.entry(id).or_insert(0) += 1;
    }
    let mut keys = Vec::with_capacity(set.keys.len());
    for (index, value) in set.keys.into_iter().enumerate() {
        if ids[index]
            .as_ref()
            .is_some_and(|id| uses.get(id).copied().unwrap_or(0) > 1)
        {
            tracing::warn!(
                index,
                "skipping a JWK whose kid another key of the same type also uses"
            );
            continue;
        }
        let parsed = serde_json::from_value::<Jwk>(value)
            .map_err(|e| KeyError::Jwk(e.to_string()))
            .and_then(|jwk| Key::from_jwk(&jwk));
        match parsed {
            Ok(key) => keys.push(key),
            Err(error) => {
                tracing::debug!(index, %error, "skipping a JWK that cannot verify signatures")
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7518_section_3_2_short_hmac_secrets_are_refused() {
        assert!(matches!(
            Key::hmac(Algorithm::HS256, &[0; 31]),
            Err(KeyError::WeakSecret { .. })
        ));
        assert!(Key::hmac(Algorithm::HS256, &[0; 32]).is_ok());
        assert!(matches!(
            Key::hmac(Algorithm::HS512, &[0; 63]),
            Err(KeyError::WeakSecret { .. })
        ));
    }

    #[test]
    fn rfc8725_section_3_1_keys_stay_in_their_family() {
        let secret = Key::hmac(Algorithm::HS256, &[7; 64]).expect("valid");
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::PS256,
        ] {
            assert!(secret.clone().with_algorithm(alg).is_err(), "{alg:?}");
        }
        assert!(secret.with_algorithm(Algorithm::HS512).is_ok());
    }

    #[test]
    fn private_keys_and_garbage_are_refused_with_a_clear_error() {
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            Key::from_pem(private).err(),
            Some(KeyError::PemLabel("PRIVATE KEY".into()))
        );
        assert!(matches!(Key::from_pem("not pem"), Err(KeyError::Pem(_))));
        assert!(matches!(
            Key::from_der(b"\x30\x03\x02\x01\x00"),
            Err(KeyError::Der(_))
        ));
    }

    #[test]
    fn jwk_use_enc_is_refused_and_sets_skip_it() {
        let enc = r#"{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","use":"enc"}"#;
        assert_eq!(
            Key::from_jwk_json(enc).err(),
            Some(KeyError::NotForSignatures)
        );
        let set = format!(
            r#"{{"keys":[{enc},{{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","kid":"s"}},{{"kty":"XYZ"}}]}}"#
        );
        let keys = keys_from_jwk_set(&set).expect("set parses");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), Some("s"));
    }

    /// RFC 8725 §3.2 and RFC 7517 §5: a set fetched from a URL is a public document; a shared
    /// secret or a private key in it must not become a verification key.
    #[cfg(feature = "remote")]
    #[test]
    fn remote_sets_never_supply_secrets_or_private_keys() {
        let signer = crate::SigningKey::generate(Algorithm::ES256)
            .expect("key")
            .with_kid("public");
        let public = signer.public_jwk().expect("jwk");
        let mut with_d = public.clone();
        with_d["kid"] = "private".into();
        with_d["d"] = "AAAA".into();
        let mut with_k = public.clone();
        with_k["kid"] = "k-member".into();
        with_k["k"] = "AAAA".into();
        let secret = serde_json::json!({
            "kty": "oct", "kid": "secret", "k": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        });
        let set = serde_json::json!({ "keys": [public, with_d, with_k, secret] }).to_string();
        let local: Vec<_> = keys_from_jwk_set(&set).expect("set");
        assert!(
            local.iter().any(|k| k.kid() == Some("secret")),
            "a set the user configures may hold HMAC secrets"
        );
        let remote = keys_from_remote_jwk_set(&set).expect("set");
        let kids: Vec<_> = remote.iter().map(|k| k.kid()).collect();
        assert_eq!(kids, [Some("public")]);
    }

    /// Found by an attack: the duplicate-`kid` count compared every key with every other, so a
    /// megabyte of tiny keys cost seconds per refresh. Now one pass, and fetched sets hold at
    /// most `MAX_REMOTE_KEYS`. (20,000 keys: well under a second in one pass, about half a
    /// minute in the square; the bound sits between, far from both.)
    #[cfg(feature = "remote")]
    #[test]
    fn many_keys_cost_one_pass_and_fetched_sets_are_capped() {
        let key =
            |i: usize| serde_json::json!({"kty": "EC", "kid": format!("k{i}"), "crv": "P-256"});
        let big = serde_json::json!({ "keys": (0..20_000).map(key).collect::<Vec<_>>() });
        let started = std::time::Instant::now();
        assert!(keys_from_jwk_set(&big.to_string()).expect("set").is_empty());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(
            keys_from_remote_jwk_set(&big.to_string()),
            Err(KeyError::Jwk(_))
        ));
        let small =
            serde_json::json!({ "keys": (0..MAX_REMOTE_KEYS).map(key).collect::<Vec<_>>() });
        assert!(keys_from_remote_jwk_set(&small.to_string()).is_ok());
    }
}
