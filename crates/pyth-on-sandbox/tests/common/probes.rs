//! The escape probes of the isolation suite: Python programs and the checks of what they
//! print, shared by the single-run suite (`isolation.rs`) and the session suite
//! (`session_isolation.rs`), so a session's sandbox is held to exactly the same guarantees.

/// Tries the host's loopback listener on `port`, a public address and the cloud metadata
/// address, and lists the interfaces.
pub fn network(port: u16) -> String {
    format!(
        r#"
import socket
def attempt(addr):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect(addr); return "connected"
    except OSError as e:
        return type(e).__name__
print(attempt(("127.0.0.1", {port})), attempt(("1.1.1.1", 53)), attempt(("169.254.169.254", 80)))
print(socket.if_nameindex())
"#
    )
}

/// What [`network`] prints: nothing reachable, only `lo`.
pub const NETWORK_SEEN: &str = "ConnectionRefusedError OSError OSError\n[(1, 'lo')]\n";

/// Creates sockets of the allowed families and of denied ones.
pub const SOCKET_FAMILIES: &str = r#"
import socket
def make(family, kind=socket.SOCK_STREAM, proto=0):
    try:
        socket.socket(family, kind, proto).close(); return "ok"
    except OSError as e:
        return e.errno
print(make(socket.AF_UNIX), make(socket.AF_INET), make(socket.AF_INET6),
      make(socket.AF_NETLINK, socket.SOCK_RAW, 0))
print(make(socket.AF_VSOCK), make(socket.AF_NETLINK, socket.SOCK_RAW, 9),
      make(socket.AF_NETLINK, socket.SOCK_RAW, 15), make(socket.AF_ALG, socket.SOCK_SEQPACKET))
a, b = socket.socketpair(); print("pair", a.family.name)
"#;

/// What [`SOCKET_FAMILIES`] prints.
pub fn socket_families_seen() -> String {
    let eperm = libc::EPERM;
    format!("ok ok ok ok\n{eperm} {eperm} {eperm} {eperm}\npair AF_UNIX\n")
}

/// Writes everywhere but `/work` and `/tmp`, and looks for the host's directories.
pub const WRITES: &str = r#"
import os
res = []
for p in ["/usr/pwned", "/etc/pwned", "/pwned", "/proc/pwned", "/dev/pwned", "/work/ok", "/tmp/ok"]:
    try:
        open(p, "w").write("x"); res.append("w")
    except OSError as e:
        res.append(e.errno)
print(res, os.path.exists("/sys"), os.path.exists("/root/.cargo"), os.getcwd())
open("/dev/null", "w").write("fine")
"#;

/// Checks what [`WRITES`] printed: refused (EROFS, EACCES, ENOENT) outside `/work` and `/tmp`.
pub fn check_writes(out: &str) {
    let (list, rest) = out.split_once(']').unwrap();
    for errno in list.trim_start_matches('[').split(", ").take(5) {
        assert!(
            ["30", "13", "2"].contains(&errno),
            "write outside /work and /tmp succeeded: {out}"
        );
    }
    assert!(list.ends_with("'w', 'w'"), "{out}");
    assert_eq!(rest, " False False /work\n");
}

/// The program's pid and the pids it can see.
pub const PROCESSES: &str =
    "import os\nprint(os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))";

/// What [`PROCESSES`] prints: pid 1 is the sandbox's init (hidden by `hidepid=2`), the
/// program is pid 2 and sees only itself.
pub const PROCESSES_SEEN: &str = "2 ['2']\n";

/// Identity, capabilities, `no_new_privs`, seccomp mode and host name.
pub const PRIVILEGES: &str = r#"
for line in open("/proc/self/status"):
    k, _, v = line.partition(":")
    if k in ("Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
        print(k, v.split()[0])
import socket; print(socket.gethostname())
"#;

/// What [`PRIVILEGES`] prints (the runner's default identity, 65534).
pub const PRIVILEGES_SEEN: &str = "Uid 65534\nGid 65534\nCapPrm 0000000000000000\n\
    CapEff 0000000000000000\nCapBnd 0000000000000000\nCapAmb 0000000000000000\nNoNewPrivs 1\n\
    Seccomp 2\npyth-on\n";

/// Calls 14 dangerous system calls directly.
pub const SYSCALLS: &str = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
calls = {"ptrace": (101, 0, 0, 0, 0), "mount": (165, 0, 0, 0, 0), "unshare": (272, 0x10000000),
         "setns": (308, 0, 0), "keyctl": (250, 0), "bpf": (321, 0, 0, 0), "chroot": (161, 0),
         "process_vm_readv": (310, 1, 0, 0, 0, 0, 0), "clone_newuser": (56, 0x10000000 | 17, 0, 0, 0, 0),
         "io_uring_setup": (425, 1, 0), "perf_event_open": (298, 0, 0, 0, 0, 0),
         "userfaultfd": (323, 0), "umount2": (166, 0, 0), "pivot_root": (155, 0, 0)}
for name, args in calls.items():
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    print(name, r, ctypes.get_errno())
"#;

/// Checks what [`SYSCALLS`] printed: every call failed with EPERM.
pub fn check_syscalls(out: &str) {
    for line in out.lines() {
        assert!(line.ends_with(" -1 1"), "expected EPERM: {line}");
    }
    assert_eq!(out.lines().count(), 14);
}

/// Runs machine code `hex` from an executable mapping via ctypes.
pub fn machine_code(hex: &str) -> String {
    format!(
        r#"
import ctypes, mmap
code = bytes.fromhex("{hex}")
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
print("calling", flush=True)
print(ctypes.CFUNCTYPE(ctypes.c_long)(addr)())
"#
    )
}

/// `mov eax, 20` (i386 getpid); `int 0x80`; `ret`: killed by seccomp (SIGSYS).
pub const INT80_GETPID: &str = "b814000000cd80c3";
