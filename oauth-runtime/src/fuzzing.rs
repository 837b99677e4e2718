//! Entry points for the fuzz targets in `fuzz/` (see FUZZING.md), which are a separate crate and
//! so cannot reach `pub(crate)` items. Hidden from the documentation and not part of the API:
//! they may change in any release.

use crate::request::rejection::AuthError;

/// The request path's reading of the bearer token: `bearer::located` over the
/// `Authorization` header values and the query, then `bearer::token`.
pub fn bearer_token<'a>(
    authorization: &[&'a [u8]],
    query: Option<&str>,
    max_len: usize,
) -> Result<&'a str, AuthError> {
    let header = crate::request::bearer::located(authorization.iter().copied(), query, max_len)?;
    crate::request::bearer::token(header, max_len)
}

/// What the verified-token cache looks tokens up by: `bearer::unchecked_token`.
pub fn bearer_unchecked_token(header: &[u8]) -> Option<&[u8]> {
    crate::request::bearer::unchecked_token(header)
}
