//! Phase 3: a checked [`Guard`] and its function, rewritten into tokens. Nothing here fails:
//! whatever could be wrong was reported by [`crate::check`].

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn};

use crate::check::{Authentication, Guard, Requirement, path_text};
use crate::route;

/// The hidden guard parameter's name. Rocket's codegen needs a plain identifier there; the leading
/// underscore keeps `unused_variables` quiet.
const GUARD_PARAM: &str = "__oauth_scope_guard";

/// The function with a guard parameter first, preceded by its requirement type, the type's
/// catalog entry and, on Rocket, the check of the route's typed segments.
pub(crate) fn expand(guard: &Guard, function: ItemFn) -> TokenStream {
    let (mut items, function) = expand_parts(guard, function, None);
    function.to_tokens(&mut items);
    items
}

/// The items that go beside the function (its requirement type, catalog entry and segments
/// check) and the rewritten function, apart: an associated function's items must go outside
/// its `impl` block. `owner` is that block's type, named in the items so that two blocks of one
/// module may both have a `list`.
pub(crate) fn expand_parts(
    guard: &Guard,
    mut function: ItemFn,
    owner: Option<&syn::Ident>,
) -> (TokenStream, ItemFn) {
    let rt = &guard.runtime;
    // Stacked attributes each get their own requirement type; the outer one still sees the inner
    // ones among the function's attributes, which numbers them apart.
    let stacked = function
        .attrs
        .iter()
        .filter(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "requires_scope")
        })
        .count();
    let span = Span::call_site();
    // The name is what rustc shows when the attribute sits below Rocket's route attribute or
    // above `#[axum::debug_handler]`: both have generated a call without the guard before this
    // attribute runs, and no attribute can see one that ran before it, so the missing-argument
    // error that follows names this type, and the name says what to do.
    let owned_name = match owner {
        Some(owner) => format!("{owner}_{}", function.sig.ident),
        None => function.sig.ident.to_string(),
    };
    let marker = format_ident!(
        "__requires_scope_{}_of_{}_must_sit_below_debug_handler_and_above_any_route_attribute",
        stacked,
        owned_name,
        span = span
    );
    let vis = &function.vis;
    let requirement = to_runtime(&guard.requirement, rt);
    let mut doc = format!(
        "**OAuth 2.0:** requires the scope requirement {}",
        describe(&guard.requirement)
    );
    if let Some(authentication) = &guard.authentication {
        doc.push_str(&format!(
            ", and {}",
            describe_authentication(authentication)
        ));
    }
    doc.push('.');
    // Left out when not written, so the trait's default (`None`) keeps such handlers' checks
    // exactly as they were.
    let authentication = guard.authentication.as_ref().map(|a| {
        let value = authentication_to_runtime(a, rt);
        quote! {
            const AUTHENTICATION: ::core::option::Option<&'static #rt::AuthnRequirement> =
                ::core::option::Option::Some(&#value);
        }
    });

    // The innermost attribute expands last and so puts its parameters first: it alone checks
    // the route's typed segments, before any guard of the stack asks for credentials.
    let segments = if stacked == 0 {
        route::rocket(&function).and_then(|r| route::typed_segments(&r, &function))
    } else {
        None
    };
    let param = format_ident!("{}_{}", GUARD_PARAM, stacked, span = span);
    let guard_param: FnArg = syn::parse_quote_spanned! {span=>
        #param: #rt::ScopeGuard<#marker>
    };
    function.sig.inputs.insert(0, guard_param);
    let segments_check = segments.map(|segments| {
        let checks = segments.iter().map(|segment| {
            let (index, ty) = (segment.index, &segment.ty);
            if segment.trailing {
                quote_spanned! {span=>
                    <#ty as #rt::rocket::__private::FromSegments<'_>>::from_segments(
                        request.routed_segments(#index..),
                    ).is_ok()
                }
            } else {
                quote_spanned! {span=>
                    request.routed_segment(#index).is_some_and(|segment| {
                        <#ty as #rt::rocket::__private::FromParam<'_>>::from_param(segment)
                            .is_ok()
                    })
                }
            }
        });
        let param = format_ident!("{}_segments", GUARD_PARAM, span = span);
        let check: FnArg = syn::parse_quote_spanned! {span=>
            #param: #rt::rocket::SegmentsFirst<#marker>
        };
        function.sig.inputs.insert(0, check);
        quote_spanned! {span=>
            impl #rt::rocket::RouteSegments for #marker {
                fn can_serve(request: &#rt::rocket::__private::Request<'_>) -> bool {
                    true #(&& #checks)*
                }
            }
        }
    });
    let route = match (&guard.route, route::catalog_route(&function)) {
        (Some(route), _) => quote!(::core::option::Option::Some(#route)),
        (None, Some(route)) => quote!(::core::option::Option::Some(#route)),
        (None, None) => quote!(::core::option::Option::None),
    };
    let name = &function.sig.ident;
    let catalog_name = match owner {
        Some(owner) => quote! {
            ::core::concat!(
                ::core::module_path!(), "::", ::core::stringify!(#owner), "::",
                ::core::stringify!(#name)
            )
        },
        None => quote! {
            ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name))
        },
    };
    function.attrs.push(syn::parse_quote!(#[doc = ""]));
    function.attrs.push(syn::parse_quote!(#[doc = #doc]));

    let items = quote_spanned! {span=>
        // No derives: nothing needs the marker to be `Debug`, `Clone` or `Copy`, and each
        // derive is an impl more to expand and check per handler.
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #marker;

        impl #rt::ScopeRequirement for #marker {
            const REQUIREMENT: &'static #rt::Requirement = &#requirement;
            #authentication
        }

        #rt::catalog::inventory::submit! {
            #rt::catalog::Endpoint::new(
                #catalog_name,
                <#marker as #rt::ScopeRequirement>::REQUIREMENT,
                ::core::file!(),
                ::core::line!(),
                #route,
            )
            .with_authentication(<#marker as #rt::ScopeRequirement>::AUTHENTICATION)
        }

        #segments_check
    };
    (items, function)
}

/// A constant expression of type `oauth_runtime::Requirement`.
fn to_runtime(requirement: &Requirement, rt: &syn::Path) -> TokenStream {
    match requirement {
        Requirement::Scope(lit) => {
            let span = lit.span();
            quote_spanned! {span=>
                #rt::Requirement::Scope(#rt::ScopeToken::from_static(#lit))
            }
        }
        Requirement::Declared(path) => {
            let span = path.span();
            // Called as a path, so that anything but a declared scope is a type error that
            // names `DeclaredScope`; the whole call carries the constant's span, so that the
            // error underlines the constant and not the attribute.
            let rt = respan(rt.to_token_stream(), span);
            quote_spanned! {span=>
                #rt::Requirement::Scope(#rt::catalog::DeclaredScope::token(&#path))
            }
        }
        Requirement::All(items) => list_to_runtime(quote!(All), items, rt),
        Requirement::Any(items) => list_to_runtime(quote!(Any), items, rt),
    }
}

fn list_to_runtime(variant: TokenStream, items: &[Requirement], rt: &syn::Path) -> TokenStream {
    let items = items.iter().map(|item| to_runtime(item, rt));
    quote! {
        #rt::Requirement::#variant(::std::borrow::Cow::Borrowed(&[#(#items),*]))
    }
}

/// A constant expression of type `oauth_runtime::AuthnRequirement`.
fn authentication_to_runtime(a: &Authentication, rt: &syn::Path) -> TokenStream {
    let mut value = quote!(#rt::AuthnRequirement::new());
    if !a.acr.is_empty() {
        let acr = &a.acr;
        value.extend(quote!(.acr(&[#(#acr),*])));
    }
    if let Some(max_age) = &a.max_age {
        // Unsuffixed, so that a `u32` suffix written in the attribute still makes a `u64`.
        let seconds =
            proc_macro2::Literal::u64_unsuffixed(max_age.base10_parse::<u64>().unwrap_or(u64::MAX));
        value.extend(quote!(.max_age(#seconds)));
    }
    if a.dpop {
        value.extend(quote!(.dpop()));
    }
    value
}

/// `acr` `urn:example:mfa`, ... as the generated documentation says it.
fn describe_authentication(a: &Authentication) -> String {
    let mut parts = Vec::new();
    match a.acr.as_slice() {
        [] => {}
        [one] => parts.push(format!("a user authentication of class `{}`", one.value())),
        many => {
            let values: Vec<String> = many.iter().map(|v| format!("`{}`", v.value())).collect();
            parts.push(format!(
                "a user authentication of class {}",
                values.join(" or ")
            ));
        }
    }
    if let Some(max_age) = &a.max_age {
        parts.push(format!(
            "a user authentication at most {} s old",
            max_age.base10_digits()
        ));
    }
    if a.dpop {
        parts.push("a DPoP-bound token".to_owned());
    }
    parts.join(", ")
}

/// The requirement as the attribute would spell it; used in the generated documentation.
pub(crate) fn describe(requirement: &Requirement) -> String {
    let list = |items: &[Requirement]| items.iter().map(describe).collect::<Vec<_>>().join(", ");
    match requirement {
        Requirement::Scope(lit) => format!("`{}`", lit.value()),
        Requirement::Declared(path) => format!("`{}`", path_text(path)),
        Requirement::All(items) => format!("all of ({})", list(items)),
        Requirement::Any(items) => format!("any of ({})", list(items)),
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = TokenTree::Group(respanned);
            }
            token.set_span(span);
            token
        })
        .collect()
}
