//! Entry points for the fuzz targets in `fuzz/` (see FUZZING.md): the dev server's parameter
//! parsing and client authentication, which are `pub(crate)`. Hidden from the documentation and
//! not part of the API: they may change in any release.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};

use super::DevServerHandle;
use super::params::{Params, authenticate_client};

/// Parses `input` as every endpoint parses its query string or form body, and returns the
/// values of `names` (`None` where absent), or the error the endpoint would answer with.
pub fn parse_params(input: &[u8], names: &[&str]) -> Result<Vec<Option<String>>, String> {
    let params = Params::parse(input)?;
    Ok(names
        .iter()
        .map(|name| params.get(name).map(str::to_owned))
        .collect())
}

/// Authenticates the client of a token, introspection or revocation request with `body` as its
/// form and `authorization` as its `Authorization` header: the id of the authenticated client,
/// or the error description.
pub fn client_authentication(
    server: &DevServerHandle,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<String, String> {
    let params = Params::parse(body)?;
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization {
        // hyper refuses what a `HeaderValue` cannot hold before any handler sees the request.
        let value = HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        headers.insert(AUTHORIZATION, value);
    }
    authenticate_client(&server.server, &headers, &params)
        .map(|(client, _)| client.id.clone())
        .map_err(|e| e.description.to_owned())
}
