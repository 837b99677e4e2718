//! Runs the photo API on 127.0.0.1 with Rocket and prints how to call it, exactly as the axum
//! example does.

use std::net::Ipv4Addr;

use photos_demo::{DemoIssuer, Options, banner};
use rocket::config::{Config, LogLevel};
use rocket::fairing::AdHoc;

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
    let issuer = DemoIssuer::generate()?;
    let authenticator = issuer.authenticator()?;
    // Rocket's own launch banner would come first; the example's lines are the ones to read.
    let config = Config {
        address: Ipv4Addr::LOCALHOST.into(),
        port: options.port,
        log_level: LogLevel::Critical,
        ..Config::default()
    };
    let rocket = photos_rocket::app(rocket::custom(config), authenticator).attach(
        AdHoc::on_liftoff("banner", move |rocket| {
            Box::pin(async move {
                let api = format!("http://127.0.0.1:{}", rocket.config().port);
                println!("{}", banner(&api, &issuer));
            })
        }),
    );
    rocket.launch().await?;
    Ok(())
}
