//! SORT and SORT_RO (Redis's `sort.c`), written from its documented behaviour.
//!
//! The options are parsed left to right, and their errors win over the type check of
//! the key. The elements of a list, set or sorted set are sorted numerically (each
//! element, or the value a `BY` pattern names, read as a C `strtod` double; a value
//! that is not one makes the whole command fail), or as strings with `ALPHA`. Equal
//! numeric weights fall back to comparing the elements as bytes, so the order is
//! deterministic; the sort is stable, like glibc's `qsort`, for the other ties.
//!
//! A `BY` pattern without `*` skips sorting: lists keep their order, sorted sets their
//! rank order (both reversed by `DESC`), sets their iteration order, except that with
//! `STORE` a set is sorted with `ALPHA` so that the stored list is the same on every
//! replica. Patterns substitute the element for the first `*`; `key->field` reads a
//! hash field; `#` (for `GET`) is the element itself. A missing key, a key of another
//! type or a missing field gives nil (`GET`), an empty string (`GET` with `STORE`) or
//! the lowest weight (`BY`).
//!
//! With `STORE` the result is written as a list (an empty one deletes the
//! destination) and the reply is its length. Replication sends the command itself:
//! given the same data it stores the same list.

use std::cmp::Ordering;

use bytes::Bytes;

use super::table::{acl, flags::*, Begin, Command, Find, KeySpec};
use super::{arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::resp::Reply;
use crate::store::list::{End, ListValue};
use crate::store::notify as ev;
use crate::store::Value;

const G: &str = "generic";

/// SORT's and SORT_RO's second key spec: the keys BY and GET name come from the data.
const BY_GET_KEYS: KeySpec = KeySpec {
    notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
    flags: &["RO", "access"],
    begin: Begin::Unknown,
    find: Find::Unknown,
};

/// Redis lists SORT under the types it reads, not under `@keyspace`.
const TYPES: u32 = acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS | acl::NO_GROUP;

pub(super) const COMMANDS: &[Command] = &[
    Command::new(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        sort,
    ).key_specs(&[
        KeySpec::at(1, &["RO", "access"]),
        BY_GET_KEYS,
        KeySpec {
            notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array",
            flags: &["OW", "update"],
            begin: Begin::Unknown,
            find: Find::Unknown,
        },
    ])
    .finder(sort_keys)
    .acl(TYPES)
    .doc(
        "1.0.0",
        "Sort the elements in a list, set or sorted set, optionally storing the result",
    ),
    Command::new(
        "sort_ro",
        -2,
        READONLY | MOVABLE_KEYS,
        (1, 1, 1),
        G,
        sort_ro,
    ).key_specs(&[
        KeySpec::at(1, &["RO", "access"]),
        BY_GET_KEYS,
    ])
    .acl(TYPES)
    .doc(
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
    ),
];

fn sort(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    sort_generic(ctx, args, true)
}

/// SORT's key positions (Redis's `sortGetKeys`): the sorted key, and the argument
/// after the last `STORE` when there is one. `LIMIT`, `GET` and `BY` skip their
/// arguments; any other word is taken as an option without one.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is_kw(a, "limit") {
            i += 2;
        } else if is_kw(a, "store") && i + 1 < args.len() {
            store = Some(i + 1);
        } else if is_kw(a, "get") || is_kw(a, "by") {
            i += 1;
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// The parsed options.
struct Opts {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// A `BY` without `*` was given (sticky, like Redis's `dontsort`).
    dontsort: bool,
    gets: Vec<Bytes>,
}

fn parse(args: &[Bytes], readonly: bool) -> Result<Opts, CmdError> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if is_kw(a, "asc") {
            o.desc = false;
        } else if is_kw(a, "desc") {
            o.desc = true;
        } else if is_kw(a, "alpha") {
            o.alpha = true;
        } else if is_kw(a, "limit") && left >= 2 {
            o.limit_start = arg_i64(&args[j + 1])?;
            o.limit_count = arg_i64(&args[j + 2])?;
            j += 2;
        } else if !readonly && is_kw(a, "store") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if is_kw(a, "by") && left >= 1 {
            let p = &args[j + 1];
            if !c_str(p).contains(&b'*') {
                o.dontsort = true;
            }
            o.by = Some(p.clone());
            j += 1;
        } else if is_kw(a, "get") && left >= 1 {
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The bytes a C string function sees: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&c| c == 0).map_or(s, |n| &s[..n])
}

/// A weight as SORT reads it with C's `strtod`: leading spaces allowed, parsing stops
/// at a NUL byte, an empty string is 0; anything left over, NaN or out of range fails.
fn sort_score(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    crate::num::parse_f64(&s[start..])
}

/// The value a `BY`/`GET` pattern names for `elem` (Redis's `lookupKeyByPattern`).
fn lookup_pattern(ctx: &mut Ctx, pattern: &[u8], elem: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(elem.clone());
    }
    let pat = c_str(pattern);
    let star = pat.iter().position(|&c| c == b'*')?;
    let after = &pat[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&f| f + 2 < after.len())
        .map(|f| (f, &pattern[star + 1 + f + 2..]));
    let postfix = match field {
        Some((f, _)) => &pattern[star + 1..star + 1 + f],
        None => &pattern[star + 1..],
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    let obj = ctx.lookup(&key, Lookup::READ)?;
    match (&obj.value, field) {
        (Value::Hash(h), Some((_, f))) => h.get(f).map(Bytes::copy_from_slice),
        (Value::Str(s), None) => Some(s.data.clone()),
        _ => None,
    }
}

/// `strcoll` in the C locale: byte order up to the first NUL.
fn coll(a: &[u8], b: &[u8]) -> Ordering {
    c_str(a).cmp(c_str(b))
}

fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> Result<Reply, CmdError> {
    let mut o = parse(args, readonly)?;

    // The elements, in the object's own order (lists, sorted sets) or iteration order.
    let (mut elems, is_set, ordered) = match ctx.lookup(&args[1], Lookup::READ) {
        None => (Vec::new(), false, true),
        Some(obj) => match &obj.value {
            Value::List(l) => (l.iter().cloned().collect::<Vec<_>>(), false, true),
            Value::Set(s) => (s.iter().collect(), true, false),
            Value::ZSet(z) => (
                z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect(),
                false,
                true,
            ),
            _ => return Err(CmdError::WrongType),
        },
    };
    if o.dontsort && is_set && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    // LIMIT, clamped as Redis does; `start..=end` may be empty.
    let len = elems.len() as i64;
    let mut start = o.limit_start.clamp(0, len);
    let count = o.limit_count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    if o.dontsort {
        if ordered && o.desc {
            elems.reverse();
        }
    } else {
        let mut bad = false;
        // Per element: the numeric weight, or the string to compare with ALPHA BY.
        let mut weights: Vec<(f64, Option<Bytes>)> = Vec::with_capacity(elems.len());
        for e in &elems {
            let by = match &o.by {
                Some(p) => lookup_pattern(ctx, p, e),
                None => Some(e.clone()),
            };
            let w = match by {
                None => (0.0, None),
                Some(v) if o.alpha => (0.0, Some(v)),
                Some(v) => match sort_score(&v) {
                    Some(s) => (s, None),
                    None => {
                        bad = true;
                        (0.0, None)
                    }
                },
            };
            weights.push(w);
        }
        if bad {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let binary = o.store.is_some();
        let by = o.by.is_some();
        let mut idx: Vec<usize> = (0..elems.len()).collect();
        idx.sort_by(|&a, &b| {
            let cmp = if !o.alpha {
                weights[a]
                    .0
                    .partial_cmp(&weights[b].0)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| elems[a].cmp(&elems[b]))
            } else {
                let (x, y) = if by {
                    match (&weights[a].1, &weights[b].1) {
                        (Some(x), Some(y)) => (x, y),
                        (x, y) => return dir(x.is_some().cmp(&y.is_some()), o.desc),
                    }
                } else {
                    (&elems[a], &elems[b])
                };
                if binary {
                    x.cmp(y)
                } else {
                    coll(x, y)
                }
            };
            dir(cmp, o.desc)
        });
        elems = idx.into_iter().map(|i| elems[i].clone()).collect();
    }

    let picked: &[Bytes] = if end >= start {
        &elems[start as usize..=end as usize]
    } else {
        &[]
    };

    let Some(dest) = o.store else {
        let mut out = Vec::with_capacity(picked.len() * o.gets.len().max(1));
        for e in picked {
            if o.gets.is_empty() {
                out.push(Reply::Bulk(e.clone()));
            }
            for g in &o.gets {
                out.push(lookup_pattern(ctx, g, e).map_or(Reply::Nil, Reply::Bulk));
            }
        }
        return Ok(Reply::Array(out));
    };

    let mut list = ListValue::new();
    for e in picked {
        if o.gets.is_empty() {
            list.push(End::Right, e.clone());
        }
        for g in &o.gets {
            let v = lookup_pattern(ctx, g, e).unwrap_or_default();
            list.push(End::Right, v);
        }
    }
    let n = list.len();
    if n > 0 {
        let lru = ctx.lru();
        ctx.db().set(&dest, Value::List(Box::new(list)), lru);
        ctx.store.dirty += n as u64;
        ctx.notify(ev::LIST, "sortstore", &dest);
        ctx.signal_ready(&dest);
    } else if ctx.db().remove(&dest).is_some() {
        ctx.store.dirty += 1;
        ctx.notify(ev::GENERIC, "del", &dest);
    }
    Ok(Reply::Int(n as i64))
}

fn dir(cmp: Ordering, desc: bool) -> Ordering {
    if desc {
        cmp.reverse()
    } else {
        cmp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn key_positions() {
        let check = |line: &str, want: &[usize]| assert_eq!(sort_keys(&args(line)), want, "{line}");
        check("SORT k", &[1]);
        check("SORT k STORE d", &[1, 3]);
        check("SORT k STORE d1 STORE d2", &[1, 5]);
        check("SORT k GET store STORE d", &[1, 5]);
        check("SORT k LIMIT store x STORE d", &[1, 6]);
        check("SORT k BY w_* GET # LIMIT 0 1 STORE d", &[1, 10]);
        check("SORT k STORE", &[1]);
    }

    #[test]
    fn weights_parse_like_strtod() {
        let check = |s: &[u8], want: Option<f64>| assert_eq!(sort_score(s), want, "{s:?}");
        check(b"1.5", Some(1.5));
        check(b" 7", Some(7.0));
        check(b"", Some(0.0));
        check(b"3\x00abc", Some(3.0));
        check(b"0x10", Some(16.0));
        check(b"-inf", Some(f64::NEG_INFINITY));
        check(b"1 ", None);
        check(b"  ", None);
        check(b"nan", None);
        check(b"abc", None);
        check(b"1e400", None);
    }
}
