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
use crate::clients::{Client, PauseMode, ReplyMode};
use crate::resp::Reply;
use crate::store::Store;

/// The bytes of `a` up to its first NUL: Redis formats arguments into error texts with
/// `%s`, which stops there.
fn c_str(a: &[u8]) -> &[u8] {
    a.iter().position(|&c| c == 0).map_or(a, |i| &a[..i])
}

/// The quoted argument list of the unknown-command error. Like Redis, it stops adding
/// arguments once 128 bytes are written and cuts the last one to fit.
fn quoted_args(args: &[Bytes]) -> String {
    let mut out: Vec<u8> = Vec::new();
    for a in args {
        if out.len() >= 128 {
            break;
        }
        let a = c_str(a);
        let room = 128 - out.len();
        out.push(b'\'');
        out.extend_from_slice(&a[..a.len().min(room)]);
        out.extend_from_slice(b"' ");
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An argument as `%.128s` prints it.
fn truncated(a: &[u8]) -> String {
    let a = c_str(a);
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
    // As in Redis's `lookupCommand`, a container named alone is checked against its
    // own arity: plain `COMMAND` (arity -1) lists the table, plain `CONFIG` (-2) is
    // a wrong-arity error.
    if args.len() < 2 {
        return check_arity(entry, args.len());
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

/// Whether `args` must wait for a `CLIENT PAUSE` to end before it runs. As in Redis's
/// `processCommand`, commands that would be rejected (unknown, wrong arity, not
/// authenticated) are not held back: they get their error at once.
pub fn held_by_pause(store: &Store, client: &Client, args: &[Bytes], now_ms: u64) -> bool {
    let Some(pause) = store.clients.active_pause(now_ms) else {
        return false;
    };
    let Ok(entry) = resolve(args) else {
        return false;
    };
    if store.params.requirepass.is_some() && !client.authenticated && !entry.cmd.has(flags::NO_AUTH)
    {
        return false;
    }
    match pause.mode {
        PauseMode::All => true,
        PauseMode::Write => entry.cmd.has(flags::WRITE | flags::MAY_REPLICATE),
    }
}

/// Runs one command and returns its reply (already `Reply::None` when CLIENT REPLY
/// suppresses it).
pub fn dispatch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    dispatch_resolved(ctx, resolve(args), args)
}

/// [`dispatch`] for a caller that already looked the command up with [`resolve`] (the
/// coordinator routes by it), so the table is not searched twice per command.
pub fn dispatch_resolved(
    ctx: &mut Ctx,
    resolved: Result<Entry, CmdError>,
    args: &[Bytes],
) -> Reply {
    let reply = match resolved {
        Err(e) => {
            if let Ok(entry) = table().lookup(&args[0]).ok_or(()) {
                ctx.store.cmd_stats[entry.id].rejected += 1;
            }
            reject(ctx, args, e)
        }
        Ok(entry) => {
            if ctx.store.params.requirepass.is_some()
                && !ctx.client.authenticated
                && ctx.client.origin != crate::clients::Origin::Peer
                && !entry.cmd.has(flags::NO_AUTH)
            {
                ctx.store.cmd_stats[entry.id].rejected += 1;
                reject(ctx, args, CmdError::NoAuth)
            } else if ctx.client.proto == 2
                && ctx.client.in_pubsub()
                && !entry.cmd.has(flags::SUBSCRIBED_OK)
            {
                ctx.store.cmd_stats[entry.id].rejected += 1;
                reject(
                    ctx,
                    args,
                    CmdError::err(format!(
                        "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                        entry.full_name
                    )),
                )
            } else if ctx.client.monitor
                && entry
                    .cmd
                    .has(flags::WRITE | flags::READONLY | flags::MAY_REPLICATE | flags::EFFECTS)
            {
                // A MONITOR client is a replica to Redis, which may not touch keys.
                ctx.store.cmd_stats[entry.id].rejected += 1;
                reject(
                    ctx,
                    args,
                    CmdError::err("Replica can't interact with the keyspace"),
                )
            } else if ctx.client.multi.is_some() && !entry.cmd.has(flags::TX_CONTROL) {
                if entry.cmd.has(flags::NO_MULTI) {
                    ctx.store.cmd_stats[entry.id].rejected += 1;
                    reject(
                        ctx,
                        args,
                        CmdError::err("Command not allowed inside a transaction"),
                    )
                } else {
                    queue(ctx, args)
                }
            } else {
                call(ctx, entry, args)
            }
        }
    };
    apply_reply_mode(ctx, reply)
}

/// Executes a resolved command: the handler, timing and statistics.
pub fn call(ctx: &mut Ctx, entry: Entry, args: &[Bytes]) -> Reply {
    let start = ctx.started;
    ctx.client.last_cmd = entry.full_name;
    let dirty_before = ctx.store.dirty;
    let effects_before = ctx.effects.len();
    let argv_mem = std::mem::replace(&mut ctx.client.argv_mem, args.iter().map(|a| a.len()).sum());
    // A nested call (EXEC, a script's redis.call) keeps its own list.
    let outer_modified = ctx.modified.take();
    let result = (entry.cmd.handler)(ctx, args);
    let modified = std::mem::replace(&mut ctx.modified, outer_modified);
    ctx.client.argv_mem = argv_mem;
    // A write that changed the keyspace replicates as itself unless its handler
    // recorded a different effect (Redis's propagation rule: `server.dirty` moved).
    if ctx.replicate
        && entry.cmd.has(flags::WRITE)
        && ctx.store.dirty != dirty_before
        && ctx.effects.len() == effects_before
    {
        if ctx.effects.is_empty() && args.as_ptr() as usize == ctx.own_args {
            ctx.effect_is_own_args = true;
        } else {
            ctx.effects.push(args.to_vec());
        }
    }
    // A write that changed the keyspace invalidates the WATCHes on its keys and the
    // tracking clients caching them (Redis's `signalModifiedKey`).
    if entry.cmd.has(flags::WRITE) && ctx.store.dirty != dirty_before {
        signal_modified(
            ctx.store,
            ctx.client.db,
            ctx.client.id,
            entry,
            args,
            modified,
        );
    }
    // Keys created or expired and not yet announced by one of the command's own
    // events (a read that expired a key).
    if ctx.store.dbs[0].log_events {
        ctx.store.flush_logged_events(ctx.now_ms, ctx.client.id);
    }
    if ctx.client.tracking {
        track_reads(ctx, entry, args);
    }
    let end = Instant::now();
    ctx.started = end;
    let usec = end.duration_since(start).as_micros() as u64 + std::mem::take(&mut ctx.slept_usec);
    let stat = &mut ctx.store.cmd_stats[entry.id];
    stat.calls += 1;
    stat.usec += usec;
    ctx.store.stats.total_commands += 1;
    observe(ctx, entry, args, usec);
    slow_and_monitor(ctx, entry, args, usec);
    // Clients blocked on keys this command filled are served now, under the same lock,
    // and their pops replicate after this command's own effect. Inside EXEC they are
    // served once the whole transaction ran. As in Redis, serving them is not part of
    // this command's time (their own SLOWLOG entries follow its entry).
    if !ctx.in_exec && ctx.store.blocking.has_ready() {
        super::blocking::serve_ready(ctx);
        ctx.started = Instant::now();
    }
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

/// Signals the keys a write changed to WATCH and client tracking: those its handler
/// recorded ([`Ctx::modified`]), else those its key specs say it writes.
pub(super) fn signal_modified(
    store: &mut crate::store::Store,
    db: usize,
    by: u64,
    entry: Entry,
    args: &[Bytes],
    modified: Option<Vec<Bytes>>,
) {
    if store.watch.is_empty() && store.tracking.is_empty() {
        return;
    }
    match modified {
        Some(keys) => {
            for k in &keys {
                store.key_modified(db, k, by);
            }
        }
        None => {
            for i in entry.cmd.written_key_positions(args) {
                store.key_modified(db, &args[i], by);
            }
        }
    }
}

/// The observability hooks of every executed command, in one place: latency and size
/// histograms and read/write counters (`stats`). Atomics written in turn under the
/// store lock the caller holds, read by the stats endpoint without it.
fn observe(ctx: &mut Ctx, entry: Entry, args: &[Bytes], usec: u64) {
    use crate::stats::histogram::add_in_turn;
    let m = crate::stats::metrics();
    let turn = &mut *ctx.store;
    if ctx.client.origin == crate::clients::Origin::Peer {
        add_in_turn(&m.peer_applied, 1, turn);
        return;
    }
    m.command_usec.record_in_turn(usec, turn);
    m.payload_bytes
        .record_in_turn(args.iter().map(|a| a.len() as u64).sum(), turn);
    let counter = if entry.cmd.has(flags::WRITE) {
        &m.client_writes
    } else {
        &m.client_reads
    };
    add_in_turn(counter, 1, turn);
}

/// SLOWLOG, LATENCY and MONITOR for one executed command, as Redis's `call` does
/// after the command: the latency sample ("fast-command" for FAST commands), the slow
/// log entry unless the command is SKIP_SLOWLOG or blocked (a blocked command is
/// logged when it is served, see [`log_unblocked`]), and the MONITOR line unless it
/// is SKIP_MONITOR or ADMIN ("too dangerous to be shown").
fn slow_and_monitor(ctx: &mut Ctx, entry: Entry, args: &[Bytes], usec: u64) {
    let p = &ctx.store.params;
    if p.latency_threshold_ms != 0 {
        let event = if entry.cmd.has(flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        let threshold = p.latency_threshold_ms;
        ctx.store
            .latency
            .add_if_needed(threshold, event, usec / 1000, ctx.now_ms / 1000);
    }
    let blocked = ctx.serving.is_none() && matches!(ctx.action, Some(super::Action::Block(_)));
    if !blocked {
        ctx.store.track_latency(entry.id, usec);
    }
    if blocked {
        ctx.store.blocking.set_initial_usec(ctx.client.id, usec);
    } else if !entry.cmd.has(flags::SKIP_SLOWLOG) && ctx.store.params.slowlog_slower_than >= 0 {
        let args = redacted(entry, args);
        let (peer, name) = if ctx.in_script {
            ("?:0", None)
        } else {
            (ctx.client.addr.as_str(), ctx.client.name.as_ref())
        };
        let p = &ctx.store.params;
        let (slower_than, max_len) = (p.slowlog_slower_than, p.slowlog_max_len);
        ctx.store.slowlog.push(
            slower_than,
            max_len,
            &args,
            usec,
            crate::store::slowlog::Caller { peer, name },
            ctx.now_ms / 1000,
        );
    }
    if !entry.cmd.has(flags::SKIP_MONITOR | flags::ADMIN) {
        feed_monitors(ctx, entry, args);
    }
}

/// Sends the MONITOR line for `args` (with AUTH and HELLO passwords redacted) to
/// every monitoring client. EVAL feeds itself this way before its script runs, so
/// the script's commands follow it.
pub fn feed_monitors(ctx: &mut Ctx, entry: Entry, args: &[Bytes]) {
    use crate::store::monitor::{line, Source};
    if ctx.store.monitors.is_empty() {
        return;
    }
    let source = if ctx.in_script {
        Source::Lua
    } else if ctx.client.origin == crate::clients::Origin::Peer {
        Source::Peer(&ctx.client.addr)
    } else {
        Source::Client(&ctx.client.addr)
    };
    let text = line(
        crate::store::unix_us(),
        ctx.client.db,
        source,
        &redacted(entry, args),
    );
    let limit = ctx.store.params.normal_limit();
    ctx.store.monitors.feed(text, limit, ctx.now_ms);
}

/// The arguments as SLOWLOG and MONITOR show them: passwords replaced by
/// `(redacted)` as Redis 7.0's `redactClientCommandArgument` does (AUTH's
/// arguments, HELLO's AUTH username and password, CONFIG SET of requirepass and
/// masterauth).
fn redacted(entry: Entry, args: &[Bytes]) -> std::borrow::Cow<'_, [Bytes]> {
    const R: Bytes = Bytes::from_static(b"(redacted)");
    let hide: Vec<usize> = match entry.full_name {
        "auth" => (1..args.len()).collect(),
        "hello" => match args.iter().position(|a| super::is_kw(a, "auth")) {
            Some(i) if i >= 2 && i + 2 < args.len() => vec![i + 1, i + 2],
            _ => Vec::new(),
        },
        "config|set" => (2..args.len())
            .step_by(2)
            .filter(|&i| {
                i + 1 < args.len()
                    && ["requirepass", "masterauth"]
                        .iter()
                        .any(|n| super::is_kw(&args[i], n))
            })
            .map(|i| i + 1)
            .collect(),
        _ => Vec::new(),
    };
    if hide.is_empty() {
        return std::borrow::Cow::Borrowed(args);
    }
    let mut out = args.to_vec();
    for i in hide {
        out[i] = R;
    }
    std::borrow::Cow::Owned(out)
}

/// Logs a blocked command once it is served (Redis's `updateStatsOnUnblock`): its
/// first run's time plus the time to serve it, under the client as it blocked.
/// Redis 7.0 logs nothing for a blocked command that timed out.
pub fn log_unblocked(
    store: &mut crate::store::Store,
    w: &crate::store::blocking::Waiter,
    reply_usec: u64,
    now_ms: u64,
) {
    let Ok(entry) = resolve(&w.args) else {
        return;
    };
    let p = &store.params;
    if p.latency_threshold_ms != 0 {
        let threshold = p.latency_threshold_ms;
        store.latency.add_if_needed(
            threshold,
            "command-unblocking",
            reply_usec / 1000,
            now_ms / 1000,
        );
    }
    store.track_latency(entry.id, w.initial_usec + reply_usec);
    if entry.cmd.has(flags::SKIP_SLOWLOG) {
        return;
    }
    let (slower_than, max_len) = (
        store.params.slowlog_slower_than,
        store.params.slowlog_max_len,
    );
    store.slowlog.push(
        slower_than,
        max_len,
        &w.args,
        w.initial_usec + reply_usec,
        crate::store::slowlog::Caller {
            peer: &w.client.addr,
            name: w.client.name.as_ref(),
        },
        now_ms / 1000,
    );
}

/// Client tracking: remembers the keys a read-only command read, and ends the
/// effect of CLIENT CACHING after the command (or the transaction) it applied to.
fn track_reads(ctx: &mut Ctx, entry: Entry, args: &[Bytes]) {
    if entry.cmd.has(flags::READONLY) {
        let keys = entry
            .cmd
            .key_positions(args)
            .into_iter()
            .map(|i| args[i].clone());
        ctx.store
            .tracking
            .remember(ctx.client.id, ctx.client.caching, keys);
    }
    if !ctx.in_exec && ctx.client.multi.is_none() && !entry.full_name.starts_with("client|") {
        ctx.client.caching = false;
    }
}

/// Inside MULTI: queues a command that passed the gate's checks.
fn queue(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Some(q) = ctx.client.multi.as_mut() {
        q.push(args.to_vec());
    }
    Reply::Status("QUEUED")
}

/// Refuses a command before it runs, as Redis's `rejectCommand`: inside MULTI this
/// dooms the transaction (EXEC will answer EXECABORT); a refused EXEC itself ends
/// it with EXECABORT and the reason (without its `ERR ` code).
fn reject(ctx: &mut Ctx, args: &[Bytes], e: CmdError) -> Reply {
    let is_exec = table()
        .lookup(&args[0])
        .is_some_and(|entry| entry.cmd.has(flags::TX_EXEC));
    if is_exec {
        super::tx::discard_transaction(ctx);
        // MONITOR saw MULTI: it sees the EXEC that ends it (Redis's execCommandAbort).
        if let Some(entry) = table().lookup(&args[0]) {
            feed_monitors(ctx, entry, args);
        }
        let text = e.text();
        let reason = text.strip_prefix("ERR ").unwrap_or(&text);
        return error_reply(
            ctx,
            CmdError::Other(format!(
                "EXECABORT Transaction discarded because of: {reason}"
            )),
        );
    }
    if ctx.client.multi.is_some() {
        ctx.client.multi_error = true;
    }
    error_reply(ctx, e)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `resolve` gives for these arguments ("" if it finds a command).
    fn err(v: &[&[u8]]) -> String {
        let args: Vec<Bytes> = v.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        resolve(&args).err().map(|e| e.text()).unwrap_or_default()
    }

    #[test]
    fn unknown_command_text() {
        let e = err(&[b"NOSUCH", b"\x00", b"x y"]);
        assert_eq!(
            e,
            "ERR unknown command 'NOSUCH', with args beginning with: '' 'x y' "
        );
        // Arguments stop once 128 bytes are written; the last one is cut to fit.
        let long = vec![b'a'; 200];
        let e = err(&[b"FOO", &long, b"b"]);
        let expected = format!(
            "ERR unknown command 'FOO', with args beginning with: '{}' ",
            "a".repeat(128)
        );
        assert_eq!(e, expected);
    }

    #[test]
    fn a_container_alone_is_checked_against_its_own_arity() {
        assert!(resolve(&[Bytes::from_static(b"COMMAND")]).is_ok());
        assert_eq!(
            err(&[b"CLIENT"]),
            "ERR wrong number of arguments for 'client' command"
        );
    }

    #[test]
    fn container_errors() {
        assert_eq!(
            err(&[b"CONFIG"]),
            "ERR wrong number of arguments for 'config' command"
        );
        assert_eq!(
            err(&[b"config", b"foo"]),
            "ERR unknown subcommand 'foo'. Try CONFIG HELP."
        );
        assert_eq!(
            err(&[b"CLIENT", b"PAUSE"]),
            "ERR wrong number of arguments for 'client|pause' command"
        );
    }
}
