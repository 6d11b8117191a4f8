//! Path validation and placement of the root file system's mounts.

use super::*;
use crate::protocol::Bind;

/// A Python job with these read-only mounts and binds (also for the skeleton's tests).
pub(super) fn spec(ro: &[&str], binds: Vec<Bind>) -> JobSpec {
    let mut s = crate::protocol::tests::spec();
    s.ro_mounts = ro.iter().map(PathBuf::from).collect();
    s.binds = binds;
    s.code = String::new();
    s
}

#[test]
fn mount_paths_must_be_absolute_and_normalised() {
    assert!(validate(&spec(&["/usr", "/etc/ssl"], vec![])).is_ok());
    for bad in ["usr", "/usr/../etc", "/", "/usr/./lib"] {
        assert!(validate(&spec(&[bad], vec![])).is_err(), "{bad}");
    }
    let b = Bind::read_only("/opt/env", "/work/env");
    assert!(
        validate(&spec(&["/usr"], vec![b])).is_err(),
        "reserved destination"
    );
}

#[test]
fn nested_paths_are_covered_by_an_earlier_directory_bind() {
    let bound = vec![PathBuf::from("/usr")];
    assert!(covered(&bound, Path::new("/usr/lib/python3.11")));
    assert!(!covered(&bound, Path::new("/usrx")));
    assert_eq!(
        inside(Path::new("/r"), Path::new("/usr/bin")),
        PathBuf::from("/r/usr/bin")
    );
}
