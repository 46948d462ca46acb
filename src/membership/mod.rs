//! Membership: how a node learns the other nodes and their states while it runs.
//!
//! Without it (the default: `dyn_seed_provider: simple_provider`, `enable_gossip: false`)
//! the topology is the static `dyn_seeds` list, fixed at start, and nothing here runs.
//! Otherwise one task ([`run`]) wakes every `gos_interval` and:
//!
//! 1. asks the seed provider for the list (`florida_provider`: an HTTP GET, see
//!    `florida`; `dns_provider`: a TXT record, see `dns`). A bad or unreachable provider
//!    logs a rate-limited warning and the node keeps the members it knows;
//! 2. with gossip on, sends its view (`view::View`, every member with dc, rack, tokens,
//!    address, state and a version) to one random member as a GOSSIP_SYN frame on that
//!    member's peer port, and merges the GOSSIP_SYN_REPLY the member answers with its
//!    own merged view (`peer::gossip` is the payload). Newer versions win, so states
//!    spread (a node set to STANDBY is seen as STANDBY by the others) and members
//!    learned by one node reach all of them;
//! 3. when the view holds members the ring lacks (or moved tokens), builds the next
//!    topology version (`Cluster::with_peers`), swaps it in (`cluster::live`) and starts
//!    the new peer links, so writes replicate to new members from then on.
//!
//! Dynomite polls providers every 30 s whatever `gos_interval` says; redmite polls them
//! every `gos_interval` (30 s by default, so the same unless configured).

pub mod dns;
pub mod florida;
pub mod seeds;
pub mod view;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use rand::seq::IteratorRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::cluster::coordinator::NodeState;
use crate::cluster::ring::NodeInfo;
use crate::config::{DynoConfig, Seed, SeedProvider};
use crate::peer::codec::{self, Frame, MsgType, RedmiteExt};
use crate::peer::gossip::{self, state, Record};
use crate::server::Shared;
use crate::store::unix_ms;
use view::View;

/// How often a failing provider or gossip target is warned about.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Where the seed list comes from, resolved from the configuration and environment.
#[derive(Debug, Clone)]
enum Provider {
    /// The static `dyn_seeds` only.
    Static,
    Florida(florida::Endpoint),
    Dns {
        name: String,
    },
}

/// The membership state of a node that runs a provider or gossip.
pub struct Membership {
    view: Mutex<View>,
    /// Wakes the task when an inbound gossip exchange changed the topology.
    changed: Notify,
    gossip: bool,
    interval: Duration,
    provider: Provider,
}

/// Dynomite's state code for a node state.
pub fn state_code(s: NodeState) -> u8 {
    match s {
        NodeState::Standby => state::STANDBY,
        NodeState::WritesOnly => state::WRITES_ONLY,
        NodeState::Resuming => state::RESUMING,
        NodeState::Normal => state::NORMAL,
        NodeState::Joining => state::JOINING,
    }
}

/// The name shown for a state code (`/cluster_describe`, INFO).
pub fn state_name(code: u8) -> &'static str {
    match code {
        state::STANDBY => "STANDBY",
        state::WRITES_ONLY => "WRITES_ONLY",
        state::RESUMING => "RESUMING",
        state::NORMAL => "NORMAL",
        state::JOINING => "JOINING",
        state::DOWN => "DOWN",
        _ => "UNKNOWN",
    }
}

fn seed_record(s: &Seed) -> Record {
    Record {
        host: s.host.clone(),
        port: s.port,
        dc: s.dc.clone(),
        rack: s.rack.clone(),
        tokens: s.tokens.clone(),
        state: state::NORMAL,
        generation: 0,
        heartbeat: 0,
    }
}

/// Sets up membership when the configuration asks for it (a provider other than
/// `simple_provider`, or `enable_gossip`); `server::run` then starts [`run`]. With
/// neither, nothing is set up and the static `dyn_seeds` are the whole topology.
pub fn prepare(shared: &Shared, cfg: &DynoConfig) {
    if cfg.dyn_seed_provider == SeedProvider::Simple && !cfg.enable_gossip {
        return;
    }
    if shared.live.is_none() {
        return;
    }
    let env = |k: &str| std::env::var(k).ok();
    let provider = match cfg.dyn_seed_provider {
        SeedProvider::Simple => Provider::Static,
        SeedProvider::Florida => Provider::Florida(florida::Endpoint::from_env(env)),
        SeedProvider::Dns => {
            if let Some(t) = env("DYNOMITE_DNS_TYPE").filter(|t| !t.eq_ignore_ascii_case("TXT")) {
                warn!("DYNOMITE_DNS_TYPE={t} is not supported; dns_provider reads TXT records");
            }
            Provider::Dns {
                name: env("DYNOMITE_DNS_NAME").unwrap_or_else(|| dns::DEFAULT_NAME.into()),
            }
        }
    };
    let now = unix_ms();
    let local = Record {
        host: cfg.dyn_listen.host.clone(),
        port: cfg.dyn_listen.port,
        dc: cfg.datacenter.clone(),
        rack: cfg.rack.clone(),
        tokens: cfg.tokens.clone(),
        state: state::NORMAL,
        generation: now,
        heartbeat: 0,
    };
    let mut view = View::new(local, now);
    for s in &cfg.dyn_seeds {
        view.learn_seed(seed_record(s), s.name.clone(), now);
    }
    info!(
        "membership: seeds from {}, gossip {} every {} ms",
        match &provider {
            Provider::Static => "dyn_seeds".to_string(),
            Provider::Florida(ep) => format!("florida_provider at {}", ep.addr),
            Provider::Dns { name } => format!("dns_provider (TXT {name})"),
        },
        if cfg.enable_gossip { "on" } else { "off" },
        cfg.gos_interval.as_millis()
    );
    let _ = shared.membership.set(Arc::new(Membership {
        view: Mutex::new(view),
        changed: Notify::new(),
        gossip: cfg.enable_gossip,
        interval: cfg.gos_interval.max(Duration::from_millis(10)),
        provider,
    }));
}

impl Membership {
    /// How long a member's version may stand still before it is shown `DOWN`: ten
    /// gossip rounds, and never under 3 s. (Dynomite's window is 40 intervals, computed
    /// in whole seconds, so intervals under 1 s mark every node down at once.)
    fn down_after(&self) -> u64 {
        (self.interval.as_millis() as u64)
            .saturating_mul(10)
            .max(3000)
    }

    /// A member's state as gossip tells it, `None` when gossip has not reached it (or
    /// gossip is off).
    pub fn state_of(&self, host: &str, port: u16) -> Option<&'static str> {
        if !self.gossip {
            return None;
        }
        self.view
            .lock()
            .state_of(host, port, unix_ms(), self.down_after())
            .map(state_name)
    }

    /// Answers a GOSSIP_SYN: merges the sender's view and returns this node's merged
    /// view. The sender's own record (the first) has its host replaced by the
    /// connection's address when it announced an unspecified one (`0.0.0.0`).
    pub fn on_syn(&self, shared: &Shared, payload: &[u8], remote: Option<IpAddr>) -> Bytes {
        if !self.gossip {
            return Bytes::new();
        }
        let mut records = match gossip::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                debug!("ignoring a gossip message: {e}");
                return Bytes::new();
            }
        };
        if let (Some(first), Some(ip)) = (records.first_mut(), remote) {
            if first
                .host
                .parse::<IpAddr>()
                .is_ok_and(|a| a.is_unspecified())
            {
                first.host = ip.to_string();
            }
        }
        let now = unix_ms();
        let mut view = self.view.lock();
        sync_local_state(&mut view, shared, now);
        let changes = view.merge(records, now);
        let reply = encode_view(&view);
        drop(view);
        if changes.topology {
            self.changed.notify_one();
        }
        reply
    }

    /// One gossip exchange with a random member.
    async fn gossip_round(&self, shared: &Shared, timeout: Duration, warned: &mut Warner) {
        let (target, payload) = {
            let now = unix_ms();
            let mut view = self.view.lock();
            sync_local_state(&mut view, shared, now);
            view.beat(now);
            let target = view
                .peers()
                .map(|(r, _)| peer_addr(&r.host, r.port))
                .choose(&mut rand::rng());
            (target, encode_view(&view))
        };
        let Some(target) = target else {
            return;
        };
        match exchange(&target, payload, timeout).await {
            Ok(reply) if reply.is_empty() => {
                debug!(peer = %target, "peer does not gossip");
            }
            Ok(reply) => match gossip::decode(&reply) {
                Ok(records) => {
                    self.view.lock().merge(records, unix_ms());
                }
                Err(e) => warned.warn(&format!("gossip reply from {target} is invalid: {e}")),
            },
            Err(e) => debug!(peer = %target, "gossip exchange failed: {e}"),
        }
    }

    /// Asks the provider for the seed list and adds what is new to the view. Failures
    /// and skipped entries are warned about separately, each at most once a minute.
    async fn poll_provider(&self, last: &mut Option<String>, warned: &mut [Warner; 2]) {
        let [warned, skipped] = warned;
        let (what, got) = match &self.provider {
            Provider::Static => return,
            Provider::Florida(ep) => (
                format!("florida_provider ({})", ep.addr),
                florida::fetch(ep, Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string()),
            ),
            Provider::Dns { name } => {
                let got = match dns::server(|k| std::env::var(k).ok()) {
                    Ok(server) => dns::lookup_txt(server, name, Duration::from_secs(2))
                        .await
                        .map(|texts| texts.join("|"))
                        .map_err(|e| format!("{server}: {e}")),
                    Err(e) => Err(e.to_string()),
                };
                (format!("dns_provider (TXT {name})"), got)
            }
        };
        let text = match got {
            Ok(t) => t,
            Err(e) => {
                warned.warn(&format!(
                    "{what}: cannot get the seeds: {e}; keeping the last member list"
                ));
                return;
            }
        };
        if warned.recovered() {
            info!("{what}: seeds received again");
        }
        if last.as_deref() == Some(text.as_str()) {
            return;
        }
        let parsed = seeds::parse(&text);
        for s in &parsed.skipped {
            skipped.warn(&format!("{what}: skipping seed {s}"));
        }
        if parsed.seeds.is_empty() {
            warned.warn(&format!(
                "{what}: no valid seed in \"{text}\"; keeping the last member list"
            ));
            return;
        }
        info!("{what}: got seeds '{text}'");
        let now = unix_ms();
        let mut view = self.view.lock();
        for s in &parsed.seeds {
            view.learn_seed(seed_record(s), s.name.clone(), now);
        }
        *last = Some(text);
    }

    /// Swaps in a new topology version when the view has members (or tokens) the
    /// current ring lacks, and starts the new members' peer links.
    fn apply(&self, shared: &Shared) {
        let (Some(live), Some(current)) = (shared.live.as_ref(), shared.cluster()) else {
            return;
        };
        let known: Vec<(Record, Option<String>)> = self
            .view
            .lock()
            .peers()
            .map(|(r, n)| (r.clone(), n.map(str::to_string)))
            .collect();
        let mut peers: Vec<NodeInfo> = current
            .ring
            .nodes()
            .iter()
            .filter(|n| !n.is_local)
            .cloned()
            .collect();
        let mut changed = false;
        for (r, name) in known {
            match peers
                .iter_mut()
                .find(|p| p.host == r.host && p.port == r.port)
            {
                Some(p) if p.dc == r.dc && p.rack == r.rack && p.tokens == r.tokens => {}
                Some(p) if p.dc == r.dc && p.rack == r.rack => {
                    info!(peer = %p.name, "member's tokens changed to {:?}", r.tokens);
                    p.tokens = r.tokens;
                    changed = true;
                }
                // A peer link belongs to one dc and rack for its whole life.
                Some(_) => {}
                None => {
                    peers.push(NodeInfo {
                        name: name.unwrap_or_else(|| r.host.clone()),
                        host: r.host,
                        port: r.port,
                        dc: r.dc,
                        rack: r.rack,
                        tokens: r.tokens,
                        is_local: false,
                    });
                    changed = true;
                }
            }
        }
        if !changed {
            return;
        }
        let next = match current.with_peers(peers) {
            Ok(c) => c,
            Err(e) => {
                warn!("membership: cannot build the new topology: {e}");
                return;
            }
        };
        let fresh = next.links_not_in(&current);
        let retry = next.retry;
        live.store(Arc::new(next));
        for link in fresh {
            info!(
                peer = %link.name, addr = %link.addr, dc = %link.dc, rack = %link.rack,
                "new member joined the topology"
            );
            tokio::spawn(crate::peer::link::run(
                link,
                retry,
                shared.shutdown.subscribe(),
            ));
        }
    }
}

/// Copies the node's state (set through the stats endpoint) into the local record.
fn sync_local_state(view: &mut View, shared: &Shared, now: u64) {
    if let Some(c) = shared.cluster() {
        view.set_local_state(state_code(c.state()), now);
    }
}

fn encode_view(view: &View) -> Bytes {
    let mut out = BytesMut::new();
    if let Err(e) = gossip::encode(&view.records(), &mut out) {
        debug!("cannot encode the gossip view: {e}");
        return Bytes::new();
    }
    out.freeze()
}

fn peer_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends one GOSSIP_SYN on a fresh connection to `addr` and returns the reply's payload.
async fn exchange(addr: &str, payload: Bytes, timeout: Duration) -> Result<Bytes, String> {
    let work = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let ext = RedmiteExt {
            kind: RedmiteExt::GOSSIP,
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        codec::encode(
            &Frame::redmite(1, MsgType::GossipSyn, true, ext, payload),
            &mut buf,
        )
        .map_err(|e| e.to_string())?;
        s.write_all(&buf).await.map_err(|e| e.to_string())?;
        let mut rbuf = BytesMut::with_capacity(4096);
        loop {
            if let Some(f) = codec::decode(&mut rbuf).map_err(|e| e.to_string())? {
                if f.msg_type != MsgType::GossipSynReply || f.id != 1 {
                    return Err(format!("unexpected {:?} frame", f.msg_type));
                }
                return Ok(f.payload);
            }
            if s.read_buf(&mut rbuf).await.map_err(|e| e.to_string())? == 0 {
                return Err("closed before replying".into());
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err("no reply in time".into()))
}

/// A warning that repeats at most once per [`WARN_EVERY`], counting what it held back.
#[derive(Default)]
struct Warner {
    last: Option<Instant>,
    held: u64,
    failing: bool,
}

impl Warner {
    fn warn(&mut self, msg: &str) {
        self.failing = true;
        if self.last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            self.held += 1;
            return;
        }
        if self.held > 0 {
            warn!("{msg} ({} similar warnings suppressed)", self.held);
        } else {
            warn!("{msg}");
        }
        self.held = 0;
        self.last = Some(Instant::now());
    }

    /// True once after a failure, when things work again.
    fn recovered(&mut self) -> bool {
        std::mem::take(&mut self.failing)
    }
}

/// Completes when shutdown is signalled (dropping the watch guard first, so the task's
/// future stays `Send`).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The membership task (see the module header), until shutdown.
pub async fn run(shared: Arc<Shared>, m: Arc<Membership>) {
    let mut stop = shared.shutdown.subscribe();
    let mut tick = tokio::time::interval(m.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = shared
        .cluster()
        .map_or(Duration::from_secs(2), |c| c.timeout)
        .clamp(Duration::from_millis(500), Duration::from_secs(5));
    let mut last_seeds = None;
    let mut provider_warned = [Warner::default(), Warner::default()];
    let mut gossip_warned = Warner::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                m.poll_provider(&mut last_seeds, &mut provider_warned).await;
                if m.gossip {
                    m.gossip_round(&shared, timeout, &mut gossip_warned).await;
                }
            }
            _ = m.changed.notified() => {}
            _ = stopped(&mut stop) => return,
        }
        m.apply(&shared);
    }
}
