//! `/register`: dynamic client registration (RFC 7591) of public clients with PKCE, for MCP
//! clients that arrive without a `client_id`.

use super::*;
use crate::dev::clients::{Metadata, registration_answer};

/// `POST /register` (RFC 7591 §3): 201 with the client's information (§3.2.1), or 400 with
/// `invalid_redirect_uri` or `invalid_client_metadata` (§3.2.2). Off unless the server enables
/// registration: then 404, as for any path it does not serve.
pub(super) async fn register(
    State(server): State<Arc<Server>>,
    body: axum::body::Bytes,
) -> Response {
    if server.registry.max_registered.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let refuse = |(code, description): (&'static str, &'static str)| {
        oauth_error(OAuthError::new(code, description))
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return refuse((
            "invalid_client_metadata",
            "the request body must be a JSON object of client metadata",
        ));
    };
    let metadata = match Metadata::parse(&request) {
        Ok(metadata) => metadata,
        Err(error) => return refuse(error),
    };
    let Ok(id) = server.random_token() else {
        return oauth_error(RandomFailed.into());
    };
    let name = metadata.client_name.clone();
    let client = server
        .registry
        .register(metadata.into_client(format!("dyn-{id}")));
    let answer = registration_answer(&client, name.as_deref(), unix_now());
    no_store((StatusCode::CREATED, Json(answer)).into_response())
}
