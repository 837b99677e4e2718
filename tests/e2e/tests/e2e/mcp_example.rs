//! `examples/mcp-photos` as an MCP client meets it: rmcp's own streamable HTTP client (with a
//! bearer token it got from the embedded development server) against the example's router on
//! 127.0.0.1, and raw HTTP where the exact status matters. The MCP authorization
//! specification's rules: 401 with `resource_metadata` (RFC 9728 §5.1) without a token, the base
//! scope for `tools/list`, 403 `insufficient_scope` with the tool's scopes for a `tools/call`
//! the token may not make (RFC 6750 §3.1), and 401 for a token minted for another audience
//! (RFC 8707).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_photos::{MAX_BODY_BYTES, PhotoTools, SessionLimits, TOOL_SCOPES, ToolScopes};
use oauth_runtime::dev::DevServerHandle;
use photos_demo::{CLIENT_ID, CLIENT_SECRET, Options, Store};
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

/// The example running on 127.0.0.1 with its development server.
pub(crate) struct Example {
    pub(crate) server: DevServerHandle,
    pub(crate) base: String,
    /// The MCP endpoint, which is also its canonical resource URI.
    pub(crate) mcp: String,
}

async fn start_with(hide_uncallable: bool) -> Example {
    start_with_sessions(hide_uncallable, SessionLimits::default()).await
}

async fn start_with_sessions(hide_uncallable: bool, limits: SessionLimits) -> Example {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = Options {
        port: 0,
        as_port: 0,
        key_file: None,
        metrics: false,
    };
    let server = mcp_photos::authorization_server(&options, &base)
        .await
        .unwrap();
    let authenticator = mcp_photos::authenticator(&server, &base).unwrap();
    let scopes = ToolScopes::new(TOOL_SCOPES, &PhotoTools::tool_names())
        .unwrap()
        .hide_uncallable(hide_uncallable);
    let router = mcp_photos::app_with_sessions(authenticator, scopes, Store::default(), limits);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mcp = mcp_photos::resource_uri(&base);
    Example { server, base, mcp }
}

pub(crate) async fn start() -> Example {
    start_with(false).await
}

impl Example {
    /// A token for this MCP endpoint (RFC 8707 `resource`) by client credentials.
    async fn token(&self, scope: &str) -> String {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/token", self.server.issuer()))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", &self.mcp),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("a token: {answer}"))
            .to_owned()
    }

    async fn client(&self, token: Option<&str>) -> RunningService<RoleClient, ()> {
        self.connect(token).await.expect("connected")
    }

    async fn connect(
        &self,
        token: Option<&str>,
    ) -> Result<RunningService<RoleClient, ()>, rmcp::service::ClientInitializeError> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.mcp.as_str());
        if let Some(token) = token {
            config = config.auth_header(token);
        }
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
    }

    fn metadata_link(&self) -> String {
        format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            self.base
        )
    }

    /// One raw JSON-RPC POST, for the status and challenge exactly as sent.
    async fn post(&self, token: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        reqwest::Client::new()
            .post(&self.mcp)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

fn call(tool: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

/// The names of the tools `tools/list` shows this client, sorted.
async fn tool_names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    names.sort();
    names
}

fn text_of(result: &rmcp::model::CallToolResult) -> Value {
    match result.content.first() {
        Some(ContentBlock::Text(text)) => serde_json::from_str(&text.text).unwrap(),
        other => panic!("a text result: {other:?}"),
    }
}

#[tokio::test]
async fn mcp_spec_without_a_token_the_client_gets_401_with_the_rfc9728_metadata_link() {
    let example = start().await;
    let error = example.connect(None).await.expect_err("refused");
    let challenge = error.auth_challenge().expect("a challenge").to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&example.metadata_link()), "{challenge}");
    // The base scope, so that a client asks for it alone and steps up per tool later.
    assert!(challenge.contains(r#"scope="photos:read""#), "{challenge}");

    // The link resolves to the document for this very resource, naming its issuer.
    let document: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        example.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(document["resource"], example.mcp.as_str());
    assert_eq!(
        document["authorization_servers"],
        json!([example.server.issuer()])
    );
}

#[tokio::test]
async fn the_base_scope_lists_every_tool_and_calls_the_read_tools() {
    let example = start().await;
    let read = example.token("photos:read").await;
    let client = example.client(Some(&read)).await;
    let names = tool_names(&client).await;
    assert_eq!(
        names,
        ["delete_photo", "get_photo", "list_photos", "upload_photo"]
    );
    let listed = client
        .call_tool(call("list_photos", json!({})))
        .await
        .unwrap();
    assert_eq!(text_of(&listed), json!([]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rfc6750_section_3_1_a_tool_call_without_the_tools_scope_is_403_naming_its_scopes() {
    let example = start().await;
    let read = example.token("photos:read").await;
    let client = example.client(Some(&read)).await;
    let error = client
        .call_tool(call("upload_photo", json!({"title": "cat"})))
        .await
        .expect_err("refused");
    let challenge = error.auth_challenge().expect("a challenge").to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    // The tool's whole requirement, base scope included, so that a client asking for exactly
    // these scopes can still list the tools afterwards.
    assert!(
        challenge.contains(r#"scope="photos:read photos:write""#),
        "{challenge}"
    );
    assert!(challenge.contains(&example.metadata_link()), "{challenge}");

    // On the wire: HTTP 403, not a JSON-RPC error inside a 200.
    let raw = example
        .post(
            &read,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_photo","arguments":{"id":1}}}"#,
        )
        .await;
    assert_eq!(raw.status(), 403);
    let challenge = raw.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"scope="photos:delete photos:read photos:write""#),
        "{challenge}"
    );
    assert!(challenge.contains(&example.metadata_link()), "{challenge}");
}

#[tokio::test]
async fn a_token_with_the_tools_scope_calls_it_and_the_tool_sees_the_caller() {
    let example = start().await;
    let write = example.token("photos:read photos:write").await;
    let client = example.client(Some(&write)).await;
    let uploaded = client
        .call_tool(call("upload_photo", json!({"title": "cat"})))
        .await
        .unwrap();
    let photo = text_of(&uploaded);
    assert_eq!(photo["title"], "cat");
    // The client-credentials token's subject is the client: the claims reached the tool.
    assert_eq!(photo["owner"], CLIENT_ID);
    let got = client
        .call_tool(call("get_photo", json!({"id": photo["id"]})))
        .await
        .unwrap();
    assert_eq!(text_of(&got), photo);
    // Delete needs photos:delete too; this token has not got it.
    let refused = client
        .call_tool(call("delete_photo", json!({"id": photo["id"]})))
        .await
        .expect_err("refused");
    assert!(
        refused
            .auth_challenge()
            .is_some_and(|c| c.contains("photos:delete"))
    );

    let all = example
        .token("photos:read photos:write photos:delete")
        .await;
    let admin = example.client(Some(&all)).await;
    let deleted = admin
        .call_tool(call("delete_photo", json!({"id": photo["id"]})))
        .await
        .unwrap();
    assert_eq!(text_of(&deleted), json!({"deleted": photo["id"]}));
}

#[tokio::test]
async fn rfc8707_a_token_for_another_audience_is_refused_with_401() {
    let example = start().await;
    // Same issuer, same key, every scope: but its `aud` is the server's default audience, not
    // this MCP endpoint.
    let other = example
        .server
        .mint_token("alice", "photos:read photos:write photos:delete");
    let error = example.connect(Some(&other)).await.expect_err("refused");
    let challenge = error.auth_challenge().expect("a challenge").to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.contains(&example.metadata_link()), "{challenge}");
    let raw = example
        .post(
            &other,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_photos"}}"#,
        )
        .await;
    assert_eq!(raw.status(), 401);
}

#[tokio::test]
async fn tools_list_can_hide_the_tools_a_token_may_not_call() {
    let example = start_with(true).await;
    let read = example.token("photos:read").await;
    let client = example.client(Some(&read)).await;
    let names = tool_names(&client).await;
    assert_eq!(names, ["get_photo", "list_photos"]);
}

#[tokio::test]
async fn a_body_the_gate_and_rmcp_could_read_differently_never_reaches_a_tool() {
    let example = start().await;
    let write = example.token("photos:read photos:write").await;
    // Read by "last key wins" this names upload_photo, which the token may call; a tool
    // needing photos:delete hides behind it the other way round. Either way: refused.
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_photo","name":"upload_photo","arguments":{"id":1,"title":"x"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"delete_photo","arguments":{"id":1}}}"#,
    ] {
        let answer = example.post(&write, body).await;
        assert_eq!(answer.status(), 400, "{body}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], -32700, "{body}");
    }
    // The gate reads at most MAX_BODY_BYTES before deciding.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"list_photos","arguments":{{"pad":"{}"}}}}}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    assert_eq!(example.post(&write, big).await.status(), 413);
}

/// rmcp's own OAuth client (feature `auth`) through the whole flow, as an MCP client meets the
/// server for the first time: the 401's challenge → RFC 9728 and RFC 8414 metadata → RFC 7591
/// registration → PKCE authorization with the RFC 8707 `resource` (the consent form completed
/// by HTTP as alice) → token, checked for RFC 9207 `iss` → `tools/list` and `tools/call`.
#[tokio::test]
async fn rmcps_oauth_client_discovers_registers_authorizes_and_calls_a_tool() {
    use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};

    const REDIRECT: &str = "http://127.0.0.1/callback";
    let example = start().await;
    let challenge = example
        .connect(None)
        .await
        .expect_err("refused")
        .auth_challenge()
        .expect("a challenge")
        .to_owned();
    let mut state = OAuthState::new(example.mcp.as_str(), None).await.unwrap();
    state
        .start_authorization(
            AuthorizationRequest::new(REDIRECT)
                .with_client_name("rmcp e2e")
                // The 401's scope first, as the MCP specification orders it; rmcp's default
                // adds everything in `scopes_supported` to it.
                .with_initial_scope_selection()
                .with_challenge(challenge),
        )
        .await
        .unwrap();
    let url = reqwest::Url::parse(&state.get_authorization_url().await.unwrap()).unwrap();
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    // Registered dynamically (the dev server's ids for those are not the configured ones),
    // asking for the base scope the 401 named, for this resource.
    assert_ne!(query("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query("scope").as_deref(), Some("photos:read"));
    assert_eq!(query("resource").as_deref(), Some(example.mcp.as_str()));
    assert_eq!(query("code_challenge_method").as_deref(), Some("S256"));

    let location =
        oauth_e2e::support::approve_as_alice(example.server.issuer(), url.as_str()).await;
    state.handle_callback_url(&location).await.unwrap();
    let manager = state.into_authorization_manager().expect("authorized");
    let token = manager.get_access_token().await.unwrap();
    let client = ()
        .serve(StreamableHttpClientTransport::with_client(
            AuthClient::new(reqwest::Client::new(), manager),
            StreamableHttpClientTransportConfig::with_uri(example.mcp.as_str()),
        ))
        .await
        .expect("connected with the token rmcp obtained");
    assert_eq!(client.list_all_tools().await.unwrap().len(), 4);
    let listed = client
        .call_tool(call("list_photos", json!({})))
        .await
        .unwrap();
    assert_eq!(text_of(&listed), json!([]));
    // The token rmcp holds is alice's, for this resource, with the base scope only.
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], example.mcp.as_str());
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["scope"], "photos:read");
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_photos","arguments":{}}}"#;

impl Example {
    /// A token for this MCP endpoint of alice through the demo public client: the code flow
    /// with PKCE and `resource`, as an MCP client on a user's behalf gets one.
    async fn alice_token(&self, scope: &str) -> String {
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let redirect = format!("{}/callback", self.base);
        let mut url = reqwest::Url::parse(&format!("{}/authorize", self.server.issuer())).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "demo-spa")
            .append_pair("redirect_uri", &redirect)
            .append_pair("scope", scope)
            .append_pair("resource", &self.mcp)
            .append_pair("state", "s")
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
        let location =
            oauth_e2e::support::approve_as_alice(self.server.issuer(), url.as_str()).await;
        let code = reqwest::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code");
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/token", self.server.issuer()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("client_id", "demo-spa"),
                ("code_verifier", verifier.secret()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().expect("a token").to_owned()
    }

    /// Opens an MCP session with `token` (`initialize`, then `notifications/initialized`);
    /// returns its id.
    async fn open_session(&self, token: &str) -> String {
        let opened = self.post(token, INITIALIZE).await;
        assert_eq!(opened.status(), 200);
        let session = opened.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        drop(opened);
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let answer = self
            .on_session(reqwest::Method::POST, token, &session, initialized)
            .await;
        assert_eq!(answer.status(), 202);
        session
    }

    /// `list_photos` on `session` with `token` succeeds.
    async fn assert_lists_photos(&self, token: &str, session: &str) {
        let answer = self
            .on_session(reqwest::Method::POST, token, session, LIST)
            .await;
        assert_eq!(answer.status(), 200);
        assert!(answer.text().await.unwrap().contains(r#""result""#));
    }

    async fn on_session(
        &self,
        method: reqwest::Method,
        token: &str,
        session: &str,
        body: &'static str,
    ) -> reqwest::Response {
        reqwest::Client::new()
            .request(method, &self.mcp)
            .bearer_auth(token)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// The MCP specification: a session id is not authentication. Alice's session, its id known
/// to another token holder, still answers only to alice's tokens.
#[tokio::test]
async fn an_mcp_session_answers_only_to_the_token_holder_who_opened_it() {
    let example = start().await;
    let alice = example.alice_token("photos:read").await;
    let other = example
        .token("photos:read photos:write photos:delete")
        .await;
    let session = example.open_session(&alice).await;

    // Every scope, but not alice's token: as if the session did not exist.
    for (method, body) in [
        (reqwest::Method::POST, LIST),
        (reqwest::Method::GET, ""),
        (reqwest::Method::DELETE, ""),
    ] {
        let answer = example
            .on_session(method.clone(), &other, &session, body)
            .await;
        assert_eq!(answer.status(), 404, "{method}");
    }
    // Alice's session is intact.
    example.assert_lists_photos(&alice, &session).await;
    assert_eq!(
        example
            .on_session(reqwest::Method::DELETE, &alice, &session, "")
            .await
            .status()
            .as_u16()
            / 100,
        2
    );
}

/// The gate must never let a request through on a session it does not know, and must never
/// forget a session rmcp still holds for someone else's sake: were another holder able to push
/// alice's record out by opening sessions of their own, her leaked session id would answer
/// their token (the MCP specification: a session id is not authentication).
#[tokio::test]
async fn an_mcp_session_stays_bound_however_many_sessions_another_holder_opens() {
    const MAX: usize = 4;
    let example = start_with_sessions(false, SessionLimits::default().max_sessions(MAX)).await;
    let alice = example.alice_token("photos:read").await;
    let attacker = example.token("photos:read").await;
    let session = example.open_session(&alice).await;

    let mut statuses = Vec::new();
    for _ in 0..MAX + 2 {
        let answer = example.post(&attacker, INITIALIZE).await;
        statuses.push(answer.status().as_u16());
    }

    let answer = example
        .on_session(reqwest::Method::POST, &attacker, &session, LIST)
        .await;
    assert_eq!(answer.status(), 404, "the binding held");
    example.assert_lists_photos(&alice, &session).await;
    // The table full, a new session is refused rather than anyone's record forgotten.
    assert_eq!(statuses, [200, 200, 200, 503, 503, 503]);
}

/// One holder's sessions beyond its cap close that holder's own oldest, never another's: with
/// the binding failing closed, evicting anyone's record would log them out.
#[tokio::test]
async fn a_holders_sessions_beyond_its_cap_close_its_own_oldest() {
    let limits = SessionLimits::default().max_sessions(4).max_per_owner(2);
    let example = start_with_sessions(false, limits).await;
    let alice = example.alice_token("photos:read").await;
    let other = example.token("photos:read").await;
    let hers = example.open_session(&alice).await;
    let mut own = Vec::new();
    for _ in 0..3 {
        own.push(example.open_session(&other).await);
    }

    // The first is gone (rmcp's as well as the record): 404, so the client starts anew.
    let answer = example
        .on_session(reqwest::Method::POST, &other, &own[0], LIST)
        .await;
    assert_eq!(answer.status(), 404);
    for session in &own[1..] {
        example.assert_lists_photos(&other, session).await;
    }
    example.assert_lists_photos(&alice, &hers).await;
}
