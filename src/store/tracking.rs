//! Client-side caching (`CLIENT TRACKING`): which clients cache which keys, and the
//! invalidation messages a write sends them.
//!
//! As in Redis's `tracking.c`, the default mode remembers, per key name (not per
//! database), the clients that read it; the first write to the key sends each of them
//! one invalidation and forgets them. BCAST mode instead subscribes a client to key
//! prefixes: every write to a matching key is collected and sent, one message per
//! prefix, after the running command. Writes learn about keys through the same
//! signal WATCH uses (`Store::key_modified`); FLUSHDB/FLUSHALL send a null key list.
//!
//! Messages travel on the receiving client's pub/sub queue (`pubsub::Outbox`): a RESP3
//! `invalidate` push, or, for a RESP2 client redirecting to a subscribed connection, a
//! `message` on `__redis__:invalidate`. A message for the client whose command caused
//! it is held back until that command's reply is written (`Store::send_deferred`), as
//! Redis 7.0 does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::{Bytes, BytesMut};

use super::Store;
use crate::resp::{encode, Reply};

/// One client's `CLIENT TRACKING ON` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Client id invalidations go to instead (0 = this client).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// BCAST prefixes, sorted (`""` when BCAST was given none).
    pub prefixes: BTreeSet<Bytes>,
    /// The redirect target disconnected (`broken_redirect`, CLIENT LIST flag `R`).
    pub broken_redirect: bool,
}

/// What the invalidation carries: some keys, or "everything" (a flush).
#[derive(Debug, Clone)]
enum Keys {
    Some(Vec<Bytes>),
    All,
}

/// Every tracking client and what it caches.
#[derive(Debug, Default)]
pub struct Tracking {
    clients: HashMap<u64, Options>,
    /// Default mode: key name → ids of the clients that read it.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// BCAST: prefix → subscribed client ids.
    prefixes: BTreeMap<Bytes, BTreeSet<u64>>,
    /// BCAST: per prefix, the keys written since the last broadcast (sorted, as
    /// Redis's radix tree), each with the id of the client that wrote it last.
    pending_bcast: BTreeMap<Bytes, BTreeMap<Bytes, u64>>,
    /// Invalidations for the client running the current command, sent after its
    /// reply: (tracking client id, keys).
    deferred: Vec<(u64, Keys)>,
}

impl Tracking {
    /// Whether no client has tracking on (the write path's fast test).
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn options(&self, id: u64) -> Option<&Options> {
        self.clients.get(&id)
    }

    /// Turns tracking on for `id` with options already validated by the command.
    /// Turning it on again keeps the BCAST prefixes it had and adds the new ones.
    pub fn enable(&mut self, id: u64, mut opts: Options) {
        if opts.bcast {
            if opts.prefixes.is_empty() {
                opts.prefixes.insert(Bytes::new());
            }
            if let Some(old) = self.clients.get(&id) {
                opts.prefixes.extend(old.prefixes.iter().cloned());
            }
            for p in &opts.prefixes {
                self.prefixes.entry(p.clone()).or_default().insert(id);
            }
        }
        self.clients.insert(id, opts);
    }

    /// Turns tracking off for `id` (CLIENT TRACKING OFF, RESET, disconnect). Keys it
    /// read stay in the table, as in Redis, and are skipped when invalidated.
    pub fn disable(&mut self, id: u64) {
        let Some(opts) = self.clients.remove(&id) else {
            return;
        };
        for p in &opts.prefixes {
            if let Some(ids) = self.prefixes.get_mut(p) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.prefixes.remove(p);
                    self.pending_bcast.remove(p);
                }
            }
        }
    }

    /// Remembers that `id` read `keys` (Redis's `trackingRememberKeys`), unless its
    /// OPTIN/OPTOUT mode and `caching` (the CLIENT CACHING answer in force) say not.
    pub fn remember(&mut self, id: u64, caching: bool, keys: impl Iterator<Item = Bytes>) {
        let Some(o) = self.clients.get(&id) else {
            return;
        };
        if o.bcast || (o.optin && !caching) || (o.optout && caching) {
            return;
        }
        for k in keys {
            self.keys.entry(k).or_default().insert(id);
        }
    }
}

impl Store {
    /// Redis's `signalModifiedKey`: a write changed `key` in `db` (or deleted it).
    /// Marks its watchers and invalidates it for tracking clients. `by` is the client
    /// whose command changed it (0 for none, e.g. active expiry).
    pub fn key_modified(&mut self, db: usize, key: &[u8], by: u64) {
        if !self.watch.is_empty() {
            let exists = self.dbs[db].data.contains_key(key);
            self.watch.touch(db, key, exists);
        }
        if !self.tracking.is_empty() {
            self.invalidate_key(key, by);
        }
    }

    fn invalidate_key(&mut self, key: &[u8], by: u64) {
        let t = &mut self.tracking;
        for (prefix, _) in t.prefixes.iter() {
            if key.starts_with(prefix) {
                t.pending_bcast
                    .entry(prefix.clone())
                    .or_default()
                    .insert(Bytes::copy_from_slice(key), by);
            }
        }
        let Some(ids) = t.keys.remove(key) else {
            return;
        };
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        let key = Bytes::copy_from_slice(key);
        for id in ids {
            let Some(o) = self.tracking.clients.get(&id) else {
                continue;
            };
            if o.bcast || (o.noloop && id == by) {
                continue;
            }
            if id == by {
                self.tracking
                    .deferred
                    .push((id, Keys::Some(vec![key.clone()])));
            } else {
                self.send_invalidation(id, &Keys::Some(vec![key.clone()]));
            }
        }
    }

    /// FLUSHDB/FLUSHALL: every tracking client learns that everything is invalid
    /// (a null key list), and the table is emptied (Redis's
    /// `trackingInvalidateKeysOnFlush`).
    pub fn invalidate_all(&mut self, by: u64) {
        let ids: Vec<u64> = self.tracking.clients.keys().copied().collect();
        for id in ids {
            if id == by {
                self.tracking.deferred.push((id, Keys::All));
            } else {
                self.send_invalidation(id, &Keys::All);
            }
        }
        self.tracking.keys.clear();
    }

    /// After a command's reply: the invalidations held back for its client, then the
    /// BCAST messages collected while it ran (Redis's `afterCommand` and
    /// `trackingBroadcastInvalidationMessages`).
    pub fn send_deferred(&mut self) {
        if self.tracking.is_empty() {
            return;
        }
        for (id, keys) in std::mem::take(&mut self.tracking.deferred) {
            self.send_invalidation(id, &keys);
        }
        if self.tracking.pending_bcast.is_empty() {
            return;
        }
        for (prefix, keys) in std::mem::take(&mut self.tracking.pending_bcast) {
            let ids: Vec<u64> = self
                .tracking
                .prefixes
                .get(&prefix)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for id in ids {
                let noloop = self.tracking.clients.get(&id).is_some_and(|o| o.noloop);
                let list: Vec<Bytes> = keys
                    .iter()
                    .filter(|(_, &by)| !(noloop && by == id))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !list.is_empty() {
                    self.send_invalidation(id, &Keys::Some(list));
                }
            }
        }
    }

    /// Sends one invalidation for tracking client `id` (Redis's
    /// `sendTrackingMessage`), to it or to its redirect target.
    fn send_invalidation(&mut self, id: u64, keys: &Keys) {
        let Some(opts) = self.tracking.clients.get(&id) else {
            return;
        };
        let Some(me) = self.clients.clients.get(&id).map(|r| &r.snapshot) else {
            return;
        };
        let own_proto = me.proto;
        let redirect = opts.redirect;
        let target = if redirect != 0 {
            match self.clients.clients.get(&redirect) {
                Some(r) => &r.snapshot,
                None => {
                    if let Some(o) = self.tracking.clients.get_mut(&id) {
                        o.broken_redirect = true;
                    }
                    let note = Reply::Push(vec![
                        Reply::bulk("tracking-redir-broken"),
                        Reply::Int(redirect as i64),
                    ]);
                    if own_proto == 3 {
                        self.push_to(id, &note, 3);
                    }
                    return;
                }
            }
        } else {
            me
        };
        let target_id = target.id;
        let target_proto = target.proto;
        let keys_reply = match keys {
            Keys::Some(list) => Reply::bulks(list.clone()),
            Keys::All => Reply::Nil,
        };
        let msg = if target_proto == 3 {
            Reply::Push(vec![Reply::bulk("invalidate"), keys_reply])
        } else if redirect != 0 && target.in_pubsub() {
            Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk("__redis__:invalidate"),
                keys_reply,
            ])
        } else {
            return;
        };
        self.push_to(target_id, &msg, target_proto);
    }

    /// Queues `msg` on client `id`'s push queue, counted like a published message.
    fn push_to(&mut self, id: u64, msg: &Reply, proto: u8) {
        let Some(outbox) = self
            .clients
            .clients
            .get(&id)
            .and_then(|r| r.snapshot.outbox.as_ref())
        else {
            return;
        };
        let mut out = BytesMut::new();
        encode(msg, proto, &mut out);
        let len = out.len();
        if outbox.tx.send(out.freeze()).is_ok() {
            outbox
                .queued
                .fetch_add(len, std::sync::atomic::Ordering::AcqRel);
        }
    }
}
