//! The Pyth-On HTTP API as a library.
//!
//! [`launch`] opens the store, loads or creates key material, finds the runtimes and serves
//! until `shutdown` resolves, letting in-flight requests finish. The `pyth-on` binary and the
//! integration tests both call it.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod allow_list;
pub mod audit;
pub mod audit_log;
pub mod caller;
pub mod clock;
pub mod console;
pub mod context;
pub mod database;
pub mod domain;
pub mod egress;
pub mod error;
pub mod execution;
pub mod generation;
pub mod health;
pub mod http;
pub mod key_owners;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod own_account;
pub mod packages;
pub mod password_pool;
pub mod placement;
pub mod quotas;
pub mod redact;
pub mod reference;
pub mod registration;
pub mod routes;
pub mod runs;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod settings_bool;
pub mod settings_error;
mod settings_validate;
pub mod startup;
pub mod state;
pub mod usage;
pub mod zk_code;

pub use settings::Settings;
pub use startup::{build_state, launch, serve};

#[cfg(test)]
mod settings_docs_tests;
