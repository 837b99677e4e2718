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
    // Before anything records: handles taken earlier would stay with no recorder.
    let metrics = if options.metrics {
        let handle = photos_axum::install_metrics()?;
        // Histogram samples wait in buffers until drained; scrapes drain them too, but a
        // process nobody scrapes must not grow.
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        Some(handle)
    } else {
        None
    };
    let Roles {
        server,
        authenticator,
        client,
    } = start_roles(&options, &api).await?;
    if metrics.is_some() {
        println!("\ncurl -s {api}/metrics | grep ^oauth_");
    }
    let client = Arc::new(client);
    let router = match metrics {
        Some(handle) => photos_axum::app_with_metrics(authenticator, client, handle),
        None => photos_axum::app(authenticator, client),
    };

    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(server);
    Ok(())
}
