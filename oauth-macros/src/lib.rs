//! Attribute macros of `oauth-runtime`.
//!
//! Depend on `oauth-runtime` and use `oauth_runtime::requires_scope`; this crate only reads and
//! checks the attribute at compile time and expands it into a typed guard parameter. All
//! behaviour lives in the runtime. The crate depends on no web framework: it recognises Rocket's
//! route attributes and utoipa's `#[utoipa::path]` by name, to learn the route they declare.
//!
//! The expansion runs in three phases, each in its own module: `parse` (tokens into a syntax
//! tree that keeps misuses), `check` (every mistake collected, with its span) and `expand`
//! (the checked tree into code, which cannot fail); `route` reads the neighbouring route
//! attributes.

mod check;
mod expand;
mod parse;
mod route;
mod scope_grammar;
mod scoped_handlers;
mod scopes;

use proc_macro2::TokenStream;

/// Requires OAuth 2.0 scopes for a request handler. See `oauth_runtime::requires_scope` for the
/// full documentation and examples.
#[proc_macro_attribute]
pub fn requires_scope(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand_or_keep(args.into(), item.into()).into()
}

/// Lets `#[requires_scope]` protect the associated functions (no `self`) of an inherent `impl`
/// block. See `oauth_runtime::scoped_handlers` for the documentation and an example.
#[proc_macro_attribute]
pub fn scoped_handlers(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    let item = TokenStream::from(item);
    match scoped_handlers::expand(args.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(item);
            tokens.into()
        }
    }
}

/// The declarations of `oauth_runtime::scopes!`, which forwards here with its `$crate`; use
/// that macro.
#[doc(hidden)]
#[proc_macro]
pub fn declare_scopes(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    match syn::parse2::<scopes::Block>(input.into()).map(scopes::expand) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// The expansion; on an error, the error followed by the item as written. Keeping the item lets
/// rust-analyzer and the rest of the crate go on seeing the function while the attribute is
/// wrong, and the error still fails the build, so nothing is served unprotected.
fn expand_or_keep(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args, item.clone()) {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(item);
            tokens
        }
    }
}

fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = syn::parse2::<parse::Args>(args);
    let function = parse::function(item);
    let (guard, function) = check::check(args, function)?;
    Ok(expand::expand(&guard, function))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn idents(tokens: TokenStream) -> Vec<String> {
        tokens
            .into_iter()
            .flat_map(|token| match token {
                proc_macro2::TokenTree::Group(group) => idents(group.stream()),
                proc_macro2::TokenTree::Ident(ident) => vec![ident.to_string()],
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn an_error_keeps_the_item_as_written() {
        let item = quote! {
            async fn list_photos(claims: Claims) -> String { claims.subject() }
        };
        let out = expand_or_keep(quote!("photos read"), item.clone()).to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.ends_with(&item.to_string()), "{out}");
        // Also when the item is not a function, or has `self`.
        for item in [
            quote!(
                struct Photos;
            ),
            quote!(
                fn f(&self) {}
            ),
        ] {
            let out = expand_or_keep(quote!("a"), item.clone()).to_string();
            assert!(out.ends_with(&item.to_string()), "{out}");
        }
    }

    #[test]
    fn crate_option_replaces_every_path_to_the_runtime() {
        let item = quote! {
            #[get("/item/<id>")]
            async fn item(id: u32) {}
        };
        let out = expand_or_keep(quote!(any("a", SCOPE), crate = renamed::rt), item.clone());
        let idents = idents(out.clone());
        assert!(!idents.iter().any(|i| i == "oauth_runtime"), "{out}");
        assert!(idents.iter().any(|i| i == "renamed"), "{out}");
        // Without the option, the runtime is named from the crate root.
        let out = expand_or_keep(quote!("a"), item).to_string();
        assert!(out.contains(":: oauth_runtime :: ScopeGuard"), "{out}");
    }
}
