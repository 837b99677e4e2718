//! The scope catalog: every declared scope and every protected handler registers itself at link
//! time, so documentation is generated from the annotations instead of written beside them.
//!
//! ```
//! oauth_runtime::scopes! {
//!     /// See your photos
//!     pub PHOTOS_READ = "photos:read";
//!     /// Upload photos
//!     pub PHOTOS_WRITE = "photos:write";
//! }
//!
//! #[oauth_runtime::requires_scope(PHOTOS_READ, route = "GET /photos")]
//! async fn list_photos() {}
//!
//! let markdown = oauth_runtime::catalog::to_markdown();
//! assert!(markdown.contains("| `photos:read` | See your photos | "));
//! assert!(markdown.contains("| `GET /photos` | `photos:read` |"));
//! // PHOTOS_WRITE is declared but no handler uses it:
//! assert!(oauth_runtime::catalog::check().is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::requirement::{AuthnRequirement, Requirement};

#[doc(hidden)]
pub use inventory;
#[doc(hidden)]
pub use oauth_macros::declare_scopes;

pub use crate::declared::{DeclaredScope, hierarchy};
pub use crate::scope::ScopeHierarchy;

/// A handler protected by `#[requires_scope]`.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    function: &'static str,
    requirement: &'static Requirement,
    file: &'static str,
    line: u32,
    route: Option<&'static str>,
    authentication: Option<&'static AuthnRequirement>,
}

impl Endpoint {
    #[doc(hidden)]
    pub const fn new(
        function: &'static str,
        requirement: &'static Requirement,
        file: &'static str,
        line: u32,
        route: Option<&'static str>,
    ) -> Endpoint {
        Endpoint {
            function,
            requirement,
            file,
            line,
            route,
            authentication: None,
        }
    }

    #[doc(hidden)]
    pub const fn with_authentication(
        self,
        authentication: Option<&'static AuthnRequirement>,
    ) -> Endpoint {
        Endpoint {
            authentication,
            ..self
        }
    }

    /// The handler's path, such as `photos_axum::list_photos`.
    pub fn function(&self) -> &'static str {
        self.function
    }
    /// What it requires.
    pub fn requirement(&self) -> &'static Requirement {
        self.requirement
    }
    /// What it requires beyond scopes: `acr`, `max_age` (RFC 9470) and `dpop` (RFC 9449). The
    /// Markdown and JSON catalogs show it.
    ///
    /// ```
    /// #[oauth_runtime::requires_scope("payments:write", acr = ["urn:example:mfa", "urn:example:hwk"], max_age = 300, route = "POST /pay")]
    /// async fn pay() {}
    ///
    /// let markdown = oauth_runtime::catalog::to_markdown();
    /// assert!(markdown.contains(
    ///     "| `POST /pay` | `payments:write`; authentication: acr one of (urn:example:mfa, \
    ///      urn:example:hwk), max_age 300 s |"
    /// ));
    /// let json = oauth_runtime::catalog::to_json();
    /// let endpoints = json["endpoints"].as_array().unwrap();
    /// let pay = endpoints.iter().find(|e| e["route"] == "POST /pay").unwrap();
    /// assert_eq!(
    ///     pay["authentication"],
    ///     serde_json::json!({ "acr_values": ["urn:example:mfa", "urn:example:hwk"], "max_age": 300 })
    /// );
    /// ```
    pub fn authentication(&self) -> Option<&'static AuthnRequirement> {
        self.authentication
    }
    /// Where it is written.
    pub fn location(&self) -> (&'static str, u32) {
        (self.file, self.line)
    }
    /// Its route, such as `GET /photos`: from Rocket's route attribute below ours, or from
    /// `route = ".."` in the attribute.
    pub fn route(&self) -> Option<&'static str> {
        self.route
    }
    fn label(&self) -> &'static str {
        self.route.unwrap_or(self.function)
    }
}

inventory::collect!(Endpoint);

/// Every protected handler linked into the program, by route (or function).
pub fn endpoints() -> Vec<&'static Endpoint> {
    let mut all: Vec<_> = inventory::iter::<Endpoint>.into_iter().collect();
    all.sort_by_key(|e| (e.label(), e.function));
    all
}

/// Every declared scope linked into the program, by name.
pub fn declared_scopes() -> Vec<&'static DeclaredScope> {
    let mut all: Vec<_> = inventory::iter::<DeclaredScope>.into_iter().collect();
    all.sort_by_key(|s| s.name());
    all.dedup_by_key(|s| s.name());
    all
}

/// A disagreement between declarations and use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A handler requires a scope nobody declared.
    Undeclared {
        /// The scope.
        scope: String,
        /// The handler.
        function: &'static str,
    },
    /// A declared scope no handler requires.
    Unused {
        /// The scope.
        scope: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Undeclared { scope, function } => {
                write!(f, "`{scope}` is required by {function} but never declared")
            }
            Problem::Unused { scope } => {
                write!(f, "`{scope}` is declared but no endpoint requires it")
            }
        }
    }
}

/// Every scope used but not declared, and every scope declared but not used. Call it from a test
/// to keep declarations and annotations in step.
pub fn check() -> Result<(), Vec<Problem>> {
    let declared = declared_scopes();
    let mut used: BTreeMap<String, &'static str> = BTreeMap::new();
    for endpoint in endpoints() {
        for scope in endpoint.requirement.scopes() {
            used.entry(scope.to_string()).or_insert(endpoint.function);
        }
    }
    let mut problems: Vec<Problem> = used
        .iter()
        .filter(|(scope, _)| !declared.iter().any(|d| d.name() == scope.as_str()))
        .map(|(scope, function)| Problem::Undeclared {
            scope: scope.clone(),
            function,
        })
        .collect();
    // A broader scope is in use when a scope it implies is: a token granted it reaches those
    // handlers, which is what it was declared for.
    let hierarchy = hierarchy();
    let in_use = |d: &&&DeclaredScope| {
        used.contains_key(d.name())
            || hierarchy
                .implies(d.name())
                .iter()
                .any(|s| used.contains_key(s.as_str()))
    };
    problems.extend(
        declared
            .iter()
            .filter(|d| !in_use(d))
            .map(|d| Problem::Unused { scope: d.name() }),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn by_scope() -> BTreeMap<String, Vec<&'static Endpoint>> {
    let mut map: BTreeMap<String, Vec<&'static Endpoint>> = BTreeMap::new();
    for scope in declared_scopes() {
        map.entry(scope.name().to_owned()).or_default();
    }
    for endpoint in endpoints() {
        for scope in endpoint.requirement.scopes() {
            map.entry(scope.to_string()).or_default().push(endpoint);
        }
    }
    map
}

/// The scopes that imply `scope`, as a Markdown cell: `` `a`, `b` ``.
fn implied_by_cell(scope: &str) -> String {
    hierarchy()
        .implied_by(scope)
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The catalog as Markdown: a table per scope (what needs it and, with a [hierarchy], which
/// broader scopes imply it) and per endpoint (what it needs), then any [`Problem`]s as warnings.
///
/// ```
/// oauth_runtime::scopes! {
///     /// Manage the notes
///     pub NOTES_ADMIN = "notes:admin" => [NOTES_READ];
///     /// See the notes
///     pub NOTES_READ = "notes:read";
/// }
/// #[oauth_runtime::requires_scope(NOTES_READ, route = "GET /notes")]
/// async fn notes() {}
///
/// let markdown = oauth_runtime::catalog::to_markdown();
/// assert!(markdown.contains("| scope | description | endpoints | implied by |"));
/// assert!(markdown.contains("| `notes:read` | See the notes | `GET /notes` | `notes:admin` |"));
/// let json = oauth_runtime::catalog::to_json();
/// let read = json["scopes"].as_array().unwrap().iter().find(|s| s["scope"] == "notes:read").unwrap();
/// assert_eq!(read["implied_by"], serde_json::json!(["notes:admin"]));
/// ```
pub fn to_markdown() -> String {
    let declared = declared_scopes();
    // The column only where a hierarchy is declared, so that other catalogs read as before.
    let with_hierarchy = !hierarchy().is_empty();
    let mut out = String::from(if with_hierarchy {
        "## Scopes\n\n| scope | description | endpoints | implied by |\n|---|---|---|---|\n"
    } else {
        "## Scopes\n\n| scope | description | endpoints |\n|---|---|---|\n"
    });
    for (scope, endpoints) in by_scope() {
        let description = declared
            .iter()
            .find(|d| d.name() == scope)
            .map(|d| d.description())
            .unwrap_or_default();
        let list: Vec<String> = endpoints
            .iter()
            .map(|e| format!("`{}`", e.label()))
            .collect();
        out.push_str(&format!(
            "| `{scope}` | {description} | {} |",
            list.join(", ")
        ));
        if with_hierarchy {
            out.push_str(&format!(" {} |", implied_by_cell(&scope)));
        }
        out.push('\n');
    }
    out.push_str("\n## Endpoints\n\n| endpoint | requires | handler |\n|---|---|---|\n");
    for e in endpoints() {
        let authentication = e
            .authentication
            .map(|a| format!("; authentication: {a}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | `{}`{authentication} | `{}` ({}:{}) |\n",
            e.label(),
            e.requirement,
            e.function,
            e.file,
            e.line
        ));
    }
    if let Err(problems) = check() {
        out.push_str("\n## Warnings\n\n");
        for problem in problems {
            out.push_str(&format!("- {problem}\n"));
        }
    }
    out
}

/// The catalog as JSON: `{"scopes": [...], "endpoints": [...], "problems": [...]}`.
pub fn to_json() -> serde_json::Value {
    let scopes: Vec<_> = by_scope()
        .into_iter()
        .map(|(scope, endpoints)| {
            let description = declared_scopes()
                .iter()
                .find(|d| d.name() == scope)
                .map(|d| d.description());
            let mut entry = serde_json::json!({
                "scope": scope,
                "description": description,
                "endpoints": endpoints.iter().map(|e| e.label()).collect::<Vec<_>>(),
            });
            // Only for scopes in a hierarchy, so that other entries read as before.
            let implies = hierarchy().implies(&scope);
            if !implies.is_empty() {
                entry["implies"] = serde_json::json!(implies);
            }
            let implied_by = hierarchy().implied_by(&scope);
            if !implied_by.is_empty() {
                entry["implied_by"] = serde_json::json!(implied_by);
            }
            entry
        })
        .collect();
    let endpoints: Vec<_> = endpoints()
        .into_iter()
        .map(|e| {
            let mut entry = serde_json::json!({
                "function": e.function,
                "route": e.route,
                "requires": e.requirement.to_string(),
                "sufficient_scopes": e.requirement.sufficient_scopes().to_string(),
                "file": e.file,
                "line": e.line,
            });
            // Only where the handler asks for it, so that other entries read as before.
            if let Some(a) = e.authentication {
                entry["authentication"] = authentication_json(a);
            }
            entry
        })
        .collect();
    let problems: Vec<String> = check()
        .err()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    serde_json::json!({ "scopes": scopes, "endpoints": endpoints, "problems": problems })
}

/// `{"acr_values": [..], "max_age": 300, "dpop": true}`, each part only when required.
pub(crate) fn authentication_json(a: &AuthnRequirement) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if !a.acr_values().is_empty() {
        out.insert("acr_values".into(), a.acr_values().into());
    }
    if let Some(max_age) = a.max_age_secs() {
        out.insert("max_age".into(), max_age.into());
    }
    if a.requires_dpop() {
        out.insert("dpop".into(), true.into());
    }
    serde_json::Value::Object(out)
}

/// Declares the API's scopes once, each with its description (its doc comment), as constants
/// that `#[requires_scope]` accepts in place of string literals. A misspelt constant is then a
/// compile error at the typo, and an invalid scope is rejected when the constant is evaluated.
///
/// ```
/// oauth_runtime::scopes! {
///     /// See your photos
///     pub PHOTOS_READ = "photos:read";
/// }
/// assert_eq!(PHOTOS_READ.name(), "photos:read");
/// assert_eq!(PHOTOS_READ.description(), "See your photos");
/// ```
///
/// # Scope hierarchy
///
/// `=> [..]` after a scope names the scopes of the same block that it implies: a token granted
/// the broader scope meets a requirement of any scope it implies, directly or through others.
/// The challenges, the catalog, the RFC 9728 metadata and the OpenAPI document say so too (see
/// [`hierarchy`]).
///
/// ```
/// oauth_runtime::scopes! {
///     /// Manage the photos
///     pub PHOTOS_ADMIN = "photos:admin" => [PHOTOS_WRITE];
///     /// Upload photos
///     pub PHOTOS_WRITE = "photos:write" => [PHOTOS_READ];
///     /// See your photos
///     pub PHOTOS_READ = "photos:read";
/// }
///
/// #[oauth_runtime::requires_scope(PHOTOS_READ)]
/// async fn list_photos() {}
///
/// let admin: oauth_runtime::ScopeSet = "photos:admin".parse()?;
/// let read = oauth_runtime::Requirement::Scope(PHOTOS_READ.token());
/// assert!(read.is_satisfied_by(&admin));
/// # Ok::<(), oauth_runtime::ScopeError>(())
/// ```
///
/// The implied names must be declared in the same block, so that the macro sees the whole
/// hierarchy: a name it does not know and a cycle (`A => [B]`, `B => [A]`) are compile errors
/// on the name at fault.
///
/// ```compile_fail
/// oauth_runtime::scopes! {
///     pub PHOTOS_WRITE = "photos:write" => [PHOTOS_READ];
///     pub PHOTOS_READ = "photos:read" => [PHOTOS_WRITE];
/// }
/// ```
#[macro_export]
macro_rules! scopes {
    ($($declarations:tt)*) => {
        $crate::catalog::declare_scopes! { $crate; $($declarations)* }
    };
}

impl crate::request::resource::ProtectedResource {
    /// The metadata document (RFC 9728 §2): `resource`, `authorization_servers`,
    /// `scopes_supported` (from the scope catalog: declared scopes and scopes any handler
    /// requires) and `bearer_methods_supported` (`header` only). Written here, beside the
    /// catalog it reads, so that the core type knows nothing of the registry.
    pub fn document(&self) -> serde_json::Value {
        let declared = declared_scopes().into_iter().map(|s| s.name().to_owned());
        let required = endpoints().into_iter().flat_map(|e| {
            e.requirement()
                .scopes()
                .into_iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        });
        self.document_with_scopes(declared.chain(required))
    }
}
