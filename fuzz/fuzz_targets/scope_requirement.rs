//! The macro crate's scope grammar and `#[requires_scope(..)]` argument parser. oauth-macros is
//! a proc-macro crate, which cannot export ordinary functions, so its two parser modules are
//! compiled into this target from their source files (the same files, not copies).
//!
//! Input: UTF-8 text, taken both as one scope string and as the attribute's arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../oauth-macros/src/scope_grammar.rs"]
mod scope_grammar;

#[allow(dead_code)]
#[path = "../../oauth-macros/src/requirement.rs"]
mod requirement;

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

    // What rustc hands the attribute: a token stream.
    let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() else {
        return;
    };
    let Ok(requirement::Args(requirement, route)) = syn::parse2::<requirement::Args>(tokens) else {
        return;
    };
    let checked = requirement.check();
    let described = requirement.describe();
    let expansion = requirement.to_runtime().to_string();
    if let Some(route) = route {
        let _ = route.value();
    }
    if checked.is_ok() {
        assert!(!described.is_empty());
        assert!(
            expansion.contains("oauth_runtime :: Requirement"),
            "{expansion}"
        );
    }
});
