//! What the attribute reads from the route attributes below it on the same function: Rocket's
//! `#[get("/photos/<id>")]` (and the other methods) and utoipa's `#[utoipa::path(get, path = ..)]`.
//!
//! Attributes expand from the top down, so ours still sees these, unexpanded, among the function's
//! attributes. The macro depends on neither framework: it recognises them by name and reads their
//! first arguments only, and whatever it cannot read it leaves alone (the route stays unknown).

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::ParseStream;
use syn::{FnArg, ItemFn, Token};

/// A Rocket route attribute below ours, as written: `get` and `/item/<id>?<q>`.
pub(crate) struct RocketRoute {
    method: String,
    path: String,
}

/// The route for the catalog, such as `GET /photos`: from Rocket's route attribute, else from
/// utoipa's.
pub(crate) fn catalog_route(function: &ItemFn) -> Option<String> {
    rocket(function)
        .map(|route| {
            // Rocket's query part goes; dynamic segments stay as written: `/photos/<id>`.
            let path = route.path.split('?').next().unwrap_or_default();
            format!("{} {path}", route.method.to_uppercase())
        })
        .or_else(|| utoipa(function))
}

/// The method and path of a Rocket route attribute (`#[get("/photos")]`) below ours.
pub(crate) fn rocket(function: &ItemFn) -> Option<RocketRoute> {
    const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];
    function.attrs.iter().find_map(|attr| {
        let method = attr.path().segments.last()?.ident.to_string();
        if !METHODS.contains(&method.as_str()) {
            return None;
        }
        let list = attr.meta.require_list().ok()?;
        let path: syn::LitStr = list
            .parse_args_with(|input: ParseStream<'_>| {
                let lit: syn::LitStr = input.parse()?;
                let _rest: TokenStream = input.parse()?;
                Ok(lit)
            })
            .ok()?;
        Some(RocketRoute {
            method,
            path: path.value(),
        })
    })
}

/// `GET /photos` from a `#[utoipa::path(get, path = "/photos", ..)]` below ours.
fn utoipa(function: &ItemFn) -> Option<String> {
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
            .parse_args_with(|input: ParseStream<'_>| {
                let method: syn::Ident = input.parse()?;
                let mut path = None;
                while !input.is_empty() {
                    input.parse::<Token![,]>()?;
                    if input.is_empty() {
                        break;
                    }
                    if input.peek(syn::Ident) && input.peek2(Token![=]) {
                        let name: syn::Ident = input.parse()?;
                        input.parse::<Token![=]>()?;
                        if name == "path" {
                            path = Some(input.parse::<syn::LitStr>()?.value());
                            continue;
                        }
                    }
                    // Skip whatever else this argument is, up to the next comma.
                    while !input.is_empty() && !input.peek(Token![,]) {
                        input.parse::<proc_macro2::TokenTree>()?;
                    }
                }
                Ok((method, path))
            })
            .ok()?;
        Some(format!("{} {}", method.to_string().to_uppercase(), path?))
    })
}

/// A typed dynamic segment of a Rocket route: `<id>` (parsed with `FromParam`) or `<path..>`
/// (with `FromSegments`), at `index` among the route's segments after its mount point.
pub(crate) struct TypedSegment {
    pub(crate) index: usize,
    pub(crate) trailing: bool,
    pub(crate) ty: TokenStream,
}

/// The typed segments of the Rocket route's path (`/item/<id>/<rest..>`), with their parameters'
/// types from the handler; `None` when there are none. Segments without a parameter of that name
/// are left to Rocket, which rejects such a route itself.
pub(crate) fn typed_segments(route: &RocketRoute, function: &ItemFn) -> Option<Vec<TypedSegment>> {
    let path = route.path.split('?').next().unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn function(src: &str) -> ItemFn {
        syn::parse_str(src).expect("a function")
    }

    #[test]
    fn reads_rocket_and_utoipa_routes() {
        let rocket = function(r#"#[get("/photos/<id>?<q>", rank = 2)] fn f(id: u32) {}"#);
        assert_eq!(catalog_route(&rocket).as_deref(), Some("GET /photos/<id>"));
        let utoipa = function(
            r#"#[utoipa::path(post, responses((status = 200)), path = "/albums")] fn f() {}"#,
        );
        assert_eq!(catalog_route(&utoipa).as_deref(), Some("POST /albums"));
        assert_eq!(catalog_route(&function("#[inline] fn f() {}")), None);
    }

    #[test]
    fn typed_segments_take_the_parameters_types_without_their_lifetimes() {
        let f = function(r#"#[get("/a/<name>/<rest..>")] fn f<'r>(name: &'r str, rest: P) {}"#);
        let route = rocket(&f).expect("a Rocket route");
        let segments = typed_segments(&route, &f).expect("typed segments");
        let found: Vec<(usize, bool, String)> = segments
            .iter()
            .map(|s| (s.index, s.trailing, s.ty.to_string()))
            .collect();
        assert_eq!(
            found,
            [(1, false, "& '_ str".to_owned()), (2, true, "P".to_owned())]
        );
    }
}
