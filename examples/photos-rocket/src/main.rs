//! Runs the photo API on 127.0.0.1 with Rocket and prints how to call it, exactly as the axum
//! example does.

use std::net::Ipv4Addr;

use photos_demo::{Options, Roles, init_logging, start_roles};
use rocket::config::{Config, LogLevel};

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging("oauth_runtime=debug,rocket=error,info");
    let options = Options::from_args("photos-rocket");
    // Bind first, as the axum example does, so that the banner can name the real address; Rocket
    // then serves on that port (free again a moment later; port 0 is resolved here).
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))?;
    let port = probe.local_addr()?.port();
    drop(probe);
    let api = format!("http://127.0.0.1:{port}");
    let Roles {
        server,
        authenticator,
        client,
    } = start_roles(&options, &api).await?;
    // Rocket's own launch banner would follow; the example's lines are the ones to read.
    let config = Config {
        address: Ipv4Addr::LOCALHOST.into(),
        port,
        log_level: LogLevel::Critical,
        ..Config::default()
    };
    photos_rocket::app(rocket::custom(config), authenticator, client)
        .launch()
        .await?;
    drop(server);
    Ok(())
}
