//! Observability: the node-wide counters and latency histograms, the stats HTTP
//! endpoint on `stats_listen` (Dynomite's REST paths plus Prometheus `/metrics`), and
//! the table of counters behind `/info` and `-D`.
//!
//! **Why a process-wide [`Metrics`].** The hooks sit on the hot paths of other
//! modules (the dispatcher, peer links, quorum waits), which must not take a lock or
//! carry a handle just to count: each hook is one or two relaxed atomic operations on
//! this static. Everything that needs the store's figures (INFO's) reads them under
//! the store lock when a scrape asks, so stats are always live, never Dynomite's
//! 30-second-old copy.
//!
//! Layout: `histogram` (lock-free log-linear buckets), `counters` (the one table of
//! `/info` counters with kinds and descriptions, also printed by `-D`), `http`
//! (HTTP/1.1 request parsing and the listener), `api` (the paths), `prometheus`
//! (`/metrics`), `log` (run-time log level changes), `status` (the
//! `redmite status` table).

pub mod api;
pub mod counters;
pub mod histogram;
pub mod http;
pub mod log;
pub mod prometheus;
pub mod status;

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::cluster::live::LiveCluster;
use crate::cluster::quorum::Level;
use crate::config::DynoConfig;
use crate::server::Shared;
pub use histogram::{Histogram, Summary};

/// Why a quorum request failed (`redmite_quorum_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumFailure {
    /// SAFE levels: enough replies, but they disagreed.
    Mismatch,
    /// Too few replicas answered well (down, refused, or an error reply).
    Unreachable,
    /// Replicas did not answer within the timeout.
    Timeout,
}

impl QuorumFailure {
    pub const ALL: [QuorumFailure; 3] = [
        QuorumFailure::Mismatch,
        QuorumFailure::Unreachable,
        QuorumFailure::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuorumFailure::Mismatch => "mismatch",
            QuorumFailure::Unreachable => "unreachable",
            QuorumFailure::Timeout => "timeout",
        }
    }
}

/// Node-wide counters that other modules bump from their hot paths.
pub struct Metrics {
    /// Time spent executing each client command in the dispatcher (µs).
    pub command_usec: Histogram,
    /// Time from a quorum request's start to its reply, replicas included (µs).
    pub quorum_usec: Histogram,
    /// Request sizes: the bytes of a command's arguments.
    pub payload_bytes: Histogram,
    /// Client (and datastore-port) commands that read / write.
    /// This one, `client_writes`, `peer_applied`, `command_usec` and `payload_bytes`
    /// are written only in turn under the store lock (`histogram::add_in_turn`).
    pub client_reads: AtomicU64,
    pub client_writes: AtomicU64,
    /// Commands applied on behalf of peers (Dynomite's "dnode client" side).
    pub peer_applied: AtomicU64,
    /// Protocol errors that closed a client connection.
    pub client_protocol_errors: AtomicU64,
    /// Requests per consistency level: `[read, write][level]`.
    level_requests: [[AtomicU64; 4]; 2],
    quorum_failures: [AtomicU64; 3],
    /// Stats endpoint requests served.
    pub stats_requests: AtomicU64,
    /// `total_net_output_bytes`: replies and pushes written to clients. An atomic,
    /// not a store counter, because a subscriber's writer counts outside any batch
    /// and would otherwise take the store lock after every write.
    pub net_output_bytes: AtomicU64,
    /// When a quorum failure was last logged (rate limit).
    last_failure_log: Mutex<Option<Instant>>,
}

#[allow(clippy::declare_interior_mutable_const)]
const Z: AtomicU64 = AtomicU64::new(0);

static METRICS: Metrics = Metrics {
    command_usec: Histogram::new(),
    quorum_usec: Histogram::new(),
    payload_bytes: Histogram::new(),
    client_reads: Z,
    client_writes: Z,
    peer_applied: Z,
    client_protocol_errors: Z,
    level_requests: [[Z, Z, Z, Z], [Z, Z, Z, Z]],
    quorum_failures: [Z, Z, Z],
    stats_requests: Z,
    net_output_bytes: Z,
    last_failure_log: parking_lot::const_mutex(None),
};

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

fn level_index(l: Level) -> usize {
    Level::ALL.iter().position(|&x| x == l).unwrap_or(0)
}

/// Quorum failures are logged at most once per this period (with how many were not).
const FAILURE_LOG_PERIOD: Duration = Duration::from_secs(10);

impl Metrics {
    /// Counts one routed request at `level`.
    pub fn count_level(&self, write: bool, level: Level) {
        self.level_requests[write as usize][level_index(level)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn level_requests(&self, write: bool, level: Level) -> u64 {
        self.level_requests[write as usize][level_index(level)].load(Ordering::Relaxed)
    }

    /// Counts a failed quorum and logs it, at most once per [`FAILURE_LOG_PERIOD`].
    pub fn quorum_failed(&self, why: QuorumFailure, detail: &str) {
        let i = QuorumFailure::ALL
            .iter()
            .position(|&w| w == why)
            .unwrap_or(0);
        self.quorum_failures[i].fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_failure_log.lock();
        if last.is_none_or(|t| t.elapsed() >= FAILURE_LOG_PERIOD) {
            *last = Some(Instant::now());
            drop(last);
            let total: u64 = (0..3)
                .map(|i| self.quorum_failures[i].load(Ordering::Relaxed))
                .sum();
            tracing::warn!(
                reason = why.as_str(),
                total_failures = total,
                "quorum failed: {detail} (logged at most every {}s)",
                FAILURE_LOG_PERIOD.as_secs()
            );
        }
    }

    pub fn quorum_failures(&self, why: QuorumFailure) -> u64 {
        let i = QuorumFailure::ALL
            .iter()
            .position(|&w| w == why)
            .unwrap_or(0);
        self.quorum_failures[i].load(Ordering::Relaxed)
    }

    /// Clears the histograms (`/historeset`); counters keep counting. Under the store
    /// lock (`turn`), as the command histograms' writers, so no write undoes it.
    pub fn reset_histograms(&self, _turn: &mut crate::store::Store) {
        self.command_usec.reset();
        self.quorum_usec.reset();
        self.payload_bytes.reset();
    }
}

/// The node's cluster, for INFO's `cluster` section (INFO renders from the store,
/// which knows nothing of the replication layer).
static CLUSTER: OnceLock<Arc<LiveCluster>> = OnceLock::new();
/// The node's membership, when it runs a provider or gossip (INFO shows peer states).
static MEMBERS: OnceLock<Arc<crate::membership::Membership>> = OnceLock::new();

/// Serves the stats endpoint on `listener` until shutdown, and makes the cluster
/// visible to INFO.
///
/// **Why its own thread.** A storm of scrapes (1,000 a second of 16 KB `/metrics`
/// bodies) is real work, mostly the kernel's TCP sends. On the client runtime every
/// scrape would be a task queued on the same workers as the client connections, and a
/// client request arriving behind it would wait for it. On a thread of its own with a
/// single-threaded runtime, the stats endpoint competes for CPU like another process
/// would (the operating system's scheduler shares it), and the client workers never
/// wake up for a stats socket.
pub fn start(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    cfg: &DynoConfig,
) -> anyhow::Result<()> {
    if let Some(c) = &shared.live {
        let _ = CLUSTER.set(c.clone());
    }
    if let Some(m) = shared.membership.get() {
        let _ = MEMBERS.set(m.clone());
    }
    let datastore = match &cfg.server.endpoint {
        crate::config::Listen::Tcp(hp) => format!("{}:{}", hp.host, hp.port),
        crate::config::Listen::Unix(p) => p.display().to_string(),
    };
    let stop = shared.shutdown.subscribe();
    let node = Arc::new(api::Node {
        shared,
        pool_name: cfg.pool_name.clone(),
        datastore,
    });
    let handle = Arc::new(move |r: &http::Request| node.handle(r));
    // The socket leaves the client runtime's reactor for the stats thread's own.
    let listener = listener.into_std()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("redmite-stats".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => http::serve(l, handle, stop).await,
                    Err(e) => tracing::error!("stats endpoint cannot start: {e}"),
                }
            })
        })?;
    Ok(())
}

/// INFO's `cluster` section: Redis's `cluster_enabled:0` (Redis Cluster is not what
/// we run), then this node's place in the Dynomite topology and each peer's state.
pub fn info_cluster_section(out: &mut String) {
    out.push_str("cluster_enabled:0\r\n");
    let Some(c) = CLUSTER.get().map(|l| l.load()) else {
        return;
    };
    let local = &c.ring.nodes()[c.ring.local().0 as usize];
    let links: Vec<_> = c.links.iter().flatten().collect();
    let _ = write!(
        out,
        "dynomite_dc:{}\r\ndynomite_rack:{}\r\ndynomite_state:{}\r\n\
         dynomite_read_consistency:{}\r\ndynomite_write_consistency:{}\r\n\
         dynomite_peers:{}\r\ndynomite_peers_up:{}\r\n",
        local.dc,
        local.rack,
        c.state().as_str(),
        c.read_level(),
        c.write_level(),
        links.len(),
        links.iter().filter(|l| l.is_up()).count(),
    );
    for (i, l) in links.iter().enumerate() {
        let _ = write!(
            out,
            "peer{i}:name={},addr={},dc={},rack={},state={},queued={},lag_ms={}",
            l.name,
            l.addr,
            l.dc,
            l.rack,
            if l.is_up() { "up" } else { "down" },
            l.pending(),
            l.lag().as_millis(),
        );
        // With gossip on: the state the peer announced.
        let node_state = MEMBERS.get().and_then(|m| {
            let (host, port) = l.addr.rsplit_once(':')?;
            m.state_of(
                host.trim_start_matches('[').trim_end_matches(']'),
                port.parse().ok()?,
            )
        });
        if let Some(s) = node_state {
            let _ = write!(out, ",node_state={s}");
        }
        out.push_str("\r\n");
    }
}
