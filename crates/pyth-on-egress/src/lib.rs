#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod body;
pub mod classify;
pub mod head;
pub mod listener;
pub mod meter;
pub mod policy;
pub mod proxy;

pub use listener::{prepare_dir, ListenerError, RunListener};
pub use meter::{Bounds, ByteBudget, Cut, EgressStats};
pub use policy::{parse_patterns, HostPattern, Policy, PolicyError, Refusal};
pub use proxy::RunProxy;
