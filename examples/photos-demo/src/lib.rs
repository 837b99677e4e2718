//! What the axum and Rocket photo examples share, so that they differ only in their framework:
//! the model, the in-memory store, the embedded development authorization server, the verifier
//! set-up, the web client pages, the flags and the banner.
//!
//! | route                 | needs                              |
//! |-----------------------|------------------------------------|
//! | `GET /photos`         | `photos:read`                      |
//! | `POST /photos`        | `photos:write`                     |
//! | `DELETE /photos/{id}` | `photos:write` and `photos:delete` |
//! | `GET /albums`         | `photos:read` or `albums:read`     |
//! | `GET /health`         | nothing                            |

mod client;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use oauth_runtime::dev::{DevServerConfig, DevServerHandle, StartError};
use oauth_runtime::{
    Authenticator, AuthenticatorError, JwtVerifier, Key, ProtectedResource, VerifierConfigError,
};
use serde::{Deserialize, Serialize};

pub use client::{
    CLIENT_ID, CLIENT_SECRET, ClientApp, HTTP_TIMEOUT, LOGIN_COOKIE, LOGIN_TTL, Login,
    MAX_PENDING_LOGINS, login_cookie,
};

oauth_runtime::scopes! {
    /// See your photos
    pub PHOTOS_READ = "photos:read";
    /// Upload photos
    pub PHOTOS_WRITE = "photos:write";
    /// Delete photos
    pub PHOTOS_DELETE = "photos:delete";
    /// See your albums
    pub ALBUMS_READ = "albums:read";
}

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

/// The API's verifier: tokens from `issuer` for [`AUDIENCE`], strictly RFC 9068, signed by one
/// of `keys`.
pub fn verifier(
    issuer: &str,
    keys: impl IntoIterator<Item = Key>,
) -> Result<JwtVerifier, VerifierConfigError> {
    JwtVerifier::builder()
        .issuer(issuer)
        .audience(AUDIENCE)
        .require_rfc9068(true)
        .keys(keys)
        .build()
}

/// The API's authenticator around `verifier`; with `resource`, its challenges link to the RFC
/// 9728 metadata that the examples serve.
pub fn authenticator(
    verifier: JwtVerifier,
    resource: Option<ProtectedResource>,
) -> Result<Authenticator, AuthenticatorError> {
    let builder = Authenticator::builder(verifier).realm(REALM);
    match resource {
        Some(resource) => builder.protected_resource(resource),
        None => builder,
    }
    .build()
}

/// The examples' command line: `[--port PORT] [--as-port PORT] [--key-file KEY.pem]
/// [--metrics]`.
#[derive(Debug, Clone)]
pub struct Options {
    /// The API's port on 127.0.0.1 (default 8080; 0 picks a free one).
    pub port: u16,
    /// The authorization server's port on 127.0.0.1 (default 9000; 0 picks a free one).
    pub as_port: u16,
    /// The signing key file (PKCS#8 PEM), generated when missing, so tokens survive restarts.
    pub key_file: Option<PathBuf>,
    /// `--metrics`: serve the authentication metrics at `GET /metrics` (Prometheus text
    /// format); the axum example only.
    pub metrics: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 8080,
            as_port: 9000,
            key_file: None,
            metrics: false,
        }
    }
}

impl Options {
    /// Parses the process arguments; prints usage and exits on anything else, and prints the
    /// scope catalog and exits on `--print-scopes`.
    pub fn from_args(program: &str) -> Options {
        let usage = || -> ! {
            eprintln!(
                "usage: {program} [--port PORT] [--as-port PORT] [--key-file KEY.pem] [--metrics] [--print-scopes]\n\
                 (defaults: API on 8080, authorization server on 9000; 0 picks a free port)"
            );
            std::process::exit(2)
        };
        let mut args = std::env::args().skip(1);
        let mut options = Options::default();
        while let Some(arg) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage());
            match arg.as_str() {
                "--port" => options.port = value().parse().unwrap_or_else(|_| usage()),
                "--as-port" => options.as_port = value().parse().unwrap_or_else(|_| usage()),
                "--key-file" => options.key_file = Some(value().into()),
                "--metrics" => options.metrics = true,
                "--print-scopes" => {
                    // The catalog of the running program: its handlers registered at link time.
                    print!("{}", oauth_runtime::catalog::to_markdown());
                    std::process::exit(0)
                }
                _ => usage(),
            }
        }
        options
    }
}

/// Starts the development authorization server with the demo configuration, its redirect URIs
/// pointed at the API's real address `api` (`http://127.0.0.1:PORT`).
pub async fn authorization_server(
    options: &Options,
    api: &str,
) -> Result<DevServerHandle, StartError> {
    let mut config = DevServerConfig::demo();
    config.port = options.as_port;
    config.key_file.clone_from(&options.key_file);
    for client in &mut config.clients {
        client.redirect_uris = vec![format!("{api}/callback")];
    }
    let server = config
        .into_server()
        .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))?;
    server.start().await
}

/// Logs to stderr, `filter` unless `RUST_LOG` says otherwise.
pub fn init_logging(filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Everything beside the API's routes, started as both examples start it.
#[derive(Debug)]
pub struct Roles {
    /// The embedded development authorization server.
    pub server: DevServerHandle,
    /// The API's authenticator, trusting `server` and describing the API per RFC 9728.
    pub authenticator: Authenticator,
    /// The web client's pages.
    pub client: ClientApp,
}

/// Starts the authorization server for the API at `api`, builds the authenticator and the web
/// client, and prints the banner.
pub async fn start_roles(
    options: &Options,
    api: &str,
) -> Result<Roles, Box<dyn std::error::Error + Send + Sync>> {
    let server = authorization_server(options, api).await?;
    let resource = ProtectedResource::new(api, [server.issuer()]);
    let authenticator = authenticator(server.verifier()?, Some(resource))?;
    let client = ClientApp::new(server.issuer(), api);
    println!("{}", banner(&server, api));
    Ok(Roles {
        server,
        authenticator,
        client,
    })
}

/// What both examples print at start: `issuer:` and `api:` first, then commands to try.
pub fn banner(server: &DevServerHandle, api: &str) -> String {
    let issuer = server.issuer();
    let all = server.mint_token("alice", ALL_SCOPES);
    let read = server.mint_token("bob", "photos:read");
    let json = "-H 'content-type: application/json' -d '{\"title\":\"cat\"}'";
    [
        format!("issuer: {issuer}"),
        format!("api: {api}"),
        String::new(),
        format!("# in a browser: {api}/ and log in as alice / wonderland (authorization code + PKCE)"),
        String::new(),
        "# a token from the authorization server (client credentials):".into(),
        format!(
            "export TOKEN=$(curl -s -u {CLIENT_ID}:{CLIENT_SECRET} -d grant_type=client_credentials \
             -d 'scope=photos:read photos:write' {issuer}/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        ),
        "# or ready-made ones, valid for one hour:".into(),
        format!("export ALL={all}"),
        format!("export READ={read}"),
        String::new(),
        format!("curl -i {api}/health"),
        format!("curl -i {api}/photos                                   # 401, no token"),
        format!("curl -i -H \"Authorization: Bearer $TOKEN\" {api}/photos"),
        format!("curl -i -H \"Authorization: Bearer $READ\" {json} {api}/photos   # 403"),
        format!("curl -i -H \"Authorization: Bearer $ALL\" {json} {api}/photos"),
        format!("curl -i -H \"Authorization: Bearer $ALL\" -X DELETE {api}/photos/1"),
        format!("curl -i -H \"Authorization: Bearer $READ\" {api}/albums"),
    ]
    .join("\n")
}
