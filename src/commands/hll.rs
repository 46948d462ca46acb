//! HyperLogLog commands (Redis's `hyperloglog.c`): PFADD PFCOUNT PFMERGE PFDEBUG.
//!
//! A sketch is a string value in Redis's exact format (see `store::hll`), so GET/SET
//! move sketches between Redis and redmite. These handlers do the key work: type and
//! header checks, creating and unsharing the string, the cached cardinality and the
//! dirty counter.
//!
//! **Replication.** PFADD and PFMERGE are deterministic, so they replicate as
//! themselves and replicas end with the same bytes. PFCOUNT is flagged READONLY as in
//! Redis 7.0, even though refreshing the cached cardinality writes the header: the
//! cluster layer does not replicate it, so a replica's copy may still carry the stale
//! flag. Both count the same; only the cache bytes differ until the next PFCOUNT
//! there.

use bytes::{Bytes, BytesMut};

use super::string::edit_raw;
use super::table::{flags::*, Command, KeySpec};
use super::{lossy, CmdError, Ctx, Lookup};
use crate::resp::Reply;
use crate::store::hll::{self, Corrupt, Encoding};
use crate::store::notify as ev;
use crate::store::value::{StrEnc, StrValue};
use crate::store::Value;

const G: &str = "hyperloglog";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), G, pfadd).key_spec(&["RW", "insert"], "").doc(
        "2.8.9",
        "Adds the specified elements to the specified HyperLogLog.",
    ),
    Command::new("pfcount", -2, READONLY, (1, -1, 1), G, pfcount).key_spec(&["RW", "access"], "RW because it may change the internal representation of the key, and propagate to replicas").doc(
        "2.8.9",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
    ),
    Command::new("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), G, pfmerge).key_specs(&[
        KeySpec::at(1, &["RW", "access", "insert"]),
        KeySpec::range(2, -1, &["RO", "access"]),
    ])
        .doc("2.8.9", "Merge N different HyperLogLogs into a single one."),
    Command::new("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), G, pfdebug).doc(
        "2.8.9",
        "Internal commands for debugging HyperLogLog values",
    ),
];

fn not_hll() -> CmdError {
    CmdError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

fn corrupt(_: Corrupt) -> CmdError {
    CmdError::Other("INVALIDOBJ Corrupted HLL object detected".into())
}

fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.store
        .params
        .get_int("hll-sparse-max-bytes")
        .clamp(0, i64::MAX) as usize
}

/// Checks that an existing value is a sketch (Redis's `isHLLObjectOrReply`).
fn check(value: &Value) -> Result<(&StrValue, Encoding), CmdError> {
    let Value::Str(s) = value else {
        return Err(CmdError::WrongType);
    };
    let enc = hll::validate(&s.data).ok_or_else(not_hll)?;
    Ok((s, enc))
}

/// Looks `key` up as `how` says and checks it holds a sketch: `Ok(None)` if missing.
fn lookup_hll<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    how: Lookup,
) -> Result<Option<&'a mut StrValue>, CmdError> {
    let Some(obj) = ctx.lookup(key, how) else {
        return Ok(None);
    };
    check(&obj.value)?;
    Ok(obj.value.as_str_mut())
}

fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let max = sparse_max_bytes(ctx);
    // Adds every element, counting the creation of the key as an update, and marks
    // the cached cardinality stale when anything changed. On a corrupt sketch the
    // elements added so far stay, as in Redis.
    let add_all = |buf: &mut BytesMut, created: bool| -> Result<u64, Corrupt> {
        let mut updated = u64::from(created);
        for ele in &args[2..] {
            updated += u64::from(hll::add(buf, ele, max)?);
        }
        if updated > 0 {
            hll::invalidate_cache(buf);
        }
        Ok(updated)
    };
    let updated = match lookup_hll(ctx, &args[1], Lookup::WRITE)? {
        Some(s) => edit_raw(s, |buf| add_all(buf, false)).map_err(corrupt)?,
        None => {
            let mut buf = hll::new_sparse();
            let updated = add_all(&mut buf, true).map_err(corrupt)?;
            let lru = ctx.lru();
            ctx.db()
                .set(&args[1], Value::string_enc(buf.freeze(), StrEnc::Raw), lru);
            updated
        }
    };
    ctx.store.dirty += updated;
    if updated > 0 {
        ctx.notify(ev::STRING, "pfadd", &args[1]);
    }
    Ok(Reply::Int(i64::from(updated > 0)))
}

fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &args[1..] {
            if let Some(s) = lookup_hll(ctx, key, Lookup::READ)? {
                hll::merge_into(&mut max, &s.data).map_err(corrupt)?;
            }
        }
        return Ok(Reply::Int(hll::count_registers(&max) as i64));
    }
    let Some(s) = lookup_hll(ctx, &args[1], Lookup::READ)? else {
        return Ok(Reply::Int(0));
    };
    // Redis unshares the string before looking at the cache, so it ends up `raw`.
    s.enc = StrEnc::Raw;
    if let Some(card) = hll::cached_card(&s.data) {
        return Ok(Reply::Int(card as i64));
    }
    let card = hll::count(&s.data).map_err(corrupt)?;
    edit_raw(s, |buf| hll::set_cached_card(buf, card));
    ctx.store.dirty += 1;
    Ok(Reply::Int(card as i64))
}

fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        let Some(obj) = ctx.lookup(key, Lookup::READ) else {
            continue;
        };
        let (s, enc) = check(&obj.value)?;
        use_dense |= enc == Encoding::Dense;
        hll::merge_into(&mut max, &s.data).map_err(corrupt)?;
    }
    let sparse_max = sparse_max_bytes(ctx);
    let write = |buf: &mut BytesMut| -> Result<(), Corrupt> {
        if use_dense {
            hll::to_dense(buf)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                // Like Redis, a corrupt destination is noticed (and the error
                // ignored) only here; it was already read as a source.
                let _ = hll::set(buf, i, m, sparse_max);
            }
        }
        hll::invalidate_cache(buf);
        Ok(())
    };
    let dest = &args[1];
    let result = match lookup_hll(ctx, dest, Lookup::WRITE)? {
        Some(s) => edit_raw(s, write),
        None => {
            let mut buf = hll::new_sparse();
            let result = write(&mut buf);
            let lru = ctx.lru();
            ctx.db()
                .set(dest, Value::string_enc(buf.freeze(), StrEnc::Raw), lru);
            result
        }
    };
    result.map_err(corrupt)?;
    ctx.store.dirty += 1;
    ctx.notify(ev::STRING, "pfadd", dest);
    Ok(Reply::OK)
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let sub = args[1].to_ascii_lowercase();
    let Some(s) = lookup_hll(ctx, &args[2], Lookup::WRITE)? else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    s.enc = StrEnc::Raw;
    let sparse = s.data[4] == 1;
    match &sub[..] {
        b"getreg" | b"todense" => {
            let converted = if sparse {
                edit_raw(s, hll::to_dense).map_err(corrupt)?;
                true
            } else {
                false
            };
            let regs = (sub == b"getreg").then(|| hll::dense_registers(&s.data));
            if converted {
                ctx.store.dirty += 1;
            }
            Ok(match regs {
                Some(regs) => {
                    Reply::Array(regs.into_iter().map(|r| Reply::Int(r.into())).collect())
                }
                None => Reply::Int(converted.into()),
            })
        }
        b"decode" if sparse => Ok(Reply::Bulk(Bytes::from(hll::decode(&s.data)))),
        b"decode" => Err(CmdError::err("HLL encoding is not sparse")),
        b"encoding" => Ok(Reply::Status(if sparse { "sparse" } else { "dense" })),
        _ => Err(CmdError::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            lossy(&args[1])
        ))),
    }
}
