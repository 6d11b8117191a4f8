//! File-system steps of a build: measuring a tree, sealing it (root-owned, read-only to
//! others, no special files) and moving it into place atomically.

use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::Path;

/// Bytes of regular files under `dir`, not following symlinks.
pub fn tree_size(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    walk(dir, &mut |_, meta| {
        if meta.is_file() {
            total += meta.len();
        }
        Ok(())
    })
    .map_err(|e| format!("measuring {}: {e}", dir.display()))?;
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

/// Visits `dir` and everything under it (children before the parent is chmodded is not
/// needed: we run as root or as the owner).
fn walk(
    dir: &Path,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    visit(dir, &meta)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            walk(&entry?.path(), visit)?;
        }
    }
    Ok(())
}

/// Moves the sealed tree to `final_dir`: a rename, or a copy then a rename across file
/// systems, so `final_dir` appears whole or not at all.
pub fn install(from: &Path, root: &Path, final_dir: &Path) -> Result<(), String> {
    match std::fs::rename(from, final_dir) {
        Ok(()) => return Ok(()),
        Err(_) if final_dir.is_dir() => return Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {}
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
