//! `/revoke` (RFC 7009).

use super::*;

/// `POST /revoke` (RFC 7009): 200 whatever the token, so that its existence is not revealed.
pub(super) async fn revoke(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let answer = (|| {
        let (client, _, token) = token_and_client(&server, &headers, &body)?;
        let claims = server
            .verifier()
            .ok()
            .and_then(|v| v.verify_token(&token).ok());
        let mut store = server.store.lock();
        if let Some(record) = store.refresh.get(&token).cloned() {
            if store
                .grants
                .get(&record.grant)
                .is_some_and(|g| g.client_id == client.id)
            {
                store.revoke_grant(record.grant);
            }
        } else if let Some(access) = claims
            .filter(|c| c.client_id() == Some(client.id.as_str()))
            .and_then(|c| c.jwt_id().and_then(|jti| store.access.get_mut(jti)))
        {
            access.revoked = true;
        }
        Ok(())
    })();
    match answer {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(error) => oauth_error(error),
    }
}
