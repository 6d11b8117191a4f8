//! Fingerprints this crate's sources (`PYTH_ON_SANDBOX_SOURCES`, FNV-1a over every file of
//! `src/`, paths and contents, in path order). The runner and `libpyth_on_zygote.so` both
//! compile this crate, so a runner refuses a library built from other sources
//! (`fork_server::BUILD_MARKER`): an older library could lack an isolation step the runner's
//! own payload takes.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in &files {
        let contents = std::fs::read(file).expect("a source file is readable");
        for byte in file.to_string_lossy().bytes().chain([0]).chain(contents) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=PYTH_ON_SANDBOX_SOURCES={hash:016x}");
}

/// Every file beneath `dir`.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("src/ is readable");
    for entry in entries.map(|e| e.expect("a directory entry")) {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
