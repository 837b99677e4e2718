//! Layer 1 of the crate (see its front page): the thin adapters that turn a framework's request
//! into the request path's questions and its answers into the framework's responses, each
//! behind its cargo feature.

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "rocket")]
pub mod rocket;
