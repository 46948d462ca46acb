//! `CLIENT TRACKING`, `CLIENT CACHING`, `CLIENT GETREDIR`, `CLIENT TRACKINGINFO`:
//! the commands of client-side caching, with Redis 7.0's option checks in its order
//! and its error texts. What tracking does lives in `store::tracking`.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::super::{arg_i64, is_kw, CmdError, Ctx};
use crate::resp::Reply;
use crate::store::tracking::Options;

/// Redis's `stringCheckPrefix`: two prefixes overlap when one starts the other.
fn overlaps(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// Redis's `checkPrefixCollisionsOrReply`, for the first new prefix that collides.
fn check_prefixes(existing: Option<&Options>, new: &[Bytes]) -> Result<(), CmdError> {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.and_then(|o| o.prefixes.iter().find(|o| overlaps(o, p))) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|q| overlaps(p, q)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            )));
        }
    }
    Ok(())
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT]
/// [NOLOOP]`.
pub(super) fn tracking(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let mut opts = Options::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        let a = &args[i];
        if is_kw(a, "redirect") && more {
            i += 1;
            if opts.redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = arg_i64(&args[i])?;
            let known = u64::try_from(id)
                .ok()
                .filter(|id| *id == ctx.client.id || ctx.store.clients.clients.contains_key(id));
            let Some(id) = known else {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            };
            opts.redirect = id;
        } else if is_kw(a, "bcast") {
            opts.bcast = true;
        } else if is_kw(a, "optin") {
            opts.optin = true;
        } else if is_kw(a, "optout") {
            opts.optout = true;
        } else if is_kw(a, "noloop") {
            opts.noloop = true;
        } else if is_kw(a, "prefix") && more {
            i += 1;
            prefixes.push(args[i].clone());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if is_kw(&args[2], "off") {
        disable_tracking(ctx);
        return Ok(Reply::OK);
    }
    if !is_kw(&args[2], "on") {
        return Err(CmdError::Syntax);
    }
    if !opts.bcast && !prefixes.is_empty() {
        return Err(CmdError::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let current = ctx.store.tracking.options(ctx.client.id).cloned();
    if current.as_ref().is_some_and(|c| c.bcast != opts.bcast) {
        return Err(CmdError::err(
            "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if opts.bcast && (opts.optin || opts.optout) {
        return Err(CmdError::err(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if opts.optin && opts.optout {
        return Err(CmdError::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if current
        .as_ref()
        .is_some_and(|c| (opts.optin && c.optout) || (opts.optout && c.optin))
    {
        return Err(CmdError::err(
            "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if opts.bcast {
        check_prefixes(current.as_ref(), &prefixes)?;
    }
    opts.prefixes = prefixes.into_iter().collect::<BTreeSet<_>>();
    ctx.store.tracking.enable(ctx.client.id, opts);
    ctx.client.tracking = true;
    ctx.store.sync_event_logs();
    Ok(Reply::OK)
}

/// Turns tracking off for the calling client (CLIENT TRACKING OFF, RESET).
pub(in crate::commands) fn disable_tracking(ctx: &mut Ctx) {
    if ctx.client.tracking {
        ctx.store.tracking.disable(ctx.client.id);
        ctx.client.tracking = false;
        ctx.client.caching = false;
        ctx.store.sync_event_logs();
    }
}

/// `CLIENT CACHING YES|NO`.
pub(super) fn caching(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    let Some(o) = ctx.store.tracking.options(ctx.client.id) else {
        return Err(CmdError::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if is_kw(&args[2], "yes") {
        if !o.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is_kw(&args[2], "no") {
        if !o.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.caching = true;
    Ok(Reply::OK)
}

/// `CLIENT GETREDIR`: the redirect id, 0 when tracking without one, -1 when off.
pub(super) fn getredir(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let id = ctx.store.tracking.options(ctx.client.id);
    Ok(Reply::Int(id.map_or(-1, |o| o.redirect as i64)))
}

/// `CLIENT TRACKINGINFO`: flags (a set), redirect, prefixes.
pub(super) fn trackinginfo(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    let o = ctx.store.tracking.options(ctx.client.id);
    let mut flags = vec![if o.is_some() { "on" } else { "off" }];
    if let Some(o) = o {
        let caching = ctx.client.caching;
        for (on, name) in [
            (o.bcast, "bcast"),
            (o.optin, "optin"),
            (o.optin && caching, "caching-yes"),
            (o.optout, "optout"),
            (o.optout && caching, "caching-no"),
            (o.noloop, "noloop"),
            (o.broken_redirect, "broken_redirect"),
        ] {
            if on {
                flags.push(name);
            }
        }
    }
    let prefixes: Vec<Bytes> = o
        .map(|o| o.prefixes.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Reply::Map(vec![
        (
            Reply::bulk("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk).collect()),
        ),
        (
            Reply::bulk("redirect"),
            Reply::Int(o.map_or(-1, |o| o.redirect as i64)),
        ),
        (Reply::bulk("prefixes"), Reply::bulks(prefixes)),
    ]))
}
