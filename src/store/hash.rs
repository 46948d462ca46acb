//! A hash: Redis's `listpack` encoding for small hashes, `hashtable` for the rest.
//!
//! # Encodings
//!
//! A new hash is a `listpack`: field/value pairs in insertion order, packed in
//! one buffer ([`Pack`]) and searched linearly. Redis keeps small hashes that way because a scan of a few hundred
//! contiguous bytes beats a hash table on both speed and memory, and because
//! clients see the order: `HGETALL`, `HKEYS` and `HSCAN` of a small hash list
//! fields in insertion order, so we must keep it too. A hash converts to a
//! `hashtable` ([`Dict`]) once it has more than `hash-max-listpack-entries`
//! fields or once a field or value longer than `hash-max-listpack-value` bytes
//! is written. Like Redis, conversion is one-way: deleting fields never turns a
//! hashtable back into a listpack.
//!
//! The `hashtable` encoding is the keyspace's [`Dict`]: randomly seeded hashing,
//! and a reverse-binary `HSCAN` cursor that never misses a field present for the
//! whole scan, even across resizes.

use bytes::Bytes;
use rand::Rng;

use super::dict::Dict;
use super::pack::{encode_str, Pack};
use super::value::alloc_size;
use crate::params::Params;

/// A hash value. The encoding is private: commands go through the methods, which
/// apply Redis's conversion rules.
#[derive(Debug)]
pub struct HashValue {
    repr: Repr,
}

/// The conversion thresholds, read from the configuration once per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// `hash-max-listpack-entries`: more fields than this means a hashtable.
    pub max_entries: usize,
    /// `hash-max-listpack-value`: a longer field or value means a hashtable.
    pub max_value: usize,
}

impl HashLimits {
    pub fn from_params(p: &Params) -> HashLimits {
        HashLimits {
            max_entries: p.hash_max_listpack_entries,
            max_value: p.hash_max_listpack_value,
        }
    }
}

#[derive(Debug)]
enum Repr {
    /// Field/value pairs in insertion order, packed in one buffer (Redis's
    /// `listpack`).
    Listpack(Pack),
    /// Redis's `hashtable`. Boxed so that the common small hash stays small.
    Table(Box<Dict<Bytes>>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

impl Clone for HashValue {
    /// COPY duplicates a hash with its encoding, as Redis's `hashTypeDup` does.
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Listpack(p) => Repr::Listpack(p.clone()),
            Repr::Table(d) => {
                let mut t = Dict::new();
                for (k, v) in d.iter() {
                    t.insert(k.clone(), v.clone());
                }
                Repr::Table(Box::new(t))
            }
        };
        HashValue { repr }
    }
}

/// A field/value pair encoded for a [`Pack`].
fn encode_pair(field: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(field.len() + value.len() + 4);
    encode_str(&mut v, field);
    encode_str(&mut v, value);
    v
}

impl HashValue {
    /// An empty hash, listpack-encoded.
    pub fn new() -> HashValue {
        HashValue {
            repr: Repr::Listpack(Pack::new()),
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True for the `listpack` encoding, whose SCAN returns everything at once.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Listpack(_))
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(p) => p.len(),
            Repr::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Listpack(p) => p
                .pairs()
                .find(|x| x.first.str() == field)
                .map(|x| x.second.str()),
            Repr::Table(d) => d.get(field).map(|v| &v[..]),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts to a hashtable before a write if any of `args` is longer than the
    /// listpack value limit (Redis's `hashTypeTryConversion`, which HSET and HSETNX
    /// run over all their fields and values first).
    pub fn convert_for_args(&mut self, args: &[Bytes], limits: HashLimits) {
        if self.is_compact() && args.iter().any(|a| a.len() > limits.max_value) {
            self.convert();
        }
    }

    /// Sets `field` to `value`; returns true if the field is new. Converts to a
    /// hashtable when the pair is too long for a listpack or the hash outgrows it
    /// (Redis's `hashTypeSet`).
    pub fn set(&mut self, field: &[u8], value: Bytes, limits: HashLimits) -> bool {
        if self.is_compact() && (field.len() > limits.max_value || value.len() > limits.max_value) {
            self.convert();
        }
        let created = match &mut self.repr {
            Repr::Listpack(p) => {
                let pair = encode_pair(field, &value);
                match p.pairs().find(|x| x.first.str() == field) {
                    Some(x) => {
                        let range = x.start..x.end;
                        p.replace(range, &pair);
                        false
                    }
                    None => {
                        p.push(&pair);
                        true
                    }
                }
            }
            Repr::Table(d) => match d.get_mut(field) {
                Some(old) => {
                    *old = value;
                    false
                }
                None => {
                    d.insert(Bytes::copy_from_slice(field), value);
                    true
                }
            },
        };
        if self.is_compact() && self.len() > limits.max_entries {
            self.convert();
        }
        created
    }

    /// Removes `field`; returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(p) => match p.pairs().find(|x| x.first.str() == field) {
                Some(x) => {
                    let range = x.start..x.end;
                    p.remove(range, 1);
                    true
                }
                None => false,
            },
            Repr::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Field/value pairs: insertion order for a listpack, bucket order otherwise.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        let (lp, table) = match &self.repr {
            Repr::Listpack(p) => (
                Some(p.pairs().map(|x| (x.first.str(), x.second.str()))),
                None,
            ),
            Repr::Table(d) => (None, Some(d.iter().map(|(f, v)| (&f[..], &v[..])))),
        };
        lp.into_iter().flatten().chain(table.into_iter().flatten())
    }

    /// A random pair, or `None` when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Listpack(p) if p.is_empty() => None,
            Repr::Listpack(p) => p
                .nth(rng.random_range(0..p.len()))
                .map(|x| (x.first.str(), x.second.str())),
            Repr::Table(d) => d.random_entry(rng).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    /// One step of HSCAN on a hashtable: visits the bucket(s) at `cursor`, calls
    /// `f` for each pair and returns the next cursor (0 when done). A listpack has
    /// no cursor: callers return all of it at once, as Redis does.
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Listpack(p) => {
                for x in p.pairs() {
                    f(x.first.str(), x.second.str());
                }
                0
            }
            Repr::Table(d) => d.scan(cursor, |k, v| f(k, v)),
        }
    }

    /// Bytes used beyond the object header, estimated the way Redis's
    /// `objectComputeSize` does for `MEMORY USAGE`: the listpack allocation, or the
    /// dict with its bucket array and (sampled) entries.
    pub fn memory_usage(&self) -> usize {
        match &self.repr {
            Repr::Listpack(p) => alloc_size(
                LP_HEADER
                    + p.pairs()
                        .map(|x| lp_entry_size(x.first.str()) + lp_entry_size(x.second.str()))
                        .sum::<usize>()
                    + 1,
            ),
            Repr::Table(d) => {
                let sample: Vec<usize> = d
                    .iter()
                    .take(MEMORY_SAMPLES)
                    .map(|(f, v)| DICT_ENTRY + sds_size(f) + sds_size(v))
                    .collect();
                let avg = sample.iter().sum::<usize>() as f64 / sample.len().max(1) as f64;
                DICT_HEADER + 8 * d.bucket_count() + (avg * d.len() as f64) as usize
            }
        }
    }

    fn convert(&mut self) {
        if let Repr::Listpack(p) = &self.repr {
            let mut d = Dict::new();
            for x in p.pairs() {
                d.insert(
                    Bytes::copy_from_slice(x.first.str()),
                    Bytes::copy_from_slice(x.second.str()),
                );
            }
            self.repr = Repr::Table(Box::new(d));
        }
    }
}

/// How many entries `MEMORY USAGE` samples by default.
pub(crate) const MEMORY_SAMPLES: usize = 5;
/// `sizeof(dict)` and `sizeof(dictEntry)` in Redis 7.0.
pub(crate) const DICT_HEADER: usize = 56;
pub(crate) const DICT_ENTRY: usize = 24;
/// A listpack's total-bytes and element-count header.
const LP_HEADER: usize = 6;

/// The allocation of an sds string holding `s` (header, bytes, terminator).
pub(crate) fn sds_size(s: &[u8]) -> usize {
    let hdr = match s.len() {
        0..32 => 1,
        32..256 => 3,
        256..65536 => 5,
        _ => 9,
    };
    alloc_size(hdr + s.len() + 1)
}

/// The bytes one listpack element takes: encoding, data and back-length. Strings
/// that are canonical integers are stored as integers, as `lpAppend` does.
pub(crate) fn lp_entry_size(s: &[u8]) -> usize {
    let body = match crate::num::parse_i64(s) {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..4096).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if s.len() < 64 => 1 + s.len(),
        None if s.len() < 4096 => 2 + s.len(),
        None => 5 + s.len(),
    };
    let backlen = match body {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    };
    body + backlen
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const LIMITS: HashLimits = HashLimits {
        max_entries: 4,
        max_value: 8,
    };

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let mut h = HashValue::new();
        assert!(h.set(b"b", b("1"), LIMITS));
        assert!(h.set(b"a", b("2"), LIMITS));
        assert!(!h.set(b"b", b("3"), LIMITS));
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(pairs, [(&b"b"[..], &b"3"[..]), (b"a", b"2")]);
        assert_eq!(h.encoding(), "listpack");
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn converts_past_the_entry_limit_and_never_back() {
        let mut h = HashValue::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b("v"), LIMITS);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b("v"), LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        for i in 0..5 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert!(h.is_empty());
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn converts_on_a_long_field_or_value() {
        let mut h = HashValue::new();
        h.set(b"f", b("12345678"), LIMITS);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b("123456789"), LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"123456789"[..]));

        let mut h = HashValue::new();
        h.set(b"123456789", b("v"), LIMITS);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = HashValue::new();
        h.convert_for_args(&[b("f"), b("123456789")], LIMITS);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn memory_usage_matches_redis_for_small_listpacks() {
        // Redis 7.0: MEMORY USAGE of `HSET h a 1 b 2` is 80 bytes, of which 48 are
        // the key, its dict entry and the object header.
        let mut h = HashValue::new();
        h.set(b"a", b("1"), LIMITS);
        h.set(b"b", b("2"), LIMITS);
        assert_eq!(h.memory_usage(), 32);
    }

    /// Runs a full HSCAN, changing the hash between steps; returns the fields seen.
    fn scan_with_churn(h: &mut HashValue, churn: &[(bool, u16)]) -> HashSet<Bytes> {
        let big = HashLimits {
            max_entries: 0,
            max_value: 64,
        };
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut churn = churn.iter();
        loop {
            cursor = h.scan_step(cursor, |f, _| {
                seen.insert(Bytes::copy_from_slice(f));
            });
            if cursor == 0 {
                return seen;
            }
            if let Some(&(add, n)) = churn.next() {
                for i in 0..n {
                    let f = format!("churn:{i}");
                    if add {
                        h.set(f.as_bytes(), b("x"), big);
                    } else {
                        h.remove(f.as_bytes());
                    }
                }
            }
        }
    }

    proptest! {
        /// HSCAN on a hashtable returns every field present for the whole scan,
        /// whatever is added or removed between the steps.
        #[test]
        fn hscan_returns_every_stable_field(
            stable in proptest::collection::hash_set(0u32..100_000, 1..300),
            churn in proptest::collection::vec((any::<bool>(), 1u16..400), 0..40),
        ) {
            let big = HashLimits { max_entries: 0, max_value: 64 };
            let mut h = HashValue::new();
            for i in &stable {
                h.set(format!("stable:{i}").as_bytes(), b("v"), big);
            }
            prop_assert_eq!(h.encoding(), "hashtable");
            let seen = scan_with_churn(&mut h, &churn);
            for i in &stable {
                let f = b(&format!("stable:{i}"));
                prop_assert!(seen.contains(&f), "missed {:?}", f);
            }
        }
    }
}
