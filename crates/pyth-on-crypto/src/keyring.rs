//! Versioned server keys for secrets at rest (the key-encryption keys of `envelope`).
//!
//! On disk each version is a file `secrets-key.v<N>` (N decimal, no leading zeros) in the
//! data directory, written by `keyfile` (hex, mode 0600, `O_EXCL`). The highest version is
//! current: new secrets are wrapped under it. [`Keyring::rotate`] adds version N+1;
//! [`Keyring::retire`] deletes an old version once every data key has been re-wrapped
//! (`envelope::rewrap`). Server keys never enter the database.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CryptoError;
use crate::keyfile::{create_key_file, ensure_dir, read_key_file};

/// Length of a server key.
pub const SERVER_KEY_LEN: usize = 32;
/// File name prefix of server key files.
pub const FILE_PREFIX: &str = "secrets-key.v";

/// A 32-byte server key. Wiped on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ServerKey([u8; SERVER_KEY_LEN]);

impl ServerKey {
    /// A fresh random key.
    pub fn generate() -> ServerKey {
        let mut key = ServerKey([0; SERVER_KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut key.0);
        key
    }

    /// A key from configuration; all-zero keys are refused.
    pub fn from_bytes(bytes: [u8; SERVER_KEY_LEN]) -> Result<ServerKey, CryptoError> {
        let key = ServerKey(bytes);
        if key.0.iter().all(|&b| b == 0) {
            return Err(CryptoError::InvalidKeyring {
                reason: "a server key is all zero bytes",
            });
        }
        Ok(key)
    }

    pub(crate) fn bytes(&self) -> &[u8; SERVER_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

/// The server keys by version, and which one is current.
#[derive(Clone)]
pub struct Keyring {
    current: u32,
    keys: BTreeMap<u32, ServerKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

/// The path of version `version`'s key file in `dir`.
pub fn key_file_path(dir: &Path, version: u32) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}{version}"))
}

impl Keyring {
    /// A keyring from keys held elsewhere (configuration, tests). Versions start at 1;
    /// `current` must be one of them.
    pub fn from_keys(
        current: u32,
        keys: impl IntoIterator<Item = (u32, ServerKey)>,
    ) -> Result<Keyring, CryptoError> {
        let keys: BTreeMap<u32, ServerKey> = keys.into_iter().collect();
        if keys.contains_key(&0) {
            return Err(CryptoError::InvalidKeyring {
                reason: "key versions start at 1",
            });
        }
        if !keys.contains_key(&current) {
            return Err(CryptoError::InvalidKeyring {
                reason: "the current version is not among the keys",
            });
        }
        Ok(Keyring { current, keys })
    }

    /// Loads every `secrets-key.v<N>` in `dir` (creating `dir` with mode 0700 if needed);
    /// creates version 1 when there is none. The highest version is current.
    pub fn load_or_create(dir: &Path) -> Result<Keyring, CryptoError> {
        ensure_dir(dir)?;
        let mut keys = load_dir(dir)?;
        if keys.is_empty() {
            create_key_file(&key_file_path(dir, 1), ServerKey::generate().bytes())?;
            keys = load_dir(dir)?;
        }
        let current = *keys.keys().next_back().ok_or(CryptoError::InvalidKeyring {
            reason: "no server key could be loaded",
        })?;
        Ok(Keyring { current, keys })
    }

    /// Loads every `secrets-key.v<N>` in `dir`, never creating one (a running server reloading
    /// its keyring): an empty or unreadable directory is an error. The highest version is
    /// current.
    pub fn load(dir: &Path) -> Result<Keyring, CryptoError> {
        let keys = load_dir(dir)?;
        let current = *keys.keys().next_back().ok_or(CryptoError::InvalidKeyring {
            reason: "no server key could be loaded",
        })?;
        Ok(Keyring { current, keys })
    }

    /// The highest `secrets-key.v<N>` version in `dir`, from the file names alone: cheap
    /// enough for a running server to check before it seals, so it never seals under a key
    /// that another node has rotated away from.
    pub fn newest_version_in(dir: &Path) -> Result<Option<u32>, CryptoError> {
        let io = |source| CryptoError::KeyFileIo {
            path: dir.to_path_buf(),
            source,
        };
        let mut newest = None;
        for entry in fs::read_dir(dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let version = name
                .to_str()
                .and_then(|n| n.strip_prefix(FILE_PREFIX))
                .and_then(|v| v.parse::<u32>().ok());
            newest = newest.max(version);
        }
        Ok(newest)
    }

    /// Adds a new random key as version (highest + 1), writes its file, makes it current and
    /// returns its version. Existing secrets still open; re-wrap them, then retire.
    pub fn rotate(&mut self, dir: &Path) -> Result<u32, CryptoError> {
        let highest = self.keys.keys().next_back().copied().unwrap_or(0);
        let version = highest.checked_add(1).ok_or(CryptoError::InvalidKeyring {
            reason: "key version overflow",
        })?;
        let key = ServerKey::generate();
        let path = key_file_path(dir, version);
        if !create_key_file(&path, key.bytes())? {
            return Err(CryptoError::KeyFileInvalid {
                path,
                reason: "already exists; reload the keyring before rotating".into(),
            });
        }
        self.keys.insert(version, key);
        self.current = version;
        Ok(version)
    }

    /// Forgets version `version` and deletes its file. The current version cannot be
    /// retired. Secrets still wrapped under it can no longer be opened.
    pub fn retire(&mut self, dir: &Path, version: u32) -> Result<(), CryptoError> {
        if version == self.current {
            return Err(CryptoError::RetireCurrentKey { version });
        }
        if !self.keys.contains_key(&version) {
            return Err(CryptoError::UnknownKeyVersion { version });
        }
        let path = key_file_path(dir, version);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err(CryptoError::KeyFileIo { path, source }),
        }
        self.keys.remove(&version);
        Ok(())
    }

    /// The version new secrets are wrapped under.
    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Every version held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    pub(crate) fn current_key(&self) -> (u32, &ServerKey) {
        let key = self
            .keys
            .get(&self.current)
            .expect("constructors and retire keep the current version in the map");
        (self.current, key)
    }

    pub(crate) fn key(&self, version: u32) -> Result<&ServerKey, CryptoError> {
        self.keys
            .get(&version)
            .ok_or(CryptoError::UnknownKeyVersion { version })
    }
}

/// Reads every server key file in `dir`.
fn load_dir(dir: &Path) -> Result<BTreeMap<u32, ServerKey>, CryptoError> {
    let io = |source| CryptoError::KeyFileIo {
        path: dir.to_path_buf(),
        source,
    };
    let mut keys = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(FILE_PREFIX)) else {
            continue;
        };
        let path = entry.path();
        let version = suffix
            .parse::<u32>()
            .ok()
            .filter(|v| *v > 0 && v.to_string() == suffix)
            .ok_or_else(|| CryptoError::KeyFileInvalid {
                path: path.clone(),
                reason: "name is not secrets-key.v<N> with N a version from 1".into(),
            })?;
        let bytes = read_key_file(&path, SERVER_KEY_LEN, true)?;
        let mut array = [0u8; SERVER_KEY_LEN];
        array.copy_from_slice(&bytes);
        keys.insert(version, ServerKey(array));
        array.zeroize();
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_fresh_directory_gets_version_one_in_a_private_file() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        // Act
        let ring = Keyring::load_or_create(dir.path()).unwrap();
        // Assert
        assert_eq!(ring.current_version(), 1);
        let path = key_file_path(dir.path(), 1);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(again.key(1).unwrap().bytes(), ring.key(1).unwrap().bytes());
    }

    #[test]
    fn rotating_adds_the_next_version_and_makes_it_current_across_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(ring.rotate(dir.path()).unwrap(), 2);
        assert_eq!(ring.current_version(), 2);
        let reloaded = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(reloaded.current_version(), 2);
        assert_eq!(reloaded.versions(), vec![1, 2]);
    }

    #[test]
    fn retiring_removes_an_old_version_but_never_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = Keyring::load_or_create(dir.path()).unwrap();
        ring.rotate(dir.path()).unwrap();
        assert!(matches!(
            ring.retire(dir.path(), 2),
            Err(CryptoError::RetireCurrentKey { version: 2 })
        ));
        ring.retire(dir.path(), 1).unwrap();
        assert_eq!(ring.versions(), vec![2]);
        assert!(!key_file_path(dir.path(), 1).exists());
        assert!(matches!(
            ring.retire(dir.path(), 1),
            Err(CryptoError::UnknownKeyVersion { version: 1 })
        ));
        assert_eq!(
            Keyring::load_or_create(dir.path()).unwrap().versions(),
            vec![2]
        );
    }

    #[rstest::rstest]
    #[case::empty("")]
    #[case::all_zero(&"00".repeat(32))]
    #[case::too_short(&"ab".repeat(31))]
    #[case::too_long(&"ab".repeat(33))]
    fn a_bad_key_file_is_refused_with_an_error_naming_it(#[case] contents: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_path(dir.path(), 3);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = Keyring::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("secrets-key.v3"), "{err}");
    }

    #[test]
    fn a_badly_numbered_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secrets-key.v01"), "ab".repeat(32)).unwrap();
        let err = Keyring::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("secrets-key.v01"), "{err}");
    }

    #[test]
    fn from_keys_requires_the_current_version_and_refuses_zero_keys() {
        assert!(Keyring::from_keys(2, [(1, ServerKey::generate())]).is_err());
        assert!(Keyring::from_keys(0, [(0, ServerKey::generate())]).is_err());
        assert!(ServerKey::from_bytes([0; 32]).is_err());
        let ring = Keyring::from_keys(1, [(1, ServerKey::from_bytes([7; 32]).unwrap())]);
        assert_eq!(ring.unwrap().current_version(), 1);
    }

    #[test]
    fn debug_output_shows_versions_but_no_key_bytes() {
        let ring = Keyring::from_keys(1, [(1, ServerKey::from_bytes([0xab; 32]).unwrap())]);
        let dbg = format!("{:?}", ring.unwrap());
        assert!(dbg.contains("current: 1") && !dbg.contains("171") && !dbg.contains("ab"));
    }
}
