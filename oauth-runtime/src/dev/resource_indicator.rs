//! RFC 8707 resource indicators: which of the configured resources a request names, how a token
//! request may narrow them, and the `aud` they give an access token.

use serde_json::Value;

use super::Server;
use super::params::Params;
use crate::request::resource::{ResourceUriError, canonical_resource_uri};

/// The resources a request names with `resource` (RFC 8707 §2), in canonical form and without
/// repeats; empty when it names none. Each must be one the server is configured with. `Err` is
/// the fixed `error_description` of an `invalid_target`.
pub(crate) fn requested(server: &Server, params: &Params) -> Result<Vec<String>, &'static str> {
    let mut resources = Vec::new();
    for value in params.all("resource") {
        let canonical = canonical_resource_uri(value).map_err(|error| match error {
            ResourceUriError::Fragment => "a resource must not include a fragment",
            _ => "a resource must be an absolute URI",
        })?;
        if !server.resources.contains(&canonical) {
            return Err("a requested resource is not served by this authorization server");
        }
        if !resources.contains(&canonical) {
            resources.push(canonical);
        }
    }
    Ok(resources)
}

/// The resources of a token issued from a grant for `granted`: those `requested`, each of which
/// the grant must include (a token request may narrow, never widen, RFC 8707 §2.2), or all of
/// the grant's when none is requested. A grant made without resources is one for the default
/// audience: naming a resource then would widen it.
pub(crate) fn narrowed(
    granted: &[String],
    requested: Vec<String>,
) -> Result<Vec<String>, &'static str> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    if requested.iter().all(|r| granted.contains(r)) {
        Ok(requested)
    } else {
        Err("the authorization was not granted for a requested resource")
    }
}

/// The `aud` of an access token for `resources`: one as a string, several as an array, the
/// configured audience when there are none.
pub(crate) fn audience(server: &Server, resources: &[String]) -> Value {
    match resources {
        [] => Value::from(server.audience.as_str()),
        [one] => Value::from(one.as_str()),
        several => Value::from(several.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8707_section_2_2_a_token_request_narrows_and_never_widens() {
        let (a, b) = ("https://a/mcp".to_owned(), "https://b".to_owned());
        let both = vec![a.clone(), b.clone()];
        assert_eq!(narrowed(&both, vec![]), Ok(both.clone()));
        assert_eq!(narrowed(&both, vec![b.clone()]), Ok(vec![b.clone()]));
        assert!(narrowed(std::slice::from_ref(&a), vec![a.clone(), b.clone()]).is_err());
        assert!(narrowed(&[], vec![a]).is_err());
        assert_eq!(narrowed(&[], vec![]), Ok(vec![]));
    }
}
