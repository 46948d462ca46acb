//! The command line: Dynomite's flags plus Redis-style `--name value` overrides.
//!
//! Existing deployments start Dynomite as `dynomite -c conf/x.yml -v5` and Redis as
//! `redis-server [file] --port 6379`; both forms work. Dynomite's short flags win
//! where the two clash (`-v`, `-p`), because its startup scripts are what users drop
//! redmite into.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::params::{self, Params};

#[derive(Debug, Parser)]
#[command(
    name = "redmite",
    version,
    disable_help_subcommand = true,
    about = "Redis-compatible in-memory store with Dynomite-style multi-DC replication",
    after_help = "Any Redis parameter redmite honours can also be given as --name value \
                  (for example --port 6380 --requirepass secret --databases 32)."
)]
pub struct Cli {
    /// A dynomite.yml (or redis.conf-style) configuration file.
    #[arg(short = 'c', long = "conf-file", value_name = "FILE")]
    pub conf_file: Option<PathBuf>,
    /// Check the configuration file's syntax and exit.
    #[arg(short = 't', long = "test-conf")]
    pub test_conf: bool,
    /// Run as a daemon (detach from the terminal).
    #[arg(short = 'd', long = "daemonize")]
    pub daemonize: bool,
    /// Print every statistic with its description and exit.
    #[arg(short = 'D', long = "describe-stats")]
    pub describe_stats: bool,
    /// Log verbosity 0..11, as Dynomite's (5 = info).
    #[arg(short = 'v', long = "verbosity", value_name = "N", default_value_t = 5)]
    pub verbosity: u8,
    /// Write logs to this file instead of stderr.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the process id to this file.
    #[arg(short = 'p', long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Enable gossip (as Dynomite's `enable_gossip: true`).
    #[arg(short = 'g', long = "gossip")]
    pub gossip: bool,
    /// Deprecated Dynomite option, accepted and ignored.
    #[arg(short = 'm', long = "mbuf-size", hide = true)]
    pub mbuf_size: Option<String>,
    /// Deprecated Dynomite option, accepted and ignored.
    #[arg(short = 'M', long = "max-msgs", hide = true)]
    pub max_msgs: Option<String>,
    /// Deprecated Dynomite admin mode, accepted and ignored.
    #[arg(short = 'x', long = "admin-operation", hide = true)]
    pub admin: Option<String>,
    /// A redis.conf-style file or dynomite.yml, as redis-server takes it.
    /// Overrides the peer port (`dyn_listen`) as host:port, or `none` to open none
    /// (for running many nodes at once, as the integration tests do)
    #[arg(long = "dyn-listen", value_name = "ADDR|none")]
    pub dyn_listen: Option<String>,
    /// Overrides the stats HTTP port (`stats_listen`) as host:port, or `none`
    #[arg(long = "stats-listen", value_name = "ADDR|none")]
    pub stats_listen: Option<String>,
    #[arg(value_name = "CONFIG")]
    pub positional_conf: Option<PathBuf>,
    /// Redis-style `--name value` overrides, filled by [`parse`].
    #[arg(skip)]
    pub overrides: Vec<(String, String)>,
    /// A tool instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Tools the binary runs instead of the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 if a server at ADDR answers PING, 1 otherwise (for container health checks,
    /// which have no redis-cli in the image).
    Healthcheck {
        /// The client (RESP) port to check.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8102")]
        addr: String,
        /// Give up after this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Print each DC, rack and node of the cluster in FILE (state, lag, keys) from their
    /// stats ports; exit 1 if a node is unreachable.
    Status {
        /// The cluster's dynomite.yml.
        #[arg(short = 'c', long = "conf-file", value_name = "FILE")]
        conf: PathBuf,
    },
}

/// Parses `argv`: Redis-style parameter overrides are taken out first, the rest goes
/// to clap.
pub fn parse(argv: Vec<String>) -> Cli {
    let (rest, overrides) = split_overrides(argv);
    let mut cli = Cli::parse_from(rest);
    cli.overrides = overrides;
    cli
}

/// Separates `--name value...` pairs naming a known Redis parameter from the other
/// arguments. A value runs until the next argument starting with `--`, so
/// `--save 900 1` works as with redis-server.
pub fn split_overrides(argv: Vec<String>) -> (Vec<String>, Vec<(String, String)>) {
    let mut rest = Vec::new();
    let mut overrides = Vec::new();
    let mut it = argv.into_iter().peekable();
    if let Some(prog) = it.next() {
        rest.push(prog);
    }
    while let Some(arg) = it.next() {
        let name = arg
            .strip_prefix("--")
            .filter(|n| params::spec(n).is_some() && !is_clap_flag(n, it.peek()));
        match name {
            Some(name) => {
                let mut values = Vec::new();
                while let Some(v) = it.peek() {
                    if v.starts_with("--")
                        || (v.starts_with('-') && v.len() == 2 && !values.is_empty())
                    {
                        break;
                    }
                    values.push(it.next().unwrap_or_default());
                }
                overrides.push((name.to_string(), values.join(" ")));
            }
            None => rest.push(arg),
        }
    }
    (rest, overrides)
}

/// `--daemonize` alone is Dynomite's flag; `--daemonize yes` is Redis's parameter.
fn is_clap_flag(name: &str, next: Option<&String>) -> bool {
    name == "daemonize" && !next.is_some_and(|v| v == "yes" || v == "no")
}

/// Applies a redis.conf-style file (`name value...` lines, `#` comments).
pub fn apply_redis_conf(params: &mut Params, text: &str) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = crate::resp::split_args(line.as_bytes())
            .ok_or_else(|| format!("line {}: unbalanced quotes", n + 1))?;
        let words: Vec<String> = words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect();
        let Some((name, values)) = words.split_first() else {
            continue;
        };
        params
            .set(name, &values.join(" "), true)
            .map_err(|e| format!("line {}: '{}': {:?}", n + 1, name, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn overrides_are_split_out() {
        let (rest, o) = split_overrides(v(&[
            "redmite", "-c", "x.yml", "--port", "7000", "--save", "900", "1", "-v", "6",
        ]));
        assert_eq!(rest, v(&["redmite", "-c", "x.yml", "-v", "6"]));
        assert_eq!(
            o,
            vec![
                ("port".into(), "7000".into()),
                ("save".into(), "900 1".into())
            ]
        );
        let (rest, o) = split_overrides(v(&["redmite", "--daemonize"]));
        assert_eq!(rest, v(&["redmite", "--daemonize"]));
        assert!(o.is_empty());
        let (_, o) = split_overrides(v(&["redmite", "--save", ""]));
        assert_eq!(o, vec![("save".into(), "".into())]);
    }

    #[test]
    fn dynomite_flags_parse() {
        let cli = parse(v(&["redmite", "-c", "conf/redis_single.yml", "-v5", "-t"]));
        assert_eq!(cli.conf_file, Some(PathBuf::from("conf/redis_single.yml")));
        assert_eq!(cli.verbosity, 5);
        assert!(cli.test_conf);
    }

    #[test]
    fn healthcheck_is_a_subcommand() {
        let cli = parse(v(&["redmite", "healthcheck", "--addr", "10.0.0.1:8102"]));
        assert!(matches!(
            cli.command,
            Some(Command::Healthcheck { ref addr, timeout_ms: 1000 }) if addr == "10.0.0.1:8102"
        ));
        assert!(cli.positional_conf.is_none());
        let cli = parse(v(&["redmite", "redis.conf"]));
        assert!(cli.command.is_none());
        assert_eq!(cli.positional_conf, Some(PathBuf::from("redis.conf")));
    }
}
