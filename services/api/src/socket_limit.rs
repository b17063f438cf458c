//! How many public websockets one client may hold open at once (`PUBLIC_SOCKETS_PER_IP`).
//! Anyone may open the public events socket of a public video without an account, and each
//! open socket costs memory and a task for as long as it lives, so the number per client
//! address is bounded. IPv6 clients are counted per /64, the smallest block a provider hands
//! out: otherwise one machine could take a fresh address for every socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug)]
pub struct SocketLimit {
    per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open socket of a client; dropping it (the socket ended, or the upgrade never
/// happened) frees its place.
#[derive(Debug)]
pub struct SocketPermit {
    limit: Arc<SocketLimit>,
    client: IpAddr,
}

impl SocketLimit {
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The counts stay consistent whatever panicked while holding them.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more socket of `ip`, or `None` when it has as many as allowed.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SocketPermit> {
        let client = crate::client_ip::subscriber(ip);
        let mut open = self.lock();
        let count = open.entry(client).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(SocketPermit {
            limit: Arc::clone(self),
            client,
        })
    }

    /// Sockets open for `ip`'s client now.
    pub fn open_for(&self, ip: IpAddr) -> usize {
        self.lock()
            .get(&crate::client_ip::subscriber(ip))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn a_client_gets_its_share_and_no_more() {
        let limit = SocketLimit::new(2);
        let first = limit.try_acquire(ip("192.0.2.1"));
        let second = limit.try_acquire(ip("::ffff:192.0.2.1"));
        assert!(first.is_some() && second.is_some());
        assert!(limit.try_acquire(ip("192.0.2.1")).is_none());
        assert!(limit.try_acquire(ip("192.0.2.2")).is_some());
        drop(first);
        assert_eq!(limit.open_for(ip("192.0.2.1")), 1);
        assert!(limit.try_acquire(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let limit = SocketLimit::new(1);
        let held = limit.try_acquire(ip("2001:db8:1:2::1"));
        assert!(limit.try_acquire(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(limit.try_acquire(ip("2001:db8:1:3::1")).is_some());
        drop(held);
        assert_eq!(limit.open_for(ip("2001:db8:1:2::1")), 0);
    }
}
