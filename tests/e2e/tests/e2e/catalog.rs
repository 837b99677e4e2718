//! The catalog of the photo examples: every route with its exact requirement, from the
//! annotations alone, and declarations and use in step.
#![allow(clippy::unwrap_used)]

use oauth_e2e::support::assert_lists_the_declared_scopes;
use oauth_runtime::catalog;

fn routes_of(prefix: &str) -> Vec<(String, String)> {
    // Referencing the crates makes sure they are linked, and so registered.
    let _ = (photos_axum::app, photos_rocket::app);
    catalog::endpoints()
        .into_iter()
        .filter(|e| e.function().starts_with(prefix))
        .map(|e| (e.route().unwrap().to_owned(), e.requirement().to_string()))
        .collect()
}

#[test]
fn the_axum_example_lists_every_route_with_its_exact_requirement() {
    assert_eq!(
        routes_of("photos_axum::"),
        [
            (
                "DELETE /photos/{id}".into(),
                "all(photos:write, photos:delete)".into()
            ),
            ("GET /albums".into(), "any(photos:read, albums:read)".into()),
            ("GET /photos".into(), "photos:read".into()),
            ("POST /photos".into(), "photos:write".into()),
        ]
    );
}

#[test]
fn the_rocket_example_lists_the_same_routes_from_rockets_own_attributes() {
    assert_eq!(
        routes_of("photos_rocket::"),
        [
            (
                "DELETE /photos/<id>".into(),
                "all(photos:write, photos:delete)".into()
            ),
            ("GET /albums".into(), "any(photos:read, albums:read)".into()),
            ("GET /photos".into(), "photos:read".into()),
            ("POST /photos".into(), "photos:write".into()),
        ]
    );
}

#[test]
fn declarations_and_annotations_agree_and_render() {
    let _ = photos_axum::app;
    assert_eq!(catalog::check(), Ok(()));
    let markdown = catalog::to_markdown();
    assert!(
        markdown.contains(
            "| `photos:delete` | Delete photos | `DELETE /photos/<id>`, `DELETE /photos/{id}` |"
        ),
        "{markdown}"
    );
    assert!(!markdown.contains("## Warnings"));
    let json = catalog::to_json();
    let get_photos = json["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["route"] == "GET /photos")
        .unwrap();
    assert_eq!(get_photos["requires"], "photos:read");
    assert_eq!(json["problems"], serde_json::json!([]));
}

#[tokio::test]
async fn the_dev_server_shows_declared_descriptions_and_advertises_declared_scopes() {
    let _ = photos_axum::app;
    // No scopes configured on the server: it learns them from the program's declarations.
    let server = oauth_runtime::dev::DevServer::new()
        .client(oauth_runtime::dev::Client::confidential(
            "c",
            "s",
            ["http://127.0.0.1:1/cb"],
        ))
        .start()
        .await
        .unwrap();
    let meta: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_lists_the_declared_scopes(&meta);
    let url = format!(
        "{}/authorize?response_type=code&client_id=c&redirect_uri=http://127.0.0.1:1/cb&scope=photos:read%20photos:delete",
        server.issuer()
    );
    let page = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("<code>photos:read</code>: See your photos"),
        "{page}"
    );
    assert!(
        page.contains("<code>photos:delete</code>: Delete photos"),
        "{page}"
    );
}

#[test]
fn the_openapi_document_carries_each_operations_exact_security_from_the_catalog() {
    let doc = serde_json::to_value(photos_axum::openapi("http://127.0.0.1:9000")).unwrap();
    let flow = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"];
    assert_eq!(flow["authorizationUrl"], "http://127.0.0.1:9000/authorize");
    assert_eq!(flow["tokenUrl"], "http://127.0.0.1:9000/token");
    assert_eq!(flow["scopes"]["photos:delete"], "Delete photos");

    let mut checked = 0;
    for endpoint in catalog::endpoints()
        .into_iter()
        .filter(|e| e.function().starts_with("photos_axum::"))
    {
        let (method, path) = endpoint.route().unwrap().split_once(' ').unwrap();
        let operation = &doc["paths"][path][method.to_lowercase()];
        let expected: Vec<serde_json::Value> =
            oauth_runtime::openapi::alternatives(endpoint.requirement())
                .into_iter()
                .map(|scopes| serde_json::json!({ "oauth2": scopes }))
                .collect();
        assert_eq!(
            operation["security"],
            serde_json::Value::Array(expected),
            "{method} {path}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
    // Spelled out for the two interesting ones.
    assert_eq!(
        doc["paths"]["/albums"]["get"]["security"],
        serde_json::json!([{"oauth2": ["albums:read"]}, {"oauth2": ["photos:read"]}])
    );
    assert_eq!(
        doc["paths"]["/photos/{id}"]["delete"]["security"],
        serde_json::json!([{"oauth2": ["photos:delete", "photos:write"]}])
    );
}
