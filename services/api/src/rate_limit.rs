//! A keyed rate limiter: each key (a client address, an API key) has a bucket of `burst`
//! requests that refills at `per_sec`. It is the generic cell rate algorithm: one instant per
//! key, the time at which the key's bucket will be full again, so a check is a hash lookup
//! and a comparison.
//!
//! Memory stays bounded whatever the number of keys: a key whose bucket is full again holds
//! nothing that matters and is dropped when its shard is full; a shard that is still full of
//! busy keys after that admits new keys without remembering them (it fails open: whoever has
//! that many addresses at once is not stopped by a per-address limit anyway).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests that may come at once after a quiet spell (at least 1).
    pub burst: u32,
    /// Requests per second sustained (greater than 0).
    pub per_sec: f64,
}

impl Rate {
    /// The time one request takes from the bucket.
    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_sec)
    }

    /// How far ahead of now a key's full-again time may run: the whole bucket.
    fn tolerance(&self) -> Duration {
        self.interval() * self.burst
    }
}

/// Shards, so that concurrent requests rarely wait for one another's lock.
const SHARDS: usize = 16;

pub struct KeyedLimiter<K> {
    interval: Duration,
    tolerance: Duration,
    hasher: RandomState,
    shards: Vec<Mutex<Shard<K>>>,
    keys_per_shard: usize,
}

struct Shard<K> {
    /// Each key's full-again instant ("theoretical arrival time"): it is over its limit while
    /// this is more than `tolerance` ahead of now.
    full_at: HashMap<K, Instant>,
    /// When this shard last dropped its idle keys (at most once a second).
    swept_at: Option<Instant>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter that remembers at most about `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    full_at: HashMap::new(),
                    swept_at: None,
                })
            })
            .collect();
        Self {
            interval: rate.interval(),
            tolerance: rate.tolerance(),
            hasher: RandomState::new(),
            shards,
            keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// Takes one request from `key`'s bucket at `now`: `Err(wait)` when it is empty, with how
    /// long until it holds one again.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        // A poisoned lock only means another request panicked mid-check; the map is fine.
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let after = match shard.full_at.get(key) {
            Some(&full_at) => full_at.max(now) + self.interval,
            None => now + self.interval,
        };
        let ahead = after - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if let Some(full_at) = shard.full_at.get_mut(key) {
            *full_at = after;
        } else if self.make_room(&mut shard, now) {
            shard.full_at.insert(key.clone(), after);
        }
        Ok(())
    }

    /// Whether a new key fits in `shard`, dropping the keys whose bucket is full again when it
    /// is full (at most once a second, so that a flood of new keys costs no sweep each).
    fn make_room(&self, shard: &mut Shard<K>, now: Instant) -> bool {
        if shard.full_at.len() < self.keys_per_shard {
            return true;
        }
        let swept_recently = shard
            .swept_at
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1));
        if !swept_recently {
            shard.full_at.retain(|_, full_at| *full_at > now);
            shard.swept_at = Some(now);
        }
        shard.full_at.len() < self.keys_per_shard
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .full_at
                    .len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        burst: 3,
        per_sec: 2.0,
    };

    #[test]
    fn the_burst_passes_then_the_rate() {
        let limiter = KeyedLimiter::new(RATE, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", t0), Ok(()));
        }
        let wait = limiter.check(&"a", t0).expect_err("the bucket is empty");
        assert_eq!(wait, Duration::from_millis(500));
        // Another key has its own bucket.
        assert_eq!(limiter.check(&"b", t0), Ok(()));
        // Half a second later one more request fits, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check(&"a", t1), Ok(()));
        assert!(limiter.check(&"a", t1).is_err());
        // A refused request takes nothing: after a quiet spell the whole burst is back.
        let t2 = t1 + Duration::from_secs(2);
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", t2), Ok(()));
        }
        assert!(limiter.check(&"a", t2).is_err());
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let max_keys = SHARDS * 4;
        let limiter = KeyedLimiter::new(RATE, max_keys);
        let t0 = Instant::now();
        for key in 0..10_000 {
            assert_eq!(limiter.check(&key, t0), Ok(()));
        }
        assert!(limiter.len() <= max_keys, "{} keys kept", limiter.len());
        // Once their buckets are full again, old keys make room for new ones, which are
        // limited again.
        let later = t0 + Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(limiter.check(&20_000, later), Ok(()));
        }
        assert!(limiter.check(&20_000, later).is_err());
        assert!(limiter.len() <= max_keys);
    }
}
