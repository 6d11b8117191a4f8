//! The seccomp policy of a run: an allowlist, a denylist that answers `EPERM`, and an
//! architecture guard.
//!
//! Three BPF programs are installed, and the kernel runs all of them on every syscall, keeping
//! the strictest verdict (kill > errno > allow; between two errnos the most recently installed
//! filter wins):
//!
//! 1. **allowlist** (installed first): an architecture guard prefix (kill unless the call is
//!    native x86-64: a 32-bit `int 0x80` call has `AUDIT_ARCH_I386`, an x32 call has bit
//!    `0x40000000` set in its number), then seccompiler's program: listed calls are allowed,
//!    anything else fails with `ENOSYS` — the answer interpreters and libc already handle for
//!    "this kernel does not have it" (e.g. glibc falls back from `clone3` to `clone`, from
//!    `faccessat2` to `faccessat`). `clone` is allowed only without `CLONE_NEW*` flags.
//! 2. **denylist** (installed second, so it wins over `ENOSYS`): the dangerous calls named in the
//!    security model fail with `EPERM` — a clear "not allowed" that programs report instead of
//!    probing alternatives — including `clone` with any namespace flag and `personality` with
//!    anything but the `0xffffffff` query.
//!
//! x86-64 only; other architectures fail to build the filter.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::error::SeccompError;

mod syscalls;
use syscalls::{ALLOWED, DENIED};

/// `AUDIT_ARCH_X86_64` from `<linux/audit.h>`.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// Bit set in x32 syscall numbers.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `SECCOMP_RET_KILL_PROCESS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;

/// Every `CLONE_NEW*` flag (including `CLONE_NEWTIME`, only meaningful for clone3/unshare).
pub const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64
    | 0x80;

/// The filters of a run, in installation order.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Arch guard + allowlist (`ENOSYS` for the rest).
    pub allowlist: BpfProgram,
    /// Denylist (`EPERM`).
    pub denylist: BpfProgram,
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SeccompError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|source| {
        SeccompError::Build {
            filter: "condition",
            source,
        }
    })
}

fn rule(conds: Vec<SeccompCondition>, filter: &'static str) -> Result<SeccompRule, SeccompError> {
    SeccompRule::new(conds).map_err(|source| SeccompError::Build { filter, source })
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
    filter: &'static str,
) -> Result<BpfProgram, SeccompError> {
    let f = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
        .map_err(|source| SeccompError::Build { filter, source })?;
    BpfProgram::try_from(f).map_err(|source| SeccompError::Build { filter, source })
}

/// Kill unless the call is a native x86-64 call; falls through to the next instruction.
pub fn arch_guard() -> Vec<sock_filter> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
    const JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        ins(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        ins(RET_K, 0, 0, RET_KILL_PROCESS),
        ins(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        ins(JGE_K, 0, 1, X32_SYSCALL_BIT),
        ins(RET_K, 0, 0, RET_KILL_PROCESS),
    ]
}

/// Builds the run's policy. Pure: no syscalls.
pub fn build() -> Result<Policy, SeccompError> {
    let mut allow: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|nr| (*nr, Vec::new())).collect();
    // clone only without namespace flags (threads, fork, vfork-style spawns).
    allow.insert(
        libc::SYS_clone,
        vec![rule(
            vec![cond(0, SeccompCmpOp::MaskedEq(CLONE_NS_FLAGS), 0)?],
            "allowlist",
        )?],
    );
    // personality(0xffffffff) only queries the current persona.
    allow.insert(
        libc::SYS_personality,
        vec![rule(
            vec![cond(0, SeccompCmpOp::Eq, 0xffff_ffff)?],
            "allowlist",
        )?],
    );
    let mut allowlist = arch_guard();
    allowlist.extend(compile(
        allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        SeccompAction::Allow,
        "allowlist",
    )?);

    let mut deny: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|nr| (*nr, Vec::new())).collect();
    let mut clone_rules = Vec::new();
    let mut bit = 1u64;
    while bit != 0 {
        if CLONE_NS_FLAGS & bit != 0 {
            clone_rules.push(rule(
                vec![cond(0, SeccompCmpOp::MaskedEq(bit), bit)?],
                "denylist",
            )?);
        }
        bit <<= 1;
    }
    deny.insert(libc::SYS_clone, clone_rules);
    deny.insert(
        libc::SYS_personality,
        vec![rule(
            vec![cond(0, SeccompCmpOp::Ne, 0xffff_ffff)?],
            "denylist",
        )?],
    );
    // Sockets only of the families a program needs: Unix, IPv4, IPv6, and netlink's route
    // protocol (getaddrinfo and interface listings use it; the run's network namespace has
    // only `lo`). Everything else (vsock to the hypervisor, packet, Bluetooth, the other
    // netlink protocols such as audit or uevents, ...) is kernel surface no program needs.
    let families = [
        libc::AF_UNIX,
        libc::AF_INET,
        libc::AF_INET6,
        libc::AF_NETLINK,
    ];
    let other_family = families
        .iter()
        .map(|f| cond(0, SeccompCmpOp::Ne, *f as u64))
        .collect::<Result<Vec<_>, _>>()?;
    deny.insert(
        libc::SYS_socket,
        vec![
            rule(other_family, "denylist")?,
            rule(
                vec![
                    cond(0, SeccompCmpOp::Eq, libc::AF_NETLINK as u64)?,
                    cond(2, SeccompCmpOp::Ne, libc::NETLINK_ROUTE as u64)?,
                ],
                "denylist",
            )?,
        ],
    );
    deny.insert(
        libc::SYS_socketpair,
        vec![rule(
            vec![cond(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?],
            "denylist",
        )?],
    );
    let denylist = compile(
        deny,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        "denylist",
    )?;
    Ok(Policy {
        allowlist,
        denylist,
    })
}

/// Installs the policy on the calling thread (which sets `no_new_privs` first).
pub fn install(policy: &Policy) -> Result<(), SeccompError> {
    seccompiler::apply_filter(&policy.allowlist).map_err(|source| SeccompError::Install {
        filter: "allowlist",
        source,
    })?;
    seccompiler::apply_filter(&policy.denylist).map_err(|source| SeccompError::Install {
        filter: "denylist",
        source,
    })
}

#[cfg(test)]
mod tests {
    //! The filters are checked by interpreting the BPF program on synthetic `seccomp_data`.
    use super::*;

    /// A tiny classic-BPF interpreter covering the instructions seccompiler and we emit.
    fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(&nr.to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let mut mem = [0u32; 16];
        loop {
            let i = &prog[pc];
            pc += 1;
            let class = i.code & 0x07;
            match class {
                0x00 => {
                    // LD
                    a = match i.code & 0xe0 {
                        0x20 => u32::from_ne_bytes(
                            data[i.k as usize..i.k as usize + 4].try_into().unwrap(),
                        ),
                        0x00 => i.k,
                        0x60 => mem[i.k as usize],
                        m => panic!("ld mode {m:#x}"),
                    }
                }
                0x01 => {
                    x = if i.code & 0xe0 == 0x60 {
                        mem[i.k as usize]
                    } else {
                        i.k
                    }
                }
                0x02 => mem[i.k as usize] = a,
                0x03 => mem[i.k as usize] = x,
                0x04 => {
                    let src = if i.code & 0x08 != 0 { x } else { i.k };
                    a = match i.code & 0xf0 {
                        0x50 => a & src,
                        0x40 => a | src,
                        0x00 => a.wrapping_add(src),
                        0x10 => a.wrapping_sub(src),
                        op => panic!("alu {op:#x}"),
                    }
                }
                0x05 => {
                    let src = if i.code & 0x08 != 0 { x } else { i.k };
                    let op = i.code & 0xf0;
                    if op == 0x00 {
                        pc += i.k as usize;
                        continue;
                    }
                    let t = match op {
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        o => panic!("jmp {o:#x}"),
                    };
                    pc += if t { i.jt as usize } else { i.jf as usize };
                }
                0x06 => return if i.code & 0x18 == 0x10 { a } else { i.k },
                0x07 => {
                    if i.code & 0xf8 == 0x00 {
                        x = a
                    } else {
                        a = x
                    }
                }
                c => panic!("class {c}"),
            }
        }
    }

    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;

    fn verdict(nr: libc::c_long, args: [u64; 6]) -> (u32, u32) {
        let p = build().unwrap();
        (
            run(&p.allowlist, AUDIT_ARCH_X86_64, nr as u32, args),
            run(&p.denylist, AUDIT_ARCH_X86_64, nr as u32, args),
        )
    }

    #[test]
    fn ordinary_calls_pass_both_filters() {
        for nr in [
            libc::SYS_read,
            libc::SYS_mmap,
            libc::SYS_futex,
            libc::SYS_rseq,
        ] {
            assert_eq!(verdict(nr, [0; 6]), (ALLOW, ALLOW), "syscall {nr}");
        }
    }

    #[test]
    fn dangerous_calls_fail_with_eperm() {
        for nr in [
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_keyctl,
            libc::SYS_bpf,
            libc::SYS_io_uring_setup,
            libc::SYS_kexec_load,
        ] {
            let (a, d) = verdict(nr, [0; 6]);
            assert_eq!(d, ERRNO | libc::EPERM as u32, "syscall {nr}");
            assert_ne!(a, ALLOW, "syscall {nr} must not be allowlisted");
        }
    }

    #[test]
    fn unknown_calls_and_clone3_fail_with_enosys() {
        let (a, d) = verdict(libc::SYS_clone3, [0; 6]);
        assert_eq!((a, d), (ERRNO | libc::ENOSYS as u32, ALLOW));
    }

    #[test]
    fn clone_is_allowed_for_threads_but_not_for_namespaces() {
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        assert_eq!(
            verdict(libc::SYS_clone, [thread, 0, 0, 0, 0, 0]),
            (ALLOW, ALLOW)
        );
        for flag in [libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWNS] {
            let (a, d) = verdict(libc::SYS_clone, [thread | flag as u64, 0, 0, 0, 0, 0]);
            assert_ne!(a, ALLOW);
            assert_eq!(d, ERRNO | libc::EPERM as u32);
        }
    }

    #[test]
    fn sockets_are_limited_to_unix_ip_and_netlink_route() {
        let eperm = ERRNO | libc::EPERM as u32;
        let socket = |domain: i32, protocol: i32| {
            verdict(
                libc::SYS_socket,
                [
                    domain as u64,
                    libc::SOCK_STREAM as u64,
                    protocol as u64,
                    0,
                    0,
                    0,
                ],
            )
        };
        for ok in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
            assert_eq!(socket(ok, 0), (ALLOW, ALLOW), "{ok}");
        }
        assert_eq!(
            socket(libc::AF_NETLINK, libc::NETLINK_ROUTE),
            (ALLOW, ALLOW)
        );
        assert_eq!(socket(libc::AF_NETLINK, libc::NETLINK_AUDIT).1, eperm);
        assert_eq!(
            socket(libc::AF_NETLINK, libc::NETLINK_KOBJECT_UEVENT).1,
            eperm
        );
        for refused in [
            libc::AF_VSOCK,
            libc::AF_PACKET,
            libc::AF_BLUETOOTH,
            libc::AF_ALG,
        ] {
            assert_eq!(socket(refused, 0).1, eperm, "{refused}");
        }
        // High bits cannot smuggle a family past the comparison.
        let smuggled = (1u64 << 32) | libc::AF_NETLINK as u64;
        let (_, d) = verdict(libc::SYS_socket, [smuggled, 3, 9, 0, 0, 0]);
        assert_eq!(d, eperm);
        let pair = |domain: i32| verdict(libc::SYS_socketpair, [domain as u64, 1, 0, 0, 0, 0]).1;
        assert_eq!((pair(libc::AF_UNIX), pair(libc::AF_INET)), (ALLOW, eperm));
    }

    #[test]
    fn personality_may_only_be_queried() {
        assert_eq!(
            verdict(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
            (ALLOW, ALLOW)
        );
        assert_eq!(
            verdict(libc::SYS_personality, [0x0040000, 0, 0, 0, 0, 0]).1,
            ERRNO | libc::EPERM as u32
        );
    }

    #[test]
    fn i386_and_x32_calls_kill_the_process() {
        let p = build().unwrap();
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        assert_eq!(
            run(&p.allowlist, AUDIT_ARCH_I386, 20, [0; 6]),
            RET_KILL_PROCESS
        );
        let x32_getpid = X32_SYSCALL_BIT | libc::SYS_getpid as u32;
        assert_eq!(
            run(&p.allowlist, AUDIT_ARCH_X86_64, x32_getpid, [0; 6]),
            RET_KILL_PROCESS
        );
    }

    #[test]
    fn allow_and_deny_lists_do_not_overlap() {
        for nr in DENIED {
            assert!(!ALLOWED.contains(nr), "syscall {nr} is in both lists");
        }
    }
}
