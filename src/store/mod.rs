//! The keyspace and everything that lives under the one store lock.
//!
//! **Why one lock.** Every command runs synchronously against `&mut Store`, taken once
//! per batch of pipelined commands read from a connection (see `server::conn`). That
//! gives Redis's semantics for free: MULTI/EXEC, multi-key commands, Lua scripts and
//! blocking pops are atomic, and there is no lock ordering to get wrong. Socket I/O,
//! parsing and encoding happen outside the lock on every core. BENCHMARKS.md records
//! what this design measured against Redis. The store knows nothing about sockets,
//! peers or async.

pub mod blocking;
pub mod db;
pub mod dict;
pub mod hash;
pub mod hll;
pub mod latency;
pub mod list;
pub mod monitor;
pub mod notify;
pub mod pack;
pub mod pubsub;
pub mod set;
pub mod slowlog;
pub mod tracking;
pub mod value;
pub mod watch;
pub mod zset;

use std::time::{SystemTime, UNIX_EPOCH};

pub use db::{AccessClock, Db};
pub use value::{Object, Value};

use crate::params::Params;

/// Counters Redis reports in `INFO stats`.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_commands: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub evicted_keys: u64,
    pub expired_keys_base: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
}

/// Per-command counters (`INFO commandstats`), indexed by command id.
#[derive(Debug, Default, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// All state protected by the store lock.
pub struct Store {
    pub dbs: Vec<Db>,
    pub params: Params,
    pub stats: Stats,
    pub cmd_stats: Vec<CmdStat>,
    /// Error reply counts by error code (`INFO errorstats`).
    pub error_stats: std::collections::BTreeMap<String, u64>,
    /// Changes since start, as Redis's `server.dirty`; replication and persistence
    /// key off its movement.
    pub dirty: u64,
    pub lastsave: u64,
    pub clients: crate::clients::Registry,
    /// Clients blocked on keys (BLPOP...).
    pub blocking: blocking::Blocking,
    /// WATCHed keys and the clients whose transaction they invalidated.
    pub watch: watch::Watches,
    /// Channel, pattern and shard channel subscriptions.
    pub pubsub: pubsub::PubSub,
    /// Clients with CLIENT TRACKING on and the keys they cache.
    pub tracking: tracking::Tracking,
    pub run_id: String,
    pub started: std::time::Instant,
    /// Set by SHUTDOWN; the listener watches it.
    pub shutdown_requested: bool,
    /// The config file the server was started with, for CONFIG REWRITE and INFO.
    pub config_file: Option<std::path::PathBuf>,
    /// Whether the cron expires keys nobody reads (`DEBUG SET-ACTIVE-EXPIRE 0|1`).
    pub active_expire: bool,
    /// The Lua scripts (EVAL, SCRIPT LOAD) and the state of the running one.
    pub scripts: crate::scripting::Scripts,
    /// SLOWLOG entries.
    pub slowlog: slowlog::SlowLog,
    /// LATENCY samples by event class.
    pub latency: latency::Latency,
    /// MONITOR clients.
    pub monitors: monitor::Monitors,
    /// Per-command latency histograms (`INFO latencystats`), indexed by command id
    /// and allocated at a command's first call, as Redis does.
    pub cmd_latency: Vec<Option<Box<crate::stats::histogram::Histogram>>>,
}

impl Store {
    pub fn new(params: Params, n_commands: usize) -> Store {
        let dbs = (0..params.databases).map(|_| Db::default()).collect();
        let mut store = Store {
            dbs,
            params,
            stats: Stats::default(),
            cmd_stats: vec![CmdStat::default(); n_commands],
            error_stats: Default::default(),
            dirty: 0,
            lastsave: unix_ms() / 1000,
            clients: Default::default(),
            blocking: Default::default(),
            watch: Default::default(),
            pubsub: Default::default(),
            tracking: Default::default(),
            run_id: random_hex(40),
            started: std::time::Instant::now(),
            shutdown_requested: false,
            config_file: None,
            active_expire: true,
            scripts: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            monitors: Default::default(),
            cmd_latency: (0..n_commands).map(|_| None).collect(),
        };
        store.sync_event_logs();
        store
    }

    /// Records one call of command `id` that took `usec` for `INFO latencystats`
    /// (when `latency-tracking` is on).
    pub fn track_latency(&mut self, id: usize, usec: u64) {
        if !self.params.latency_tracking {
            return;
        }
        if let Some(slot) = self.cmd_latency.get_mut(id) {
            slot.get_or_insert_with(|| Box::new(crate::stats::histogram::Histogram::new()))
                .record(usec);
        }
    }

    pub fn expired_keys(&self) -> u64 {
        self.stats.expired_keys_base + self.dbs.iter().map(|d| d.expired).sum::<u64>()
    }
}

/// Wall-clock Unix time in milliseconds (expiry times are absolute, like Redis's).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The LRU clock stored in each object: seconds, wrapped to 24 bits as Redis does.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & 0xFF_FFFF) as u32
}

/// A random lower-case hex string (run ids).
pub fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}
