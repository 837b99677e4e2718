//! The example's third role (RFC 6749 §1.1): a tiny web client that logs a person in with the
//! authorization code flow and PKCE, then calls the protected API with the token it got.
//! Framework-free; each example mounts it at `/`, `/login` and `/callback`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

/// The client's id and secret in the demo configuration.
pub const CLIENT_ID: &str = "demo-client";
/// See [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "demo-secret";

/// The cookie that ties a login's `state` to the browser that started it (RFC 6749 §10.12).
///
/// Its name differs from the development server's own cookie: browsers do not separate cookies
/// by port, and both run on 127.0.0.1.
pub const LOGIN_COOKIE: &str = "photos_login";
/// How long a login may take from `GET /login` to `GET /callback` by default.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// How many logins may be under way at once by default; see [`ClientApp::with_login_limits`].
pub const MAX_PENDING_LOGINS: usize = 10_000;
/// How long a call to the authorization server or the API may take by default.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest token response the client reads; the demo's are a few hundred bytes.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// The largest API answer the client reads to show it.
const MAX_API_RESPONSE: usize = 1024 * 1024;
/// The longest lifetime [`ClientApp::with_login_limits`] accepts; longer ones are shortened.
const MAX_LOGIN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The same answer for every refused `state`, so that a caller cannot tell a foreign login from
/// an unknown one.
const REFUSED_STATE: &str =
    "unknown, expired or already used state, or a login started in another browser";

/// The client pages' state: the logins under way, by `state`.
#[derive(Debug)]
pub struct ClientApp {
    issuer: String,
    api: String,
    pending: Mutex<PendingLogins>,
    ttl: Duration,
    max_pending: usize,
    timeout: Duration,
    http: reqwest::Client,
}

/// What `GET /login` answers: a redirect to the authorization server that also sets
/// [`LOGIN_COOKIE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The authorization request, for the `Location` header.
    pub location: String,
    /// The `Set-Cookie` header's value.
    pub set_cookie: String,
}

/// A login under way.
struct Pending {
    verifier: String,
    /// The value of [`LOGIN_COOKIE`] given to the browser that started it.
    browser: String,
    expires: Instant,
}

/// The logins under way, with their order of arrival so that expired and oldest entries are
/// found without a scan of the whole map.
#[derive(Default)]
struct PendingLogins {
    by_state: HashMap<String, Pending>,
    /// Every key of `by_state` with its expiry, oldest first; keys that a callback took stay
    /// here until they reach the front or the next compaction.
    order: VecDeque<(Instant, String)>,
}

impl fmt::Debug for PendingLogins {
    // The verifiers and browser bindings are secrets; a log line gets the count only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogins")
            .field("len", &self.by_state.len())
            .finish_non_exhaustive()
    }
}

impl PendingLogins {
    /// Drops the expired entries (and the stale keys of taken ones) from the front.
    fn sweep(&mut self, now: Instant) {
        loop {
            let stale = match self.order.front() {
                Some((expires, state)) => *expires <= now || !self.by_state.contains_key(state),
                None => false,
            };
            if !stale {
                break;
            }
            if let Some((_, state)) = self.order.pop_front() {
                self.by_state.remove(&state);
            }
        }
        // Logins completed out of order leave keys behind the live front; compacting once they
        // outnumber the live entries keeps `order` within twice the map plus a little, at a
        // cost spread over the removals that made them.
        if self.order.len() > 2 * self.by_state.len() + 64 {
            let by_state = &self.by_state;
            self.order.retain(|(_, state)| by_state.contains_key(state));
        }
    }

    /// Adds a login after sweeping; when `max` are still under way, the oldest make room.
    fn insert(&mut self, state: String, pending: Pending, now: Instant, max: usize) {
        self.sweep(now);
        // Evicting rather than refusing: a flood of `GET /login` then costs each real person at
        // most a login that was left unfinished for the flood's duration, instead of locking
        // every new login out until the flood's entries expire.
        while self.by_state.len() >= max {
            match self.order.pop_front() {
                Some((_, oldest)) => {
                    self.by_state.remove(&oldest);
                }
                None => break,
            }
        }
        self.order.push_back((pending.expires, state.clone()));
        self.by_state.insert(state, pending);
    }

    /// Takes the verifier of the login `state` if `browser` is the cookie it was started with.
    /// Anything else leaves the entry in place, so that a stranger holding the callback URL
    /// cannot use up the real browser's login.
    fn take(&mut self, state: &str, browser: Option<&str>, now: Instant) -> Option<String> {
        self.sweep(now);
        let pending = self.by_state.get(state)?;
        let browser = browser?;
        if !bool::from(pending.browser.as_bytes().ct_eq(browser.as_bytes())) {
            return None;
        }
        self.by_state.remove(state).map(|p| p.verifier)
    }
}

/// `len` random bytes, base64url-encoded; an error when the OS generator fails, so that a
/// login never runs with a guessable state, verifier or cookie.
fn random(len: usize) -> Result<String, Unspecified> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The value of [`LOGIN_COOKIE`] in a `Cookie` request header, for frameworks that hand over
/// the raw header.
///
/// ```
/// assert_eq!(photos_demo::login_cookie("a=1; photos_login=xyz"), Some("xyz"));
/// assert_eq!(photos_demo::login_cookie("photos_login_old=xyz"), None);
/// ```
pub fn login_cookie(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == LOGIN_COOKIE).then_some(value)
    })
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    scope: String,
}

impl ClientApp {
    /// A client of the authorization server at `issuer`, calling the API at `api`, with the
    /// default limits on logins under way ([`LOGIN_TTL`], [`MAX_PENDING_LOGINS`]).
    pub fn new(issuer: &str, api: &str) -> ClientApp {
        ClientApp {
            issuer: issuer.into(),
            api: api.into(),
            pending: Mutex::default(),
            ttl: LOGIN_TTL,
            max_pending: MAX_PENDING_LOGINS,
            timeout: HTTP_TIMEOUT,
            // Never follow a redirect: a 307 from the token endpoint would re-send the code and
            // the PKCE verifier to wherever it points. `build` fails only where `Client::new`
            // would panic (no TLS backend), so the fallback changes nothing in practice.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sets how long a login may take (at most a day) and how many may be under way at once
    /// (at least one). When that many are under way, a new login evicts the oldest.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = photos_demo::ClientApp::new("http://127.0.0.1:9000", "http://127.0.0.1:8080")
    ///     .with_login_limits(Duration::from_secs(60), 2);
    /// for _ in 0..3 {
    ///     client.login().expect("the OS random number generator works");
    /// }
    /// assert_eq!(client.pending_logins(), 2);
    /// ```
    #[must_use]
    pub fn with_login_limits(mut self, ttl: Duration, max_pending: usize) -> ClientApp {
        self.ttl = ttl.min(MAX_LOGIN_TTL);
        self.max_pending = max_pending.max(1);
        self
    }

    /// Sets how long each call to the authorization server and to the API may take
    /// (default [`HTTP_TIMEOUT`]); a callback waiting longer answers with an error.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = photos_demo::ClientApp::new("http://127.0.0.1:9000", "http://127.0.0.1:8080")
    ///     .with_http_timeout(Duration::from_secs(2));
    /// # drop(client);
    /// ```
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> ClientApp {
        self.timeout = timeout;
        self
    }

    /// How many logins the client holds in memory: those under way and any expired ones that
    /// the next `GET /login` or `GET /callback` will sweep.
    pub fn pending_logins(&self) -> usize {
        self.pending().by_state.len()
    }

    fn pending(&self) -> MutexGuard<'_, PendingLogins> {
        // A panic elsewhere while holding the lock leaves the map consistent; keep serving it.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The redirect URI registered for the client: the API's `/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.api)
    }

    /// `GET /`: a page with a link that starts the login.
    pub fn home(&self) -> String {
        page(
            "<h1>Photos</h1><p><a href=\"/login\">Log in</a> (as alice / wonderland) to see your \
             photos.</p>",
        )
    }

    /// `GET /login`: where to send the browser (the authorization request, with PKCE S256) and
    /// the cookie that binds this login to it. An error only when the OS random number
    /// generator fails.
    pub fn login(&self) -> Result<Login, String> {
        let (Ok(state), Ok(verifier), Ok(browser)) = (random(16), random(48), random(32)) else {
            return Err("the random number generator failed".into());
        };
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        let now = Instant::now();
        // `ttl` is at most a day, so only a clock near the end of `Instant`'s range fails here.
        let Some(expires) = now.checked_add(self.ttl) else {
            return Err("the login's expiry is out of the clock's range".into());
        };
        // A whole number of seconds, rounded up: `Max-Age=0` would delete the cookie at once.
        let max_age = self.ttl.as_secs() + u64::from(self.ttl.subsec_nanos() > 0);
        let secure = if self.api.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        // Lax, not Strict: the authorization server's redirect back to `/callback` is a
        // cross-site top-level navigation, on which browsers drop Strict cookies.
        let set_cookie = format!(
            "{LOGIN_COOKIE}={browser}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
        );
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("scope", "photos:read albums:read")
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        self.pending().insert(
            state,
            Pending {
                verifier,
                browser,
                expires,
            },
            now,
            self.max_pending,
        );
        Ok(Login {
            location: format!("{}/authorize?{query}", self.issuer),
            set_cookie,
        })
    }

    /// `GET /callback`: exchanges the code, calls `GET /photos` with the token and shows both.
    /// `browser` is the value of [`LOGIN_COOKIE`] the request came with; the callback is
    /// refused unless it is the one set when this `state`'s login started.
    pub async fn callback(
        &self,
        query: Option<&str>,
        browser: Option<&str>,
    ) -> Result<String, String> {
        let params: HashMap<String, String> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let state = params.get("state");
        if let Some(error) = params.get("error") {
            // The login is over; its own browser may free its entry at once.
            if let Some(state) = state {
                self.pending().take(state, browser, Instant::now());
            }
            return Err(format!("the authorization server answered {error}"));
        }
        if params.is_empty() {
            // The implicit grant (RFC 6749 §4.2.2) answers in the fragment, which never reaches
            // a server: the page reads it in the browser.
            return Ok(fragment_page());
        }
        let (Some(code), Some(state)) = (params.get("code"), state) else {
            return Err("the callback needs code and state".into());
        };
        let verifier = self
            .pending()
            .take(state, browser, Instant::now())
            .ok_or(REFUSED_STATE)?;
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .timeout(self.timeout)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri()),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .map_err(|e| format!("token request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("token request failed: {}", response.status()));
        }
        let tokens: TokenResponse =
            serde_json::from_slice(&read_limited(response, MAX_TOKEN_RESPONSE).await?)
                .map_err(|e| format!("token response: {e}"))?;
        let photos = self
            .http
            .get(format!("{}/photos", self.api))
            .timeout(self.timeout)
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .map_err(|e| format!("API call failed: {e}"))?;
        let status = photos.status().as_u16();
        let body = read_limited(photos, MAX_API_RESPONSE).await?;
        Ok(page(&format!(
            "<h1>Logged in</h1><p>Granted scopes: <code>{}</code></p>\
             <p><code>GET /photos</code> answered {status}:</p>{}",
            escape(&tokens.scope),
            photos_html(&body)
        )))
    }
}

/// The pages' frame. `no-referrer`: the callback's URL holds the code, which a link followed
/// from the page must not carry away in `Referer`.
fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>Photos</title>\
         <style>body{{font-family:system-ui,sans-serif;line-height:1.4;max-width:40rem;\
         margin:2rem auto;padding:0 1rem}}pre,code{{white-space:pre-wrap;overflow-wrap:anywhere}}\
         </style></head><body>{body}</body></html>"
    )
}

/// The API's answer as a person reads it: the photos as a list, anything else as it came.
fn photos_html(body: &[u8]) -> String {
    match serde_json::from_slice::<Vec<crate::Photo>>(body) {
        Ok(photos) if photos.is_empty() => "<p id=\"photos\">No photos yet.</p>".into(),
        Ok(photos) => {
            let items: String = photos
                .iter()
                .map(|p| {
                    format!(
                        "<li>{} <small>(by {})</small></li>",
                        escape(&p.title),
                        escape(&p.owner)
                    )
                })
                .collect();
            format!("<ul id=\"photos\">{items}</ul>")
        }
        Err(_) => format!("<pre>{}</pre>", escape(&String::from_utf8_lossy(body))),
    }
}

/// The callback page of the implicit grant: its script takes the token out of the fragment
/// (and out of the address bar and history), calls `GET /photos` with it and shows the answer
/// as [`ClientApp::callback`] shows it. It writes text only through `textContent`, so nothing
/// in the fragment becomes markup.
fn fragment_page() -> String {
    page(
        "<h1 id=\"title\">Logging in…</h1><p>Granted scopes: <code id=\"scopes\"></code></p>\
         <p><code>GET /photos</code> answered <span id=\"status\">…</span>:</p>\
         <div id=\"answer\"></div>\
         <script>(function () {\
           var answer = new URLSearchParams(location.hash.slice(1));\
           history.replaceState(null, '', location.pathname);\
           var show = function (id, text) { document.getElementById(id).textContent = text; };\
           var token = answer.get('access_token');\
           if (!token) {\
             show('title', 'Login failed');\
             show('answer', answer.get('error')\
               ? 'the authorization server answered ' + answer.get('error')\
               : 'the callback needs code and state, or a token in the fragment');\
             return;\
           }\
           show('title', 'Logged in');\
           show('scopes', answer.get('scope') || '');\
           fetch('/photos', { headers: { Authorization: 'Bearer ' + token } })\
             .then(function (r) { show('status', r.status); return r.text(); })\
             .then(function (body) {\
               var out = document.getElementById('answer');\
               try {\
                 var photos = JSON.parse(body);\
                 if (photos.length === 0) { show('answer', 'No photos yet.'); return; }\
                 var list = document.createElement('ul');\
                 list.id = 'photos';\
                 photos.forEach(function (p) {\
                   var item = document.createElement('li');\
                   item.textContent = p.title + ' (by ' + p.owner + ')';\
                   list.appendChild(item);\
                 });\
                 out.appendChild(list);\
               } catch (e) {\
                 var raw = document.createElement('pre');\
                 raw.textContent = body;\
                 out.appendChild(raw);\
               }\
             })\
             .catch(function (e) { show('answer', 'API call failed: ' + e); });\
         })();</script>",
    )
}

/// The body of `response`, refused once it passes `limit` bytes rather than held in memory.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let url = response.url();
    let origin = format!("{}{}", url.origin().ascii_serialization(), url.path());
    let too_large = format!("{origin} answered more than {limit} bytes");
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer of {origin}: {e}"))?
    {
        if chunk.len() > limit - body.len() {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
