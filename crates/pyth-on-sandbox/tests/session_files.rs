//! A session's files (`File` frames), as root, against the real runner: written, read, listed
//! and deleted by the kernel inside the sandbox, seen by cells, bounded by the session's
//! limits, in both languages.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::kernel::{open, Kernel};
use pyth_on_sandbox::protocol::{FileOp, FileOpResult, JobSpec};
use pyth_on_sandbox::session::{EntryKind, FileErrorKind};

fn write(k: &mut Kernel, path: &str, content: &[u8]) -> FileOpResult {
    let op = FileOp::Write {
        path: path.into(),
        content: content.to_vec(),
    };
    k.file(op).0
}

fn read(k: &mut Kernel, path: &str, max_bytes: u64) -> FileOpResult {
    let op = FileOp::Read {
        path: path.into(),
        max_bytes,
    };
    k.file(op).0
}

fn list(k: &mut Kernel, dir: &str) -> Vec<(String, EntryKind, u64)> {
    let (answer, _) = k.file(FileOp::List { dir: dir.into() });
    assert!(answer.error.is_none(), "{answer:?}");
    let entries = answer.entries.into_iter();
    entries.map(|e| (e.path, e.kind, e.size)).collect()
}

fn error_of(answer: &FileOpResult) -> FileErrorKind {
    answer.error.as_ref().expect("an error").kind
}

/// Uploads a CSV, reads it from a cell, gets back what a cell wrote, lists and deletes.
fn round_trip(mut k: Kernel, read_in_cell: &str, write_in_cell: &str) {
    let put = write(&mut k, "data/in.csv", b"a,b\n1,2\n");
    assert!(put.error.is_none() && put.size == 8, "{put:?}");
    let seen = k.cell(read_in_cell);
    assert_eq!(seen.stdout, "a,b\n1,2\n", "{seen:?}");
    let wrote = k.cell(write_in_cell);
    assert!(wrote.result.error.is_none(), "{wrote:?}");
    let got = read(&mut k, "out/report.bin", 1 << 20);
    assert_eq!(got.content, [0, 1, 2, 255], "{got:?}");
    assert_eq!(
        list(&mut k, ""),
        [
            ("data".to_string(), EntryKind::Directory, 0),
            ("out".to_string(), EntryKind::Directory, 0),
        ]
    );
    let files = list(&mut k, "data");
    assert_eq!(files, [("data/in.csv".to_string(), EntryKind::File, 8)]);
    let (gone, _) = k.file(FileOp::Delete { path: "out".into() });
    assert!(gone.error.is_none(), "{gone:?}");
    assert_eq!(
        error_of(&read(&mut k, "out/report.bin", 10)),
        FileErrorKind::NotFound
    );
    k.close();
}

#[test]
fn a_python_session_sees_uploaded_files_and_hands_back_what_its_cells_wrote() {
    round_trip(
        open(common::py("")),
        "print(open('data/in.csv').read(), end='')",
        "import os; os.makedirs('out'); open('out/report.bin', 'wb').write(bytes([0, 1, 2, 255]))",
    );
}

#[test]
fn a_javascript_session_sees_uploaded_files_and_hands_back_what_its_cells_wrote() {
    round_trip(
        open(common::js("")),
        "process.stdout.write(require('fs').readFileSync('/work/data/in.csv', 'utf8'))",
        "const fs = require('fs'); fs.mkdirSync('/work/out'); \
         fs.writeFileSync('/work/out/report.bin', Buffer.from([0, 1, 2, 255]))",
    );
}

#[test]
fn reads_of_missing_files_directories_and_files_over_the_bound_fail_with_their_kind() {
    for profile in [common::py(""), common::js("")] {
        let mut k = open(profile);
        assert_eq!(
            error_of(&read(&mut k, "nope.txt", 10)),
            FileErrorKind::NotFound
        );
        write(&mut k, "dir/big.txt", &[b'x'; 100]);
        assert_eq!(error_of(&read(&mut k, "dir", 10)), FileErrorKind::WrongKind);
        assert_eq!(
            error_of(&read(&mut k, "dir/big.txt", 99)),
            FileErrorKind::TooLarge
        );
        assert_eq!(read(&mut k, "dir/big.txt", 100).size, 100);
        assert_eq!(
            error_of(&write(&mut k, "dir", b"x")),
            FileErrorKind::WrongKind
        );
        let (nothing, _) = k.file(FileOp::Delete {
            path: "nope".into(),
        });
        assert_eq!(error_of(&nothing), FileErrorKind::NotFound);
        let (escape, _) = k.file(FileOp::List {
            dir: "../etc".into(),
        });
        assert_eq!(error_of(&escape), FileErrorKind::Failed);
        assert!(escape.error.unwrap().message.contains(".."));
        k.close();
    }
}

#[test]
fn links_fifos_and_sockets_are_listed_as_other_and_never_read() {
    let mut k = open(common::py(""));
    let made = k.cell(
        "import os, socket\nos.symlink('/etc', 'link')\nos.mkfifo('fifo')\n\
         s = socket.socket(socket.AF_UNIX); s.bind('sock')",
    );
    assert!(made.result.error.is_none(), "{made:?}");
    let kinds: Vec<_> = list(&mut k, "")
        .into_iter()
        .map(|(p, kind, _)| (p, kind))
        .collect();
    let other = |p: &str| (p.to_string(), EntryKind::Other);
    assert_eq!(kinds, [other("fifo"), other("link"), other("sock")]);
    // A FIFO without a writer is refused at once rather than waited on.
    assert_eq!(
        error_of(&read(&mut k, "fifo", 10)),
        FileErrorKind::WrongKind
    );
    k.close();
}

#[test]
fn a_full_working_directory_refuses_a_write_and_keeps_no_half_written_file() {
    for language in ["python", "javascript"] {
        let mut profile: JobSpec = match language {
            "python" => common::py(""),
            _ => common::js(""),
        };
        profile.limits.tmpfs_size_mb = 4;
        let mut k = open(profile);
        assert!(write(&mut k, "a.bin", &[1; 3 << 20]).error.is_none());
        let full = write(&mut k, "b.bin", &[2; 3 << 20]);
        assert_eq!(error_of(&full), FileErrorKind::NoSpace, "{language}");
        let names: Vec<_> = list(&mut k, "").into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["a.bin"], "{language}");
        k.close();
    }
}

#[test]
fn a_write_over_the_file_size_limit_is_refused_before_the_kernel_sees_it() {
    let mut profile = common::py("");
    profile.limits.fsize_bytes = 1000;
    let mut k = open(profile);
    let refused = write(&mut k, "big", &[0; 1001]);
    assert_eq!(error_of(&refused), FileErrorKind::TooLarge);
    assert!(!refused.session_ended);
    assert_eq!(k.cell("1 + 1").text(), ["2"], "the session goes on");
    k.close();
}

#[test]
fn a_listing_stops_at_its_bound_and_says_so() {
    let mut k = open(common::py(""));
    k.cell("import os\nfor i in range(1001): open(f'f{i:04}', 'w').close()");
    let (answer, _) = k.file(FileOp::List { dir: String::new() });
    assert_eq!(answer.entries.len(), 1000);
    assert!(answer.truncated);
    assert_eq!(answer.entries[0].path, "f0000");
    k.close();
}
