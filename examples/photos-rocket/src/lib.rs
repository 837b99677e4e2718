//! The photo API (see `photos-demo` for its routes and scopes), protected with
//! `#[requires_scope]` on Rocket. Each attribute sits above Rocket's route attribute.

use oauth_runtime::{Authenticator, Claims, requires_scope};
use photos_demo::{
    ALBUMS_READ, Album, ClientApp, LOGIN_COOKIE, NewPhoto, PHOTOS_DELETE, PHOTOS_READ,
    PHOTOS_WRITE, Photo, Store,
};
use rocket::http::uri::Origin;
use rocket::http::{CookieJar, Header, Status};
use rocket::response::Redirect;
use rocket::response::content::RawHtml;
use rocket::serde::json::Json;
use rocket::{Build, Responder, Rocket, State, delete, get, post, routes};

#[requires_scope(PHOTOS_READ)]
#[get("/photos")]
async fn list_photos(store: &State<Store>) -> Json<Vec<Photo>> {
    Json(store.list())
}

#[requires_scope(PHOTOS_WRITE)]
#[post("/photos", data = "<new>")]
async fn create_photo(
    store: &State<Store>,
    claims: Claims,
    new: Json<NewPhoto>,
) -> (Status, Json<Photo>) {
    let owner = claims.subject().unwrap_or("unknown").to_owned();
    (
        Status::Created,
        Json(store.create(new.into_inner().title, owner)),
    )
}

#[requires_scope(PHOTOS_WRITE, PHOTOS_DELETE)]
#[delete("/photos/<id>")]
async fn delete_photo(store: &State<Store>, id: u64) -> (Status, ()) {
    // A `(Status, ())` answers with an empty body, as the axum example does; a bare `Status` would
    // hand a 404 to Rocket's HTML catcher.
    if store.delete(id) {
        (Status::NoContent, ())
    } else {
        (Status::NotFound, ())
    }
}

#[requires_scope(any(PHOTOS_READ, ALBUMS_READ))]
#[get("/albums")]
async fn list_albums(store: &State<Store>) -> Json<Vec<Album>> {
    Json(store.albums())
}

#[get("/health")]
fn health() -> &'static str {
    "ok"
}

#[get("/")]
fn home(client: &State<ClientApp>) -> RawHtml<String> {
    RawHtml(client.home())
}

/// The redirect of `GET /login` with the cookie that binds the login to the browser.
#[derive(Responder)]
struct LoginRedirect {
    redirect: Redirect,
    set_cookie: Header<'static>,
}

#[get("/login")]
fn login(client: &State<ClientApp>) -> Result<LoginRedirect, (Status, String)> {
    // The header as the client wrote it: Rocket's cookie jar would make it SameSite=Strict,
    // which browsers drop on the authorization server's redirect back.
    client
        .login()
        .map(|login| LoginRedirect {
            redirect: Redirect::to(login.location),
            set_cookie: Header::new("Set-Cookie", login.set_cookie),
        })
        .map_err(|e| (Status::InternalServerError, e))
}

#[get("/callback")]
async fn callback(
    client: &State<ClientApp>,
    uri: &Origin<'_>,
    cookies: &CookieJar<'_>,
) -> Result<RawHtml<String>, (Status, String)> {
    let query = uri.query().map(|q| q.as_str());
    let browser = cookies.get(LOGIN_COOKIE).map(|c| c.value());
    client
        .callback(query, browser)
        .await
        .map(RawHtml)
        .map_err(|e| (Status::BadRequest, e))
}

/// The API, protected by `authenticator`, and the web client's pages (`/`, `/login`,
/// `/callback`), on top of `rocket` (which carries its configuration).
pub fn app(
    rocket: Rocket<Build>,
    authenticator: Authenticator,
    client: ClientApp,
) -> Rocket<Build> {
    rocket
        .manage(Store::default())
        .manage(client)
        .attach(authenticator.fairing())
        .mount(
            "/",
            routes![
                list_photos,
                create_photo,
                delete_photo,
                list_albums,
                health,
                home,
                login,
                callback
            ],
        )
}
