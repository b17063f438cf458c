//! Whether one more TCP connection may be served: at most `MAX_CONNECTIONS` in all and
//! `MAX_CONNECTIONS_PER_IP` per client address (an IPv6 /64). Counting happens at accept,
//! before a byte of the request is read, so the address is the peer's: a peer that is one of
//! `TRUSTED_PROXIES` (the load balancer carries many clients) counts towards the total only.
//! A connection's permit lives as long as its socket, a websocket's included.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::keyed_limit::{KeyedLimit, KeyedPermit};
use crate::server_limits::ServerLimits;

/// How long a refused client is asked to wait.
const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug)]
pub struct ConnectionGate {
    max_total: usize,
    total: Arc<Semaphore>,
    per_ip: Arc<KeyedLimit<IpAddr>>,
    trusted_proxies: Vec<IpNet>,
}

/// One admitted connection's places; dropping it frees them.
#[derive(Debug)]
pub struct ConnectionPermit {
    _total: OwnedSemaphorePermit,
    _per_ip: Option<KeyedPermit<IpAddr>>,
}

impl ConnectionGate {
    pub fn new(limits: &ServerLimits, trusted_proxies: &[IpNet]) -> Self {
        let max_total = limits.max_connections as usize;
        Self {
            max_total,
            total: Arc::new(Semaphore::new(max_total)),
            per_ip: KeyedLimit::new(limits.max_connections_per_ip as usize),
            trusted_proxies: trusted_proxies.to_vec(),
        }
    }

    /// Places for a connection from `peer`, or the answer to send before closing it: 503
    /// when the process is full, 429 when this address has its share.
    pub fn admit(&self, peer: IpAddr) -> Result<ConnectionPermit, ApiError> {
        let total =
            Arc::clone(&self.total)
                .try_acquire_owned()
                .map_err(|_| ApiError::Unavailable {
                    code: "server_busy",
                    message: format!(
                        "this server has {} connections open, the most it holds; try again soon",
                        self.max_total
                    ),
                    retry_after_secs: RETRY_AFTER_SECS,
                })?;
        let per_ip = if self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            None
        } else {
            let client = crate::client_ip::subscriber(peer);
            Some(
                self.per_ip
                    .try_acquire(client)
                    .ok_or_else(|| ApiError::RateLimited {
                        message: format!(
                            "this address has {} connections open, the most allowed; close one first",
                            self.per_ip.per_key()
                        ),
                        retry_after_secs: RETRY_AFTER_SECS,
                    })?,
            )
        };
        Ok(ConnectionPermit {
            _total: total,
            _per_ip: per_ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max_total - self.total.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn gate(total: u32, per_ip: u32, trusted: &[&str]) -> ConnectionGate {
        let limits = ServerLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..ServerLimits::default()
        };
        let trusted: Vec<IpNet> = trusted
            .iter()
            .map(|t| crate::client_ip::parse_range(t).expect("a range"))
            .collect();
        ConnectionGate::new(&limits, &trusted)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_address_gets_its_share_and_the_process_its_total() {
        let gate = gate(3, 2, &[]);
        let a1 = gate.admit(ip("192.0.2.1")).expect("first");
        let _a2 = gate.admit(ip("192.0.2.1")).expect("second");
        let refused = gate
            .admit(ip("192.0.2.1"))
            .expect_err("third of one address");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let _b = gate.admit(ip("192.0.2.2")).expect("another address");
        let full = gate.admit(ip("192.0.2.3")).expect_err("over the total");
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(gate.open(), 3);
        drop(a1);
        assert!(gate.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn a_trusted_proxy_counts_towards_the_total_only() {
        let gate = gate(3, 1, &["10.0.0.0/8"]);
        let _held: Vec<_> = (0..3)
            .map(|_| gate.admit(ip("10.0.0.1")).expect("the proxy"))
            .collect();
        assert_eq!(
            gate.admit(ip("10.0.0.1")).expect_err("full").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
