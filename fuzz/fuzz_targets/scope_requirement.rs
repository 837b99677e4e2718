//! The macro crate's scope grammar and `#[requires_scope(..)]` argument parser. oauth-macros is
//! a proc-macro crate, which cannot export ordinary functions, so its two parser modules are
//! compiled into this target from their source files (the same files, not copies).
//!
//! Input: UTF-8 text, taken both as one scope string and as the attribute's arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The macro crate's modules, under the names they have there (they refer to each other as
// `crate::parse`, `crate::check`, ...).
#[allow(dead_code)]
#[path = "../../oauth-macros/src/scope_grammar.rs"]
mod scope_grammar;

#[allow(dead_code)]
#[path = "../../oauth-macros/src/parse.rs"]
mod parse;

#[allow(dead_code)]
#[path = "../../oauth-macros/src/check.rs"]
mod check;

#[allow(dead_code)]
#[path = "../../oauth-macros/src/route.rs"]
mod route;

#[allow(dead_code)]
#[path = "../../oauth-macros/src/expand.rs"]
mod expand;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The macro's copy of the RFC 6749 §3.3 rule must agree with the runtime's.
    let in_macro = scope_grammar::check(text);
    let in_runtime = oauth_runtime::ScopeToken::new(text.to_owned());
    assert_eq!(
        in_macro.is_ok(),
        in_runtime.is_ok(),
        "the grammars disagree on {text:?}: {in_macro:?}"
    );
    if let Err(scope_grammar::Invalid::Char { ch, index }) = in_macro {
        assert_eq!(text[index..].chars().next(), Some(ch));
    }

    // What rustc hands the attribute: a token stream, above a plain handler. The whole
    // pipeline of the macro runs: parse, check (every error collected), expand.
    let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() else {
        return;
    };
    let args = syn::parse2::<parse::Args>(tokens);
    let function = parse::function(quote::quote! { async fn handler() {} });
    if let Ok((guard, function)) = check::check(args, function) {
        let expansion = expand::expand(&guard, function).to_string();
        assert!(expansion.contains("Requirement"), "{expansion}");
    }
});
