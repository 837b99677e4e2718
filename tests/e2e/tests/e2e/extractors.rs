//! The axum extractors' contract: claims verified once per request, optional authentication,
//! a missing layer failing closed, custom rejection bodies.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::get as route_get;
use oauth_e2e::support::*;
use oauth_runtime::{Authenticator, Claims, ErrorResponse, requires_scope};

#[requires_scope("photos:read")]
async fn guarded(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

#[requires_scope("photos:read")]
#[requires_scope("albums:read")]
async fn doubly_guarded(claims: Claims) -> String {
    claims.subject().unwrap_or_default().to_owned()
}

async fn optional(claims: Option<Claims>) -> String {
    claims.map_or("anonymous".into(), |c| {
        c.subject().unwrap_or_default().to_owned()
    })
}

#[tokio::test]
async fn the_token_is_verified_once_per_request_however_many_extractors() {
    let keys = Keys::generate();
    let counting = Counting::new(keys.verifier());
    let app = Router::new()
        .route("/guarded", route_get(guarded))
        .route("/doubly", route_get(doubly_guarded))
        .layer(Authenticator::new(counting.clone()).layer());
    let base = serve(app).await;

    let a = get(&format!("{base}/guarded"), Some(&keys.token("photos:read"))).await;
    assert_eq!((a.status, a.body.as_str()), (200, "alice"));
    assert_eq!(
        counting.calls(),
        1,
        "guard plus Claims extractor verify once"
    );

    let a = get(
        &format!("{base}/doubly"),
        Some(&keys.token("photos:read albums:read")),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        counting.calls(),
        2,
        "two stacked guards and Claims still verify once"
    );

    let a = get(&format!("{base}/doubly"), Some(&keys.token("photos:read"))).await;
    assert_eq!(a.status, 403, "stacked requirements must both hold");
}

#[tokio::test]
async fn optional_claims_are_none_without_a_token_and_reject_a_bad_one() {
    let keys = Keys::generate();
    let app = Router::new()
        .route("/hello", route_get(optional))
        .layer(Authenticator::new(keys.verifier()).layer());
    let url = format!("{}/hello", serve(app).await);

    assert_eq!(get(&url, None).await.body, "anonymous");
    assert_eq!(get(&url, Some(&keys.token(""))).await.body, "alice");
    let bad = get(&url, Some("not.a.token")).await;
    assert_eq!(
        bad.status, 401,
        "a bad token must not downgrade to anonymous"
    );
    assert_eq!(
        bad.www_authenticate.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the access token is invalid""#)
    );
}

#[tokio::test]
async fn a_route_without_the_layer_fails_closed_with_500() {
    let keys = Keys::generate();
    let base = serve(Router::new().route("/guarded", route_get(guarded))).await;
    let a = get(&format!("{base}/guarded"), Some(&keys.token("photos:read"))).await;
    assert_eq!((a.status, a.www_authenticate), (500, None));
    assert_eq!(
        a.body,
        r#"{"error":"server_error","error_description":"authentication is not configured"}"#
    );
}

#[tokio::test]
async fn rejections_can_be_replaced_by_the_user() {
    let keys = Keys::generate();
    let authenticator = Authenticator::builder(keys.verifier())
        .map_response(|error, standard| ErrorResponse {
            body: format!(
                r#"{{"problem":"{}"}}"#,
                error.error_code().unwrap_or("login")
            ),
            ..standard
        })
        .build()
        .unwrap();
    let base = serve(
        Router::new()
            .route("/guarded", route_get(guarded))
            .layer(authenticator.layer()),
    )
    .await;

    let a = get(&format!("{base}/guarded"), None).await;
    assert_eq!(
        (a.status, a.www_authenticate.as_deref(), a.body.as_str()),
        (401, Some("Bearer"), r#"{"problem":"login"}"#)
    );
    let a = get(&format!("{base}/guarded"), Some(&keys.token("other"))).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (403, r#"{"problem":"insufficient_scope"}"#)
    );
}
