//! What the end-to-end tests share. The tests themselves are the one test binary `e2e`
//! (`tests/e2e/main.rs`, a module per subject); their set-up lives here, in the library, so that
//! it is compiled once rather than into each test file.

pub mod support;
