//! The keyspace hash table: a chained hash table with incremental rehashing, a
//! resize-proof SCAN cursor and cheap random sampling.
//!
//! # Why not hashbrown
//!
//! Redis promises that `SCAN` returns every key that exists for the whole
//! iteration at least once, even if the table grows or shrinks between calls,
//! and the server needs random keys for `RANDOMKEY`, active expiry and
//! eviction. An open-addressing table moves entries around on resize and has
//! no cursor that survives it, so this is our own table built the way Redis's
//! `dict.c` is:
//!
//! - **Power-of-two bucket arrays with chaining.** A key lives in bucket
//!   `hash & mask`. Growing doubles the array, so every bucket `b` of the old
//!   table splits into buckets `b` and `b | old_size` of the new one. That
//!   property is what makes the reverse-binary cursor of [`Dict::scan`] work.
//! - **Incremental rehashing with two tables.** A resize allocates the new
//!   table as `ht[1]` and moves one bucket per write (or a time-boxed batch
//!   from the server cron through [`Dict::rehash_for`]), so no single command
//!   pays for moving millions of keys. While rehashing, reads look in both
//!   tables and new keys go to `ht[1]`; buckets of `ht[0]` below
//!   `rehash_idx` are already empty.
//! - **Growth at load factor 1, shrink below 1/8 full** (never below 4
//!   buckets), the Redis 7 policy.
//! - **Seeded hashing.** Keys come from clients, so the hash is foldhash
//!   seeded randomly once per process: nobody can precompute keys that land
//!   in one chain.
//!
//! # Memory
//!
//! One key costs a boxed [`Node`] (key handle, value, next pointer), the key
//! bytes themselves and 8 to 16 bytes of bucket array. The hash is not stored
//! in the node: recomputing it while rehashing is cheaper than 8 bytes on every
//! key for the life of the process.
//!
//! # No recursion, no `unsafe`
//!
//! Chains are singly linked `Option<Box<Node>>` lists. Dropping such a list
//! recursively could overflow the stack on a pathological chain, so [`Table`]
//! drops its chains in a loop, and every other place that frees a node
//! detaches its `next` first. Removal rebuilds the prefix of the chain instead
//! of holding a cursor into it, which keeps the borrow checker happy without
//! raw pointers.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use rand::Rng;

/// The smallest bucket array, as Redis's `DICT_HT_INITIAL_SIZE`.
const MIN_SIZE: usize = 4;

/// A table shrinks when fewer than one bucket in this many holds a key.
const SHRINK_RATIO: usize = 8;

/// How many empty buckets one rehash step may skip per bucket it was asked to
/// move. It bounds the latency of a step on a sparse table (Redis uses 10).
const EMPTY_VISITS_PER_STEP: usize = 10;

/// Buckets moved between clock reads in [`Dict::rehash_for`]; reading the
/// clock per bucket would cost more than moving it.
const CRON_BATCH: usize = 100;

/// Failed random probes before [`Dict::random_entry`] falls back to a linear
/// walk, so a pathologically sparse table cannot make it spin.
const RANDOM_PROBES: usize = 100;

/// A key-value map over binary keys with Redis's SCAN and sampling semantics.
///
/// See the module documentation for the design. Writes (`insert`, `remove`,
/// `get_mut`, `entry_or_insert_with`) each move one bucket if a resize is in
/// progress; reads through `&self` never do, so readers can share the dict.
pub struct Dict<V> {
    /// `ht[0]` is the live table; `ht[1]` is the resize target and holds no
    /// buckets unless a rehash is in progress.
    ht: [Table<V>; 2],
    /// The next bucket of `ht[0]` to move, or `None` when not rehashing.
    rehash_idx: Option<usize>,
}

/// One entry. Boxed so that a bucket is a single pointer and moving an entry
/// between tables moves no key or value bytes.
struct Node<V> {
    key: Bytes,
    value: V,
    next: Link<V>,
}

type Link<V> = Option<Box<Node<V>>>;

/// A bucket array whose length is zero or a power of two.
struct Table<V> {
    buckets: Box<[Link<V>]>,
    /// Number of entries stored in this table.
    used: usize,
}

impl<V> Dict<V> {
    /// Creates an empty dict. Nothing is allocated until the first insert.
    pub fn new() -> Self {
        Dict {
            ht: [Table::empty(), Table::empty()],
            rehash_idx: None,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    /// True when the dict holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total buckets allocated over both tables; INFO and tests use it to see
    /// growth and shrinking.
    pub fn bucket_count(&self) -> usize {
        self.ht[0].size() + self.ht[1].size()
    }

    /// True while a resize is moving keys from the old table to the new one.
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Looks a key up without moving any bucket, so it works through `&self`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|node| &node.value)
    }

    /// Looks a key up for modification, after one incremental rehash step.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.rehash_step();
        if self.is_empty() {
            return None;
        }
        let h = hash_key(key);
        // Destructuring gives two disjoint borrows, so returning one of them
        // conditionally does not lock out the other.
        let [t0, t1] = &mut self.ht;
        if let Some(node) = t0.find_mut(key, h) {
            return Some(&mut node.value);
        }
        t1.find_mut(key, h).map(|node| &mut node.value)
    }

    /// Looks a key up and returns the stored key handle with the value.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Bytes, &V)> {
        self.find(key).map(|node| (&node.key, &node.value))
    }

    /// True when the key is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Inserts or replaces a value and returns the old one. On replace the
    /// stored key is kept and `key` is dropped, like `HashMap::insert`.
    pub fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        self.rehash_step();
        let h = hash_key(&key);
        let [t0, t1] = &mut self.ht;
        if let Some(node) = t0.find_mut(&key, h).or_else(|| t1.find_mut(&key, h)) {
            return Some(std::mem::replace(&mut node.value, value));
        }
        self.push_new(h, key, value);
        None
    }

    /// Returns the value for `key`, inserting `f()` first if it is absent.
    /// The key is copied into a new allocation only when it is inserted.
    ///
    /// A found entry is moved to the front of its chain: that lets us return
    /// a borrow of a freshly pushed node on both paths, and chain order does
    /// not matter to SCAN, which visits whole buckets.
    pub fn entry_or_insert_with(&mut self, key: &[u8], f: impl FnOnce() -> V) -> &mut V {
        self.rehash_step();
        let h = hash_key(key);
        for t in 0..2 {
            if let Some(node) = self.ht[t].unlink(key, h) {
                return &mut self.ht[t].push_front(h, node).value;
            }
        }
        self.push_new(h, Bytes::copy_from_slice(key), f())
    }

    /// Removes a key and returns the stored key and value. The table may
    /// start shrinking afterwards.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Bytes, V)> {
        self.rehash_step();
        if self.is_empty() {
            return None;
        }
        let h = hash_key(key);
        let [t0, t1] = &mut self.ht;
        let node = t0.unlink(key, h).or_else(|| t1.unlink(key, h))?;
        // `unlink` detached `next`, so dropping the rest of the node is O(1).
        let Node { key, value, .. } = *node;
        self.shrink_if_needed();
        Some((key, value))
    }

    /// Removes every key and frees the bucket arrays.
    pub fn clear(&mut self) {
        self.ht = [Table::empty(), Table::empty()];
        self.rehash_idx = None;
    }

    /// Iterates over all entries in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> + Clone {
        self.ht
            .iter()
            .flat_map(|table| table.buckets.iter())
            .flat_map(|bucket| Chain {
                next: bucket.as_deref(),
            })
    }

    /// Visits the bucket(s) addressed by `cursor` and returns the next cursor;
    /// `0` means the scan is complete. Start with cursor `0`.
    ///
    /// The cursor is Redis's: bucket indexes are walked by incrementing the
    /// *reversed* bits of the cursor. Because a bucket of a table of size `n`
    /// splits into buckets that differ only in bits above `n - 1`, every
    /// bucket visited before a resize maps to buckets that the reversed
    /// increment has already passed, in the bigger and in the smaller table.
    /// So a key present for the whole scan is returned at least once;
    /// shrinking can return some keys twice. While rehashing, the bucket of
    /// the smaller table and all its expansions in the bigger one are
    /// visited in one call.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Bytes, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if self.rehash_idx.is_none() {
            let t = &self.ht[0];
            let m = t.mask() as u64;
            t.visit_bucket((v & m) as usize, &mut f);
            v = next_cursor(v, m);
        } else {
            let (small, big) = if self.ht[0].size() <= self.ht[1].size() {
                (&self.ht[0], &self.ht[1])
            } else {
                (&self.ht[1], &self.ht[0])
            };
            let m0 = small.mask() as u64;
            let m1 = big.mask() as u64;
            small.visit_bucket((v & m0) as usize, &mut f);
            // Visit every bucket of the big table that is an expansion of
            // the small table's bucket: same low bits, any high bits.
            loop {
                big.visit_bucket((v & m1) as usize, &mut f);
                v = next_cursor(v, m1);
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// Returns a random entry (Redis's `dictGetRandomKey`): a random
    /// non-empty bucket, then a random element of its chain. Keys in long
    /// chains are less likely, which is fine for expiry and eviction.
    pub fn random_entry(&self, rng: &mut impl Rng) -> Option<(&Bytes, &V)> {
        if self.is_empty() {
            return None;
        }
        let s0 = self.ht[0].size();
        // Buckets of ht[0] below rehash_idx are empty, so skip them.
        let first = self.rehash_idx.unwrap_or(0);
        let total = s0 + self.ht[1].size();
        let bucket_at = |i: usize| -> Option<&Node<V>> {
            if i >= s0 {
                self.ht[1].buckets.get(i - s0)?.as_deref()
            } else {
                self.ht[0].buckets.get(i)?.as_deref()
            }
        };
        let mut head = None;
        for _ in 0..RANDOM_PROBES {
            head = bucket_at(rng.random_range(first..total));
            if head.is_some() {
                break;
            }
        }
        if head.is_none() {
            // Sparse table: walk from a random bucket to the next non-empty
            // one. Slightly biased, but always terminates.
            let start = rng.random_range(first..total);
            head = (start..total).chain(first..start).find_map(bucket_at);
        }
        let head = head?;
        let len = Chain { next: Some(head) }.count();
        Chain { next: Some(head) }.nth(rng.random_range(0..len))
    }

    /// Returns up to `n` keys from random places (Redis's `dictGetSomeKeys`):
    /// it reads runs of consecutive buckets from a random start, jumping
    /// elsewhere after a run of empty buckets, and gives up after `10 * n`
    /// bucket visits. Keys are not guaranteed distinct and fewer than `n`
    /// may be returned; eviction and expiry only need a cheap sample.
    pub fn sample(&self, rng: &mut impl Rng, n: usize) -> Vec<&Bytes> {
        let count = n.min(self.len());
        let mut out = Vec::with_capacity(count);
        if count == 0 {
            return out;
        }
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        let max_mask = self.ht[0]
            .mask()
            .max(if tables == 2 { self.ht[1].mask() } else { 0 });
        let mut i = rng.random_range(0..=max_mask);
        let mut empty_run = 0;
        let mut steps = count.saturating_mul(10);
        while out.len() < count && steps > 0 {
            steps -= 1;
            for t in 0..tables {
                if t == 0 {
                    if let Some(ri) = self.rehash_idx {
                        if i < ri {
                            // Buckets of ht[0] below rehash_idx are empty. If
                            // `i` is also beyond ht[1], nothing lives below
                            // rehash_idx at all: jump there.
                            if i >= self.ht[1].size() {
                                i = ri;
                            } else {
                                continue;
                            }
                        }
                    }
                }
                let Some(bucket) = self.ht[t].buckets.get(i) else {
                    continue;
                };
                match bucket.as_deref() {
                    None => {
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            i = rng.random_range(0..=max_mask);
                            empty_run = 0;
                        }
                    }
                    Some(head) => {
                        empty_run = 0;
                        for (key, _) in (Chain { next: Some(head) }) {
                            out.push(key);
                            if out.len() == count {
                                return out;
                            }
                        }
                    }
                }
            }
            i = (i + 1) & max_mask;
        }
        out
    }

    /// Moves buckets for up to `budget` of wall time; the server cron calls
    /// this so an idle server still finishes resizes. It first starts a
    /// shrink if the table has become sparse, since removals alone may not
    /// have triggered one (a shrink cannot start while another resize runs).
    /// Returns true if a resize is still in progress.
    pub fn rehash_for(&mut self, budget: Duration) -> bool {
        let start = Instant::now();
        loop {
            // A finished shrink may leave a table that is still sparse (keys
            // were removed meanwhile), so check again after each resize.
            // Every resize shrinks, so this ends.
            self.shrink_if_needed();
            if self.rehash_idx.is_none() {
                return false;
            }
            while self.rehash(CRON_BATCH) {
                if start.elapsed() >= budget {
                    return true;
                }
            }
        }
    }

    /// Keeps only the entries for which `f` returns true, then shrinks if
    /// the table became sparse.
    pub fn retain(&mut self, mut f: impl FnMut(&Bytes, &mut V) -> bool) {
        for table in &mut self.ht {
            let Table { buckets, used } = table;
            for bucket in buckets.iter_mut() {
                // Rebuild the chain from the survivors; order is irrelevant.
                let mut chain = bucket.take();
                while let Some(mut node) = chain {
                    chain = node.next.take();
                    if f(&node.key, &mut node.value) {
                        node.next = bucket.take();
                        *bucket = Some(node);
                    } else {
                        *used -= 1;
                    }
                }
            }
        }
        if self.rehash_idx.is_some() && self.ht[0].used == 0 {
            self.finish_rehash();
        }
        self.shrink_if_needed();
    }

    /// Finds the node for `key` in either table.
    fn find(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        let h = hash_key(key);
        self.ht[0].find(key, h).or_else(|| self.ht[1].find(key, h))
    }

    /// Adds a key known to be absent, growing first if needed, and returns
    /// its value slot.
    fn push_new(&mut self, h: u64, key: Bytes, value: V) -> &mut V {
        self.expand_if_needed();
        // While rehashing, new keys go to the new table so the old one only
        // ever empties.
        let t = usize::from(self.rehash_idx.is_some());
        let node = Box::new(Node {
            key,
            value,
            next: None,
        });
        &mut self.ht[t].push_front(h, node).value
    }

    /// The incremental step every write pays while a resize is in progress.
    /// Normally one bucket; more when the target table is already over
    /// load factor 1 (inserts during a shrink land in the small table), so a
    /// write-heavy phase cannot build long chains before the move finishes.
    fn rehash_step(&mut self) {
        if self.rehash_idx.is_some() {
            let target = &self.ht[1];
            let n = 1 + target.used / target.size().max(1);
            self.rehash(n);
        }
    }

    /// Moves up to `n` non-empty buckets from `ht[0]` to `ht[1]`, visiting at
    /// most `10 * n` empty ones. Returns true if keys remain to move.
    fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n.saturating_mul(EMPTY_VISITS_PER_STEP);
        let mut moved = 0;
        let [t0, t1] = &mut self.ht;
        while moved < n && t0.used > 0 {
            let Some(bucket) = t0.buckets.get_mut(idx) else {
                break;
            };
            let mut chain = bucket.take();
            idx += 1;
            if chain.is_none() {
                empty_visits -= 1;
                if empty_visits == 0 {
                    break;
                }
                continue;
            }
            while let Some(mut node) = chain {
                chain = node.next.take();
                t0.used -= 1;
                t1.push_front(hash_key(&node.key), node);
            }
            moved += 1;
        }
        if t0.used == 0 {
            self.finish_rehash();
            false
        } else {
            self.rehash_idx = Some(idx);
            true
        }
    }

    /// Makes the (now complete) new table the live one.
    fn finish_rehash(&mut self) {
        self.ht[0] = std::mem::replace(&mut self.ht[1], Table::empty());
        self.rehash_idx = None;
    }

    /// Allocates the first table, or starts doubling when the load factor
    /// reaches 1.
    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let t0 = &self.ht[0];
        if t0.size() == 0 {
            self.ht[0] = Table::with_size(MIN_SIZE);
        } else if t0.used >= t0.size() {
            self.start_resize((t0.used + 1).next_power_of_two());
        }
    }

    /// Starts shrinking to the smallest power of two that holds every key
    /// when fewer than 1/8 of the buckets are used.
    fn shrink_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let t0 = &self.ht[0];
        if t0.size() > MIN_SIZE && t0.used * SHRINK_RATIO < t0.size() {
            self.start_resize(t0.used.next_power_of_two().max(MIN_SIZE));
        }
    }

    fn start_resize(&mut self, size: usize) {
        self.ht[1] = Table::with_size(size);
        if self.ht[0].used == 0 {
            self.finish_rehash();
        } else {
            self.rehash_idx = Some(0);
        }
    }
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table {
            buckets: Box::new([]),
            used: 0,
        }
    }

    fn with_size(size: usize) -> Self {
        debug_assert!(size.is_power_of_two());
        Table {
            buckets: std::iter::repeat_with(|| None).take(size).collect(),
            used: 0,
        }
    }

    fn size(&self) -> usize {
        self.buckets.len()
    }

    /// `size - 1`; only meaningful when the table has buckets.
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn find(&self, key: &[u8], h: u64) -> Option<&Node<V>> {
        let bucket = self.buckets.get(h as usize & self.mask())?;
        Chain {
            next: bucket.as_deref(),
        }
        .nodes()
        .find(|node| node.key[..] == *key)
    }

    fn find_mut(&mut self, key: &[u8], h: u64) -> Option<&mut Node<V>> {
        let mask = self.mask();
        let mut cur = self.buckets.get_mut(h as usize & mask)?.as_deref_mut();
        while let Some(node) = cur {
            if node.key[..] == *key {
                return Some(node);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    /// Detaches the node for `key` (with `next` cleared) and keeps the rest of
    /// the chain in order.
    fn unlink(&mut self, key: &[u8], h: u64) -> Option<Box<Node<V>>> {
        let mask = self.mask();
        let bucket = self.buckets.get_mut(h as usize & mask)?;
        // Pop nodes into a reversed prefix until the key is found, then push
        // the prefix back. Owning the nodes avoids a cursor into the chain.
        let mut rest = bucket.take();
        let mut prefix: Link<V> = None;
        let mut found = None;
        while let Some(mut node) = rest {
            rest = node.next.take();
            if node.key[..] == *key {
                found = Some(node);
                break;
            }
            node.next = prefix;
            prefix = Some(node);
        }
        while let Some(mut node) = prefix {
            prefix = node.next.take();
            node.next = rest;
            rest = Some(node);
        }
        *bucket = rest;
        if found.is_some() {
            self.used -= 1;
        }
        found
    }

    /// Pushes a node at the head of its bucket. The table must have buckets.
    fn push_front(&mut self, h: u64, mut node: Box<Node<V>>) -> &mut Node<V> {
        let mask = self.mask();
        self.used += 1;
        let bucket = &mut self.buckets[h as usize & mask];
        node.next = bucket.take();
        bucket.insert(node)
    }

    fn visit_bucket(&self, i: usize, f: &mut impl FnMut(&Bytes, &V)) {
        if let Some(bucket) = self.buckets.get(i) {
            for (key, value) in (Chain {
                next: bucket.as_deref(),
            }) {
                f(key, value);
            }
        }
    }
}

impl<V> Drop for Table<V> {
    /// Frees chains in a loop: the default drop of a linked list recurses
    /// once per node and could overflow the stack on a long chain.
    fn drop(&mut self) {
        for bucket in self.buckets.iter_mut() {
            let mut chain = bucket.take();
            while let Some(mut node) = chain {
                chain = node.next.take();
            }
        }
    }
}

/// Walks one chain.
struct Chain<'a, V> {
    next: Option<&'a Node<V>>,
}

// A derived `Clone` would ask for `V: Clone`; the walk only copies a reference.
impl<V> Clone for Chain<'_, V> {
    fn clone(&self) -> Self {
        Chain { next: self.next }
    }
}

impl<'a, V> Chain<'a, V> {
    fn nodes(self) -> impl Iterator<Item = &'a Node<V>> {
        std::iter::successors(self.next, |node| node.next.as_deref())
    }
}

impl<'a, V> Iterator for Chain<'a, V> {
    type Item = (&'a Bytes, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let node = self.next?;
        self.next = node.next.as_deref();
        Some((&node.key, &node.value))
    }
}

/// Advances a scan cursor: set the bits above the mask so the carry of the
/// increment only runs through the masked bits, then increment the reversed
/// value.
fn next_cursor(v: u64, mask: u64) -> u64 {
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

/// The process-wide hasher, seeded randomly on first use.
fn hasher_state() -> &'static SeedableRandomState {
    static STATE: OnceLock<SeedableRandomState> = OnceLock::new();
    STATE
        .get_or_init(|| SeedableRandomState::with_seed(rand::random(), SharedSeed::global_random()))
}

fn hash_key(key: &[u8]) -> u64 {
    let mut hasher = hasher_state().build_hasher();
    hasher.write(key);
    hasher.finish()
}

impl<V> std::fmt::Debug for Dict<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dict").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::{HashMap, HashSet};

    fn key(i: u32) -> Bytes {
        Bytes::from(format!("key:{i}"))
    }

    /// Runs every pending rehash step so sizes can be checked.
    fn settle<V>(d: &mut Dict<V>) {
        while d.rehash_for(Duration::from_secs(1)) {}
    }

    /// Collects every key a full scan returns, with repeats.
    fn full_scan<V>(d: &Dict<V>) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, |k, _| out.push(k.clone()));
            if cursor == 0 {
                return out;
            }
        }
    }

    #[test]
    fn new_allocates_nothing() {
        let d: Dict<u32> = Dict::new();
        assert_eq!(d.bucket_count(), 0);
        assert!(d.is_empty());
        assert_eq!(d.get(b"x"), None);
        assert_eq!(d.scan(0, |_, _| panic!("empty")), 0);
        assert_eq!(d.random_entry(&mut StdRng::seed_from_u64(1)), None);
        assert!(d.sample(&mut StdRng::seed_from_u64(1), 5).is_empty());
    }

    #[test]
    fn insert_get_remove() {
        let mut d = Dict::new();
        assert_eq!(d.insert(key(1), 10), None);
        assert_eq!(d.insert(key(2), 20), None);
        assert_eq!(d.get(b"key:1"), Some(&10));
        assert_eq!(d.insert(key(1), 11), Some(10));
        assert_eq!(d.len(), 2);
        *d.get_mut(b"key:2").expect("present") += 1;
        assert_eq!(d.get(b"key:2"), Some(&21));
        assert!(d.contains_key(b"key:2"));
        assert_eq!(d.remove(b"key:2"), Some((key(2), 21)));
        assert_eq!(d.remove(b"key:2"), None);
        assert!(!d.contains_key(b"key:2"));
        assert_eq!(d.len(), 1);
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.bucket_count(), 0);
    }

    #[test]
    fn replace_keeps_the_old_key() {
        let mut d = Dict::new();
        let first = key(7);
        let first_ptr = first.as_ptr();
        d.insert(first, 1);
        let second = key(7);
        assert_ne!(second.as_ptr(), first_ptr);
        d.insert(second, 2);
        let (k, v) = d.get_key_value(b"key:7").expect("present");
        assert_eq!((k.as_ptr(), *v), (first_ptr, 2));
    }

    #[test]
    fn entry_or_insert_with_calls_f_only_when_absent() {
        let mut d = Dict::new();
        let mut calls = 0;
        for _ in 0..3 {
            *d.entry_or_insert_with(b"k", || {
                calls += 1;
                0
            }) += 1;
        }
        assert_eq!(calls, 1);
        assert_eq!(d.get(b"k"), Some(&3));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn grows_at_load_factor_one_and_shrinks_below_an_eighth() {
        let mut d = Dict::new();
        for i in 0..4 {
            d.insert(key(i), i);
        }
        assert_eq!(d.bucket_count(), 4);
        d.insert(key(4), 4);
        settle(&mut d);
        assert_eq!(d.bucket_count(), 8);
        for i in 0..1000 {
            d.insert(key(i), i);
        }
        settle(&mut d);
        assert_eq!(d.bucket_count(), 1024);
        for i in 0..990 {
            d.remove(&key(i));
        }
        settle(&mut d);
        assert_eq!(d.len(), 10);
        assert_eq!(d.bucket_count(), 16);
        for i in 990..1000 {
            assert_eq!(d.get(&key(i)), Some(&i));
        }
    }

    #[test]
    fn a_million_inserts_then_removes() {
        const N: u32 = 1_000_000;
        let mut d = Dict::new();
        for i in 0..N {
            assert_eq!(d.insert(key(i), i), None);
        }
        assert_eq!(d.len(), N as usize);
        for i in (0..N).step_by(997) {
            assert_eq!(d.get(&key(i)), Some(&i));
        }
        for i in 0..N {
            assert_eq!(d.remove(&key(i)), Some((key(i), i)), "key {i}");
        }
        assert!(d.is_empty());
        settle(&mut d);
        assert_eq!(d.bucket_count(), MIN_SIZE);
    }

    #[test]
    fn long_chain_drops_without_recursion() {
        let mut table = Table::with_size(1);
        for i in 0..1_000_000 {
            let node = Box::new(Node {
                key: Bytes::new(),
                value: i,
                next: None,
            });
            table.push_front(0, node);
        }
        assert_eq!(table.used, 1_000_000);
        drop(table);
    }

    #[test]
    fn scan_without_changes_returns_each_key_once() {
        let mut d = Dict::new();
        for i in 0..5000 {
            d.insert(key(i), ());
        }
        settle(&mut d);
        let mut seen = full_scan(&d);
        seen.sort();
        let mut all: Vec<Bytes> = (0..5000).map(key).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn iter_sees_both_tables_while_rehashing() {
        let mut d = Dict::new();
        for i in 0..1025 {
            d.insert(key(i), i);
        }
        assert!(d.is_rehashing());
        let mut seen: Vec<u32> = d.iter().map(|(_, v)| *v).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1025).collect::<Vec<_>>());
    }

    #[test]
    fn retain_keeps_matching_entries() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(key(i), i);
        }
        d.retain(|_, v| {
            *v += 1;
            *v % 10 == 0
        });
        assert_eq!(d.len(), 100);
        assert_eq!(d.get(&key(9)), Some(&10));
        assert_eq!(d.get(&key(10)), None);
        settle(&mut d);
        assert_eq!(d.bucket_count(), 128);
    }

    #[test]
    fn sample_returns_present_keys() {
        let mut d = Dict::new();
        for i in 0..1000 {
            d.insert(key(i), i);
        }
        let mut rng = StdRng::seed_from_u64(7);
        for n in [0, 1, 5, 20, 2000] {
            let sample = d.sample(&mut rng, n);
            assert!(sample.len() <= n.min(1000));
            assert!(n == 0 || !sample.is_empty());
            assert!(sample.iter().all(|k| d.contains_key(k)));
        }
    }

    #[test]
    fn random_entry_reaches_every_key() {
        let mut d = Dict::new();
        for i in 0..50 {
            d.insert(key(i), i);
        }
        let mut rng = StdRng::seed_from_u64(3);
        let mut seen = HashSet::new();
        for _ in 0..5000 {
            let (k, v) = d.random_entry(&mut rng).expect("not empty");
            assert_eq!(d.get(k), Some(v));
            seen.insert(*v);
        }
        assert_eq!(seen.len(), 50);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        GetMut(u16),
        Entry(u16),
        Retain(u16),
        Rehash,
    }

    fn op() -> impl Strategy<Value = Op> {
        // A small key space so that replaces and hits are common.
        let k = 0u16..300;
        prop_oneof![
            6 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            5 => k.clone().prop_map(Op::Remove),
            2 => k.clone().prop_map(Op::GetMut),
            2 => k.clone().prop_map(Op::Entry),
            1 => (2u16..10).prop_map(Op::Retain),
            1 => Just(Op::Rehash),
        ]
    }

    /// A batch of changes applied between two scan calls.
    #[derive(Debug, Clone)]
    enum Churn {
        Insert(u32, u32),
        Remove(u32, u32),
        Rehash,
    }

    fn churn() -> impl Strategy<Value = Churn> {
        prop_oneof![
            3 => (0u32..3000, 1u32..600).prop_map(|(s, n)| Churn::Insert(s, n)),
            3 => (0u32..3000, 1u32..600).prop_map(|(s, n)| Churn::Remove(s, n)),
            // Removing (nearly) everything is what makes the table shrink.
            1 => (0u32..200).prop_map(|s| Churn::Remove(s, 3600)),
            1 => Just(Churn::Rehash),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_hashmap(ops in proptest::collection::vec(op(), 1..400)) {
            let mut d = Dict::new();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = key(u32::from(k));
                        prop_assert_eq!(d.insert(k.clone(), v), model.insert(k.to_vec(), v));
                    }
                    Op::Remove(k) => {
                        let k = key(u32::from(k));
                        let got = d.remove(&k).map(|(k, v)| (k.to_vec(), v));
                        let want = model.remove(&k[..]).map(|v| (k.to_vec(), v));
                        prop_assert_eq!(got, want);
                    }
                    Op::GetMut(k) => {
                        let k = key(u32::from(k));
                        let got = d.get_mut(&k).map(|v| { *v = v.wrapping_add(1); *v });
                        let want = model.get_mut(&k[..]).map(|v| { *v = v.wrapping_add(1); *v });
                        prop_assert_eq!(got, want);
                    }
                    Op::Entry(k) => {
                        let k = key(u32::from(k));
                        let got = *d.entry_or_insert_with(&k, || 5);
                        let want = *model.entry(k.to_vec()).or_insert(5);
                        prop_assert_eq!(got, want);
                    }
                    Op::Retain(m) => {
                        d.retain(|_, v| *v % u32::from(m) != 0);
                        model.retain(|_, v| *v % u32::from(m) != 0);
                    }
                    Op::Rehash => {
                        d.rehash_for(Duration::from_millis(1));
                    }
                }
                prop_assert_eq!(d.len(), model.len());
            }
            for (k, v) in &model {
                prop_assert_eq!(d.get(k), Some(v));
            }
            let mut all: Vec<(Vec<u8>, u32)> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            all.sort();
            let mut want: Vec<(Vec<u8>, u32)> = model.into_iter().collect();
            want.sort();
            prop_assert_eq!(all, want);
        }

        /// The SCAN guarantee: keys present for the whole scan are returned
        /// at least once, whatever grows, shrinks or rehashes in between.
        #[test]
        fn scan_returns_every_stable_key(
            stable in proptest::collection::hash_set(0u32..1_000_000, 0..60),
            initial in 0u32..3000,
            churns in proptest::collection::vec(churn(), 0..60),
        ) {
            // Stable keys live above the churned range, so churn never
            // touches them.
            let stable_key = |i: u32| key(10_000_000 + i);
            let mut d = Dict::new();
            for &i in &stable {
                d.insert(stable_key(i), ());
            }
            for i in 0..initial {
                d.insert(key(i), ());
            }
            let mut churns = churns.into_iter();
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut calls = 0;
            loop {
                cursor = d.scan(cursor, |k, _| {
                    seen.insert(k.clone());
                });
                calls += 1;
                prop_assert!(calls < 1_000_000, "scan does not terminate");
                if cursor == 0 {
                    break;
                }
                match churns.next() {
                    Some(Churn::Insert(s, n)) => {
                        for i in s..s + n {
                            d.insert(key(i), ());
                        }
                    }
                    Some(Churn::Remove(s, n)) => {
                        for i in s..s + n {
                            d.remove(&key(i));
                        }
                    }
                    Some(Churn::Rehash) => {
                        d.rehash_for(Duration::from_micros(1));
                    }
                    None => {}
                }
            }
            for &i in &stable {
                prop_assert!(seen.contains(&stable_key(i)), "missed stable key {}", i);
            }
        }

        #[test]
        fn random_entry_returns_present_keys(
            ops in proptest::collection::vec((any::<bool>(), 0u32..200), 0..300),
            seed in any::<u64>(),
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut d = Dict::new();
            for (add, k) in ops {
                if add {
                    d.insert(key(k), k);
                } else {
                    d.remove(&key(k));
                }
                match d.random_entry(&mut rng) {
                    None => prop_assert!(d.is_empty()),
                    Some((k, v)) => prop_assert_eq!(d.get(k), Some(v)),
                }
                for k in d.sample(&mut rng, 3) {
                    prop_assert!(d.contains_key(k));
                }
            }
        }
    }
}
