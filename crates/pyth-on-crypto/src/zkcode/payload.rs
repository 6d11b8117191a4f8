//! [`ZkPayload`]: the zkcode v1 wire JSON, parsed strictly into a validated type.
//!
//! Strictness, as `docs/ZKCODE.md` demands: every key required and no other (top level and in
//! `kdf`; duplicates refused too), numbers must be JSON integers (`3.0`, `3e0` and `"3"` are
//! refused), byte fields must be canonical padded standard base64 (no whitespace, decoding
//! then re-encoding gives the input back), and lengths are exact.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

use super::params::ARGON2_VERSION;
use super::{KdfParams, ZkError, KC_LEN};

/// Payload format version.
pub const VERSION: u64 = 1;
/// AEAD name on the wire.
pub const AEAD_ALG: &str = "xchacha20poly1305-ietf";
/// KDF name on the wire.
pub const KDF_ALG: &str = "argon2id";
/// Salt length.
pub const SALT_LEN: usize = 16;
/// Nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Longest `language` value.
pub const LANGUAGE_MAX: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u64,
    alg: String,
    kdf: WireKdf,
    nonce: String,
    kc: String,
    ct: String,
    language: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireKdf {
    alg: String,
    ver: u64,
    m: u64,
    t: u64,
    p: u64,
    salt: String,
}

/// A zkcode v1 payload whose schema, bounds and lengths have all been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkPayload {
    pub(super) kdf: KdfParams,
    pub(super) salt: [u8; SALT_LEN],
    pub(super) nonce: [u8; NONCE_LEN],
    pub(super) kc: [u8; KC_LEN],
    pub(super) ct: Vec<u8>,
    pub(super) language: String,
}

fn number(value: u64, field: &str) -> Result<u32, ZkError> {
    // Anything past u32 is far outside every bound; report it as out of range.
    u32::try_from(value).map_err(|_| ZkError::invalid(format!("{field} is out of range")))
}

/// Strict standard base64 with padding: the input must be the canonical encoding.
fn decode(field: &str, text: &str) -> Result<Vec<u8>, ZkError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| ZkError::invalid(format!("{field} is not valid base64")))?;
    if STANDARD.encode(&bytes) != text {
        return Err(ZkError::invalid(format!(
            "{field} is not canonical padded base64"
        )));
    }
    Ok(bytes)
}

fn exact<const N: usize>(field: &str, text: &str) -> Result<[u8; N], ZkError> {
    decode(field, text)?
        .try_into()
        .map_err(|_| ZkError::invalid(format!("{field} must be exactly {N} bytes")))
}

pub(super) fn check_language(language: &str) -> Result<(), ZkError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-._".contains(c);
    if language.is_empty() || language.len() > LANGUAGE_MAX || !language.chars().all(ok_char) {
        return Err(ZkError::invalid(format!(
            "language must be 1 to {LANGUAGE_MAX} characters of a-z 0-9 + - . _"
        )));
    }
    Ok(())
}

impl ZkPayload {
    /// Parses and validates the wire JSON; `code_limit` is the largest accepted plaintext,
    /// in bytes (`16 < len(ct) <= 16 + code_limit`).
    pub fn from_json(bytes: &[u8], code_limit: usize) -> Result<ZkPayload, ZkError> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| ZkError::invalid(format!("schema: {e}")))?;
        if wire.v != VERSION {
            return Err(ZkError::invalid("v must be 1"));
        }
        if wire.alg != AEAD_ALG {
            return Err(ZkError::invalid(format!("alg must be {AEAD_ALG}")));
        }
        if wire.kdf.alg != KDF_ALG {
            return Err(ZkError::invalid(format!("kdf.alg must be {KDF_ALG}")));
        }
        if wire.kdf.ver != u64::from(ARGON2_VERSION) {
            return Err(ZkError::invalid("kdf.ver must be 19"));
        }
        let kdf = KdfParams {
            m: number(wire.kdf.m, "kdf.m")?,
            t: number(wire.kdf.t, "kdf.t")?,
            p: number(wire.kdf.p, "kdf.p")?,
        };
        kdf.validate()?;
        let salt = exact::<SALT_LEN>("kdf.salt", &wire.kdf.salt)?;
        let nonce = exact::<NONCE_LEN>("nonce", &wire.nonce)?;
        let kc = exact::<KC_LEN>("kc", &wire.kc)?;
        let ct = decode("ct", &wire.ct)?;
        if ct.len() <= TAG_LEN || ct.len() - TAG_LEN > code_limit {
            return Err(ZkError::invalid(format!(
                "ct must be longer than {TAG_LEN} bytes and at most {TAG_LEN} + {code_limit}"
            )));
        }
        check_language(&wire.language)?;
        Ok(ZkPayload {
            kdf,
            salt,
            nonce,
            kc,
            ct,
            language: wire.language,
        })
    }

    /// The wire JSON (keys in the order of `docs/ZKCODE.md`; integers; canonical base64).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "v": VERSION,
            "alg": AEAD_ALG,
            "kdf": {
                "alg": KDF_ALG,
                "ver": ARGON2_VERSION,
                "m": self.kdf.m,
                "t": self.kdf.t,
                "p": self.kdf.p,
                "salt": STANDARD.encode(self.salt),
            },
            "nonce": STANDARD.encode(self.nonce),
            "kc": STANDARD.encode(self.kc),
            "ct": STANDARD.encode(&self.ct),
            "language": self.language,
        })
    }

    /// The Argon2id parameters.
    pub fn kdf(&self) -> KdfParams {
        self.kdf
    }

    /// The 16-byte salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The 24-byte AEAD nonce.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The 32-byte key check.
    pub fn kc(&self) -> &[u8; KC_LEN] {
        &self.kc
    }

    /// Ciphertext with the 16-byte tag appended.
    pub fn ct(&self) -> &[u8] {
        &self.ct
    }

    /// The language the code is in (metadata, outside the ciphertext).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// Length of the plaintext the ciphertext holds.
    pub fn code_len(&self) -> usize {
        self.ct.len() - TAG_LEN
    }
}
