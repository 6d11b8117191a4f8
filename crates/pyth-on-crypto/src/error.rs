//! `CryptoError`: every failure of this crate except the zkcode payload (see `zkcode::ZkError`).
//!
//! Messages name files, versions and reasons, never key material, passwords, tokens or
//! plaintext, so they are safe to log.

use std::path::PathBuf;

/// Errors from password hashing, credentials, JWTs, key files and the secrets envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Argon2 refused to hash (bad parameters or an internal failure).
    #[error("password hashing failed: {0}")]
    PasswordHash(argon2::password_hash::Error),

    /// A string presented as an API key is not one (checked without any database lookup).
    #[error("malformed API key: {reason}")]
    InvalidApiKey {
        /// Which check failed.
        reason: &'static str,
    },

    /// A string presented as a refresh token is not one.
    #[error("malformed refresh token: {reason}")]
    InvalidRefreshToken {
        /// Which check failed.
        reason: &'static str,
    },

    /// The JWT signing secret is shorter than 32 bytes.
    #[error("JWT signing secret is too short: {len} bytes, at least {min} needed")]
    JwtSecretTooShort {
        /// Length given.
        len: usize,
        /// Minimum length.
        min: usize,
    },

    /// The JWT signing secret is all zero bytes (an unset default).
    #[error("JWT signing secret is all zero bytes")]
    JwtSecretAllZero,

    /// An access token lifetime outside `(0, 15 minutes]` was asked for.
    #[error("access token lifetime of {seconds} s is outside (0, {max_seconds}] s")]
    TokenLifetime {
        /// Lifetime asked for, in seconds.
        seconds: i64,
        /// Largest lifetime allowed, in seconds.
        max_seconds: i64,
    },

    /// Signing a JWT failed.
    #[error("signing the access token failed")]
    JwtSign(#[source] jsonwebtoken::errors::Error),

    /// An access token failed verification (bad signature, algorithm, claims, format).
    #[error("invalid access token: {reason}")]
    InvalidToken {
        /// Which check failed.
        reason: &'static str,
    },

    /// An access token is past its `exp`.
    #[error("access token has expired")]
    TokenExpired,

    /// Reading, writing or creating a key file or its directory failed.
    #[error("key file {path}: {source}")]
    KeyFileIo {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A key file is not usable (empty, all zero, wrong length, not hex, readable by others).
    #[error("key file {path} refused: {reason}")]
    KeyFileInvalid {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },

    /// A keyring was built with no keys, or with a current version it does not hold.
    #[error("keyring is invalid: {reason}")]
    InvalidKeyring {
        /// Why.
        reason: &'static str,
    },

    /// A sealed secret names a server key version the keyring does not hold (retired or unknown).
    #[error("server key version {version} is not in the keyring (retired or unknown)")]
    UnknownKeyVersion {
        /// The version named by the sealed secret.
        version: u32,
    },

    /// The current server key version cannot be retired.
    #[error("server key version {version} is current and cannot be retired")]
    RetireCurrentKey {
        /// The current version.
        version: u32,
    },

    /// A sealed secret has fields of the wrong shape.
    #[error("sealed secret is malformed: {reason}")]
    MalformedSealedSecret {
        /// Which field is wrong.
        reason: &'static str,
    },

    /// Authentication of a sealed secret failed: wrong owner, name or version, or tampering.
    #[error("sealed secret failed authentication (wrong owner, name, version or tampered)")]
    SecretIntegrity,

    /// The AEAD refused to encrypt (only possible for absurdly large inputs).
    #[error("encryption failed")]
    Encrypt,
}
