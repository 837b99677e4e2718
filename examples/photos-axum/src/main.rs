//! Runs the photo API on 127.0.0.1 and prints how to call it.

use std::net::SocketAddr;

use photos_axum::{ALL_SCOPES, DemoIssuer, ISSUER, app, authenticator};

fn usage() -> ! {
    eprintln!("usage: photos-axum [--port PORT]   (default port 8080; 0 picks a free one)");
    std::process::exit(2)
}

fn parse_port() -> u16 {
    let mut args = std::env::args().skip(1);
    let mut port = 8080;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    port
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "oauth_runtime=debug,info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let port = parse_port();
    let issuer = DemoIssuer::generate()?;
    let authenticator = authenticator(issuer.verifier()?)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let api = format!("http://{}", listener.local_addr()?);

    let all = issuer.token("alice", ALL_SCOPES);
    let read = issuer.token("bob", "photos:read");
    println!("api: {api}");
    println!("issuer: {ISSUER} (demo: tokens are signed with an ES256 key generated at start)");
    println!();
    println!("# tokens valid for one hour:");
    println!("export ALL={all}");
    println!("export READ={read}");
    println!();
    println!("curl -i {api}/health");
    println!("curl -i {api}/photos                                   # 401, no token");
    println!("curl -i -H \"Authorization: Bearer $READ\" {api}/photos");
    println!(
        "curl -i -H \"Authorization: Bearer $READ\" -H 'content-type: application/json' -d '{{\"title\":\"cat\"}}' {api}/photos   # 403"
    );
    println!(
        "curl -i -H \"Authorization: Bearer $ALL\" -H 'content-type: application/json' -d '{{\"title\":\"cat\"}}' {api}/photos"
    );
    println!("curl -i -H \"Authorization: Bearer $ALL\" -X DELETE {api}/photos/1");
    println!("curl -i -H \"Authorization: Bearer $READ\" {api}/albums");

    axum::serve(listener, app(authenticator))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
