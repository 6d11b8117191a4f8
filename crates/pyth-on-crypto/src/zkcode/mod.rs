//! zkcode v1: code encrypted on the client under a key derived from a master password
//! (the format of `docs/ZKCODE.md`, implemented exactly).
//!
//! - `params`: the Argon2id parameters and their accepted bounds.
//! - `payload`: [`ZkPayload`], the strictly parsed wire JSON.
//! - `cipher`: key derivation, the associated data, [`encrypt`] and [`decrypt`].
//! - `master_password`: [`MasterPassword`], the zeroizing holder the server deserializes.
//!
//! The server only ever parses and stores payloads; decryption happens in the sandbox helper.

mod cipher;
mod error;
mod master_password;
mod params;
mod payload;

pub use cipher::{aad, decrypt, encrypt, encrypt_with, KC_LEN, KEY_LEN};
pub use error::ZkError;
pub use master_password::MasterPassword;
pub use params::KdfParams;
pub use payload::{ZkPayload, NONCE_LEN, SALT_LEN, TAG_LEN};

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod parse_tests;
