//! `CONFIG GET/SET/RESETSTAT/REWRITE` over the parameter table in `params`.

use std::collections::HashSet;

use bytes::Bytes;

use super::super::{lossy, CmdError, Ctx};
use crate::params::SetError;
use crate::resp::Reply;

/// Whether a `CONFIG GET` argument is a glob (Redis tests for `[`, `*`, `?`).
fn is_glob(p: &[u8]) -> bool {
    p.iter().any(|c| matches!(c, b'[' | b'*' | b'?'))
}

/// `CONFIG GET pattern [pattern ...]`: a map of every matching parameter. A plain
/// name (no glob characters) is echoed as given, so `CONFIG GET MAXMEMORY` answers
/// `MAXMEMORY`; glob matches report the parameter's own names (and aliases).
pub(super) fn get(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let params = &ctx.store.params;
    let mut seen: HashSet<String> = HashSet::new();
    let mut pairs = Vec::new();
    let mut add = |name: &str, value: &str| {
        if seen.insert(name.to_ascii_lowercase()) {
            pairs.push((
                Reply::bulk_from(name.as_bytes()),
                Reply::bulk_from(value.as_bytes()),
            ));
        }
    };
    for pattern in &args[2..] {
        if !is_glob(pattern) {
            let name = lossy(pattern);
            if let Some(value) = params.get(&name) {
                add(&name, value);
            }
            continue;
        }
        for (name, value) in params.matching(pattern) {
            add(name, &value);
        }
    }
    Ok(Reply::Map(pairs))
}

/// `CONFIG SET name value [name value ...]`: all or nothing.
pub(super) fn set(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut next = ctx.store.params.clone();
    let mut names = HashSet::new();
    let failed = |n: &str, why: &str| {
        CmdError::err(format!(
            "CONFIG SET failed (possibly related to argument '{n}') - {why}"
        ))
    };
    // Like Redis, every name is checked (unknown, immutable, given twice) before any
    // value is. A parameter and its alias count as different names.
    let mut spelled = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = lossy(&pair[0]);
        let Some(spec) = crate::params::spec(&name) else {
            return Err(CmdError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if !spec.mutable {
            return Err(failed(&name, "can't set immutable config"));
        }
        // Later errors name the parameter as the table spells the name used.
        let canonical = std::iter::once(&spec.name)
            .chain(spec.aliases)
            .find(|n| n.eq_ignore_ascii_case(&name))
            .copied()
            .unwrap_or(spec.name);
        if !names.insert(canonical) {
            return Err(failed(canonical, "duplicate parameter"));
        }
        spelled.push(canonical);
    }
    for (pair, canonical) in args[2..].chunks(2).zip(spelled) {
        match next.set(canonical, &lossy(&pair[1]), false) {
            Ok(()) => {}
            Err(SetError::Invalid(_, why)) => return Err(failed(canonical, &why)),
            Err(SetError::Unknown | SetError::Immutable(_)) => {
                return Err(failed(canonical, "can't set immutable config"))
            }
        }
    }
    ctx.store.params = next;
    ctx.store.sync_event_logs();
    Ok(Reply::OK)
}

pub(super) fn resetstat(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    ctx.store.stats = Default::default();
    crate::stats::metrics()
        .net_output_bytes
        .store(0, std::sync::atomic::Ordering::Relaxed);
    for s in ctx.store.cmd_stats.iter_mut() {
        *s = Default::default();
    }
    ctx.store.error_stats.clear();
    for h in ctx.store.cmd_latency.iter_mut() {
        *h = None;
    }
    Ok(Reply::OK)
}

pub(super) fn rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(path) = ctx.store.config_file.clone() else {
        return Err(CmdError::err("The server is running without a config file"));
    };
    crate::params::rewrite(&path, &ctx.store.params)
        .map_err(|e| CmdError::err(format!("Rewriting config file: {e}")))?;
    Ok(Reply::OK)
}
