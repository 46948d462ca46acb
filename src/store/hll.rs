//! HyperLogLog sketches in Redis's string format, byte for byte.
//!
//! A HyperLogLog is an ordinary string value, so Redis and redmite must agree on every
//! byte: a value read with GET from one must count the same in the other, and replicas
//! that apply the same PFADDs must end with equal strings. The layout (Redis's
//! `hyperloglog.c`):
//!
//! - A 16-byte header: `HYLL`, an encoding byte (0 dense, 1 sparse), 3 unused bytes,
//!   and the cached cardinality as 8 little-endian bytes. The top bit of the last one
//!   set means "stale"; invalidating sets only that bit, leaving the old value below.
//! - **Dense**: 16384 registers (P = 14) of 6 bits, least significant bits first,
//!   12288 bytes.
//! - **Sparse**: run-length opcodes. `00xxxxxx` ZERO (1-64 zero registers),
//!   `01xxxxxx yyyyyyyy` XZERO (1-16384 zero registers), `1vvvvvxx` VAL (1-4 registers
//!   of value 1-32). A new sketch is one XZERO covering every register. A value above
//!   32, or growing past `hll-sparse-max-bytes`, promotes the sketch to dense.
//!
//! Elements are hashed with MurmurHash64A (seed `0xadc83b19`): the low 14 bits pick
//! the register, the position of the first set bit above them is the run length
//! stored. The cardinality is Otmar Ertl's improved estimator, which Redis uses
//! since 5.0. Nothing here knows about keys or commands; the functions work on the
//! string's bytes.

use bytes::BytesMut;

/// The header length.
pub const HDR: usize = 16;
/// The number of registers (2^14).
pub const REGISTERS: usize = 1 << 14;
/// Hash bits left after the register index; run lengths go up to `Q + 1`.
const Q: u32 = 64 - 14;
/// Bits per dense register.
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// The length of a dense sketch.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const HASH_SEED: u64 = 0xadc8_3b19;
/// 0.5 / ln(2), the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The representation of a valid sketch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// A sparse sketch whose opcodes do not cover exactly 16384 registers (Redis's
/// `INVALIDOBJ Corrupted HLL object detected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Whether `s` looks like a sketch, as Redis's `isHLLObjectOrReply` checks it: the
/// header, a known encoding, and the exact length for a dense one. The sparse opcodes
/// are only checked when they are read.
pub fn validate(s: &[u8]) -> Option<Encoding> {
    if s.len() < HDR || &s[..4] != b"HYLL" {
        return None;
    }
    match s[4] {
        0 if s.len() == DENSE_SIZE => Some(Encoding::Dense),
        1 => Some(Encoding::Sparse),
        _ => None,
    }
}

/// An empty sparse sketch: the header and one XZERO opcode for every register.
pub fn new_sparse() -> BytesMut {
    let mut s = BytesMut::zeroed(HDR);
    s[..4].copy_from_slice(b"HYLL");
    s[4] = 1;
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        s.extend_from_slice(&xzero(run));
        left -= run;
    }
    s
}

/// The cached cardinality, if it is not stale.
pub fn cached_card(s: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(s[8..16].try_into().ok()?);
    (s[15] & 0x80 == 0).then_some(card)
}

pub fn set_cached_card(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale (only the top bit changes).
pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// MurmurHash64A as Redis has it: 8-byte blocks read little-endian on every platform.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the run length it offers (1..=51): the
/// position of the first set bit in the hash above the 14 index bits.
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, HASH_SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> 14) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Register `i` of a dense register array.
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let pos = i * BITS;
    let (byte, fb) = (pos / 8, pos % 8);
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) as u8) & REGISTER_MAX
}

fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let pos = i * BITS;
    let (byte, fb) = (pos / 8, pos % 8);
    let v = u16::from(v);
    let mask = u16::from(REGISTER_MAX);
    regs[byte] = ((u16::from(regs[byte]) & !(mask << fb)) | (v << fb)) as u8;
    if fb > 8 - BITS {
        let b = &mut regs[byte + 1];
        *b = ((u16::from(*b) & !(mask >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// Raises dense register `index` to `count`; true if it changed.
fn dense_set(regs: &mut [u8], index: usize, count: u8) -> bool {
    if count > dense_get(regs, index) {
        dense_put(regs, index, count);
        true
    } else {
        false
    }
}

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// Decodes the opcode at `s[p]` (a missing second XZERO byte reads as zero).
    fn at(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & 0x80 != 0 {
            Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1)
        } else if b & 0x40 != 0 {
            let lo = s.get(p + 1).copied().unwrap_or(0);
            Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(lo)) + 1)
        } else {
            Op::Zero(usize::from(b & 0x3f) + 1)
        }
    }

    fn len(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
}

fn val(v: u8, len: usize) -> u8 {
    0x80 | ((v - 1) << 2) | (len as u8 - 1)
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | (l >> 8) as u8, (l & 0xff) as u8]
}

/// A run of `len` zero registers: ZERO when it fits, else XZERO.
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero(len));
    } else {
        seq.push(len as u8 - 1);
    }
}

/// The opcodes of a sparse sketch with the first register each covers.
fn sparse_ops(s: &[u8]) -> impl Iterator<Item = Op> + '_ {
    let mut p = HDR;
    std::iter::from_fn(move || {
        if p >= s.len() {
            return None;
        }
        let op = Op::at(s, p);
        p += op.len();
        Some(op)
    })
}

/// Calls `f(index, value)` for every register a sparse sketch sets to non-zero, in
/// order, as Redis's `hllSparseToDense` and `hllMerge` walk it: a VAL run past the
/// last register stops the walk, and anything but exactly 16384 registers is
/// [`Corrupt`].
fn sparse_walk(s: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0;
    for op in sparse_ops(s) {
        match op {
            Op::Zero(n) | Op::XZero(n) => idx += n,
            Op::Val(v, n) => {
                if idx + n > REGISTERS {
                    break;
                }
                (idx..idx + n).for_each(|i| f(i, v));
                idx += n;
            }
        }
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Converts a sparse sketch to dense in place; the header (with the cached
/// cardinality) is kept. A dense sketch is left alone.
pub fn to_dense(s: &mut BytesMut) -> Result<(), Corrupt> {
    if s[4] == 0 {
        return Ok(());
    }
    let mut dense = BytesMut::zeroed(DENSE_SIZE);
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = 0;
    let regs = &mut dense[HDR..];
    sparse_walk(s, |i, v| dense_put(regs, i, v))?;
    *s = dense;
    Ok(())
}

/// Raises register `index` to `count` (Redis's `hllSparseSet`/`hllDenseSet`): true
/// if the sketch changed. A sparse sketch is rewritten opcode by opcode exactly as
/// Redis does it, and promoted to dense when `count` is above 32 or the string would
/// grow past `sparse_max_bytes`.
pub fn set(
    s: &mut BytesMut,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Corrupt> {
    if s[4] == 0 {
        return Ok(dense_set(&mut s[HDR..], index, count));
    }
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Find the opcode covering `index`, the one before it, and its first register.
    let (mut p, mut first, mut prev) = (HDR, 0, None);
    let op = loop {
        if p >= s.len() {
            return Err(Corrupt);
        }
        let op = Op::at(s, p);
        if index < first + op.span() {
            break op;
        }
        prev = Some(p);
        p += op.len();
        first += op.span();
    };
    let next = p + op.len();
    match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => s[p] = val(count, 1),
        _ => {
            // Split the run into up to three opcodes around `index`.
            let last = first + op.span() - 1;
            let mut seq = Vec::with_capacity(5);
            match op {
                Op::Val(old, _) => {
                    if index != first {
                        seq.push(val(old, index - first));
                    }
                    seq.push(val(count, 1));
                    if index != last {
                        seq.push(val(old, last - index));
                    }
                }
                _ => {
                    if index != first {
                        push_zeros(&mut seq, index - first);
                    }
                    seq.push(val(count, 1));
                    if index != last {
                        push_zeros(&mut seq, last - index);
                    }
                }
            }
            let old_len = s.len();
            let delta = seq.len() as isize - op.len() as isize;
            if delta > 0 && old_len + delta as usize > sparse_max_bytes {
                return promote(s, index, count);
            }
            // Shift the opcodes after this one, then write the new sequence over it.
            let new_len = old_len.saturating_add_signed(delta);
            if delta > 0 {
                s.resize(new_len, 0);
            }
            if delta != 0 && next < old_len {
                s.copy_within(next..old_len, next.saturating_add_signed(delta));
            }
            s.truncate(new_len);
            // Only a truncated XZERO at the very end (a corrupt sketch) gets here
            // with too little room.
            if s.len() < p + seq.len() {
                s.resize(p + seq.len(), 0);
            }
            s[p..p + seq.len()].copy_from_slice(&seq);
        }
    }
    merge_vals(s, prev.unwrap_or(HDR));
    invalidate_cache(s);
    Ok(true)
}

/// After an update, merges adjacent VAL opcodes of equal value whose lengths fit one
/// opcode, looking at up to 5 opcodes from `p` (Redis's step 4 of `hllSparseSet`).
fn merge_vals(s: &mut BytesMut, mut p: usize) {
    let mut budget = 5;
    while p < s.len() && budget > 0 {
        budget -= 1;
        let op = Op::at(s, p);
        if let Op::Val(v1, l1) = op {
            if p + 1 < s.len() {
                if let Op::Val(v2, l2) = Op::at(s, p + 1) {
                    if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                        s[p + 1] = val(v1, l1 + l2);
                        let end = s.len();
                        s.copy_within(p + 1..end, p);
                        s.truncate(end - 1);
                        continue;
                    }
                }
            }
        }
        p += op.len();
    }
}

fn promote(s: &mut BytesMut, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    Ok(dense_set(&mut s[HDR..], index, count))
}

/// Adds an element: hashes it and raises its register (Redis's `hllAdd`).
pub fn add(s: &mut BytesMut, ele: &[u8], sparse_max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pat_len(ele);
    set(s, index, count, sparse_max_bytes)
}

/// Raises each of `max`'s registers to the sketch's (Redis's `hllMerge`).
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == 0 {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(regs, i));
        }
        Ok(())
    } else {
        sparse_walk(s, |i, v| max[i] = max[i].max(v))
    }
}

/// The estimated cardinality of a sketch. A sparse sketch that does not cover
/// exactly 16384 registers is [`Corrupt`].
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if s[4] == 0 {
        let regs = &s[HDR..];
        (0..REGISTERS).for_each(|i| histo[usize::from(dense_get(regs, i))] += 1);
    } else {
        let mut idx = 0;
        for op in sparse_ops(s) {
            let (v, n) = match op {
                Op::Zero(n) | Op::XZero(n) => (0, n),
                Op::Val(v, n) => (usize::from(v), n),
            };
            idx += n;
            histo[v] += n as u32;
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of an array of 16384 one-byte registers (PFCOUNT over
/// several keys merges into one of these).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    regs.iter().for_each(|&r| histo[usize::from(r & 63)] += 1);
    estimate(&histo)
}

/// Ertl's improved estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", arXiv:1702.01284) from the register histogram, computed
/// in the same order as Redis so that the rounding is the same.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The sparse opcodes as PFDEBUG DECODE prints them (`z:N`, `Z:N`, `v:V,N`).
pub fn decode(s: &[u8]) -> String {
    sparse_ops(s)
        .map(|op| match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every register of a dense sketch (PFDEBUG GETREG).
pub fn dense_registers(s: &[u8]) -> Vec<u8> {
    (0..REGISTERS).map(|i| dense_get(&s[HDR..], i)).collect()
}

#[cfg(test)]
mod tests {
    //! The expected bytes were captured from redis-server 7.0.15 (`redis-server
    //! --save ''`, default config) with redis-cli/raw RESP: the PFADDs named in each
    //! test, then `GET` of the key, hex-encoded. Dense sketches are listed as their
    //! header plus every non-zero byte `(offset, value)`, the rest being zero.

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn sketch(elements: impl IntoIterator<Item = String>, max_bytes: usize) -> BytesMut {
        let mut s = new_sparse();
        for e in elements {
            add(&mut s, e.as_bytes(), max_bytes).unwrap();
        }
        invalidate_cache(&mut s);
        s
    }

    fn nonzero(s: &[u8]) -> Vec<(usize, u8)> {
        s.iter()
            .enumerate()
            .skip(HDR)
            .filter(|(_, &b)| b != 0)
            .map(|(i, &b)| (i, b))
            .collect()
    }

    // PFADD s a b c d e; GET s
    const SPARSE5: &str = "48594c4c0100000000000000000000805c7b8044768050b184498c80426d80425a";
    // PFADD s2 0 1 2 ... 49; GET s2, then PFCOUNT s2 (50) and GET s2 again.
    const SPARSE50: &str = "48594c4c01000000000000000000008041768c407684409a90422c88414780441080443e8040e28040bc8c3788338040768041638042dc80410680405880409480378045389040db8041f5881a8441428042c184408e8c40e68c2880406b8044b78040928041fd88419980404884412484417084424e8c1b80405880068042f48041248c40ed80404880407880411e8840f28c40b88015844054804165804165";
    const SPARSE50_COUNTED: &str = "48594c4c01000000320000000000000041768c407684409a90422c88414780441080443e8040e28040bc8c3788338040768041638042dc80410680405880409480378045389040db8041f5881a8441428042c184408e8c40e68c2880406b8044b78040928041fd88419980404884412484417084424e8c1b80405880068042f48041248c40ed80404880407880411e8840f28c40b88015844054804165804165";
    // Then PFDEBUG TODENSE s2; GET s2.
    const DENSE50_HDR: &str = "48594c4c000000003200000000000000";
    const DENSE50_NZ: &[(usize, u8)] = &[
        (297, 16),
        (387, 8),
        (504, 20),
        (922, 192),
        (1169, 16),
        (1951, 1),
        (2767, 1),
        (2938, 1),
        (3080, 64),
        (3123, 12),
        (3163, 1),
        (3253, 1),
        (3520, 64),
        (4071, 4),
        (4269, 4),
        (4336, 64),
        (4449, 4),
        (4492, 1),
        (5495, 80),
        (5661, 4),
        (6038, 48),
        (6059, 32),
        (6302, 16),
        (6832, 128),
        (6941, 1),
        (7115, 1),
        (7146, 4),
        (7228, 1),
        (8134, 64),
        (8245, 64),
        (8629, 3),
        (8937, 4),
        (8992, 128),
        (9213, 8),
        (9490, 128),
        (9935, 1),
        (9956, 16),
        (10024, 1),
        (10030, 1),
        (10598, 16),
        (10819, 4),
        (10998, 4),
        (11053, 64),
        (11145, 4),
        (11361, 12),
        (11544, 16),
        (11683, 64),
        (11701, 2),
        (11765, 16),
        (12034, 64),
    ];
    // CONFIG SET hll-sparse-max-bytes 40; PFADD p a b c ... t (promoted on the way).
    const PROMOTED_HDR: &str = "48594c4c000000000000000000000080";
    const PROMOTED_NZ: &[(usize, u8)] = &[
        (836, 64),
        (1250, 16),
        (1354, 192),
        (2963, 32),
        (3154, 1),
        (3302, 32),
        (4180, 6),
        (5026, 1),
        (5485, 1),
        (6299, 32),
        (6343, 1),
        (6774, 4),
        (8276, 16),
        (8986, 1),
        (9549, 8),
        (9932, 1),
        (10619, 32),
        (11383, 64),
        (11851, 1),
    ];

    #[test]
    fn empty_sketch_is_one_xzero() {
        let s = new_sparse();
        assert_eq!(&s[..], &hex("48594c4c0100000000000000000000007fff")[..]);
        assert_eq!(validate(&s), Some(Encoding::Sparse));
        assert_eq!(cached_card(&s), Some(0));
        assert_eq!(count(&s), Ok(0));
    }

    #[test]
    fn sparse_bytes_match_redis() {
        let s = sketch("abcde".chars().map(String::from), 3000);
        assert_eq!(&s[..], &hex(SPARSE5)[..]);
        let mut s = sketch((0..50).map(|i| i.to_string()), 3000);
        assert_eq!(&s[..], &hex(SPARSE50)[..]);
        assert_eq!(cached_card(&s), None);
        assert_eq!(count(&s), Ok(50));
        set_cached_card(&mut s, 50);
        assert_eq!(&s[..], &hex(SPARSE50_COUNTED)[..]);
    }

    #[test]
    fn sparse_to_dense_matches_redis() {
        let mut s = BytesMut::from(&hex(SPARSE50_COUNTED)[..]);
        to_dense(&mut s).unwrap();
        assert_eq!(s.len(), DENSE_SIZE);
        assert_eq!(&s[..HDR], &hex(DENSE50_HDR)[..]);
        assert_eq!(nonzero(&s), DENSE50_NZ);
        assert_eq!(count(&s), Ok(50));
        assert_eq!(validate(&s), Some(Encoding::Dense));
    }

    #[test]
    fn promotion_past_max_bytes_matches_redis() {
        let s = sketch(('a'..='t').map(String::from), 40);
        assert_eq!(s.len(), DENSE_SIZE);
        assert_eq!(&s[..HDR], &hex(PROMOTED_HDR)[..]);
        assert_eq!(nonzero(&s), PROMOTED_NZ);
    }

    #[test]
    fn estimate_matches_redis_at_100k() {
        // PFADD big el0 ... el99999; PFCOUNT big answered 99142 in Redis 7.0.15.
        let s = sketch((0..100_000).map(|i| format!("el{i}")), 3000);
        assert_eq!(s[4], 0, "100k elements promote to dense");
        assert_eq!(count(&s), Ok(99142));
    }

    #[test]
    fn standard_error_on_100k_distinct() {
        // The relative standard error is 1.04/sqrt(16384) = 0.81%: the RMS error of
        // independent sketches must be close to it, and no sketch far off.
        let n = 100_000u32;
        let runs = 8;
        let mut sq = 0.0;
        for run in 0..runs {
            let s = sketch((0..n).map(|i| format!("run{run}:{i}")), 3000);
            let err = (count(&s).unwrap() as f64 - f64::from(n)) / f64::from(n);
            assert!(err.abs() < 0.0081 * 4.0, "run {run}: error {err}");
            sq += err * err;
        }
        let rms = (sq / f64::from(runs)).sqrt();
        assert!(rms < 0.0081 * 1.5, "rms error {rms}");
    }

    #[test]
    fn merge_and_raw_count_agree_with_single_sketch() {
        let a = sketch((0..3000).map(|i| format!("x{i}")), 3000);
        let b = sketch((2000..6000).map(|i| format!("x{i}")), 3000);
        let all = sketch((0..6000).map(|i| format!("x{i}")), 3000);
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, &a).unwrap();
        merge_into(&mut max, &b).unwrap();
        assert_eq!(count_registers(&max), count(&all).unwrap());
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        // One XZERO covering 16383 registers.
        let s = hex("48594c4c0100000000000000000000807ffe");
        assert_eq!(count(&s), Err(Corrupt));
        let mut max = vec![0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Err(Corrupt));
        // A header alone: nothing covers any register.
        let mut s = BytesMut::from(&hex("48594c4c010000000000000000000080")[..]);
        assert_eq!(add(&mut s, b"a", 3000), Err(Corrupt));
        assert_eq!(to_dense(&mut s), Err(Corrupt));
        // A truncated XZERO must not panic.
        let mut s = BytesMut::from(&hex("48594c4c0100000000000000000000807f")[..]);
        let _ = set(&mut s, 100, 3, 3000);
    }

    #[test]
    fn murmur_and_pattern_length() {
        // Every tail length, and the run length stays within 1..=51.
        for len in 0..20 {
            let data: Vec<u8> = (0..len as u8).collect();
            let (i, c) = pat_len(&data);
            assert!(i < REGISTERS && (1..=51).contains(&c));
        }
        assert_ne!(murmur64a(b"a", HASH_SEED), murmur64a(b"b", HASH_SEED));
    }
}
