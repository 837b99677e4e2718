//! RFC 9728 protected-resource metadata: where clients learn which authorization servers this
//! API trusts and which scopes it knows, linked from every challenge.
//!
//! The challenge needs only the document's URL, so this module is part of the core; the
//! document itself lists the catalog's scopes and is written by [`crate::catalog`], which
//! depends on this module and not the other way round.

/// This API as an OAuth 2.0 protected resource (RFC 9728).
///
/// ```
/// use oauth_runtime::ProtectedResource;
///
/// let resource = ProtectedResource::new("https://api.example.com", ["https://idp.example.com"]);
/// assert_eq!(resource.metadata_url(), "https://api.example.com/.well-known/oauth-protected-resource");
/// assert_eq!(resource.metadata_path(), "/.well-known/oauth-protected-resource");
/// let doc = resource.document();
/// assert_eq!(doc["authorization_servers"][0], "https://idp.example.com");
/// assert_eq!(doc["bearer_methods_supported"][0], "header");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: String,
    authorization_servers: Vec<String>,
}

impl ProtectedResource {
    /// `resource` is this API's identifier, an https URL (or http on loopback in development);
    /// `authorization_servers` are the issuers whose tokens it accepts.
    pub fn new(
        resource: impl Into<String>,
        authorization_servers: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ProtectedResource {
            resource: resource.into().trim_end_matches('/').to_owned(),
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
        }
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// RFC 9728 §3.1: the well-known segment goes between host and path.
    pub fn metadata_path(&self) -> String {
        let path = self
            .resource
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("");
        format!("/.well-known/oauth-protected-resource{path}")
    }

    /// Where the metadata document is served.
    pub fn metadata_url(&self) -> String {
        let origin_end = self
            .resource
            .split_once("://")
            .map_or(self.resource.len(), |(scheme, rest)| {
                scheme.len() + 3 + rest.find('/').unwrap_or(rest.len())
            });
        format!("{}{}", &self.resource[..origin_end], self.metadata_path())
    }

    /// The metadata document with the scopes given: `resource`, `authorization_servers`,
    /// `scopes_supported` and `bearer_methods_supported` (`header` only).
    /// [`ProtectedResource::document`] fills the scopes in from the scope catalog.
    pub fn document_with_scopes(
        &self,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> serde_json::Value {
        let mut scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        scopes.sort();
        scopes.dedup();
        serde_json::json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
        })
    }
}
