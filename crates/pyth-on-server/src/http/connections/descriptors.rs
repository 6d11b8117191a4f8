//! The process's descriptor limit (`RLIMIT_NOFILE`). Every client connection holds one
//! descriptor; past the limit `accept` fails with `EMFILE` and nobody gets in, the health check
//! included. At start the soft limit is raised (up to the hard limit) to what the overall
//! connection cap needs plus a reserve for everything else, and the cap is lowered when the
//! limit cannot hold it.

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// Descriptors kept back for all but client connections: the network-namespace pool's at most
/// 64 + 256 namespaces with 11 each ([`pyth_on_launcher::MOST_NETNS_DESCRIPTORS`]: the
/// namespace and the files of its trace; 3520), and 1024 for the rest (database pool, warm runners and their pipes,
/// egress proxy sockets, package builds, logs). A quarter of the limit, at most this; under a
/// hard limit too low for that, the pool keeps to that quarter less 1024, or to an eighth of
/// the limit when that is more (`pyth_on_sandbox::netns::most_within_descriptor_limit`).
const RESERVE: u64 = pyth_on_launcher::MOST_NETNS_DESCRIPTORS as u64 + 1024;

/// The overall connection cap that fits this process: `wanted`, or less when the descriptor
/// limit cannot be raised far enough. Logs the limit and any lowering.
pub fn fit_connections(wanted: usize) -> usize {
    let wanted64 = u64::try_from(wanted).unwrap_or(u64::MAX);
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the descriptor limit; keeping --max-connections");
            return wanted;
        }
    };
    let before = soft;
    let soft = raise(soft, hard, wanted64.saturating_add(RESERVE));
    let fit = fitting(soft, wanted64);
    let fit = usize::try_from(fit).unwrap_or(wanted);
    if fit < wanted {
        tracing::warn!(
            soft_limit = soft,
            hard_limit = hard,
            wanted,
            max_connections = fit,
            "the descriptor limit cannot hold --max-connections: lowered; raise the hard limit \
             (LimitNOFILE=, ulimit -Hn) to keep it"
        );
    }
    tracing::info!(
        soft_limit = soft,
        was = before,
        hard_limit = hard,
        max_connections = fit,
        "descriptor limit"
    );
    fit
}

/// Raises the soft limit towards `want` (never past `hard`); the soft limit now in force.
fn raise(soft: u64, hard: u64, want: u64) -> u64 {
    let target = target(soft, hard, want);
    if target == soft {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => target,
        Err(err) => {
            tracing::warn!(error = %err, soft_limit = soft, wanted = target, "cannot raise the descriptor limit");
            soft
        }
    }
}

/// The soft limit to ask for: `want`, capped by `hard`; never lower than `soft`.
fn target(soft: u64, hard: u64, want: u64) -> u64 {
    if soft == RLIM_INFINITY || soft >= want {
        return soft;
    }
    if hard == RLIM_INFINITY {
        want
    } else {
        want.min(hard).max(soft)
    }
}

/// Connections that fit under a soft limit of `limit` after the reserve (at least one).
fn fitting(limit: u64, wanted: u64) -> u64 {
    if limit == RLIM_INFINITY {
        return wanted;
    }
    let reserve = (limit / 4).min(RESERVE);
    wanted.min(limit - reserve).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_holds_a_full_namespace_pool_and_1024_more() {
        assert_eq!(RESERVE, 3520 + 1024);
    }

    #[test]
    fn the_soft_limit_is_raised_to_what_the_cap_needs_within_the_hard_limit() {
        assert_eq!(target(1024, 524_288, 4096 + RESERVE), 4096 + RESERVE);
        assert_eq!(target(1024, 2048, 4096 + RESERVE), 2048);
        assert_eq!(target(1024, RLIM_INFINITY, 5000), 5000);
    }

    #[test]
    fn a_high_soft_limit_is_left_alone() {
        assert_eq!(target(65_536, 65_536, 5120), 65_536);
        assert_eq!(target(RLIM_INFINITY, RLIM_INFINITY, 5120), RLIM_INFINITY);
    }

    #[test]
    fn the_cap_is_lowered_to_what_fits_beside_the_reserve() {
        assert_eq!(fitting(4096 + RESERVE, 4096), 4096);
        assert_eq!(fitting(8192, 4096), 4096);
        assert_eq!(fitting(5120, 4096), 3840);
        assert_eq!(fitting(2048, 4096), 1536);
        assert_eq!(fitting(1024, 4096), 768);
        assert_eq!(fitting(1024, 100), 100);
        assert_eq!(fitting(RLIM_INFINITY, 4096), 4096);
    }

    #[test]
    fn the_limit_in_force_fits_the_cap_after_raising() {
        let fit = fit_connections(64);
        assert_eq!(fit, 64);
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(soft >= 64);
    }
}
