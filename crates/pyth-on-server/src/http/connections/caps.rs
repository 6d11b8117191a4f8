//! Caps on open connections, overall and per client address. A connection holds a [`Slot`]
//! for its life; dropping it frees the place.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;

/// Which cap a new connection ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `--max-connections`.
    Overall,
    /// `--max-connections-per-address`.
    PerAddress,
}

impl Refused {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overall => "max-connections",
            Self::PerAddress => "max-connections-per-address",
        }
    }
}

/// The open connections and the caps on them.
#[derive(Debug)]
pub struct Caps {
    overall: usize,
    per_address: usize,
    /// Peers counted only towards the overall cap (trusted proxies carry many clients).
    exempt: Vec<IpNet>,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    overall: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection's place; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    caps: Arc<Caps>,
    key: Option<IpAddr>,
}

impl Caps {
    /// Caps of `overall` connections and `per_address` from one address.
    pub fn new(overall: usize, per_address: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            overall,
            per_address,
            exempt,
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for a connection from `peer`, or the cap it would pass.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let peer = peer.to_canonical();
        let key = (!self.exempt.iter().any(|net| net.contains(&peer))).then(|| address_key(peer));
        let mut open = self.lock();
        if open.overall >= self.overall {
            return Err(Refused::Overall);
        }
        if let Some(key) = key {
            let count = open.by_address.entry(key).or_default();
            if *count >= self.per_address {
                return Err(Refused::PerAddress);
            }
            *count += 1;
        }
        open.overall += 1;
        Ok(Slot {
            caps: Arc::clone(self),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().overall
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The counts stay consistent whatever panicked: every update is a single step.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.caps.lock();
        open.overall = open.overall.saturating_sub(1);
        if let Some(key) = self.key {
            if let Some(count) = open.by_address.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.by_address.remove(&key);
                }
            }
        }
    }
}

/// What one client is: its IPv4 address, or its IPv6 /64 (one host usually holds a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_gets_at_most_its_cap_and_others_still_get_in() {
        let caps = Caps::new(10, 2, Vec::new());
        let _a = caps.admit(ip("192.0.2.1")).unwrap();
        let _b = caps.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            caps.admit(ip("192.0.2.1")).unwrap_err(),
            Refused::PerAddress
        );
        assert!(caps.admit(ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn the_overall_cap_holds_across_addresses() {
        let caps = Caps::new(2, 5, Vec::new());
        let _a = caps.admit(ip("192.0.2.1")).unwrap();
        let _b = caps.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(caps.admit(ip("192.0.2.3")).unwrap_err(), Refused::Overall);
    }

    #[test]
    fn a_dropped_slot_frees_its_place() {
        let caps = Caps::new(1, 1, Vec::new());
        let slot = caps.admit(ip("192.0.2.1")).unwrap();
        assert!(caps.admit(ip("192.0.2.1")).is_err());
        drop(slot);
        assert_eq!(caps.open(), 0);
        assert!(caps.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_share_a_cap() {
        let caps = Caps::new(10, 1, Vec::new());
        let _a = caps.admit(ip("2001:db8::1")).unwrap();
        assert!(caps.admit(ip("2001:db8::ffff:2")).is_err());
        assert!(caps.admit(ip("2001:db8:0:1::1")).is_ok());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let caps = Caps::new(10, 1, Vec::new());
        let _a = caps.admit(ip("192.0.2.1")).unwrap();
        assert!(caps.admit(ip("::ffff:192.0.2.1")).is_err());
    }

    #[test]
    fn trusted_proxies_count_only_towards_the_overall_cap() {
        let caps = Caps::new(3, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        let _a = caps.admit(ip("10.0.0.2")).unwrap();
        let _b = caps.admit(ip("10.0.0.2")).unwrap();
        let _c = caps.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(caps.admit(ip("10.0.0.2")).unwrap_err(), Refused::Overall);
    }
}
