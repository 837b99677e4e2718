//! `#[scoped_handlers]` on an `impl` block: the block's `#[requires_scope]` handlers, which are
//! associated functions (no `self`), get their requirement types, catalog entries and checks
//! beside the block, where Rust allows items, and their guard parameters inside it.
//!
//! An attribute on a function cannot place anything outside the `impl` block around it, and a
//! struct is not allowed inside one; this attribute sees the whole block, so it can.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, ImplItem, ImplItemFn, ItemFn, ItemImpl, Type};

use crate::{check, parse};

/// The block with each guarded associated function expanded, preceded by their items.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[scoped_handlers] takes no arguments: write the scopes on each handler, \
             as `#[requires_scope(\"photos:read\")]`",
        ));
    }
    let mut block = syn::parse2::<ItemImpl>(item.clone()).map_err(|_| {
        syn::Error::new_spanned(
            first_token(&item),
            "#[scoped_handlers] goes on an `impl` block whose associated functions carry \
             #[requires_scope]; on a free function write #[requires_scope] alone",
        )
    })?;
    if let Some((path, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[scoped_handlers] goes on an inherent `impl` block (`impl Photos { .. }`): a \
             trait's methods cannot take the extra guard parameter",
        ));
    }
    let owner = owner_ident(&block.self_ty);
    let mut items = TokenStream::new();
    let mut errors: Option<syn::Error> = None;
    for member in &mut block.items {
        let ImplItem::Fn(method) = member else {
            continue;
        };
        match guard_method(method, &owner) {
            Ok(Some((method_items, guarded))) => {
                items.extend(method_items);
                *method = guarded;
            }
            Ok(None) => {}
            Err(error) => match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            },
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    block.to_tokens(&mut items);
    Ok(items)
}

/// Each `#[requires_scope]` of `method`, top one first, as the compiler would expand them on
/// a free function; `None` for a method without one.
fn guard_method(
    method: &ImplItemFn,
    owner: &syn::Ident,
) -> syn::Result<Option<(TokenStream, ImplItemFn)>> {
    if !method.attrs.iter().any(is_requires_scope) {
        return Ok(None);
    }
    let mut function = ItemFn {
        attrs: method.attrs.clone(),
        vis: method.vis.clone(),
        modifiers: method.modifiers.clone(),
        sig: method.sig.clone(),
        block: Box::new(method.block.clone()),
    };
    let mut items = TokenStream::new();
    while let Some(at) = function.attrs.iter().position(is_requires_scope) {
        let attribute = function.attrs.remove(at);
        let args = match &attribute.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "#[requires_scope] needs the scopes, as `#[requires_scope(\"photos:read\")]`",
                ));
            }
        };
        let args = syn::parse2::<parse::Args>(args);
        let (guard, checked) = check::check(args, Ok(function))?;
        let (method_items, expanded) = crate::expand::expand_parts(&guard, checked, Some(owner));
        items.extend(method_items);
        function = expanded;
    }
    Ok(Some((
        items,
        ImplItemFn {
            attrs: function.attrs,
            vis: function.vis,
            modifiers: function.modifiers,
            sig: function.sig,
            block: *function.block,
        },
    )))
}

fn is_requires_scope(attribute: &Attribute) -> bool {
    attribute
        .path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "requires_scope")
}

/// The self type's last identifier (`Photos` of `api::Photos<T>`), for the generated names.
fn owner_ident(self_ty: &Type) -> syn::Ident {
    match self_ty {
        Type::Path(path) => match path.path.segments.last() {
            Some(segment) => segment.ident.clone(),
            None => syn::Ident::new("impl", proc_macro2::Span::call_site()),
        },
        _ => syn::Ident::new("impl", proc_macro2::Span::call_site()),
    }
}

fn first_token(item: &TokenStream) -> TokenStream {
    item.clone().into_iter().take(1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn items_go_before_the_block_and_guards_into_it() {
        let out = expand(
            TokenStream::new(),
            quote! {
                impl Photos {
                    #[requires_scope("photos:read")]
                    pub async fn list(claims: Claims) -> String { String::new() }
                    fn helper() {}
                }
            },
        )
        .expect("expands")
        .to_string();
        let block = out.find("impl Photos").expect("the block");
        let marker = out
            .find("struct __requires_scope_0_of_Photos_list_")
            .expect("the requirement type, named after the block's type");
        assert!(marker < block, "{out}");
        assert!(out[block..].contains("__oauth_scope_guard_0"), "{out}");
        assert!(
            !out.contains("# [requires_scope"),
            "every attribute expanded: {out}"
        );
    }

    #[test]
    fn misuses_are_errors_that_say_what_to_write() {
        for (args, item, says) in [
            (quote!(x), quote!(impl P {}), "takes no arguments"),
            (
                quote!(),
                quote!(
                    fn f() {}
                ),
                "goes on an `impl` block",
            ),
            (quote!(), quote!(impl Tr for P {}), "inherent `impl` block"),
            (
                quote!(),
                quote!(impl P { #[requires_scope("a b")] fn f() {} }),
                "invalid character",
            ),
            (
                quote!(),
                quote!(impl P { #[requires_scope("a")] fn f(&self) {} }),
                "not methods with `self`",
            ),
        ] {
            let error = expand(args, item).expect_err("an error").to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
