//! Connected clients: the per-connection state commands read and change, and the
//! registry behind CLIENT LIST / CLIENT KILL / INFO clients.
//!
//! A connection task owns its [`Client`]. The [`Registry`] (inside the store lock)
//! keeps a snapshot of each client that the connection refreshes after every batch,
//! plus a handle to ask the connection to close.
//!
//! The registry also holds the `CLIENT PAUSE` state. A paused command never waits
//! while holding the store lock: the dispatcher only answers "this command must wait
//! until `deadline`", and the connection sleeps outside the lock until the deadline
//! or until the pause changes (`CLIENT UNPAUSE`, a new `CLIENT PAUSE`), which
//! [`Registry::pause_watch`] reports, then asks again.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{watch, Notify};

/// What CLIENT REPLY asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Set by SKIP; becomes On after the next command.
    SkipNext,
}

/// Where a command came from, which decides whether the cluster layer routes and
/// replicates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client on the `listen` port: routed and replicated.
    Client,
    /// A client on the local-only datastore port (`servers:`): never replicated.
    Local,
    /// A peer node applying a replicated request: never replicated again.
    Peer,
}

/// State of one client connection.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: u64,
    pub db: usize,
    /// RESP protocol version, 2 or 3.
    pub proto: u8,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub authenticated: bool,
    pub addr: String,
    pub laddr: String,
    pub created_ms: u64,
    pub last_interaction_ms: u64,
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    pub no_touch: bool,
    pub last_cmd: &'static str,
    /// Bytes waiting in this client's query buffer (CLIENT LIST qbuf).
    pub qbuf: usize,
    /// The query buffer's allocated size (`qbuf` + `qbuf-free`, and `rbs`).
    pub qbuf_cap: usize,
    /// The most the query buffer held in one read (`rbp`, Redis's read buffer peak).
    pub qbuf_peak: usize,
    /// Bytes of the arguments of the command running now (`argv-mem`; 0 between
    /// commands, as in Redis).
    pub argv_mem: usize,
    /// In MONITOR mode (flag `O`): every command the server runs is sent to it, and
    /// it may not run commands that touch the keyspace.
    pub monitor: bool,
    /// Set when the connection must close after writing pending replies.
    pub close_after_reply: bool,
    pub origin: Origin,
    /// `DYNO_CONFIG:CONN_CONSISTENCY` for this connection: (read, write) levels that
    /// override the node's.
    pub levels: Option<(crate::cluster::quorum::Level, crate::cluster::quorum::Level)>,
    /// Inside MULTI: the queued commands (see `commands::tx`).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command was refused while queueing (Redis's `CLIENT_DIRTY_EXEC`): EXEC
    /// answers EXECABORT.
    pub multi_error: bool,
    /// The keys this client WATCHes (database, key). Whether one of them changed is
    /// kept in the store (`store::watch`), since other clients set it.
    pub watched: Vec<crate::store::blocking::DbKey>,
    /// Where published messages for this client go (`None` for peer requests, which
    /// cannot subscribe).
    pub outbox: Option<crate::store::pubsub::Outbox>,
    /// Subscribed channels, patterns and shard channels (CLIENT LIST sub/psub/ssub).
    pub subs: (usize, usize, usize),
    /// In a registry snapshot: how many commands the client has queued in MULTI (the
    /// snapshot does not copy the queue itself).
    pub queued: Option<usize>,
    /// In a registry snapshot: the `multi-mem` of the queued transaction.
    pub queued_mem: usize,
    /// CLIENT TRACKING is on (its options live in `store::tracking`).
    pub tracking: bool,
    /// CLIENT CACHING YES/NO applies to the next command or transaction.
    pub caching: bool,
}

impl Client {
    pub fn new(id: u64, addr: String, laddr: String, now_ms: u64, authenticated: bool) -> Client {
        Client {
            id,
            db: 0,
            proto: 2,
            name: None,
            lib_name: None,
            lib_ver: None,
            authenticated,
            addr,
            laddr,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            last_cmd: "NULL",
            qbuf: 0,
            qbuf_cap: 0,
            qbuf_peak: 0,
            argv_mem: 0,
            monitor: false,
            close_after_reply: false,
            origin: Origin::Client,
            levels: None,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            outbox: None,
            subs: (0, 0, 0),
            queued: None,
            queued_mem: 0,
            tracking: false,
            caching: false,
        }
    }

    /// `multi-mem`: what the queued transaction holds, counted as Redis's
    /// `mstate.argv_len_sums` (argument bytes plus a pointer per argument).
    fn multi_mem_now(&self) -> usize {
        self.multi.as_ref().map_or(0, |q| {
            q.iter()
                .map(|c| c.iter().map(Bytes::len).sum::<usize>() + 8 * c.len())
                .sum()
        })
    }

    /// Whether the client has any subscription (Redis's `CLIENT_PUBSUB` flag).
    pub fn in_pubsub(&self) -> bool {
        self.subs != (0, 0, 0)
    }

    /// The type CLIENT LIST TYPE and CLIENT KILL TYPE match against.
    pub fn kind(&self) -> ClientType {
        if self.in_pubsub() {
            ClientType::PubSub
        } else {
            ClientType::Normal
        }
    }

    /// One line of CLIENT LIST / CLIENT INFO, with Redis 7.0's fields in its order.
    /// The store says what the client's own state does not: blocked, tracking
    /// options, a transaction made dirty by another client.
    pub fn info_line(&self, store: &crate::store::Store, now_ms: u64) -> String {
        let s = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let tracking = store.tracking.options(self.id);
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        }
        if self.in_pubsub() {
            flags.push('P');
        }
        if self.multi.is_some() || self.queued.is_some() {
            flags.push('x');
        }
        if store.blocking.get(self.id).is_some() {
            flags.push('b');
        }
        if let Some(t) = tracking {
            flags.push('t');
            if t.broken_redirect {
                flags.push('R');
            }
            if t.bcast {
                flags.push('B');
            }
        }
        if store.watch.is_marked(self.id) {
            flags.push('d');
        }
        if self.close_after_reply {
            flags.push('c');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        // A blocked client still holds its command's arguments, as in Redis.
        let argv_mem = match store.blocking.get(self.id) {
            Some(w) => w.args.iter().map(Bytes::len).sum(),
            None => self.argv_mem,
        };
        let multi_mem = if self.multi.is_some() {
            self.multi_mem_now()
        } else {
            self.queued_mem
        };
        // Replies are written as soon as they are made; what waits is the push queue
        // (published messages, MONITOR lines), counted in bytes by its `Outbox`.
        // `oll` counts it in Redis's 16 KiB reply blocks.
        let omem = self
            .outbox
            .as_ref()
            .map_or(0, |o| o.queued.load(std::sync::atomic::Ordering::Relaxed));
        let oll = omem.div_ceil(16 * 1024);
        let tot_mem = self.qbuf_cap + argv_mem + multi_mem + omem + std::mem::size_of::<Client>();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={argv_mem} multi-mem={multi_mem} rbs={} rbp={} obl=0 oll={oll} omem={omem} tot-mem={tot_mem} events={} cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.id + 7,
            s(&self.name),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_interaction_ms) / 1000,
            flags,
            self.db,
            self.subs.0,
            self.subs.1,
            self.subs.2,
            self.multi.as_ref().map(Vec::len).or(self.queued).map_or(-1, |n| n as i64),
            self.qbuf,
            self.qbuf_cap.saturating_sub(self.qbuf),
            self.qbuf_cap,
            self.qbuf_peak,
            if omem > 0 { "rw" } else { "r" },
            self.last_cmd,
            tracking.map_or(-1, |t| t.redirect as i64),
            self.proto,
            s(&self.lib_name),
            s(&self.lib_ver),
        )
    }
}

/// A registered client: its latest snapshot and the handle that closes it.
#[derive(Debug)]
pub struct Registered {
    pub snapshot: Client,
    pub kill: Arc<Notify>,
}

/// What `CLIENT PAUSE` holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Commands that may write (the WRITE and MAY_REPLICATE flags: writes, EVAL,
    /// PUBLISH...).
    Write,
    /// Every command.
    All,
}

/// An active `CLIENT PAUSE`: until when (Unix ms) and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub until_ms: u64,
    pub mode: PauseMode,
}

/// The client types `CLIENT LIST TYPE` and `CLIENT KILL TYPE` accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

impl ClientType {
    /// Parses a type name as Redis's `getClientTypeByName` (case-insensitive;
    /// `slave` is `replica`).
    pub fn parse(name: &[u8]) -> Option<ClientType> {
        let n = String::from_utf8_lossy(name).to_ascii_lowercase();
        match n.as_str() {
            "normal" => Some(ClientType::Normal),
            "slave" | "replica" => Some(ClientType::Replica),
            "master" => Some(ClientType::Master),
            "pubsub" => Some(ClientType::PubSub),
            _ => None,
        }
    }
}

/// Every connected client, by id (ordered, as CLIENT LIST lists by id).
#[derive(Debug)]
pub struct Registry {
    pub clients: BTreeMap<u64, Registered>,
    next_id: u64,
    pause: Option<Pause>,
    /// Bumped whenever the pause changes, so waiting connections re-check.
    pause_changed: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            clients: BTreeMap::new(),
            next_id: 0,
            pause: None,
            pause_changed: watch::channel(0).0,
        }
    }
}

impl Registry {
    /// Starts or extends a pause (`CLIENT PAUSE`). As in Redis, the later deadline and
    /// the stricter mode win when a pause is already running.
    pub fn pause(&mut self, pause: Pause, now_ms: u64) {
        let merged = match self.active_pause(now_ms) {
            Some(p) => Pause {
                until_ms: p.until_ms.max(pause.until_ms),
                mode: p.mode.max(pause.mode),
            },
            None => pause,
        };
        self.pause = Some(merged);
        self.pause_changed.send_modify(|v| *v += 1);
    }

    /// Ends any pause (`CLIENT UNPAUSE`).
    pub fn unpause(&mut self) {
        self.pause = None;
        self.pause_changed.send_modify(|v| *v += 1);
    }

    /// The pause in force at `now_ms`, if any.
    pub fn active_pause(&self, now_ms: u64) -> Option<Pause> {
        self.pause.filter(|p| p.until_ms > now_ms)
    }

    /// A receiver that changes on the next pause/unpause. Take it under the store
    /// lock, together with the deadline, so no change is missed after unlocking.
    pub fn pause_watch(&self) -> watch::Receiver<u64> {
        self.pause_changed.subscribe()
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn register(&mut self, client: &Client) -> Arc<Notify> {
        let kill = Arc::new(Notify::new());
        self.clients.insert(
            client.id,
            Registered {
                snapshot: client.clone(),
                kill: kill.clone(),
            },
        );
        kill
    }

    /// Refreshes a client's snapshot after a batch. Runs once per batch (once per
    /// command without pipelining), so it copies the fields CLIENT LIST shows and
    /// never the queued transaction or the addresses, which do not change.
    pub fn update(&mut self, c: &Client) {
        let Some(r) = self.clients.get_mut(&c.id) else {
            return;
        };
        let s = &mut r.snapshot;
        s.db = c.db;
        s.proto = c.proto;
        s.authenticated = c.authenticated;
        s.last_interaction_ms = c.last_interaction_ms;
        s.reply_mode = c.reply_mode;
        s.no_evict = c.no_evict;
        s.no_touch = c.no_touch;
        s.last_cmd = c.last_cmd;
        s.qbuf = c.qbuf;
        s.qbuf_cap = c.qbuf_cap;
        s.qbuf_peak = c.qbuf_peak;
        s.argv_mem = c.argv_mem;
        s.monitor = c.monitor;
        s.close_after_reply = c.close_after_reply;
        s.origin = c.origin;
        s.levels = c.levels;
        s.multi_error = c.multi_error;
        s.subs = c.subs;
        s.queued = c.multi.as_ref().map(Vec::len);
        s.queued_mem = c.multi_mem_now();
        s.tracking = c.tracking;
        s.caching = c.caching;
        for (dst, src) in [
            (&mut s.name, &c.name),
            (&mut s.lib_name, &c.lib_name),
            (&mut s.lib_ver, &c.lib_ver),
        ] {
            if dst != src {
                dst.clone_from(src);
            }
        }
    }

    pub fn unregister(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    /// Asks a client's connection to close. Returns false if no such client.
    pub fn kill(&mut self, id: u64) -> bool {
        match self.clients.get(&id) {
            Some(r) => {
                r.kill.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_merges_later_deadline_and_stricter_mode() {
        let mut r = Registry::default();
        let rx = r.pause_watch();
        r.pause(
            Pause {
                until_ms: 2000,
                mode: PauseMode::All,
            },
            1000,
        );
        assert!(rx.has_changed().unwrap_or(false));
        r.pause(
            Pause {
                until_ms: 1500,
                mode: PauseMode::Write,
            },
            1000,
        );
        assert_eq!(
            r.active_pause(1000),
            Some(Pause {
                until_ms: 2000,
                mode: PauseMode::All
            })
        );
        assert_eq!(r.active_pause(2000), None);
        // An expired pause does not constrain a new one.
        r.pause(
            Pause {
                until_ms: 3000,
                mode: PauseMode::Write,
            },
            2500,
        );
        assert_eq!(r.active_pause(2500).map(|p| p.mode), Some(PauseMode::Write));
        r.unpause();
        assert_eq!(r.active_pause(2500), None);
    }

    #[test]
    fn client_types() {
        assert_eq!(ClientType::parse(b"SLAVE"), Some(ClientType::Replica));
        assert_eq!(ClientType::parse(b"normal"), Some(ClientType::Normal));
        assert_eq!(ClientType::parse(b"foo"), None);
    }
}
