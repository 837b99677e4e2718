//! The HTTP endpoints. Paths are advertised by the metadata document, so clients need only the
//! issuer URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, PRAGMA, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::config::{Client, Grant};
use super::page::{consent_page, error_page};
use super::params::{AuthMethod, OAuthError, Params, authenticate_client};
use super::store::{Challenge, CodeRecord, GrantRecord, Pending, RandomFailed, RefreshRecord};
use super::{Server, SignIn, later, unix_now};
use crate::scope::ScopeSet;

/// Request bodies larger than this are refused with 413 before they are parsed.
const MAX_BODY: usize = 16 * 1024;
/// Query strings larger than this are refused.
const MAX_QUERY: usize = 8 * 1024;
/// How long a consent page stays answerable.
const PENDING_TTL: Duration = Duration::from_secs(600);
const CSRF_COOKIE: &str = "oauth_dev_csrf";

pub(crate) fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize).post(decide))
        .route("/token", post(token))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}

async fn metadata(State(server): State<Arc<Server>>) -> Json<Value> {
    let any = |grant| server.clients.values().any(|c: &Client| c.may(grant));
    let mut grants = vec!["authorization_code", "client_credentials", "refresh_token"];
    if any(Grant::Password) {
        grants.push("password");
    }
    if any(Grant::Implicit) {
        grants.push("implicit");
    }
    let mut response_types = vec!["code"];
    if any(Grant::Implicit) {
        response_types.push("token");
    }
    let mut pkce = vec!["S256"];
    if server.clients.values().any(|c| c.allow_plain_pkce) {
        pkce.push("plain");
    }
    let base = &server.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "scopes_supported": server.scope_names(),
        "response_types_supported": response_types,
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": pkce,
    }))
}

async fn jwks(State(server): State<Arc<Server>>) -> Json<Value> {
    Json(server.jwks())
}

/// Where an authorization answer goes: the client's redirect URI, with parameters in the query
/// (code flow) or the fragment (implicit, RFC 6749 §4.2.2).
struct Redirect<'a> {
    uri: &'a str,
    fragment: bool,
    state: Option<&'a str>,
}

impl Redirect<'_> {
    fn with(&self, pairs: &[(&str, &str)]) -> Response {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = self.state {
            query.append_pair("state", state);
        }
        let separator = if self.fragment {
            '#'
        } else if self.uri.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!("{}{separator}{}", self.uri, query.finish());
        match HeaderValue::try_from(location) {
            Ok(location) => (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response(),
            Err(_) => error_page(StatusCode::BAD_REQUEST, "the redirect URI cannot be used"),
        }
    }

    /// `description` is a fixed text: RFC 6749 §4.1.2.1 limits its characters as §5.2 does.
    fn error(&self, code: &str, description: &'static str) -> Response {
        self.with(&[("error", code), ("error_description", description)])
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters; the same shape for a challenge.
fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
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

/// `GET /authorize`: checks the request, then shows the login and consent page. Errors about the
/// client or its redirect URI are shown here and never redirected (RFC 6749 §4.1.2.1).
async fn authorize(State(server): State<Arc<Server>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY {
        return error_page(
            StatusCode::URI_TOO_LONG,
            "the authorization request is too long",
        );
    }
    let params = match Params::parse(query.as_bytes()) {
        Ok(params) => params,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let Some(client) = params
        .get("client_id")
        .and_then(|id| server.clients.get(id))
    else {
        return error_page(StatusCode::BAD_REQUEST, "unknown or missing client_id");
    };
    let (redirect_uri, redirect_uri_sent) = match params.get("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => (uri.to_owned(), true),
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "redirect_uri is not registered for this client (exact match)",
            );
        }
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => return error_page(StatusCode::BAD_REQUEST, "redirect_uri is required"),
    };
    let state = params.get("state");
    let implicit = params.get("response_type") == Some("token");
    let redirect = Redirect {
        uri: &redirect_uri,
        fragment: implicit,
        state,
    };

    match params.get("response_type") {
        Some("code") if client.may(Grant::AuthorizationCode) => {}
        Some("token") if client.may(Grant::Implicit) => {}
        Some("code" | "token") => {
            return redirect.error(
                "unauthorized_client",
                "this client may not use this response type",
            );
        }
        Some(_) => {
            return redirect.error("unsupported_response_type", "response_type must be code");
        }
        None => return redirect.error("invalid_request", "response_type is required"),
    }
    let scope = match known_scope(&server, params.get("scope")) {
        Ok(scope) => scope,
        Err(why) => return redirect.error("invalid_scope", why),
    };
    let challenge = if implicit {
        None
    } else {
        match (
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        ) {
            (None, Some(_)) => {
                return redirect.error(
                    "invalid_request",
                    "code_challenge_method without code_challenge",
                );
            }
            (None, None) if client.secret.is_none() => {
                return redirect.error(
                    "invalid_request",
                    "public clients must use PKCE (code_challenge with S256)",
                );
            }
            (None, None) => None,
            (Some(c), _) if !pkce_shaped(c) => {
                return redirect.error("invalid_request", "code_challenge is malformed");
            }
            (Some(c), Some("S256")) => Some(Challenge {
                plain: false,
                value: c.to_owned(),
            }),
            // RFC 7636 §4.3: an absent method means plain.
            (Some(c), Some("plain") | None) if client.allow_plain_pkce => Some(Challenge {
                plain: true,
                value: c.to_owned(),
            }),
            (Some(_), Some("plain") | None) => {
                return redirect.error(
                    "invalid_request",
                    "plain PKCE is not accepted: use code_challenge_method=S256",
                );
            }
            (Some(_), Some(_)) => {
                return redirect.error("invalid_request", "unsupported code_challenge_method");
            }
        }
    };

    let pending = Pending {
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_sent,
        scope,
        state: state.map(str::to_owned),
        challenge,
        implicit,
        expires: later(PENDING_TTL),
        attempts_left: server.login_limits.per_page,
    };
    let Ok(csrf) = server.random_token() else {
        return random_failed_page();
    };
    let page = consent_page(&server, &pending, &csrf, None);
    server.store.lock().add_pending(csrf.clone(), pending);
    let cookie = format!("{CSRF_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/authorize");
    let mut response = Html(page).into_response();
    if let Ok(cookie) = HeaderValue::try_from(cookie) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    // The consent page must not be framed by another site (RFC 6749 §10.13).
    response
        .headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    no_store(response)
}

fn random_failed_page() -> Response {
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server's random number generator failed; nothing was issued",
    )
}

fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(n, v)| (n == name).then_some(v))
}

/// `POST /authorize`: the answer of the consent form.
async fn decide(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let params = match Params::parse(&body) {
        Ok(params) => params,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    // Double submit: the token in the form must equal the one in the SameSite cookie that came
    // with the page, and name a page this server showed.
    let csrf = match (
        params.get("csrf_token"),
        cookie_value(&headers, CSRF_COOKIE),
    ) {
        (Some(form), Some(cookie)) if form == cookie => form,
        _ => {
            return error_page(
                StatusCode::FORBIDDEN,
                "this form was not sent from its sign-in page (CSRF check failed)",
            );
        }
    };
    let Some(pending) = server.store.lock().pending.get(csrf).cloned() else {
        return error_page(
            StatusCode::FORBIDDEN,
            "this sign-in page has expired or was already used",
        );
    };
    if pending.expires <= Instant::now() {
        return error_page(StatusCode::FORBIDDEN, "this sign-in page has expired");
    }
    let redirect = Redirect {
        uri: &pending.redirect_uri,
        fragment: pending.implicit,
        state: pending.state.as_deref(),
    };
    match params.get("decision") {
        Some("deny") => {
            server.store.lock().pending.remove(csrf);
            return redirect.error("access_denied", "the user denied the request");
        }
        Some("approve") => {}
        _ => return error_page(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    }
    let (status, message) = match server.sign_in(
        &pending.client_id,
        params.get("username"),
        params.get("password"),
    ) {
        SignIn::Ok(user) => {
            if server.store.lock().pending.remove(csrf).is_none() {
                return error_page(StatusCode::FORBIDDEN, "this sign-in page was already used");
            }
            return match issue_from_page(&server, &pending, &redirect, &user.username) {
                Ok(response) => response,
                Err(RandomFailed) => random_failed_page(),
            };
        }
        SignIn::Wrong => (StatusCode::UNAUTHORIZED, "wrong username or password"),
        SignIn::Locked => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins: try again later",
        ),
    };
    // Each failure, a locked one too, uses up one of the page's attempts: a page is not a
    // licence to guess for as long as it is open.
    let attempts_left = {
        let mut store = server.store.lock();
        let left = store.pending.get_mut(csrf).map_or(0, |p| {
            p.attempts_left = p.attempts_left.saturating_sub(1);
            p.attempts_left
        });
        if left == 0 {
            store.pending.remove(csrf);
        }
        left
    };
    if attempts_left == 0 {
        return no_store(error_page(
            status,
            "too many failed sign-ins on this page: start again from the application",
        ));
    }
    let page = consent_page(&server, &pending, csrf, Some(message));
    no_store((status, Html(page)).into_response())
}

/// The answer to an approved consent page: a code, or for the implicit grant a token.
fn issue_from_page(
    server: &Server,
    pending: &Pending,
    redirect: &Redirect<'_>,
    subject: &str,
) -> Result<Response, RandomFailed> {
    if pending.implicit {
        let token = server.mint(
            &pending.client_id,
            subject,
            &pending.scope,
            None,
            &Value::Null,
        )?;
        let expires_in = server.lifetimes.access_token.as_secs().to_string();
        return Ok(redirect.with(&[
            ("access_token", &token),
            ("token_type", "Bearer"),
            ("expires_in", &expires_in),
            ("scope", &pending.scope),
        ]));
    }
    let code = server.random_token()?;
    server.store.lock().codes.insert(
        code.clone(),
        CodeRecord {
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_sent: pending.redirect_uri_sent,
            subject: subject.to_owned(),
            scope: pending.scope.clone(),
            challenge: pending.challenge.clone(),
            expires: later(server.lifetimes.code),
            used: false,
            grant: None,
        },
    );
    Ok(redirect.with(&[("code", &code)]))
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

/// `POST /token` (RFC 6749 §3.2, §4.1.3, §4.3.2, §4.4.2, §6).
async fn token(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&server, &headers, &body) {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(error) => oauth_error(error),
    }
}

fn issue(server: &Server, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::parse(body).map_err(|why| err("invalid_request", why))?;
    let (client, method) = authenticate_client(server, headers, &params)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| err("invalid_request", "grant_type is required"))?;
    let needed = match grant_type {
        "authorization_code" => Grant::AuthorizationCode,
        "client_credentials" => Grant::ClientCredentials,
        "refresh_token" => Grant::RefreshToken,
        "password" => Grant::Password,
        _ => {
            return Err(err(
                "unsupported_grant_type",
                "supported: authorization_code, client_credentials, refresh_token",
            ));
        }
    };
    if !client.may(needed) {
        return Err(err(
            "unauthorized_client",
            "this client may not use this grant type",
        ));
    }
    match needed {
        Grant::AuthorizationCode => exchange_code(server, client, &params),
        Grant::ClientCredentials => {
            if method == AuthMethod::None {
                return Err(err(
                    "unauthorized_client",
                    "client_credentials needs a confidential client",
                ));
            }
            let scope = known_scope(server, params.get("scope"))
                .map_err(|why| err("invalid_scope", why))?;
            let access = server.mint(&client.id, &client.id, &scope, None, &Value::Null)?;
            Ok(tokens(server, access, None, &scope))
        }
        Grant::RefreshToken => refresh(server, client, &params),
        _ => {
            let user =
                match server.sign_in(&client.id, params.get("username"), params.get("password")) {
                    SignIn::Ok(user) => user,
                    SignIn::Wrong => {
                        return Err(err("invalid_grant", "wrong username or password"));
                    }
                    SignIn::Locked => {
                        return Err(err(
                            "invalid_grant",
                            "too many failed sign-ins: try again later",
                        ));
                    }
                };
            let scope = known_scope(server, params.get("scope"))
                .map_err(|why| err("invalid_scope", why))?;
            let grant = server.store.lock().new_grant(new_grant_record(
                server,
                client,
                &user.username,
                &scope,
            ));
            grant_tokens(server, client, grant, &user.username, &scope)
        }
    }
}

fn tokens(server: &Server, access: String, refresh: Option<String>, scope: &str) -> Value {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": server.lifetimes.access_token.as_secs(),
        "scope": scope,
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = refresh.into();
    }
    body
}

/// A grant, kept (until its tokens say otherwise) as long as the first tokens issued from it.
fn new_grant_record(server: &Server, client: &Client, subject: &str, scope: &str) -> GrantRecord {
    let mut lifetime = server.lifetimes.access_token;
    if client.may(Grant::RefreshToken) {
        lifetime = lifetime.max(server.lifetimes.refresh_token);
    }
    GrantRecord {
        client_id: client.id.clone(),
        subject: subject.to_owned(),
        scope: scope.to_owned(),
        revoked: false,
        expires: later(lifetime),
    }
}

/// An access token, and a refresh token when the client may refresh.
fn grant_tokens(
    server: &Server,
    client: &Client,
    grant: u64,
    subject: &str,
    scope: &str,
) -> Result<Value, OAuthError> {
    let access = server.mint(&client.id, subject, scope, Some(grant), &Value::Null)?;
    let refresh = if client.may(Grant::RefreshToken) {
        let token = server.random_token()?;
        let expires = later(server.lifetimes.refresh_token);
        let mut store = server.store.lock();
        store.refresh.insert(
            token.clone(),
            RefreshRecord {
                grant,
                expires,
                used: false,
            },
        );
        store.extend_grant(grant, expires);
        Some(token)
    } else {
        None
    };
    Ok(tokens(server, access, refresh, scope))
}

fn exchange_code(server: &Server, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| err("invalid_request", "code is required"))?;
    let (subject, scope, grant) = {
        let mut store = server.store.lock();
        let Some(record) = store.codes.get_mut(code) else {
            return Err(err("invalid_grant", "unknown or expired code"));
        };
        // The client binding comes first: a code replayed by another client says nothing about
        // the rightful client, and must not let anyone who saw a code end its grant.
        if record.client_id != client.id {
            return Err(err(
                "invalid_grant",
                "the code was issued to another client",
            ));
        }
        if record.used {
            // RFC 6749 §4.1.2: a replayed code revokes what it produced.
            let grant = record.grant;
            if let Some(grant) = grant {
                store.revoke_grant(grant);
            }
            return Err(err(
                "invalid_grant",
                "the code was already used; the tokens issued from it are revoked",
            ));
        }
        if record.expires <= Instant::now() {
            return Err(err("invalid_grant", "the code has expired"));
        }
        match params.get("redirect_uri") {
            Some(uri) if uri != record.redirect_uri => {
                return Err(err("invalid_grant", "redirect_uri does not match"));
            }
            None if record.redirect_uri_sent => {
                return Err(err("invalid_request", "redirect_uri is required"));
            }
            _ => {}
        }
        match (&record.challenge, params.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let computed = if challenge.plain {
                    verifier.to_owned()
                } else {
                    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
                };
                if !pkce_shaped(verifier) || computed != challenge.value {
                    return Err(err(
                        "invalid_grant",
                        "code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => return Err(err("invalid_grant", "code_verifier is required")),
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
            (None, Some(_)) => {
                return Err(err(
                    "invalid_grant",
                    "code_verifier sent for a code issued without PKCE",
                ));
            }
            (None, None) => {}
        }
        record.used = true;
        let (subject, scope) = (record.subject.clone(), record.scope.clone());
        let grant = store.new_grant(new_grant_record(server, client, &subject, &scope));
        if let Some(record) = store.codes.get_mut(code) {
            record.grant = Some(grant);
        }
        (subject, scope, grant)
    };
    grant_tokens(server, client, grant, &subject, &scope)
}

fn refresh(server: &Server, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| err("invalid_request", "refresh_token is required"))?;
    let (grant, subject, scope) = {
        let mut store = server.store.lock();
        let Some(record) = store.refresh.get(token).cloned() else {
            return Err(err("invalid_grant", "unknown or expired refresh token"));
        };
        let Some(grant) = store.grants.get(&record.grant).cloned() else {
            return Err(err("invalid_grant", "unknown refresh token"));
        };
        if grant.client_id != client.id {
            return Err(err(
                "invalid_grant",
                "the refresh token was issued to another client",
            ));
        }
        if record.used {
            // RFC 9700 §4.14.2: reuse of a rotated refresh token ends the whole grant.
            store.revoke_grant(record.grant);
            return Err(err(
                "invalid_grant",
                "the refresh token was already used; the grant is revoked",
            ));
        }
        if grant.revoked || record.expires <= Instant::now() {
            return Err(err("invalid_grant", "the grant is revoked or expired"));
        }
        // RFC 6749 §6: only scopes originally granted; omitted means all of them.
        let scope = match params.get("scope") {
            None => grant.scope.clone(),
            Some(requested) => {
                let requested = ScopeSet::parse_delimited(requested)
                    .map_err(|_| err("invalid_scope", "malformed scope"))?;
                let original = ScopeSet::parse_delimited(&grant.scope).unwrap_or_default();
                if !requested.iter().all(|s| original.contains(s.as_str())) {
                    return Err(err(
                        "invalid_scope",
                        "a refresh can only narrow the original scope",
                    ));
                }
                requested.to_string()
            }
        };
        if let Some(record) = store.refresh.get_mut(token) {
            record.used = true;
        }
        (record.grant, grant.subject, scope)
    };
    grant_tokens(server, client, grant, &subject, &scope)
}

/// The shared start of introspection and revocation: parameters, client authentication and the
/// `token` parameter.
fn token_and_client<'s>(
    server: &'s Server,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'s Client, AuthMethod, String), OAuthError> {
    let params = Params::parse(body).map_err(|why| err("invalid_request", why))?;
    let (client, method) = authenticate_client(server, headers, &params)?;
    let token = params
        .get("token")
        .ok_or_else(|| err("invalid_request", "token is required"))?;
    Ok((client, method, token.to_owned()))
}

/// `POST /introspect` (RFC 7662). Any confidential client may introspect any token: in
/// development it plays the resource server.
async fn introspect(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let answer = (|| {
        let (_, method, token) = token_and_client(&server, &headers, &body)?;
        if method == AuthMethod::None {
            return Err(err(
                "invalid_client",
                "introspection needs a confidential client",
            ));
        }
        Ok(token_status(&server, &token))
    })();
    match answer {
        Ok(status) => no_store(Json(status).into_response()),
        Err(error) => oauth_error(error),
    }
}

fn token_status(server: &Server, token: &str) -> Value {
    let inactive = json!({ "active": false });
    let verified = server
        .verifier()
        .ok()
        .and_then(|v| v.verify_token(token).ok());
    if let Some(claims) = verified {
        let store = server.store.lock();
        let alive = claims
            .jwt_id()
            .and_then(|jti| store.access.get(jti))
            .is_some_and(|a| !a.revoked && a.grant.is_none_or(|g| store.grant_alive(g)));
        // The server knows the exact expiry; the verifier's leeway is for other clocks.
        let expired = claims
            .expires_at()
            .is_none_or(|exp| exp <= i64::try_from(unix_now()).unwrap_or(i64::MAX));
        if !alive || expired {
            return inactive;
        }
        return json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scopes().to_string(),
            "client_id": claims.client_id(),
            "sub": claims.subject(),
            "aud": claims.audience(),
            "iss": claims.issuer(),
            "exp": claims.expires_at(),
            "iat": claims.issued_at(),
            "jti": claims.jwt_id(),
        });
    }
    let store = server.store.lock();
    match store.refresh.get(token) {
        Some(r) if !r.used && r.expires > Instant::now() && store.grant_alive(r.grant) => {
            let grant = store.grants.get(&r.grant);
            json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": grant.map(|g| g.scope.clone()),
                "client_id": grant.map(|g| g.client_id.clone()),
                "sub": grant.map(|g| g.subject.clone()),
                "exp": unix_now() + r.expires.saturating_duration_since(Instant::now()).as_secs(),
            })
        }
        _ => inactive,
    }
}

/// `POST /revoke` (RFC 7009): 200 whatever the token, so that its existence is not revealed.
async fn revoke(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let answer = (|| {
        let (client, _, token) = token_and_client(&server, &headers, &body)?;
        let claims = server
            .verifier()
            .ok()
            .and_then(|v| v.verify_token(&token).ok());
        let mut store = server.store.lock();
        if let Some(record) = store.refresh.get(&token).cloned() {
            if store
                .grants
                .get(&record.grant)
                .is_some_and(|g| g.client_id == client.id)
            {
                store.revoke_grant(record.grant);
            }
        } else if let Some(access) = claims
            .filter(|c| c.client_id() == Some(client.id.as_str()))
            .and_then(|c| c.jwt_id().and_then(|jti| store.access.get_mut(jti)))
        {
            access.revoked = true;
        }
        Ok(())
    })();
    match answer {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => oauth_error(error),
    }
}
