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
use crate::commands::dispatch::{dispatch_resolved, resolve};
use crate::commands::table::{flags, Entry};
use crate::commands::{dispatch, Ctx};
use crate::config::DynoConfig;
use crate::peer::batch;
use crate::peer::codec::{Frame, MsgType, RedmiteExt};
use crate::peer::link::{Link, PeerReply, RetryPolicy, REFUSED, TIMED_OUT};
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
    /// A quorum over several racks (and, for EACH, datacenters): each vote is unit `pos`
    /// of the batch frame `frame` sent to a replica of DC `dc`.
    /// Boxed: a slot is moved several times on its way to the wait, and the tracker
    /// with its inline replies is the biggest thing in it.
    Quorum(Box<QuorumWait>),
    /// A single peer's reply relayed as is (a command forwarded to its owner).
    Relay(oneshot::Receiver<PeerReply>),
    /// A multi-key command split by owner: each part's key indices and its outcome,
    /// merged into one reply for `nkeys` keys.
    Split {
        parts: Vec<(Vec<usize>, Slot)>,
        nkeys: usize,
    },
}

/// A write's or read's quorum: its tally, the replies still awaited, and the batch's
/// frame replies they are read from.
struct QuorumWait {
    tracker: Tracker,
    votes: Votes,
    replies: Arc<Mutex<Vec<FrameReply>>>,
}

/// The votes a request waits for: one per other replica that counts for its level,
/// inline for the usual few racks (no allocation per replicated write).
type Votes = smallvec::SmallVec<[Vote; 4]>;

/// Where one replica's answer to a unit will be: unit `pos` of the reply to batch frame
/// `frame`, counting for DC `dc`.
#[derive(Debug, Clone, Copy)]
struct Vote {
    dc: usize,
    frame: usize,
    pos: usize,
}

/// The peer traffic of one batch of commands (a client's pipeline, or the frames an
/// inbound peer connection read at once). Every unit for the same peer goes into one
/// batch frame (`peer::batch`), sent by [`Cluster::flush`] when the batch ends, while
/// the store lock is still held, so every link receives writes in the order they were
/// applied. The replies of every frame are shared by the batch's pending quorums.
#[derive(Default)]
pub struct Outbound {
    frames: Vec<OutFrame>,
    /// The unit being built: its RESP commands.
    scratch: BytesMut,
    replies: Arc<Mutex<Vec<FrameReply>>>,
}

struct OutFrame {
    node: NodeId,
    units: BytesMut,
    count: usize,
    durable: bool,
    want: bool,
}

/// One batch frame's answer: still awaited, or its units' (checksum, reply bytes), or why
/// there is none.
#[derive(Default)]
pub struct FrameReply {
    rx: Option<oneshot::Receiver<PeerReply>>,
    got: Option<Result<Vec<(u32, Bytes)>, &'static str>>,
}

impl Outbound {
    /// Starts a new unit: returns the buffer its commands are written to.
    fn begin_unit(&mut self) -> &mut BytesMut {
        self.scratch.clear();
        &mut self.scratch
    }

    /// Appends the unit being built to `node`'s frame; returns where its reply will be.
    fn push(
        &mut self,
        node: NodeId,
        db: u8,
        proto: u8,
        flags: u8,
        durable: bool,
        want: bool,
    ) -> (usize, usize) {
        let i = match self.frames.iter().position(|f| f.node == node) {
            Some(i) => i,
            None => {
                self.frames.push(OutFrame {
                    node,
                    // Room for a typical pipeline's units without regrowing.
                    units: BytesMut::with_capacity(8 * 1024),
                    count: 0,
                    durable: false,
                    want: false,
                });
                self.frames.len() - 1
            }
        };
        let f = &mut self.frames[i];
        batch::push_unit(&mut f.units, db, proto, flags, &self.scratch);
        f.durable |= durable;
        f.want |= want;
        f.count += 1;
        (i, f.count - 1)
    }
}

/// Node-wide counters of the replication layer.
#[derive(Debug, Default)]
pub struct ClusterStats {
    pub quorum_failures: std::sync::atomic::AtomicU64,
    pub quorum_timeouts: std::sync::atomic::AtomicU64,
    pub forwarded: std::sync::atomic::AtomicU64,
    pub replicated_writes: std::sync::atomic::AtomicU64,
}

/// One version of the node's topology and the node-wide settings it routes with.
///
/// The topology (`ring`, `links` and what is derived from them) is fixed for the life of
/// a `Cluster`; membership (`crate::membership`) builds a new one with
/// [`Cluster::with_peers`] when nodes join, and `cluster::live` swaps it in. The settings
/// an operator changes at run time (levels, state, timeout factor, read repairs) and the
/// counters live behind `Arc`s that every version shares, so a swap keeps them (and a
/// clone is the same version: [`Cluster::with_peers`] clones, then installs a new ring).
#[derive(Clone)]
pub struct Cluster {
    pub ring: Ring,
    /// Outbound links by `NodeId` index; `None` for the local node.
    pub links: Vec<Option<Arc<Link>>>,
    /// Random per process start; peers use it to deduplicate resent writes.
    pub incarnation: u32,
    read_level: Arc<AtomicU8>,
    write_level: Arc<AtomicU8>,
    state: Arc<AtomicU8>,
    /// Dynomite's `timeout` (ms), multiplied by the REST timeout factor.
    pub timeout: Duration,
    timeout_factor: Arc<AtomicU32>,
    pub read_repairs: Arc<AtomicBool>,
    racks_per_dc: Vec<usize>,
    /// True when every rack has a single node: every key is owned locally in this rack.
    every_key_local: bool,
    /// True when there is no other node (the single-node default).
    alone: bool,
    /// When peer links give up on a failing peer for a while.
    pub retry: RetryPolicy,
    /// The highest durable sequence applied per sender incarnation.
    applied: Arc<Mutex<HashMap<u32, u64>>>,
    pub stats: Arc<ClusterStats>,
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

/// A checksum of a reply that ignores the order of set members and map entries, whose
/// order is unspecified and differs between replicas (Dynomite had to rewrite SMEMBERS
/// to `SORT ... ALPHA` for the same reason).
///
/// A reply its command encoded itself ([`Reply::Raw`]) is checksummed from its bytes:
/// an array there (of bulks or RESP2 scores, the only arrays commands encode) is the
/// same as the array of values, counted as `:N`, so the two forms agree.
pub fn reply_checksum(reply: &Reply) -> u32 {
    fn canon(r: &Reply, out: &mut BytesMut) {
        match r {
            Reply::Raw(b) => match b.split_first() {
                Some((b'*', rest)) => {
                    out.extend_from_slice(b":");
                    out.extend_from_slice(rest);
                }
                _ => out.extend_from_slice(b),
            },
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
    if let Reply::Raw(b) = reply {
        // Without copying: the bytes are often a whole LRANGE.
        return match b.split_first() {
            Some((b'*', rest)) => {
                let mut h = crc32fast::Hasher::new();
                h.update(b":");
                h.update(rest);
                h.finalize()
            }
            _ => quorum::checksum(b),
        };
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
        let settings = Cluster {
            ring: ring.clone(),
            links: Vec::new(),
            incarnation,
            read_level: Arc::new(AtomicU8::new(level_code(cfg.read_consistency))),
            write_level: Arc::new(AtomicU8::new(level_code(cfg.write_consistency))),
            state: Arc::new(AtomicU8::new(NodeState::Normal as u8)),
            timeout: cfg.timeout,
            timeout_factor: Arc::new(AtomicU32::new(1)),
            read_repairs: Arc::new(AtomicBool::new(cfg.read_repairs_enabled)),
            racks_per_dc: Vec::new(),
            every_key_local: true,
            alone: true,
            retry: RetryPolicy {
                failure_limit: cfg.server_failure_limit,
                retry_timeout: cfg.server_retry_timeout,
                eject: cfg.auto_eject_hosts,
            },
            applied: Arc::new(Mutex::new(HashMap::new())),
            stats: Arc::default(),
        };
        Ok(settings.with_ring(ring))
    }

    /// A new version of this cluster whose peers are `peers` (the local node stays),
    /// sharing this version's settings and counters. A peer already linked (same
    /// `host:port`) keeps its link, with its queue and hints; the others get new links,
    /// which the caller starts ([`Cluster::links_not_in`] lists them).
    pub fn with_peers(&self, peers: Vec<NodeInfo>) -> Result<Cluster, super::ring::RingError> {
        let local = self.ring.nodes()[self.ring.local().0 as usize].clone();
        let ring = Ring::from_nodes(local, peers, self.ring.hash_kind(), self.ring.hash_tag())?;
        Ok(self.clone().with_ring(ring))
    }

    /// The links of this version that `older` does not have (to be started).
    pub fn links_not_in(&self, older: &Cluster) -> Vec<Arc<Link>> {
        self.links
            .iter()
            .flatten()
            .filter(|l| !older.links.iter().flatten().any(|o| Arc::ptr_eq(o, l)))
            .cloned()
            .collect()
    }

    /// Installs `ring` and what is derived from it: one link per peer (reusing the
    /// links `self.links` already has for the same address), the racks per DC, and
    /// the shortcuts of the write path.
    fn with_ring(mut self, ring: Ring) -> Cluster {
        let local_dc = ring.local_dc();
        let old = std::mem::take(&mut self.links);
        self.links = ring
            .nodes()
            .iter()
            .map(|n| {
                if n.is_local {
                    return None;
                }
                let addr = format!("{}:{}", n.host, n.port);
                if let Some(l) = old.iter().flatten().find(|l| l.addr == addr) {
                    return Some(l.clone());
                }
                let same_dc = ring.dc_index(&n.dc) == Some(local_dc);
                let extra = if same_dc { 200 } else { 5000 };
                Some(Link::new(
                    n.name.clone(),
                    addr,
                    n.dc.clone(),
                    n.rack.clone(),
                    same_dc,
                    self.incarnation,
                    self.timeout + Duration::from_millis(extra),
                ))
            })
            .collect();
        self.racks_per_dc = (0..ring.dc_count()).map(|d| ring.rack_count(d)).collect();
        self.every_key_local = ring.nodes().iter().all(|n| {
            ring.nodes()
                .iter()
                .filter(|m| m.dc == n.dc && m.rack == n.rack)
                .count()
                == 1
        });
        self.alone = self.links.iter().all(Option::is_none);
        self.ring = ring;
        self
    }

    /// No replica and nothing refused: [`Cluster::execute`] would only dispatch, so a
    /// caller may dispatch itself and skip building an [`Outbound`].
    pub fn only_dispatches(&self) -> bool {
        self.alone && self.state() == NodeState::Normal
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
    /// `token` is the key's hash ([`Ring::hash_key`]), computed once for all racks.
    fn targets_in_rack(
        &self,
        rack: RackId,
        token: Option<u32>,
    ) -> impl Iterator<Item = NodeId> + '_ {
        let owner = token.map(|t| self.ring.owner_in_rack(rack, t));
        let every = owner.is_none().then(|| {
            (0..self.ring.nodes().len() as u32)
                .map(NodeId)
                .filter(move |&n| self.ring.rack_of(n) == Some(rack))
        });
        owner.into_iter().chain(every.into_iter().flatten())
    }

    /// Runs a client command: checks the node state, routes it to its owner when this
    /// node does not own its keys, executes it, and replicates a write's effects.
    /// Peer traffic goes into `out`, which the caller sends with [`Cluster::flush`]
    /// before it releases the store lock and awaits any [`Pending`] reply.
    pub fn execute(&self, ctx: &mut Ctx, args: &[Bytes], out: &mut Outbound) -> Slot {
        if self.only_dispatches() {
            return Slot::Ready(dispatch(ctx, args));
        }
        if ctx.client.multi.is_some() {
            return self.execute_in_multi(ctx, args, out);
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
            return Slot::Ready(self.broadcast(ctx, args, out));
        }
        let first_key = entry.cmd.first_key_position(args).map(|i| args[i].as_ref());
        if !self.every_key_local && first_key.is_some() {
            let keys = entry.cmd.key_positions(args);
            let owner = self.ring.local_owner(&args[keys[0]]);
            if keys
                .iter()
                .any(|&i| self.ring.local_owner(&args[i]) != owner)
            {
                if entry.cmd.has(flags::SPLIT) {
                    return self.split(ctx, entry, args, &keys, out);
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
        crate::stats::metrics()
            .count_level(is_write, if is_write { write_level } else { read_level });
        if is_write {
            self.write(ctx, Some(entry), args, first_key, write_level, out)
        } else if entry.cmd.has(flags::READONLY) && read_level != Level::DcOne && self.has_peers() {
            let reply = dispatch_resolved(ctx, Ok(entry), args);
            let votes = self.fan_out_read(
                ctx.client.db as u8,
                ctx.client.proto,
                args,
                first_key,
                read_level,
                out,
            );
            self.quorum(read_level, ctx.client.proto, reply, votes, out)
        } else {
            Slot::Ready(dispatch_resolved(ctx, Ok(entry), args))
        }
    }

    /// A command from a client inside MULTI. Commands are queued locally (a
    /// transaction runs on the node the client is connected to, so keys this node
    /// does not own are refused, which dooms the transaction). EXEC runs here and its
    /// effects, which the EXEC handler wraps as `MULTI`, effects..., `EXEC`, are
    /// replicated as one payload, routed by the first key written.
    fn execute_in_multi(&self, ctx: &mut Ctx, args: &[Bytes], out: &mut Outbound) -> Slot {
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
        self.write(ctx, None, args, None, write_level, out)
    }

    /// Runs a command that may write, then replicates the effects it recorded (the
    /// command itself, a handler's rewrite, or an EXEC's `MULTI`…`EXEC`) to the other
    /// replicas, routed by the first key they write, and waits as `level` asks.
    ///
    /// `entry` and `first_key` are the command and its first key when the caller already
    /// looked them up: the table is not searched again, and a command that replicates
    /// as itself is routed by that key.
    fn write(
        &self,
        ctx: &mut Ctx,
        entry: Option<Entry>,
        args: &[Bytes],
        first_key: Option<&[u8]>,
        level: Level,
        out: &mut Outbound,
    ) -> Slot {
        ctx.replicate = self.has_peers();
        ctx.own_args = args.as_ptr() as usize;
        let reply = match entry {
            Some(e) => dispatch_resolved(ctx, Ok(e), args),
            None => dispatch(ctx, args),
        };
        ctx.replicate = false;
        ctx.own_args = 0;
        let own = std::mem::take(&mut ctx.effect_is_own_args).then_some(args);
        let effects = std::mem::take(&mut ctx.effects);
        if own.is_none() && effects.is_empty() {
            return Slot::Ready(reply);
        }
        let route_key = match own {
            Some(args) => first_key.or_else(|| first_key_of(args)),
            None => effects.iter().find_map(|e| first_key_of(e)),
        };
        self.stats
            .replicated_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let unit = out.begin_unit();
        for e in own.into_iter().chain(effects.iter().map(Vec::as_slice)) {
            batch::push_command(unit, e);
        }
        let votes = self.replicate(ctx.client.db as u8, ctx.client.proto, route_key, level, out);
        self.quorum(level, ctx.client.proto, reply, votes, out)
    }

    /// Runs a `BROADCAST` command (PUBLISH) here and sends it, fire-and-forget, to
    /// every peer node of every DC; they apply it as a peer request, which is never
    /// sent on. The reply is this node's (its receiver count).
    fn broadcast(&self, ctx: &mut Ctx, args: &[Bytes], out: &mut Outbound) -> Reply {
        let reply = dispatch(ctx, args);
        if reply.is_error() {
            return reply;
        }
        batch::push_command(out.begin_unit(), args);
        let (db, proto) = (ctx.client.db as u8, ctx.client.proto);
        for (i, _) in self.links.iter().enumerate().filter(|(_, l)| l.is_some()) {
            out.push(NodeId(i as u32), db, proto, 0, false, false);
        }
        reply
    }

    /// Splits a multi-key command by the keys' owners in this rack, runs each part where
    /// its keys live, and merges the replies (Dynomite's MGET/MSET/DEL/EXISTS handling).
    fn split(
        &self,
        ctx: &mut Ctx,
        entry: Entry,
        args: &[Bytes],
        keys: &[usize],
        out: &mut Outbound,
    ) -> Slot {
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
                self.execute(ctx, &frag, out)
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
        let mut payload = BytesMut::new();
        batch::push_command(&mut payload, args);
        match link.send(MsgType::Req, ext, payload.freeze(), false, true) {
            Some(rx) => Slot::Wait(Pending {
                kind: PendingKind::Relay(rx),
                timeout: self.wait_timeout(),
            }),
            None => Slot::Ready(Reply::error(REFUSED)),
        }
    }

    /// Queues the unit being built in `out` (a write's effects) to every other replica
    /// (one unit in each replica's batch frame). Returns the votes that count for `level`.
    fn replicate(
        &self,
        db: u8,
        proto: u8,
        key: Option<&[u8]>,
        level: Level,
        out: &mut Outbound,
    ) -> Votes {
        let key = key.map(|k| self.ring.hash_key(k));
        let local_dc = self.ring.local_dc();
        let me = self.ring.local();
        let mut votes = Votes::new();
        for dc in 0..self.ring.dc_count() {
            if dc == local_dc || level == Level::DcEachSafeQuorum {
                let want = level != Level::DcOne;
                for rack in self.ring.racks_of_dc(dc) {
                    for node in self.targets_in_rack(rack, key) {
                        if node == me || self.link(node).is_none() {
                            continue;
                        }
                        let (frame, pos) = out.push(node, db, proto, 0, true, want);
                        if want {
                            votes.push(Vote { dc, frame, pos });
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
                            .and_then(|&r| self.targets_in_rack(r, key).next())
                    });
                if let Some(node) = pick.filter(|&n| self.link(n).is_some()) {
                    out.push(node, db, proto, batch::FORWARD, true, false);
                }
            }
        }
        votes
    }

    /// Sends a read to the other replicas whose replies count for `level`.
    fn fan_out_read(
        &self,
        db: u8,
        proto: u8,
        args: &[Bytes],
        key: Option<&[u8]>,
        level: Level,
        out: &mut Outbound,
    ) -> Votes {
        batch::push_command(out.begin_unit(), args);
        let local_dc = self.ring.local_dc();
        let me = self.ring.local();
        let mut votes = Votes::new();
        let Some(key) = key else { return votes };
        for dc in 0..self.ring.dc_count() {
            if dc != local_dc && level != Level::DcEachSafeQuorum {
                continue;
            }
            for rack in self.ring.racks_of_dc(dc) {
                let node = self.ring.owner(rack, key);
                if node == me || self.link(node).is_none() {
                    continue;
                }
                let (frame, pos) = out.push(node, db, proto, 0, false, true);
                votes.push(Vote { dc, frame, pos });
            }
        }
        votes
    }

    fn quorum(&self, level: Level, proto: u8, local: Reply, votes: Votes, out: &Outbound) -> Slot {
        if level == Level::DcOne {
            return Slot::Ready(local);
        }
        let Ok(mut tracker) = Tracker::new(level, self.ring.local_dc(), &self.racks_per_dc) else {
            return Slot::Ready(local);
        };
        tracker.submit(self.ring.local_dc(), local_vote(&local, proto));
        if tracker.is_done() && votes.is_empty() {
            return Slot::Ready(local);
        }
        Slot::Wait(Pending {
            kind: PendingKind::Quorum(Box::new(QuorumWait {
                tracker,
                votes,
                replies: out.replies.clone(),
            })),
            timeout: self.wait_timeout(),
        })
    }

    /// Sends the batch frames `out` gathered, one per peer. Call it before releasing the
    /// store lock (so links see writes in their order) and before awaiting any pending
    /// reply of the batch.
    pub fn flush(&self, out: Outbound) {
        if out.frames.is_empty() {
            return;
        }
        let mut replies = out.replies.lock();
        for f in out.frames {
            let ext = RedmiteExt {
                kind: RedmiteExt::BATCH,
                ..Default::default()
            };
            let rx = self
                .link(f.node)
                .and_then(|l| l.send(MsgType::Req, ext, f.units.freeze(), f.durable, f.want));
            replies.push(FrameReply { rx, got: None });
        }
    }

    /// Applies a request that arrived from a peer. Replicated writes are applied at most
    /// once per sender incarnation and sequence number. Peer traffic it causes (a
    /// forwarded command's replication, a cross-DC write's fan-out) goes into `out`.
    pub fn apply_peer(
        &self,
        store: &mut Store,
        client: &mut Client,
        frame: &Frame,
        out: &mut Outbound,
    ) -> Slot {
        let ext = match frame.ext() {
            Ok(e) => e.unwrap_or_default(),
            Err(e) => return Slot::Ready(Reply::error(format!("ERR bad peer frame: {e}"))),
        };
        let now = crate::store::unix_ms();
        if ext.kind == RedmiteExt::COORDINATE {
            let mut buf = BytesMut::from(&frame.payload[..]);
            let args = match parse_request(&mut Decoder::default(), &mut buf, &Limits::default()) {
                Ok(Some(args)) => args,
                Ok(None) => return Slot::Ready(Reply::error("ERR empty request")),
                Err(e) => return Slot::Ready(Reply::error(format!("ERR {e}"))),
            };
            if (ext.db as usize) >= store.dbs.len() {
                return Slot::Ready(Reply::error("ERR DB index is out of range"));
            }
            client.db = ext.db as usize;
            client.proto = if ext.proto == 3 { 3 } else { 2 };
            client.origin = Origin::Client;
            client.levels = Some((level_from(ext.read_level), level_from(ext.write_level)));
            let mut ctx = Ctx::new(store, client, now);
            // A peer's request cannot wait on this node's keys (the peer link has no
            // way to park it): blocking commands answer at once, as inside MULTI.
            ctx.may_block = false;
            let slot = self.execute(&mut ctx, &args, out);
            client.origin = Origin::Peer;
            return slot;
        }
        let fresh = ext.version == 0 || {
            let mut applied = self.applied.lock();
            let last = applied.entry(ext.origin).or_insert(0);
            let fresh = ext.version > *last;
            *last = (*last).max(ext.version);
            fresh
        };
        if ext.kind != RedmiteExt::BATCH {
            // A single unit (a plain Dynomite frame): its reply is the payload's.
            if !fresh {
                return Slot::Ready(Reply::OK);
            }
            let unit = batch::Unit {
                db: ext.db,
                proto: ext.proto,
                flags: if frame.msg_type == MsgType::ReqForward {
                    batch::FORWARD
                } else {
                    0
                },
                cmds: frame.payload.clone(),
            };
            let mut clock = std::time::Instant::now();
            return Slot::Ready(self.apply_unit(store, client, &unit, now, &mut clock, out));
        }
        let units = match batch::parse_units(&frame.payload) {
            Ok(u) => u,
            Err(e) => return Slot::Ready(Reply::error(format!("ERR bad peer frame: {e}"))),
        };
        // Room for a short reply per unit (`@<crc>,5\r\n+OK\r\n` is 20 bytes or so).
        let mut replies = BytesMut::with_capacity(units.len() * 24);
        let mut encoded = BytesMut::new();
        let mut clock = std::time::Instant::now();
        for unit in &units {
            // A resent batch that was already applied: acknowledge every unit.
            let reply = if fresh {
                self.apply_unit(store, client, unit, now, &mut clock, out)
            } else {
                Reply::OK
            };
            encoded.clear();
            encode(&reply, client.proto, &mut encoded);
            batch::push_reply(&mut replies, vote_checksum(&reply, &encoded), &encoded);
        }
        Slot::Ready(Reply::Raw(replies.freeze()))
    }

    /// Applies one unit's commands here; its reply is the last command's. A unit from
    /// another DC is sent on to this DC's other racks. `clock` is when the previous
    /// command ended: each command is timed from it, as a client's pipeline is, so a
    /// frame of many units reads the clock once per command (read twice, it was 8% of
    /// a replica's time at `-P 16`).
    fn apply_unit(
        &self,
        store: &mut Store,
        client: &mut Client,
        unit: &batch::Unit,
        now: u64,
        clock: &mut std::time::Instant,
        out: &mut Outbound,
    ) -> Reply {
        client.proto = if unit.proto == 3 { 3 } else { 2 };
        if (unit.db as usize) >= store.dbs.len() {
            return Reply::error("ERR DB index is out of range");
        }
        client.db = unit.db as usize;
        let mut buf = BytesMut::from(&unit.cmds[..]);
        let mut dec = Decoder::default();
        let mut last = Reply::OK;
        let mut route_key = None;
        let forward = unit.flags & batch::FORWARD != 0;
        loop {
            let args = match parse_request(&mut dec, &mut buf, &Limits::default()) {
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(e) => return Reply::error(format!("ERR {e}")),
            };
            if forward && route_key.is_none() {
                route_key = resolve(&args)
                    .ok()
                    .and_then(|e| e.cmd.key_positions(&args).first().map(|&i| args[i].clone()));
            }
            let mut ctx = Ctx::with_clock(store, client, now, *clock);
            ctx.may_block = false;
            last = dispatch(&mut ctx, &args);
            *clock = ctx.started;
        }
        if forward {
            self.fan_out_forwarded(unit, route_key.as_deref(), out);
        }
        last
    }

    /// A write forwarded from another DC: send it on to the other racks of this DC.
    fn fan_out_forwarded(&self, unit: &batch::Unit, key: Option<&[u8]>, out: &mut Outbound) {
        out.begin_unit().extend_from_slice(&unit.cmds);
        let key = key.map(|k| self.ring.hash_key(k));
        let me = self.ring.local();
        for rack in self.ring.local_dc_racks() {
            for node in self.targets_in_rack(rack, key) {
                if node != me && self.link(node).is_some() {
                    out.push(node, unit.db, unit.proto, 0, true, false);
                }
            }
        }
    }
}

/// The first key `command` names, if it is a known command with keys.
fn first_key_of(command: &[Bytes]) -> Option<&[u8]> {
    let entry = resolve(command).ok()?;
    entry
        .cmd
        .first_key_position(command)
        .map(|i| command[i].as_ref())
}

/// The checksum of a reply whose `proto` encoding is `encoded`: scalar replies encode
/// the same in RESP2 and RESP3 and are their own canonical form, so their bytes are
/// checksummed as they are, without a second encoding.
fn vote_checksum(reply: &Reply, encoded: &[u8]) -> u32 {
    match reply {
        Reply::Status(_)
        | Reply::StatusOwned(_)
        | Reply::Error(_)
        | Reply::Int(_)
        | Reply::Bulk(_) => quorum::checksum(encoded),
        other => reply_checksum(other),
    }
}

/// The local reply as a quorum vote.
fn local_vote(reply: &Reply, proto: u8) -> quorum::Reply {
    /// The checksum of `+OK\r\n`, most writes' reply, computed once.
    static OK_CHECKSUM: std::sync::LazyLock<u32> =
        std::sync::LazyLock::new(|| quorum::checksum(OK_BYTES));
    const OK_BYTES: &[u8] = b"+OK\r\n";
    match reply {
        Reply::Status("OK") => quorum::Reply::Ok {
            checksum: *OK_CHECKSUM,
            bytes: Bytes::from_static(OK_BYTES),
        },
        Reply::Error(text) => quorum::Reply::Err(Bytes::from(text.clone())),
        other => {
            let mut out = BytesMut::new();
            encode(other, proto, &mut out);
            quorum::Reply::Ok {
                checksum: vote_checksum(other, &out),
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

/// Counts a quorum's latency and, when it failed, why (stats and a rate-limited log).
fn observe_quorum(waited: Duration, timed_out: bool, outcome: Option<&Outcome>) {
    use crate::stats::QuorumFailure;
    let m = crate::stats::metrics();
    m.quorum_usec.record(waited.as_micros() as u64);
    let why = match outcome {
        None | Some(Outcome::QuorumFailed) => QuorumFailure::Mismatch,
        // Replicas' own error replies (WRONGTYPE...) are answers, not failures.
        Some(Outcome::Error(t)) if !t.starts_with(b"ERR Peer") => return,
        Some(Outcome::Error(_)) if timed_out => QuorumFailure::Timeout,
        Some(Outcome::Error(_)) => QuorumFailure::Unreachable,
        Some(Outcome::Agreed(_) | Outcome::FirstReply(_)) => return,
    };
    let detail = match outcome {
        Some(Outcome::Error(text)) => String::from_utf8_lossy(text).into_owned(),
        _ => quorum::QUORUM_FAILED.to_string(),
    };
    m.quorum_failed(why, &detail);
}

/// The one timer of a batch's pending replies. They were all sent in the same batch,
/// so they share a deadline, counted from when the batch starts waiting: one timer
/// and one clock read per batch instead of per request (a pipeline of 16 writes made
/// 16 timers).
#[derive(Default)]
pub struct Deadline {
    sleep: Option<(Pin<Box<tokio::time::Sleep>>, std::time::Instant)>,
    /// When the batch last had to wait for a reply and got it. A request whose
    /// replies were already in by then is counted as done at that moment (an upper
    /// bound of its quorum's latency), which spares a clock read per request.
    woke: Option<std::time::Instant>,
}

impl Deadline {
    /// The timer (started by the first wait, for `timeout`) and when waiting began.
    fn start(
        &mut self,
        timeout: Duration,
    ) -> (&mut Pin<Box<tokio::time::Sleep>>, std::time::Instant) {
        let (sleep, started) = self.sleep.get_or_insert_with(|| {
            let started = std::time::Instant::now();
            (
                Box::pin(tokio::time::sleep_until((started + timeout).into())),
                started,
            )
        });
        (sleep, *started)
    }
}

impl Pending {
    /// Waits for enough replies (or the batch's deadline) and returns the reply for the
    /// client.
    pub async fn resolve(self, deadline: &mut Deadline) -> Reply {
        let (sleep, started) = deadline.start(self.timeout);
        match self.kind {
            PendingKind::Relay(mut rx) => {
                let got = poll_fn(|cx| {
                    if let Poll::Ready(r) = Pin::new(&mut rx).poll(cx) {
                        return Poll::Ready(r.unwrap_or(PeerReply::Failed(REFUSED)));
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
                        Slot::Wait(p) => Box::pin(p.resolve(deadline)).await,
                    };
                    ready.push((idx, r));
                }
                merge_split(ready, nkeys)
            }
            PendingKind::Quorum(mut wait) => {
                let QuorumWait {
                    tracker,
                    votes,
                    replies,
                } = &mut *wait;
                let mut timed_out = false;
                let mut waited = false;
                poll_fn(|cx| {
                    {
                        let mut frames = replies.lock();
                        votes.retain(|v| {
                            // Once decided, later replies cannot change the outcome:
                            // they are not read.
                            if tracker.is_done() {
                                return false;
                            }
                            let Some(fr) = frames.get_mut(v.frame) else {
                                tracker.peer_failed(v.dc, Bytes::from_static(REFUSED.as_bytes()));
                                return false;
                            };
                            if fr.got.is_none() {
                                let got = match fr.rx.as_mut() {
                                    None => Err(REFUSED),
                                    Some(rx) => match Pin::new(rx).poll(cx) {
                                        Poll::Pending => return true,
                                        Poll::Ready(Ok(PeerReply::Reply { bytes, .. })) => {
                                            batch::parse_replies(&bytes).map_err(|_| REFUSED)
                                        }
                                        Poll::Ready(Ok(PeerReply::Failed(why))) => Err(why),
                                        Poll::Ready(Err(_)) => Err(REFUSED),
                                    },
                                };
                                fr.rx = None;
                                fr.got = Some(got);
                            }
                            let vote = match &fr.got {
                                Some(Ok(units)) => match units.get(v.pos) {
                                    Some((checksum, bytes)) => peer_vote(PeerReply::Reply {
                                        bytes: bytes.clone(),
                                        checksum: *checksum,
                                    }),
                                    None => {
                                        quorum::Reply::Err(Bytes::from_static(REFUSED.as_bytes()))
                                    }
                                },
                                Some(Err(why)) => {
                                    quorum::Reply::Err(Bytes::from_static(why.as_bytes()))
                                }
                                None => return true,
                            };
                            tracker.submit(v.dc, vote);
                            false
                        });
                    }
                    if tracker.is_done() || votes.is_empty() {
                        return Poll::Ready(());
                    }
                    if sleep.as_mut().poll(cx).is_ready() {
                        timed_out = true;
                        for v in votes.drain(..) {
                            tracker.peer_failed(v.dc, Bytes::from_static(TIMED_OUT.as_bytes()));
                        }
                        return Poll::Ready(());
                    }
                    waited = true;
                    Poll::Pending
                })
                .await;
                let done = match deadline.woke {
                    Some(t) if !waited => t,
                    _ => *deadline.woke.insert(std::time::Instant::now()),
                };
                let outcome = wait.tracker.into_outcome();
                observe_quorum(
                    done.saturating_duration_since(started),
                    timed_out,
                    outcome.as_ref(),
                );
                outcome.map_or_else(|| Reply::error(quorum::QUORUM_FAILED), outcome_reply)
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
    fn an_array_encoded_by_its_command_checksums_as_its_values() {
        let items: [&[u8]; 3] = [b"a", b"", b"ccc"];
        let values = Reply::bulks(items.iter().map(|b| Bytes::copy_from_slice(b)));
        let raw = Reply::bulk_array(items);
        assert_eq!(reply_checksum(&raw), reply_checksum(&values));
        // Nested, as in an EXEC's reply.
        let exec = |r: Reply| reply_checksum(&Reply::Array(vec![Reply::Int(1), r]));
        assert_eq!(exec(Reply::bulk_array(items)), exec(values));
        assert_ne!(
            reply_checksum(&raw),
            reply_checksum(&Reply::bulk_array([&b"a"[..], b"", b"cc"]))
        );
    }

    #[test]
    fn levels_round_trip_through_codes() {
        for l in Level::ALL {
            assert_eq!(level_from(level_code(l)), l);
        }
    }
}
