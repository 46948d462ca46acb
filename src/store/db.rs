//! One numbered database: the keyspace, its expiry table and lazy expiry.
//!
//! Like Redis, expiry times live in a second table (`expires`) so that keys without a
//! TTL cost nothing extra and active expiry can sample only keys that have one. Every
//! lookup goes through [`Db::expire_if_needed`], which deletes a key whose time has
//! passed, so no command ever observes an expired key.

use bytes::Bytes;

use super::dict::Dict;
use super::value::{Object, Value};

#[derive(Debug, Default)]
pub struct Db {
    pub data: Dict<Object>,
    /// Absolute expiry time in Unix milliseconds, for keys that have one.
    pub expires: Dict<u64>,
    /// Keys removed because they expired (lazily or actively), for INFO.
    pub expired: u64,
}

impl Db {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Deletes `key` if its TTL has passed. Returns true when it was deleted.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.expires.is_empty() {
            return false;
        }
        match self.expires.get(key) {
            Some(&at) if at <= now_ms => {
                self.remove(key);
                self.expired += 1;
                true
            }
            _ => false,
        }
    }

    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Object> {
        self.expire_if_needed(key, now_ms);
        self.data.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Object> {
        self.expire_if_needed(key, now_ms);
        self.data.get_mut(key)
    }

    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.expire_if_needed(key, now_ms);
        self.data.contains_key(key)
    }

    /// Sets `key` to `value`, clearing any TTL (Redis's `setKey` without KEEPTTL).
    pub fn set(&mut self, key: &Bytes, value: Value, lru: u32) {
        if !self.expires.is_empty() {
            self.expires.remove(key);
        }
        self.set_keep_ttl(key, value, lru);
    }

    /// Sets `key` to `value` and keeps its TTL if it had one.
    pub fn set_keep_ttl(&mut self, key: &Bytes, value: Value, lru: u32) {
        let obj = Object { value, lru };
        if let Some(slot) = self.data.get_mut(key) {
            *slot = obj;
        } else {
            self.data.insert(super::value::own(key), obj);
        }
    }

    /// Removes `key` and its TTL. Returns the old value.
    pub fn remove(&mut self, key: &[u8]) -> Option<Object> {
        let old = self.data.remove(key).map(|(_, v)| v);
        if old.is_some() && !self.expires.is_empty() {
            self.expires.remove(key);
        }
        old
    }

    /// The absolute expiry time of `key` in Unix ms, if it has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<u64> {
        self.expires.get(key).copied()
    }

    /// Sets the absolute expiry time of an existing key.
    pub fn set_expire(&mut self, key: &[u8], at_ms: u64) {
        if let Some((k, _)) = self.data.get_key_value(key) {
            let k = k.clone();
            self.expires.insert(k, at_ms);
        }
    }

    /// Removes the TTL of `key`. Returns true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key).is_some()
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.expires.clear();
    }

    /// Active expiry for this database, Redis's `activeExpireCycle` idea: sample keys
    /// with a TTL and delete the expired ones, repeating while more than a quarter of a
    /// sample was expired and the time budget allows. Returns the number deleted.
    pub fn active_expire(
        &mut self,
        now_ms: u64,
        rng: &mut impl rand::Rng,
        deadline: std::time::Instant,
    ) -> u64 {
        const SAMPLE: usize = 20;
        let mut deleted = 0;
        loop {
            if self.expires.is_empty() {
                break;
            }
            let expired: Vec<Bytes> = self
                .expires
                .sample(rng, SAMPLE)
                .into_iter()
                .filter(|k| self.expires.get(k).is_some_and(|&at| at <= now_ms))
                .cloned()
                .collect();
            let n = expired.len();
            for k in expired {
                if self.remove(&k).is_some() {
                    deleted += 1;
                    self.expired += 1;
                }
            }
            if n * 4 <= SAMPLE || std::time::Instant::now() >= deadline {
                break;
            }
        }
        deleted
    }

    pub fn avg_ttl(&self, now_ms: u64) -> u64 {
        if self.expires.is_empty() {
            return 0;
        }
        let mut rng = rand::rng();
        let sample = self.expires.sample(&mut rng, 64);
        let n = sample.len() as u64;
        let total: u64 = sample
            .into_iter()
            .filter_map(|k| self.expires.get(k))
            .map(|&at| at.saturating_sub(now_ms))
            .sum();
        total.checked_div(n).unwrap_or(0)
    }
}
