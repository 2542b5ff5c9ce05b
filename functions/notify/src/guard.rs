//! SSRF guard: a webhook URL is resolved here, every address it resolves to is
//! checked, and the request is then pinned to a checked address, so a DNS answer
//! that changes between check and connect (rebinding) cannot reach inside.

use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What targets configuration allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Loopback, private and link-local targets (one-machine setups and tests).
    /// The cloud metadata address and the unspecified address are refused regardless.
    pub allow_private_targets: bool,
    pub require_https: bool,
}

/// A checked target: send to `addr` with `host` as the name in the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub host: String,
    pub addr: SocketAddr,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("`{0}` is not a valid URL")]
    BadUrl(String),
    #[error("scheme `{0}` is not allowed: use https")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("host `{host}` does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
    #[error("host `{host}` resolves to {ip}, a {class} address")]
    Forbidden {
        host: String,
        ip: IpAddr,
        class: &'static str,
    },
}

impl Refused {
    /// Refusals that a later attempt could get past (DNS may come back).
    pub fn is_transient(&self) -> bool {
        matches!(self, Refused::Unresolvable { .. })
    }
}

/// Why `ip` is never a webhook target, or under the policy is not one.
pub fn forbidden_class(ip: IpAddr, policy: &TargetPolicy) -> Option<&'static str> {
    let (always, private) = classify(ip);
    always.or(if policy.allow_private_targets {
        None
    } else {
        private
    })
}

/// (refused in every configuration, refused unless private targets are allowed)
fn classify(ip: IpAddr) -> (Option<&'static str>, Option<&'static str>) {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return classify_v4(v4);
            }
            let seg0 = v6.segments()[0];
            if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                (Some("cloud metadata"), None)
            } else if v6.is_unspecified() {
                (Some("unspecified"), None)
            } else if v6.is_multicast() {
                (Some("multicast"), None)
            } else if v6.is_loopback() {
                (None, Some("loopback"))
            } else if seg0 & 0xfe00 == 0xfc00 {
                (None, Some("private (unique local)"))
            } else if seg0 & 0xffc0 == 0xfe80 {
                (None, Some("link-local"))
            } else if v6.segments()[..3] == [0x64, 0xff9b, 1] {
                // RFC 8215 local-use NAT64: the operator picks where the IPv4 sits.
                (None, Some("private (local-use NAT64)"))
            } else if v6.segments()[..2] == [0x2001, 0] {
                // Teredo tunnels to an obfuscated IPv4 address behind a relay.
                (None, Some("Teredo tunnel"))
            } else {
                (None, None)
            }
        }
    }
}

/// The IPv4 address an IPv6 address stands for, where its form embeds one, so
/// that `::ffff:127.0.0.1`, `::127.0.0.1`, `64:ff9b::7f00:1` and `2002:7f00:1::`
/// are all judged as 127.0.0.1 is:
/// - IPv4-mapped `::ffff:a.b.c.d/96` and IPv4-compatible `::a.b.c.d/96` (deprecated,
///   but stacks still route it); `::` and `::1` keep their IPv6 meaning;
/// - NAT64 well-known prefix `64:ff9b::/96` (RFC 6052): the last 32 bits;
/// - 6to4 `2002::/16` (RFC 3056): bits 16 to 48.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(v4(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(v4(s[1], s[2]));
    }
    None
}

fn classify_v4(ip: Ipv4Addr) -> (Option<&'static str>, Option<&'static str>) {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        (Some("cloud metadata"), None)
    } else if ip.is_unspecified() || a == 0 {
        (Some("unspecified"), None)
    } else if ip.is_broadcast() || ip.is_multicast() {
        (Some("broadcast or multicast"), None)
    } else if ip.is_loopback() {
        (None, Some("loopback"))
    } else if ip.is_private() {
        (None, Some("private"))
    } else if ip.is_link_local() {
        (None, Some("link-local"))
    } else if a == 100 && (64..128).contains(&b) {
        (None, Some("carrier-grade NAT"))
    } else {
        (None, None)
    }
}

/// Parse, resolve and check `url`. Every resolved address must pass, and the
/// first one is the address the request is pinned to.
pub async fn check(url: &str, policy: &TargetPolicy) -> Result<Target, Refused> {
    let parsed = Url::parse(url).map_err(|_| Refused::BadUrl(url.to_owned()))?;
    match parsed.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        other => return Err(Refused::Scheme(other.to_owned())),
    }
    // IPv6 literals come back in brackets; the bare form is what resolves and pins.
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(Refused::NoHost)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().ok_or(Refused::NoHost)?;
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| Refused::Unresolvable {
                host: host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(Refused::Unresolvable {
            host,
            reason: "no addresses".into(),
        });
    };
    for addr in &addrs {
        if let Some(class) = forbidden_class(addr.ip(), policy) {
            return Err(Refused::Forbidden {
                host,
                ip: addr.ip(),
                class,
            });
        }
    }
    Ok(Target {
        url: parsed,
        host,
        addr: first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION: TargetPolicy = TargetPolicy {
        allow_private_targets: false,
        require_https: true,
    };
    const LOCAL: TargetPolicy = TargetPolicy {
        allow_private_targets: true,
        require_https: false,
    };

    fn class(ip: &str, policy: &TargetPolicy) -> Option<&'static str> {
        forbidden_class(ip.parse().unwrap(), policy)
    }

    #[test]
    fn internal_ranges_are_refused_in_production() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "100.64.0.1",
        ] {
            assert!(class(ip, &PRODUCTION).is_some(), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "172.32.0.1", "2606:4700::1111", "8.8.8.8"] {
            assert_eq!(class(ip, &PRODUCTION), None, "{ip} is public");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_an_ipv4_address_are_classified_by_it() {
        for (ip, want) in [
            // IPv4-compatible
            ("::127.0.0.1", "loopback"),
            ("::10.0.0.1", "private"),
            ("::169.254.169.254", "cloud metadata"),
            // NAT64 well-known prefix
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::192.168.0.1", "private"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            // 6to4
            ("2002:7f00:1::", "loopback"),
            ("2002:a00:1::1", "private"),
            ("2002:a9fe:a9fe::", "cloud metadata"),
            ("2002:0:0::1", "unspecified"),
            // IPv4-mapped, as before
            ("::ffff:10.1.2.3", "private"),
            // Local-use NAT64 and Teredo hide where they lead.
            ("64:ff9b:1::a00:1", "private (local-use NAT64)"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo tunnel"),
        ] {
            assert_eq!(class(ip, &PRODUCTION), Some(want), "{ip}");
        }
        // The metadata service stays refused however it is spelled.
        for ip in [
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::",
        ] {
            assert_eq!(class(ip, &LOCAL), Some("cloud metadata"), "{ip}");
        }
        // The same forms around a public IPv4 address are public.
        for ip in ["::8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert_eq!(class(ip, &PRODUCTION), None, "{ip}");
        }
        assert_eq!(
            embedded_ipv4("64:ff9b::7f00:1".parse().unwrap()),
            Some(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(embedded_ipv4("::1".parse().unwrap()), None);
        assert_eq!(embedded_ipv4("2606:4700::1111".parse().unwrap()), None);
    }

    #[tokio::test]
    async fn urls_with_ipv6_transition_literals_are_refused() {
        for url in [
            "https://[::127.0.0.1]/hook",
            "https://[64:ff9b::7f00:1]/hook",
            "https://[2002:7f00:1::]/hook",
        ] {
            assert!(
                matches!(
                    check(url, &PRODUCTION).await,
                    Err(Refused::Forbidden {
                        class: "loopback",
                        ..
                    })
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn allowing_private_targets_never_allows_the_metadata_service() {
        assert_eq!(class("127.0.0.1", &LOCAL), None);
        assert_eq!(class("10.0.0.1", &LOCAL), None);
        assert_eq!(class("169.254.169.254", &LOCAL), Some("cloud metadata"));
        assert_eq!(class("fd00:ec2::254", &LOCAL), Some("cloud metadata"));
        assert_eq!(class("0.0.0.0", &LOCAL), Some("unspecified"));
    }

    #[tokio::test]
    async fn production_refuses_the_issue_examples() {
        for url in [
            "http://127.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
        ] {
            assert!(
                matches!(check(url, &PRODUCTION).await, Err(Refused::Scheme(_))),
                "{url}"
            );
            let https = url.replacen("http:", "https:", 1);
            assert!(
                matches!(
                    check(&https, &PRODUCTION).await,
                    Err(Refused::Forbidden { .. })
                ),
                "{https}"
            );
        }
        let by_name = check("https://localhost:8443/hook", &PRODUCTION).await;
        assert!(
            matches!(
                by_name,
                Err(Refused::Forbidden {
                    class: "loopback",
                    ..
                })
            ),
            "{by_name:?}"
        );
        assert!(matches!(
            check("ftp://example.com/", &LOCAL).await,
            Err(Refused::Scheme(_))
        ));
        assert!(matches!(
            check("not a url", &LOCAL).await,
            Err(Refused::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn allowed_targets_are_pinned_to_the_checked_address() {
        let target = check("http://127.0.0.1:9/hook", &LOCAL).await.unwrap();
        assert_eq!(target.addr, "127.0.0.1:9".parse().unwrap());
        let by_name = check("http://localhost:9/hook", &LOCAL).await.unwrap();
        assert!(by_name.addr.ip().is_loopback());
        assert_eq!(by_name.host, "localhost");
    }
}
