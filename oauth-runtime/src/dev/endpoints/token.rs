//! `/token`: client authentication and every grant (RFC 6749 §4, §6; RFC 7636 for the code).

use super::*;
use crate::verify::dpop::DpopError;

/// `POST /token` (RFC 6749 §3.2, §4.1.3, §4.3.2, §4.4.2, §6).
pub(super) async fn token(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (jkt, nonce) = match proof_key(&server, &headers).await {
        Ok(Some(verified)) => (Some(verified.jkt), verified.next_nonce),
        Ok(None) => (None, None),
        // RFC 9449 §8: 400 use_dpop_nonce, with the nonce to use.
        Err(error) if error.code == "use_dpop_nonce" => {
            return with_nonce(oauth_error(error), server.dpop.current_nonce());
        }
        Err(error) => return oauth_error(error),
    };
    fetch_client_document(&server, &body).await;
    let response = match issue(&server, &headers, &body, jkt.as_deref()) {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(error) => oauth_error(error),
    };
    // RFC 9449 §8.2: the next nonce, once the client's is the previous period's.
    with_nonce(response, nonce)
}

/// Fetches (or finds cached) the metadata document of a URL `client_id`, so that client
/// authentication, which cannot wait for the network, knows the client.
async fn fetch_client_document(server: &Server, body: &[u8]) {
    if let Ok(params) = Params::parse(body)
        && let Some(id) = params.get("client_id")
        && server.client(id).is_none()
        && let Err(refused) = server.registry.resolve_document(id).await
    {
        tracing::debug!(reason = refused.0, "token request from an unknown client");
    }
}

fn with_nonce(mut response: Response, nonce: Option<String>) -> Response {
    if let Some(value) = nonce.and_then(|n| HeaderValue::try_from(n).ok()) {
        response.headers_mut().insert("dpop-nonce", value);
    }
    response
}

/// The request's DPoP proof (RFC 9449 §5), checked for `POST {issuer}/token`: its key's
/// thumbprint, and the next nonce when server nonces are on; `None` without a `DPoP` header.
async fn proof_key(
    server: &Server,
    headers: &HeaderMap,
) -> Result<Option<crate::verify::dpop::VerifiedProof>, OAuthError> {
    let mut proofs = headers.get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (None, _) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(err("invalid_dpop_proof", "more than one DPoP header"));
        }
        (Some(proof), None) => proof
            .to_str()
            .map_err(|_| err("invalid_dpop_proof", "the DPoP header is not ASCII"))?,
    };
    let url = format!("{}/token", server.issuer);
    match server.dpop.verify(proof, "POST", &url, None).await {
        Ok(verified) => Ok(Some(verified)),
        Err(DpopError::StoreUnavailable(why)) => {
            tracing::error!(%why, "DPoP replay store unavailable");
            Err(err(
                "server_error",
                "the DPoP proof cannot be checked right now",
            ))
        }
        Err(DpopError::UseNonce) => Err(err(
            "use_dpop_nonce",
            "the DPoP proof must carry the nonce sent in DPoP-Nonce",
        )),
        Err(error) => {
            tracing::debug!(%error, "DPoP proof refused at the token endpoint");
            Err(err("invalid_dpop_proof", error.description()))
        }
    }
}

/// What a DPoP proof on a token request binds (RFC 9449 §5).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Binding<'a> {
    /// The proof key's thumbprint: access tokens carry it as `cnf.jkt`.
    pub(super) jkt: Option<&'a str>,
    /// Whether refresh tokens are bound to it too: for public clients only, since a
    /// confidential client's refresh tokens are already bound to its credentials.
    pub(super) refresh: bool,
}

impl Binding<'_> {
    /// The extra claims of a bound access token.
    fn claims(&self) -> Value {
        self.claims_with(None)
    }

    /// The extra claims of an access token: `cnf.jkt` when bound, and the user's `acr` and
    /// `auth_time` (RFC 9470 §4, as RFC 9068 §2.2.1 carries them) when a user logged in.
    fn claims_with(&self, login: Option<&Login>) -> Value {
        let mut claims = serde_json::Map::new();
        if let Some(jkt) = self.jkt {
            claims.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        if let Some(login) = login {
            claims.insert("acr".into(), login.acr.into());
            claims.insert("auth_time".into(), login.auth_time.into());
        }
        Value::Object(claims)
    }
}

pub(super) fn issue(
    server: &Server,
    headers: &HeaderMap,
    body: &[u8],
    jkt: Option<&str>,
) -> Result<Value, OAuthError> {
    let params = Params::parse(body).map_err(|why| err("invalid_request", why))?;
    let (client, method) = authenticate_client(server, headers, &params)?;
    let client: &Client = &client;
    let requested =
        resource_indicator::requested(server, &params).map_err(|why| err("invalid_target", why))?;
    let binding = Binding {
        jkt,
        refresh: method == AuthMethod::None,
    };
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| err("invalid_request", "grant_type is required"))?;
    let needed = match grant_type {
        "authorization_code" => Grant::AuthorizationCode,
        "client_credentials" => Grant::ClientCredentials,
        "refresh_token" => Grant::RefreshToken,
        "password" => Grant::Password,
        _ => {
            return Err(err(
                "unsupported_grant_type",
                "supported: authorization_code, client_credentials, refresh_token",
            ));
        }
    };
    if !client.may(needed) {
        return Err(err(
            "unauthorized_client",
            "this client may not use this grant type",
        ));
    }
    match needed {
        Grant::AuthorizationCode => exchange_code(server, client, &params, binding),
        Grant::ClientCredentials => {
            if method == AuthMethod::None {
                return Err(err(
                    "unauthorized_client",
                    "client_credentials needs a confidential client",
                ));
            }
            let scope = known_scope(server, params.get("scope"))
                .map_err(|why| err("invalid_scope", why))?;
            let access = server.mint_for(
                &requested,
                &client.id,
                &client.id,
                &scope,
                None,
                &binding.claims(),
            )?;
            Ok(tokens(server, access, None, &scope, binding))
        }
        Grant::RefreshToken => refresh(server, client, &params, binding),
        _ => {
            let user = match server.sign_in(
                &client.id,
                params.get("username"),
                params.get("password"),
                None,
            ) {
                SignIn::Ok(user) => user,
                SignIn::Wrong => {
                    return Err(err("invalid_grant", "wrong username or password"));
                }
                SignIn::Locked => {
                    return Err(err(
                        "invalid_grant",
                        "too many failed sign-ins: try again later",
                    ));
                }
            };
            let scope = known_scope(server, params.get("scope"))
                .map_err(|why| err("invalid_scope", why))?;
            let login = Login {
                acr: ACR_PASSWORD,
                auth_time: unix_now(),
            };
            let grant = server.store.lock().new_grant(new_grant_record(
                server,
                client,
                &user.username,
                &scope,
                &requested,
                Some(login),
            ));
            let subject = &user.username;
            grant_tokens(server, client, grant, subject, &scope, &requested, binding)
        }
    }
}

pub(super) fn tokens(
    server: &Server,
    access: String,
    refresh: Option<String>,
    scope: &str,
    binding: Binding<'_>,
) -> Value {
    let token_type = if binding.jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    let mut body = json!({
        "access_token": access,
        "token_type": token_type,
        "expires_in": server.lifetimes.access_token.as_secs(),
        "scope": scope,
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = refresh.into();
    }
    body
}

/// A grant, kept (until its tokens say otherwise) as long as the first tokens issued from it.
pub(super) fn new_grant_record(
    server: &Server,
    client: &Client,
    subject: &str,
    scope: &str,
    resources: &[String],
    login: Option<Login>,
) -> GrantRecord {
    let mut lifetime = server.lifetimes.access_token;
    if client.may(Grant::RefreshToken) {
        lifetime = lifetime.max(server.lifetimes.refresh_token);
    }
    GrantRecord {
        client_id: client.id.clone(),
        subject: subject.to_owned(),
        scope: scope.to_owned(),
        resources: resources.to_vec(),
        revoked: false,
        expires: later(lifetime),
        login,
    }
}

/// An access token, and a refresh token when the client may refresh.
pub(super) fn grant_tokens(
    server: &Server,
    client: &Client,
    grant: u64,
    subject: &str,
    scope: &str,
    resources: &[String],
    binding: Binding<'_>,
) -> Result<Value, OAuthError> {
    // The login behind the grant, unchanged by refreshes: a refresh is no new authentication.
    let login = server
        .store
        .lock()
        .grants
        .get(&grant)
        .and_then(|g| g.login.clone());
    let claims = binding.claims_with(login.as_ref());
    let access = server.mint_for(resources, &client.id, subject, scope, Some(grant), &claims)?;
    let refresh = if client.may(Grant::RefreshToken) {
        let token = server.random_token()?;
        let expires = later(server.lifetimes.refresh_token);
        let mut store = server.store.lock();
        store.refresh.insert(
            token.clone(),
            RefreshRecord {
                grant,
                expires,
                used: false,
                jkt: binding.jkt.filter(|_| binding.refresh).map(str::to_owned),
            },
        );
        store.extend_grant(grant, expires);
        Some(token)
    } else {
        None
    };
    Ok(tokens(server, access, refresh, scope, binding))
}

pub(super) fn exchange_code(
    server: &Server,
    client: &Client,
    params: &Params,
    binding: Binding<'_>,
) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| err("invalid_request", "code is required"))?;
    let requested =
        resource_indicator::requested(server, params).map_err(|why| err("invalid_target", why))?;
    let (subject, scope, resources, grant) = {
        let mut store = server.store.lock();
        let Some(record) = store.codes.get_mut(code) else {
            return Err(err("invalid_grant", "unknown or expired code"));
        };
        // The client binding comes first: a code replayed by another client says nothing about
        // the rightful client, and must not let anyone who saw a code end its grant.
        if record.client_id != client.id {
            return Err(err(
                "invalid_grant",
                "the code was issued to another client",
            ));
        }
        if record.used {
            // RFC 6749 §4.1.2: a replayed code revokes what it produced.
            let grant = record.grant;
            if let Some(grant) = grant {
                store.revoke_grant(grant);
            }
            return Err(err(
                "invalid_grant",
                "the code was already used; the tokens issued from it are revoked",
            ));
        }
        if record.expires <= Instant::now() {
            return Err(err("invalid_grant", "the code has expired"));
        }
        match params.get("redirect_uri") {
            Some(uri) if uri != record.redirect_uri => {
                return Err(err("invalid_grant", "redirect_uri does not match"));
            }
            None if record.redirect_uri_sent => {
                return Err(err("invalid_request", "redirect_uri is required"));
            }
            _ => {}
        }
        match (&record.challenge, params.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let computed = if challenge.plain {
                    verifier.to_owned()
                } else {
                    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
                };
                if !pkce_shaped(verifier) || computed != challenge.value {
                    return Err(err(
                        "invalid_grant",
                        "code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => return Err(err("invalid_grant", "code_verifier is required")),
            // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
            (None, Some(_)) => {
                return Err(err(
                    "invalid_grant",
                    "code_verifier sent for a code issued without PKCE",
                ));
            }
            (None, None) => {}
        }
        // RFC 9449 §10: a code bound to a key is exchanged with a proof of that key only.
        // Checked before the code is spent, so that whoever stole it cannot burn it either.
        if let Some(bound) = &record.dpop_jkt {
            match binding.jkt {
                None => {
                    return Err(err(
                        "invalid_dpop_proof",
                        "the code is bound to a DPoP key: send a proof made with that key",
                    ));
                }
                Some(jkt) if jkt != bound => {
                    return Err(err(
                        "invalid_grant",
                        "the code is bound to another DPoP key than the proof's",
                    ));
                }
                Some(_) => {}
            }
        }
        // RFC 8707 §2.2: the token may be for fewer of the code's resources, never others.
        let resources = resource_indicator::narrowed(&record.resources, requested)
            .map_err(|why| err("invalid_target", why))?;
        record.used = true;
        let (subject, scope) = (record.subject.clone(), record.scope.clone());
        let granted = record.resources.clone();
        let login = record.login.clone();
        let grant = store.new_grant(new_grant_record(
            server,
            client,
            &subject,
            &scope,
            &granted,
            Some(login),
        ));
        if let Some(record) = store.codes.get_mut(code) {
            record.grant = Some(grant);
        }
        (subject, scope, resources, grant)
    };
    grant_tokens(server, client, grant, &subject, &scope, &resources, binding)
}

pub(super) fn refresh(
    server: &Server,
    client: &Client,
    params: &Params,
    binding: Binding<'_>,
) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| err("invalid_request", "refresh_token is required"))?;
    let requested =
        resource_indicator::requested(server, params).map_err(|why| err("invalid_target", why))?;
    let (grant, subject, scope, resources) = {
        let mut store = server.store.lock();
        let Some(record) = store.refresh.get(token).cloned() else {
            return Err(err("invalid_grant", "unknown or expired refresh token"));
        };
        let Some(grant) = store.grants.get(&record.grant).cloned() else {
            return Err(err("invalid_grant", "unknown refresh token"));
        };
        if grant.client_id != client.id {
            return Err(err(
                "invalid_grant",
                "the refresh token was issued to another client",
            ));
        }
        // RFC 9449 §5: a bound refresh token is used with a proof of its key, or not at all.
        if let Some(bound) = &record.jkt
            && binding.jkt != Some(bound.as_str())
        {
            return Err(err(
                "invalid_dpop_proof",
                "the refresh token is bound to a DPoP key: send a proof made with that key",
            ));
        }
        if record.used {
            // RFC 9700 §4.14.2: reuse of a rotated refresh token ends the whole grant.
            store.revoke_grant(record.grant);
            return Err(err(
                "invalid_grant",
                "the refresh token was already used; the grant is revoked",
            ));
        }
        if grant.revoked || record.expires <= Instant::now() {
            return Err(err("invalid_grant", "the grant is revoked or expired"));
        }
        // RFC 6749 §6: only scopes originally granted; omitted means all of them.
        let scope = match params.get("scope") {
            None => grant.scope.clone(),
            Some(requested) => {
                let requested = ScopeSet::parse_delimited(requested)
                    .map_err(|_| err("invalid_scope", "malformed scope"))?;
                let original = ScopeSet::parse_delimited(&grant.scope).unwrap_or_default();
                if !requested.iter().all(|s| original.contains(s.as_str())) {
                    return Err(err(
                        "invalid_scope",
                        "a refresh can only narrow the original scope",
                    ));
                }
                requested.to_string()
            }
        };
        // The grant's resources stay; a refresh may narrow them as it may the scope.
        let resources = resource_indicator::narrowed(&grant.resources, requested)
            .map_err(|why| err("invalid_target", why))?;
        if let Some(record) = store.refresh.get_mut(token) {
            record.used = true;
        }
        (record.grant, grant.subject, scope, resources)
    };
    grant_tokens(server, client, grant, &subject, &scope, &resources, binding)
}
