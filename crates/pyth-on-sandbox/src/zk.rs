//! Zero-knowledge code: the in-sandbox decryption stage of a run (zkcode v1, `docs/ZKCODE.md`).
//!
//! When [`JobSpec::zk`](crate::protocol::JobSpec::zk) is set, the job carries no plaintext
//! code. The payload process (pid 2 of the run) decrypts it itself, **inside** the run's
//! namespaces and cgroup (the Argon2id memory, 64 MiB at the default `m`, counts against the
//! run's memory limit), **after** it dropped to the unprivileged uid, lost every capability and
//! installed seccomp: Argon2 only needs `mmap`/`munmap`/`madvise`, which the allowlist has, so
//! the untrusted payload JSON is parsed with every control already in force. Then:
//!
//! - the associated data is rebuilt from [`ZkSpec::owner`] and [`ZkSpec::name`] (the server's
//!   record), never from the payload;
//! - a wrong password (key check mismatch), a tag failure or an invalid payload end the process
//!   with [`ZkOutcome::exit_code`] **before any user code runs**; the outcome is also written to
//!   the status pipe (close-on-exec, so the user's program can never forge it) and reported as
//!   [`JobResult::zk`](crate::protocol::JobResult::zk);
//! - on success the plaintext is written to the program file through a descriptor opened by
//!   init (the file is root-owned, so the program cannot change it afterwards), then the
//!   plaintext, the key and the password are wiped and the interpreter is `execve`d, which
//!   replaces the whole address space.
//!
//! The password reaches the sandbox inside the `Job` frame on the runner's stdin pipe (never
//! argv or the environment); the supervisor moves it into the release message for pid 2 and
//! wipes its own copy once written; init's copy-on-write image of it is wiped right after
//! `clone`.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// An encrypted program and what is needed to open it. Not printed by `Debug`; the password
/// is wiped when the value is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkSpec {
    /// The zkcode v1 wire JSON, exactly as stored.
    pub payload: String,
    /// The master password, delivered in the `Job` frame over the runner's stdin pipe.
    pub password: String,
    /// The owner's user id from the server's record: lowercase hyphenated UUID.
    pub owner: String,
    /// The name the code was asked for under.
    pub name: String,
}

impl fmt::Debug for ZkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkSpec")
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("password", &format_args!("[redacted]"))
            .field("owner", &self.owner)
            .field("name", &self.name)
            .finish()
    }
}

impl Drop for ZkSpec {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// What the decryption stage of a ZK run found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkOutcome {
    /// The code decrypted and ran (its exit code is the program's).
    Decrypted,
    /// The key check did not match: wrong master password. Nothing ran.
    WrongPassword,
    /// The key check matched but the ciphertext did not authenticate against the owner and
    /// name of the request (tampered or moved payload). Nothing ran.
    Integrity,
    /// The payload (or the owner id, or the password) was malformed. Nothing ran.
    Invalid,
}

impl ZkOutcome {
    /// Exit status of the payload process when decryption failed (`None` for `Decrypted`,
    /// which execs the interpreter instead).
    pub fn exit_code(self) -> Option<i32> {
        match self {
            ZkOutcome::Decrypted => None,
            ZkOutcome::WrongPassword => Some(121),
            ZkOutcome::Integrity => Some(122),
            ZkOutcome::Invalid => Some(123),
        }
    }

    /// The word written to the status pipe.
    pub(crate) fn word(self) -> &'static str {
        match self {
            ZkOutcome::Decrypted => "decrypted",
            ZkOutcome::WrongPassword => "wrong_password",
            ZkOutcome::Integrity => "integrity",
            ZkOutcome::Invalid => "invalid",
        }
    }

    pub(crate) fn from_word(w: &str) -> Option<Self> {
        [
            ZkOutcome::Decrypted,
            ZkOutcome::WrongPassword,
            ZkOutcome::Integrity,
            ZkOutcome::Invalid,
        ]
        .into_iter()
        .find(|o| o.word() == w)
    }
}

/// Parses `zk.payload` strictly and decrypts it for `zk.owner` / `zk.name`. `code_limit` is
/// the largest plaintext accepted. Runs in the sandbox's payload process.
pub fn decrypt(zk: &ZkSpec, code_limit: usize) -> Result<Zeroizing<Vec<u8>>, ZkOutcome> {
    use pyth_on_crypto::zkcode::{self, ZkError, ZkPayload};
    let payload =
        ZkPayload::from_json(zk.payload.as_bytes(), code_limit).map_err(|_| ZkOutcome::Invalid)?;
    let owner = uuid::Uuid::parse_str(&zk.owner).map_err(|_| ZkOutcome::Invalid)?;
    // Only the canonical spelling: the aad is built from it, and the server stores it so.
    if owner.hyphenated().to_string() != zk.owner || zk.name.is_empty() {
        return Err(ZkOutcome::Invalid);
    }
    zkcode::decrypt(&payload, &zk.password, owner, &zk.name).map_err(|e| match e {
        ZkError::WrongPassword => ZkOutcome::WrongPassword,
        ZkError::Integrity => ZkOutcome::Integrity,
        _ => ZkOutcome::Invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload of the golden vector (`docs/zkcode-v1-vector.json`).
    fn golden_payload() -> String {
        let vector: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/zkcode-v1-vector.json")).unwrap();
        vector["outputs"]["payload"].to_string()
    }

    fn golden(password: &str, name: &str) -> ZkSpec {
        ZkSpec {
            payload: golden_payload(),
            password: password.into(),
            owner: "0190a6f2-5b7c-7d2e-8f00-123456789abc".into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_golden_vector_decrypts_and_failures_are_told_apart() {
        let code = decrypt(&golden("correct horse battery staple", "hello.py"), 1 << 20).unwrap();
        assert_eq!(&code[..], b"print(\"hello, zk\")\n");
        let wrong = decrypt(&golden("Correct horse battery staple", "hello.py"), 1 << 20);
        assert_eq!(wrong.unwrap_err(), ZkOutcome::WrongPassword);
        let moved = decrypt(&golden("correct horse battery staple", "other.py"), 1 << 20);
        assert_eq!(moved.unwrap_err(), ZkOutcome::Integrity);
        let mut upper = golden("correct horse battery staple", "hello.py");
        upper.owner = upper.owner.to_uppercase();
        assert_eq!(decrypt(&upper, 1 << 20).unwrap_err(), ZkOutcome::Invalid);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = format!("{:?}", golden("hunter2-secret", "hello.py"));
        assert!(
            !s.contains("hunter2-secret") && s.contains("redacted"),
            "{s}"
        );
    }

    #[test]
    fn outcome_words_round_trip_and_failures_have_distinct_exit_codes() {
        let all = [
            ZkOutcome::Decrypted,
            ZkOutcome::WrongPassword,
            ZkOutcome::Integrity,
            ZkOutcome::Invalid,
        ];
        for o in all {
            assert_eq!(ZkOutcome::from_word(o.word()), Some(o));
        }
        let codes: Vec<_> = all.iter().filter_map(|o| o.exit_code()).collect();
        assert_eq!(codes, [121, 122, 123]);
    }
}
