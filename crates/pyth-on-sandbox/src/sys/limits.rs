//! Resource limits (`setrlimit`, `getrlimit`): the payload's, set before the user's code
//! exists, and the server's descriptor limit, which bounds the network-namespace pool. Part of
//! [`crate::sys`], under the same rules.

use super::{check, Result};

/// `setrlimit(resource, {soft, hard})`.
pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit struct for the call.
    let ret = unsafe { libc::setrlimit(resource, &lim) };
    check(ret.into(), "setrlimit", || {
        format!("{resource}, {{{soft}, {hard}}}")
    })
    .map(drop)
}

/// The hard `RLIMIT_NOFILE` of this process (`None`: unlimited).
pub fn descriptor_hard_limit() -> Result<Option<u64>> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit struct the kernel writes.
    let ret = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    check(ret.into(), "getrlimit", || "RLIMIT_NOFILE".into())?;
    Ok((lim.rlim_max != libc::RLIM_INFINITY).then_some(lim.rlim_max))
}
