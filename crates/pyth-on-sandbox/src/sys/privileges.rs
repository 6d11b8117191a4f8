//! Credentials, capabilities and process controls (`prctl`): what the payload drops before
//! the user's code exists, and the few controls the server and init set on themselves. Part of
//! [`crate::sys`], under the same rules.

use super::{check, Result, SysError};

/// `setsid()`: a new session and process group (the caller must not lead one).
pub fn setsid() -> Result<()> {
    // SAFETY: no arguments; changes only the caller's session and process group.
    let ret = unsafe { libc::setsid() };
    check(ret.into(), "setsid", String::new).map(drop)
}

/// `setgroups(0, NULL)`, `setresgid(gid×3)`, `setresuid(uid×3)`, in that order, then
/// `getresuid`, `getresgid` and `getgroups`: an error unless all six ids read back as asked
/// (a uid of `(uid_t)-1` would leave them unchanged) and no supplementary group is left.
pub fn set_credentials(uid: u32, gid: u32) -> Result<()> {
    // SAFETY: a zero-length list with a NULL pointer is the documented way to clear groups.
    let ret = unsafe { libc::setgroups(0, std::ptr::null()) };
    check(ret.into(), "setgroups", || "0, NULL".into())?;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::setresgid(gid, gid, gid) };
    check(ret.into(), "setresgid", || format!("{gid}, {gid}, {gid}"))?;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::setresuid(uid, uid, uid) };
    check(ret.into(), "setresuid", || format!("{uid}, {uid}, {uid}"))?;
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three valid out-pointers to uid_t for the call.
    let ret = unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    check(ret.into(), "getresuid", String::new)?;
    let (mut gr, mut ge, mut gs) = (0, 0, 0);
    // SAFETY: three valid out-pointers to gid_t for the call.
    let ret = unsafe { libc::getresgid(&mut gr, &mut ge, &mut gs) };
    check(ret.into(), "getresgid", String::new)?;
    // SAFETY: a zero-length query with a NULL list only counts the supplementary groups.
    let groups = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    check(groups.into(), "getgroups", || "0, NULL".into())?;
    if [r, e, s] != [uid; 3] || [gr, ge, gs] != [gid; 3] || groups != 0 {
        return Err(SysError::from_io(
            "setresuid",
            format!("asked {uid}/{gid}, have uid {r} {e} {s}, gid {gr} {ge} {gs}, {groups} groups"),
            std::io::Error::from_raw_os_error(libc::EPERM),
        ));
    }
    Ok(())
}

/// `prctl(option, arg2, 0, 0, 0)`.
fn prctl(option: libc::c_int, arg2: libc::c_ulong, name: &'static str) -> Result<()> {
    // SAFETY: the options used here take only integer arguments.
    let ret = unsafe {
        libc::prctl(
            option,
            arg2,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(ret.into(), "prctl", || format!("{name}, {arg2}")).map(drop)
}

/// `prctl(PR_SET_SPECULATION_CTRL, which, PR_SPEC_FORCE_DISABLE)` for speculative store bypass
/// and indirect branch speculation: the kernel's per-task mitigations (inherited across
/// `fork` and `execve`, and `FORCE` cannot be undone). Best effort: a kernel whose mitigation
/// is off or not controllable per task (`ENXIO`, `EINVAL`, `EPERM`) leaves the task as it is;
/// `/proc/<pid>/status` tells which applies. Returns how many were forced.
pub fn force_speculation_mitigations() -> usize {
    const PR_SET_SPECULATION_CTRL: libc::c_int = 53;
    const PR_SPEC_STORE_BYPASS: libc::c_ulong = 0;
    const PR_SPEC_INDIRECT_BRANCH: libc::c_ulong = 1;
    const PR_SPEC_FORCE_DISABLE: libc::c_ulong = 1 << 3;
    let mut forced = 0;
    for which in [PR_SPEC_STORE_BYPASS, PR_SPEC_INDIRECT_BRANCH] {
        // SAFETY: PR_SET_SPECULATION_CTRL takes integer arguments only and changes nothing
        // but this task's speculation controls.
        let ret = unsafe {
            libc::prctl(
                PR_SET_SPECULATION_CTRL,
                which,
                PR_SPEC_FORCE_DISABLE,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if ret == 0 {
            forced += 1;
        }
    }
    forced
}

/// `mallopt(M_MMAP_THRESHOLD, bytes)`: allocations of at least `bytes` always get their own
/// mapping, returned to the system when freed. It also turns off glibc's dynamic threshold,
/// which otherwise rises to the size of the largest block freed (Argon2's 19 MiB) and then
/// serves such blocks from the heap, where fragmentation keeps them (measured: 16 MB → 600 MB
/// after a burst of logins, and staying there). `false` where it is not glibc or it refused.
pub fn set_malloc_mmap_threshold(bytes: usize) -> bool {
    #[cfg(target_env = "gnu")]
    {
        let Ok(bytes) = libc::c_int::try_from(bytes) else {
            return false;
        };
        // SAFETY: mallopt takes two integers and only changes the allocator's tuning.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1 }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        let _ = bytes;
        false
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
}

/// `prctl(PR_SET_PDEATHSIG, sig)`.
pub fn set_parent_death_signal(sig: i32) -> Result<()> {
    prctl(
        libc::PR_SET_PDEATHSIG,
        sig as libc::c_ulong,
        "PR_SET_PDEATHSIG",
    )
}

/// `prctl(PR_SET_DUMPABLE, 0)`: no core dumps, `/proc/<pid>` owned by root, no ptrace attach.
pub fn set_not_dumpable() -> Result<()> {
    prctl(libc::PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")
}

/// Drops every capability from the bounding set, clears the ambient set, then (after the caller
/// changed uid) `capset` clears effective, permitted and inheritable.
pub fn drop_bounding_and_ambient() -> Result<()> {
    for cap in 0..=63u64 {
        // SAFETY: integer arguments only.
        let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if ret < 0 {
            // EINVAL: past the last capability this kernel knows.
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(SysError::last("prctl", format!("PR_CAPBSET_DROP, {cap}")));
        }
    }
    prctl_ambient_clear()
}

fn prctl_ambient_clear() -> Result<()> {
    // SAFETY: integer arguments only.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    check(ret.into(), "prctl", || {
        "PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL".into()
    })
    .map(drop)
}

/// `capset` with empty effective, permitted and inheritable sets (version 3, both words), then
/// `capget`: an error unless all three read back empty.
pub fn clear_capabilities() -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and the two data words have the layout capset(2) expects for version 3.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    check(ret, "capset", || "v3, pid 0, all sets empty".into())?;
    let mut read = [Data {
        effective: u32::MAX,
        permitted: u32::MAX,
        inheritable: u32::MAX,
    }; 2];
    // SAFETY: as above; `read` has room for the two data words capget(2) writes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            read.as_mut_ptr(),
        )
    };
    check(ret, "capget", || "v3, pid 0".into())?;
    if read
        .iter()
        .any(|d| d.effective | d.permitted | d.inheritable != 0)
    {
        return Err(SysError::from_io(
            "capget",
            "capabilities remain after capset".into(),
            std::io::Error::from_raw_os_error(libc::EPERM),
        ));
    }
    Ok(())
}

/// Whether capability `cap` is in this process's effective set (`CapEff` in
/// `/proc/self/status`); `false` where unreadable.
pub fn has_effective_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|set| cap < 64 && set & (1 << cap) != 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_has_every_capability_and_no_process_one_past_the_last() {
        assert_eq!(super::has_effective_capability(0), crate::running_as_root());
        assert!(!super::has_effective_capability(64));
    }
}
