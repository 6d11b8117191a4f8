//! Input files: the payload writes them under [`WORK_DIR`](crate::files::WORK_DIR) after the release and before it
//! execs the interpreter. It runs as the run's uid, with every capability dropped and seccomp
//! in place, inside the run's mount namespace, so a write can only land where that uid could
//! write anyway; and no process of the user exists yet, so nothing can race it (no symlink can
//! have been planted in `/work`, which starts empty). Each path is checked again here
//! ([`check_relative_path`]) whatever the server checked; parents are created mode 0755, the
//! file itself `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0644 (a path given twice fails).

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::ChildError;
use crate::files::{check_relative_path, InputFile};

/// Writes every file under `root` ([`WORK_DIR`] in a run). `fsize_limit` is the run's `RLIMIT_FSIZE`: a file
/// larger than that is refused before writing (the write would otherwise raise `SIGXFSZ`).
pub(crate) fn write_all(
    root: &Path,
    files: &[InputFile],
    fsize_limit: u64,
) -> Result<(), ChildError> {
    for file in files {
        write_one(root, file, fsize_limit)?;
    }
    Ok(())
}

fn write_one(root: &Path, file: &InputFile, fsize_limit: u64) -> Result<(), ChildError> {
    let relative = check_relative_path(&file.path).map_err(|reason| ChildError::InputPath {
        path: file.path.clone(),
        reason,
    })?;
    let fail = |source: io::Error| ChildError::from_input_io(&relative, source);
    if u64::try_from(file.content.len()).unwrap_or(u64::MAX) > fsize_limit {
        return Err(fail(io::Error::from_raw_os_error(libc::EFBIG)));
    }
    let path = root.join(&relative);
    if let Some(parent) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(fail)?;
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(fail)?;
    out.write_all(&file.content).map_err(fail)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::files::INPUT_FILES_TOO_LARGE;

    fn file(path: &str, content: &[u8]) -> InputFile {
        InputFile {
            path: path.into(),
            content: content.to_vec(),
        }
    }

    #[test]
    fn files_and_their_parent_directories_are_created_with_fixed_modes() {
        let dir = tempfile::tempdir().unwrap();
        let files = [file("pkg/sub/a.py", b"x = 1\n"), file("./b.txt", b"")];
        write_all(dir.path(), &files, u64::MAX).unwrap();
        let a = dir.path().join("pkg/sub/a.py");
        assert_eq!(std::fs::read(&a).unwrap(), b"x = 1\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        // The test process's umask may clear bits, never add them.
        assert_eq!(mode(&a) | 0o644, 0o644);
        assert_eq!(mode(&dir.path().join("pkg/sub")) | 0o755, 0o755);
        assert!(dir.path().join("b.txt").is_file());
    }

    #[test]
    fn paths_that_leave_the_directory_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["/etc/x", "../x", "a/../../x", "a\0b"] {
            let err = write_all(dir.path(), &[file(bad, b"1")], u64::MAX).unwrap_err();
            assert!(
                matches!(err, ChildError::InputPath { .. }),
                "{bad:?}: {err}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_path_given_twice_or_through_a_symlink_fails() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_all(dir.path(), &[file("a", b"1"), file("a", b"2")], u64::MAX);
        assert!(matches!(err, Err(ChildError::InputIo { .. })), "{err:?}");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let err = write_all(dir.path(), &[file("link", b"1")], u64::MAX);
        assert!(matches!(err, Err(ChildError::InputIo { .. })), "{err:?}");
    }

    #[test]
    fn a_file_over_the_size_limit_is_reported_as_not_fitting() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_all(dir.path(), &[file("big", &[0; 10])], 9).unwrap_err();
        assert!(matches!(err, ChildError::InputNoSpace { .. }), "{err}");
        assert!(err.to_string().contains(INPUT_FILES_TOO_LARGE), "{err}");
    }
}
