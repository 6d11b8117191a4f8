#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod api_key;
pub mod envelope;
pub mod error;
pub mod invitation;
pub mod jwt;
pub mod key_hash;
pub mod keyfile;
pub mod keyring;
pub mod password;
pub mod refresh;
mod token;

pub use api_key::ApiKey;
pub use envelope::{open_secret, rewrap, seal_secret, SealedSecret};
pub use error::CryptoError;
pub use invitation::InvitationCode;
pub use jwt::{Claims, IssuedToken, JwtKeys};
pub use key_hash::KeyHash;
pub use keyfile::load_or_create_secret_file;
pub use keyring::{Keyring, ServerKey};
pub use password::{dummy_verify, hash_password, verify_password};
/// The zkcode v1 payload (a crate of its own, re-exported here for the server).
pub use pyth_on_zkcode as zkcode;
pub use pyth_on_zkcode::{pae, KdfParams, MasterPassword, ZkError, ZkPayload};
pub use refresh::RefreshToken;
