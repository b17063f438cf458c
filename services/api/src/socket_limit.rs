//! How many event websockets may be open: in all (`MAX_SOCKETS`), per client address for the
//! public socket (`PUBLIC_SOCKETS_PER_IP`) and per key for the owner's socket
//! (`SOCKETS_PER_KEY`). Each open socket costs memory and a task for as long as it lives.
//! Anyone may open the public events socket of a public video without an account, so it is
//! counted per client address; IPv6 clients per /64, the smallest block a provider hands out:
//! otherwise one machine could take a fresh address for every socket. A socket with a key is
//! counted per key (a session or `ADMIN_TOKEN` counts as one key).

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;
use vodnest_core::caller::{Caller, Credential};

use crate::error::ApiError;
use crate::keyed_limit::{KeyedLimit, KeyedPermit};

/// How long a client refused a socket is asked to wait.
const RETRY_AFTER_SECS: u64 = 10;

/// Who an owner's socket is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketOwner {
    /// An API key, or a session made with one.
    Key(Uuid),
    /// A session made with a password, or `ADMIN_TOKEN` (its built-in user).
    User(Uuid),
}

impl SocketOwner {
    pub fn of(caller: &Caller) -> Self {
        match caller.credential {
            Credential::Key(key) | Credential::Session { key: Some(key) } => Self::Key(key),
            Credential::AdminToken | Credential::Session { key: None } => {
                Self::User(caller.user.id)
            }
        }
    }
}

#[derive(Debug)]
pub struct SocketLimit {
    max_total: usize,
    total: Arc<Semaphore>,
    per_ip: Arc<KeyedLimit<IpAddr>>,
    per_owner: Arc<KeyedLimit<SocketOwner>>,
}

/// Why a socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRefusal {
    /// `MAX_SOCKETS` are open (503).
    Full { max: usize },
    /// This client address or key has its share open (429).
    ShareUsed { max: usize },
}

impl From<SocketRefusal> for ApiError {
    fn from(refusal: SocketRefusal) -> Self {
        match refusal {
            SocketRefusal::Full { max } => ApiError::Unavailable {
                code: "server_busy",
                message: format!(
                    "this server has {max} event sockets open, the most it holds; try again soon"
                ),
                retry_after_secs: RETRY_AFTER_SECS,
            },
            SocketRefusal::ShareUsed { max } => ApiError::RateLimited {
                message: format!(
                    "{max} event sockets are open already for this client or key (the socket cap); \
                     close one first"
                ),
                retry_after_secs: RETRY_AFTER_SECS,
            },
        }
    }
}

/// One open socket; dropping it (the socket ended, or the upgrade never happened) frees its
/// places.
#[derive(Debug)]
pub struct SocketPermit {
    _total: OwnedSemaphorePermit,
    _per_ip: Option<KeyedPermit<IpAddr>>,
    _per_owner: Option<KeyedPermit<SocketOwner>>,
}

impl SocketLimit {
    pub fn new(max_total: usize, public_per_ip: usize, per_owner: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            total: Arc::new(Semaphore::new(max_total)),
            per_ip: KeyedLimit::new(public_per_ip),
            per_owner: KeyedLimit::new(per_owner),
        })
    }

    fn one_of_total(&self) -> Result<OwnedSemaphorePermit, SocketRefusal> {
        Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| SocketRefusal::Full {
                max: self.max_total,
            })
    }

    /// A place for one more public socket of `ip` (`None`: a router called without peer
    /// addresses, counted in the total only).
    pub fn try_public(&self, ip: Option<IpAddr>) -> Result<SocketPermit, SocketRefusal> {
        let total = self.one_of_total()?;
        let per_ip = match ip {
            Some(ip) => Some(
                self.per_ip
                    .try_acquire(crate::client_ip::subscriber(ip))
                    .ok_or(SocketRefusal::ShareUsed {
                        max: self.per_ip.per_key(),
                    })?,
            ),
            None => None,
        };
        Ok(SocketPermit {
            _total: total,
            _per_ip: per_ip,
            _per_owner: None,
        })
    }

    /// A place for one more socket of `caller`'s key.
    pub fn try_owner(&self, caller: &Caller) -> Result<SocketPermit, SocketRefusal> {
        let total = self.one_of_total()?;
        let per_owner = self.per_owner.try_acquire(SocketOwner::of(caller)).ok_or(
            SocketRefusal::ShareUsed {
                max: self.per_owner.per_key(),
            },
        )?;
        Ok(SocketPermit {
            _total: total,
            _per_ip: None,
            _per_owner: Some(per_owner),
        })
    }

    /// Public sockets open for `ip`'s client now.
    pub fn open_for(&self, ip: IpAddr) -> usize {
        self.per_ip.open_for(&crate::client_ip::subscriber(ip))
    }

    /// Sockets open in all.
    pub fn open(&self) -> usize {
        self.max_total - self.total.available_permits()
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
        let limit = SocketLimit::new(100, 2, 2);
        let first = limit.try_public(Some(ip("192.0.2.1")));
        let second = limit.try_public(Some(ip("::ffff:192.0.2.1")));
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(
            limit.try_public(Some(ip("192.0.2.1"))).err(),
            Some(SocketRefusal::ShareUsed { max: 2 })
        );
        assert!(limit.try_public(Some(ip("192.0.2.2"))).is_ok());
        drop(first);
        assert_eq!(limit.open_for(ip("192.0.2.1")), 1);
        assert!(limit.try_public(Some(ip("192.0.2.1"))).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let limit = SocketLimit::new(100, 1, 1);
        let held = limit.try_public(Some(ip("2001:db8:1:2::1")));
        assert!(limit.try_public(Some(ip("2001:db8:1:2:ffff::9"))).is_err());
        assert!(limit.try_public(Some(ip("2001:db8:1:3::1"))).is_ok());
        drop(held);
        assert_eq!(limit.open_for(ip("2001:db8:1:2::1")), 0);
    }

    #[test]
    fn keys_get_their_share_and_all_share_the_total() {
        let limit = SocketLimit::new(3, 5, 2);
        let admin = Caller::admin_token();
        let a = limit.try_owner(&admin).expect("first");
        let _b = limit.try_owner(&admin).expect("second");
        assert_eq!(
            limit.try_owner(&admin).err(),
            Some(SocketRefusal::ShareUsed { max: 2 })
        );
        let _c = limit.try_public(Some(ip("192.0.2.1"))).expect("third");
        assert_eq!(limit.open(), 3);
        assert_eq!(
            limit.try_public(Some(ip("192.0.2.9"))).err(),
            Some(SocketRefusal::Full { max: 3 })
        );
        drop(a);
        assert!(limit.try_owner(&admin).is_ok());
    }
}
