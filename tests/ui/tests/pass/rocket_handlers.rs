//! The same attribute on Rocket handlers: sync and async, beside other request guards, path and
//! query parameters and data guards. The attribute sits above the route attribute.
use oauth_runtime::{Claims, requires_scope};
use rocket::http::CookieJar;
use rocket::serde::json::Json;
use rocket::{State, delete, get, post, routes};

struct Counter(u32);

#[requires_scope("photos:read")]
#[get("/sync")]
fn sync_handler() -> &'static str {
    "ok"
}

#[requires_scope("photos:read", "albums:read")]
#[get("/async/<id>?<page>&<size>")]
async fn with_params(id: u64, page: Option<u32>, size: usize, claims: Claims) -> String {
    format!("{id} {page:?} {size} {:?}", claims.subject())
}

#[requires_scope(any("photos:write", "admin"))]
#[post("/photos/<album>", format = "json", data = "<body>")]
async fn with_data(album: &str, counter: &State<Counter>, cookies: &CookieJar<'_>, body: Json<Vec<String>>) -> String {
    format!("{album} {} {} {}", counter.0, cookies.iter().count(), body.len())
}

#[requires_scope("photos:delete")]
#[delete("/photos/<path..>", rank = 2)]
async fn with_segments(path: std::path::PathBuf, claims: Option<Claims>) -> String {
    format!("{} {}", path.display(), claims.is_some())
}

/// Docs and other attributes are kept.
#[requires_scope("raw")]
#[allow(clippy::needless_pass_by_value)]
#[post("/raw", data = "<text>")]
pub async fn raw_data(text: String) -> String {
    text
}

fn main() {
    let _ = rocket::build()
        .manage(Counter(0))
        .mount("/", routes![sync_handler, with_params, with_data, with_segments, raw_data]);
}

/// Typed segments are parsed before the credentials are asked for, also with named lifetimes.
#[requires_scope("photos:read")]
#[get("/named/<name>/<year>/<rest..>?<q>", rank = 3)]
fn named_lifetime<'r>(name: &'r str, year: u16, rest: std::path::PathBuf, q: Option<&'r str>) -> String {
    format!("{name} {year} {} {q:?}", rest.display())
}

#[allow(dead_code)]
fn mount_named() {
    let _ = rocket::build().mount("/", routes![named_lifetime]);
}
