//! OpenAPI (utoipa): the OAuth 2.0 security scheme with the catalog's scopes, and each protected
//! operation's security requirement, taken from the `#[requires_scope]` annotations.
//!
//! Put `#[requires_scope]` above `#[utoipa::path(..)]`: the route is read from utoipa's attribute,
//! so nothing is written twice. Then apply [`OAuth2Security`] to the generated document.
//!
//! OpenAPI has no words for step-up authentication (RFC 9470) or DPoP-bound tokens (RFC 9449):
//! an operation whose handler asks for `acr`, `max_age` or `dpop` gets them in an
//! `x-oauth-authentication` extension, for tools, and a sentence in its description, for people.
//!
//! ```
//! use oauth_runtime::openapi::OAuth2Security;
//! use oauth_runtime::requires_scope;
//! use utoipa::Modify;
//! use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
//! use utoipa::openapi::{OpenApiBuilder, PathsBuilder};
//!
//! #[requires_scope("payments:write", acr = "urn:example:mfa", max_age = 300, dpop, route = "POST /transfers")]
//! async fn transfer() {}
//!
//! let paths = PathsBuilder::new().path("/transfers", PathItem::new(HttpMethod::Post, Operation::new()));
//! let mut doc = OpenApiBuilder::new().paths(paths).build();
//! OAuth2Security::for_issuer("https://idp.example.com").modify(&mut doc);
//! let json = serde_json::to_value(&doc)?;
//! let operation = &json["paths"]["/transfers"]["post"];
//! assert_eq!(operation["security"], serde_json::json!([{ "oauth2": ["payments:write"] }]));
//! assert_eq!(
//!     operation["x-oauth-authentication"],
//!     serde_json::json!({ "acr_values": ["urn:example:mfa"], "max_age": 300, "dpop": true })
//! );
//! assert_eq!(
//!     operation["description"],
//!     "**OAuth 2.0 authentication:** acr urn:example:mfa, max_age 300 s, DPoP."
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use utoipa::openapi::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    AuthorizationCode, Flow, OAuth2, Scopes, SecurityRequirement, SecurityScheme,
};

use crate::docs::catalog;
use crate::requirement::Requirement;
use crate::scope::{ScopeHierarchy, ScopeSet, ScopeToken};

/// The most alternatives a requirement expands to in OpenAPI (an `any` of `all`s multiplies).
const MAX_ALTERNATIVES: usize = 64;

/// Adds the OAuth 2.0 authorization-code scheme (with the catalog's scopes and their
/// descriptions) and sets every cataloged operation's `security`.
///
/// ```
/// use utoipa::Modify;
/// use oauth_runtime::openapi::OAuth2Security;
///
/// let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
/// OAuth2Security::for_issuer("https://idp.example.com").modify(&mut doc);
/// let schemes = doc.components.unwrap().security_schemes;
/// assert!(schemes.contains_key("oauth2"));
/// ```
#[derive(Debug, Clone)]
pub struct OAuth2Security {
    scheme: String,
    authorization_url: String,
    token_url: String,
}

impl OAuth2Security {
    /// The scheme named `oauth2`, with these endpoints.
    pub fn new(authorization_url: impl Into<String>, token_url: impl Into<String>) -> Self {
        OAuth2Security {
            scheme: "oauth2".into(),
            authorization_url: authorization_url.into(),
            token_url: token_url.into(),
        }
    }

    /// Endpoints at `{issuer}/authorize` and `{issuer}/token`, as the development server has them.
    pub fn for_issuer(issuer: &str) -> Self {
        let issuer = issuer.trim_end_matches('/');
        OAuth2Security::new(format!("{issuer}/authorize"), format!("{issuer}/token"))
    }

    /// Another scheme name.
    pub fn named(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = scheme.into();
        self
    }
}

/// The requirement as OpenAPI needs it: alternatives (OR), each a set of scopes (AND). With a
/// [scope hierarchy](catalog::hierarchy), the alternatives as written come first, reduced to
/// the scopes no other of theirs implies, then those that broader scopes make: a token with
/// `photos:admin` may call an operation that requires `photos:read`, and the document says so.
pub fn alternatives(requirement: &Requirement) -> Vec<Vec<String>> {
    alternatives_within(requirement, catalog::hierarchy())
}

fn alternatives_within(requirement: &Requirement, hierarchy: &ScopeHierarchy) -> Vec<Vec<String>> {
    let minimal = |alternative: Vec<String>| -> Vec<String> {
        let set: ScopeSet = alternative
            .into_iter()
            .filter_map(|s| ScopeToken::new(s).ok())
            .collect();
        hierarchy
            .minimal(set)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let mut out: Vec<Vec<String>> = combine(requirement, &|s| vec![vec![s.to_string()]])
        .into_iter()
        .map(minimal)
        .collect();
    out.dedup();
    if hierarchy.is_empty() {
        return out;
    }
    let broader = combine(requirement, &|s| {
        std::iter::once(s)
            .chain(hierarchy.implied_by(s.as_str()))
            .map(|s| vec![s.to_string()])
            .collect()
    });
    let mut more: Vec<Vec<String>> = broader
        .into_iter()
        .map(minimal)
        .filter(|alternative| !out.contains(alternative))
        .collect();
    more.sort();
    more.dedup();
    out.extend(more);
    out.truncate(MAX_ALTERNATIVES);
    out
}

/// The alternatives of `requirement`, each scope standing for the alternatives `leaf` gives it.
fn combine(
    requirement: &Requirement,
    leaf: &dyn Fn(&ScopeToken) -> Vec<Vec<String>>,
) -> Vec<Vec<String>> {
    let mut out = match requirement {
        Requirement::Scope(s) => leaf(s),
        Requirement::Any(items) => items.iter().flat_map(|r| combine(r, leaf)).collect(),
        Requirement::All(items) => {
            items
                .iter()
                .map(|r| combine(r, leaf))
                .fold(vec![Vec::new()], |acc, next| {
                    let mut product = Vec::new();
                    for left in &acc {
                        for right in &next {
                            let mut both = left.clone();
                            both.extend(right.iter().cloned());
                            product.push(both);
                        }
                    }
                    product.truncate(MAX_ALTERNATIVES);
                    product
                })
        }
    };
    for alternative in &mut out {
        alternative.sort();
        alternative.dedup();
    }
    out.sort();
    out.dedup();
    out.truncate(MAX_ALTERNATIVES);
    out
}

fn operation<'a>(doc: &'a mut OpenApi, route: &str) -> Option<&'a mut Operation> {
    let (method, path) = route.split_once(' ')?;
    // Rocket writes `<id>`, OpenAPI `{id}`.
    let path = path.replace('<', "{").replace("..>", "}").replace('>', "}");
    let item = doc.paths.paths.get_mut(&path)?;
    match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "DELETE" => item.delete.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "HEAD" => item.head.as_mut(),
        "OPTIONS" => item.options.as_mut(),
        _ => None,
    }
}

impl utoipa::Modify for OAuth2Security {
    fn modify(&self, doc: &mut OpenApi) {
        let hierarchy = catalog::hierarchy();
        let mut scopes: Vec<(String, String)> = catalog::declared_scopes()
            .iter()
            .map(|s| {
                // For people reading the document: what a broader scope brings with it.
                let implies = hierarchy.implies(s.name());
                let description = if implies.is_empty() {
                    s.description()
                } else {
                    let names: Vec<String> = implies.iter().map(|i| format!("`{i}`")).collect();
                    let sep = if s.description().is_empty() { "" } else { " " };
                    format!("{}{sep}(implies {})", s.description(), names.join(", "))
                };
                (s.name().to_owned(), description)
            })
            .collect();
        for endpoint in catalog::endpoints() {
            for scope in endpoint.requirement().scopes() {
                if !scopes.iter().any(|(name, _)| name == scope.as_str()) {
                    scopes.push((scope.to_string(), String::new()));
                }
            }
        }
        let flow = AuthorizationCode::new(
            &self.authorization_url,
            &self.token_url,
            Scopes::from_iter(scopes),
        );
        let scheme = SecurityScheme::OAuth2(OAuth2::new([Flow::AuthorizationCode(flow)]));
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(&self.scheme, scheme);
        for endpoint in catalog::endpoints() {
            let Some(route) = endpoint.route() else {
                continue;
            };
            if let Some(operation) = operation(doc, route) {
                let requirements = alternatives(endpoint.requirement())
                    .into_iter()
                    .map(|scopes| SecurityRequirement::new(&self.scheme, scopes))
                    .collect();
                operation.security = Some(requirements);
                // OpenAPI has no words for RFC 9470 step-up or DPoP binding: an extension
                // carries them for tools, and the description for people.
                if let Some(a) = endpoint.authentication() {
                    operation
                        .extensions
                        .get_or_insert_with(Default::default)
                        .insert(
                            "x-oauth-authentication".to_owned(),
                            catalog::authentication_json(a),
                        );
                    let note = format!("**OAuth 2.0 authentication:** {a}.");
                    operation.description = Some(match operation.description.take() {
                        Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                        _ => note,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeToken;

    fn s(name: &'static str) -> Requirement {
        Requirement::Scope(ScopeToken::from_static(name))
    }

    #[test]
    fn requirements_become_alternatives_of_scope_sets() {
        assert_eq!(alternatives(&s("a")), [["a"]]);
        assert_eq!(
            alternatives(&Requirement::all([s("b"), s("a")])),
            [["a", "b"]]
        );
        assert_eq!(
            alternatives(&Requirement::any([s("a"), s("b")])),
            [["a"], ["b"]]
        );
        let nested = Requirement::all([Requirement::any([s("a"), s("b")]), s("c")]);
        assert_eq!(alternatives(&nested), [["a", "c"], ["b", "c"]]);
    }

    #[test]
    fn broader_scopes_are_alternatives_after_the_required_ones() {
        let t = ScopeToken::from_static;
        let h = ScopeHierarchy::new([(t("admin"), t("write")), (t("write"), t("read"))]);
        assert_eq!(
            alternatives_within(&s("read"), &h),
            [vec!["read"], vec!["admin"], vec!["write"]]
        );
        // A scope another of the set implies is left out, and the result is deduplicated.
        assert_eq!(
            alternatives_within(&Requirement::all([s("read"), s("write")]), &h),
            [vec!["write"], vec!["admin"]]
        );
        assert_eq!(
            alternatives_within(&Requirement::all([s("read"), s("other")]), &h),
            [
                vec!["other", "read"],
                vec!["admin", "other"],
                vec!["other", "write"]
            ]
        );
        // No hierarchy: as before.
        let none = ScopeHierarchy::default();
        assert_eq!(alternatives_within(&s("read"), &none), [["read"]]);
    }
}
