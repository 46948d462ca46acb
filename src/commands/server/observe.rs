//! SLOWLOG, LATENCY and MONITOR: what the dispatcher recorded about the commands it
//! ran (`store::slowlog`, `store::latency`, `store::monitor`), as Redis 7.0 replies.

use bytes::Bytes;

use super::super::{arg_i64, CmdError, Ctx};
use crate::resp::Reply;
use crate::store::latency::{self, Latency, Settings};

// ---- SLOWLOG ----

/// `SLOWLOG GET [count]`: the newest `count` entries (10 by default, -1 for all),
/// each `[id, time, duration, args, client addr, client name]`.
pub(super) fn slowlog_get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let count_err = || CmdError::err("count should be greater than or equal to -1");
    let count = match args.get(2) {
        None => 10,
        Some(a) => match arg_i64(a).map_err(|_| count_err())? {
            -1 => usize::MAX,
            n if n < -1 => return Err(count_err()),
            n => n as usize,
        },
    };
    let entries = ctx
        .store
        .slowlog
        .latest(count)
        .map(|e| {
            Reply::Array(vec![
                Reply::Int(e.id as i64),
                Reply::Int(e.time as i64),
                Reply::Int(e.duration_us as i64),
                Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                Reply::bulk(e.peer.clone().into_bytes()),
                Reply::Bulk(e.name.clone()),
            ])
        })
        .collect();
    Ok(Reply::Array(entries))
}

pub(super) fn slowlog_len(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.store.slowlog.len() as i64))
}

pub(super) fn slowlog_reset(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.store.slowlog.reset();
    Ok(Reply::Status("OK"))
}

// ---- LATENCY ----

/// `LATENCY LATEST`: `[event, time of the latest sample, its latency, all-time max]`
/// per event class.
pub(super) fn latency_latest(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let events = ctx
        .store
        .latency
        .events()
        .map(|(event, ts)| {
            let last = ts.last();
            Reply::Array(vec![
                Reply::bulk(event.as_bytes().to_vec()),
                Reply::Int(last.time as i64),
                Reply::Int(last.latency_ms as i64),
                Reply::Int(ts.max as i64),
            ])
        })
        .collect();
    Ok(Reply::Array(events))
}

/// `LATENCY HISTORY event`: `[time, latency]` pairs, oldest first (empty for an
/// unknown event).
pub(super) fn latency_history(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let samples = match ctx.store.latency.get(&args[2]) {
        None => Vec::new(),
        Some((_, ts)) => ts
            .history()
            .map(|s| {
                Reply::Array(vec![
                    Reply::Int(s.time as i64),
                    Reply::Int(s.latency_ms as i64),
                ])
            })
            .collect(),
    };
    Ok(Reply::Array(samples))
}

/// `LATENCY RESET [event ...]`: how many event classes were dropped.
pub(super) fn latency_reset(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let l = &mut ctx.store.latency;
    let n = if args.len() == 2 {
        l.reset(None)
    } else {
        args[2..].iter().map(|e| l.reset(Some(e))).sum()
    };
    Ok(Reply::Int(n as i64))
}

/// `LATENCY DOCTOR`: the human-readable report, a verbatim string as in Redis.
pub(super) fn latency_doctor(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let p = &ctx.store.params;
    let settings = Settings {
        threshold_ms: p.latency_threshold_ms,
        slowlog_slower_than: p.slowlog_slower_than,
        hz: p.hz,
        thp_bytes: latency::thp_bytes(),
    };
    let report = ctx.store.latency.report(&settings, ctx.now_ms / 1000);
    Ok(Reply::Verbatim(Bytes::from(report)))
}

/// `LATENCY GRAPH event`: an ASCII sparkline of the event's samples.
pub(super) fn latency_graph(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    match ctx.store.latency.get(&args[2]) {
        Some((event, ts)) => Ok(Reply::Verbatim(Bytes::from(Latency::graph(
            event,
            ts,
            ctx.now_ms / 1000,
        )))),
        None => Err(CmdError::err(format!(
            "No samples available for event '{}'",
            String::from_utf8_lossy(&args[2])
        ))),
    }
}

// ---- MONITOR ----

/// `MONITOR`: from now on the client receives a line for every command the server
/// runs (see `store::monitor`). Refused inside a transaction (Redis's
/// `CLIENT_DENY_BLOCKING`); a second MONITOR is ignored without a reply.
pub(super) fn monitor(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    if ctx.in_exec {
        return Err(CmdError::err(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if ctx.client.monitor {
        return Ok(Reply::None);
    }
    let id = ctx.client.id;
    let kill = ctx.store.clients.clients.get(&id).map(|r| r.kill.clone());
    let (Some(outbox), Some(kill)) = (ctx.client.outbox.clone(), kill) else {
        // Peer requests and internal clients have no connection to feed.
        return Err(CmdError::err(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    };
    ctx.client.monitor = true;
    ctx.store.monitors.add(id, outbox, kill);
    Ok(Reply::Status("OK"))
}
