//! The resolved layer: [`DynoConfig`], every directive validated, typed and defaulted.
//!
//! It can only be built from a whole [`RawConfig`] (or from [`DynoConfig::single_node_default`]),
//! because some checks need several directives at once. Defaults follow Dynomite's source
//! (`CONF_DEFAULT_*` in `dyn_conf.h`) where its README is stale; see `conf/README.md`.

/// The consistency levels and hash functions are the cluster's own types, re-exported
/// so that a parsed file feeds the ring and the quorum tracker directly.
pub use crate::cluster::hash::HashKind;
pub use crate::cluster::quorum::Level as Consistency;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::error::{ConfigError, ErrorKind};
use super::raw::{RawConfig, Scalar};

/// Default `timeout` (ms): datastore timeout and base of the peer timeouts.
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;
/// Default `server_retry_timeout` (ms).
pub const DEFAULT_SERVER_RETRY_TIMEOUT_MS: u64 = 10_000;
/// Default `server_failure_limit`.
pub const DEFAULT_SERVER_FAILURE_LIMIT: u32 = 3;
/// Default `mbuf_size` (bytes) and its allowed range.
pub const DEFAULT_MBUF_SIZE: usize = 16384;
/// Smallest allowed `mbuf_size`.
pub const MIN_MBUF_SIZE: usize = 512;
/// Largest allowed `mbuf_size`.
pub const MAX_MBUF_SIZE: usize = 512_000;
/// Default `max_msgs`.
pub const DEFAULT_MAX_MSGS: u32 = 200_000;
/// Smallest allowed `max_msgs`.
pub const MIN_MAX_MSGS: u32 = 100_000;
/// Largest allowed `max_msgs`.
pub const MAX_MAX_MSGS: u32 = 1_000_000;
/// Default `stats_interval` (ms).
pub const DEFAULT_STATS_INTERVAL_MS: u64 = 30_000;
/// Default `gos_interval` (ms).
pub const DEFAULT_GOS_INTERVAL_MS: u64 = 30_000;
/// Default `conn_msg_rate` (messages per second per remote-DC connection).
pub const DEFAULT_CONN_MSG_RATE: u32 = 50_000;
/// Default listen `backlog`.
pub const DEFAULT_BACKLOG: u32 = 512;
/// Default `stats_listen` when the directive is missing.
pub const DEFAULT_STATS_LISTEN: &str = "0.0.0.0:22222";
/// Default `datacenter`.
pub const DEFAULT_DATACENTER: &str = "localdc";
/// Default `rack`.
pub const DEFAULT_RACK: &str = "localrack";
/// Default `env`.
pub const DEFAULT_ENV: &str = "aws";
/// Default `redmite_databases`.
pub const DEFAULT_DATABASES: u32 = 16;

/// A validated dynomite.yml (plus redmite's `redmite_*` settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynoConfig {
    /// The single top-level key; it names the pool object in `/info`.
    pub pool_name: String,
    /// `listen`: the client (RESP) endpoint.
    pub listen: Listen,
    /// `dyn_listen`: the peer endpoint.
    pub dyn_listen: HostPort,
    /// `stats_listen`: the admin HTTP endpoint; `None` when turned off on the command
    /// line (`--stats-listen none`), which tests use to run many nodes at once.
    pub stats_listen: Option<HostPort>,
    /// `servers`: the local datastore endpoint, served by redmite itself as a local-only port.
    pub server: Server,
    /// `data_store`: always Redis (memcache is rejected).
    pub data_store: DataStore,
    /// `tokens`: this node's ring tokens.
    pub tokens: Vec<u32>,
    /// `dyn_seeds`: the other nodes.
    pub dyn_seeds: Vec<Seed>,
    /// `datacenter`.
    pub datacenter: String,
    /// `rack`.
    pub rack: String,
    /// `read_consistency`.
    pub read_consistency: Consistency,
    /// `write_consistency`.
    pub write_consistency: Consistency,
    /// `secure_server_option`: which peer links are protected.
    pub secure_server_option: SecureServerOption,
    /// `pem_key_file`.
    pub pem_key_file: PathBuf,
    /// `recon_key_file`.
    pub recon_key_file: PathBuf,
    /// `recon_iv_file`.
    pub recon_iv_file: PathBuf,
    /// `hash`: the key hash for the token ring.
    pub hash: HashKind,
    /// `hash_tag`: the two delimiter bytes, e.g. `{}`.
    pub hash_tag: Option<[u8; 2]>,
    /// `timeout`.
    pub timeout: Duration,
    /// `preconnect`.
    pub preconnect: bool,
    /// `auto_eject_hosts`.
    pub auto_eject_hosts: bool,
    /// `server_retry_timeout`.
    pub server_retry_timeout: Duration,
    /// `server_failure_limit`.
    pub server_failure_limit: u32,
    /// `datastore_connections`.
    pub datastore_connections: u8,
    /// `local_peer_connections`.
    pub local_peer_connections: u8,
    /// `remote_peer_connections`.
    pub remote_peer_connections: u8,
    /// `mbuf_size` in bytes.
    pub mbuf_size: usize,
    /// `max_msgs`.
    pub max_msgs: u32,
    /// `stats_interval`.
    pub stats_interval: Duration,
    /// `enable_gossip`.
    pub enable_gossip: bool,
    /// `gos_interval`.
    pub gos_interval: Duration,
    /// `dyn_seed_provider`.
    pub dyn_seed_provider: SeedProvider,
    /// `conn_msg_rate`.
    pub conn_msg_rate: u32,
    /// `env`.
    pub env: String,
    /// `backlog`.
    pub backlog: u32,
    /// `read_repairs_enabled` (honoured by redmite, unlike Dynomite).
    pub read_repairs_enabled: bool,
    /// `client_connections` (parsed, not used).
    pub client_connections: Option<u64>,
    /// `dyn_read_timeout` in ms (parsed, not used).
    pub dyn_read_timeout: Option<u64>,
    /// `dyn_write_timeout` in ms (parsed, not used).
    pub dyn_write_timeout: Option<u64>,
    /// `dyn_connections` (parsed, not used; 0 is rejected).
    pub dyn_connections: Option<u64>,
    /// `dyn_port` (parsed, not used).
    pub dyn_port: Option<u16>,
    /// `redmite_requirepass`: the password for AUTH, if any.
    pub requirepass: Option<String>,
    /// `redmite_databases`: the number of SELECT-able databases.
    pub databases: u32,
    /// `redmite_maxmemory` in bytes; 0 means unlimited.
    pub maxmemory: u64,
    /// `redmite_threads`: the runtime's worker threads; unset means tokio's default
    /// (`TOKIO_WORKER_THREADS`, else one per core).
    pub threads: Option<u32>,
    /// Non-fatal problems found while loading, each `file:line: message`, for the caller to log.
    pub warnings: Vec<String>,
}

/// A `host:port` pair as written. The host may be a DNS name, so it is resolved late.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host name or address, without IPv6 brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// A listening endpoint: TCP or a Unix socket path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `host:port`.
    Tcp(HostPort),
    /// `/path/to/socket`.
    Unix(PathBuf),
}

/// The `servers:` entry: the local datastore endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// Where it listens.
    pub endpoint: Listen,
    /// The weight (ignored, as in Dynomite).
    pub weight: u32,
    /// The optional name after the address.
    pub name: Option<String>,
}

/// The backend kind named by `data_store`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataStore {
    /// `data_store: 0`; the only kind redmite serves, from its embedded store.
    Redis,
}

/// One `dyn_seeds` entry: `host:port:rack:dc:tokens [name]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// Host name or address (may itself contain colons).
    pub host: String,
    /// Peer port.
    pub port: u16,
    /// Rack name.
    pub rack: String,
    /// Datacenter name.
    pub dc: String,
    /// The peer's tokens.
    pub tokens: Vec<u32>,
    /// The optional name after the address.
    pub name: Option<String>,
}

/// Which peer links are protected (`secure_server_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecureServerOption {
    /// No link.
    None,
    /// Links between different racks (or DCs).
    Rack,
    /// Links between DCs.
    Datacenter,
    /// Every link.
    All,
}

/// How the seed list is found (`dyn_seed_provider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeedProvider {
    /// The static `dyn_seeds` list.
    Simple,
    /// Polled from Florida's REST endpoint.
    Florida,
    /// Read from a DNS TXT record.
    Dns,
}

/// The error of the `FromStr` impls here: the value is not one of the allowed names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being parsed, e.g. `consistency`.
    pub what: &'static str,
    /// The rejected text.
    pub value: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" is not a valid {}", self.value, self.what)
    }
}

impl std::error::Error for UnknownName {}

/// Implements `as_str`, `ALL`, `Display` and `FromStr` for a name enum from one list.
macro_rules! named_enum {
    ($ty:ident, $what:literal, case_insensitive = $ci:literal, [$($var:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$var),+];

            /// The name as written in dynomite.yml (and printed by Dynomite).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$var => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| if $ci { v.as_str().eq_ignore_ascii_case(s) } else { v.as_str() == s })
                    .ok_or_else(|| UnknownName { what: $what, value: s.to_string() })
            }
        }
    };
}

named_enum!(SecureServerOption, "secure_server_option", case_insensitive = false, [
    None => "none",
    Rack => "rack",
    Datacenter => "datacenter",
    All => "all",
]);

named_enum!(SeedProvider, "seed provider", case_insensitive = false, [
    Simple => "simple_provider",
    Florida => "florida_provider",
    Dns => "dns_provider",
]);

impl HostPort {
    /// A pair from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostPort {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port`, splitting at the last colon; `[v6]:port` loses its brackets.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or("has an invalid \"hostname:port\" format string")?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err("has an invalid \"hostname:port\" format string");
        }
        let port =
            parse_port(port).ok_or("has an invalid port in \"hostname:port\" format string")?;
        Ok(HostPort::new(host, port))
    }

    /// Resolves the host (which may be a DNS name) to its first socket address.
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{self} resolves to no address"),
                )
            })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(hp) => hp.fmt(f),
            Listen::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Listen {
    /// Parses `host:port`, or a path starting with `/` as a Unix socket.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.starts_with('/') {
            Ok(Listen::Unix(PathBuf::from(s)))
        } else {
            HostPort::parse(s).map(Listen::Tcp)
        }
    }
}

impl Seed {
    /// The seed's peer address.
    pub fn addr(&self) -> HostPort {
        HostPort::new(self.host.clone(), self.port)
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a comma-separated token list such as `0,2147483647`.
pub fn parse_tokens(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .map(|t| {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "has an invalid token \"{t}\": tokens are comma-separated integers"
                ));
            }
            t.parse::<u32>()
                .map_err(|_| format!("has a token out of range \"{t}\": the maximum is 4294967295"))
        })
        .collect()
}

/// Splits a trailing ` name` off a `servers`/`dyn_seeds` entry.
fn split_name(s: &str) -> (&str, Option<String>) {
    match s.split_once(char::is_whitespace) {
        Some((addr, name)) if !name.trim().is_empty() => (addr, Some(name.trim().to_string())),
        Some((addr, _)) => (addr, None),
        None => (s, None),
    }
}

/// Parses a `servers` entry: `host:port:weight [name]` or `/path:weight [name]`.
fn parse_server(s: &str) -> Result<Server, String> {
    const FORMAT: &str =
        "has an invalid \"hostname:port:weight [name]\" or \"/path/unix_socket:weight [name]\" format string";
    let (addr, name) = split_name(s);
    let (endpoint, weight) = addr.rsplit_once(':').ok_or(FORMAT)?;
    if weight.is_empty() || !weight.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{FORMAT}: the weight \"{weight}\" is not a number"));
    }
    let weight: u32 = weight
        .parse()
        .map_err(|_| format!("{FORMAT}: the weight is too large"))?;
    let endpoint = Listen::parse(endpoint).map_err(|e| format!("{e} in \"{s}\""))?;
    Ok(Server {
        endpoint,
        weight,
        name,
    })
}

/// Parses a `dyn_seeds` entry from the right: `host:port:rack:dc:tokens [name]`.
pub fn parse_seed(s: &str) -> Result<Seed, String> {
    let bad =
        || format!("has an invalid seed \"{s}\": expected \"hostname:port:rack:dc:tokens [name]\"");
    let (addr, name) = split_name(s);
    let mut parts = addr.rsplitn(5, ':');
    let tokens = parts.next().ok_or_else(bad)?;
    let dc = parts.next().ok_or_else(bad)?;
    let rack = parts.next().ok_or_else(bad)?;
    let port = parts.next().ok_or_else(bad)?;
    let host = parts.next().ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || rack.is_empty() || dc.is_empty() {
        return Err(bad());
    }
    let port = parse_port(port)
        .ok_or_else(|| format!("has an invalid port \"{port}\" in seed \"{s}\""))?;
    let tokens = parse_tokens(tokens).map_err(|e| format!("{e} in seed \"{s}\""))?;
    Ok(Seed {
        host: host.to_string(),
        port,
        rack: rack.to_string(),
        dc: dc.to_string(),
        tokens,
        name,
    })
}

/// Byte counts take Redis's units (`k`, `kb`, `m`, `mb`, `g`, `gb`); the parser is the one
/// `CONFIG SET` uses.
pub use crate::params::parse_memory;

/// Reads typed values out of the raw scalars, collecting warnings; every error names the line.
struct Resolver<'a> {
    file: &'a str,
    warnings: Vec<String>,
}

fn line_of(s: &Spanned<String>) -> usize {
    s.referenced.line() as usize
}

impl Resolver<'_> {
    fn warn(&mut self, line: Option<usize>, msg: String) {
        match line {
            Some(l) => self.warnings.push(format!("{}:{}: {}", self.file, l, msg)),
            None => self.warnings.push(format!("{}: {}", self.file, msg)),
        }
    }

    fn invalid(&self, s: &Spanned<String>, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.file, line_of(s), key, reason)
    }

    fn missing(&self, key: &'static str, hint: &'static str) -> ConfigError {
        ConfigError::new(self.file, None, ErrorKind::Missing { key, hint })
    }

    fn text(&self, v: Scalar, key: &str) -> Result<Option<String>, ConfigError> {
        match v {
            Some(s) if s.value.trim().is_empty() => Err(ConfigError::at(
                self.file,
                line_of(&s),
                ErrorKind::Empty { key: key.into() },
            )),
            Some(s) => Ok(Some(s.value)),
            None => Ok(None),
        }
    }

    fn flag(&self, v: &Scalar, key: &str, default: bool) -> Result<bool, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if s.value == "true" => Ok(true),
            Some(s) if s.value == "false" => Ok(false),
            Some(s) => Err(self.invalid(s, key, "is not \"true\" or \"false\"")),
        }
    }

    /// A non-negative integer within `min..=max`.
    fn num(&self, v: &Scalar, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some(s) = v else { return Ok(None) };
        let t = s.value.as_str();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid(s, key, format!("is not a number: \"{t}\"")));
        }
        match t.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(
                s,
                key,
                format!("has an out-of-range value {t}: it must be between {min} and {max}"),
            )),
        }
    }

    fn num_or(
        &self,
        v: &Scalar,
        key: &str,
        min: u64,
        max: u64,
        default: u64,
    ) -> Result<u64, ConfigError> {
        Ok(self.num(v, key, min, max)?.unwrap_or(default))
    }

    fn ms(&self, v: &Scalar, key: &str, default: u64) -> Result<Duration, ConfigError> {
        self.num_or(v, key, 0, u64::from(u32::MAX), default)
            .map(Duration::from_millis)
    }

    fn host_port(&self, s: &Spanned<String>, key: &str) -> Result<HostPort, ConfigError> {
        HostPort::parse(&s.value).map_err(|e| self.invalid(s, key, format!("{e}: \"{}\"", s.value)))
    }

    fn consistency(&self, v: &Scalar, key: &str) -> Result<Consistency, ConfigError> {
        match v {
            None => Ok(Consistency::DcOne),
            Some(s) => s.value.parse().map_err(|_| {
                self.invalid(
                    s,
                    key,
                    format!(
                        "has an invalid value \"{}\": use DC_ONE, DC_QUORUM, DC_SAFE_QUORUM or \
                         DC_EACH_SAFE_QUORUM",
                        s.value
                    ),
                )
            }),
        }
    }
}

fn choices<T: fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl DynoConfig {
    /// Validates and types a raw file. `file` is used in messages.
    pub fn from_raw(raw: RawConfig, file: &str) -> Result<Self, ConfigError> {
        let mut r = Resolver {
            file,
            warnings: Vec::new(),
        };
        let p = raw.pool;

        let listen = match &p.listen {
            None => return Err(r.missing("listen", "the client port, e.g. listen: 0.0.0.0:8102")),
            Some(s) => Listen::parse(&s.value)
                .map_err(|e| r.invalid(s, "listen", format!("{e}: \"{}\"", s.value)))?,
        };
        let dyn_listen = match &p.dyn_listen {
            None => {
                return Err(r.missing(
                    "dyn_listen",
                    "the peer port, e.g. dyn_listen: 0.0.0.0:8101; Dynomite exits without it",
                ))
            }
            Some(s) => r.host_port(s, "dyn_listen")?,
        };
        let stats_listen = match &p.stats_listen {
            Some(s) => Some(r.host_port(s, "stats_listen")?),
            None => Some({
                r.warn(
                    None,
                    format!(
                        "directive \"stats_listen\" is missing; using the default {DEFAULT_STATS_LISTEN}"
                    ),
                );
                HostPort::new("0.0.0.0", 22222)
            }),
        };

        let server = match p.servers.as_deref() {
            None | Some([]) => {
                return Err(r.missing(
                    "servers",
                    "the local datastore, e.g. servers: [\"- 127.0.0.1:22122:1\"]",
                ))
            }
            Some([one]) => parse_server(&one.value).map_err(|e| r.invalid(one, "servers", e))?,
            Some([_, second, ..]) => {
                return Err(r.invalid(
                    second,
                    "servers",
                    "has more than one entry: a node has exactly one local datastore",
                ))
            }
        };

        let data_store = match r.num(&p.data_store, "data_store", 0, u64::MAX)? {
            None | Some(0) => DataStore::Redis,
            Some(1) => {
                let s = p.data_store.as_ref().map(line_of);
                return Err(ConfigError::new(
                    file,
                    s,
                    ErrorKind::Invalid {
                        key: "data_store".into(),
                        reason: "is 1 (memcache), which redmite does not support: it embeds a \
                                 Redis-compatible store; use data_store: 0"
                            .into(),
                    },
                ));
            }
            Some(n) => {
                let s = p.data_store.as_ref().map(line_of);
                return Err(ConfigError::new(
                    file,
                    s,
                    ErrorKind::Invalid {
                        key: "data_store".into(),
                        reason: format!("has an invalid value {n}: use 0 (redis)"),
                    },
                ));
            }
        };

        let tokens = match &p.tokens {
            None => {
                return Err(r.missing(
                    "tokens",
                    "every node needs its ring tokens, e.g. tokens: '0'",
                ))
            }
            Some(s) => parse_tokens(&s.value).map_err(|e| r.invalid(s, "tokens", e))?,
        };

        let dyn_seeds = p
            .dyn_seeds
            .iter()
            .flatten()
            .map(|s| parse_seed(&s.value).map_err(|e| r.invalid(s, "dyn_seeds", e)))
            .collect::<Result<Vec<_>, _>>()?;

        let datacenter = r
            .text(p.datacenter, "datacenter")?
            .unwrap_or_else(|| DEFAULT_DATACENTER.into());
        let rack = r
            .text(p.rack, "rack")?
            .unwrap_or_else(|| DEFAULT_RACK.into());
        let read_consistency = r.consistency(&p.read_consistency, "read_consistency")?;
        let write_consistency = r.consistency(&p.write_consistency, "write_consistency")?;

        let secure_server_option = match &p.secure_server_option {
            None => SecureServerOption::None,
            Some(s) => match s.value.parse() {
                Ok(v) => v,
                Err(_) => {
                    let msg = format!(
                        "directive \"secure_server_option\" has an invalid value \"{}\" (use {}); \
                         treating it as none",
                        s.value,
                        choices(SecureServerOption::ALL)
                    );
                    r.warn(Some(line_of(s)), msg);
                    SecureServerOption::None
                }
            },
        };
        let path =
            |v: Option<String>, default: &str| PathBuf::from(v.unwrap_or_else(|| default.into()));
        let pem_key_file = path(r.text(p.pem_key_file, "pem_key_file")?, "conf/dynomite.pem");
        let recon_key_file = path(
            r.text(p.recon_key_file, "recon_key_file")?,
            "conf/recon_key.pem",
        );
        let recon_iv_file = path(
            r.text(p.recon_iv_file, "recon_iv_file")?,
            "conf/recon_iv.pem",
        );

        let hash = match &p.hash {
            None => HashKind::Murmur,
            Some(s) => s.value.parse().map_err(|_| {
                r.invalid(
                    s,
                    "hash",
                    format!(
                        "is not a valid hash: \"{}\" (use one of {})",
                        s.value,
                        choices(&HashKind::ALL)
                    ),
                )
            })?,
        };
        let hash_tag = match &p.hash_tag {
            None => None,
            Some(s) => match s.value.as_bytes() {
                &[a, b] => Some([a, b]),
                _ => {
                    return Err(r.invalid(
                        s,
                        "hash_tag",
                        "is not a valid hash tag string with two characters",
                    ))
                }
            },
        };

        let timeout = r.ms(&p.timeout, "timeout", DEFAULT_TIMEOUT_MS)?;
        let preconnect = r.flag(&p.preconnect, "preconnect", true)?;
        let auto_eject_hosts = r.flag(&p.auto_eject_hosts, "auto_eject_hosts", true)?;
        let server_retry_timeout = r.ms(
            &p.server_retry_timeout,
            "server_retry_timeout",
            DEFAULT_SERVER_RETRY_TIMEOUT_MS,
        )?;
        let u32max = u64::from(u32::MAX);
        let server_failure_limit = r.num_or(
            &p.server_failure_limit,
            "server_failure_limit",
            0,
            u32max,
            DEFAULT_SERVER_FAILURE_LIMIT.into(),
        )? as u32;
        let conns = |r: &Resolver, v: &Scalar, key| r.num_or(v, key, 1, 255, 1).map(|n| n as u8);
        let datastore_connections = conns(&r, &p.datastore_connections, "datastore_connections")?;
        let local_peer_connections =
            conns(&r, &p.local_peer_connections, "local_peer_connections")?;
        let remote_peer_connections =
            conns(&r, &p.remote_peer_connections, "remote_peer_connections")?;

        let mbuf_size = r.num_or(
            &p.mbuf_size,
            "mbuf_size",
            MIN_MBUF_SIZE as u64,
            MAX_MBUF_SIZE as u64,
            DEFAULT_MBUF_SIZE as u64,
        )? as usize;
        if !mbuf_size.is_multiple_of(16) {
            if let Some(s) = &p.mbuf_size {
                return Err(r.invalid(
                    s,
                    "mbuf_size",
                    format!("is {mbuf_size}, which is not a multiple of 16"),
                ));
            }
        }
        let max_msgs = r.num_or(
            &p.max_msgs,
            "max_msgs",
            MIN_MAX_MSGS.into(),
            MAX_MAX_MSGS.into(),
            DEFAULT_MAX_MSGS.into(),
        )? as u32;
        let stats_interval = r.ms(
            &p.stats_interval,
            "stats_interval",
            DEFAULT_STATS_INTERVAL_MS,
        )?;
        let enable_gossip = r.flag(&p.enable_gossip, "enable_gossip", false)?;
        let gos_interval = r.ms(&p.gos_interval, "gos_interval", DEFAULT_GOS_INTERVAL_MS)?;
        let dyn_seed_provider = match &p.dyn_seed_provider {
            None => SeedProvider::Simple,
            Some(s) => s.value.parse().map_err(|_| {
                r.invalid(
                    s,
                    "dyn_seed_provider",
                    format!(
                        "has an invalid value \"{}\" (use one of {})",
                        s.value,
                        choices(SeedProvider::ALL)
                    ),
                )
            })?,
        };
        let conn_msg_rate = r.num_or(
            &p.conn_msg_rate,
            "conn_msg_rate",
            1,
            u32max,
            DEFAULT_CONN_MSG_RATE.into(),
        )? as u32;
        let env = r.text(p.env, "env")?.unwrap_or_else(|| DEFAULT_ENV.into());
        let backlog = r.num_or(&p.backlog, "backlog", 1, u32max, DEFAULT_BACKLOG.into())? as u32;
        let read_repairs_enabled =
            r.flag(&p.read_repairs_enabled, "read_repairs_enabled", false)?;
        let client_connections = r.num(&p.client_connections, "client_connections", 0, u64::MAX)?;
        let dyn_read_timeout = r.num(&p.dyn_read_timeout, "dyn_read_timeout", 0, u64::MAX)?;
        let dyn_write_timeout = r.num(&p.dyn_write_timeout, "dyn_write_timeout", 0, u64::MAX)?;
        let dyn_connections = r.num(&p.dyn_connections, "dyn_connections", 0, u64::MAX)?;
        if dyn_connections == Some(0) {
            if let Some(s) = &p.dyn_connections {
                return Err(r.invalid(s, "dyn_connections", "cannot be 0"));
            }
        }
        let dyn_port = r
            .num(&p.dyn_port, "dyn_port", 0, u16::MAX.into())?
            .map(|n| n as u16);

        for (v, key) in [
            (&p.distribution, "distribution"),
            (&p.server_connections, "server_connections"),
        ] {
            if let Some(s) = v {
                r.warn(
                    Some(line_of(s)),
                    format!("directive \"{key}\" is deprecated and ignored"),
                );
            }
        }

        let requirepass = r.text(p.redmite_requirepass, "redmite_requirepass")?;
        let databases = r.num_or(
            &p.redmite_databases,
            "redmite_databases",
            1,
            1_000_000,
            DEFAULT_DATABASES.into(),
        )? as u32;
        let maxmemory = match &p.redmite_maxmemory {
            None => 0,
            Some(s) => parse_memory(&s.value).ok_or_else(|| {
                r.invalid(
                    s,
                    "redmite_maxmemory",
                    format!(
                        "is not a byte count: \"{}\" (use e.g. 0, 1048576, 100mb or 2gb)",
                        s.value
                    ),
                )
            })?,
        };

        let threads = r.num(&p.redmite_threads, "redmite_threads", 1, 1024)?;

        Ok(DynoConfig {
            pool_name: raw.pool_name,
            listen,
            dyn_listen,
            stats_listen,
            server,
            data_store,
            tokens,
            dyn_seeds,
            datacenter,
            rack,
            read_consistency,
            write_consistency,
            secure_server_option,
            pem_key_file,
            recon_key_file,
            recon_iv_file,
            hash,
            hash_tag,
            timeout,
            preconnect,
            auto_eject_hosts,
            server_retry_timeout,
            server_failure_limit,
            datastore_connections,
            local_peer_connections,
            remote_peer_connections,
            mbuf_size,
            max_msgs,
            stats_interval,
            enable_gossip,
            gos_interval,
            dyn_seed_provider,
            conn_msg_rate,
            env,
            backlog,
            read_repairs_enabled,
            client_connections,
            dyn_read_timeout,
            dyn_write_timeout,
            dyn_connections,
            dyn_port,
            requirepass,
            databases,
            maxmemory,
            threads: threads.map(|n| n as u32),
            warnings: r.warnings,
        })
    }

    /// The built-in configuration used when no `-c` is given: one node on loopback, serving
    /// every token, with every other directive at its default.
    pub fn single_node_default() -> Self {
        DynoConfig {
            pool_name: "dyn_o_mite".into(),
            listen: Listen::Tcp(HostPort::new("127.0.0.1", 8102)),
            dyn_listen: HostPort::new("127.0.0.1", 8101),
            stats_listen: Some(HostPort::new("127.0.0.1", 22222)),
            server: Server {
                endpoint: Listen::Tcp(HostPort::new("127.0.0.1", 22122)),
                weight: 1,
                name: None,
            },
            data_store: DataStore::Redis,
            tokens: vec![0],
            dyn_seeds: Vec::new(),
            datacenter: DEFAULT_DATACENTER.into(),
            rack: DEFAULT_RACK.into(),
            read_consistency: Consistency::DcOne,
            write_consistency: Consistency::DcOne,
            secure_server_option: SecureServerOption::None,
            pem_key_file: "conf/dynomite.pem".into(),
            recon_key_file: "conf/recon_key.pem".into(),
            recon_iv_file: "conf/recon_iv.pem".into(),
            hash: HashKind::Murmur,
            hash_tag: None,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            preconnect: true,
            auto_eject_hosts: true,
            server_retry_timeout: Duration::from_millis(DEFAULT_SERVER_RETRY_TIMEOUT_MS),
            server_failure_limit: DEFAULT_SERVER_FAILURE_LIMIT,
            datastore_connections: 1,
            local_peer_connections: 1,
            remote_peer_connections: 1,
            mbuf_size: DEFAULT_MBUF_SIZE,
            max_msgs: DEFAULT_MAX_MSGS,
            stats_interval: Duration::from_millis(DEFAULT_STATS_INTERVAL_MS),
            enable_gossip: false,
            gos_interval: Duration::from_millis(DEFAULT_GOS_INTERVAL_MS),
            dyn_seed_provider: SeedProvider::Simple,
            conn_msg_rate: DEFAULT_CONN_MSG_RATE,
            env: DEFAULT_ENV.into(),
            backlog: DEFAULT_BACKLOG,
            read_repairs_enabled: false,
            client_connections: None,
            dyn_read_timeout: None,
            dyn_write_timeout: None,
            dyn_connections: None,
            dyn_port: None,
            requirepass: None,
            databases: DEFAULT_DATABASES,
            maxmemory: 0,
            threads: None,
            warnings: Vec::new(),
        }
    }
}
