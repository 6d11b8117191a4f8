//! HTTP plumbing shared by every route: client connections and their bounds, request ids and
//! the boundary log, JSON bodies with our error shape, client addresses, authentication and rate
//! limits.

pub mod auth;
pub mod client_ip;
pub mod connections;
mod error_map;
pub mod forward;
pub mod json;
pub mod rate_limit;
pub mod refresh_cookie;
pub mod request_id;
mod stream_log;
