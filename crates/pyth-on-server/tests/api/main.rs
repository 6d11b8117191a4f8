//! End-to-end tests of the HTTP API: a real server on a loopback port, real SQLite (and
//! PostgreSQL where named), the real sandbox, driven through the typed client.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod accounts;
mod audit;
mod auth;
mod connections;
mod console;
mod egress;
mod errors;
mod execute;
mod fairness;
mod files;
mod generate;
mod keys;
mod node_process;
mod openapi;
mod outage;
mod own_account;
mod package_builds;
mod package_index;
mod packages;
mod placement;
mod postgres;
mod proxy;
mod quota_support;
mod quotas;
mod quotas_across_nodes;
mod run_record;
mod secrets;
mod session_ends;
mod session_files;
mod session_interrupt;
mod session_support;
mod sessions;
mod sessions_across_nodes;
mod sign_out;
mod streaming;
mod support;
mod system;
mod three_nodes;
mod three_nodes_workload;
mod verify;
mod zk;
