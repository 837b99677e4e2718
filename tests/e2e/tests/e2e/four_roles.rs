//! The examples as a person uses them (RFC 6749 §1.1: resource owner, client, authorization
//! server, resource server): the embedded development authorization server, the web client's
//! pages and the protected API, each example in one process, driven through a browser-like client.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use oauth_e2e::support::*;
use photos_demo::{ClientApp, Options, authenticator, authorization_server};

/// Follows the whole login: `/` → `/login` → consent → `/callback`; returns the final page.
async fn log_in_through_the_client_pages(api: &str, issuer: &str) -> String {
    let home = browser()
        .get(format!("{api}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("href=\"/login\""));
    let login = browser().get(format!("{api}/login")).send().await.unwrap();
    assert!(login.status().is_redirection());
    // The client binds the login to this browser; the callback must come back with the cookie.
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let authorize = login.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{issuer}/authorize?")),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge_method=S256"));
    let callback = approve_as_alice(issuer, &authorize).await;
    assert!(
        callback.starts_with(&format!("{api}/callback?code=")),
        "{callback}"
    );
    let page = browser()
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

fn options() -> Options {
    Options {
        port: 0,
        as_port: 0,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_axum_example_runs_the_whole_code_flow() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let server = authorization_server(&options(), &api).await.unwrap();
    let app = photos_axum::app(
        authenticator(server.verifier().unwrap(), None).unwrap(),
        Arc::new(ClientApp::new(server.issuer(), &api)),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let page = log_in_through_the_client_pages(&api, server.issuer()).await;
    assert!(
        page.contains("Granted scopes: <code>albums:read photos:read</code>"),
        "{page}"
    );
    assert!(
        page.contains("<code>GET /photos</code> answered 200"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rocket_example_runs_the_whole_code_flow() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let api = format!("http://127.0.0.1:{port}");
    let server = authorization_server(&options(), &api).await.unwrap();
    let config = rocket::Config {
        port,
        ..rocket_config()
    };
    let rocket = photos_rocket::app(
        rocket::custom(config),
        authenticator(server.verifier().unwrap(), None).unwrap(),
        ClientApp::new(server.issuer(), &api),
    );
    assert_eq!(launch_rocket(rocket).await, api);

    let page = log_in_through_the_client_pages(&api, server.issuer()).await;
    assert!(
        page.contains("<code>GET /photos</code> answered 200"),
        "{page}"
    );
}

#[tokio::test]
async fn the_banner_starts_with_issuer_and_api_and_its_tokens_work() {
    let api = "http://127.0.0.1:8080";
    let server = authorization_server(&options(), api).await.unwrap();
    let banner = photos_demo::banner(&server, api);
    let mut lines = banner.lines();
    assert_eq!(
        lines.next(),
        Some(format!("issuer: {}", server.issuer()).as_str())
    );
    assert_eq!(lines.next(), Some("api: http://127.0.0.1:8080"));
    let verifier = server.verifier().unwrap();
    let read = banner
        .lines()
        .find_map(|l| l.strip_prefix("export READ="))
        .unwrap();
    assert!(
        verifier
            .verify_token(read)
            .unwrap()
            .has_scope("photos:read")
    );
}
