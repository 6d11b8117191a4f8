//! How many network namespaces the launcher's pool keeps ([`pyth_on_sandbox::netns`]), and
//! starting it: as many ready as runs may hold at once, room for a second of given-back ones,
//! within the pool's share of the descriptor limit.

use pyth_on_sandbox::netns::{NetnsPool, PoolSizes, DESCRIPTORS_PER_NETNS};

/// Most network namespaces kept ready to lease.
const MAX_READY_NETNS: usize = 64;

/// Given-back network namespaces waiting for their check at once (a second of runs, at most
/// this many; each holds [`DESCRIPTORS_PER_NETNS`] descriptors of the server and about 70 KiB
/// of kernel memory, 57 of it its trace's open files and their read buffers). Past it, runs
/// make their own namespaces again.
const MAX_QUARANTINED_NETNS: usize = 256;

/// The most descriptors the pool holds: every namespace it may own ([`MAX_READY_NETNS`] ready
/// and [`MAX_QUARANTINED_NETNS`] given back), each with its trace's files. The server keeps
/// them back from client connections.
pub const MOST_NETNS_DESCRIPTORS: usize =
    (MAX_READY_NETNS + MAX_QUARANTINED_NETNS) * DESCRIPTORS_PER_NETNS;

/// The pool, when running as root: `wanted` ready (at least one, at most [`MAX_READY_NETNS`])
/// and room for [`MAX_QUARANTINED_NETNS`] given back, as far as the descriptor limit holds.
pub(crate) fn pool(wanted: usize, loopback: bool) -> Option<NetnsPool> {
    if !pyth_on_sandbox::running_as_root() {
        return None;
    }
    let ready = wanted.clamp(1, MAX_READY_NETNS);
    let Some(sizes) = PoolSizes::within_descriptor_limit(ready, MAX_QUARANTINED_NETNS) else {
        tracing::warn!("no network-namespace pool: the descriptor limit is too low for one");
        return None;
    };
    match NetnsPool::start(sizes, loopback) {
        Ok(pool) => Some(pool),
        Err(e) => {
            tracing::warn!(error = %e, "no network-namespace pool: every run makes its own");
            None
        }
    }
}
