//! Connected clients: the per-connection state commands read and change, and the
//! registry behind CLIENT LIST / CLIENT KILL / INFO clients.
//!
//! A connection task owns its [`Client`]. The [`Registry`] (inside the store lock)
//! keeps a snapshot of each client that the connection refreshes after every batch,
//! plus a handle to ask the connection to close.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

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
    /// Set when the connection must close after writing pending replies.
    pub close_after_reply: bool,
    pub origin: Origin,
    /// `DYNO_CONFIG:CONN_CONSISTENCY` for this connection: (read, write) levels that
    /// override the node's.
    pub levels: Option<(crate::cluster::quorum::Level, crate::cluster::quorum::Level)>,
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
            close_after_reply: false,
            origin: Origin::Client,
            levels: None,
        }
    }

    /// One line of CLIENT LIST / CLIENT INFO, with Redis 7.0's fields in its order.
    pub fn info_line(&self, now_ms: u64) -> String {
        let s = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let mut flags = String::new();
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            s(&self.name),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_interaction_ms) / 1000,
            flags,
            self.db,
            self.qbuf,
            self.last_cmd,
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

/// Every connected client, by id (ordered, as CLIENT LIST lists by id).
#[derive(Debug, Default)]
pub struct Registry {
    pub clients: BTreeMap<u64, Registered>,
    next_id: u64,
}

impl Registry {
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

    pub fn update(&mut self, client: &Client) {
        if let Some(r) = self.clients.get_mut(&client.id) {
            r.snapshot.clone_from(client);
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
