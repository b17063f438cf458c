//! A bounded count of open things per key (connections per client address, websockets per
//! client or per key): a permit holds one place until it is dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Debug)]
pub struct KeyedLimit<K> {
    per_key: usize,
    open: Mutex<HashMap<K, usize>>,
}

/// One place of `key`; dropping it frees the place.
#[derive(Debug)]
pub struct KeyedPermit<K: Eq + Hash> {
    limit: Arc<KeyedLimit<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> KeyedLimit<K> {
    pub fn new(per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            per_key,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn per_key(&self) -> usize {
        self.per_key
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, usize>> {
        // The counts stay consistent whatever panicked while holding them.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more of `key`, or `None` when it holds as many as allowed.
    pub fn try_acquire(self: &Arc<Self>, key: K) -> Option<KeyedPermit<K>> {
        let mut open = self.lock();
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= self.per_key {
            return None;
        }
        *count += 1;
        Some(KeyedPermit {
            limit: Arc::clone(self),
            key,
        })
    }

    /// How many `key` holds now.
    pub fn open_for(&self, key: &K) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

impl<K: Eq + Hash> Drop for KeyedPermit<K> {
    fn drop(&mut self) {
        let mut open = self
            .limit
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_share_and_no_more() {
        let limit = KeyedLimit::new(2);
        let first = limit.try_acquire("a");
        let second = limit.try_acquire("a");
        assert!(first.is_some() && second.is_some());
        assert!(limit.try_acquire("a").is_none());
        assert!(limit.try_acquire("b").is_some());
        drop(first);
        assert_eq!(limit.open_for(&"a"), 1);
        assert!(limit.try_acquire("a").is_some());
        drop(second);
        assert_eq!(limit.open_for(&"b"), 0, "a dropped permit frees its place");
    }
}
