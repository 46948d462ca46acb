//! `CLIENT` subcommands: the connection's own state (ID, names, REPLY, NO-EVICT,
//! NO-TOUCH, SETINFO) and the ones that act on other clients (LIST, KILL, PAUSE).
//!
//! Texts follow Redis 7.0. SETINFO and NO-TOUCH are Redis 7.2 additions that clients
//! send on connect (redis-py 5+), so they follow 7.2.

use bytes::Bytes;

use super::super::{arg_i64, is_kw, lossy, CmdError, Ctx};
use crate::clients::{ClientType, Pause, PauseMode, ReplyMode};
use crate::resp::Reply;

/// Client names and SETINFO values: printable ASCII without spaces (`!`..`~`).
fn printable(v: &[u8]) -> bool {
    v.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// Validates a name for `CLIENT SETNAME` / `HELLO SETNAME`.
pub(in crate::commands) fn validate_client_name(name: &[u8]) -> Result<(), CmdError> {
    if !printable(name) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

pub(super) fn id(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.client.id as i64))
}

pub(super) fn getname(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(ctx.client.name.clone().map_or(Reply::Nil, Reply::Bulk))
}

pub(super) fn setname(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    validate_client_name(&args[2])?;
    ctx.client.name = (!args[2].is_empty()).then(|| args[2].clone());
    Ok(Reply::OK)
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2).
pub(super) fn setinfo(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let attr = lossy(&args[2]).to_ascii_lowercase();
    let slot = match attr.as_str() {
        "lib-name" => &mut ctx.client.lib_name,
        "lib-ver" => &mut ctx.client.lib_ver,
        _ => {
            return Err(CmdError::err(format!(
                "Unrecognized option '{}'",
                lossy(&args[2])
            )))
        }
    };
    if !printable(&args[3]) {
        return Err(CmdError::err(format!(
            "{attr} cannot contain spaces, newlines or special characters."
        )));
    }
    *slot = (!args[3].is_empty()).then(|| args[3].clone());
    Ok(Reply::OK)
}

pub(super) fn info(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut line = ctx.client.info_line(ctx.store, ctx.now_ms);
    line.push('\n');
    Ok(Reply::Verbatim(Bytes::from(line)))
}

/// `CLIENT LIST [TYPE type | ID id [id ...]]`. Every client is `normal` for now.
pub(super) fn list(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let own = ctx.client.clone();
    ctx.store.clients.update(&own);
    let mut ids: Option<Vec<u64>> = None;
    let mut only_type = None;
    if args.len() == 4 && is_kw(&args[2], "type") {
        only_type =
            Some(ClientType::parse(&args[3]).ok_or_else(|| {
                CmdError::err(format!("Unknown client type '{}'", lossy(&args[3])))
            })?);
    } else if args.len() > 3 && is_kw(&args[2], "id") {
        let mut v = Vec::new();
        for a in &args[3..] {
            // Redis accepts any integer here; ids below 1 match nobody.
            match crate::num::parse_i64(a) {
                Some(id) => v.extend(u64::try_from(id).ok()),
                None => return Err(CmdError::err("Invalid client ID")),
            }
        }
        ids = Some(v);
    } else if args.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let mut out = String::new();
    for (id, r) in &ctx.store.clients.clients {
        if ids.as_ref().is_some_and(|v| !v.contains(id)) {
            continue;
        }
        if only_type.is_some_and(|t| t != r.snapshot.kind()) {
            continue;
        }
        out.push_str(&r.snapshot.info_line(ctx.store, ctx.now_ms));
        out.push('\n');
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

/// One `CLIENT KILL` filter.
#[derive(Debug, PartialEq)]
enum Filter {
    Id(u64),
    Addr(String),
    Laddr(String),
    User(String),
    Type(ClientType),
    MaxAge(u64),
}

/// Parses the filter form of `CLIENT KILL` (everything after `KILL`): the filters
/// and whether to skip the calling client.
fn parse_kill_filters(args: &[Bytes]) -> Result<(Vec<Filter>, bool), CmdError> {
    let mut filters = Vec::new();
    let mut skipme = true;
    let mut i = 0;
    while i < args.len() {
        let (key, Some(value)) = (&args[i], args.get(i + 1)) else {
            return Err(CmdError::Syntax);
        };
        let v = lossy(value);
        if is_kw(key, "id") {
            match crate::num::parse_i64(value) {
                Some(id) if id >= 1 => filters.push(Filter::Id(id as u64)),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            }
        } else if is_kw(key, "type") {
            let t = ClientType::parse(value)
                .ok_or_else(|| CmdError::err(format!("Unknown client type '{v}'")))?;
            filters.push(Filter::Type(t));
        } else if is_kw(key, "addr") {
            filters.push(Filter::Addr(v));
        } else if is_kw(key, "laddr") {
            filters.push(Filter::Laddr(v));
        } else if is_kw(key, "user") {
            if v != "default" {
                return Err(CmdError::err(format!("No such user '{v}'")));
            }
            filters.push(Filter::User(v));
        } else if is_kw(key, "skipme") {
            skipme = if is_kw(value, "yes") {
                true
            } else if is_kw(value, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else if is_kw(key, "maxage") {
            match crate::num::parse_i64(value) {
                Some(age) if age >= 0 => filters.push(Filter::MaxAge(age as u64)),
                _ => return Err(CmdError::Syntax),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok((filters, skipme))
}

/// `CLIENT KILL addr:port` (old form, `OK` or an error) or `CLIENT KILL <filter>
/// <value> ...` (the number of clients killed).
pub(super) fn kill(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let me = ctx.client.id;
    if args.len() == 3 {
        let addr = lossy(&args[2]);
        let found = ctx
            .store
            .clients
            .clients
            .iter()
            .find(|(_, r)| r.snapshot.addr == addr)
            .map(|(id, _)| *id);
        let Some(id) = found else {
            return Err(CmdError::err("No such client"));
        };
        if id == me {
            ctx.client.close_after_reply = true;
        } else {
            ctx.store.clients.kill(id);
        }
        return Ok(Reply::OK);
    }
    let (filters, skipme) = parse_kill_filters(&args[2..])?;
    let now = ctx.now_ms;
    let victims: Vec<u64> = ctx
        .store
        .clients
        .clients
        .iter()
        .filter(|(id, r)| {
            let c = &r.snapshot;
            !(skipme && **id == me)
                && filters.iter().all(|f| match f {
                    Filter::Id(want) => *id == want,
                    Filter::Addr(a) => &c.addr == a,
                    Filter::Laddr(a) => &c.laddr == a,
                    Filter::User(_) => true,
                    Filter::Type(t) => *t == c.kind(),
                    Filter::MaxAge(age) => now.saturating_sub(c.created_ms) / 1000 >= *age,
                })
        })
        .map(|(id, _)| *id)
        .collect();
    for &id in &victims {
        if id == me {
            ctx.client.close_after_reply = true;
        } else {
            ctx.store.clients.kill(id);
        }
    }
    Ok(Reply::Int(victims.len() as i64))
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is_kw(arg, "on") {
        Ok(true)
    } else if is_kw(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

pub(super) fn no_evict(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.client.no_evict = on_off(&args[2])?;
    Ok(Reply::OK)
}

pub(super) fn no_touch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.client.no_touch = on_off(&args[2])?;
    Ok(Reply::OK)
}

pub(super) fn reply(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let a = &args[2];
    if is_kw(a, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        Ok(Reply::OK)
    } else if is_kw(a, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
        Ok(Reply::None)
    } else if is_kw(a, "skip") {
        // The dispatcher turns Skip into SkipNext after this (silent) reply.
        ctx.client.reply_mode = ReplyMode::Skip;
        Ok(Reply::None)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Parses a millisecond timeout as Redis's `getTimeoutFromObjectOrReply`.
pub(super) fn timeout_ms(arg: &[u8]) -> Result<u64, CmdError> {
    let t = arg_i64(arg).map_err(|_| CmdError::TimeoutNotInteger)?;
    if t < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok(t as u64)
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`: the waiting happens in the connection loop,
/// outside the store lock (see `clients`' module doc).
pub(super) fn pause(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 4 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            lossy(&args[1])
        )));
    }
    let ms = timeout_ms(&args[2])?;
    let mode = match args.get(3) {
        None => PauseMode::All,
        Some(m) if args.len() == 4 && is_kw(m, "all") => PauseMode::All,
        Some(m) if args.len() == 4 && is_kw(m, "write") => PauseMode::Write,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let until_ms = ctx.now_ms.saturating_add(ms);
    ctx.store
        .clients
        .pause(Pause { until_ms, mode }, ctx.now_ms);
    Ok(Reply::OK)
}

pub(super) fn unpause(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.store.clients.unpause();
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn kill_filters() {
        let (f, skipme) = parse_kill_filters(&args("ID 5 skipme no TYPE slave")).unwrap();
        assert_eq!(f, vec![Filter::Id(5), Filter::Type(ClientType::Replica)]);
        assert!(!skipme);
        let err = |s: &str| parse_kill_filters(&args(s)).unwrap_err().text();
        assert_eq!(err("id 0"), "ERR client-id should be greater than 0");
        assert_eq!(err("id x"), "ERR client-id should be greater than 0");
        assert_eq!(err("type foo"), "ERR Unknown client type 'foo'");
        assert_eq!(err("skipme maybe"), "ERR syntax error");
        assert_eq!(err("id 1 addr"), "ERR syntax error");
        assert_eq!(err("foo bar"), "ERR syntax error");
        assert_eq!(err("user bob"), "ERR No such user 'bob'");
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout_ms(b"10"), Ok(10));
        assert_eq!(
            timeout_ms(b"x").unwrap_err().text(),
            "ERR timeout is not an integer or out of range"
        );
        assert_eq!(
            timeout_ms(b"-1").unwrap_err().text(),
            "ERR timeout is negative"
        );
    }
}
