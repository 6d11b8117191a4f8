//! The seccomp policy of a run, compiled into one compact BPF program.
//!
//! Every syscall gets one of four answers:
//!
//! - **kill** the process: any call that is not native x86-64 (a 32-bit `int 0x80` call has
//!   `AUDIT_ARCH_I386`, an x32 call has bit `0x40000000` set in its number);
//! - **`EPERM`** for the dangerous calls named in the security model (the `DENIED` table of
//!   `syscalls.rs`), `clone` with any namespace flag, `personality` with anything but the
//!   `0xffffffff` query, and `socket`/`socketpair` of any family but Unix, IPv4, IPv6 and
//!   netlink's route protocol: a clear "not allowed" that programs report instead of probing
//!   alternatives;
//! - **allow** for the calls the interpreters need (the `ALLOWED` table);
//! - **`ENOSYS`** for everything else: the answer interpreters and libc already handle for
//!   "this kernel does not have it" (glibc falls back from `clone3` to `clone`, from
//!   `faccessat2` to `faccessat`).
//!
//! The program checks the architecture, sends the four calls with argument rules to short
//! blocks that compare both 32-bit halves of the 64-bit arguments they check (`clone`'s
//! flags, which the kernel reads as 32 bits, by their low half), and finds every other call's
//! answer by a binary search over the ranges of syscall numbers that share one (91 ranges:
//! seven comparisons). It has 217 instructions where the linear chains of comparisons
//! seccompiler emits had 1,700 in two filters: the kernel converts, JIT-compiles and
//! pre-evaluates (its per-syscall action cache) every installed program in every process,
//! which made installing the policy cost each run ~1.5 ms of CPU, now ~0.2 ms
//! (docs/PERFORMANCE.md). The
//! unit tests check, for every syscall number and a spread of argument values, that it
//! answers exactly as the two seccompiler-built filters of earlier versions did.
//!
//! x86-64 only: the program kills every call of another architecture.

use seccompiler::BpfProgram;

use crate::error::SeccompError;

mod asm;
mod syscalls;
#[cfg(test)]
mod tests;
use asm::{Asm, Label, To};
use syscalls::{ALLOWED, DENIED};

/// `AUDIT_ARCH_X86_64` from `<linux/audit.h>`.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// Bit set in x32 syscall numbers.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `SECCOMP_RET_KILL_PROCESS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ALLOW`.
const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO` (the errno in the low 16 bits).
const RET_ERRNO: u32 = 0x0005_0000;

/// Every `CLONE_NEW*` flag (including `CLONE_NEWTIME`, only meaningful for clone3/unshare).
pub const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64
    | 0x80;
const _: () = assert!(
    CLONE_NS_FLAGS >> 32 == 0,
    "the clone check reads the low word only"
);

/// Offsets in `struct seccomp_data` (x86-64, little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
/// Low and high 32-bit words of argument `i`.
const fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}
const fn arg_hi(i: u32) -> u32 {
    20 + 8 * i
}

/// The policy of a run: one program, installed last in the payload.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Arch guard, argument rules, then the binary search over syscall numbers.
    pub program: BpfProgram,
}

/// The answer for a syscall number without argument rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allow,
    Deny,
    Missing,
}

impl Verdict {
    fn of(nr: libc::c_long) -> Self {
        if DENIED.contains(&nr) {
            Verdict::Deny
        } else if ALLOWED.contains(&nr) {
            Verdict::Allow
        } else {
            Verdict::Missing
        }
    }

    fn action(self) -> u32 {
        match self {
            Verdict::Allow => RET_ALLOW,
            Verdict::Deny => RET_ERRNO | libc::EPERM as u32,
            Verdict::Missing => RET_ERRNO | libc::ENOSYS as u32,
        }
    }
}

/// Syscall numbers as ranges of one verdict: `(first number, verdict)`, ascending, the first
/// at 0; the last range runs to the x32 bit.
fn ranges() -> Vec<(u32, Verdict)> {
    // One pass over each table (the runner builds the policy for every run): a verdict per
    // number up to the highest listed, then one past it for the open-ended rest.
    let top = ALLOWED.iter().chain(DENIED).copied().max().unwrap_or(0) as usize + 1;
    let mut table = vec![Verdict::Missing; top + 1];
    for (list, verdict) in [(ALLOWED, Verdict::Allow), (DENIED, Verdict::Deny)] {
        for &nr in list {
            table[nr as usize] = verdict; // DENIED last: it wins, as in `Verdict::of`
        }
    }
    let mut ranges: Vec<(u32, Verdict)> = Vec::new();
    for (nr, &verdict) in table.iter().enumerate() {
        if ranges.last().map(|r| r.1) != Some(verdict) {
            ranges.push((nr as u32, verdict));
        }
    }
    ranges
}

/// The shared returns of the argument blocks.
struct Returns {
    allow: Label,
    deny: Label,
    missing: Label,
    kill: Label,
}

impl Returns {
    fn of(&self, verdict: Verdict) -> To {
        To::Label(match verdict {
            Verdict::Allow => self.allow,
            Verdict::Deny => self.deny,
            Verdict::Missing => self.missing,
        })
    }
}

/// Builds the run's policy. Pure: no syscalls.
pub fn build() -> Result<Policy, SeccompError> {
    let mut asm = Asm::default();
    let r = Returns {
        allow: asm.label(),
        deny: asm.label(),
        missing: asm.label(),
        kill: asm.label(),
    };
    asm.load(ARCH);
    asm.jeq(AUDIT_ARCH_X86_64, To::Next, To::Label(r.kill));
    asm.load(NR);
    asm.jge(X32_SYSCALL_BIT, To::Label(r.kill), To::Next);
    let tree = asm.label();
    argument_rules(&mut asm, &r, tree);
    for (label, action) in [
        (r.allow, RET_ALLOW),
        (r.deny, Verdict::Deny.action()),
        (r.missing, Verdict::Missing.action()),
        (r.kill, RET_KILL_PROCESS),
    ] {
        asm.place(label);
        asm.ret(action);
    }
    asm.place(tree);
    search(&mut asm, &ranges());
    Ok(Policy {
        program: asm.finish()?,
    })
}

/// Each call with argument rules: `if nr == call { its block }`, the block ending in one of
/// the shared returns; a call with none of them jumps to `search` (placed after the
/// returns). `A` holds the syscall number on entry.
fn argument_rules(asm: &mut Asm, r: &Returns, search: Label) {
    type Block = fn(&mut Asm, &Returns);
    let blocks: [(libc::c_long, Block); 4] = [
        (libc::SYS_clone, clone_rule),
        (libc::SYS_personality, personality_rule),
        (libc::SYS_socket, socket_rule),
        (libc::SYS_socketpair, socketpair_rule),
    ];
    for (i, (nr, block)) in blocks.iter().enumerate() {
        let next = asm.label();
        let otherwise = if i + 1 == blocks.len() { search } else { next };
        asm.jeq(*nr as u32, To::Next, To::Label(otherwise));
        block(asm, r);
        asm.place(next);
        if i + 1 < blocks.len() {
            asm.load(NR);
        }
    }
}

/// `clone` without any `CLONE_NEW*` flag (threads, fork).
fn clone_rule(asm: &mut Asm, r: &Returns) {
    asm.load(arg_lo(0));
    asm.jset(
        CLONE_NS_FLAGS as u32,
        To::Label(r.deny),
        r.of(Verdict::Allow),
    );
}

/// `personality(0xffffffff)`, the query, only.
fn personality_rule(asm: &mut Asm, r: &Returns) {
    asm.load(arg_hi(0));
    asm.jeq(0, To::Next, To::Label(r.deny));
    asm.load(arg_lo(0));
    asm.jeq(0xffff_ffff, r.of(Verdict::Allow), To::Label(r.deny));
}

/// `socket` of Unix, IPv4, IPv6, or netlink with the route protocol.
fn socket_rule(asm: &mut Asm, r: &Returns) {
    let base = r.of(Verdict::of(libc::SYS_socket));
    asm.load(arg_hi(0));
    asm.jeq(0, To::Next, To::Label(r.deny));
    asm.load(arg_lo(0));
    for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
        asm.jeq(family as u32, base, To::Next);
    }
    asm.jeq(libc::AF_NETLINK as u32, To::Next, To::Label(r.deny));
    asm.load(arg_hi(2));
    asm.jeq(0, To::Next, To::Label(r.deny));
    asm.load(arg_lo(2));
    asm.jeq(libc::NETLINK_ROUTE as u32, base, To::Label(r.deny));
}

/// `socketpair` of Unix sockets only.
fn socketpair_rule(asm: &mut Asm, r: &Returns) {
    let base = r.of(Verdict::of(libc::SYS_socketpair));
    asm.load(arg_hi(0));
    asm.jeq(0, To::Next, To::Label(r.deny));
    asm.load(arg_lo(0));
    asm.jeq(libc::AF_UNIX as u32, base, To::Label(r.deny));
}

/// Binary search over `ranges` (`A` holds the syscall number): a `ret` per range.
fn search(asm: &mut Asm, ranges: &[(u32, Verdict)]) {
    if let [(_, verdict)] = ranges {
        asm.ret(verdict.action());
        return;
    }
    let mid = ranges.len() / 2;
    let upper = asm.label();
    asm.jge(ranges[mid].0, To::Label(upper), To::Next);
    search(asm, &ranges[..mid]);
    asm.place(upper);
    search(asm, &ranges[mid..]);
}

/// Installs the policy on the calling thread (which sets `no_new_privs` first).
pub fn install(policy: &Policy) -> Result<(), SeccompError> {
    seccompiler::apply_filter(&policy.program).map_err(SeccompError::Install)
}
