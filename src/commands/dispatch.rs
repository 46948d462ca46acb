//! The one gate: every command, from any connection, passes through [`dispatch`].
//!
//! In the order of Redis's `processCommand`: look the command up (unknown command and
//! unknown subcommand texts), check arity, check authentication, then call the handler,
//! time it, count it, and turn any error into its reply. Policy comes from the table's
//! flags, never from command names.

use std::time::Instant;

use bytes::Bytes;

use super::error::{error_code, CmdError};
use super::table::{flags, table, Entry};
use super::{Action, Ctx};
use crate::clients::ReplyMode;
use crate::resp::Reply;

/// Redis truncates echoed arguments in the unknown-command error to 128 bytes.
fn quoted_args(args: &[Bytes]) -> String {
    let mut out = String::new();
    for a in args {
        if out.len() >= 128 {
            break;
        }
        let room = 128 - out.len();
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(room).collect();
        out.push_str(&format!("'{s}' "));
    }
    out
}

fn truncated(a: &[u8]) -> String {
    String::from_utf8_lossy(&a[..a.len().min(128)]).into_owned()
}

/// Finds the command (and subcommand) for `args`, or the error Redis gives.
pub fn resolve(args: &[Bytes]) -> Result<Entry, CmdError> {
    let t = table();
    let Some(entry) = t.lookup(&args[0]) else {
        return Err(CmdError::err(format!(
            "unknown command '{}', with args beginning with: {}",
            truncated(&args[0]),
            quoted_args(&args[1..])
        )));
    };
    if entry.cmd.subcommands.is_empty() {
        return check_arity(entry, args.len());
    }
    if args.len() < 2 {
        return Err(CmdError::WrongArity(entry.full_name.to_string()));
    }
    match t.lookup_sub(entry, &args[1]) {
        Some(sub) => check_arity(sub, args.len()),
        None => Err(CmdError::err(format!(
            "unknown subcommand '{}'. Try {} HELP.",
            truncated(&args[1]),
            String::from_utf8_lossy(&args[0]).to_uppercase()
        ))),
    }
}

fn check_arity(entry: Entry, argc: usize) -> Result<Entry, CmdError> {
    let arity = entry.cmd.arity;
    let argc = argc as i32;
    if (arity > 0 && arity != argc) || (arity < 0 && argc < -arity) {
        return Err(CmdError::WrongArity(entry.full_name.to_string()));
    }
    Ok(entry)
}

/// Runs one command and returns its reply (already `Reply::None` when CLIENT REPLY
/// suppresses it).
pub fn dispatch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let reply = match resolve(args) {
        Err(e) => {
            if let Ok(entry) = table().lookup(&args[0]).ok_or(()) {
                ctx.store.cmd_stats[entry.id].rejected += 1;
            }
            error_reply(ctx, e)
        }
        Ok(entry) => {
            if ctx.store.params.requirepass.is_some()
                && !ctx.client.authenticated
                && ctx.client.origin != crate::clients::Origin::Peer
                && !entry.cmd.has(flags::NO_AUTH)
            {
                ctx.store.cmd_stats[entry.id].rejected += 1;
                error_reply(ctx, CmdError::NoAuth)
            } else {
                call(ctx, entry, args)
            }
        }
    };
    apply_reply_mode(ctx, reply)
}

/// Executes a resolved command: the handler, timing and statistics.
pub fn call(ctx: &mut Ctx, entry: Entry, args: &[Bytes]) -> Reply {
    let start = Instant::now();
    ctx.client.last_cmd = entry.full_name;
    let dirty_before = ctx.store.dirty;
    let effects_before = ctx.effects.len();
    let result = (entry.cmd.handler)(ctx, args);
    // A write that changed the keyspace replicates as itself unless its handler
    // recorded a different effect (Redis's propagation rule: `server.dirty` moved).
    if ctx.replicate
        && entry.cmd.has(flags::WRITE)
        && ctx.store.dirty != dirty_before
        && ctx.effects.len() == effects_before
    {
        ctx.effects.push(args.to_vec());
    }
    // Clients blocked on keys this command filled are served now, under the same lock,
    // and their pops replicate after this command's own effect.
    if ctx.store.blocking.has_ready() {
        super::blocking::serve_ready(ctx);
    }
    let usec = start.elapsed().as_micros() as u64;
    let stat = &mut ctx.store.cmd_stats[entry.id];
    stat.calls += 1;
    stat.usec += usec;
    ctx.store.stats.total_commands += 1;
    match result {
        Ok(Reply::Error(text)) => {
            ctx.store.cmd_stats[entry.id].failed += 1;
            count_error(ctx, &text);
            Reply::Error(text)
        }
        Ok(reply) => reply,
        Err(e) => {
            ctx.store.cmd_stats[entry.id].failed += 1;
            error_reply(ctx, e)
        }
    }
}

fn error_reply(ctx: &mut Ctx, e: CmdError) -> Reply {
    let text = e.text();
    count_error(ctx, &text);
    Reply::Error(text)
}

fn count_error(ctx: &mut Ctx, text: &str) {
    ctx.store.stats.total_error_replies += 1;
    *ctx.store
        .error_stats
        .entry(error_code(text).to_string())
        .or_insert(0) += 1;
}

fn apply_reply_mode(ctx: &mut Ctx, reply: Reply) -> Reply {
    if ctx.client.reply_mode != ReplyMode::On {
        // A blocked command's reply comes later; it is silenced all the same.
        if let Some(Action::Block(b)) = &mut ctx.action {
            b.silent = true;
        }
    }
    match ctx.client.reply_mode {
        ReplyMode::On => reply,
        ReplyMode::Off => Reply::None,
        // CLIENT REPLY SKIP itself is silent; the command after it is skipped too.
        ReplyMode::Skip => {
            ctx.client.reply_mode = ReplyMode::SkipNext;
            Reply::None
        }
        ReplyMode::SkipNext => {
            ctx.client.reply_mode = ReplyMode::On;
            Reply::None
        }
    }
}
