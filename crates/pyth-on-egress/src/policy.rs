//! The operator's egress policy: which hosts and addresses a run's proxy may connect to.
//!
//! A destination is a host (as the program named it) and a port; the proxy resolves the host
//! itself and asks [`Policy::check`] about every resolved address before it connects, so a
//! name cannot smuggle a forbidden address past the host rules. Rules, in order:
//!
//! 1. `DENY` host patterns refuse the name; `DENY` CIDRs refuse the address.
//! 2. The server's own API listener (`address:port`) is refused.
//! 3. With a per-run narrowing list (a user's), the host must match one of its patterns.
//! 4. An `EXEMPT` `address:port` pair is allowed even in a private range and even when `ALLOW`
//!    does not list the host: the operator deliberately exposed that one service. Otherwise,
//!    with an `ALLOW` list, the host must match one of its patterns.
//! 5. Special addresses ([`crate::classify`]) are refused.
//! 6. Any other port on one of the host's own (public) addresses is refused.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::classify::{canonical, classify, Special};

/// A setting that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A host pattern that is not a host name, `*.` + host name, `*` or an IP literal.
    #[error("invalid host pattern {0:?} (expected host, *.host, * or an IP address)")]
    Pattern(String),
    /// A deny entry that is neither a host pattern nor a CIDR.
    #[error("invalid deny entry {0:?} (expected a host pattern or a CIDR such as 10.0.0.0/8)")]
    Deny(String),
    /// An exempt entry that is not `address:port`.
    #[error("invalid exempt entry {0:?} (expected address:port, e.g. 10.0.0.5:8080 or [::1]:80)")]
    Exempt(String),
}

/// A host pattern: `example.com` (that host), `*.example.com` (any name below it, not itself),
/// `*` (any host) or an IP literal. Case-insensitive, a trailing dot ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Any host.
    Any,
    /// Exactly this host (normalised).
    Exact(String),
    /// Any name ending in `.` + this suffix.
    Below(String),
}

impl std::fmt::Display for HostPattern {
    /// The normalised pattern, which [`HostPattern::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Below(s) => write!(f, "*.{s}"),
        }
    }
}

/// Lowercase, no trailing dot, no IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim().trim_end_matches('.');
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    h.to_ascii_lowercase()
}

/// A syntactically valid host name (letters, digits, `-`, `_`, dots between labels) or IP.
pub fn valid_host(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl HostPattern {
    /// Parses one pattern.
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let n = normalize_host(s);
        if n == "*" && s.trim() == "*" {
            return Ok(HostPattern::Any);
        }
        if let Some(rest) = n.strip_prefix("*.") {
            return if valid_host(rest) && rest.parse::<IpAddr>().is_err() {
                Ok(HostPattern::Below(rest.to_string()))
            } else {
                Err(PolicyError::Pattern(s.to_string()))
            };
        }
        if valid_host(&n) {
            Ok(HostPattern::Exact(n))
        } else {
            Err(PolicyError::Pattern(s.to_string()))
        }
    }

    /// Does `host` (normalised) match?
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Below(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

/// Splits a list setting on commas and whitespace.
fn items(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|i| !i.is_empty())
}

/// Parses a list of host patterns (`PYTH_ON_EGRESS_ALLOW`, a user's allow-list).
pub fn parse_patterns(s: &str) -> Result<Vec<HostPattern>, PolicyError> {
    items(s).map(HostPattern::parse).collect()
}

/// Cloud metadata services outside the link-local range (Alibaba's CGNAT address, AWS's
/// unique-local IPv6 one): never reachable, not even through a trusted name.
pub const METADATA: &[IpAddr] = &[
    IpAddr::V4(std::net::Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// Why the proxy refused a destination; the text goes into the 403 body the program sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The operator's policy (immutable, shared by every run).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Option<Vec<HostPattern>>,
    deny_hosts: Vec<HostPattern>,
    deny_nets: Vec<IpNet>,
    exempt: Vec<SocketAddr>,
    listen: Vec<SocketAddr>,
    host_ips: Vec<IpAddr>,
    /// Exact names that may resolve into internal ranges (see [`Policy::trusting_names`]).
    trusted_names: Vec<String>,
}

impl Policy {
    /// Parses the three settings (each a comma- or space-separated list; empty = none).
    /// An empty `allow` means any public host.
    pub fn parse(allow: &str, deny: &str, exempt: &str) -> Result<Self, PolicyError> {
        let allow = parse_patterns(allow)?;
        let mut deny_hosts = Vec::new();
        let mut deny_nets = Vec::new();
        for item in items(deny) {
            if let Ok(net) = item.parse::<IpNet>() {
                deny_nets.push(net.trunc());
            } else if let Ok(ip) = normalize_host(item).parse::<IpAddr>() {
                deny_nets.push(IpNet::from(canonical(ip)));
            } else {
                deny_hosts
                    .push(HostPattern::parse(item).map_err(|_| PolicyError::Deny(item.into()))?);
            }
        }
        let exempt = items(exempt)
            .map(|e| {
                e.parse::<SocketAddr>()
                    .map(|a| SocketAddr::new(canonical(a.ip()), a.port()))
                    .map_err(|_| PolicyError::Exempt(e.into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow: (!allow.is_empty()).then_some(allow),
            deny_hosts,
            deny_nets,
            exempt,
            listen: Vec::new(),
            host_ips: Vec::new(),
            trusted_names: Vec::new(),
        })
    }

    /// Adds the server itself: its API `listen` addresses (refused even when exempt) and the
    /// host's own addresses (refused on every port unless an exempt pair names it).
    pub fn with_server(
        mut self,
        listen: impl IntoIterator<Item = SocketAddr>,
        host_ips: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        self.listen.extend(
            listen
                .into_iter()
                .map(|a| SocketAddr::new(canonical(a.ip()), a.port())),
        );
        self.host_ips.extend(host_ips.into_iter().map(canonical));
        self
    }

    /// Lets these exact names (which must also be allowed) resolve into private, shared
    /// (CGNAT), documentation and reserved ranges: the host's own resolver points them there
    /// (a corporate proxy or a mirror), and a program cannot choose the answer for a name the
    /// operator configured. Loopback, link-local, multicast and unspecified addresses and the
    /// known cloud metadata addresses in those ranges ([`METADATA`]) stay refused, and so do
    /// address literals and every other name. Package builds use this for their index; runs
    /// do not.
    pub fn trusting_names(mut self, names: Vec<String>) -> Self {
        self.trusted_names = names.iter().map(|n| normalize_host(n)).collect();
        self
    }

    /// Is the host name itself refused (a deny pattern), before any resolution?
    pub fn check_name(&self, host: &str) -> Result<(), Refusal> {
        let host = normalize_host(host);
        if self.deny_hosts.iter().any(|p| p.matches(&host)) {
            return Err(Refusal(format!("{host} is denied by the server's policy")));
        }
        Ok(())
    }

    /// May the proxy look `host` (a name, not an address literal) up at all? A name that the
    /// run's allow-list or the server's `ALLOW` list does not match is refused here, before
    /// any DNS query: otherwise the query itself would carry data out (a program could encode
    /// anything in `<data>.attacker.example` and have this host's resolver deliver it). With
    /// an `ALLOW` list, an exempt service is therefore reached by its address or by a name on
    /// the list.
    pub fn check_before_resolving(
        &self,
        host: &str,
        narrow: Option<&[HostPattern]>,
    ) -> Result<(), Refusal> {
        self.check_name(host)?;
        let host = normalize_host(host);
        check_narrowing(&host, narrow)?;
        self.check_allow_list(&host)
    }

    /// `host` (normalised) must match the server's `ALLOW` list, when there is one.
    fn check_allow_list(&self, host: &str) -> Result<(), Refusal> {
        match &self.allow {
            Some(list) if !list.iter().any(|p| p.matches(host)) => {
                Err(Refusal(format!("{host} is not on the server's allow-list")))
            }
            _ => Ok(()),
        }
    }

    /// May the proxy connect to `addr` (one resolved address of `host`)? `narrow` is a
    /// further allow-list for this run (a user's), applied like `ALLOW`.
    pub fn check(
        &self,
        host: &str,
        addr: SocketAddr,
        narrow: Option<&[HostPattern]>,
    ) -> Result<(), Refusal> {
        self.check_name(host)?;
        let host = normalize_host(host);
        let ip = canonical(addr.ip());
        let shown = SocketAddr::new(ip, addr.port());
        if self.deny_nets.iter().any(|n| n.contains(&ip)) {
            return Err(Refusal(format!(
                "{host} ({ip}) is in a range denied by the server's policy"
            )));
        }
        if self.listen.contains(&shown) {
            return Err(Refusal(format!("{host} ({shown}) is this server's API")));
        }
        // The run's own list narrows everything, exempt services included.
        check_narrowing(&host, narrow)?;
        if self.exempt.contains(&shown) {
            return Ok(());
        }
        self.check_allow_list(&host)?;
        if let Some(why) = classify(ip).filter(|why| !self.trusts(&host, ip, *why)) {
            return Err(Refusal(format!(
                "{host} resolves to {ip}, a {} address",
                why.as_str()
            )));
        }
        if self.host_ips.contains(&ip) {
            return Err(Refusal(format!("{host} ({ip}) is this server's host")));
        }
        Ok(())
    }

    /// Whether `host`'s resolution to `ip` (of class `why`) is accepted
    /// ([`Policy::trusting_names`]).
    fn trusts(&self, host: &str, ip: IpAddr, why: Special) -> bool {
        self.trusted_names.iter().any(|n| n == host)
            && !METADATA.contains(&ip)
            && matches!(
                why,
                Special::Private | Special::Shared | Special::Documentation | Special::Reserved
            )
    }

    /// Whether any rule narrows hosts (for `/api/info`-style summaries).
    pub fn has_allow_list(&self) -> bool {
        self.allow.is_some()
    }
}

/// `host` (normalised) must match the run's own allow-list, when it has one.
fn check_narrowing(host: &str, narrow: Option<&[HostPattern]>) -> Result<(), Refusal> {
    match narrow {
        Some(list) if !list.iter().any(|p| p.matches(host)) => {
            Err(Refusal(format!("{host} is not on your allow-list")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test socket addresses parse")
    }

    #[test]
    fn wildcard_patterns_match_names_below_but_not_the_name_itself() {
        let p = HostPattern::parse("*.Example.COM.").expect("valid pattern");
        assert!(p.matches("api.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("badexample.com"));
        assert!(!p.matches("example.com.evil.net"));
        assert!(HostPattern::parse("*").expect("any").matches("x.y"));
        assert_eq!(p.to_string(), "*.example.com");
        assert_eq!(HostPattern::parse(&p.to_string()), Ok(p));
        let exact = HostPattern::parse("pypi.org").expect("exact");
        assert!(exact.matches("pypi.org"));
        assert!(!exact.matches("files.pypi.org"));
    }

    #[test]
    fn trusted_names_may_resolve_into_internal_ranges_but_never_loopback_or_metadata() {
        let plain = Policy::parse("pypi.org,cdn.example.com", "", "").expect("policy");
        let trusting = plain.clone().trusting_names(vec!["PyPI.org".into()]);
        let proxy = addr("203.0.113.80:443");
        assert!(plain.check("pypi.org", proxy, None).is_err());
        assert!(trusting.check("pypi.org", proxy, None).is_ok());
        assert!(trusting
            .check("pypi.org", addr("10.1.2.3:443"), None)
            .is_ok());
        for never in [
            "127.0.0.1:443",
            "169.254.169.254:80",
            "0.0.0.0:443",
            "[::1]:443",
            "100.100.100.200:80",
            "[fd00:ec2::254]:80",
        ] {
            assert!(
                trusting.check("pypi.org", addr(never), None).is_err(),
                "{never}"
            );
        }
        // Literals, names off the trusted list (allowed or not) are judged as always.
        assert!(trusting.check("203.0.113.80", proxy, None).is_err());
        assert!(trusting.check("cdn.example.com", proxy, None).is_err());
        assert!(trusting.check("evil.example", proxy, None).is_err());
    }

    #[test]
    fn malformed_settings_are_refused_with_the_offending_entry() {
        let table = [
            ("a..b", "", "", PolicyError::Pattern("a..b".into())),
            ("*.", "", "", PolicyError::Pattern("*.".into())),
            ("ex ample/x", "", "", PolicyError::Pattern("ample/x".into())),
            (
                "",
                "10.0.0.0/33",
                "",
                PolicyError::Deny("10.0.0.0/33".into()),
            ),
            ("", "", "127.0.0.1", PolicyError::Exempt("127.0.0.1".into())),
            (
                "",
                "",
                "localhost:80",
                PolicyError::Exempt("localhost:80".into()),
            ),
        ];
        for (allow, deny, exempt, want) in table {
            assert_eq!(
                Policy::parse(allow, deny, exempt).expect_err("must fail"),
                want
            );
        }
    }

    #[test]
    fn the_default_policy_allows_public_and_refuses_every_special_address() {
        let p = Policy::parse("", "", "").expect("empty policy");
        assert!(p.check("one.one", addr("1.1.1.1:443"), None).is_ok());
        assert!(p.check("v6", addr("[2606:4700::1111]:443"), None).is_ok());
        for a in [
            "127.0.0.1:80",
            "[::1]:80",
            "169.254.169.254:80",
            "[::ffff:169.254.169.254]:80",
            "10.0.0.1:80",
            "[fd00::1]:80",
            "0.0.0.0:80",
            "[::]:80",
            "224.0.0.1:80",
            "100.64.0.1:80",
        ] {
            assert!(p.check("h", addr(a), None).is_err(), "{a}");
        }
    }

    #[test]
    fn deny_cidrs_hosts_and_literals_refuse_and_exempt_pairs_open_one_port() {
        let p = Policy::parse(
            "",
            "8.8.0.0/16, *.evil.net 2606:4700::/32 9.9.9.9",
            "127.0.0.1:8081 [::1]:8082",
        )
        .expect("valid policy");
        assert!(p.check("dns", addr("8.8.8.8:53"), None).is_err());
        assert!(p.check("x", addr("[::ffff:8.8.4.4]:53"), None).is_err());
        assert!(p.check("x", addr("[2606:4700::1]:443"), None).is_err());
        assert!(p.check("quad9", addr("9.9.9.9:443"), None).is_err());
        assert!(p.check("a.evil.net", addr("1.1.1.1:443"), None).is_err());
        assert!(p.check_name("A.Evil.Net.").is_err());
        assert!(p.check("ok", addr("1.1.1.1:443"), None).is_ok());
        assert!(p.check("127.0.0.1", addr("127.0.0.1:8081"), None).is_ok());
        assert!(p.check("x", addr("[::ffff:127.0.0.1]:8081"), None).is_ok());
        assert!(p.check("127.0.0.1", addr("127.0.0.1:8080"), None).is_err());
        assert!(p.check("::1", addr("[::1]:8082"), None).is_ok());
        assert!(p.check("::1", addr("[::1]:8081"), None).is_err());
    }

    #[test]
    fn the_allow_list_spares_exempt_pairs_but_a_narrowing_list_applies_to_everything() {
        let p = Policy::parse("*.github.com pypi.org", "", "127.0.0.1:9000").expect("valid");
        assert!(p.check("api.github.com", addr("1.2.3.4:443"), None).is_ok());
        assert!(p.check("pypi.org", addr("1.2.3.4:443"), None).is_ok());
        assert!(p.check("example.com", addr("1.2.3.4:443"), None).is_err());
        let narrow = parse_patterns("pypi.org").expect("valid");
        assert!(p
            .check("pypi.org", addr("1.2.3.4:443"), Some(&narrow))
            .is_ok());
        assert!(p
            .check("api.github.com", addr("1.2.3.4:443"), Some(&narrow))
            .is_err());
        assert!(p.check("svc", addr("127.0.0.1:9000"), None).is_ok());
        assert!(p
            .check("svc", addr("127.0.0.1:9000"), Some(&narrow))
            .is_err());
        let with_svc = parse_patterns("svc pypi.org").expect("valid");
        assert!(p
            .check("svc", addr("127.0.0.1:9000"), Some(&with_svc))
            .is_ok());
        // An allowed name that resolves to a private address is still refused.
        assert!(p.check("pypi.org", addr("10.0.0.1:443"), None).is_err());
    }

    #[test]
    fn names_off_the_allow_lists_are_refused_before_any_lookup() {
        let open = Policy::parse("", "", "").expect("empty policy");
        assert!(open
            .check_before_resolving("x.attacker.example", None)
            .is_ok());
        let user = [HostPattern::parse("api.example.com").expect("valid")];
        assert!(open
            .check_before_resolving("secret-data.attacker.example", Some(&user))
            .is_err());
        assert!(open
            .check_before_resolving("API.example.com.", Some(&user))
            .is_ok());
        let p = Policy::parse("*.github.com", "bad.github.com", "").expect("valid");
        assert!(p.check_before_resolving("api.github.com", None).is_ok());
        for refused in ["c2VjcmV0.attacker.example", "github.com", "bad.github.com"] {
            assert!(
                p.check_before_resolving(refused, None).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_servers_api_is_refused_even_when_exempt_and_its_host_unless_exempt() {
        let p = Policy::parse("", "", "203.0.114.1:8080 203.0.114.1:9000")
            .expect("valid")
            .with_server(
                [addr("203.0.114.1:8080")],
                ["203.0.114.1".parse().expect("ip")],
            );
        assert!(p.check("me", addr("203.0.114.1:8080"), None).is_err());
        assert!(p
            .check("me", addr("[::ffff:203.0.114.1]:8080"), None)
            .is_err());
        assert!(p.check("me", addr("203.0.114.1:22"), None).is_err());
        assert!(p.check("me", addr("203.0.114.1:9000"), None).is_ok());
        assert!(p.check("other", addr("203.0.114.2:22"), None).is_ok());
    }
}
