//! The HTTP endpoints, one module each. Paths are advertised by the metadata document, so
//! clients need only the issuer URL. This module holds the router and what several endpoints
//! share (limits, OAuth error answers, client and token look-up); each endpoint module takes
//! those and its siblings' items with `use super::*`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, PRAGMA, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::config::{Client, Grant};
use super::page::{consent_page, consent_response, error_page};
use super::params::{AuthMethod, OAuthError, Params, authenticate_client};
use super::store::{
    Challenge, CodeRecord, GrantRecord, Login, Pending, RandomFailed, RefreshRecord,
};
use super::{ACR_MFA, ACR_PASSWORD, Server, SignIn, later, resource_indicator, unix_now};
use crate::scope::ScopeSet;

mod authorize;
mod introspect;
mod metadata;
mod register;
mod revoke;
mod token;

use authorize::*;
use introspect::*;
use metadata::*;
use register::*;
use revoke::*;
use token::*;

/// Request bodies larger than this are refused with 413 before they are parsed.
const MAX_BODY: usize = 16 * 1024;

/// Query strings larger than this are refused.
const MAX_QUERY: usize = 8 * 1024;

pub(crate) fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize).post(decide))
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke))
        .route("/register", post(register))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}

/// Validates a requested scope against the scopes the server knows; returns it normalised.
fn known_scope(server: &Server, requested: Option<&str>) -> Result<String, &'static str> {
    let set = ScopeSet::parse_delimited(requested.unwrap_or_default())
        .map_err(|_| "the scope is malformed")?;
    if set.iter().all(|s| server.knows_scope(s.as_str())) {
        Ok(set.to_string())
    } else {
        Err("a requested scope is unknown")
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(error: OAuthError) -> Response {
    let body = Json(json!({ "error": error.code, "error_description": error.description }));
    let mut response = (
        StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    if error.basic_challenge {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauth-dev-server\""),
        );
    }
    no_store(response)
}

fn err(code: &'static str, description: &'static str) -> OAuthError {
    OAuthError::new(code, description)
}

impl From<RandomFailed> for OAuthError {
    fn from(_: RandomFailed) -> OAuthError {
        err(
            "server_error",
            "the server's random number generator failed; nothing was issued",
        )
    }
}

/// The shared start of introspection and revocation: parameters, client authentication and the
/// `token` parameter.
fn token_and_client(
    server: &Server,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Arc<Client>, AuthMethod, String), OAuthError> {
    let params = Params::parse(body).map_err(|why| err("invalid_request", why))?;
    let (client, method) = authenticate_client(server, headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| err("invalid_request", "token is required"))?;
    Ok((client, method, token.to_owned()))
}
