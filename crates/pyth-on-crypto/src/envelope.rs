//! Envelope encryption of user secrets at rest.
//!
//! Each secret version gets a fresh random 32-byte data key. The value is sealed with
//! XChaCha20-Poly1305 under the data key, with associated data
//! `PAE(["pyth-on/secret/v1", "value", owner, name, version])`; the data key is sealed under
//! the current server key with `PAE(["pyth-on/secret/v1", "data-key", key_version, owner,
//! name, version])` (owner: lowercase hyphenated UUID; numbers: decimal). Moving a row to
//! another owner, name or version, or relabelling its key version, fails authentication.
//! Rotation ([`rewrap`]) re-seals only the data key; value nonce and ciphertext stay as they
//! are.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::keyring::Keyring;
use crate::pae::pae;

const DOMAIN: &[u8] = b"pyth-on/secret/v1";
/// Nonce length (XChaCha20).
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
const DATA_KEY_LEN: usize = 32;
/// Length of [`SealedSecret::wrapped_key`]: nonce, data key, tag.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + DATA_KEY_LEN + TAG_LEN;

/// A secret value as stored: no field is sensitive on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Which server key wraps the data key.
    pub key_version: u32,
    /// `nonce (24) || ciphertext+tag (48)` of the data key under the server key.
    pub wrapped_key: Vec<u8>,
    /// Nonce (24 bytes) of the value's encryption.
    pub nonce: Vec<u8>,
    /// The value's ciphertext with its 16-byte tag appended.
    pub ciphertext: Vec<u8>,
}

fn value_aad(owner: Uuid, name: &str, version: i64) -> Vec<u8> {
    let owner = owner.hyphenated().to_string();
    let version = version.to_string();
    pae(&[
        DOMAIN,
        b"value",
        owner.as_bytes(),
        name.as_bytes(),
        version.as_bytes(),
    ])
}

fn key_aad(key_version: u32, owner: Uuid, name: &str, version: i64) -> Vec<u8> {
    let key_version = key_version.to_string();
    let owner = owner.hyphenated().to_string();
    let version = version.to_string();
    pae(&[
        DOMAIN,
        b"data-key",
        key_version.as_bytes(),
        owner.as_bytes(),
        name.as_bytes(),
        version.as_bytes(),
    ])
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

/// Seals `data_key` under the keyring's current key.
fn wrap(
    keyring: &Keyring,
    data_key: &[u8; DATA_KEY_LEN],
    owner: Uuid,
    name: &str,
    version: i64,
) -> Result<(u32, Vec<u8>), CryptoError> {
    let (key_version, server_key) = keyring.current_key();
    let cipher = XChaCha20Poly1305::new(Key::from_slice(server_key.bytes()));
    let nonce = random_nonce();
    let aad = key_aad(key_version, owner, name, version);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: data_key,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut wrapped = Vec::with_capacity(WRAPPED_KEY_LEN);
    wrapped.extend_from_slice(&nonce);
    wrapped.extend_from_slice(&ct);
    Ok((key_version, wrapped))
}

/// Opens the data key of `sealed`.
fn unwrap(
    keyring: &Keyring,
    owner: Uuid,
    name: &str,
    version: i64,
    sealed: &SealedSecret,
) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>, CryptoError> {
    if sealed.wrapped_key.len() != WRAPPED_KEY_LEN {
        return Err(CryptoError::MalformedSealedSecret {
            reason: "wrapped key has the wrong length",
        });
    }
    let server_key = keyring.key(sealed.key_version)?;
    let cipher = XChaCha20Poly1305::new(Key::from_slice(server_key.bytes()));
    let (nonce, ct) = sealed.wrapped_key.split_at(NONCE_LEN);
    let aad = key_aad(sealed.key_version, owner, name, version);
    let plain = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| CryptoError::SecretIntegrity)?,
    );
    let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    key.copy_from_slice(&plain);
    Ok(key)
}

/// Seals `value` for (`owner`, `name`, `version`) under a fresh data key wrapped by the
/// keyring's current server key.
pub fn seal_secret(
    keyring: &Keyring,
    owner: Uuid,
    name: &str,
    version: i64,
    value: &[u8],
) -> Result<SealedSecret, CryptoError> {
    let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(data_key.as_mut());
    let nonce = random_nonce();
    let aad = value_aad(owner, name, version);
    let ciphertext = XChaCha20Poly1305::new(Key::from_slice(&data_key[..]))
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: value,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let (key_version, wrapped_key) = wrap(keyring, &data_key, owner, name, version)?;
    Ok(SealedSecret {
        key_version,
        wrapped_key,
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// Opens a sealed secret; fails unless `owner`, `name` and `version` are the ones it was
/// sealed for and its server key version is still in the keyring.
pub fn open_secret(
    keyring: &Keyring,
    owner: Uuid,
    name: &str,
    version: i64,
    sealed: &SealedSecret,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.nonce.len() != NONCE_LEN {
        return Err(CryptoError::MalformedSealedSecret {
            reason: "value nonce has the wrong length",
        });
    }
    if sealed.ciphertext.len() < TAG_LEN {
        return Err(CryptoError::MalformedSealedSecret {
            reason: "value ciphertext is shorter than its tag",
        });
    }
    let data_key = unwrap(keyring, owner, name, version, sealed)?;
    let aad = value_aad(owner, name, version);
    XChaCha20Poly1305::new(Key::from_slice(&data_key[..]))
        .decrypt(
            XNonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::SecretIntegrity)
}

/// Re-wraps the data key of `sealed` under the keyring's current server key (fresh nonce).
/// The value's nonce and ciphertext are returned unchanged.
pub fn rewrap(
    keyring: &Keyring,
    owner: Uuid,
    name: &str,
    version: i64,
    sealed: &SealedSecret,
) -> Result<SealedSecret, CryptoError> {
    let data_key = unwrap(keyring, owner, name, version, sealed)?;
    let (key_version, wrapped_key) = wrap(keyring, &data_key, owner, name, version)?;
    Ok(SealedSecret {
        key_version,
        wrapped_key,
        nonce: sealed.nonce.clone(),
        ciphertext: sealed.ciphertext.clone(),
    })
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
