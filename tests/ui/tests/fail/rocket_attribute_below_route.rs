// Below the route attribute the guard would come too late: Rocket has already generated the call
// without it. The build must fail, never serve the route unprotected.
use oauth_runtime::requires_scope;
use rocket::{get, routes};

#[get("/photos")]
#[requires_scope("photos:read")]
async fn list_photos() -> &'static str {
    "photos"
}

fn main() {
    let _ = rocket::build().mount("/", routes![list_photos]);
}
