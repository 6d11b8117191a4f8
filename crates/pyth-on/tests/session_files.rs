//! `pyth-on session files` against a real `pyth-on serve` and a real session: files put into
//! the session's working directory, read by its cells, listed, fetched back and removed; a
//! fetch never replaces a local file without `--force` and never writes outside its target.
#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod common;

use common::server::{server, text};
use pyth_on_types::SessionFileList;

/// The uids this file's servers run sessions under start here.
const UIDS: u32 = 1_790_000_000;

#[tokio::test]
async fn a_file_put_into_a_session_is_read_by_its_cells_listed_fetched_and_removed() {
    let server = server(UIDS, "session").await;
    let work = server.work("round-trip");
    let id = server.new_session(&[]);
    std::fs::write(work.join("data.csv"), "a,b\n1,2\n").unwrap();

    let put = server.ok(&work, &["files", &id, "put", "data.csv"]);
    assert_eq!(put, "data.csv\t8 bytes\n");
    server.ok(
        &work,
        &["files", &id, "put", "data.csv", "in put/my data.csv"],
    );
    let cell = "print(open('in put/my data.csv').read().upper(), end='')";
    assert_eq!(server.ok(&work, &["exec", &id, cell]), "A,B\n1,2\n");
    let made =
        "import os; os.makedirs('out', exist_ok=True); open('out/r.txt', 'w').write('result')";
    server.ok(&work, &["exec", &id, made]);

    let top = server.ok(&work, &["files", &id, "ls"]);
    assert!(top.contains("data.csv") && top.contains("in put/"), "{top}");
    let json = server.ok(&work, &["files", &id, "ls", "out", "--json"]);
    let listing: SessionFileList = serde_json::from_str(&json).unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(
        (listing.entries[0].path.as_str(), listing.entries[0].size),
        ("out/r.txt", 6)
    );

    server.ok(&work, &["files", &id, "get", "out/r.txt"]);
    assert_eq!(
        std::fs::read_to_string(work.join("r.txt")).unwrap(),
        "result"
    );
    let stdout = server.ok(&work, &["files", &id, "get", "in put/my data.csv", "-"]);
    assert_eq!(stdout, "a,b\n1,2\n");

    server.ok(&work, &["files", &id, "rm", "out/r.txt"]);
    let out = server.run(&work, &["files", &id, "get", "out/r.txt", "again.txt"], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no file \"out/r.txt\""),
        "{}",
        text(&out.stderr)
    );
    assert!(!work.join("again.txt").exists());
}

#[tokio::test]
async fn a_fetched_file_never_replaces_a_local_one_without_force() {
    let server = server(UIDS, "session").await;
    let work = server.work("overwrite");
    let id = server.new_session(&[]);
    server.ok(
        &work,
        &["exec", &id, "open('notes.txt', 'w').write('remote')"],
    );
    std::fs::write(work.join("notes.txt"), "local").unwrap();

    let out = server.run(&work, &["files", &id, "get", "notes.txt"], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(work.join("notes.txt")).unwrap(),
        "local"
    );

    server.ok(&work, &["files", &id, "get", "notes.txt", "--force"]);
    assert_eq!(
        std::fs::read_to_string(work.join("notes.txt")).unwrap(),
        "remote"
    );
}

#[tokio::test]
async fn a_fetched_file_lands_only_at_its_target_whatever_its_remote_name() {
    let server = server(UIDS, "session").await;
    let root = server.work("target");
    let work = root.join("inside");
    std::fs::create_dir_all(work.join("into")).unwrap();
    let id = server.new_session(&[]);
    let code = "import os; os.makedirs('a/b', exist_ok=True); open('a/b/deep.txt', 'w').write('x')";
    server.ok(&work, &["exec", &id, code]);

    // Into a directory: only the remote name's last segment is used.
    server.ok(&work, &["files", &id, "get", "a/b/deep.txt", "into"]);
    assert_eq!(
        std::fs::read_to_string(work.join("into/deep.txt")).unwrap(),
        "x"
    );
    assert!(!work.join("into/a").exists());

    // A remote name climbing out is refused before anything is fetched or written.
    for bad in ["../deep.txt", "a/b/.."] {
        let out = server.run(&work, &["files", &id, "get", bad], "");
        assert_ne!(out.status.code(), Some(0), "{bad}");
    }
    let names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["inside"],
        "nothing was written beside the working directory"
    );
}

#[tokio::test]
async fn files_of_an_unknown_session_or_a_missing_file_are_clear_errors() {
    let server = server(UIDS, "session").await;
    let work = server.work("missing");
    let id = server.new_session(&[]);
    let out = server.run(&work, &["files", &id, "rm", "nope.txt"], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no file \"nope.txt\""),
        "{}",
        text(&out.stderr)
    );

    let unknown = "0190c3f0-0000-7000-8000-000000000000";
    std::fs::write(work.join("f.txt"), "x").unwrap();
    let out = server.run(&work, &["files", unknown, "put", "f.txt"], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no open session"),
        "{}",
        text(&out.stderr)
    );
}
