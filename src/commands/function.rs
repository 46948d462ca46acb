//! Functions: FCALL, FCALL_RO and FUNCTION (LOAD DELETE FLUSH LIST STATS KILL DUMP
//! RESTORE HELP), with Redis 7.0's replies.
//!
//! A function runs exactly as an EVAL script does (`scripting::with_script_rules`:
//! under the batch's store lock, its `redis.call`s through `script_call`, its
//! effects replicated as one `MULTI`…`EXEC` unit); only how it is found and what it
//! is given differ. FUNCTION LOAD, DELETE, FLUSH and RESTORE are writes that move
//! `store.dirty`, so the dispatcher replicates them as themselves: as keyless writes
//! they reach every node, and a function loaded on one node can be called on all.
//!
//! While a function runs past `busy-reply-threshold`, FUNCTION KILL and FUNCTION
//! STATS are answered by `scripting::while_busy` from the shared `Busy` state.

use bytes::Bytes;

use super::scripting::{
    numkeys_spec, refuse_write_flag_on_ro, script_keys, with_script_rules, EVAL, RO_ACCESS,
    RW_UPDATE,
};
use super::table::{flags::*, table, Command};
use super::{is_kw, CmdError, Ctx};
use crate::clients::Origin;
use crate::resp::Reply;
use crate::scripting::{Busy, RestorePolicy, RunningFunction};

const G: &str = "scripting";
const NK: (i32, i32, i32) = (0, 0, 0);
const ALL_SHARDS: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];

pub(super) const COMMANDS: &[Command] = &[
    Command::new("fcall", -3, EVAL, NK, G, fcall)
        .finder(script_keys)
        .key_specs(&[numkeys_spec(
            RW_UPDATE,
            "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE",
        )])
        .doc("7.0.0", "Invoke a function"),
    Command::new("fcall_ro", -3, READONLY | EVAL, NK, G, fcall_ro)
        .finder(script_keys)
        .key_specs(&[numkeys_spec(
            RO_ACCESS,
            "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS",
        )])
        .doc("7.0.0", "Invoke a read-only function"),
    Command::new("function", -2, LOCAL, NK, G, help)
        .doc("7.0.0", "A container for function commands")
        .sub(SUBCOMMANDS),
];

/// LOAD, DELETE, FLUSH and RESTORE are not `LOCAL`: the cluster replicates them.
const SUBCOMMANDS: &[Command] = &[
    Command::new("delete", 3, WRITE | NOSCRIPT, NK, G, delete)
        .tips(ALL_SHARDS)
        .doc("7.0.0", "Delete a function by name"),
    Command::new("dump", 2, NOSCRIPT | LOCAL, NK, G, dump).doc(
        "7.0.0",
        "Dump all functions into a serialized binary payload",
    ),
    Command::new("flush", -2, WRITE | NOSCRIPT, NK, G, flush)
        .tips(ALL_SHARDS)
        .doc("7.0.0", "Deleting all functions"),
    Command::new("help", 2, LOADING | STALE | LOCAL, NK, G, help)
        .doc("7.0.0", "Show helpful text about the different subcommands"),
    Command::new("kill", 2, NOSCRIPT | ALLOW_BUSY | LOCAL, NK, G, kill)
        .tips(&["request_policy:all_shards", "response_policy:one_succeeded"])
        .doc("7.0.0", "Kill the function currently in execution."),
    Command::new("list", -2, NOSCRIPT | LOCAL, NK, G, list)
        .tips(&["nondeterministic_output_order"])
        .doc("7.0.0", "List information about all the functions"),
    Command::new("load", -3, WRITE | DENYOOM | NOSCRIPT, NK, G, load)
        .tips(ALL_SHARDS)
        .doc(
            "7.0.0",
            "Create a function with the given arguments (name, code, description)",
        ),
    Command::new("restore", -3, WRITE | DENYOOM | NOSCRIPT, NK, G, restore)
        .tips(ALL_SHARDS)
        .doc("7.0.0", "Restore all the functions on the given payload"),
    Command::new("stats", 2, NOSCRIPT | ALLOW_BUSY | LOCAL, NK, G, stats)
        .tips(&[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ])
        .doc(
            "7.0.0",
            "Return information about the function currently running (name, description, duration)",
        ),
];

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// BUSY while a function runs (other commands than FUNCTION KILL/STATS, and SCRIPT
/// KILL, which cannot stop a function).
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        HELP.iter().map(|l| Reply::Status(l)).collect(),
    ))
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try FUNCTION HELP.`
fn syntax(args: &[Bytes]) -> CmdError {
    let sub = String::from_utf8_lossy(&args[1]);
    let sub: String = sub.chars().take(128).collect();
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."
    ))
}

fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    run_function(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    run_function(ctx, args, true)
}

/// FCALL and FCALL_RO, with Redis's order of checks: the function, the key count,
/// then the read-only rule.
fn run_function(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> Result<Reply, CmdError> {
    // The function (SKIP_MONITOR) shows in MONITOR before the commands it runs.
    if !ctx.store.monitors.is_empty() {
        if let Some(entry) = table().lookup(&args[0]) {
            super::dispatch::feed_monitors(ctx, entry, args);
        }
    }
    let functions = &mut ctx.store.scripts.functions;
    let Some(f) = functions.get(&args[1]).cloned() else {
        return Err(CmdError::err("Function not found"));
    };
    let Some(numkeys) = crate::num::parse_i64(&args[2]) else {
        return Err(CmdError::err("Bad number of keys provided"));
    };
    if numkeys > (args.len() - 3) as i64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    refuse_write_flag_on_ro(ro, &f.flags)?;
    let (libraries, count) = functions.counts();
    let Some(vm) = functions.take_vm() else {
        return Err(CmdError::err("Function not found"));
    };
    ctx.store.scripts.busy.set_function(RunningFunction {
        name: f.name.clone(),
        command: args.to_vec(),
        libraries,
        functions: count,
    });
    let split = 3 + numkeys as usize;
    let reply = with_script_rules(ctx, ro || f.flags.no_writes, |busy, exec| {
        vm.run(&f, &args[3..split], &args[split..], busy, exec)
    });
    ctx.client.last_cmd = if ro { "fcall_ro" } else { "fcall" };
    ctx.store.scripts.functions.put_back(vm);
    Ok(reply)
}

fn load(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut replace = false;
    let code_at = args.len() - 1;
    for opt in &args[2..code_at] {
        if !is_kw(opt, "replace") {
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        replace = true;
    }
    // Code replicated from a peer must load as it did on the origin, however long
    // it takes (Redis gives its master's commands no timeout either).
    let timeout = if ctx.client.origin == Origin::Peer {
        0
    } else {
        crate::scripting::LOAD_TIMEOUT_MS
    };
    let name = ctx
        .store
        .scripts
        .functions
        .load(&args[code_at], replace, timeout)
        .map_err(CmdError::Other)?;
    ctx.store.dirty += 1;
    Ok(Reply::bulk(name.into_bytes()))
}

fn delete(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if !ctx.store.scripts.functions.delete(&args[2]) {
        return Err(CmdError::err("Library not found"));
    }
    ctx.store.dirty += 1;
    Ok(Reply::OK)
}

fn flush(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(syntax(args));
    }
    if args.len() == 3 && !is_kw(&args[2], "sync") && !is_kw(&args[2], "async") {
        return Err(CmdError::err(
            "FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    ctx.store.scripts.functions.flush();
    ctx.store.dirty += 1;
    Ok(Reply::OK)
}

fn list(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        let arg = &args[i];
        if !with_code && is_kw(arg, "withcode") {
            with_code = true;
        } else if pattern.is_none() && is_kw(arg, "libraryname") {
            if i + 1 >= args.len() {
                return Err(CmdError::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(&args[i]);
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(arg)
            )));
        }
        i += 1;
    }
    let bulk = |s: &str| Reply::bulk(s.to_owned());
    let libs = ctx
        .store
        .scripts
        .functions
        .libraries()
        .filter(|l| pattern.is_none_or(|p| crate::glob::glob_match(p, l.name.as_bytes(), true)))
        .map(|lib| {
            let functions = lib
                .functions
                .values()
                .map(|f| {
                    Reply::Map(vec![
                        (bulk("name"), bulk(&f.name)),
                        (
                            bulk("description"),
                            f.description.clone().map_or(Reply::Nil, Reply::Bulk),
                        ),
                        (
                            bulk("flags"),
                            Reply::Set(
                                crate::scripting::flag_names(&f.flags)
                                    .into_iter()
                                    .map(Reply::Status)
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (bulk("library_name"), bulk(&lib.name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Ok(Reply::Array(libs))
}

/// FUNCTION STATS's reply: the running function (or nil) and the engines part.
fn stats_reply(running: Reply, libraries: usize, functions: usize) -> Reply {
    Reply::Map(vec![
        (Reply::bulk("running_script"), running),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![
                    (Reply::bulk("libraries_count"), Reply::Int(libraries as i64)),
                    (Reply::bulk("functions_count"), Reply::Int(functions as i64)),
                ]),
            )]),
        ),
    ])
}

/// FUNCTION STATS under the store lock: no function is running then.
fn stats(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let (libraries, functions) = ctx.store.scripts.functions.counts();
    Ok(stats_reply(Reply::Nil, libraries, functions))
}

/// FUNCTION STATS while a script is busy (see `scripting::while_busy`): the
/// running function, or BUSY when it is an EVAL script.
pub fn busy_stats(busy: &Busy, now_ms: u64) -> Reply {
    let Some(f) = busy.running_function() else {
        return Reply::error(super::scripting::BUSY_EVAL);
    };
    let running = Reply::Map(vec![
        (Reply::bulk("name"), Reply::bulk(f.name.into_bytes())),
        (
            Reply::bulk("command"),
            Reply::Array(f.command.into_iter().map(Reply::Bulk).collect()),
        ),
        (
            Reply::bulk("duration_ms"),
            Reply::Int(busy.duration_ms(now_ms) as i64),
        ),
    ]);
    stats_reply(running, f.libraries, f.functions)
}

/// FUNCTION KILL under the store lock: no function can be running then.
fn kill(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Err(CmdError::Other(super::scripting::NOTBUSY.into()))
}

fn dump(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::bulk(ctx.store.scripts.functions.dump()))
}

fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() > 4 {
        return Err(syntax(args));
    }
    let policy = match args.get(3) {
        None => RestorePolicy::Append,
        Some(p) if is_kw(p, "append") => RestorePolicy::Append,
        Some(p) if is_kw(p, "replace") => RestorePolicy::Replace,
        Some(p) if is_kw(p, "flush") => RestorePolicy::Flush,
        Some(_) => {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    ctx.store
        .scripts
        .functions
        .restore(&args[2], policy)
        .map_err(CmdError::Other)?;
    ctx.store.dirty += 1;
    Ok(Reply::OK)
}
