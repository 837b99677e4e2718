//! RFC 9728 protected-resource metadata: where clients learn which authorization servers this
//! API trusts and which scopes it knows, linked from every challenge.
//!
//! The challenge needs only the document's URL, so this module is part of the core; the
//! document itself lists the catalog's scopes and is written by [`crate::docs::catalog`], which
//! depends on this module and not the other way round.

/// The scope that asks for a refresh token (OpenID Connect Core §11): a request to the
/// authorization server, not a permission of any API, so no resource advertises it.
const OFFLINE_ACCESS: &str = "offline_access";

/// Why a resource URI has no canonical form (RFC 8707 §2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceUriError {
    /// Not `scheme://authority...`, or with characters a URI or a challenge cannot carry.
    #[error("a resource must be an absolute URI (scheme://host...) of printable ASCII")]
    NotAbsolute,
    /// RFC 8707 §2: a resource indicator must not include a fragment.
    #[error("a resource URI must not include a fragment")]
    Fragment,
    /// `user:password@` in the authority: an identifier has no business carrying credentials.
    #[error("a resource URI must not include user information")]
    UserInfo,
}

/// The canonical form of a resource URI (RFC 8707 §2), so that the identifier a client sends,
/// the `aud` of its tokens and the `resource` of the RFC 9728 document compare as plain strings:
///
/// - scheme and host are lower-cased (RFC 3986 §6.2.2.1: they are case-insensitive), and a
///   default port (`:443` for https, `:80` for http) is dropped (§6.2.3);
/// - the path keeps its case (paths are case-sensitive) and loses trailing slashes, the root
///   path `/` included: `https://Host/` and `https://host` are the same resource, and the MCP
///   authorization specification names resources without the slash;
/// - a query is kept as sent (RFC 8707 discourages one but does not forbid it);
/// - a fragment, user information, a missing host, whitespace, control or non-ASCII characters,
///   `"` and `\` are refused, since the identifier also travels in challenges.
///
/// ```
/// use oauth_runtime::canonical_resource_uri;
///
/// assert_eq!(canonical_resource_uri("HTTPS://MCP.Example.com:443/MCP/")?, "https://mcp.example.com/MCP");
/// assert_eq!(canonical_resource_uri("https://example.com/")?, "https://example.com");
/// assert!(canonical_resource_uri("https://example.com/mcp#x").is_err());
/// assert!(canonical_resource_uri("/mcp").is_err());
/// # Ok::<(), oauth_runtime::ResourceUriError>(())
/// ```
pub fn canonical_resource_uri(uri: &str) -> Result<String, ResourceUriError> {
    if uri.is_empty()
        || !uri
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return Err(ResourceUriError::NotAbsolute);
    }
    if uri.contains('#') {
        return Err(ResourceUriError::Fragment);
    }
    let (scheme, rest) = uri.split_once("://").ok_or(ResourceUriError::NotAbsolute)?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(ResourceUriError::NotAbsolute);
    }
    let scheme = scheme.to_ascii_lowercase();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(ResourceUriError::UserInfo);
    }
    let mut authority = authority.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => Some(":443"),
        "http" => Some(":80"),
        _ => None,
    };
    if let Some(port) = default_port
        && authority.ends_with(port)
        // `[::1]:443` ends in the port; `[::443]` ends in `]`.
        && !authority.ends_with(']')
    {
        authority.truncate(authority.len() - port.len());
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
        .map_or(authority.as_str(), |(host, _)| host);
    if host.is_empty() {
        return Err(ResourceUriError::NotAbsolute);
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let mut canonical = format!("{scheme}://{authority}{}", path.trim_end_matches('/'));
    if let Some(query) = query {
        canonical.push('?');
        canonical.push_str(query);
    }
    Ok(canonical)
}

/// This API as an OAuth 2.0 protected resource (RFC 9728).
///
/// The resource identifier is put in canonical form once, here (see
/// [`canonical_resource_uri`]): the document's `resource`, the metadata URLs and the audience
/// a verifier should require are all derived from it.
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
///
/// // An MCP server at /mcp: the document is served at the path-inserted URL and at the root.
/// let mcp = ProtectedResource::new("https://Host.example/mcp/", ["https://idp.example.com"]);
/// assert_eq!(mcp.resource(), "https://host.example/mcp");
/// assert_eq!(mcp.metadata_url(), "https://host.example/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(
///     mcp.metadata_paths(),
///     ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: String,
    authorization_servers: Vec<String>,
}

impl ProtectedResource {
    /// `resource` is this API's identifier, an https URL (or http on loopback in development),
    /// kept in canonical form ([`canonical_resource_uri`]); `authorization_servers` are the
    /// issuers whose tokens it accepts. An identifier without a canonical form is kept with
    /// trailing slashes removed, and [`AuthenticatorBuilder::build`](crate::AuthenticatorBuilder::build)
    /// refuses it if it cannot be sent in a challenge.
    pub fn new(
        resource: impl Into<String>,
        authorization_servers: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let resource = resource.into();
        let resource = canonical_resource_uri(&resource)
            .unwrap_or_else(|_| resource.trim_end_matches('/').to_owned());
        ProtectedResource {
            resource,
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
        }
    }

    /// The resource identifier, in canonical form: the `aud` its tokens must carry (RFC 8707).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The resource's path, without its query: `/mcp` for `https://host/mcp`, empty at the root.
    fn path(&self) -> &str {
        let after_scheme = self.resource.split_once("://").map_or("", |(_, rest)| rest);
        let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
        path.split('?').next().unwrap_or_default()
    }

    /// RFC 9728 §3.1: the well-known segment goes between host and path.
    pub fn metadata_path(&self) -> String {
        format!("/.well-known/oauth-protected-resource{}", self.path())
    }

    /// Every path the document is served at: the path-inserted one of RFC 9728 §3.1 first,
    /// then, for a resource with a path, the root one too, where clients that only try the
    /// root (as the MCP authorization specification allows) look.
    pub fn metadata_paths(&self) -> Vec<String> {
        let mut paths = vec![self.metadata_path()];
        if !self.path().is_empty() {
            paths.push("/.well-known/oauth-protected-resource".to_owned());
        }
        paths
    }

    /// Where the metadata document is served.
    pub fn metadata_url(&self) -> String {
        let origin_end = self
            .resource
            .split_once("://")
            .map_or(self.resource.len(), |(scheme, rest)| {
                scheme.len() + 3 + rest.find(['/', '?']).unwrap_or(rest.len())
            });
        format!("{}{}", &self.resource[..origin_end], self.metadata_path())
    }

    /// The metadata document with the scopes given: `resource`, `authorization_servers`,
    /// `scopes_supported` and `bearer_methods_supported` (`header` only).
    /// [`ProtectedResource::document`] fills the scopes in from the scope catalog.
    /// `offline_access` is never listed: it asks the authorization server for a refresh
    /// token and grants nothing here.
    pub fn document_with_scopes(
        &self,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> serde_json::Value {
        let mut scopes: Vec<String> = scopes
            .into_iter()
            .map(Into::into)
            .filter(|s| s != OFFLINE_ACCESS)
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8707_section_2_canonical_resource_uris() {
        let canonical = |uri: &str| canonical_resource_uri(uri).expect(uri);
        assert_eq!(canonical("https://host/mcp"), "https://host/mcp");
        assert_eq!(canonical("HTTPS://HOST/Mcp"), "https://host/Mcp");
        assert_eq!(canonical("https://host/mcp//"), "https://host/mcp");
        assert_eq!(canonical("https://host/"), "https://host");
        assert_eq!(canonical("https://host"), "https://host");
        assert_eq!(canonical("https://host:443/a"), "https://host/a");
        assert_eq!(canonical("https://host:8443/a"), "https://host:8443/a");
        assert_eq!(canonical("http://127.0.0.1:80/a/"), "http://127.0.0.1/a");
        assert_eq!(canonical("http://[::1]:80/a"), "http://[::1]/a");
        assert_eq!(canonical("http://[::1]:8080/a"), "http://[::1]:8080/a");
        assert_eq!(canonical("https://host/a/?x=1"), "https://host/a?x=1");
        assert_eq!(canonical("wss://Host/a"), "wss://host/a");
        for (uri, error) in [
            ("https://host/mcp#frag", ResourceUriError::Fragment),
            ("https://user@host/mcp", ResourceUriError::UserInfo),
            ("/mcp", ResourceUriError::NotAbsolute),
            ("mcp", ResourceUriError::NotAbsolute),
            ("https:///mcp", ResourceUriError::NotAbsolute),
            ("https://:443/mcp", ResourceUriError::NotAbsolute),
            ("https://host/a b", ResourceUriError::NotAbsolute),
            ("https://host/\"", ResourceUriError::NotAbsolute),
            ("https://h\u{f6}st/", ResourceUriError::NotAbsolute),
            ("1https://host", ResourceUriError::NotAbsolute),
            ("", ResourceUriError::NotAbsolute),
        ] {
            assert_eq!(canonical_resource_uri(uri), Err(error), "{uri}");
        }
    }

    #[test]
    fn rfc9728_section_3_1_metadata_at_the_path_inserted_url_and_the_root() {
        let mcp = ProtectedResource::new("HTTPS://HOST:443/mcp/", ["https://as"]);
        assert_eq!(mcp.resource(), "https://host/mcp");
        assert_eq!(
            mcp.metadata_url(),
            "https://host/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            mcp.metadata_paths(),
            [
                "/.well-known/oauth-protected-resource/mcp",
                "/.well-known/oauth-protected-resource"
            ]
        );
        let root = ProtectedResource::new("https://host/", ["https://as"]);
        assert_eq!(root.resource(), "https://host");
        assert_eq!(
            root.metadata_paths(),
            ["/.well-known/oauth-protected-resource"]
        );
        let query = ProtectedResource::new("https://host/api?v=1", ["https://as"]);
        assert_eq!(
            query.metadata_url(),
            "https://host/.well-known/oauth-protected-resource/api"
        );
        let bare_query = ProtectedResource::new("https://host?v=1", ["https://as"]);
        assert_eq!(
            bare_query.metadata_url(),
            "https://host/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn rfc9728_section_2_scopes_supported_never_lists_offline_access() {
        let resource = ProtectedResource::new("https://host/mcp", ["https://as"]);
        let doc = resource.document_with_scopes(["b", "offline_access", "a", "b"]);
        assert_eq!(doc["scopes_supported"], serde_json::json!(["a", "b"]));
        assert_eq!(doc["resource"], "https://host/mcp");
    }
}
