//! Connection commands: PING ECHO SELECT HELLO AUTH QUIT RESET.

use bytes::Bytes;

use super::table::{flags::*, Command};
use super::{arg_i64, is_kw, CmdError, Ctx};
use crate::clients::ReplyMode;
use crate::resp::Reply;

const G: &str = "connection";

pub(super) const COMMANDS: &[Command] = &[
    Command::new("ping", -1, FAST | LOCAL | SUBSCRIBED_OK, (0, 0, 0), G, ping)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    Command::new(
        "echo",
        2,
        LOADING | STALE | FAST | LOCAL,
        (0, 0, 0),
        G,
        echo,
    ),
    Command::new(
        "select",
        2,
        LOADING | STALE | FAST | LOCAL,
        (0, 0, 0),
        G,
        select,
    ),
    Command::new(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | LOCAL,
        (0, 0, 0),
        G,
        hello,
    ),
    Command::new(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | LOCAL,
        (0, 0, 0),
        G,
        auth,
    ),
    Command::new(
        "quit",
        -1,
        ALLOW_BUSY
            | NOSCRIPT
            | LOADING
            | STALE
            | FAST
            | NO_AUTH
            | LOCAL
            | TX_CONTROL
            | SUBSCRIBED_OK,
        (0, 0, 0),
        G,
        quit,
    ),
    Command::new(
        "reset",
        1,
        NOSCRIPT
            | LOADING
            | STALE
            | FAST
            | NO_AUTH
            | ALLOW_BUSY
            | LOCAL
            | TX_CONTROL
            | SUBSCRIBED_OK,
        (0, 0, 0),
        G,
        reset,
    ),
];

fn ping(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if ctx.client.in_pubsub() && ctx.client.proto == 2 && args.len() <= 2 {
        // A subscribed RESP2 client reads pushes, so PING answers in their shape.
        let arg = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(arg)]));
    }
    match args.len() {
        1 => Ok(Reply::Status("PONG")),
        2 => Ok(Reply::Bulk(args[1].clone())),
        _ => Err(CmdError::WrongArity("ping".into())),
    }
}

fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Bulk(args[1].clone()))
}

fn select(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let db = crate::num::parse_i64(&args[1])
        .ok_or_else(|| CmdError::err("value is not an integer or out of range"))?;
    if db < 0 || db as usize >= ctx.store.dbs.len() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.db = db as usize;
    Ok(Reply::OK)
}

/// Checks a password against `requirepass` for the `default` user.
fn check_password(ctx: &mut Ctx, user: Option<&Bytes>, pass: &Bytes) -> Result<(), CmdError> {
    let ok = match &ctx.store.params.requirepass {
        Some(p) => user.is_none_or(|u| u.as_ref() == b"default") && p == pass,
        None => user.is_none_or(|u| u.as_ref() == b"default"),
    };
    if ok {
        ctx.client.authenticated = true;
        Ok(())
    } else {
        Err(CmdError::Other(
            "WRONGPASS invalid username-password pair or user is disabled.".into(),
        ))
    }
}

fn auth(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if args.len() == 2 && ctx.store.params.requirepass.is_none() {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let (user, pass) = if args.len() == 3 {
        (Some(&args[1]), &args[2])
    } else {
        (None, &args[1])
    };
    check_password(ctx, user, pass)?;
    Ok(Reply::OK)
}

fn hello(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut proto = ctx.client.proto;
    let mut i = 1;
    if args.len() >= 2 {
        let v = arg_i64(&args[1])
            .map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::Other(
                "NOPROTO unsupported protocol version".into(),
            ));
        }
        proto = v as u8;
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is_kw(&args[i], "auth") && more >= 2 {
            check_password(ctx, Some(&args[i + 1]), &args[i + 2])?;
            i += 3;
        } else if is_kw(&args[i], "setname") && more >= 1 {
            super::server::validate_client_name(&args[i + 1])?;
            setname = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        }
    }
    if ctx.store.params.requirepass.is_some() && !ctx.client.authenticated {
        return Err(CmdError::Other(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
                .into(),
        ));
    }
    if let Some(name) = setname {
        ctx.client.name = (!name.is_empty()).then_some(name);
    }
    ctx.client.proto = proto;
    ctx.store.pubsub.set_proto(ctx.client.id, proto);
    Ok(hello_map(ctx))
}

fn hello_map(ctx: &Ctx) -> Reply {
    let s = |v: &str| Reply::bulk_from(v.as_bytes());
    Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(crate::REDIS_VERSION)),
        (s("proto"), Reply::Int(i64::from(ctx.client.proto))),
        (s("id"), Reply::Int(ctx.client.id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ])
}

fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.client.close_after_reply = true;
    Ok(Reply::OK)
}

fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    super::tx::discard_transaction(ctx);
    let c = &mut ctx.client;
    c.db = 0;
    c.proto = 2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.no_touch = false;
    c.authenticated = ctx.store.params.requirepass.is_none();
    c.subs = (0, 0, 0);
    c.monitor = false;
    ctx.store.pubsub.remove(c.id);
    ctx.store.monitors.remove(c.id);
    super::server::disable_tracking(ctx);
    Ok(Reply::Status("RESET"))
}
