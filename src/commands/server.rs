//! Server commands: COMMAND, INFO, CONFIG, CLIENT, DBSIZE, FLUSHDB/FLUSHALL, TIME,
//! LASTSAVE, DEBUG, SHUTDOWN, WAIT, MEMORY.
//!
//! `CLIENT` and `CONFIG` handlers live in the `client` and `config` submodules and the
//! containers' `HELP` texts in `help`; this file holds the table for all of them.

mod client;
mod config;
mod help;
mod observe;
mod tracking;

use std::time::Duration;

use bytes::Bytes;

use super::table::{acl, flags, flags::*, table, Begin, Command, Entry, Find, KeySpec};
use super::{arg_i64, is_kw, lossy, Action, CmdError, Ctx};
use crate::resp::Reply;

pub(super) use client::validate_client_name;
pub(super) use tracking::disable_tracking;

const G: &str = "server";
const C: &str = "connection";
const NK: (i32, i32, i32) = (0, 0, 0);

const NONDET: &[&str] = &["nondeterministic_output"];
const NONDET_ORDER: &[&str] = &["nondeterministic_output_order"];
const ALL_SHARDS_OK: &[&str] = &["request_policy:all_shards", "response_policy:all_succeeded"];
const SPECIAL: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_shards",
    "response_policy:special",
];
/// Flags shared by most introspection subcommands.
const LS: u32 = LOADING | STALE;
const ADM: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub(super) const COMMANDS: &[Command] = &[
    Command::new("command", -1, LS | LOCAL, NK, G, command)
        .acl(acl::CONNECTION)
        .tips(NONDET_ORDER)
        .sub(COMMAND_SUBS),
    Command::new("dbsize", 1, READONLY | FAST | LOCAL, NK, G, dbsize)
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:all_shards", "response_policy:agg_sum"]),
    Command::new("flushdb", -1, WRITE, NK, G, flushdb)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(ALL_SHARDS_OK),
    Command::new("flushall", -1, WRITE, NK, G, flushall)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(ALL_SHARDS_OK),
    Command::new("info", -1, LS | LOCAL, NK, G, info)
        .acl(acl::DANGEROUS)
        .tips(SPECIAL),
    Command::new("config", -2, LOCAL, NK, G, help).sub(CONFIG_SUBS),
    Command::new("client", -2, LOCAL, NK, C, help).sub(CLIENT_SUBS),
    Command::new("time", 1, LS | FAST | LOCAL, NK, G, time).tips(NONDET),
    Command::new("lastsave", 1, LS | FAST | LOCAL, NK, G, lastsave)
        .acl(acl::ADMIN | acl::DANGEROUS)
        .tips(NONDET),
    Command::new("debug", -2, ADM | LOCAL, NK, G, debug),
    Command::new(
        "shutdown",
        -1,
        ADM | NO_MULTI | ALLOW_BUSY | LOCAL,
        NK,
        G,
        shutdown,
    ),
    Command::new("wait", 3, NOSCRIPT | LOCAL, NK, "generic", wait)
        .acl(acl::CONNECTION | acl::NO_GROUP)
        .tips(&["request_policy:all_shards", "response_policy:agg_min"]),
    Command::new("memory", -2, LOCAL, NK, G, help).sub(MEMORY_SUBS),
    Command::new("slowlog", -2, LOCAL, NK, G, help)
        .doc("2.2.12", "A container for slow log commands")
        .sub(SLOWLOG_SUBS),
    Command::new("latency", -2, LOCAL, NK, G, help)
        .doc("2.8.13", "A container for latency diagnostics commands")
        .sub(LATENCY_SUBS),
    Command::new("monitor", 1, ADM | LOCAL, NK, G, observe::monitor).doc(
        "1.0.0",
        "Listen for all requests received by the server in real time",
    ),
];

/// Flags of the SLOWLOG subcommands (not NOSCRIPT, unlike LATENCY's).
const SLOW: u32 = ADMIN | LOADING | STALE;
const ALL_NODES_SPECIAL: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_nodes",
    "response_policy:special",
];
const ALL_NODES_OK: &[&str] = &["request_policy:all_nodes", "response_policy:all_succeeded"];

const SLOWLOG_SUBS: &[Command] = &[
    Command::new("get", -2, SLOW, NK, G, observe::slowlog_get)
        .doc("2.2.12", "Get the slow log's entries")
        .tips(&["request_policy:all_nodes", "nondeterministic_output"]),
    Command::new("help", 2, LS, NK, G, help)
        .doc("6.2.0", "Show helpful text about the different subcommands"),
    Command::new("len", 2, SLOW, NK, G, observe::slowlog_len)
        .doc("2.2.12", "Get the slow log's length")
        .tips(&[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ]),
    Command::new("reset", 2, SLOW, NK, G, observe::slowlog_reset)
        .doc("2.2.12", "Clear all entries from the slow log")
        .tips(ALL_NODES_OK),
];

const LATENCY_SUBS: &[Command] = &[
    Command::new("doctor", 2, ADM, NK, G, observe::latency_doctor)
        .doc("2.8.13", "Return a human readable latency analysis report.")
        .tips(ALL_NODES_SPECIAL),
    Command::new("graph", 3, ADM, NK, G, observe::latency_graph)
        .doc("2.8.13", "Return a latency graph for the event.")
        .tips(ALL_NODES_SPECIAL),
    Command::new("help", 2, LS, NK, G, help).doc(
        "2.8.13",
        "Show helpful text about the different subcommands.",
    ),
    Command::new("history", 3, ADM, NK, G, observe::latency_history)
        .doc("2.8.13", "Return timestamp-latency samples for the event.")
        .tips(ALL_NODES_SPECIAL),
    Command::new("latest", 2, ADM, NK, G, observe::latency_latest)
        .doc(
            "2.8.13",
            "Return the latest latency samples for all events.",
        )
        .tips(ALL_NODES_SPECIAL),
    Command::new("reset", -2, ADM, NK, G, observe::latency_reset)
        .doc("2.8.13", "Reset latency data for one or more events.")
        .tips(ALL_NODES_OK),
];

const COMMAND_SUBS: &[Command] = &[
    Command::new("count", 2, LS, NK, G, command_count).acl(acl::CONNECTION),
    Command::new("docs", -2, LS, NK, G, command_docs)
        .acl(acl::CONNECTION)
        .tips(NONDET_ORDER),
    Command::new("getkeys", -4, LS, NK, G, command_getkeys).acl(acl::CONNECTION),
    Command::new("getkeysandflags", -4, LS, NK, G, command_getkeys).acl(acl::CONNECTION),
    Command::new("info", -2, LS, NK, G, command_info)
        .acl(acl::CONNECTION)
        .tips(NONDET_ORDER),
    Command::new("list", -2, LS, NK, G, command_list)
        .acl(acl::CONNECTION)
        .tips(NONDET_ORDER),
    Command::new("help", 2, LS, NK, G, help).acl(acl::CONNECTION),
];

const CONFIG_SUBS: &[Command] = &[
    Command::new("get", -3, ADM, NK, G, config::get),
    Command::new("set", -4, ADM, NK, G, config::set)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    Command::new("resetstat", 2, ADM, NK, G, config::resetstat),
    Command::new("rewrite", 2, ADM, NK, G, config::rewrite),
    Command::new("help", 2, LS, NK, G, help),
];

/// Flags of the CLIENT subcommands any client may use on itself.
const OWN: u32 = NOSCRIPT | LOADING | STALE;

const CLIENT_SUBS: &[Command] = &[
    Command::new("id", 2, OWN, NK, C, client::id),
    Command::new("getname", 2, OWN, NK, C, client::getname),
    Command::new("setname", 3, OWN, NK, C, client::setname),
    Command::new("setinfo", 4, OWN, NK, C, client::setinfo).doc(
        "7.2.0",
        "Set client or connection specific info",
    ),
    Command::new("info", 2, OWN, NK, C, client::info).tips(NONDET),
    Command::new("list", -2, ADM, NK, C, client::list).tips(NONDET),
    Command::new("kill", -3, ADM, NK, C, client::kill),
    Command::new("no-evict", 3, ADM, NK, C, client::no_evict),
    Command::new("no-touch", 3, OWN, NK, C, client::no_touch).doc(
        "7.2.0",
        "Controls whether commands sent by the client will alter the LRU/LFU of the keys they access",
    ),
    Command::new("reply", 3, OWN, NK, C, client::reply),
    Command::new("pause", -3, ADM, NK, C, client::pause),
    Command::new("unpause", 2, ADM, NK, C, client::unpause),
    Command::new("unblock", -3, ADM, NK, C, super::blocking::client_unblock),
    Command::new("tracking", -3, OWN, NK, C, tracking::tracking),
    Command::new("caching", 3, OWN, NK, C, tracking::caching),
    Command::new("getredir", 2, OWN, NK, C, tracking::getredir),
    Command::new("trackinginfo", 2, OWN, NK, C, tracking::trackinginfo),
    Command::new("help", 2, LS, NK, C, help),
];

const MEMORY_SUBS: &[Command] = &[
    Command::new("doctor", 2, 0, NK, G, memory_doctor).tips(SPECIAL),
    Command::new("malloc-stats", 2, 0, NK, G, memory_malloc_stats).tips(SPECIAL),
    Command::new("purge", 2, 0, NK, G, memory_purge).tips(ALL_SHARDS_OK),
    Command::new("stats", 2, 0, NK, G, memory_stats).tips(SPECIAL),
    Command::new("usage", -3, READONLY, (2, 2, 1), G, memory_usage).key_spec(&["RO"], ""),
    Command::new("help", 2, LS, NK, G, help),
];

/// `<CMD> HELP` for containers, with Redis's texts.
fn help(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let name = lossy(&args[0]).to_ascii_lowercase();
    help::reply(&name).ok_or(CmdError::Syntax)
}

// ---- COMMAND ----

fn command(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        table().top_level().map(command_entry).collect(),
    ))
}

fn status_set(items: impl IntoIterator<Item = String>) -> Reply {
    Reply::Set(items.into_iter().map(Reply::StatusOwned).collect())
}

/// The key spec flags of a command: declared, or `RW access` / `RO access`.
fn key_flags(cmd: &Command) -> Vec<String> {
    if !cmd.key_flags.is_empty() {
        return cmd.key_flags.iter().map(|f| f.to_string()).collect();
    }
    let access = if cmd.has(WRITE) { "RW" } else { "RO" };
    vec![access.to_string(), "access".to_string()]
}

/// One key spec as `COMMAND INFO` shows it.
fn key_spec_reply(spec: &KeySpec, flags: Vec<String>) -> Reply {
    let s = |v: &str| Reply::bulk_from(v.as_bytes());
    let int = |v: i32| Reply::Int(v.into());
    let typed = |kind: &str, spec: Vec<(Reply, Reply)>| {
        Reply::Map(vec![(s("type"), s(kind)), (s("spec"), Reply::Map(spec))])
    };
    let mut fields = Vec::new();
    if !spec.notes.is_empty() {
        fields.push((s("notes"), s(spec.notes)));
    }
    fields.push((s("flags"), status_set(flags)));
    let begin = match spec.begin {
        Begin::Index(i) => typed("index", vec![(s("index"), int(i))]),
        Begin::Keyword(kw, from) => typed(
            "keyword",
            vec![(s("keyword"), s(kw)), (s("startfrom"), int(from))],
        ),
        Begin::Unknown => typed("unknown", vec![]),
    };
    fields.push((s("begin_search"), begin));
    let find = match spec.find {
        Find::Range(last, step, limit) => typed(
            "range",
            vec![
                (s("lastkey"), int(last)),
                (s("keystep"), int(step)),
                (s("limit"), int(limit)),
            ],
        ),
        Find::Keynum(idx, first, step) => typed(
            "keynum",
            vec![
                (s("keynumidx"), int(idx)),
                (s("firstkey"), int(first)),
                (s("keystep"), int(step)),
            ],
        ),
        Find::Unknown => typed("unknown", vec![]),
    };
    fields.push((s("find_keys"), find));
    Reply::Map(fields)
}

/// The key specs of a command: the declared ones, or the one Redis would describe
/// for its fixed (first, last, step) range.
fn key_specs(cmd: &Command) -> Vec<Reply> {
    if !cmd.key_specs.is_empty() {
        return cmd
            .key_specs
            .iter()
            .map(|k| key_spec_reply(k, k.flags.iter().map(|f| f.to_string()).collect()))
            .collect();
    }
    let (first, last, step) = cmd.keys;
    if first <= 0 {
        return Vec::new();
    }
    let spec = KeySpec {
        notes: cmd.key_notes,
        flags: &[],
        begin: Begin::Index(first),
        find: Find::Range(if last < 0 { last } else { last - first }, step, 0),
    };
    vec![key_spec_reply(&spec, key_flags(cmd))]
}

/// One `COMMAND INFO` entry: name, arity, flags, first/last/step, ACL categories,
/// tips, key specs, subcommands.
fn command_entry(e: Entry) -> Reply {
    let cmd = e.cmd;
    let flag_names = flags::NAMES
        .iter()
        .filter(|(f, _)| cmd.has(*f))
        .map(|(_, n)| n.to_string());
    let (first, last, step) = cmd.keys;
    let subs: Vec<Reply> = table()
        .subcommands_of(e)
        .into_iter()
        .map(command_entry)
        .collect();
    Reply::Array(vec![
        Reply::bulk_from(e.full_name.as_bytes()),
        Reply::Int(cmd.arity.into()),
        status_set(flag_names),
        Reply::Int(first.into()),
        Reply::Int(last.into()),
        Reply::Int(step.into()),
        status_set(cmd.acl_names()),
        Reply::Set(
            cmd.tips
                .iter()
                .map(|t| Reply::bulk_from(t.as_bytes()))
                .collect(),
        ),
        Reply::Set(key_specs(cmd)),
        // Redis: an empty set without subcommands, an array of them otherwise.
        if subs.is_empty() {
            Reply::Set(subs)
        } else {
            Reply::Array(subs)
        },
    ])
}

/// Finds a command or `container|sub` by name.
fn find(name: &[u8]) -> Option<Entry> {
    let t = table();
    match name.iter().position(|&c| c == b'|') {
        Some(i) => t
            .lookup(&name[..i])
            .and_then(|p| t.lookup_sub(p, &name[i + 1..])),
        None => t.lookup(name),
    }
}

fn command_count(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(table().top_level().count() as i64))
}

fn command_info(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() == 2 {
        return command(ctx, &args[..1]);
    }
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|n| find(n).map_or(Reply::Nil, command_entry))
            .collect(),
    ))
}

fn command_doc(e: Entry) -> Reply {
    let s = |v: &str| Reply::bulk_from(v.as_bytes());
    let mut fields = vec![
        (s("summary"), s(e.cmd.summary)),
        (s("since"), s(e.cmd.since)),
        (s("group"), s(e.cmd.group)),
    ];
    let subs = table().subcommands_of(e);
    if !subs.is_empty() {
        fields.push((
            s("subcommands"),
            Reply::Map(
                subs.into_iter()
                    .map(|sub| (s(sub.full_name), command_doc(sub)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

fn command_docs(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let s = |v: &str| Reply::bulk_from(v.as_bytes());
    let entries: Vec<Entry> = if args.len() == 2 {
        table().top_level().collect()
    } else {
        args[2..].iter().filter_map(|n| find(n)).collect()
    };
    Ok(Reply::Map(
        entries
            .into_iter()
            .map(|e| (s(e.full_name), command_doc(e)))
            .collect(),
    ))
}

/// `COMMAND GETKEYS` and `COMMAND GETKEYSANDFLAGS`, with Redis's checks in its order:
/// the command exists, it takes keys, its arity fits.
fn command_getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let with_flags = is_kw(&args[1], "getkeysandflags");
    let cmd_args = &args[2..];
    let t = table();
    let entry = t.lookup(&cmd_args[0]).and_then(|e| {
        if e.cmd.subcommands.is_empty() || cmd_args.len() < 2 {
            Some(e)
        } else {
            t.lookup_sub(e, &cmd_args[1])
        }
    });
    let Some(entry) = entry else {
        return Err(CmdError::err("Invalid command specified"));
    };
    let cmd = entry.cmd;
    // A `not_key` spec (SPUBLISH's shard channel) names an argument that routes like a
    // key but is none.
    if (cmd.keys.0 <= 0 && cmd.key_finder.is_none()) || cmd.key_flags.contains(&"not_key") {
        return Err(CmdError::err("The command has no key arguments"));
    }
    let argc = cmd_args.len() as i32;
    if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    // Declared key specs first, then the command's own key positions, as Redis
    // does. Keys found by a spec carry its flags; when the specs cannot find the
    // keys (SORT's STORE), a key gets the flags of the spec that starts at its
    // position, else those of the last spec (SORT's `OW update` destination).
    let strings = |f: &[&str]| f.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    let fallback = |i: usize| match cmd.key_specs {
        [] => key_flags(cmd),
        [.., last] => strings(
            cmd.key_specs
                .iter()
                .find(|k| matches!(k.begin, Begin::Index(at) if at as usize == i))
                .unwrap_or(last)
                .flags,
        ),
    };
    let keys: Vec<(usize, Vec<String>)> = match cmd.spec_keys(cmd_args) {
        Some(keys) => keys.into_iter().map(|(i, f)| (i, strings(f))).collect(),
        None => cmd
            .key_positions(cmd_args)
            .into_iter()
            .map(|i| (i, fallback(i)))
            .collect(),
    };
    if keys.is_empty() && !cmd.has(NO_MANDATORY_KEYS) {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(i, flags)| {
                let key = Reply::Bulk(cmd_args[i].clone());
                if with_flags {
                    Reply::Array(vec![key, status_set(flags)])
                } else {
                    key
                }
            })
            .collect(),
    ))
}

fn command_list(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut names = Vec::new();
    let filter = match args.len() {
        2 => None,
        5 if is_kw(&args[2], "filterby") => Some((args[3].clone(), args[4].clone())),
        _ => return Err(CmdError::Syntax),
    };
    for e in table().entries.iter() {
        let keep = match &filter {
            None => true,
            Some((kind, v)) if is_kw(kind, "pattern") => {
                crate::glob::glob_match(v, e.full_name.as_bytes(), true)
            }
            Some((kind, v)) if is_kw(kind, "aclcat") => {
                let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                e.cmd.acl_names().contains(&cat)
            }
            Some((kind, _)) if is_kw(kind, "module") => false,
            Some(_) => return Err(CmdError::Syntax),
        };
        if keep {
            names.push(Reply::bulk_from(e.full_name.as_bytes()));
        }
    }
    Ok(Reply::Array(names))
}

// ---- keyspace-wide ----

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.db().len() as i64))
}

fn flush_mode(args: &[Bytes]) -> Result<(), CmdError> {
    match args.len() {
        1 => Ok(()),
        2 if is_kw(&args[1], "async") || is_kw(&args[1], "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    flush_mode(args)?;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    ctx.store
        .watch
        .touch_all_in_db(&ctx.store.dbs, db, None, now);
    if !ctx.store.tracking.is_empty() {
        ctx.store.invalidate_all(ctx.client.id);
    }
    let n = ctx.db().len() as u64;
    ctx.db().clear();
    ctx.store.dirty += n.max(1);
    Ok(Reply::OK)
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    flush_mode(args)?;
    for db in 0..ctx.store.dbs.len() {
        ctx.store
            .watch
            .touch_all_in_db(&ctx.store.dbs, db, None, ctx.now_ms);
    }
    if !ctx.store.tracking.is_empty() {
        ctx.store.invalidate_all(ctx.client.id);
    }
    let mut n = 0;
    for db in ctx.store.dbs.iter_mut() {
        n += db.len() as u64;
        db.clear();
    }
    ctx.store.dirty += n.max(1);
    Ok(Reply::OK)
}

fn time(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let _ = ctx;
    let us = crate::store::unix_us();
    Ok(Reply::Array(vec![
        Reply::Bulk(crate::num::i64_bytes((us / 1_000_000) as i64)),
        Reply::Bulk(crate::num::i64_bytes((us % 1_000_000) as i64)),
    ]))
}

fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.store.lastsave as i64))
}

// ---- INFO ----

fn info(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let sections: Vec<String> = args[1..]
        .iter()
        .map(|a| lossy(a).to_ascii_lowercase())
        .collect();
    Ok(Reply::Verbatim(Bytes::from(crate::info::render(
        ctx.store, ctx.now_ms, &sections,
    ))))
}

/// C's `atoi`: an optional sign and leading digits, 0 when there are none (DEBUG
/// takes its numeric arguments this way).
fn atoi(a: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(a);
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let v = digits[..end].parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// C's `strtod` on a whole argument: the number, or 0 when it is not one.
fn strtod(a: &[u8]) -> f64 {
    std::str::from_utf8(a)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// `DEBUG` subcommands that tests and tools use. Unlike Redis, DEBUG SLEEP delays only
/// the calling connection (its reply and later commands), never the whole server:
/// sleeping under the store lock would stall a runtime thread.
fn debug(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let sub = lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("help", 2) => return help(ctx, args),
        ("sleep", 3) => {
            let secs = strtod(&args[2]);
            if secs > 0.0 {
                let d = Duration::from_secs_f64(secs.min(1e9));
                // Redis sleeps with the server blocked, so the sleep is the command's
                // time in SLOWLOG, LATENCY and commandstats.
                ctx.slept_usec = d.as_micros() as u64;
                ctx.action = Some(Action::Sleep(d));
            }
            return Ok(Reply::OK);
        }
        ("set-active-expire", 3) => {
            ctx.store.active_expire = atoi(&args[2]) != 0;
            return Ok(Reply::OK);
        }
        ("object", 3) => {
            let now = ctx.now_ms;
            let lru_now = ctx.lru();
            let Some(o) = ctx.db().get(&args[2], now) else {
                return Err(CmdError::NoSuchKey);
            };
            let idle = lru_now.wrapping_sub(o.lru) & 0xFF_FFFF;
            let serialized = o.value.as_str().map_or(0, |s| s.len() + 1);
            return Ok(Reply::StatusOwned(format!(
                "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                o as *const _,
                o.value.encoding(),
                serialized,
                o.lru,
                idle
            )));
        }
        ("change-repl-id", 2) | ("reload", _) => return Ok(Reply::OK),
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", lossy(&args[2]));
            return Ok(Reply::OK);
        }
        ("error", 3) => {
            let text = lossy(&args[2]);
            return Ok(Reply::Error(match text.strip_prefix('-') {
                Some(t) => t.to_string(),
                None => format!("ERR {text}"),
            }));
        }
        _ => {}
    }
    Err(CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        lossy(&args[1])
    )))
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`. There is nothing to save yet, so
/// every valid form stops the server at once and ABORT never finds a shutdown to
/// cancel.
fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let (mut nosave, mut save, mut other, mut abort) = (false, false, false, false);
    for a in &args[1..] {
        if is_kw(a, "nosave") {
            nosave = true;
        } else if is_kw(a, "save") {
            save = true;
        } else if is_kw(a, "now") || is_kw(a, "force") {
            other = true;
        } else if is_kw(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    ctx.action = Some(Action::Shutdown);
    ctx.store.shutdown_requested = true;
    Ok(Reply::None)
}

/// `WAIT numreplicas timeout`. No replica ever acknowledges yet: asking for none
/// answers 0 at once; asking for some waits out the timeout (forever for 0), as Redis
/// does without replicas.
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let wanted = arg_i64(&args[1])?;
    let ms = client::timeout_ms(&args[2])?;
    if wanted > 0 {
        let d = if ms == 0 {
            Duration::MAX
        } else {
            Duration::from_millis(ms)
        };
        ctx.action = Some(Action::Sleep(d));
    }
    Ok(Reply::Int(0))
}

// ---- MEMORY ----

fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut j = 3;
    while j < args.len() {
        if is_kw(&args[j], "samples") && j + 1 < args.len() {
            if arg_i64(&args[j + 1])? < 0 {
                return Err(CmdError::Syntax);
            }
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ctx.now_ms;
    let key = &args[2];
    Ok(match ctx.db().get(key, now) {
        None => Reply::Nil,
        Some(o) => Reply::Int(crate::store::value::memory_usage(key, &o.value) as i64),
    })
}

/// `MEMORY STATS`: Redis 7.0's fields, from the allocator's figures.
fn memory_stats(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let (used, active, resident, rss) = crate::info::memory_figures();
    let s = |v: &str| Reply::bulk_from(v.as_bytes());
    let int = |v: u64| Reply::Int(v as i64);
    let ratio = |a: u64, b: u64| Reply::Double(if b == 0 { 0.0 } else { a as f64 / b as f64 });
    let keys: u64 = ctx.store.dbs.iter().map(|d| d.len() as u64).sum();
    let overhead: u64 = ctx
        .store
        .dbs
        .iter()
        .map(|d| ((d.len() + d.expires.len()) * 24) as u64)
        .sum();
    let dataset = used.saturating_sub(overhead);
    let mut m = vec![
        (s("peak.allocated"), int(used)),
        (s("total.allocated"), int(used)),
        (s("startup.allocated"), int(0)),
        (s("replication.backlog"), int(0)),
        (s("clients.slaves"), int(0)),
        (
            s("clients.normal"),
            int(ctx.store.clients.len() as u64 * 20_000),
        ),
        (s("cluster.links"), int(0)),
        (s("aof.buffer"), int(0)),
        (s("lua.caches"), int(0)),
        (s("functions.caches"), int(0)),
    ];
    for (i, db) in ctx.store.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        m.push((
            Reply::bulk_from(format!("db.{i}").as_bytes()),
            Reply::Map(vec![
                (s("overhead.hashtable.main"), int(db.len() as u64 * 24)),
                (
                    s("overhead.hashtable.expires"),
                    int(db.expires.len() as u64 * 24),
                ),
            ]),
        ));
    }
    m.extend([
        (s("overhead.total"), int(overhead)),
        (s("keys.count"), int(keys)),
        (
            s("keys.bytes-per-key"),
            int(used.checked_div(keys).unwrap_or(0)),
        ),
        (s("dataset.bytes"), int(dataset)),
        (s("dataset.percentage"), ratio(dataset * 100, used)),
        (s("peak.percentage"), Reply::Double(100.0)),
        (s("allocator.allocated"), int(used)),
        (s("allocator.active"), int(active)),
        (s("allocator.resident"), int(resident)),
        (s("allocator-fragmentation.ratio"), ratio(active, used)),
        (
            s("allocator-fragmentation.bytes"),
            int(active.saturating_sub(used)),
        ),
        (s("allocator-rss.ratio"), ratio(resident, active)),
        (
            s("allocator-rss.bytes"),
            int(resident.saturating_sub(active)),
        ),
        (s("rss-overhead.ratio"), ratio(rss, resident)),
        (s("rss-overhead.bytes"), int(rss.saturating_sub(resident))),
        (s("fragmentation"), ratio(rss, used)),
        (s("fragmentation.bytes"), int(rss.saturating_sub(used))),
    ]);
    Ok(Reply::Map(m))
}

fn memory_doctor(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let empty = ctx.store.dbs.iter().all(|d| d.is_empty());
    let text = if empty {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    Ok(Reply::Verbatim(Bytes::from_static(text.as_bytes())))
}

fn memory_malloc_stats(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let (used, active, resident, _) = crate::info::memory_figures();
    Ok(Reply::Verbatim(Bytes::from(format!(
        "___ Begin jemalloc statistics ___\nAllocated: {used}, active: {active}, resident: {resident}\n--- End jemalloc statistics ---\n"
    ))))
}

fn memory_purge(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b" -12abc"), -12);
        assert_eq!(strtod(b"0.5"), 0.5);
        assert_eq!(strtod(b"abc"), 0.0);
    }

    #[test]
    fn acl_categories_in_redis_order() {
        let t = table();
        let names = |n: &str| find(n.as_bytes()).map(|e| e.cmd.acl_names());
        assert_eq!(
            names("config|get"),
            Some(vec!["@admin".into(), "@slow".into(), "@dangerous".into()])
        );
        assert_eq!(names("client"), Some(vec!["@slow".to_string()]));
        assert_eq!(
            names("wait"),
            Some(vec!["@slow".to_string(), "@connection".to_string()])
        );
        assert!(t.lookup(b"ping").is_some());
    }
}
