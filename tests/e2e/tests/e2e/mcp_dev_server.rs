//! The development server as MCP clients meet it, and the resource side they talk to: RFC 8707
//! resource indicators with a real resource server that refuses tokens for other resources,
//! RFC 9207 `iss`, RFC 7591 registration, client ID metadata documents served on loopback, the
//! MCP profile, and RFC 9728 metadata at both well-known URLs. Real HTTP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oauth_e2e::support::{Answer, approve_as_alice, browser, get, serve};
use oauth_runtime::dev::{Client, DevServer, DevServerHandle, Grant, User};
use oauth_runtime::{Authenticator, ProtectedResource, requires_scope};
use oauth2::PkceCodeChallenge;
use photos_demo::{PHOTOS_READ, PHOTOS_WRITE};
use serde_json::{Value, json};

const OTHER: &str = "https://other.example/api";
const NATIVE_REDIRECT: &str = "http://127.0.0.1/callback";

#[requires_scope(PHOTOS_READ)]
async fn mcp() -> &'static str {
    "tools"
}

// Not `photos:delete`: the catalog test spells out that scope's exact list of endpoints.
#[requires_scope(PHOTOS_WRITE)]
async fn mcp_upload() -> &'static str {
    "uploaded"
}

/// A dev server in the MCP profile, and an API for the resource `http://127.0.0.1:PORT/mcp`
/// that trusts it, as an MCP server would.
struct Setup {
    server: DevServerHandle,
    resource: String,
    api: String,
}

fn alice() -> User {
    User::new("alice", "wonderland")
}

async fn setup_with(configure: impl FnOnce(DevServer) -> DevServer) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{api}/mcp");
    let server = configure(
        DevServer::new()
            .audience("photos-api")
            .scope("photos:read", "See your photos")
            .scope("photos:delete", "Delete photos")
            .resource(&resource)
            .resource(OTHER)
            .client(Client::public("native", [NATIVE_REDIRECT]))
            .client(
                Client::confidential("backend", "backend-secret", ["https://b.example/cb"])
                    .with_grants([Grant::ClientCredentials, Grant::Password, Grant::Implicit]),
            )
            .user(alice()),
    )
    .start()
    .await
    .unwrap();
    let authenticator = Authenticator::builder(server.resource_verifier(&resource).unwrap())
        .realm("mcp")
        .protected_resource(ProtectedResource::new(&resource, [server.issuer()]))
        .build()
        .unwrap();
    let router = axum::Router::new()
        .route("/mcp", axum::routing::get(mcp))
        .route("/mcp/upload", axum::routing::get(mcp_upload))
        .merge(authenticator.metadata_routes())
        .layer(authenticator.layer());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Setup {
        server,
        resource,
        api,
    }
}

async fn setup() -> Setup {
    setup_with(DevServer::mcp_profile).await
}

fn authorize_url(server: &DevServerHandle, client_id: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(&format!("{}/authorize", server.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("state", "s1");
    for (name, value) in pairs {
        url.query_pairs_mut().append_pair(name, value);
    }
    url.into()
}

fn param(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The code flow with PKCE up to the token response, `resources` sent at `/authorize`.
async fn code_flow(
    server: &DevServerHandle,
    client_id: &str,
    redirect_uri: &str,
    resources: &[&str],
    token_resources: &[&str],
) -> reqwest::Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut pairs = vec![
        ("redirect_uri", redirect_uri),
        ("scope", "photos:read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend(resources.iter().map(|r| ("resource", *r)));
    let location =
        approve_as_alice(server.issuer(), &authorize_url(server, client_id, &pairs)).await;
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some(server.issuer()),
        "RFC 9207 §2: iss in the success response"
    );
    let code = param(&location, "code").expect("a code");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
        ("code_verifier", verifier.secret().as_str()),
    ];
    form.extend(token_resources.iter().map(|r| ("resource", *r)));
    token(server, &form).await
}

async fn token(server: &DevServerHandle, form: &[(&str, &str)]) -> reqwest::Response {
    // `.form` would refuse nothing, but RFC 8707 needs the repeated `resource` kept: encode it
    // by hand.
    let body = form
        .iter()
        .fold(
            reqwest::Url::parse("http://x/").unwrap(),
            |mut url, (k, v)| {
                url.query_pairs_mut().append_pair(k, v);
                url
            },
        )
        .query()
        .unwrap_or_default()
        .to_owned();
    reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn tokens(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn register(server: &DevServerHandle, metadata: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/register", server.issuer()))
        .json(metadata)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn rfc8707_the_token_names_the_requested_resource_and_a_token_for_another_is_refused_with_401()
 {
    let s = setup().await;
    // Sent in another spelling: the server keeps the canonical form.
    let spelled = format!("{}/", s.resource.replace("http://", "HTTP://"));
    let answer =
        tokens(code_flow(&s.server, "native", NATIVE_REDIRECT, &[&spelled], &[]).await).await;
    let access = answer["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["aud"], s.resource.as_str());
    assert_eq!(
        get(&format!("{}/mcp", s.api), Some(access)).await.status,
        200
    );

    // RFC 8707 §2.2 with RFC 6749 §6: a refresh keeps the resource.
    let refresh = answer["refresh_token"].as_str().unwrap();
    let refreshed = tokens(
        token(
            &s.server,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "native"),
            ],
        )
        .await,
    )
    .await;
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["aud"], s.resource.as_str());
    assert_eq!(
        get(&format!("{}/mcp", s.api), Some(access)).await.status,
        200
    );

    // A token for another resource of the same server, and one for the default audience,
    // are refused by this resource: 401 invalid_token, linking its metadata.
    let other = tokens(
        token(
            &s.server,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "backend"),
                ("client_secret", "backend-secret"),
                ("scope", "photos:read"),
                ("resource", OTHER),
            ],
        )
        .await,
    )
    .await;
    let other = other["access_token"].as_str().unwrap();
    assert_eq!(claims(other)["aud"], OTHER);
    let default_audience = s.server.mint_token("alice", "photos:read");
    for token in [other, default_audience.as_str()] {
        let answer = get(&format!("{}/mcp", s.api), Some(token)).await;
        assert_eq!(answer.status, 401);
        let challenge = answer.www_authenticate.unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!(
                r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
                s.api
            )),
            "{challenge}"
        );
    }

    // Two resources at once: `aud` is an array, and the token request may narrow it.
    let both = tokens(
        code_flow(
            &s.server,
            "native",
            NATIVE_REDIRECT,
            &[&s.resource, OTHER],
            &[],
        )
        .await,
    )
    .await;
    assert_eq!(
        claims(both["access_token"].as_str().unwrap())["aud"],
        json!([s.resource, OTHER])
    );
    let narrowed = tokens(
        code_flow(
            &s.server,
            "native",
            NATIVE_REDIRECT,
            &[&s.resource, OTHER],
            &[OTHER],
        )
        .await,
    )
    .await;
    assert_eq!(
        claims(narrowed["access_token"].as_str().unwrap())["aud"],
        OTHER
    );
    // Introspection knows tokens for every configured resource.
    let introspected: Value = reqwest::Client::new()
        .post(format!("{}/introspect", s.server.issuer()))
        .basic_auth("backend", Some("backend-secret"))
        .form(&[("token", other)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
}

#[tokio::test]
async fn rfc8707_section_2_unknown_resources_and_widening_are_invalid_target() {
    let s = setup().await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    for resource in [
        "https://unknown.example/mcp",
        &format!("{}#frag", s.resource),
        "/mcp",
    ] {
        let url = authorize_url(
            &s.server,
            "native",
            &[
                ("redirect_uri", NATIVE_REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("resource", resource),
            ],
        );
        let response = browser().get(url).send().await.unwrap();
        assert_eq!(response.status(), 303, "{resource}");
        let location = response.headers()["location"].to_str().unwrap();
        assert_eq!(param(location, "error").as_deref(), Some("invalid_target"));
        assert_eq!(
            param(location, "iss").as_deref(),
            Some(s.server.issuer()),
            "RFC 9207 §2: iss in error responses too"
        );
        assert_eq!(param(location, "state").as_deref(), Some("s1"));
    }
    let unknown = token(
        &s.server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "backend"),
            ("client_secret", "backend-secret"),
            ("resource", "https://unknown.example/mcp"),
        ],
    )
    .await;
    assert_eq!(error_of(unknown).await, (400, "invalid_target".into()));
    // RFC 8707 §2.2: the token request may not name a resource the code was not for, nor one
    // when the code was for the default audience.
    let widened = code_flow(
        &s.server,
        "native",
        NATIVE_REDIRECT,
        &[&s.resource],
        &[OTHER],
    )
    .await;
    assert_eq!(error_of(widened).await, (400, "invalid_target".into()));
    let widened = code_flow(&s.server, "native", NATIVE_REDIRECT, &[], &[OTHER]).await;
    assert_eq!(error_of(widened).await, (400, "invalid_target".into()));
    // Without any resource, the configured audience, as before.
    let plain = tokens(code_flow(&s.server, "native", NATIVE_REDIRECT, &[], &[]).await).await;
    assert_eq!(
        claims(plain["access_token"].as_str().unwrap())["aud"],
        "photos-api"
    );
}

#[tokio::test]
async fn rfc9207_and_the_mcp_profile_in_the_metadata() {
    let s = setup().await;
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        s.server.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        meta["registration_endpoint"],
        format!("{}/register", s.server.issuer())
    );
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["response_types_supported"], json!(["code"]));
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(!grants.contains(&json!("password")) && !grants.contains(&json!("implicit")));
    // The profile turned the legacy grants off even for a client configured with them.
    let password = token(
        &s.server,
        &[
            ("grant_type", "password"),
            ("client_id", "backend"),
            ("client_secret", "backend-secret"),
            ("username", "alice"),
            ("password", "wonderland"),
        ],
    )
    .await;
    assert_eq!(
        error_of(password).await,
        (400, "unauthorized_client".into())
    );
    let implicit = authorize_url(
        &s.server,
        "backend",
        &[("redirect_uri", "https://b.example/cb")],
    )
    .replace("response_type=code", "response_type=token");
    let response = browser().get(implicit).send().await.unwrap();
    // Errors of a `response_type=token` request travel in the fragment (RFC 6749 §4.2.2.1).
    let location = response.headers()["location"].to_str().unwrap();
    let fragment = location.split_once('#').unwrap().1;
    assert!(fragment.contains("error=unauthorized_client"), "{location}");

    // Without the profile: no registration, no metadata documents, iss all the same.
    let plain = DevServer::new().start().await.unwrap();
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        plain.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert!(meta.get("registration_endpoint").is_none());
    assert!(meta.get("client_id_metadata_document_supported").is_none());
    let status = register(&plain, &json!({ "redirect_uris": [NATIVE_REDIRECT] }))
        .await
        .status();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn rfc7591_registered_public_client_uses_pkce_on_any_loopback_port() {
    let s = setup().await;
    let response = register(
        &s.server,
        &json!({
            "redirect_uris": [NATIVE_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "client_name": "An MCP client",
            "logo_uri": "https://ignored.example/logo.png",
        }),
    )
    .await;
    assert_eq!(response.status(), 201, "RFC 7591 §3.2.1");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let registered: Value = response.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert_eq!(registered["redirect_uris"], json!([NATIVE_REDIRECT]));
    assert_eq!(registered["client_name"], "An MCP client");
    assert!(registered["client_id_issued_at"].is_u64());

    // RFC 8252 §7.3: the app listens on whatever port was free.
    let redirect = "http://127.0.0.1:49152/callback";
    let answer = tokens(code_flow(&s.server, client_id, redirect, &[&s.resource], &[]).await).await;
    let access = answer["access_token"].as_str().unwrap();
    assert_eq!(
        get(&format!("{}/mcp", s.api), Some(access)).await.status,
        200
    );
    assert!(answer["refresh_token"].is_string());

    // PKCE is required of it (a public client).
    let url = authorize_url(&s.server, client_id, &[("redirect_uri", redirect)]);
    let response = browser().get(url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(param(location, "error").as_deref(), Some("invalid_request"));
    // Another path on loopback is not its redirect URI.
    let url = authorize_url(
        &s.server,
        client_id,
        &[("redirect_uri", "http://127.0.0.1:49152/other")],
    );
    assert_eq!(browser().get(url).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn rfc7591_section_3_2_2_bad_registrations_are_refused() {
    let s = setup().await;
    for (metadata, code) in [
        (
            json!({ "redirect_uris": [NATIVE_REDIRECT], "token_endpoint_auth_method": "client_secret_basic" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["http://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "client_name": "no redirect" }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": [NATIVE_REDIRECT], "grant_types": ["client_credentials"] }),
            "invalid_client_metadata",
        ),
        (json!("not an object"), "invalid_client_metadata"),
    ] {
        assert_eq!(
            error_of(register(&s.server, &metadata).await).await,
            (400, code.to_owned()),
            "{metadata}"
        );
    }
    let not_json = reqwest::Client::new()
        .post(format!("{}/register", s.server.issuer()))
        .body("redirect_uris=x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(not_json).await,
        (400, "invalid_client_metadata".into())
    );
    let huge = json!({ "redirect_uris": [NATIVE_REDIRECT], "client_name": "x".repeat(20_000) });
    assert_eq!(register(&s.server, &huge).await.status(), 413);
    assert_eq!(s.server.entry_counts().registered_clients, 0);
}

#[tokio::test]
async fn rfc7591_a_registration_flood_stays_bounded_and_the_newest_clients_work() {
    let s = setup_with(|d| d.mcp_profile().dynamic_registration(5)).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        let response = register(&s.server, &json!({ "redirect_uris": [NATIVE_REDIRECT] })).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        ids.push(body["client_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(s.server.entry_counts().registered_clients, 5);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let opens = |id: &str| {
        browser()
            .get(authorize_url(
                &s.server,
                id,
                &[
                    ("redirect_uri", NATIVE_REDIRECT),
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ],
            ))
            .send()
    };
    assert_eq!(opens(&ids[0]).await.unwrap().status(), 400, "pushed out");
    assert_eq!(opens(&ids[39]).await.unwrap().status(), 200, "the newest");
}

/// Serves client ID metadata documents on loopback, counting the fetches.
async fn document_host() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));
    let (honest, liar, counter) = (
        format!("{base}/client.json"),
        format!("{base}/client.json"),
        fetches.clone(),
    );
    let router = axum::Router::new()
        .route(
            "/client.json",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let document = json!({
                    "client_id": honest,
                    "client_name": "Self-described",
                    "redirect_uris": [NATIVE_REDIRECT],
                    "grant_types": ["authorization_code"],
                    "token_endpoint_auth_method": "none",
                });
                async move { axum::Json(document) }
            }),
        )
        // Names another client: it must not lend its redirect URIs to this URL.
        .route(
            "/liar.json",
            axum::routing::get(move || async move {
                axum::Json(json!({
                    "client_id": liar,
                    "redirect_uris": ["http://127.0.0.1/evil"],
                    "token_endpoint_auth_method": "none",
                }))
            }),
        )
        .route(
            "/huge.json",
            axum::routing::get(|| async { "x".repeat(100_000) }),
        )
        .route(
            "/secret.json",
            axum::routing::get(move || async move {
                axum::Json(json!({
                    "redirect_uris": [NATIVE_REDIRECT],
                    "token_endpoint_auth_method": "client_secret_basic",
                }))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, fetches)
}

#[tokio::test]
async fn client_id_metadata_document_is_fetched_checked_cached_and_used() {
    let s = setup().await;
    let (host, fetches) = document_host().await;
    let client_id = format!("{host}/client.json");
    let answer =
        tokens(code_flow(&s.server, &client_id, NATIVE_REDIRECT, &[&s.resource], &[]).await).await;
    let access = answer["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["client_id"], client_id.as_str());
    assert_eq!(
        get(&format!("{}/mcp", s.api), Some(access)).await.status,
        200
    );
    assert!(
        answer.get("refresh_token").is_none(),
        "it did not ask for refresh tokens"
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "cached between /authorize and /token"
    );
    assert_eq!(s.server.entry_counts().client_documents, 1);

    // A redirect URI the document does not list.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let open = |id: String, redirect: &'static str| {
        let mut pairs = vec![("redirect_uri", redirect)];
        pairs.extend(pkce);
        browser().get(authorize_url(&s.server, &id, &pairs)).send()
    };
    let response = open(client_id.clone(), "http://127.0.0.1/evil")
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // The document whose client_id differs from its URL, one too large, one for a
    // confidential client: an error page, never a redirect.
    for (path, redirect) in [
        ("/liar.json", "http://127.0.0.1/evil"),
        ("/huge.json", NATIVE_REDIRECT),
        ("/secret.json", NATIVE_REDIRECT),
    ] {
        let response = open(format!("{host}{path}"), redirect).await.unwrap();
        let status = response.status();
        assert!(response.headers().get("location").is_none(), "{path}");
        let page = response.text().await.unwrap();
        assert_eq!(status, 400, "{path}: {page}");
        if path == "/liar.json" {
            assert!(page.contains("differs from its URL"), "{page}");
        }
    }
    assert_eq!(s.server.entry_counts().client_documents, 1);

    // Off without the profile: a URL is then just an unknown client_id.
    let plain = setup_with(|d| d).await;
    let response = browser()
        .get(authorize_url(
            &plain.server,
            &client_id,
            &[("redirect_uri", NATIVE_REDIRECT)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

/// `/authorize` with a URL `client_id` and PKCE, opened in a browser that does not follow
/// redirects.
async fn open_with_document(
    server: &DevServerHandle,
    client_id: &str,
    redirect_uri: &str,
) -> reqwest::Response {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let pairs = [
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    browser()
        .get(authorize_url(server, client_id, &pairs))
        .send()
        .await
        .unwrap()
}

/// The client ID metadata document draft: the document is the one served at the URL that is
/// the `client_id`. Followed redirects let an open redirect on the client's site hand the id
/// to a document on another origin, whose redirect URI then got the code.
#[tokio::test]
async fn client_id_metadata_document_behind_a_redirect_to_another_origin_is_refused() {
    let s = setup().await;
    let evil = "http://127.0.0.1/evil";
    let attacker_fetches = Arc::new(AtomicUsize::new(0));
    let (counter, named) = (
        attacker_fetches.clone(),
        Arc::new(std::sync::OnceLock::new()),
    );
    let document_names = named.clone();
    let attacker = serve(axum::Router::new().route(
        "/doc.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let document = json!({
                "client_id": document_names.get(),
                "client_name": "Legit Client",
                "redirect_uris": [evil],
                "token_endpoint_auth_method": "none",
            });
            async move { axum::Json(document) }
        }),
    ))
    .await;
    let to = format!("{attacker}/doc.json");
    let legit = serve(axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || async move { axum::response::Redirect::temporary(&to) }),
    ))
    .await;
    let client_id = format!("{legit}/client.json");
    named.set(client_id.clone()).unwrap();

    let response = open_with_document(&s.server, &client_id, evil).await;
    assert!(response.headers().get("location").is_none());
    let status = response.status();
    let page = response.text().await.unwrap();
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("answered with a redirect"), "{page}");
    assert_eq!(attacker_fetches.load(Ordering::SeqCst), 0, "never followed");
    assert_eq!(s.server.entry_counts().client_documents, 0);
}

/// `/authorize` needs no credentials, and each new URL `client_id` made the server fetch it:
/// any number at once, and again every time for a URL that had just failed. Now at most a few
/// fetches run at once (more are refused at once), requests for a URL being fetched wait for
/// that one fetch, and a failure is remembered for a while.
#[tokio::test]
async fn client_id_metadata_document_fetches_are_bounded_shared_and_failures_remembered() {
    let s = setup().await;
    let (running, most, total) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (r, m, t) = (running.clone(), most.clone(), total.clone());
    let target = serve(axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let (r, m, t) = (r.clone(), m.clone(), t.clone());
            async move {
                t.fetch_add(1, Ordering::SeqCst);
                m.fetch_max(r.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                // Long enough for the requests below to overlap on a loaded machine.
                tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                axum::http::StatusCode::NOT_FOUND
            }
        }),
    ))
    .await;
    let server = Arc::new(s.server);
    let at_once = |ids: Vec<String>| {
        let tasks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let server = server.clone();
                tokio::spawn(async move {
                    let response = open_with_document(&server, &id, NATIVE_REDIRECT).await;
                    (response.status(), response.text().await.unwrap())
                })
            })
            .collect();
        async move {
            let mut pages = Vec::new();
            for task in tasks {
                let (status, page) = task.await.unwrap();
                assert_eq!(status, 400, "{page}");
                pages.push(page);
            }
            pages
        }
    };
    // Distinct URLs (by their query), all at once.
    let pages = at_once((0..40).map(|i| format!("{target}/slow?{i}")).collect()).await;
    assert!(
        most.load(Ordering::SeqCst) <= 4,
        "fetches at once: {}",
        most.load(Ordering::SeqCst)
    );
    for page in &pages {
        assert!(
            page.contains("too many client metadata documents are being fetched")
                || page.contains("could not be fetched"),
            "{page}"
        );
    }
    // One URL asked for six times at once is fetched once, and not again while remembered.
    let before = total.load(Ordering::SeqCst);
    let same = format!("{target}/slow?same");
    at_once(vec![same.clone(); 6]).await;
    assert_eq!(
        total.load(Ordering::SeqCst),
        before + 1,
        "one fetch per URL"
    );
    for _ in 0..3 {
        let response = open_with_document(&server, &same, NATIVE_REDIRECT).await;
        assert_eq!(response.status(), 400);
    }
    assert_eq!(
        total.load(Ordering::SeqCst),
        before + 1,
        "a URL that just failed is not fetched again"
    );
}

#[tokio::test]
async fn rfc9728_metadata_at_both_well_known_urls_and_in_401_and_403_challenges() {
    let s = setup().await;
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", s.api);
    for url in [
        metadata_url.clone(),
        format!("{}/.well-known/oauth-protected-resource", s.api),
    ] {
        let answer = get(&url, None).await;
        assert_eq!(answer.status, 200, "{url}");
        let document: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(document["resource"], s.resource.as_str());
        assert_eq!(
            document["authorization_servers"],
            json!([s.server.issuer()])
        );
        let scopes = document["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&json!("photos:read")));
        assert!(!scopes.contains(&json!("offline_access")));
    }
    let link = format!(r#"resource_metadata="{metadata_url}""#);
    let Answer {
        status,
        www_authenticate,
        ..
    } = get(&format!("{}/mcp", s.api), None).await;
    assert_eq!(status, 401);
    assert!(www_authenticate.unwrap().contains(&link));
    let read_only =
        tokens(code_flow(&s.server, "native", NATIVE_REDIRECT, &[&s.resource], &[]).await).await;
    let answer = get(
        &format!("{}/mcp/upload", s.api),
        read_only["access_token"].as_str(),
    )
    .await;
    assert_eq!(answer.status, 403);
    let challenge = answer.www_authenticate.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(&link), "{challenge}");
}
