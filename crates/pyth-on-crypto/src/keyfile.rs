//! Key files on disk: lowercase hex of the key bytes plus a newline, mode 0600.
//!
//! New files are written to a uniquely named temporary file opened with `O_EXCL` and mode
//! 0600, synced, then hard-linked into place (which fails instead of replacing an existing
//! file) so a crash never leaves a half-written key under the final name. Loading refuses
//! files that are readable or writable by group or others, empty, not hex, of the wrong
//! length, or all zero bytes, with an error that names the file.
//!
//! This module is the only one in the crate that touches the file system.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::CryptoError;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CryptoError + '_ {
    move |source| CryptoError::KeyFileIo {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFileInvalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CryptoError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))
}

/// Writes `key` as hex to `path`, which must not exist yet.
///
/// Returns `Ok(false)` without writing when `path` already exists.
pub(crate) fn create_key_file(path: &Path, key: &[u8]) -> Result<bool, CryptoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let mut tag = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut tag);
    let tmp: PathBuf = dir.join(format!(".{name}.{}.tmp", hex::encode(tag)));

    let mut text = Zeroizing::new(hex::encode(key));
    text.push('\n');
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            // Make the new name durable too.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Reads a key file and checks it: private mode, hex, at least `min_len` bytes (exactly
/// `min_len` when `exact`), not all zero.
pub(crate) fn read_key_file(
    path: &Path,
    min_len: usize,
    exact: bool,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(invalid(path, "not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(invalid(
            path,
            format!("mode {mode:03o} lets others read or write it; chmod 600"),
        ));
    }
    let raw = Zeroizing::new(fs::read(path).map_err(io_err(path))?);
    let text = raw.trim_ascii();
    if text.is_empty() {
        return Err(invalid(path, "empty"));
    }
    let bytes =
        Zeroizing::new(hex::decode(text).map_err(|_| invalid(path, "not a hex-encoded key"))?);
    let wrong_len = if exact {
        bytes.len() != min_len
    } else {
        bytes.len() < min_len
    };
    if wrong_len {
        let want = if exact { "exactly" } else { "at least" };
        return Err(invalid(
            path,
            format!("holds {} bytes, {want} {min_len} needed", bytes.len()),
        ));
    }
    if bytes.iter().all(|&b| b == 0) {
        return Err(invalid(path, "all zero bytes"));
    }
    Ok(bytes)
}

/// Reads the secret at `path`, or creates it with `len` fresh random bytes (mode 0600,
/// parent directories 0700) when it does not exist. Used for the JWT signing key.
///
/// An existing file must hold at least `len` bytes as hex, not all zero, and must not be
/// readable by group or others.
pub fn load_or_create_secret_file(
    path: &Path,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if len == 0 {
        return Err(invalid(path, "a secret of zero bytes was asked for"));
    }
    match fs::symlink_metadata(path) {
        Ok(_) => return read_key_file(path, len, false),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent)?;
    }
    let mut key = Zeroizing::new(vec![0u8; len]);
    rand::rngs::OsRng.fill_bytes(&mut key);
    if create_key_file(path, &key)? {
        Ok(key)
    } else {
        // Another process created it first: use theirs.
        read_key_file(path, len, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_file_is_created_private_and_read_back_identically() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/jwt.key");
        // Act
        let first = load_or_create_secret_file(&path, 32).unwrap();
        let second = load_or_create_secret_file(&path, 32).unwrap();
        // Assert
        assert_eq!(first.len(), 32);
        assert_eq!(*first, *second);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers = fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    fn write(path: &Path, contents: &str, mode: u32) {
        fs::write(path, contents).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[rstest::rstest]
    #[case::empty("", 0o600, "empty")]
    #[case::whitespace("\n", 0o600, "empty")]
    #[case::not_hex("zz", 0o600, "not a hex-encoded key")]
    #[case::short(&"ab".repeat(16), 0o600, "holds 16 bytes")]
    #[case::all_zero(&"00".repeat(32), 0o600, "all zero bytes")]
    #[case::world_readable(&"ab".repeat(32), 0o644, "chmod 600")]
    fn unusable_secret_files_are_refused_naming_the_file(
        #[case] contents: &str,
        #[case] mode: u32,
        #[case] why: &str,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.key");
        write(&path, contents, mode);
        let err = load_or_create_secret_file(&path, 32).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("jwt.key") && msg.contains(why), "{msg}");
    }

    #[test]
    fn a_longer_secret_file_is_accepted_but_a_key_file_must_be_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write(&path, &"ab".repeat(40), 0o600);
        assert_eq!(load_or_create_secret_file(&path, 32).unwrap().len(), 40);
        assert!(read_key_file(&path, 32, true).is_err());
    }

    #[test]
    fn creating_over_an_existing_file_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write(&path, "keep", 0o600);
        assert!(!create_key_file(&path, &[1; 32]).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep");
    }
}
