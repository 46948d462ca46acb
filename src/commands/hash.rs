//! Hash commands (Redis's `t_hash.c`).
//!
//! Reads count keyspace hits and misses through [`read_hash`]; writes look the key
//! up without counting, as `lookupKeyWrite` does. Every change adds the number of
//! fields changed to `store.dirty`, a hash that loses its last field is deleted,
//! and the listpack/hashtable conversion rules live in [`HashValue`]. HINCRBYFLOAT
//! replicates as the HSET of its result, like Redis, so replicas never redo float
//! arithmetic. This module also holds the HSCAN/SSCAN option parsing that the set
//! commands share.

use bytes::Bytes;

use super::table::{flags::*, Command};
use super::{arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::glob::glob_match;
use crate::num::i64_bytes;
use crate::num::ld::LongDouble;
use crate::resp::Reply;
use crate::store::hash::{HashLimits, HashValue};
use crate::store::notify as ev;
use crate::store::Value;

const G: &str = "hash";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), G, hset)
        .key_spec(&["RW", "update"], "")
        .doc("2.0.0", "Set the string value of a hash field"),
    Command::new("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), G, hsetnx)
        .key_spec(&["RW", "insert"], "")
        .doc(
            "2.0.0",
            "Set the value of a hash field, only if the field does not exist",
        ),
    Command::new("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), G, hmset)
        .key_spec(&["RW", "update"], "")
        .doc("2.0.0", "Set multiple hash fields to multiple values"),
    Command::new("hget", 3, READONLY | FAST, (1, 1, 1), G, hget)
        .doc("2.0.0", "Get the value of a hash field"),
    Command::new("hmget", -3, READONLY | FAST, (1, 1, 1), G, hmget)
        .doc("2.0.0", "Get the values of all the given hash fields"),
    Command::new("hdel", -3, WRITE | FAST, (1, 1, 1), G, hdel)
        .key_spec(&["RW", "delete"], "")
        .doc("2.0.0", "Delete one or more hash fields"),
    Command::new("hexists", 3, READONLY | FAST, (1, 1, 1), G, hexists)
        .key_spec(&["RO"], "")
        .doc("2.0.0", "Determine if a hash field exists"),
    Command::new("hlen", 2, READONLY | FAST, (1, 1, 1), G, hlen)
        .key_spec(&["RO"], "")
        .doc("2.0.0", "Get the number of fields in a hash"),
    Command::new("hstrlen", 3, READONLY | FAST, (1, 1, 1), G, hstrlen)
        .key_spec(&["RO"], "")
        .doc("3.2.0", "Get the length of the value of a hash field"),
    Command::new("hkeys", 2, READONLY, (1, 1, 1), G, hkeys)
        .doc("2.0.0", "Get all the fields in a hash"),
    Command::new("hvals", 2, READONLY, (1, 1, 1), G, hvals)
        .doc("2.0.0", "Get all the values in a hash"),
    Command::new("hgetall", 2, READONLY, (1, 1, 1), G, hgetall)
        .doc("2.0.0", "Get all the fields and values in a hash"),
    Command::new("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), G, hincrby)
        .key_spec(&["RW", "access", "update"], "")
        .doc(
            "2.0.0",
            "Increment the integer value of a hash field by the given number",
        ),
    Command::new(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        G,
        hincrbyfloat,
    )
    .key_spec(&["RW", "access", "update"], "")
    .doc(
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
    ),
    Command::new("hrandfield", -2, READONLY, (1, 1, 1), G, hrandfield)
        .doc("6.2.0", "Get one or multiple random fields from a hash"),
    Command::new("hscan", -3, READONLY, (1, 1, 1), G, hscan).doc(
        "2.8.0",
        "Incrementally iterate hash fields and associated values",
    ),
];

/// The hash at `key` for a read command: `Ok(None)` when missing, WRONGTYPE for
/// other types. Counts a keyspace hit or miss, as Redis's `lookupKeyRead`.
fn read_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a HashValue>, CmdError> {
    match ctx.lookup(key, Lookup::READ) {
        None => Ok(None),
        Some(obj) => match &obj.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The hash at `key` for modification (`lookupKeyWrite` + `checkType`).
fn write_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut HashValue>, CmdError> {
    match ctx.lookup(key, Lookup::WRITE) {
        None => Ok(None),
        Some(obj) => match &mut obj.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The hash at `key`, created empty if missing (Redis's
/// `hashTypeLookupWriteOrCreate`). Callers must leave it non-empty.
fn hash_or_create<'a>(ctx: &'a mut Ctx, key: &Bytes) -> Result<&'a mut HashValue, CmdError> {
    if write_hash(ctx, key)?.is_none() {
        let lru = ctx.lru();
        ctx.db().set(key, Value::Hash(Box::default()), lru);
    }
    write_hash(ctx, key)?.ok_or(CmdError::NoSuchKey)
}

/// Deletes `key` if its hash has no field left.
fn remove_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now_ms;
    let db = ctx.db();
    if matches!(db.get(key, now), Some(o) if matches!(&o.value, Value::Hash(h) if h.is_empty())) {
        db.remove(key);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

fn limits(ctx: &Ctx) -> HashLimits {
    HashLimits::from_params(&ctx.store.params)
}

/// HSET and HMSET: sets every pair and returns how many fields are new.
fn hset_generic(ctx: &mut Ctx, args: &[Bytes], name: &str) -> Result<i64, CmdError> {
    if args.len() % 2 == 1 {
        return Err(CmdError::WrongArity(name.into()));
    }
    let lim = limits(ctx);
    let fill = |h: &mut HashValue| {
        h.convert_for_args(&args[2..], lim);
        args[2..]
            .chunks(2)
            .filter(|fv| h.set(&fv[0], Bytes::copy_from_slice(&fv[1]), lim))
            .count()
    };
    // One lookup: a new hash is filled before it is stored.
    let created = match write_hash(ctx, &args[1])? {
        Some(h) => fill(h),
        None => {
            let lru = ctx.lru();
            let mut h = HashValue::default();
            let created = fill(&mut h);
            ctx.db().set(&args[1], Value::Hash(Box::new(h)), lru);
            created
        }
    };
    ctx.store.dirty += (args.len() as u64 - 2) / 2;
    ctx.notify(ev::HASH, "hset", &args[1]);
    Ok(created as i64)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    hset_generic(ctx, args, "hset").map(Reply::Int)
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    hset_generic(ctx, args, "hmset").map(|_| Reply::OK)
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let lim = limits(ctx);
    let h = hash_or_create(ctx, &args[1])?;
    if h.contains(&args[2]) {
        return Ok(Reply::Int(0));
    }
    h.convert_for_args(&args[2..4], lim);
    h.set(&args[2], Bytes::copy_from_slice(&args[3]), lim);
    ctx.store.dirty += 1;
    ctx.notify(ev::HASH, "hset", &args[1]);
    Ok(Reply::Int(1))
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let v = read_hash(ctx, &args[1])?.and_then(|h| h.get(&args[2]).map(Bytes::copy_from_slice));
    Ok(v.map_or(Reply::Nil, Reply::Bulk))
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let h = read_hash(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|f| {
                h.and_then(|h| h.get(f))
                    .map_or(Reply::Nil, |v| Reply::Bulk(Bytes::copy_from_slice(v)))
            })
            .collect(),
    ))
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(h) = write_hash(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        ctx.notify(ev::HASH, "hdel", &args[1]);
    }
    remove_if_empty(ctx, &args[1]);
    ctx.store.dirty += deleted;
    Ok(Reply::Int(deleted as i64))
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let n = read_hash(ctx, &args[1])?.map_or(0, HashValue::len);
    Ok(Reply::Int(n as i64))
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let n = read_hash(ctx, &args[1])?
        .and_then(|h| h.get(&args[2]))
        .map_or(0, <[u8]>::len);
    Ok(Reply::Int(n as i64))
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let found = read_hash(ctx, &args[1])?.is_some_and(|h| h.contains(&args[2]));
    Ok(Reply::Int(i64::from(found)))
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let h = read_hash(ctx, &args[1])?;
    Ok(Reply::bulk_array(
        h.into_iter().flat_map(|h| h.iter().map(|(f, _)| f)),
    ))
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let h = read_hash(ctx, &args[1])?;
    Ok(Reply::bulk_array(
        h.into_iter().flat_map(|h| h.iter().map(|(_, v)| v)),
    ))
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let h = read_hash(ctx, &args[1])?;
    Ok(Reply::Map(
        h.into_iter()
            .flat_map(|h| h.iter())
            .map(|(f, v)| (Reply::bulk_from(f), Reply::bulk_from(v)))
            .collect(),
    ))
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let incr = arg_i64(&args[3])?;
    let lim = limits(ctx);
    let h = hash_or_create(ctx, &args[1])?;
    let old = match h.get(&args[2]) {
        Some(v) => {
            crate::num::parse_i64(v).ok_or_else(|| CmdError::err("hash value is not an integer"))?
        }
        None => 0,
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    h.set(&args[2], i64_bytes(new), lim);
    ctx.store.dirty += 1;
    ctx.notify(ev::HASH, "hincrby", &args[1]);
    Ok(Reply::Int(new))
}

/// HINCRBYFLOAT in `long double` with INCRBYFLOAT's formatting (see `num::ld`).
fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (key, field) = (&args[1], &args[2]);
    let incr = LongDouble::parse(&args[3]).ok_or(CmdError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let lim = limits(ctx);
    let h = hash_or_create(ctx, key)?;
    let old = match h.get(field) {
        Some(v) => {
            LongDouble::parse(v).ok_or_else(|| CmdError::err("hash value is not a float"))?
        }
        None => LongDouble::ZERO,
    };
    let new = old
        .checked_add(incr)
        .ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?;
    let text = Bytes::from(new.to_human());
    h.set(field, text.clone(), lim);
    ctx.store.dirty += 1;
    ctx.notify(ev::HASH, "hincrbyfloat", key);
    ctx.propagate(vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        text.clone(),
    ]);
    Ok(Reply::Bulk(text))
}

/// Redis's `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`: the count of
/// HRANDFIELD and SRANDMEMBER.
pub(super) fn arg_count(arg: &[u8]) -> Result<i64, CmdError> {
    let v = arg_i64(arg)?;
    if v == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(v)
}

/// HRANDFIELD key [count [WITHVALUES]].
fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut rng = rand::rng();
    if args.len() == 2 {
        let f = read_hash(ctx, &args[1])?
            .and_then(|h| h.random(&mut rng).map(|(f, _)| Bytes::copy_from_slice(f)));
        return Ok(f.map_or(Reply::Nil, Reply::Bulk));
    }
    let l = arg_count(&args[2])?;
    let withvalues = args.len() == 4 && is_kw(&args[3], "withvalues");
    if args.len() > 4 || (args.len() == 4 && !withvalues) {
        return Err(CmdError::Syntax);
    }
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::err("value is out of range"));
    }
    let resp3 = ctx.client.proto >= 3;
    let Some(h) = read_hash(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let count = l.unsigned_abs() as usize;
    let pick: Vec<(&[u8], &[u8])> = if l < 0 || count == 1 {
        // Repetitions allowed: independent draws.
        (0..count).filter_map(|_| h.random(&mut rng)).collect()
    } else if count >= h.len() {
        h.iter().collect()
    } else if count.saturating_mul(3) <= h.len() {
        // A small sample of a big hash: draw until `count` distinct fields.
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let Some((f, v)) = h.random(&mut rng) else {
                break;
            };
            if seen.insert(f) {
                out.push((f, v));
            }
        }
        out
    } else {
        let all: Vec<_> = h.iter().collect();
        rand::seq::index::sample(&mut rng, all.len(), count)
            .into_iter()
            .map(|i| all[i])
            .collect()
    };
    let mut out = Vec::with_capacity(pick.len() * if withvalues { 2 } else { 1 });
    for (f, v) in pick {
        let (f, v) = (Reply::bulk_from(f), Reply::bulk_from(v));
        match (withvalues, resp3) {
            (false, _) => out.push(f),
            (true, false) => out.extend([f, v]),
            (true, true) => out.push(Reply::Array(vec![f, v])),
        }
    }
    Ok(Reply::Array(out))
}

// ---- HSCAN and SSCAN ----

/// Parses a SCAN-family cursor (`ERR invalid cursor`).
pub(super) fn scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    super::keys::parse_cursor(arg).ok_or_else(|| CmdError::err("invalid cursor"))
}

/// The options of the SCAN family (`args` starts after the cursor): MATCH and COUNT,
/// and TYPE for SCAN itself.
pub(super) struct ScanOpts<'a> {
    pub count: usize,
    pub pattern: Option<&'a Bytes>,
    pub type_name: Option<&'a Bytes>,
}

impl<'a> ScanOpts<'a> {
    /// MATCH and COUNT (HSCAN, SSCAN, ZSCAN).
    pub(super) fn parse(args: &'a [Bytes]) -> Result<ScanOpts<'a>, CmdError> {
        Self::parse_with(args, false)
    }

    /// MATCH, COUNT and, when `allow_type`, TYPE (SCAN).
    pub(super) fn parse_with(
        args: &'a [Bytes],
        allow_type: bool,
    ) -> Result<ScanOpts<'a>, CmdError> {
        let mut o = ScanOpts {
            count: 10,
            pattern: None,
            type_name: None,
        };
        let mut i = 0;
        while i < args.len() {
            let has_value = i + 1 < args.len();
            if is_kw(&args[i], "count") && has_value {
                let n = arg_i64(&args[i + 1])?;
                if n < 1 {
                    return Err(CmdError::Syntax);
                }
                o.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if is_kw(&args[i], "match") && has_value {
                o.pattern = Some(&args[i + 1]).filter(|p| p.as_ref() != b"*");
            } else if allow_type && is_kw(&args[i], "type") && has_value {
                o.type_name = Some(&args[i + 1]);
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(o)
    }

    pub(super) fn matches(&self, s: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, s, false))
    }

    /// Calls `step` with successive cursors until `want` items were found, the
    /// cursor wraps, or `budget` further steps were spent (Redis's loop in
    /// `scanGenericCommand`, whose budget is ten steps per wanted reply element).
    /// Returns the next cursor.
    pub(super) fn drive(
        want: usize,
        mut budget: usize,
        mut cursor: u64,
        mut step: impl FnMut(u64) -> (u64, usize),
    ) -> u64 {
        let mut found = 0;
        loop {
            let (next, n) = step(cursor);
            cursor = next;
            found += n;
            if cursor == 0 || budget == 0 || found >= want {
                return cursor;
            }
            budget -= 1;
        }
    }
}

/// The `[cursor, [items...]]` reply of the SCAN family.
pub(super) fn scan_reply(cursor: u64, items: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::bulks(items),
    ])
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]. A listpack is returned whole
/// with cursor 0, as Redis does.
fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let cursor = scan_cursor(&args[2])?;
    let Some(h) = read_hash(ctx, &args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOpts::parse(&args[3..])?;
    let mut pairs: Vec<(Bytes, Bytes)> = Vec::new();
    // Redis counts fields and values as separate reply elements.
    let budget = opts.count.saturating_mul(20);
    let next = ScanOpts::drive(opts.count, budget, cursor, |c| {
        let before = pairs.len();
        let next = h.scan_step(c, |f, v| {
            pairs.push((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
        });
        (next, pairs.len() - before)
    });
    let items = pairs
        .into_iter()
        .filter(|(f, _)| opts.matches(f))
        .flat_map(|(f, v)| [f, v])
        .collect();
    Ok(scan_reply(next, items))
}
