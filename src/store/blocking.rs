//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN...), Redis's `blocked.c` model
//! under our one store lock.
//!
//! # How blocking works
//!
//! 1. A blocking handler first tries its non-blocking operation. When every key is
//!    empty it calls `Ctx::block` (in `commands`), which registers a [`Waiter`] here
//!    **while still holding the store lock** (so no push can slip in between) and
//!    leaves `Action::Block` for the connection, which then awaits its reply outside
//!    the lock.
//! 2. Every command that may make a waiter runnable (a push to a list, ZADD...) calls
//!    `Ctx::signal_ready(key)`, which queues the key in [`Blocking::ready`] when
//!    someone waits on it (Redis's `signalKeyAsReady`).
//! 3. After each command, the dispatcher (`commands::blocking::serve_ready`) serves
//!    the ready keys: for each waiter of a key, oldest first, it re-runs the waiter's
//!    command on its behalf with `Ctx::serving` set to that key, so the handler pops
//!    only from it. If that produced a reply, the waiter is removed from every queue
//!    and gets the reply through its channel; the pop's replication effect is added
//!    after the triggering command's. Serving a key stops when a re-run finds nothing.
//! 4. The connection removes its own waiter when the deadline passes (and replies with
//!    the timeout reply), on CLIENT KILL, on disconnect and at shutdown. CLIENT
//!    UNBLOCK hands the waiter its timeout reply or an `UNBLOCKED` error.
//!
//! A key that is deleted or changes type leaves its waiters blocked, as in Redis 7.0:
//! a waiter is only re-run when the ready key holds the type it waits for
//! ([`Waiter::kind`]).
//!
//! # API for a new blocking type (sorted sets)
//!
//! * In the blocking handler: parse the timeout with `commands::parse_timeout`, try
//!   only the keys for which `ctx.may_pop(key)` is true, and when nothing was popped
//!   return `Ok(ctx.block(args, keys, "zset", timeout))`. Propagate the effect of a
//!   pop with `ctx.propagate` (BZPOPMIN replicates as ZPOPMIN), on both paths.
//! * In every command that adds elements to a key of that type: `ctx.signal_ready(key)`.
//!
//! This module holds only data: no sockets, no awaiting. The reply channel is a tokio
//! `oneshot`, whose sending side never blocks.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::clients::Client;
use crate::resp::Reply;

/// A database index and a key: what waiters wait on.
pub type DbKey = (usize, Bytes);

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    /// A snapshot of the client when it blocked (id, db, protocol...): the command is
    /// re-run as this client.
    pub client: Client,
    /// The command, as the client sent it.
    pub args: Vec<Bytes>,
    /// The keys it waits on, without duplicates, in argument order.
    pub keys: Vec<Bytes>,
    /// The `TYPE` name of the value it can pop from (`list`, `zset`).
    pub kind: &'static str,
    /// Whether it has a timeout (INFO's `clients_in_timeout_table`).
    pub has_timeout: bool,
    /// Where its reply goes.
    pub tx: oneshot::Sender<Reply>,
    /// How long its first run took (µs): SLOWLOG adds it to the time to serve it.
    pub initial_usec: u64,
}

/// The registry of waiters, per key and per client.
#[derive(Debug, Default)]
pub struct Blocking {
    /// Waiting client ids per key, oldest first.
    queues: HashMap<DbKey, VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    /// Keys signalled since the last serve, in signalling order.
    ready: VecDeque<DbKey>,
    ready_set: HashSet<DbKey>,
}

impl Blocking {
    /// Registers a waiter on each of its keys, in its client's database.
    pub fn add(&mut self, w: Waiter) {
        let id = w.client.id;
        for k in &w.keys {
            self.queues
                .entry((w.client.db, k.clone()))
                .or_default()
                .push_back(id);
        }
        self.waiters.insert(id, w);
    }

    /// Removes a client's waiter from every queue and returns it (`None` if the
    /// client is not blocked, e.g. it was just served).
    pub fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.keys {
            let dk = (w.client.db, k.clone());
            if let Some(q) = self.queues.get_mut(&dk) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    self.queues.remove(&dk);
                }
            }
        }
        Some(w)
    }

    pub fn get(&self, id: u64) -> Option<&Waiter> {
        self.waiters.get(&id)
    }

    /// Whether anyone waits on `key` in `db`.
    pub fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        !self.queues.is_empty() && self.queues.contains_key(&(db, Bytes::copy_from_slice(key)))
    }

    /// The waiters on a key, oldest first.
    pub fn waiters_on(&self, dk: &DbKey) -> Vec<u64> {
        self.queues
            .get(dk)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Marks `key` ready if someone waits on it and it is not already marked.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        if !self.has_waiters(db, key) {
            return;
        }
        let dk = (db, Bytes::copy_from_slice(key));
        if self.ready_set.insert(dk.clone()) {
            self.ready.push_back(dk);
        }
    }

    /// Takes the next ready key.
    pub fn next_ready(&mut self) -> Option<DbKey> {
        let dk = self.ready.pop_front()?;
        self.ready_set.remove(&dk);
        Some(dk)
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Removes a client's waiter and sends it `reply`. Returns false if it was not
    /// blocked (CLIENT UNBLOCK's 0).
    pub fn unblock(&mut self, id: u64, reply: impl FnOnce(&Waiter) -> Reply) -> bool {
        match self.remove(id) {
            Some(w) => {
                let r = reply(&w);
                let _ = w.tx.send(r);
                true
            }
            None => false,
        }
    }

    /// Records how long client `id`'s blocking command took before it blocked.
    pub fn set_initial_usec(&mut self, id: u64, usec: u64) {
        if let Some(w) = self.waiters.get_mut(&id) {
            w.initial_usec = usec;
        }
    }

    /// Blocked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Blocked clients with a timeout (INFO `clients_in_timeout_table`).
    pub fn with_timeout(&self) -> usize {
        self.waiters.values().filter(|w| w.has_timeout).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(id: u64, keys: &[&'static str]) -> (Waiter, oneshot::Receiver<Reply>) {
        let (tx, rx) = oneshot::channel();
        let client = Client::new(id, String::new(), String::new(), 0, true);
        let w = Waiter {
            client,
            args: Vec::new(),
            keys: keys
                .iter()
                .map(|k| Bytes::from_static(k.as_bytes()))
                .collect(),
            kind: "list",
            has_timeout: false,
            tx,
            initial_usec: 0,
        };
        (w, rx)
    }

    #[test]
    fn queues_are_fifo_and_removal_cleans_every_key() {
        let mut b = Blocking::default();
        let (w1, _r1) = waiter(1, &["a", "b"]);
        let (w2, _r2) = waiter(2, &["a"]);
        b.add(w1);
        b.add(w2);
        let a = (0, Bytes::from_static(b"a"));
        assert_eq!(b.waiters_on(&a), [1, 2]);
        assert!(b.remove(1).is_some());
        assert_eq!(b.waiters_on(&a), [2]);
        assert!(!b.has_waiters(0, b"b"));
        assert!(!b.has_waiters(1, b"a"));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn signal_only_keys_with_waiters_once() {
        let mut b = Blocking::default();
        let (w, mut rx) = waiter(7, &["k"]);
        b.add(w);
        b.signal(0, b"other");
        b.signal(0, b"k");
        b.signal(0, b"k");
        assert_eq!(b.next_ready(), Some((0, Bytes::from_static(b"k"))));
        assert_eq!(b.next_ready(), None);
        assert!(b.unblock(7, |_| Reply::NilArray));
        assert!(!b.unblock(7, |_| Reply::NilArray));
        assert_eq!(rx.try_recv().ok(), Some(Reply::NilArray));
    }
}
