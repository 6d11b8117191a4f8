//! Embeds the built web console.
//!
//! `console-dist/` is the committed output of `npm run build` in `console/`; this script lists
//! its files into `$OUT_DIR/console_assets.rs` as `include_bytes!` entries, sorted by path, so
//! building the server needs neither node nor the network.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .expect("a path under console-dist")
                .to_str()
                .expect("console-dist holds UTF-8 file names")
                .replace('\\', "/");
            out.push((rel, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("console-dist");
    // A directory here makes cargo rerun this script when any file under it changes.
    println!("cargo:rerun-if-changed={}", dist.display());
    assert!(
        dist.join("index.html").is_file(),
        "{} has no index.html: run `npm ci && npm run build` in console/",
        dist.display()
    );
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut code = String::from(
        "/// Every file of the built console: path relative to `console-dist/`, and contents.\n\
         pub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in &files {
        writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("console_assets.rs"), code).expect("writing console_assets.rs");
}
