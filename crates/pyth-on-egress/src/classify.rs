//! Which addresses a run must never reach, whatever the host name said: loopback, private,
//! link-local (the cloud metadata address 169.254.169.254 included), multicast, unspecified,
//! shared (CGNAT), unique-local, documentation, benchmarking and reserved ranges of both
//! families. Addresses that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 address inside.
//!
//! Hand-written from the IANA special-purpose registries: `std`'s `is_global` is still
//! unstable, and the small crates that offer it are single-author and unmaintained; `ipnet`
//! (maintained, already a dependency) does the prefix arithmetic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{Ipv4Net, Ipv6Net};

/// Why an address is not a public destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918 private networks, IPv6 unique-local `fc00::/7`.
    Private,
    /// `100.64.0.0/10` (carrier-grade NAT).
    Shared,
    /// `169.254.0.0/16` (metadata services live here), `fe80::/10`, site-local `fec0::/10`.
    LinkLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// Documentation and benchmarking ranges.
    Documentation,
    /// Everything else the registries set aside (protocol assignments, reserved, broadcast,
    /// discard, Teredo, local-use NAT64, IPv4-compatible).
    Reserved,
}

impl Special {
    /// A short lowercase name for refusals and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Special::Unspecified => "unspecified",
            Special::Loopback => "loopback",
            Special::Private => "private",
            Special::Shared => "shared (CGNAT)",
            Special::LinkLocal => "link-local",
            Special::Multicast => "multicast",
            Special::Documentation => "documentation",
            Special::Reserved => "reserved",
        }
    }
}

const V4: &[(&str, Special)] = &[
    ("0.0.0.0/8", Special::Unspecified),
    ("10.0.0.0/8", Special::Private),
    ("100.64.0.0/10", Special::Shared),
    ("127.0.0.0/8", Special::Loopback),
    ("169.254.0.0/16", Special::LinkLocal),
    ("172.16.0.0/12", Special::Private),
    ("192.0.0.0/24", Special::Reserved),
    ("192.0.2.0/24", Special::Documentation),
    ("192.88.99.0/24", Special::Reserved),
    ("192.168.0.0/16", Special::Private),
    ("198.18.0.0/15", Special::Documentation),
    ("198.51.100.0/24", Special::Documentation),
    ("203.0.113.0/24", Special::Documentation),
    ("224.0.0.0/4", Special::Multicast),
    ("240.0.0.0/4", Special::Reserved),
];

const V6: &[(&str, Special)] = &[
    ("::/128", Special::Unspecified),
    ("::1/128", Special::Loopback),
    // IPv4-compatible (deprecated); the mapped range ::ffff:0:0/96 is unwrapped before this.
    ("::/96", Special::Reserved),
    ("64:ff9b:1::/48", Special::Reserved),
    ("100::/64", Special::Reserved),
    ("2001::/23", Special::Reserved),
    ("2001:db8::/32", Special::Documentation),
    ("3fff::/20", Special::Documentation),
    ("fc00::/7", Special::Private),
    ("fe80::/10", Special::LinkLocal),
    ("fec0::/10", Special::LinkLocal),
    ("ff00::/8", Special::Multicast),
];

static V4_NETS: LazyLock<Vec<(Ipv4Net, Special)>> = LazyLock::new(|| {
    V4.iter()
        .map(|(n, s)| (n.parse().expect("the IPv4 table holds valid prefixes"), *s))
        .collect()
});

static V6_NETS: LazyLock<Vec<(Ipv6Net, Special)>> = LazyLock::new(|| {
    V6.iter()
        .map(|(n, s)| (n.parse().expect("the IPv6 table holds valid prefixes"), *s))
        .collect()
});

/// The IPv4 address an IPv6 address stands for, if it embeds one that routing would reach:
/// IPv4-mapped, NAT64 well-known prefix, 6to4.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let [a, b, c, d, e, f, g, h] = s;
    if [a, b, c, d, e, f] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::from((u32::from(g) << 16) | u32::from(h)));
    }
    if a == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(b) << 16) | u32::from(c)));
    }
    None
}

/// The address family-independent canonical form: IPv4-mapped IPv6 becomes IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `Some(why)` when `ip` is not a public unicast address.
pub fn classify(ip: IpAddr) -> Option<Special> {
    match ip {
        IpAddr::V4(v4) => V4_NETS
            .iter()
            .find(|(net, _)| net.contains(&v4))
            .map(|(_, s)| *s),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify(IpAddr::V4(v4)),
            None => V6_NETS
                .iter()
                .find(|(net, _)| net.contains(&v6))
                .map(|(_, s)| *s),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<Special> {
        classify(s.parse().expect("test addresses parse"))
    }

    #[test]
    fn every_special_range_of_both_families_is_classified() {
        use Special::*;
        let table: &[(&str, Option<Special>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.1.2.3", Some(Unspecified)),
            ("::", Some(Unspecified)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("100.64.0.1", Some(Shared)),
            ("100.127.255.255", Some(Shared)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.0.1", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("fec0::1", Some(LinkLocal)),
            ("224.0.0.1", Some(Multicast)),
            ("239.255.255.250", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("192.0.2.1", Some(Documentation)),
            ("198.51.100.7", Some(Documentation)),
            ("203.0.113.9", Some(Documentation)),
            ("198.18.0.1", Some(Documentation)),
            ("2001:db8::1", Some(Documentation)),
            ("3fff::1", Some(Documentation)),
            ("255.255.255.255", Some(Reserved)),
            ("240.0.0.1", Some(Reserved)),
            ("192.0.0.8", Some(Reserved)),
            ("2001::1", Some(Reserved)),
            ("100::1", Some(Reserved)),
            ("::127.0.0.1", Some(Reserved)),
            ("64:ff9b:1::1", Some(Reserved)),
            // Public addresses of both families.
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450::1", None),
        ];
        for (addr, want) in table {
            assert_eq!(c(addr), *want, "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_an_ipv4_address_are_judged_by_it() {
        let table: &[(&str, Option<Special>)] = &[
            ("::ffff:127.0.0.1", Some(Special::Loopback)),
            ("::ffff:169.254.169.254", Some(Special::LinkLocal)),
            ("::ffff:10.0.0.1", Some(Special::Private)),
            ("::ffff:1.1.1.1", None),
            ("64:ff9b::7f00:1", Some(Special::Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(Special::LinkLocal)),
            ("64:ff9b::101:101", None),
            ("2002:7f00:1::1", Some(Special::Loopback)),
            ("2002:c0a8:101::1", Some(Special::Private)),
            ("2002:808:808::1", None),
        ];
        for (addr, want) in table {
            assert_eq!(c(addr), *want, "{addr}");
        }
    }

    #[test]
    fn canonical_unwraps_only_mapped_addresses() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("test addresses parse") };
        assert_eq!(canonical(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(canonical(ip("::1")), ip("::1"));
        assert_eq!(canonical(ip("8.8.8.8")), ip("8.8.8.8"));
    }
}
