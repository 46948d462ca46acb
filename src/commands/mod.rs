//! Redis commands: the table, the one gate every command passes, and the handlers.
//!
//! Handlers are synchronous functions over `&mut Store` (see `store`'s module doc for
//! why one lock). They receive the whole argument vector (`args[0]` is the command
//! name, as in Redis) and return a [`Reply`] or a typed [`CmdError`]. When a command
//! needs the connection to do something after the store is released (sleep, close,
//! shut down), it leaves an [`Action`] in the context.

pub mod blocking;
pub mod dispatch;
pub mod error;
pub mod scripting;
pub mod table;

mod bitmap;
mod connection;
mod dynomite;
mod function;
mod geo;
mod hash;
mod hll;
mod keys;
mod list;
mod pubsub;
mod server;
mod set;
mod sort;
mod string;
mod tx;
mod zset;

use std::time::Duration;

use bytes::Bytes;

pub use blocking::{parse_timeout, Blocked};
pub use dispatch::dispatch;
pub use error::CmdError;
pub use table::{table, Command};

use crate::clients::Client;
use crate::num::parse_i64;
use crate::resp::Reply;
use crate::store::{AccessClock, Db, Object, Store};

/// Something the connection does after the command, outside the store lock.
#[derive(Debug)]
pub enum Action {
    /// Hold this command's reply, and the connection's later commands, for this long
    /// (DEBUG SLEEP, WAIT). The connection sleeps outside the store lock.
    Sleep(Duration),
    /// Stop the server (SHUTDOWN, SIGTERM).
    Shutdown,
    /// The command blocked on keys: await its reply (see `store::blocking`).
    Block(Blocked),
}

/// What a handler can reach.
pub struct Ctx<'a> {
    /// When the running command started; `call` sets it to the command's end, which
    /// is where the next command of the same context starts.
    pub started: std::time::Instant,
    pub store: &'a mut Store,
    pub client: &'a mut Client,
    /// Unix ms, read once per command like Redis's cached `mstime`.
    pub now_ms: u64,
    pub action: Option<Action>,
    /// Whether writes should record their effects for replication (a client command on
    /// a node that has peers).
    pub replicate: bool,
    /// The effects of the write commands run so far, in order: what replicas must apply
    /// to reach the same state. By default a write's effect is the command itself; a
    /// handler whose outcome is not deterministic pushes its own effect instead.
    pub effects: Vec<Vec<Bytes>>,
    /// The address of the argument list the coordinator runs (0 when none): if that
    /// command replicates as itself, `dispatch::call` sets `effect_is_own_args` instead
    /// of copying the arguments into `effects`, and the coordinator sends them from
    /// where they are, ahead of any effect recorded after them.
    pub own_args: usize,
    pub effect_is_own_args: bool,
    /// Whether a blocking command may block (false inside MULTI and scripts, where it
    /// answers as if it timed out at once).
    pub may_block: bool,
    /// Set while a blocked client's command is re-run on its behalf because this key
    /// became ready: the handler pops only from it (see [`Ctx::may_pop`]).
    pub serving: Option<Bytes>,
    /// Set by [`Ctx::block`] during such a re-run when the command found nothing.
    pub reblocked: bool,
    /// Set while EXEC runs its queued commands: blocked clients are served after
    /// EXEC as a whole, not between its commands.
    pub in_exec: bool,
    /// Set while a Lua script runs: the commands it calls are logged as the script
    /// client's (`lua` in MONITOR, `?:0` in SLOWLOG), as Redis's `CLIENT_SCRIPT`.
    pub in_script: bool,
    /// Set by DEBUG SLEEP: how long the connection will hold the reply, counted as
    /// the command's duration (see `dispatch::call`).
    pub slept_usec: u64,
    /// The keys the running write changed, when its handler knows better than its
    /// key specs (DEL of some missing keys, LMPOP popping from one of several
    /// keys, LMOVE signalling its destination first): see [`Ctx::modified`].
    pub modified: Option<Vec<Bytes>>,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a mut Store, client: &'a mut Client, now_ms: u64) -> Ctx<'a> {
        Ctx::with_clock(store, client, now_ms, std::time::Instant::now())
    }

    /// A context whose first command is timed from `started` (a batch of pipelined
    /// commands reads the clock once per command instead of twice).
    pub fn with_clock(
        store: &'a mut Store,
        client: &'a mut Client,
        now_ms: u64,
        started: std::time::Instant,
    ) -> Ctx<'a> {
        Ctx {
            store,
            client,
            now_ms,
            started,
            action: None,
            replicate: false,
            effects: Vec::new(),
            own_args: 0,
            effect_is_own_args: false,
            may_block: true,
            serving: None,
            reblocked: false,
            in_exec: false,
            in_script: false,
            slept_usec: 0,
            modified: None,
        }
    }

    /// Records that the running command changed `key`. Once a handler records one
    /// key, only the recorded keys are signalled to WATCH and client tracking
    /// (Redis's `signalModifiedKey` calls), in the order recorded.
    pub fn modified(&mut self, key: &Bytes) {
        self.modified.get_or_insert_with(Vec::new).push(key.clone());
    }

    /// Tells blocked clients waiting on `key` (in the selected database) that it may
    /// now have something for them. Call it from every command that adds elements.
    pub fn signal_ready(&mut self, key: &[u8]) {
        let db = self.client.db;
        self.store.blocking.signal(db, key);
    }

    /// Whether a blocking handler may pop from `key` now: always, except while
    /// serving a waiter because another of its keys became ready.
    pub fn may_pop(&self, key: &[u8]) -> bool {
        self.serving.as_ref().is_none_or(|k| k == key)
    }

    /// Blocks the client on `keys` (which hold values of TYPE `kind` when they
    /// exist) until one of them can serve `args` again or `timeout` (`None` =
    /// forever) passes. Returns the reply for the handler to return: nothing now
    /// (the connection awaits the real one), or the timeout reply where blocking is
    /// not allowed.
    pub fn block(
        &mut self,
        args: &[Bytes],
        keys: &[Bytes],
        kind: &'static str,
        timeout: Option<Duration>,
    ) -> Reply {
        if self.serving.is_some() {
            self.reblocked = true;
            return Reply::None;
        }
        if !self.may_block {
            return Reply::NilArray;
        }
        let mut uniq: Vec<Bytes> = Vec::with_capacity(keys.len());
        for k in keys {
            if !uniq.contains(k) {
                uniq.push(k.clone());
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.store.blocking.add(crate::store::blocking::Waiter {
            client: self.client.clone(),
            args: args.to_vec(),
            keys: uniq,
            kind,
            has_timeout: timeout.is_some(),
            tx,
            initial_usec: 0,
        });
        self.action = Some(Action::Block(Blocked {
            rx,
            timeout,
            silent: false,
        }));
        Reply::None
    }

    /// Raises keyspace event `event` (of `class`, a `store::notify` constant) on `key`
    /// in the selected database, as Redis's `notifyKeyspaceEvent`. With notifications
    /// off (the default) this is one test.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.store.params.notify_flags & class != 0 {
            self.notify_in(self.client.db, class, event, key);
        }
    }

    /// [`Ctx::notify`] in database `db` (MOVE and COPY name their destination).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.store.params.notify_flags & class == 0 {
            return;
        }
        // Keys created or expired by this command so far come first.
        self.store.flush_logged_events(self.now_ms, self.client.id);
        let key = Bytes::copy_from_slice(key);
        self.store
            .notify_keyspace_event(class, event, &key, db, self.now_ms);
    }

    /// Records `effect` as what replicas must apply for the running command, instead
    /// of the command itself.
    pub fn propagate(&mut self, effect: Vec<Bytes>) {
        if self.replicate {
            self.effects.push(effect);
        }
    }

    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.client.db]
    }

    /// The access clock value to stamp on objects this command creates (an LRU time,
    /// or an LFU time and initial counter under an LFU maxmemory policy).
    pub fn lru(&self) -> u32 {
        self.clock().new_object()
    }

    /// How object access clocks are read and updated under the current maxmemory policy.
    pub fn clock(&self) -> AccessClock {
        let p = &self.store.params;
        if p.lfu_policy {
            AccessClock::Lfu {
                now_ms: self.now_ms,
                log_factor: p.lfu_log_factor,
                decay_minutes: p.lfu_decay_time,
            }
        } else {
            AccessClock::Lru {
                now_ms: self.now_ms,
            }
        }
    }

    /// Looks `key` up in the selected database the way Redis's `lookupKey` does: an
    /// expired key is deleted first, then, as `how` says, the hit or miss is counted
    /// for INFO and the object's access clock is updated.
    pub fn lookup(&mut self, key: &[u8], how: Lookup) -> Option<&mut Object> {
        self.lookup_in(self.client.db, key, how)
    }

    /// [`Ctx::lookup`] in database `db` (COPY and MOVE look at their destination).
    pub fn lookup_in(&mut self, db: usize, key: &[u8], how: Lookup) -> Option<&mut Object> {
        let now = self.now_ms;
        let touch = match how.touch {
            Touch::Never => None,
            Touch::UnlessNoTouch if self.client.no_touch => None,
            Touch::UnlessNoTouch | Touch::Always => Some(self.clock()),
        };
        let store = &mut *self.store;
        let obj = store.dbs[db].get_mut(key, now);
        if how.stats {
            if obj.is_some() {
                store.stats.keyspace_hits += 1;
            } else {
                store.stats.keyspace_misses += 1;
            }
        }
        let obj = obj?;
        if let Some(clock) = touch {
            // Only the LFU counter's increment is random: no draw for an LRU clock.
            let draw = match clock {
                AccessClock::Lfu { .. } => rand::random(),
                AccessClock::Lru { .. } => 0.0,
            };
            obj.lru = clock.touch(obj.lru, draw);
        }
        Some(obj)
    }

    /// Counts a keyspace hit or miss for INFO, as Redis's `lookupKeyRead`.
    pub fn count_lookup(&mut self, hit: bool) {
        if hit {
            self.store.stats.keyspace_hits += 1;
        } else {
            self.store.stats.keyspace_misses += 1;
        }
    }
}

/// Whether a lookup updates the object's access clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    Never,
    /// Unless the client turned it off with CLIENT NO-TOUCH.
    UnlessNoTouch,
    /// Even for NO-TOUCH clients (the TOUCH command itself).
    Always,
}

/// How [`Ctx::lookup`] treats a key, Redis's `LOOKUP_*` flags as named presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// Count the hit or miss in `keyspace_hits`/`keyspace_misses`.
    pub stats: bool,
    pub touch: Touch,
}

impl Lookup {
    /// `lookupKeyRead`: GET and most reads.
    pub const READ: Lookup = Lookup {
        stats: true,
        touch: Touch::UnlessNoTouch,
    };
    /// `LOOKUP_NOTOUCH`: reads about the key rather than its value (TYPE, TTL, EXISTS,
    /// OBJECT) count statistics but leave the access clock alone.
    pub const READ_NO_TOUCH: Lookup = Lookup {
        stats: true,
        touch: Touch::Never,
    };
    /// `lookupKeyWrite`: no statistics, but the access clock moves.
    pub const WRITE: Lookup = Lookup {
        stats: false,
        touch: Touch::UnlessNoTouch,
    };
    /// The TOUCH command.
    pub const TOUCH: Lookup = Lookup {
        stats: true,
        touch: Touch::Always,
    };
}

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn arg_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn arg_f64(arg: &[u8]) -> Result<f64, CmdError> {
    crate::num::parse_f64(arg).ok_or(CmdError::NotFloat)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is_kw(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// The argument as lossy UTF-8 (for error texts).
pub fn lossy(arg: &Bytes) -> String {
    String::from_utf8_lossy(arg).into_owned()
}
