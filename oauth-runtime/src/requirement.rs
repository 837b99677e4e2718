//! What a handler needs: one scope, all of several, any of several, nested; and, where it asks
//! for them, a user authentication of some strength and age (RFC 9470) and a sender-constrained
//! token (RFC 9449).

use std::borrow::Cow;
use std::fmt;

use crate::scope::{ScopeHierarchy, ScopeSet, ScopeToken};

/// Which hierarchy a check reads: the program's, looked up only when a scope is not granted
/// as such, so that a token holding the scopes it needs pays nothing for it.
#[derive(Clone, Copy)]
enum Within<'a> {
    Program,
    Given(&'a ScopeHierarchy),
}

impl Within<'_> {
    fn grants(self, granted: &ScopeSet, scope: &str) -> bool {
        granted.contains(scope)
            || match self {
                Within::Program => crate::declared::hierarchy().grants_implied(granted, scope),
                Within::Given(h) => h.grants_implied(granted, scope),
            }
    }
}

/// A scope requirement. `#[requires_scope]` builds these as constants; they can also be built at
/// run time.
///
/// ```
/// use oauth_runtime::{Requirement, ScopeSet, ScopeToken};
///
/// // all(any("photos:read", "albums:read"), "profile")
/// let req = Requirement::all([
///     Requirement::any([
///         Requirement::Scope(ScopeToken::from_static("photos:read")),
///         Requirement::Scope(ScopeToken::from_static("albums:read")),
///     ]),
///     Requirement::Scope(ScopeToken::from_static("profile")),
/// ]);
///
/// let granted: ScopeSet = "albums:read".parse()?;
/// let unmet = req.check(&granted).unwrap_err();
/// assert_eq!(unmet.residual().to_string(), "profile");
/// assert!(req.is_satisfied_by(&"albums:read profile".parse()?));
/// # Ok::<(), oauth_runtime::ScopeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// This one scope.
    Scope(ScopeToken),
    /// Every one of these.
    All(Cow<'static, [Requirement]>),
    /// At least one of these.
    Any(Cow<'static, [Requirement]>),
}

/// A type that stands for a requirement known at compile time. `#[requires_scope]` generates one
/// per handler; `ScopeGuard<R>` reads it.
pub trait ScopeRequirement: Send + Sync + 'static {
    /// The requirement.
    const REQUIREMENT: &'static Requirement;
    /// What the handler requires beyond scopes, if anything (`acr`, `max_age` and `dpop` of the
    /// attribute). `None`, the default, costs nothing at run time: the check is a constant.
    const AUTHENTICATION: Option<&'static AuthnRequirement> = None;
}

/// What a handler requires of the user's authentication (RFC 9470 §3: `acr` and `auth_time`) and
/// of how the token is held (RFC 9449: sender-constrained with DPoP), beside its scopes.
/// `#[requires_scope(.., acr = "urn:example:mfa", max_age = 300, dpop)]` builds one as a
/// constant; the builder methods are `const` for that.
///
/// ```
/// use oauth_runtime::AuthnRequirement;
///
/// const MFA: AuthnRequirement = AuthnRequirement::new()
///     .acr(&["urn:example:mfa", "urn:example:hwk"])
///     .max_age(300)
///     .dpop();
/// assert_eq!(MFA.acr_values(), ["urn:example:mfa", "urn:example:hwk"]);
/// assert_eq!(MFA.max_age_secs(), Some(300));
/// assert!(MFA.requires_dpop());
/// assert_eq!(MFA.to_string(), "acr one of (urn:example:mfa, urn:example:hwk), max_age 300 s, DPoP");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthnRequirement {
    acr: &'static [&'static str],
    max_age: Option<u64>,
    dpop: bool,
}

impl AuthnRequirement {
    /// No requirement at all.
    pub const fn new() -> AuthnRequirement {
        AuthnRequirement {
            acr: &[],
            max_age: None,
            dpop: false,
        }
    }

    /// The token's `acr` claim must be one of `values` (empty: any or none). The values go into
    /// a challenge's `acr_values` unescaped, so each must be printable ASCII without space, `"`
    /// or `\\`; the attribute checks that at compile time, and this panics otherwise (at compile
    /// time in a `const`).
    pub const fn acr(self, values: &'static [&'static str]) -> AuthnRequirement {
        let mut i = 0;
        while i < values.len() {
            let bytes = values[i].as_bytes();
            assert!(!bytes.is_empty(), "an acr value is not empty");
            let mut j = 0;
            while j < bytes.len() {
                let b = bytes[j];
                assert!(
                    b >= 0x21 && b <= 0x7e && b != b'"' && b != b'\\',
                    "an acr value is printable ASCII without space, `\"` or `\\`"
                );
                j += 1;
            }
            i += 1;
        }
        AuthnRequirement {
            acr: values,
            ..self
        }
    }

    /// The user must have authenticated at most `seconds` ago: the token's `auth_time` claim is
    /// required and checked (RFC 9470 §3, as OpenID Connect's `max_age`).
    pub const fn max_age(self, seconds: u64) -> AuthnRequirement {
        AuthnRequirement {
            max_age: Some(seconds),
            ..self
        }
    }

    /// The token must be DPoP-bound and come with a valid proof (RFC 9449 §7), whatever the
    /// authenticator's [`DpopMode`](crate::DpopMode).
    pub const fn dpop(self) -> AuthnRequirement {
        AuthnRequirement { dpop: true, ..self }
    }

    /// The accepted `acr` values; empty when any will do.
    pub fn acr_values(&self) -> &'static [&'static str] {
        self.acr
    }

    /// The greatest accepted age of the user's authentication, in seconds.
    pub fn max_age_secs(&self) -> Option<u64> {
        self.max_age
    }

    /// Whether a sender-constrained (DPoP) token is required.
    pub fn requires_dpop(&self) -> bool {
        self.dpop
    }

    /// Whether `acr` or `max_age` is set, so that the claims must be looked at.
    pub(crate) fn is_step_up(&self) -> bool {
        !self.acr.is_empty() || self.max_age.is_some()
    }

    /// Checks the token's `acr` and `auth_time` claims at `now` (Unix seconds). An `auth_time`
    /// in the future counts as age zero: the issuer is trusted, and its clock may run ahead.
    pub fn check(
        &self,
        acr: Option<&str>,
        auth_time: Option<i64>,
        now: i64,
    ) -> Result<(), StepUpFailure> {
        if !self.acr.is_empty() && !acr.is_some_and(|acr| self.acr.contains(&acr)) {
            return Err(StepUpFailure::Acr);
        }
        if let Some(max_age) = self.max_age {
            let fresh = auth_time.is_some_and(|at| {
                u64::try_from(now.saturating_sub(at)).map_or(true, |age| age <= max_age)
            });
            if !fresh {
                return Err(StepUpFailure::MaxAge);
            }
        }
        Ok(())
    }
}

/// Which part of an [`AuthnRequirement`] the token's authentication fell short of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepUpFailure {
    /// `acr` is absent or not among the accepted values.
    Acr,
    /// `auth_time` is absent or older than `max_age`.
    MaxAge,
}

impl fmt::Display for AuthnRequirement {
    /// `acr one of (a, b), max_age 300 s, DPoP`: the parts that are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        match self.acr {
            [] => {}
            [one] => parts.push(format!("acr {one}")),
            many => parts.push(format!("acr one of ({})", many.join(", "))),
        }
        if let Some(max_age) = self.max_age {
            parts.push(format!("max_age {max_age} s"));
        }
        if self.dpop {
            parts.push("DPoP".to_owned());
        }
        f.write_str(&parts.join(", "))
    }
}

/// The part of a requirement that a scope set does not meet.
///
/// ```
/// use oauth_runtime::{Requirement, ScopeToken};
///
/// let req = Requirement::all([
///     Requirement::Scope(ScopeToken::from_static("a")),
///     Requirement::Scope(ScopeToken::from_static("b")),
/// ]);
/// let unmet = req.check(&"a".parse()?).unwrap_err();
/// assert_eq!(unmet.missing(), [&ScopeToken::from_static("b")]);
/// # Ok::<(), oauth_runtime::ScopeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsatisfied {
    residual: Requirement,
}

impl Unsatisfied {
    /// What is still needed, as a requirement: for `all(a, b)` with `a` granted, this is `b`.
    pub fn residual(&self) -> &Requirement {
        &self.residual
    }

    /// The distinct scopes that appear in the residual requirement.
    pub fn missing(&self) -> Vec<&ScopeToken> {
        self.residual.scopes()
    }
}

impl Requirement {
    /// All of `items`.
    pub fn all(items: impl IntoIterator<Item = Requirement>) -> Self {
        Requirement::All(Cow::Owned(items.into_iter().collect()))
    }

    /// Any of `items`.
    pub fn any(items: impl IntoIterator<Item = Requirement>) -> Self {
        Requirement::Any(Cow::Owned(items.into_iter().collect()))
    }

    /// Whether `granted` meets the requirement, a granted scope standing also for every scope
    /// it implies in the program's [hierarchy](crate::declared::hierarchy). Allocates nothing.
    /// An empty `all()` holds and an empty `any()` does not (the macro refuses both).
    pub fn is_satisfied_by(&self, granted: &ScopeSet) -> bool {
        self.satisfied(granted, Within::Program)
    }

    /// As [`Requirement::is_satisfied_by`], with `hierarchy` in place of the program's.
    ///
    /// ```
    /// use oauth_runtime::catalog::ScopeHierarchy;
    /// use oauth_runtime::{Requirement, ScopeToken};
    ///
    /// let t = ScopeToken::from_static;
    /// let hierarchy = ScopeHierarchy::new([(t("docs:admin"), t("docs:read"))]);
    /// let read = Requirement::Scope(t("docs:read"));
    /// let admin = "docs:admin".parse()?;
    /// assert!(read.is_satisfied_within(&admin, &hierarchy));
    /// assert!(!read.is_satisfied_within(&admin, &ScopeHierarchy::default()));
    /// # Ok::<(), oauth_runtime::ScopeError>(())
    /// ```
    pub fn is_satisfied_within(&self, granted: &ScopeSet, hierarchy: &ScopeHierarchy) -> bool {
        self.satisfied(granted, Within::Given(hierarchy))
    }

    fn satisfied(&self, granted: &ScopeSet, within: Within<'_>) -> bool {
        match self {
            Requirement::Scope(s) => within.grants(granted, s.as_str()),
            Requirement::All(items) => items.iter().all(|r| r.satisfied(granted, within)),
            Requirement::Any(items) => items.iter().any(|r| r.satisfied(granted, within)),
        }
    }

    /// Checks `granted`, telling what is missing when it falls short (with the program's
    /// hierarchy, as [`Requirement::is_satisfied_by`]).
    pub fn check(&self, granted: &ScopeSet) -> Result<(), Unsatisfied> {
        match self.residual(granted, Within::Program) {
            None => Ok(()),
            Some(residual) => Err(Unsatisfied { residual }),
        }
    }

    /// As [`Requirement::check`], with `hierarchy` in place of the program's.
    pub fn check_within(
        &self,
        granted: &ScopeSet,
        hierarchy: &ScopeHierarchy,
    ) -> Result<(), Unsatisfied> {
        match self.residual(granted, Within::Given(hierarchy)) {
            None => Ok(()),
            Some(residual) => Err(Unsatisfied { residual }),
        }
    }

    fn residual(&self, granted: &ScopeSet, within: Within<'_>) -> Option<Requirement> {
        match self {
            Requirement::Scope(s) => (!within.grants(granted, s.as_str())).then(|| self.clone()),
            Requirement::All(items) => {
                let mut unmet: Vec<Requirement> = items
                    .iter()
                    .filter_map(|r| r.residual(granted, within))
                    .collect();
                match unmet.len() {
                    0 => None,
                    1 => unmet.pop(),
                    _ => Some(Requirement::All(Cow::Owned(unmet))),
                }
            }
            Requirement::Any(items) => {
                let mut unmet = Vec::with_capacity(items.len());
                for item in items.iter() {
                    unmet.push(item.residual(granted, within)?);
                }
                match unmet.len() {
                    1 => unmet.pop(),
                    _ => Some(Requirement::Any(Cow::Owned(unmet))),
                }
            }
        }
    }

    /// The distinct scopes the requirement mentions, in order of first appearance.
    pub fn scopes(&self) -> Vec<&ScopeToken> {
        let mut out = Vec::new();
        self.collect_scopes(&mut out);
        out
    }

    fn collect_scopes<'a>(&'a self, out: &mut Vec<&'a ScopeToken>) {
        match self {
            Requirement::Scope(s) => {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Requirement::All(items) | Requirement::Any(items) => {
                items.iter().for_each(|r| r.collect_scopes(out));
            }
        }
    }

    /// A set of scopes that meets the requirement, chosen small: every branch of an `all`, and of
    /// an `any` the branch that needs the fewest scopes (the first on a tie). This is what a
    /// client should ask for, so it is what the `scope` attribute of an `insufficient_scope`
    /// challenge (RFC 6750 §3) names.
    ///
    /// With a [scope hierarchy](crate::declared::hierarchy), a scope that another of the set
    /// implies is left out (`all(photos:read, photos:write)` with write implying read is
    /// `photos:write`), and broader scopes are never added: a client is told the least it must
    /// ask for, not every scope that would also do.
    ///
    /// ```
    /// use oauth_runtime::{Requirement, ScopeToken};
    ///
    /// let req = Requirement::any([
    ///     Requirement::all([
    ///         Requirement::Scope(ScopeToken::from_static("a")),
    ///         Requirement::Scope(ScopeToken::from_static("b")),
    ///     ]),
    ///     Requirement::Scope(ScopeToken::from_static("c")),
    /// ]);
    /// assert_eq!(req.sufficient_scopes().to_string(), "c");
    /// ```
    pub fn sufficient_scopes(&self) -> ScopeSet {
        crate::declared::hierarchy().minimal(self.sufficient_scopes_flat())
    }

    /// As [`Requirement::sufficient_scopes`], with `hierarchy` in place of the program's.
    pub fn sufficient_scopes_within(&self, hierarchy: &ScopeHierarchy) -> ScopeSet {
        hierarchy.minimal(self.sufficient_scopes_flat())
    }

    fn sufficient_scopes_flat(&self) -> ScopeSet {
        match self {
            Requirement::Scope(s) => std::iter::once(s.clone()).collect(),
            Requirement::All(items) => {
                let mut set = ScopeSet::new();
                for item in items.iter() {
                    set.extend(item.sufficient_scopes_flat().iter().cloned());
                }
                set
            }
            Requirement::Any(items) => items
                .iter()
                .map(Requirement::sufficient_scopes_flat)
                .reduce(|best, next| if next.len() < best.len() { next } else { best })
                .unwrap_or_default(),
        }
    }
}

impl fmt::Display for Requirement {
    /// `photos:read`, `all(a, b)`, `any(a, all(b, c))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, items) = match self {
            Requirement::Scope(s) => return f.write_str(s.as_str()),
            Requirement::All(items) => ("all", items),
            Requirement::Any(items) => ("any", items),
        };
        write!(f, "{name}(")?;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(name: &'static str) -> Requirement {
        Requirement::Scope(ScopeToken::from_static(name))
    }

    fn set(s: &str) -> ScopeSet {
        s.parse().expect("valid scopes")
    }

    #[test]
    fn const_requirements_build() {
        const R: &Requirement = &Requirement::All(Cow::Borrowed(&[
            Requirement::Scope(ScopeToken::from_static("photos:write")),
            Requirement::Scope(ScopeToken::from_static("photos:delete")),
        ]));
        assert_eq!(R.to_string(), "all(photos:write, photos:delete)");
        assert!(R.is_satisfied_by(&set("photos:delete photos:write")));
        let missing = R.check(&set("photos:write")).err();
        assert_eq!(
            missing.map(|m| m.residual().to_string()),
            Some("photos:delete".into())
        );
    }

    #[test]
    fn any_reports_every_unmet_alternative() {
        let r = Requirement::any([
            s("photos:read"),
            Requirement::all([s("albums:read"), s("x")]),
        ]);
        let unmet = r.check(&set("x")).err().map(|u| u.residual().to_string());
        assert_eq!(unmet.as_deref(), Some("any(photos:read, albums:read)"));
        assert!(r.check(&set("albums:read x")).is_ok());
    }

    #[test]
    fn sufficient_scopes_prefer_the_smallest_alternative() {
        let r = Requirement::all([Requirement::any([s("a"), s("b")]), s("c")]);
        assert_eq!(r.sufficient_scopes().to_string(), "a c");
        assert_eq!(r.scopes().len(), 3);
    }

    crate::scopes! {
        /// Test only: everything
        HIER_ADMIN = "hier-test:admin" => [HIER_WRITE];
        /// Test only: change
        HIER_WRITE = "hier-test:write" => [HIER_READ];
        /// Test only: see
        HIER_READ = "hier-test:read";
    }

    #[test]
    fn a_broader_scope_meets_every_scope_it_implies_transitively() {
        let read = Requirement::Scope(HIER_READ.token());
        assert!(read.is_satisfied_by(&set("hier-test:admin")));
        assert!(read.check(&set("hier-test:write")).is_ok());
        // Never the other way round.
        let admin = Requirement::Scope(HIER_ADMIN.token());
        assert!(!admin.is_satisfied_by(&set("hier-test:read hier-test:write")));
        let both = Requirement::all([read.clone(), Requirement::Scope(HIER_WRITE.token())]);
        let unmet = both.check(&set("hier-test:read")).err();
        assert_eq!(
            unmet.map(|u| u.residual().to_string()),
            Some("hier-test:write".into())
        );
    }

    #[test]
    fn rfc6750_section_3_sufficient_scopes_name_the_least_under_the_hierarchy() {
        let both = Requirement::all([
            Requirement::Scope(HIER_READ.token()),
            Requirement::Scope(HIER_WRITE.token()),
        ]);
        assert_eq!(both.sufficient_scopes().to_string(), "hier-test:write");
        // The required scope, not the broader one that would also do.
        let read = Requirement::Scope(HIER_READ.token());
        assert_eq!(read.sufficient_scopes().to_string(), "hier-test:read");
        let flat = both.sufficient_scopes_within(&ScopeHierarchy::default());
        assert_eq!(flat.to_string(), "hier-test:read hier-test:write");
    }

    #[test]
    fn a_given_hierarchy_replaces_the_programs() {
        let read = Requirement::Scope(HIER_READ.token());
        let admin = set("hier-test:admin");
        assert!(!read.is_satisfied_within(&admin, &ScopeHierarchy::default()));
        assert!(
            read.check_within(&admin, &ScopeHierarchy::default())
                .is_err()
        );
    }

    fn requirement() -> impl Strategy<Value = Requirement> {
        let leaf = prop::sample::select(vec!["a", "b", "c", "d", "e"]).prop_map(s);
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Requirement::all),
                prop::collection::vec(inner, 1..4).prop_map(Requirement::any),
            ]
        })
    }

    fn granted() -> impl Strategy<Value = ScopeSet> {
        prop::sample::subsequence(vec!["a", "b", "c", "d", "e"], 0..=5)
            .prop_map(|v| ScopeSet::try_from_iter(v).expect("valid"))
    }

    proptest! {
        #[test]
        fn check_agrees_with_is_satisfied_by(r in requirement(), g in granted()) {
            prop_assert_eq!(r.check(&g).is_ok(), r.is_satisfied_by(&g));
        }

        #[test]
        fn granting_the_residual_scopes_satisfies(r in requirement(), g in granted()) {
            if let Err(unmet) = r.check(&g) {
                let mut more = g.clone();
                more.extend(unmet.residual().sufficient_scopes().iter().cloned());
                prop_assert!(r.is_satisfied_by(&more), "{} with {} + residual {}", r, g, unmet.residual());
                prop_assert!(!unmet.missing().is_empty());
            }
        }

        #[test]
        fn sufficient_scopes_satisfy(r in requirement()) {
            prop_assert!(r.is_satisfied_by(&r.sufficient_scopes()));
        }

        #[test]
        fn more_scopes_never_hurt(r in requirement(), g in granted(), extra in granted()) {
            let mut more = g.clone();
            more.extend(extra.iter().cloned());
            prop_assert!(!r.is_satisfied_by(&g) || r.is_satisfied_by(&more));
        }
    }
}
