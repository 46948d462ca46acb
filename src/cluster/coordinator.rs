//! The coordinator: decides where a client command runs and how many replicas must
//! agree, then replicates writes to the other racks and datacenters.
//!
//! It runs synchronously under the store lock (so writes reach every peer link in the
//! order they were applied here) and returns a [`Slot`]: either the reply, or a
//! [`Pending`] quorum that the connection awaits after releasing the lock. The rules are
//! Dynomite's (see `shared/dynomite-notes.md` §2): quorum is ⌊R/2⌋+1 racks of the local
//! DC, SAFE levels compare replies by checksum, DC_EACH_SAFE_QUORUM needs a matching
//! quorum in every DC, and remote DCs receive every write. Unlike Dynomite, writes to
//! unreachable replicas are queued as hints on their link instead of being dropped.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::quorum::{self, Level, Outcome, Tracker};
use super::ring::{NodeId, NodeInfo, RackId, Ring};
use crate::clients::{Client, Origin};
use crate::commands::dispatch::resolve;
use crate::commands::table::{flags, Entry};
use crate::commands::{dispatch, Ctx};
use crate::config::DynoConfig;
use crate::peer::codec::{Frame, MsgType, RedmiteExt};
use crate::peer::link::{Link, PeerReply, TIMED_OUT};
use crate::resp::{encode, parse_request, Decoder, Limits, Reply};
use crate::store::Store;

/// Dynomite's node states (REST `/state/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Joining = 0,
    Normal = 1,
    Standby = 2,
    WritesOnly = 3,
    Resuming = 4,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Joining => "JOINING",
            NodeState::Normal => "NORMAL",
            NodeState::Standby => "STANDBY",
            NodeState::WritesOnly => "WRITES_ONLY",
            NodeState::Resuming => "RESUMING",
        }
    }

    pub fn parse(s: &str) -> Option<NodeState> {
        [
            NodeState::Joining,
            NodeState::Normal,
            NodeState::Standby,
            NodeState::WritesOnly,
            NodeState::Resuming,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    fn from_u8(v: u8) -> NodeState {
        match v {
            0 => NodeState::Joining,
            2 => NodeState::Standby,
            3 => NodeState::WritesOnly,
            4 => NodeState::Resuming,
            _ => NodeState::Normal,
        }
    }
}

/// The reply to a request the node's state refuses.
pub const STATE_REFUSED: &str =
    "ERR Dynomite: Dynomite's current state does not allow this request";
/// The reply when the keys of a command that cannot be split live on different nodes.
pub const CROSS_NODE: &str = "ERR Dynomite: Keys in the request cannot span multiple nodes";

/// The outcome of running one command through the coordinator.
pub enum Slot {
    Ready(Reply),
    Wait(Pending),
}

/// A reply that depends on peers; resolve it outside the store lock.
pub struct Pending {
    kind: PendingKind,
    timeout: Duration,
}

enum PendingKind {
    /// A quorum over several racks (and, for EACH, datacenters).
    Quorum {
        tracker: Tracker,
        waits: Vec<(usize, Option<oneshot::Receiver<PeerReply>>)>,
    },
    /// A single peer's reply relayed as is (a command forwarded to its owner).
    Relay(oneshot::Receiver<PeerReply>),
    /// A multi-key command split by owner: each part's key indices and its outcome,
    /// merged into one reply for `nkeys` keys.
    Split {
        parts: Vec<(Vec<usize>, Slot)>,
        nkeys: usize,
    },
}

/// Node-wide counters of the replication layer.
#[derive(Debug, Default)]
pub struct ClusterStats {
    pub quorum_failures: std::sync::atomic::AtomicU64,
    pub quorum_timeouts: std::sync::atomic::AtomicU64,
    pub forwarded: std::sync::atomic::AtomicU64,
    pub replicated_writes: std::sync::atomic::AtomicU64,
}

pub struct Cluster {
    pub ring: Ring,
    /// Outbound links by `NodeId` index; `None` for the local node.
    pub links: Vec<Option<Arc<Link>>>,
    /// Random per process start; peers use it to deduplicate resent writes.
    pub incarnation: u32,
    read_level: AtomicU8,
    write_level: AtomicU8,
    state: AtomicU8,
    /// Dynomite's `timeout` (ms), multiplied by the REST timeout factor.
    pub timeout: Duration,
    timeout_factor: AtomicU32,
    pub read_repairs: AtomicBool,
    racks_per_dc: Vec<usize>,
    /// True when every rack has a single node: every key is owned locally in this rack.
    every_key_local: bool,
    /// The highest durable sequence applied per sender incarnation.
    applied: Mutex<HashMap<u32, u64>>,
    pub stats: ClusterStats,
}

fn level_code(l: Level) -> u8 {
    match l {
        Level::DcOne => 0,
        Level::DcQuorum => 1,
        Level::DcSafeQuorum => 2,
        Level::DcEachSafeQuorum => 3,
    }
}

fn level_from(code: u8) -> Level {
    match code {
        1 => Level::DcQuorum,
        2 => Level::DcSafeQuorum,
        3 => Level::DcEachSafeQuorum,
        _ => Level::DcOne,
    }
}

/// Encodes commands as a RESP payload for a peer frame.
pub fn encode_commands(cmds: &[Vec<Bytes>]) -> Bytes {
    let mut out = BytesMut::new();
    for args in cmds {
        let items: Vec<Reply> = args.iter().cloned().map(Reply::Bulk).collect();
        encode(&Reply::Array(items), 2, &mut out);
    }
    out.freeze()
}

/// A checksum of a reply that ignores the order of set members and map entries, whose
/// order is unspecified and differs between replicas (Dynomite had to rewrite SMEMBERS
/// to `SORT ... ALPHA` for the same reason).
pub fn reply_checksum(reply: &Reply) -> u32 {
    fn canon(r: &Reply, out: &mut BytesMut) {
        match r {
            Reply::Set(items) => {
                let mut parts: Vec<BytesMut> = items
                    .iter()
                    .map(|i| {
                        let mut b = BytesMut::new();
                        canon(i, &mut b);
                        b
                    })
                    .collect();
                parts.sort();
                encode(&Reply::Int(parts.len() as i64), 2, out);
                parts.iter().for_each(|p| out.extend_from_slice(p));
            }
            Reply::Map(pairs) => {
                let mut parts: Vec<BytesMut> = pairs
                    .iter()
                    .map(|(k, v)| {
                        let mut b = BytesMut::new();
                        canon(k, &mut b);
                        canon(v, &mut b);
                        b
                    })
                    .collect();
                parts.sort();
                encode(&Reply::Int(parts.len() as i64), 2, out);
                parts.iter().for_each(|p| out.extend_from_slice(p));
            }
            Reply::Array(items) | Reply::Push(items) => {
                encode(&Reply::Int(items.len() as i64), 2, out);
                items.iter().for_each(|i| canon(i, out));
            }
            other => encode(other, 2, out),
        }
    }
    let mut out = BytesMut::new();
    canon(reply, &mut out);
    quorum::checksum(&out)
}

impl Cluster {
    /// Builds the topology from a dynomite.yml. Links are created but not started.
    pub fn from_config(cfg: &DynoConfig, incarnation: u32) -> anyhow::Result<Cluster> {
        let local = NodeInfo {
            name: cfg.dyn_listen.host.clone(),
            host: cfg.dyn_listen.host.clone(),
            port: cfg.dyn_listen.port,
            dc: cfg.datacenter.clone(),
            rack: cfg.rack.clone(),
            tokens: cfg.tokens.clone(),
            is_local: true,
        };
        let peers: Vec<NodeInfo> = cfg
            .dyn_seeds
            .iter()
            .map(|s| NodeInfo {
                name: s.name.clone().unwrap_or_else(|| s.host.clone()),
                host: s.host.clone(),
                port: s.port,
                dc: s.dc.clone(),
                rack: s.rack.clone(),
                tokens: s.tokens.clone(),
                is_local: false,
            })
            .collect();
        let ring = Ring::from_nodes(local, peers, cfg.hash, cfg.hash_tag)
            .map_err(|e| anyhow::anyhow!("topology: {e:?}"))?;
        let local_dc = ring.local_dc();
        let links = ring
            .nodes()
            .iter()
            .map(|n| {
                if n.is_local {
                    return None;
                }
                let same_dc = ring.dc_index(&n.dc) == Some(local_dc);
                let extra = if same_dc { 200 } else { 5000 };
                Some(Link::new(
                    n.name.clone(),
                    format!("{}:{}", n.host, n.port),
                    n.dc.clone(),
                    n.rack.clone(),
                    same_dc,
                    incarnation,
                    cfg.timeout + Duration::from_millis(extra),
                ))
            })
            .collect();
        let racks_per_dc: Vec<usize> = (0..ring.dc_count()).map(|d| ring.rack_count(d)).collect();
        let every_key_local = ring.nodes().iter().all(|n| {
            ring.nodes()
                .iter()
                .filter(|m| m.dc == n.dc && m.rack == n.rack)
                .count()
                == 1
        });
        Ok(Cluster {
            ring,
            links,
            incarnation,
            read_level: AtomicU8::new(level_code(cfg.read_consistency)),
            write_level: AtomicU8::new(level_code(cfg.write_consistency)),
            state: AtomicU8::new(NodeState::Normal as u8),
            timeout: cfg.timeout,
            timeout_factor: AtomicU32::new(1),
            read_repairs: AtomicBool::new(cfg.read_repairs_enabled),
            racks_per_dc,
            every_key_local,
            applied: Mutex::new(HashMap::new()),
            stats: ClusterStats::default(),
        })
    }

    pub fn has_peers(&self) -> bool {
        self.links.iter().any(Option::is_some)
    }

    pub fn read_level(&self) -> Level {
        level_from(self.read_level.load(Ordering::Relaxed))
    }

    pub fn write_level(&self) -> Level {
        level_from(self.write_level.load(Ordering::Relaxed))
    }

    /// Sets the node's levels. Unlike Dynomite, this applies to open connections at
    /// once (except those that chose their own with DYNO_CONFIG:CONN_CONSISTENCY).
    pub fn set_levels(&self, read: Option<Level>, write: Option<Level>) {
        if let Some(r) = read {
            self.read_level.store(level_code(r), Ordering::Relaxed);
        }
        if let Some(w) = write {
            self.write_level.store(level_code(w), Ordering::Relaxed);
        }
    }

    pub fn state(&self) -> NodeState {
        NodeState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn set_state(&self, s: NodeState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn timeout_factor(&self) -> u32 {
        self.timeout_factor.load(Ordering::Relaxed)
    }

    /// Sets the REST timeout factor (1..=10).
    pub fn set_timeout_factor(&self, f: u32) -> bool {
        if (1..=10).contains(&f) {
            self.timeout_factor.store(f, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn wait_timeout(&self) -> Duration {
        (self.timeout + Duration::from_millis(200)) * self.timeout_factor()
    }

    fn link(&self, node: NodeId) -> Option<&Arc<Link>> {
        self.links.get(node.0 as usize).and_then(Option::as_ref)
    }

    /// Every node of `rack` that must receive a write of `key` (its owner), or every
    /// node of the rack for keyless writes such as FLUSHALL.
    fn targets_in_rack(&self, rack: RackId, key: Option<&[u8]>) -> Vec<NodeId> {
        match key {
            Some(k) => vec![self.ring.owner(rack, k)],
            None => (0..self.ring.nodes().len() as u32)
                .map(NodeId)
                .filter(|&n| self.ring.rack_of(n) == Some(rack))
                .collect(),
        }
    }

    /// Runs a client command: checks the node state, routes it to its owner when this
    /// node does not own its keys, executes it, and replicates a write's effects.
    pub fn execute(&self, ctx: &mut Ctx, args: &[Bytes]) -> Slot {
        if ctx.client.multi.is_some() {
            return self.execute_in_multi(ctx, args);
        }
        let entry = match resolve(args) {
            Ok(e) if !e.cmd.has(flags::LOCAL) => e,
            _ => return Slot::Ready(dispatch(ctx, args)),
        };
        let is_write = entry.cmd.has(flags::WRITE | flags::EFFECTS);
        let state = self.state();
        let refused = match state {
            NodeState::Standby => true,
            NodeState::WritesOnly | NodeState::Resuming => !is_write,
            NodeState::Joining | NodeState::Normal => false,
        };
        if refused {
            return Slot::Ready(Reply::error(STATE_REFUSED));
        }
        if entry.cmd.has(flags::BROADCAST) {
            return Slot::Ready(self.broadcast(ctx, args));
        }
        let keys = entry.cmd.key_positions(args);
        let first_key = keys.first().map(|&i| args[i].as_ref());
        if !self.every_key_local && !keys.is_empty() {
            let owner = self.ring.local_owner(&args[keys[0]]);
            if keys
                .iter()
                .any(|&i| self.ring.local_owner(&args[i]) != owner)
            {
                if entry.cmd.has(flags::SPLIT) {
                    return self.split(ctx, entry, args, &keys);
                }
                return Slot::Ready(Reply::error(CROSS_NODE));
            }
            if owner != self.ring.local() {
                return self.forward(ctx, owner, args);
            }
        }
        let (read_level, write_level) = ctx
            .client
            .levels
            .unwrap_or((self.read_level(), self.write_level()));
        if is_write {
            self.write(ctx, args, write_level)
        } else if entry.cmd.has(flags::READONLY) && read_level != Level::DcOne && self.has_peers() {
            let reply = dispatch(ctx, args);
            let waits = self.fan_out_read(
                ctx.client.db as u8,
                ctx.client.proto,
                args,
                first_key,
                read_level,
            );
            self.quorum(read_level, ctx.client.proto, reply, waits)
        } else {
            Slot::Ready(dispatch(ctx, args))
        }
    }

    /// A command from a client inside MULTI. Commands are queued locally (a
    /// transaction runs on the node the client is connected to, so keys this node
    /// does not own are refused, which dooms the transaction). EXEC runs here and its
    /// effects, which the EXEC handler wraps as `MULTI`, effects..., `EXEC`, are
    /// replicated as one payload, routed by the first key written.
    fn execute_in_multi(&self, ctx: &mut Ctx, args: &[Bytes]) -> Slot {
        if let Ok(entry) = resolve(args) {
            if !entry.cmd.has(flags::TX_CONTROL) && !self.every_key_local {
                let me = self.ring.local();
                let keys = entry.cmd.key_positions(args);
                if keys.iter().any(|&i| self.ring.local_owner(&args[i]) != me) {
                    ctx.client.multi_error = true;
                    return Slot::Ready(Reply::error(CROSS_NODE));
                }
            }
        }
        let write_level = ctx.client.levels.map_or(self.write_level(), |l| l.1);
        self.write(ctx, args, write_level)
    }

    /// Runs a command that may write, then replicates the effects it recorded (the
    /// command itself, a handler's rewrite, or an EXEC's `MULTI`…`EXEC`) to the other
    /// replicas, routed by the first key they write, and waits as `level` asks.
    fn write(&self, ctx: &mut Ctx, args: &[Bytes], level: Level) -> Slot {
        ctx.replicate = self.has_peers();
        let reply = dispatch(ctx, args);
        ctx.replicate = false;
        let effects = std::mem::take(&mut ctx.effects);
        if effects.is_empty() {
            return Slot::Ready(reply);
        }
        let route_key = effects.iter().find_map(|e| {
            resolve(e)
                .ok()
                .and_then(|en| en.cmd.key_positions(e).first().map(|&i| e[i].clone()))
        });
        self.stats
            .replicated_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let waits = self.replicate(
            ctx.client.db as u8,
            ctx.client.proto,
            &effects,
            route_key.as_deref(),
            level,
        );
        self.quorum(level, ctx.client.proto, reply, waits)
    }

    /// Runs a `BROADCAST` command (PUBLISH) here and sends it, fire-and-forget, to
    /// every peer node of every DC; they apply it as a peer request, which is never
    /// sent on. The reply is this node's (its receiver count).
    fn broadcast(&self, ctx: &mut Ctx, args: &[Bytes]) -> Reply {
        let reply = dispatch(ctx, args);
        if reply.is_error() {
            return reply;
        }
        let payload = encode_commands(&[args.to_vec()]);
        let ext = RedmiteExt {
            db: ctx.client.db as u8,
            proto: ctx.client.proto,
            ..Default::default()
        };
        for link in self.links.iter().flatten() {
            link.send(MsgType::Req, ext, payload.clone(), false, false);
        }
        reply
    }

    /// Splits a multi-key command by the keys' owners in this rack, runs each part where
    /// its keys live, and merges the replies (Dynomite's MGET/MSET/DEL/EXISTS handling).
    fn split(&self, ctx: &mut Ctx, entry: Entry, args: &[Bytes], keys: &[usize]) -> Slot {
        let step = entry.cmd.keys.2.max(1) as usize;
        let key_bytes: Vec<&[u8]> = keys.iter().map(|&i| args[i].as_ref()).collect();
        let me = self.ring.local();
        let mut parts = Vec::new();
        for (node, idxs) in self.ring.split_keys_by_local_owner(&key_bytes) {
            let mut frag = vec![args[0].clone()];
            for &k in &idxs {
                let at = keys[k];
                frag.extend(args[at..(at + step).min(args.len())].iter().cloned());
            }
            let slot = if node == me {
                self.execute(ctx, &frag)
            } else {
                self.forward(ctx, node, &frag)
            };
            parts.push((idxs, slot));
        }
        let nkeys = keys.len();
        if parts.iter().all(|(_, s)| matches!(s, Slot::Ready(_))) {
            let ready = parts
                .into_iter()
                .map(|(idx, s)| match s {
                    Slot::Ready(r) => (idx, r),
                    Slot::Wait(_) => (idx, Reply::Nil),
                })
                .collect();
            return Slot::Ready(merge_split(ready, nkeys));
        }
        Slot::Wait(Pending {
            kind: PendingKind::Split { parts, nkeys },
            timeout: self.wait_timeout(),
        })
    }

    /// Sends a command to the node that owns its keys in this rack, which coordinates
    /// it with this connection's levels, and relays the reply.
    fn forward(&self, ctx: &mut Ctx, owner: NodeId, args: &[Bytes]) -> Slot {
        let Some(link) = self.link(owner) else {
            return Slot::Ready(dispatch(ctx, args));
        };
        let (r, w) = ctx
            .client
            .levels
            .unwrap_or((self.read_level(), self.write_level()));
        let ext = RedmiteExt {
            db: ctx.client.db as u8,
            kind: RedmiteExt::COORDINATE,
            read_level: level_code(r),
            write_level: level_code(w),
            proto: ctx.client.proto,
            ..Default::default()
        };
        self.stats
            .forwarded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match link.send(
            MsgType::Req,
            ext,
            encode_commands(&[args.to_vec()]),
            false,
            true,
        ) {
            Some(rx) => Slot::Wait(Pending {
                kind: PendingKind::Relay(rx),
                timeout: self.wait_timeout(),
            }),
            None => Slot::Ready(Reply::error(crate::peer::link::REFUSED)),
        }
    }

    /// Queues a write's effects to every other replica. Returns the receivers whose
    /// replies count for `level`, tagged with their DC index.
    fn replicate(
        &self,
        db: u8,
        proto: u8,
        effects: &[Vec<Bytes>],
        key: Option<&[u8]>,
        level: Level,
    ) -> Vec<(usize, Option<oneshot::Receiver<PeerReply>>)> {
        let payload = encode_commands(effects);
        let ext = RedmiteExt {
            db,
            proto,
            ..Default::default()
        };
        let local_dc = self.ring.local_dc();
        let me = self.ring.local();
        let wants_local = level != Level::DcOne;
        let mut waits = Vec::new();
        for dc in 0..self.ring.dc_count() {
            let every_rack = dc == local_dc || level == Level::DcEachSafeQuorum;
            if every_rack {
                let want = wants_local && (dc == local_dc || level == Level::DcEachSafeQuorum);
                for rack in self.ring.racks_of_dc(dc) {
                    for node in self.targets_in_rack(rack, key) {
                        if node == me {
                            continue;
                        }
                        if let Some(link) = self.link(node) {
                            let rx = link.send(MsgType::Req, ext, payload.clone(), true, want);
                            if want {
                                waits.push((dc, rx));
                            }
                        }
                    }
                }
            } else {
                // One node of the remote DC receives the write and fans it out to its
                // other racks. Prefer the rack Dynomite's rule picks; fail over to a rack
                // whose link is up; if none is up, queue it on the preferred one.
                let order = self.ring.remote_rack_order(dc);
                let pick = order
                    .iter()
                    .flat_map(|&r| self.targets_in_rack(r, key))
                    .find(|&n| self.link(n).is_some_and(|l| l.is_up()))
                    .or_else(|| {
                        order
                            .first()
                            .and_then(|&r| self.targets_in_rack(r, key).into_iter().next())
                    });
                if let Some(link) = pick.and_then(|n| self.link(n)) {
                    link.send(MsgType::ReqForward, ext, payload.clone(), true, false);
                }
            }
        }
        waits
    }

    /// Sends a read to the other replicas whose replies count for `level`.
    fn fan_out_read(
        &self,
        db: u8,
        proto: u8,
        args: &[Bytes],
        key: Option<&[u8]>,
        level: Level,
    ) -> Vec<(usize, Option<oneshot::Receiver<PeerReply>>)> {
        let payload = encode_commands(&[args.to_vec()]);
        let ext = RedmiteExt {
            db,
            proto,
            ..Default::default()
        };
        let local_dc = self.ring.local_dc();
        let me = self.ring.local();
        let mut waits = Vec::new();
        for dc in 0..self.ring.dc_count() {
            if dc != local_dc && level != Level::DcEachSafeQuorum {
                continue;
            }
            for rack in self.ring.racks_of_dc(dc) {
                let node = match key {
                    Some(k) => self.ring.owner(rack, k),
                    None => continue,
                };
                if node == me {
                    continue;
                }
                if let Some(link) = self.link(node) {
                    waits.push((
                        dc,
                        link.send(MsgType::Req, ext, payload.clone(), false, true),
                    ));
                }
            }
        }
        waits
    }

    fn quorum(
        &self,
        level: Level,
        proto: u8,
        local: Reply,
        waits: Vec<(usize, Option<oneshot::Receiver<PeerReply>>)>,
    ) -> Slot {
        if level == Level::DcOne {
            return Slot::Ready(local);
        }
        let Ok(mut tracker) = Tracker::new(level, self.ring.local_dc(), &self.racks_per_dc) else {
            return Slot::Ready(local);
        };
        tracker.submit(self.ring.local_dc(), local_vote(&local, proto));
        if tracker.is_done() && waits.is_empty() {
            return Slot::Ready(local);
        }
        Slot::Wait(Pending {
            kind: PendingKind::Quorum { tracker, waits },
            timeout: self.wait_timeout(),
        })
    }

    /// Applies a request that arrived from a peer. Replicated writes are applied at most
    /// once per sender incarnation and sequence number.
    pub fn apply_peer(&self, store: &mut Store, client: &mut Client, frame: &Frame) -> Slot {
        let ext = match frame.ext() {
            Ok(e) => e.unwrap_or_default(),
            Err(e) => return Slot::Ready(Reply::error(format!("ERR bad peer frame: {e}"))),
        };
        if ext.version != 0 {
            let mut applied = self.applied.lock();
            let last = applied.entry(ext.origin).or_insert(0);
            if ext.version <= *last {
                return Slot::Ready(Reply::OK);
            }
            *last = ext.version;
        }
        let mut buf = BytesMut::from(&frame.payload[..]);
        let mut dec = Decoder::default();
        let mut cmds = Vec::new();
        loop {
            match parse_request(&mut dec, &mut buf, &Limits::default()) {
                Ok(Some(c)) => cmds.push(c),
                Ok(None) => break,
                Err(e) => return Slot::Ready(Reply::error(format!("ERR {e}"))),
            }
        }
        if (ext.db as usize) >= store.dbs.len() {
            return Slot::Ready(Reply::error("ERR DB index is out of range"));
        }
        client.db = ext.db as usize;
        client.proto = if ext.proto == 3 { 3 } else { 2 };
        let now = crate::store::unix_ms();
        if ext.kind == RedmiteExt::COORDINATE {
            let Some(args) = cmds.into_iter().next() else {
                return Slot::Ready(Reply::error("ERR empty request"));
            };
            client.origin = Origin::Client;
            client.levels = Some((level_from(ext.read_level), level_from(ext.write_level)));
            let mut ctx = Ctx::new(store, client, now);
            // A peer's request cannot wait on this node's keys (the peer link has no
            // way to park it): blocking commands answer at once, as inside MULTI.
            ctx.may_block = false;
            let slot = self.execute(&mut ctx, &args);
            client.origin = Origin::Peer;
            return slot;
        }
        let mut last = Reply::OK;
        for args in &cmds {
            let mut ctx = Ctx::new(store, client, now);
            ctx.may_block = false;
            last = dispatch(&mut ctx, args);
        }
        if frame.msg_type == MsgType::ReqForward {
            self.fan_out_forwarded(&cmds, ext);
        }
        Slot::Ready(last)
    }

    /// A write forwarded from another DC: send it on to the other racks of this DC.
    fn fan_out_forwarded(&self, cmds: &[Vec<Bytes>], ext: RedmiteExt) {
        let key = cmds.first().and_then(|args| {
            resolve(args)
                .ok()
                .and_then(|e| e.cmd.key_positions(args).first().map(|&i| args[i].clone()))
        });
        let payload = encode_commands(cmds);
        let me = self.ring.local();
        let ext = RedmiteExt {
            db: ext.db,
            proto: ext.proto,
            ..Default::default()
        };
        for rack in self.ring.local_dc_racks() {
            for node in self.targets_in_rack(rack, key.as_deref()) {
                if node == me {
                    continue;
                }
                if let Some(link) = self.link(node) {
                    link.send(MsgType::Req, ext, payload.clone(), true, false);
                }
            }
        }
    }
}

/// The local reply as a quorum vote.
fn local_vote(reply: &Reply, proto: u8) -> quorum::Reply {
    match reply {
        Reply::Error(text) => quorum::Reply::Err(Bytes::from(text.clone())),
        other => {
            let mut out = BytesMut::new();
            encode(other, proto, &mut out);
            quorum::Reply::Ok {
                checksum: reply_checksum(other),
                bytes: out.freeze(),
            }
        }
    }
}

fn peer_vote(r: PeerReply) -> quorum::Reply {
    match r {
        PeerReply::Reply { bytes, checksum } => {
            if bytes.first() == Some(&b'-') {
                let text = bytes[1..].strip_suffix(b"\r\n").unwrap_or(&bytes[1..]);
                quorum::Reply::Err(Bytes::copy_from_slice(text))
            } else {
                quorum::Reply::Ok { checksum, bytes }
            }
        }
        PeerReply::Failed(why) => quorum::Reply::Err(Bytes::from_static(why.as_bytes())),
    }
}

/// Merges the replies of a split command's parts: the first error wins; integers are
/// summed; arrays are scattered back into key order; a status is passed through.
fn merge_split(parts: Vec<(Vec<usize>, Reply)>, nkeys: usize) -> Reply {
    let parts: Vec<(Vec<usize>, Reply)> = parts
        .into_iter()
        .map(|(idx, r)| match r {
            Reply::Raw(b) => (
                idx,
                crate::resp::parse_reply(&b)
                    .map_or(Reply::error("ERR bad reply from peer"), |(r, _)| r),
            ),
            other => (idx, other),
        })
        .collect();
    if let Some((_, e)) = parts.iter().find(|(_, r)| r.is_error()) {
        return e.clone();
    }
    match parts.first().map(|(_, r)| r) {
        Some(Reply::Int(_)) => Reply::Int(
            parts
                .iter()
                .map(|(_, r)| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
        Some(Reply::Array(_)) => {
            let mut out = vec![Reply::Nil; nkeys];
            for (idx, r) in parts {
                if let Reply::Array(items) = r {
                    for (k, item) in idx.into_iter().zip(items) {
                        if let Some(slot) = out.get_mut(k) {
                            *slot = item;
                        }
                    }
                }
            }
            Reply::Array(out)
        }
        Some(other) => other.clone(),
        None => Reply::OK,
    }
}

fn outcome_reply(o: Outcome) -> Reply {
    match o {
        Outcome::Agreed(b) | Outcome::FirstReply(b) => Reply::Raw(b),
        Outcome::Error(text) => Reply::Error(String::from_utf8_lossy(&text).into_owned()),
        Outcome::QuorumFailed => Reply::error(quorum::QUORUM_FAILED),
    }
}

impl Pending {
    /// Waits for enough replies (or the timeout) and returns the reply for the client.
    pub async fn resolve(self) -> Reply {
        let sleep = tokio::time::sleep(self.timeout);
        tokio::pin!(sleep);
        match self.kind {
            PendingKind::Relay(mut rx) => {
                let got = poll_fn(|cx| {
                    if let Poll::Ready(r) = Pin::new(&mut rx).poll(cx) {
                        return Poll::Ready(
                            r.unwrap_or(PeerReply::Failed(crate::peer::link::REFUSED)),
                        );
                    }
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(PeerReply::Failed(TIMED_OUT));
                    }
                    Poll::Pending
                })
                .await;
                match got {
                    PeerReply::Reply { bytes, .. } => Reply::Raw(bytes),
                    PeerReply::Failed(why) => Reply::error(why),
                }
            }
            PendingKind::Split { parts, nkeys } => {
                let mut ready = Vec::with_capacity(parts.len());
                for (idx, slot) in parts {
                    let r = match slot {
                        Slot::Ready(r) => r,
                        Slot::Wait(p) => Box::pin(p.resolve()).await,
                    };
                    ready.push((idx, r));
                }
                merge_split(ready, nkeys)
            }
            PendingKind::Quorum {
                mut tracker,
                mut waits,
            } => {
                poll_fn(|cx| {
                    for (dc, slot) in waits.iter_mut() {
                        let Some(rx) = slot.as_mut() else { continue };
                        if let Poll::Ready(r) = Pin::new(rx).poll(cx) {
                            *slot = None;
                            let vote = r.map_or(
                                quorum::Reply::Err(Bytes::from_static(
                                    crate::peer::link::REFUSED.as_bytes(),
                                )),
                                peer_vote,
                            );
                            tracker.submit(*dc, vote);
                        }
                    }
                    if tracker.is_done() {
                        return Poll::Ready(());
                    }
                    if sleep.as_mut().poll(cx).is_ready() {
                        for (dc, slot) in waits.iter_mut() {
                            if slot.take().is_some() {
                                tracker.peer_failed(*dc, Bytes::from_static(TIMED_OUT.as_bytes()));
                            }
                        }
                        return Poll::Ready(());
                    }
                    if waits.iter().all(|(_, s)| s.is_none()) {
                        return Poll::Ready(());
                    }
                    Poll::Pending
                })
                .await;
                tracker
                    .outcome()
                    .map_or_else(|| Reply::error(quorum::QUORUM_FAILED), outcome_reply)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_set_and_map_order() {
        let a = Reply::Set(vec![Reply::bulk_from(b"x"), Reply::bulk_from(b"y")]);
        let b = Reply::Set(vec![Reply::bulk_from(b"y"), Reply::bulk_from(b"x")]);
        assert_eq!(reply_checksum(&a), reply_checksum(&b));
        let m1 = Reply::Map(vec![
            (Reply::Int(1), Reply::Int(2)),
            (Reply::Int(3), Reply::Int(4)),
        ]);
        let m2 = Reply::Map(vec![
            (Reply::Int(3), Reply::Int(4)),
            (Reply::Int(1), Reply::Int(2)),
        ]);
        assert_eq!(reply_checksum(&m1), reply_checksum(&m2));
        let arr1 = Reply::Array(vec![Reply::Int(1), Reply::Int(2)]);
        let arr2 = Reply::Array(vec![Reply::Int(2), Reply::Int(1)]);
        assert_ne!(reply_checksum(&arr1), reply_checksum(&arr2));
    }

    #[test]
    fn levels_round_trip_through_codes() {
        for l in Level::ALL {
            assert_eq!(level_from(level_code(l)), l);
        }
    }
}
