//! Signing keys, for the development authorization server, examples and tests: the other side
//! of [`Key`]. A resource server never needs one.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::verify::keys::{Key, KeyError};

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Hmac(Box<hmac::Key>, Vec<u8>),
}

/// A private key that signs JWTs with one algorithm.
///
/// ```
/// use oauth_runtime::{Algorithm, JwtVerifier, SigningKey};
///
/// let signing = SigningKey::generate(Algorithm::ES256)?.with_kid("k1");
/// let token = signing.sign_jwt(&serde_json::json!({
///     "iss": "https://issuer.test", "aud": "api", "exp": 4102444800u64, "scope": "a b",
/// }));
///
/// let verifier = JwtVerifier::builder()
///     .issuer("https://issuer.test")
///     .audience("api")
///     .key(signing.verification_key()?)
///     .build()?;
/// assert!(verifier.verify_token(&token)?.has_scope("b"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    signer: Signer,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn unspecified(what: &str) -> KeyError {
    KeyError::Rejected(format!("could not {what}"))
}

impl SigningKey {
    /// A fresh random key for `alg`: P-256 or P-384 for ES256/ES384, RSA-2048 for RS*/PS*,
    /// Ed25519 for EdDSA, 64 random bytes for HS*.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, KeyError> {
        use Algorithm as A;
        let signer = match alg {
            A::ES256 => Signer::Ecdsa(
                EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| unspecified("generate"))?,
            ),
            A::ES384 => Signer::Ecdsa(
                EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .map_err(|_| unspecified("generate"))?,
            ),
            A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512 => Signer::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| unspecified("generate"))?,
            ),
            A::EdDSA => {
                Signer::Ed25519(Ed25519KeyPair::generate().map_err(|_| unspecified("generate"))?)
            }
            A::HS256 | A::HS384 | A::HS512 => {
                let mut secret = vec![0u8; 64];
                SystemRandom::new()
                    .fill(&mut secret)
                    .map_err(|_| unspecified("generate"))?;
                return SigningKey::hmac(alg, &secret);
            }
            other => {
                return Err(KeyError::Incompatible {
                    alg: format!("{other:?}"),
                    key: "a generated",
                });
            }
        };
        Ok(SigningKey {
            alg,
            kid: None,
            signer,
        })
    }

    /// An HMAC key from a shared secret (at least as long as the hash output).
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<SigningKey, KeyError> {
        // Validates algorithm and length the same way the verifying side does.
        Key::hmac(alg, secret)?;
        let hmac_alg = match alg {
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        };
        Ok(SigningKey {
            alg,
            kid: None,
            signer: Signer::Hmac(Box::new(hmac::Key::new(hmac_alg, secret)), secret.to_vec()),
        })
    }

    /// A private key in PKCS#8 DER: P-256 gives ES256, P-384 ES384, Ed25519 EdDSA, RSA RS256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let (alg, signer) = if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
        {
            (Algorithm::ES256, Signer::Ecdsa(k))
        } else if let Ok(k) = EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, der) {
            (Algorithm::ES384, Signer::Ecdsa(k))
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8(der) {
            (Algorithm::EdDSA, Signer::Ed25519(k))
        } else if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            (Algorithm::RS256, Signer::Rsa(k))
        } else {
            return Err(KeyError::Der(
                "not a PKCS#8 P-256, P-384, Ed25519 or RSA private key".into(),
            ));
        };
        Ok(SigningKey {
            alg,
            kid: None,
            signer,
        })
    }

    /// A private key in PEM (`PRIVATE KEY`, PKCS#8).
    pub fn from_pkcs8_pem(pem_text: impl AsRef<[u8]>) -> Result<SigningKey, KeyError> {
        let block = pem::parse(pem_text.as_ref()).map_err(|e| KeyError::Pem(e.to_string()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(KeyError::PemLabel(block.tag().to_owned()));
        }
        SigningKey::from_pkcs8_der(block.contents())
    }

    /// The key as PKCS#8 PEM, to store it so tokens survive restarts. `None` for HMAC keys.
    pub fn to_pkcs8_pem(&self) -> Option<String> {
        let der: Vec<u8> = match &self.signer {
            Signer::Ecdsa(k) => k.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Signer::Rsa(k) => AsDer::<Pkcs8V1Der<'_>>::as_der(k).ok()?.as_ref().to_vec(),
            Signer::Ed25519(k) => k.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Signer::Hmac(..) => return None,
        };
        Some(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
    }

    /// Sets the `kid` put into every token header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> SigningKey {
        self.kid = Some(kid.into());
        self
    }

    /// Binds an RSA key to another RSA algorithm (RS384, PS256, ...).
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<SigningKey, KeyError> {
        self.verification_key()?.with_algorithm(alg)?;
        self.alg = alg;
        Ok(self)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The public key as DER SubjectPublicKeyInfo; `None` for HMAC.
    pub fn public_key_der(&self) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Ecdsa(k) => k.public_key().as_der().ok().map(|d| d.as_ref().to_vec()),
            Signer::Rsa(k) => k.public_key().as_der().ok().map(|d| d.as_ref().to_vec()),
            Signer::Ed25519(k) => k.public_key().as_der().ok().map(|d| d.as_ref().to_vec()),
            Signer::Hmac(..) => None,
        }
    }

    /// The matching verification key, with the same algorithm and `kid`.
    pub fn verification_key(&self) -> Result<Key, KeyError> {
        let key = match (&self.signer, self.public_key_der()) {
            (Signer::Hmac(_, secret), _) => Key::hmac(self.alg, secret)?,
            (_, Some(der)) => Key::from_der(&der)?.with_algorithm(self.alg)?,
            (_, None) => return Err(unspecified("export the public key")),
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }

    /// The public key as a JWK (RFC 7517) with `kid`, `alg` and `use: sig`; `None` for HMAC,
    /// whose secret must not be published.
    pub fn public_jwk(&self) -> Option<Value> {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &self.signer {
            Signer::Ecdsa(k) => {
                let point = k.public_key().as_ref();
                let n = (point.len() - 1) / 2;
                let crv = if n == 32 { "P-256" } else { "P-384" };
                json!({ "kty": "EC", "crv": crv, "x": b64(&point[1..=n]), "y": b64(&point[n + 1..]) })
            }
            Signer::Rsa(k) => {
                let public = k.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Signer::Ed25519(k) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref()) })
            }
            Signer::Hmac(..) => return None,
        };
        jwk["alg"] = format!("{:?}", self.alg).into();
        jwk["use"] = "sig".into();
        if let Some(kid) = &self.kid {
            jwk["kid"] = kid.clone().into();
        }
        Some(jwk)
    }

    /// Signs `message` (the JWS signing input) and returns the raw signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            // Signing with a valid key and the system RNG does not fail in practice; an empty
            // signature would simply not verify.
            Signer::Ecdsa(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Signer::Ed25519(k) => k.sign(message).as_ref().to_vec(),
            Signer::Hmac(k, _) => hmac::sign(k, message).as_ref().to_vec(),
            Signer::Rsa(k) => {
                let padding: &'static dyn sig::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0; k.public_modulus_len()];
                match k.sign(padding, &rng, message, &mut out) {
                    Ok(()) => out,
                    Err(_) => Vec::new(),
                }
            }
        }
    }

    /// A compact JWS of `claims` with header `{"alg", "typ": "at+jwt", "kid"}` (RFC 9068).
    pub fn sign_jwt(&self, claims: &Value) -> String {
        let mut header = json!({ "alg": format!("{:?}", self.alg), "typ": "at+jwt" });
        if let Some(kid) = &self.kid {
            header["kid"] = kid.clone().into();
        }
        self.sign_jwt_with_header(&header, claims)
    }

    /// A compact JWS with a header of the caller's choosing, signed with this key whatever the
    /// header says: tests use it to forge tokens that must be refused.
    pub fn sign_jwt_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = URL_SAFE_NO_PAD.encode(self.sign(signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_its_verification_key() {
        use Algorithm as A;
        for alg in [
            A::HS256,
            A::HS384,
            A::HS512,
            A::ES256,
            A::ES384,
            A::RS256,
            A::PS256,
            A::RS512,
            A::EdDSA,
        ] {
            let signing = SigningKey::generate(A::RS256)
                .and_then(|k| k.with_algorithm(alg))
                .or_else(|_| SigningKey::generate(alg))
                .expect("key");
            let key = signing.verification_key().expect("public key");
            let msg = b"header.payload";
            assert!(key.verify(msg, &signing.sign(msg)), "{alg:?}");
            assert!(
                !key.verify(b"header.payloaD", &signing.sign(msg)),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn public_keys_load_from_pem_der_and_pkcs1() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::RS256,
        ] {
            let signing = SigningKey::generate(alg).expect("key");
            let der = signing.public_key_der().expect("public key");
            let pem_text = pem::encode(&pem::Pem::new("PUBLIC KEY", der.clone()));
            for key in [Key::from_der(&der), Key::from_pem(&pem_text)] {
                let key = key.expect("loads");
                assert_eq!(key.algorithm(), alg);
                assert!(key.verify(b"m", &signing.sign(b"m")), "{alg:?}");
            }
        }
        // PKCS#1 `RSA PUBLIC KEY`: the bit string inside the SubjectPublicKeyInfo.
        let rsa = SigningKey::generate(Algorithm::RS256).expect("key");
        let der = rsa.public_key_der().expect("public key");
        let info = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()).expect("spki");
        let pkcs1 = info.subject_public_key.as_bytes().expect("bits").to_vec();
        let key =
            Key::from_pem(pem::encode(&pem::Pem::new("RSA PUBLIC KEY", pkcs1))).expect("pkcs1");
        assert!(key.verify(b"m", &rsa.sign(b"m")));
    }

    #[test]
    fn pkcs8_pem_round_trips_and_jwk_verifies() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::RS256,
        ] {
            let signing = SigningKey::generate(alg).expect("key").with_kid("k");
            let pem = signing.to_pkcs8_pem().expect("pem");
            let again = SigningKey::from_pkcs8_pem(&pem).expect("reads back");
            assert_eq!(again.algorithm(), alg);
            let jwk = signing.public_jwk().expect("jwk").to_string();
            let key = Key::from_jwk_json(&jwk).expect("jwk parses");
            assert_eq!((key.algorithm(), key.kid()), (alg, Some("k")));
            assert!(key.verify(b"m", &again.sign(b"m")), "{alg:?}");
        }
    }
}
