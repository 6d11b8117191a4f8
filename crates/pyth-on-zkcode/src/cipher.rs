//! zkcode key derivation, associated data, encryption and decryption.
//!
//! `okm = Argon2id(NFC(password), salt, m, t, p = 1, len = 64, v = 0x13)`;
//! `key = okm[0..32]`, `kc = okm[32..64]`. XChaCha20-Poly1305 (IETF) under `key` with the
//! PAE associated data of [`aad`]. The derived material is wiped after use.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::payload::{check_language, NONCE_LEN, SALT_LEN};
use super::{KdfParams, ZkError, ZkPayload};
use crate::pae::pae;

/// AEAD key length (first half of the KDF output).
pub const KEY_LEN: usize = 32;
/// Key check length (second half of the KDF output).
pub const KC_LEN: usize = 32;
const OKM_LEN: usize = KEY_LEN + KC_LEN;

/// The associated data binding a payload to its parameters, owner and name:
/// `PAE(["zkcode/v1", "xchacha20poly1305-ietf", "argon2id$v=19$m=<m>,t=<t>,p=<p>",
/// <user id, lowercase hyphenated>, <name>])`.
pub fn aad(m: u32, t: u32, p: u32, user_id: Uuid, name: &str) -> Vec<u8> {
    let kdf = format!("argon2id$v=19$m={m},t={t},p={p}");
    let user = user_id.hyphenated().to_string();
    pae(&[
        b"zkcode/v1",
        b"xchacha20poly1305-ietf",
        kdf.as_bytes(),
        user.as_bytes(),
        name.as_bytes(),
    ])
}

/// The fewest characters (Unicode scalar values of its NFC form) a master password may have
/// when it encrypts: the same rule in the JavaScript and Python clients and the console.
/// Decrypting accepts any non-empty password, so payloads made before the rule still open.
pub const MIN_MASTER_PASSWORD_CHARS: usize = 12;

/// Whether `password` may encrypt a new payload ([`MIN_MASTER_PASSWORD_CHARS`]).
pub fn check_new_master_password(password: &str) -> Result<(), ZkError> {
    if password.is_empty() {
        return Err(ZkError::EmptyPassword);
    }
    if password.nfc().count() < MIN_MASTER_PASSWORD_CHARS {
        return Err(ZkError::WeakPassword);
    }
    Ok(())
}

/// Runs Argon2id over the NFC form of `password`.
pub(super) fn derive_okm(
    password: &str,
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; OKM_LEN]>, ZkError> {
    if password.is_empty() {
        return Err(ZkError::EmptyPassword);
    }
    let normalized = Zeroizing::new(password.nfc().collect::<String>());
    let argon_params =
        Params::new(params.m, params.t, params.p, Some(OKM_LEN)).map_err(ZkError::Kdf)?;
    let mut okm = Zeroizing::new([0u8; OKM_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(normalized.as_bytes(), salt, okm.as_mut())
        .map_err(ZkError::Kdf)?;
    Ok(okm)
}

/// Encrypts `code` with a fresh random salt and nonce.
pub fn encrypt(
    code: &[u8],
    password: &str,
    user_id: Uuid,
    name: &str,
    language: &str,
    params: KdfParams,
) -> Result<ZkPayload, ZkError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    encrypt_with(code, password, user_id, name, language, params, salt, nonce)
}

/// Encrypts `code` with the given salt and nonce. Only for test vectors: reusing a salt and
/// nonce with the same password breaks confidentiality.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors encrypt plus the two random inputs it fixes"
)]
pub fn encrypt_with(
    code: &[u8],
    password: &str,
    user_id: Uuid,
    name: &str,
    language: &str,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<ZkPayload, ZkError> {
    params.validate()?;
    check_language(language)?;
    if code.is_empty() {
        return Err(ZkError::invalid("code is empty"));
    }
    check_new_master_password(password)?;
    let okm = derive_okm(password, &salt, params)?;
    let (key, kc) = okm.split_at(KEY_LEN);
    let aad = aad(params.m, params.t, params.p, user_id, name);
    let ct = XChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: code,
                aad: &aad,
            },
        )
        .map_err(|_| ZkError::Encrypt)?;
    let mut kc_arr = [0u8; KC_LEN];
    kc_arr.copy_from_slice(kc);
    Ok(ZkPayload {
        kdf: params,
        salt,
        nonce,
        kc: kc_arr,
        ct,
        language: language.to_owned(),
    })
}

/// Decrypts `payload` for the owner `user_id` under `name` (both from the server's records,
/// never from the payload).
///
/// `WrongPassword` when the key check differs (compared in constant time), `Integrity` when
/// the ciphertext does not authenticate against the rebuilt associated data.
pub fn decrypt(
    payload: &ZkPayload,
    password: &str,
    user_id: Uuid,
    name: &str,
) -> Result<Zeroizing<Vec<u8>>, ZkError> {
    let params = payload.kdf;
    // The constructors already enforce this; checked again because it is cheap.
    params.validate()?;
    let okm = derive_okm(password, &payload.salt, params)?;
    let (key, kc) = okm.split_at(KEY_LEN);
    if !bool::from(kc.ct_eq(&payload.kc)) {
        return Err(ZkError::WrongPassword);
    }
    let aad = aad(params.m, params.t, params.p, user_id, name);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            XNonce::from_slice(&payload.nonce),
            Payload {
                msg: &payload.ct,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| ZkError::Integrity)
}
