//! Output files written back under `--output-dir`: a returned path is written only when it is
//! relative, has no `..` and reaches its place without passing through a symbolic link (an
//! existing link under the directory is never followed); files are created new, and replaced
//! (by a rename, which never follows a link) only with `--force`.

use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use pyth_on_types::{ExecuteResponse, FileEncoding, OutputFile};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Why one returned file was not written.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The path is empty, absolute, has `..` or a NUL.
    UnsafePath(&'static str),
    /// A directory on the way is a symbolic link, or something else than a directory.
    Blocked(String),
    /// A file is there already and `--force` was not given.
    Exists,
    /// The content is not what its encoding says.
    BadContent,
    /// Creating or writing failed.
    Io(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsafePath(why) => write!(f, "the path {why}"),
            Self::Blocked(why) => f.write_str(why),
            Self::Exists => f.write_str("it exists (--force replaces it)"),
            Self::BadContent => f.write_str("its content is not valid base64"),
            Self::Io(e) => f.write_str(e),
        }
    }
}

/// `path` as a relative path of normal components (`.` and empty ones dropped), or why it
/// may not be written under the output directory.
pub fn safe_relative(path: &str) -> Result<PathBuf, Refusal> {
    if path.contains('\0') {
        return Err(Refusal::UnsafePath("has a NUL byte"));
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => return Err(Refusal::UnsafePath("has `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(Refusal::UnsafePath("is absolute"))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Refusal::UnsafePath("is empty"));
    }
    Ok(out)
}

/// Creates the directories of `rel`'s parent under `dir`, refusing to pass through a
/// symbolic link or a non-directory; answers where the file goes.
pub fn prepare(dir: &Path, rel: &Path) -> Result<PathBuf, Refusal> {
    let mut current = dir.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for component in parent.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(meta) if meta.is_symlink() => {
                let why = format!("{} is a symbolic link", current.display());
                return Err(Refusal::Blocked(why));
            }
            Ok(_) => {
                let why = format!("{} is not a directory", current.display());
                return Err(Refusal::Blocked(why));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&current).map_err(|e| io(&current, &e))?;
            }
            Err(e) => return Err(io(&current, &e)),
        }
    }
    Ok(dir.join(rel))
}

fn io(path: &Path, err: &std::io::Error) -> Refusal {
    Refusal::Io(format!("{}: {err}", path.display()))
}

/// Writes `bytes` to `target`: a new file (`O_CREAT | O_EXCL`, which never follows a link),
/// or with `force` a new file beside it renamed over it (replacing a link, never its target).
pub fn write_new(target: &Path, bytes: &[u8], force: bool) -> Result<(), Refusal> {
    if !force {
        return create_new(target, bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Refusal::Exists,
            _ => io(target, &e),
        });
    }
    if std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
        return Err(Refusal::Blocked(format!(
            "{} is a directory",
            target.display()
        )));
    }
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let temp = target.with_file_name(format!(
        ".{name}.pyth-on-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    create_new(&temp, bytes).map_err(|e| io(&temp, &e))?;
    std::fs::rename(&temp, target).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(target, &e)
    })
}

fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// One returned file written under `dir`.
pub fn write_one(dir: &Path, file: &OutputFile, force: bool) -> Result<(), Refusal> {
    let rel = safe_relative(&file.path)?;
    let bytes = match file.encoding {
        FileEncoding::Utf8 => file.content.as_bytes().to_vec(),
        FileEncoding::Base64 => STANDARD
            .decode(&file.content)
            .map_err(|_| Refusal::BadContent)?,
    };
    let target = prepare(dir, &rel)?;
    write_new(&target, &bytes, force)
}

/// Writes the answer's files under `dir` (created if missing), warning about each one it
/// refuses, and reports how many it wrote and whether the server left some out.
pub fn write_all(dir: &Path, result: &ExecuteResponse, force: bool) -> anyhow::Result<usize> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    for file in result.files.as_deref().unwrap_or_default() {
        match write_one(dir, file, force) {
            Ok(()) => written += 1,
            Err(why) => eprintln!("pyth-on: warning: not writing {:?}: {why}", file.path),
        }
    }
    let plural = if written == 1 { "" } else { "s" };
    eprintln!("pyth-on: wrote {written} file{plural} to {}", dir.display());
    if result.files_truncated == Some(true) {
        eprintln!(
            "pyth-on: warning: the server left out matching files past its count or size bound"
        );
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(path: &str, content: &str) -> OutputFile {
        OutputFile {
            path: path.into(),
            size: content.len() as u64,
            encoding: FileEncoding::Utf8,
            content: content.into(),
        }
    }

    #[test]
    fn absolute_paths_dotdot_and_empty_paths_are_refused_and_dots_dropped() {
        for bad in [
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "",
            ".",
            "./",
            "a\0b",
        ] {
            assert!(
                matches!(safe_relative(bad), Err(Refusal::UnsafePath(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            safe_relative("./out//a.txt").unwrap(),
            Path::new("out/a.txt")
        );
        assert_eq!(safe_relative("a..b/c").unwrap(), Path::new("a..b/c"));
    }

    #[test]
    fn a_returned_file_is_written_under_the_directory_with_its_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        write_one(dir.path(), &text("out/deep/a.txt", "hi"), false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out/deep/a.txt")).unwrap(),
            "hi"
        );
        let binary = OutputFile {
            path: "b.bin".into(),
            size: 2,
            encoding: FileEncoding::Base64,
            content: STANDARD.encode([0xff, 0]),
        };
        write_one(dir.path(), &binary, false).unwrap();
        assert_eq!(std::fs::read(dir.path().join("b.bin")).unwrap(), [0xff, 0]);
    }

    #[test]
    fn a_path_escaping_the_directory_is_never_written() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        let refused = write_one(&dir, &text("../x", "escaped"), false);
        assert!(
            matches!(refused, Err(Refusal::UnsafePath(_))),
            "{refused:?}"
        );
        assert!(!root.path().join("x").exists());
    }

    #[test]
    fn existing_symlinks_under_the_directory_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let (dir, elsewhere) = (root.path().join("out"), root.path().join("elsewhere"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("sub")).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("target"), dir.join("link.txt")).unwrap();

        let through = write_one(&dir, &text("sub/a.txt", "x"), false);
        assert!(matches!(through, Err(Refusal::Blocked(_))), "{through:?}");
        let onto = write_one(&dir, &text("link.txt", "x"), false);
        assert_eq!(onto, Err(Refusal::Exists));
        assert!(!elsewhere.join("a.txt").exists() && !elsewhere.join("target").exists());

        // --force replaces the link itself with a file; its target stays untouched.
        write_one(&dir, &text("link.txt", "forced"), true).unwrap();
        assert!(!std::fs::symlink_metadata(dir.join("link.txt"))
            .unwrap()
            .is_symlink());
        assert!(!elsewhere.join("target").exists());
    }

    #[test]
    fn an_existing_file_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "old").unwrap();
        assert_eq!(
            write_one(dir.path(), &text("a.txt", "new"), false),
            Err(Refusal::Exists)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "old"
        );
        write_one(dir.path(), &text("a.txt", "new"), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
            "new"
        );
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
