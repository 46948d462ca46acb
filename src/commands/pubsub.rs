//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB
//! SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, with Redis 7.0's replies.
//!
//! A (un)subscribe command answers one confirmation per channel; they are encoded
//! here, in the client's protocol, into one [`Reply::Raw`]. Messages travel through
//! `store::pubsub`. PUBLISH and SPUBLISH carry the redmite `BROADCAST` flag: the
//! cluster layer also sends them to every peer node, which deliver them to their own
//! subscribers (shard channels are not sharded across a Dynomite cluster).

use bytes::{Bytes, BytesMut};

use super::table::{acl, flags::*, Command};
use super::{CmdError, Ctx};
use crate::resp::{encode, Reply};
use crate::store::pubsub::Kind;

const G: &str = "pubsub";
const NK: (i32, i32, i32) = (0, 0, 0);
/// Commands a RESP2 client may still run while subscribed.
const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE | LOCAL | SUBSCRIBED_OK;
const PUBLISHING: u32 = PUBSUB | LOADING | STALE | FAST | BROADCAST;
const INTROSPECT: u32 = PUBSUB | LOADING | STALE | LOCAL;
const SHARD_KEY: &[&str] = &["not_key"];

pub(super) const COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, SUB, NK, G, subscribe)
        .doc("2.0.0", "Listen for messages published to channels"),
    Command::new("unsubscribe", -1, SUB, NK, G, unsubscribe)
        .doc("2.0.0", "Stop listening for messages posted to channels"),
    Command::new("psubscribe", -2, SUB, NK, G, psubscribe).doc(
        "2.0.0",
        "Listen for messages published to channels matching the given patterns",
    ),
    Command::new("punsubscribe", -1, SUB, NK, G, punsubscribe).doc(
        "2.0.0",
        "Stop listening for messages posted to channels matching the given patterns",
    ),
    Command::new("publish", 3, PUBLISHING, NK, G, publish)
        .doc("2.0.0", "Post a message to a channel"),
    Command::new("pubsub", -2, LOCAL, NK, G, help)
        .doc("2.8.0", "A container for Pub/Sub commands")
        .sub(PUBSUB_SUBS),
    Command::new("ssubscribe", -2, SUB, (1, -1, 1), G, ssubscribe)
        .key_spec(SHARD_KEY, "")
        .doc(
            "7.0.0",
            "Listen for messages published to the given shard channels",
        ),
    Command::new("sunsubscribe", -1, SUB, (1, -1, 1), G, sunsubscribe)
        .key_spec(SHARD_KEY, "")
        .doc(
            "7.0.0",
            "Stop listening for messages posted to the given shard channels",
        ),
    Command::new("spublish", 3, PUBLISHING, (1, 1, 1), G, spublish)
        .key_spec(SHARD_KEY, "")
        .doc("7.0.0", "Post a message to a shard channel"),
];

const PUBSUB_SUBS: &[Command] = &[
    Command::new("channels", -2, INTROSPECT, NK, G, channels).doc("2.8.0", "List active channels"),
    Command::new("numsub", -2, INTROSPECT, NK, G, numsub)
        .doc("2.8.0", "Get the count of subscribers for channels"),
    Command::new("numpat", 2, INTROSPECT, NK, G, numpat).doc(
        "2.8.0",
        "Get the count of unique patterns pattern subscriptions",
    ),
    Command::new("shardchannels", -2, INTROSPECT, NK, G, shardchannels)
        .doc("7.0.0", "List active shard channels"),
    Command::new("shardnumsub", -2, INTROSPECT, NK, G, shardnumsub)
        .doc("7.0.0", "Get the count of subscribers for shard channels"),
    Command::new("help", 2, LOADING | STALE | LOCAL, NK, G, help)
        .acl(acl::NO_GROUP)
        .doc("6.2.0", "Show helpful text about the different subcommands"),
];

fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    subscribe_to(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    subscribe_to(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    subscribe_to(ctx, args, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    unsubscribe_from(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    unsubscribe_from(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    unsubscribe_from(ctx, args, Kind::Shard)
}

/// The count a confirmation carries: channels plus patterns, or shard channels.
fn count(ctx: &Ctx, kind: Kind) -> i64 {
    let (c, p, s) = ctx.client.subs;
    (if kind == Kind::Shard { s } else { c + p }) as i64
}

/// Refreshes the client's subscription counts from the registry.
fn recount(ctx: &mut Ctx) {
    let id = ctx.client.id;
    let n = |k| ctx.store.pubsub.subscriptions(id, k).len();
    ctx.client.subs = (n(Kind::Channel), n(Kind::Pattern), n(Kind::Shard));
}

/// One `[subscribe|unsubscribe..., name, count]` confirmation, appended to `out`.
fn confirm(ctx: &Ctx, out: &mut BytesMut, msg: &'static str, name: Reply, kind: Kind) {
    let reply = Reply::Push(vec![Reply::bulk(msg), name, Reply::Int(count(ctx, kind))]);
    encode(&reply, ctx.client.proto, out);
}

fn subscribe_to(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Result<Reply, CmdError> {
    let Some(outbox) = ctx.client.outbox.clone() else {
        return Err(CmdError::err("this connection cannot subscribe"));
    };
    let id = ctx.client.id;
    let kill = match ctx.store.clients.clients.get(&id) {
        Some(r) => r.kill.clone(),
        None => Default::default(),
    };
    let mut out = BytesMut::new();
    for name in &args[1..] {
        let proto = ctx.client.proto;
        ctx.store
            .pubsub
            .subscribe(id, &outbox, proto, &kill, kind, name);
        recount(ctx);
        confirm(
            ctx,
            &mut out,
            kind.subscribe_msg(),
            Reply::Bulk(name.clone()),
            kind,
        );
    }
    Ok(Reply::Raw(out.freeze()))
}

fn unsubscribe_from(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Result<Reply, CmdError> {
    let id = ctx.client.id;
    let names = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ctx.store.pubsub.subscriptions(id, kind)
    };
    let mut out = BytesMut::new();
    if names.is_empty() {
        confirm(ctx, &mut out, kind.unsubscribe_msg(), Reply::Nil, kind);
    }
    for name in names {
        ctx.store.pubsub.unsubscribe(id, kind, &name);
        recount(ctx);
        confirm(
            ctx,
            &mut out,
            kind.unsubscribe_msg(),
            Reply::Bulk(name),
            kind,
        );
    }
    Ok(Reply::Raw(out.freeze()))
}

fn publish(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    publish_to(ctx, args, Kind::Channel)
}

fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    publish_to(ctx, args, Kind::Shard)
}

fn publish_to(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Result<Reply, CmdError> {
    let limit = ctx.store.params.pubsub_limit();
    let n = ctx
        .store
        .pubsub
        .publish(kind, &args[1], &args[2], limit, ctx.now_ms);
    Ok(Reply::Int(n as i64))
}

/// `ERR unknown subcommand or wrong number of arguments for '<sub>'. Try PUBSUB HELP.`
fn syntax(args: &[Bytes]) -> CmdError {
    let sub = String::from_utf8_lossy(&args[1]);
    let sub: String = sub.chars().take(128).collect();
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try PUBSUB HELP."
    ))
}

fn list_channels(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Result<Reply, CmdError> {
    if args.len() > 3 {
        return Err(syntax(args));
    }
    let pattern = args.get(2).map(|p| p.as_ref());
    Ok(Reply::bulks(ctx.store.pubsub.active(kind, pattern)))
}

fn channels(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    list_channels(ctx, args, Kind::Channel)
}

fn shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    list_channels(ctx, args, Kind::Shard)
}

fn count_subscribers(ctx: &mut Ctx, args: &[Bytes], kind: Kind) -> Result<Reply, CmdError> {
    let mut out = Vec::with_capacity((args.len() - 2) * 2);
    for name in &args[2..] {
        out.push(Reply::Bulk(name.clone()));
        out.push(Reply::Int(ctx.store.pubsub.numsub(kind, name) as i64));
    }
    Ok(Reply::Array(out))
}

fn numsub(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    count_subscribers(ctx, args, Kind::Channel)
}

fn shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, CmdError> {
    count_subscribers(ctx, args, Kind::Shard)
}

fn numpat(ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Int(
        ctx.store.pubsub.active(Kind::Pattern, None).len() as i64,
    ))
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Result<Reply, CmdError> {
    Ok(Reply::Array(
        HELP.iter().map(|l| Reply::Status(l)).collect(),
    ))
}
