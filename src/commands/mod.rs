//! Redis commands: the table, the one gate every command passes, and the handlers.
//!
//! Handlers are synchronous functions over `&mut Store` (see `store`'s module doc for
//! why one lock). They receive the whole argument vector (`args[0]` is the command
//! name, as in Redis) and return a [`Reply`] or a typed [`CmdError`]. When a command
//! needs the connection to do something after the store is released (sleep, close,
//! shut down), it leaves an [`Action`] in the context.

pub mod dispatch;
pub mod error;
pub mod table;

mod connection;
mod keys;
mod server;
mod string;

use std::time::Duration;

use bytes::Bytes;

pub use dispatch::dispatch;
pub use error::CmdError;
pub use table::{table, Command};

use crate::clients::Client;
use crate::num::parse_i64;
use crate::store::{Db, Store};

/// Something the connection does after the command, outside the store lock.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Hold this command's reply, and the connection's later commands, for this long
    /// (DEBUG SLEEP, WAIT). The connection sleeps outside the store lock.
    Sleep(Duration),
    /// Stop the server (SHUTDOWN, SIGTERM).
    Shutdown,
}

/// What a handler can reach.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub client: &'a mut Client,
    /// Unix ms, read once per command like Redis's cached `mstime`.
    pub now_ms: u64,
    pub action: Option<Action>,
}

impl Ctx<'_> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.store.dbs[self.client.db]
    }

    /// The LRU clock value to stamp on objects this command writes.
    pub fn lru(&self) -> u32 {
        crate::store::lru_clock(self.now_ms)
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
