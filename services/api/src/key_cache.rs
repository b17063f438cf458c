//! The callers of recently used API keys, kept in memory so that a request made with a key
//! costs no more than one made with `ADMIN_TOKEN` (see `benches/authorization.rs`). Revocation
//! stays immediate: the route that revokes a key or removes a user empties this process's
//! cache itself, and every other API process empties its own when Postgres NOTIFYs
//! `vodnest_keys_changed` (migration 0013) or when its LISTEN connection comes back.
//! Expiry is checked on every use; `last_used_at` is still stamped at most once a minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use vodnest_core::auth::AuthenticatedKey;
use vodnest_core::caller::{Caller, Credential};

/// Keys remembered at most; a full cache starts over (a few lookups each).
const MAX_ENTRIES: usize = 10_000;
/// How often a cached key's `last_used_at` is stamped.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

struct Entry {
    caller: Caller,
    expires_at: Option<OffsetDateTime>,
    touched: Instant,
}

/// What a hit found: the caller, and the key's id when its `last_used_at` is due a stamp.
pub struct Hit {
    pub caller: Caller,
    pub touch: Option<uuid::Uuid>,
}

#[derive(Clone, Default)]
pub struct KeyCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    /// Bumped by every clear: a lookup that began before a clear must not refill the cache
    /// with what it read.
    generation: AtomicU64,
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation to hand back to [`KeyCache::insert`] after a database lookup.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The cached caller of the key with this digest, unless it expired meanwhile.
    pub fn get(&self, digest: &[u8; 32], now: OffsetDateTime) -> Option<Hit> {
        let mut entries = self.lock();
        let entry = entries.get_mut(digest)?;
        if entry.expires_at.is_some_and(|at| at <= now) {
            entries.remove(digest);
            return None;
        }
        let touch = match entry.caller.credential {
            Credential::Key(id) if entry.touched.elapsed() >= TOUCH_EVERY => {
                entry.touched = Instant::now();
                Some(id)
            }
            _ => None,
        };
        Some(Hit {
            caller: entry.caller.clone(),
            touch,
        })
    }

    /// Remembers a key read from the database, unless the cache was cleared since
    /// `generation` was read.
    pub fn insert(&self, generation: u64, digest: [u8; 32], key: &AuthenticatedKey) {
        let mut entries = self.lock();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            digest,
            Entry {
                caller: key.caller.clone(),
                expires_at: key.expires_at,
                touched: Instant::now(),
            },
        );
    }

    /// Forgets every key: some key or user lost rights.
    pub fn clear(&self) {
        let mut entries = self.lock();
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;
    use vodnest_core::caller::{Role, Scope, UserRef};

    use super::*;

    fn key(expires_at: Option<OffsetDateTime>) -> AuthenticatedKey {
        let user = UserRef {
            id: Uuid::from_u128(5),
            username: "c".into(),
        };
        let credential = Credential::Key(Uuid::from_u128(9));
        AuthenticatedKey {
            caller: Caller::new(user, Role::Creator, &[Scope::VideosRead], credential),
            expires_at,
        }
    }

    #[test]
    fn hits_until_cleared_or_expired() {
        let cache = KeyCache::default();
        let now = OffsetDateTime::now_utc();
        cache.insert(cache.generation(), [1; 32], &key(None));
        let soon = now + time::Duration::seconds(10);
        cache.insert(cache.generation(), [2; 32], &key(Some(soon)));
        assert!(cache.get(&[1; 32], now).is_some());
        assert!(cache.get(&[2; 32], now).is_some());
        assert!(cache.get(&[2; 32], soon).is_none(), "expired");
        assert!(cache.get(&[3; 32], now).is_none());
        cache.clear();
        assert!(cache.get(&[1; 32], now).is_none(), "cleared");
    }

    #[test]
    fn a_lookup_older_than_a_clear_is_not_kept() {
        let cache = KeyCache::default();
        let before = cache.generation();
        cache.clear();
        cache.insert(before, [1; 32], &key(None));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_fresh_hit_asks_for_no_stamp() {
        let cache = KeyCache::default();
        cache.insert(cache.generation(), [1; 32], &key(None));
        let hit = cache.get(&[1; 32], OffsetDateTime::now_utc());
        assert!(hit.is_some_and(|h| h.touch.is_none()));
    }
}
