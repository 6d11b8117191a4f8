//! Zero-knowledge code: payloads encrypted by the client, stored opaque, decrypted only inside
//! a sandbox.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// Argon2id parameters of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KdfSummary {
    /// Memory in KiB.
    pub m: u32,
    /// Passes.
    pub t: u32,
    /// Lanes (always 1).
    pub p: u32,
}

/// The zkcode v1 payload key-derivation block (see `docs/ZKCODE.md`). Its numbers are written
/// as integers: `3.0` is refused (400 `invalid_payload`), the payload being canonical JSON.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZkKdf {
    /// `argon2id`.
    #[schema(pattern = "^argon2id$")]
    pub alg: String,
    /// 19.
    #[schema(minimum = 19, maximum = 19)]
    pub ver: u32,
    /// Memory in KiB, 19456..=262144, with `m * t >= 65536`.
    #[schema(minimum = 19456, maximum = 262144)]
    pub m: u32,
    /// Passes, 1..=10.
    #[schema(minimum = 1, maximum = 10)]
    pub t: u32,
    /// 1.
    #[schema(minimum = 1, maximum = 1)]
    pub p: u32,
    /// 16 bytes, canonical standard base64 with padding.
    #[schema(pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$")]
    pub salt: String,
}

/// A zkcode v1 payload, exactly as `docs/ZKCODE.md` defines it. The server parses it strictly.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZkPayload {
    /// 1.
    #[schema(minimum = 1, maximum = 1)]
    pub v: u32,
    /// `xchacha20poly1305-ietf`.
    #[schema(pattern = "^xchacha20poly1305-ietf$")]
    pub alg: String,
    /// Key derivation.
    pub kdf: ZkKdf,
    /// 24 bytes, canonical base64.
    #[schema(pattern = "^[A-Za-z0-9+/]{32}$")]
    pub nonce: String,
    /// 32-byte key check, canonical base64 with padding.
    #[schema(pattern = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
    pub kc: String,
    /// Ciphertext with its 16-byte tag, canonical base64 with padding: more than 16 bytes, at
    /// most 16 + the server's code limit (`--max-code-bytes`, default 524288).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4}){6,}(?:[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|[A-Za-z0-9+/][AQgw]==)?$|^(?:[A-Za-z0-9+/]{4}){5}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=$",
        max_length = 699072
    )]
    pub ct: String,
    /// `python` or `javascript` (or an alias, lower case): lets the server pick the runtime
    /// without decrypting.
    #[schema(value_type = crate::LanguageName)]
    pub language: String,
}

/// Body of `POST /api/v1/zk/encrypt` (a testing convenience: the server sees the code).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZkEncryptRequest {
    /// The source code: not empty, at most the server's code limit in bytes
    /// (`--max-code-bytes`, default 524288; larger is a 413).
    #[schema(min_length = 1, max_length = 524288)]
    pub code: String,
    /// The master password (never stored, never logged): at least 12 characters, counted
    /// after Unicode NFC normalisation (the rule of every client; opening a payload takes any
    /// non-empty password).
    #[schema(value_type = String, format = Password, min_length = 12)]
    pub master_password: Zeroizing<String>,
    /// The name the payload will be stored under (it is bound into the ciphertext).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub name: String,
    /// `python` (default) or `javascript`.
    #[serde(default)]
    #[schema(value_type = Option<crate::LanguageName>)]
    pub language: Option<String>,
}

impl std::fmt::Debug for ZkEncryptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkEncryptRequest")
            .field("name", &self.name)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// What the API says about stored encrypted code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedCodeMetadata {
    /// `^[A-Za-z0-9._-]{1,128}$`.
    pub name: String,
    /// The payload's language.
    pub language: String,
    /// Plaintext size in bytes (ciphertext minus tag).
    pub size: u64,
    /// Argon2id parameters.
    pub kdf: KdfSummary,
    /// First store.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last replacement.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `GET /api/v1/zk/code`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedCodeList {
    /// Sorted by name.
    pub items: Vec<EncryptedCodeMetadata>,
}

/// Body of `POST /api/v1/zk/execute/{name}`.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZkExecuteRequest {
    /// The master password: handed to the in-sandbox helper over a pipe, never stored or
    /// logged; not empty.
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub master_password: Zeroizing<String>,
    /// Extra packages for this run only, at most `--max-packages` (default 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub packages: Option<Vec<String>>,
    /// Standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Arguments after the script, as in `ExecuteRequest`.
    #[serde(default)]
    #[schema(max_items = 256)]
    pub args: Option<Vec<String>>,
    /// Wall-clock limit, as in `ExecuteRequest`.
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 1, maximum = 60000)]
    pub timeout_ms: Option<u64>,
    /// Memory limit, as in `ExecuteRequest` (raised to fit the key derivation when needed).
    #[serde(default, deserialize_with = "crate::number::optional_whole")]
    #[schema(minimum = 16, maximum = 2048)]
    pub memory_mb: Option<u64>,
    /// Ask for egress.
    #[serde(default)]
    pub network: Option<bool>,
    /// The secrets the run needs, by name, as in `ExecuteRequest`.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub secrets: Option<Vec<String>>,
    /// Files written under the working directory before the program starts, as in
    /// `ExecuteRequest`.
    #[serde(default)]
    pub files: Option<Vec<crate::InputFile>>,
    /// Output files to bring back, as in `ExecuteRequest`.
    #[serde(default)]
    pub output_files: Option<Vec<String>>,
}

impl std::fmt::Debug for ZkExecuteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkExecuteRequest")
            .field("master_password", &"[redacted]")
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}
