//! Set commands (Redis's `t_set.c`).
//!
//! Reads count keyspace hits and misses (the source keys of the `*STORE` commands
//! too, as in Redis 7.0); writes look keys up without counting. Every change adds
//! the number of members changed to `store.dirty`, a set that loses its last member
//! is deleted, and the intset/hashtable conversion rules live in [`SetValue`].
//!
//! Results of SINTER, SUNION and SDIFF are built the way Redis builds them (an
//! intset that converts as members are added, iterated in the smallest set's
//! order for SINTER), so both the reply order and the stored encoding match Redis
//! whenever the sets involved are intsets. SPOP's outcome is random, so it
//! replicates as the SREM (or, when it empties the set, the DEL) of what it
//! popped.

use bytes::Bytes;

use super::hash::{arg_count, scan_cursor, scan_reply, ScanOpts};
use super::table::{flags::*, Command, KeySpec};
use super::{arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::resp::Reply;
use crate::store::notify as ev;
use crate::store::set::SetValue;
use crate::store::Value;

const G: &str = "set";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), G, sadd)
        .key_spec(&["RW", "insert"], "")
        .doc("1.0.0", "Add one or more members to a set"),
    Command::new("srem", -3, WRITE | FAST, (1, 1, 1), G, srem)
        .key_spec(&["RW", "delete"], "")
        .doc("1.0.0", "Remove one or more members from a set"),
    Command::new("scard", 2, READONLY | FAST, (1, 1, 1), G, scard)
        .key_spec(&["RO"], "")
        .doc("1.0.0", "Get the number of members in a set"),
    Command::new("sismember", 3, READONLY | FAST, (1, 1, 1), G, sismember)
        .key_spec(&["RO"], "")
        .doc("1.0.0", "Determine if a given value is a member of a set"),
    Command::new("smismember", -3, READONLY | FAST, (1, 1, 1), G, smismember).doc(
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
    ),
    Command::new("smembers", 2, READONLY, (1, 1, 1), G, sinter)
        .doc("1.0.0", "Get all the members in a set"),
    Command::new("srandmember", -2, READONLY, (1, 1, 1), G, srandmember)
        .doc("1.0.0", "Get one or multiple random members from a set"),
    Command::new("spop", -2, WRITE | FAST, (1, 1, 1), G, spop)
        .key_spec(&["RW", "access", "delete"], "")
        .doc(
            "1.0.0",
            "Remove and return one or multiple random members from a set",
        ),
    Command::new("smove", 4, WRITE | FAST, (1, 2, 1), G, smove)
        .key_specs(&[
            KeySpec::at(1, &["RW", "access", "delete"]),
            KeySpec::at(2, &["RW", "insert"]),
        ])
        .doc("1.0.0", "Move a member from one set to another"),
    Command::new("sdiff", -2, READONLY, (1, -1, 1), G, sdiff)
        .tips(&["nondeterministic_output_order"])
        .doc("1.0.0", "Subtract multiple sets"),
    Command::new("sinter", -2, READONLY, (1, -1, 1), G, sinter)
        .tips(&["nondeterministic_output_order"])
        .doc("1.0.0", "Intersect multiple sets"),
    Command::new("sunion", -2, READONLY, (1, -1, 1), G, sunion)
        .tips(&["nondeterministic_output_order"])
        .doc("1.0.0", "Add multiple sets"),
    Command::new("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), G, sdiffstore)
        .key_specs(&[
            KeySpec::at(1, &["OW", "update"]),
            KeySpec::range(2, -1, &["RO", "access"]),
        ])
        .doc(
            "1.0.0",
            "Subtract multiple sets and store the resulting set in a key",
        ),
    Command::new(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        G,
        sinterstore,
    )
    .key_specs(&[
        KeySpec::at(1, &["RW", "update"]),
        KeySpec::range(2, -1, &["RO", "access"]),
    ])
    .doc(
        "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
    ),
    Command::new(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        (1, -1, 1),
        G,
        sunionstore,
    )
    .key_specs(&[
        KeySpec::at(1, &["OW", "update"]),
        KeySpec::range(2, -1, &["RO", "access"]),
    ])
    .doc(
        "1.0.0",
        "Add multiple sets and store the resulting set in a key",
    ),
    Command::new(
        "sintercard",
        -3,
        READONLY | MOVABLE_KEYS,
        (0, 0, 0),
        G,
        sintercard,
    )
    .key_specs(&[KeySpec::numkeys(1, &["RO", "access"])])
    .doc(
        "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
    )
    .finder(numkeys_keys),
    Command::new("sscan", -3, READONLY, (1, 1, 1), G, sscan)
        .doc("2.8.0", "Incrementally iterate Set elements"),
];

/// Key positions of SINTERCARD: `numkeys` keys after the count at position 1.
fn numkeys_keys(args: &[Bytes]) -> Vec<usize> {
    let n = args
        .get(1)
        .and_then(|a| crate::num::parse_i64(a))
        .unwrap_or(0);
    match usize::try_from(n) {
        Ok(n) if n >= 1 && n <= args.len().saturating_sub(2) => (2..2 + n).collect(),
        _ => Vec::new(),
    }
}

fn as_set(value: &Value) -> Result<&SetValue, CmdError> {
    match value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// The set at `key` for a read command: `Ok(None)` when missing, WRONGTYPE for
/// other types. Counts a keyspace hit or miss, as Redis's `lookupKeyRead`.
fn read_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a SetValue>, CmdError> {
    ctx.lookup(key, Lookup::READ)
        .map(|o| as_set(&o.value))
        .transpose()
}

/// The set at `key` for modification (`lookupKeyWrite` + `checkType`).
fn write_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut SetValue>, CmdError> {
    match ctx.lookup(key, Lookup::WRITE) {
        None => Ok(None),
        Some(obj) => match &mut obj.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Deletes `key` if its set has no member left.
fn remove_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now_ms;
    let db = ctx.db();
    if matches!(db.get(key, now), Some(o) if matches!(&o.value, Value::Set(s) if s.is_empty())) {
        db.remove(key);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

fn max_intset(ctx: &Ctx) -> usize {
    ctx.store.params.set_max_intset_entries
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &args[1];
    let max = max_intset(ctx);
    // One lookup: a new set is filled before it is stored.
    let added = match write_set(ctx, key)? {
        Some(set) => args[2..].iter().filter(|m| set.add(m, max)).count(),
        None => {
            let lru = ctx.lru();
            let mut set = SetValue::for_member(&args[2]);
            let added = args[2..].iter().filter(|m| set.add(m, max)).count();
            ctx.db().set(key, Value::Set(Box::new(set)), lru);
            added
        }
    };
    ctx.store.dirty += added as u64;
    if added > 0 {
        ctx.notify(ev::SET, "sadd", key);
    }
    Ok(Reply::Int(added as i64))
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(set) = write_set(ctx, &args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    for m in &args[2..] {
        if set.remove(m) {
            deleted += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        ctx.notify(ev::SET, "srem", &args[1]);
    }
    remove_if_empty(ctx, &args[1]);
    ctx.store.dirty += deleted;
    Ok(Reply::Int(deleted as i64))
}

/// SMOVE source destination member, in Redis's order of checks: a missing source
/// answers 0 before the destination's type is looked at.
fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let max = max_intset(ctx);
    let src_is_set = ctx
        .lookup(src, Lookup::WRITE)
        .map(|o| matches!(o.value, Value::Set(_)));
    let dst_is_set = ctx
        .lookup(dst, Lookup::WRITE)
        .map(|o| matches!(o.value, Value::Set(_)));
    match (src_is_set, dst_is_set) {
        (None, _) => return Ok(Reply::Int(0)),
        (Some(false), _) | (_, Some(false)) => return Err(CmdError::WrongType),
        _ => {}
    }
    if src == dst {
        let found = read_set_quiet(ctx, src).is_some_and(|s| s.contains(member));
        return Ok(Reply::Int(i64::from(found)));
    }
    let removed = write_set(ctx, src)?.is_some_and(|s| s.remove(member));
    if !removed {
        return Ok(Reply::Int(0));
    }
    ctx.notify(ev::SET, "srem", src);
    remove_if_empty(ctx, src);
    if dst_is_set.is_none() {
        let lru = ctx.lru();
        let set = SetValue::for_member(member);
        ctx.db().set(dst, Value::Set(Box::new(set)), lru);
    }
    ctx.store.dirty += 1;
    if write_set(ctx, dst)?.is_some_and(|s| s.add(member, max)) {
        ctx.store.dirty += 1;
        ctx.notify(ev::SET, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

/// The set at `key` without counting statistics or touching its clock (a second
/// look at a key the command has already looked up).
fn read_set_quiet<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a SetValue> {
    let db = ctx.client.db;
    match ctx.store.dbs[db].data.get(key).map(|o| &o.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let n = read_set(ctx, &args[1])?.map_or(0, SetValue::len);
    Ok(Reply::Int(n as i64))
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let found = read_set(ctx, &args[1])?.is_some_and(|s| s.contains(&args[2]));
    Ok(Reply::Int(i64::from(found)))
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let set = read_set(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::Int(i64::from(set.is_some_and(|s| s.contains(m)))))
            .collect(),
    ))
}

/// SRANDMEMBER key [count].
fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut rng = rand::rng();
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if args.len() == 2 {
        let m = read_set(ctx, &args[1])?.and_then(|s| s.random(&mut rng));
        return Ok(m.map_or(Reply::Nil, Reply::Bulk));
    }
    let l = arg_count(&args[2])?;
    let Some(set) = read_set(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let count = l.unsigned_abs() as usize;
    let picked: Vec<Bytes> = if l < 0 || count == 1 {
        (0..count).filter_map(|_| set.random(&mut rng)).collect()
    } else if count >= set.len() {
        set.iter().collect()
    } else {
        sample_unique(set, count, &mut rng)
    };
    Ok(Reply::bulks(picked))
}

/// `count` distinct random members of `set` (`count < set.len()`). Like Redis, a
/// small sample of a big set is drawn member by member, and a big sample by
/// choosing among all members, so neither costs much more than its result.
fn sample_unique(set: &SetValue, count: usize, rng: &mut impl rand::Rng) -> Vec<Bytes> {
    if count.saturating_mul(3) <= set.len() {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let Some(m) = set.random(rng) else { break };
            if seen.insert(m.clone()) {
                out.push(m);
            }
        }
        return out;
    }
    let all: Vec<Bytes> = set.iter().collect();
    rand::seq::index::sample(rng, all.len(), count)
        .into_iter()
        .map(|i| all[i].clone())
        .collect()
}

/// SPOP key [count]. Replicates as the SREM of the popped members, or as DEL when
/// the whole set was popped, as Redis does.
fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let key = &args[1];
    let mut rng = rand::rng();
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => Some(
            arg_i64(a)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?,
        ),
    };
    let empty = || {
        if count.is_some() {
            Reply::Set(Vec::new())
        } else {
            Reply::Nil
        }
    };
    let max = max_intset(ctx);
    let Some(set) = write_set(ctx, key)? else {
        return Ok(empty());
    };
    let reply;
    let popped: Vec<Bytes> = match count {
        Some(0) => return Ok(empty()),
        None => {
            // One member: no vectors but the effect's, and only when replicating.
            let Some(m) = set.pop_random(&mut rng) else {
                return Ok(Reply::Nil);
            };
            let emptied = set.is_empty();
            ctx.notify(ev::SET, "spop", key);
            if emptied {
                ctx.db().remove(key);
                ctx.notify(ev::GENERIC, "del", key);
            }
            ctx.store.dirty += 1;
            if ctx.replicate {
                ctx.propagate(vec![Bytes::from_static(b"SREM"), key.clone(), m.clone()]);
            }
            return Ok(Reply::Bulk(m));
        }
        Some(n) if n >= set.len() => {
            // The whole set, in the order of its copy (Redis replies with a
            // SUNION of the key).
            let all = set_reply(&union_of(std::iter::once(&*set), max));
            let size = set.len();
            ctx.notify(ev::SET, "spop", key);
            ctx.db().remove(key);
            ctx.notify(ev::GENERIC, "del", key);
            ctx.store.dirty += size as u64;
            ctx.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
            return Ok(all);
        }
        Some(n) => {
            let m: Vec<Bytes> = sample_unique(set, n, &mut rng);
            for x in &m {
                set.remove(x);
            }
            reply = Reply::Set(m.iter().cloned().map(Reply::Bulk).collect());
            m
        }
    };
    ctx.notify(ev::SET, "spop", key);
    remove_if_empty(ctx, key);
    ctx.store.dirty += popped.len() as u64;
    let mut effect = vec![Bytes::from_static(b"SREM"), key.clone()];
    effect.extend(popped);
    ctx.propagate(effect);
    Ok(reply)
}

/// Looks up each key for reading (counting statistics and deleting expired keys)
/// and checks its type, stopping at the first key of another type as Redis does.
/// Afterwards the sets can be borrowed together through [`sets_of`].
fn check_sets(ctx: &mut Ctx, keys: &[Bytes]) -> Result<(), CmdError> {
    for k in keys {
        read_set(ctx, k)?;
    }
    Ok(())
}

/// The sets at `keys` (already checked by [`check_sets`]); `None` for missing keys.
fn sets_of<'a>(ctx: &'a Ctx, keys: &[Bytes]) -> Vec<Option<&'a SetValue>> {
    let db = &ctx.store.dbs[ctx.client.db];
    keys.iter()
        .map(|k| db.data.get(k).and_then(|o| as_set(&o.value).ok()))
        .collect()
}

/// Stores a `*STORE` result at `dst`, replacing whatever was there and dropping its
/// TTL, or deletes `dst` when the result is empty. Returns the reply.
fn store_result(ctx: &mut Ctx, dst: &Bytes, result: SetValue, event: &'static str) -> Reply {
    let n = result.len();
    if n > 0 {
        let lru = ctx.lru();
        ctx.db().set(dst, Value::Set(Box::new(result)), lru);
        ctx.store.dirty += 1;
        ctx.notify(ev::SET, event, dst);
    } else if ctx.db().remove(dst).is_some() {
        ctx.store.dirty += 1;
        ctx.notify(ev::GENERIC, "del", dst);
    }
    Reply::Int(n as i64)
}

/// What SINTER-like commands do with the intersection.
enum InterOut<'a> {
    Reply,
    Store(&'a Bytes),
    /// SINTERCARD with its LIMIT (0 = none).
    Card(usize),
}

/// SINTER, SMEMBERS, SINTERSTORE and SINTERCARD: Redis's `sinterGenericCommand`.
fn sinter_generic(ctx: &mut Ctx, keys: &[Bytes], out: InterOut) -> Result<Reply, CmdError> {
    check_sets(ctx, keys)?;
    let max = max_intset(ctx);
    let sets = sets_of(ctx, keys);
    let result: Option<Vec<Bytes>> = if sets.iter().any(Option::is_none) {
        None
    } else {
        let mut sets: Vec<&SetValue> = sets.into_iter().flatten().collect();
        // Smallest first (a stable sort, like glibc's qsort for small arrays).
        sets.sort_by_key(|s| s.len());
        let limit = match out {
            InterOut::Card(l) if l > 0 => l,
            _ => usize::MAX,
        };
        Some(
            sets[0]
                .iter()
                .filter(|m| sets[1..].iter().all(|s| s.contains(m)))
                .take(limit)
                .collect(),
        )
    };
    let members = result.unwrap_or_default();
    Ok(match out {
        InterOut::Reply => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
        InterOut::Card(_) => Reply::Int(members.len() as i64),
        InterOut::Store(dst) => {
            let mut set = SetValue::new_intset();
            for m in &members {
                set.add(m, max);
            }
            store_result(ctx, dst, set, "sinterstore")
        }
    })
}

/// The union of `sets` built as Redis builds it: an intset that converts when it
/// must.
fn union_of<'a>(sets: impl IntoIterator<Item = &'a SetValue>, max: usize) -> SetValue {
    let mut out = SetValue::new_intset();
    for s in sets {
        for m in s.iter() {
            out.add(&m, max);
        }
    }
    out
}

/// Redis's `sunionDiffGenericCommand`, including its choice between the two diff
/// algorithms, which decides the encoding the result ends up with.
fn union_diff(ctx: &mut Ctx, keys: &[Bytes], diff: bool) -> Result<SetValue, CmdError> {
    check_sets(ctx, keys)?;
    let max = max_intset(ctx);
    let sets = sets_of(ctx, keys);
    if !diff {
        return Ok(union_of(sets.into_iter().flatten(), max));
    }
    let mut out = SetValue::new_intset();
    let Some(first) = sets[0] else {
        return Ok(out);
    };
    let sameset = keys[1..]
        .iter()
        .zip(&sets[1..])
        .any(|(k, s)| s.is_some() && *k == keys[0]);
    if sameset {
        return Ok(out);
    }
    let present: Vec<&SetValue> = sets.iter().flatten().copied().collect();
    let algo_one = first.len() * present.len() / 2;
    let algo_two: usize = present.iter().map(|s| s.len()).sum();
    let others: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
    if algo_one <= algo_two {
        for m in first.iter() {
            if !others.iter().any(|s| s.contains(&m)) {
                out.add(&m, max);
            }
        }
    } else {
        for m in first.iter() {
            out.add(&m, max);
        }
        for s in others {
            if out.is_empty() {
                break;
            }
            for m in s.iter() {
                out.remove(&m);
            }
        }
    }
    Ok(out)
}

fn set_reply(set: &SetValue) -> Reply {
    Reply::Set(set.iter().map(Reply::Bulk).collect())
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    sinter_generic(ctx, &args[1..], InterOut::Reply)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    sinter_generic(ctx, &args[2..], InterOut::Store(&args[1]))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let numkeys = arg_i64(&args[1])
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > args.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if is_kw(&args[i], "limit") && i + 1 < args.len() {
            limit = arg_i64(&args[i + 1])
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    sinter_generic(ctx, &args[2..2 + numkeys], InterOut::Card(limit))
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(set_reply(&union_diff(ctx, &args[1..], false)?))
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(set_reply(&union_diff(ctx, &args[1..], true)?))
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let result = union_diff(ctx, &args[2..], false)?;
    Ok(store_result(ctx, &args[1], result, "sunionstore"))
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let result = union_diff(ctx, &args[2..], true)?;
    Ok(store_result(ctx, &args[1], result, "sdiffstore"))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]. An intset is returned whole with
/// cursor 0, as Redis does.
fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let cursor = scan_cursor(&args[2])?;
    let Some(set) = read_set(ctx, &args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOpts::parse(&args[3..])?;
    let mut found: Vec<Bytes> = Vec::new();
    let budget = opts.count.saturating_mul(10);
    let next = ScanOpts::drive(opts.count, budget, cursor, |c| {
        let before = found.len();
        let next = set.scan_step(c, |m| found.push(m));
        (next, found.len() - before)
    });
    found.retain(|m| opts.matches(m));
    Ok(scan_reply(next, found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Client;
    use crate::commands::dispatch::{call, resolve};
    use crate::commands::table::table;
    use crate::params::Params;
    use crate::store::Store;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect()
    }

    /// Runs `lines` through the dispatcher on a replicating context and returns the
    /// last reply with the effects recorded for it.
    fn run(lines: &[&str]) -> Vec<(Reply, Vec<Vec<Bytes>>, u64)> {
        let mut store = Store::new(Params::default(), table().entries.len());
        let mut client = Client::new(1, "a".into(), "b".into(), 0, true);
        let mut ctx = Ctx::new(&mut store, &mut client, 1);
        ctx.replicate = true;
        lines
            .iter()
            .map(|line| {
                let a = args(line);
                let dirty = ctx.store.dirty;
                let entry = resolve(&a).expect("known command");
                let reply = call(&mut ctx, entry, &a);
                let effects = std::mem::take(&mut ctx.effects);
                (reply, effects, ctx.store.dirty - dirty)
            })
            .collect()
    }

    fn members(reply: &Reply) -> Vec<Bytes> {
        match reply {
            Reply::Set(items) | Reply::Array(items) => items
                .iter()
                .map(|r| match r {
                    Reply::Bulk(b) => b.clone(),
                    other => panic!("not a bulk: {other:?}"),
                })
                .collect(),
            Reply::Bulk(b) => vec![b.clone()],
            other => panic!("not members: {other:?}"),
        }
    }

    #[test]
    fn spop_replicates_as_srem_of_what_it_popped() {
        let out = run(&[
            "SADD s a b c d e f g h i j",
            "SPOP s 3",
            "SPOP s",
            "SCARD s",
            "SPOP s 100",
            "EXISTS s",
        ]);
        assert_eq!(out[0].1, vec![args("SADD s a b c d e f g h i j")]);
        assert_eq!(out[0].2, 10);
        for (reply, effects, dirty) in &out[1..3] {
            let popped = members(reply);
            let mut srem = args("SREM s");
            srem.extend(popped.iter().cloned());
            assert_eq!(effects, &vec![srem]);
            assert_eq!(*dirty, popped.len() as u64);
        }
        assert_eq!(out[3].0, Reply::Int(6));
        assert_eq!(members(&out[4].0).len(), 6);
        assert_eq!(out[4].1, vec![args("DEL s")]);
        assert_eq!(out[4].2, 6);
        assert_eq!(out[5].0, Reply::Int(0));
    }

    #[test]
    fn reads_and_no_ops_replicate_nothing() {
        let out = run(&[
            "SADD s 1 2 3",
            "SRANDMEMBER s 2",
            "SPOP nokey",
            "SPOP s 0",
            "SREM s 9",
            "SINTERSTORE d s",
        ]);
        for (_, effects, dirty) in &out[1..5] {
            assert!(effects.is_empty());
            assert_eq!(*dirty, 0);
        }
        assert_eq!(out[5].1, vec![args("SINTERSTORE d s")]);
    }

    #[test]
    fn positive_counts_return_distinct_members() {
        let many: Vec<String> = (0..100).map(|i| format!("m{i} {i}")).collect();
        let sadd = format!(
            "SADD s {}",
            (0..100)
                .map(|i| format!("m{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let hset = format!("HSET h {}", many.join(" "));
        for count in [5, 40, 99] {
            let out = run(&[
                &sadd,
                &hset,
                &format!("SRANDMEMBER s {count}"),
                &format!("HRANDFIELD h {count}"),
            ]);
            for reply in [&out[2].0, &out[3].0] {
                let got = members(reply);
                let distinct: std::collections::HashSet<_> = got.iter().collect();
                assert_eq!((got.len(), distinct.len()), (count, count));
            }
        }
    }

    #[test]
    fn hincrbyfloat_replicates_as_hset_of_the_result() {
        let out = run(&[
            "HINCRBYFLOAT h f 1.5",
            "HINCRBYFLOAT h f 0.1",
            "HINCRBY h n 2",
        ]);
        assert_eq!(out[1].0, Reply::Bulk(Bytes::from("1.6")));
        assert_eq!(out[1].1, vec![args("HSET h f 1.6")]);
        assert_eq!(out[2].1, vec![args("HINCRBY h n 2")]);
    }
}
