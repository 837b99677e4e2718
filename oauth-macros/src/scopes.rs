//! `scopes!`: scope declarations, each optionally implying narrower scopes of the same block
//! (`pub PHOTOS_ADMIN = "photos:admin" => [PHOTOS_WRITE];`).
//!
//! The runtime's `scopes!` is a `macro_rules` that forwards here with its `$crate`, so that a
//! renamed runtime still names itself. A proc macro, and not the `macro_rules` alone, because the
//! hierarchy is checked here, where the whole block is in view: a name that is not declared in
//! the block and a cycle are errors on the very name that is wrong, saying what to write. In a
//! `macro_rules`, the implied scopes would have to be the constants themselves, and a cycle then
//! is rustc's "cycle detected when const-evaluating", which says nothing of scopes.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote_spanned;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Token, Visibility};

/// The block as the runtime's `macro_rules` hands it over: `$crate ; declarations`.
pub(crate) struct Block {
    runtime: TokenStream,
    declarations: Vec<Declaration>,
}

struct Declaration {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    scope: LitStr,
    implies: Vec<Ident>,
}

impl Parse for Block {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut runtime = TokenStream::new();
        while !input.peek(Token![;]) {
            runtime.extend([input.parse::<TokenTree>()?]);
        }
        input.parse::<Token![;]>()?;
        let mut declarations = Vec::new();
        while !input.is_empty() {
            declarations.push(input.parse()?);
        }
        Ok(Block {
            runtime,
            declarations,
        })
    }
}

impl Parse for Declaration {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let name = input.parse()?;
        input.parse::<Token![=]>()?;
        let scope = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the scope as a string literal: `pub PHOTOS_READ = \"photos:read\";`",
            )
        })?;
        let mut implies = Vec::new();
        if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            let content;
            syn::bracketed!(content in input);
            let names =
                Punctuated::<Ident, Token![,]>::parse_terminated(&content).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected the names of implied scopes of this block: `=> [PHOTOS_WRITE, \
                     PHOTOS_READ]`",
                    )
                })?;
            implies.extend(names);
        }
        input.parse::<Token![;]>()?;
        Ok(Declaration {
            attrs,
            vis,
            name,
            scope,
            implies,
        })
    }
}

/// The constants and their catalog entries, and every mistake of the hierarchy. The constants
/// are written even then, without the wrong implications, so that the only errors are the ones
/// here and not also every use of a constant.
pub(crate) fn expand(block: Block) -> TokenStream {
    let errors = check(&block).err();
    let rt = &block.runtime;
    let by_name: BTreeMap<String, &Declaration> = block
        .declarations
        .iter()
        .map(|d| (d.name.to_string(), d))
        .collect();
    let mut out = TokenStream::new();
    for d in &block.declarations {
        let Declaration {
            attrs,
            vis,
            name,
            scope,
            implies,
        } = d;
        let description: String = attrs
            .iter()
            .filter_map(doc_text)
            .map(|line| line + "\n")
            .collect();
        let implied: Vec<&LitStr> = implies
            .iter()
            .filter_map(|i| by_name.get(&i.to_string()).map(|d| &d.scope))
            .collect();
        // The literal's span, so that a scope refused when the constant is evaluated (RFC 6749
        // §3.3) is underlined where it is written.
        let span = scope.span();
        out.extend(quote_spanned! {span=>
            #(#attrs)*
            #vis const #name: #rt::catalog::DeclaredScope =
                #rt::catalog::DeclaredScope::new(#scope, #description)
                    .implying(&[#(#implied),*]);
            #rt::catalog::inventory::submit! { #name }
        });
    }
    if let Some(errors) = errors {
        out.extend(errors.to_compile_error());
    }
    out
}

fn doc_text(attr: &Attribute) -> Option<String> {
    let syn::Meta::NameValue(nv) = &attr.meta else {
        return None;
    };
    if !nv.path.is_ident("doc") {
        return None;
    }
    match &nv.value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    }
}

/// Unknown names, duplicates and cycles, all reported at once.
fn check(block: &Block) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, d) in block.declarations.iter().enumerate() {
        if index.insert(d.name.to_string(), i).is_some() {
            errors.push(syn::Error::new(
                d.name.span(),
                format!("`{}` is declared twice in this `scopes!` block", d.name),
            ));
        }
    }
    let declared: Vec<String> = block
        .declarations
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    // Edges by index; unknown names are reported and left out, so that cycles are still found.
    let mut edges: Vec<Vec<(usize, &Ident)>> = vec![Vec::new(); block.declarations.len()];
    for (i, d) in block.declarations.iter().enumerate() {
        for (k, implied) in d.implies.iter().enumerate() {
            if d.implies[..k].contains(implied) {
                errors.push(syn::Error::new(
                    implied.span(),
                    format!(
                        "`{implied}` is listed twice among the scopes `{}` implies",
                        d.name
                    ),
                ));
                continue;
            }
            match index.get(&implied.to_string()) {
                Some(&j) => edges[i].push((j, implied)),
                None => errors.push(syn::Error::new(
                    implied.span(),
                    format!(
                        "`{implied}` is not declared in this `scopes!` block; a scope can imply \
                         only scopes declared beside it (here: {}). Declare it in this block \
                         (`pub {implied} = \"..\";`) or correct the name",
                        declared.join(", ")
                    ),
                )),
            }
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<String> = cycle
            .iter()
            .map(|&(from, _)| block.declarations[from].name.to_string())
            .chain(
                cycle
                    .first()
                    .map(|&(from, _)| block.declarations[from].name.to_string()),
            )
            .collect();
        // Underline the name that closes the cycle, as written in the last declaration.
        let span = cycle
            .last()
            .map_or_else(Span::call_site, |(_, at)| at.span());
        errors.push(syn::Error::new(
            span,
            format!(
                "scope hierarchy cycle: {}. A scope implies only narrower scopes, so the \
                 hierarchy must go one way: remove one of these implications",
                names.join(" implies ")
            ),
        ));
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            first.extend(errors);
            Err(first)
        }
    }
}

/// A cycle as (declaration, the implied name written in it that leads to the next), if any.
fn find_cycle<'a>(edges: &[Vec<(usize, &'a Ident)>]) -> Option<Vec<(usize, &'a Ident)>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; edges.len()];
    // Iterative depth-first search: a block may be long, and a recursion per level is not
    // needed to find the path.
    for start in 0..edges.len() {
        if marks[start] != Mark::New {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&(to, _)) = edges[node].get(*next) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match marks[to] {
                Mark::New => {
                    marks[to] = Mark::Open;
                    path.push((to, 0));
                }
                Mark::Open => {
                    let from = path.iter().position(|&(n, _)| n == to).unwrap_or(0);
                    return Some(
                        path[from..]
                            .iter()
                            .map(|&(n, next)| (n, edges[n][next - 1].1))
                            .collect(),
                    );
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// For the tests: the block as the runtime forwards it.
#[cfg(test)]
fn parse(src: &str) -> syn::Result<Block> {
    syn::parse_str(&format!("::oauth_runtime; {src}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<String> {
        let block = parse(src).expect("parses");
        match check(&block) {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_one_way_hierarchy_is_accepted() {
        let src = r#"
            /// Everything
            pub ADMIN = "photos:admin" => [WRITE, READ];
            pub WRITE = "photos:write" => [READ];
            pub READ = "photos:read";
        "#;
        assert_eq!(errors(src), Vec::<String>::new());
        let out = expand(parse(src).expect("parses")).to_string();
        assert!(
            out.contains(r#". implying (& ["photos:write" , "photos:read"])"#),
            "{out}"
        );
    }

    #[test]
    fn an_unknown_name_says_what_is_declared() {
        let errors = errors(r#"pub ADMIN = "a" => [WRTE]; pub WRITE = "w";"#);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("`WRTE` is not declared in this `scopes!` block"));
        assert!(errors[0].contains("(here: ADMIN, WRITE)"), "{errors:?}");
    }

    #[test]
    fn a_cycle_names_its_path() {
        let errors = errors(r#"pub A = "a" => [B]; pub B = "b" => [C]; pub C = "c" => [A];"#);
        assert_eq!(
            errors,
            [
                "scope hierarchy cycle: A implies B implies C implies A. A scope implies only \
              narrower scopes, so the hierarchy must go one way: remove one of these implications"
            ]
        );
        let errors = errors_of_self();
        assert!(errors[0].contains("cycle: A implies A."), "{errors:?}");
    }

    fn errors_of_self() -> Vec<String> {
        errors(r#"pub A = "a" => [A];"#)
    }

    #[test]
    fn a_diamond_is_no_cycle() {
        let src = r#"pub A = "a" => [B, C]; pub B = "b" => [D]; pub C = "c" => [D]; pub D = "d";"#;
        assert_eq!(errors(src), Vec::<String>::new());
    }

    #[test]
    fn duplicates_are_refused() {
        let errors = errors(r#"pub A = "a" => [B, B]; pub B = "b"; pub B = "c";"#);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
