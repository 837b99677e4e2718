//! Rocket specifics: one verification per request, the user's catchers kept, configuration from
//! Rocket's figment, failing closed without the fairing, and Rocket's `Option` semantics.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
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
