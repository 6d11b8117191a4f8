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
