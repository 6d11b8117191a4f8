//! One module per subcommand, each a `Cmd` with `run()`.

pub mod account;
pub mod api_error;
pub mod bench;
pub mod completions;
pub mod credentials;
pub mod keys;
pub mod login;
pub mod run;
pub mod serve;
pub mod session;
pub mod users;
pub mod zk;
