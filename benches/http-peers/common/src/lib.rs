//! What every contender of the over-HTTP comparison shares, so that they differ only in the
//! authorization in front of the route: the token's claims, the response body, where the run's
//! key files are and the loopback address to listen on.
//!
//! A server is started as `BIN KEY_DIR` and prints `listening on 127.0.0.1:PORT` once it
//! accepts connections (port 0 unless `PORT` is set), which `scripts/http-peers.sh` waits for.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

/// The `iss` of the token and the issuer every contender requires.
pub const ISSUER: &str = "https://auth.bench.example";
/// The `aud` of the token and the audience every contender requires.
pub const AUDIENCE: &str = "photos-api";
/// The one scope `GET /photos` requires.
pub const SCOPE: &str = "photos:read";
/// The `kid` of the run's key, in the token's header and in the JWK Set.
pub const KID: &str = "bench-1";
/// The route every contender serves.
pub const PATH: &str = "/photos";
/// Its body: small and fixed, so that the handler costs next to nothing and the difference
/// between contenders is their authorization.
pub const BODY: &str = r#"{"photos":[{"id":1,"name":"beach.jpg"},{"id":2,"name":"hills.jpg"}]}"#;

/// The key files `mint` writes and the servers read.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// The public key as SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
    pub public_pem: String,
    /// The public key as a JWK Set with `kid`, `alg` RS256 and `use` sig.
    pub jwks_json: String,
}

/// The key directory: the first argument.
pub fn key_dir() -> PathBuf {
    std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| fail("usage: BIN KEY_DIR (the directory `mint` wrote)"))
}

/// Reads the key files from [`key_dir`]; exits with a message if they are missing.
pub fn key_files() -> KeyFiles {
    let dir = key_dir();
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", dir.join(name).display())))
    };
    KeyFiles {
        public_pem: read("public.pem"),
        jwks_json: read("jwks.json"),
    }
}

/// The listening socket on 127.0.0.1 and the port in `PORT` (0, any free port, if unset), already
/// announced to the script. Loopback only: the comparison never leaves the machine. A std
/// listener, non-blocking, so that each server hands it to its own tokio (`TcpListener::from_std`)
/// whatever axum version it is built on.
pub fn bind() -> TcpListener {
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .unwrap_or_else(|_| fail(&format!("PORT is not a port: {p}"))),
        Err(_) => 0,
    };
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .unwrap_or_else(|e| fail(&format!("bind: {e}")));
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| fail(&e.to_string()));
    // Printed only after the bind succeeded: the script waits for this line.
    println!("listening on {addr}");
    listener
}

/// Ends the process with a message: set-up errors of a benchmark server are the operator's.
pub fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}
