//! Layer 2 of the crate (see its front page): what is generated from the annotations rather than
//! written beside them. The scope catalog and the RFC 9728 document, and OpenAPI (feature
//! `utoipa`); they read the vocabulary and the request path's configuration, and nothing reads
//! them but the adapters and the development server.

pub mod catalog;
#[cfg(feature = "utoipa")]
pub mod openapi;
