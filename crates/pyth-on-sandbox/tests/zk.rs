//! Zero-knowledge runs through the real runner (root only): the in-sandbox decryption stage.

#![allow(clippy::unwrap_used, reason = "tests panic on purpose")]

mod common;

use common::{privileged, py, run};
use pyth_on_crypto::zkcode::{self, KdfParams};
use pyth_on_sandbox::{JobSpec, ZkOutcome, ZkSpec};

const OWNER: &str = "0190a6f2-5b7c-7d2e-8f00-123456789abc";
const PASSWORD: &str = "correct horse battery staple";

/// The payload of the golden vector (`docs/zkcode-v1-vector.json`: `print("hello, zk")`, owned
/// by `OWNER`, named `hello.py`, with the password `PASSWORD`).
fn golden_value() -> serde_json::Value {
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/zkcode-v1-vector.json")).unwrap();
    assert_eq!(vector["inputs"]["userId"], OWNER);
    assert_eq!(vector["inputs"]["password"], PASSWORD);
    vector["outputs"]["payload"].clone()
}

/// The golden payload as compact JSON text.
fn golden() -> String {
    golden_value().to_string()
}

fn zk_job(payload: &str, password: &str, name: &str) -> JobSpec {
    let mut s = py("");
    s.limits.memory_mb = 256;
    s.zk = Some(ZkSpec {
        payload: payload.into(),
        password: password.into(),
        owner: OWNER.into(),
        name: name.into(),
    });
    s
}

fn encrypt(code: &str, name: &str) -> String {
    let params = KdfParams {
        m: 65536,
        t: 3,
        p: 1,
    };
    let owner = uuid::Uuid::parse_str(OWNER).unwrap();
    zkcode::encrypt(code.as_bytes(), PASSWORD, owner, name, "python", params)
        .unwrap()
        .to_json()
        .to_string()
}

#[test]
fn the_golden_vector_decrypts_and_runs() {
    privileged();
    let r = run(&zk_job(&golden(), PASSWORD, "hello.py"));
    assert_eq!(r.zk, Some(ZkOutcome::Decrypted), "{r:?}");
    assert_eq!(
        (r.exit_code, r.stdout.as_str()),
        (0, "hello, zk\n"),
        "{r:?}"
    );
}

#[test]
fn a_wrong_password_runs_nothing() {
    privileged();
    let payload = encrypt(
        "print('ran')\nimport sys; sys.stderr.write('ran')",
        "marker.py",
    );
    let r = run(&zk_job(
        &payload,
        "Correct horse battery staple",
        "marker.py",
    ));
    assert_eq!(r.zk, Some(ZkOutcome::WrongPassword), "{r:?}");
    assert_eq!(r.exit_code, 121);
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
}

#[test]
fn a_payload_moved_to_another_name_fails_its_integrity_check() {
    privileged();
    let r = run(&zk_job(&golden(), PASSWORD, "other.py"));
    assert_eq!(r.zk, Some(ZkOutcome::Integrity), "{r:?}");
    assert_eq!(r.exit_code, 122);
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
}

#[test]
fn a_tampered_ciphertext_fails_its_integrity_check() {
    privileged();
    // First base64 character of ct: F -> G flips ciphertext bits, encoding stays canonical.
    let tampered = golden().replace(r#""ct":"FJD/"#, r#""ct":"GJD/"#);
    assert_ne!(tampered, golden());
    let r = run(&zk_job(&tampered, PASSWORD, "hello.py"));
    assert_eq!(r.zk, Some(ZkOutcome::Integrity), "{r:?}");
    assert!(r.stdout.is_empty());
}

#[test]
fn a_malformed_payload_or_owner_is_invalid() {
    privileged();
    let mut extra_key = golden_value();
    extra_key["x"] = 0.into();
    let extra_key = extra_key.to_string();
    for payload in ["{}", "not json", extra_key.as_str()] {
        let r = run(&zk_job(payload, PASSWORD, "hello.py"));
        assert_eq!(r.zk, Some(ZkOutcome::Invalid), "{payload}: {r:?}");
        assert_eq!(r.exit_code, 123);
    }
    let mut job = zk_job(&golden(), PASSWORD, "hello.py");
    if let Some(zk) = job.zk.as_mut() {
        zk.owner = OWNER.to_uppercase();
    }
    assert_eq!(run(&job).zk, Some(ZkOutcome::Invalid));
}

#[test]
fn the_program_cannot_find_the_password() {
    privileged();
    // The needle is kept in two halves that are never joined, so the search cannot find its
    // own copy; a joined control string proves the memory scan works.
    let code = r#"
import os, re
H1, H2 = b"correct horse", b" battery staple"
C1, C2 = b"zebra-kangaroo", b"-platypus-42"
control = C1 + C2
def has(data, a, b):
    i = data.find(a)
    while i >= 0:
        if data[i + len(a):i + len(a) + len(b)] == b:
            return True
        i = data.find(a, i + 1)
    return False
found = {}
found["environ"] = has(open("/proc/self/environ", "rb").read(), H1, H2) or any(H1 in k.encode() or H1 in v.encode() for k, v in os.environ.items())
found["cmdline"] = any(has(open(f"/proc/{p}/cmdline", "rb").read(), H1, H2) for p in os.listdir("/proc") if p.isdigit())
def target(f):
    try:
        return os.readlink(f"/proc/self/fd/{f}")
    except FileNotFoundError:  # the descriptor listdir itself used
        return None
found["fds"] = [t for t in map(target, sorted(int(f) for f in os.listdir("/proc/self/fd")))
                if t is not None][3:]
files = False
for top in ("/code", "/work", "/tmp"):
    for d, _, names in os.walk(top):
        for n in names:
            files = files or has(open(os.path.join(d, n), "rb").read(), H1, H2)
found["files"] = files
mem, ctrl = False, False
with open("/proc/self/mem", "rb", 0) as m:
    for line in open("/proc/self/maps"):
        addr, perms = line.split()[:2]
        if "r" not in perms:
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        try:
            m.seek(lo); data = m.read(hi - lo)
        except (OSError, ValueError, OverflowError):
            continue
        mem = mem or has(data, H1, H2)
        ctrl = ctrl or has(data, C1, C2)
found["memory"] = mem
print(found, "control", ctrl)
"#;
    let payload = encrypt(code, "probe.py");
    let r = run(&zk_job(&payload, PASSWORD, "probe.py"));
    assert_eq!(r.zk, Some(ZkOutcome::Decrypted), "{r:?}");
    assert_eq!(
        r.stdout,
        "{'environ': False, 'cmdline': False, 'fds': [], 'files': False, 'memory': False} control True\n",
        "{r:?}"
    );
}

#[test]
fn a_memory_limit_too_small_for_argon2_fails_cleanly() {
    privileged();
    // m = 65536 KiB needs 64 MiB inside the run's cgroup; 32 MiB is not enough.
    let mut job = zk_job(&golden(), PASSWORD, "hello.py");
    job.limits.memory_mb = 32;
    let r = run(&job);
    assert!(r.memory_exceeded, "{r:?}");
    assert_eq!(r.zk, None, "decryption never finished: {r:?}");
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
}
