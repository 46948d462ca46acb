//! Bitmap commands (Redis's `bitops.c`): SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO.
//!
//! A bitmap is an ordinary string: bit 0 is the most significant bit of the first
//! byte. Reading past the end reads zeros; writing past the end grows the string with
//! zero bytes, up to `proto-max-bulk-len` bytes (512 MB, so offsets up to 2^32-1 bits
//! by default). Writes edit the string in place through [`edit_raw`], which keeps the
//! key's TTL and leaves it `raw` encoded, as Redis's `dbUnshareStringValue` does.
//!
//! The range and bit arithmetic lives in small pure functions ([`count_bits`],
//! [`find_bit`], [`get_unsigned`], [`FieldType`]...) so the unit tests can check them
//! against naive bit-by-bit models; the handlers only parse, look up and reply in the
//! order Redis does, because that order decides which error a bad command gets.

use bytes::{Bytes, BytesMut};

use super::string::{edit_raw, read_str};
use super::table::{flags::*, Command, KeySpec};
use super::{arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::num::parse_i64;
use crate::resp::Reply;
use crate::store::notify as ev;
use crate::store::value::StrEnc;
use crate::store::Value;

const G: &str = "bitmap";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("setbit", 4, WRITE | DENYOOM, (1, 1, 1), G, setbit)
        .key_spec(&["RW", "access", "update"], "")
        .doc(
            "2.2.0",
            "Sets or clears the bit at offset in the string value stored at key",
        ),
    Command::new("getbit", 3, READONLY | FAST, (1, 1, 1), G, getbit).doc(
        "2.2.0",
        "Returns the bit value at offset in the string value stored at key",
    ),
    Command::new("bitcount", -2, READONLY, (1, 1, 1), G, bitcount)
        .doc("2.6.0", "Count set bits in a string"),
    Command::new("bitpos", -3, READONLY, (1, 1, 1), G, bitpos)
        .doc("2.8.7", "Find first bit set or clear in a string"),
    Command::new("bitop", -4, WRITE | DENYOOM, (2, -1, 1), G, bitop)
        .key_specs(&[
            KeySpec::at(2, &["OW", "update"]),
            KeySpec::range(3, -1, &["RO", "access"]),
        ])
        .doc("2.6.0", "Perform bitwise operations between strings"),
    Command::new("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), G, bitfield)
        .key_spec(
            &["RW", "access", "update", "variable_flags"],
            "This command allows both access and modification of the key",
        )
        .doc(
            "3.2.0",
            "Perform arbitrary bitfield integer operations on strings",
        ),
    Command::new(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        (1, 1, 1),
        G,
        bitfield_ro,
    )
    .doc(
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
    ),
];

fn offset_err() -> CmdError {
    CmdError::err("bit offset is not an integer or out of range")
}

/// Parses a bit offset as Redis's `getBitOffsetFromArgument`: a non-negative integer
/// whose byte (`offset / 8`) is below `proto-max-bulk-len`. With `hash_bits > 0`
/// (BITFIELD) the form `#N` means `N * hash_bits`; like Redis, the multiplication
/// wraps, and a wrapped negative offset is refused.
fn bit_offset(ctx: &Ctx, arg: &[u8], hash_bits: u32) -> Result<u64, CmdError> {
    let (digits, mult) = match arg.split_first() {
        Some((b'#', rest)) if hash_bits > 0 => (rest, i64::from(hash_bits)),
        _ => (arg, 1),
    };
    let v = parse_i64(digits).ok_or_else(offset_err)?.wrapping_mul(mult);
    if v < 0 || (v >> 3) as u64 >= ctx.store.params.proto_max_bulk_len as u64 {
        return Err(offset_err());
    }
    Ok(v as u64)
}

/// Redis's `lookupStringForBitCommand` plus the edit: the string at `key`, created or
/// grown with zero bytes so that bit `maxbit` exists, handed to `edit` as a buffer
/// together with whether it was created or grown (which counts as a change even when
/// no bit flips). WRONGTYPE if `key` holds another type.
fn with_bitmap<R>(
    ctx: &mut Ctx,
    key: &Bytes,
    maxbit: u64,
    edit: impl FnOnce(&mut BytesMut, bool) -> R,
) -> Result<R, CmdError> {
    let need = (maxbit >> 3) as usize + 1;
    let exists = ctx
        .lookup(key, Lookup::WRITE)
        .map(|o| o.value.as_str().is_some());
    match exists {
        Some(false) => Err(CmdError::WrongType),
        Some(true) => {
            let now = ctx.now_ms;
            let s = ctx
                .db()
                .get_mut(key, now)
                .and_then(|o| o.value.as_str_mut())
                .ok_or(CmdError::WrongType)?;
            Ok(edit_raw(s, |buf| {
                let grown = buf.len() < need;
                if grown {
                    buf.resize(need, 0);
                }
                edit(buf, grown)
            }))
        }
        None => {
            let mut buf = BytesMut::zeroed(need);
            let out = edit(&mut buf, true);
            let lru = ctx.lru();
            ctx.db()
                .set(key, Value::string_enc(buf.freeze(), StrEnc::Raw), lru);
            Ok(out)
        }
    }
}

/// The value of bit `pos` (0 past the end).
fn bit_at(s: &[u8], pos: u64) -> u8 {
    s.get((pos >> 3) as usize)
        .map_or(0, |b| (b >> (7 - (pos & 7))) & 1)
}

fn set_bit_at(s: &mut [u8], pos: u64, on: u8) {
    let shift = 7 - (pos & 7);
    let b = &mut s[(pos >> 3) as usize];
    *b = (*b & !(1 << shift)) | ((on & 1) << shift);
}

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let bit_err = || CmdError::err("bit is not an integer or out of range");
    let offset = bit_offset(ctx, &args[2], 0)?;
    let on = parse_i64(&args[3]).ok_or_else(bit_err)?;
    if on & !1 != 0 {
        return Err(bit_err());
    }
    let on = on as u8;
    let (old, changed) = with_bitmap(ctx, &args[1], offset, |buf, grown| {
        let old = bit_at(buf, offset);
        let changed = grown || old != on;
        if changed {
            set_bit_at(buf, offset, on);
        }
        (old, changed)
    })?;
    if changed {
        ctx.store.dirty += 1;
        ctx.notify(ev::STRING, "setbit", &args[1]);
    }
    Ok(Reply::Int(old.into()))
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let offset = bit_offset(ctx, &args[2], 0)?;
    let s = read_str(ctx, &args[1])?.unwrap_or_default();
    Ok(Reply::Int(bit_at(&s, offset).into()))
}

/// The unit of a BITCOUNT/BITPOS range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Byte,
    Bit,
}

fn parse_unit(arg: &[u8]) -> Result<Unit, CmdError> {
    if is_kw(arg, "bit") {
        Ok(Unit::Bit)
    } else if is_kw(arg, "byte") {
        Ok(Unit::Byte)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Resolves an inclusive `start..=end` range over `len` units as Redis does:
/// negative indexes count from the end, then both are clamped into the string.
/// `None` when the range is empty.
fn clamp_range(len: i64, start: i64, end: i64) -> Option<(i64, i64)> {
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    (start <= end).then_some((start, end))
}

/// A range in bits: the first and last bit, inclusive.
fn in_bits(unit: Unit, (start, end): (i64, i64)) -> (u64, u64) {
    match unit {
        Unit::Bit => (start as u64, end as u64),
        Unit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
    }
}

/// Counts the set bits from bit `first` to bit `last` inclusive (both inside `s`).
fn count_bits(s: &[u8], first: u64, last: u64) -> u64 {
    let (b0, b1) = ((first >> 3) as usize, (last >> 3) as usize);
    let whole = popcount(&s[b0..=b1]);
    let head = s[b0] & !(0xffu8 >> (first & 7));
    let tail = s[b1] & (0x7fu8 >> (last & 7));
    whole - u64::from(head.count_ones()) - u64::from(tail.count_ones())
}

/// The set bits of `bytes`, eight bytes at a time: a `u64`'s `count_ones` costs about
/// what one byte's does when the CPU has no `popcnt` (the portable build).
fn popcount(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let rest: u64 = words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    words.fold(rest, |n, w| n + u64::from(word(w).count_ones()))
}

/// Eight bytes as one word (the order does not matter to a count or a zero test).
fn word(w: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(w);
    u64::from_ne_bytes(a)
}

/// The first bit equal to `bit` from bit `first` to bit `last` inclusive (both inside
/// `s`).
fn find_bit(s: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let (b0, b1) = ((first >> 3) as usize, (last >> 3) as usize);
    // Flip the bytes when looking for a zero so that the search is always for a one,
    // and mask the bits outside the range away.
    let flip = if bit { 0 } else { 0xff };
    let byte = |i: usize| {
        let mut b = s[i] ^ flip;
        if i == b0 {
            b &= 0xff >> (first & 7);
        }
        if i == b1 {
            b &= !(0x7fu8 >> (last & 7));
        }
        b
    };
    // The bytes between the first and the last are skipped eight at a time while they
    // hold nothing to find.
    let mut i = b0;
    if byte(i) == 0 && i < b1 {
        i += 1;
        let skip = if bit { 0 } else { u64::MAX };
        i += s[i..b1]
            .chunks_exact(8)
            .take_while(|w| word(w) == skip)
            .count()
            * 8;
    }
    let i = (i..=b1).find(|&i| byte(i) != 0)?;
    Some(i as u64 * 8 + u64::from(byte(i).leading_zeros()))
}

fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(s) = read_str(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let (start, end, unit) = match args.len() {
        2 => (0, -1, Unit::Byte),
        4 | 5 => {
            let start = arg_i64(&args[2])?;
            let end = arg_i64(&args[3])?;
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let unit = match args.get(4) {
                Some(u) => parse_unit(u)?,
                None => Unit::Byte,
            };
            (start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    Ok(Reply::Int(bitcount_in(&s, start, end, unit) as i64))
}

/// BITCOUNT over an already parsed range.
fn bitcount_in(s: &[u8], start: i64, end: i64, unit: Unit) -> u64 {
    let len = s.len() as i64 * if unit == Unit::Bit { 8 } else { 1 };
    match clamp_range(len, start, end) {
        Some(r) => {
            let (first, last) = in_bits(unit, r);
            count_bits(s, first, last)
        }
        None => 0,
    }
}

fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let bit = arg_i64(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    // A missing key is an infinite run of zeros.
    let Some(s) = read_str(ctx, &args[1])? else {
        return Ok(Reply::Int(if bit { -1 } else { 0 }));
    };
    let (start, end, unit) = match args.len() {
        3 => (0, None, Unit::Byte),
        4..=6 => {
            let start = arg_i64(&args[3])?;
            let unit = match args.get(5) {
                Some(u) => parse_unit(u)?,
                None => Unit::Byte,
            };
            let end = args.get(4).map(|e| arg_i64(e)).transpose()?;
            (start, end, unit)
        }
        _ => return Err(CmdError::Syntax),
    };
    Ok(Reply::Int(bitpos_in(&s, bit, start, end, unit)))
}

/// BITPOS over an already parsed range, with Redis's answers when no bit is found:
/// -1 for an empty range or a missing one; a missing zero with no explicit end is
/// the first bit past the string (the string is zero padded on the right).
fn bitpos_in(s: &[u8], bit: bool, start: i64, end: Option<i64>, unit: Unit) -> i64 {
    let len = s.len() as i64 * if unit == Unit::Bit { 8 } else { 1 };
    let Some(r) = clamp_range(len, start, end.unwrap_or(-1)) else {
        return -1;
    };
    let (first, last) = in_bits(unit, r);
    match find_bit(s, bit, first, last) {
        Some(pos) => pos as i64,
        None if !bit && end.is_none() => last as i64 + 1,
        None => -1,
    }
}

/// A BITOP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The result of a BITOP over `srcs`: as long as the longest source, the shorter
/// ones zero padded.
fn bitop_apply(op: BitOp, srcs: &[Bytes]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![0u8; maxlen];
    if let Some(first) = srcs.first() {
        out[..first.len()].copy_from_slice(first);
    }
    match op {
        BitOp::Not => out.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for s in &srcs[1..] {
                out.iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b &= s.get(i).copied().unwrap_or(0));
            }
        }
        BitOp::Or | BitOp::Xor => {
            for s in &srcs[1..] {
                for (b, x) in out.iter_mut().zip(s.iter()) {
                    if op == BitOp::Or {
                        *b |= x;
                    } else {
                        *b ^= x;
                    }
                }
            }
        }
    }
    out
}

fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let op = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("not", BitOp::Not),
    ]
    .into_iter()
    .find(|(kw, _)| is_kw(&args[1], kw))
    .map(|(_, op)| op)
    .ok_or(CmdError::Syntax)?;
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let srcs = args[3..]
        .iter()
        .map(|k| read_str(ctx, k).map(Option::unwrap_or_default))
        .collect::<Result<Vec<_>, _>>()?;
    let dest = &args[2];
    let out = bitop_apply(op, &srcs);
    let len = out.len();
    if len > 0 {
        let lru = ctx.lru();
        ctx.db()
            .set(dest, Value::string_enc(Bytes::from(out), StrEnc::Raw), lru);
        ctx.store.dirty += 1;
        ctx.notify(ev::STRING, "set", dest);
    } else if ctx.db().remove(dest).is_some() {
        ctx.store.dirty += 1;
        ctx.notify(ev::GENERIC, "del", dest);
    }
    Ok(Reply::Int(len as i64))
}

/// A BITFIELD integer type: `i1`..`i64` or `u1`..`u63`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldType {
    signed: bool,
    bits: u32,
}

impl FieldType {
    /// Parses `i<bits>`/`u<bits>`. The width is read up to the first NUL byte, as
    /// Redis reads it with `strlen`.
    fn parse(arg: &[u8]) -> Result<FieldType, CmdError> {
        let err = || {
            CmdError::err(
                "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
            )
        };
        let signed = match arg.first() {
            Some(b'i') => true,
            Some(b'u') => false,
            _ => return Err(err()),
        };
        let rest = &arg[1..];
        let rest = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
        let bits = parse_i64(rest).ok_or_else(err)?;
        let max = if signed { 64 } else { 63 };
        if !(1..=max).contains(&bits) {
            return Err(err());
        }
        Ok(FieldType {
            signed,
            bits: bits as u32,
        })
    }
}

/// The unsigned integer of `bits` bits starting at bit `offset`, most significant
/// bit first; bits past the end of `s` read as zero.
fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |v, i| (v << 1) | u64::from(bit_at(s, offset + i)))
}

/// The signed (two's complement) integer of `bits` bits at bit `offset`.
fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(s, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` bits of `v` at bit `offset` (inside `s`).
fn set_field(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..u64::from(bits) {
        let bit = (v >> (u64::from(bits) - 1 - i)) & 1;
        set_bit_at(s, offset + i, bit as u8);
    }
}

/// What BITFIELD does when a SET or INCRBY does not fit the type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// `value + incr` for an unsigned field of `bits` bits when it overflows: the
/// wrapped or saturated result (unused under FAIL). `None` when it fits.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || {
        let v = value.wrapping_add(incr as u64);
        if bits == 64 {
            v
        } else {
            v & !(u64::MAX << bits)
        }
    };
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Sat { max } else { wrap() })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Sat { 0 } else { wrap() })
    } else {
        None
    }
}

/// `value + incr` for a signed field of `bits` bits when it overflows, as
/// [`unsigned_overflow`].
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits == 64 {
            c as i64
        } else if c & (1 << (bits - 1)) != 0 {
            (c | (u64::MAX << bits)) as i64
        } else {
            (c & !(u64::MAX << bits)) as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Sat { max } else { wrap() })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Sat { min } else { wrap() })
    } else {
        None
    }
}

/// One BITFIELD subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOpKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: FieldOpKind,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

impl FieldOp {
    /// Runs a GET against `s` (zero padded).
    fn get(&self, s: &[u8]) -> Reply {
        Reply::Int(if self.ty.signed {
            get_signed(s, self.offset, self.ty.bits)
        } else {
            get_unsigned(s, self.offset, self.ty.bits) as i64
        })
    }

    /// Runs the operation against `s`, which is long enough for any write. Returns
    /// the reply and, for a SET or INCRBY that wrote, whether the field changed.
    fn apply(&self, s: &mut [u8]) -> (Reply, Option<bool>) {
        let FieldType { signed, bits } = self.ty;
        let fail = self.overflow == Overflow::Fail;
        let (old, new, ret, overflowed) = match (self.kind, signed) {
            (FieldOpKind::Get, _) => return (self.get(s), None),
            (FieldOpKind::IncrBy(incr), true) => {
                let old = get_signed(s, self.offset, bits);
                let ovf = signed_overflow(old, incr, bits, self.overflow);
                let new = ovf.unwrap_or(old.wrapping_add(incr));
                (old as u64, new as u64, new, ovf.is_some())
            }
            (FieldOpKind::Set(v), true) => {
                let old = get_signed(s, self.offset, bits);
                let ovf = signed_overflow(v, 0, bits, self.overflow);
                (old as u64, ovf.unwrap_or(v) as u64, old, ovf.is_some())
            }
            (FieldOpKind::IncrBy(incr), false) => {
                let old = get_unsigned(s, self.offset, bits);
                let ovf = unsigned_overflow(old, incr, bits, self.overflow);
                let new = ovf.unwrap_or(old.wrapping_add(incr as u64));
                (old, new, new as i64, ovf.is_some())
            }
            (FieldOpKind::Set(v), false) => {
                let old = get_unsigned(s, self.offset, bits);
                let ovf = unsigned_overflow(v as u64, 0, bits, self.overflow);
                (old, ovf.unwrap_or(v as u64), old as i64, ovf.is_some())
            }
        };
        if overflowed && fail {
            return (Reply::Nil, None);
        }
        set_field(s, self.offset, bits, new);
        (Reply::Int(ret), Some(old != new))
    }
}

/// Parses BITFIELD's subcommands from `args[2..]` in Redis's order: each one's
/// keyword, type, offset and value are checked before the next is looked at.
fn parse_field_ops(ctx: &Ctx, args: &[Bytes]) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j];
        let kind = if is_kw(sub, "get") && remaining >= 2 {
            FieldOpKind::Get
        } else if is_kw(sub, "set") && remaining >= 3 {
            FieldOpKind::Set(0)
        } else if is_kw(sub, "incrby") && remaining >= 3 {
            FieldOpKind::IncrBy(0)
        } else if is_kw(sub, "overflow") && remaining >= 1 {
            let name = &args[j + 1];
            overflow = if is_kw(name, "wrap") {
                Overflow::Wrap
            } else if is_kw(name, "sat") {
                Overflow::Sat
            } else if is_kw(name, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let ty = FieldType::parse(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], ty.bits)?;
        let kind = match kind {
            FieldOpKind::Get => kind,
            FieldOpKind::Set(_) => FieldOpKind::Set(arg_i64(&args[j + 3])?),
            FieldOpKind::IncrBy(_) => FieldOpKind::IncrBy(arg_i64(&args[j + 3])?),
        };
        ops.push(FieldOp {
            kind,
            ty,
            offset,
            overflow,
        });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> Result<Reply, CmdError> {
    let ops = parse_field_ops(ctx, args)?;
    let highest = ops
        .iter()
        .filter(|op| op.kind != FieldOpKind::Get)
        .map(|op| op.offset + u64::from(op.ty.bits) - 1)
        .max();
    let Some(highest) = highest else {
        let s = read_str(ctx, &args[1])?.unwrap_or_default();
        return Ok(Reply::Array(ops.iter().map(|op| op.get(&s)).collect()));
    };
    if ro {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let (replies, changes) = with_bitmap(ctx, &args[1], highest, |buf, grown| {
        let mut changes = 0;
        let replies = ops
            .iter()
            .map(|op| {
                let (reply, written) = op.apply(buf);
                if written.is_some_and(|changed| changed || grown) {
                    changes += 1;
                }
                reply
            })
            .collect::<Vec<_>>();
        (replies, if changes == 0 && grown { 1 } else { changes })
    })?;
    // Redis counts one change per SET/INCRBY that wrote (every one of them when the
    // string was created or grown). When the string grew but every write failed
    // under OVERFLOW FAIL, Redis keeps the zero padding without counting a change;
    // we count one so that replicas get the same string.
    ctx.store.dirty += changes;
    if changes > 0 {
        ctx.notify(ev::STRING, "setbit", &args[1]);
    }
    Ok(Reply::Array(replies))
}

fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The bits of `s`, most significant first: the naive model.
    fn bits(s: &[u8]) -> Vec<bool> {
        (0..s.len() as u64 * 8).map(|i| bit_at(s, i) == 1).collect()
    }

    /// The inclusive bit range a start/end pair selects, worked out bit by bit.
    fn naive_range(s: &[u8], start: i64, end: i64, unit: Unit) -> Option<(usize, usize)> {
        let per = if unit == Unit::Bit { 1 } else { 8 };
        let len = (s.len() * 8 / per) as i64;
        let norm = |i: i64| if i < 0 { len + i } else { i };
        let (a, b) = (norm(start).max(0), norm(end).max(0).min(len - 1));
        (a <= b).then(|| (a as usize * per, b as usize * per + per - 1))
    }

    fn naive_count(s: &[u8], start: i64, end: i64, unit: Unit) -> u64 {
        naive_range(s, start, end, unit).map_or(0, |(a, b)| {
            bits(s)[a..=b].iter().filter(|&&x| x).count() as u64
        })
    }

    fn naive_pos(s: &[u8], bit: bool, start: i64, end: Option<i64>, unit: Unit) -> i64 {
        let Some((a, b)) = naive_range(s, start, end.unwrap_or(-1), unit) else {
            return -1;
        };
        match bits(s)[a..=b].iter().position(|&x| x == bit) {
            Some(p) => (a + p) as i64,
            None if !bit && end.is_none() => b as i64 + 1,
            None => -1,
        }
    }

    fn unit() -> impl Strategy<Value = Unit> {
        prop_oneof![Just(Unit::Byte), Just(Unit::Bit)]
    }

    fn data() -> impl Strategy<Value = Vec<u8>> {
        // Mostly runs of 0x00 and 0xff, where searches skip words at a time, of
        // lengths around the eight bytes of a word.
        let byte = prop_oneof![Just(0u8), Just(0xff), any::<u8>()];
        prop::collection::vec((byte, 1usize..24), 0..8).prop_map(|runs| {
            runs.into_iter()
                .flat_map(|(b, n)| std::iter::repeat_n(b, n))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn bitcount_matches_bit_by_bit(s in data(), start in -400i64..400, end in -400i64..400, u in unit()) {
            prop_assert_eq!(bitcount_in(&s, start, end, u), naive_count(&s, start, end, u));
        }

        #[test]
        fn bitpos_matches_bit_by_bit(s in data(), bit: bool, start in -400i64..400,
                                     end in prop::option::of(-400i64..400), u in unit()) {
            prop_assert_eq!(bitpos_in(&s, bit, start, end, u), naive_pos(&s, bit, start, end, u));
        }

        #[test]
        fn bitfield_set_then_get(s in data(), offset in 0u64..400, bits in 1u32..=64, v: i64) {
            let mut s = s;
            s.resize(((offset + 64) / 8 + 1) as usize, 0);
            let before = s.clone();
            set_field(&mut s, offset, bits, v as u64);
            let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            prop_assert_eq!(get_unsigned(&s, offset, bits), v as u64 & mask);
            // Bits outside the field are untouched.
            for i in (0..s.len() as u64 * 8).filter(|&i| i < offset || i >= offset + u64::from(bits)) {
                prop_assert_eq!(bit_at(&s, i), bit_at(&before, i));
            }
        }
    }

    #[test]
    fn whole_string_bitpos() {
        // No range: a missing zero is the first bit past the string.
        assert_eq!(bitpos_in(b"\xff\xff", false, 0, None, Unit::Byte), 16);
        assert_eq!(bitpos_in(b"\x00\x00", true, 0, None, Unit::Byte), -1);
        assert_eq!(bitpos_in(b"", false, 0, None, Unit::Byte), -1);
        assert_eq!(bitpos_in(b"\xff\xff", false, 0, Some(-1), Unit::Byte), -1);
    }

    #[test]
    fn field_types() {
        let t = |s: &str| FieldType::parse(s.as_bytes()).map(|t| (t.signed, t.bits));
        assert_eq!(t("i64"), Ok((true, 64)));
        assert_eq!(t("u63"), Ok((false, 63)));
        assert_eq!(t("u1"), Ok((false, 1)));
        for bad in ["u64", "i65", "i0", "U8", "", "i", "x8", "i-1", "i08"] {
            assert!(t(bad).is_err(), "{bad}");
        }
        // The width is read up to a NUL byte, as C's strlen does.
        assert_eq!(FieldType::parse(b"i8\0junk").map(|t| t.bits), Ok(8));
    }

    #[test]
    fn overflow_rules() {
        use Overflow::*;
        // (value, incr, bits, mode) -> result, as Redis 7.0 answers them.
        assert_eq!(unsigned_overflow(255, 1, 8, Wrap), Some(0));
        assert_eq!(unsigned_overflow(255, 1, 8, Sat), Some(255));
        assert_eq!(unsigned_overflow(0, -1, 8, Sat), Some(0));
        assert_eq!(unsigned_overflow(0, -1, 8, Wrap), Some(255));
        assert_eq!(unsigned_overflow(u64::MAX, 0, 4, Sat), Some(15));
        assert_eq!(unsigned_overflow(3, 4, 8, Wrap), None);
        assert_eq!(signed_overflow(7, 1, 4, Wrap), Some(-8));
        assert_eq!(signed_overflow(-8, -1, 4, Wrap), Some(7));
        assert_eq!(signed_overflow(7, 100, 4, Sat), Some(7));
        assert_eq!(signed_overflow(-8, -100, 4, Sat), Some(-8));
        assert_eq!(signed_overflow(100, 0, 4, Wrap), Some(4));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(signed_overflow(-1, i64::MIN, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_overflow(5, -i64::MAX, 64, Sat), None);
        assert_eq!(signed_overflow(-1, 1, 1, Wrap), None);
    }
}
