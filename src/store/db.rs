//! One numbered database: the keyspace, its expiry table and lazy expiry.
//!
//! Like Redis, expiry times live in a second table (`expires`) so that keys without a
//! TTL cost nothing extra and active expiry can sample only keys that have one. Every
//! lookup goes through [`Db::expire_if_needed`], which deletes a key whose time has
//! passed, so no command ever observes an expired key.

use bytes::Bytes;

use super::dict::Dict;
use super::notify::{self, LoggedEvent};
use super::value::{Object, Value};

#[derive(Debug, Default)]
pub struct Db {
    pub data: Dict<Object>,
    /// Absolute expiry time in Unix milliseconds, for keys that have one.
    pub expires: Dict<u64>,
    /// Keys removed because they expired (lazily or actively), for INFO.
    pub expired: u64,
    /// Whether to record `new` and `expired` events in `events` (keyspace
    /// notifications or client tracking are on; see `store::notify`).
    pub log_events: bool,
    /// Keys this database created or expired since the store last published them.
    pub events: Vec<LoggedEvent>,
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
                self.log_expired(key);
                true
            }
            _ => false,
        }
    }

    fn log(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.log_events {
            self.events.push(LoggedEvent {
                class,
                event,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    fn log_expired(&mut self, key: &[u8]) {
        self.log(notify::EXPIRED, "expired", key);
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
            self.log(notify::NEW, "new", key);
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

    /// Removes `key` and returns its object and expiry time, for RENAME and MOVE, which
    /// carry the TTL along with the value.
    pub fn take(&mut self, key: &[u8]) -> Option<(Object, Option<u64>)> {
        let (_, obj) = self.data.remove(key)?;
        let at = if self.expires.is_empty() {
            None
        } else {
            self.expires.remove(key).map(|(_, at)| at)
        };
        Some((obj, at))
    }

    /// Stores `obj` under `key` with expiry time `at`, replacing any previous value and
    /// TTL of `key` (the second half of RENAME, MOVE and COPY).
    pub fn put(&mut self, key: &Bytes, obj: Object, at: Option<u64>) {
        self.remove(key);
        self.log(notify::NEW, "new", key);
        let key = super::value::own(key);
        if let Some(at) = at {
            self.expires.insert(key.clone(), at);
        }
        self.data.insert(key, obj);
    }

    /// Whether `key` has a TTL that has passed, without deleting it (KEYS, like Redis's
    /// `keyIsExpired`, lists only live keys but leaves deletion to other paths).
    pub fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        self.expires.get(key).is_some_and(|&at| at <= now_ms)
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
                    self.log_expired(&k);
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

/// How an object's access clock (`Object::lru`, Redis's `robj.lru`) is kept.
///
/// Redis stores one 24-bit field per object and reads it two ways depending on the
/// maxmemory policy: an LRU clock in seconds, or, under an LFU policy, the last
/// decrement time in minutes (high 16 bits) plus a logarithmic access counter (low 8
/// bits). Switching policy at run time does not convert existing objects, so both
/// readings tolerate the other's data, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AccessClock {
    Lru {
        now_ms: u64,
    },
    Lfu {
        now_ms: u64,
        /// `lfu-log-factor`: how slowly the counter grows.
        log_factor: u32,
        /// `lfu-decay-time`: minutes per counter decrement (0 = never decay).
        decay_minutes: u32,
    },
}

/// The counter a new object starts with under LFU, so it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;

/// Redis's `LRU_CLOCK_MAX`: the LRU clock wraps at 24 bits.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

impl AccessClock {
    /// The clock value for an object created now (Redis's `createObject`).
    pub fn new_object(&self) -> u32 {
        match *self {
            AccessClock::Lru { now_ms } => super::lru_clock(now_ms),
            AccessClock::Lfu { now_ms, .. } => (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL,
        }
    }

    /// The clock value after an access. `draw` is a uniform random number in [0, 1)
    /// deciding whether the LFU counter grows (Redis's `LFULogIncr`).
    pub fn touch(&self, lru: u32, draw: f64) -> u32 {
        match *self {
            AccessClock::Lru { now_ms } => super::lru_clock(now_ms),
            AccessClock::Lfu {
                now_ms, log_factor, ..
            } => {
                let mut counter = self.freq(lru);
                if counter < 255 {
                    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
                    let p = 1.0 / (base * log_factor as f64 + 1.0);
                    if draw < p {
                        counter += 1;
                    }
                }
                (lfu_minutes(now_ms) << 8) | counter
            }
        }
    }

    /// The LFU counter after decay (Redis's `LFUDecrAndReturn`; OBJECT FREQ).
    pub fn freq(&self, lru: u32) -> u32 {
        let counter = lru & 0xFF;
        let (now_ms, decay) = match *self {
            AccessClock::Lfu {
                now_ms,
                decay_minutes,
                ..
            } => (now_ms, decay_minutes),
            AccessClock::Lru { now_ms } => (now_ms, 1),
        };
        if decay == 0 {
            return counter;
        }
        let last = (lru >> 8) & 0xFFFF;
        let now = lfu_minutes(now_ms);
        let elapsed = if now >= last {
            now - last
        } else {
            65535 - last + now
        };
        counter.saturating_sub(elapsed / decay)
    }

    /// Milliseconds since the last access under LRU (Redis's `estimateObjectIdleTime`;
    /// OBJECT IDLETIME), allowing for the 24-bit clock having wrapped.
    pub fn idle_ms(&self, lru: u32) -> u64 {
        let now_ms = match *self {
            AccessClock::Lru { now_ms } | AccessClock::Lfu { now_ms, .. } => now_ms,
        };
        let clock = super::lru_clock(now_ms);
        let secs = if clock >= lru {
            clock - lru
        } else {
            clock + (LRU_CLOCK_MAX - lru)
        };
        secs as u64 * 1000
    }
}

/// Minutes since the epoch, wrapped to 16 bits (Redis's `LFUGetTimeInMinutes`).
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Object {
        Object {
            value: Value::string(&Bytes::copy_from_slice(s.as_bytes())),
            lru: 7,
        }
    }

    fn str_of(db: &Db, k: &str) -> Option<Bytes> {
        db.data
            .get(k.as_bytes())
            .and_then(|o| o.value.as_str().cloned())
    }

    #[test]
    fn take_and_put_carry_the_ttl() {
        let mut db = Db::default();
        let a = Bytes::from_static(b"a");
        let b = Bytes::from_static(b"b");
        db.put(&a, obj("1"), Some(5000));
        db.put(&b, obj("2"), Some(9000));
        let (o, at) = db.take(b"a").expect("a exists");
        assert_eq!(at, Some(5000));
        assert!(db.expire_at(b"a").is_none());
        // Replacing `b` drops its own TTL in favour of the moved one.
        db.put(&b, o, None);
        assert_eq!(str_of(&db, "b").as_deref(), Some(&b"1"[..]));
        assert_eq!(db.expire_at(b"b"), None);
        assert_eq!(db.len(), 1);
        assert_eq!(db.expires.len(), 0);
        assert!(db.take(b"a").is_none());
    }

    #[test]
    fn is_expired_does_not_delete() {
        let mut db = Db::default();
        db.put(&Bytes::from_static(b"k"), obj("v"), Some(100));
        assert!(!db.is_expired(b"k", 99));
        assert!(db.is_expired(b"k", 100));
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn lru_idle_time_survives_clock_wrap() {
        let c = AccessClock::Lru { now_ms: 10_000 };
        assert_eq!(c.idle_ms(c.new_object()), 0);
        assert_eq!(c.idle_ms(4), 6000);
        // Clock is at 10 s; an object stamped just before the 24-bit wrap.
        assert_eq!(c.idle_ms(LRU_CLOCK_MAX - 5), 15_000);
    }

    #[test]
    fn lfu_counter_starts_grows_and_decays() {
        let minute = 60_000;
        let c = AccessClock::Lfu {
            now_ms: 100 * minute,
            log_factor: 10,
            decay_minutes: 1,
        };
        let fresh = c.new_object();
        assert_eq!(c.freq(fresh), LFU_INIT_VAL);
        // At the initial value the increment probability is 1.
        let once = c.touch(fresh, 0.999);
        assert_eq!(c.freq(once), LFU_INIT_VAL + 1);
        // One step above it, the probability is 1 / (1 * 10 + 1).
        assert_eq!(c.freq(c.touch(once, 0.5)), LFU_INIT_VAL + 1);
        assert_eq!(c.freq(c.touch(once, 0.05)), LFU_INIT_VAL + 2);
        // Three minutes later, three decrements.
        let later = AccessClock::Lfu {
            now_ms: 103 * minute,
            log_factor: 10,
            decay_minutes: 1,
        };
        assert_eq!(later.freq(once), LFU_INIT_VAL - 2);
        let never = AccessClock::Lfu {
            now_ms: 103 * minute,
            log_factor: 10,
            decay_minutes: 0,
        };
        assert_eq!(never.freq(once), LFU_INIT_VAL + 1);
        // Saturates at 255.
        assert_eq!(c.touch((100 << 8) | 255, 0.0) & 0xFF, 255);
    }
}
