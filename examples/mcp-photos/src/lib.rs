//! The photo store as an MCP server: tools `list_photos`, `get_photo`, `upload_photo` and
//! `delete_photo`, built with `rmcp` and served with its streamable HTTP transport at `/mcp` in
//! an axum router, protected by the same [`Authenticator`] as the photo APIs.
//!
//! | MCP request                         | needs                                            |
//! |-------------------------------------|--------------------------------------------------|
//! | anything at `/mcp` (`initialize`, `tools/list`, ...) | `photos:read` (the base scope)  |
//! | `tools/call` `list_photos`, `get_photo` | `photos:read`                                |
//! | `tools/call` `upload_photo`         | `photos:read` and `photos:write`                 |
//! | `tools/call` `delete_photo`         | `photos:read`, `photos:write` and `photos:delete`|
//!
//! Why the check sits in front of rmcp and not in the tools: the MCP authorization
//! specification answers a call the token may not make with HTTP 403 `insufficient_scope` and
//! the scopes in `WWW-Authenticate`, so that the client can step up. Inside a tool it is too
//! late for that: rmcp has already chosen the HTTP answer (200, or an event stream) and a tool
//! can only return a JSON-RPC error, which no MCP client turns into a new authorization. And
//! `#[tool]` owns the method's parameters, so the `ScopeGuard` parameter that `#[requires_scope]`
//! adds cannot go there. So [`ToolScopes`] maps each tool name to a [`Requirement`] built from
//! the scopes declared with `scopes!`, and [`mcp_gate`] (an axum middleware, itself under
//! `#[requires_scope(PHOTOS_READ)]` for the base scope) reads the JSON-RPC body of each POST,
//! bounded, and checks `tools/call` against the table before rmcp sees the request.
//!
//! Every tool's requirement includes the base scope: the 403's `scope` then names a set that is
//! enough for the whole endpoint, so a client that asks for exactly the challenged scopes (as
//! the MCP TypeScript SDK does) still passes the base check afterwards.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use oauth_runtime::axum::AuthRejection;
use oauth_runtime::dev::{DevServerConfig, DevServerHandle, StartError};
use oauth_runtime::{Authenticator, Claims, ProtectedResource, Requirement, requires_scope};
use photos_demo::{Options, PHOTOS_DELETE, PHOTOS_READ, PHOTOS_WRITE, Photo, Store};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{Extension, ToolCallContext};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::SessionId;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_router};
use serde::Deserialize;

mod jsonrpc;
mod sessions;

pub use sessions::{MAX_SESSIONS, MAX_SESSIONS_PER_OWNER, SessionLimits};

/// The path the MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// The largest JSON-RPC body accepted at the endpoint: the gate reads the whole body to find
/// the tool, so the same bound applies there and in rmcp. A photo title is small; 64 KiB leaves
/// room for any request these tools take.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const READ: Requirement = Requirement::Scope(PHOTOS_READ.token());
const READ_WRITE: [Requirement; 2] = [
    Requirement::Scope(PHOTOS_READ.token()),
    Requirement::Scope(PHOTOS_WRITE.token()),
];
const READ_WRITE_DELETE: [Requirement; 3] = [
    Requirement::Scope(PHOTOS_READ.token()),
    Requirement::Scope(PHOTOS_WRITE.token()),
    Requirement::Scope(PHOTOS_DELETE.token()),
];

/// Each tool of [`PhotoTools`] with what a token needs to call it (the module documentation
/// says why the base scope is in each).
pub const TOOL_SCOPES: &[(&str, &Requirement)] = &[
    ("list_photos", &READ),
    ("get_photo", &READ),
    (
        "upload_photo",
        &Requirement::All(Cow::Borrowed(&READ_WRITE)),
    ),
    (
        "delete_photo",
        &Requirement::All(Cow::Borrowed(&READ_WRITE_DELETE)),
    ),
];

/// A tool that the server offers but the table does not cover: refused at start, since it
/// would be callable with the base scope alone.
#[derive(Debug, thiserror::Error)]
#[error("the tool `{0}` has no entry in the scope table")]
pub struct UncoveredTool(pub String);

/// The per-tool requirements the gate enforces, and whether `tools/list` shows a token only
/// the tools it may call.
#[derive(Debug, Clone)]
pub struct ToolScopes {
    table: &'static [(&'static str, &'static Requirement)],
    hide_uncallable: bool,
}

impl ToolScopes {
    /// The table for the tools that `tools` lists; every one of them must have an entry.
    ///
    /// ```
    /// use mcp_photos::{PhotoTools, TOOL_SCOPES, ToolScopes};
    ///
    /// let scopes = ToolScopes::new(TOOL_SCOPES, &PhotoTools::tool_names())?;
    /// assert_eq!(scopes.requirement("delete_photo").map(ToString::to_string).as_deref(),
    ///            Some("all(photos:read, photos:write, photos:delete)"));
    /// assert!(ToolScopes::new(&TOOL_SCOPES[..1], &PhotoTools::tool_names()).is_err());
    /// # Ok::<(), mcp_photos::UncoveredTool>(())
    /// ```
    pub fn new(
        table: &'static [(&'static str, &'static Requirement)],
        tools: &[String],
    ) -> Result<ToolScopes, UncoveredTool> {
        if let Some(missing) = tools
            .iter()
            .find(|tool| !table.iter().any(|(name, _)| name == tool))
        {
            return Err(UncoveredTool(missing.clone()));
        }
        Ok(ToolScopes {
            table,
            hide_uncallable: false,
        })
    }

    /// Whether `tools/list` leaves out the tools the token may not call (off by default: a
    /// client that sees every tool can tell the user what a step-up would allow).
    pub fn hide_uncallable(mut self, hide: bool) -> ToolScopes {
        self.hide_uncallable = hide;
        self
    }

    /// What calling `tool` requires; `None` for a name the server does not offer (rmcp then
    /// answers "tool not found").
    pub fn requirement(&self, tool: &str) -> Option<&'static Requirement> {
        self.table
            .iter()
            .find(|(name, _)| *name == tool)
            .map(|(_, requirement)| *requirement)
    }
}

/// What the gate needs: the authenticator (for the 403 answer and its metadata link) and the
/// table.
#[derive(Debug, Clone)]
pub struct Gate {
    authenticator: Authenticator,
    scopes: Arc<ToolScopes>,
    sessions: Arc<sessions::SessionOwners>,
    /// rmcp's sessions, so that a session the gate will not keep is closed there too.
    manager: Arc<LocalSessionManager>,
}

/// The MCP endpoint's gate, in front of rmcp: the base scope for every request (the attribute),
/// then, for a POST, the JSON-RPC body read (at most [`MAX_BODY_BYTES`]) and each `tools/call`
/// in it checked against the tool's requirement; a request on an MCP session that another token
/// holder opened, or that the gate has no record of, is answered 404, as an unknown session (the
/// streamable HTTP transport: the client then starts a new session). A new session is recorded
/// within the [`SessionLimits`]: beyond the per-holder cap the holder's own oldest session is
/// closed, and when the table is full the new one is closed again and answered 503. Passes the
/// verified claims on in the request's extensions, where rmcp hands them to the tools.
#[requires_scope(PHOTOS_READ)]
pub async fn mcp_gate(
    State(gate): State<Gate>,
    claims: Claims,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(claims.clone());
    let owner = sessions::owner(&claims);
    let session = parts
        .headers
        .get(sessions::SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session
        && !gate.sessions.allows(session, &owner)
    {
        tracing::debug!("MCP session used by a token holder other than its opener");
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    }
    let body = if parts.method == Method::POST {
        match checked_body(&gate, &claims, body).await {
            Ok(body) => body,
            Err(refused) => return refused,
        }
    } else {
        body
    };
    let ending = parts.method == Method::DELETE;
    let response = next.run(Request::from_parts(parts, body)).await;
    match (&session, ending) {
        (Some(session), true) if response.status().is_success() => gate.sessions.closed(session),
        // rmcp has ended it (idle): its record goes too. rmcp also answers 404 for an unknown
        // JSON-RPC method on a live session, hence the question.
        (Some(session), _)
            if response.status() == StatusCode::NOT_FOUND
                && !gate
                    .manager
                    .has_session(&SessionId::from(session.as_str()))
                    .await
                    .unwrap_or(true) =>
        {
            gate.sessions.closed(session);
        }
        (None, _) => {
            let opened = response
                .headers()
                .get(sessions::SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Some(opened) = opened {
                return record(&gate, opened, owner, response).await;
            }
        }
        _ => {}
    }
    response
}

/// Records the session rmcp has just opened for `owner`, or closes it: no session is left open
/// in rmcp that the gate does not know (it would answer nobody, and hold memory).
async fn record(gate: &Gate, session: String, owner: String, response: Response) -> Response {
    let mut outcome = gate.sessions.opened(&session, owner.clone());
    if outcome == sessions::Opened::Full {
        // Records of sessions rmcp has ended since (idle, or a client that went away) make
        // room. rmcp's read lock is held while they are dropped: a session is only recorded
        // after rmcp has inserted it, which its write lock orders before this, so no record
        // made meanwhile is mistaken for an ended session.
        let live = gate.manager.sessions.read().await;
        gate.sessions.retain_live(|s| live.contains_key(s));
        drop(live);
        outcome = gate.sessions.opened(&session, owner);
    }
    match outcome {
        sessions::Opened::Recorded(evicted) => {
            if let Some(evicted) = evicted {
                tracing::debug!("MCP session closed: its holder opened more than allowed");
                close(gate, &evicted).await;
            }
            response
        }
        sessions::Opened::Full => {
            tracing::warn!("MCP session refused: the session table is full");
            close(gate, &session).await;
            let mut refused =
                (StatusCode::SERVICE_UNAVAILABLE, "too many MCP sessions").into_response();
            // rmcp ends an idle session after five minutes; one minute is a fair first retry.
            refused.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
            refused
        }
    }
}

/// Closes `session` in rmcp (its record, if any, is already gone).
async fn close(gate: &Gate, session: &str) {
    if let Err(error) = gate.manager.close_session(&SessionId::from(session)).await {
        tracing::debug!(%error, "MCP session already ended");
    }
}

/// The POST body, read whole (bounded) and checked: each `tools/call` in it against its tool's
/// requirement.
async fn checked_body(gate: &Gate, claims: &Claims, body: Body) -> Result<Body, Response> {
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {MAX_BODY_BYTES} bytes"),
            )
                .into_response());
        }
    };
    let tools = match jsonrpc::called_tools(&bytes) {
        Ok(tools) => tools,
        Err(error) => {
            tracing::debug!(%error, "MCP request refused before rmcp");
            return Err(jsonrpc::parse_error(&error));
        }
    };
    for tool in tools {
        let Some(requirement) = gate.scopes.requirement(&tool) else {
            continue;
        };
        if let Err(error) = gate.authenticator.authorize(claims, requirement) {
            return Err(AuthRejection(gate.authenticator.reject(&error)).into_response());
        }
    }
    Ok(Body::from(bytes))
}

/// The arguments of `get_photo` and `delete_photo`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PhotoId {
    /// The photo's id.
    pub id: u64,
}

/// The arguments of `upload_photo`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Upload {
    /// The new photo's title.
    pub title: String,
}

/// The MCP server: the photo tools over one shared store.
#[derive(Debug, Clone)]
pub struct PhotoTools {
    store: Store,
    scopes: Arc<ToolScopes>,
    tools: Arc<ToolRouter<PhotoTools>>,
}

fn json_result(value: &impl serde::Serialize) -> Result<CallToolResult, ErrorData> {
    let text =
        serde_json::to_string(value).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

/// The verified claims the gate put in the HTTP request, as rmcp passes it to a tool.
fn claims_of(parts: &Parts) -> Option<&Claims> {
    parts.extensions.get::<Claims>()
}

#[tool_router]
impl PhotoTools {
    /// The tools over `store`, with `scopes` deciding what `tools/list` shows.
    pub fn new(store: Store, scopes: Arc<ToolScopes>) -> PhotoTools {
        PhotoTools {
            store,
            scopes,
            tools: Arc::new(Self::tool_router()),
        }
    }

    /// The names of the tools the server offers.
    pub fn tool_names() -> Vec<String> {
        Self::tool_router()
            .list_all()
            .into_iter()
            .map(|tool| tool.name.into_owned())
            .collect()
    }

    #[tool(description = "List all photos")]
    async fn list_photos(&self) -> Result<CallToolResult, ErrorData> {
        json_result(&self.store.list())
    }

    #[tool(description = "Get one photo by id")]
    async fn get_photo(
        &self,
        Parameters(PhotoId { id }): Parameters<PhotoId>,
    ) -> Result<CallToolResult, ErrorData> {
        match self.store.list().into_iter().find(|p| p.id == id) {
            Some(photo) => json_result(&photo),
            None => Err(ErrorData::resource_not_found(
                format!("no photo {id}"),
                None,
            )),
        }
    }

    #[tool(description = "Upload a photo with a title; the caller owns it")]
    async fn upload_photo(
        &self,
        Parameters(Upload { title }): Parameters<Upload>,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        if title.len() > 200 {
            return Err(ErrorData::invalid_params(
                "a title has at most 200 bytes",
                None,
            ));
        }
        let owner = claims_of(&parts)
            .and_then(Claims::subject)
            .unwrap_or("unknown")
            .to_owned();
        let photo: Photo = self.store.create(title, owner);
        json_result(&photo)
    }

    #[tool(description = "Delete a photo by id")]
    async fn delete_photo(
        &self,
        Parameters(PhotoId { id }): Parameters<PhotoId>,
    ) -> Result<CallToolResult, ErrorData> {
        if self.store.delete(id) {
            json_result(&serde_json::json!({ "deleted": id }))
        } else {
            Err(ErrorData::resource_not_found(
                format!("no photo {id}"),
                None,
            ))
        }
    }
}

impl ServerHandler for PhotoTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-photos", env!("CARGO_PKG_VERSION")))
            .with_instructions("Photo tools; each needs its own OAuth scope (see tools/list).")
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.tools
            .call(ToolCallContext::new(self, request, context))
            .await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = self.tools.list_all();
        if self.scopes.hide_uncallable {
            let claims = context.extensions.get::<Parts>().and_then(claims_of);
            tools.retain(|tool| {
                match (claims, self.scopes.requirement(&tool.name)) {
                    (Some(claims), Some(requirement)) => {
                        requirement.is_satisfied_by(claims.scopes())
                    }
                    // No claims: the gate did not run, so show nothing rather than guess.
                    _ => false,
                }
            });
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.tools.get(name).cloned()
    }
}

/// The canonical resource URI of the MCP endpoint of the server at `base`
/// (`http://127.0.0.1:PORT`): what tokens must name as `aud`.
pub fn resource_uri(base: &str) -> String {
    let uri = format!("{base}{MCP_PATH}");
    oauth_runtime::canonical_resource_uri(&uri).unwrap_or(uri)
}

/// The MCP endpoint at [`MCP_PATH`] behind the gate, the RFC 9728 metadata, all behind
/// `authenticator`'s layer. `store` is shared by every MCP session.
pub fn app(authenticator: Authenticator, scopes: ToolScopes, store: Store) -> axum::Router {
    app_with_sessions(authenticator, scopes, store, SessionLimits::default())
}

/// As [`app`], with the gate keeping track of MCP sessions within `limits`.
pub fn app_with_sessions(
    authenticator: Authenticator,
    scopes: ToolScopes,
    store: Store,
    limits: SessionLimits,
) -> axum::Router {
    let scopes = Arc::new(scopes);
    let factory_scopes = scopes.clone();
    let manager = Arc::new(LocalSessionManager::default());
    let service = StreamableHttpService::new(
        move || Ok(PhotoTools::new(store.clone(), factory_scopes.clone())),
        manager.clone(),
        StreamableHttpServerConfig::default().with_max_request_body_bytes(MAX_BODY_BYTES),
    );
    let gate = Gate {
        authenticator: authenticator.clone(),
        scopes,
        sessions: Arc::new(sessions::SessionOwners::new(limits)),
        manager,
    };
    axum::Router::new()
        .route_service(MCP_PATH, service)
        .route_layer(axum::middleware::from_fn_with_state(gate, mcp_gate))
        .merge(authenticator.metadata_routes())
        .layer(authenticator.layer())
}

/// Starts the development authorization server for the MCP endpoint of the server at `base`:
/// the demo configuration (users, scopes, clients) in the MCP profile (dynamic registration,
/// client ID metadata documents, no implicit or password grant) with the endpoint as its one
/// resource (RFC 8707).
pub async fn authorization_server(
    options: &Options,
    base: &str,
) -> Result<DevServerHandle, StartError> {
    let mut config = DevServerConfig::demo();
    config.port = options.as_port;
    config.key_file.clone_from(&options.key_file);
    config.resources = vec![resource_uri(base)];
    config.mcp_profile = true;
    for client in &mut config.clients {
        client.redirect_uris = vec![format!("{base}/callback")];
    }
    let server = config
        .into_server()
        .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))?;
    server.start().await
}

/// The authenticator for the MCP endpoint of the server at `base`: tokens from `server` whose
/// `aud` is the endpoint's canonical resource URI, and RFC 9728 metadata for it.
pub fn authenticator(
    server: &DevServerHandle,
    base: &str,
) -> Result<Authenticator, Box<dyn std::error::Error + Send + Sync>> {
    let resource = resource_uri(base);
    Ok(Authenticator::builder(server.resource_verifier(&resource)?)
        .realm("mcp-photos")
        .protected_resource(ProtectedResource::new(&resource, [server.issuer()]))
        // The base scope in the 401 for a missing or bad token (RFC 6750 §3 allows `scope` on
        // any challenge; the MCP specification asks for it). Without it an MCP client falls back
        // to every scope in the RFC 9728 document's `scopes_supported` and asks the user for all
        // of them up front, where the base scope and a step-up when a tool needs more is least
        // privilege.
        .scope_on_unauthorized(true)
        .build()?)
}

/// What the example prints at start: `issuer:` and `mcp:` first, then commands to try.
pub fn banner(server: &DevServerHandle, base: &str) -> String {
    let issuer = server.issuer();
    let mcp = resource_uri(base);
    let (id, secret) = (photos_demo::CLIENT_ID, photos_demo::CLIENT_SECRET);
    let token = |scope: &str| {
        format!(
            "$(curl -s -u {id}:{secret} -d grant_type=client_credentials -d 'scope={scope}' \
             --data-urlencode 'resource={mcp}' {issuer}/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        )
    };
    let post =
        "-H 'content-type: application/json' -H 'accept: application/json, text/event-stream'";
    [
        format!("issuer: {issuer}"),
        format!("mcp: {mcp}"),
        String::new(),
        "# MCP clients: add the server by its URL; they find the authorization server through".into(),
        format!("# {base}/.well-known/oauth-protected-resource{MCP_PATH} and log in as alice / wonderland."),
        String::new(),
        "# tokens for this resource (RFC 8707), by client credentials:".into(),
        format!("export READ={}", token("photos:read")),
        format!("export WRITE={}", token("photos:read photos:write")),
        String::new(),
        format!("curl -i {post} -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{}}}}' {mcp}   # 401"),
        format!(
            "curl -i {post} -H \"Authorization: Bearer $READ\" -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}' {mcp}"
        ),
        format!(
            "curl -i {post} -H \"Authorization: Bearer $READ\" -d '{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{{\"name\":\"upload_photo\",\"arguments\":{{\"title\":\"cat\"}}}}}}' {mcp}   # 403, scope=\"photos:read photos:write\""
        ),
    ]
    .join("\n")
}
