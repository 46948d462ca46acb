//! `/metrics` in the Prometheus text format (0.0.4).
//!
//! The `redis_*` families carry redis_exporter's names and are computed from the text
//! `INFO all` returns, parsed exactly as the exporter parses it, so they cannot
//! disagree with INFO and existing Redis dashboards work unchanged. The `redmite_*`
//! families describe the replication layer, and `redmite_dynomite_*` repeats Dynomite's
//! `/info` counters from the shared table.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::cluster::quorum::Level;
use crate::peer::link::Link;
use crate::store::unix_ms;

use super::api::{link_summaries, Node};
use super::counters::{Kind, Snapshot, COUNTERS};
use super::{metrics, QuorumFailure, Summary};

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", esc(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A summary of microsecond values, exposed in seconds.
    fn summary_us(&mut self, name: &str, labels: &[(&str, &str)], s: &Summary) {
        for (q, v) in [
            ("0.5", s.p50),
            ("0.95", s.p95),
            ("0.99", s.p99),
            ("0.999", s.p999),
        ] {
            let mut l = labels.to_vec();
            l.push(("quantile", q));
            self.sample(name, &l, v as f64 / 1e6);
        }
        self.sample(&format!("{name}_sum"), labels, s.sum as f64 / 1e6);
        self.sample(&format!("{name}_count"), labels, s.count);
    }
}

/// `field:value` lines of an INFO text, and its `cmdstat_*`, `db*` and `errorstat_*`
/// lines split into their `k=v` parts.
fn parse_info(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .collect()
}

fn sub_fields(v: &str) -> BTreeMap<&str, &str> {
    v.split(',').filter_map(|kv| kv.split_once('=')).collect()
}

/// redis_exporter's simple metrics: (INFO field, metric name, type).
const SIMPLE: &[(&str, &str, &str)] = &[
    ("uptime_in_seconds", "redis_uptime_in_seconds", "gauge"),
    ("connected_clients", "redis_connected_clients", "gauge"),
    ("blocked_clients", "redis_blocked_clients", "gauge"),
    ("maxclients", "redis_max_clients", "gauge"),
    ("used_memory", "redis_memory_used_bytes", "gauge"),
    ("used_memory_rss", "redis_memory_used_rss_bytes", "gauge"),
    ("used_memory_peak", "redis_memory_used_peak_bytes", "gauge"),
    ("maxmemory", "redis_memory_max_bytes", "gauge"),
    (
        "allocator_allocated",
        "redis_allocator_allocated_bytes",
        "gauge",
    ),
    ("allocator_active", "redis_allocator_active_bytes", "gauge"),
    (
        "allocator_resident",
        "redis_allocator_resident_bytes",
        "gauge",
    ),
    (
        "total_commands_processed",
        "redis_commands_processed_total",
        "counter",
    ),
    (
        "total_connections_received",
        "redis_connections_received_total",
        "counter",
    ),
    (
        "rejected_connections",
        "redis_rejected_connections_total",
        "counter",
    ),
    ("keyspace_hits", "redis_keyspace_hits_total", "counter"),
    ("keyspace_misses", "redis_keyspace_misses_total", "counter"),
    ("expired_keys", "redis_expired_keys_total", "counter"),
    ("evicted_keys", "redis_evicted_keys_total", "counter"),
    (
        "total_net_input_bytes",
        "redis_net_input_bytes_total",
        "counter",
    ),
    (
        "total_net_output_bytes",
        "redis_net_output_bytes_total",
        "counter",
    ),
    (
        "total_error_replies",
        "redis_total_error_replies",
        "counter",
    ),
    ("pubsub_channels", "redis_pubsub_channels", "gauge"),
    ("pubsub_patterns", "redis_pubsub_patterns", "gauge"),
    ("connected_slaves", "redis_connected_slaves", "gauge"),
    ("used_cpu_sys", "redis_cpu_sys_seconds_total", "counter"),
    ("used_cpu_user", "redis_cpu_user_seconds_total", "counter"),
    ("loading", "redis_loading_dump_file", "gauge"),
    (
        "rdb_changes_since_last_save",
        "redis_rdb_changes_since_last_save",
        "gauge",
    ),
];

fn peer_labels(l: &Link) -> [(&'static str, &str); 3] {
    [("peer", &l.name), ("dc", &l.dc), ("rack", &l.rack)]
}

fn load(a: &std::sync::atomic::AtomicU64) -> f64 {
    a.load(std::sync::atomic::Ordering::Relaxed) as f64
}

type PeerValue = fn(&Link) -> f64;

/// Per-peer families: name, type, help, value.
const PEER_FAMILIES: &[(&str, &str, &str, PeerValue)] = &[
    (
        "redmite_peer_up",
        "gauge",
        "Whether the link to the peer is up",
        |l| l.is_up() as u8 as f64,
    ),
    (
        "redmite_peer_queued_writes",
        "gauge",
        "Requests queued or in flight to the peer (hinted writes included)",
        |l| l.pending() as f64,
    ),
    (
        "redmite_peer_lag_seconds",
        "gauge",
        "Age of the oldest unacknowledged request to the peer",
        |l| l.lag().as_secs_f64(),
    ),
    (
        "redmite_peer_requests_total",
        "counter",
        "Requests sent to the peer",
        |l| load(&l.stats.requests),
    ),
    (
        "redmite_peer_failed_requests_total",
        "counter",
        "Requests to the peer that failed",
        |l| load(&l.stats.failed),
    ),
    (
        "redmite_peer_dropped_hints_total",
        "counter",
        "Queued writes dropped because the peer's queue was full",
        |l| load(&l.stats.dropped_hints),
    ),
];

/// How many `/metrics` bodies a second are always rendered afresh.
const FRESH_PER_SECOND: u32 = 10;
/// How old a body may be when it is reused past that rate.
const REUSE_FOR: Duration = Duration::from_millis(100);

/// When the renders of the current one-second window began, how many there were, and
/// the latest body.
struct Renders {
    window: Instant,
    count: u32,
    last: Option<(Instant, Bytes)>,
}

impl Renders {
    /// A body to serve again at `now`, or `None` when this scrape renders (and is
    /// counted).
    fn reuse(&mut self, now: Instant) -> Option<Bytes> {
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.count = 0;
        }
        if self.count >= FRESH_PER_SECOND {
            if let Some((at, body)) = &self.last {
                if now.duration_since(*at) < REUSE_FOR {
                    return Some(body.clone());
                }
            }
        }
        self.count += 1;
        None
    }
}

static RENDERS: Mutex<Option<Renders>> = Mutex::new(None);

/// The `/metrics` body for one scrape. Rendering takes the store lock for the whole
/// `INFO all` text, so a storm of scrapes (1,000 scrapers a second) would hold it a tenth
/// of the time and show in the client port's latency. Past [`FRESH_PER_SECOND`] renders
/// in a second, a body at most [`REUSE_FOR`] old is served again; below that rate (one
/// Prometheus, a person, a test) every scrape sees live figures.
pub fn scrape(node: &Node) -> Bytes {
    let now = Instant::now();
    let reused = RENDERS
        .lock()
        .get_or_insert(Renders {
            window: now,
            count: 0,
            last: None,
        })
        .reuse(now);
    if let Some(body) = reused {
        return body;
    }
    let body = Bytes::from(render(node));
    if let Some(r) = RENDERS.lock().as_mut() {
        r.last = Some((now, body.clone()));
    }
    body
}

/// The whole `/metrics` body.
fn render(node: &Node) -> String {
    let current = node.shared.cluster();
    let cluster = current.as_deref();
    let (info, snap) = {
        let store = node.shared.store.lock_blocking();
        (
            crate::info::render(&store, unix_ms(), &["all".to_string()]),
            Snapshot::take(&store, cluster),
        )
    };
    let fields = parse_info(&info);
    let mut o = Out(String::with_capacity(16 * 1024));
    o.one(
        "redis_up",
        "gauge",
        "Information about the Redis instance",
        1,
    );
    o.family(
        "redis_instance_info",
        "gauge",
        "Information about the Redis instance",
    );
    let get = |k: &str| fields.get(k).copied().unwrap_or("");
    o.sample(
        "redis_instance_info",
        &[
            ("role", get("role")),
            ("redis_version", get("redis_version")),
            ("redis_build_id", get("redis_build_id")),
            ("redis_mode", get("redis_mode")),
            ("os", get("os")),
            ("maxmemory_policy", get("maxmemory_policy")),
            ("tcp_port", get("tcp_port")),
            ("run_id", get("run_id")),
            ("process_id", get("process_id")),
        ],
        1,
    );
    for (field, name, kind) in SIMPLE {
        if let Some(v) = fields.get(field) {
            o.one(name, kind, &format!("INFO field {field}"), v);
        }
    }
    o.family("redis_db_keys", "gauge", "Total number of keys by DB");
    let dbs: Vec<(&str, BTreeMap<&str, &str>)> = fields
        .iter()
        .filter(|(k, _)| k.starts_with("db") && k[2..].bytes().all(|c| c.is_ascii_digit()))
        .map(|(k, v)| (*k, sub_fields(v)))
        .collect();
    for (db, f) in &dbs {
        o.sample(
            "redis_db_keys",
            &[("db", db)],
            f.get("keys").unwrap_or(&"0"),
        );
    }
    o.family(
        "redis_db_keys_expiring",
        "gauge",
        "Total number of expiring keys by DB",
    );
    for (db, f) in &dbs {
        o.sample(
            "redis_db_keys_expiring",
            &[("db", db)],
            f.get("expires").unwrap_or(&"0"),
        );
    }
    let cmds: Vec<(&str, BTreeMap<&str, &str>)> = fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("cmdstat_").map(|c| (c, sub_fields(v))))
        .collect();
    o.family(
        "redis_commands_total",
        "counter",
        "Total number of calls per command",
    );
    for (cmd, f) in &cmds {
        o.sample(
            "redis_commands_total",
            &[("cmd", cmd)],
            f.get("calls").unwrap_or(&"0"),
        );
    }
    o.family(
        "redis_commands_duration_seconds_total",
        "counter",
        "Total amount of time in seconds spent per command",
    );
    for (cmd, f) in &cmds {
        let usec: f64 = f.get("usec").and_then(|u| u.parse().ok()).unwrap_or(0.0);
        o.sample(
            "redis_commands_duration_seconds_total",
            &[("cmd", cmd)],
            usec / 1e6,
        );
    }
    o.family(
        "redis_commands_rejected_calls_total",
        "counter",
        "Total number of rejected calls per command",
    );
    for (cmd, f) in &cmds {
        o.sample(
            "redis_commands_rejected_calls_total",
            &[("cmd", cmd)],
            f.get("rejected_calls").unwrap_or(&"0"),
        );
    }
    o.family(
        "redis_commands_failed_calls_total",
        "counter",
        "Total number of failed calls per command",
    );
    for (cmd, f) in &cmds {
        o.sample(
            "redis_commands_failed_calls_total",
            &[("cmd", cmd)],
            f.get("failed_calls").unwrap_or(&"0"),
        );
    }
    o.family(
        "redis_errors_total",
        "counter",
        "Total number of errors per error type",
    );
    for (k, v) in &fields {
        if let Some(code) = k.strip_prefix("errorstat_") {
            let n = sub_fields(v);
            o.sample(
                "redis_errors_total",
                &[("err", code)],
                n.get("count").unwrap_or(&"0"),
            );
        }
    }
    // redis_exporter's per-replica lag; a redmite node's replicas are its peers.
    o.family(
        "redis_connected_slave_lag_seconds",
        "gauge",
        "Lag of each peer: age of its oldest unacknowledged replicated request",
    );
    if let Some(c) = cluster {
        for l in c.links.iter().flatten() {
            let (ip, port) = l.addr.rsplit_once(':').unwrap_or((&l.addr, ""));
            o.sample(
                "redis_connected_slave_lag_seconds",
                &[
                    ("slave_ip", ip),
                    ("slave_port", port),
                    ("slave_state", if l.is_up() { "online" } else { "down" }),
                ],
                l.lag().as_secs_f64(),
            );
        }
    }
    render_redmite(&mut o, node, &snap);
    o.0
}

fn render_redmite(o: &mut Out, node: &Node, snap: &Snapshot) {
    let m = metrics();
    o.family(
        "redmite_command_latency_seconds",
        "summary",
        "Time to execute client commands on this node",
    );
    o.summary_us(
        "redmite_command_latency_seconds",
        &[],
        &m.command_usec.summary(),
    );
    o.family(
        "redmite_quorum_latency_seconds",
        "summary",
        "Time from a replicated request's start to its quorum reply",
    );
    o.summary_us(
        "redmite_quorum_latency_seconds",
        &[],
        &m.quorum_usec.summary(),
    );
    o.family(
        "redmite_requests_total",
        "counter",
        "Routed requests per consistency level",
    );
    for (op, write) in [("read", false), ("write", true)] {
        for l in Level::ALL {
            o.sample(
                "redmite_requests_total",
                &[("op", op), ("level", l.as_str())],
                m.level_requests(write, l),
            );
        }
    }
    o.family(
        "redmite_quorum_failures_total",
        "counter",
        "Requests whose quorum failed, by reason",
    );
    for why in QuorumFailure::ALL {
        o.sample(
            "redmite_quorum_failures_total",
            &[("reason", why.as_str())],
            m.quorum_failures(why),
        );
    }
    for c in COUNTERS {
        let kind = if c.kind == Kind::Counter {
            "counter"
        } else {
            "gauge"
        };
        let name = format!("redmite_dynomite_{}", c.name);
        o.one(&name, kind, c.desc.trim_start_matches("# "), (c.get)(snap));
    }
    let Some(c) = node.shared.cluster() else {
        return;
    };
    let local = &c.ring.nodes()[c.ring.local().0 as usize];
    o.family(
        "redmite_node_info",
        "gauge",
        "This node's place in the topology and its state",
    );
    o.sample(
        "redmite_node_info",
        &[
            ("dc", &local.dc),
            ("rack", &local.rack),
            ("state", c.state().as_str()),
        ],
        1,
    );
    let links: Vec<_> = c.links.iter().flatten().collect();
    for (name, kind, help, value) in PEER_FAMILIES {
        o.family(name, kind, help);
        for l in &links {
            o.sample(name, &peer_labels(l), value(l));
        }
    }
    o.family(
        "redmite_peer_rtt_seconds",
        "summary",
        "Round-trip time of requests to the peer",
    );
    for l in &links {
        o.summary_us(
            "redmite_peer_rtt_seconds",
            &peer_labels(l),
            &l.stats.rtt.summary(),
        );
    }
    let (zone, region) = link_summaries(&c);
    o.family(
        "redmite_cross_rack_rtt_seconds",
        "summary",
        "Round-trip time to peers in this DC",
    );
    o.summary_us("redmite_cross_rack_rtt_seconds", &[], &zone);
    o.family(
        "redmite_cross_dc_rtt_seconds",
        "summary",
        "Round-trip time to peers in other DCs",
    );
    o.summary_us("redmite_cross_dc_rtt_seconds", &[], &region);
    o.family(
        "redmite_cross_dc_lag_seconds",
        "gauge",
        "Replication lag towards each remote DC: the oldest unacknowledged request to it",
    );
    let mut by_dc: BTreeMap<&str, f64> = BTreeMap::new();
    for l in links.iter().filter(|l| !l.same_dc) {
        let e = by_dc.entry(&l.dc).or_insert(0.0);
        *e = e.max(l.lag().as_secs_f64());
    }
    for (dc, lag) in by_dc {
        o.sample("redmite_cross_dc_lag_seconds", &[("dc", dc)], lag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_reused_only_past_the_fresh_rate_and_only_while_young() {
        let t0 = Instant::now();
        let mut r = Renders {
            window: t0,
            count: 0,
            last: None,
        };
        let ms = |n| t0 + Duration::from_millis(n);
        // The first FRESH_PER_SECOND scrapes of a second all render.
        for i in 0..FRESH_PER_SECOND {
            assert_eq!(r.reuse(ms(u64::from(i))), None);
            r.last = Some((ms(u64::from(i)), Bytes::from(format!("body {i}"))));
        }
        // Past that rate, the latest body is served while it is younger than REUSE_FOR.
        assert_eq!(r.reuse(ms(50)), Some(Bytes::from("body 9")));
        // Too old: the scrape renders again.
        assert_eq!(r.reuse(ms(9 + 100)), None);
        r.last = Some((ms(109), Bytes::from("body 10")));
        assert_eq!(r.reuse(ms(150)), Some(Bytes::from("body 10")));
        // A new second starts a new count: live again.
        assert_eq!(r.reuse(ms(1000)), None);
    }
}
