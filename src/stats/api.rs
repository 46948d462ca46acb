//! The stats endpoint's paths: Dynomite's REST API (`shared/dynomite-notes.md` §5)
//! with its bodies and `/info` field names, plus `/metrics`.
//!
//! Fixed on purpose: counters are read live at each request; `/set_consistency` takes
//! effect at once on open connections (the coordinator's levels are atomics read per
//! request) and accepts DC_EACH_SAFE_QUORUM; an unknown path is a 404 instead of
//! `OK`; a bad value is a 400 instead of a silent no-op; `/` is `/info` instead of
//! whatever the previous request left in Dynomite's buffer.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cluster::coordinator::{Cluster, NodeState};
use crate::cluster::quorum::Level;
use crate::server::Shared;
use crate::store::unix_ms;

use super::counters::{Scope, Snapshot, COUNTERS};
use super::http::{Request, Response, PROMETHEUS};
use super::{metrics, Histogram, Summary};

const OK: &str = "OK\r\n";

/// What the endpoint serves: the node's shared state and the names `/info` uses.
pub struct Node {
    pub shared: Arc<Shared>,
    /// The YAML root name, the key of the pool object in `/info`.
    pub pool_name: String,
    /// The datastore's `host:port`, the key of the server object in `/info`.
    pub datastore: String,
}

/// Dynomite's `/help` text, with the paths redmite adds.
const HELP: &str = "/info\n/help\n/ping\n/metrics\n/cluster_describe\n\
/setloglevel/<0-11>\n/loglevelup\n/logleveldown\n/historeset\n\
/get_consistency\n/set_consistency/<read|write>/<dc_one|dc_quorum|dc_safe_quorum|dc_each_safe_quorum>\n\
/get_timeout_factor\n/set_timeout_factor/<1-10>\n/peer/<up|down|reset>/<name|all>\n\
/read_repairs/<enable|disable>\n\
/state/<get_state|standby|writes_only|normal|resuming>\n\n";

fn not_found() -> Response {
    Response::status(404, "Not Found\r\n")
}

fn bad(why: &str) -> Response {
    Response::status(400, format!("{why}\r\n"))
}

/// Appends `s` as a JSON string.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn field_str(o: &mut String, k: &str, v: &str) {
    json_str(o, k);
    o.push(':');
    json_str(o, v);
    o.push_str(",\n");
}

fn num(o: &mut String, k: &str, v: u64) {
    let _ = writeln!(o, "\"{k}\":{v},");
}

impl Node {
    /// Answers one GET (or HEAD) request.
    pub fn handle(&self, req: &Request) -> Response {
        metrics().stats_requests.fetch_add(1, Ordering::Relaxed);
        let path = req.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let current = self.shared.cluster();
        let cluster = current.as_deref();
        match parts.as_slice() {
            [] | ["info"] => Response::ok(self.info()),
            ["ping"] => Response::ok(OK),
            ["help"] => Response::ok(HELP),
            ["metrics"] => Response {
                status: 200,
                content_type: PROMETHEUS,
                body: super::prometheus::scrape(self),
            },
            ["historeset"] => {
                metrics().reset_histograms(&mut self.shared.store.lock_blocking());
                for l in cluster.iter().flat_map(|c| c.links.iter().flatten()) {
                    l.stats.rtt.reset();
                }
                Response::ok(OK)
            }
            ["setloglevel", n] => match n.parse::<u8>() {
                Ok(v) if v <= 11 => {
                    super::log::set_verbosity(v);
                    Response::ok(OK)
                }
                _ => bad("log level must be 0..11"),
            },
            ["loglevelup"] => {
                super::log::set_verbosity(super::log::verbosity().saturating_add(1).min(11));
                Response::ok(OK)
            }
            ["logleveldown"] => {
                super::log::set_verbosity(super::log::verbosity().saturating_sub(1));
                Response::ok(OK)
            }
            ["get_consistency"] => {
                let (r, w) = cluster.map_or((Level::DcOne, Level::DcOne), |c| {
                    (c.read_level(), c.write_level())
                });
                Response::ok(format!(
                    "Read Consistency: {r}\r\nWrite Consistency: {w}\r\n"
                ))
            }
            ["get_timeout_factor"] => Response::ok(format!(
                "Timeout factor: {}\n",
                cluster.map_or(1, Cluster::timeout_factor)
            )),
            ["state", "get_state"] => Response::ok(format!(
                "State: {}\n",
                cluster.map_or(NodeState::Normal, Cluster::state).as_str()
            )),
            _ => match cluster {
                Some(c) => self.cluster_path(c, &parts),
                None => not_found(),
            },
        }
    }

    /// The paths that act on the replication layer.
    fn cluster_path(&self, c: &Cluster, parts: &[&str]) -> Response {
        match parts {
            ["cluster_describe"] => Response::ok(cluster_describe(
                c,
                self.shared.membership.get().map(|m| &**m),
            )),
            ["set_consistency", which @ ("read" | "write"), level] => {
                let Ok(level) = level.parse::<Level>() else {
                    return bad("unknown consistency level");
                };
                if *which == "read" {
                    c.set_levels(Some(level), None);
                } else {
                    c.set_levels(None, Some(level));
                }
                tracing::info!("{which} consistency set to {level} by the stats endpoint");
                Response::ok(OK)
            }
            ["set_timeout_factor", n] => match n.parse::<i64>() {
                // Dynomite clamps the factor into 1..=10.
                Ok(v) => {
                    c.set_timeout_factor(v.clamp(1, 10) as u32);
                    Response::ok(OK)
                }
                Err(_) => bad("timeout factor must be a number"),
            },
            ["state", s @ ("normal" | "standby" | "writes_only" | "resuming")] => {
                if let Some(st) = NodeState::parse(s) {
                    c.set_state(st);
                    tracing::info!("node state set to {} by the stats endpoint", st.as_str());
                }
                Response::ok(OK)
            }
            ["peer", action @ ("up" | "down" | "reset"), name] => {
                let down = *action == "down";
                let mut found = false;
                for l in c.links.iter().flatten() {
                    if *name == "all" || l.name == *name || l.addr == *name {
                        l.set_admin_down(down && *name != "all");
                        found = true;
                    }
                }
                if found {
                    Response::ok(OK)
                } else {
                    Response::status(404, "no such peer\r\n")
                }
            }
            ["read_repairs", on @ ("enable" | "disable")] => {
                c.read_repairs.store(*on == "enable", Ordering::Relaxed);
                Response::ok(format!(
                    "Read Repairs: {}\r\n",
                    if *on == "enable" {
                        "ENABLED"
                    } else {
                        "DISABLED"
                    }
                ))
            }
            _ => not_found(),
        }
    }

    /// Dynomite's `/info` JSON (times in µs), each field on its own line.
    pub fn info(&self) -> String {
        let current = self.shared.cluster();
        let cluster = current.as_deref();
        let (snap, uptime, keys) = {
            let store = self.shared.store.lock_blocking();
            let keys: usize = store.dbs.iter().map(|d| d.len()).sum();
            (
                Snapshot::take(&store, cluster),
                store.started.elapsed().as_secs(),
                keys,
            )
        };
        let mut o = String::with_capacity(4096);
        o.push('{');
        field_str(&mut o, "service", "dynomite");
        field_str(&mut o, "source", "redmite");
        field_str(&mut o, "version", env!("CARGO_PKG_VERSION"));
        num(&mut o, "uptime", uptime);
        num(&mut o, "timestamp", unix_ms() / 1000);
        if let Some(c) = cluster {
            let local = &c.ring.nodes()[c.ring.local().0 as usize];
            field_str(&mut o, "rack", &local.rack);
            field_str(&mut o, "dc", &local.dc);
            field_str(&mut o, "state", c.state().as_str());
        }
        let m = metrics();
        let lat = m.command_usec.summary();
        num(&mut o, "latency_max", lat.max);
        num(&mut o, "latency_999th", lat.p999);
        num(&mut o, "latency_99th", lat.p99);
        num(&mut o, "latency_95th", lat.p95);
        num(&mut o, "latency_mean", lat.mean);
        let pay = m.payload_bytes.summary();
        num(&mut o, "payload_size_max", pay.max);
        num(&mut o, "payload_size_999th", pay.p999);
        num(&mut o, "payload_size_99th", pay.p99);
        num(&mut o, "payload_size_95th", pay.p95);
        num(&mut o, "payload_size_mean", pay.mean);
        let (zone, region) = cluster.map(link_summaries).unwrap_or_default();
        num(&mut o, "average_cross_region_rtt", region.mean);
        num(&mut o, "99_cross_region_rtt", region.p99);
        num(&mut o, "average_cross_zone_latency", zone.mean);
        num(&mut o, "99_cross_zone_latency", zone.p99);
        let q = m.quorum_usec.summary();
        num(&mut o, "average_server_latency", q.mean);
        num(&mut o, "99_server_latency", q.p99);
        num(&mut o, "dyn_memory", crate::info::memory_figures().0);
        num(&mut o, "keys", keys as u64);
        json_str(&mut o, &self.pool_name);
        o.push_str(": {");
        for c in COUNTERS.iter().filter(|c| c.scope == Scope::Pool) {
            num(&mut o, c.name, (c.get)(&snap));
        }
        if let Some(c) = cluster {
            o.push_str("\"peers\": {");
            let links: Vec<_> = c.links.iter().flatten().collect();
            for (i, l) in links.iter().enumerate() {
                json_str(&mut o, &l.name);
                o.push_str(": {");
                field_str(&mut o, "dc", &l.dc);
                field_str(&mut o, "rack", &l.rack);
                field_str(&mut o, "state", if l.is_up() { "up" } else { "down" });
                let rtt = l.stats.rtt.summary();
                num(&mut o, "latency_mean", rtt.mean);
                num(&mut o, "latency_99th", rtt.p99);
                num(&mut o, "queued", l.pending() as u64);
                let _ = write!(o, "\"lag_ms\":{}}}", l.lag().as_millis());
                o.push_str(if i + 1 < links.len() { ",\n" } else { "\n" });
            }
            o.push_str("},\n");
        }
        json_str(&mut o, &self.datastore);
        o.push_str(": {");
        let server: Vec<_> = COUNTERS
            .iter()
            .filter(|c| c.scope == Scope::Server)
            .collect();
        for (i, c) in server.iter().enumerate() {
            let _ = write!(o, "\"{}\":{}", c.name, (c.get)(&snap));
            o.push_str(if i + 1 < server.len() { ",\n" } else { "\n" });
        }
        o.push_str("}}}\n");
        o
    }
}

/// Round trips to same-DC peers (cross zone) and to remote DCs (cross region).
pub fn link_summaries(c: &Cluster) -> (Summary, Summary) {
    let zone = Histogram::new();
    let region = Histogram::new();
    for l in c.links.iter().flatten() {
        if l.same_dc {
            zone.add(&l.stats.rtt);
        } else {
            region.add(&l.stats.rtt);
        }
    }
    (zone.summary(), region.summary())
}

/// Dynomite's `/cluster_describe`: DCs, racks and servers (the local node included),
/// each server with redmite's `state` added (`local`, `up` or `down`: the peer link) and,
/// with gossip on, `node_state` (`NORMAL`, `STANDBY`, ..., or `DOWN` when its gossip
/// went silent) for the servers gossip has reached.
pub fn cluster_describe(c: &Cluster, members: Option<&crate::membership::Membership>) -> String {
    let ring = &c.ring;
    let mut o = String::from("{\"dcs\": [");
    for dc in 0..ring.dc_count() {
        let dc_name = ring.dc_name(dc).unwrap_or("");
        if dc > 0 {
            o.push(',');
        }
        o.push_str("{\"name\":");
        json_str(&mut o, dc_name);
        o.push_str(",\"racks\": [");
        for (ri, rack) in ring.racks_of_dc(dc).enumerate() {
            let rack_name = ring.rack_name(rack).unwrap_or("");
            if ri > 0 {
                o.push(',');
            }
            o.push_str("{\"name\":");
            json_str(&mut o, rack_name);
            o.push_str(",\"servers\": [");
            let mut first = true;
            for (i, n) in ring.nodes().iter().enumerate() {
                if n.dc != dc_name || n.rack != rack_name {
                    continue;
                }
                if !first {
                    o.push(',');
                }
                first = false;
                let state = match c.links.get(i).and_then(Option::as_ref) {
                    None => "local",
                    Some(l) if l.is_up() => "up",
                    Some(_) => "down",
                };
                o.push_str("{\"name\":");
                json_str(&mut o, &n.name);
                o.push_str(",\"host\":");
                json_str(&mut o, &n.host);
                let _ = write!(
                    o,
                    ",\"port\":{},\"token\":{},\"state\":\"{state}\"",
                    n.port,
                    n.tokens.first().copied().unwrap_or(0)
                );
                if let Some(s) = members.and_then(|m| m.state_of(&n.host, n.port)) {
                    let _ = write!(o, ",\"node_state\":\"{s}\"");
                }
                o.push('}');
            }
            o.push_str("]}");
        }
        o.push_str("]}");
    }
    o.push_str("]}");
    o
}
