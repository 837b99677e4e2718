//! RFC 8414 metadata (also served as OpenID Connect discovery) and the JWKS.

use super::*;

pub(super) async fn metadata(State(server): State<Arc<Server>>) -> Json<Value> {
    let any = |grant| server.clients.values().any(|c: &Client| c.may(grant));
    let mut grants = vec!["authorization_code", "client_credentials", "refresh_token"];
    if any(Grant::Password) {
        grants.push("password");
    }
    if any(Grant::Implicit) {
        grants.push("implicit");
    }
    let mut response_types = vec!["code"];
    if any(Grant::Implicit) {
        response_types.push("token");
    }
    let mut pkce = vec!["S256"];
    if server.clients.values().any(|c| c.allow_plain_pkce) {
        pkce.push("plain");
    }
    let base = &server.issuer;
    let mut document = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "introspection_endpoint": format!("{base}/introspect"),
        "revocation_endpoint": format!("{base}/revoke"),
        "scopes_supported": server.scope_names(),
        "response_types_supported": response_types,
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": pkce,
        // RFC 9470 §4 via OpenID Connect Discovery: what `acr_values` can ask for.
        "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
        "dpop_signing_alg_values_supported": server
            .dpop
            .algorithms()
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>(),
        // RFC 9207 §3: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
    });
    add_mcp_capabilities(&server, &mut document);
    Json(document)
}

/// What the MCP profile's parts add: RFC 7591 registration and client ID metadata documents.
fn add_mcp_capabilities(server: &Server, document: &mut Value) {
    if server.registry.max_registered.is_some() {
        document["registration_endpoint"] = format!("{}/register", server.issuer).into();
    }
    if server.registry.metadata_documents {
        document["client_id_metadata_document_supported"] = true.into();
    }
}

pub(super) async fn jwks(State(server): State<Arc<Server>>) -> Json<Value> {
    Json(server.jwks())
}
