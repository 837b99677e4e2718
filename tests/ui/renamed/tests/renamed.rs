//! `crate = path` in a crate where `oauth_runtime` does not exist: every path of the expansion
//! must go through the given one. The runtime is a dependency here only as `renamed_runtime`.

#[test]
fn renamed_runtime() {
    trybuild::TestCases::new().pass("tests/pass/*.rs");
}
