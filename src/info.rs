//! The text of the `INFO` command, section by section, with Redis 7.0's field names.
//!
//! Exporters (redis_exporter), `redis-cli --stat` and client libraries parse these
//! fields, so names and formats follow Redis. `redis_version` reports the Redis version
//! whose behaviour we implement, so clients that gate features on it work; our own
//! version is in `redmite_version`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::pubsub::Kind;
use crate::store::Store;

/// Every section in the order Redis prints them.
const ORDER: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Added by `INFO all` and `INFO everything`; every other section of [`ORDER`] is
/// printed by plain `INFO` / `INFO default`.
const EXTRA: &[&str] = &["commandstats", "latencystats"];

fn defaults() -> impl Iterator<Item = &'static str> {
    ORDER.iter().copied().filter(|s| !EXTRA.contains(s))
}

/// Renders the requested sections (lower-case names; empty = default).
pub fn render(store: &Store, now_ms: u64, requested: &[String]) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    if requested.is_empty() {
        wanted.extend(defaults());
    }
    for r in requested {
        match r.as_str() {
            "default" => wanted.extend(defaults()),
            "all" | "everything" => wanted.extend(ORDER),
            other => {
                if let Some(s) = ORDER.iter().find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let mut out = String::new();
    for section in ORDER {
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

/// The highest `used_memory` seen by [`memory_figures`] (`used_memory_peak`).
static PEAK: AtomicU64 = AtomicU64::new(0);

/// Memory figures: jemalloc's allocated, active and resident bytes, and the process
/// RSS. Also records the peak of `allocated`.
pub fn memory_figures() -> (u64, u64, u64, u64) {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let allocated = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64;
    PEAK.fetch_max(allocated, Ordering::Relaxed);
    let active = tikv_jemalloc_ctl::stats::active::read().unwrap_or(0) as u64;
    let resident = tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64;
    (allocated, active, resident, process_rss())
}

/// Turns jemalloc's background threads on or off (`jemalloc-bg-thread`, on by
/// default as in Redis). They return the pages freed by FLUSHALL or DEL to the
/// system within jemalloc's decay time (10 s); without them pages are only purged
/// when a later allocation or free happens to trigger it, so an idle server keeps
/// its peak RSS forever.
pub fn set_allocator_background_threads(on: bool) {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
        tracing::warn!("cannot set jemalloc background_thread to {on}: {e}");
    }
}

/// `uname -s -r -m`, as Redis prints it (`Linux 6.1.0 x86_64`).
fn os_name() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    };
    format!("{os} {} {}", release.trim(), std::env::consts::ARCH)
}

/// Total RAM from /proc/meminfo (`total_system_memory`), 0 when unknown.
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
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
            field!(out, "os", os_name());
            field!(out, "arch_bits", 64);
            field!(out, "monotonic_clock", "POSIX clock_gettime");
            field!(out, "multiplexing_api", "epoll");
            field!(out, "atomicvar_api", "c11-builtin");
            field!(out, "gcc_version", "0.0.0");
            field!(out, "process_id", std::process::id());
            field!(out, "process_supervised", "no");
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
            let peak = PEAK.load(Ordering::Relaxed).max(used);
            let overhead: u64 = store
                .dbs
                .iter()
                .map(|d| ((d.len() + d.expires.len()) * 24) as u64)
                .sum();
            let dataset = used.saturating_sub(overhead);
            let pct = |a: u64, b: u64| {
                if b == 0 {
                    "0.00%".to_string()
                } else {
                    format!("{:.2}%", a as f64 * 100.0 / b as f64)
                }
            };
            let ratio = |a: u64, b: u64| {
                if b == 0 {
                    "0.00".to_string()
                } else {
                    format!("{:.2}", a as f64 / b as f64)
                }
            };
            let system = total_system_memory();
            field!(out, "used_memory", used);
            field!(out, "used_memory_human", human(used));
            field!(out, "used_memory_rss", rss);
            field!(out, "used_memory_rss_human", human(rss));
            field!(out, "used_memory_peak", peak);
            field!(out, "used_memory_peak_human", human(peak));
            field!(out, "used_memory_peak_perc", pct(used, peak));
            field!(out, "used_memory_overhead", overhead);
            field!(out, "used_memory_startup", 0);
            field!(out, "used_memory_dataset", dataset);
            field!(out, "used_memory_dataset_perc", pct(dataset, used));
            field!(out, "allocator_allocated", used);
            field!(out, "allocator_active", active);
            field!(out, "allocator_resident", resident);
            field!(out, "total_system_memory", system);
            field!(out, "total_system_memory_human", human(system));
            let (eval_vm, eval_cache, cached) = store.scripts.memory();
            let eval_vm = eval_vm as u64;
            let functions_vm = store.scripts.functions.vm_memory() as u64;
            field!(out, "used_memory_lua", eval_vm);
            field!(out, "used_memory_vm_eval", eval_vm);
            field!(out, "used_memory_lua_human", human(eval_vm));
            field!(out, "used_memory_scripts_eval", eval_cache);
            field!(out, "number_of_cached_scripts", cached);
            let (libraries, functions) = store.scripts.functions.counts();
            field!(out, "number_of_functions", functions);
            field!(out, "number_of_libraries", libraries);
            field!(out, "used_memory_vm_functions", functions_vm);
            field!(out, "used_memory_vm_total", eval_vm + functions_vm);
            field!(
                out,
                "used_memory_vm_total_human",
                human(eval_vm + functions_vm)
            );
            // The functions' own bookkeeping (Redis's `functionsMemoryOverhead`) is
            // not estimated: it counts in the scripts' total as 0.
            field!(out, "used_memory_functions", 0);
            field!(out, "used_memory_scripts", eval_cache);
            field!(out, "used_memory_scripts_human", human(eval_cache as u64));
            field!(out, "maxmemory", p.maxmemory);
            field!(out, "maxmemory_human", human(p.maxmemory));
            field!(out, "maxmemory_policy", p.maxmemory_policy);
            field!(out, "allocator_frag_ratio", ratio(active, used));
            field!(out, "allocator_frag_bytes", active.saturating_sub(used));
            field!(out, "allocator_rss_ratio", ratio(resident, active));
            field!(out, "allocator_rss_bytes", resident.saturating_sub(active));
            field!(out, "rss_overhead_ratio", ratio(rss, resident));
            field!(out, "rss_overhead_bytes", rss.saturating_sub(resident));
            field!(out, "mem_fragmentation_ratio", ratio(rss, used));
            field!(out, "mem_fragmentation_bytes", rss.saturating_sub(used));
            for name in [
                "mem_not_counted_for_evict",
                "mem_replication_backlog",
                "mem_total_replication_buffers",
                "mem_clients_slaves",
                "mem_clients_normal",
                "mem_cluster_links",
                "mem_aof_buffer",
            ] {
                field!(out, name, 0);
            }
            field!(out, "mem_allocator", "jemalloc-5.3.0");
            field!(out, "active_defrag_running", 0);
            field!(out, "lazyfree_pending_objects", 0);
            field!(out, "lazyfreed_objects", 0);
        }
        "persistence" => {
            field!(out, "loading", 0);
            field!(out, "async_loading", 0);
            field!(out, "current_cow_peak", 0);
            field!(out, "current_cow_size", 0);
            field!(out, "current_cow_size_age", 0);
            field!(out, "current_fork_perc", "0.00");
            field!(out, "current_save_keys_processed", 0);
            field!(out, "current_save_keys_total", 0);
            field!(out, "rdb_changes_since_last_save", store.dirty);
            field!(out, "rdb_bgsave_in_progress", 0);
            field!(out, "rdb_last_save_time", store.lastsave);
            field!(out, "rdb_last_bgsave_status", "ok");
            field!(out, "rdb_last_bgsave_time_sec", -1);
            field!(out, "rdb_current_bgsave_time_sec", -1);
            field!(out, "rdb_saves", 0);
            field!(out, "rdb_last_cow_size", 0);
            field!(out, "rdb_last_load_keys_expired", 0);
            field!(out, "rdb_last_load_keys_loaded", 0);
            field!(out, "aof_enabled", 0);
            field!(out, "aof_rewrite_in_progress", 0);
            field!(out, "aof_rewrite_scheduled", 0);
            field!(out, "aof_last_rewrite_time_sec", -1);
            field!(out, "aof_current_rewrite_time_sec", -1);
            field!(out, "aof_last_bgrewrite_status", "ok");
            field!(out, "aof_rewrites", 0);
            field!(out, "aof_rewrites_consecutive_failures", 0);
            field!(out, "aof_last_write_status", "ok");
            field!(out, "aof_last_cow_size", 0);
            field!(out, "module_fork_in_progress", 0);
            field!(out, "module_fork_last_cow_size", 0);
        }
        "stats" => {
            let s = &store.stats;
            field!(out, "total_connections_received", s.total_connections);
            field!(out, "total_commands_processed", s.total_commands);
            field!(out, "instantaneous_ops_per_sec", 0);
            field!(out, "total_net_input_bytes", s.net_input_bytes);
            field!(
                out,
                "total_net_output_bytes",
                crate::stats::metrics()
                    .net_output_bytes
                    .load(std::sync::atomic::Ordering::Relaxed)
            );
            field!(out, "total_net_repl_input_bytes", 0);
            field!(out, "total_net_repl_output_bytes", 0);
            field!(out, "instantaneous_input_kbps", "0.00");
            field!(out, "instantaneous_output_kbps", "0.00");
            field!(out, "instantaneous_input_repl_kbps", "0.00");
            field!(out, "instantaneous_output_repl_kbps", "0.00");
            field!(out, "rejected_connections", s.rejected_connections);
            field!(out, "sync_full", 0);
            field!(out, "sync_partial_ok", 0);
            field!(out, "sync_partial_err", 0);
            field!(out, "expired_keys", store.expired_keys());
            field!(out, "expired_stale_perc", "0.00");
            field!(out, "expired_time_cap_reached_count", 0);
            field!(out, "expire_cycle_cpu_milliseconds", 0);
            field!(out, "evicted_keys", s.evicted_keys);
            field!(out, "evicted_clients", 0);
            field!(out, "total_eviction_exceeded_time", 0);
            field!(out, "current_eviction_exceeded_time", 0);
            field!(out, "keyspace_hits", s.keyspace_hits);
            field!(out, "keyspace_misses", s.keyspace_misses);
            let ps = &store.pubsub;
            field!(out, "pubsub_channels", ps.len(Kind::Channel));
            field!(out, "pubsub_patterns", ps.len(Kind::Pattern));
            field!(out, "pubsubshard_channels", ps.len(Kind::Shard));
            for name in [
                "latest_fork_usec",
                "total_forks",
                "migrate_cached_sockets",
                "slave_expires_tracked_keys",
                "active_defrag_hits",
                "active_defrag_misses",
                "active_defrag_key_hits",
                "active_defrag_key_misses",
                "total_active_defrag_time",
                "current_active_defrag_time",
                "tracking_total_keys",
                "tracking_total_items",
                "tracking_total_prefixes",
            ] {
                field!(out, name, 0);
            }
            field!(out, "unexpected_error_replies", s.unexpected_error_replies);
            field!(out, "total_error_replies", s.total_error_replies);
            field!(out, "dump_payload_sanitizations", 0);
            field!(out, "total_reads_processed", s.total_commands);
            field!(out, "total_writes_processed", s.total_commands);
            field!(out, "io_threaded_reads_processed", 0);
            field!(out, "io_threaded_writes_processed", 0);
            field!(out, "reply_buffer_shrinks", 0);
            field!(out, "reply_buffer_expands", 0);
        }
        "replication" => {
            field!(out, "role", "master");
            field!(out, "connected_slaves", 0);
            field!(out, "master_failover_state", "no-failover");
            field!(out, "master_replid", store.run_id);
            field!(out, "master_replid2", "0".repeat(40));
            field!(out, "master_repl_offset", 0);
            field!(out, "second_repl_offset", -1);
            field!(out, "repl_backlog_active", 0);
            field!(out, "repl_backlog_size", 1048576);
            field!(out, "repl_backlog_first_byte_offset", 0);
            field!(out, "repl_backlog_histlen", 0);
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            field!(out, "used_cpu_sys", format!("{sys:.6}"));
            field!(out, "used_cpu_user", format!("{user:.6}"));
            field!(out, "used_cpu_sys_children", "0.000000");
            field!(out, "used_cpu_user_children", "0.000000");
            field!(out, "used_cpu_sys_main_thread", format!("{sys:.6}"));
            field!(out, "used_cpu_user_main_thread", format!("{user:.6}"));
        }
        "errorstats" => {
            for (code, n) in &store.error_stats {
                let _ = write!(out, "errorstat_{code}:count={n}\r\n");
            }
        }
        "cluster" => crate::stats::info_cluster_section(out),
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
        "latencystats" => {
            // The percentiles `latency-tracking-info-percentiles` lists, in µs with
            // three decimals as Redis prints them.
            let pcts: Vec<f64> = p
                .get("latency-tracking-info-percentiles")
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            for e in crate::commands::table().entries.iter() {
                let Some(Some(h)) = store.cmd_latency.get(e.id) else {
                    continue;
                };
                let values: Vec<String> = pcts
                    .iter()
                    .map(|q| format!("p{q}={:.3}", h.percentile(q / 100.0) as f64))
                    .collect();
                let _ = write!(
                    out,
                    "latency_percentiles_usec_{}:{}\r\n",
                    e.full_name,
                    values.join(",")
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
