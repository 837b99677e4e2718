//! Compile-time behaviour of `#[requires_scope]`: what builds, and the exact error of what does
//! not. Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p oauth-ui-tests` and
//! review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
