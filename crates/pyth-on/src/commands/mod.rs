//! One module per subcommand, each a `Cmd` with `run()`.

pub mod account;
pub mod api;
pub mod api_error;
pub mod api_keys;
pub mod bench;
pub mod completions;
pub mod credentials;
pub mod login;
pub mod run;
pub mod serve;
pub mod server_keys;
pub mod session;
pub mod users;
pub mod zk;

/// A time as the commands print it: RFC 3339 in UTC (`2026-12-06T13:45:23.803Z`), as the API
/// sends it.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
