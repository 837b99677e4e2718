//! Runs the photo API on 127.0.0.1 with axum and prints how to call it.

use std::net::SocketAddr;
use std::sync::Arc;

use photos_demo::{Options, Roles, init_logging, start_roles};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging("oauth_runtime=debug,info");
    let options = Options::from_args("photos-axum");
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
    let api = format!("http://{}", listener.local_addr()?);
    let Roles {
        server,
        authenticator,
        client,
    } = start_roles(&options, &api).await?;

    axum::serve(listener, photos_axum::app(authenticator, Arc::new(client)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(server);
    Ok(())
}
