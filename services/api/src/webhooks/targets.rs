//! Where a webhook may point: `http`/`https` URLs whose host resolves only to public
//! addresses. A URL naming a private, loopback, link-local or otherwise special address (or a
//! name resolving to one) could make the API reach into its own network (cloud metadata at
//! 169.254.169.254, the database, admin ports): refused when the webhook is made, and again at
//! every send, where the connection goes to the very addresses that were checked (the HTTP
//! client resolves names through [`CheckedResolver`] only).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use reqwest::Url;

/// Longest URL accepted (the table's CHECK says the same).
pub const MAX_URL_CHARS: usize = 2048;

pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into addresses.
pub trait HostLookup: Send + Sync + 'static {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a>;
}

/// The system's resolver (getaddrinfo, through tokio).
struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// How webhook hosts are resolved: the system's resolver unless a test sets another.
#[derive(Clone)]
pub struct Resolver(Arc<dyn HostLookup>);

impl Resolver {
    pub fn new(lookup: impl HostLookup) -> Self {
        Self(Arc::new(lookup))
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new(SystemLookup)
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

/// Ranges no webhook may reach, besides those `std` already names (loopback, private,
/// link-local, unspecified, multicast, broadcast): shared address space, IETF and
/// documentation ranges, benchmarking, reserved; IPv6 unique-local, site-local and
/// documentation. IPv4-mapped and NAT64 addresses are judged by the IPv4 address they carry.
static SPECIAL_RANGES: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "fc00::/7",
        "fec0::/10",
        "2001:db8::/32",
        "100::/64",
    ]
    .iter()
    .filter_map(|range| range.parse().ok())
    .collect()
});

/// Which addresses a webhook may reach.
#[derive(Debug, Clone, Copy)]
pub struct AddressPolicy {
    /// 127.0.0.0/8 and ::1 too (a receiver on this machine: local development and tests).
    pub allow_loopback: bool,
}

impl AddressPolicy {
    /// Why `ip` may not be reached, or `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = embedded_v4(ip).map_or(ip, IpAddr::V4);
        if ip.is_loopback() {
            return (!self.allow_loopback).then_some("a loopback address");
        }
        let special = match ip {
            IpAddr::V4(v4) => {
                v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_multicast()
                    || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                v6.is_unspecified() || v6.is_multicast() || v6.is_unicast_link_local()
            }
        };
        (special || SPECIAL_RANGES.iter().any(|range| range.contains(&ip)))
            .then_some("a private, link-local or reserved address")
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`)
/// IPv6 address.
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let nat64: IpNet = "64:ff9b::/96".parse().ok()?;
    nat64.contains(&IpAddr::V6(v6)).then(|| {
        let [.., a, b] = v6.segments();
        Ipv4Addr::from((u32::from(a) << 16) | u32::from(b))
    })
}

/// Why a URL cannot be a webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Invalid(String),
    #[error("{host} {reason}; webhooks may only reach public addresses")]
    Refused { host: String, reason: String },
    #[error("{host} does not resolve: {error}")]
    Unresolvable { host: String, error: String },
}

/// A URL's shape: absolute `http`/`https`, a host, no credentials, at most [`MAX_URL_CHARS`].
pub fn parse(url: &str) -> Result<Url, TargetError> {
    let invalid = |why: &str| TargetError::Invalid(format!("url {why}"));
    if url.chars().count() > MAX_URL_CHARS {
        return Err(invalid(&format!(
            "must be at most {MAX_URL_CHARS} characters"
        )));
    }
    let parsed = Url::parse(url).map_err(|e| invalid(&format!("is not an absolute URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("must start with https:// or http://"));
    }
    if parsed.host().is_none() {
        return Err(invalid("must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("must not carry a user name or password"));
    }
    Ok(parsed)
}

/// The addresses `url`'s host stands for, each allowed by `policy`; refused when any is not
/// (a name that resolves to one public and one private address is refused whole).
pub async fn resolve(
    url: &Url,
    resolver: &Resolver,
    policy: AddressPolicy,
) -> Result<Vec<IpAddr>, TargetError> {
    let host = match url.host() {
        Some(url::Host::Ipv4(v4)) => return checked(&v4.to_string(), vec![IpAddr::V4(v4)], policy),
        Some(url::Host::Ipv6(v6)) => return checked(&v6.to_string(), vec![IpAddr::V6(v6)], policy),
        Some(url::Host::Domain(name)) => name,
        None => return Err(TargetError::Invalid("url must name a host".into())),
    };
    let addresses = resolver
        .0
        .lookup(host)
        .await
        .map_err(|e| TargetError::Unresolvable {
            host: host.to_owned(),
            error: e.to_string(),
        })?;
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable {
            host: host.to_owned(),
            error: "no addresses".into(),
        });
    }
    checked(host, addresses, policy)
}

fn checked(
    host: &str,
    addresses: Vec<IpAddr>,
    policy: AddressPolicy,
) -> Result<Vec<IpAddr>, TargetError> {
    for ip in &addresses {
        if let Some(reason) = policy.refusal(*ip) {
            return Err(TargetError::Refused {
                host: host.to_owned(),
                reason: format!("is {reason} ({ip})"),
            });
        }
    }
    Ok(addresses)
}

/// The HTTP client's resolver: names resolve through [`resolve`], so the client connects only
/// to addresses the policy allowed, checked at the moment of the connection.
pub struct CheckedResolver {
    pub resolver: Resolver,
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (resolver, policy) = (self.resolver.clone(), self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let url = Url::parse(&format!("http://{host}/"))
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addresses = resolve(&url, &resolver, policy).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A fixed table of names: every other name is unknown.
    struct StaticHosts(HashMap<String, Vec<IpAddr>>);

    impl HostLookup for StaticHosts {
        fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
            let found = self.0.get(host).cloned();
            Box::pin(async move {
                found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host"))
            })
        }
    }

    fn refused(ip: &str, allow_loopback: bool) -> bool {
        let ip: IpAddr = ip.parse().expect("test address");
        AddressPolicy { allow_loopback }.refusal(ip).is_some()
    }

    #[test]
    fn private_link_local_and_reserved_addresses_are_refused() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(refused(ip, true), "{ip} should be refused");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(refused(ip, false), "{ip}");
            assert!(!refused(ip, true), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::101:101",
        ] {
            assert!(!refused(ip, false), "{ip} should pass");
        }
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse("https://hooks.example.com/vodnest?x=1").is_ok());
        assert!(parse("http://hooks.example.com:8080/").is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "example.com/hook",
            "file:///etc/passwd",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(parse(&long).is_err());
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is() {
        let hosts = StaticHosts(HashMap::from([
            (
                "mixed.test".to_owned(),
                vec![
                    "93.184.216.34".parse().expect("ip"),
                    "10.0.0.1".parse().expect("ip"),
                ],
            ),
            (
                "public.test".to_owned(),
                vec!["93.184.216.34".parse().expect("ip")],
            ),
        ]));
        let resolver = Resolver::new(hosts);
        let policy = AddressPolicy {
            allow_loopback: false,
        };
        let url = |u: &str| parse(u).expect("url");
        assert!(matches!(
            resolve(&url("https://mixed.test/"), &resolver, policy).await,
            Err(TargetError::Refused { .. })
        ));
        assert!(
            resolve(&url("https://public.test/"), &resolver, policy)
                .await
                .is_ok()
        );
        assert!(matches!(
            resolve(&url("https://unknown.test/"), &resolver, policy).await,
            Err(TargetError::Unresolvable { .. })
        ));
        assert!(matches!(
            resolve(&url("http://169.254.169.254/latest"), &resolver, policy).await,
            Err(TargetError::Refused { .. })
        ));
        assert!(matches!(
            resolve(&url("http://[::ffff:a9fe:a9fe]/"), &resolver, policy).await,
            Err(TargetError::Refused { .. })
        ));
    }
}
