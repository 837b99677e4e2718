//! Runs the photo MCP server on 127.0.0.1 with its development authorization server and prints
//! how to reach it.

use std::net::SocketAddr;

use mcp_photos::{PhotoTools, TOOL_SCOPES, ToolScopes};
use photos_demo::{Options, Store, init_logging};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging("oauth_runtime=debug,info");
    let options = Options::from_args("mcp-photos");
    if options.metrics {
        // The flag is shared with the photo APIs; this example has no /metrics, and saying
        // so beats a flag that silently does nothing.
        eprintln!("mcp-photos: --metrics is not served by this example");
        std::process::exit(2);
    }
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = mcp_photos::authorization_server(&options, &base).await?;
    let authenticator = mcp_photos::authenticator(&server, &base)?;
    let scopes = ToolScopes::new(TOOL_SCOPES, &PhotoTools::tool_names())?;
    println!("{}", mcp_photos::banner(&server, &base));
    let router = mcp_photos::app(authenticator, scopes, Store::default());
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    drop(server);
    Ok(())
}
