//! Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT (LOAD EXISTS FLUSH
//! KILL DEBUG HELP), with Redis 7.0's replies.
//!
//! A script runs inside its EVAL's handler, under the store lock the connection's
//! batch already holds, like EXEC: nobody sees it half done. Its `redis.call`s go
//! through [`script_call`], which applies Redis's script rules (unknown command,
//! arity, `NOSCRIPT` commands, writes from read-only scripts) and then the normal
//! `call` path. Blocking commands answer as if they timed out; blocked clients are
//! served after the script. The writes' effects are replicated as one
//! `MULTI`…`EXEC` unit, like a transaction's. FCALL (`commands::function`) runs its
//! functions through the same [`with_script_rules`].
//!
//! While a script runs past `busy-reply-threshold`, other connections do not wait
//! for the lock: [`while_busy`] answers them (BUSY, or SCRIPT KILL and SHUTDOWN
//! NOSAVE, which act on the shared [`Busy`] state).

use bytes::Bytes;

use super::dispatch::{call, resolve};
use super::table::{flags::*, table, Command, KeySpec};
use super::{arg_i64, is_kw, Action, CmdError, Ctx};
use crate::resp::Reply;
use crate::scripting::{Busy, Kill, ScriptFlags};

const G: &str = "scripting";
const NK: (i32, i32, i32) = (0, 0, 0);
pub(super) const EVAL: u32 =
    NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLE_KEYS | EFFECTS;
pub(super) const RW_UPDATE: &[&str] = &["RW", "access", "update"];
pub(super) const RO_ACCESS: &[&str] = &["RO", "access"];

/// EVAL's one key spec: `numkeys` at argument 2, the keys right after it.
pub(super) const fn numkeys_spec(flags: &'static [&'static str], notes: &'static str) -> KeySpec {
    KeySpec {
        notes,
        ..KeySpec::numkeys(2, flags)
    }
}

pub(super) const COMMANDS: &[Command] = &[
    Command::new("eval", -3, EVAL, NK, G, eval)
        .finder(script_keys)
        .key_specs(&[numkeys_spec(
            RW_UPDATE,
            "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
        )])
        .doc("2.6.0", "Execute a Lua script server side"),
    Command::new("evalsha", -3, EVAL, NK, G, evalsha)
        .finder(script_keys)
        .key_specs(&[KeySpec::numkeys(2, RW_UPDATE)])
        .doc("2.6.0", "Execute a Lua script server side"),
    Command::new("eval_ro", -3, READONLY | EVAL, NK, G, eval_ro)
        .finder(script_keys)
        .key_specs(&[numkeys_spec(
            RO_ACCESS,
            "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
        )])
        .doc("7.0.0", "Execute a read-only Lua script server side"),
    Command::new("evalsha_ro", -3, READONLY | EVAL, NK, G, evalsha_ro)
        .finder(script_keys)
        .key_specs(&[KeySpec::numkeys(2, RO_ACCESS)])
        .doc("7.0.0", "Execute a read-only Lua script server side"),
    Command::new("script", -2, LOCAL, NK, G, help)
        .doc("2.6.0", "A container for Lua scripts management commands")
        .sub(SCRIPT_SUBS),
];

const ALL_NODES: &[&str] = &["request_policy:all_nodes", "response_policy:all_succeeded"];

const SCRIPT_SUBS: &[Command] = &[
    Command::new("debug", 3, NOSCRIPT | LOCAL, NK, G, script_debug)
        .doc("3.2.0", "Set the debug mode for executed scripts."),
    Command::new("exists", -3, NOSCRIPT | LOCAL, NK, G, script_exists)
        .tips(&[
            "request_policy:all_shards",
            "response_policy:agg_logical_and",
        ])
        .doc("2.6.0", "Check existence of scripts in the script cache."),
    Command::new("flush", -2, NOSCRIPT | LOCAL, NK, G, script_flush)
        .tips(ALL_NODES)
        .doc("2.6.0", "Remove all the scripts from the script cache."),
    Command::new("help", 2, LOADING | STALE | LOCAL, NK, G, help)
        .doc("5.0.0", "Show helpful text about the different subcommands"),
    Command::new("kill", 2, NOSCRIPT | ALLOW_BUSY | LOCAL, NK, G, script_kill)
        .tips(&["request_policy:all_shards", "response_policy:one_succeeded"])
        .doc("2.6.0", "Kill the script currently in execution."),
    Command::new("load", 3, NOSCRIPT | STALE | LOCAL, NK, G, script_load)
        .tips(ALL_NODES)
        .doc(
            "2.6.0",
            "Load the specified Lua script into the script cache.",
        ),
];

/// The keys of EVAL-like commands: `numkeys` keys after the count at position 2.
pub(super) fn script_keys(args: &[Bytes]) -> Vec<usize> {
    let n = args
        .get(2)
        .and_then(|a| crate::num::parse_i64(a))
        .unwrap_or(0);
    if n < 1 || n as u64 > (args.len() - 3) as u64 {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        HELP.iter().map(|l| Reply::Status(l)).collect(),
    ))
}

/// Where the script to run comes from.
#[derive(Clone, Copy)]
enum Source {
    Body,
    Sha,
}

fn eval(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    run_script(ctx, args, Source::Body, false)
}

fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    run_script(ctx, args, Source::Sha, false)
}

fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    run_script(ctx, args, Source::Body, true)
}

fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    run_script(ctx, args, Source::Sha, true)
}

const NOSCRIPT_ERR: &str = "NOSCRIPT No matching script. Please use EVAL.";

fn run_script(ctx: &mut Ctx, args: &[Bytes], source: Source, ro: bool) -> Result<Reply, CmdError> {
    // The script (SKIP_MONITOR) shows in MONITOR before the commands it runs.
    if !ctx.store.monitors.is_empty() {
        if let Some(entry) = table().lookup(&args[0]) {
            super::dispatch::feed_monitors(ctx, entry, args);
        }
    }
    let numkeys = arg_i64(&args[2])?;
    if numkeys > (args.len() - 3) as i64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let mut vm = ctx.store.scripts.take_vm().map_err(CmdError::Other)?;
    let sha = match source {
        Source::Body => vm.load(&args[1]).map(std::borrow::Cow::Owned),
        Source::Sha => {
            let sha = crate::scripting::sha_key(&args[1]);
            if vm.flags(&sha).is_some() {
                Ok(sha)
            } else {
                Err(NOSCRIPT_ERR.to_string())
            }
        }
    };
    let sha = match sha {
        Ok(sha) => sha,
        Err(e) => {
            ctx.store.scripts.put_back(vm);
            return Err(CmdError::Other(e));
        }
    };
    let flags = vm.flags(&sha).unwrap_or_default();
    if let Err(e) = refuse_write_flag_on_ro(ro, &flags) {
        ctx.store.scripts.put_back(vm);
        return Err(e);
    }
    let split = 3 + numkeys as usize;
    let reply = with_script_rules(ctx, ro || flags.no_writes, |busy, exec| {
        vm.run(&sha, &args[3..split], &args[split..], busy, exec)
    });
    ctx.client.last_cmd = match (source, ro) {
        (Source::Body, false) => "eval",
        (Source::Sha, false) => "evalsha",
        (Source::Body, true) => "eval_ro",
        (Source::Sha, true) => "evalsha_ro",
    };
    ctx.store.scripts.put_back(vm);
    Ok(reply)
}

/// Redis's `scriptPrepareForRun` rule for `*_RO` commands: a script with a shebang
/// line (every function has one) must declare `no-writes` to run read-only. Scripts
/// without one run in compatibility mode, and their writes fail one by one instead.
pub(super) fn refuse_write_flag_on_ro(ro: bool, flags: &ScriptFlags) -> Result<(), CmdError> {
    if ro && flags.shebang && !flags.no_writes {
        return Err(CmdError::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(())
}

/// Runs a script or a function (`run`, given the busy timing and the `redis.call`
/// closure) as Redis runs scripts: nested in the caller's command like EXEC (blocking
/// commands do not block, blocked clients are served afterwards), each
/// `redis.call` through [`script_call`], and the writes' effects wrapped as one
/// `MULTI`…`EXEC` unit. EVAL and FCALL share this one path.
pub(super) fn with_script_rules<R>(
    ctx: &mut Ctx,
    deny_writes: bool,
    run: impl FnOnce((&Busy, u64, u64), &mut dyn FnMut(&[Bytes], u8) -> Reply) -> R,
) -> R {
    let busy = ctx.store.scripts.busy.clone();
    let limit = ctx.store.params.busy_reply_threshold_ms;
    let outer_effects = std::mem::take(&mut ctx.effects);
    let (may_block, in_exec, in_script) = (ctx.may_block, ctx.in_exec, ctx.in_script);
    ctx.may_block = false;
    ctx.in_exec = true;
    ctx.in_script = true;
    let now_ms = ctx.now_ms;
    // A script that runs for long moves this worker's other tasks to another thread
    // from its instruction hook (`Busy::hand_off_if_long`), so that they (and the BUSY
    // replies) are not stuck behind it.
    let reply = run((&busy, now_ms, limit), &mut |cmd, resp| {
        script_call(ctx, &busy, cmd, resp, deny_writes)
    });
    ctx.may_block = may_block;
    ctx.in_exec = in_exec;
    ctx.in_script = in_script;
    super::tx::wrap_effects(ctx, outer_effects);
    reply
}

/// One `redis.call` from a script: Redis's checks for scripts, then the command.
fn script_call(ctx: &mut Ctx, busy: &Busy, args: &[Bytes], resp: u8, deny_writes: bool) -> Reply {
    let t = table();
    let entry = t.lookup(&args[0]).and_then(|e| {
        if e.cmd.subcommands.is_empty() {
            Some(e)
        } else {
            args.get(1).and_then(|sub| t.lookup_sub(e, sub))
        }
    });
    let Some(entry) = entry else {
        return Reply::error("ERR Unknown Redis command called from script");
    };
    let arity = entry.cmd.arity;
    let argc = args.len() as i32;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Reply::error("ERR Wrong number of args calling Redis command from script");
    }
    if entry.cmd.has(NOSCRIPT) {
        return Reply::error("ERR This Redis command is not allowed from script");
    }
    if entry.cmd.has(WRITE) {
        if deny_writes {
            return Reply::error("ERR Write commands are not allowed from read-only scripts.");
        }
        busy.mark_write();
    }
    // The gate's checks ran above in their script form, on the entry `resolve` would
    // find. The command answers in the script's protocol (`redis.setresp`), not the
    // caller's.
    let proto = std::mem::replace(&mut ctx.client.proto, resp);
    // The command's time starts now, not when the script or its previous
    // `redis.call` did: the Lua code in between is the script's, not this command's
    // (INFO commandstats, SLOWLOG and latency stats time it as Redis's `call` does).
    ctx.started = std::time::Instant::now();
    let reply = call(ctx, entry, args);
    ctx.client.proto = proto;
    reply
}

fn script_load(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut vm = ctx.store.scripts.take_vm().map_err(CmdError::Other)?;
    let loaded = vm.load(&args[2]);
    ctx.store.scripts.put_back(vm);
    loaded
        .map(|sha| Reply::bulk(sha.into_bytes()))
        .map_err(CmdError::Other)
}

fn script_exists(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|sha| Reply::Int(i64::from(ctx.store.scripts.exists(sha))))
            .collect(),
    ))
}

fn script_flush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 3 || (args.len() == 3 && !is_kw(&args[2], "sync") && !is_kw(&args[2], "async"))
    {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.store.scripts.flush();
    Ok(Reply::OK)
}

/// SCRIPT KILL under the store lock: no script can be running then.
fn script_kill(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Err(CmdError::Other(NOTBUSY.into()))
}

pub(super) const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
/// BUSY while an EVAL script runs (and FUNCTION KILL or STATS, which cannot act on it).
pub(super) const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

/// SCRIPT DEBUG: NO is accepted; the Lua debugger (YES, SYNC) is not implemented.
fn script_debug(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if is_kw(&args[2], "no") {
        Ok(Reply::OK)
    } else if is_kw(&args[2], "yes") || is_kw(&args[2], "sync") {
        Err(CmdError::err(
            "SCRIPT DEBUG YES|SYNC is not supported by redmite",
        ))
    } else {
        Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO"))
    }
}

/// Answers a command that arrives while a script has run past
/// `busy-reply-threshold` (the store lock is held by the script), as Redis 7.0's
/// `processCommand`: unknown commands and bad arities get their usual errors, SCRIPT
/// KILL and SHUTDOWN NOSAVE act on `busy`, commands without the ALLOW_BUSY flag get
/// BUSY, and `None` means the command is ALLOW_BUSY but needs the store (HELLO,
/// AUTH, MULTI, WATCH...): the connection waits for the lock to run it.
pub fn while_busy(busy: &Busy, args: &[Bytes], now_ms: u64) -> Option<(Reply, Option<Action>)> {
    let busy_text = if busy.runs_function() {
        super::function::BUSY_FUNCTION
    } else {
        BUSY_EVAL
    };
    // Unknown commands and wrong arities are refused as usual, before BUSY.
    let entry = match resolve(args) {
        Ok(entry) => entry,
        Err(e) => return Some((Reply::Error(e.text()), None)),
    };
    let kill = |function: bool| match busy.kill(now_ms, function) {
        Kill::Killed => Reply::OK,
        Kill::NotBusy => Reply::error(NOTBUSY),
        Kill::Unkillable => Reply::error(UNKILLABLE),
        Kill::IsFunction => Reply::error(super::function::BUSY_FUNCTION),
        Kill::IsEval => Reply::error(BUSY_EVAL),
    };
    Some(match entry.full_name {
        "script|kill" => (kill(false), None),
        "function|kill" => (kill(true), None),
        "function|stats" => (super::function::busy_stats(busy, now_ms), None),
        "shutdown" if args.len() == 2 && is_kw(&args[1], "nosave") => {
            busy.force_kill();
            (Reply::None, Some(Action::Shutdown))
        }
        "shutdown" if args.len() > 2 => (Reply::Error(CmdError::Syntax.text()), None),
        "shutdown" => (Reply::error(busy_text), None),
        // EXEC is not ALLOW_BUSY; Redis's rejectCommand aborts the transaction with
        // the rejection as the reason (the caller leaves MULTI).
        "exec" => (
            Reply::Error(format!(
                "EXECABORT Transaction discarded because of: {busy_text}"
            )),
            None,
        ),
        // The other ALLOW_BUSY commands (HELLO, AUTH, MULTI, WATCH, RESET...)
        // need the client's state or the store: they wait for the script to end.
        _ if entry.cmd.has(ALLOW_BUSY) => return None,
        _ => (Reply::error(busy_text), None),
    })
}
