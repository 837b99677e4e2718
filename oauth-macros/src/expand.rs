//! Expansion of `#[requires_scope(..)]`: parse, check, then rewrite the handler with a guard
//! parameter whose type carries the requirement.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn};

use crate::requirement::Args;

/// The hidden guard parameter's name. Rocket's codegen needs a plain identifier there; the leading
/// underscore keeps `unused_variables` quiet.
const GUARD_PARAM: &str = "__oauth_scope_guard";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let requirement =
        syn::parse2::<Args>(args).and_then(|Args(r, route)| r.check().map(|()| (r, route)));
    let function = parse_function(item);
    let ((requirement, route), mut function) = match (requirement, function) {
        (Ok(r), Ok(f)) => (r, f),
        (Err(mut a), Err(b)) => {
            a.combine(b);
            return Err(a);
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };

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
    let marker = format_ident!(
        "__requires_scope_{}_of_{}_must_sit_below_debug_handler_and_above_any_route_attribute",
        stacked,
        function.sig.ident,
        span = span
    );
    let vis = &function.vis;
    let runtime = requirement.to_runtime();
    let doc = format!(
        "**OAuth 2.0:** requires the scope requirement {}.",
        requirement.describe()
    );

    // The innermost attribute expands last and so puts its parameters first: it alone checks
    // the route's typed segments, before any guard of the stack asks for credentials.
    let segments = if stacked == 0 {
        rocket_path(&function).and_then(|path| typed_segments(&path, &function))
    } else {
        None
    };
    let param = format_ident!("{}_{}", GUARD_PARAM, stacked, span = span);
    let guard: FnArg = syn::parse_quote_spanned! {span=>
        #param: ::oauth_runtime::ScopeGuard<#marker>
    };
    function.sig.inputs.insert(0, guard);
    let segments_check = segments.map(|segments| {
        let checks = segments.iter().map(|segment| {
            let (index, ty) = (segment.index, &segment.ty);
            if segment.trailing {
                quote_spanned! {span=>
                    <#ty as ::oauth_runtime::rocket::__private::FromSegments<'_>>::from_segments(
                        request.routed_segments(#index..),
                    ).is_ok()
                }
            } else {
                quote_spanned! {span=>
                    request.routed_segment(#index).is_some_and(|segment| {
                        <#ty as ::oauth_runtime::rocket::__private::FromParam<'_>>::from_param(segment)
                            .is_ok()
                    })
                }
            }
        });
        let param = format_ident!("{}_segments", GUARD_PARAM, span = span);
        let check: FnArg = syn::parse_quote_spanned! {span=>
            #param: ::oauth_runtime::rocket::SegmentsFirst<#marker>
        };
        function.sig.inputs.insert(0, check);
        quote_spanned! {span=>
            impl ::oauth_runtime::rocket::RouteSegments for #marker {
                fn can_serve(request: &::oauth_runtime::rocket::__private::Request<'_>) -> bool {
                    true #(&& #checks)*
                }
            }
        }
    });
    let route = match route {
        Some(route) => quote!(::core::option::Option::Some(#route)),
        None => match rocket_route(&function).or_else(|| utoipa_route(&function)) {
            Some(route) => quote!(::core::option::Option::Some(#route)),
            None => quote!(::core::option::Option::None),
        },
    };
    let name = &function.sig.ident;
    function.attrs.push(syn::parse_quote!(#[doc = ""]));
    function.attrs.push(syn::parse_quote!(#[doc = #doc]));

    Ok(quote_spanned! {span=>
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        #vis struct #marker;

        impl ::oauth_runtime::ScopeRequirement for #marker {
            const REQUIREMENT: &'static ::oauth_runtime::Requirement = &#runtime;
        }

        ::oauth_runtime::catalog::inventory::submit! {
            ::oauth_runtime::catalog::Endpoint::new(
                ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                <#marker as ::oauth_runtime::ScopeRequirement>::REQUIREMENT,
                ::core::file!(),
                ::core::line!(),
                #route,
            )
        }

        #segments_check

        #function
    })
}

/// A typed dynamic segment of a Rocket route: `<id>` (parsed with `FromParam`) or `<path..>`
/// (with `FromSegments`), at `index` among the route's segments after its mount point.
struct TypedSegment {
    index: usize,
    trailing: bool,
    ty: TokenStream,
}

/// The typed segments of `path` (`/item/<id>/<rest..>`), with their parameters' types from the
/// handler; `None` when there are none. Segments without a parameter of that name are left to
/// Rocket, which rejects such a route itself.
fn typed_segments(path: &str, function: &ItemFn) -> Option<Vec<TypedSegment>> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<TypedSegment> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .enumerate()
        .filter_map(|(index, segment)| {
            let name = segment.strip_prefix('<')?.strip_suffix('>')?;
            let (name, trailing) = match name.strip_suffix("..") {
                Some(name) => (name, true),
                None => (name, false),
            };
            let ty = function.sig.inputs.iter().find_map(|input| match input {
                FnArg::Typed(typed) => match &*typed.pat {
                    syn::Pat::Ident(pat) if pat.ident == name => Some(&typed.ty),
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })?;
            Some(TypedSegment {
                index,
                trailing,
                ty: anonymous_lifetimes(quote!(#ty)),
            })
        })
        .collect();
    (!segments.is_empty()).then_some(segments)
}

/// `ty` with every named lifetime made `'_`: the check is generated outside the handler, where
/// the handler's own lifetime parameters (`&'r str`) do not exist.
fn anonymous_lifetimes(ty: TokenStream) -> TokenStream {
    use proc_macro2::{Group, Ident, Punct, Spacing, TokenTree};
    let mut out = Vec::new();
    let mut tokens = ty.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == '\'' && p.spacing() == Spacing::Joint => {
                if let Some(TokenTree::Ident(_)) = tokens.peek() {
                    tokens.next();
                    let mut tick = Punct::new('\'', Spacing::Joint);
                    tick.set_span(p.span());
                    out.push(TokenTree::Punct(tick));
                    out.push(TokenTree::Ident(Ident::new("_", p.span())));
                } else {
                    out.push(TokenTree::Punct(p));
                }
            }
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), anonymous_lifetimes(g.stream()));
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

/// `GET /photos` from a Rocket route attribute below ours (`#[get("/photos")]`), which our
/// attribute sees because it runs first.
fn rocket_route(function: &ItemFn) -> Option<String> {
    let (method, path) = rocket_attribute(function)?;
    // Rocket's query part and dynamic segments stay as written: `/photos/<id>`.
    let path = path.split('?').next().unwrap_or_default();
    Some(format!("{} {path}", method.to_uppercase()))
}

/// The path of a Rocket route attribute below ours, as written (`/item/<id>?<q>`).
fn rocket_path(function: &ItemFn) -> Option<String> {
    rocket_attribute(function).map(|(_, path)| path)
}

/// The method and path of a Rocket route attribute (`#[get("/photos")]`) below ours.
fn rocket_attribute(function: &ItemFn) -> Option<(String, String)> {
    const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];
    function.attrs.iter().find_map(|attr| {
        let last = attr.path().segments.last()?.ident.to_string();
        if !METHODS.contains(&last.as_str()) {
            return None;
        }
        let list = attr.meta.require_list().ok()?;
        let first: syn::LitStr = list
            .parse_args_with(|input: syn::parse::ParseStream<'_>| {
                let lit: syn::LitStr = input.parse()?;
                let _rest: TokenStream = input.parse()?;
                Ok(lit)
            })
            .ok()?;
        Some((last, first.value()))
    })
}

/// `GET /photos` from a `#[utoipa::path(get, path = "/photos", ..)]` below ours.
fn utoipa_route(function: &ItemFn) -> Option<String> {
    function.attrs.iter().find_map(|attr| {
        let segments: Vec<String> = attr
            .path()
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        if segments != ["utoipa", "path"] {
            return None;
        }
        let list = attr.meta.require_list().ok()?;
        let (method, path) = list
            .parse_args_with(|input: syn::parse::ParseStream<'_>| {
                let method: syn::Ident = input.parse()?;
                let mut path = None;
                while !input.is_empty() {
                    input.parse::<syn::Token![,]>()?;
                    if input.is_empty() {
                        break;
                    }
                    if input.peek(syn::Ident) && input.peek2(syn::Token![=]) {
                        let name: syn::Ident = input.parse()?;
                        input.parse::<syn::Token![=]>()?;
                        if name == "path" {
                            path = Some(input.parse::<syn::LitStr>()?.value());
                            continue;
                        }
                    }
                    // Skip whatever else this argument is, up to the next comma.
                    while !input.is_empty() && !input.peek(syn::Token![,]) {
                        input.parse::<proc_macro2::TokenTree>()?;
                    }
                }
                Ok((method, path))
            })
            .ok()?;
        Some(format!("{} {}", method.to_string().to_uppercase(), path?))
    })
}

fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    let function = match syn::parse2::<Item>(item) {
        Ok(Item::Fn(function)) => function,
        Ok(other) => {
            return Err(syn::Error::new(
                item_keyword_span(&other),
                "#[requires_scope] goes on a request handler function, such as \
                 `async fn list_photos(..)`; it cannot protect this item",
            ));
        }
        Err(err) => return Err(err),
    };
    if let Some(FnArg::Receiver(receiver)) = function.sig.inputs.first() {
        return Err(syn::Error::new(
            receiver.span(),
            "#[requires_scope] protects free handler functions, not methods with `self`: \
             move the handler out of the `impl` block and pass what it needs as state",
        ));
    }
    Ok(function)
}

fn item_keyword_span(item: &Item) -> Span {
    let tokens = quote!(#item);
    // Point at the item's first token after its attributes and visibility, which is its keyword
    // (`struct`, `mod`, `const`, ...), rather than at the whole item.
    match item {
        Item::Struct(s) => s.struct_token.span,
        Item::Enum(e) => e.enum_token.span,
        Item::Mod(m) => m.mod_token.span,
        Item::Const(c) => c.const_token.span,
        Item::Static(s) => s.static_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::Type(t) => t.type_token.span,
        Item::Use(u) => u.use_token.span,
        _ => tokens.span(),
    }
}
