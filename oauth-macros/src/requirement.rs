//! Parsing and compile-time checking of a scope requirement: the arguments of
//! `#[requires_scope(..)]`.

use std::cell::Cell;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Token};

use crate::scope_grammar::{self, Invalid};

/// A requirement as written in the attribute.
pub(crate) enum Requirement {
    Scope(LitStr),
    /// A constant declared with `oauth_runtime::scopes!`, such as `PHOTOS_READ`.
    Declared(syn::Path),
    All(Group),
    Any(Group),
}

/// The parenthesised list of `all(..)` / `any(..)`, or the attribute's own argument list.
pub(crate) struct Group {
    pub(crate) keyword: Span,
    pub(crate) items: Vec<Requirement>,
}

/// The attribute's arguments: a list that must all hold, and optionally `route = "GET /path"`.
pub(crate) struct Args(pub(crate) Requirement, pub(crate) Option<LitStr>);

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let span = input.span();
        let mut items = Vec::new();
        let mut route = None;
        while !input.is_empty() {
            if input.peek(Ident) && input.peek2(Token![=]) {
                let name: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                if name != "route" {
                    return Err(syn::Error::new(
                        name.span(),
                        format!(
                            "unknown argument `{name}`: the only named argument is `route = \"GET /path\"`"
                        ),
                    ));
                }
                route = Some(input.parse::<LitStr>()?);
            } else {
                items.push(input.parse::<Requirement>()?);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        match items.len() {
            0 => Err(syn::Error::new(
                span,
                "no scope given: write the scopes the handler needs, such as \
                 `#[requires_scope(\"photos:read\")]`",
            )),
            1 => Ok(Args(items.remove(0), route)),
            _ => Ok(Args(
                Requirement::All(Group {
                    keyword: span,
                    items,
                }),
                route,
            )),
        }
    }
}

/// Far deeper than any real requirement nests `all`/`any`. The parser recurses once per level, so
/// without a bound a pathological attribute (thousands of levels; found by fuzzing, see
/// FUZZING.md) overflowed the compiler's stack instead of getting an error.
const MAX_DEPTH: usize = 32;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One level of `all(..)`/`any(..)` being parsed; leaving it, on success or error, pops it.
struct Level;

impl Level {
    fn enter(keyword: &Ident) -> syn::Result<Level> {
        DEPTH.with(|depth| {
            if depth.get() >= MAX_DEPTH {
                return Err(syn::Error::new(
                    keyword.span(),
                    format!("`all`/`any` nested more than {MAX_DEPTH} deep"),
                ));
            }
            depth.set(depth.get() + 1);
            Ok(Level)
        })
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

fn parse_list(input: ParseStream<'_>) -> syn::Result<Vec<Requirement>> {
    let list = Punctuated::<Requirement, Token![,]>::parse_terminated(input)?;
    Ok(list.into_iter().collect())
}

impl Parse for Requirement {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(Requirement::Scope(input.parse()?));
        }
        if input.peek(syn::Lit) {
            let lit: syn::Lit = input.parse()?;
            return Err(syn::Error::new_spanned(
                lit,
                "expected a scope as a string literal, such as `\"photos:read\"`",
            ));
        }
        if input.peek(Ident) && input.peek2(syn::token::Paren) {
            let keyword: Ident = input.parse()?;
            let level = Level::enter(&keyword)?;
            let content;
            syn::parenthesized!(content in input);
            let items = parse_list(&content)?;
            drop(level);
            let group = Group {
                keyword: keyword.span(),
                items,
            };
            return match keyword.to_string().as_str() {
                "all" => Ok(Requirement::All(group)),
                "any" => Ok(Requirement::Any(group)),
                other => Err(syn::Error::new(
                    keyword.span(),
                    format!(
                        "unknown keyword `{other}`: write `all(..)` when every scope is needed \
                         or `any(..)` when one of them is enough"
                    ),
                )),
            };
        }
        if input.peek(Ident) || input.peek(Token![::]) {
            // A constant's path has no generic arguments; parsing them, syn's type parser
            // recursed per `<` and deep nesting overflowed the stack (found by fuzzing).
            let path = input.call(syn::Path::parse_mod_style)?;
            if path.is_ident("all") || path.is_ident("any") {
                return Err(syn::Error::new_spanned(
                    &path,
                    format!(
                        "`{0}` takes its scopes in parentheses: `{0}(\"a\", \"b\")`",
                        quote!(#path)
                    ),
                ));
            }
            return Ok(Requirement::Declared(path));
        }
        let tokens: TokenStream = input.parse::<proc_macro2::TokenTree>()?.into_token_stream();
        Err(syn::Error::new_spanned(
            tokens,
            "expected a scope: a string literal such as `\"photos:read\"`, a constant declared \
             with `oauth_runtime::scopes!`, or `all(..)` / `any(..)` of them",
        ))
    }
}

impl Requirement {
    /// Every grammar, emptiness and duplicate error in the tree, combined into one so the user
    /// sees all of them in a single build.
    pub(crate) fn check(&self) -> syn::Result<()> {
        let mut errors: Option<syn::Error> = None;
        self.collect_errors(&mut |e| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        });
        errors.map_or(Ok(()), Err)
    }

    fn collect_errors(&self, push: &mut impl FnMut(syn::Error)) {
        match self {
            Requirement::Scope(lit) => {
                if let Err(invalid) = scope_grammar::check(&lit.value()) {
                    push(syn::Error::new(
                        lit.span(),
                        describe(&lit.value(), &invalid),
                    ));
                }
            }
            Requirement::Declared(_) => {}
            Requirement::All(group) | Requirement::Any(group) => {
                if group.items.is_empty() {
                    let name = if matches!(self, Requirement::All(_)) {
                        "all"
                    } else {
                        "any"
                    };
                    push(syn::Error::new(
                        group.keyword,
                        format!(
                            "`{name}()` is empty: name at least one scope, such as `{name}(\"photos:read\")`"
                        ),
                    ));
                }
                let mut seen: Vec<String> = Vec::new();
                for item in &group.items {
                    item.collect_errors(push);
                    let named = match item {
                        Requirement::Scope(lit) => Some((lit.value(), lit.span())),
                        Requirement::Declared(path) => {
                            Some((quote!(#path).to_string(), path.span()))
                        }
                        _ => None,
                    };
                    if let Some((value, span)) = named {
                        if seen.contains(&value) {
                            push(syn::Error::new(
                                span,
                                format!(
                                    "scope `{value}` is listed twice in the same requirement: remove one"
                                ),
                            ));
                        } else {
                            seen.push(value);
                        }
                    }
                }
            }
        }
    }

    /// The requirement as the attribute would spell it; used in the generated documentation.
    pub(crate) fn describe(&self) -> String {
        match self {
            Requirement::Scope(lit) => format!("`{}`", lit.value()),
            Requirement::Declared(path) => {
                format!("`{}`", quote!(#path).to_string().replace(' ', ""))
            }
            Requirement::All(g) => format!("all of ({})", describe_items(&g.items)),
            Requirement::Any(g) => format!("any of ({})", describe_items(&g.items)),
        }
    }

    /// A constant expression of type `oauth_runtime::Requirement`.
    pub(crate) fn to_runtime(&self) -> TokenStream {
        match self {
            Requirement::Scope(lit) => {
                let span = lit.span();
                quote_spanned! {span=>
                    ::oauth_runtime::Requirement::Scope(::oauth_runtime::ScopeToken::from_static(#lit))
                }
            }
            Requirement::Declared(path) => {
                let span = path.span();
                // Called as a path, so that anything but a declared scope is a type error that
                // names `DeclaredScope`.
                quote_spanned! {span=>
                    ::oauth_runtime::Requirement::Scope(::oauth_runtime::catalog::DeclaredScope::token(&#path))
                }
            }
            Requirement::All(g) => group_to_runtime(quote!(All), g),
            Requirement::Any(g) => group_to_runtime(quote!(Any), g),
        }
    }
}

fn group_to_runtime(variant: TokenStream, group: &Group) -> TokenStream {
    let items = group.items.iter().map(Requirement::to_runtime);
    quote! {
        ::oauth_runtime::Requirement::#variant(::std::borrow::Cow::Borrowed(&[#(#items),*]))
    }
}

fn describe_items(items: &[Requirement]) -> String {
    items
        .iter()
        .map(Requirement::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(value: &str, invalid: &Invalid) -> String {
    match invalid {
        Invalid::Empty => "empty scope: a scope needs at least one character, such as \
                           `\"photos:read\"`"
            .to_owned(),
        Invalid::Char { ch, index } => {
            let hint = if *ch == ' ' {
                let split: Vec<String> =
                    value.split_whitespace().map(|s| format!("{s:?}")).collect();
                format!("; list scopes as separate literals: `{}`", split.join(", "))
            } else {
                "; scopes use printable ASCII except space, `\"` and `\\` (RFC 6749 §3.3)"
                    .to_owned()
            };
            format!("invalid character {ch:?} at byte {index} of the scope{hint}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> syn::Result<Requirement> {
        let args: Args = syn::parse_str(src)?;
        args.0.check()?;
        Ok(args.0)
    }

    #[test]
    fn single_scope_is_not_wrapped() {
        assert!(matches!(
            parse(r#""photos:read""#),
            Ok(Requirement::Scope(_))
        ));
    }

    #[test]
    fn several_scopes_mean_all() {
        let r = parse(r#""a", "b""#).ok().map(|r| r.describe());
        assert_eq!(r.as_deref(), Some("all of (`a`, `b`)"));
    }

    #[test]
    fn nesting_parses() {
        let r = parse(r#"all(any("a", "b"), "c")"#)
            .ok()
            .map(|r| r.describe());
        assert_eq!(r.as_deref(), Some("all of (any of (`a`, `b`), `c`)"));
    }

    #[test]
    fn errors_are_combined() {
        let err = parse(r#""", "a b", "c", "c""#)
            .err()
            .map(|e| e.into_iter().count());
        assert_eq!(err, Some(3));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let nested = |n: usize| format!("{}\"a\"{}", "all(".repeat(n), ")".repeat(n));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let err = parse(&nested(MAX_DEPTH + 1)).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("`all`/`any` nested more than 32 deep"));
        // Found by fuzzing: 5000 levels overflowed the stack. Without the bound, 2000 overflow a
        // test thread's stack in a debug build (and parse, wrongly, in a release build); much
        // deeper and syn's own token buffer, which recurses too, overflows first.
        assert!(parse(&nested(2_000)).is_err());
        // The count is back to zero after an error, so the next attribute parses.
        assert!(parse(&nested(2)).is_ok());
    }

    #[test]
    fn declared_scope_paths_take_no_generics() {
        // Found by fuzzing: syn's type parser recursed once per `<` of a path's generic
        // arguments, and a few thousand overflowed the stack.
        let deep = format!("a{}", "<a".repeat(5_000));
        assert!(parse(&deep).is_err());
        assert!(parse("PHOTOS_READ<T>").is_err());
        for path in ["scopes::PHOTOS_READ", "::app::scopes::PHOTOS_READ"] {
            assert!(
                matches!(parse(path), Ok(Requirement::Declared(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn empty_and_unknown() {
        assert!(parse("").is_err());
        assert!(parse("any()").is_err());
        assert!(parse(r#"one_of("a")"#).is_err());
        assert!(parse("42").is_err());
        assert!(matches!(parse("PHOTOS_READ"), Ok(Requirement::Declared(_))));
        assert!(parse("PHOTOS_READ, PHOTOS_READ").is_err());
        assert!(parse(r#""a", color = "red""#).is_err());
    }
}
