//! The baseline: `GET /photos` with no authorization, on axum 0.8 as ours.

use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};
use peers_common::{BODY, PATH, bind, fail};

async fn photos() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], BODY)
}

#[tokio::main]
async fn main() {
    let app = Router::new().route(PATH, get(photos));
    let listener =
        tokio::net::TcpListener::from_std(bind()).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| fail(&format!("serve: {e}")));
}
