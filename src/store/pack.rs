//! A packed run of byte strings and numbers in one allocation: the storage behind
//! the `listpack` encodings of small hashes and sorted sets.
//!
//! # Why
//!
//! A hash of ten short fields held as a vector of `(Bytes, Bytes)` pairs costs
//! twenty 32-byte handles plus twenty small heap allocations, about five times
//! what Redis's listpack needs for the same data. Here every entry is a length
//! header followed by its bytes, back to back in one `Vec<u8>`, so a small
//! collection is one allocation of roughly its payload. Lookups walk the
//! entries linearly, which for the few hundred bytes a listpack may hold is as
//! fast as hashing, and is what Redis does.
//!
//! # Format
//!
//! Each entry starts with a LEB128 varint header `h`:
//! - `h & 1 == 0`: a string of `h >> 1` bytes follows (one header byte up to 63
//!   bytes, two up to 8191).
//! - `h & 3 == 1`: the integer `unzigzag(h >> 2)`, for numbers that are whole
//!   and within ±2^53, so every such `f64` round-trips; small scores take one
//!   or two bytes in total.
//! - `h == 3`: an `f64` in 8 little-endian bytes follows.
//!
//! Strings stay strings (even when they spell an integer) so that readers can
//! borrow them as `&[u8]` straight from the buffer.

/// Largest magnitude stored in the integer form: every integer up to it is an
/// exact `f64`.
const MAX_EXACT: f64 = (1u64 << 53) as f64;

/// One decoded entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    Str(&'a [u8]),
    Num(f64),
}

impl<'a> Item<'a> {
    /// The string; a number entry (which the owner never puts where it reads a
    /// string) reads as empty.
    pub fn str(self) -> &'a [u8] {
        match self {
            Item::Str(s) => s,
            Item::Num(_) => b"",
        }
    }

    /// The number; a string entry reads as 0.
    pub fn num(self) -> f64 {
        match self {
            Item::Num(n) => n,
            Item::Str(_) => 0.0,
        }
    }
}

/// Two consecutive entries (field and value, member and score) and where they
/// sit in the buffer: `start..end` covers both.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    pub start: usize,
    pub end: usize,
    pub first: Item<'a>,
    pub second: Item<'a>,
}

/// A packed sequence of entries. It counts pairs, the unit both owners use.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    buf: Vec<u8>,
    pairs: u32,
}

impl Pack {
    pub fn new() -> Pack {
        Pack::default()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs as usize
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// Bytes of the buffer (its allocation is this rounded up to a size class).
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Every pair in order.
    pub fn pairs(&self) -> Pairs<'_> {
        Pairs {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// The pair at index `i`.
    pub fn nth(&self, i: usize) -> Option<Pair<'_>> {
        self.pairs().nth(i)
    }

    /// Inserts an encoded pair (built with [`encode_str`]/[`encode_num`]) at byte
    /// offset `at`, which must be a pair boundary. The buffer grows to exactly
    /// what it needs: small collections are many, so no spare capacity.
    pub fn insert(&mut self, at: usize, pair: &[u8]) {
        self.buf.reserve_exact(pair.len());
        self.buf.splice(at..at, pair.iter().copied());
        self.pairs += 1;
    }

    /// Appends an encoded pair.
    pub fn push(&mut self, pair: &[u8]) {
        self.insert(self.buf.len(), pair);
    }

    /// Replaces the bytes `range` (whole entries) with `with`, keeping the pair count.
    pub fn replace(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        if with.len() > range.len() {
            self.buf.reserve_exact(with.len() - range.len());
        }
        let shrinks = with.len() < range.len();
        self.buf.splice(range, with.iter().copied());
        if shrinks {
            self.buf.shrink_to_fit();
        }
    }

    /// Removes the pairs covering the bytes `range`, `count` of them.
    pub fn remove(&mut self, range: std::ops::Range<usize>, count: usize) {
        self.buf.drain(range);
        self.pairs -= count as u32;
        self.buf.shrink_to_fit();
    }
}

/// Iterator over the pairs of a [`Pack`].
#[derive(Clone)]
pub struct Pairs<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let (first, mid) = read(self.buf, start);
        let (second, end) = read(self.buf, mid);
        self.pos = end;
        Some(Pair {
            start,
            end,
            first,
            second,
        })
    }
}

/// Decodes the entry at `pos`; returns it and the offset of the next one. The
/// buffer is only ever written by the encoders below, so it is well formed; a
/// truncated entry (which would be a bug) reads as an empty string at the end.
fn read(buf: &[u8], pos: usize) -> (Item<'_>, usize) {
    let (h, mut pos) = read_varint(buf, pos);
    if h & 1 == 0 {
        let end = (pos + (h >> 1) as usize).min(buf.len());
        (Item::Str(&buf[pos.min(end)..end]), end)
    } else if h == 3 {
        let mut b = [0u8; 8];
        if let Some(s) = buf.get(pos..pos + 8) {
            b.copy_from_slice(s);
        }
        pos += 8;
        (Item::Num(f64::from_le_bytes(b)), pos)
    } else {
        let z = h >> 2;
        let n = (z >> 1) as i64 ^ -((z & 1) as i64);
        (Item::Num(n as f64), pos)
    }
}

fn read_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = buf.get(pos) {
        pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 || shift >= 63 {
            break;
        }
        shift += 7;
    }
    (v, pos)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a string entry to `out`.
pub fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    write_varint(out, (s.len() as u64) << 1);
    out.extend_from_slice(s);
}

/// Appends a number entry to `out`: whole numbers within ±2^53 as an integer,
/// anything else (fractions, infinities, NaN never occur) as 8 bytes. `-0.0` is
/// whole and reads back as `0`, as a listpack reads back Redis's `"-0"`.
pub fn encode_num(out: &mut Vec<u8>, n: f64) {
    if n.fract() == 0.0 && n.abs() <= MAX_EXACT {
        let i = n as i64;
        let z = ((i << 1) ^ (i >> 63)) as u64;
        write_varint(out, (z << 2) | 1);
    } else {
        out.push(3);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pair_str(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_str(&mut v, a);
        encode_str(&mut v, b);
        v
    }

    #[test]
    fn numbers_round_trip_and_small_ones_are_small() {
        for n in [
            0.0, 1.0, -1.0, 63.0, -64.0, 1e15, -MAX_EXACT, MAX_EXACT, 1.5, -2.25,
        ] {
            let mut v = Vec::new();
            encode_num(&mut v, n);
            assert_eq!(read(&v, 0), (Item::Num(n), v.len()));
        }
        for n in [f64::INFINITY, f64::NEG_INFINITY, MAX_EXACT * 2.0 + 2.0, 0.1] {
            let mut v = Vec::new();
            encode_num(&mut v, n);
            assert_eq!(v.len(), 9);
            assert_eq!(read(&v, 0).0, Item::Num(n));
        }
        let mut v = Vec::new();
        encode_num(&mut v, 5.0);
        assert_eq!(v.len(), 1);
        let mut v = Vec::new();
        encode_num(&mut v, -0.0);
        assert_eq!(read(&v, 0).0.num().to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn insert_replace_remove() {
        let mut p = Pack::new();
        p.push(&pair_str(b"a", b"1"));
        p.push(&pair_str(b"c", b"3"));
        p.insert(p.nth(1).map_or(0, |x| x.start), &pair_str(b"b", b"2"));
        let got: Vec<_> = p.pairs().map(|x| (x.first.str(), x.second.str())).collect();
        assert_eq!(got, [(&b"a"[..], &b"1"[..]), (b"b", b"2"), (b"c", b"3")]);
        let b = p.nth(1).map(|x| (x.start, x.end)).unwrap_or_default();
        p.replace(b.0..b.1, &pair_str(b"b", b"a longer value"));
        assert_eq!(
            p.nth(1).map(|x| x.second.str()),
            Some(&b"a longer value"[..])
        );
        let a = p.nth(0).map(|x| (x.start, x.end)).unwrap_or_default();
        p.remove(a.0..a.1, 1);
        assert_eq!(p.len(), 2);
        assert_eq!(p.nth(0).map(|x| x.first.str()), Some(&b"b"[..]));
    }

    proptest! {
        /// Whatever strings and numbers are packed, they read back identically.
        #[test]
        fn entries_round_trip(
            items in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..300), any::<f64>()), 0..40),
        ) {
            let mut p = Pack::new();
            for (s, n) in &items {
                let mut v = Vec::new();
                encode_str(&mut v, s);
                encode_num(&mut v, if n.is_nan() { 0.0 } else { *n });
                p.push(&v);
            }
            prop_assert_eq!(p.len(), items.len());
            for (pair, (s, n)) in p.pairs().zip(&items) {
                prop_assert_eq!(pair.first, Item::Str(s));
                let n = if n.is_nan() { 0.0 } else { *n };
                prop_assert_eq!(pair.second.num(), if n == 0.0 { 0.0 } else { n });
            }
        }
    }
}
