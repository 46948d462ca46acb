//! Loading `dynomite.yml`: Dynomite's file format, checked strictly, into a typed [`DynoConfig`].
//!
//! Users keep their Dynomite files, so this module accepts exactly what Dynomite accepted
//! (one pool, two levels, block style, every `conf_commands[]` directive) and rejects the rest
//! with a message naming the file, the line and the directive. Redmite's own settings live in
//! the same pool as `redmite_*` directives.
//!
//! # Layout
//!
//! - `raw`: the text as typed. A line scan enforces the file rules and knows every key's line;
//!   serde-saphyr then reads the scalars into `RawPool` with their lines. The directive table
//!   [`DIRECTIVES`] lives here.
//! - `resolved`: [`DynoConfig`], every value typed, range-checked and defaulted.
//! - `error`: [`ConfigError`], rendered as `file:line: message`.
//!
//! **Invariant:** this module is pure. It opens no sockets and knows nothing of tokio; the only
//! I/O is [`load_file`] reading the file, and [`HostPort::resolve`] when a caller asks for it.
//!
//! # Example
//!
//! ```
//! let text = "dyn_o_mite:\n  listen: 0.0.0.0:8102\n  dyn_listen: 0.0.0.0:8101\n  \
//!             stats_listen: 0.0.0.0:22222\n  servers:\n  - 127.0.0.1:22122:1\n  tokens: '0'\n";
//! let conf = redmite::config::load_str(text, "redis_single.yml").unwrap();
//! assert_eq!(conf.pool_name, "dyn_o_mite");
//! assert_eq!(conf.tokens, vec![0]);
//! ```

mod error;
mod raw;
mod resolved;

use std::path::Path;

use tracing::level_filters::LevelFilter;

pub use error::{ConfigError, ErrorKind};
pub use raw::{directive, Directive, RawConfig, RawPool, ValueKind, DIRECTIVES};
pub use resolved::*;

/// Reads and validates a configuration file. Messages name the file as `path` displays.
pub fn load_file(path: &Path) -> Result<DynoConfig, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&name, None, ErrorKind::Io(e.to_string())))?;
    load_str(&text, &name)
}

/// Validates configuration text; `file_name` is used in messages only.
pub fn load_str(text: &str, file_name: &str) -> Result<DynoConfig, ConfigError> {
    let raw = raw::parse(text, file_name)?;
    DynoConfig::from_raw(raw, file_name)
}

/// Implements `-t`: checks a file and returns whether it is valid plus Dynomite's exact line,
/// `dynomite: configuration file '<f>' syntax is valid` (or `is invalid`). The caller prints
/// the detailed error from [`load_file`] separately.
pub fn test_conf(path: &Path) -> (bool, String) {
    let ok = load_file(path).is_ok();
    let verdict = if ok { "valid" } else { "invalid" };
    (
        ok,
        format!(
            "dynomite: configuration file '{}' syntax is {verdict}",
            path.display()
        ),
    )
}

/// Maps Dynomite's `-v 0..11` verbosity onto a tracing level.
///
/// Dynomite's levels are EMERG..PVERB (0..11, default 5 = NOTICE). We fold them as:
///
/// | `-v` | level |
/// |---|---|
/// | 0..=2 (EMERG, ALERT, CRIT) | ERROR |
/// | 3..=4 (ERR, WARN) | WARN |
/// | 5 (NOTICE, the default) | INFO |
/// | 6..=7 (INFO, DEBUG) | DEBUG |
/// | 8..=11 (VERB, VVERB, VVVERB, PVERB) and above | TRACE |
///
/// tracing has fewer levels than Dynomite, so some `-v` values show a little more than Dynomite
/// did (at `-v 3`, warnings as well as errors); none shows less.
pub fn verbosity_to_level(v: u8) -> LevelFilter {
    match v {
        0..=2 => LevelFilter::ERROR,
        3..=4 => LevelFilter::WARN,
        5 => LevelFilter::INFO,
        6..=7 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod sample_files {
    use std::path::PathBuf;

    use super::*;

    /// Every shipped `conf/*.yml` must load without error or warning.
    #[test]
    fn every_sample_config_loads() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conf");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("conf/ exists") {
            let path = entry.expect("readable conf/ entry").path();
            if path.extension().is_some_and(|e| e == "yml") {
                let conf = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    conf.warnings.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    conf.warnings
                );
                let (ok, msg) = test_conf(&path);
                assert!(ok, "{msg}");
                names.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        names.sort();
        assert_eq!(
            names,
            [
                "dc1_rack1.yml",
                "dc1_rack2.yml",
                "dc2_rack1.yml",
                "dc2_rack2.yml",
                "dynomite.yml",
                "dynomite_dns_single.yml",
                "dynomite_florida_single.yml",
                "redis_dc1.yml",
                "redis_dc2.yml",
                "redis_node1.yml",
                "redis_node2.yml",
                "redis_single.yml",
                "safe_quorum_rack1.yml",
                "safe_quorum_rack2.yml",
                "safe_quorum_rack3.yml",
            ]
        );
    }

    /// `conf/README.md` documents every directive of the table.
    #[test]
    fn readme_documents_every_directive() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conf/README.md");
        let readme = std::fs::read_to_string(path).expect("conf/README.md exists");
        for d in DIRECTIVES {
            assert!(
                readme.contains(&format!("| `{}` |", d.name)),
                "conf/README.md has no row for {}",
                d.name
            );
        }
    }

    fn load(name: &str) -> DynoConfig {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("conf")
            .join(name);
        load_file(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The four blog-post nodes form one cluster: each lists the other three, with matching
    /// racks, DCs and tokens, on distinct loopback addresses.
    #[test]
    fn four_node_layout_is_consistent() {
        let files = [
            "dc1_rack1.yml",
            "dc1_rack2.yml",
            "dc2_rack1.yml",
            "dc2_rack2.yml",
        ];
        let nodes: Vec<DynoConfig> = files.iter().map(|f| load(f)).collect();
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(node.read_consistency, Consistency::DcQuorum);
            assert_eq!(node.write_consistency, Consistency::DcQuorum);
            assert_eq!(node.dyn_seed_provider, SeedProvider::Simple);
            assert_eq!(node.tokens, vec![0]);
            assert_eq!(
                node.dyn_listen,
                HostPort::new(format!("127.0.0.{}", i + 1), 8101)
            );
            assert_eq!(node.dyn_seeds.len(), 3);
            for (j, other) in nodes.iter().enumerate().filter(|&(j, _)| j != i) {
                let seed = node
                    .dyn_seeds
                    .iter()
                    .find(|s| s.addr() == other.dyn_listen)
                    .unwrap_or_else(|| panic!("{} lacks seed for {}", files[i], files[j]));
                assert_eq!((&seed.rack, &seed.dc), (&other.rack, &other.datacenter));
                assert_eq!(seed.tokens, other.tokens);
            }
        }
    }

    #[test]
    fn split_token_nodes() {
        assert_eq!(load("redis_node1.yml").tokens, vec![0]);
        assert_eq!(load("redis_node2.yml").tokens, vec![2147483647]);
        assert_eq!(
            load("redis_node1.yml").dyn_seeds[0].tokens,
            vec![2147483647]
        );
    }

    #[test]
    fn redis_single_matches_the_docker_image() {
        let c = load("redis_single.yml");
        assert_eq!(c.listen, Listen::Tcp(HostPort::new("0.0.0.0", 8102)));
        assert_eq!(c.stats_listen, Some(HostPort::new("0.0.0.0", 22222)));
        assert_eq!(
            c.server.endpoint,
            Listen::Tcp(HostPort::new("127.0.0.1", 22122))
        );
        assert_eq!(c.read_consistency, Consistency::DcOne);
    }
}
