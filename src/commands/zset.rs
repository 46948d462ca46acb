//! Sorted-set commands (Redis's `t_zset.c`).
//!
//! Every handler parses all of its arguments the way Redis does *before* it looks a
//! key up, except where Redis looks first (the ZUNION family reads its keys before
//! the options; ZSCAN answers a missing key before parsing COUNT/MATCH), because the
//! order decides which error a client sees. Reads use [`Lookup::READ`], writes
//! [`Lookup::WRITE`]; an emptied set is deleted; `store.dirty` grows by the number of
//! members changed (or by one per stored result), as Redis's `server.dirty`.
//!
//! # Reply shapes
//!
//! Scores are [`Reply::Double`]: a `%.17g` bulk string in RESP2, a double in RESP3.
//! WITHSCORES results are flat `member, score, ...` arrays in RESP2 and arrays of
//! `[member, score]` pairs in RESP3 (ZRANGE family, ZUNION/ZINTER/ZDIFF,
//! ZRANDMEMBER, ZPOPMIN/ZPOPMAX with a count), exactly as Redis 7.0 does.
//!
//! # Replication
//!
//! Every write here is deterministic given the keyspace (ZPOPMIN/ZPOPMAX/ZMPOP pop
//! the ends of an ordered set), so the command itself is the effect replicas apply;
//! ZRANDMEMBER is a read.

use std::cmp::Ordering;

use bytes::Bytes;

use super::blocking::parse_timeout;
use super::table::{flags::*, Command, KeySpec};
use super::{arg_f64, arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::glob::glob_match;
use crate::num::{fmt_g17, parse_f64};
use crate::resp::Reply;
use crate::store::notify as ev;
use crate::store::value::Value;
use crate::store::zset::{LexBound, LexRange, Limits, Range, ScoreBound, ScoreRange, ZSetValue};

const G: &str = "sorted-set";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), G, zadd).key_spec(&["RW", "update"], "").doc(
        "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists",
    ),
    Command::new("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), G, zincrby).key_spec(&["RW", "access", "update"], "")
        .doc("1.2.0", "Increment the score of a member in a sorted set"),
    Command::new("zrem", -3, WRITE | FAST, (1, 1, 1), G, zrem).key_spec(&["RW", "delete"], "")
        .doc("1.2.0", "Remove one or more members from a sorted set"),
    Command::new("zcard", 2, READONLY | FAST, (1, 1, 1), G, zcard).key_spec(&["RO"], "")
        .doc("1.2.0", "Get the number of members in a sorted set"),
    Command::new("zcount", 4, READONLY | FAST, (1, 1, 1), G, zcount).doc(
        "2.0.0",
        "Count the members in a sorted set with scores within the given values",
    ),
    Command::new("zlexcount", 4, READONLY | FAST, (1, 1, 1), G, zlexcount).doc(
        "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range",
    ),
    Command::new("zscore", 3, READONLY | FAST, (1, 1, 1), G, zscore).doc(
        "1.2.0",
        "Get the score associated with the given member in a sorted set",
    ),
    Command::new("zmscore", -3, READONLY | FAST, (1, 1, 1), G, zmscore).doc(
        "6.2.0",
        "Get the score associated with the given members in a sorted set",
    ),
    Command::new("zrank", 3, READONLY | FAST, (1, 1, 1), G, zrank)
        .doc("2.0.0", "Determine the index of a member in a sorted set"),
    Command::new("zrevrank", 3, READONLY | FAST, (1, 1, 1), G, zrevrank).doc(
        "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
    ),
    Command::new("zrange", -4, READONLY, (1, 1, 1), G, zrange)
        .doc("1.2.0", "Return a range of members in a sorted set"),
    Command::new("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), G, zrangestore).key_specs(&[
        KeySpec::at(1, &["OW", "update"]),
        KeySpec::at(2, &["RO", "access"]),
    ])
        .doc("6.2.0", "Store a range of members from sorted set into another key"),
    Command::new("zrevrange", -4, READONLY, (1, 1, 1), G, zrevrange).doc(
        "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
    ),
    Command::new("zrangebyscore", -4, READONLY, (1, 1, 1), G, zrangebyscore)
        .doc("1.0.5", "Return a range of members in a sorted set, by score"),
    Command::new("zrevrangebyscore", -4, READONLY, (1, 1, 1), G, zrevrangebyscore).doc(
        "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
    ),
    Command::new("zrangebylex", -4, READONLY, (1, 1, 1), G, zrangebylex).doc(
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range",
    ),
    Command::new("zrevrangebylex", -4, READONLY, (1, 1, 1), G, zrevrangebylex).doc(
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
    ),
    Command::new("zremrangebyrank", 4, WRITE, (1, 1, 1), G, zremrangebyrank).key_spec(&["RW", "delete"], "")
        .doc("2.0.0", "Remove all members in a sorted set within the given indexes"),
    Command::new("zremrangebyscore", 4, WRITE, (1, 1, 1), G, zremrangebyscore).key_spec(&["RW", "delete"], "")
        .doc("1.2.0", "Remove all members in a sorted set within the given scores"),
    Command::new("zremrangebylex", 4, WRITE, (1, 1, 1), G, zremrangebylex).key_spec(&["RW", "delete"], "").doc(
        "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range",
    ),
    Command::new("zpopmin", -2, WRITE | FAST, (1, 1, 1), G, zpopmin).key_spec(&["RW", "access", "delete"], "").doc(
        "5.0.0",
        "Remove and return members with the lowest scores in a sorted set",
    ),
    Command::new("zpopmax", -2, WRITE | FAST, (1, 1, 1), G, zpopmax).key_spec(&["RW", "access", "delete"], "").doc(
        "5.0.0",
        "Remove and return members with the highest scores in a sorted set",
    ),
    Command::new("zmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), G, zmpop).key_specs(&[
        KeySpec::numkeys(1, &["RW", "access", "delete"]),
    ])
        .finder(zmpop_keys)
        .doc("7.0.0", "Remove and return members with scores in a sorted set"),
    Command::new(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        G,
        bzpopmin,
    ).key_spec(&["RW", "access", "delete"], "")
    .doc(
        "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
    ),
    Command::new(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        G,
        bzpopmax,
    ).key_spec(&["RW", "access", "delete"], "")
    .doc(
        "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
    ),
    Command::new(
        "bzmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        (0, 0, 0),
        G,
        bzmpop,
    ).key_specs(&[
        KeySpec::numkeys(2, &["RW", "access", "delete"]),
    ])
    .finder(bzmpop_keys)
    .doc(
        "7.0.0",
        "Remove and return members with scores in a sorted set or block until one is available",
    ),
    Command::new("zrandmember", -2, READONLY, (1, 1, 1), G, zrandmember)
        .tips(&["nondeterministic_output"])
        .doc("6.2.0", "Get one or multiple random elements from a sorted set"),
    Command::new(
        "zunionstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        zunionstore,
    ).key_specs(&[
        KeySpec::at(1, &["OW", "update"]),
        KeySpec::numkeys(2, &["RO", "access"]),
    ])
    .finder(store_op_keys)
    .doc(
        "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
    ),
    Command::new(
        "zinterstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        zinterstore,
    ).key_specs(&[
        KeySpec::at(1, &["OW", "update"]),
        KeySpec::numkeys(2, &["RO", "access"]),
    ])
    .finder(store_op_keys)
    .doc(
        "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
    ),
    Command::new(
        "zdiffstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        zdiffstore,
    ).key_specs(&[
        KeySpec::at(1, &["OW", "update"]),
        KeySpec::numkeys(2, &["RO", "access"]),
    ])
    .finder(store_op_keys)
    .doc(
        "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
    ),
    Command::new("zunion", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), G, zunion).key_specs(&[
        KeySpec::numkeys(1, &["RO", "access"]),
    ])
        .finder(op_keys)
        .doc("6.2.0", "Add multiple sorted sets"),
    Command::new("zinter", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), G, zinter).key_specs(&[
        KeySpec::numkeys(1, &["RO", "access"]),
    ])
        .finder(op_keys)
        .doc("6.2.0", "Intersect multiple sorted sets"),
    Command::new("zdiff", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), G, zdiff).key_specs(&[
        KeySpec::numkeys(1, &["RO", "access"]),
    ])
        .finder(op_keys)
        .doc("6.2.0", "Subtract multiple sorted sets"),
    Command::new(
        "zintercard",
        -3,
        READONLY | MOVABLE_KEYS,
        (0, 0, 0),
        G,
        zintercard,
    ).key_specs(&[
        KeySpec::numkeys(1, &["RO", "access"]),
    ])
    .finder(op_keys)
    .doc(
        "7.0.0",
        "Intersect multiple sorted sets and return the cardinality of the result",
    ),
    Command::new("zscan", -3, READONLY, (1, 1, 1), G, zscan)
        .tips(&["nondeterministic_output"])
        .doc(
        "2.8.0",
        "Incrementally iterate sorted sets elements and associated scores",
    ),
];

// ---- key finders (COMMAND GETKEYS, routing) ----

/// Keys after a `numkeys` argument at `at`: none when the count is not a positive
/// integer or runs past the arguments (the command would fail anyway).
fn numkeys_at(args: &[Bytes], at: usize) -> Vec<usize> {
    let n = args
        .get(at)
        .and_then(|a| crate::num::parse_i64(a))
        .unwrap_or(0);
    if n < 1 || n as u64 > (args.len() - at - 1) as u64 {
        return Vec::new();
    }
    (at + 1..=at + n as usize).collect()
}

/// ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE: the destination, then `numkeys` sources.
fn store_op_keys(args: &[Bytes]) -> Vec<usize> {
    let src = numkeys_at(args, 2);
    if src.is_empty() {
        return src;
    }
    std::iter::once(1).chain(src).collect()
}

/// ZUNION/ZINTER/ZDIFF/ZINTERCARD: `numkeys` keys after the first argument.
fn op_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 1)
}

fn zmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 1)
}

fn bzmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 2)
}

// ---- shared helpers ----

/// The listpack thresholds from the configuration.
pub(super) fn limits(ctx: &Ctx) -> Limits {
    let p = &ctx.store.params;
    Limits {
        entries: p.zset_max_listpack_entries,
        value: p.zset_max_listpack_value,
    }
}

/// Looks up a sorted set: `Ok(None)` when missing, WRONGTYPE for other types.
pub(super) fn get_zset<'c>(
    ctx: &'c mut Ctx,
    key: &[u8],
    how: Lookup,
) -> Result<Option<&'c mut ZSetValue>, CmdError> {
    match ctx.lookup(key, how) {
        None => Ok(None),
        Some(o) => match &mut o.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Deletes `key` if its set became empty (Redis never keeps empty collections).
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now_ms;
    let empty = matches!(
        ctx.db().get(key, now).map(|o| &o.value),
        Some(Value::ZSet(z)) if z.is_empty()
    );
    if empty {
        ctx.db().remove(key);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

/// Stores a computed result in `dst` (Redis's `setKey`: replaces any value and
/// TTL), or deletes `dst` when the result is empty. Returns the reply count and
/// bumps `dirty` as Redis does (once, and only for a real change when deleting).
pub(super) fn store_result(
    ctx: &mut Ctx,
    dst: &Bytes,
    items: Vec<(Bytes, f64)>,
    event: &'static str,
) -> Reply {
    let n = items.len();
    if n == 0 {
        if ctx.db().remove(dst).is_some() {
            ctx.store.dirty += 1;
            ctx.notify(ev::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let z = ZSetValue::from_members(items, limits(ctx));
    let lru = ctx.lru();
    ctx.db().set(dst, Value::ZSet(Box::new(z)), lru);
    ctx.store.dirty += 1;
    ctx.notify(ev::ZSET, event, dst);
    ctx.signal_ready(dst);
    Reply::Int(n as i64)
}

/// Parses a number the way Redis's range parser calls `strtod`: the argument is a
/// C string (it ends at a NUL byte), leading spaces are skipped, the whole rest must
/// be consumed, and overflow gives an infinity rather than an error. An empty string
/// is 0, since strtod leaves the end pointer on the terminator.
fn strtod_all(arg: &[u8]) -> Option<f64> {
    let s = arg.split(|&c| c == 0).next().unwrap_or_default();
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let t = &s[start..];
    if let Some(v) = parse_f64(t) {
        return Some(v);
    }
    // parse_f64 rejects what strtod reports as ERANGE; the range parser accepts it.
    let text = std::str::from_utf8(t).ok()?;
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let decimal = body.bytes().any(|c| c.is_ascii_digit())
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !decimal {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| !v.is_nan())
}

fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, num) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let value = strtod_all(num)?;
    Some(ScoreBound { value, exclusive })
}

/// Parses `min max` of a score range (`ERR min or max is not a float`).
pub(super) fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    match (score_bound(min), score_bound(max)) {
        (Some(min), Some(max)) => Ok(ScoreRange { min, max }),
        _ => Err(CmdError::err("min or max is not a float")),
    }
}

fn lex_bound(arg: &Bytes) -> Option<LexBound> {
    // Redis reads the item as a C string for `+` and `-`.
    let alone = arg.get(1).is_none_or(|&c| c == 0);
    match arg.first()? {
        b'+' if alone => Some(LexBound::Max),
        b'-' if alone => Some(LexBound::Min),
        b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
        b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
        _ => None,
    }
}

/// Parses `min max` of a lexicographic range
/// (`ERR min or max not valid string range item`).
fn lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, CmdError> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CmdError::err("min or max not valid string range item")),
    }
}

/// Redis's `getRangeLongFromObjectOrReply`: an integer within `[min, max]`; `msg`
/// replaces both the not-an-integer and the out-of-range texts when given.
fn range_long(arg: &[u8], min: i64, max: i64, msg: Option<&str>) -> Result<i64, CmdError> {
    let err = |default: CmdError| msg.map_or(default, CmdError::err);
    let v = arg_i64(arg).map_err(err)?;
    if v < min || v > max {
        return Err(err(CmdError::err(format!(
            "value is out of range, value must between {min} and {max}"
        ))));
    }
    Ok(v)
}

/// Redis's `getPositiveLongFromObjectOrReply`: one message for a non-integer and
/// for a negative value.
fn positive_long(arg: &[u8], msg: Option<&str>) -> Result<i64, CmdError> {
    range_long(
        arg,
        0,
        i64::MAX,
        Some(msg.unwrap_or("value is out of range, must be positive")),
    )
}

// ---- ZADD ZINCRBY ZREM ----

/// ZADD's options (Redis's `ZADD_IN_*` flags plus CH).
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
    pub ch: bool,
}

/// What ZADD did to the set, for its reply.
#[derive(Default, Debug)]
pub(super) struct AddOutcome {
    pub added: i64,
    pub updated: i64,
    pub processed: i64,
    /// The score of the last member processed (the INCR reply).
    pub score: f64,
}

const NAN_SCORE: &str = "resulting score is not a number (NaN)";

/// The pairs loop of [`zadd_apply`] on the set `z`, counting into `out`. Returns
/// true when an INCR made a score NaN (and stopped there).
fn add_pairs(
    z: &mut ZSetValue,
    f: AddFlags,
    pairs: &[(f64, &Bytes)],
    lim: Limits,
    out: &mut AddOutcome,
) -> bool {
    for &(score, member) in pairs {
        let mut score = score;
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                if f.incr {
                    score += cur;
                    if score.is_nan() {
                        return true;
                    }
                }
                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                    continue;
                }
                out.processed += 1;
                out.score = score;
                if score != cur {
                    z.insert(member, score, lim);
                    out.updated += 1;
                }
            }
            None if f.xx => {}
            None => {
                z.insert(member, score, lim);
                out.added += 1;
                out.processed += 1;
                out.score = score;
            }
        }
    }
    false
}

/// Applies score/member pairs to `key` with ZADD's rules (Redis's `zsetAdd` loop),
/// creating the key unless XX. Shared with GEOADD.
pub(super) fn zadd_apply(
    ctx: &mut Ctx,
    key: &Bytes,
    f: AddFlags,
    pairs: &[(f64, &Bytes)],
) -> Result<AddOutcome, CmdError> {
    let lim = limits(ctx);
    let mut out = AddOutcome::default();
    // One lookup: a new sorted set is filled before it is stored.
    let failed = match get_zset(ctx, key, Lookup::WRITE)? {
        Some(z) => add_pairs(z, f, pairs, lim, &mut out),
        None if f.xx => return Ok(out),
        None => {
            let first_len = pairs.first().map_or(0, |(_, m)| m.len());
            let listpack = lim.entries != 0 && first_len <= lim.value;
            let mut z = ZSetValue::new(listpack);
            let failed = add_pairs(&mut z, f, pairs, lim, &mut out);
            let lru = ctx.lru();
            ctx.db().set(key, Value::ZSet(Box::new(z)), lru);
            failed
        }
    };
    if failed {
        return Err(CmdError::err(NAN_SCORE));
    }
    ctx.store.dirty += (out.added + out.updated) as u64;
    if out.added + out.updated > 0 {
        ctx.notify(ev::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if out.added > 0 {
        ctx.signal_ready(key);
    }
    Ok(out)
}

/// ZADD and ZINCRBY (Redis's `zaddGenericCommand`): options, then pairs; all
/// scores are parsed before the key is touched.
pub(super) fn zadd_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    mut f: AddFlags,
) -> Result<Reply, CmdError> {
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is_kw(a, "nx") {
            f.nx = true;
        } else if is_kw(a, "xx") {
            f.xx = true;
        } else if is_kw(a, "ch") {
            f.ch = true;
        } else if is_kw(a, "incr") {
            f.incr = true;
        } else if is_kw(a, "gt") {
            f.gt = true;
        } else if is_kw(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks(2)
        .map(|p| Ok((arg_f64(&p[0])?, &p[1])))
        .collect::<Result<Vec<_>, CmdError>>()?;
    let out = zadd_apply(ctx, &args[1], f, &pairs)?;
    Ok(if f.incr {
        if out.processed > 0 {
            Reply::Double(out.score)
        } else {
            Reply::Nil
        }
    } else if f.ch {
        Reply::Int(out.added + out.updated)
    } else {
        Reply::Int(out.added)
    })
}

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zadd_generic(ctx, args, AddFlags::default())
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_generic(ctx, args, f)
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(z) = get_zset(ctx, &args[1], Lookup::WRITE)? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for m in &args[2..] {
        if z.remove(m).is_some() {
            deleted += 1;
        }
        if z.is_empty() {
            break;
        }
    }
    if deleted > 0 {
        ctx.notify(ev::ZSET, "zrem", &args[1]);
    }
    delete_if_empty(ctx, &args[1]);
    ctx.store.dirty += deleted;
    Ok(Reply::Int(deleted as i64))
}

// ---- ZCARD ZCOUNT ZLEXCOUNT ZSCORE ZMSCORE ZRANK ZREVRANK ----

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let n = get_zset(ctx, &args[1], Lookup::READ)?.map_or(0, |z| z.len());
    Ok(Reply::Int(n as i64))
}

fn count_in(ctx: &mut Ctx, key: &[u8], range: &impl Range) -> Result<Reply, CmdError> {
    let n = get_zset(ctx, key, Lookup::READ)?.map_or(0, |z| {
        let (a, b) = z.range_ranks(range);
        b - a
    });
    Ok(Reply::Int(n as i64))
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let range = score_range(&args[2], &args[3])?;
    count_in(ctx, &args[1], &range)
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let range = lex_range(&args[2], &args[3])?;
    count_in(ctx, &args[1], &range)
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let s = get_zset(ctx, &args[1], Lookup::READ)?.and_then(|z| z.score(&args[2]));
    Ok(s.map_or(Reply::Nil, Reply::Double))
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let z = get_zset(ctx, &args[1], Lookup::READ)?;
    let z = z.as_deref();
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    ))
}

fn rank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Result<Reply, CmdError> {
    let r = get_zset(ctx, &args[1], Lookup::READ)?.and_then(|z| z.rank(&args[2], rev));
    Ok(r.map_or(Reply::Nil, |r| Reply::Int(r as i64)))
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    rank_generic(ctx, args, true)
}

// ---- the ZRANGE family ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Sanitises `start..=end` rank arguments against `len` (negative counts from the
/// end) into a start and a count, as Redis's rank commands do.
fn rank_window(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

/// The members of `z` in `range`, skipping `offset`, at most `limit` (negative: no
/// limit), walking down from the top when `rev`. A negative offset selects nothing,
/// as Redis's `while (ln && offset--)` walk does.
fn collect_range<'z>(
    z: &'z ZSetValue,
    range: &impl Range,
    offset: i64,
    limit: i64,
    rev: bool,
) -> Vec<(&'z [u8], f64)> {
    if offset < 0 || (offset > 0 && offset as u64 >= z.len() as u64) {
        return Vec::new();
    }
    let (a, b) = z.range_ranks(range);
    let offset = offset as usize;
    let avail = (b - a).saturating_sub(offset);
    let n = if limit < 0 {
        avail
    } else {
        avail.min(limit as usize)
    };
    let start = if rev {
        z.len() - b + offset
    } else {
        a + offset
    };
    z.iter_from(start, rev).take(n).collect()
}

/// Z[REV]RANGE[BYSCORE|BYLEX] and ZRANGESTORE (Redis's `zrangeGenericCommand`):
/// `argc_start` is the source key's position, `dst` the ZRANGESTORE destination.
fn zrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    argc_start: usize,
    dst: Option<&Bytes>,
    mut rangetype: RangeType,
    mut rev: Option<bool>,
) -> Result<Reply, CmdError> {
    let proto = ctx.client.proto;
    let key = &args[argc_start];
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = argc_start + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if dst.is_none() && is_kw(a, "withscores") {
            withscores = true;
        } else if is_kw(a, "limit") && left >= 2 {
            offset = arg_i64(&args[j + 1])?;
            limit = arg_i64(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && is_kw(a, "rev") {
            rev = Some(true);
        } else if rangetype == RangeType::Auto && is_kw(a, "bylex") {
            rangetype = RangeType::Lex;
        } else if rangetype == RangeType::Auto && is_kw(a, "byscore") {
            rangetype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if rangetype == RangeType::Auto {
        rangetype = RangeType::Rank;
    }
    if limit != -1 && rangetype == RangeType::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rangetype == RangeType::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (&args[argc_start + 1], &args[argc_start + 2]);
    if rev && rangetype != RangeType::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match rangetype {
        RangeType::Score => Parsed::Score(score_range(min, max)?),
        RangeType::Lex => Parsed::Lex(lex_range(min, max)?),
        _ => Parsed::Rank(arg_i64(min)?, arg_i64(max)?),
    };
    let Some(z) = get_zset(ctx, key, Lookup::READ)? else {
        return Ok(match dst {
            Some(dst) => store_result(ctx, dst, Vec::new(), "zrangestore"),
            None => Reply::Array(Vec::new()),
        });
    };
    let items: Vec<(&[u8], f64)> = match parsed {
        Parsed::Rank(start, end) => match rank_window(start, end, z.len()) {
            None => Vec::new(),
            Some((start, n)) => z.iter_from(start, rev).take(n).collect(),
        },
        Parsed::Score(r) => collect_range(z, &r, offset, limit, rev),
        Parsed::Lex(r) => collect_range(z, &r, offset, limit, rev),
    };
    // The reply is encoded from the members where they are; a destination needs
    // its own copies.
    Ok(match dst {
        Some(dst) => {
            let owned = items
                .iter()
                .map(|&(m, s)| (Bytes::copy_from_slice(m), s))
                .collect();
            store_result(ctx, dst, owned, "zrangestore")
        }
        None => Reply::scored(&items, withscores, proto),
    })
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 1, None, RangeType::Auto, None)
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 2, Some(&args[1]), RangeType::Auto, None)
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 1, None, RangeType::Rank, Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 1, None, RangeType::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zrange_generic(ctx, args, 1, None, RangeType::Lex, Some(true))
}

// ---- ZREMRANGEBY* ----

fn zremrange_generic(ctx: &mut Ctx, args: &[Bytes], kind: RangeType) -> Result<Reply, CmdError> {
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match kind {
        RangeType::Score => Parsed::Score(score_range(&args[2], &args[3])?),
        RangeType::Lex => Parsed::Lex(lex_range(&args[2], &args[3])?),
        _ => Parsed::Rank(arg_i64(&args[2])?, arg_i64(&args[3])?),
    };
    let Some(z) = get_zset(ctx, &args[1], Lookup::WRITE)? else {
        return Ok(Reply::Int(0));
    };
    let (start, end) = match parsed {
        Parsed::Rank(a, b) => match rank_window(a, b, z.len()) {
            None => return Ok(Reply::Int(0)),
            Some((start, n)) => (start, start + n),
        },
        Parsed::Score(r) => z.range_ranks(&r),
        Parsed::Lex(r) => z.range_ranks(&r),
    };
    let deleted = z.remove_ranks(start, end);
    if deleted > 0 {
        let event = match kind {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        ctx.notify(ev::ZSET, event, &args[1]);
    }
    delete_if_empty(ctx, &args[1]);
    ctx.store.dirty += deleted as u64;
    Ok(Reply::Int(deleted as i64))
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zremrange_generic(ctx, args, RangeType::Rank)
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zremrange_generic(ctx, args, RangeType::Score)
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zremrange_generic(ctx, args, RangeType::Lex)
}

// ---- ZPOPMIN ZPOPMAX ZMPOP ----

/// How a pop reply is shaped (Redis's `emitkey`/`use_nested_array` arguments).
#[derive(Clone, Copy, Debug)]
pub(super) struct PopShape {
    /// Lead with the key name (BZPOP*, ZMPOP, BZMPOP).
    pub emit_key: bool,
    /// `[member, score]` pairs instead of a flat list.
    pub nested: bool,
    /// A null array, not an empty one, when no key has members (ZMPOP, BZMPOP).
    pub nil_when_empty: bool,
}

/// Pops from the first existing key of `keys` (Redis's `genericZpopCommand`).
/// `count` of `None` is the plain single pop.
pub(super) fn zpop_generic(
    ctx: &mut Ctx,
    keys: &[Bytes],
    max: bool,
    count: Option<u64>,
    shape: PopShape,
) -> Result<Reply, CmdError> {
    // The first key holding a sorted set, popped from in the same lookup.
    let mut found = None;
    let mut popped = Vec::new();
    let mut emptied = false;
    for key in keys {
        if let Some(z) = get_zset(ctx, key, Lookup::WRITE)? {
            found = Some(key);
            let count = count.unwrap_or(1);
            popped.reserve(usize::try_from(count).unwrap_or(usize::MAX).min(z.len()));
            while (popped.len() as u64) < count {
                match z.pop(max) {
                    Some(p) => popped.push(p),
                    None => break,
                }
            }
            emptied = z.is_empty();
            break;
        }
    }
    let Some(key) = found else {
        return Ok(if shape.nil_when_empty {
            Reply::NilArray
        } else {
            Reply::Array(Vec::new())
        });
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    if !popped.is_empty() {
        ctx.modified(key);
        ctx.notify(ev::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    if emptied {
        ctx.db().remove(key);
        ctx.notify(ev::GENERIC, "del", key);
    }
    ctx.store.dirty += popped.len() as u64;
    let elems: Vec<Reply> = if shape.nested {
        popped
            .into_iter()
            .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
            .collect()
    } else {
        popped
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
            .collect()
    };
    Ok(match (shape.emit_key, shape.nested) {
        (false, _) => Reply::Array(elems),
        (true, false) => {
            let mut v = vec![Reply::Bulk(key.clone())];
            v.extend(elems);
            Reply::Array(v)
        }
        (true, true) => Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(elems)]),
    })
}

fn zpop_minmax(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => Some(positive_long(a, None)? as u64),
        None => None,
    };
    let shape = PopShape {
        emit_key: false,
        nested: ctx.client.proto > 2 && count.is_some(),
        nil_when_empty: false,
    };
    zpop_generic(ctx, &args[1..2], max, count, shape)
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zpop_minmax(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zpop_minmax(ctx, args, true)
}

/// The parsed arguments of ZMPOP/BZMPOP after `numkeys`.
pub(super) struct MpopArgs<'a> {
    pub keys: &'a [Bytes],
    pub max: bool,
    pub count: u64,
}

/// Parses `numkeys key... MIN|MAX [COUNT n]` starting at `numkeys_idx`.
pub(super) fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<MpopArgs<'_>, CmdError> {
    let numkeys = range_long(
        &args[numkeys_idx],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )? as u64;
    let where_idx = (numkeys_idx as u64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = if is_kw(&args[where_idx], "min") {
        false
    } else if is_kw(&args[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count.is_none() && is_kw(&args[j], "count") && more > 0 {
            j += 1;
            count = Some(range_long(
                &args[j],
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            )? as u64);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(MpopArgs {
        keys: &args[numkeys_idx + 1..where_idx],
        max,
        count: count.unwrap_or(1),
    })
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let p = parse_mpop(args, 1)?;
    let shape = PopShape {
        emit_key: true,
        nested: true,
        nil_when_empty: true,
    };
    zpop_generic(ctx, p.keys, p.max, Some(p.count), shape)
}

// ---- BZPOPMIN BZPOPMAX BZMPOP ----

/// BZPOPMIN/BZPOPMAX (Redis's `blockingGenericZpopCommand`): pops one member from
/// the first non-empty key in argument order, replicated as ZPOPMIN/ZPOPMAX, or
/// blocks on all of them. A key of another type is an error even when a later key
/// has members.
fn bzpop_generic(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Result<Reply, CmdError> {
    let timeout = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if !ctx.may_pop(key) || get_zset(ctx, key, Lookup::WRITE)?.is_none_or(|z| z.is_empty()) {
            continue;
        }
        let shape = PopShape {
            emit_key: true,
            nested: false,
            nil_when_empty: false,
        };
        let reply = zpop_generic(ctx, std::slice::from_ref(key), max, None, shape)?;
        ctx.propagate(vec![Bytes::from_static(pop_name(max)), key.clone()]);
        return Ok(reply);
    }
    Ok(ctx.block(args, keys, "zset", timeout))
}

fn pop_name(max: bool) -> &'static [u8] {
    if max {
        b"ZPOPMAX"
    } else {
        b"ZPOPMIN"
    }
}

fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bzpop_generic(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bzpop_generic(ctx, args, true)
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT n]: like ZMPOP, or blocks; the pop
/// replicates as `ZPOPMIN key n` with the number actually popped.
fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let p = parse_mpop(args, 2)?;
    let timeout = parse_timeout(&args[1])?;
    for key in p.keys {
        if !ctx.may_pop(key) {
            continue;
        }
        let len = get_zset(ctx, key, Lookup::WRITE)?.map_or(0, |z| z.len() as u64);
        if len == 0 {
            continue;
        }
        let shape = PopShape {
            emit_key: true,
            nested: true,
            nil_when_empty: true,
        };
        let reply = zpop_generic(ctx, std::slice::from_ref(key), p.max, Some(p.count), shape)?;
        ctx.propagate(vec![
            Bytes::from_static(pop_name(p.max)),
            key.clone(),
            crate::num::i64_bytes(p.count.min(len) as i64),
        ]);
        return Ok(reply);
    }
    Ok(ctx.block(args, p.keys, "zset", timeout))
}

// ---- ZRANDMEMBER ----

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() >= 3 {
        let l = range_long(&args[2], -i64::MAX, i64::MAX, None)?;
        if args.len() > 4 || (args.len() == 4 && !is_kw(&args[3], "withscores")) {
            return Err(CmdError::Syntax);
        }
        let withscores = args.len() == 4;
        if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
            return Err(CmdError::err("value is out of range"));
        }
        return zrandmember_count(ctx, &args[1], l, withscores);
    }
    let mut rng = rand::rng();
    Ok(get_zset(ctx, &args[1], Lookup::READ)?
        .and_then(|z| z.random(&mut rng).map(|(m, _)| Reply::bulk_from(m)))
        .unwrap_or(Reply::Nil))
}

fn zrandmember_count(
    ctx: &mut Ctx,
    key: &[u8],
    l: i64,
    withscores: bool,
) -> Result<Reply, CmdError> {
    let proto = ctx.client.proto;
    let Some(z) = get_zset(ctx, key, Lookup::READ)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let count = l.unsigned_abs();
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut rng = rand::rng();
    let size = z.len() as u64;
    let items: Vec<(Bytes, f64)> = if l < 0 || count == 1 {
        // With repetitions, in random order.
        (0..count)
            .filter_map(|_| {
                z.random(&mut rng)
                    .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            })
            .collect()
    } else if count >= size {
        // The whole set, walked from the top as Redis's set-operation iterator does.
        z.iter_from(0, true)
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect()
    } else {
        rand::seq::index::sample(&mut rng, size as usize, count as usize)
            .into_iter()
            .filter_map(|r| z.at(r).map(|(m, s)| (Bytes::copy_from_slice(m), s)))
            .collect()
    };
    Ok(Reply::scored(&items, withscores, proto))
}

// ---- ZUNION ZINTER ZDIFF ZINTERCARD and the STORE variants ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate`: a SUM of +inf and -inf is 0, not NaN.
fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// Orders members as a sorted set does: by score, then by member bytes.
fn by_score(a: &(Bytes, f64), b: &(Bytes, f64)) -> Ordering {
    a.1.partial_cmp(&b.1)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.0.cmp(&b.0))
}

/// Redis's `zunionInterDiffGenericCommand`.
fn zsetop_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> Result<Reply, CmdError> {
    let setnum = arg_i64(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        )));
    }
    if setnum as u64 > (args.len() - numkeys_idx - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let keys = &args[numkeys_idx + 1..numkeys_idx + 1 + setnum];
    for key in keys {
        match ctx.lookup(key, Lookup::READ).map(|o| &o.value) {
            None | Some(Value::ZSet(_)) => {}
            // FIXME(sets): Redis also accepts plain sets here (every member
            // scoring 1); enable once the set type lands.
            Some(_) => return Err(CmdError::WrongType),
        }
    }

    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is_kw(a, "weights") {
            for (w, arg) in weights.iter_mut().zip(&args[j + 1..]) {
                *w = parse_f64(arg).ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is_kw(a, "aggregate") {
            let v = &args[j + 1];
            agg = if is_kw(v, "sum") {
                Aggregate::Sum
            } else if is_kw(v, "min") {
                Aggregate::Min
            } else if is_kw(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is_kw(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is_kw(a, "limit") {
            limit = positive_long(&args[j + 1], Some("LIMIT can't be negative"))? as u64;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }

    let db = &ctx.store.dbs[ctx.client.db];
    let mut srcs: Vec<(Option<&ZSetValue>, f64)> = keys
        .iter()
        .zip(weights)
        .map(|(k, w)| {
            let z = db.data.get(k).and_then(|o| match &o.value {
                Value::ZSet(z) => Some(&**z),
                _ => None,
            });
            (z, w)
        })
        .collect();
    let len_of = |s: &(Option<&ZSetValue>, f64)| s.0.map_or(0, |z| z.len());
    if op != SetOp::Diff {
        srcs.sort_by_key(len_of);
    }

    let mut result: Vec<(Bytes, f64)> = Vec::new();
    let mut cardinality: u64 = 0;
    match op {
        SetOp::Inter => {
            if let Some(first) = srcs[0].0.filter(|z| !z.is_empty()) {
                let w0 = srcs[0].1;
                'members: for (m, s) in first.iter() {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (z, w) in &srcs[1..] {
                        match z.and_then(|z| z.score(m)) {
                            Some(v) => aggregate(&mut score, v * w, agg),
                            None => continue 'members,
                        }
                    }
                    if card_only {
                        cardinality += 1;
                        if limit != 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((Bytes::copy_from_slice(m), score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Bytes, f64> = Default::default();
            for (z, w) in &srcs {
                let Some(z) = z else { continue };
                for (m, s) in z.iter() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(Bytes::copy_from_slice(m), score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            if let Some(first) = srcs[0].0 {
                result = first
                    .iter()
                    .filter(|(m, _)| {
                        !srcs[1..]
                            .iter()
                            .any(|(z, _)| z.is_some_and(|z| z.score(m).is_some()))
                    })
                    .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                    .collect();
            }
        }
    }
    result.sort_by(by_score);

    Ok(match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, dst, result, event)
        }
        None if card_only => Reply::Int(cardinality as i64),
        None => Reply::scored(&result, withscores, ctx.client.proto),
    })
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, Some(&args[1]), 2, SetOp::Union, false)
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, Some(&args[1]), 2, SetOp::Inter, false)
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, Some(&args[1]), 2, SetOp::Diff, false)
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, None, 1, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, None, 1, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, None, 1, SetOp::Diff, false)
}

fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    zsetop_generic(ctx, args, None, 1, SetOp::Inter, true)
}

// ---- ZSCAN ----

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut cursor =
        super::keys::parse_cursor(&args[2]).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let Some(z) = get_zset(ctx, &args[1], Lookup::READ)? else {
        return Ok(Reply::Array(vec![
            Reply::bulk(&b"0"[..]),
            Reply::Array(Vec::new()),
        ]));
    };
    let opts = super::hash::ScanOpts::parse(&args[3..])?;
    let count = i64::try_from(opts.count).unwrap_or(i64::MAX);
    let pattern = opts.pattern;
    let mut found: Vec<(Bytes, f64)> = Vec::new();
    if z.is_listpack() {
        // A listpack is returned whole in one call, as Redis does.
        found = z
            .iter()
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect();
        cursor = 0;
    } else {
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = z.scan(cursor, |m, s| found.push((Bytes::copy_from_slice(m), s)));
            if cursor == 0 || budget == 0 || found.len() as i64 >= count {
                break;
            }
            budget -= 1;
        }
    }
    let items = found
        .into_iter()
        .filter(|(m, _)| pattern.is_none_or(|p| glob_match(p, m, false)))
        .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Bulk(Bytes::from(fmt_g17(s)))])
        .collect();
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Client;
    use crate::commands::{dispatch, Action};
    use crate::params::Params;
    use crate::store::Store;

    fn argv(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect()
    }

    /// A BZPOPMIN blocked on two keys is served, oldest waiter first, by the ZADD of
    /// another client, and its pop replicates as ZPOPMIN.
    #[test]
    fn bzpopmin_is_woken_by_zadd_from_another_client() {
        let mut store = Store::new(Params::default(), crate::commands::table().entries.len());
        let mut a = Client::new(1, "a".into(), "l".into(), 0, true);
        let mut b = Client::new(2, "b".into(), "l".into(), 0, true);
        let mut c = Client::new(3, "c".into(), "l".into(), 0, true);
        let wait = |store: &mut Store, client: &mut Client, line: &str| {
            let mut ctx = Ctx::new(store, client, 1000);
            assert_eq!(dispatch(&mut ctx, &argv(line)), Reply::None);
            match ctx.action.take() {
                Some(Action::Block(blocked)) => blocked.rx,
                _ => panic!("{line} should block"),
            }
        };
        let mut rx_a = wait(&mut store, &mut a, "BZPOPMIN k1 k2 0");
        let mut rx_b = wait(&mut store, &mut b, "BZMPOP 0 1 k2 MAX COUNT 5");
        let mut ctx = Ctx::new(&mut store, &mut c, 1000);
        ctx.replicate = true;
        assert_eq!(
            dispatch(&mut ctx, &argv("ZADD k2 1 x 2 y 3 z")),
            Reply::Int(3)
        );
        assert_eq!(
            ctx.effects.get(1).map(|e| e[0].clone()),
            Some(Bytes::from_static(b"ZPOPMIN"))
        );
        let bulk = |s: &str| Reply::Bulk(Bytes::from(s.to_string()));
        assert_eq!(
            rx_a.try_recv().ok(),
            Some(Reply::Array(vec![
                bulk("k2"),
                bulk("x"),
                Reply::Double(1.0)
            ]))
        );
        let pair = |m: &str, s: f64| Reply::Array(vec![bulk(m), Reply::Double(s)]);
        assert_eq!(
            rx_b.try_recv().ok(),
            Some(Reply::Array(vec![
                bulk("k2"),
                Reply::Array(vec![pair("z", 3.0), pair("y", 2.0)])
            ]))
        );
        assert!(ctx.store.dbs[0].data.get(&b"k2"[..]).is_none());
    }

    #[test]
    fn strtod_like_the_range_parser() {
        assert_eq!(strtod_all(b""), Some(0.0));
        assert_eq!(strtod_all(b" 1"), Some(1.0));
        assert_eq!(strtod_all(b"1 "), None);
        assert_eq!(strtod_all(b" "), None);
        assert_eq!(strtod_all(b"1e400"), Some(f64::INFINITY));
        assert_eq!(strtod_all(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_all(b"nan"), None);
        assert_eq!(strtod_all(b"1\x00junk"), Some(1.0));
        assert_eq!(strtod_all(b"abc"), None);
    }

    #[test]
    fn rank_windows() {
        assert_eq!(rank_window(0, -1, 5), Some((0, 5)));
        assert_eq!(rank_window(-2, -1, 5), Some((3, 2)));
        assert_eq!(rank_window(3, 1, 5), None);
        assert_eq!(rank_window(5, 10, 5), None);
        assert_eq!(rank_window(-100, 100, 5), Some((0, 5)));
        assert_eq!(rank_window(0, 0, 0), None);
    }

    #[test]
    fn numkeys_finders() {
        let a =
            |s: &str| -> Vec<Bytes> { s.split(' ').map(|x| Bytes::from(x.to_string())).collect() };
        assert_eq!(
            store_op_keys(&a("zunionstore d 2 a b weights 1 2")),
            vec![1, 3, 4]
        );
        assert_eq!(
            store_op_keys(&a("zunionstore d 3 a b")),
            Vec::<usize>::new()
        );
        assert_eq!(op_keys(&a("zunion 2 a b withscores")), vec![2, 3]);
        assert_eq!(zmpop_keys(&a("zmpop 1 a min")), vec![2]);
    }
}
