//! Phase 2: everything the attribute can know to be wrong before any code is generated.
//!
//! Every mistake is collected with the span of its token and combined into one error, so a build
//! shows all of them at once; what comes out is a [`Guard`] that [`crate::expand`] turns into code
//! without failing.

use proc_macro2::{Delimiter, Span};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitInt, LitStr};

use crate::parse::{Args, NamedArg, Term};
use crate::scope_grammar::{self, Invalid};

/// A checked attribute.
pub(crate) struct Guard {
    pub(crate) requirement: Requirement,
    /// `route = "GET /photos"`, when written; otherwise the route comes from a neighbouring route
    /// attribute, if any.
    pub(crate) route: Option<LitStr>,
    /// The path the expansion names the runtime by: `::oauth_runtime` unless `crate = ..` says
    /// otherwise.
    pub(crate) runtime: syn::Path,
    /// `acr`, `max_age` and `dpop`, when any of them is written.
    pub(crate) authentication: Option<Authentication>,
}

/// What the handler requires beyond scopes: RFC 9470 step-up (`acr`, `max_age`) and an RFC 9449
/// sender-constrained token (`dpop`).
#[derive(Default)]
pub(crate) struct Authentication {
    /// `acr = "a"` or `acr = ["a", "b"]`: one of these values.
    pub(crate) acr: Vec<LitStr>,
    /// `max_age = 300`, seconds.
    pub(crate) max_age: Option<LitInt>,
    pub(crate) dpop: bool,
}

/// A checked requirement.
pub(crate) enum Requirement {
    /// A scope literal that follows RFC 6749 §3.3.
    Scope(LitStr),
    /// A constant declared with `oauth_runtime::scopes!`, such as `PHOTOS_READ`; the compiler
    /// checks that it is one when the expansion calls `DeclaredScope::token` on it.
    Declared(syn::Path),
    All(Vec<Requirement>),
    Any(Vec<Requirement>),
}

/// Errors met so far, combined in the order found.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }
}

/// Checks the parsed attribute and function together, so that a wrong attribute on a wrong item
/// shows both mistakes.
pub(crate) fn check(
    args: syn::Result<Args>,
    function: syn::Result<ItemFn>,
) -> syn::Result<(Guard, ItemFn)> {
    let mut errors = Errors::default();
    let guard = match args {
        Ok(args) => Some(attribute(args, &mut errors)),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let function = match function {
        Ok(function) => {
            receiver(&function, &mut errors);
            Some(function)
        }
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match (errors.0, guard, function) {
        (Some(error), _, _) => Err(error),
        (None, Some(guard), Some(function)) => Ok((guard, function)),
        // Every path that leaves one of them out has pushed an error.
        (None, _, _) => Err(syn::Error::new(
            Span::call_site(),
            "#[requires_scope] could not read its arguments or the function",
        )),
    }
}

fn attribute(mut args: Args, errors: &mut Errors) -> Guard {
    // The `dpop` flag parses as a requirement (a path); lower case, so that no declared scope
    // constant, which is upper case, is taken for it.
    let mut dpop: Option<Span> = None;
    args.requirements.retain(|term| match term {
        Term::Path(path) if path.is_ident("dpop") => {
            if dpop.replace(path.span()).is_some() {
                errors.at(path.span(), "`dpop` is given twice: keep one");
            }
            false
        }
        _ => true,
    });
    // `scope = ".."` has its own error, which says where the scope goes.
    let named_scope = args
        .options
        .iter()
        .any(|o| o.name == "scope" || o.name == "scopes");
    if args.requirements.is_empty() && !named_scope {
        errors.at(
            Span::call_site(),
            "no scope given: write the scopes the handler needs, such as \
             `#[requires_scope(\"photos:read\")]`",
        );
    }
    let mut items = list(args.requirements, errors);
    let mut route: Option<LitStr> = None;
    let mut runtime: Option<syn::Path> = None;
    let mut acr: Option<Vec<LitStr>> = None;
    let mut max_age: Option<LitInt> = None;
    for option in &args.options {
        let name = option.name.to_string();
        let seen = match name.as_str() {
            "route" => route_option(option, errors).map(|r| route.replace(r).is_some()),
            "crate" => crate_option(option, errors).map(|p| runtime.replace(p).is_some()),
            "acr" => acr_option(option, errors).map(|a| acr.replace(a).is_some()),
            "max_age" => max_age_option(option, errors).map(|m| max_age.replace(m).is_some()),
            "dpop" => {
                errors.at(
                    option.name.span(),
                    "`dpop` is a flag and takes no value: write `dpop` alone, as in \
                     `#[requires_scope(\"payments:write\", dpop)]`",
                );
                None
            }
            "scope" | "scopes" => {
                errors.at(
                    option.name.span(),
                    if option.value.is_empty() {
                        "scopes take no name: write `#[requires_scope(\"photos:read\")]`".to_owned()
                    } else {
                        format!(
                            "scopes take no name: write `#[requires_scope({})]`",
                            option.value
                        )
                    },
                );
                None
            }
            _ => {
                errors.at(
                    option.name.span(),
                    format!(
                        "unknown argument `{name}`: the named arguments are \
                         `acr = \"urn:example:mfa\"`, `max_age = 300`, `route = \"GET /photos\"` \
                         and `crate = path::to::oauth_runtime`, and the flag is `dpop`"
                    ),
                );
                None
            }
        };
        if seen == Some(true) {
            errors.at(
                option.name.span(),
                format!("`{name}` is given twice: keep one"),
            );
        }
    }
    let requirement = if items.len() == 1 {
        items.remove(0)
    } else {
        Requirement::All(items)
    };
    let authentication =
        (acr.is_some() || max_age.is_some() || dpop.is_some()).then(|| Authentication {
            acr: acr.unwrap_or_default(),
            max_age,
            dpop: dpop.is_some(),
        });
    Guard {
        requirement,
        route,
        runtime: runtime.unwrap_or_else(|| syn::parse_quote!(::oauth_runtime)),
        authentication,
    }
}

/// `acr = "urn:example:mfa"` or `acr = ["urn:example:mfa", "urn:example:hwk"]` (any one of them
/// will do). The values go into a challenge's `acr_values` (RFC 9470 §3), space-separated and
/// quoted, so each is printable ASCII without space, `"` or `\`.
fn acr_option(option: &NamedArg, errors: &mut Errors) -> Option<Vec<LitStr>> {
    const FORM: &str = "`acr` takes a string, or a bracketed list of strings when any one of \
                        them will do: `acr = \"urn:example:mfa\"`, \
                        `acr = [\"urn:example:mfa\", \"urn:example:hwk\"]`";
    let values: Vec<LitStr> = if let Ok(lit) = syn::parse2::<LitStr>(option.value.clone()) {
        vec![lit]
    } else if let Ok(list) = syn::parse2::<syn::ExprArray>(option.value.clone()) {
        if list.elems.is_empty() {
            errors.push(syn::Error::new_spanned(
                &option.value,
                "`acr = []` accepts no authentication at all: name at least one value, such as \
                 `acr = [\"urn:example:mfa\"]`, or leave `acr` out",
            ));
            return None;
        }
        let mut values = Vec::new();
        let mut bad = false;
        for element in &list.elems {
            match element {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => values.push(lit.clone()),
                other => {
                    errors.push(syn::Error::new_spanned(
                        other,
                        "each `acr` value is a string literal, such as `\"urn:example:mfa\"`",
                    ));
                    bad = true;
                }
            }
        }
        if bad {
            return None;
        }
        values
    } else {
        errors.push(value_error(option, FORM));
        return None;
    };
    let mut seen: Vec<String> = Vec::new();
    let mut ok = true;
    for lit in &values {
        let value = lit.value();
        let problem = if value.is_empty() {
            Some(
                "empty `acr` value: name the authentication context class, such as \
                  `\"urn:example:mfa\"`"
                    .to_owned(),
            )
        } else if let Some((index, ch)) = value
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_graphic() && c != '"' && c != '\\'))
        {
            Some(if ch == ' ' {
                let split: Vec<String> =
                    value.split_whitespace().map(|s| format!("{s:?}")).collect();
                format!(
                    "an `acr` value has no spaces; for several accepted values, list them: \
                     `acr = [{}]`",
                    split.join(", ")
                )
            } else {
                format!(
                    "invalid character {ch:?} at byte {index} of the `acr` value: values are \
                     printable ASCII without space, `\"` and `\\` (they are sent in the \
                     challenge's `acr_values`, RFC 9470 §3)"
                )
            })
        } else if seen.contains(&value) {
            Some(format!("`acr` value `{value}` is listed twice: remove one"))
        } else {
            seen.push(value);
            None
        };
        if let Some(problem) = problem {
            errors.at(lit.span(), problem);
            ok = false;
        }
    }
    ok.then_some(values)
}

/// `max_age = 300`: whole seconds, more than zero, as an integer literal.
fn max_age_option(option: &NamedArg, errors: &mut Errors) -> Option<LitInt> {
    let lit = match syn::parse2::<syn::Lit>(option.value.clone()) {
        Ok(syn::Lit::Int(lit)) => lit,
        Ok(syn::Lit::Str(lit)) => {
            let value = lit.value();
            let hint = if value.trim().parse::<u64>().is_ok() {
                format!("`max_age = {}`", value.trim())
            } else {
                "`max_age = 300`".to_owned()
            };
            errors.at(
                lit.span(),
                format!("`max_age` takes seconds as an integer, not a string: write {hint}"),
            );
            return None;
        }
        Ok(syn::Lit::Float(lit)) => {
            errors.at(
                lit.span(),
                "`max_age` takes whole seconds: write an integer, such as `max_age = 300`",
            );
            return None;
        }
        _ => {
            errors.push(value_error(
                option,
                "`max_age` takes the greatest accepted age of the user's authentication in \
                 seconds, as an integer literal: `max_age = 300` for five minutes",
            ));
            return None;
        }
    };
    if !matches!(lit.suffix(), "" | "u64" | "u32") {
        errors.at(
            lit.span(),
            format!(
                "`max_age` is seconds as a `u64`: drop the suffix, `max_age = {}`",
                lit.base10_digits()
            ),
        );
        return None;
    }
    if lit.base10_digits().starts_with('-') {
        // The literal's own span leaves out the sign; the whole value is underlined.
        errors.push(syn::Error::new_spanned(
            &option.value,
            "`max_age` is a number of seconds, more than zero: such as `max_age = 300`",
        ));
        return None;
    }
    match lit.base10_parse::<u64>() {
        Ok(0) => {
            errors.at(
                lit.span(),
                "`max_age = 0` demands a user authentication in the very second of the \
                 request, which no user can meet: give at least 1, such as `max_age = 300`, \
                 or leave `max_age` out",
            );
            None
        }
        Ok(_) => Some(lit),
        Err(_) => {
            errors.at(
                lit.span(),
                "`max_age` does not fit in a `u64` number of seconds: give a smaller value, \
                 such as `max_age = 300`",
            );
            None
        }
    }
}

/// The valid members of a list, after reporting the invalid ones and the duplicates.
fn list(terms: Vec<Term>, errors: &mut Errors) -> Vec<Requirement> {
    let mut seen: Vec<String> = Vec::new();
    let mut items = Vec::new();
    for term in terms {
        let named = match &term {
            Term::Lit(syn::Lit::Str(lit)) => Some((lit.value(), lit.span())),
            Term::Path(path) => Some((path_text(path), path.span())),
            _ => None,
        };
        if let Some((value, span)) = named {
            if seen.contains(&value) {
                errors.at(
                    span,
                    format!("scope `{value}` is listed twice in the same requirement: remove one"),
                );
            } else {
                seen.push(value);
            }
        }
        items.extend(requirement(term, errors));
    }
    items
}

fn requirement(term: Term, errors: &mut Errors) -> Option<Requirement> {
    match term {
        Term::Lit(syn::Lit::Str(lit)) => {
            let value = lit.value();
            match scope_grammar::check(&value) {
                Ok(()) => Some(Requirement::Scope(lit)),
                Err(invalid) => {
                    errors.at(lit.span(), describe(&value, &invalid));
                    None
                }
            }
        }
        Term::Lit(lit @ (syn::Lit::ByteStr(_) | syn::Lit::CStr(_))) => {
            errors.at(
                lit.span(),
                "a scope is a plain string literal: drop the prefix, as in `\"photos:read\"`",
            );
            None
        }
        Term::Lit(lit) => {
            errors.push(syn::Error::new_spanned(
                lit,
                "expected a scope as a string literal, such as `\"photos:read\"`",
            ));
            None
        }
        Term::Path(path) => declared(path, errors),
        Term::List { keyword, items } => {
            let name = keyword.to_string();
            let empty = items.is_empty();
            let items = list(items, errors);
            let make: fn(Vec<Requirement>) -> Requirement = match name.as_str() {
                "all" => Requirement::All,
                "any" => Requirement::Any,
                _ => {
                    errors.at(keyword.span(), unknown_keyword(&name));
                    return None;
                }
            };
            if empty {
                errors.at(
                    keyword.span(),
                    format!(
                        "`{name}()` is empty: name at least one scope, such as `{name}(\"photos:read\")`"
                    ),
                );
                return None;
            }
            Some(make(items))
        }
        Term::Macro { path, bang } => {
            errors.push(syn::Error::new_spanned(
                quote!(#path #bang),
                "the attribute does not expand macros: write the scope as a literal, such as \
                 `\"photos:read\"`, or declare it once with `oauth_runtime::scopes!` and name \
                 its constant",
            ));
            None
        }
        Term::Group(group) => {
            let message = match group.delimiter() {
                Delimiter::Bracket => {
                    "list the scopes without brackets: `\"a\", \"b\"` when every one is needed, \
                     `any(\"a\", \"b\")` when one of them is enough"
                }
                _ => {
                    "a list needs its keyword: `all(\"a\", \"b\")` when every scope is needed, \
                     `any(\"a\", \"b\")` when one of them is enough"
                }
            };
            errors.at(group.span(), message);
            None
        }
    }
}

fn declared(path: syn::Path, errors: &mut Errors) -> Option<Requirement> {
    if let Some(ident) = path.get_ident() {
        let hint = match ident.to_string().as_str() {
            keyword @ ("all" | "any") => Some(format!(
                "`{keyword}` takes its scopes in parentheses: `{keyword}(\"a\", \"b\")`"
            )),
            "route" => Some("`route` needs a value: `route = \"GET /photos\"`".to_owned()),
            "acr" => Some(
                "`acr` needs a value: `acr = \"urn:example:mfa\"`, or a list of accepted \
                 values, `acr = [\"urn:example:mfa\", \"urn:example:hwk\"]`"
                    .to_owned(),
            ),
            "max_age" => Some("`max_age` needs a value in seconds: `max_age = 300`".to_owned()),
            "crate" => Some(
                "`crate` needs a value: the path of the renamed or re-exported runtime, such as \
                 `crate = my_reexport::oauth_runtime`"
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(hint) = hint {
            errors.at(ident.span(), hint);
            return None;
        }
    }
    if let Some(arguments) = path
        .segments
        .iter()
        .map(|s| &s.arguments)
        .find(|a| !a.is_none())
    {
        errors.push(syn::Error::new_spanned(
            arguments,
            "a declared scope is the path of a constant from `oauth_runtime::scopes!`, such as \
             `scopes::PHOTOS_READ`: remove the generic arguments",
        ));
        return None;
    }
    Some(Requirement::Declared(path))
}

fn unknown_keyword(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        lower @ ("all" | "any") => {
            format!("unknown keyword `{name}`: keywords are lower case, write `{lower}(..)`")
        }
        _ => format!(
            "unknown keyword `{name}`: write `all(..)` when every scope is needed or `any(..)` \
             when one of them is enough"
        ),
    }
}

/// `route = "GET /photos"`: a method in capitals, one space, and a path from its first `/`, the
/// form the catalog and the OpenAPI document match routes by.
fn route_option(option: &NamedArg, errors: &mut Errors) -> Option<LitStr> {
    let Ok(lit) = syn::parse2::<LitStr>(option.value.clone()) else {
        errors.push(value_error(
            option,
            "`route` takes a string with the method and the path: `route = \"GET /photos\"`",
        ));
        return None;
    };
    let value = lit.value();
    let problem = match value.split_once(' ') {
        None if value.starts_with('/') => Some(format!(
            "the route needs its method before the path: `route = \"GET {value}\"`"
        )),
        Some((method, path))
            if !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            if method.bytes().any(|b| b.is_ascii_lowercase()) {
                Some(format!(
                    "methods are written in capitals: `route = \"{} {path}\"`",
                    method.to_ascii_uppercase()
                ))
            } else if !path.starts_with('/') || path.contains(char::is_whitespace) {
                Some(
                    "the route's path starts with `/` and has no spaces: \
                     `route = \"GET /photos/<id>\"`"
                        .to_owned(),
                )
            } else {
                None
            }
        }
        _ => Some("write the route as a method and a path: `route = \"GET /photos\"`".to_owned()),
    };
    match problem {
        Some(problem) => {
            errors.at(lit.span(), problem);
            None
        }
        None => Some(lit),
    }
}

/// `crate = my_reexport::oauth_runtime`: a plain path, as in a `use` declaration.
fn crate_option(option: &NamedArg, errors: &mut Errors) -> Option<syn::Path> {
    if let Ok(lit) = syn::parse2::<LitStr>(option.value.clone()) {
        let hint = match lit.parse_with(syn::Path::parse_mod_style) {
            Ok(path) => format!("`crate = {}`", path_text(&path)),
            Err(_) => "`crate = my_reexport::oauth_runtime`".to_owned(),
        };
        errors.at(
            lit.span(),
            format!("`crate` takes a path, not a string: write it without quotes, {hint}"),
        );
        return None;
    }
    match syn::parse::Parser::parse2(syn::Path::parse_mod_style, option.value.clone()) {
        Ok(path) => Some(path),
        Err(_) => {
            errors.push(value_error(
                option,
                "`crate` takes the path of the renamed or re-exported runtime, such as \
                 `crate = my_reexport::oauth_runtime`",
            ));
            None
        }
    }
}

/// An error on an option's value, or on its `=` when the value is missing.
fn value_error(option: &NamedArg, message: &str) -> syn::Error {
    if option.value.is_empty() {
        syn::Error::new(option.eq.span, message)
    } else {
        syn::Error::new_spanned(&option.value, message)
    }
}

/// Handlers with `self` cannot be routed as plain functions; the guard would not help them.
fn receiver(function: &ItemFn, errors: &mut Errors) {
    if let Some(FnArg::Receiver(receiver)) = function.sig.inputs.first() {
        errors.at(
            receiver.span(),
            "#[requires_scope] protects free handler functions, not methods with `self`: \
             move the handler out of the `impl` block and pass what it needs as state",
        );
    }
}

/// A path as written, without the spaces `to_string` puts between its tokens.
pub(crate) fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
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
    use crate::expand::describe;
    use crate::parse::MAX_DEPTH;

    fn guard(src: &str) -> syn::Result<Guard> {
        let function = syn::parse_str::<ItemFn>("async fn handler() {}");
        check(syn::parse_str::<Args>(src), function).map(|(guard, _)| guard)
    }

    fn requirement(src: &str) -> Option<String> {
        guard(src).ok().map(|g| describe(&g.requirement))
    }

    fn errors(src: &str) -> Vec<String> {
        guard(src)
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn single_scope_is_not_wrapped() {
        assert!(matches!(
            guard(r#""photos:read""#).map(|g| g.requirement),
            Ok(Requirement::Scope(_))
        ));
    }

    #[test]
    fn several_scopes_mean_all() {
        assert_eq!(
            requirement(r#""a", "b""#).as_deref(),
            Some("all of (`a`, `b`)")
        );
    }

    #[test]
    fn nesting_parses() {
        assert_eq!(
            requirement(r#"all(any("a", "b"), "c")"#).as_deref(),
            Some("all of (any of (`a`, `b`), `c`)")
        );
    }

    #[test]
    fn errors_are_combined() {
        assert_eq!(errors(r#""", "a b", "c", "c""#).len(), 3);
        // Mistakes of every kind, and of the item too, in one build.
        let function = syn::parse_str::<ItemFn>("fn f(&self) {}");
        let all = check(
            syn::parse_str(r#"42, ["a"], One("b"), route = "/x""#),
            function,
        )
        .err()
        .map(|e| e.into_iter().count());
        assert_eq!(all, Some(5));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let nested = |n: usize| format!("{}\"a\"{}", "all(".repeat(n), ")".repeat(n));
        assert!(guard(&nested(MAX_DEPTH)).is_ok());
        let err = errors(&nested(MAX_DEPTH + 1));
        assert_eq!(err.len(), 1);
        assert!(
            err[0].starts_with("`all`/`any` nested more than 32 deep"),
            "{err:?}"
        );
        // Found by fuzzing: 5000 levels overflowed the stack. Without the bound, 2000 overflow a
        // test thread's stack in a debug build (and parse, wrongly, in a release build); much
        // deeper and syn's own token buffer, which recurses too, overflows first.
        assert!(guard(&nested(2_000)).is_err());
        // The count is back to zero after an error, so the next attribute parses.
        assert!(guard(&nested(2)).is_ok());
    }

    #[test]
    fn empty_and_unknown() {
        assert!(guard("").is_err());
        assert!(guard(r#"route = "GET /x""#).is_err());
        assert!(guard("any()").is_err());
        assert!(guard(r#"one_of("a")"#).is_err());
        assert!(guard("42").is_err());
        assert!(matches!(
            guard("PHOTOS_READ").map(|g| g.requirement),
            Ok(Requirement::Declared(_))
        ));
        assert!(guard("crate::scopes::PHOTOS_READ").is_ok());
        assert!(guard("PHOTOS_READ, PHOTOS_READ").is_err());
        assert!(guard(r#""a", color = "red""#).is_err());
    }

    #[test]
    fn routes_are_a_method_in_capitals_and_a_path() {
        assert!(guard(r#""a", route = "GET /photos/<id>""#).is_ok());
        assert!(guard(r#""a", route = "PROPFIND /files""#).is_ok());
        for bad in [
            "/photos",
            "get /photos",
            "GET",
            "GET photos",
            "GET /a b",
            "",
            " /x",
        ] {
            assert!(guard(&format!(r#""a", route = "{bad}""#)).is_err(), "{bad}");
        }
        assert!(guard(r#""a", route = GET"#).is_err());
        assert!(guard(r#""a", route ="#).is_err());
        assert_eq!(
            errors(r#""a", route = "GET /a", route = "GET /b""#),
            ["`route` is given twice: keep one"]
        );
    }

    #[test]
    fn crate_takes_a_path() {
        let runtime = |src: &str| guard(src).ok().map(|g| path_text(&g.runtime));
        assert_eq!(runtime(r#""a""#).as_deref(), Some("::oauth_runtime"));
        assert_eq!(
            runtime(r#""a", crate = my_reexport::oauth_runtime"#).as_deref(),
            Some("my_reexport::oauth_runtime")
        );
        assert_eq!(
            runtime(r#"crate = crate::rt, "a""#).as_deref(),
            Some("crate::rt")
        );
        assert_eq!(
            errors(r#""a", crate = "renamed_runtime""#),
            [
                "`crate` takes a path, not a string: write it without quotes, \
                 `crate = renamed_runtime`"
            ]
        );
        assert!(guard(r#""a", crate = oauth_runtime::<u8>"#).is_err());
        assert!(guard(r#""a", crate = 42"#).is_err());
        assert!(guard(r#""a", crate ="#).is_err());
        assert!(guard(r#""a", crate"#).is_err());
        assert!(guard(r#""a", crate = a, crate = b"#).is_err());
    }

    fn authentication(src: &str) -> Option<(Vec<String>, Option<u64>, bool)> {
        guard(src).ok()?.authentication.map(|a| {
            (
                a.acr.iter().map(LitStr::value).collect(),
                a.max_age.and_then(|m| m.base10_parse().ok()),
                a.dpop,
            )
        })
    }

    #[test]
    fn rfc9470_step_up_options_are_read() {
        assert_eq!(authentication(r#""a""#), None);
        assert_eq!(
            authentication(r#""payments:write", acr = "urn:example:mfa", max_age = 300"#),
            Some((vec!["urn:example:mfa".to_owned()], Some(300), false))
        );
        assert_eq!(
            authentication(r#"acr = ["urn:a", "urn:b"], "p", dpop"#),
            Some((vec!["urn:a".to_owned(), "urn:b".to_owned()], None, true))
        );
        assert_eq!(
            authentication(r#"dpop, "p""#),
            Some((Vec::new(), None, true))
        );
        assert_eq!(
            authentication(r#""p", max_age = 60u32"#),
            Some((Vec::new(), Some(60), false))
        );
        // `dpop` is the flag, not a scope: alone it leaves the handler without one.
        assert!(guard("dpop").is_err());
    }

    #[test]
    fn rfc9470_step_up_options_are_checked() {
        let one = |src: &str| {
            let errors = errors(src);
            assert_eq!(errors.len(), 1, "{src}: {errors:?}");
            errors[0].clone()
        };
        assert!(one(r#""p", acr = """#).starts_with("empty `acr` value"));
        assert!(one(r#""p", acr = []"#).starts_with("`acr = []` accepts no authentication"));
        assert_eq!(
            one(r#""p", acr = "urn:a urn:b""#),
            "an `acr` value has no spaces; for several accepted values, list them: \
             `acr = [\"urn:a\", \"urn:b\"]`"
        );
        assert!(one(r#""p", acr = "a\"b""#).starts_with("invalid character '\"'"));
        assert!(one(r#""p", acr = "é""#).starts_with("invalid character 'é'"));
        assert!(one(r#""p", acr = ["a", "a"]"#).starts_with("`acr` value `a` is listed twice"));
        assert!(one(r#""p", acr = ["a", 1]"#).starts_with("each `acr` value is a string"));
        assert!(one(r#""p", acr = urn"#).starts_with("`acr` takes a string"));
        assert!(one(r#""p", acr = 2"#).starts_with("`acr` takes a string"));
        assert!(one(r#""p", acr ="#).starts_with("`acr` takes a string"));
        assert!(one(r#""p", acr"#).starts_with("`acr` needs a value"));
        assert_eq!(
            one(r#""p", acr = "a", acr = "b""#),
            "`acr` is given twice: keep one"
        );
        assert!(one(r#""p", max_age = 0"#).starts_with("`max_age = 0` demands"));
        assert_eq!(
            one(r#""p", max_age = "300""#),
            "`max_age` takes seconds as an integer, not a string: write `max_age = 300`"
        );
        assert!(one(r#""p", max_age = 1.5"#).starts_with("`max_age` takes whole seconds"));
        assert!(one(r#""p", max_age = -5"#).starts_with("`max_age` is a number of seconds, more"));
        assert!(one(r#""p", max_age = 5 * 60"#).starts_with("`max_age` takes the greatest"));
        assert!(one(r#""p", max_age = 300i8"#).starts_with("`max_age` is seconds as a `u64`"));
        assert!(
            one(r#""p", max_age = 99999999999999999999"#).starts_with("`max_age` does not fit")
        );
        assert!(one(r#""p", max_age"#).starts_with("`max_age` needs a value"));
        assert_eq!(
            one(r#""p", max_age = 1, max_age = 2"#),
            "`max_age` is given twice: keep one"
        );
        assert_eq!(one(r#""p", dpop, dpop"#), "`dpop` is given twice: keep one");
        assert!(one(r#""p", dpop = true"#).starts_with("`dpop` is a flag and takes no value"));
        // All at once, each with its own error.
        assert_eq!(errors(r#""p", acr = "", max_age = 0, dpop = 1"#).len(), 3);
    }
}
