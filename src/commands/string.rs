//! String commands (Redis's `t_string.c`).
//!
//! Lookups follow Redis's split: commands that read (`GET`, `MGET`, `STRLEN`,
//! `GETRANGE`, `LCS`, and the `GET` part of `SET ... GET`/`GETSET`/`GETDEL`/`GETEX`)
//! count keyspace hits and misses through [`read_str`]; commands that write look the
//! key up without counting, as `lookupKeyWrite` does. Every change to the keyspace
//! adds the number of keys changed to `store.dirty`.

use bytes::{Bytes, BytesMut};

use super::table::{flags::*, Command};
use super::{arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::num::i64_bytes;
use crate::num::ld::LongDouble;
use crate::resp::Reply;
use crate::store::notify as ev;
use crate::store::value::{StrEnc, StrValue};
use crate::store::Value;

const G: &str = "string";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("get", 2, READONLY | FAST, (1, 1, 1), G, get),
    Command::new("set", -3, WRITE | DENYOOM, (1, 1, 1), G, set).key_spec(
        &["RW", "access", "update", "variable_flags"],
        "RW and ACCESS due to the optional `GET` argument",
    ),
    Command::new("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), G, setnx)
        .key_spec(&["OW", "insert"], ""),
    Command::new("setex", 4, WRITE | DENYOOM, (1, 1, 1), G, setex).key_spec(&["OW", "update"], ""),
    Command::new("psetex", 4, WRITE | DENYOOM, (1, 1, 1), G, psetex)
        .key_spec(&["OW", "update"], ""),
    Command::new("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), G, getset)
        .key_spec(&["RW", "access", "update"], ""),
    Command::new("getdel", 2, WRITE | FAST, (1, 1, 1), G, getdel)
        .key_spec(&["RW", "access", "delete"], ""),
    Command::new("getex", -2, WRITE | FAST, (1, 1, 1), G, getex).key_spec(
        &["RW", "access", "update"],
        "RW and UPDATE because it changes the TTL",
    ),
    Command::new("mget", -2, READONLY | FAST | SPLIT, (1, -1, 1), G, mget),
    Command::new("mset", -3, WRITE | DENYOOM | SPLIT, (1, -1, 2), G, mset)
        .key_spec(&["OW", "update"], "")
        .tips(&[
            "request_policy:multi_shard",
            "response_policy:all_succeeded",
        ]),
    Command::new("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), G, msetnx)
        .key_spec(&["OW", "insert"], ""),
    Command::new("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), G, incr)
        .key_spec(&["RW", "access", "update"], ""),
    Command::new("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), G, decr)
        .key_spec(&["RW", "access", "update"], ""),
    Command::new("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), G, incrby)
        .key_spec(&["RW", "access", "update"], ""),
    Command::new("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), G, decrby)
        .key_spec(&["RW", "access", "update"], ""),
    Command::new(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        G,
        incrbyfloat,
    )
    .key_spec(&["RW", "access", "update"], ""),
    Command::new("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), G, append)
        .key_spec(&["RW", "insert"], ""),
    Command::new("strlen", 2, READONLY | FAST, (1, 1, 1), G, strlen).key_spec(&["RO"], ""),
    Command::new("getrange", 4, READONLY, (1, 1, 1), G, getrange),
    Command::new("setrange", 4, WRITE | DENYOOM, (1, 1, 1), G, setrange)
        .key_spec(&["RW", "update"], ""),
    Command::new("substr", 4, READONLY, (1, 1, 1), G, getrange),
    Command::new("lcs", -3, READONLY, (1, 2, 1), G, lcs),
];

/// Reads a string value: `Ok(None)` when missing, WRONGTYPE for other types.
/// Counts a keyspace hit or miss, as Redis's `lookupKeyRead`.
pub(super) fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    ctx.lookup(key, Lookup::READ)
        .map(|o| o.value.as_str().cloned().ok_or(CmdError::WrongType))
        .transpose()
}

/// Looks a string up for writing (`lookupKeyWrite` + `checkType`): no hit/miss count.
fn write_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    let now = ctx.now_ms;
    ctx.db()
        .get(key, now)
        .map(|o| o.value.as_str().cloned().ok_or(CmdError::WrongType))
        .transpose()
}

fn bulk_or_nil(v: Option<Bytes>) -> Reply {
    v.map_or(Reply::Nil, Reply::Bulk)
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(bulk_or_nil(read_str(ctx, &args[1])?))
}

/// The unit and base of an EX/PX/EXAT/PXAT argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl Unit {
    fn from_kw(arg: &[u8]) -> Option<Unit> {
        [
            ("ex", Unit::Ex),
            ("px", Unit::Px),
            ("exat", Unit::ExAt),
            ("pxat", Unit::PxAt),
        ]
        .into_iter()
        .find(|(kw, _)| is_kw(arg, kw))
        .map(|(_, u)| u)
    }

    fn is_ms(self) -> bool {
        matches!(self, Unit::Px | Unit::PxAt)
    }

    fn is_absolute(self) -> bool {
        matches!(self, Unit::ExAt | Unit::PxAt)
    }
}

/// The options SET and GETEX share, as Redis's `parseExtendedStringArgumentsOrReply`
/// accepts them: a repeated option is fine (`EX 10 EX 20`: the last wins), two
/// options that contradict each other are a syntax error.
#[derive(Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(Unit, &'a Bytes)>,
}

/// Parses the options from `args[start..]`; `set` selects SET's options (NX XX GET
/// KEEPTTL) over GETEX's (PERSIST).
fn parse_ext(args: &[Bytes], start: usize, set: bool) -> Result<ExtOpts<'_>, CmdError> {
    let mut o = ExtOpts::default();
    let mut i = start;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        let unit = Unit::from_kw(a);
        if set && is_kw(a, "nx") && !o.xx {
            o.nx = true;
        } else if set && is_kw(a, "xx") && !o.nx {
            o.xx = true;
        } else if set && is_kw(a, "get") {
            o.get = true;
        } else if set && is_kw(a, "keepttl") && o.expire.is_none() {
            o.keepttl = true;
        } else if !set && is_kw(a, "persist") && o.expire.is_none() {
            o.persist = true;
        } else if let (Some(u), Some(next)) = (unit, next) {
            let same_or_none = o.expire.is_none_or(|(prev, _)| prev == u);
            if o.keepttl || o.persist || !same_or_none {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((u, next));
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// Parses an EX/PX/EXAT/PXAT value into an absolute time, with Redis's checks:
/// non-positive or overflowing values give `invalid expire time in '<cmd>' command`.
pub(super) fn expire_arg(
    ctx: &Ctx,
    cmd: &str,
    unit_ms: bool,
    absolute: bool,
    arg: &[u8],
) -> Result<u64, CmdError> {
    let v = arg_i64(arg)?;
    if v <= 0 {
        return Err(CmdError::InvalidExpire(cmd.into()));
    }
    let ms = if unit_ms {
        Some(v)
    } else {
        v.checked_mul(1000)
    };
    let at = ms.and_then(|ms| {
        if absolute {
            Some(ms)
        } else {
            ms.checked_add(ctx.now_ms as i64)
        }
    });
    match at {
        Some(at) if at > 0 => Ok(at as u64),
        _ => Err(CmdError::InvalidExpire(cmd.into())),
    }
}

/// What a SET-like command does: Redis's `setGenericCommand` arguments.
struct SetReq<'a> {
    cmd: &'static str,
    key: &'a Bytes,
    value: &'a Bytes,
    opts: ExtOpts<'a>,
    ok_reply: Reply,
    abort_reply: Reply,
}

fn set_generic(ctx: &mut Ctx, req: SetReq) -> Result<Reply, CmdError> {
    let SetReq {
        cmd,
        key,
        value,
        opts,
        ok_reply,
        abort_reply,
    } = req;
    let at = match opts.expire {
        Some((u, arg)) => Some(expire_arg(ctx, cmd, u.is_ms(), u.is_absolute(), arg)?),
        None => None,
    };
    let old = if opts.get { read_str(ctx, key)? } else { None };
    let now = ctx.now_ms;
    let found = ctx.db().contains(key, now);
    if (opts.nx && found) || (opts.xx && !found) {
        return Ok(if opts.get {
            bulk_or_nil(old)
        } else {
            abort_reply
        });
    }
    let lru = ctx.lru();
    let db = ctx.db();
    if opts.keepttl {
        db.set_keep_ttl(key, Value::string(value), lru);
    } else {
        db.set(key, Value::string(value), lru);
    }
    if let Some(at) = at {
        db.set_expire(key, at);
    }
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "set", key);
    if at.is_some() {
        ctx.notify(ev::GENERIC, "expire", key);
    }
    Ok(if opts.get { bulk_or_nil(old) } else { ok_reply })
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let opts = parse_ext(args, 3, true)?;
    set_generic(
        ctx,
        SetReq {
            cmd: "set",
            key: &args[1],
            value: &args[2],
            opts,
            ok_reply: Reply::OK,
            abort_reply: Reply::Nil,
        },
    )
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    set_generic(
        ctx,
        SetReq {
            cmd: "setnx",
            key: &args[1],
            value: &args[2],
            opts: ExtOpts {
                nx: true,
                ..Default::default()
            },
            ok_reply: Reply::Int(1),
            abort_reply: Reply::Int(0),
        },
    )
}

/// SETEX and PSETEX: `key ttl value`.
fn set_with_ttl(
    ctx: &mut Ctx,
    args: &[Bytes],
    cmd: &'static str,
    unit: Unit,
) -> Result<Reply, CmdError> {
    set_generic(
        ctx,
        SetReq {
            cmd,
            key: &args[1],
            value: &args[3],
            opts: ExtOpts {
                expire: Some((unit, &args[2])),
                ..Default::default()
            },
            ok_reply: Reply::OK,
            abort_reply: Reply::Nil,
        },
    )
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    set_with_ttl(ctx, args, "setex", Unit::Ex)
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    set_with_ttl(ctx, args, "psetex", Unit::Px)
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let old = read_str(ctx, &args[1])?;
    let lru = ctx.lru();
    ctx.db().set(&args[1], Value::string(&args[2]), lru);
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "set", &args[1]);
    Ok(bulk_or_nil(old))
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let old = read_str(ctx, &args[1])?;
    if old.is_some() && ctx.db().remove(&args[1]).is_some() {
        ctx.store.dirty += 1;
        ctx.notify(ev::GENERIC, "del", &args[1]);
    }
    Ok(bulk_or_nil(old))
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let opts = parse_ext(args, 2, false)?;
    let key = &args[1];
    let Some(value) = read_str(ctx, key)? else {
        return Ok(Reply::Nil);
    };
    let now = ctx.now_ms;
    if let Some((u, arg)) = opts.expire {
        let at = expire_arg(ctx, "getex", u.is_ms(), u.is_absolute(), arg)?;
        let db = ctx.db();
        let event = if u.is_absolute() && at <= now {
            db.remove(key);
            "del"
        } else {
            db.set_expire(key, at);
            "expire"
        };
        ctx.store.dirty += 1;
        ctx.notify(ev::GENERIC, event, key);
    } else if opts.persist && ctx.db().persist(key) {
        ctx.store.dirty += 1;
        ctx.notify(ev::GENERIC, "persist", key);
    }
    Ok(Reply::Bulk(value))
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    let mut out = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        let found = ctx.db().get(key, now).map(|o| o.value.as_str().cloned());
        ctx.count_lookup(found.is_some());
        out.push(bulk_or_nil(found.flatten()));
    }
    Ok(Reply::Array(out))
}

fn mset_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Result<Reply, CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(
            if nx { "msetnx" } else { "mset" }.into(),
        ));
    }
    let now = ctx.now_ms;
    if nx && args[1..].chunks(2).any(|kv| ctx.db().contains(&kv[0], now)) {
        return Ok(Reply::Int(0));
    }
    let lru = ctx.lru();
    for kv in args[1..].chunks(2) {
        ctx.db().set(&kv[0], Value::string(&kv[1]), lru);
        ctx.notify(ev::STRING, "set", &kv[0]);
    }
    ctx.store.dirty += (args.len() as u64 - 1) / 2;
    Ok(if nx { Reply::Int(1) } else { Reply::OK })
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    mset_generic(ctx, args, false)
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    mset_generic(ctx, args, true)
}

/// INCR, DECR, INCRBY, DECRBY: Redis's `incrDecrCommand`. The TTL is kept.
fn incr_by(ctx: &mut Ctx, key: &Bytes, incr: i64) -> Result<Reply, CmdError> {
    let old = match write_str(ctx, key)? {
        Some(s) => crate::num::parse_i64(&s).ok_or(CmdError::NotInteger)?,
        None => 0,
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    let lru = ctx.lru();
    ctx.db()
        .set_keep_ttl(key, Value::string_owned(i64_bytes(new)), lru);
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "incrby", key);
    Ok(Reply::Int(new))
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let incr = arg_i64(&args[2])?;
    incr_by(ctx, &args[1], incr)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let decr = arg_i64(&args[2])?;
    if decr == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ctx, &args[1], -decr)
}

/// INCRBYFLOAT in `long double`, as Redis computes it (see `num::ld`). The result is
/// stored as a plain string (never int-encoded) and the TTL is kept.
fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &args[1];
    let old = match write_str(ctx, key)? {
        Some(s) => LongDouble::parse(&s).ok_or(CmdError::NotFloat)?,
        None => LongDouble::ZERO,
    };
    let incr = LongDouble::parse(&args[2]).ok_or(CmdError::NotFloat)?;
    let new = old
        .checked_add(incr)
        .ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?;
    let text = Bytes::from(new.to_human());
    let lru = ctx.lru();
    ctx.db()
        .set_keep_ttl(key, Value::string_enc(text.clone(), StrEnc::NoInt), lru);
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "incrbyfloat", key);
    Ok(Reply::Bulk(text))
}

/// Redis's `checkStringLength`: `ERR string exceeds maximum allowed size`.
fn check_len(ctx: &Ctx, size: u64, append: u64) -> Result<(), CmdError> {
    match size.checked_add(append) {
        Some(total) if total <= ctx.store.params.proto_max_bulk_len as u64 => Ok(()),
        _ => Err(CmdError::StringTooLong),
    }
}

/// The existing string at `key` for in-place modification, with its LRU clock
/// refreshed; WRONGTYPE for other types, `ERR no such key` if it is missing (callers
/// have checked that it exists).
fn str_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut StrValue, CmdError> {
    let (now, lru) = (ctx.now_ms, ctx.lru());
    let obj = ctx.db().get_mut(key, now).ok_or(CmdError::NoSuchKey)?;
    obj.lru = lru;
    obj.value.as_str_mut().ok_or(CmdError::WrongType)
}

/// Turns a string into a growable buffer (without copying when nothing else holds
/// it), applies `edit`, and stores the result back as a `raw` string, as Redis's
/// `dbUnshareStringValue` leaves it (APPEND, SETRANGE, SETBIT, BITFIELD, PFADD).
pub(super) fn edit_raw<R>(s: &mut StrValue, edit: impl FnOnce(&mut BytesMut) -> R) -> R {
    let mut buf = std::mem::take(&mut s.data)
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    let out = edit(&mut buf);
    s.data = buf.freeze();
    s.enc = StrEnc::Raw;
    out
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (key, tail) = (&args[1], &args[2]);
    let cur = write_str(ctx, key)?.map(|s| s.len());
    let len = match cur {
        None => {
            let lru = ctx.lru();
            ctx.db().set(key, Value::string(tail), lru);
            tail.len()
        }
        Some(cur) => {
            check_len(ctx, cur as u64, tail.len() as u64)?;
            edit_raw(str_mut(ctx, key)?, |b| {
                b.extend_from_slice(tail);
                b.len()
            })
        }
    };
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "append", key);
    Ok(Reply::Int(len as i64))
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let len = read_str(ctx, &args[1])?.map_or(0, |s| s.len());
    Ok(Reply::Int(len as i64))
}

/// GETRANGE and SUBSTR: inclusive byte range with negative indexes from the end.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let start = arg_i64(&args[2])?;
    let end = arg_i64(&args[3])?;
    let Some(s) = read_str(ctx, &args[1])? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    Ok(Reply::Bulk(
        byte_range(s.len(), start, end).map_or_else(Bytes::new, |r| s.slice(r)),
    ))
}

/// The slice GETRANGE returns for a string of `len` bytes, `None` when empty.
fn byte_range(len: usize, start: i64, end: i64) -> Option<std::ops::Range<usize>> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        None
    } else {
        Some(start as usize..end as usize + 1)
    }
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (key, value) = (&args[1], &args[3]);
    let offset = arg_i64(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as u64;
    let write = |b: &mut BytesMut| {
        let off = offset as usize;
        if b.len() < off + value.len() {
            b.resize(off + value.len(), 0);
        }
        b[off..off + value.len()].copy_from_slice(value);
        b.len()
    };
    let len = match write_str(ctx, key)? {
        None => {
            if value.is_empty() {
                return Ok(Reply::Int(0));
            }
            check_len(ctx, offset, value.len() as u64)?;
            let mut buf = BytesMut::new();
            let len = write(&mut buf);
            let lru = ctx.lru();
            ctx.db()
                .set(key, Value::string_enc(buf.freeze(), StrEnc::Raw), lru);
            len
        }
        Some(cur) => {
            if value.is_empty() {
                return Ok(Reply::Int(cur.len() as i64));
            }
            check_len(ctx, offset, value.len() as u64)?;
            drop(cur);
            edit_raw(str_mut(ctx, key)?, write)
        }
    };
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "setrange", key);
    Ok(Reply::Int(len as i64))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN].
fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let a = read_str(ctx, &args[1]);
    let b = read_str(ctx, &args[2]);
    let (Ok(a), Ok(b)) = (a, b) else {
        return Err(CmdError::err(
            "The specified keys must contain string values",
        ));
    };
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen = 0u64;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        if is_kw(opt, "idx") {
            getidx = true;
        } else if is_kw(opt, "len") {
            getlen = true;
        } else if is_kw(opt, "withmatchlen") {
            withmatchlen = true;
        } else if is_kw(opt, "minmatchlen") && i + 1 < args.len() {
            minmatchlen = arg_i64(&args[i + 1])?.max(0) as u64;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if getlen && getidx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.store.params.proto_max_bulk_len as u64 {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let table = LcsTable::new(&a, &b);
    if getlen && !getidx {
        return Ok(Reply::Int(table.len() as i64));
    }
    let (common, matches) = table.backtrack(minmatchlen);
    if !getidx {
        return Ok(Reply::Bulk(Bytes::from(common)));
    }
    let matches = matches
        .into_iter()
        .map(|m| {
            let mut item = vec![
                Reply::Array(vec![Reply::Int(m.a.0 as i64), Reply::Int(m.a.1 as i64)]),
                Reply::Array(vec![Reply::Int(m.b.0 as i64), Reply::Int(m.b.1 as i64)]),
            ];
            if withmatchlen {
                item.push(Reply::Int(m.len as i64));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Reply::Map(vec![
        (Reply::bulk_from(b"matches"), Reply::Array(matches)),
        (Reply::bulk_from(b"len"), Reply::Int(table.len() as i64)),
    ]))
}

/// One matching range of an LCS: inclusive byte ranges in each string.
#[derive(Debug, PartialEq, Eq)]
struct LcsMatch {
    a: (usize, usize),
    b: (usize, usize),
    len: usize,
}

/// The dynamic-programming table of LCS lengths: `cell(i, j)` is the length of the
/// LCS of `a[..i]` and `b[..j]`.
struct LcsTable<'a> {
    a: &'a [u8],
    b: &'a [u8],
    cells: Vec<u32>,
}

impl<'a> LcsTable<'a> {
    fn new(a: &'a [u8], b: &'a [u8]) -> LcsTable<'a> {
        let w = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * w];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * w + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * w + j - 1] + 1
                } else {
                    cells[(i - 1) * w + j].max(cells[i * w + j - 1])
                };
            }
        }
        LcsTable { a, b, cells }
    }

    fn cell(&self, i: usize, j: usize) -> u32 {
        self.cells[i * (self.b.len() + 1) + j]
    }

    fn len(&self) -> u32 {
        self.cell(self.a.len(), self.b.len())
    }

    /// Walks back from the end, as Redis does, collecting the common subsequence and
    /// the contiguous matching ranges (last first) at least `minmatchlen` long.
    fn backtrack(&self, minmatchlen: u64) -> (Vec<u8>, Vec<LcsMatch>) {
        let (a, b) = (self.a, self.b);
        let mut idx = self.len() as usize;
        let mut common = vec![0u8; idx];
        let mut matches = Vec::new();
        // The range being tracked, as (a_start, a_end, b_start, b_end).
        let mut range: Option<(usize, usize, usize, usize)> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                common[idx - 1] = a[i - 1];
                match &mut range {
                    None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                    Some((a_start, _, b_start, _)) if *a_start == i && *b_start == j => {
                        *a_start -= 1;
                        *b_start -= 1;
                    }
                    Some(_) => emit = true,
                }
                if range.is_some_and(|r| r.0 == 0 || r.2 == 0) {
                    emit = true;
                }
                idx -= 1;
                i -= 1;
                j -= 1;
            } else {
                if self.cell(i - 1, j) > self.cell(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = range.is_some();
            }
            if emit {
                if let Some((a0, a1, b0, b1)) = range.take() {
                    let len = a1 - a0 + 1;
                    if minmatchlen == 0 || len as u64 >= minmatchlen {
                        matches.push(LcsMatch {
                            a: (a0, a1),
                            b: (b0, b1),
                            len,
                        });
                    }
                }
            }
        }
        (common, matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(a: (usize, usize), b: (usize, usize)) -> LcsMatch {
        LcsMatch {
            a,
            b,
            len: a.1 - a.0 + 1,
        }
    }

    #[test]
    fn lcs_matches_redis_examples() {
        let t = LcsTable::new(b"ohmytext", b"mynewtext");
        assert_eq!(t.len(), 6);
        let (common, matches) = t.backtrack(0);
        assert_eq!(common, b"mytext");
        assert_eq!(matches, vec![m((4, 7), (5, 8)), m((2, 3), (0, 1))]);
        assert_eq!(t.backtrack(4).1, vec![m((4, 7), (5, 8))]);

        let t = LcsTable::new(b"ABCBDAB", b"BDCABA");
        assert_eq!(t.len(), 4);
        assert_eq!(t.backtrack(0).0.len(), 4);

        let t = LcsTable::new(b"", b"abc");
        assert_eq!(t.len(), 0);
        assert_eq!(t.backtrack(0), (vec![], vec![]));
    }

    #[test]
    fn getrange_indexes() {
        assert_eq!(byte_range(11, 0, 4), Some(0..5));
        assert_eq!(byte_range(11, -5, -1), Some(6..11));
        assert_eq!(byte_range(11, 0, i64::MAX), Some(0..11));
        assert_eq!(byte_range(11, i64::MIN, i64::MAX), Some(0..11));
        assert_eq!(byte_range(11, -1, -5), None);
        assert_eq!(byte_range(11, 5, 3), None);
        assert_eq!(byte_range(0, 0, -1), None);
        assert_eq!(byte_range(11, -100, -100), Some(0..1));
    }
}
