//! Webhook URLs are checked when a preview is ordered, so a URL that could never
//! be delivered to is refused with a 422 that says why, instead of failing
//! later where the customer does not look.
//!
//! Always: at most 2048 bytes, parses as an absolute URL, scheme `https` (or
//! `http` where the deployment allows it), a host, no user name or password, no
//! fragment, and a port that is not 0. Where private targets are refused (AWS):
//! an explicit port must be 80, 443 or 1024 and above, and a host that is an IP
//! literal or `localhost` must not be loopback, private, link-local or another
//! internal class. Names are not resolved here: the notifier resolves and checks
//! every address at each delivery, which is what stops DNS rebinding.

use likeness_notify::TargetPolicy;
use likeness_notify::guard::forbidden_class;
use std::net::IpAddr;
use url::{Host, Url};

pub const MAX_WEBHOOK_URL_BYTES: usize = 2048;

/// What makes a webhook URL unusable, in words for the customer.
pub fn problem(raw: &str, policy: &TargetPolicy) -> Option<String> {
    if raw.len() > MAX_WEBHOOK_URL_BYTES {
        return Some(format!(
            "webhook_url is {} bytes long; at most {MAX_WEBHOOK_URL_BYTES} are accepted.",
            raw.len()
        ));
    }
    if raw.trim() != raw || raw.chars().any(char::is_control) {
        return Some(
            "webhook_url must not contain spaces at its ends or control characters.".into(),
        );
    }
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(e) => return Some(format!("webhook_url is not a valid URL: {e}.")),
    };
    match url.scheme() {
        "https" => {}
        "http" if !policy.require_https => {}
        "http" => return Some("webhook_url must use https.".into()),
        other => {
            return Some(format!("webhook_url must be an https URL, not `{other}:`."));
        }
    }
    let Some(host) = url.host() else {
        return Some("webhook_url has no host.".into());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Some(
            "webhook_url must not carry a user name or password; requests are signed instead."
                .into(),
        );
    }
    if url.fragment().is_some() {
        return Some("webhook_url must not have a #fragment (it is never sent).".into());
    }
    if url.port() == Some(0) {
        return Some("webhook_url has port 0.".into());
    }
    if policy.allow_private_targets {
        return None;
    }
    if let Some(port) = url.port()
        && !(port == 80 || port == 443 || port >= 1024)
    {
        return Some(format!(
            "webhook_url port {port} is not allowed: use 80, 443 or a port from 1024 up."
        ));
    }
    let ip = match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.');
            if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") {
                return Some("webhook_url points at this machine (localhost).".into());
            }
            if !name.contains('.') {
                return Some(format!(
                    "webhook_url host `{name}` is not a public domain name."
                ));
            }
            None
        }
    };
    if let Some(ip) = ip
        && let Some(class) = forbidden_class(ip, policy)
    {
        return Some(format!(
            "webhook_url points at {ip}, a {class} address; webhooks go to public endpoints."
        ));
    }
    None
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

    #[test]
    fn good_urls_pass() {
        for url in [
            "https://hooks.example.com/likeness",
            "https://hooks.example.com:8443/x?y=1",
            "https://93.184.216.34/x",
            "https://[2606:4700::1111]/x",
        ] {
            assert_eq!(problem(url, &PRODUCTION), None, "{url}");
        }
        for url in ["http://127.0.0.1:9/hooks", "http://localhost:3000/x"] {
            assert_eq!(problem(url, &LOCAL), None, "{url}");
        }
    }
}
