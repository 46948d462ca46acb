//! The raw layer: `dynomite.yml` as the user typed it, with Dynomite's file rules enforced.
//!
//! Loading happens in two passes over the text:
//!
//! 1. [`check_structure`], a small line-oriented scan of our own, enforces the rules Dynomite's
//!    libyaml event loop enforced (one top-level key, at most two levels, sequences only at
//!    level 2, no flow style, anchors, aliases, tags or document markers) plus unknown,
//!    duplicated and empty directives. It knows the line of every key, so every message can
//!    name it.
//! 2. serde-saphyr deserializes the same text into [`RawPool`], whose every scalar is a
//!    [`Spanned<String>`]: quotes are removed, the text is kept as written, and the line comes
//!    along so the resolved layer can blame the right line for a bad value.
//!
//! The set of directives is the [`DIRECTIVES`] table (Dynomite's `conf_commands[]`); the scan
//! and the tests derive from it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{ConfigError, ErrorKind};

/// How a directive's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Free text (an address, a name, a path).
    Str,
    /// Exactly `true` or `false`.
    Bool,
    /// A non-negative decimal integer.
    Num,
    /// A block sequence of `- item` lines (only `servers` and `dyn_seeds`).
    List,
    /// Accepted for old files and ignored with a warning.
    Deprecated,
}

/// One known directive.
#[derive(Clone, Copy, Debug)]
pub struct Directive {
    /// The key as written in the file.
    pub name: &'static str,
    /// How its value is written.
    pub kind: ValueKind,
    /// A valid value, used by the tests and the docs.
    pub example: &'static str,
}

const fn d(name: &'static str, kind: ValueKind, example: &'static str) -> Directive {
    Directive {
        name,
        kind,
        example,
    }
}

/// Every directive redmite accepts: Dynomite's, then redmite's own `redmite_*` settings.
pub const DIRECTIVES: &[Directive] = {
    use ValueKind::*;
    &[
        d("listen", Str, "127.0.0.1:8102"),
        d("dyn_listen", Str, "127.0.0.1:8101"),
        d("stats_listen", Str, "127.0.0.1:22222"),
        d("servers", List, "127.0.0.1:22122:1"),
        d("data_store", Num, "0"),
        d("tokens", Str, "'0'"),
        d("dyn_seeds", List, "127.0.0.2:8101:rack2:dc:0"),
        d("datacenter", Str, "dc"),
        d("rack", Str, "rack1"),
        d("read_consistency", Str, "DC_ONE"),
        d("write_consistency", Str, "DC_ONE"),
        d("secure_server_option", Str, "none"),
        d("pem_key_file", Str, "conf/dynomite.pem"),
        d("recon_key_file", Str, "conf/recon_key.pem"),
        d("recon_iv_file", Str, "conf/recon_iv.pem"),
        d("hash", Str, "murmur"),
        d("hash_tag", Str, "\"{}\""),
        d("timeout", Num, "5000"),
        d("preconnect", Bool, "true"),
        d("auto_eject_hosts", Bool, "true"),
        d("server_retry_timeout", Num, "10000"),
        d("server_failure_limit", Num, "3"),
        d("datastore_connections", Num, "1"),
        d("local_peer_connections", Num, "1"),
        d("remote_peer_connections", Num, "1"),
        d("mbuf_size", Num, "16384"),
        d("max_msgs", Num, "200000"),
        d("stats_interval", Num, "30000"),
        d("enable_gossip", Bool, "false"),
        d("gos_interval", Num, "30000"),
        d("dyn_seed_provider", Str, "simple_provider"),
        d("conn_msg_rate", Num, "50000"),
        d("env", Str, "aws"),
        d("backlog", Num, "512"),
        d("read_repairs_enabled", Bool, "false"),
        d("client_connections", Num, "0"),
        d("dyn_read_timeout", Num, "10000"),
        d("dyn_write_timeout", Num, "10000"),
        d("dyn_connections", Num, "100"),
        d("dyn_port", Num, "8101"),
        d("distribution", Deprecated, "vnode"),
        d("server_connections", Deprecated, "1"),
        d("redmite_requirepass", Str, "secret"),
        d("redmite_databases", Num, "16"),
        d("redmite_maxmemory", Str, "100mb"),
        d("redmite_threads", Num, "2"),
    ]
};

/// Looks a directive up by its exact name.
pub fn directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.name == name)
}

/// A scalar directive as written: quotes removed, line kept.
pub type Scalar = Option<Spanned<String>>;

/// The pool's directives as typed. Field names are the YAML keys; see [`DIRECTIVES`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawPool {
    pub listen: Scalar,
    pub dyn_listen: Scalar,
    pub stats_listen: Scalar,
    pub servers: Option<Vec<Spanned<String>>>,
    pub data_store: Scalar,
    pub tokens: Scalar,
    pub dyn_seeds: Option<Vec<Spanned<String>>>,
    pub datacenter: Scalar,
    pub rack: Scalar,
    pub read_consistency: Scalar,
    pub write_consistency: Scalar,
    pub secure_server_option: Scalar,
    pub pem_key_file: Scalar,
    pub recon_key_file: Scalar,
    pub recon_iv_file: Scalar,
    pub hash: Scalar,
    pub hash_tag: Scalar,
    pub timeout: Scalar,
    pub preconnect: Scalar,
    pub auto_eject_hosts: Scalar,
    pub server_retry_timeout: Scalar,
    pub server_failure_limit: Scalar,
    pub datastore_connections: Scalar,
    pub local_peer_connections: Scalar,
    pub remote_peer_connections: Scalar,
    pub mbuf_size: Scalar,
    pub max_msgs: Scalar,
    pub stats_interval: Scalar,
    pub enable_gossip: Scalar,
    pub gos_interval: Scalar,
    pub dyn_seed_provider: Scalar,
    pub conn_msg_rate: Scalar,
    pub env: Scalar,
    pub backlog: Scalar,
    pub read_repairs_enabled: Scalar,
    pub client_connections: Scalar,
    pub dyn_read_timeout: Scalar,
    pub dyn_write_timeout: Scalar,
    pub dyn_connections: Scalar,
    pub dyn_port: Scalar,
    pub distribution: Scalar,
    pub server_connections: Scalar,
    pub redmite_requirepass: Scalar,
    pub redmite_databases: Scalar,
    pub redmite_maxmemory: Scalar,
    pub redmite_threads: Scalar,
}

/// A whole file as typed: the pool name and its directives.
#[derive(Debug)]
pub struct RawConfig {
    /// The single top-level key (usually `dyn_o_mite`).
    pub pool_name: String,
    /// The pool's directives.
    pub pool: RawPool,
}

/// Parses `text` (named `file` in messages) into a [`RawConfig`], enforcing the file rules.
pub fn parse(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    let pool_name = check_structure(text, file)?;
    let mut map: BTreeMap<String, RawPool> =
        serde_saphyr::from_str(text).map_err(|e| yaml_error(&e, file))?;
    // The scan guaranteed exactly one top-level key; take it by name and fall back to
    // whatever is there in case quoting made the two spellings differ.
    let pool = match map.remove(&pool_name) {
        Some(pool) => pool,
        None => match map.into_iter().next() {
            Some((_, pool)) => pool,
            None => {
                return Err(ConfigError::new(
                    file,
                    None,
                    ErrorKind::Syntax("the file holds no pool".into()),
                ))
            }
        },
    };
    Ok(RawConfig { pool_name, pool })
}

/// Turns a serde-saphyr error into ours: its line, and the first line of its message without
/// the `error: line N column M:` prefix (the snippet it draws is left out).
fn yaml_error(e: &serde_saphyr::Error, file: &str) -> ConfigError {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let msg = match first.split_once(": ") {
        Some((pos, rest)) if pos.starts_with("line ") => rest,
        _ => first,
    };
    let line = e.location().map(|l| l.line() as usize).filter(|&l| l > 0);
    ConfigError::new(
        file,
        line,
        ErrorKind::Syntax(format!("invalid YAML: {msg}")),
    )
}

/// The list directive whose `- item` lines are being read.
struct OpenList {
    key: &'static str,
    line: usize,
    items: usize,
    item_indent: Option<usize>,
}

/// Scans the text line by line for Dynomite's structural rules and returns the pool name.
///
/// This is deliberately not a YAML parser: it accepts the block-style subset that Dynomite
/// files use and rejects everything else with a message naming the line. Whatever it lets
/// through is then parsed properly by serde-saphyr.
pub fn check_structure(text: &str, file: &str) -> Result<String, ConfigError> {
    let err = |line: usize, msg: String| Err(ConfigError::syntax(file, line, msg));
    let mut pool: Option<(String, usize)> = None;
    let mut level1_indent: Option<usize> = None;
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut open_list: Option<OpenList> = None;
    // A scalar directive with nothing after its colon: an error, unless the next line shows
    // it was meant as a nested mapping (a depth error is the better message then).
    let mut pending_empty: Option<(&'static str, usize)> = None;
    let mut directives = 0usize;

    for (idx, raw_line) in text.split('\n').enumerate() {
        let n = idx + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let content = strip_comment(line).trim_end();
        if content.trim_start().is_empty() {
            continue;
        }
        let indent = content.len() - content.trim_start_matches(' ').len();
        let body = &content[indent..];
        if body.starts_with('\t') {
            return err(n, "tabs are not allowed in indentation".into());
        }
        if indent == 0 && (is_marker(body, "---") || is_marker(body, "...")) {
            return err(
                n,
                "document markers (\"---\", \"...\") are not allowed; the file holds one pool"
                    .into(),
            );
        }
        if indent == 0 && body.starts_with('%') {
            return err(n, "YAML directives (\"%...\") are not allowed".into());
        }
        if body.starts_with("? ") || body == "?" {
            return err(n, "complex keys (\"? \") are not allowed".into());
        }

        if let Some((key, line)) = pending_empty.take() {
            if seq_item(body).is_some() {
                return Err(ConfigError::invalid(
                    file,
                    line,
                    key,
                    "must be a single value, not a list",
                ));
            }
            if pool.is_some() && level1_indent.is_some_and(|l1| indent > l1) {
                return err(
                    n,
                    format!(
                        "nesting is too deep under directive \"{key}\" (line {line}): \
                         at most 2 levels are allowed"
                    ),
                );
            }
            return Err(ConfigError::at(
                file,
                line,
                ErrorKind::Empty { key: key.into() },
            ));
        }

        // A sequence item.
        if let Some(item) = seq_item(body) {
            let Some(list) = open_list.as_mut() else {
                if indent == 0 || pool.is_none() {
                    return err(
                        n,
                        "a list at the top level: sequences are only allowed as the value of \
                         \"servers\" or \"dyn_seeds\""
                            .into(),
                    );
                }
                return err(
                    n,
                    "unexpected list item: sequences are only allowed as the value of \
                     \"servers\" or \"dyn_seeds\""
                        .into(),
                );
            };
            if level1_indent.is_some_and(|l1| indent < l1) {
                return err(n, "list item is indented less than its directive".into());
            }
            match list.item_indent {
                Some(i) if i != indent => {
                    return err(
                        n,
                        format!(
                            "list item of \"{}\" is not aligned with the others",
                            list.key
                        ),
                    )
                }
                _ => list.item_indent = Some(indent),
            }
            let key = list.key;
            if item.is_empty() || is_null(item) {
                return Err(ConfigError::at(
                    file,
                    n,
                    ErrorKind::Empty { key: key.into() },
                ));
            }
            if seq_item(item).is_some() || find_key_colon(item).is_some() {
                return err(
                    n,
                    format!("nesting is too deep in \"{key}\": at most 2 levels are allowed"),
                );
            }
            check_value(item, key, n, file)?;
            list.items += 1;
            continue;
        }

        // Anything else must be `key: value` (or `key:`).
        let Some(colon) = find_key_colon(body) else {
            return err(n, format!("expected \"key: value\", found \"{body}\""));
        };
        let key_text = unquote(body[..colon].trim_end());
        let value = body[colon + 1..].trim();

        if indent == 0 {
            if let Some((name, first)) = &pool {
                return err(
                    n,
                    format!(
                        "more than one top-level key: \"{key_text}\" after \"{name}\" \
                         (line {first}); the file must hold exactly one pool"
                    ),
                );
            }
            if key_text.is_empty() {
                return err(n, "the pool name is empty".into());
            }
            if !value.is_empty() {
                check_value(value, key_text, n, file)?;
                return err(
                    n,
                    format!("the pool \"{key_text}\" must be followed by indented directives"),
                );
            }
            pool = Some((key_text.to_string(), n));
            continue;
        }

        if pool.is_none() {
            return err(n, "the pool name must start in the first column".into());
        }
        match level1_indent {
            None => level1_indent = Some(indent),
            Some(l1) if indent > l1 => {
                return err(
                    n,
                    "nesting is too deep or the indentation is wrong: directives must all \
                     start in the same column"
                        .into(),
                )
            }
            Some(l1) if indent < l1 => {
                return err(
                    n,
                    "bad indentation: directives must all start in the same column".into(),
                )
            }
            Some(_) => {}
        }
        if let Some(list) = open_list.take() {
            if list.items == 0 {
                return Err(ConfigError::at(
                    file,
                    list.line,
                    ErrorKind::Empty {
                        key: list.key.into(),
                    },
                ));
            }
        }
        let Some(dir) = directive(key_text) else {
            return Err(ConfigError::at(
                file,
                n,
                ErrorKind::Unknown {
                    key: key_text.to_string(),
                    suggestion: suggest(key_text),
                },
            ));
        };
        if let Some(&first_line) = seen.get(dir.name) {
            return Err(ConfigError::at(
                file,
                n,
                ErrorKind::Duplicate {
                    key: dir.name.into(),
                    first_line,
                },
            ));
        }
        seen.insert(dir.name, n);
        directives += 1;
        if dir.kind == ValueKind::List {
            if !value.is_empty() {
                check_value(value, dir.name, n, file)?;
                return Err(ConfigError::invalid(
                    file,
                    n,
                    dir.name,
                    "must be a list: put each entry on its own \"- \" line below it",
                ));
            }
            open_list = Some(OpenList {
                key: dir.name,
                line: n,
                items: 0,
                item_indent: None,
            });
        } else if is_null(value) {
            return Err(ConfigError::at(
                file,
                n,
                ErrorKind::Empty {
                    key: dir.name.into(),
                },
            ));
        } else if value.is_empty() {
            pending_empty = Some((dir.name, n));
        } else {
            check_value(value, dir.name, n, file)?;
        }
    }

    if let Some((key, line)) = pending_empty {
        return Err(ConfigError::at(
            file,
            line,
            ErrorKind::Empty { key: key.into() },
        ));
    }
    if let Some(list) = open_list {
        if list.items == 0 {
            return Err(ConfigError::at(
                file,
                list.line,
                ErrorKind::Empty {
                    key: list.key.into(),
                },
            ));
        }
    }
    match pool {
        None => Err(ConfigError::new(
            file,
            None,
            ErrorKind::Syntax(
                "the file is empty: it must hold one pool, e.g. \"dyn_o_mite:\"".into(),
            ),
        )),
        Some((name, line)) if directives == 0 => {
            err(line, format!("the pool \"{name}\" has no directives"))
        }
        Some((name, _)) => Ok(name),
    }
}

/// Rejects values that would make a YAML node richer than a plain or quoted scalar.
fn check_value(value: &str, key: &str, line: usize, file: &str) -> Result<(), ConfigError> {
    let problem = match value.as_bytes().first() {
        Some(b'[' | b']') => "uses flow style (\"[...]\"), which is not allowed",
        Some(b'{' | b'}') => "uses flow style (\"{...}\"), which is not allowed; quote it",
        Some(b'&') => "has an anchor (\"&\"), which is not allowed",
        Some(b'*') => "has an alias (\"*\"), which is not allowed",
        Some(b'!') => "has a tag (\"!\"), which is not allowed",
        Some(b'|' | b'>') => "is a multi-line block scalar, which is not allowed",
        _ => return Ok(()),
    };
    Err(ConfigError::invalid(file, line, key, problem))
}

/// YAML's plain spellings of null, which would read as an absent directive: treated as empty.
fn is_null(value: &str) -> bool {
    matches!(value, "~" | "null" | "Null" | "NULL")
}

/// `Some(rest)` when `body` is a sequence item (`- rest` or a bare `-`).
fn seq_item(body: &str) -> Option<&str> {
    if body == "-" {
        Some("")
    } else {
        body.strip_prefix("- ").map(str::trim)
    }
}

fn is_marker(body: &str, marker: &str) -> bool {
    body == marker
        || body
            .strip_prefix(marker)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
}

/// Removes a trailing `# comment` (a `#` at the start or after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && prev_space => return &line[..i],
            // A quote only opens a quoted scalar at the start of a key or value.
            None if (c == '"' || c == '\'') && prev_space_or_indicator(&line[..i]) => {
                quote = Some(c)
            }
            None => {}
        }
        prev_space = c == ' ' || c == '\t';
    }
    line
}

fn prev_space_or_indicator(before: &str) -> bool {
    let t = before.trim_end();
    t.is_empty() || t.ends_with(':') || t.ends_with('-')
}

/// The byte index of the colon that ends a mapping key: the first `:` outside quotes that is
/// followed by a space or the end of the line.
fn find_key_colon(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if (b == b'"' || b == b'\'') && i == 0 => quote = Some(b),
            None if b == b':' && matches!(bytes.get(i + 1), None | Some(b' ') | Some(b'\t')) => {
                return Some(i)
            }
            None => {}
        }
    }
    None
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// The known directive nearest to `key`, if it is close enough to be a typo.
pub fn suggest(key: &str) -> Option<&'static str> {
    let key_lower = key.to_ascii_lowercase();
    let (best, dist) = DIRECTIVES
        .iter()
        .filter(|d| d.kind != ValueKind::Deprecated)
        .map(|d| (d.name, edit_distance(&key_lower, d.name)))
        .min_by_key(|&(_, dist)| dist)?;
    let limit = (best.len().max(key.len()) / 3).clamp(1, 3);
    (dist <= limit).then_some(best)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("dyn_listn", "dyn_listen"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("dyn_listn"), Some("dyn_listen"));
        assert_eq!(suggest("Listen"), Some("listen"));
        assert_eq!(suggest("token"), Some("tokens"));
        assert_eq!(suggest("read_consistancy"), Some("read_consistency"));
        assert_eq!(suggest("completely_different"), None);
    }

    #[test]
    fn strip_comments_outside_quotes() {
        assert_eq!(strip_comment("  a: b # c"), "  a: b ");
        assert_eq!(strip_comment("# all"), "");
        assert_eq!(strip_comment("  a: 'x # y' # z"), "  a: 'x # y' ");
        assert_eq!(strip_comment("  a: \"x \\\" # y\""), "  a: \"x \\\" # y\"");
        assert_eq!(strip_comment("  a: b#c"), "  a: b#c");
    }

    #[test]
    fn key_colons() {
        assert_eq!(find_key_colon("listen: 1.2.3.4:5"), Some(6));
        assert_eq!(find_key_colon("read_consistency : X"), Some(17));
        assert_eq!(find_key_colon("servers:"), Some(7));
        assert_eq!(find_key_colon("127.0.0.1:8101:r:d:0"), None);
        assert_eq!(find_key_colon("\"a: b\": c"), Some(6));
    }

    #[test]
    fn every_directive_is_a_field_of_raw_pool() {
        // One file setting every directive must deserialize: this keeps the table and the
        // struct in step.
        let mut text = String::from("pool:\n");
        for d in DIRECTIVES {
            if d.kind == ValueKind::List {
                text.push_str(&format!("  {}:\n  - {}\n", d.name, d.example));
            } else {
                text.push_str(&format!("  {}: {}\n", d.name, d.example));
            }
        }
        let raw = parse(&text, "all.yml").expect("every directive parses");
        assert_eq!(raw.pool_name, "pool");
        assert_eq!(
            raw.pool.redmite_maxmemory.map(|s| s.value).as_deref(),
            Some("100mb")
        );
    }
}
