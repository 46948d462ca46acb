//! String commands (Redis's `t_string.c`).

use bytes::Bytes;

use super::table::{flags::*, Command};
use super::{arg_i64, is_kw, CmdError, Ctx, Lookup};
use crate::resp::Reply;
use crate::store::Value;

const G: &str = "string";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("get", 2, READONLY | FAST, (1, 1, 1), G, get),
    Command::new("set", -3, WRITE | DENYOOM, (1, 1, 1), G, set),
];

/// Reads a string value: `Ok(None)` when missing, WRONGTYPE for other types.
pub(super) fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    ctx.lookup(key, Lookup::READ)
        .map(|o| o.value.as_str().cloned().ok_or(CmdError::WrongType))
        .transpose()
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(read_str(ctx, &args[1])?.map_or(Reply::Nil, Reply::Bulk))
}

/// When a SET-like command makes its key expire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expiry {
    None,
    KeepTtl,
    /// Absolute Unix ms.
    At(u64),
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

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut expiry = Expiry::None;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        let unit = [
            ("ex", false, false),
            ("px", true, false),
            ("exat", false, true),
            ("pxat", true, true),
        ]
        .into_iter()
        .find(|(kw, _, _)| is_kw(a, kw));
        if is_kw(a, "nx") && !xx {
            nx = true;
        } else if is_kw(a, "xx") && !nx {
            xx = true;
        } else if is_kw(a, "get") {
            get = true;
        } else if is_kw(a, "keepttl") && expiry == Expiry::None {
            expiry = Expiry::KeepTtl;
        } else if let (Some((_, ms, abs)), true, Expiry::None) = (unit, has_next, expiry) {
            expiry = Expiry::At(expire_arg(ctx, "set", ms, abs, &args[i + 1])?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let key = &args[1];
    let now = ctx.now_ms;
    let old = if get { read_str(ctx, key)? } else { None };
    let exists = ctx.db().contains(key, now);
    if (nx && exists) || (xx && !exists) {
        return Ok(if get {
            old.map_or(Reply::Nil, Reply::Bulk)
        } else {
            Reply::Nil
        });
    }
    let lru = ctx.lru();
    let db = ctx.db();
    match expiry {
        Expiry::KeepTtl => db.set_keep_ttl(key, Value::string(&args[2]), lru),
        _ => db.set(key, Value::string(&args[2]), lru),
    }
    if let Expiry::At(at) = expiry {
        db.set_expire(key, at);
    }
    ctx.store.dirty += 1;
    Ok(if get {
        old.map_or(Reply::Nil, Reply::Bulk)
    } else {
        Reply::OK
    })
}
