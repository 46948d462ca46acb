//! A set: Redis 7.0's `intset` encoding for small sets of integers, `hashtable`
//! for the rest.
//!
//! # Encodings
//!
//! A set whose first member is a canonical 64-bit integer (Redis's `string2ll`
//! rules) starts as an `intset`: a sorted vector of `i64`, searched by binary
//! search. Clients see that order, since `SMEMBERS`, `SSCAN` and `SPOP` of an
//! intset list members from the smallest up. The set converts to a `hashtable`
//! ([`Dict`] with unit values) when a member that is not an integer is added or
//! when it grows past `set-max-intset-entries`. Conversion is one-way, as in
//! Redis. Redis 7.2 added a `listpack` encoding for small sets of strings; 7.0,
//! which we match, has none.

use bytes::Bytes;
use rand::Rng;

use super::dict::Dict;
use super::hash::{sds_size, DICT_ENTRY, DICT_HEADER, MEMORY_SAMPLES};
use super::value::alloc_size;
use crate::num::{i64_bytes, parse_i64};

/// A set value. The encoding is private: commands go through the methods, which
/// apply Redis's conversion rules.
#[derive(Debug)]
pub struct SetValue {
    repr: Repr,
}

#[derive(Debug)]
enum Repr {
    /// Sorted, distinct integers (Redis's `intset`).
    Intset(IntSet),
    /// Redis's `hashtable`.
    Table(Dict<()>),
}

impl Clone for SetValue {
    /// COPY duplicates a set with its encoding, as Redis's `setTypeDup` does.
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Intset(v) => Repr::Intset(v.clone()),
            Repr::Table(d) => {
                let mut t = Dict::new();
                for (k, _) in d.iter() {
                    t.insert(k.clone(), ());
                }
                Repr::Table(t)
            }
        };
        SetValue { repr }
    }
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::new_intset()
    }
}

impl SetValue {
    /// An empty set with the encoding Redis's `setTypeCreate` picks for a set whose
    /// first member is `first`.
    pub fn for_member(first: &[u8]) -> SetValue {
        if parse_i64(first).is_some() {
            SetValue::new_intset()
        } else {
            SetValue {
                repr: Repr::Table(Dict::new()),
            }
        }
    }

    /// An empty intset, where the `*STORE` commands build their results.
    pub fn new_intset() -> SetValue {
        SetValue {
            repr: Repr::Intset(IntSet::default()),
        }
    }

    /// The `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Intset(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True for the `intset` encoding, whose SCAN returns everything at once.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Intset(_))
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => v.len(),
            Repr::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Intset(v) => parse_i64(member).is_some_and(|n| v.find(n).is_ok()),
            Repr::Table(d) => d.contains_key(member),
        }
    }

    /// Adds `member`; returns true if it is new. An intset converts to a hashtable
    /// for a non-integer member or when it grows past `max_intset` entries (Redis's
    /// `setTypeAdd`, which caps the limit at 2^30).
    pub fn add(&mut self, member: &[u8], max_intset: usize) -> bool {
        if let Repr::Intset(v) = &mut self.repr {
            match parse_i64(member) {
                Some(n) => {
                    let Err(at) = v.find(n) else {
                        return false;
                    };
                    v.insert(at, n);
                    if v.len() > max_intset.min(1 << 30) {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match &mut self.repr {
            Repr::Table(d) => d.insert(Bytes::copy_from_slice(member), ()).is_none(),
            Repr::Intset(_) => false,
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Intset(v) => match parse_i64(member).map(|n| v.find(n)) {
                Some(Ok(i)) => {
                    v.remove(i);
                    true
                }
                _ => false,
            },
            Repr::Table(d) => d.remove(member).is_some(),
        }
    }

    /// Members: ascending for an intset, bucket order for a hashtable.
    pub fn iter(&self) -> impl Iterator<Item = Bytes> + '_ {
        let (ints, table) = match &self.repr {
            Repr::Intset(v) => (Some(v.iter().map(i64_bytes)), None),
            Repr::Table(d) => (None, Some(d.iter().map(|(k, _)| k.clone()))),
        };
        ints.into_iter()
            .flatten()
            .chain(table.into_iter().flatten())
    }

    /// A random member, or `None` when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Bytes> {
        match &self.repr {
            Repr::Intset(v) if v.is_empty() => None,
            Repr::Intset(v) => Some(i64_bytes(v.get(rng.random_range(0..v.len())))),
            Repr::Table(d) => d.random_entry(rng).map(|(k, _)| k.clone()),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Bytes> {
        let m = self.random(rng)?;
        self.remove(&m);
        Some(m)
    }

    /// One step of SSCAN on a hashtable: visits the bucket(s) at `cursor`, calls
    /// `f` for each member and returns the next cursor (0 when done). An intset has
    /// no cursor: it is returned whole, as Redis does.
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(Bytes)) -> u64 {
        match &self.repr {
            Repr::Intset(v) => {
                for n in v.iter() {
                    f(i64_bytes(n));
                }
                0
            }
            Repr::Table(d) => d.scan(cursor, |k, _| f(k.clone())),
        }
    }

    /// Bytes used beyond the object header, estimated the way Redis's
    /// `objectComputeSize` does for `MEMORY USAGE`.
    pub fn memory_usage(&self) -> usize {
        match &self.repr {
            Repr::Intset(v) => alloc_size(8 + v.width() * v.len()),
            Repr::Table(d) => {
                let sample: Vec<usize> = d
                    .iter()
                    .take(MEMORY_SAMPLES)
                    .map(|(k, _)| DICT_ENTRY + sds_size(k))
                    .collect();
                let avg = sample.iter().sum::<usize>() as f64 / sample.len().max(1) as f64;
                DICT_HEADER + 8 * d.bucket_count() + (avg * d.len() as f64) as usize
            }
        }
    }

    fn convert(&mut self) {
        if let Repr::Intset(v) = &self.repr {
            let mut d = Dict::new();
            for n in v.iter() {
                d.insert(i64_bytes(n), ());
            }
            self.repr = Repr::Table(d);
        }
    }
}

/// Redis's `intset`: sorted, distinct integers stored at the narrowest width (2, 4
/// or 8 bytes) that holds every one of them. Adding a wider integer upgrades the
/// whole set; removing never downgrades it, as in Redis (so `MEMORY USAGE` agrees).
#[derive(Debug, Clone)]
enum IntSet {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::I16(Vec::new())
    }
}

/// Runs `$e` with `$v` bound to the vector, whatever its width.
macro_rules! each {
    ($s:expr, $v:ident => $e:expr) => {
        match $s {
            IntSet::I16($v) => $e,
            IntSet::I32($v) => $e,
            IntSet::I64($v) => $e,
        }
    };
}

/// Binary search of `n` in `v`; a value too wide for `T` sorts before or after all.
fn search<T: Ord + TryFrom<i64>>(v: &[T], n: i64) -> Result<usize, usize> {
    match T::try_from(n) {
        Ok(x) => v.binary_search(&x),
        Err(_) => Err(if n < 0 { 0 } else { v.len() }),
    }
}

/// Inserts at `at` without spare capacity: small sets are many.
fn insert_exact<T>(v: &mut Vec<T>, at: usize, x: T) {
    v.reserve_exact(1);
    v.insert(at, x);
}

impl IntSet {
    fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per element.
    fn width(&self) -> usize {
        match self {
            IntSet::I16(_) => 2,
            IntSet::I32(_) => 4,
            IntSet::I64(_) => 8,
        }
    }

    // The macro expands for every width, i64 included, where `from` is the identity.
    #[allow(clippy::useless_conversion)]
    fn get(&self, i: usize) -> i64 {
        each!(self, v => v.get(i).map_or(0, |&x| i64::from(x)))
    }

    fn find(&self, n: i64) -> Result<usize, usize> {
        each!(self, v => search(v, n))
    }

    fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Inserts `n` at `at` (from [`IntSet::find`]), upgrading the width if needed.
    fn insert(&mut self, at: usize, n: i64) {
        let fits = match self {
            IntSet::I16(_) => i16::try_from(n).is_ok(),
            IntSet::I32(_) => i32::try_from(n).is_ok(),
            IntSet::I64(_) => true,
        };
        if !fits {
            let all: Vec<i64> = self.iter().collect();
            *self = if i32::try_from(n).is_ok() {
                IntSet::I32(all.iter().filter_map(|&x| i32::try_from(x).ok()).collect())
            } else {
                IntSet::I64(all)
            };
        }
        match self {
            IntSet::I16(v) => insert_exact(v, at, n as i16),
            IntSet::I32(v) => insert_exact(v, at, n as i32),
            IntSet::I64(v) => insert_exact(v, at, n),
        }
    }

    fn remove(&mut self, i: usize) {
        each!(self, v => {
            v.remove(i);
            v.shrink_to_fit();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn members(s: &SetValue) -> Vec<String> {
        s.iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect()
    }

    #[test]
    fn integers_start_an_intset_kept_sorted() {
        let mut s = SetValue::for_member(b"5");
        for m in ["5", "-3", "100000000000", "5", "0"] {
            s.add(m.as_bytes(), 512);
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), ["-3", "0", "5", "100000000000"]);
        assert!(s.contains(b"0"));
        assert!(!s.contains(b"00"));
        assert!(!s.remove(b"-0"));
        assert!(s.remove(b"-3"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn non_canonical_integers_are_strings() {
        for m in ["01", "+1", " 1", "1.0", "-0", "9223372036854775808", "a"] {
            assert_eq!(SetValue::for_member(m.as_bytes()).encoding(), "hashtable");
        }
        let mut s = SetValue::for_member(b"1");
        s.add(b"1", 512);
        s.add(b"01", 512);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"01"));
    }

    #[test]
    fn converts_past_the_intset_limit_and_never_back() {
        let mut s = SetValue::for_member(b"1");
        for i in 0..3 {
            s.add(i.to_string().as_bytes(), 3);
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"3", 3);
        assert_eq!(s.encoding(), "hashtable");
        for i in 0..4 {
            assert!(s.remove(i.to_string().as_bytes()));
        }
        assert!(s.is_empty());
        s.add(b"1", 3);
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn memory_usage_matches_redis_for_intsets() {
        // Redis 7.0: `SADD s 1 2 3` uses 64 bytes, `SADD s2 1 2 3 100000` 80, of
        // which 48 are the key, its dict entry and the object header.
        let mut s = SetValue::new_intset();
        for m in ["1", "2", "3"] {
            s.add(m.as_bytes(), 512);
        }
        assert_eq!(s.memory_usage(), 16);
        s.add(b"100000", 512);
        assert_eq!(s.memory_usage(), 32);
    }

    #[test]
    fn intset_widens_in_order_and_never_narrows() {
        let mut s = SetValue::new_intset();
        for m in ["5", "-40000", "70000", "-3"] {
            s.add(m.as_bytes(), 512);
        }
        assert_eq!(members(&s), ["-40000", "-3", "5", "70000"]);
        assert_eq!(s.memory_usage(), alloc_size(8 + 4 * 4));
        s.add(b"-9223372036854775808", 512);
        s.add(b"9223372036854775807", 512);
        assert_eq!(
            members(&s),
            [
                "-9223372036854775808",
                "-40000",
                "-3",
                "5",
                "70000",
                "9223372036854775807"
            ]
        );
        assert!(s.contains(b"-9223372036854775808") && !s.contains(b"6"));
        for m in [
            "-9223372036854775808",
            "9223372036854775807",
            "-40000",
            "70000",
        ] {
            assert!(s.remove(m.as_bytes()));
        }
        assert_eq!(members(&s), ["-3", "5"]);
        assert_eq!(s.memory_usage(), alloc_size(8 + 8 * 2));
    }

    #[test]
    fn pop_random_empties_the_set() {
        let mut rng = rand::rng();
        let mut s = SetValue::for_member(b"a");
        for m in ["a", "b", "c"] {
            s.add(m.as_bytes(), 512);
        }
        let mut popped: Vec<_> = std::iter::from_fn(|| s.pop_random(&mut rng)).collect();
        popped.sort();
        assert_eq!(popped, [&b"a"[..], b"b", b"c"]);
    }

    proptest! {
        /// SSCAN on a hashtable returns every member present for the whole scan,
        /// whatever is added or removed between the steps.
        #[test]
        fn sscan_returns_every_stable_member(
            stable in proptest::collection::hash_set(0u32..100_000, 1..300),
            churn in proptest::collection::vec((any::<bool>(), 1u16..400), 0..40),
        ) {
            let mut s = SetValue::for_member(b"x");
            for i in &stable {
                s.add(format!("stable:{i}").as_bytes(), 512);
            }
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut churn = churn.iter();
            loop {
                cursor = s.scan_step(cursor, |m| {
                    seen.insert(m);
                });
                if cursor == 0 {
                    break;
                }
                if let Some(&(add, n)) = churn.next() {
                    for i in 0..n {
                        let m = format!("churn:{i}");
                        if add {
                            s.add(m.as_bytes(), 512);
                        } else {
                            s.remove(m.as_bytes());
                        }
                    }
                }
            }
            for i in &stable {
                let m = Bytes::from(format!("stable:{i}"));
                prop_assert!(seen.contains(&m), "missed {:?}", m);
            }
        }
    }
}
