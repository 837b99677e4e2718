//! Layer 3 of the crate (see its front page): a request's credentials in, a decision out, still
//! without a web framework. The installed configuration ([`Authenticator`](crate::Authenticator)),
//! the `Authorization` header, the typed guard, configuration files, and the RFC 9728 link that
//! every challenge carries.

pub(crate) mod authenticator;
pub(crate) mod bearer;
pub(crate) mod config;
pub(crate) mod guard;
pub(crate) mod rejection;
pub(crate) mod resource;
