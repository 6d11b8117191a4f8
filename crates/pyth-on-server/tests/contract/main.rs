//! The API contract, checked by tools nobody on the project wrote, against a real server on a
//! loopback port: openapi-spec-validator on the served document, and schemathesis's
//! property-based tests of every documented route. Both tools are required: a missing one fails
//! its test with the command that installs it (`.ci/run` installs both).
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod fake_llm;
mod schemathesis;
#[allow(dead_code, reason = "shared with the api tests, which use all of it")]
#[path = "../api/support.rs"]
mod support;
mod tools;
mod validator;
