//! Network namespaces made ahead of time and reused only when a run left no trace in them.
//!
//! A new network namespace is the dearest part of a fresh sandbox (about 1 ms of CPU to make
//! and, in a kernel worker, to destroy: mostly `sysctl` tables and the loopback device), and
//! a run that never touched the network leaves it exactly as it found it. So the launcher
//! keeps a [`NetnsPool`]: a thread of its own (the *maker*) makes namespaces (loopback up,
//! like a run's own) and records what the kernel shows of each when new (its [`Trace`]). A
//! run leases one ([`NetnsLease`]): its init enters it with `setns` instead of cloning a new
//! one. Only one run holds a namespace at a time, and only while its runner lives.
//!
//! When the run's runner has exited cleanly (its result sent, its sandbox torn down: init
//! reaped, so every process of the run is gone, and its cgroup empty and removed), the lease
//! is given back ([`NetnsLease::give_back`]); after a [`QUARANTINE`] (a multicast report
//! leaves from a timer after the run) another thread (the *checker*, which never makes one, so
//! a check never waits behind a creation) reads the namespace's trace again. It goes
//! back to the pool only if the trace is the same as when the namespace was new: every packet
//! counter (`dev`, `snmp`, `snmp6`, `netstat`), every socket still open or in `TIME_WAIT`
//! (`protocols`, `sockstat`, `sockstat6`), IPv6 flow labels (`ip6_flowlabel`) and routes
//! (`rt6_stats`, `ipv6_route`; each CPU's route to `::1` is made before the trace is taken).
//! Anything else (a connection on loopback, a packet sent or refused, a socket kept alive in
//! flight) and the namespace is closed and destroyed like a fresh one would have been. The
//! next run in it then sees what a new namespace shows. A lease dropped without being given
//! back (the runner was killed, died, or failed its teardown) is always destroyed.
//!
//! Each namespace keeps the files of its trace open from the moment it is made
//! ([`TRACE_FILES`] descriptors besides its own, and their read buffers: about 57 KiB of kernel
//! memory): a check then reads each file again from its start, without `setns` or a path
//! lookup (0.10-0.11 ms of CPU instead of 0.19-0.23 here: `print_trace_cost`). Each open file
//! keeps the namespace alive too; they are closed with it. Under a low hard descriptor limit
//! the pool owns fewer namespaces ([`most_within_descriptor_limit`]).
//!
//! The fields the comparison leaves out are the kernel's global counters that every namespace
//! shows alike (the memory of all TCP and UDP sockets of the machine, orphaned and allocated
//! TCP sockets), so they carry nothing of one run in particular. docs/SECURITY.md has the
//! argument.

mod namespace;
mod pool;
mod retry;
mod trace;

pub use namespace::{open, NetnsRef};
pub use pool::{
    most_within_descriptor_limit, NetnsLease, NetnsPool, NetnsStats, PoolSizes,
    DESCRIPTORS_PER_NETNS, QUARANTINE,
};
pub use trace::{Trace, TRACE_FILES};
