//! The server-rendered login and consent page, and error pages.

use std::sync::LazyLock;

use aws_lc_rs::digest;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Server;
use super::store::Pending;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages' only style sheet. It stays inline, allowed by its hash in the CSP, so that the
/// server needs no route for it; the hash follows any edit made here.
const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.4;max-width:30rem;\
    margin:2rem auto;padding:0 1rem;color:#1b1b1b}h1{font-size:1.6rem}li{margin:.3rem 0}\
    code{overflow-wrap:anywhere}label{display:block;margin:.8rem 0}\
    input{display:block;box-sizing:border-box;width:100%;margin-top:.2rem;padding:.5rem;font:inherit}\
    button{font:inherit;padding:.5rem 1.2rem;margin:0 .5rem .5rem 0}.error{color:#b00}";

/// The CSP source of [`STYLE`] (CSP Level 3 §8.4: the hash of the element's text).
static STYLE_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        STANDARD.encode(digest::digest(&digest::SHA256, STYLE.as_bytes()))
    )
});

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// The CSP source that lets the consent form's answer redirect to `redirect_uri`: its origin
/// (`scheme://host:port`), or for a URI without an authority (a native app's private-use
/// scheme, RFC 8252 §7.1) its scheme. `None` when the URI has characters a CSP source cannot
/// carry; the form can then not redirect there, which fails closed.
pub(crate) fn redirect_source(redirect_uri: &str) -> Option<String> {
    let (scheme, rest) = redirect_uri.split_once(':')?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return Some(format!("{}:", scheme.to_ascii_lowercase()));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Userinfo is no part of an origin, and a CSP source cannot hold it.
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    host_ok.then(|| format!("{}://{}", scheme.to_ascii_lowercase(), host))
}

/// The headers of every page the server renders. No script may run, nothing may be loaded, the
/// page may not be framed (RFC 6749 §10.13), and no `Referer` carries its URL (which holds the
/// `state`) or, after the redirect, the client's URL with the code. `form_target` is the
/// validated redirect URI that an answered form redirects to; `None` for pages without a form.
fn with_page_headers(mut response: Response, form_target: Option<&str>) -> Response {
    let form_action = match form_target.and_then(redirect_source) {
        Some(source) => format!("'self' {source}"),
        None if form_target.is_some() => "'self'".to_owned(),
        None => "'none'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src {}; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'",
        *STYLE_HASH
    );
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::try_from(csp) {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    // Chromium ignores this header when the CSP has frame-ancestors; older browsers do not.
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The login and consent page as an answer with `status`, its form allowed to redirect to
/// `redirect_uri`.
pub(crate) fn consent_response(status: StatusCode, page: String, redirect_uri: &str) -> Response {
    with_page_headers((status, Html(page)).into_response(), Some(redirect_uri))
}

/// An error shown to the person instead of a redirect: used when the redirect URI cannot be
/// trusted (RFC 6749 §4.1.2.1).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Authorization failed</h1><p class=\"error\">{}</p>",
        escape(message)
    );
    with_page_headers(
        (status, Html(layout("Authorization failed", &body))).into_response(),
        None,
    )
}

/// The login and consent form. `csrf` is the form's one-time token, also set as a cookie.
pub(crate) fn consent_page(
    server: &Server,
    pending: &Pending,
    csrf: &str,
    error: Option<&str>,
) -> String {
    let scopes: String = pending
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| match server.scope_description(s) {
            Some(d) => format!("<li><code>{}</code>: {}</li>", escape(s), escape(&d)),
            None => format!("<li><code>{}</code></li>", escape(s)),
        })
        .collect();
    let scopes = if scopes.is_empty() {
        "<li>no scopes</li>".to_owned()
    } else {
        scopes
    };
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    // RFC 9470 step-up: the client asked for a multi-factor login.
    let otp = if pending.mfa {
        "<p><label>One-time code <input name=\"otp\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\"></label></p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Sign in</h1>{error}<p><strong>{client}</strong> asks for access to:</p><ul>{scopes}</ul>\
         <form method=\"post\" action=\"/authorize\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
         <p><label>Username <input name=\"username\" autocomplete=\"username\"></label></p>\
         <p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label></p>{otp}\
         <p><button name=\"decision\" value=\"approve\">Approve</button> \
         <button name=\"decision\" value=\"deny\">Deny</button></p></form>",
        client = escape(&pending.client_id),
        csrf = escape(csrf),
    );
    layout("Sign in", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_uri_becomes_its_origin_or_its_private_scheme() {
        for (uri, source) in [
            (
                "http://127.0.0.1:8080/callback",
                Some("http://127.0.0.1:8080"),
            ),
            (
                "HTTPS://Client.example/cb?x=1#f",
                Some("https://Client.example"),
            ),
            (
                "https://user:pw@client.example/cb",
                Some("https://client.example"),
            ),
            ("http://[::1]:3000/cb", Some("http://[::1]:3000")),
            ("com.example.app:/oauth2redirect", Some("com.example.app:")),
            // Characters that would end the directive or start another source.
            ("https://a.example;script-src *", None),
            ("https://a.example,b/", None),
            ("https://a example/", None),
            ("https:///path", None),
            ("1http://a.example/", None),
            ("no-colon", None),
        ] {
            assert_eq!(redirect_source(uri).as_deref(), source, "{uri}");
        }
    }

    #[test]
    fn the_style_hash_is_of_the_style_element_text() {
        let page = layout("t", "");
        let text = page
            .split("<style>")
            .nth(1)
            .and_then(|rest| rest.split("</style>").next())
            .expect("a style element");
        let hash = STANDARD.encode(digest::digest(&digest::SHA256, text.as_bytes()));
        assert_eq!(*STYLE_HASH, format!("'sha256-{hash}'"));
    }
}
