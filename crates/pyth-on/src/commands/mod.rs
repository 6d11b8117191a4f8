//! One module per subcommand, each a `Cmd` with `run()`.

pub mod bench;
pub mod keys;
pub mod run;
pub mod serve;
pub mod zk;
