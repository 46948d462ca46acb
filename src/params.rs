//! Runtime parameters: what Redis users see through `CONFIG GET/SET` and set with
//! `--name value` on the command line.
//!
//! One table ([`SPECS`]) declares every parameter once: its name and aliases, kind,
//! default and whether it can change at run time. The command line, `CONFIG GET`,
//! `CONFIG SET` and `CONFIG REWRITE` are all derived from it. Typed copies of the
//! values the server reads on hot paths live in [`Params`] fields and are refreshed
//! by [`Params::set`].

use std::collections::BTreeMap;

use bytes::Bytes;

/// What values a parameter takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count that accepts Redis's units (`1kb`, `100mb`, `1g`).
    Memory,
    Enum(&'static [&'static str]),
    Str,
}

pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub default: &'static str,
    pub mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> Spec {
    Spec {
        name,
        aliases: &[],
        kind,
        default,
        mutable,
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

pub const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every parameter redmite knows. Those marked immutable can only be given at start.
pub static SPECS: &[Spec] = &[
    p("bind", Kind::Str, "127.0.0.1", false),
    p("port", int(0, 65535), "8102", false),
    p("requirepass", Kind::Str, "", true),
    p("databases", int(1, i32::MAX as i64), "16", false),
    p("maxmemory", Kind::Memory, "0", true),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction", true),
    p("maxmemory-samples", int(1, 64), "5", true),
    p("maxmemory-eviction-tenacity", int(0, 100), "10", true),
    p("maxmemory-clients", Kind::Memory, "0", true),
    p("maxclients", int(1, i64::MAX), "10000", true),
    p("timeout", int(0, i32::MAX as i64), "0", true),
    p("tcp-keepalive", int(0, i32::MAX as i64), "300", true),
    p("tcp-backlog", int(0, i32::MAX as i64), "511", false),
    p("hz", int(0, i32::MAX as i64), "10", true),
    p("save", Kind::Str, "", true),
    p("appendonly", Kind::Bool, "no", true),
    p(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        "everysec",
        true,
    ),
    p("appendfilename", Kind::Str, "appendonly.aof", false),
    p("dir", Kind::Str, "", true),
    p("dbfilename", Kind::Str, "dump.rdb", true),
    p("daemonize", Kind::Bool, "no", false),
    p("pidfile", Kind::Str, "", false),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        true,
    ),
    p("logfile", Kind::Str, "", false),
    p("proto-max-bulk-len", Kind::Memory, "536870912", true),
    p(
        "client-query-buffer-limit",
        Kind::Memory,
        "1073741824",
        true,
    ),
    p(
        "client-output-buffer-limit",
        Kind::Str,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
    ),
    p("slowlog-log-slower-than", int(-1, i64::MAX), "10000", true),
    p("slowlog-max-len", int(0, i64::MAX), "128", true),
    p("latency-monitor-threshold", int(0, i64::MAX), "0", true),
    p("latency-tracking", Kind::Bool, "yes", true),
    p(
        "latency-tracking-info-percentiles",
        Kind::Str,
        "50 99 99.9",
        true,
    ),
    p("notify-keyspace-events", Kind::Str, "", true),
    Spec {
        name: "busy-reply-threshold",
        aliases: &["lua-time-limit"],
        kind: int(0, i64::MAX),
        default: "5000",
        mutable: true,
    },
    Spec {
        name: "list-max-listpack-size",
        aliases: &["list-max-ziplist-size"],
        kind: int(i32::MIN as i64, i32::MAX as i64),
        default: "-2",
        mutable: true,
    },
    p("list-compress-depth", int(0, i32::MAX as i64), "0", true),
    Spec {
        name: "hash-max-listpack-entries",
        aliases: &["hash-max-ziplist-entries"],
        kind: int(0, i64::MAX),
        // Redis 7.0's built-in default (redis.conf ships 128).
        default: "512",
        mutable: true,
    },
    Spec {
        name: "hash-max-listpack-value",
        aliases: &["hash-max-ziplist-value"],
        kind: int(0, i64::MAX),
        default: "64",
        mutable: true,
    },
    p("set-max-intset-entries", int(0, i64::MAX), "512", true),
    Spec {
        name: "zset-max-listpack-entries",
        aliases: &["zset-max-ziplist-entries"],
        kind: int(0, i64::MAX),
        default: "128",
        mutable: true,
    },
    Spec {
        name: "zset-max-listpack-value",
        aliases: &["zset-max-ziplist-value"],
        kind: int(0, i64::MAX),
        default: "64",
        mutable: true,
    },
    p("hll-sparse-max-bytes", Kind::Memory, "3000", true),
    p("lfu-log-factor", int(0, i32::MAX as i64), "10", true),
    p("lfu-decay-time", int(0, i32::MAX as i64), "1", true),
    p("active-expire-effort", int(1, 10), "1", true),
    p("jemalloc-bg-thread", Kind::Bool, "yes", true),
    p("lazyfree-lazy-eviction", Kind::Bool, "no", true),
    p("lazyfree-lazy-expire", Kind::Bool, "no", true),
    p("lazyfree-lazy-server-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-del", Kind::Bool, "no", true),
    p("lazyfree-lazy-user-flush", Kind::Bool, "no", true),
    p("protected-mode", Kind::Bool, "no", true),
    p("io-threads", int(1, 128), "1", false),
    p("replica-read-only", Kind::Bool, "yes", true),
    p("stop-writes-on-bgsave-error", Kind::Bool, "yes", true),
    p("rdbcompression", Kind::Bool, "yes", true),
    p("activerehashing", Kind::Bool, "yes", true),
    p("tls-port", int(0, 65535), "0", false),
    p("unixsocket", Kind::Str, "", false),
];

/// Looks a parameter up by name or alias, case-insensitively.
pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a Redis memory value (`memtoull`): a non-negative number with an optional
/// `b`, `k`, `kb`, `m`, `mb`, `g`, `gb` unit, case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Why a value was refused, in the words `CONFIG SET` uses.
fn validate(spec: &Spec, value: &str) -> Result<String, String> {
    match spec.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(v) if v < min || v > max => Err(format!(
                "argument must be between {min} and {max} inclusive"
            )),
            Ok(v) => Ok(v.to_string()),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        },
        Kind::Memory => parse_memory(value)
            .map(|v| v.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::Enum(options) => options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(value))
            .map(|o| o.to_string())
            .ok_or_else(|| {
                "argument(s) must be one of the following: ".to_string() + &options.join(", ")
            }),
        Kind::Str => Ok(value.to_string()),
    }
}

/// Applies `client-output-buffer-limit <class> <hard> <soft> <soft-seconds>...` to
/// the `current` value, as Redis does: only the classes given change, and the result
/// lists every class in bytes (`normal 0 0 0 slave 268435456 67108864 60 pubsub ...`).
fn merge_buffer_limits(current: &str, value: &str) -> Result<String, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes: Vec<(String, [u64; 3])> = ["normal", "slave", "pubsub"]
        .iter()
        .map(|c| (c.to_string(), [0; 3]))
        .collect();
    let mut update = |words: &[&str]| -> Result<(), String> {
        for w in words.chunks(4) {
            let class = match w[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(w[1]).ok_or_else(bad)?;
            let soft = parse_memory(w[2]).ok_or_else(bad)?;
            let secs = w[3].parse::<u64>().map_err(|_| bad())?;
            classes[class].1 = [hard, soft, secs];
        }
        Ok(())
    };
    let old: Vec<&str> = current.split_whitespace().collect();
    if old.len().is_multiple_of(4) {
        let _ = update(&old);
    }
    update(&words)?;
    Ok(classes
        .iter()
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Current parameter values, plus typed copies of the ones read on hot paths.
#[derive(Debug, Clone)]
pub struct Params {
    values: BTreeMap<&'static str, String>,
    pub requirepass: Option<Bytes>,
    pub databases: usize,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxclients: u64,
    pub timeout_secs: u64,
    pub hz: u64,
    pub proto_max_bulk_len: usize,
    pub port: u16,
    pub bind: Vec<String>,
    /// `--port` given on the command line: it overrides a dynomite.yml `listen` port.
    pub port_override: Option<u16>,
    /// The `pubsub` class of `client-output-buffer-limit`: hard bytes, soft bytes,
    /// soft seconds (0 = no limit).
    pub pubsub_buffer_limit: [u64; 3],
    /// The `normal` class of `client-output-buffer-limit` (MONITOR clients' queues
    /// are held to it, as in Redis).
    pub normal_buffer_limit: [u64; 3],
    /// `slowlog-log-slower-than` in µs (negative: off) and `slowlog-max-len`, read
    /// after every command.
    pub slowlog_slower_than: i64,
    pub slowlog_max_len: u64,
    /// `busy-reply-threshold` (`lua-time-limit`) in ms, read by every script run.
    pub busy_reply_threshold_ms: u64,
    /// `latency-monitor-threshold` in ms (0: off).
    pub latency_threshold_ms: u64,
    /// `latency-tracking`: per-command histograms for `INFO latencystats`.
    pub latency_tracking: bool,
    /// `notify-keyspace-events` as class bits (`store::notify`); 0 = off, which is
    /// what every write checks first.
    pub notify_flags: u32,
    /// The encoding thresholds every collection write reads, and the LFU settings
    /// every key lookup reads under an LFU policy: typed here because finding a
    /// parameter by name costs more than the write itself.
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// `maxmemory-policy` is one of the `*-lfu` policies.
    pub lfu_policy: bool,
}

/// The parameters with a typed copy in [`Params`] that `Default` fills from the
/// table's defaults through [`Params::apply`].
const TYPED: &[&str] = &[
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "lfu-log-factor",
    "lfu-decay-time",
    "maxmemory-policy",
];

impl Default for Params {
    fn default() -> Self {
        let mut p = Params {
            values: BTreeMap::new(),
            requirepass: None,
            databases: 16,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxclients: 10000,
            timeout_secs: 0,
            hz: 10,
            proto_max_bulk_len: 512 * 1024 * 1024,
            port: 8102,
            bind: vec!["127.0.0.1".into()],
            port_override: None,
            pubsub_buffer_limit: [32 << 20, 8 << 20, 60],
            normal_buffer_limit: [0, 0, 0],
            slowlog_slower_than: 10_000,
            slowlog_max_len: 128,
            busy_reply_threshold_ms: 5000,
            latency_threshold_ms: 0,
            latency_tracking: true,
            notify_flags: 0,
            hash_max_listpack_entries: 0,
            hash_max_listpack_value: 0,
            set_max_intset_entries: 0,
            zset_max_listpack_entries: 0,
            zset_max_listpack_value: 0,
            lfu_log_factor: 0,
            lfu_decay_time: 0,
            lfu_policy: false,
        };
        for s in SPECS {
            let default = if s.name == "dir" {
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            } else {
                s.default.to_string()
            };
            p.values.insert(s.name, default);
        }
        for name in TYPED {
            let v = p.values.get(name).cloned().unwrap_or_default();
            p.apply(name, &v);
        }
        p
    }
}

impl Params {
    /// Sets a parameter. `at_start` allows immutable parameters (command line).
    /// The error text is what follows `CONFIG SET failed (possibly related to argument
    /// '<name>') - `.
    pub fn set(&mut self, name: &str, value: &str, at_start: bool) -> Result<(), SetError> {
        let spec = spec(name).ok_or(SetError::Unknown)?;
        if !spec.mutable && !at_start {
            return Err(SetError::Immutable(spec.name));
        }
        let canonical = if spec.name == "client-output-buffer-limit" {
            let current = self.get(spec.name).unwrap_or(spec.default);
            merge_buffer_limits(current, value)
        } else if spec.name == "notify-keyspace-events" {
            crate::store::notify::parse_classes(value)
                .map(crate::store::notify::classes_to_string)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
        } else {
            validate(spec, value)
        }
        .map_err(|e| SetError::Invalid(spec.name, e))?;
        self.apply(spec.name, &canonical);
        if spec.name == "notify-keyspace-events" {
            // `A` hides `n` in the spelling CONFIG GET shows, not in the flags.
            self.notify_flags = crate::store::notify::parse_classes(value).unwrap_or(0);
        }
        self.values.insert(spec.name, canonical);
        Ok(())
    }

    fn apply(&mut self, name: &str, v: &str) {
        let int = || v.parse::<i64>().unwrap_or(0);
        let size = || usize::try_from(int()).unwrap_or(0);
        let int32 = || int().clamp(0, u32::MAX as i64) as u32;
        match name {
            "requirepass" => {
                self.requirepass = (!v.is_empty()).then(|| Bytes::copy_from_slice(v.as_bytes()))
            }
            "databases" => self.databases = int().max(1) as usize,
            "maxmemory" => self.maxmemory = int() as u64,
            "maxmemory-policy" => {
                self.maxmemory_policy = v.to_string();
                self.lfu_policy = v.ends_with("lfu");
            }
            "hash-max-listpack-entries" => self.hash_max_listpack_entries = size(),
            "hash-max-listpack-value" => self.hash_max_listpack_value = size(),
            "set-max-intset-entries" => self.set_max_intset_entries = size(),
            "zset-max-listpack-entries" => self.zset_max_listpack_entries = size(),
            "zset-max-listpack-value" => self.zset_max_listpack_value = size(),
            "lfu-log-factor" => self.lfu_log_factor = int32(),
            "lfu-decay-time" => self.lfu_decay_time = int32(),
            "maxclients" => self.maxclients = int() as u64,
            "timeout" => self.timeout_secs = int() as u64,
            "hz" => self.hz = int().clamp(1, 500) as u64,
            "jemalloc-bg-thread" => crate::info::set_allocator_background_threads(v == "yes"),
            "proto-max-bulk-len" => self.proto_max_bulk_len = int() as usize,
            "port" => self.port = int() as u16,
            "bind" => self.bind = v.split_whitespace().map(str::to_string).collect(),
            "notify-keyspace-events" => {
                self.notify_flags = crate::store::notify::parse_classes(v).unwrap_or(0)
            }
            "client-output-buffer-limit" => {
                let words: Vec<&str> = v.split_whitespace().collect();
                for chunk in words.chunks(4) {
                    let [class, limits @ ..] = chunk else {
                        continue;
                    };
                    let slots = match *class {
                        "pubsub" => &mut self.pubsub_buffer_limit,
                        "normal" => &mut self.normal_buffer_limit,
                        _ => continue,
                    };
                    for (slot, w) in slots.iter_mut().zip(limits) {
                        *slot = w.parse().unwrap_or(0);
                    }
                }
            }
            "slowlog-log-slower-than" => self.slowlog_slower_than = int(),
            "slowlog-max-len" => self.slowlog_max_len = int().max(0) as u64,
            "busy-reply-threshold" => self.busy_reply_threshold_ms = int().max(0) as u64,
            "latency-monitor-threshold" => self.latency_threshold_ms = int().max(0) as u64,
            "latency-tracking" => self.latency_tracking = v == "yes",
            _ => {}
        }
    }

    /// The `pubsub` class of `client-output-buffer-limit`.
    pub fn pubsub_limit(&self) -> crate::store::pubsub::Limit {
        let [hard, soft, soft_secs] = self.pubsub_buffer_limit;
        crate::store::pubsub::Limit {
            hard,
            soft,
            soft_secs,
        }
    }

    /// The `normal` class of `client-output-buffer-limit`.
    pub fn normal_limit(&self) -> crate::store::pubsub::Limit {
        let [hard, soft, soft_secs] = self.normal_buffer_limit;
        crate::store::pubsub::Limit {
            hard,
            soft,
            soft_secs,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        spec(name)
            .and_then(|s| self.values.get(s.name))
            .map(String::as_str)
    }

    pub fn get_int(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// All (name, value) pairs whose name or alias matches the glob `pattern`, in table
    /// order (CONFIG GET).
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for s in SPECS {
            let value = self.values.get(s.name).cloned().unwrap_or_default();
            for name in std::iter::once(&s.name).chain(s.aliases.iter()) {
                if crate::glob::glob_match(pattern, name.as_bytes(), true) {
                    out.push((*name, value.clone()));
                }
            }
        }
        out
    }

    /// Every parameter whose value differs from its default (CONFIG REWRITE).
    pub fn non_defaults(&self) -> Vec<(&'static str, &str)> {
        SPECS
            .iter()
            .filter_map(|s| {
                let v = self.values.get(s.name)?;
                (v != s.default && s.name != "dir").then_some((s.name, v.as_str()))
            })
            .collect()
    }
}

/// Writes the current non-default parameters to `path` in redis.conf syntax, keeping
/// the lines of the existing file whose parameter is unchanged or unknown to us
/// (CONFIG REWRITE). Dynomite YAML files are left alone.
pub fn rewrite(path: &std::path::Path, params: &Params) -> std::io::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "yml" || ext == "yaml" {
        return Err(std::io::Error::other("the config file is a dynomite.yml; CONFIG REWRITE only rewrites redis.conf-style files"));
    }
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    let changed = params.non_defaults();
    for line in old.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if spec(name).is_some() && !line.trim_start().starts_with('#') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for (name, value) in changed {
        let quoted = if value.is_empty() || value.contains(' ') {
            format!("\"{value}\"")
        } else {
            value.to_string()
        };
        out.push_str(&format!("{name} {quoted}\n"));
    }
    std::fs::write(path, out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError {
    Unknown,
    Immutable(&'static str),
    Invalid(&'static str, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed copies follow the table's defaults and every change, aliases included.
    #[test]
    fn typed_copies_follow_the_values() {
        let typed = |p: &Params| {
            [
                p.hash_max_listpack_entries as i64,
                p.hash_max_listpack_value as i64,
                p.set_max_intset_entries as i64,
                p.zset_max_listpack_entries as i64,
                p.zset_max_listpack_value as i64,
                p.lfu_log_factor as i64,
                p.lfu_decay_time as i64,
            ]
        };
        let by_name = |p: &Params| TYPED[..7].iter().map(|n| p.get_int(n)).collect::<Vec<_>>();
        let mut p = Params::default();
        assert_eq!(typed(&p).to_vec(), by_name(&p));
        assert_eq!(typed(&p), [512, 64, 512, 128, 64, 10, 1]);
        assert!(!p.lfu_policy);
        p.set("hash-max-ziplist-entries", "7", false).unwrap();
        p.set("zset-max-ziplist-value", "9", false).unwrap();
        p.set("set-max-intset-entries", "3", false).unwrap();
        p.set("lfu-log-factor", "2", false).unwrap();
        p.set("maxmemory-policy", "allkeys-lfu", false).unwrap();
        assert_eq!(typed(&p).to_vec(), by_name(&p));
        assert_eq!(typed(&p), [7, 64, 3, 128, 9, 2, 1]);
        assert!(p.lfu_policy);
        p.set("maxmemory-policy", "allkeys-lru", false).unwrap();
        assert!(!p.lfu_policy);
    }

    #[test]
    fn buffer_limits_merge_by_class() {
        let mut p = Params::default();
        p.set("client-output-buffer-limit", "pubsub 1mb 512kb 60", false)
            .unwrap();
        assert_eq!(
            p.get("client-output-buffer-limit"),
            Some("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 60")
        );
        assert_eq!(p.pubsub_buffer_limit, [1 << 20, 512 << 10, 60]);
        for bad in [
            "pubsub 1mb 512kb",
            "master 1 1 1",
            "pubsub x 1 1",
            "pubsub 1 1 x",
        ] {
            assert!(
                p.set("client-output-buffer-limit", bad, false).is_err(),
                "{bad}"
            );
        }
        p.set("client-output-buffer-limit", "replica 1 2 3", false)
            .unwrap();
        assert_eq!(
            p.get("client-output-buffer-limit"),
            Some("normal 0 0 0 slave 1 2 3 pubsub 1048576 524288 60")
        );
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1K"), Some(1000));
        assert_eq!(parse_memory("2gb"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1tb"), None);
        assert_eq!(parse_memory(""), None);
    }

    #[test]
    fn set_and_get() {
        let mut p = Params::default();
        assert_eq!(p.set("maxmemory", "1mb", false), Ok(()));
        assert_eq!(p.maxmemory, 1024 * 1024);
        assert_eq!(p.get("maxmemory"), Some("1048576"));
        assert_eq!(p.set("lua-time-limit", "100", false), Ok(()));
        assert_eq!(p.get("busy-reply-threshold"), Some("100"));
        assert_eq!(p.busy_reply_threshold_ms, 100);
        assert_eq!(p.set("port", "1", false), Err(SetError::Immutable("port")));
        assert_eq!(p.set("nope", "1", false), Err(SetError::Unknown));
        assert!(matches!(
            p.set("hz", "x", false),
            Err(SetError::Invalid("hz", _))
        ));
    }
}
