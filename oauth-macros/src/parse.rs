//! Phase 1: the attribute's tokens and the annotated item, parsed into a syntax tree.
//!
//! The tree keeps what was written, common misuses included (`42`, `["a", "b"]`, `concat!(..)`,
//! `crate = "name"`), so that [`crate::check`] can report every mistake of an attribute in one
//! build, each with a hint. Only what leaves no way to go on (a missing comma, a stray `;`) is an
//! error here.

use std::cell::Cell;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, Item, ItemFn, Token};

/// The arguments of `#[requires_scope(..)]`, in the order written.
pub(crate) struct Args {
    /// The unnamed arguments: every one of them must hold.
    pub(crate) requirements: Vec<Term>,
    /// `name = value` arguments, such as `route = "GET /photos"` or `crate = renamed_runtime`.
    pub(crate) options: Vec<NamedArg>,
}

/// One requirement as written, before it is known to be valid.
pub(crate) enum Term {
    /// A scope such as `"photos:read"`, or another kind of literal by mistake (`42`).
    Lit(syn::Lit),
    /// A scope declared with `oauth_runtime::scopes!`, such as `PHOTOS_READ`; also a keyword
    /// written without its list (`any`) or a named argument without its value (`route`).
    Path(syn::Path),
    /// `all(..)`, `any(..)`, or an unknown keyword with a list (`one_of(..)`).
    List { keyword: Ident, items: Vec<Term> },
    /// A macro call such as `concat!(..)`, which an attribute's arguments do not expand.
    Macro { path: syn::Path, bang: Token![!] },
    /// A bracketed, parenthesised or braced list without a keyword: `["a", "b"]`.
    Group(Group),
}

/// `name = value`; the value's tokens are kept as written for `check` to interpret.
pub(crate) struct NamedArg {
    pub(crate) name: Ident,
    pub(crate) eq: Token![=],
    pub(crate) value: TokenStream,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut requirements = Vec::new();
        let mut options = Vec::new();
        while !input.is_empty() {
            // `parse_any`, because `crate` is a keyword.
            if input.peek(Ident::peek_any) && input.peek2(Token![=]) {
                let name = Ident::parse_any(input)?;
                let eq = input.parse()?;
                let mut value = TokenStream::new();
                while !input.is_empty() && !input.peek(Token![,]) {
                    value.extend([input.parse::<TokenTree>()?]);
                }
                options.push(NamedArg { name, eq, value });
            } else {
                requirements.push(input.parse()?);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Args {
            requirements,
            options,
        })
    }
}

impl Parse for Term {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::Lit) {
            return Ok(Term::Lit(input.parse()?));
        }
        if input.peek(Ident::peek_any) || input.peek(Token![::]) {
            // A constant's or macro's path has no generic arguments; parsing them, syn's type
            // parser recursed per `<` and deep nesting overflowed the stack (found by fuzzing).
            let path = input.call(syn::Path::parse_mod_style)?;
            if input.peek(Token![!]) {
                let bang = input.parse()?;
                // The macro's own arguments, whatever their delimiter, are not ours to read.
                input.parse::<Group>()?;
                return Ok(Term::Macro { path, bang });
            }
            if let Some(keyword) = path.get_ident().filter(|_| input.peek(syn::token::Paren)) {
                let level = Level::enter(keyword)?;
                let content;
                syn::parenthesized!(content in input);
                let items = Punctuated::<Term, Token![,]>::parse_terminated(&content)?;
                drop(level);
                return Ok(Term::List {
                    keyword: keyword.clone(),
                    items: items.into_iter().collect(),
                });
            }
            return Ok(Term::Path(path));
        }
        if let Some((TokenTree::Group(group), _)) = input.cursor().token_tree()
            && group.delimiter() != Delimiter::None
        {
            input.parse::<TokenTree>()?;
            return Ok(Term::Group(group));
        }
        let token: TokenTree = input.parse()?;
        Err(syn::Error::new_spanned(
            token,
            "expected a scope: a string literal such as `\"photos:read\"`, a constant declared \
             with `oauth_runtime::scopes!`, or `all(..)` / `any(..)` of them",
        ))
    }
}

/// Far deeper than any real requirement nests `all`/`any`. The parser recurses once per level, so
/// without a bound a pathological attribute (thousands of levels; found by fuzzing, see
/// FUZZING.md) overflowed the compiler's stack instead of getting an error.
pub(crate) const MAX_DEPTH: usize = 32;

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
                    format!(
                        "`all`/`any` nested more than {MAX_DEPTH} deep: flatten the requirement \
                         (`all(all(\"a\", \"b\"), \"c\")` is `all(\"a\", \"b\", \"c\")`)"
                    ),
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

/// The annotated item, which must be a function; whether it is one the guard can go on is
/// [`crate::check`]'s question.
pub(crate) fn function(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(function) => Ok(function),
        other => Err(syn::Error::new(
            item_keyword_span(&other),
            "#[requires_scope] goes on a request handler function, such as \
             `async fn list_photos(..)`; it cannot protect this item",
        )),
    }
}

/// The item's first token after its attributes and visibility, which is its keyword (`struct`,
/// `mod`, `const`, ...): pointing there reads better than underlining the whole item.
fn item_keyword_span(item: &Item) -> Span {
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
        other => syn::spanned::Spanned::span(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(src: &str) -> syn::Result<Args> {
        syn::parse_str(src)
    }

    #[test]
    fn keeps_misuses_for_the_checker() {
        let parsed = args(r#"42, ["a"], concat!("a", "b"), any, route, crate = "x""#)
            .expect("every form parses");
        let kinds: Vec<&str> = parsed
            .requirements
            .iter()
            .map(|t| match t {
                Term::Lit(_) => "lit",
                Term::Path(_) => "path",
                Term::List { .. } => "list",
                Term::Macro { .. } => "macro",
                Term::Group(_) => "group",
            })
            .collect();
        assert_eq!(kinds, ["lit", "group", "macro", "path", "path"]);
        assert_eq!(parsed.options.len(), 1);
        assert_eq!(parsed.options[0].name, "crate");
    }

    #[test]
    fn option_values_run_to_the_next_comma() {
        let parsed = args(r#""a", crate = ::my::runtime, route = "GET /x""#).expect("parses");
        let values: Vec<String> = parsed.options.iter().map(|o| o.value.to_string()).collect();
        assert_eq!(values, [":: my :: runtime", "\"GET /x\""]);
    }

    #[test]
    fn scope_paths_take_no_generics() {
        // Found by the scope_requirement fuzz target: syn's type parser recursed once per `<`
        // of a path's generic arguments, and a few thousand overflowed the stack.
        let deep = format!("a{}", "<a".repeat(5_000));
        assert!(args(&deep).is_err());
        assert!(args("PHOTOS_READ<T>").is_err());
        for path in ["scopes::PHOTOS_READ", "::app::scopes::PHOTOS_READ"] {
            let parsed = args(path).expect(path);
            assert!(matches!(parsed.requirements[..], [Term::Path(_)]), "{path}");
        }
    }

    #[test]
    fn a_missing_comma_stops_the_parse() {
        assert!(args(r#""a" "b""#).is_err());
        assert!(args(r#""a"; "b""#).is_err());
    }
}
