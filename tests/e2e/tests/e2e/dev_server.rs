//! The development authorization server driven end to end over real HTTP: the `oauth2` crate as
//! the client, a plain HTTP client as the person at the browser, and the tokens checked by our
//! own `JwtVerifier` through the published JWKS. Then one test per rule, each failing without it.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use oauth_e2e::support::{ConsentPage, approve_as_alice, browser, open_consent, submit_consent};

use oauth_runtime::dev::{Client, DevServer, DevServerHandle, Grant, Lifetimes, User};
use oauth_runtime::{JwtVerifier, keys_from_jwk_set};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername,
    Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:8080/callback";

async fn start_with(lifetimes: Lifetimes) -> DevServerHandle {
    DevServer::new()
        .audience("photos-api")
        .lifetimes(lifetimes)
        .scope("photos:read", "See your photos")
        .scope("photos:write", "Upload photos")
        .scope("albums:read", "See your albums")
        .client(Client::confidential(
            "demo-client",
            "demo-secret",
            [REDIRECT],
        ))
        .client(Client::public("demo-spa", [REDIRECT]))
        .client(Client::confidential("other", "other-secret", [REDIRECT]))
        .client(
            Client::confidential("legacy", "legacy-secret", [REDIRECT]).with_grants([
                Grant::Password,
                Grant::Implicit,
                Grant::RefreshToken,
            ]),
        )
        .client(Client::public("plain-spa", [REDIRECT]).with_plain_pkce())
        .user(User {
            username: "alice".into(),
            password: "wonderland".into(),
            otp: None,
        })
        .start()
        .await
        .unwrap()
}

async fn start() -> DevServerHandle {
    start_with(Lifetimes::default()).await
}

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

type Oauth2Client = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(server: &DevServerHandle, id: &str, secret: Option<&str>) -> Oauth2Client {
    let base = BasicClient::new(ClientId::new(id.into()))
        .set_auth_uri(AuthUrl::new(format!("{}/authorize", server.issuer())).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/token", server.issuer())).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    match secret {
        Some(secret) => base.set_client_secret(ClientSecret::new(secret.into())),
        None => base.set_auth_type(AuthType::RequestBody),
    }
}

/// A verifier built the way a resource server would: from the published JWKS.
async fn jwks_verifier(server: &DevServerHandle) -> JwtVerifier {
    let jwks = reqwest::get(format!("{}/jwks", server.issuer()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    JwtVerifier::builder()
        .issuer(server.issuer())
        .audience("photos-api")
        .require_rfc9068(true)
        .keys(keys_from_jwk_set(&jwks).unwrap())
        .build()
        .unwrap()
}

async fn open(url: &str) -> ConsentPage {
    open_consent(url).await
}

async fn submit(
    server: &DevServerHandle,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    submit_consent(server.issuer(), cookie, fields).await
}

async fn approve(server: &DevServerHandle, url: &str) -> String {
    approve_as_alice(server.issuer(), url).await
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(location).unwrap();
    let pairs = url.query_pairs().chain(
        url.fragment()
            .map(url::form_urlencoded_parse)
            .into_iter()
            .flatten(),
    );
    pairs
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

mod url {
    pub fn form_urlencoded_parse(
        s: &str,
    ) -> Vec<(
        std::borrow::Cow<'static, str>,
        std::borrow::Cow<'static, str>,
    )> {
        reqwest::Url::parse(&format!("http://x/?{s}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned().into(), v.into_owned().into()))
            .collect()
    }
}

/// Runs the whole code flow with PKCE and returns the tokens.
async fn log_in(
    server: &DevServerHandle,
    client: &Oauth2Client,
    scopes: &[&str],
) -> oauth2::basic::BasicTokenResponse {
    let (code, verifier) = code_for(server, client, scopes).await;
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap()
}

/// Runs the code flow up to the code.
async fn code_for(
    server: &DevServerHandle,
    client: &Oauth2Client,
    scopes: &[&str],
) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    let (url, state) = request.url();
    let location = approve(server, url.as_str()).await;
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str()),
        "RFC 6749 §4.1.2 state echoed"
    );
    (query_param(&location, "code").unwrap(), verifier)
}

async fn introspect(server: &DevServerHandle, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/introspect", server.issuer()))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn token_request(
    server: &DevServerHandle,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/token", server.issuer()))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

// --- every grant, end to end ---------------------------------------------------------------

#[tokio::test]
async fn authorization_code_with_pkce_for_a_confidential_client() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let tokens = log_in(&server, &client, &["photos:read", "albums:read"]).await;
    let claims = jwks_verifier(&server)
        .await
        .verify_token(tokens.access_token().secret())
        .unwrap();
    assert_eq!(claims.subject(), Some("alice"));
    assert_eq!(claims.client_id(), Some("demo-client"));
    assert_eq!(claims.scopes().to_string(), "albums:read photos:read");
    assert!(tokens.refresh_token().is_some());
}

#[tokio::test]
async fn authorization_code_with_pkce_for_a_public_client() {
    let server = start().await;
    let client = client(&server, "demo-spa", None);
    let tokens = log_in(&server, &client, &["photos:read"]).await;
    assert!(
        jwks_verifier(&server)
            .await
            .verify_token(tokens.access_token().secret())
            .is_ok()
    );
}

#[tokio::test]
async fn client_credentials_without_refresh_token() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let tokens = client
        .exchange_client_credentials()
        .add_scope(Scope::new("photos:write".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert!(
        tokens.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    let claims = jwks_verifier(&server)
        .await
        .verify_token(tokens.access_token().secret())
        .unwrap();
    assert_eq!(
        (claims.subject(), claims.scopes().to_string().as_str()),
        (Some("demo-client"), "photos:write")
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_can_narrow_the_scope() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let first = log_in(&server, &client, &["photos:read", "albums:read"]).await;
    let refresh = first.refresh_token().unwrap().clone();
    let second = client
        .exchange_refresh_token(&refresh)
        .add_scope(Scope::new("photos:read".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert_ne!(
        second.refresh_token().unwrap().secret(),
        refresh.secret(),
        "rotated"
    );
    let claims = jwks_verifier(&server)
        .await
        .verify_token(second.access_token().secret())
        .unwrap();
    assert_eq!(claims.scopes().to_string(), "photos:read");
}

#[tokio::test]
async fn password_grant_for_a_client_that_enables_it() {
    let server = start().await;
    let client = client(&server, "legacy", Some("legacy-secret"));
    let tokens = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("wonderland".into()),
        )
        .add_scope(Scope::new("photos:read".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert!(
        jwks_verifier(&server)
            .await
            .verify_token(tokens.access_token().secret())
            .is_ok()
    );
}

#[tokio::test]
async fn implicit_grant_for_a_client_that_enables_it() {
    let server = start().await;
    let url = format!(
        "{}/authorize?response_type=token&client_id=legacy&redirect_uri={REDIRECT}&scope=photos:read&state=xyz",
        server.issuer()
    );
    let location = approve(&server, &url).await;
    let fragment = reqwest::Url::parse(&location)
        .unwrap()
        .fragment()
        .unwrap()
        .to_owned();
    let params = url::form_urlencoded_parse(&fragment);
    let get = |n: &str| {
        params
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(get("state").as_deref(), Some("xyz"));
    assert_eq!(
        get("refresh_token"),
        None,
        "RFC 6749 §4.2.2: no refresh token"
    );
    assert!(
        jwks_verifier(&server)
            .await
            .verify_token(&get("access_token").unwrap())
            .is_ok()
    );
}

#[tokio::test]
async fn rfc8414_metadata_advertises_every_endpoint() {
    let server = start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let meta: Value = reqwest::get(format!("{}{path}", server.issuer()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], server.issuer());
        for endpoint in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            assert!(
                meta[endpoint]
                    .as_str()
                    .unwrap()
                    .starts_with(server.issuer()),
                "{endpoint}"
            );
        }
        assert_eq!(
            meta["code_challenge_methods_supported"],
            json!(["S256", "plain"])
        );
        // The configured scopes first, then those the program declares with `scopes!` (this
        // test binary links the photo examples, which declare photos:delete too, and the
        // step-up module, which declares the payments scopes, and the scope_hierarchy module,
        // which declares the docs scopes).
        assert_eq!(
            meta["scopes_supported"],
            json!([
                "photos:read",
                "photos:write",
                "albums:read",
                "docs:admin",
                "docs:read",
                "docs:write",
                "payments:read",
                "payments:write",
                "photos:delete"
            ])
        );
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_verifiable() {
    let server = start().await;
    let old = server.mint_token("alice", "photos:read");
    server.rotate_key().unwrap();
    let new = server.mint_token("alice", "photos:read");
    let jwks = server.jwks();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "old key still published"
    );
    let verifier = jwks_verifier(&server).await;
    assert!(verifier.verify_token(&old).is_ok() && verifier.verify_token(&new).is_ok());
}

#[tokio::test]
async fn the_consent_page_lists_scopes_with_descriptions_and_escapes_input() {
    let server = start().await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-client&redirect_uri={REDIRECT}&scope=photos:read%20albums:read&state=%3Cscript%3E",
        server.issuer()
    );
    let page = open(&url).await;
    assert!(
        page.html
            .contains("<code>photos:read</code>: See your photos")
    );
    assert!(
        page.html
            .contains("<code>albums:read</code>: See your albums")
    );
    assert!(!page.html.contains("<script>"));
}

// --- one test per rule ----------------------------------------------------------------------

#[tokio::test]
async fn rfc7636_public_clients_must_use_pkce() {
    let server = start().await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-spa&redirect_uri={REDIRECT}&state=s",
        server.issuer()
    );
    let response = browser().get(url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("s"));
}

#[tokio::test]
async fn rfc7636_section_4_2_plain_is_refused_unless_enabled() {
    let server = start().await;
    let challenge = "a".repeat(43);
    for (client, expected) in [("demo-spa", Some("invalid_request")), ("plain-spa", None)] {
        let url = format!(
            "{}/authorize?response_type=code&client_id={client}&redirect_uri={REDIRECT}&code_challenge={challenge}&code_challenge_method=plain",
            server.issuer()
        );
        let response = browser().get(url).send().await.unwrap();
        match expected {
            Some(error) => {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                assert_eq!(query_param(&location, "error").as_deref(), Some(error));
            }
            None => assert_eq!(
                response.status(),
                200,
                "consent page for a client that enables plain"
            ),
        }
    }
}

#[tokio::test]
async fn rfc7636_section_4_6_verifier_mismatch_fails() {
    let server = start().await;
    let client = client(&server, "demo-spa", None);
    let (code, _) = code_for(&server, &client, &["photos:read"]).await;
    let wrong = PkceCodeVerifier::new("b".repeat(64));
    let error = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(wrong)
        .request_async(&http())
        .await;
    assert!(error.is_err());
}

#[tokio::test]
async fn rfc9700_section_2_1_1_pkce_downgrade_is_refused() {
    let server = start().await;
    // A confidential client may skip PKCE; a verifier sent for such a code is a downgrade attempt.
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-client&redirect_uri={REDIRECT}&scope=photos:read",
        server.issuer()
    );
    let code = query_param(&approve(&server, &url).await, "code").unwrap();
    let verifier = "c".repeat(50);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let response = token_request(&server, Some(("demo-client", "demo-secret")), &form).await;
    assert_eq!(error_of(response).await, (400, "invalid_grant".into()));
    // And a code issued with a challenge needs its verifier.
    let client = client(&server, "demo-client", Some("demo-secret"));
    let (code, _) = code_for(&server, &client, &["photos:read"]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let response = token_request(&server, Some(("demo-client", "demo-secret")), &form).await;
    assert_eq!(error_of(response).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn rfc6749_section_4_1_2_code_replay_fails_and_revokes_its_tokens() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let (code, verifier) = code_for(&server, &client, &["photos:read"]).await;
    let verifier_again = PkceCodeVerifier::new(verifier.secret().clone());
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    assert_eq!(introspect(&server, &access).await["active"], true);

    let replay = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier_again)
        .request_async(&http())
        .await;
    assert!(replay.is_err());
    assert_eq!(introspect(&server, &access).await, json!({"active": false}));
    assert_eq!(
        introspect(&server, &refresh).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn rfc6749_section_4_1_2_codes_expire() {
    let server = start_with(Lifetimes {
        code: Duration::from_secs(1),
        ..Lifetimes::default()
    })
    .await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let (code, verifier) = code_for(&server, &client, &["photos:read"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let result = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await;
    assert!(result.is_err(), "an expired code must not be exchanged");
}

#[tokio::test]
async fn rfc6749_section_4_1_2_1_redirect_mismatch_shows_an_error_page_and_never_redirects() {
    let server = start().await;
    for redirect in [
        "http://127.0.0.1:8080/callback/evil",
        "http://evil.example/callback",
        "http://127.0.0.1:8080/CALLBACK",
    ] {
        let url = format!(
            "{}/authorize?response_type=code&client_id=demo-client&redirect_uri={redirect}&state=s",
            server.issuer()
        );
        let response = browser().get(url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{redirect}");
        assert!(response.headers().get("location").is_none());
    }
    let unknown = format!(
        "{}/authorize?response_type=code&client_id=nobody&redirect_uri={REDIRECT}",
        server.issuer()
    );
    let response = browser().get(unknown).send().await.unwrap();
    assert_eq!(
        (
            response.status().as_u16(),
            response.headers().get("location").is_none()
        ),
        (400, true)
    );
}

#[tokio::test]
async fn rfc9700_section_4_14_2_refresh_token_reuse_revokes_the_grant() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let first = log_in(&server, &client, &["photos:read"]).await;
    let stolen = first.refresh_token().unwrap().clone();
    let second = client
        .exchange_refresh_token(&stolen)
        .request_async(&http())
        .await
        .unwrap();
    // The attacker replays the rotated token: refused, and the legitimate chain dies too.
    assert!(
        client
            .exchange_refresh_token(&stolen)
            .request_async(&http())
            .await
            .is_err()
    );
    let current = second.refresh_token().unwrap().clone();
    assert!(
        client
            .exchange_refresh_token(&current)
            .request_async(&http())
            .await
            .is_err()
    );
    assert_eq!(
        introspect(&server, second.access_token().secret()).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn rfc6749_section_6_refresh_cannot_widen_the_scope() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let tokens = log_in(&server, &client, &["photos:read"]).await;
    let form = [
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            tokens.refresh_token().unwrap().secret().as_str(),
        ),
        ("scope", "photos:read photos:write"),
    ];
    let response = token_request(&server, Some(("demo-client", "demo-secret")), &form).await;
    assert_eq!(error_of(response).await, (400, "invalid_scope".into()));
}

#[tokio::test]
async fn rfc6749_section_4_1_3_a_code_is_bound_to_its_client() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let (code, verifier) = code_for(&server, &client, &["photos:read"]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let response = token_request(&server, Some(("other", "other-secret")), &form).await;
    assert_eq!(error_of(response).await, (400, "invalid_grant".into()));
    // The rightful client can still use it.
    let response = token_request(&server, Some(("demo-client", "demo-secret")), &form).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn rfc6749_section_2_3_1_basic_and_post_client_authentication() {
    let server = start().await;
    let form = [("grant_type", "client_credentials")];
    // Basic: a wrong secret is a 401 with a Basic challenge.
    let response = token_request(&server, Some(("demo-client", "wrong")), &form).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"oauth-dev-server\""
    );
    assert_eq!(error_of(response).await, (401, "invalid_client".into()));
    // Post: the same mistake is a 401 without a Basic challenge.
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
        ("client_secret", "wrong"),
    ];
    let response = token_request(&server, None, &post).await;
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(error_of(response).await, (401, "invalid_client".into()));
    // Both methods at once is malformed; the right secret either way works.
    let both = [
        ("grant_type", "client_credentials"),
        ("client_secret", "demo-secret"),
    ];
    let response = token_request(&server, Some(("demo-client", "demo-secret")), &both).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".into()));
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
        ("client_secret", "demo-secret"),
    ];
    let response = token_request(&server, None, &post).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        token_request(&server, Some(("demo-client", "demo-secret")), &form)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn rfc6749_section_5_2_error_codes() {
    let server = start().await;
    let basic = Some(("demo-client", "demo-secret"));
    let response = token_request(
        &server,
        basic,
        &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (400, "unsupported_grant_type".into())
    );
    let response = token_request(
        &server,
        basic,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(error_of(response).await, (400, "invalid_scope".into()));
    let response = token_request(&server, basic, &[]).await;
    assert_eq!(error_of(response).await, (400, "invalid_request".into()));
    let response = token_request(
        &server,
        basic,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "password"),
        ],
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (400, "invalid_request".into()),
        "RFC 6749 §3.1: repeated parameter"
    );
    let response = token_request(
        &server,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-spa"),
        ],
    )
    .await;
    assert_eq!(
        error_of(response).await,
        (400, "unauthorized_client".into()),
        "public clients have no client credentials grant"
    );
}

#[tokio::test]
async fn implicit_and_password_are_refused_unless_enabled() {
    let server = start().await;
    let url = format!(
        "{}/authorize?response_type=token&client_id=demo-client&redirect_uri={REDIRECT}&state=s",
        server.issuer()
    );
    let response = browser().get(url).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("unauthorized_client")
    );
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wonderland"),
    ];
    let response = token_request(&server, Some(("demo-client", "demo-secret")), &form).await;
    assert_eq!(
        error_of(response).await,
        (400, "unauthorized_client".into())
    );
}

#[tokio::test]
async fn the_consent_form_is_protected_against_csrf() {
    let server = start().await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-client&redirect_uri={REDIRECT}&scope=photos:read",
        server.issuer()
    );
    let page = open(&url).await;
    let approve = |csrf: &'static str| {
        [
            ("csrf_token", csrf),
            ("username", "alice"),
            ("password", "wonderland"),
            ("decision", "approve"),
        ]
    };
    // Without the form token.
    let response = submit(&server, Some(&page.cookie), &approve("")[1..]).await;
    assert_eq!(response.status(), 403);
    // With a wrong token, cookie and form agreeing (the attacker forging both).
    let response = submit(&server, Some("oauth_dev_csrf=forged"), &approve("forged")).await;
    assert_eq!(response.status(), 403);
    // With the right form token but no cookie (a cross-site post).
    let fields = [
        ("csrf_token", page.csrf.as_str()),
        ("username", "alice"),
        ("password", "wonderland"),
        ("decision", "approve"),
    ];
    assert_eq!(submit(&server, None, &fields).await.status(), 403);
    // Control: the genuine submission redirects with a code, once.
    let response = submit(&server, Some(&page.cookie), &fields).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        submit(&server, Some(&page.cookie), &fields).await.status(),
        403,
        "single use"
    );
}

#[tokio::test]
async fn deny_and_wrong_password() {
    let server = start().await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-client&redirect_uri={REDIRECT}&scope=photos:read&state=st",
        server.issuer()
    );
    let page = open(&url).await;
    let wrong = [
        ("csrf_token", page.csrf.as_str()),
        ("username", "alice"),
        ("password", "nope"),
        ("decision", "approve"),
    ];
    let response = submit(&server, Some(&page.cookie), &wrong).await;
    assert_eq!(response.status(), 401);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("wrong username or password")
    );
    let deny = [("csrf_token", page.csrf.as_str()), ("decision", "deny")];
    let response = submit(&server, Some(&page.cookie), &deny).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st"));
}

#[tokio::test]
async fn rfc7662_introspection_of_active_revoked_expired_and_unknown_tokens() {
    // `exp` is in whole seconds (`iat` rounded down plus the lifetime), so a token of n seconds
    // lives between n - 1 and n: 2 s leaves the checks below at least a second of "active".
    let server = start_with(Lifetimes {
        access_token: Duration::from_secs(2),
        ..Lifetimes::default()
    })
    .await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let tokens = client
        .exchange_client_credentials()
        .add_scope(Scope::new("photos:read".into()))
        .request_async(&http())
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    let status = introspect(&server, &access).await;
    assert_eq!(
        (
            status["active"].clone(),
            status["client_id"].clone(),
            status["scope"].clone()
        ),
        (json!(true), json!("demo-client"), json!("photos:read"))
    );

    // RFC 7009: revoked by its client.
    let response = reqwest::Client::new()
        .post(format!("{}/revoke", server.issuer()))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(introspect(&server, &access).await, json!({"active": false}));

    // Expired: access tokens live at most 2 s here. The verifier's leeway does not apply; the
    // server knows the exact expiry.
    let short = client
        .exchange_client_credentials()
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(
        introspect(&server, short.access_token().secret()).await["active"],
        true
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        introspect(&server, short.access_token().secret()).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&server, "not-a-token").await,
        json!({"active": false})
    );

    // Unknown tokens revoke fine (RFC 7009 §2.2).
    let response = reqwest::Client::new()
        .post(format!("{}/revoke", server.issuer()))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("token", "whatever")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Public clients may not introspect.
    let response = reqwest::Client::new()
        .post(format!("{}/introspect", server.issuer()))
        .form(&[("token", access.as_str()), ("client_id", "demo-spa")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant() {
    let server = start().await;
    let client = client(&server, "demo-client", Some("demo-secret"));
    let tokens = log_in(&server, &client, &["photos:read"]).await;
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    reqwest::Client::new()
        .post(format!("{}/revoke", server.issuer()))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        introspect(&server, tokens.access_token().secret()).await,
        json!({"active": false})
    );
    assert!(
        client
            .exchange_refresh_token(&RefreshToken::new(refresh))
            .request_async(&http())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn request_bodies_are_bounded() {
    let server = start().await;
    let huge = "a".repeat(64 * 1024);
    let response = token_request(
        &server,
        Some(("demo-client", "demo-secret")),
        &[("grant_type", "client_credentials"), ("x", huge.as_str())],
    )
    .await;
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_key_file_is_created_once_and_reused_so_tokens_survive_restarts() {
    let dir = std::env::temp_dir().join(format!("oauth-dev-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for alg in [
        oauth_runtime::Algorithm::ES256,
        oauth_runtime::Algorithm::RS256,
        oauth_runtime::Algorithm::EdDSA,
    ] {
        let path = dir.join(format!("{alg:?}.pem"));
        let _ = std::fs::remove_file(&path);
        let first = DevServer::new()
            .algorithm(alg)
            .key_file(&path)
            .start()
            .await
            .unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        let jwks = first.jwks();
        let token = first.mint_token("alice", "photos:read");
        drop(first);
        // The algorithm asked for now is ignored: the file decides.
        let second = DevServer::new().key_file(&path).start().await.unwrap();
        assert_eq!(second.jwks(), jwks, "{alg:?}: same key, same kid");
        let keys = keys_from_jwk_set(&second.jwks().to_string()).unwrap();
        let verifier = JwtVerifier::builder()
            .allow_any_issuer()
            .audience("api")
            .keys(keys)
            .build()
            .unwrap();
        assert!(
            verifier.verify_token(&token).is_ok(),
            "{alg:?}: a token from before the restart verifies"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
