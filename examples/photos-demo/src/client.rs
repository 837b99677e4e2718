//! The example's third role (RFC 6749 §1.1): a tiny web client that logs a person in with the
//! authorization code flow and PKCE, then calls the protected API with the token it got.
//! Framework-free; each example mounts it at `/`, `/login` and `/callback`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The client's id and secret in the demo configuration.
pub const CLIENT_ID: &str = "demo-client";
/// See [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "demo-secret";

/// The client pages' state: the PKCE verifiers of logins under way, by `state`.
#[derive(Debug)]
pub struct ClientApp {
    issuer: String,
    api: String,
    pending: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
}

fn random(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    // The OS generator; should it ever fail, the login fails at the token endpoint rather than
    // running with a guessable state or verifier.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        bytes.clear();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    scope: String,
}

impl ClientApp {
    /// A client of the authorization server at `issuer`, calling the API at `api`.
    pub fn new(issuer: &str, api: &str) -> ClientApp {
        ClientApp {
            issuer: issuer.into(),
            api: api.into(),
            pending: Mutex::default(),
            http: reqwest::Client::new(),
        }
    }

    /// The redirect URI registered for the client: the API's `/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.api)
    }

    /// `GET /`: a page with a link that starts the login.
    pub fn home(&self) -> String {
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Photos</title></head><body>\
         <h1>Photos</h1><p><a href=\"/login\">Log in</a> (as alice / wonderland) to see your photos.</p>\
         </body></html>"
            .into()
    }

    /// `GET /login`: where to send the browser (the authorization request, with PKCE S256).
    pub fn login(&self) -> String {
        let state = random(16);
        let verifier = random(48);
        let challenge =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(state.clone(), verifier);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("scope", "photos:read albums:read")
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}/authorize?{query}", self.issuer)
    }

    /// `GET /callback`: exchanges the code, calls `GET /photos` with the token and shows both.
    pub async fn callback(&self, query: Option<&str>) -> Result<String, String> {
        let params: HashMap<String, String> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        if let Some(error) = params.get("error") {
            return Err(format!("the authorization server answered {error}"));
        }
        let (Some(code), Some(state)) = (params.get("code"), params.get("state")) else {
            return Err("the callback needs code and state".into());
        };
        let verifier = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(state)
            .ok_or("unknown or reused state")?;
        let tokens: TokenResponse = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri()),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("token request failed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("token response: {e}"))?;
        let photos = self
            .http
            .get(format!("{}/photos", self.api))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .map_err(|e| format!("API call failed: {e}"))?;
        let status = photos.status().as_u16();
        let body = photos.text().await.unwrap_or_default();
        Ok(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Photos</title></head><body>\
             <h1>Logged in</h1><p>Granted scopes: <code>{}</code></p>\
             <p><code>GET /photos</code> answered {status}:</p><pre>{}</pre></body></html>",
            escape(&tokens.scope),
            escape(&body)
        ))
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
