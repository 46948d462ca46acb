//! Server commands: COMMAND, INFO, CONFIG, CLIENT, DBSIZE, FLUSHDB/FLUSHALL, TIME,
//! LASTSAVE, DEBUG, SHUTDOWN, WAIT, MEMORY.

use std::time::Duration;

use bytes::Bytes;

use super::table::{flags, flags::*, table, Command, Entry};
use super::{arg_i64, is_kw, lossy, Action, CmdError, Ctx};
use crate::clients::ReplyMode;
use crate::params::SetError;
use crate::resp::Reply;

const G: &str = "server";
const C: &str = "connection";
const NK: (i32, i32, i32) = (0, 0, 0);

pub(super) const COMMANDS: &[Command] = &[
    Command::new("command", -1, LOADING | STALE | LOCAL, NK, G, command).sub(COMMAND_SUBS),
    Command::new("dbsize", 1, READONLY | FAST | LOCAL, NK, G, dbsize),
    Command::new("flushdb", -1, WRITE, NK, G, flushdb),
    Command::new("flushall", -1, WRITE, NK, G, flushall),
    Command::new("info", -1, LOADING | STALE | LOCAL, NK, G, info),
    Command::new("config", -2, LOCAL, NK, G, help).sub(CONFIG_SUBS),
    Command::new("client", -2, LOCAL, NK, C, help).sub(CLIENT_SUBS),
    Command::new("time", 1, LOADING | STALE | FAST | LOCAL, NK, G, time),
    Command::new(
        "lastsave",
        1,
        LOADING | STALE | FAST | LOCAL,
        NK,
        G,
        lastsave,
    ),
    Command::new(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE | LOCAL,
        NK,
        G,
        debug,
    ),
    Command::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | LOCAL,
        NK,
        G,
        shutdown,
    ),
    Command::new("wait", 3, NOSCRIPT | LOCAL, NK, G, wait),
    Command::new("memory", -2, LOCAL, NK, G, help).sub(MEMORY_SUBS),
];

const COMMAND_SUBS: &[Command] = &[
    Command::new("count", 2, LOADING | STALE, NK, G, command_count),
    Command::new("info", -2, LOADING | STALE, NK, G, command_info),
    Command::new("docs", -2, LOADING | STALE, NK, G, command_docs),
    Command::new("getkeys", -3, LOADING | STALE, NK, G, command_getkeys),
    Command::new("list", -2, LOADING | STALE, NK, G, command_list),
    Command::new("help", 2, LOADING | STALE, NK, G, help),
];

const CONFIG_SUBS: &[Command] = &[
    Command::new(
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        G,
        config_get,
    ),
    Command::new(
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        G,
        config_set,
    ),
    Command::new(
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        G,
        config_resetstat,
    ),
    Command::new(
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        G,
        config_rewrite,
    ),
    Command::new("help", 2, LOADING | STALE, NK, G, help),
];

const CLIENT_SUBS: &[Command] = &[
    Command::new("id", 2, NOSCRIPT | LOADING | STALE, NK, C, client_id),
    Command::new(
        "getname",
        2,
        NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_getname,
    ),
    Command::new(
        "setname",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_setname,
    ),
    Command::new(
        "setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_setinfo,
    ),
    Command::new("info", 2, NOSCRIPT | LOADING | STALE, NK, C, client_info),
    Command::new(
        "list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_list,
    ),
    Command::new(
        "kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_kill,
    ),
    Command::new(
        "no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_no_evict,
    ),
    Command::new(
        "no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        C,
        client_no_touch,
    ),
    Command::new("reply", 3, NOSCRIPT | LOADING | STALE, NK, C, client_reply),
    Command::new(
        "unblock",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        C,
        super::blocking::client_unblock,
    ),
    Command::new("help", 2, LOADING | STALE, NK, C, help),
];

const MEMORY_SUBS: &[Command] = &[
    Command::new("usage", -3, READONLY, (2, 2, 1), G, memory_usage),
    Command::new("help", 2, LOADING | STALE, NK, G, help),
];

/// `<CMD> HELP` for containers: a short list of the subcommands.
fn help(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let name = lossy(&args[0]).to_uppercase();
    let Some(entry) = table().lookup(&args[0]) else {
        return Err(CmdError::Syntax);
    };
    let mut lines = vec![format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )];
    for sub in entry.cmd.subcommands {
        lines.push(sub.name.to_uppercase());
    }
    Ok(Reply::Array(
        lines.into_iter().map(|l| Reply::StatusOwned(l)).collect(),
    ))
}

// ---- COMMAND ----

fn command(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    debug_assert_eq!(args.len(), 1);
    Ok(Reply::Array(
        table().top_level().map(command_entry).collect(),
    ))
}

fn status_set(items: impl IntoIterator<Item = String>) -> Reply {
    Reply::Set(items.into_iter().map(Reply::StatusOwned).collect())
}

/// ACL categories derived from flags and group, in the order Redis prints them.
fn categories(cmd: &Command) -> Vec<String> {
    let mut out = Vec::new();
    if cmd.has(WRITE) {
        out.push("@write".to_string());
    }
    if cmd.has(READONLY) {
        out.push("@read".into());
    }
    let group = match cmd.group {
        "generic" => Some("@keyspace"),
        "string" => Some("@string"),
        "list" => Some("@list"),
        "hash" => Some("@hash"),
        "set" => Some("@set"),
        "sorted-set" => Some("@sortedset"),
        "connection" => Some("@connection"),
        "pubsub" => Some("@pubsub"),
        "scripting" => Some("@scripting"),
        "transactions" => Some("@transaction"),
        "bitmap" => Some("@bitmap"),
        "hyperloglog" => Some("@hyperloglog"),
        "geo" => Some("@geo"),
        _ => None,
    };
    out.extend(group.map(String::from));
    if cmd.has(ADMIN) {
        out.push("@admin".into());
        out.push("@dangerous".into());
    }
    out.push(if cmd.has(FAST) {
        "@fast".into()
    } else {
        "@slow".into()
    });
    if cmd.has(BLOCKING) {
        out.push("@blocking".into());
    }
    out
}

fn command_entry(e: Entry) -> Reply {
    let cmd = e.cmd;
    let flag_names = flags::NAMES
        .iter()
        .filter(|(f, _)| cmd.has(*f))
        .map(|(_, n)| n.to_string());
    let (first, last, step) = cmd.keys;
    let key_specs = if first > 0 {
        let s = |v: &str| Reply::bulk_from(v.as_bytes());
        let access = if cmd.has(WRITE) { "RW" } else { "RO" };
        vec![Reply::Map(vec![
            (
                s("flags"),
                status_set([access.to_string(), "access".to_string()]),
            ),
            (
                s("begin_search"),
                Reply::Map(vec![
                    (s("type"), s("index")),
                    (
                        s("spec"),
                        Reply::Map(vec![(s("index"), Reply::Int(first.into()))]),
                    ),
                ]),
            ),
            (
                s("find_keys"),
                Reply::Map(vec![
                    (s("type"), s("range")),
                    (
                        s("spec"),
                        Reply::Map(vec![
                            (
                                s("lastkey"),
                                Reply::Int(if last < 0 {
                                    last.into()
                                } else {
                                    (last - first).into()
                                }),
                            ),
                            (s("keystep"), Reply::Int(step.into())),
                            (s("limit"), Reply::Int(0)),
                        ]),
                    ),
                ]),
            ),
        ])]
    } else {
        vec![]
    };
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
        status_set(categories(cmd)),
        Reply::Set(vec![]),
        Reply::Array(key_specs),
        Reply::Array(subs),
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

fn command_info(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() == 2 {
        return command(_ctx, &args[..1]);
    }
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|n| find(n).map_or(Reply::NilArray, command_entry))
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

fn command_getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let cmd_args = &args[2..];
    let entry = match table().lookup(&cmd_args[0]) {
        None => return Err(CmdError::err("Invalid command specified")),
        Some(e) => {
            if !e.cmd.subcommands.is_empty() {
                cmd_args
                    .get(1)
                    .and_then(|s| table().lookup_sub(e, s))
                    .unwrap_or(e)
            } else {
                e
            }
        }
    };
    let arity = entry.cmd.arity;
    let argc = cmd_args.len() as i32;
    if (arity > 0 && arity != argc) || argc < -arity {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = entry.cmd.key_positions(cmd_args);
    if keys.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|i| Reply::Bulk(cmd_args[i].clone()))
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
                categories(e.cmd).contains(&cat)
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
    let n = ctx.db().len() as u64;
    ctx.db().clear();
    ctx.store.dirty += n.max(1);
    Ok(Reply::OK)
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    flush_mode(args)?;
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

fn debug(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if is_kw(&args[1], "sleep") && args.len() == 3 {
        let secs = super::arg_f64(&args[2])?;
        if secs > 0.0 {
            ctx.action = Some(Action::Sleep(Duration::from_secs_f64(secs.min(3600.0))));
        }
        return Ok(Reply::OK);
    }
    if is_kw(&args[1], "help") {
        return Ok(Reply::Array(vec![Reply::Status(
            "DEBUG <subcommand> [<arg> ...]. Subcommands are: SLEEP <seconds>",
        )]));
    }
    Err(CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        lossy(&args[1])
    )))
}

fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    for a in &args[1..] {
        if !["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|k| is_kw(a, k))
        {
            return Err(CmdError::Syntax);
        }
    }
    ctx.action = Some(Action::Shutdown);
    ctx.store.shutdown_requested = true;
    Ok(Reply::None)
}

fn wait(_ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    arg_i64(&args[1])?;
    let timeout = arg_i64(&args[2]).map_err(|_| CmdError::TimeoutNotInteger)?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    Ok(Reply::Int(0))
}

fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    match args.len() {
        3 => {}
        5 if is_kw(&args[3], "samples") => {
            arg_i64(&args[4])?;
        }
        _ => return Err(CmdError::Syntax),
    }
    let now = ctx.now_ms;
    let key = &args[2];
    Ok(match ctx.db().get(key, now) {
        None => Reply::Nil,
        Some(o) => Reply::Int(crate::store::value::memory_usage(key, &o.value) as i64),
    })
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

// ---- CONFIG ----

fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut pairs = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in ctx.store.params.matching(pattern) {
            if seen.insert(name) {
                let value = if name == "requirepass" { value } else { value };
                pairs.push((
                    Reply::bulk_from(name.as_bytes()),
                    Reply::bulk_from(value.as_bytes()),
                ));
            }
        }
    }
    Ok(Reply::Map(pairs))
}

fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if args.len() % 2 != 0 {
        return Err(CmdError::WrongArity("config|set".into()));
    }
    let mut next = ctx.store.params.clone();
    let mut names = std::collections::HashSet::new();
    for pair in args[2..].chunks(2) {
        let name = lossy(&pair[0]);
        let value = lossy(&pair[1]);
        let canonical = crate::params::spec(&name).map(|s| s.name);
        if let Some(c) = canonical {
            if !names.insert(c) {
                return Err(CmdError::err(format!(
                    "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                )));
            }
        }
        match next.set(&name, &value, false) {
            Ok(()) => {}
            Err(SetError::Unknown) => {
                return Err(CmdError::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                )))
            }
            Err(SetError::Immutable(n)) => {
                return Err(CmdError::err(format!(
                    "CONFIG SET failed (possibly related to argument '{n}') - can't set immutable config"
                )))
            }
            Err(SetError::Invalid(n, why)) => {
                return Err(CmdError::err(format!(
                    "CONFIG SET failed (possibly related to argument '{n}') - {why}"
                )))
            }
        }
    }
    ctx.store.params = next;
    Ok(Reply::OK)
}

fn config_resetstat(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.store.stats = Default::default();
    for s in ctx.store.cmd_stats.iter_mut() {
        *s = Default::default();
    }
    ctx.store.error_stats.clear();
    Ok(Reply::OK)
}

fn config_rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(path) = ctx.store.config_file.clone() else {
        return Err(CmdError::err("The server is running without a config file"));
    };
    crate::params::rewrite(&path, &ctx.store.params)
        .map_err(|e| CmdError::err(format!("Rewriting config file: {e}")))?;
    Ok(Reply::OK)
}

// ---- CLIENT ----

/// Client names: printable ASCII without spaces (`!`..`~`), as Redis requires.
pub(super) fn validate_client_name(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn client_id(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(ctx.client.id as i64))
}

fn client_getname(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(ctx.client.name.clone().map_or(Reply::Nil, Reply::Bulk))
}

fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    validate_client_name(&args[2])?;
    ctx.client.name = (!args[2].is_empty()).then(|| args[2].clone());
    Ok(Reply::OK)
}

fn client_setinfo(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let attr = lossy(&args[2]).to_ascii_lowercase();
    let value = &args[3];
    if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::err(format!(
            "{attr} cannot contain spaces, newlines or special characters."
        )));
    }
    let value = (!value.is_empty()).then(|| value.clone());
    match attr.as_str() {
        "lib-name" => ctx.client.lib_name = value,
        "lib-ver" => ctx.client.lib_ver = value,
        _ => {
            return Err(CmdError::err(format!(
                "Unrecognized option '{}'",
                lossy(&args[2])
            )))
        }
    }
    Ok(Reply::OK)
}

fn client_info(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut line = ctx.client.info_line(ctx.now_ms);
    line.push('\n');
    Ok(Reply::Verbatim(Bytes::from(line)))
}

fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let own = ctx.client.clone();
    ctx.store.clients.update(&own);
    let mut ids: Option<Vec<u64>> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < args.len() {
        if is_kw(&args[i], "type") && i + 1 < args.len() {
            let t = lossy(&args[i + 1]).to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return Err(CmdError::err(format!(
                    "Unknown client type '{}'",
                    lossy(&args[i + 1])
                )));
            }
            type_filter = Some(t);
            i += 2;
        } else if is_kw(&args[i], "id") && i + 1 < args.len() {
            let mut v = Vec::new();
            for a in &args[i + 1..] {
                match crate::num::parse_i64(a) {
                    Some(id) if id > 0 => v.push(id as u64),
                    _ => return Err(CmdError::err("Invalid client ID")),
                }
            }
            ids = Some(v);
            i = args.len();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut out = String::new();
    for (id, r) in &ctx.store.clients.clients {
        if ids.as_ref().is_some_and(|v| !v.contains(id)) {
            continue;
        }
        if type_filter.as_deref().is_some_and(|t| t != "normal") {
            continue;
        }
        out.push_str(&r.snapshot.info_line(ctx.now_ms));
        out.push('\n');
    }
    Ok(Reply::Verbatim(Bytes::from(out)))
}

fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    // Old form: CLIENT KILL addr:port.
    if args.len() == 3 {
        let addr = lossy(&args[2]);
        let id = ctx
            .store
            .clients
            .clients
            .iter()
            .find(|(_, r)| r.snapshot.addr == addr)
            .map(|(id, _)| *id);
        return match id {
            Some(id) => {
                ctx.store.clients.kill(id);
                if id == ctx.client.id {
                    ctx.client.close_after_reply = true;
                }
                Ok(Reply::OK)
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    if args.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    let mut skipme = true;
    let mut filters: Vec<(String, String)> = Vec::new();
    for pair in args[2..].chunks(2) {
        let k = lossy(&pair[0]).to_ascii_lowercase();
        let v = lossy(&pair[1]);
        match k.as_str() {
            "id" => {
                if crate::num::parse_i64(&pair[1]).is_none_or(|v| v <= 0) {
                    return Err(CmdError::err("client-id should be greater than 0"));
                }
            }
            "type" => {
                if !["normal", "master", "replica", "slave", "pubsub"]
                    .contains(&v.to_ascii_lowercase().as_str())
                {
                    return Err(CmdError::err(format!("Unknown client type '{v}'")));
                }
            }
            "skipme" => {
                skipme = match v.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(CmdError::Syntax),
                }
            }
            "addr" | "laddr" | "user" | "maxage" => {}
            _ => return Err(CmdError::Syntax),
        }
        filters.push((k, v));
    }
    let me = ctx.client.id;
    let victims: Vec<u64> = ctx
        .store
        .clients
        .clients
        .iter()
        .filter(|(id, r)| {
            filters.iter().all(|(k, v)| match k.as_str() {
                "id" => v.parse::<u64>().ok() == Some(**id),
                "addr" => &r.snapshot.addr == v,
                "laddr" => &r.snapshot.laddr == v,
                "user" => v == "default",
                "type" => v.eq_ignore_ascii_case("normal"),
                "maxage" => v.parse::<u64>().is_ok_and(|age| {
                    (ctx.now_ms.saturating_sub(r.snapshot.created_ms)) / 1000 >= age
                }),
                _ => true,
            }) && !(skipme && **id == me)
        })
        .map(|(id, _)| *id)
        .collect();
    for id in &victims {
        ctx.store.clients.kill(*id);
        if *id == me {
            ctx.client.close_after_reply = true;
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

fn client_no_evict(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.client.no_evict = on_off(&args[2])?;
    Ok(Reply::OK)
}

fn client_no_touch(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.client.no_touch = on_off(&args[2])?;
    Ok(Reply::OK)
}

fn client_reply(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
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
