//! Every accepted argument form, served by a real axum router.
use axum::{Router, routing::get};
use oauth_runtime::{ScopeRequirement, requires_scope};

#[requires_scope("photos:read")]
async fn one() {}

#[requires_scope("photos:write", "photos:delete")]
async fn all_implicit() {}

#[requires_scope("photos:write", "photos:delete",)]
async fn trailing_comma() {}

#[requires_scope(all("a", "b"))]
async fn all_explicit() {}

#[requires_scope(any("photos:read", "albums:read"))]
async fn any_of() {}

#[requires_scope(all(any("a", "b"), "c"), any("d", all("e", "f")))]
async fn nested() {}

#[requires_scope("https://api.example.com/photos.read", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~")]
async fn every_allowed_character() {}

// The generated requirement types are hidden, but their values must be exactly what was written.
fn main() {
    let _: Router = Router::new()
        .route("/1", get(one))
        .route("/2", get(all_implicit))
        .route("/3", get(trailing_comma))
        .route("/4", get(all_explicit))
        .route("/5", get(any_of))
        .route("/6", get(nested))
        .route("/7", get(every_allowed_character));
    assert_eq!(__requires_scope_0_of_nested_must_sit_below_debug_handler_and_above_any_route_attribute::REQUIREMENT.to_string(), "all(all(any(a, b), c), any(d, all(e, f)))");
    assert_eq!(__requires_scope_0_of_all_implicit_must_sit_below_debug_handler_and_above_any_route_attribute::REQUIREMENT.to_string(), "all(photos:write, photos:delete)");
    assert_eq!(__requires_scope_0_of_one_must_sit_below_debug_handler_and_above_any_route_attribute::REQUIREMENT.to_string(), "photos:read");
}
