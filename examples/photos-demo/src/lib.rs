//! What the axum and Rocket photo examples share, so that they differ only in their framework:
//! the model, the in-memory store, the demo issuer, the verifier set-up, the flags and the banner.
//!
//! | route                 | needs                              |
//! |-----------------------|------------------------------------|
//! | `GET /photos`         | `photos:read`                      |
//! | `POST /photos`        | `photos:write`                     |
//! | `DELETE /photos/{id}` | `photos:write` and `photos:delete` |
//! | `GET /albums`         | `photos:read` or `albums:read`     |
//! | `GET /health`         | nothing                            |

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use oauth_runtime::{
    Algorithm, Authenticator, AuthenticatorError, ConfigError, JwtVerifier, Key, KeyError,
    SigningKey,
};
use serde::{Deserialize, Serialize};

/// The issuer the demo's tokens name.
pub const ISSUER: &str = "https://photos-demo.local/issuer";
/// The audience the demo's tokens name and the API requires.
pub const AUDIENCE: &str = "photos-api";
/// The realm of the API's challenges.
pub const REALM: &str = "photos";
/// Every scope the API knows.
pub const ALL_SCOPES: &str = "photos:read photos:write photos:delete albums:read";

/// A photo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Photo {
    /// Its id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// The subject of the token that uploaded it.
    pub owner: String,
}

/// The body of `POST /photos`.
#[derive(Debug, Deserialize)]
pub struct NewPhoto {
    /// The title.
    pub title: String,
}

/// An album.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Album {
    /// Its name.
    pub name: String,
    /// How many photos it holds.
    pub photos: usize,
}

#[derive(Debug, Default)]
struct Photos {
    next_id: u64,
    items: Vec<Photo>,
}

/// The in-memory photo store.
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<Mutex<Photos>>);

impl Store {
    fn with<T>(&self, f: impl FnOnce(&mut Photos) -> T) -> T {
        // A panic elsewhere while holding the lock leaves the list intact; keep serving it.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// All photos.
    pub fn list(&self) -> Vec<Photo> {
        self.with(|p| p.items.clone())
    }

    /// Adds a photo owned by `owner`.
    pub fn create(&self, title: String, owner: String) -> Photo {
        self.with(|p| {
            p.next_id += 1;
            let photo = Photo {
                id: p.next_id,
                title,
                owner,
            };
            p.items.push(photo.clone());
            photo
        })
    }

    /// Removes a photo; whether it existed.
    pub fn delete(&self, id: u64) -> bool {
        self.with(|p| {
            let before = p.items.len();
            p.items.retain(|photo| photo.id != id);
            before != p.items.len()
        })
    }

    /// The albums.
    pub fn albums(&self) -> Vec<Album> {
        vec![Album {
            name: "All photos".into(),
            photos: self.with(|p| p.items.len()),
        }]
    }
}

/// The API's verifier: tokens from [`ISSUER`] for [`AUDIENCE`], strictly RFC 9068, signed by one
/// of `keys`.
pub fn verifier(keys: impl IntoIterator<Item = Key>) -> Result<JwtVerifier, ConfigError> {
    JwtVerifier::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_rfc9068(true)
        .keys(keys)
        .build()
}

/// The API's authenticator around `verifier`.
pub fn authenticator(verifier: JwtVerifier) -> Result<Authenticator, AuthenticatorError> {
    Authenticator::builder(verifier).realm(REALM).build()
}

/// Stands in for an authorization server until one runs beside the API: holds a key generated
/// at start and mints RFC 9068 access tokens with it.
#[derive(Debug)]
pub struct DemoIssuer {
    key: SigningKey,
}

impl DemoIssuer {
    /// A fresh ES256 key.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(DemoIssuer {
            key: SigningKey::generate(Algorithm::ES256)?.with_kid("demo-1"),
        })
    }

    /// The authenticator the API uses: trusts this issuer's tokens.
    pub fn authenticator(&self) -> Result<Authenticator, Box<dyn std::error::Error + Send + Sync>> {
        Ok(authenticator(verifier([self.key.verification_key()?])?)?)
    }

    /// An access token for `subject` granting `scopes` (space-delimited), valid for an hour.
    pub fn token(&self, subject: &str, scopes: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.key.sign_jwt(&serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": AUDIENCE,
            "client_id": "demo-client",
            "iat": now,
            "exp": now + 3600,
            "jti": format!("{subject}-{now}-{}", scopes.len()),
            "scope": scopes,
        }))
    }
}

/// The examples' command line: `[--port PORT]`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The API's port on 127.0.0.1 (default 8080; 0 picks a free one).
    pub port: u16,
}

impl Options {
    /// Parses the process arguments; prints usage and exits on anything else.
    pub fn from_args(program: &str) -> Options {
        let usage = || -> ! {
            eprintln!("usage: {program} [--port PORT]   (default port 8080; 0 picks a free one)");
            std::process::exit(2)
        };
        let mut args = std::env::args().skip(1);
        let mut options = Options { port: 8080 };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--port" => {
                    options.port = args
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or_else(|| usage())
                }
                _ => usage(),
            }
        }
        options
    }
}

/// What both examples print at start: where the API is, then tokens and commands to try.
pub fn banner(api: &str, issuer: &DemoIssuer) -> String {
    let all = issuer.token("alice", ALL_SCOPES);
    let read = issuer.token("bob", "photos:read");
    let json = "-H 'content-type: application/json' -d '{\"title\":\"cat\"}'";
    [
        format!("api: {api}"),
        format!("issuer: {ISSUER} (demo: tokens are signed with an ES256 key generated at start)"),
        String::new(),
        "# tokens valid for one hour:".into(),
        format!("export ALL={all}"),
        format!("export READ={read}"),
        String::new(),
        format!("curl -i {api}/health"),
        format!("curl -i {api}/photos                                   # 401, no token"),
        format!("curl -i -H \"Authorization: Bearer $READ\" {api}/photos"),
        format!("curl -i -H \"Authorization: Bearer $READ\" {json} {api}/photos   # 403"),
        format!("curl -i -H \"Authorization: Bearer $ALL\" {json} {api}/photos"),
        format!("curl -i -H \"Authorization: Bearer $ALL\" -X DELETE {api}/photos/1"),
        format!("curl -i -H \"Authorization: Bearer $READ\" {api}/albums"),
    ]
    .join("\n")
}
