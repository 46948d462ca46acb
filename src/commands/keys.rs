//! Generic key commands (Redis's `db.c`, `expire.c` and OBJECT from `object.c`).
//!
//! Nothing here matches on a value's type except through [`Value::type_name`],
//! [`Value::encoding`] and `Clone`, so a new value type needs no change in this file.
//! Each handler looks keys up the way its Redis counterpart does (see [`Lookup`]):
//! that decides whether the hit or miss is counted in INFO and whether the key's
//! access clock moves, both of which clients can observe.

use bytes::Bytes;

use super::table::{flags::*, Command, KeySpec};
use super::{arg_i64, is_kw, lossy, CmdError, Ctx, Lookup};
use crate::glob::glob_match;
use crate::num::parse_i64;
use crate::resp::Reply;
use crate::store::notify as ev;
use crate::store::{AccessClock, Db, Value};

const G: &str = "generic";
const NK: (i32, i32, i32) = (0, 0, 0);

pub(super) const COMMANDS: &[Command] = &[
    Command::new("del", -2, WRITE | SPLIT, (1, -1, 1), G, del)
        .doc("1.0.0", "Delete a key")
        .key_spec(&["RM", "delete"], "")
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
    Command::new("unlink", -2, WRITE | FAST | SPLIT, (1, -1, 1), G, del).key_spec(&["RM", "delete"], "").doc(
        "4.0.0",
        "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
    ),
    Command::new("exists", -2, READONLY | FAST | SPLIT, (1, -1, 1), G, exists).key_spec(&["RO"], "")
        .doc("1.0.0", "Determine if a key exists"),
    Command::new("touch", -2, READONLY | FAST | SPLIT, (1, -1, 1), G, touch).key_spec(&["RO"], "").doc(
        "3.2.1",
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
    ),
    Command::new("type", 2, READONLY | FAST, (1, 1, 1), G, type_cmd).key_spec(&["RO"], "")
        .doc("1.0.0", "Determine the type stored at key"),
    Command::new("expire", -3, WRITE | FAST, (1, 1, 1), G, expire).key_spec(&["RW", "update"], "")
        .doc("1.0.0", "Set a key's time to live in seconds"),
    Command::new("pexpire", -3, WRITE | FAST, (1, 1, 1), G, expire).key_spec(&["RW", "update"], "")
        .doc("2.6.0", "Set a key's time to live in milliseconds"),
    Command::new("expireat", -3, WRITE | FAST, (1, 1, 1), G, expire).key_spec(&["RW", "update"], "")
        .doc("1.2.0", "Set the expiration for a key as a UNIX timestamp"),
    Command::new("pexpireat", -3, WRITE | FAST, (1, 1, 1), G, expire).key_spec(&["RW", "update"], "").doc(
        "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    ),
    Command::new("ttl", 2, READONLY | FAST, (1, 1, 1), G, ttl)
        .doc("1.0.0", "Get the time to live for a key in seconds"),
    Command::new("pttl", 2, READONLY | FAST, (1, 1, 1), G, ttl)
        .doc("2.6.0", "Get the time to live for a key in milliseconds"),
    Command::new("expiretime", 2, READONLY | FAST, (1, 1, 1), G, ttl)
        .doc("7.0.0", "Get the expiration Unix timestamp for a key"),
    Command::new("pexpiretime", 2, READONLY | FAST, (1, 1, 1), G, ttl)
        .doc("7.0.0", "Get the expiration Unix timestamp for a key in milliseconds"),
    Command::new("persist", 2, WRITE | FAST, (1, 1, 1), G, persist).key_spec(&["RW", "update"], "")
        .doc("2.2.0", "Remove the expiration from a key"),
    Command::new("rename", 3, WRITE, (1, 2, 1), G, rename).key_specs(&[
        KeySpec::at(1, &["RW", "access", "delete"]),
        KeySpec::at(2, &["OW", "update"]),
    ]).doc("1.0.0", "Rename a key"),
    Command::new("renamenx", 3, WRITE | FAST, (1, 2, 1), G, rename).key_specs(&[
        KeySpec::at(1, &["RW", "access", "delete"]),
        KeySpec::at(2, &["OW", "insert"]),
    ])
        .doc("1.0.0", "Rename a key, only if the new key does not exist"),
    Command::new("copy", -3, WRITE | DENYOOM, (1, 2, 1), G, copy).key_specs(&[
        KeySpec::at(1, &["RO", "access"]),
        KeySpec::at(2, &["OW", "update"]),
    ]).doc("6.2.0", "Copy a key"),
    Command::new("move", 3, WRITE | FAST, (1, 1, 1), G, move_cmd).key_spec(&["RW", "access", "update"], "")
        .doc("1.0.0", "Move a key to another database"),
    Command::new("keys", 2, READONLY, NK, G, keys)
        .doc("1.0.0", "Find all keys matching the given pattern"),
    Command::new("scan", -2, READONLY, NK, G, scan)
        .doc("2.8.0", "Incrementally iterate the keys space"),
    Command::new("randomkey", 1, READONLY, NK, G, randomkey)
        .doc("1.0.0", "Return a random key from the keyspace"),
    Command::new("swapdb", 3, WRITE | FAST, NK, G, swapdb)
        .doc("4.0.0", "Swaps two Redis databases"),
    Command::new("object", -2, 0, NK, G, object_help)
        .doc("2.2.3", "A container for object introspection commands")
        .sub(OBJECT_SUBS),
];

const OBJECT_SUBS: &[Command] = &[
    Command::new("encoding", 3, READONLY, (2, 2, 1), G, object)
        .key_spec(&["RO"], "")
        .doc("2.2.3", "Inspect the internal encoding of a Redis object"),
    Command::new("freq", 3, READONLY, (2, 2, 1), G, object)
        .key_spec(&["RO"], "")
        .doc(
            "4.0.0",
            "Get the logarithmic access frequency counter of a Redis object",
        ),
    Command::new("idletime", 3, READONLY, (2, 2, 1), G, object)
        .key_spec(&["RO"], "")
        .doc(
            "2.2.3",
            "Get the time since a Redis object was last accessed",
        ),
    Command::new("refcount", 3, READONLY, (2, 2, 1), G, object)
        .key_spec(&["RO"], "")
        .doc(
            "2.2.3",
            "Get the number of references to the value of the key",
        ),
    Command::new("help", 2, LOADING | STALE, NK, G, object_help)
        .doc("6.2.0", "Show helpful text about the different subcommands"),
];

// ---- DEL UNLINK EXISTS TOUCH TYPE ----

/// DEL and UNLINK (redmite frees values in place either way).
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    let mut n = 0;
    for key in &args[1..] {
        let db = ctx.db();
        db.expire_if_needed(key, now);
        if db.remove(key).is_some() {
            n += 1;
            ctx.modified(key);
            ctx.notify(ev::GENERIC, "del", key);
        }
    }
    ctx.store.dirty += n as u64;
    Ok(Reply::Int(n))
}

fn count_found(ctx: &mut Ctx, keys: &[Bytes], how: Lookup) -> i64 {
    keys.iter().filter(|k| ctx.lookup(k, how).is_some()).count() as i64
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(count_found(
        ctx,
        &args[1..],
        Lookup::READ_NO_TOUCH,
    )))
}

fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(count_found(ctx, &args[1..], Lookup::TOUCH)))
}

fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Status(
        ctx.lookup(&args[1], Lookup::READ_NO_TOUCH)
            .map_or("none", |o| o.value.type_name()),
    ))
}

// ---- EXPIRE family, TTL family, PERSIST ----

/// EXPIRE's conditions on the key's current TTL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    /// Parses the options after the time, with Redis's texts for unknown and
    /// conflicting ones (checked before the time itself is parsed).
    fn parse(opts: &[Bytes]) -> Result<ExpireCond, CmdError> {
        let mut c = ExpireCond::default();
        for o in opts {
            if is_kw(o, "nx") {
                c.nx = true;
            } else if is_kw(o, "xx") {
                c.xx = true;
            } else if is_kw(o, "gt") {
                c.gt = true;
            } else if is_kw(o, "lt") {
                c.lt = true;
            } else {
                return Err(CmdError::err(format!("Unsupported option {}", lossy(o))));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a new expiry time `when` may replace `current` (None = no TTL, which
    /// GT and LT treat as infinite).
    fn allows(&self, current: Option<i64>, when: i64) -> bool {
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.is_none_or(|cur| when <= cur))
            || (self.lt && current.is_some_and(|cur| when >= cur)))
    }
}

/// The absolute expiry time in ms for an EXPIRE-family argument `v`, or None when it
/// overflows. Negative results are allowed: they mean "already expired".
fn expire_when(v: i64, seconds: bool, base_ms: i64) -> Option<i64> {
    let ms = if seconds { v.checked_mul(1000)? } else { v };
    // Redis checks only the upper bound of the addition (`when > LLONG_MAX - basetime`).
    ms.checked_add(base_ms)
}

/// EXPIRE PEXPIRE EXPIREAT PEXPIREAT, told apart by name like Redis's
/// `expireGenericCommand` callers.
fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let name = args[0].to_ascii_lowercase();
    let seconds = !name.starts_with(b"p");
    let absolute = name.ends_with(b"at");
    let cmd = String::from_utf8_lossy(&name).into_owned();
    let cond = ExpireCond::parse(&args[3..])?;
    let v = arg_i64(&args[2])?;
    let base = if absolute { 0 } else { ctx.now_ms as i64 };
    let when = expire_when(v, seconds, base).ok_or(CmdError::InvalidExpire(cmd))?;
    let key = &args[1];
    if ctx.lookup(key, Lookup::WRITE).is_none() {
        return Ok(Reply::Int(0));
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    let current = db.expire_at(key).map(|at| at as i64);
    if !cond.allows(current, when) {
        return Ok(Reply::Int(0));
    }
    let event = if when <= now as i64 {
        db.remove(key);
        "del"
    } else {
        db.set_expire(key, when as u64);
        "expire"
    };
    ctx.store.dirty += 1;
    ctx.notify(ev::GENERIC, event, key);
    Ok(Reply::Int(1))
}

/// TTL PTTL EXPIRETIME PEXPIRETIME.
fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let name = args[0].to_ascii_lowercase();
    let ms = name.starts_with(b"p");
    let absolute = name.ends_with(b"time");
    if ctx.lookup(&args[1], Lookup::READ_NO_TOUCH).is_none() {
        return Ok(Reply::Int(-2));
    }
    let now = ctx.now_ms as i64;
    let Some(at) = ctx.db().expire_at(&args[1]) else {
        return Ok(Reply::Int(-1));
    };
    let at = at as i64;
    let t = if absolute { at } else { (at - now).max(0) };
    Ok(Reply::Int(if ms { t } else { (t + 500) / 1000 }))
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if ctx.lookup(&args[1], Lookup::WRITE).is_none() || !ctx.db().persist(&args[1]) {
        return Ok(Reply::Int(0));
    }
    ctx.store.dirty += 1;
    ctx.notify(ev::GENERIC, "persist", &args[1]);
    Ok(Reply::Int(1))
}

// ---- RENAME RENAMENX COPY MOVE ----

/// RENAME and RENAMENX. The value keeps its TTL; an overwritten destination loses its
/// own.
fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let nx = args[0].eq_ignore_ascii_case(b"renamenx");
    let (from, to) = (&args[1], &args[2]);
    if ctx.lookup(from, Lookup::WRITE).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    let done = if nx { Reply::Int(1) } else { Reply::OK };
    if from == to {
        return Ok(if nx { Reply::Int(0) } else { Reply::OK });
    }
    if ctx.lookup(to, Lookup::WRITE).is_some() && nx {
        return Ok(Reply::Int(0));
    }
    let db = ctx.db();
    if let Some((obj, at)) = db.take(from) {
        db.put(to, obj, at);
    }
    ctx.store.dirty += 1;
    ctx.notify(ev::GENERIC, "rename_from", from);
    ctx.notify(ev::GENERIC, "rename_to", to);
    Ok(done)
}

/// A database index argument of COPY and MOVE: an int, then a range check.
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let id = arg_i64(arg)?;
    let id = i32::try_from(id).map_err(|_| CmdError::NotInteger)?;
    usize::try_from(id)
        .ok()
        .filter(|&i| i < ctx.store.dbs.len())
        .ok_or(CmdError::DbIndexOutOfRange)
}

const SAME_OBJECT: &str = "source and destination objects are the same";

fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is_kw(&args[i], "replace") {
            replace = true;
        } else if is_kw(&args[i], "db") && i + 1 < args.len() {
            dst_db = db_index(ctx, &args[i + 1])?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (key, newkey) = (&args[1], &args[2]);
    if src_db == dst_db && key == newkey {
        return Err(CmdError::err(SAME_OBJECT));
    }
    let Some(obj) = ctx.lookup(key, Lookup::READ) else {
        return Ok(Reply::Int(0));
    };
    let value = obj.value.clone();
    let at = ctx.db().expire_at(key);
    if ctx.lookup_in(dst_db, newkey, Lookup::WRITE).is_some() && !replace {
        return Ok(Reply::Int(0));
    }
    // The copy is a new object, so its access clock starts now.
    let lru = ctx.lru();
    ctx.store.dbs[dst_db].put(newkey, crate::store::Object { value, lru }, at);
    ctx.store.key_modified(dst_db, newkey, ctx.client.id);
    ctx.store.dirty += 1;
    ctx.notify_in(dst_db, ev::GENERIC, "copy_to", newkey);
    Ok(Reply::Int(1))
}

fn move_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let src_db = ctx.client.db;
    let dst_db = db_index(ctx, &args[2])?;
    if src_db == dst_db {
        return Err(CmdError::err(SAME_OBJECT));
    }
    let key = &args[1];
    if ctx.lookup(key, Lookup::WRITE).is_none() {
        return Ok(Reply::Int(0));
    }
    if ctx.lookup_in(dst_db, key, Lookup::WRITE).is_some() {
        return Ok(Reply::Int(0));
    }
    if let Some((obj, at)) = ctx.db().take(key) {
        ctx.store.dbs[dst_db].put(key, obj, at);
    }
    ctx.store.key_modified(dst_db, key, ctx.client.id);
    ctx.store.dirty += 1;
    ctx.notify(ev::GENERIC, "move_from", key);
    ctx.notify_in(dst_db, ev::GENERIC, "move_to", key);
    Ok(Reply::Int(1))
}

// ---- KEYS SCAN RANDOMKEY SWAPDB ----

fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let now = ctx.now_ms;
    let db = ctx.db();
    let found: Vec<Bytes> = db
        .data
        .iter()
        .map(|(k, _)| k)
        .filter(|k| (all || glob_match(pattern, k, false)) && !db.is_expired(k, now))
        .cloned()
        .collect();
    Ok(Reply::bulks(found))
}

/// Parses a SCAN cursor like Redis's `strtoul` check: decimal, an optional sign (a
/// negative value wraps, so `-1` is the largest cursor), no leading space, nothing
/// after the digits, no overflow. An empty string is cursor 0, as in Redis.
pub(super) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul consumed nothing: the end pointer is the start of the string.
        return arg.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

fn scan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut cursor = parse_cursor(&args[1]).ok_or_else(|| CmdError::err("invalid cursor"))?;
    let opts = super::hash::ScanOpts::parse_with(&args[2..], true)?;
    let count = i64::try_from(opts.count).unwrap_or(i64::MAX);
    let (pattern, type_name) = (opts.pattern, opts.type_name);

    // Visit buckets until about COUNT keys were seen or the cursor wraps, giving up
    // after 10 x COUNT calls on a sparse table, as Redis does.
    let mut found: Vec<Bytes> = Vec::new();
    let mut budget = count.saturating_mul(10);
    let db = ctx.db();
    loop {
        cursor = db.data.scan(cursor, |k, _| found.push(k.clone()));
        if cursor == 0 || budget == 0 || found.len() as i64 >= count {
            break;
        }
        budget -= 1;
    }

    let now = ctx.now_ms;
    found.retain(|k| pattern.is_none_or(|p| glob_match(p, k, false)));
    if let Some(t) = type_name {
        // Redis looks each key up (counting a hit or miss) to read its type.
        found.retain(|k| {
            let actual = ctx
                .lookup(k, Lookup::READ_NO_TOUCH)
                .map_or("none", |o| o.value.type_name());
            t.eq_ignore_ascii_case(actual.as_bytes())
        });
    }
    let db = ctx.db();
    found.retain(|k| !db.expire_if_needed(k, now));
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::bulks(found),
    ]))
}

/// A random live key. Expired keys drawn on the way are deleted, so the loop ends
/// after at most one draw per key even when most keys have expired.
fn random_key(db: &mut Db, now: u64) -> Option<Bytes> {
    let mut rng = rand::rng();
    loop {
        let key = db.data.random_entry(&mut rng)?.0.clone();
        if !db.expire_if_needed(&key, now) {
            return Some(key);
        }
    }
}

fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let now = ctx.now_ms;
    Ok(random_key(ctx.db(), now).map_or(Reply::Nil, Reply::Bulk))
}

fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let index = |arg: &[u8], which: &str| {
        parse_i64(arg)
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| CmdError::err(format!("invalid {which} DB index")))
    };
    let a = index(&args[1], "first")?;
    let b = index(&args[2], "second")?;
    let n = ctx.store.dbs.len();
    let (Some(a), Some(b)) = (
        usize::try_from(a).ok().filter(|&a| a < n),
        usize::try_from(b).ok().filter(|&b| b < n),
    ) else {
        return Err(CmdError::DbIndexOutOfRange);
    };
    let now = ctx.now_ms;
    ctx.store
        .watch
        .touch_all_in_db(&ctx.store.dbs, a, Some(b), now);
    ctx.store
        .watch
        .touch_all_in_db(&ctx.store.dbs, b, Some(a), now);
    // Clients keep their selected index and so see the other database's data.
    ctx.store.dbs.swap(a, b);
    ctx.store.dirty += 1;
    Ok(Reply::OK)
}

// ---- OBJECT ----

/// Redis's `OBJ_SHARED_INTEGERS`: integers below this are one shared object.
const SHARED_INTEGERS: i64 = 10_000;

/// The refcount Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

const LFU_ONLY: &str = "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LRU_ONLY: &str = "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT.
fn object(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let clock = ctx.clock();
    let p = &ctx.store.params;
    // Redis shares small integers unless an LRU/LFU eviction policy needs
    // per-object access clocks.
    let shares_ints = p.maxmemory == 0 || !p.maxmemory_policy.contains("-l");
    let Some(obj) = ctx.lookup(&args[2], Lookup::READ_NO_TOUCH) else {
        return Ok(Reply::Nil);
    };
    let sub = args[1].to_ascii_lowercase();
    Ok(match &sub[..] {
        b"encoding" => Reply::Bulk(Bytes::from_static(obj.value.encoding().as_bytes())),
        b"refcount" => Reply::Int(if shares_ints && is_shared_int(&obj.value) {
            SHARED_REFCOUNT
        } else {
            1
        }),
        b"idletime" => match clock {
            AccessClock::Lfu { .. } => return Err(CmdError::err(LRU_ONLY)),
            AccessClock::Lru { .. } => Reply::Int((clock.idle_ms(obj.lru) / 1000) as i64),
        },
        _ => match clock {
            AccessClock::Lru { .. } => return Err(CmdError::err(LFU_ONLY)),
            AccessClock::Lfu { .. } => Reply::Int(clock.freq(obj.lru) as i64),
        },
    })
}

fn is_shared_int(v: &Value) -> bool {
    v.encoding() == "int"
        && v.as_str()
            .and_then(|s| parse_i64(s))
            .is_some_and(|n| (0..SHARED_INTEGERS).contains(&n))
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        OBJECT_HELP.iter().map(|l| Reply::Status(l)).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Client;
    use crate::params::Params;
    use crate::store::Store;

    /// Runs `f` with a context over a fresh store at time `now_ms`.
    fn with_ctx<R>(now_ms: u64, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let mut store = Store::new(Params::default(), 0);
        let mut client = Client::new(1, "a".into(), "b".into(), now_ms, true);
        let mut ctx = Ctx::new(&mut store, &mut client, now_ms);
        f(&mut ctx)
    }

    fn run(ctx: &mut Ctx, line: &str) -> Reply {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect();
        let entry = crate::commands::dispatch::resolve(&args).expect("known command");
        (entry.cmd.handler)(ctx, &args).unwrap_or_else(CmdError::into_reply)
    }

    fn set(ctx: &mut Ctx, key: &str, lru: u32, expire_at: Option<u64>) {
        let key = Bytes::from(key.to_string());
        ctx.db().put(
            &key,
            crate::store::Object {
                value: Value::string(&Bytes::from_static(b"v")),
                lru,
            },
            expire_at,
        );
    }

    fn lru_of(ctx: &mut Ctx, key: &str) -> u32 {
        ctx.db().data.get(key.as_bytes()).map_or(0, |o| o.lru)
    }

    #[test]
    fn no_touch_clients_leave_the_clock_except_for_touch() {
        with_ctx(50_000, |ctx| {
            set(ctx, "k", 0, None);
            ctx.client.no_touch = true;
            run(ctx, "expire k 100");
            run(ctx, "copy k k2");
            assert_eq!(lru_of(ctx, "k"), 0);
            assert_eq!(run(ctx, "object idletime k"), Reply::Int(50));
            assert_eq!(run(ctx, "touch k"), Reply::Int(1));
            assert_eq!(lru_of(ctx, "k"), 50);
            ctx.client.no_touch = false;
            set(ctx, "k", 0, None);
            run(ctx, "persist k");
            assert_eq!(lru_of(ctx, "k"), 50, "write lookups touch");
            set(ctx, "k", 0, None);
            run(ctx, "exists k");
            run(ctx, "type k");
            run(ctx, "ttl k");
            run(ctx, "object encoding k");
            assert_eq!(lru_of(ctx, "k"), 0, "NOTOUCH lookups");
        });
    }

    #[test]
    fn read_lookups_count_hits_and_misses() {
        with_ctx(1_000, |ctx| {
            set(ctx, "k", 0, None);
            run(ctx, "exists k missing");
            run(ctx, "type k");
            run(ctx, "pttl missing");
            run(ctx, "object refcount k");
            // Write lookups and DEL do not count.
            run(ctx, "expire k 10");
            run(ctx, "del missing");
            assert_eq!(ctx.store.stats.keyspace_hits, 3);
            assert_eq!(ctx.store.stats.keyspace_misses, 2);
        });
    }

    #[test]
    fn randomkey_deletes_expired_draws_and_ends() {
        with_ctx(1_000, |ctx| {
            for i in 0..50 {
                set(ctx, &format!("gone{i}"), 0, Some(999));
            }
            assert_eq!(run(ctx, "randomkey"), Reply::Nil);
            assert!(ctx.db().is_empty());
            assert_eq!(ctx.db().expired, 50);
            set(ctx, "live", 0, None);
            set(ctx, "dead", 0, Some(1));
            assert_eq!(run(ctx, "randomkey"), Reply::bulk(&b"live"[..]));
        });
    }

    /// Runs SCAN with `opts` from cursor 0 until it wraps; returns every key seen,
    /// failing if one comes back twice.
    fn scan_cycle(ctx: &mut Ctx, opts: &str) -> std::collections::BTreeSet<Bytes> {
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = "0".to_string();
        loop {
            let Reply::Array(parts) = run(ctx, &format!("scan {cursor} {opts}")) else {
                panic!("scan reply is an array");
            };
            let [Reply::Bulk(c), Reply::Array(keys)] = &parts[..] else {
                panic!("cursor and keys");
            };
            for k in keys {
                let Reply::Bulk(k) = k else {
                    panic!("bulk key")
                };
                assert!(seen.insert(k.clone()), "{k:?} returned twice");
            }
            cursor = String::from_utf8_lossy(c).into_owned();
            if cursor == "0" {
                return seen;
            }
        }
    }

    #[test]
    fn scan_visits_every_key_once_per_cycle() {
        with_ctx(1_000, |ctx| {
            for i in 0..100 {
                set(ctx, &format!("k{i}"), 0, None);
            }
            assert_eq!(scan_cycle(ctx, "count 7").len(), 100);
            assert_eq!(scan_cycle(ctx, "count 3 match k1*").len(), 11);
        });
    }

    #[test]
    fn scan_filters_and_deletes_expired_keys() {
        with_ctx(1_000, |ctx| {
            for i in 0..100 {
                let at = (i % 10 == 0).then_some(500);
                set(ctx, &format!("k{i}"), 0, at);
            }
            // One call covers everything, so the deletions cannot disturb the cursor
            // of the temporary Dict (the real one tolerates them mid-cycle too).
            let seen = scan_cycle(ctx, "count 1000");
            assert_eq!(seen.len(), 90);
            assert!(seen.iter().all(|k| !k.ends_with(b"0")));
            assert_eq!(ctx.db().len(), 90);
            assert_eq!(ctx.db().expired, 10);
        });
    }

    #[test]
    fn expire_in_the_past_deletes_and_counts_as_a_change() {
        with_ctx(10_000, |ctx| {
            set(ctx, "k", 0, None);
            let dirty = ctx.store.dirty;
            assert_eq!(run(ctx, "pexpireat k 10000"), Reply::Int(1));
            assert!(ctx.db().is_empty());
            assert_eq!(ctx.store.dirty, dirty + 1);
            assert_eq!(ctx.db().expired, 0, "a DEL, not an expiry");
        });
    }

    #[test]
    fn scan_cursor_parses_like_strtoul() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("", Some(0)),
            ("17", Some(17)),
            ("+17", Some(17)),
            ("-1", Some(u64::MAX)),
            ("-0", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("-18446744073709551616", None),
            ("1.5", None),
            ("x", None),
            (" 1", None),
            ("1 ", None),
            ("-", None),
            ("+", None),
            ("0x10", None),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_cursor(s.as_bytes()), want, "{s:?}");
        }
    }

    #[test]
    fn expire_time_overflow() {
        assert_eq!(expire_when(100, true, 1_000), Some(101_000));
        assert_eq!(expire_when(-1, true, 1_000), Some(0));
        assert_eq!(expire_when(i64::MAX / 1000 + 1, true, 0), None);
        assert_eq!(expire_when(i64::MIN / 1000 - 1, true, 0), None);
        assert_eq!(expire_when(i64::MAX, false, 1), None);
        assert_eq!(expire_when(i64::MAX, false, 0), Some(i64::MAX));
        assert_eq!(expire_when(i64::MIN, false, 5), Some(i64::MIN + 5));
    }

    fn cond(opts: &[&str]) -> Result<ExpireCond, CmdError> {
        let v: Vec<Bytes> = opts.iter().map(|o| Bytes::from(o.to_string())).collect();
        ExpireCond::parse(&v)
    }

    #[test]
    fn expire_options() {
        let nx_err = "ERR NX and XX, GT or LT options at the same time are not compatible";
        let gtlt_err = "ERR GT and LT options at the same time are not compatible";
        assert_eq!(cond(&["nx", "xx"]).unwrap_err().text(), nx_err);
        assert_eq!(cond(&["GT", "NX"]).unwrap_err().text(), nx_err);
        assert_eq!(cond(&["gt", "lt"]).unwrap_err().text(), gtlt_err);
        assert_eq!(
            cond(&["nx", "foo", "xx"]).unwrap_err().text(),
            "ERR Unsupported option foo"
        );
        let xx_gt = cond(&["xx", "gt"]).unwrap();
        assert!(xx_gt.allows(Some(5), 6));
        assert!(!xx_gt.allows(Some(5), 5));
        assert!(!xx_gt.allows(None, 6));
        let lt = cond(&["lt"]).unwrap();
        assert!(lt.allows(None, 6), "no TTL counts as infinite for LT");
        assert!(lt.allows(Some(7), 6));
        assert!(!lt.allows(Some(6), 6));
        assert!(!cond(&["gt"]).unwrap().allows(None, i64::MAX));
        assert!(!cond(&["nx"]).unwrap().allows(Some(1), 2));
        assert!(cond(&[]).unwrap().allows(Some(1), 0));
    }
}
