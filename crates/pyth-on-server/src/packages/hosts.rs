//! Where a build may connect: the configured index or registry (PyPI and npm's public hosts
//! by default), the operator's extra hosts, and nothing else. An index given as an IP literal
//! (a private mirror, or the loopback index of the tests) is exempt from the private-range
//! rule at exactly its address and port: the operator chose it.

use std::net::IpAddr;

use crate::domain::Language;

/// Hosts PyPI serves its index and files from.
pub const PYPI_HOSTS: &[&str] = &["pypi.org", "files.pythonhosted.org"];
/// The npm registry's host (tarballs come from the same host).
pub const NPM_HOSTS: &[&str] = &["registry.npmjs.org"];

/// The host and port of an `http(s)://` index URL; `Err` says why it is unusable.
pub fn index_host(raw: &str) -> Result<(String, u16), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (use a CA bundle and network rules)".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("has no host".into()),
    };
    let port = url.port_or_known_default().ok_or("has no port")?;
    Ok((host, port))
}

/// What the build proxy of one language allows: the allow-list (comma-separated host
/// patterns) and the exempt `address:port` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReach {
    /// `PYTH_ON_EGRESS_ALLOW` syntax.
    pub allow: String,
    /// `PYTH_ON_EGRESS_EXEMPT` syntax.
    pub exempt: String,
    /// The index's own host names (never the operator's extra hosts): the ones whose
    /// resolution into internal ranges may be trusted.
    pub trusted: Vec<String>,
}

/// The reach of a `language` build given the configured index (`None`: the public one), the
/// operator's extra hosts and exempt pairs.
pub fn build_reach(
    language: Language,
    index: Option<&str>,
    extra_hosts: &str,
    extra_exempt: &str,
) -> Result<BuildReach, String> {
    let mut allow: Vec<String> = Vec::new();
    let mut exempt: Vec<String> = Vec::new();
    match index {
        Some(url) => {
            let (host, port) = index_host(url)?;
            if let Ok(ip) = host.parse::<IpAddr>() {
                exempt.push(match ip {
                    IpAddr::V4(v4) => format!("{v4}:{port}"),
                    IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                });
            }
            allow.push(host);
        }
        None => {
            let defaults = match language {
                Language::Python => PYPI_HOSTS,
                Language::Javascript => NPM_HOSTS,
            };
            allow.extend(defaults.iter().map(|h| (*h).to_string()));
        }
    }
    let trusted = allow
        .iter()
        .filter(|h| h.parse::<IpAddr>().is_err())
        .cloned()
        .collect();
    allow.extend(
        extra_hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string),
    );
    exempt.extend(
        extra_exempt
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string),
    );
    Ok(BuildReach {
        allow: allow.join(","),
        exempt: exempt.join(","),
        trusted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_registries_are_the_default_reach() {
        let py = build_reach(Language::Python, None, "", "").unwrap();
        assert_eq!(py.allow, "pypi.org,files.pythonhosted.org");
        assert_eq!(py.exempt, "");
        let js = build_reach(Language::Javascript, None, "cdn.example.com", "").unwrap();
        assert_eq!(js.allow, "registry.npmjs.org,cdn.example.com");
        assert_eq!(
            js.trusted,
            ["registry.npmjs.org"],
            "extra hosts are never trusted"
        );
    }

    #[test]
    fn an_index_given_as_an_ip_literal_is_exempt_at_its_port_only() {
        let r = build_reach(
            Language::Python,
            Some("http://127.0.0.1:8999/simple/"),
            "",
            "10.0.0.5:443",
        )
        .unwrap();
        assert_eq!(r.allow, "127.0.0.1");
        assert_eq!(r.exempt, "127.0.0.1:8999,10.0.0.5:443");
        let v6 = build_reach(Language::Javascript, Some("https://[::1]/npm/"), "", "").unwrap();
        assert_eq!(v6.exempt, "[::1]:443");
    }

    #[test]
    fn a_named_index_is_allowed_by_name_and_not_exempt() {
        let r = build_reach(
            Language::Python,
            Some("https://Mirror.Example.com/simple"),
            "",
            "",
        )
        .unwrap();
        assert_eq!(r.allow, "mirror.example.com");
        assert_eq!(r.exempt, "");
    }

    #[test]
    fn unusable_index_urls_are_refused_with_a_reason() {
        for bad in [
            "ftp://x/",
            "not a url",
            "https://user:pw@example.com/",
            "file:///etc",
        ] {
            assert!(index_host(bad).is_err(), "{bad}");
        }
    }
}
