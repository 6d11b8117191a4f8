//! File-system steps of a build: measuring a tree, sealing it (root-owned, read-only to
//! others, no special files) and moving it into place atomically. A tree a build wrote is
//! walked iteratively and refused past [`MAX_DEPTH`] levels, so no tree can exhaust a stack.

use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::Path;

/// Deepest directory nesting an environment may have (npm and pip trees stay far below).
pub const MAX_DEPTH: usize = 64;

/// Bytes of regular files under `dir`, not following symlinks. The message of an `Err` holds
/// no path.
pub fn tree_size(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    walk(dir, &mut |_, meta| {
        if meta.is_file() {
            total += meta.len();
        }
        Ok(())
    })
    .map_err(|e| format!("measuring the environment: {e}"))?;
    Ok(total)
}

/// Root-owned, directories 0755, files 0644 (0755 if executable), no special files.
pub fn seal(dir: &Path) -> std::io::Result<()> {
    let privileged = nix::unistd::geteuid().is_root();
    walk(dir, &mut |path, meta| {
        let ft = meta.file_type();
        if privileged {
            lchown(path, Some(0), Some(0))?;
        }
        if ft.is_symlink() {
            return Ok(());
        }
        let mode = if ft.is_dir() || meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else if ft.is_file() {
            0o644
        } else {
            // FIFOs, sockets, devices: nothing an environment needs.
            return std::fs::remove_file(path);
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    })
}

/// Visits `dir` and everything under it, parents before children, iteratively (an explicit
/// stack, never recursion); a tree deeper than [`MAX_DEPTH`] is an error.
fn walk(
    dir: &Path,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((path, depth)) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        visit(&path, &meta)?;
        if !meta.is_dir() {
            continue;
        }
        if depth >= MAX_DEPTH {
            return Err(std::io::Error::other(format!(
                "directories nested deeper than {MAX_DEPTH} levels"
            )));
        }
        for entry in std::fs::read_dir(&path)? {
            stack.push((entry?.path(), depth + 1));
        }
    }
    Ok(())
}

/// Moves the sealed tree to `final_dir`: a rename, or a copy then a rename across file
/// systems (a build's output is its own tmpfs: always copied, which also leaves behind any
/// extended attribute or ACL the build set), so `final_dir` appears whole or not at all.
pub fn install(from: &Path, root: &Path, final_dir: &Path) -> Result<(), String> {
    match std::fs::rename(from, final_dir) {
        Ok(()) => return Ok(()),
        Err(_) if final_dir.is_dir() => return Ok(()),
        // Another file system, or the build's own tmpfs (a mount point): copy.
        Err(e) if matches!(e.raw_os_error(), Some(nix::libc::EXDEV | nix::libc::EBUSY)) => {}
        Err(e) => return Err(format!("installing the environment: {e}")),
    }
    let staging = root.join(format!(".tmp-{}", uuid::Uuid::now_v7().simple()));
    let copied = copy_tree(from, &staging).and_then(|()| std::fs::rename(&staging, final_dir));
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        if final_dir.is_dir() {
            return Ok(());
        }
        return Err(format!("installing the environment: {e}"));
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if ft.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())?;
    } else {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(root: &Path, levels: usize) {
        let mut dir = root.to_path_buf();
        for _ in 0..levels {
            dir.push("d");
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), b"12345").unwrap();
    }

    #[test]
    fn a_tree_within_the_depth_bound_is_measured() {
        let tmp = tempfile::tempdir().unwrap();
        nested(tmp.path(), MAX_DEPTH - 1);
        assert_eq!(tree_size(tmp.path()).unwrap(), 5);
    }

    #[test]
    fn a_tree_nested_past_the_bound_is_refused_without_a_path_in_the_message() {
        let tmp = tempfile::tempdir().unwrap();
        nested(tmp.path(), MAX_DEPTH + 1);
        let err = tree_size(tmp.path()).unwrap_err();
        assert!(!err.contains(&*tmp.path().to_string_lossy()), "{err}");
        assert!(seal(tmp.path()).is_err());
    }
}
