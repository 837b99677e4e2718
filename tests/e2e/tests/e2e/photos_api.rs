//! Every route of the example API, over real HTTP: the status, `WWW-Authenticate` and body of
//! each kind of request (RFC 6750 §3 and §3.1).
#![allow(clippy::unwrap_used)]

use oauth_e2e::support::*;
use serde_json::json;

#[derive(Clone, Copy, Debug)]
enum Method {
    Get,
    Post,
    Delete,
}

async fn call(base: &str, method: Method, path: &str, token: Option<&str>) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let mut request = match method {
        Method::Get => client.get(url),
        Method::Post => client.post(url).json(&json!({ "title": "sunset" })),
        Method::Delete => client.delete(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Answer::from(request.send().await.unwrap()).await
}

/// (method, path, a scope set that is enough, a scope set that is not, the challenge's scope)
const ROUTES: &[(Method, &str, &str, &str, &str)] = &[
    (
        Method::Get,
        "/photos",
        "photos:read",
        "albums:read photos:write",
        "photos:read",
    ),
    (
        Method::Post,
        "/photos",
        "photos:write",
        "photos:read photos:delete",
        "photos:write",
    ),
    (
        Method::Delete,
        "/photos/1",
        "photos:write photos:delete",
        "photos:write",
        "photos:delete photos:write",
    ),
    (
        Method::Get,
        "/albums",
        "albums:read",
        "photos:write",
        "photos:read",
    ),
];

#[tokio::test]
async fn rfc6750_section_3_every_route_every_answer() {
    let keys = Keys::generate();
    let base = start_example(keys.verifier()).await;
    // A token signed by a key the API does not trust.
    let stranger = Keys::generate().token(photos_demo::ALL_SCOPES);

    for &(method, path, enough, too_few, challenge_scope) in ROUTES {
        let what = format!("{method:?} {path}");

        let a = call(&base, method, path, None).await;
        assert_eq!(
            (a.status, a.www_authenticate.as_deref()),
            (401, Some(NO_TOKEN)),
            "{what} without a token"
        );
        assert_eq!(
            a.body,
            r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#
        );

        let a = call(&base, method, path, Some(&stranger)).await;
        assert_eq!(
            (a.status, a.www_authenticate.as_deref()),
            (401, Some(INVALID_TOKEN)),
            "{what} foreign key"
        );
        assert_eq!(
            a.body,
            r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#
        );

        let a = call(&base, method, path, Some(&keys.token(too_few))).await;
        let expected = insufficient(challenge_scope);
        assert_eq!(
            (a.status, a.www_authenticate.as_deref()),
            (403, Some(expected.as_str())),
            "{what} too few"
        );
        let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
        assert_eq!(body["scope"], challenge_scope);

        let a = call(&base, method, path, Some(&keys.token(enough))).await;
        assert!(
            matches!(a.status, 200 | 201 | 204 | 404),
            "{what} with {enough}: {a:?}"
        );
        assert_eq!(a.www_authenticate, None, "{what}");
    }
}

#[tokio::test]
async fn the_handlers_do_their_work_with_the_verified_claims() {
    let keys = Keys::generate();
    let base = start_example(keys.verifier()).await;
    let all = keys.token(photos_demo::ALL_SCOPES);

    let created = call(&base, Method::Post, "/photos", Some(&all)).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body, r#"{"id":1,"title":"sunset","owner":"alice"}"#);

    let listed = call(
        &base,
        Method::Get,
        "/photos",
        Some(&keys.token("photos:read")),
    )
    .await;
    assert_eq!(
        (listed.status, listed.body.as_str()),
        (200, r#"[{"id":1,"title":"sunset","owner":"alice"}]"#)
    );

    let albums = call(
        &base,
        Method::Get,
        "/albums",
        Some(&keys.token("albums:read")),
    )
    .await;
    assert_eq!(
        (albums.status, albums.body.as_str()),
        (200, r#"[{"name":"All photos","photos":1}]"#)
    );

    assert_eq!(
        call(&base, Method::Delete, "/photos/1", Some(&all))
            .await
            .status,
        204
    );
    assert_eq!(
        call(&base, Method::Delete, "/photos/1", Some(&all))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn health_is_open() {
    let base = start_example(Keys::generate().verifier()).await;
    let a = get(&format!("{base}/health"), None).await;
    assert_eq!(
        (a.status, a.www_authenticate, a.body.as_str()),
        (200, None, "ok")
    );
}

#[tokio::test]
async fn rejected_writes_change_nothing() {
    let keys = Keys::generate();
    let base = start_example(keys.verifier()).await;
    assert_eq!(
        call(
            &base,
            Method::Post,
            "/photos",
            Some(&keys.token("photos:read"))
        )
        .await
        .status,
        403
    );
    assert_eq!(call(&base, Method::Post, "/photos", None).await.status, 401);
    let listed = call(
        &base,
        Method::Get,
        "/photos",
        Some(&keys.token("photos:read")),
    )
    .await;
    assert_eq!(listed.body, "[]");
}

#[tokio::test]
async fn the_guard_runs_before_the_body_is_read() {
    // An unauthenticated POST with a body the JSON extractor would refuse gets the 401, not a 4xx
    // from body parsing: the guard is the first parameter.
    let base = start_example(Keys::generate().verifier()).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/photos"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
