//! The scopes the program declares with [`scopes!`](crate::scopes), registered at link time, and
//! the hierarchy their `=> [..]` clauses make. Part of the vocabulary: authorization reads the
//! hierarchy, so it lives below the request path, and the catalog (which renders it) re-exports
//! it as `catalog::DeclaredScope` and `catalog::hierarchy`.

use std::sync::OnceLock;

use crate::scope::{ScopeHierarchy, ScopeToken};

/// A scope declared with [`scopes!`](crate::scopes): its name, checked at compile time, and its
/// description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredScope {
    name: &'static str,
    description: &'static str,
    implies: &'static [&'static str],
}

impl DeclaredScope {
    /// Checks `name` against RFC 6749 §3.3 at compile time (in a `const`).
    pub const fn new(name: &'static str, description: &'static str) -> DeclaredScope {
        match crate::scope::check(name) {
            Ok(()) => DeclaredScope {
                name,
                description,
                implies: &[],
            },
            Err(_) => panic!(
                "a declared scope must be printable ASCII without space, `\"` or `\\` (RFC 6749 §3.3)"
            ),
        }
    }

    /// The scopes this one implies directly (`=> [..]` in [`scopes!`](crate::scopes)). The
    /// names come from declarations of the same block, already checked by the macro.
    #[doc(hidden)]
    pub const fn implying(self, implies: &'static [&'static str]) -> DeclaredScope {
        DeclaredScope { implies, ..self }
    }

    /// The scopes this one implies directly, as declared; [`hierarchy`] has the transitive
    /// closure.
    pub fn implies(&self) -> &'static [&'static str] {
        self.implies
    }

    /// The scope as a token, for requirements.
    pub const fn token(&self) -> ScopeToken {
        ScopeToken::from_static(self.name)
    }

    /// The scope.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its description: the doc comment of the declaration.
    pub fn description(&self) -> String {
        self.description
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

inventory::collect!(DeclaredScope);

/// The scope hierarchy of every declared scope linked into the program, closed transitively
/// when first asked for. Authorization ([`Requirement::is_satisfied_by`](crate::Requirement::is_satisfied_by)), the challenges, the
/// catalogs and the metadata documents all read this one.
///
/// ```
/// oauth_runtime::scopes! {
///     /// Manage the albums
///     pub ALBUMS_ADMIN = "albums:admin" => [ALBUMS_WRITE];
///     /// Change the albums
///     pub ALBUMS_WRITE = "albums:write" => [ALBUMS_READ];
///     /// See the albums
///     pub ALBUMS_READ = "albums:read";
/// }
/// let hierarchy = oauth_runtime::catalog::hierarchy();
/// assert_eq!(hierarchy.implies("albums:admin"), ["albums:read", "albums:write"]);
/// ```
pub fn hierarchy() -> &'static ScopeHierarchy {
    static HIERARCHY: OnceLock<ScopeHierarchy> = OnceLock::new();
    HIERARCHY.get_or_init(|| {
        // Every declaration, not one per name: two blocks may declare one scope and its
        // implications between them.
        ScopeHierarchy::new(inventory::iter::<DeclaredScope>.into_iter().flat_map(|d| {
            d.implies.iter().filter_map(move |narrower| {
                ScopeToken::new(*narrower)
                    .ok()
                    .map(|narrower| (d.token(), narrower))
            })
        }))
    })
}
