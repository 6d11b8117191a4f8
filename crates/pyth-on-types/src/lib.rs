//! Wire types of the Pyth-On HTTP API: request and response bodies and the error envelope.
//!
//! These types are shared by the server, the typed client and the CLI. They carry no I/O and
//! no validation beyond their shape: the server parses them into domain types at the edge.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod egress;
pub mod error;
pub mod execute;
pub mod generate;
pub mod number;
pub mod packages;
pub mod quotas;
pub mod secrets;
pub mod sessions;
pub mod system;
pub mod zk;

pub use accounts::*;
pub use audit::*;
pub use auth::*;
pub use egress::*;
pub use error::*;
pub use execute::*;
pub use generate::*;
pub use packages::*;
pub use quotas::*;
pub use secrets::*;
pub use sessions::*;
pub use system::*;
pub use zk::*;
