//! Runs the photo API on 127.0.0.1 with Rocket and prints how to call it, exactly as the axum
//! example does.

use std::net::Ipv4Addr;

use oauth_runtime::ProtectedResource;
use photos_demo::{ClientApp, Options, authenticator, authorization_server, banner};
use rocket::config::{Config, LogLevel};

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "oauth_runtime=debug,rocket=error,info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let options = Options::from_args("photos-rocket");
    if options.print_scopes {
        print!("{}", oauth_runtime::catalog::to_markdown());
        return Ok(());
    }
    // Bind first, as the axum example does, so that the banner can name the real address; Rocket
    // then serves on that port (free again a moment later; port 0 is resolved here).
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))?;
    let port = probe.local_addr()?.port();
    drop(probe);
    let api = format!("http://127.0.0.1:{port}");
    let server = authorization_server(&options, &api).await?;
    let resource = ProtectedResource::new(&api, [server.issuer()]);
    let authenticator = authenticator(server.verifier()?, Some(resource))?;
    let client = ClientApp::new(server.issuer(), &api);
    println!("{}", banner(&server, &api));
    // Rocket's own launch banner would follow; the example's lines are the ones to read.
    let config = Config {
        address: Ipv4Addr::LOCALHOST.into(),
        port,
        log_level: LogLevel::Critical,
        ..Config::default()
    };
    let rocket = photos_rocket::app(rocket::custom(config), authenticator, client);
    rocket.launch().await?;
    drop(server);
    Ok(())
}
