//! The end-to-end tests, one module per subject, in one test binary: each test binary links the
//! whole stack (both frameworks, the examples, the development server), so twelve of them cost
//! twelve links and their disk. The shared set-up lives in the crate's library (`oauth_e2e`).
//!
//! Every test here runs in one process, in parallel with the others: a test must leave no
//! process-wide trace (a global `tracing` subscriber, environment variables, a panic hook, a
//! fixed port, a shared file name). `logging` captures with a thread-scoped subscriber for
//! that reason.

mod bound_tokens;
mod browser;
mod catalog;
mod conformance;
mod demo_client;
mod dev_server;
mod dev_server_abuse;
mod dpop;
mod dpop_jkt;
mod dpop_nonce;
mod extractors;
mod four_roles;
mod hostile_tokens;
mod issuers;
mod logging;
mod mcp_dev_server;
mod mcp_example;
mod mcp_interop;
mod metrics;
mod photos_api;
mod redis_replay;
mod remote_keys;
mod rocket_guards;
mod scope_hierarchy;
mod step_up;
mod step_up_loop;
