//! zkcode v1: code encrypted on the client under a key derived from a master password
//! (the format of `docs/ZKCODE.md`, implemented exactly). A crate of its own so the sandbox
//! runner, which decrypts payloads, links only this and not the server's other cryptography.
//!
//! - `params`: the Argon2id parameters and their accepted bounds.
//! - `payload`: [`ZkPayload`], the strictly parsed wire JSON.
//! - `cipher`: key derivation, the associated data, [`encrypt`] and [`decrypt`].
//! - `master_password`: [`MasterPassword`], the zeroizing holder the server deserializes.
//! - [`pae`]: PASETO pre-authentication encoding, for unambiguous associated data (also used by
//!   the secrets envelope of `pyth-on-crypto`).
//!
//! The server only ever parses and stores payloads; decryption happens in the sandbox helper.

#![forbid(unsafe_code)]

mod cipher;
mod error;
mod master_password;
pub mod pae;
mod params;
mod payload;

pub use cipher::{
    aad, check_new_master_password, decrypt, encrypt, encrypt_with, KC_LEN, KEY_LEN,
    MIN_MASTER_PASSWORD_CHARS,
};
pub use error::ZkError;
pub use master_password::MasterPassword;
pub use params::KdfParams;
pub use payload::{ZkPayload, NONCE_LEN, SALT_LEN, TAG_LEN};

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod parse_tests;
