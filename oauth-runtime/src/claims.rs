//! Verified claims: the standard ones typed, the scopes parsed, and the rest raw or typed by the
//! user.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::scope::{ScopeSet, ScopeToken};

/// Where the granted scopes are in a token's claims.
///
/// ```
/// use oauth_runtime::{Claims, ScopeClaim};
///
/// // Auth0 puts API permissions in a `permissions` array.
/// let json = serde_json::json!({ "permissions": ["read:photos", "write:photos"] });
/// let claims = Claims::from_json(json, &ScopeClaim::named("permissions"))?;
/// assert!(claims.scopes().contains("write:photos"));
/// # Ok::<(), oauth_runtime::VerifyError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeClaim {
    /// `scope` (RFC 9068, RFC 8693: a space-delimited string), else `scp` (a string, as Entra ID
    /// sends it, or an array, as Okta does). Either may also be an array of strings.
    #[default]
    Standard,
    /// A claim of the user's choosing, a space-delimited string or an array of strings.
    Named(String),
}

impl ScopeClaim {
    /// [`ScopeClaim::Named`].
    pub fn named(claim: impl Into<String>) -> Self {
        ScopeClaim::Named(claim.into())
    }

    fn extract(&self, raw: &Map<String, Value>) -> Result<ScopeSet, VerifyError> {
        let (name, value) = match self {
            ScopeClaim::Standard => match raw.get("scope") {
                Some(v) => ("scope", Some(v)),
                None => ("scp", raw.get("scp")),
            },
            ScopeClaim::Named(name) => (name.as_str(), raw.get(name)),
        };
        let invalid = || VerifyError::InvalidClaim(name.to_owned());
        match value {
            None | Some(Value::Null) => Ok(ScopeSet::new()),
            Some(Value::String(s)) => ScopeSet::parse_delimited(s).map_err(|_| invalid()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => ScopeToken::new(s.clone()).map_err(|_| invalid()),
                    _ => Err(invalid()),
                })
                .collect(),
            Some(_) => Err(invalid()),
        }
    }
}

/// The claims of a verified token. Cheap to clone.
///
/// ```
/// use oauth_runtime::{Claims, ScopeClaim};
///
/// #[derive(serde::Deserialize)]
/// struct Tenant {
///     tenant_id: String,
/// }
///
/// let json = serde_json::json!({
///     "iss": "https://auth.example.com", "sub": "alice", "aud": ["photos", "albums"],
///     "exp": 2000000000, "scope": "photos:read", "tenant_id": "t-42"
/// });
/// let claims = Claims::from_json(json, &ScopeClaim::Standard)?;
/// assert_eq!(claims.subject(), Some("alice"));
/// assert_eq!(claims.audience(), ["photos", "albums"]);
/// assert!(claims.has_scope("photos:read"));
/// assert_eq!(claims.extra::<Tenant>().unwrap().tenant_id, "t-42");
/// assert_eq!(claims.get("tenant_id").and_then(|v| v.as_str()), Some("t-42"));
/// # Ok::<(), oauth_runtime::VerifyError>(())
/// ```
#[derive(Clone)]
pub struct Claims(Arc<Inner>);

struct Inner {
    issuer: Option<String>,
    subject: Option<String>,
    audience: Vec<String>,
    expires_at: Option<i64>,
    not_before: Option<i64>,
    issued_at: Option<i64>,
    jwt_id: Option<String>,
    client_id: Option<String>,
    scopes: ScopeSet,
    raw: Map<String, Value>,
}

impl Claims {
    /// Reads a JSON claims object: checks the types of the registered claims (RFC 7519 §4.1),
    /// reads the scopes where `scope_claim` says, and keeps everything for [`Claims::get`] and
    /// [`Claims::extra`]. Performs no validation of values (expiry, issuer): verifiers do that.
    pub fn from_json(json: Value, scope_claim: &ScopeClaim) -> Result<Claims, VerifyError> {
        let Value::Object(raw) = json else {
            return Err(VerifyError::Malformed("claims are not a JSON object"));
        };
        let inner = Inner {
            issuer: string_claim(&raw, "iss")?,
            subject: string_claim(&raw, "sub")?,
            audience: audience_claim(&raw)?,
            expires_at: date_claim(&raw, "exp")?,
            not_before: date_claim(&raw, "nbf")?,
            issued_at: date_claim(&raw, "iat")?,
            jwt_id: string_claim(&raw, "jti")?,
            client_id: string_claim(&raw, "client_id")?,
            scopes: scope_claim.extract(&raw)?,
            raw,
        };
        Ok(Claims(Arc::new(inner)))
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.0.issuer.as_deref()
    }
    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// `aud`, always as a list (RFC 7519 allows a single string).
    pub fn audience(&self) -> &[String] {
        &self.0.audience
    }
    /// `exp`, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> Option<i64> {
        self.0.expires_at
    }
    /// `nbf`, in seconds since the Unix epoch.
    pub fn not_before(&self) -> Option<i64> {
        self.0.not_before
    }
    /// `iat`, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.0.issued_at
    }
    /// `jti`.
    pub fn jwt_id(&self) -> Option<&str> {
        self.0.jwt_id.as_deref()
    }
    /// `client_id` (RFC 9068 §2.2).
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }
    /// The granted scopes, as the token lists them (without the scopes they imply; see
    /// [`ScopeHierarchy::effective`](crate::scope::ScopeHierarchy::effective) for those).
    pub fn scopes(&self) -> &ScopeSet {
        &self.0.scopes
    }
    /// Whether `scope` was granted, or a scope that implies it in the program's
    /// [hierarchy](crate::declared::hierarchy), as `#[requires_scope]` decides.
    pub fn has_scope(&self, scope: &str) -> bool {
        crate::declared::hierarchy().grants(&self.0.scopes, scope)
    }
    /// Any claim, raw.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw().get(name)
    }
    /// All claims, raw.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.0.raw
    }
    /// The claims deserialised into a type of the user's, which picks the claims it names.
    pub fn extra<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.0.raw)
    }
}

impl Claims {
    /// An upper estimate of the memory these claims occupy, allocator bookkeeping included, so
    /// that a cache holding them can keep to a byte bound.
    pub(crate) fn memory_estimate(&self) -> usize {
        let inner = &*self.0;
        let strings: usize = [
            &inner.issuer,
            &inner.subject,
            &inner.jwt_id,
            &inner.client_id,
        ]
        .into_iter()
        .flatten()
        .map(string_heap)
        .sum();
        let audience = allocation(inner.audience.capacity() * size_of::<String>())
            + inner.audience.iter().map(string_heap).sum::<usize>();
        let scopes = allocation(inner.scopes.capacity() * size_of::<ScopeToken>())
            + inner
                .scopes
                .iter()
                .map(|s| allocation(s.as_str().len()))
                .sum::<usize>();
        allocation(size_of::<Inner>() + 2 * size_of::<usize>())
            + strings
            + audience
            + scopes
            + object_heap(&inner.raw)
    }
}

/// What an allocation of `n` bytes costs, rounded up and with room for the allocator's own
/// header.
fn allocation(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.next_multiple_of(16) + 16
    }
}

fn string_heap(s: &String) -> usize {
    allocation(s.capacity())
}

/// A B-tree of `entries` entries of `entry_size` bytes. Up to 11 entries fit one leaf; a larger
/// tree has nodes at least half full, and internal nodes also hold 12 child pointers.
fn btree_heap(entries: usize, entry_size: usize) -> usize {
    let leaf = allocation(11 * entry_size + 16);
    match entries {
        0 => 0,
        1..=11 => leaf,
        _ => {
            let leaves = entries.div_ceil(5);
            let internal = allocation(11 * entry_size + 16 + 12 * size_of::<usize>());
            leaves * leaf + leaves.div_ceil(5) * internal
        }
    }
}

fn value_heap(value: &Value) -> usize {
    match value {
        Value::String(s) => string_heap(s),
        Value::Array(items) => {
            allocation(items.capacity() * size_of::<Value>())
                + items.iter().map(value_heap).sum::<usize>()
        }
        Value::Object(map) => object_heap(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

fn object_heap(map: &Map<String, Value>) -> usize {
    btree_heap(map.len(), size_of::<String>() + size_of::<Value>())
        + map
            .iter()
            .map(|(k, v)| string_heap(k) + value_heap(v))
            .sum::<usize>()
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.0.issuer)
            .field("sub", &self.0.subject)
            .field("aud", &self.0.audience)
            .field("exp", &self.0.expires_at)
            .field("client_id", &self.0.client_id)
            .field("scopes", &self.0.scopes)
            .finish_non_exhaustive()
    }
}

fn string_claim(raw: &Map<String, Value>, name: &str) -> Result<Option<String>, VerifyError> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(VerifyError::InvalidClaim(name.to_owned())),
    }
}

fn audience_claim(raw: &Map<String, Value>) -> Result<Vec<String>, VerifyError> {
    let invalid = || VerifyError::InvalidClaim("aud".to_owned());
    match raw.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional; fractions are
/// dropped, which errs towards "expired" for `exp`.
fn date_claim(raw: &Map<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(|| VerifyError::InvalidClaim(name.to_owned())),
        Some(_) => Err(VerifyError::InvalidClaim(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(json: Value, claim: &ScopeClaim) -> Result<String, VerifyError> {
        Claims::from_json(json, claim).map(|c| c.scopes().to_string())
    }

    #[test]
    fn provider_scope_shapes() {
        let std = ScopeClaim::Standard;
        // Keycloak, Cognito, Hydra
        assert_eq!(scopes(json!({"scope": "b a"}), &std).as_deref(), Ok("a b"));
        // Entra ID
        assert_eq!(scopes(json!({"scp": "a b"}), &std).as_deref(), Ok("a b"));
        // Okta
        assert_eq!(
            scopes(json!({"scp": ["a", "b"]}), &std).as_deref(),
            Ok("a b")
        );
        // Auth0
        let auth0 = ScopeClaim::named("permissions");
        assert_eq!(
            scopes(json!({"permissions": ["a"], "scope": "x"}), &auth0).as_deref(),
            Ok("a")
        );
        // `scope` wins over `scp`.
        assert_eq!(
            scopes(json!({"scope": "a", "scp": "b"}), &std).as_deref(),
            Ok("a")
        );
        assert_eq!(scopes(json!({}), &std).as_deref(), Ok(""));
    }

    #[test]
    fn malformed_claims_are_rejected() {
        let std = ScopeClaim::Standard;
        for bad in [
            json!({"scope": 5}),
            json!({"scope": ["a", 1]}),
            json!({"scope": "a\\b"}),
            json!({"exp": "soon"}),
            json!({"exp": 1e300}),
            json!({"aud": 3}),
            json!({"aud": ["a", null]}),
            json!({"sub": {}}),
            json!([1, 2]),
        ] {
            assert!(Claims::from_json(bad.clone(), &std).is_err(), "{bad}");
        }
    }

    #[test]
    fn fractional_dates_are_floored() {
        let c = Claims::from_json(json!({"exp": 10.9}), &ScopeClaim::Standard).expect("valid");
        assert_eq!(c.expires_at(), Some(10));
    }
}
