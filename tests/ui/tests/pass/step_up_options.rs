//! `acr`, `max_age` and `dpop` (RFC 9470, RFC 9449) on axum and Rocket handlers, in any order
//! among the scopes and the other options, and what they make of the requirement type.
use axum::{Router, routing::post};
use oauth_runtime::{AuthnRequirement, ScopeRequirement, catalog, requires_scope};

#[requires_scope("payments:write", acr = "urn:example:mfa", max_age = 300)]
async fn pay() {}

#[requires_scope(dpop, acr = ["urn:example:mfa", "urn:example:hwk"], "payments:read", route = "POST /refunds")]
async fn refund() {}

#[requires_scope("payments:write", max_age = 60u32, dpop)]
#[rocket::post("/transfers")]
async fn transfer() {}

#[requires_scope("payments:read")]
async fn list() {}

fn main() {
    let _: Router = Router::new()
        .route("/pay", post(pay))
        .route("/refunds", post(refund).get(list));
    let _ = rocket::routes![transfer];
    assert_eq!(
        __requires_scope_0_of_pay_must_sit_below_debug_handler_and_above_any_route_attribute::AUTHENTICATION,
        Some(&AuthnRequirement::new().acr(&["urn:example:mfa"]).max_age(300))
    );
    let refund = __requires_scope_0_of_refund_must_sit_below_debug_handler_and_above_any_route_attribute::AUTHENTICATION
        .unwrap();
    assert_eq!(refund.acr_values(), ["urn:example:mfa", "urn:example:hwk"]);
    assert!(refund.requires_dpop() && refund.max_age_secs().is_none());
    assert_eq!(
        __requires_scope_0_of_transfer_must_sit_below_debug_handler_and_above_any_route_attribute::AUTHENTICATION,
        Some(&AuthnRequirement::new().max_age(60).dpop())
    );
    // Without the options, nothing beyond the scopes.
    assert_eq!(
        __requires_scope_0_of_list_must_sit_below_debug_handler_and_above_any_route_attribute::AUTHENTICATION,
        None
    );
    let transfer = catalog::endpoints().into_iter().find(|e| e.function().ends_with("::transfer")).unwrap();
    assert_eq!(transfer.authentication().map(ToString::to_string).as_deref(), Some("max_age 60 s, DPoP"));
}
