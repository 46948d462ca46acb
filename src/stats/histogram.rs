//! A lock-free latency histogram: log-linear buckets of atomic counters.
//!
//! Recording is two relaxed `fetch_add`s and a `fetch_max`, so it can sit on the
//! command path of every connection without a lock. Each power of two is split in
//! [`SUB`] buckets, so a percentile is reported within 25% of the true value, which is
//! what an operator reading p99 needs; exact values below 16 µs are kept exactly.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two (as a shift: 2 bits = 4 buckets).
const SUB_BITS: u32 = 2;
const SUB: usize = 1 << SUB_BITS;
/// Values below this are counted exactly, one bucket each.
const LINEAR: u64 = 16;
/// Enough buckets for any `u64` value.
const BUCKETS: usize = LINEAR as usize + (64 - 4) * SUB;

/// Counts of recorded values (microseconds, bytes, ...).
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

/// Percentiles and totals read from a [`Histogram`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub sum: u64,
    pub mean: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let sub = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    LINEAR as usize + (exp as usize - 4) * SUB + sub
}

/// The largest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let exp = ((i - LINEAR as usize) / SUB + 4) as u32;
    let sub = ((i - LINEAR as usize) % SUB) as u64;
    let base = 1u64 << exp;
    let width = base >> SUB_BITS;
    base.checked_add((sub + 1) * width)
        .map_or(u64::MAX, |e| e - 1)
}

/// The value at quantile `q` of bucket `counts`: the upper bound of the bucket holding
/// that rank, never above `max`; 0 when empty.
fn quantile(counts: &[u64], max: u64, q: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return upper_bound(i).min(max);
        }
    }
    max
}

/// Adds `n` to a counter whose writers take turns under the store lock (see
/// [`Histogram::record_in_turn`]), without a locked read-modify-write.
pub fn add_in_turn(counter: &AtomicU64, n: u64, _turn: &mut crate::store::Store) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({:?})", self.summary())
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub const fn new() -> Histogram {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Histogram {
            buckets: [ZERO; BUCKETS],
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    pub fn record(&self, v: u64) {
        self.buckets[bucket_of(v)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    /// [`Histogram::record`] for a histogram whose writers take turns: they hold the
    /// store lock, which `turn` proves (only its holder has a `&mut Store`). Plain
    /// loads and stores instead of locked read-modify-writes, which cost about 20
    /// cycles each: with the counters beside them they were 7% of a pipelined SET's
    /// CPU. Readers on other threads still see every field whole.
    pub fn record_in_turn(&self, v: u64, turn: &mut crate::store::Store) {
        add_in_turn(&self.buckets[bucket_of(v)], 1, turn);
        add_in_turn(&self.count, 1, turn);
        add_in_turn(&self.sum, v, turn);
        if v > self.max.load(Ordering::Relaxed) {
            self.max.store(v, Ordering::Relaxed);
        }
    }

    /// Clears every count (Dynomite's `/historeset`).
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
        self.sum.store(0, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }

    /// Adds `other`'s counts to this one (to merge per-peer histograms).
    pub fn add(&self, other: &Histogram) {
        for (a, b) in self.buckets.iter().zip(&other.buckets) {
            a.fetch_add(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.count
            .fetch_add(other.count.load(Ordering::Relaxed), Ordering::Relaxed);
        self.sum
            .fetch_add(other.sum.load(Ordering::Relaxed), Ordering::Relaxed);
        self.max
            .fetch_max(other.max.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// A snapshot. Concurrent recording may make it slightly inconsistent (a count
    /// without its bucket yet); percentiles are computed from the buckets alone.
    pub fn summary(&self) -> Summary {
        let counts = self.counts();
        let max = self.max.load(Ordering::Relaxed);
        let pct = |q: f64| quantile(&counts, max, q);
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum.load(Ordering::Relaxed);
        Summary {
            count,
            sum,
            mean: sum.checked_div(count).unwrap_or(0),
            p50: pct(0.50),
            p95: pct(0.95),
            p99: pct(0.99),
            p999: pct(0.999),
            max,
        }
    }

    /// The value at quantile `q` (0..=1), as [`Histogram::summary`] computes its
    /// percentiles (a bucket's upper bound, never above the maximum); 0 when empty.
    pub fn percentile(&self, q: f64) -> u64 {
        quantile(&self.counts(), self.max.load(Ordering::Relaxed), q)
    }

    fn counts(&self) -> Vec<u64> {
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Cumulative counts at each of `bounds` (Prometheus `le` buckets), computed from
    /// the bucket upper bounds, so a bound counts a bucket only when the whole bucket
    /// lies below it.
    pub fn cumulative(&self, bounds: &[u64]) -> Vec<u64> {
        let mut out = vec![0; bounds.len()];
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            let ub = upper_bound(i);
            for (j, &bound) in bounds.iter().enumerate() {
                if ub <= bound {
                    out[j] += n;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.max, 1000);
        assert_eq!(s.mean, 500);
        // Within one bucket (25%) above the true value, never below it.
        for (got, want) in [(s.p50, 500), (s.p95, 950), (s.p99, 990), (s.p999, 999)] {
            assert!(got >= want && got <= want + want / 4 + 1, "{got} vs {want}");
        }
        h.reset();
        assert_eq!(h.summary(), Summary::default());
    }

    proptest! {
        #[test]
        fn every_value_lies_in_its_bucket(v in any::<u64>()) {
            let i = bucket_of(v);
            prop_assert!(i < BUCKETS);
            prop_assert!(v <= upper_bound(i));
            if i > 0 {
                prop_assert!(v > upper_bound(i - 1));
            }
        }
    }
}
