//! WATCH: which clients watch which keys, and which of them saw a watched key change
//! (their next EXEC aborts with a null array).
//!
//! The client keeps the list of its watched keys (`Client::watched`, to clean up);
//! this registry keeps the reverse map, per database and key, and the set of clients
//! whose transaction is "dirty" (Redis's `CLIENT_DIRTY_CAS`). Commands touch keys
//! through [`Watches::touch`]: the dispatcher does it for the key arguments of every
//! write that changed the keyspace, and FLUSHDB/FLUSHALL/SWAPDB/MOVE/COPY and served
//! blocked pops do it for what the dispatcher cannot see.
//!
//! Expiry needs no hook: a watched key that had a TTL records its deadline, and EXEC
//! aborts when that deadline has passed (Redis 7.0's `isWatchedKeyExpired`), whether
//! or not the key has been deleted since. Anything that changes the deadline is a
//! write to the key and touches it anyway.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::blocking::DbKey;
use super::Db;

/// One client watching one key.
#[derive(Debug, Clone, Copy)]
struct Watcher {
    client: u64,
    /// The key was already expired (but not yet deleted) when WATCH ran: deleting it
    /// is no logical change.
    expired: bool,
    /// The key's expiry time when WATCH ran.
    deadline: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Watches {
    keys: HashMap<DbKey, Vec<Watcher>>,
    dirty: HashSet<u64>,
}

impl Watches {
    /// Whether nobody watches anything (the dispatcher's fast path).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds `client` as a watcher of `key` in `db` (once). Returns false if it already
    /// watched it.
    pub fn watch(
        &mut self,
        client: u64,
        db_index: usize,
        db: &Db,
        key: &Bytes,
        now_ms: u64,
    ) -> bool {
        let list = self.keys.entry((db_index, key.clone())).or_default();
        if list.iter().any(|w| w.client == client) {
            return false;
        }
        let deadline = db.expire_at(key);
        list.push(Watcher {
            client,
            expired: deadline.is_some_and(|t| t <= now_ms),
            deadline,
        });
        true
    }

    /// Removes `client` from the watchers of `keys` and clears its dirty flag.
    pub fn unwatch_all(&mut self, client: u64, keys: &[DbKey]) {
        for dk in keys {
            if let Some(list) = self.keys.get_mut(dk) {
                list.retain(|w| w.client != client);
                if list.is_empty() {
                    self.keys.remove(dk);
                }
            }
        }
        self.dirty.remove(&client);
    }

    /// Whether a write already doomed `client`'s transaction (CLIENT LIST flag `d`).
    pub fn is_marked(&self, client: u64) -> bool {
        self.dirty.contains(&client)
    }

    /// Whether a watched key of `client` changed, or expired since WATCH.
    pub fn is_dirty(&self, client: u64, keys: &[DbKey], now_ms: u64) -> bool {
        if self.dirty.contains(&client) {
            return true;
        }
        keys.iter().any(|dk| {
            self.keys.get(dk).is_some_and(|list| {
                list.iter().any(|w| {
                    w.client == client && !w.expired && w.deadline.is_some_and(|t| t <= now_ms)
                })
            })
        })
    }

    /// Marks the watchers of `key` in `db` dirty after a write. `exists` says whether
    /// the key is in the database now: a key that was already expired at WATCH time
    /// and is now gone did not logically change.
    pub fn touch(&mut self, db: usize, key: &[u8], exists: bool) {
        if self.keys.is_empty() {
            return;
        }
        let dk = (db, Bytes::copy_from_slice(key));
        let Some(list) = self.keys.get_mut(&dk) else {
            return;
        };
        for w in list.iter_mut() {
            if w.expired && !exists {
                w.expired = false;
                continue;
            }
            self.dirty.insert(w.client);
        }
    }

    /// Before database `emptied` is flushed, or swapped with `replaced_with` (SWAPDB):
    /// marks the watchers of every key that exists in either (Redis's
    /// `touchAllWatchedKeysInDb`).
    pub fn touch_all_in_db(
        &mut self,
        dbs: &[Db],
        emptied: usize,
        replaced_with: Option<usize>,
        now_ms: u64,
    ) {
        if self.keys.is_empty() {
            return;
        }
        for ((db, key), list) in self.keys.iter_mut() {
            if *db != emptied {
                continue;
            }
            let in_emptied = dbs[emptied].data.contains_key(key);
            let in_new = replaced_with.is_some_and(|r| dbs[r].data.contains_key(key));
            if !in_emptied && !in_new {
                continue;
            }
            let new_expired = replaced_with.is_some_and(|r| dbs[r].is_expired(key, now_ms));
            for w in list.iter_mut() {
                if w.expired {
                    if !in_new {
                        w.expired = false;
                        continue;
                    } else if new_expired {
                        continue;
                    }
                } else if !in_emptied && new_expired {
                    w.expired = true;
                    continue;
                }
                self.dirty.insert(w.client);
            }
        }
    }
}
