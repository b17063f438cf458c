//! The client's address, for rate limits, sign-in back-off, view counts and the audit log.
//! It is the peer address, unless the peer is a configured trusted proxy (the load balancer):
//! then it is the nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
//! Anything before that in the header was written by the client and proves nothing.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The client's address; `None` when the server runs without peer addresses (a router called
/// directly, as some tests do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// As the audit log stores it.
    pub fn text(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Self(peer.map(|peer| {
            client_of(peer, &parts.headers, &state.config.trusted_proxies)
        })))
    }
}

/// The key limits count an address under: an IPv4 address (also when written as IPv6), or the
/// /64 of an IPv6 one, the smallest block a provider hands a subscriber (counting each address
/// of it would let one client pass as billions).
pub fn subscriber(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// A `TRUSTED_PROXIES` entry: an address or a CIDR range.
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR range"))
}

fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every proxy appends the address it saw: read from the right, past our own proxies.
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return ip,
            // A hop we cannot read: the nearest address we can vouch for is the last proxy.
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().expect("a header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn only_a_trusted_proxy_is_believed() {
        let trusted = [parse_range("10.0.0.0/8").expect("a range")];
        let spoofed = headers(&["1.2.3.4"]);
        assert_eq!(client_of(ip("8.8.8.8"), &spoofed, &trusted), ip("8.8.8.8"));
        assert_eq!(client_of(ip("10.1.2.3"), &spoofed, &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn the_nearest_untrusted_hop_wins() {
        let trusted = [parse_range("10.0.0.0/8").expect("a range")];
        // The client wrote "6.6.6.6" itself; the load balancer appended what it saw.
        let forwarded = headers(&["6.6.6.6, 5.5.5.5", "10.0.0.9"]);
        assert_eq!(
            client_of(ip("10.0.0.1"), &forwarded, &trusted),
            ip("5.5.5.5")
        );
        assert_eq!(
            client_of(ip("10.0.0.1"), &headers(&[]), &trusted),
            ip("10.0.0.1")
        );
        let garbage = headers(&["6.6.6.6, nonsense"]);
        assert_eq!(
            client_of(ip("10.0.0.1"), &garbage, &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ranges_and_addresses_parse() {
        assert!(parse_range("192.168.1.1").is_ok());
        assert!(parse_range(" fd00::/8 ").is_ok());
        assert!(parse_range("nope").is_err());
    }
}
