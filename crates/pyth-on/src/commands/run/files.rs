//! Input files from `--file LOCAL[:REMOTE]`: a file, or a directory's files found
//! recursively (symbolic links and special files skipped), each read and sent as UTF-8 text
//! when it is that, else as base64.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use pyth_on_types::{FileEncoding, InputFile};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// `LOCAL[:REMOTE]` split: the whole argument is `LOCAL` when such a path exists (so local
/// names with a colon still work), else it is split at its last colon.
pub fn split_spec(arg: &str) -> (PathBuf, Option<String>) {
    if std::fs::symlink_metadata(arg).is_ok() {
        return (PathBuf::from(arg), None);
    }
    match arg.rsplit_once(':') {
        Some((local, remote)) if !local.is_empty() => (PathBuf::from(local), Some(remote.into())),
        _ => (PathBuf::from(arg), None),
    }
}

/// Every `--file` argument's files, in argument order (a directory's in path order).
pub fn collect(args: &[String]) -> anyhow::Result<Vec<InputFile>> {
    let mut files = Vec::new();
    for arg in args {
        let (local, remote) = split_spec(arg);
        if remote
            .as_deref()
            .is_some_and(|r| r.trim_matches('/').is_empty())
        {
            bail!("--file {arg}: the path after the colon is empty");
        }
        files.extend(
            collect_one(&local, remote.as_deref()).with_context(|| format!("--file {arg}"))?,
        );
    }
    let mut seen = BTreeSet::new();
    for file in &files {
        if !seen.insert(file.path.as_str()) {
            bail!("two --file arguments give the run the path {}", file.path);
        }
    }
    Ok(files)
}

/// The files of one argument: `local` (a named symbolic link is followed) under `remote`.
fn collect_one(local: &Path, remote: Option<&str>) -> anyhow::Result<Vec<InputFile>> {
    let meta = std::fs::metadata(local).with_context(|| format!("reading {}", local.display()))?;
    if meta.is_file() {
        let path = match remote {
            Some(r) => r.to_string(),
            None => utf8_name(local.file_name(), local)?,
        };
        return Ok(vec![read_file(local, path)?]);
    }
    if !meta.is_dir() {
        bail!("{} is neither a file nor a directory", local.display());
    }
    let mut found = Vec::new();
    walk(local, "", &mut found)?;
    if found.is_empty() {
        eprintln!("pyth-on: warning: {} holds no files", local.display());
    }
    let prefix = remote.map(|r| r.trim_end_matches('/'));
    found
        .into_iter()
        .map(|(rel, full)| {
            let path = match prefix {
                Some(p) => format!("{p}/{rel}"),
                None => rel,
            };
            read_file(&full, path)
        })
        .collect()
}

/// The regular files under `dir` as (path relative to the walk's root, local path), in name
/// order; symbolic links and special files are skipped with a warning.
pub fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let full = entry.path();
        let name = utf8_name(Some(&entry.file_name()), &full)?;
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", full.display()))?;
        if kind.is_dir() {
            walk(&full, &child, out)?;
        } else if kind.is_file() {
            out.push((child, full));
        } else {
            let what = if kind.is_symlink() {
                "symbolic link"
            } else {
                "special file"
            };
            eprintln!("pyth-on: skipping the {what} {}", full.display());
        }
    }
    Ok(())
}

fn utf8_name(name: Option<&std::ffi::OsStr>, full: &Path) -> anyhow::Result<String> {
    match name.and_then(std::ffi::OsStr::to_str) {
        Some(n) => Ok(n.to_string()),
        None => bail!("{}: the name is not UTF-8", full.display()),
    }
}

/// `local`'s content as the run's file `path`.
fn read_file(local: &Path, path: String) -> anyhow::Result<InputFile> {
    let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
    Ok(encode_file(path, bytes))
}

/// `bytes` as an input file: UTF-8 text as itself, anything else as base64.
pub fn encode_file(path: String, bytes: Vec<u8>) -> InputFile {
    match String::from_utf8(bytes) {
        Ok(content) => InputFile {
            path,
            content,
            encoding: FileEncoding::Utf8,
        },
        Err(e) => InputFile {
            path,
            content: STANDARD.encode(e.as_bytes()),
            encoding: FileEncoding::Base64,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(files: &[InputFile]) -> Vec<&str> {
        files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn a_directory_gives_its_files_recursively_relative_to_it_without_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(app.join("pkg/sub")).unwrap();
        std::fs::write(app.join("main.py"), "import pkg\n").unwrap();
        std::fs::write(app.join("pkg/__init__.py"), "").unwrap();
        std::fs::write(app.join("pkg/sub/data.bin"), [0xff, 0x00, 0x10]).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), app.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(dir.path(), app.join("up")).unwrap();

        let files = collect(&[app.display().to_string()]).unwrap();
        assert_eq!(
            paths(&files),
            ["main.py", "pkg/__init__.py", "pkg/sub/data.bin"]
        );
        assert_eq!(files[0].encoding, FileEncoding::Utf8);
        assert_eq!(files[0].content, "import pkg\n");
        assert_eq!(files[2].encoding, FileEncoding::Base64);
        assert_eq!(
            STANDARD.decode(&files[2].content).unwrap(),
            [0xff, 0x00, 0x10]
        );

        let under = collect(&[format!("{}:lib/", app.display())]).unwrap();
        assert_eq!(under[0].path, "lib/main.py");
    }

    #[test]
    fn a_file_goes_by_its_name_or_the_path_after_the_colon() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.csv");
        std::fs::write(&file, "a,b\n").unwrap();
        let local = file.display().to_string();
        let files = collect(std::slice::from_ref(&local)).unwrap();
        assert_eq!(paths(&files), ["data.csv"]);
        let files = collect(&[format!("{local}:in/table.csv")]).unwrap();
        assert_eq!(paths(&files), ["in/table.csv"]);
    }

    #[test]
    fn a_local_name_with_a_colon_is_split_only_when_the_whole_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a:b.txt");
        std::fs::write(&odd, "x").unwrap();
        let whole = odd.display().to_string();
        assert_eq!(split_spec(&whole), (odd.clone(), None));
        let (local, remote) = split_spec(&format!("{whole}:c.txt"));
        assert_eq!((local, remote.as_deref()), (odd, Some("c.txt")));
    }

    #[test]
    fn the_same_remote_path_twice_a_missing_file_and_an_empty_remote_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.py");
        std::fs::write(&file, "").unwrap();
        let local = file.display().to_string();
        let twice = collect(&[local.clone(), format!("{local}:a.py")]).unwrap_err();
        assert!(twice.to_string().contains("a.py"), "{twice}");
        let missing = collect(&[dir.path().join("nope").display().to_string()]).unwrap_err();
        assert!(format!("{missing:#}").contains("nope"), "{missing:#}");
        assert!(collect(&[format!("{local}:")]).is_err());
    }
}
