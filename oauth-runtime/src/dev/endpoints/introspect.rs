//! `/introspect` (RFC 7662).

use super::*;

/// `POST /introspect` (RFC 7662). Any confidential client may introspect any token: in
/// development it plays the resource server.
pub(super) async fn introspect(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let answer = (|| {
        let (_, method, token) = token_and_client(&server, &headers, &body)?;
        if method == AuthMethod::None {
            return Err(err(
                "invalid_client",
                "introspection needs a confidential client",
            ));
        }
        Ok(token_status(&server, &token))
    })();
    match answer {
        Ok(status) => no_store(Json(status).into_response()),
        Err(error) => oauth_error(error),
    }
}

pub(super) fn token_status(server: &Server, token: &str) -> Value {
    let inactive = json!({ "active": false });
    let verified = server
        .verifier()
        .ok()
        .and_then(|v| v.verify_token(token).ok());
    if let Some(claims) = verified {
        let store = server.store.lock();
        let alive = claims
            .jwt_id()
            .and_then(|jti| store.access.get(jti))
            .is_some_and(|a| !a.revoked && a.grant.is_none_or(|g| store.grant_alive(g)));
        // The server knows the exact expiry; the verifier's leeway is for other clocks.
        let expired = claims
            .expires_at()
            .is_none_or(|exp| exp <= i64::try_from(unix_now()).unwrap_or(i64::MAX));
        if !alive || expired {
            return inactive;
        }
        return json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scopes().to_string(),
            "client_id": claims.client_id(),
            "sub": claims.subject(),
            "aud": claims.audience(),
            "iss": claims.issuer(),
            "exp": claims.expires_at(),
            "iat": claims.issued_at(),
            "jti": claims.jwt_id(),
        });
    }
    let store = server.store.lock();
    match store.refresh.get(token) {
        Some(r) if !r.used && r.expires > Instant::now() && store.grant_alive(r.grant) => {
            let grant = store.grants.get(&r.grant);
            json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": grant.map(|g| g.scope.clone()),
                "client_id": grant.map(|g| g.client_id.clone()),
                "sub": grant.map(|g| g.subject.clone()),
                "exp": unix_now() + r.expires.saturating_duration_since(Instant::now()).as_secs(),
            })
        }
        _ => inactive,
    }
}
