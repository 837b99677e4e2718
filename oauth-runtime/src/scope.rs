//! Scope tokens and scope sets (RFC 6749 §3.3).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a scope token or a scope list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A scope token needs at least one character.
    #[error("empty scope")]
    Empty,
    /// RFC 6749 §3.3 allows printable ASCII except space, `"` and `\`.
    #[error("invalid character {ch:?} at byte {index} of a scope")]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the scope.
        index: usize,
    },
}

/// `NQCHAR = %x21 / %x23-5B / %x5D-7E` (RFC 6749 Appendix A).
const fn is_scope_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

pub(crate) const fn check(s: &str) -> Result<(), ScopeError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(ScopeError::Empty);
    }
    let mut i = 0;
    while i < bytes.len() {
        if !is_scope_byte(bytes[i]) {
            // Non-ASCII: report the byte as a char only when it is ASCII; a multi-byte char is
            // reported by `ScopeToken::new`, which can decode it.
            let ch = if bytes[i].is_ascii() {
                bytes[i] as char
            } else {
                char::REPLACEMENT_CHARACTER
            };
            return Err(ScopeError::InvalidChar { ch, index: i });
        }
        i += 1;
    }
    Ok(())
}

/// One validated scope token, such as `photos:read`. Comparison is case-sensitive, as RFC 6749
/// §3.3 requires.
///
/// ```
/// use oauth_runtime::ScopeToken;
///
/// let read = ScopeToken::new("photos:read")?;
/// assert_eq!(read.as_str(), "photos:read");
/// assert!(ScopeToken::new("photos read").is_err());
///
/// // Checked at compile time when used in a constant:
/// const WRITE: ScopeToken = ScopeToken::from_static("photos:write");
/// assert_eq!(WRITE, "photos:write");
/// # Ok::<(), oauth_runtime::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeToken(Cow<'static, str>);

impl ScopeToken {
    /// Validates `scope` against the RFC 6749 §3.3 grammar.
    pub fn new(scope: impl Into<Cow<'static, str>>) -> Result<Self, ScopeError> {
        let scope = scope.into();
        match check(&scope) {
            Ok(()) => Ok(ScopeToken(scope)),
            Err(ScopeError::InvalidChar { index, .. }) => {
                let ch = scope[index..]
                    .chars()
                    .next()
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                Err(ScopeError::InvalidChar { ch, index })
            }
            Err(e) => Err(e),
        }
    }

    /// A scope from a string literal. In a `const` this is checked at compile time; elsewhere an
    /// invalid literal panics, so use [`ScopeToken::new`] for anything not written in the source.
    pub const fn from_static(scope: &'static str) -> Self {
        match check(scope) {
            Ok(()) => ScopeToken(Cow::Borrowed(scope)),
            Err(ScopeError::Empty) => panic!("empty scope"),
            Err(_) => panic!("invalid character in scope (RFC 6749 §3.3)"),
        }
    }

    /// The scope as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ScopeToken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ScopeToken {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ScopeToken {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for ScopeToken {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl FromStr for ScopeToken {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        ScopeToken::new(s.to_owned())
    }
}

impl TryFrom<String> for ScopeToken {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, ScopeError> {
        ScopeToken::new(s)
    }
}

impl serde::Serialize for ScopeToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ScopeToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScopeToken::new(s).map_err(serde::de::Error::custom)
    }
}

/// The scopes granted to a token: a set of [`ScopeToken`]s, parsed from the space-delimited
/// `scope` string of RFC 6749 §3.3 or from a JSON array.
///
/// ```
/// use oauth_runtime::ScopeSet;
///
/// let granted: ScopeSet = "photos:read albums:read".parse()?;
/// assert!(granted.contains("photos:read"));
/// assert!(!granted.contains("photos:write"));
/// assert_eq!(granted.to_string(), "albums:read photos:read");
/// # Ok::<(), oauth_runtime::ScopeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(
    /// Sorted, without duplicates. A vector rather than a tree: tokens carry few scopes, and
    /// every protected request asks whether one is among them.
    Vec<ScopeToken>,
);

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        ScopeSet(Vec::new())
    }

    fn sorted(mut scopes: Vec<ScopeToken>) -> Self {
        scopes.sort_unstable();
        scopes.dedup();
        ScopeSet(scopes)
    }

    /// Parses a space-delimited scope list. Runs of spaces are tolerated (providers differ);
    /// every token must be valid.
    pub fn parse_delimited(s: &str) -> Result<Self, ScopeError> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| ScopeToken::new(t.to_owned()))
            .collect()
    }

    /// Builds a set from separate strings, such as a JSON array of scopes.
    pub fn try_from_iter<I, S>(scopes: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        scopes.into_iter().map(ScopeToken::new).collect()
    }

    /// Whether `scope` was granted (case-sensitive).
    pub fn contains(&self, scope: &str) -> bool {
        if self.0.len() <= 16 {
            // Most candidates differ in length, which is compared first.
            self.0.iter().any(|t| t.as_str() == scope)
        } else {
            self.0.binary_search_by(|t| t.as_str().cmp(scope)).is_ok()
        }
    }

    /// Adds a scope; `false` if it was there already.
    pub fn insert(&mut self, scope: ScopeToken) -> bool {
        match self.0.binary_search(&scope) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, scope);
                true
            }
        }
    }

    /// The scopes in lexicographic order.
    pub fn iter(&self) -> impl Iterator<Item = &ScopeToken> {
        self.0.iter()
    }

    /// Room for how many scopes is allocated (for memory estimates).
    pub(crate) fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// How many scopes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ScopeSet {
    /// The RFC 6749 §3.3 form: tokens separated by single spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        ScopeSet::parse_delimited(s)
    }
}

impl FromIterator<ScopeToken> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = ScopeToken>>(iter: I) -> Self {
        ScopeSet::sorted(iter.into_iter().collect())
    }
}

impl Extend<ScopeToken> for ScopeSet {
    fn extend<I: IntoIterator<Item = ScopeToken>>(&mut self, iter: I) {
        let mut scopes = std::mem::take(&mut self.0);
        scopes.extend(iter);
        *self = ScopeSet::sorted(scopes);
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a ScopeToken;
    type IntoIter = std::slice::Iter<'a, ScopeToken>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Which scopes imply which (declared with `=> [..]` in [`scopes!`](crate::scopes)), closed
/// transitively once: `photos:admin` implies `photos:write` implies `photos:read` makes a token
/// granted `photos:admin` good for a handler that requires `photos:read`.
///
/// The program's hierarchy is [`catalog::hierarchy`](crate::declared::hierarchy), built from the
/// declarations at first use; one can also be built by hand, for tests or for
/// [`Requirement::is_satisfied_within`](crate::Requirement::is_satisfied_within).
///
/// ```
/// use oauth_runtime::catalog::ScopeHierarchy;
/// use oauth_runtime::{ScopeSet, ScopeToken};
///
/// let t = ScopeToken::from_static;
/// let hierarchy = ScopeHierarchy::new([
///     (t("photos:admin"), t("photos:write")),
///     (t("photos:write"), t("photos:read")),
/// ]);
/// let admin: ScopeSet = "photos:admin".parse()?;
/// assert!(hierarchy.grants(&admin, "photos:read"));
/// assert_eq!(hierarchy.implied_by("photos:read"), [t("photos:admin"), t("photos:write")]);
/// assert_eq!(hierarchy.effective(&admin).to_string(), "photos:admin photos:read photos:write");
/// # Ok::<(), oauth_runtime::ScopeError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopeHierarchy {
    /// Scope -> every scope that implies it, directly or not, sorted. Only scopes that some
    /// other scope implies are keys, so a lookup of any other scope misses at once.
    implied_by: hashbrown::HashMap<ScopeToken, Vec<ScopeToken>, foldhash::fast::RandomState>,
    /// Scope -> every scope it implies, directly or not, sorted.
    implies: hashbrown::HashMap<ScopeToken, Vec<ScopeToken>, foldhash::fast::RandomState>,
}

impl ScopeHierarchy {
    /// The hierarchy of `edges`, each `(broader, narrower)`: `broader` implies `narrower`. A
    /// cycle (which `scopes!` refuses at compile time) is tolerated: its scopes imply each
    /// other, and the closure still ends.
    pub fn new(edges: impl IntoIterator<Item = (ScopeToken, ScopeToken)>) -> Self {
        let mut direct: std::collections::BTreeMap<ScopeToken, Vec<ScopeToken>> =
            std::collections::BTreeMap::new();
        for (broader, narrower) in edges {
            if broader != narrower {
                direct.entry(broader).or_default().push(narrower);
            }
        }
        let mut hierarchy = ScopeHierarchy::default();
        for start in direct.keys() {
            // Depth-first with a seen set: linear in the edges, whatever their shape.
            let mut seen: std::collections::BTreeSet<&ScopeToken> =
                std::collections::BTreeSet::new();
            let mut stack: Vec<&ScopeToken> = direct[start].iter().collect();
            while let Some(next) = stack.pop() {
                if next == start || !seen.insert(next) {
                    continue;
                }
                stack.extend(direct.get(next).into_iter().flatten());
            }
            for narrower in &seen {
                hierarchy
                    .implied_by
                    .entry((*narrower).clone())
                    .or_default()
                    .push(start.clone());
            }
            hierarchy
                .implies
                .insert(start.clone(), seen.into_iter().cloned().collect());
        }
        for broader in hierarchy.implied_by.values_mut() {
            broader.sort_unstable();
        }
        hierarchy
    }

    /// Whether no scope implies another.
    pub fn is_empty(&self) -> bool {
        self.implies.is_empty()
    }

    /// Every scope that implies `scope`, directly or not, in lexicographic order.
    pub fn implied_by(&self, scope: &str) -> &[ScopeToken] {
        self.implied_by.get(scope).map_or(&[], Vec::as_slice)
    }

    /// Every scope that `scope` implies, directly or not, in lexicographic order.
    pub fn implies(&self, scope: &str) -> &[ScopeToken] {
        self.implies.get(scope).map_or(&[], Vec::as_slice)
    }

    /// Whether `granted` holds `scope` or a scope that implies it. Granted scopes are looked at
    /// first, so a token that holds the scope itself costs what it cost without a hierarchy.
    pub fn grants(&self, granted: &ScopeSet, scope: &str) -> bool {
        granted.contains(scope) || self.grants_implied(granted, scope)
    }

    /// Whether `granted` holds a scope that implies `scope` (not `scope` itself).
    pub(crate) fn grants_implied(&self, granted: &ScopeSet, scope: &str) -> bool {
        !self.implied_by.is_empty()
            && self
                .implied_by(scope)
                .iter()
                .any(|broader| granted.contains(broader.as_str()))
    }

    /// `granted` with every scope its scopes imply.
    pub fn effective(&self, granted: &ScopeSet) -> ScopeSet {
        let mut all = granted.clone();
        all.extend(
            granted
                .iter()
                .flat_map(|s| self.implies(s.as_str()))
                .cloned(),
        );
        all
    }

    /// `scopes` without those another of them implies: the least a client must ask for to hold
    /// them all. Scopes that imply each other (a cycle) are all kept.
    pub fn minimal(&self, scopes: ScopeSet) -> ScopeSet {
        if self.is_empty() {
            return scopes;
        }
        let redundant = |s: &ScopeToken| {
            self.implied_by(s.as_str()).iter().any(|broader| {
                scopes.contains(broader.as_str()) && !self.implies(s.as_str()).contains(broader)
            })
        };
        scopes.iter().filter(|s| !redundant(s)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6749_section_3_3_boundaries() {
        // Every byte value: exactly NQCHAR is accepted.
        for b in 0u8..=255 {
            let expected = b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
            assert_eq!(is_scope_byte(b), expected, "byte {b:#x}");
        }
        assert_eq!(ScopeToken::new(""), Err(ScopeError::Empty));
        assert_eq!(
            ScopeToken::new("café"),
            Err(ScopeError::InvalidChar { ch: 'é', index: 3 })
        );
        assert_eq!(
            ScopeToken::new("a\\b"),
            Err(ScopeError::InvalidChar { ch: '\\', index: 1 })
        );
    }

    fn hierarchy() -> ScopeHierarchy {
        let t = ScopeToken::from_static;
        ScopeHierarchy::new([
            (t("admin"), t("write")),
            (t("write"), t("read")),
            (t("admin"), t("audit")),
        ])
    }

    #[test]
    fn a_hierarchy_is_closed_transitively() {
        let h = hierarchy();
        fn names(s: &[ScopeToken]) -> Vec<&str> {
            s.iter().map(ScopeToken::as_str).collect()
        }
        assert_eq!(names(h.implies("admin")), ["audit", "read", "write"]);
        assert_eq!(names(h.implied_by("read")), ["admin", "write"]);
        assert!(h.implies("read").is_empty());
        assert!(h.implied_by("other").is_empty());
        let admin: ScopeSet = "admin".parse().expect("valid");
        assert!(h.grants(&admin, "read"));
        assert!(!h.grants(&"write".parse().expect("valid"), "audit"));
        assert!(!h.grants(&admin, "other"));
    }

    #[test]
    fn minimal_drops_what_another_scope_implies() {
        let h = hierarchy();
        let set: ScopeSet = "read write other".parse().expect("valid");
        assert_eq!(h.minimal(set).to_string(), "other write");
        let empty = ScopeHierarchy::default();
        let set: ScopeSet = "read write".parse().expect("valid");
        assert_eq!(empty.minimal(set.clone()), set);
    }

    #[test]
    fn a_cycle_built_by_hand_ends_and_keeps_both() {
        let t = ScopeToken::from_static;
        let h = ScopeHierarchy::new([(t("a"), t("b")), (t("b"), t("a")), (t("a"), t("a"))]);
        assert_eq!(h.implies("a"), [t("b")]);
        assert_eq!(h.implies("b"), [t("a")]);
        let both: ScopeSet = "a b".parse().expect("valid");
        assert_eq!(h.minimal(both.clone()), both);
    }

    #[test]
    fn scopes_are_case_sensitive() {
        let set: ScopeSet = "Photos:Read".parse().expect("valid");
        assert!(!set.contains("photos:read"));
        assert!(set.contains("Photos:Read"));
    }

    #[test]
    fn delimited_parsing_tolerates_runs_of_spaces_but_not_bad_tokens() {
        let set = ScopeSet::parse_delimited("  a   b ").expect("valid");
        assert_eq!(set.to_string(), "a b");
        assert!(ScopeSet::parse_delimited("a\tb").is_err());
        assert!(ScopeSet::parse_delimited("a \"b\"").is_err());
        assert_eq!(ScopeSet::parse_delimited("").map(|s| s.len()), Ok(0));
    }

    #[test]
    #[should_panic(expected = "invalid character")]
    fn from_static_rejects_at_run_time_too() {
        let _ = ScopeToken::from_static("a b");
    }

    fn scope_token() -> impl Strategy<Value = String> {
        "[!#-\\[\\]-~]{1,16}"
    }

    proptest! {
        #[test]
        fn every_nqchar_string_is_a_token(s in scope_token()) {
            prop_assert_eq!(ScopeToken::new(s.clone()).map(|t| t.to_string()), Ok(s));
        }

        #[test]
        fn any_excluded_char_is_rejected(prefix in scope_token(), bad in "[ \"\\\\\\x00-\\x1f\\x7f-\\u{10ffff}]", suffix in scope_token()) {
            let s = format!("{prefix}{bad}{suffix}");
            let is_invalid_char = matches!(ScopeToken::new(s), Err(ScopeError::InvalidChar { .. }));
            prop_assert!(is_invalid_char);
        }

        #[test]
        fn a_scope_set_behaves_as_an_ordered_set(
            first in proptest::collection::vec("[a-e:]{1,3}", 0..40),
            more in proptest::collection::vec("[a-e:]{1,3}", 0..10),
            probes in proptest::collection::vec("[a-e:]{1,3}", 0..20),
        ) {
            let token = |s: &String| ScopeToken::new(s.clone()).expect("valid");
            let mut set: ScopeSet = first.iter().map(token).collect();
            let mut model: std::collections::BTreeSet<String> = first.iter().cloned().collect();
            set.extend(more.iter().map(token));
            model.extend(more.iter().cloned());
            for p in &probes {
                prop_assert_eq!(set.contains(p), model.contains(p));
                prop_assert_eq!(set.insert(token(p)), model.insert(p.clone()));
            }
            let listed: Vec<&str> = set.iter().map(ScopeToken::as_str).collect();
            let expected: Vec<&str> = model.iter().map(String::as_str).collect();
            prop_assert_eq!(listed, expected);
        }

        #[test]
        fn display_then_parse_round_trips(tokens in proptest::collection::vec(scope_token(), 0..8)) {
            let set = ScopeSet::try_from_iter(tokens).expect("valid tokens");
            let again: ScopeSet = set.to_string().parse().expect("round trip");
            prop_assert_eq!(set, again);
        }
    }
}
