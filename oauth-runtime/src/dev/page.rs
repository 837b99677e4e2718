//! The server-rendered login and consent page, and error pages.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

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

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}li{{margin:.3rem 0}}\
         .error{{color:#b00}}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// An error shown to the person instead of a redirect: used when the redirect URI cannot be
/// trusted (RFC 6749 §4.1.2.1).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>Authorization failed</h1><p class=\"error\">{}</p>",
        escape(message)
    );
    (status, Html(layout("Authorization failed", &body))).into_response()
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
