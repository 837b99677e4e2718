//! Runs the photo API on 127.0.0.1 with axum and prints how to call it.

use std::net::SocketAddr;

use std::sync::Arc;

use oauth_runtime::ProtectedResource;
use photos_demo::{ClientApp, Options, authenticator, authorization_server, banner};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "oauth_runtime=debug,info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let options = Options::from_args("photos-axum");
    if options.print_scopes {
        print!("{}", oauth_runtime::catalog::to_markdown());
        return Ok(());
    }
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
    let api = format!("http://{}", listener.local_addr()?);
    let server = authorization_server(&options, &api).await?;
    let resource = ProtectedResource::new(&api, [server.issuer()]);
    let authenticator = authenticator(server.verifier()?, Some(resource))?;
    let client = Arc::new(ClientApp::new(server.issuer(), &api));
    println!("{}", banner(&server, &api));

    axum::serve(listener, photos_axum::app(authenticator, client))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
