//! The one table of the counters Dynomite's `/info` publishes: name, kind, which
//! object they sit in, a description, and how to read the value from a [`Snapshot`].
//! `/info`, `/metrics` (`redmite_dynomite_*`) and `-D` all walk this table, so a
//! counter cannot be published without being described.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::cluster::coordinator::Cluster;
use crate::commands::table::flags;
use crate::store::Store;

use super::{metrics, QuorumFailure};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only ever grows (resets with the process).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// Which `/info` object a counter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The pool object, keyed by the YAML root name (`dyn_o_mite`).
    Pool,
    /// The datastore object inside it, keyed by the `servers:` address.
    Server,
}

pub struct Counter {
    pub name: &'static str,
    pub kind: Kind,
    pub scope: Scope,
    pub desc: &'static str,
    pub get: fn(&Snapshot) -> u64,
}

/// The figures every counter is computed from, read once per scrape.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub connected_clients: u64,
    pub total_connections: u64,
    pub client_reads: u64,
    pub client_writes: u64,
    pub client_protocol_errors: u64,
    pub peer_applied: u64,
    pub rejected_connections: u64,
    /// Calls per Dynomite request category, in [`CATEGORIES`] order.
    pub categories: [u64; CATEGORIES.len()],
    pub read_calls: u64,
    pub write_calls: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub peers_up: u64,
    pub peer_requests: u64,
    pub peer_responses: u64,
    pub peer_failed: u64,
    pub remote_peer_failed: u64,
    pub peer_reconnects: u64,
    pub peer_queue: u64,
    pub remote_peer_queue: u64,
    pub dropped_hints: u64,
    pub forwarded: u64,
    pub replicated_writes: u64,
    pub quorum_mismatch: u64,
    pub quorum_unreachable: u64,
    pub quorum_timeout: u64,
    pub stats_requests: u64,
}

/// Dynomite's `redis_req_*` categories: a command name or a command group.
pub const CATEGORIES: [(&str, &[&str]); 16] = [
    ("get", &["get"]),
    ("set", &["set"]),
    ("del", &["del", "unlink"]),
    (
        "incr_decr",
        &["incr", "decr", "incrby", "decrby", "incrbyfloat"],
    ),
    ("keys", &["keys"]),
    ("mget", &["mget"]),
    ("scan", &["scan"]),
    ("sort", &["sort", "sort_ro"]),
    ("lreqm", &["lrem"]),
    ("sunion", &["sunion", "sunionstore"]),
    ("ping", &["ping"]),
    ("lists", &["@list"]),
    ("sets", &["@set"]),
    ("hashes", &["@hash"]),
    ("sortedsets", &["@sorted-set"]),
    ("other", &[]),
];

fn category_of(name: &str, group: &str) -> usize {
    CATEGORIES
        .iter()
        .position(|(_, members)| {
            members
                .iter()
                .any(|m| *m == name || m.strip_prefix('@') == Some(group))
        })
        .unwrap_or(CATEGORIES.len() - 1)
}

impl Snapshot {
    /// Reads the figures (call with the store locked; cluster links are atomics).
    pub fn take(store: &Store, cluster: Option<&Cluster>) -> Snapshot {
        let m = metrics();
        let mut s = Snapshot {
            connected_clients: store.clients.len() as u64,
            total_connections: store.stats.total_connections,
            rejected_connections: store.stats.rejected_connections,
            client_reads: m.client_reads.load(Ordering::Relaxed),
            client_writes: m.client_writes.load(Ordering::Relaxed),
            client_protocol_errors: m.client_protocol_errors.load(Ordering::Relaxed),
            peer_applied: m.peer_applied.load(Ordering::Relaxed),
            net_input_bytes: store.stats.net_input_bytes,
            net_output_bytes: m.net_output_bytes.load(Ordering::Relaxed),
            quorum_mismatch: m.quorum_failures(QuorumFailure::Mismatch),
            quorum_unreachable: m.quorum_failures(QuorumFailure::Unreachable),
            quorum_timeout: m.quorum_failures(QuorumFailure::Timeout),
            stats_requests: m.stats_requests.load(Ordering::Relaxed),
            ..Snapshot::default()
        };
        for e in crate::commands::table().entries.iter() {
            let Some(stat) = store.cmd_stats.get(e.id) else {
                continue;
            };
            if stat.calls == 0 {
                continue;
            }
            let top = e.full_name.split('|').next().unwrap_or(e.full_name);
            s.categories[category_of(top, e.cmd.group)] += stat.calls;
            if e.cmd.has(flags::WRITE) {
                s.write_calls += stat.calls;
            } else {
                s.read_calls += stat.calls;
            }
        }
        if let Some(c) = cluster {
            s.forwarded = c.stats.forwarded.load(Ordering::Relaxed);
            s.replicated_writes = c.stats.replicated_writes.load(Ordering::Relaxed);
            for l in c.links.iter().flatten() {
                let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
                s.peers_up += l.is_up() as u64;
                s.peer_requests += r(&l.stats.requests);
                s.peer_responses += r(&l.stats.replies);
                s.peer_reconnects += r(&l.stats.reconnects);
                s.dropped_hints += r(&l.stats.dropped_hints);
                let pending = l.pending() as u64;
                if l.same_dc {
                    s.peer_failed += r(&l.stats.failed);
                    s.peer_queue += pending;
                } else {
                    s.remote_peer_failed += r(&l.stats.failed);
                    s.remote_peer_queue += pending;
                }
            }
        }
        s
    }
}

macro_rules! c {
    ($name:literal, $kind:ident, $scope:ident, $desc:literal, $get:expr) => {
        Counter {
            name: $name,
            kind: Kind::$kind,
            scope: Scope::$scope,
            desc: $desc,
            get: $get,
        }
    };
}

/// Every counter, in `/info` order.
pub const COUNTERS: &[Counter] = &[
    c!(
        "client_eof",
        Counter,
        Pool,
        "# client connections closed",
        |s| s
            .total_connections
            .saturating_sub(s.connected_clients + s.rejected_connections)
    ),
    c!(
        "client_err",
        Counter,
        Pool,
        "# client connections closed by a protocol error",
        |s| s.client_protocol_errors
    ),
    c!(
        "client_connections",
        Gauge,
        Pool,
        "# active client connections",
        |s| s.connected_clients
    ),
    c!(
        "client_read_requests",
        Counter,
        Pool,
        "# client read requests",
        |s| s.client_reads
    ),
    c!(
        "client_write_requests",
        Counter,
        Pool,
        "# client write requests",
        |s| s.client_writes
    ),
    c!(
        "client_dropped_requests",
        Counter,
        Pool,
        "# client requests refused: too many connections",
        |s| s.rejected_connections
    ),
    c!(
        "client_non_quorum_w_responses",
        Counter,
        Pool,
        "# write quorums not reached",
        |s| s.quorum_mismatch + s.quorum_unreachable + s.quorum_timeout
    ),
    c!(
        "server_ejects",
        Counter,
        Pool,
        "# times the datastore was ejected (never: it is embedded)",
        |_| 0
    ),
    c!(
        "dnode_client_requests",
        Counter,
        Pool,
        "# requests applied on behalf of peers",
        |s| s.peer_applied
    ),
    c!(
        "peer_dropped_requests",
        Counter,
        Pool,
        "# requests to same-DC peers that failed",
        |s| s.peer_failed
    ),
    c!(
        "peer_timedout_requests",
        Counter,
        Pool,
        "# quorum requests that timed out",
        |s| s.quorum_timeout
    ),
    c!(
        "remote_peer_dropped_requests",
        Counter,
        Pool,
        "# requests to remote-DC peers that failed",
        |s| s.remote_peer_failed
    ),
    c!(
        "peer_connections",
        Gauge,
        Pool,
        "# peer links that are up",
        |s| s.peers_up
    ),
    c!(
        "peer_requests",
        Counter,
        Pool,
        "# requests sent to peers",
        |s| s.peer_requests
    ),
    c!(
        "peer_responses",
        Counter,
        Pool,
        "# replies received from peers",
        |s| s.peer_responses
    ),
    c!(
        "peer_ejects",
        Counter,
        Pool,
        "# peer link (re)connections",
        |s| s.peer_reconnects
    ),
    c!(
        "peer_out_queue",
        Gauge,
        Pool,
        "# requests queued or in flight to same-DC peers",
        |s| s.peer_queue
    ),
    c!(
        "remote_peer_out_queue",
        Gauge,
        Pool,
        "# requests queued or in flight to remote-DC peers",
        |s| s.remote_peer_queue
    ),
    c!(
        "peer_mismatch_requests",
        Counter,
        Pool,
        "# SAFE quorums whose replies disagreed",
        |s| s.quorum_mismatch
    ),
    c!(
        "peer_dropped_hints",
        Counter,
        Pool,
        "# queued writes dropped because a peer's queue was full",
        |s| s.dropped_hints
    ),
    c!(
        "forwarded_requests",
        Counter,
        Pool,
        "# requests forwarded to the owner of their key",
        |s| s.forwarded
    ),
    c!(
        "replicated_writes",
        Counter,
        Pool,
        "# writes replicated to peers",
        |s| s.replicated_writes
    ),
    c!("stats_count", Counter, Pool, "# stats requests", |s| s
        .stats_requests),
    c!(
        "server_eof",
        Counter,
        Server,
        "# eof on datastore connections (never: it is embedded)",
        |_| 0
    ),
    c!(
        "server_err",
        Counter,
        Server,
        "# errors on datastore connections (never: it is embedded)",
        |_| 0
    ),
    c!(
        "server_timedout",
        Counter,
        Server,
        "# datastore timeouts (never: it is embedded)",
        |_| 0
    ),
    c!(
        "read_requests",
        Counter,
        Server,
        "# read commands executed",
        |s| s.read_calls
    ),
    c!(
        "write_requests",
        Counter,
        Server,
        "# write commands executed",
        |s| s.write_calls
    ),
    c!(
        "read_request_bytes",
        Counter,
        Server,
        "total bytes received from clients",
        |s| s.net_input_bytes
    ),
    c!(
        "read_response_bytes",
        Counter,
        Server,
        "total bytes sent to clients",
        |s| s.net_output_bytes
    ),
    c!("redis_req_get", Counter, Server, "# Redis get", |s| s
        .categories[0]),
    c!("redis_req_set", Counter, Server, "# Redis set", |s| s
        .categories[1]),
    c!("redis_req_del", Counter, Server, "# Redis del", |s| s
        .categories[2]),
    c!(
        "redis_req_incr_decr",
        Counter,
        Server,
        "# Redis incr or decr",
        |s| s.categories[3]
    ),
    c!("redis_req_keys", Counter, Server, "# Redis keys", |s| s
        .categories[4]),
    c!("redis_req_mget", Counter, Server, "# Redis mget", |s| s
        .categories[5]),
    c!("redis_req_scan", Counter, Server, "# Redis scan", |s| s
        .categories[6]),
    c!("redis_req_sort", Counter, Server, "# Redis sort", |s| s
        .categories[7]),
    c!("redis_req_lreqm", Counter, Server, "# Redis lrem", |s| s
        .categories[8]),
    c!("redis_req_sunion", Counter, Server, "# Redis sunion", |s| s
        .categories[9]),
    c!("redis_req_ping", Counter, Server, "# Redis ping", |s| s
        .categories[10]),
    c!("redis_req_lists", Counter, Server, "# Redis lists", |s| s
        .categories[11]),
    c!("redis_req_sets", Counter, Server, "# Redis sets", |s| s
        .categories[12]),
    c!("redis_req_hashes", Counter, Server, "# Redis hashes", |s| s
        .categories[13]),
    c!(
        "redis_req_sortedsets",
        Counter,
        Server,
        "# Redis sortedsets",
        |s| s.categories[14]
    ),
    c!("redis_req_other", Counter, Server, "# Redis other", |s| s
        .categories[15]),
];

/// `-D`: every counter with its description, grouped as Dynomite prints them.
pub fn describe() -> String {
    let mut out = String::new();
    for (scope, title) in [
        (Scope::Pool, "pool stats:"),
        (Scope::Server, "server stats:"),
    ] {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{title}");
        for c in COUNTERS.iter().filter(|c| c.scope == scope) {
            let _ = writeln!(out, "  {:<30}\"{}\"", c.name, c.desc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_described() {
        let mut names: Vec<&str> = COUNTERS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COUNTERS.len());
        let d = describe();
        for c in COUNTERS {
            assert!(d.contains(c.name) && d.contains(c.desc), "{}", c.name);
        }
    }

    #[test]
    fn categories_follow_names_and_groups() {
        assert_eq!(CATEGORIES[category_of("get", "string")].0, "get");
        assert_eq!(CATEGORIES[category_of("lpush", "list")].0, "lists");
        assert_eq!(CATEGORIES[category_of("lrem", "list")].0, "lreqm");
        assert_eq!(
            CATEGORIES[category_of("zadd", "sorted-set")].0,
            "sortedsets"
        );
        assert_eq!(CATEGORIES[category_of("append", "string")].0, "other");
    }
}
