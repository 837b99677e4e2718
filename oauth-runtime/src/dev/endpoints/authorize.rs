//! `/authorize`: the request's checks (client, exact `redirect_uri`, response type, scope,
//! PKCE), the login and consent page, and the decision that issues a code or (implicit) a token.

use super::*;

/// How long a consent page stays answerable.
pub(super) const PENDING_TTL: Duration = Duration::from_secs(600);

pub(super) const CSRF_COOKIE: &str = "oauth_dev_csrf";

/// Where an authorization answer goes: the client's redirect URI, with parameters in the query
/// (code flow) or the fragment (implicit, RFC 6749 §4.2.2).
pub(super) struct Redirect<'a> {
    uri: &'a str,
    fragment: bool,
    state: Option<&'a str>,
    /// The issuer, in every answer, success or error (RFC 9207 §2), so that a client talking
    /// to several servers can tell which one answered (mix-up attacks, RFC 9700 §4.4).
    issuer: &'a str,
}

impl Redirect<'_> {
    fn with(&self, pairs: &[(&str, &str)]) -> Response {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = self.state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", self.issuer);
        let separator = if self.fragment {
            '#'
        } else if self.uri.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!("{}{separator}{}", self.uri, query.finish());
        match HeaderValue::try_from(location) {
            Ok(location) => (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response(),
            Err(_) => error_page(StatusCode::BAD_REQUEST, "the redirect URI cannot be used"),
        }
    }

    /// `description` is a fixed text: RFC 6749 §4.1.2.1 limits its characters as §5.2 does.
    fn error(&self, code: &str, description: &'static str) -> Response {
        self.with(&[("error", code), ("error_description", description)])
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters; the same shape for a challenge.
pub(super) fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `GET /authorize`: checks the request, then shows the login and consent page. Errors about the
/// client or its redirect URI are shown here and never redirected (RFC 6749 §4.1.2.1).
pub(super) async fn authorize(
    State(server): State<Arc<Server>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY {
        return error_page(
            StatusCode::URI_TOO_LONG,
            "the authorization request is too long",
        );
    }
    let params = match Params::parse(query.as_bytes()) {
        Ok(params) => params,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let client = match server.resolve_client(params.get("client_id")).await {
        Ok(client) => client,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let client: &Client = &client;
    let (redirect_uri, redirect_uri_sent) = match params.get("redirect_uri") {
        Some(uri) if client.allows_redirect(uri) => (uri.to_owned(), true),
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "redirect_uri is not registered for this client (exact match)",
            );
        }
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => return error_page(StatusCode::BAD_REQUEST, "redirect_uri is required"),
    };
    let state = params.get("state");
    let implicit = params.get("response_type") == Some("token");
    let redirect = Redirect {
        uri: &redirect_uri,
        fragment: implicit,
        state,
        issuer: &server.issuer,
    };

    match params.get("response_type") {
        Some("code") if client.may(Grant::AuthorizationCode) => {}
        Some("token") if client.may(Grant::Implicit) => {}
        Some("code" | "token") => {
            return redirect.error(
                "unauthorized_client",
                "this client may not use this response type",
            );
        }
        Some(_) => {
            return redirect.error("unsupported_response_type", "response_type must be code");
        }
        None => return redirect.error("invalid_request", "response_type is required"),
    }
    let scope = match known_scope(&server, params.get("scope")) {
        Ok(scope) => scope,
        Err(why) => return redirect.error("invalid_scope", why),
    };
    let resources = match resource_indicator::requested(&server, &params) {
        Ok(resources) => resources,
        Err(why) => return redirect.error("invalid_target", why),
    };
    let challenge = if implicit {
        None
    } else {
        match pkce_challenge(client, &params) {
            Ok(challenge) => challenge,
            Err(why) => return redirect.error("invalid_request", why),
        }
    };
    let mfa = match step_up(&params) {
        Ok(mfa) => mfa,
        Err(why) => return redirect.error("invalid_request", why),
    };
    let dpop_jkt = match (params.get("dpop_jkt"), implicit) {
        (None, _) => None,
        // The implicit grant issues at the browser, where no proof of the key is ever seen.
        (Some(_), true) => {
            return redirect.error("invalid_request", "dpop_jkt needs response_type=code");
        }
        (Some(jkt), false) if thumbprint_shaped(jkt) => Some(jkt.to_owned()),
        (Some(_), false) => {
            return redirect.error(
                "invalid_request",
                "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
            );
        }
    };

    let pending = Pending {
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_sent,
        scope,
        resources,
        state: state.map(str::to_owned),
        challenge,
        implicit,
        expires: later(PENDING_TTL),
        attempts_left: server.login_limits.per_page,
        mfa,
        dpop_jkt,
    };
    let Ok(csrf) = server.random_token() else {
        return random_failed_page();
    };
    let page = consent_page(&server, &pending, &csrf, None);
    let mut response = consent_response(StatusCode::OK, page, &pending.redirect_uri);
    server.store.lock().add_pending(csrf.clone(), pending);
    let cookie = format!("{CSRF_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/authorize");
    if let Ok(cookie) = HeaderValue::try_from(cookie) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    no_store(response)
}

/// What `/authorize` asks of PKCE (RFC 7636, RFC 9700 §2.1.1): S256 by default, required of
/// public clients, `plain` only for clients that enable it. `Err` is the `error_description` of
/// an `invalid_request`.
fn pkce_challenge(client: &Client, params: &Params) -> Result<Option<Challenge>, &'static str> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (None, None) if client.secret.is_none() => {
            Err("public clients must use PKCE (code_challenge with S256)")
        }
        (None, None) => Ok(None),
        (Some(c), _) if !pkce_shaped(c) => Err("code_challenge is malformed"),
        (Some(c), Some("S256")) => Ok(Some(Challenge {
            plain: false,
            value: c.to_owned(),
        })),
        // RFC 7636 §4.3: an absent method means plain.
        (Some(c), Some("plain") | None) if client.allow_plain_pkce => Ok(Some(Challenge {
            plain: true,
            value: c.to_owned(),
        })),
        (Some(_), Some("plain") | None) => {
            Err("plain PKCE is not accepted: use code_challenge_method=S256")
        }
        (Some(_), Some(_)) => Err("unsupported code_challenge_method"),
    }
}

/// RFC 9470 §4 (with OpenID Connect's `acr_values` and `max_age`): whether the login must use
/// the second factor. `acr_values` is a wish list: naming [`ACR_MFA`] asks for the one-time code,
/// anything else gets a password login ([`ACR_PASSWORD`]) and the resource server judges the
/// token's `acr`. `max_age` is met by every login here, since this server keeps no session
/// between authorization requests: each consent page is a fresh login, and `auth_time` is its
/// time. `Err` is the `error_description` of an `invalid_request`.
fn step_up(params: &Params) -> Result<bool, &'static str> {
    if let Some(max_age) = params.get("max_age")
        && (max_age.is_empty()
            || !max_age.bytes().all(|b| b.is_ascii_digit())
            || max_age.parse::<u64>().is_err())
    {
        return Err("max_age must be a whole number of seconds");
    }
    Ok(params
        .get("acr_values")
        .is_some_and(|values| values.split(' ').any(|v| v == ACR_MFA)))
}

/// RFC 7638 thumbprint with SHA-256, base64url: 43 characters of 32 bytes.
fn thumbprint_shaped(value: &str) -> bool {
    value.len() == 43
        && URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == 32)
}

pub(super) fn random_failed_page() -> Response {
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server's random number generator failed; nothing was issued",
    )
}

pub(super) fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(n, v)| (n == name).then_some(v))
}

/// `POST /authorize`: the answer of the consent form.
pub(super) async fn decide(
    State(server): State<Arc<Server>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let params = match Params::parse(&body) {
        Ok(params) => params,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    // Double submit: the token in the form must equal the one in the SameSite cookie that came
    // with the page, and name a page this server showed.
    let csrf = match (
        params.get("csrf_token"),
        cookie_value(&headers, CSRF_COOKIE),
    ) {
        (Some(form), Some(cookie)) if form == cookie => form,
        _ => {
            return error_page(
                StatusCode::FORBIDDEN,
                "this form was not sent from its sign-in page (CSRF check failed)",
            );
        }
    };
    let Some(pending) = server.store.lock().pending.get(csrf).cloned() else {
        return error_page(
            StatusCode::FORBIDDEN,
            "this sign-in page has expired or was already used",
        );
    };
    if pending.expires <= Instant::now() {
        return error_page(StatusCode::FORBIDDEN, "this sign-in page has expired");
    }
    let redirect = Redirect {
        uri: &pending.redirect_uri,
        fragment: pending.implicit,
        state: pending.state.as_deref(),
        issuer: &server.issuer,
    };
    match params.get("decision") {
        Some("deny") => {
            server.store.lock().pending.remove(csrf);
            return redirect.error("access_denied", "the user denied the request");
        }
        Some("approve") => {}
        _ => return error_page(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    }
    let (status, message) = match server.sign_in(
        &pending.client_id,
        params.get("username"),
        params.get("password"),
        pending.mfa.then(|| params.get("otp")),
    ) {
        SignIn::Ok(user) => {
            if server.store.lock().pending.remove(csrf).is_none() {
                return error_page(StatusCode::FORBIDDEN, "this sign-in page was already used");
            }
            let login = Login {
                acr: if pending.mfa { ACR_MFA } else { ACR_PASSWORD },
                auth_time: unix_now(),
            };
            return match issue_from_page(&server, &pending, &redirect, &user.username, login) {
                Ok(response) => response,
                Err(RandomFailed) => random_failed_page(),
            };
        }
        // One message for any wrong part, so that it does not confirm a guessed password.
        SignIn::Wrong if pending.mfa => (
            StatusCode::UNAUTHORIZED,
            "wrong username, password or one-time code",
        ),
        SignIn::Wrong => (StatusCode::UNAUTHORIZED, "wrong username or password"),
        SignIn::Locked => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins: try again later",
        ),
    };
    // Each failure, a locked one too, uses up one of the page's attempts: a page is not a
    // licence to guess for as long as it is open.
    let attempts_left = {
        let mut store = server.store.lock();
        let left = store.pending.get_mut(csrf).map_or(0, |p| {
            p.attempts_left = p.attempts_left.saturating_sub(1);
            p.attempts_left
        });
        if left == 0 {
            store.pending.remove(csrf);
        }
        left
    };
    if attempts_left == 0 {
        return no_store(error_page(
            status,
            "too many failed sign-ins on this page: start again from the application",
        ));
    }
    let page = consent_page(&server, &pending, csrf, Some(message));
    no_store(consent_response(status, page, &pending.redirect_uri))
}

/// The answer to an approved consent page: a code, or for the implicit grant a token.
pub(super) fn issue_from_page(
    server: &Server,
    pending: &Pending,
    redirect: &Redirect<'_>,
    subject: &str,
    login: Login,
) -> Result<Response, RandomFailed> {
    if pending.implicit {
        let token = server.mint_for(
            &pending.resources,
            &pending.client_id,
            subject,
            &pending.scope,
            None,
            &login.claims(),
        )?;
        let expires_in = server.lifetimes.access_token.as_secs().to_string();
        return Ok(redirect.with(&[
            ("access_token", &token),
            ("token_type", "Bearer"),
            ("expires_in", &expires_in),
            ("scope", &pending.scope),
        ]));
    }
    let code = server.random_token()?;
    server.store.lock().codes.insert(
        code.clone(),
        CodeRecord {
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_sent: pending.redirect_uri_sent,
            subject: subject.to_owned(),
            scope: pending.scope.clone(),
            resources: pending.resources.clone(),
            challenge: pending.challenge.clone(),
            expires: later(server.lifetimes.code),
            used: false,
            grant: None,
            login,
            dpop_jkt: pending.dpop_jkt.clone(),
        },
    );
    Ok(redirect.with(&[("code", &code)]))
}
