//! `ZkError`: why a zkcode payload was refused or did not decrypt.
//!
//! The server maps `Invalid` and `EmptyPassword` to 400, `WrongPassword` to 403
//! `zk_wrong_password` and `Integrity` to 422 `zk_integrity`. No message carries the
//! password, the key or any plaintext.

/// Errors of the zkcode payload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZkError {
    /// The payload breaks the schema, a bound or a length. The reason is meant for the client.
    #[error("invalid zkcode payload: {0}")]
    Invalid(String),

    /// The master password is empty.
    #[error("the master password is empty")]
    EmptyPassword,

    /// A new payload's master password is shorter than
    /// [`MIN_MASTER_PASSWORD_CHARS`](crate::MIN_MASTER_PASSWORD_CHARS) characters (old payloads
    /// still open with theirs).
    #[error(
        "the master password must be at least {} characters",
        crate::MIN_MASTER_PASSWORD_CHARS
    )]
    WeakPassword,

    /// The derived key check does not match: wrong master password.
    #[error("wrong master password")]
    WrongPassword,

    /// The key check matched but the ciphertext did not authenticate: the payload was changed
    /// or is presented under another user or name.
    #[error("zkcode payload failed its integrity check")]
    Integrity,

    /// Argon2 refused to run.
    #[error("key derivation failed")]
    Kdf(#[source] argon2::Error),

    /// The AEAD refused to encrypt (only possible for absurdly large inputs).
    #[error("encryption failed")]
    Encrypt,
}

impl ZkError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        ZkError::Invalid(reason.into())
    }
}
