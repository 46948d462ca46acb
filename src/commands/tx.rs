//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH (Redis 7.0's `multi.c` semantics).
//!
//! * MULTI starts queueing: the gate (`dispatch`) checks each later command (unknown,
//!   arity, auth, `NO_MULTI`), replies `+QUEUED` and appends it to `Client::multi`,
//!   except the `TX_CONTROL` commands, which run at once. A refused command flags the
//!   transaction (`Client::multi_error`) and EXEC then answers EXECABORT.
//! * EXEC runs the queue through the normal `call` path, all under the store lock the
//!   batch already holds (nothing here releases it), so no client ever sees a
//!   transaction half-applied. Blocking commands answer as if they timed out
//!   (`may_block = false`); blocked clients are served after EXEC, not in between.
//! * WATCH registers keys in `store::watch`; a write to one of them from any client
//!   (or its expiry) makes EXEC answer a null array.
//! * Replication: the queued commands' effects are collected as usual in
//!   `ctx.effects` and wrapped as `MULTI`, effects..., `EXEC`, so a peer applying the
//!   payload (one payload is applied under one lock) runs them as one transaction.

use bytes::Bytes;

use super::dispatch::{call, resolve};
use super::table::{flags::*, Command};
use super::{CmdError, Ctx};
use crate::resp::Reply;

const G: &str = "transactions";

pub const COMMANDS: &[Command] = &[
    Command::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | LOCAL | TX_CONTROL,
        (0, 0, 0),
        G,
        multi,
    )
    .doc("1.2.0", "Mark the start of a transaction block"),
    Command::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | LOCAL | TX_CONTROL | TX_EXEC,
        (0, 0, 0),
        G,
        exec,
    )
    .doc("1.2.0", "Execute all commands issued after MULTI"),
    Command::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | LOCAL | TX_CONTROL,
        (0, 0, 0),
        G,
        discard,
    )
    .doc("2.0.0", "Discard all commands issued after MULTI"),
    Command::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | LOCAL | TX_CONTROL,
        (1, -1, 1),
        G,
        watch,
    )
    .doc(
        "2.2.0",
        "Monitor changes to keys to determine execution of a MULTI/EXEC block",
    )
    .key_spec(&["RO"], ""),
    Command::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | LOCAL,
        (0, 0, 0),
        G,
        unwatch,
    )
    .doc("2.2.0", "Forget about all watched keys"),
];

/// Forgets every key the client watches.
pub fn unwatch_all(ctx: &mut Ctx) {
    let keys = std::mem::take(&mut ctx.client.watched);
    ctx.store.watch.unwatch_all(ctx.client.id, &keys);
}

/// Leaves MULTI (if in it) and forgets the watched keys (DISCARD, EXEC, RESET).
pub fn discard_transaction(ctx: &mut Ctx) {
    ctx.client.multi = None;
    ctx.client.multi_error = false;
    unwatch_all(ctx);
}

fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    Ok(Reply::OK)
}

fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    if ctx.client.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    discard_transaction(ctx);
    Ok(Reply::OK)
}

fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(queue) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    let queue_error = std::mem::take(&mut ctx.client.multi_error);
    let cas_dirty = !ctx.client.watched.is_empty()
        && ctx
            .store
            .watch
            .is_dirty(ctx.client.id, &ctx.client.watched, ctx.now_ms);
    unwatch_all(ctx);
    if queue_error {
        return Err(CmdError::Other(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    if cas_dirty {
        return Ok(Reply::NilArray);
    }
    let outer_effects = std::mem::take(&mut ctx.effects);
    let (may_block, in_exec) = (ctx.may_block, ctx.in_exec);
    ctx.may_block = false;
    ctx.in_exec = true;
    let mut replies = Vec::with_capacity(queue.len());
    for args in &queue {
        // Queued commands were resolved when queued; the table cannot change since.
        let reply = match resolve(args) {
            Ok(entry) => call(ctx, entry, args),
            Err(e) => e.into_reply(),
        };
        replies.push(reply);
    }
    ctx.may_block = may_block;
    ctx.in_exec = in_exec;
    ctx.client.last_cmd = "exec";
    wrap_effects(ctx, outer_effects);
    Ok(Reply::Array(replies))
}

/// Puts back the effects recorded before an atomic unit (EXEC, a script) ran, then
/// the unit's own effects as `MULTI`, effects..., `EXEC`, so a replica applies them
/// as one transaction. Inside an EXEC, the outer EXEC does the wrapping.
pub fn wrap_effects(ctx: &mut Ctx, outer_effects: Vec<Vec<Bytes>>) {
    let inner = std::mem::replace(&mut ctx.effects, outer_effects);
    if inner.is_empty() {
        return;
    }
    if ctx.in_exec {
        ctx.effects.extend(inner);
        return;
    }
    ctx.effects.push(vec![Bytes::from_static(b"MULTI")]);
    ctx.effects.extend(inner);
    ctx.effects.push(vec![Bytes::from_static(b"EXEC")]);
}

fn watch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    for key in &args[1..] {
        if ctx
            .store
            .watch
            .watch(ctx.client.id, db, &ctx.store.dbs[db], key, ctx.now_ms)
        {
            ctx.client.watched.push((db, key.clone()));
        }
    }
    Ok(Reply::OK)
}

fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    unwatch_all(ctx);
    Ok(Reply::OK)
}
