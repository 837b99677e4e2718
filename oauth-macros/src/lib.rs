//! Attribute macros of `oauth-runtime`.
//!
//! Depend on `oauth-runtime` and use `oauth_runtime::requires_scope`; this crate only parses and
//! checks the attribute at compile time and expands it into a typed guard parameter. All behaviour
//! lives in the runtime, which is why this crate knows no web framework.

mod expand;
mod requirement;
mod scope_grammar;

use proc_macro::TokenStream;

/// Requires OAuth 2.0 scopes for a request handler. See `oauth_runtime::requires_scope` for the
/// full documentation and examples.
#[proc_macro_attribute]
pub fn requires_scope(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
