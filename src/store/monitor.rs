//! MONITOR: the clients that receive a line for every command the server runs.
//!
//! The line is Redis's `replicationFeedMonitors` format, built once per command and
//! sent on each monitor's push queue (the same `pubsub::Outbox` its connection
//! drains for published messages): `+<sec>.<usec> [<db> <source>] "arg" ...`, each
//! argument quoted and escaped as Redis's `sdscatrepr`. A monitor that stops reading
//! is held to the `normal` class of `client-output-buffer-limit`, as in Redis (a
//! MONITOR client is a normal client there): past it, it is dropped and its
//! connection is asked to close.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

use super::pubsub::{exceeds, Limit, Outbox};

/// Where a monitored command came from, as the line names it.
pub enum Source<'a> {
    /// A client connection: its `ip:port`.
    Client(&'a str),
    /// A command a Lua script ran (`redis.call`).
    Lua,
    /// A write replicated from a peer node: `peer:<ip:port>` of its link.
    Peer(&'a str),
}

#[derive(Debug)]
struct Monitor {
    id: u64,
    outbox: Outbox,
    kill: Arc<Notify>,
    soft_since: Option<u64>,
}

/// The monitoring clients, in the order they ran MONITOR.
#[derive(Debug, Default)]
pub struct Monitors {
    list: Vec<Monitor>,
    /// Monitors dropped for exceeding their output buffer limit.
    pub disconnected: u64,
}

impl Monitors {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.list.iter().any(|m| m.id == id)
    }

    pub fn add(&mut self, id: u64, outbox: Outbox, kill: Arc<Notify>) {
        if !self.contains(id) {
            self.list.push(Monitor {
                id,
                outbox,
                kill,
                soft_since: None,
            });
        }
    }

    /// Stops feeding client `id` (RESET, disconnect).
    pub fn remove(&mut self, id: u64) {
        self.list.retain(|m| m.id != id);
    }

    /// Sends `line` to every monitor, dropping those past `limit`.
    pub fn feed(&mut self, line: Bytes, limit: Limit, now_ms: u64) {
        let mut over = Vec::new();
        for m in &mut self.list {
            if m.outbox.tx.send(line.clone()).is_err() {
                continue;
            }
            let queued = m.outbox.queued.fetch_add(line.len(), Ordering::AcqRel) + line.len();
            if exceeds(&mut m.soft_since, queued as u64, limit, now_ms) {
                over.push(m.id);
            }
        }
        for id in over {
            if let Some(m) = self.list.iter().find(|m| m.id == id) {
                m.kill.notify_one();
                tracing::warn!(
                    id,
                    "client scheduled to be closed ASAP for overcoming of output buffer limits"
                );
                self.disconnected += 1;
            }
            self.remove(id);
        }
    }
}

/// One MONITOR line for `args` run in database `db`, at Unix time `now_us`.
pub fn line(now_us: u64, db: usize, source: Source, args: &[Bytes]) -> Bytes {
    let mut out = format!("+{}.{:06} [{db} ", now_us / 1_000_000, now_us % 1_000_000).into_bytes();
    match source {
        Source::Client(addr) => out.extend_from_slice(addr.as_bytes()),
        Source::Lua => out.extend_from_slice(b"lua"),
        Source::Peer(addr) => {
            out.extend_from_slice(b"peer:");
            out.extend_from_slice(addr.as_bytes());
        }
    }
    out.extend_from_slice(b"]");
    for a in args {
        out.push(b' ');
        repr(&mut out, a);
    }
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

/// Appends `s` quoted and escaped as Redis's `sdscatrepr`.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_escapes_like_redis() {
        let args = [
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"a"),
            Bytes::from_static(b"\x01\"b\\ c\n \r\t\x07\x08\xff"),
        ];
        let l = line(
            1_796_186_353_013_057,
            0,
            Source::Client("127.0.0.1:38768"),
            &args,
        );
        assert_eq!(
            &l[..],
            &b"+1796186353.013057 [0 127.0.0.1:38768] \"SET\" \"a\" \"\\x01\\\"b\\\\ c\\n \\r\\t\\a\\b\\xff\"\r\n"[..]
        );
        let l = line(5, 3, Source::Lua, &[Bytes::from_static(b"get")]);
        assert_eq!(&l[..], b"+0.000005 [3 lua] \"get\"\r\n");
    }

    #[test]
    fn a_monitor_that_does_not_read_is_dropped() {
        let mut m = Monitors::default();
        let (outbox, _rx) = Outbox::new();
        let kill = Arc::new(Notify::new());
        m.add(7, outbox, kill);
        let limit = Limit {
            hard: 100,
            soft: 0,
            soft_secs: 0,
        };
        m.feed(Bytes::from(vec![b'x'; 60]), limit, 0);
        assert!(m.contains(7));
        m.feed(Bytes::from(vec![b'x'; 60]), limit, 0);
        assert!(!m.contains(7));
        assert_eq!(m.disconnected, 1);
    }
}
