//! The compact program is checked by interpreting BPF on synthetic `seccomp_data`: against
//! the policy's intent (named cases), and exhaustively against the two seccompiler-built
//! filters earlier versions installed (every syscall number, a spread of argument values).

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp,
    SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

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
                    0x20 => {
                        u32::from_ne_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap())
                    }
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

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
}

fn rule(conds: Vec<SeccompCondition>, _filter: &'static str) -> Result<SeccompRule, BackendError> {
    SeccompRule::new(conds)
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
    _filter: &'static str,
) -> Result<BpfProgram, BackendError> {
    let f = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)?;
    BpfProgram::try_from(f)
}

/// Kill unless the call is a native x86-64 call; falls through to the next instruction.
fn arch_guard() -> Vec<sock_filter> {
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

/// The policy as versions before the compact program built it: two seccompiler filters, an
/// allowlist (arch guard, `ENOSYS` for the rest) installed before a denylist (`EPERM`).
fn reference() -> Result<(BpfProgram, BpfProgram), BackendError> {
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
    Ok((allowlist, denylist))
}

const ALLOW: u32 = RET_ALLOW;
const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

/// What the compact program answers for a native call.
fn verdict(nr: libc::c_long, args: [u64; 6]) -> u32 {
    run(
        &build().unwrap().program,
        AUDIT_ARCH_X86_64,
        nr as u32,
        args,
    )
}

/// What the kernel made of the two reference filters: the strictest action (kill, then
/// errno, then allow); between two errnos, the later filter's (the denylist's).
fn reference_verdict(pair: &(BpfProgram, BpfProgram), arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let (allow, deny) = (run(&pair.0, arch, nr, args), run(&pair.1, arch, nr, args));
    if allow == RET_KILL_PROCESS || deny == RET_KILL_PROCESS {
        RET_KILL_PROCESS
    } else if deny & 0xffff_0000 == RET_ERRNO {
        deny
    } else {
        allow
    }
}

/// Argument values that reach every branch of the argument rules: each bit alone, the
/// values the rules compare with, and those values with a high word set.
fn argument_spread() -> Vec<u64> {
    let mut values: Vec<u64> = (0..64).map(|b| 1u64 << b).collect();
    for v in [
        0u64,
        2,
        3,
        10,
        16,
        17,
        40,
        0xffff_ffff,
        CLONE_NS_FLAGS,
        0x0040_0000,
    ] {
        values.extend([v, v | 1 << 32, v | 1 << 63, !v]);
    }
    values
}

#[test]
fn the_compact_program_answers_every_call_as_the_two_reference_filters_did() {
    let program = build().unwrap().program;
    let pair = reference().unwrap();
    let spread = argument_spread();
    let special = [
        libc::SYS_clone,
        libc::SYS_personality,
        libc::SYS_socket,
        libc::SYS_socketpair,
    ];
    let mut checked = 0;
    for arch in [AUDIT_ARCH_X86_64, 0x4000_0003] {
        for nr in (0..1024).chain([
            X32_SYSCALL_BIT - 1,
            X32_SYSCALL_BIT,
            X32_SYSCALL_BIT | 39,
            u32::MAX,
        ]) {
            let mut cases = vec![[0u64; 6], [u64::MAX; 6]];
            if special.contains(&libc::c_long::from(nr)) {
                for &a0 in &spread {
                    for a2 in [0, 1, 9, 1 << 32] {
                        cases.push([a0, 1, a2, 0, 0, 0]);
                    }
                }
            }
            for args in cases {
                let ours = run(&program, arch, nr, args);
                assert_eq!(
                    ours,
                    reference_verdict(&pair, arch, nr, args),
                    "arch {arch:#x} nr {nr} args {args:x?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 2 * 1024 + 4 * 1000, "{checked} cases");
}

#[test]
fn the_program_is_far_smaller_than_the_linear_filters() {
    let (allow, deny) = reference().unwrap();
    let ours = build().unwrap().program.len();
    assert!(
        ours * 4 < allow.len() + deny.len(),
        "{ours} vs {}",
        allow.len() + deny.len()
    );
}

#[test]
fn ordinary_calls_are_allowed() {
    for nr in [
        libc::SYS_read,
        libc::SYS_mmap,
        libc::SYS_futex,
        libc::SYS_rseq,
    ] {
        assert_eq!(verdict(nr, [0; 6]), ALLOW, "syscall {nr}");
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
        assert_eq!(verdict(nr, [0; 6]), EPERM, "syscall {nr}");
    }
}

#[test]
fn unknown_calls_and_clone3_fail_with_enosys() {
    assert_eq!(verdict(libc::SYS_clone3, [0; 6]), ENOSYS);
    assert_eq!(verdict(1000, [0; 6]), ENOSYS);
}

#[test]
fn clone_is_allowed_for_threads_but_not_for_namespaces() {
    let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
    assert_eq!(verdict(libc::SYS_clone, [thread, 0, 0, 0, 0, 0]), ALLOW);
    for flag in [libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWNS] {
        let flags = thread | flag as u64;
        assert_eq!(verdict(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]), EPERM);
    }
}

#[test]
fn sockets_are_limited_to_unix_ip_and_netlink_route() {
    let socket = |domain: i32, protocol: i32| {
        let args = [
            domain as u64,
            libc::SOCK_STREAM as u64,
            protocol as u64,
            0,
            0,
            0,
        ];
        verdict(libc::SYS_socket, args)
    };
    for ok in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
        assert_eq!(socket(ok, 0), ALLOW, "{ok}");
    }
    assert_eq!(socket(libc::AF_NETLINK, libc::NETLINK_ROUTE), ALLOW);
    assert_eq!(socket(libc::AF_NETLINK, libc::NETLINK_AUDIT), EPERM);
    assert_eq!(
        socket(libc::AF_NETLINK, libc::NETLINK_KOBJECT_UEVENT),
        EPERM
    );
    for refused in [
        libc::AF_VSOCK,
        libc::AF_PACKET,
        libc::AF_BLUETOOTH,
        libc::AF_ALG,
    ] {
        assert_eq!(socket(refused, 0), EPERM, "{refused}");
    }
    // High bits cannot smuggle a family past the comparison.
    let smuggled = (1u64 << 32) | libc::AF_NETLINK as u64;
    assert_eq!(verdict(libc::SYS_socket, [smuggled, 3, 9, 0, 0, 0]), EPERM);
    let pair = |domain: i32| verdict(libc::SYS_socketpair, [domain as u64, 1, 0, 0, 0, 0]);
    assert_eq!((pair(libc::AF_UNIX), pair(libc::AF_INET)), (ALLOW, EPERM));
}

#[test]
fn personality_may_only_be_queried() {
    assert_eq!(
        verdict(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(
        verdict(libc::SYS_personality, [0x0040000, 0, 0, 0, 0, 0]),
        EPERM
    );
    let high = (1u64 << 32) | 0xffff_ffff;
    assert_eq!(verdict(libc::SYS_personality, [high, 0, 0, 0, 0, 0]), EPERM);
}

#[test]
fn i386_and_x32_calls_kill_the_process() {
    let p = build().unwrap().program;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    assert_eq!(run(&p, AUDIT_ARCH_I386, 20, [0; 6]), RET_KILL_PROCESS);
    let x32_getpid = X32_SYSCALL_BIT | libc::SYS_getpid as u32;
    assert_eq!(
        run(&p, AUDIT_ARCH_X86_64, x32_getpid, [0; 6]),
        RET_KILL_PROCESS
    );
}

#[test]
fn allow_and_deny_lists_do_not_overlap() {
    for nr in DENIED {
        assert!(!ALLOWED.contains(nr), "syscall {nr} is in both lists");
    }
}

/// Forks `n` children that each install `programs` and exit; the children's CPU time and the
/// wall time per child.
fn install_cost(programs: &[&BpfProgram], n: u32) -> (f64, f64) {
    use crate::sys::{self, Cloned, Exit};
    let cpu_before = sys::children_cpu_us().unwrap();
    let started = std::time::Instant::now();
    for _ in 0..n {
        match sys::clone_child(0).unwrap() {
            Cloned::Child => {
                // Only syscalls from here (the test process has other threads).
                let ok = programs
                    .iter()
                    .all(|p| seccompiler::apply_filter(p).is_ok());
                sys::exit_now(if ok { 0 } else { 3 });
            }
            Cloned::Parent { pid, .. } => {
                let (_, exit) = sys::waitpid(pid, false).unwrap().unwrap();
                assert!(matches!(exit, Exit::Code(0)), "{exit:?}");
            }
        }
    }
    let cpu = (sys::children_cpu_us().unwrap() - cpu_before) as f64 / 1000.0;
    (
        started.elapsed().as_secs_f64() * 1000.0 / f64::from(n),
        cpu / f64::from(n),
    )
}

#[test]
#[ignore = "a measurement: prints what installing each policy costs a fresh process"]
fn print_seccomp_install_cost() {
    let compact = build().unwrap().program;
    let (allow, deny) = reference().unwrap();
    let variants: [(&str, Vec<&BpfProgram>); 3] = [
        ("fork and exit, no filter", vec![]),
        ("the compact program", vec![&compact]),
        ("the two linear filters", vec![&allow, &deny]),
    ];
    for round in 1..=3 {
        for (name, programs) in &variants {
            let (wall, cpu) = install_cost(programs, 500);
            println!(
                "round {round}: {name:26} {wall:.3} ms wall, {cpu:.3} ms child CPU per process"
            );
        }
    }
}
