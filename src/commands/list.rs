//! List commands (Redis's `t_list.c`), blocking ones included.
//!
//! Reads count keyspace hits and misses (`Lookup::READ`); writes look keys up without
//! counting (`Lookup::WRITE`). A list that loses its last element is deleted. Each
//! command checks its arguments and the key in the order Redis 7.0 does, because that
//! order decides which error (or which empty reply) a client sees. Commands that may
//! create a list signal the key ready for blocked clients (see `store::blocking`).
//!
//! Blocking commands, and LMPOP, replicate as their effect, as Redis propagates
//! them: BLPOP as LPOP, BLMOVE as LMOVE, BRPOPLPUSH as RPOPLPUSH, LMPOP and BLMPOP as
//! LPOP/RPOP with a count.

use bytes::Bytes;

use super::table::{flags::*, Command, KeySpec};
use super::{arg_i64, is_kw, parse_timeout, CmdError, Ctx, Lookup};
use crate::num::i64_bytes;
use crate::resp::Reply;
use crate::store::list::{End, ListValue};
use crate::store::notify as ev;
use crate::store::value::own;
use crate::store::{Object, Value};

const G: &str = "list";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), G, lpush)
        .key_spec(&["RW", "insert"], ""),
    Command::new("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), G, rpush)
        .key_spec(&["RW", "insert"], ""),
    Command::new("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), G, lpushx)
        .key_spec(&["RW", "insert"], ""),
    Command::new("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), G, rpushx)
        .key_spec(&["RW", "insert"], ""),
    Command::new("lpop", -2, WRITE | FAST, (1, 1, 1), G, lpop)
        .key_spec(&["RW", "access", "delete"], ""),
    Command::new("rpop", -2, WRITE | FAST, (1, 1, 1), G, rpop)
        .key_spec(&["RW", "access", "delete"], ""),
    Command::new("llen", 2, READONLY | FAST, (1, 1, 1), G, llen).key_spec(&["RO"], ""),
    Command::new("lindex", 3, READONLY, (1, 1, 1), G, lindex),
    Command::new("linsert", 5, WRITE | DENYOOM, (1, 1, 1), G, linsert)
        .key_spec(&["RW", "insert"], ""),
    Command::new("lrange", 4, READONLY, (1, 1, 1), G, lrange),
    Command::new("lrem", 4, WRITE, (1, 1, 1), G, lrem).key_spec(&["RW", "delete"], ""),
    Command::new("lset", 4, WRITE | DENYOOM, (1, 1, 1), G, lset).key_spec(&["RW", "update"], ""),
    Command::new("ltrim", 4, WRITE, (1, 1, 1), G, ltrim).key_spec(&["RW", "delete"], ""),
    Command::new("lpos", -3, READONLY, (1, 1, 1), G, lpos),
    Command::new("lmove", 5, WRITE | DENYOOM, (1, 2, 1), G, lmove).key_specs(&[
        KeySpec::at(1, &["RW", "access", "delete"]),
        KeySpec::at(2, &["RW", "insert"]),
    ]),
    Command::new("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), G, rpoplpush).key_specs(&[
        KeySpec::at(1, &["RW", "access", "delete"]),
        KeySpec::at(2, &["RW", "insert"]),
    ]),
    Command::new("lmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), G, lmpop)
        .key_specs(&[KeySpec::numkeys(1, &["RW", "access", "delete"])])
        .finder(lmpop_keys),
    Command::new(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        G,
        blpop,
    )
    .key_spec(&["RW", "access", "delete"], ""),
    Command::new(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        G,
        brpop,
    )
    .key_spec(&["RW", "access", "delete"], ""),
    Command::new(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        (1, 2, 1),
        G,
        blmove,
    )
    .key_specs(&[
        KeySpec::at(1, &["RW", "access", "delete"]),
        KeySpec::at(2, &["RW", "insert"]),
    ]),
    Command::new(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        (1, 2, 1),
        G,
        brpoplpush,
    )
    .key_specs(&[
        KeySpec::at(1, &["RW", "access", "delete"]),
        KeySpec::at(2, &["RW", "insert"]),
    ]),
    Command::new(
        "blmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        (0, 0, 0),
        G,
        blmpop,
    )
    .key_specs(&[KeySpec::numkeys(2, &["RW", "access", "delete"])])
    .finder(blmpop_keys),
];

fn as_list(o: &mut Object) -> Result<&mut ListValue, CmdError> {
    match &mut o.value {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// `lookupKeyRead` + `checkType`: counts a hit or miss.
fn read_list<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut ListValue>, CmdError> {
    ctx.lookup(key, Lookup::READ).map(as_list).transpose()
}

/// `lookupKeyWrite` + `checkType`.
fn write_list<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut ListValue>, CmdError> {
    ctx.lookup(key, Lookup::WRITE).map(as_list).transpose()
}

/// Deletes `key` if its list is now empty.
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let empty = ctx
        .db()
        .data
        .get(key)
        .is_some_and(|o| matches!(&o.value, Value::List(l) if l.is_empty()));
    if empty {
        ctx.db().remove(key);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

/// `LEFT` or `RIGHT` (`getListPositionFromObjectOrReply`).
fn end_arg(arg: &[u8]) -> Result<End, CmdError> {
    if is_kw(arg, "left") {
        Ok(End::Left)
    } else if is_kw(arg, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

fn end_name(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LEFT",
        End::Right => b"RIGHT",
    }
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn pop_name(end: End) -> &'static [u8] {
    match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    }
}

/// Redis's `getRangeLongFromObjectOrReply`: an integer in `min..=max`, else `msg`
/// (or the generic texts when there is none).
fn range_arg(arg: &[u8], min: i64, max: i64, msg: Option<&str>) -> Result<i64, CmdError> {
    let fail = |generic: CmdError| msg.map_or(generic, CmdError::err);
    let v = arg_i64(arg).map_err(fail)?;
    if v < min || v > max {
        return Err(fail(CmdError::err(format!(
            "value is out of range, value must between {min} and {max}"
        ))));
    }
    Ok(v)
}

/// `getPositiveLongFromObjectOrReply`.
fn positive_arg(arg: &[u8], msg: Option<&str>) -> Result<i64, CmdError> {
    range_arg(
        arg,
        0,
        i64::MAX,
        Some(msg.unwrap_or("value is out of range, must be positive")),
    )
}

// ---- pushes -------------------------------------------------------------------

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, xx: bool) -> Result<Reply, CmdError> {
    let key = &args[1];
    let lru = ctx.lru();
    let list = match write_list(ctx, key)? {
        Some(l) => l,
        None if xx => return Ok(Reply::Int(0)),
        None => {
            ctx.db().set_keep_ttl(key, Value::List(Box::default()), lru);
            write_list(ctx, key)?.ok_or(CmdError::NoSuchKey)?
        }
    };
    for v in &args[2..] {
        list.push(end, own(v));
    }
    let len = list.len() as i64;
    ctx.store.dirty += (args.len() - 2) as u64;
    ctx.notify(ev::LIST, push_event(end), key);
    ctx.signal_ready(key);
    Ok(Reply::Int(len))
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    push_generic(ctx, args, End::Right, true)
}

// ---- pops ---------------------------------------------------------------------

/// Pops up to `count` elements from the list at `key` (`None`: no such key), deleting
/// it when emptied, with one lookup of the key.
fn pop_n(
    ctx: &mut Ctx,
    key: &Bytes,
    end: End,
    count: usize,
) -> Result<Option<Vec<Bytes>>, CmdError> {
    let Some(list) = write_list(ctx, key)? else {
        return Ok(None);
    };
    let n = count.min(list.len());
    let out: Vec<Bytes> = (0..n).filter_map(|_| list.pop(end)).collect();
    let emptied = list.is_empty();
    popped(ctx, key, end, out.len(), emptied);
    Ok(Some(out))
}

/// [`pop_n`] of one element, without the vector.
fn pop_one(ctx: &mut Ctx, key: &Bytes, end: End) -> Result<Option<Option<Bytes>>, CmdError> {
    let Some(list) = write_list(ctx, key)? else {
        return Ok(None);
    };
    let v = list.pop(end);
    let emptied = list.is_empty();
    popped(ctx, key, end, usize::from(v.is_some()), emptied);
    Ok(Some(v))
}

/// What follows popping `n` elements from `key`: dirty, the event, and the key's
/// deletion once `emptied`.
fn popped(ctx: &mut Ctx, key: &Bytes, end: End, n: usize, emptied: bool) {
    ctx.store.dirty += n as u64;
    if n > 0 {
        ctx.modified(key);
        ctx.notify(ev::LIST, pop_event(end), key);
    }
    if emptied {
        ctx.db().remove(key);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::WrongArity(
            String::from_utf8_lossy(&args[0]).to_lowercase(),
        ));
    }
    let count = match args.get(2) {
        Some(a) => Some(positive_arg(a, None)?),
        None => None,
    };
    let key = &args[1];
    match count {
        None => Ok(pop_one(ctx, key, end)?
            .flatten()
            .map_or(Reply::Nil, Reply::Bulk)),
        Some(n) => Ok(
            match pop_n(ctx, key, end, usize::try_from(n).unwrap_or(usize::MAX))? {
                Some(items) => Reply::bulks(items),
                None => Reply::NilArray,
            },
        ),
    }
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    pop_generic(ctx, args, End::Right)
}

// ---- reads --------------------------------------------------------------------

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        read_list(ctx, &args[1])?.map_or(0, |l| l.len() as i64),
    ))
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(list) = read_list(ctx, &args[1])? else {
        return Ok(Reply::Nil);
    };
    let index = arg_i64(&args[2])?;
    Ok(list
        .position(index)
        .and_then(|p| list.get(p))
        .map_or(Reply::Nil, |v| Reply::Bulk(v.clone())))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let start = arg_i64(&args[2])?;
    let stop = arg_i64(&args[3])?;
    let Some(list) = read_list(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Some((s, e)) = list.range(start, stop) else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::bulk_array(list.slice(s, e)))
}

/// LPOS's options: `RANK` (1 = first match, negative = from the tail), `COUNT`
/// (`None` = a single index reply, 0 = all) and `MAXLEN` (0 = no limit).
struct LposOpts {
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
}

fn parse_lpos(args: &[Bytes]) -> Result<LposOpts, CmdError> {
    let mut o = LposOpts {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        let a = &args[i];
        if is_kw(a, "rank") && more {
            i += 1;
            o.rank = arg_i64(&args[i])?;
            if o.rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is_kw(a, "count") && more {
            i += 1;
            o.count = Some(positive_arg(&args[i], Some("COUNT can't be negative"))?);
        } else if is_kw(a, "maxlen") && more {
            i += 1;
            o.maxlen = positive_arg(&args[i], Some("MAXLEN can't be negative"))?;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let o = parse_lpos(args)?;
    let Some(list) = read_list(ctx, &args[1])? else {
        return Ok(match o.count {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Nil,
        });
    };
    // As in Redis, a negative rank means scanning from the tail, and `-LONG_MIN`
    // stays negative, which makes every match qualify.
    let from_tail = o.rank < 0;
    let rank = if from_tail {
        o.rank.wrapping_neg()
    } else {
        o.rank
    };
    let want = o.count.unwrap_or(1);
    let len = list.len();
    let elem: &[u8] = &args[2];
    let mut matches = 0i64;
    let mut found = Vec::new();
    let order: Box<dyn Iterator<Item = (usize, &Bytes)>> = if from_tail {
        Box::new(list.iter().enumerate().rev())
    } else {
        Box::new(list.iter().enumerate())
    };
    for (scanned, (idx, v)) in order.enumerate() {
        if o.maxlen != 0 && scanned as i64 >= o.maxlen {
            break;
        }
        if v == elem {
            matches += 1;
            if matches >= rank {
                found.push(Reply::Int(idx as i64));
                if want != 0 && found.len() as i64 >= want {
                    break;
                }
            }
        }
    }
    debug_assert!(found.len() <= len);
    Ok(match o.count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

// ---- in-place writes ----------------------------------------------------------

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let after = if is_kw(&args[2], "after") {
        true
    } else if is_kw(&args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let Some(list) = write_list(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let pivot: &[u8] = &args[3];
    let Some(pos) = list.iter().position(|v| v == pivot) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(pos + after as usize, own(&args[4]));
    let len = list.len() as i64;
    ctx.store.dirty += 1;
    ctx.notify(ev::LIST, "linsert", &args[1]);
    Ok(Reply::Int(len))
}

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(list) = write_list(ctx, &args[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = arg_i64(&args[2])?;
    let pos = list
        .position(index)
        .ok_or_else(|| CmdError::err("index out of range"))?;
    list.set(pos, own(&args[3]));
    ctx.store.dirty += 1;
    ctx.notify(ev::LIST, "lset", &args[1]);
    Ok(Reply::OK)
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let count = arg_i64(&args[2])?;
    let key = &args[1];
    let Some(list) = write_list(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let end = if count < 0 { End::Right } else { End::Left };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove(&args[3], limit, end);
    if removed > 0 {
        ctx.store.dirty += removed as u64;
        ctx.notify(ev::LIST, "lrem", key);
        drop_if_empty(ctx, key);
    }
    Ok(Reply::Int(removed as i64))
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let start = arg_i64(&args[2])?;
    let stop = arg_i64(&args[3])?;
    let key = &args[1];
    let Some(list) = write_list(ctx, key)? else {
        return Ok(Reply::OK);
    };
    let before = list.len();
    match list.range(start, stop) {
        Some((s, e)) => list.keep(s, e),
        None => list.clear(),
    }
    let removed = before - list.len();
    ctx.store.dirty += removed as u64;
    ctx.notify(ev::LIST, "ltrim", key);
    drop_if_empty(ctx, key);
    Ok(Reply::OK)
}

// ---- moves --------------------------------------------------------------------

/// LMOVE's core (`lmoveGenericCommand`): `Ok(None)` when the source is missing.
/// The destination's type is checked before anything is popped.
fn move_generic(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Result<Option<Bytes>, CmdError> {
    if write_list(ctx, src)?.is_none() {
        return Ok(None);
    }
    let dst_exists = write_list(ctx, dst)?.is_some();
    let lru = ctx.lru();
    let Some(v) = write_list(ctx, src)?.and_then(|l| l.pop(from)) else {
        return Ok(None);
    };
    if !dst_exists {
        ctx.db()
            .set_keep_ttl(dst, Value::List(Box::new(ListValue::new())), lru);
    }
    if let Some(l) = write_list(ctx, dst)? {
        l.push(to, v.clone());
    }
    // Redis signals the destination before the source.
    ctx.modified(dst);
    ctx.modified(src);
    ctx.notify(ev::LIST, push_event(to), dst);
    ctx.signal_ready(dst);
    ctx.notify(ev::LIST, pop_event(from), src);
    drop_if_empty(ctx, src);
    ctx.store.dirty += 1;
    Ok(Some(v))
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let from = end_arg(&args[3])?;
    let to = end_arg(&args[4])?;
    Ok(move_generic(ctx, &args[1], &args[2], from, to)?.map_or(Reply::Nil, Reply::Bulk))
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(
        move_generic(ctx, &args[1], &args[2], End::Right, End::Left)?
            .map_or(Reply::Nil, Reply::Bulk),
    )
}

// ---- multi-key pops -----------------------------------------------------------

/// A parsed `numkeys key... LEFT|RIGHT [COUNT n]` (LMPOP from argument 1, BLMPOP
/// from argument 2).
struct Mpop<'a> {
    keys: &'a [Bytes],
    end: End,
    count: i64,
}

fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<Mpop<'_>, CmdError> {
    let numkeys = range_arg(
        &args[numkeys_at],
        1,
        i64::MAX,
        Some("numkeys should be greater than 0"),
    )?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    let end = end_arg(&args[where_at])?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        if count.is_none() && is_kw(&args[i], "count") && i + 1 < args.len() {
            i += 1;
            count = Some(range_arg(
                &args[i],
                1,
                i64::MAX,
                Some("count should be greater than 0"),
            )?);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(Mpop {
        keys: &args[numkeys_at + 1..where_at],
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list among `keys` that the command may pop from:
/// `[key, [elements]]` and its effect `LPOP key count`, or `None`.
fn mpop(ctx: &mut Ctx, m: &Mpop) -> Result<Option<Reply>, CmdError> {
    for key in m.keys {
        if !ctx.may_pop(key) || write_list(ctx, key)?.is_none() {
            continue;
        }
        let count = usize::try_from(m.count).unwrap_or(usize::MAX);
        let items = pop_n(ctx, key, m.end, count)?.unwrap_or_default();
        ctx.propagate(vec![
            Bytes::from_static(pop_name(m.end)),
            key.clone(),
            i64_bytes(items.len() as i64),
        ]);
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::bulks(items),
        ])));
    }
    Ok(None)
}

fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let m = parse_mpop(args, 1)?;
    Ok(mpop(ctx, &m)?.unwrap_or(Reply::NilArray))
}

fn mpop_keys(args: &[Bytes], numkeys_at: usize) -> Vec<usize> {
    let n = args
        .get(numkeys_at)
        .and_then(|a| crate::num::parse_i64(a))
        .unwrap_or(0);
    // Redis's `genericGetKeys`: no keys when the count is not positive or exceeds
    // the arguments left (the command will reply with an error).
    let first = numkeys_at + 1;
    match usize::try_from(n) {
        Ok(n) if n >= 1 && n <= args.len().saturating_sub(first) => (first..first + n).collect(),
        _ => Vec::new(),
    }
}

fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    mpop_keys(args, 1)
}

fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    mpop_keys(args, 2)
}

// ---- blocking -----------------------------------------------------------------

/// BLPOP/BRPOP (`blockingPopGenericCommand`): the first non-empty key in argument
/// order; a key of another type is an error even if a later key has elements.
fn bpop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> Result<Reply, CmdError> {
    let timeout = parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if !ctx.may_pop(key) || write_list(ctx, key)?.is_none() {
            continue;
        }
        let Some(v) = pop_one(ctx, key, end)?.flatten() else {
            continue;
        };
        ctx.propagate(vec![Bytes::from_static(pop_name(end)), key.clone()]);
        return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]));
    }
    Ok(ctx.block(args, keys, "list", timeout))
}

fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bpop_generic(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bpop_generic(ctx, args, End::Right)
}

/// BLMOVE/BRPOPLPUSH (`blmoveGenericCommand`): moves at once when the source has
/// elements, else blocks on the source.
fn bmove_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    from: End,
    to: End,
    timeout_arg: &[u8],
) -> Result<Reply, CmdError> {
    let timeout = parse_timeout(timeout_arg)?;
    let (src, dst) = (&args[1], &args[2]);
    if write_list(ctx, src)?.is_none() {
        if !ctx.may_block && ctx.serving.is_none() {
            // Redis's blmoveGenericCommand answers a plain null (not the null array
            // of a timeout) where it may not block (MULTI).
            return Ok(Reply::Nil);
        }
        return Ok(ctx.block(args, std::slice::from_ref(src), "list", timeout));
    }
    let v = move_generic(ctx, src, dst, from, to)?;
    if v.is_some() {
        ctx.propagate(vec![
            Bytes::from_static(b"LMOVE"),
            src.clone(),
            dst.clone(),
            Bytes::from_static(end_name(from)),
            Bytes::from_static(end_name(to)),
        ]);
    }
    Ok(v.map_or(Reply::Nil, Reply::Bulk))
}

fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let from = end_arg(&args[3])?;
    let to = end_arg(&args[4])?;
    bmove_generic(ctx, args, from, to, &args[5])
}

fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    bmove_generic(ctx, args, End::Right, End::Left, &args[3])
}

fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let m = parse_mpop(args, 2)?;
    let timeout = parse_timeout(&args[1])?;
    match mpop(ctx, &m)? {
        Some(r) => Ok(r),
        None => Ok(ctx.block(args, m.keys, "list", timeout)),
    }
}
