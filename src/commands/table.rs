//! The command table: every command's name, arity, flags, key positions, group and
//! handler, declared once as data.
//!
//! Each family module (`string`, `keys`, `server`, ...) exports a `COMMANDS` slice;
//! [`table`] joins them into one index built at first use. Everything that needs to
//! know about commands reads it: the dispatcher (arity, auth, write policy),
//! `COMMAND`/`COMMAND INFO`/`COMMAND DOCS`, `INFO commandstats`, and later ring
//! routing (key positions) and replication (the WRITE flag). No code outside this
//! module tree matches on command names.

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
use std::sync::OnceLock;

use bytes::Bytes;

use super::error::CmdError;
use super::is_kw;
use super::Ctx;
use crate::resp::Reply;

pub type Handler = fn(&mut Ctx, &[Bytes]) -> Result<Reply, CmdError>;

/// Command flags, with Redis's meanings (see valkey's `server.h` block comment).
pub mod flags {
    /// May modify the keyspace. Replicated to peers when it does.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads the keyspace.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory; refused when maxmemory is exceeded.
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log N); never blocks the server for long.
    pub const FAST: u32 = 1 << 11;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    /// Refused inside MULTI.
    pub const NO_MULTI: u32 = 1 << 14;
    /// Key positions depend on arguments (COMMAND GETKEYS asks the handler's parser).
    pub const MOVABLE_KEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
    /// Redmite: runs only on the local node, never routed or replicated by the cluster
    /// layer (server and connection commands).
    pub const LOCAL: u32 = 1 << 18;
    /// Redmite: when its keys have different owners in a sharded rack, the command is
    /// split into one command per owner and the replies are merged (Dynomite does this
    /// for MGET, MSET, DEL and EXISTS): an array reply holds one element per key, an
    /// integer reply is summed, a status reply is the same for every part.
    pub const SPLIT: u32 = 1 << 19;
    /// Redmite: runs at once inside MULTI instead of being queued (EXEC, DISCARD,
    /// MULTI, WATCH, QUIT, RESET).
    pub const TX_CONTROL: u32 = 1 << 20;
    /// Redmite: EXEC. When the gate refuses it (arity, auth), the transaction ends
    /// with `EXECABORT Transaction discarded because of: <reason>`.
    pub const TX_EXEC: u32 = 1 << 21;
    /// Redmite: runs on this node and is also sent, fire-and-forget, to every peer
    /// node, which runs it locally and sends it no further (PUBLISH, so subscribers on
    /// every node receive the message). The reply is this node's.
    pub const BROADCAST: u32 = 1 << 22;
    /// Redmite: allowed for a RESP2 client in subscribed mode (Redis's list:
    /// (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT, RESET).
    pub const SUBSCRIBED_OK: u32 = 1 << 23;
    /// Redmite: not a write itself, but the commands it runs may write (EVAL and
    /// friends): the cluster runs it on the write path, so the effects it records
    /// are replicated.
    pub const EFFECTS: u32 = 1 << 24;

    /// Flag names as `COMMAND INFO` prints them, in Redis's order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        // Redis appends `movablekeys` after the declared flags.
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

/// ACL categories (`COMMAND INFO`, `COMMAND LIST FILTERBY ACLCAT`), as bits in the
/// order Redis prints them. Most are implied by flags and the doc group (see
/// [`Command::acl_categories`]); a command declares the rest with [`Command::acl`].
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;
    /// Not a category: the doc group implies none (WAIT is in `generic` but not in
    /// `@keyspace`). Containers (`CLIENT`, `CONFIG`...) behave as if they had it.
    pub const NO_GROUP: u32 = 1 << 31;

    /// Category names without the `@`, index = bit number.
    pub const NAMES: &[&str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];
}

/// How to find the keys among the arguments when they are not at fixed positions.
pub type KeyFinder = fn(&[Bytes]) -> Vec<usize>;

/// One command (or subcommand) declared as data.
pub struct Command {
    /// Lower-case name; subcommands hold only their own part (`get` in `config|get`).
    pub name: &'static str,
    /// Redis convention: N means exactly N arguments including the name, -N at least N.
    pub arity: i32,
    pub flags: u32,
    /// First key position (0 = no keys), last key (-1 = last argument), step.
    pub keys: (i32, i32, i32),
    /// The `COMMAND DOCS` group (`string`, `generic`, `server`, `connection`...).
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [Command],
    /// For MOVABLE_KEYS commands: the argument positions that are keys.
    pub key_finder: Option<KeyFinder>,
    /// ACL categories beyond those implied by flags and group ([`acl`] bits).
    pub acl: u32,
    /// `COMMAND INFO` tips (`nondeterministic_output`, `request_policy:all_shards`...).
    pub tips: &'static [&'static str],
    /// Flags of the key spec built from `keys` (`RW`, `access`, `update`...). Empty
    /// means `RW access` for write commands and `RO access` otherwise.
    pub key_flags: &'static [&'static str],
    /// The key spec's `notes`, when Redis documents one.
    pub key_notes: &'static str,
    /// Redis's key specs, for commands whose keys one (first, last, step) range
    /// with `key_flags` cannot describe (several specs, a key count, a keyword).
    /// When set, `COMMAND INFO` lists them and `COMMAND GETKEYS` follows them.
    pub key_specs: &'static [KeySpec],
}

/// One key spec as Redis 7.0 declares it: where the search for keys begins and
/// how the keys are found from there.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
}

/// `begin_search` of a key spec.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// The first key is at this argument index.
    Index(i32),
    /// The first key follows this keyword, searched from `startfrom` (from the end
    /// when negative).
    Keyword(&'static str, i32),
    /// The keys cannot be found from the arguments alone (SORT's BY and GET).
    Unknown,
}

/// `find_keys` of a key spec.
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// `lastkey` (relative to the first key, or from the end when negative),
    /// `keystep`, `limit`.
    Range(i32, i32, i32),
    /// `keynumidx` (where the key count is, relative to the begin index),
    /// `firstkey` (relative to it), `keystep`.
    Keynum(i32, i32, i32),
    Unknown,
}

impl KeySpec {
    /// A spec for the single key at `index`.
    pub const fn at(index: i32, flags: &'static [&'static str]) -> KeySpec {
        KeySpec {
            notes: "",
            flags,
            begin: Begin::Index(index),
            find: Find::Range(0, 1, 0),
        }
    }

    /// A spec for the keys from `index` to `lastkey` (see [`Find::Range`]).
    pub const fn range(index: i32, lastkey: i32, flags: &'static [&'static str]) -> KeySpec {
        KeySpec {
            notes: "",
            flags,
            begin: Begin::Index(index),
            find: Find::Range(lastkey, 1, 0),
        }
    }

    /// A spec for `numkeys` keys, the count at `index` and the keys right after it.
    pub const fn numkeys(index: i32, flags: &'static [&'static str]) -> KeySpec {
        KeySpec {
            notes: "",
            flags,
            begin: Begin::Index(index),
            find: Find::Keynum(0, 1, 1),
        }
    }

    /// The positions of this spec's keys in `args` (Redis's
    /// `getKeysUsingKeySpecs` for one spec): `Ok(None)` when its keyword is absent,
    /// `Err(())` when the spec does not fit the arguments (a bad key count, too few
    /// arguments, or an unknown spec).
    fn positions(&self, args: &[Bytes]) -> Result<Option<Vec<usize>>, ()> {
        let argc = args.len() as i64;
        let first = match self.begin {
            Begin::Index(i) => i64::from(i),
            Begin::Keyword(kw, from) => {
                let from = i64::from(from);
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 1)
                };
                let found = if start <= end {
                    (start..end).find(|&i| i >= 1 && i < argc && is_kw(&args[i as usize], kw))
                } else {
                    (end + 1..=start)
                        .rev()
                        .find(|&i| i >= 1 && i < argc && is_kw(&args[i as usize], kw))
                };
                match found {
                    Some(i) => i + 1,
                    None => return Ok(None),
                }
            }
            Begin::Unknown => return Err(()),
        };
        let (first, last, step) = match self.find {
            Find::Range(lastkey, step, limit) => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, i64::from(step))
            }
            Find::Keynum(idx, firstkey, step) => {
                let at = usize::try_from(first + i64::from(idx)).map_err(|_| ())?;
                let n = args.get(at).and_then(|a| crate::num::parse_i64(a));
                let n = n.filter(|&n| n >= 0).ok_or(())?;
                let first = first + i64::from(firstkey);
                (first, first + n - 1, i64::from(step))
            }
            Find::Unknown => return Err(()),
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return Err(());
        }
        Ok(Some(
            (first..=last)
                .step_by(step as usize)
                .map(|i| i as usize)
                .collect(),
        ))
    }
}

impl Command {
    /// A plain command; the `sub`, `finder` and doc fields start empty.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        group: &'static str,
        handler: Handler,
    ) -> Command {
        Command {
            name,
            arity,
            flags,
            keys,
            group,
            summary: "",
            since: "1.0.0",
            handler,
            subcommands: &[],
            key_finder: None,
            acl: 0,
            tips: &[],
            key_flags: &[],
            key_notes: "",
            key_specs: &[],
        }
    }

    /// Adds ACL categories the flags and group do not imply.
    pub const fn acl(mut self, categories: u32) -> Command {
        self.acl = categories;
        self
    }

    pub const fn tips(mut self, tips: &'static [&'static str]) -> Command {
        self.tips = tips;
        self
    }

    /// Sets the key spec's flags and notes as Redis documents them.
    pub const fn key_spec(
        mut self,
        flags: &'static [&'static str],
        notes: &'static str,
    ) -> Command {
        self.key_flags = flags;
        self.key_notes = notes;
        self
    }

    /// The command's ACL categories ([`acl`] bits): flags imply `@write`, `@read`,
    /// `@admin` + `@dangerous`, `@pubsub`, `@fast` (else `@slow`) and `@blocking`;
    /// the doc group implies the data type (`string` → `@string`, `generic` →
    /// `@keyspace`, `connection` → `@connection`...); [`Command::acl`] adds the rest.
    pub fn acl_categories(&self) -> u32 {
        let mut c = self.acl & !acl::NO_GROUP;
        // A script (EFFECTS) is not `@read` even when read-only: what it reads is up
        // to the commands it runs.
        let read = if self.has(flags::EFFECTS) {
            0
        } else {
            acl::READ
        };
        let implied = [
            (flags::WRITE, acl::WRITE),
            (flags::READONLY, read),
            (flags::ADMIN, acl::ADMIN | acl::DANGEROUS),
            (flags::PUBSUB, acl::PUBSUB),
            (flags::BLOCKING, acl::BLOCKING),
        ];
        for (flag, cat) in implied {
            if self.has(flag) {
                c |= cat;
            }
        }
        c |= if self.has(flags::FAST) {
            acl::FAST
        } else {
            acl::SLOW
        };
        if self.acl & acl::NO_GROUP != 0 || !self.subcommands.is_empty() {
            return c;
        }
        c |= match self.group {
            "generic" => acl::KEYSPACE,
            "string" => acl::STRING,
            "list" => acl::LIST,
            "hash" => acl::HASH,
            "set" => acl::SET,
            "sorted-set" => acl::SORTEDSET,
            "connection" => acl::CONNECTION,
            "pubsub" => acl::PUBSUB,
            "scripting" => acl::SCRIPTING,
            "transactions" => acl::TRANSACTION,
            "bitmap" => acl::BITMAP,
            "hyperloglog" => acl::HYPERLOGLOG,
            "geo" => acl::GEO,
            "stream" => acl::STREAM,
            _ => 0,
        };
        c
    }

    /// The ACL category names (`@read`...) in Redis's order.
    pub fn acl_names(&self) -> Vec<String> {
        let c = self.acl_categories();
        acl::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| c & (1 << i) != 0)
            .map(|(_, n)| format!("@{n}"))
            .collect()
    }

    pub const fn sub(mut self, subcommands: &'static [Command]) -> Command {
        self.subcommands = subcommands;
        self
    }

    pub const fn finder(mut self, f: KeyFinder) -> Command {
        self.key_finder = Some(f);
        self
    }

    pub const fn doc(mut self, since: &'static str, summary: &'static str) -> Command {
        self.since = since;
        self.summary = summary;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Declares Redis's key specs (see [`Command::key_specs`]).
    pub const fn key_specs(mut self, specs: &'static [KeySpec]) -> Command {
        self.key_specs = specs;
        self
    }

    /// The keys of `args` found by the declared key specs, each with its spec's
    /// flags, in spec order (Redis's `getKeysUsingKeySpecs`, which COMMAND GETKEYS
    /// prefers). `None` when there are no declared specs or one of them does not
    /// fit the arguments; then [`Command::key_positions`] decides, as Redis falls
    /// back to the command's own key function.
    pub fn spec_keys(&self, args: &[Bytes]) -> Option<Vec<(usize, &'static [&'static str])>> {
        if self.key_specs.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for spec in self.key_specs {
            if let Some(keys) = spec.positions(args).ok()? {
                out.extend(keys.into_iter().map(|i| (i, spec.flags)));
            }
        }
        Some(out)
    }

    /// The argument positions of the keys a write that changed the keyspace may
    /// have written: its keys minus those of read-only (`RO`) key specs, so that
    /// SUNIONSTORE, COPY or BITOP signal only their destination to WATCH and
    /// client tracking, as Redis's `signalModifiedKey` does. A spec that cannot be
    /// followed (SORT's STORE) falls back to every key.
    pub fn written_key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if self.key_specs.is_empty() {
            if self.key_flags.contains(&"RO") {
                return Vec::new();
            }
            return self.key_positions(args);
        }
        let mut out = Vec::new();
        for spec in self.key_specs {
            if spec.flags.contains(&"RO") {
                continue;
            }
            match spec.positions(args) {
                Ok(Some(keys)) => out.extend(keys),
                Ok(None) => {}
                Err(()) => {
                    let read_only: Vec<usize> = self
                        .key_specs
                        .iter()
                        .filter(|s| s.flags.contains(&"RO"))
                        .filter_map(|s| s.positions(args).ok().flatten())
                        .flatten()
                        .collect();
                    return self
                        .key_positions(args)
                        .into_iter()
                        .filter(|i| !read_only.contains(i))
                        .collect();
                }
            }
        }
        out
    }

    /// The argument positions of the keys in `args` (COMMAND GETKEYS, routing).
    /// The position of the first key in `args`, without building [`Self::key_positions`]'s
    /// list when the key range is fixed (the coordinator needs only this per command).
    pub fn first_key_position(&self, args: &[Bytes]) -> Option<usize> {
        if self.key_finder.is_some() {
            return self.key_positions(args).first().copied();
        }
        let (first, last, step) = self.keys;
        let n = args.len() as i32;
        let last = if last < 0 { n + last } else { last.min(n - 1) };
        (first > 0 && step > 0 && first <= last).then_some(first as usize)
    }

    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.key_finder {
            return f(args);
        }
        let (first, last, step) = self.keys;
        if first <= 0 || step <= 0 {
            return Vec::new();
        }
        let n = args.len() as i32;
        let last = if last < 0 { n + last } else { last.min(n - 1) };
        (first..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    }
}

/// A command found in the table, with its id for per-command statistics.
#[derive(Clone, Copy)]
pub struct Entry {
    pub id: usize,
    pub cmd: &'static Command,
    /// Name including the container (`config|get`).
    pub full_name: &'static str,
}

pub struct Table {
    pub entries: Vec<Entry>,
    /// Keyed by bytes: a request's name is looked up without a UTF-8 check.
    top: HashMap<&'static [u8], usize>,
    subs: HashMap<(usize, &'static [u8]), usize>,
}

fn families() -> impl Iterator<Item = &'static Command> {
    [
        super::string::COMMANDS,
        super::keys::COMMANDS,
        super::list::COMMANDS,
        super::hash::COMMANDS,
        super::set::COMMANDS,
        super::sort::COMMANDS,
        super::zset::COMMANDS,
        super::geo::COMMANDS,
        super::bitmap::COMMANDS,
        super::hll::COMMANDS,
        super::pubsub::COMMANDS,
        super::dynomite::COMMANDS,
        super::connection::COMMANDS,
        super::tx::COMMANDS,
        super::scripting::COMMANDS,
        super::function::COMMANDS,
        super::server::COMMANDS,
    ]
    .into_iter()
    .flatten()
}

impl Table {
    fn build() -> Table {
        let mut t = Table {
            entries: Vec::new(),
            top: HashMap::default(),
            subs: HashMap::default(),
        };
        for cmd in families() {
            let id = t.entries.len();
            t.entries.push(Entry {
                id,
                cmd,
                full_name: cmd.name,
            });
            t.top.insert(cmd.name.as_bytes(), id);
            for sub in cmd.subcommands {
                let sid = t.entries.len();
                let full: &'static str =
                    Box::leak(format!("{}|{}", cmd.name, sub.name).into_boxed_str());
                t.entries.push(Entry {
                    id: sid,
                    cmd: sub,
                    full_name: full,
                });
                t.subs.insert((id, sub.name.as_bytes()), sid);
            }
        }
        t
    }

    /// Looks up a top-level command by name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<Entry> {
        with_lower(name, |n| self.top.get(n).map(|&i| self.entries[i]))
    }

    /// Looks up a subcommand of `parent`.
    pub fn lookup_sub(&self, parent: Entry, name: &[u8]) -> Option<Entry> {
        with_lower(name, |n| {
            self.subs.get(&(parent.id, n)).map(|&i| self.entries[i])
        })
    }

    /// Top-level commands in table order.
    pub fn top_level(&self) -> impl Iterator<Item = Entry> + '_ {
        self.entries
            .iter()
            .copied()
            .filter(|e| !e.full_name.contains('|'))
    }

    /// The subcommand entries of a container.
    pub fn subcommands_of(&self, parent: Entry) -> Vec<Entry> {
        parent
            .cmd
            .subcommands
            .iter()
            .filter_map(|s| {
                self.subs
                    .get(&(parent.id, s.name.as_bytes()))
                    .map(|&i| self.entries[i])
            })
            .collect()
    }
}

/// Lower-cases a short name on the stack and calls `f` with it.
fn with_lower<R>(name: &[u8], f: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
    let mut buf = [0u8; 64];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    f(&buf[..name.len()])
}

/// The process-wide command table.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coordinator routes by `first_key_position`; it must name the same key as the
    /// full list for every command and argument count, including ranges that end before
    /// they start (`last` counted from the end of a short command).
    #[test]
    fn first_key_position_is_the_first_of_key_positions() {
        let t = table();
        for e in t.entries.iter() {
            for argc in 1..8 {
                let args: Vec<Bytes> = (0..argc)
                    .map(|i| {
                        Bytes::from(if i == 0 {
                            e.full_name.to_string()
                        } else {
                            i.to_string()
                        })
                    })
                    .collect();
                assert_eq!(
                    e.cmd.first_key_position(&args),
                    e.cmd.key_positions(&args).first().copied(),
                    "{} with {argc} arguments",
                    e.full_name
                );
            }
        }
    }
}
