//! The photo API, protected with `#[requires_scope]` on axum.
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

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use oauth_runtime::{
    Algorithm, Authenticator, Claims, JwtVerifier, Key, SigningKey, requires_scope,
};
use serde::{Deserialize, Serialize};

/// The issuer the demo's tokens name.
pub const ISSUER: &str = "https://photos-demo.local/issuer";
/// The audience the demo's tokens name and the API requires.
pub const AUDIENCE: &str = "photos-api";
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
}

#[requires_scope("photos:read")]
async fn list_photos(State(store): State<Store>) -> Json<Vec<Photo>> {
    Json(store.with(|p| p.items.clone()))
}

#[requires_scope("photos:write")]
async fn create_photo(
    State(store): State<Store>,
    claims: Claims,
    Json(new): Json<NewPhoto>,
) -> (StatusCode, Json<Photo>) {
    let owner = claims.subject().unwrap_or("unknown").to_owned();
    let photo = store.with(|p| {
        p.next_id += 1;
        let photo = Photo {
            id: p.next_id,
            title: new.title,
            owner,
        };
        p.items.push(photo.clone());
        photo
    });
    (StatusCode::CREATED, Json(photo))
}

#[requires_scope("photos:write", "photos:delete")]
async fn delete_photo(State(store): State<Store>, Path(id): Path<u64>) -> StatusCode {
    let removed = store.with(|p| {
        let before = p.items.len();
        p.items.retain(|photo| photo.id != id);
        before != p.items.len()
    });
    if removed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[requires_scope(any("photos:read", "albums:read"))]
async fn list_albums(State(store): State<Store>) -> Json<Vec<Album>> {
    let photos = store.with(|p| p.items.len());
    Json(vec![Album {
        name: "All photos".into(),
        photos,
    }])
}

async fn health() -> &'static str {
    "ok"
}

/// The API's routes, protected by `authenticator`.
pub fn app(authenticator: Authenticator) -> Router {
    Router::new()
        .route("/photos", get(list_photos).post(create_photo))
        .route("/photos/{id}", delete(delete_photo))
        .route("/albums", get(list_albums))
        .route("/health", get(health))
        .with_state(Store::default())
        .layer(authenticator.layer())
}

/// The realm of the API's challenges.
pub const REALM: &str = "photos";

/// The API's verifier: tokens from [`ISSUER`] for [`AUDIENCE`], strictly RFC 9068, signed by one
/// of `keys`.
pub fn verifier(
    keys: impl IntoIterator<Item = Key>,
) -> Result<JwtVerifier, oauth_runtime::ConfigError> {
    JwtVerifier::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .require_rfc9068(true)
        .keys(keys)
        .build()
}

/// The API's authenticator around `verifier`.
pub fn authenticator(
    verifier: JwtVerifier,
) -> Result<Authenticator, oauth_runtime::AuthenticatorError> {
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
    pub fn generate() -> Result<Self, oauth_runtime::KeyError> {
        Ok(DemoIssuer {
            key: SigningKey::generate(Algorithm::ES256)?.with_kid("demo-1"),
        })
    }

    /// A verifier that trusts this issuer's tokens for [`AUDIENCE`], strictly per RFC 9068.
    pub fn verifier(&self) -> Result<JwtVerifier, Box<dyn std::error::Error + Send + Sync>> {
        Ok(verifier([self.key.verification_key()?])?)
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
