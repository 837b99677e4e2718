//! Rocket specifics: one verification per request, the user's catchers kept, configuration from
//! Rocket's figment, failing closed without the fairing, and Rocket's `Option` semantics.
#![allow(clippy::unwrap_used)]

use oauth_e2e::support::*;
use oauth_runtime::rocket::AuthFairing;
use oauth_runtime::{Authenticator, Claims, requires_scope};
use rocket::Config;
use rocket::{Build, Request, Rocket, catch, catchers, get, routes};

#[requires_scope("photos:read")]
#[get("/guarded")]
async fn guarded(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

#[get("/optional")]
fn optional(claims: Option<Claims>) -> String {
    claims.map_or("anonymous".into(), |c| {
        c.subject().unwrap_or_default().to_owned()
    })
}

#[catch(401)]
fn my_401(_: &Request<'_>) -> &'static str {
    "please log in"
}

async fn launch(rocket: Rocket<Build>) -> String {
    launch_rocket(rocket).await
}

fn config() -> Config {
    rocket_config()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_is_verified_once_per_request() {
    let keys = Keys::generate();
    let counting = Counting::new(keys.verifier());
    let rocket = rocket::custom(config())
        .attach(Authenticator::new(counting.clone()).fairing())
        .mount("/", routes![guarded]);
    let base = launch(rocket).await;
    let a = get(&format!("{base}/guarded"), Some(&keys.token("photos:read"))).await;
    assert_eq!((a.status, a.body.as_str()), (200, "alice"));
    assert_eq!(counting.calls(), 1, "guard plus Claims verify once");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_users_own_catcher_keeps_its_body_and_gets_the_challenge() {
    let keys = Keys::generate();
    let rocket = rocket::custom(config())
        .attach(Authenticator::new(keys.verifier()).fairing())
        .mount("/", routes![guarded])
        .register("/", catchers![my_401]);
    let base = launch(rocket).await;
    let a = get(&format!("{base}/guarded"), None).await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref(), a.body.as_str()),
        (401, Some("Bearer"), "please log in")
    );
    // A 403 has no catcher of the user's: the standard JSON answer.
    let a = get(&format!("{base}/guarded"), Some(&keys.token("other"))).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.starts_with(r#"{"error":"insufficient_scope""#),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fairing_reads_rocket_configuration() {
    let keys = Keys::generate();
    let pem = pem::encode(&pem::Pem::new(
        "PUBLIC KEY",
        keys.es.public_key_der().unwrap(),
    ));
    let figment = rocket::figment::Figment::from(config())
        .merge(("oauth.issuer", ISSUER))
        .merge(("oauth.audience", photos_demo::AUDIENCE))
        .merge(("oauth.public_keys_pem", vec![pem]))
        .merge(("oauth.realm", "configured"));
    let rocket = rocket::custom(figment)
        .attach(AuthFairing::from_config())
        .mount("/", routes![guarded]);
    let base = launch(rocket).await;
    assert_eq!(
        get(&format!("{base}/guarded"), Some(&keys.token("photos:read")))
            .await
            .status,
        200
    );
    let a = get(&format!("{base}/guarded"), None).await;
    assert_eq!(
        a.www_authenticate.as_deref(),
        Some(r#"Bearer realm="configured""#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_configuration_stops_the_launch() {
    let figment = rocket::figment::Figment::from(config()).merge(("oauth.audience", "api"));
    let error = rocket::custom(figment)
        .attach(AuthFairing::from_config())
        .ignite()
        .await
        .err();
    // Looking at the kind also marks Rocket's error as handled.
    let kind = error.as_ref().map(|e| e.kind());
    assert!(
        matches!(kind, Some(rocket::error::ErrorKind::FailedFairings(f)) if f[0].name == "oauth-runtime"),
        "no issuer configured: ignition must fail in our fairing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_fairing_protected_routes_fail_closed() {
    let keys = Keys::generate();
    let base = launch(rocket::custom(config()).mount("/", routes![guarded])).await;
    let a = get(&format!("{base}/guarded"), Some(&keys.token("photos:read"))).await;
    assert_eq!(a.status, 500);
    assert_eq!(a.www_authenticate, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn option_claims_follow_rockets_option_semantics() {
    let keys = Keys::generate();
    let rocket = rocket::custom(config())
        .attach(Authenticator::new(keys.verifier()).fairing())
        .mount("/", routes![optional]);
    let base = launch(rocket).await;
    let url = format!("{base}/optional");
    assert_eq!(get(&url, Some(&keys.token(""))).await.body, "alice");
    assert_eq!(get(&url, None).await.body, "anonymous");
    // Rocket's `Option` guard turns any failure into `None`; the handler's own 200 is not
    // rewritten into the rejection the inner guard recorded.
    let a = get(&url, Some("not.a.token")).await;
    assert_eq!(
        (a.status, a.www_authenticate, a.body.as_str()),
        (200, None, "anonymous")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fairing_configuration_can_name_a_jwks_url() {
    let server = oauth_runtime::dev::DevServer::new()
        .audience("photos-api")
        .start()
        .await
        .unwrap();
    let figment = rocket::figment::Figment::from(config())
        .merge(("oauth.issuer", server.issuer()))
        .merge(("oauth.audience", "photos-api"))
        .merge(("oauth.jwks_url", format!("{}/jwks", server.issuer())));
    let rocket = rocket::custom(figment)
        .attach(AuthFairing::from_config())
        .mount("/", routes![guarded]);
    let base = launch(rocket).await;
    let a = get(
        &format!("{base}/guarded"),
        Some(&server.mint_token("alice", "photos:read")),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "alice"));
}

#[requires_scope("photos:read")]
#[get("/item/<id>", rank = 1)]
async fn guarded_item(id: u32) -> String {
    format!("item {id}")
}

#[get("/item/<name>", rank = 2)]
fn public_item(name: &str) -> String {
    format!("public {name}")
}

#[requires_scope("photos:read")]
#[get("/files/<year>/<path..>", rank = 1)]
async fn guarded_file(year: u16, path: std::path::PathBuf) -> String {
    format!("{year}/{}", path.display())
}

#[get("/files/<rest..>", rank = 2)]
fn public_file(rest: std::path::PathBuf) -> String {
    format!("public {}", rest.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guarded_route_does_not_hide_a_lower_ranked_route_it_could_never_serve() {
    let keys = Keys::generate();
    let counting = Counting::new(keys.verifier());
    let rocket = rocket::custom(config())
        .attach(Authenticator::new(counting.clone()).fairing())
        .mount(
            "/",
            routes![guarded_item, public_item, guarded_file, public_file],
        );
    let base = launch(rocket).await;
    let read = keys.token("photos:read");

    // `abc` is no `u32`: the guarded route could never serve it, so it forwards before asking
    // for credentials, with or without a token, and nothing is verified.
    for token in [None, Some(read.as_str()), Some("not.a.token")] {
        let a = get(&format!("{base}/item/abc"), token).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, "public abc"),
            "{token:?}"
        );
        assert_eq!(a.www_authenticate, None);
    }
    assert_eq!(counting.calls(), 0);
    // A request the guarded route can serve is still refused without a token.
    let a = get(&format!("{base}/item/7"), None).await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (401, Some("Bearer"))
    );
    let a = get(&format!("{base}/item/7"), Some(&read)).await;
    assert_eq!((a.status, a.body.as_str()), (200, "item 7"));

    // Several typed segments, and a trailing `<path..>`.
    let a = get(&format!("{base}/files/notayear/a/b"), None).await;
    assert_eq!((a.status, a.body.as_str()), (200, "public notayear/a/b"));
    let a = get(&format!("{base}/files/2024/a/b"), None).await;
    assert_eq!(a.status, 401);
    let a = get(&format!("{base}/files/2024/a/b"), Some(&read)).await;
    assert_eq!((a.status, a.body.as_str()), (200, "2024/a/b"));
}

/// A 401 of the handler's own, with its own challenge.
#[derive(rocket::Responder)]
#[response(status = 401)]
struct OwnRefusal {
    body: &'static str,
    challenge: rocket::http::Header<'static>,
}

#[get("/maybe")]
fn maybe(claims: Option<Claims>) -> Result<String, OwnRefusal> {
    match claims {
        Some(c) => Ok(c.subject().unwrap_or_default().to_owned()),
        None => Err(OwnRefusal {
            body: "my own answer",
            challenge: rocket::http::Header::new("WWW-Authenticate", r#"Bearer realm="mine""#),
        }),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_option_claims_handler_keeps_its_own_response_of_the_same_status() {
    let keys = Keys::generate();
    for with_catcher in [false, true] {
        let mut rocket = rocket::custom(config())
            .attach(Authenticator::new(keys.verifier()).fairing())
            .mount("/", routes![maybe]);
        if with_catcher {
            rocket = rocket.register("/", catchers![my_401]);
        }
        let base = launch(rocket).await;
        // The bad token's rejection was absorbed by `Option`; the handler answered 401 itself.
        let a = get(&format!("{base}/maybe"), Some("not.a.token")).await;
        assert_eq!(
            (a.status, a.www_authenticate.as_deref(), a.body.as_str()),
            (401, Some(r#"Bearer realm="mine""#), "my own answer"),
            "with a catcher of the user's: {with_catcher}"
        );
        assert_eq!(
            get(&format!("{base}/maybe"), Some(&keys.token("")))
                .await
                .body,
            "alice"
        );
    }
}

#[catch(401)]
fn api_401(_: &Request<'_>) -> &'static str {
    "api says log in"
}

#[requires_scope("photos:read")]
#[get("/x")]
async fn apiary() -> &'static str {
    "bees"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catcher_covers_its_base_by_path_segments_not_by_string_prefix() {
    let keys = Keys::generate();
    let rocket = rocket::custom(config())
        .attach(Authenticator::new(keys.verifier()).fairing())
        .mount("/apiary", routes![apiary])
        .mount("/api", routes![apiary])
        .register("/api", catchers![api_401]);
    let base = launch(rocket).await;
    // `/api` is not a segment prefix of `/apiary/x`: the standard JSON answer.
    let a = get(&format!("{base}/apiary/x"), None).await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref(), a.body.as_str()),
        (
            401,
            Some("Bearer"),
            r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#
        )
    );
    // Under `/api` the user's catcher answers, with the challenge added.
    let a = get(&format!("{base}/api/x"), None).await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref(), a.body.as_str()),
        (401, Some("Bearer"), "api says log in")
    );
}
