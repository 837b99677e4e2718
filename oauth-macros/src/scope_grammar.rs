//! RFC 6749 §3.3 scope-token grammar, checked at compile time.
//!
//! The runtime has its own copy of this rule (`ScopeToken::new`); the macro cannot depend on the
//! runtime because the runtime re-exports the macro. The rule is one line, and both copies are
//! tested against the same cases.

/// Why a string is not a scope token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    Empty,
    Char { ch: char, index: usize },
}

/// `scope-token = 1*NQCHAR`, `NQCHAR = %x21 / %x23-5B / %x5D-7E`.
pub(crate) fn check(scope: &str) -> Result<(), Invalid> {
    if scope.is_empty() {
        return Err(Invalid::Empty);
    }
    match scope
        .char_indices()
        .find(|&(_, c)| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
    {
        Some((index, ch)) => Err(Invalid::Char { ch, index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc6749_section_3_3_tokens() {
        for ok in [
            "photos:read",
            "a",
            "https://api.example.com/read",
            "!#[]~",
            "openid",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_what_rfc6749_section_3_3_excludes() {
        assert_eq!(check(""), Err(Invalid::Empty));
        assert_eq!(check("a b"), Err(Invalid::Char { ch: ' ', index: 1 }));
        assert_eq!(check("a\"b"), Err(Invalid::Char { ch: '"', index: 1 }));
        assert_eq!(check("a\\b"), Err(Invalid::Char { ch: '\\', index: 1 }));
        assert_eq!(check("é"), Err(Invalid::Char { ch: 'é', index: 0 }));
        assert_eq!(check("tab\t"), Err(Invalid::Char { ch: '\t', index: 3 }));
        assert_eq!(
            check("\x7f"),
            Err(Invalid::Char {
                ch: '\x7f',
                index: 0
            })
        );
    }
}
