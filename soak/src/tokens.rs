//! The requests of the mix: each kind of token with what it deserves. All tokens are made once,
//! before the run (and the rotated-in key's once, at the rotation), so that the run itself
//! allocates nothing that grows with the number of requests.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::header::HeaderValue;
use oauth_runtime::dev::DevServerHandle;
use oauth_runtime::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::oracle::{Answer, Deserves};

/// The kinds of requests, in the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Valid,
    LacksScope,
    Expired,
    Forged,
    WrongAudience,
    UnknownKid,
    Malformed,
    BadSyntax,
    NoToken,
    NewKeyValid,
    NewKeyLacksScope,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Valid,
        Kind::LacksScope,
        Kind::Expired,
        Kind::Forged,
        Kind::WrongAudience,
        Kind::UnknownKid,
        Kind::Malformed,
        Kind::BadSyntax,
        Kind::NoToken,
        Kind::NewKeyValid,
        Kind::NewKeyLacksScope,
    ];

    /// The mix, cycled through by every connection from its own starting point: valid tokens
    /// are the most common, as in real traffic.
    pub const MIX: [Kind; 14] = [
        Kind::Valid,
        Kind::Expired,
        Kind::NewKeyValid,
        Kind::Forged,
        Kind::Valid,
        Kind::LacksScope,
        Kind::Malformed,
        Kind::WrongAudience,
        Kind::NewKeyValid,
        Kind::UnknownKid,
        Kind::Valid,
        Kind::BadSyntax,
        Kind::NewKeyLacksScope,
        Kind::NoToken,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Valid => "valid",
            Kind::LacksScope => "valid, lacks scope",
            Kind::Expired => "expired",
            Kind::Forged => "forged (wrong key)",
            Kind::WrongAudience => "wrong audience",
            Kind::UnknownKid => "unknown kid",
            Kind::Malformed => "malformed",
            Kind::BadSyntax => "bad header syntax",
            Kind::NoToken => "no token",
            Kind::NewKeyValid => "new key, valid",
            Kind::NewKeyLacksScope => "new key, lacks scope",
        }
    }

    pub fn deserves(self) -> Deserves {
        match self {
            Kind::Valid => Deserves::WithKeys(Answer::Ok),
            Kind::LacksScope => Deserves::WithKeys(Answer::Forbidden),
            Kind::Expired => Deserves::WithKeys(Answer::Expired),
            Kind::Forged | Kind::WrongAudience | Kind::UnknownKid => {
                Deserves::WithKeys(Answer::Invalid)
            }
            Kind::Malformed => Deserves::Always(Answer::Invalid),
            Kind::BadSyntax => Deserves::Always(Answer::BadRequest),
            Kind::NoToken => Deserves::Always(Answer::NoToken),
            Kind::NewKeyValid => Deserves::WithNewKey(Answer::Ok),
            Kind::NewKeyLacksScope => Deserves::WithNewKey(Answer::Forbidden),
        }
    }
}

/// One request: its path and `Authorization` header.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: &'static str,
    pub authorization: Option<HeaderValue>,
}

/// Every request of the mix, by kind; several variants for some kinds.
#[derive(Debug)]
pub struct Tokens {
    by_kind: Vec<Vec<Request>>,
    /// Made at the rotation.
    new_key: OnceLock<[Vec<Request>; 2]>,
}

/// The kid of the dev server's first key, which the soak also holds to sign the tokens the
/// server will not mint (expired, wrong audience).
pub const FIRST_KID: &str = "soak-first";

fn bearer(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}")).ok()
}

fn get(path: &'static str, token: &str) -> Result<Request, String> {
    Ok(Request {
        path,
        authorization: Some(bearer(token).ok_or("a token that is not a header value")?),
    })
}

fn raw(path: &'static str, header: &[u8]) -> Result<Request, String> {
    Ok(Request {
        path,
        authorization: Some(
            HeaderValue::from_bytes(header).map_err(|e| format!("header {header:?}: {e}"))?,
        ),
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 9068 claims as the dev server would issue them, with `overrides` applied.
fn claims(issuer: &str, scope: &str, overrides: Value) -> Value {
    let now = now();
    let mut claims = json!({
        "iss": issuer,
        "sub": "mallory",
        "aud": photos_demo::AUDIENCE,
        "client_id": "soak",
        "iat": now,
        "exp": now + 3600,
        "jti": format!("soak-{now}"),
        "scope": scope,
    });
    if let (Some(claims), Some(overrides)) = (claims.as_object_mut(), overrides.as_object()) {
        for (name, value) in overrides {
            claims.insert(name.clone(), value.clone());
        }
    }
    claims
}

impl Tokens {
    /// `first` is a copy of the key the dev server started with.
    pub fn new(server: &DevServerHandle, first: &SigningKey) -> Result<Tokens, String> {
        let issuer = server.issuer();
        let key_error = |e: oauth_runtime::KeyError| e.to_string();
        let attacker = SigningKey::generate(Algorithm::ES256)
            .map_err(key_error)?
            .with_kid(FIRST_KID);
        let attacker_rsa = SigningKey::generate(Algorithm::RS256)
            .map_err(key_error)?
            .with_kid(FIRST_KID);
        let stranger = SigningKey::generate(Algorithm::ES256)
            .map_err(key_error)?
            .with_kid("soak-nobody-published-this");
        let hmac = SigningKey::hmac(Algorithm::HS256, &[7u8; 32])
            .map_err(key_error)?
            .with_kid(FIRST_KID);
        let good = claims(issuer, photos_demo::ALL_SCOPES, json!({}));
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());

        let mut by_kind: Vec<Vec<Request>> = vec![Vec::new(); Kind::ALL.len()];
        by_kind[Kind::Valid.index()] = vec![
            get(
                "/photos",
                &server.mint_token("alice", photos_demo::ALL_SCOPES),
            )?,
            get("/albums", &server.mint_token("bob", "albums:read"))?,
        ];
        by_kind[Kind::LacksScope.index()] =
            vec![get("/photos", &server.mint_token("bob", "albums:read"))?];
        by_kind[Kind::Expired.index()] = vec![get(
            "/photos",
            &first.sign_jwt(&claims(
                issuer,
                "photos:read",
                json!({ "iat": now() - 7200, "exp": now() - 3600 }),
            )),
        )?];
        by_kind[Kind::Forged.index()] = vec![
            get("/photos", &attacker.sign_jwt(&good))?,
            // RS256 against the ES256 key of that kid: an algorithm mismatch.
            get("/photos", &attacker_rsa.sign_jwt(&good))?,
        ];
        by_kind[Kind::WrongAudience.index()] = vec![get(
            "/photos",
            &first.sign_jwt(&claims(
                issuer,
                "photos:read",
                json!({ "aud": "another-api" }),
            )),
        )?];
        by_kind[Kind::UnknownKid.index()] = vec![get("/photos", &stranger.sign_jwt(&good))?];
        let none_header = b64(&json!({ "alg": "none", "typ": "at+jwt" }));
        let crit_null = b64(&json!({ "alg": "ES256", "kid": FIRST_KID, "crit": null }));
        let payload = b64(&good);
        by_kind[Kind::Malformed.index()] = vec![
            get("/photos", "not-a-jwt")?,
            get("/photos", "a.b.c")?,
            get("/photos", &format!("{none_header}.{payload}."))?,
            get("/photos", &format!("{crit_null}.{payload}.AAAA"))?,
            // A shared-secret algorithm: never accepted from a remote key set.
            get("/photos", &hmac.sign_jwt(&good))?,
            get("/photos", &"A".repeat(17 * 1024))?,
        ];
        by_kind[Kind::BadSyntax.index()] = vec![
            raw("/photos", b"Bearer two tokens")?,
            raw("/photos", br#"Bearer abc"def"#)?,
            raw("/photos", b"Bearer caf\xc3\xa9")?,
            raw("/photos", b"Bearer")?,
        ];
        by_kind[Kind::NoToken.index()] = vec![
            Request {
                path: "/photos",
                authorization: None,
            },
            raw("/photos", b"Basic ZGVtbzpkZW1v")?,
        ];
        Ok(Tokens {
            by_kind,
            new_key: OnceLock::new(),
        })
    }

    /// Rotates the dev server's key and makes the tokens of the new key; returns its `kid`.
    pub fn rotate(&self, server: &DevServerHandle) -> Result<String, String> {
        server.rotate_key().map_err(|e| e.to_string())?;
        let valid = server.mint_token("carol", photos_demo::ALL_SCOPES);
        let kid = kid_of(&valid).ok_or("the new token has no kid")?;
        let lacks = server.mint_token("carol", "albums:read");
        let _ = self.new_key.set([
            vec![get("/photos", &valid)?, get("/albums", &valid)?],
            vec![get("/photos", &lacks)?],
        ]);
        Ok(kid)
    }

    /// The `n`th request of `kind`, and the kind actually sent: until the rotation, the new
    /// key's kinds are sent as their old-key counterparts.
    pub fn pick(&self, kind: Kind, n: usize) -> (Kind, &Request) {
        let (kind, variants) = match (kind, self.new_key.get()) {
            (Kind::NewKeyValid, Some([valid, _])) => (kind, valid),
            (Kind::NewKeyLacksScope, Some([_, lacks])) => (kind, lacks),
            (Kind::NewKeyValid, None) => (Kind::Valid, &self.by_kind[Kind::Valid.index()]),
            (Kind::NewKeyLacksScope, None) => {
                (Kind::LacksScope, &self.by_kind[Kind::LacksScope.index()])
            }
            (kind, _) => (kind, &self.by_kind[kind.index()]),
        };
        (kind, &variants[n % variants.len()])
    }
}

/// The `kid` in a compact JWS's header.
fn kid_of(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: Value = serde_json::from_slice(&json).ok()?;
    value["kid"].as_str().map(str::to_owned)
}
