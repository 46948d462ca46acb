//! The text of the `INFO` command, section by section, with Redis 7.0's field names.
//!
//! Exporters (redis_exporter), `redis-cli --stat` and client libraries parse these
//! fields, so names and formats follow Redis. `redis_version` reports the Redis version
//! whose behaviour we implement, so clients that gate features on it work; our own
//! version is in `redmite_version`.

use std::fmt::Write;

use crate::store::Store;

/// Sections printed by plain `INFO` / `INFO default`.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Added by `INFO all` and `INFO everything`.
const EXTRA: &[&str] = &["commandstats", "latencystats"];

/// Renders the requested sections (lower-case names; empty = default).
pub fn render(store: &Store, now_ms: u64, requested: &[String]) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    if requested.is_empty() {
        wanted.extend(DEFAULT);
    }
    for r in requested {
        match r.as_str() {
            "default" => wanted.extend(DEFAULT),
            "all" | "everything" => {
                wanted.extend(DEFAULT);
                wanted.extend(EXTRA);
            }
            other => {
                if let Some(s) = DEFAULT.iter().chain(EXTRA).find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let mut out = String::new();
    let all = DEFAULT
        .iter()
        .take(DEFAULT.len() - 1)
        .chain(EXTRA)
        .chain(std::iter::once(&"keyspace"));
    for section in all {
        if !wanted.contains(section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section_text(&mut out, store, now_ms, section);
    }
    out
}

fn title(name: &str) -> String {
    match name {
        "cpu" => "CPU".into(),
        "commandstats" => "Commandstats".into(),
        "errorstats" => "Errorstats".into(),
        "latencystats" => "Latencystats".into(),
        _ => {
            let mut c = name.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

macro_rules! field {
    ($out:expr, $name:expr, $value:expr) => {
        let _ = write!($out, "{}:{}\r\n", $name, $value);
    };
}

/// Memory figures: (used = jemalloc allocated, rss of the process, peak unknown).
pub fn memory_figures() -> (u64, u64, u64, u64) {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64;
    let active = tikv_jemalloc_ctl::stats::active::read().unwrap_or(0) as u64;
    let resident = tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64;
    (allocated, active, resident, process_rss())
}

/// Resident set size from /proc/self/statm (pages × 4096).
pub fn process_rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

fn section_text(out: &mut String, store: &Store, now_ms: u64, section: &str) {
    let _ = write!(out, "# {}\r\n", title(section));
    let p = &store.params;
    match section {
        "server" => {
            let uptime = store.started.elapsed().as_secs();
            field!(out, "redis_version", crate::REDIS_VERSION);
            field!(out, "redis_git_sha1", "00000000");
            field!(out, "redis_git_dirty", 0);
            field!(out, "redis_build_id", "0");
            field!(out, "redis_mode", "standalone");
            field!(out, "redmite_version", env!("CARGO_PKG_VERSION"));
            field!(
                out,
                "os",
                format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
            );
            field!(out, "arch_bits", 64);
            field!(out, "monotonic_clock", "POSIX clock_gettime");
            field!(out, "multiplexing_api", "epoll");
            field!(out, "process_id", std::process::id());
            field!(out, "run_id", store.run_id);
            field!(out, "tcp_port", p.port);
            field!(out, "server_time_usec", crate::store::unix_us());
            field!(out, "uptime_in_seconds", uptime);
            field!(out, "uptime_in_days", uptime / 86400);
            field!(out, "hz", p.hz);
            field!(out, "configured_hz", p.hz);
            field!(out, "lru_clock", crate::store::lru_clock(now_ms));
            field!(
                out,
                "executable",
                std::env::current_exe()
                    .map(|e| e.display().to_string())
                    .unwrap_or_default()
            );
            field!(
                out,
                "config_file",
                store
                    .config_file
                    .as_ref()
                    .map(|c| c.display().to_string())
                    .unwrap_or_default()
            );
            field!(out, "io_threads_active", 0);
        }
        "clients" => {
            field!(out, "connected_clients", store.clients.len());
            field!(out, "cluster_connections", 0);
            field!(out, "maxclients", p.maxclients);
            field!(out, "client_recent_max_input_buffer", 0);
            field!(out, "client_recent_max_output_buffer", 0);
            field!(out, "blocked_clients", store.blocking.len());
            field!(out, "tracking_clients", 0);
            field!(
                out,
                "clients_in_timeout_table",
                store.blocking.with_timeout()
            );
        }
        "memory" => {
            let (used, active, resident, rss) = memory_figures();
            field!(out, "used_memory", used);
            field!(out, "used_memory_human", human(used));
            field!(out, "used_memory_rss", rss);
            field!(out, "used_memory_rss_human", human(rss));
            field!(out, "used_memory_peak", used);
            field!(out, "used_memory_peak_human", human(used));
            field!(out, "used_memory_lua", 31744);
            field!(out, "maxmemory", p.maxmemory);
            field!(out, "maxmemory_human", human(p.maxmemory));
            field!(out, "maxmemory_policy", p.maxmemory_policy);
            field!(out, "allocator_allocated", used);
            field!(out, "allocator_active", active);
            field!(out, "allocator_resident", resident);
            let frag = if used > 0 {
                rss as f64 / used as f64
            } else {
                1.0
            };
            field!(out, "mem_fragmentation_ratio", format!("{frag:.2}"));
            field!(out, "mem_allocator", "jemalloc-5.3.0");
            field!(out, "lazyfree_pending_objects", 0);
        }
        "persistence" => {
            field!(out, "loading", 0);
            field!(out, "async_loading", 0);
            field!(out, "rdb_changes_since_last_save", store.dirty);
            field!(out, "rdb_bgsave_in_progress", 0);
            field!(out, "rdb_last_save_time", store.lastsave);
            field!(out, "rdb_last_bgsave_status", "ok");
            field!(out, "aof_enabled", 0);
            field!(out, "aof_rewrite_in_progress", 0);
            field!(out, "aof_rewrite_scheduled", 0);
            field!(out, "aof_last_write_status", "ok");
        }
        "stats" => {
            let s = &store.stats;
            field!(out, "total_connections_received", s.total_connections);
            field!(out, "total_commands_processed", s.total_commands);
            field!(out, "instantaneous_ops_per_sec", 0);
            field!(out, "total_net_input_bytes", s.net_input_bytes);
            field!(out, "total_net_output_bytes", s.net_output_bytes);
            field!(out, "rejected_connections", s.rejected_connections);
            field!(out, "expired_keys", store.expired_keys());
            field!(out, "evicted_keys", s.evicted_keys);
            field!(out, "keyspace_hits", s.keyspace_hits);
            field!(out, "keyspace_misses", s.keyspace_misses);
            field!(out, "pubsub_channels", 0);
            field!(out, "pubsub_patterns", 0);
            field!(out, "total_error_replies", s.total_error_replies);
            field!(out, "unexpected_error_replies", s.unexpected_error_replies);
        }
        "replication" => {
            field!(out, "role", "master");
            field!(out, "connected_slaves", 0);
            field!(out, "master_replid", store.run_id);
            field!(out, "master_repl_offset", 0);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            field!(out, "used_cpu_sys", format!("{sys:.6}"));
            field!(out, "used_cpu_user", format!("{user:.6}"));
            field!(out, "used_cpu_sys_children", "0.000000");
            field!(out, "used_cpu_user_children", "0.000000");
        }
        "errorstats" => {
            for (code, n) in &store.error_stats {
                let _ = write!(out, "errorstat_{code}:count={n}\r\n");
            }
        }
        "cluster" => {
            field!(out, "cluster_enabled", 0);
        }
        "commandstats" => {
            for e in crate::commands::table().entries.iter() {
                let s = store.cmd_stats[e.id];
                if s.calls == 0 && s.rejected == 0 && s.failed == 0 {
                    continue;
                }
                let per = if s.calls > 0 {
                    s.usec as f64 / s.calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                    e.full_name, s.calls, s.usec, per, s.rejected, s.failed
                );
            }
        }
        "keyspace" => {
            for (i, db) in store.dbs.iter().enumerate() {
                if db.is_empty() {
                    continue;
                }
                let _ = write!(
                    out,
                    "db{i}:keys={},expires={},avg_ttl={}\r\n",
                    db.len(),
                    db.expires.len(),
                    db.avg_ttl(now_ms)
                );
            }
        }
        _ => {}
    }
}
