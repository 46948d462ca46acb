//! Integration tests of blocking list commands against the real binary: FIFO
//! serving, timeouts, wake-ups from other connections, BLMOVE chains, CLIENT KILL,
//! CLIENT UNBLOCK, disconnects, and INFO's `blocked_clients`.
//!
//! The server is the shared `tests/common` one; the raw connection below returns
//! replies as text, which keeps the expected frames readable.
//! Nothing sleeps to synchronise: each test polls INFO until its clients are blocked.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::poll_until;

/// The shared test server, with the raw connection this file's tests speak.
struct Server(common::Server);

impl Server {
    fn start() -> Server {
        Server(common::Server::start(&[]))
    }

    fn conn(&self) -> Conn {
        Conn::connect(self.0.port())
    }

    /// Waits until INFO reports `n` blocked clients.
    fn wait_blocked(&self, n: usize) {
        let mut c = self.conn();
        let mut last = usize::MAX;
        let ok = poll_until(Duration::from_secs(5), || {
            last = c.blocked_clients();
            last == n
        });
        assert!(ok, "blocked_clients is {last}, expected {n}");
    }
}

/// A raw RESP connection that returns whole reply frames as bytes.
struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    fn connect(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        Conn {
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.r.get_mut().write_all(&out).expect("write");
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }

    /// Reads one reply frame (RESP2, or the RESP3 null).
    fn read(&mut self) -> String {
        let mut out = String::new();
        self.read_into(&mut out);
        out
    }

    fn read_into(&mut self, out: &mut String) {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("read reply");
        assert!(!line.is_empty(), "connection closed");
        out.push_str(&line);
        let body = line.trim_end();
        let n: i64 = body[1..].parse().unwrap_or(0);
        match &body[..1] {
            "$" | "=" if n >= 0 => {
                let mut buf = vec![0; n as usize + 2];
                self.r.read_exact(&mut buf).expect("read bulk");
                out.push_str(&String::from_utf8_lossy(&buf));
            }
            "*" | ">" | "~" => (0..n.max(0)).for_each(|_| self.read_into(out)),
            "%" => (0..n * 2).for_each(|_| self.read_into(out)),
            _ => {}
        }
    }

    /// Whether the server closed this connection (within a second).
    fn is_closed(&mut self) -> bool {
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(1)))
            .ok();
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }

    /// Whether no reply arrives within `ms` milliseconds.
    fn is_silent(&mut self, ms: u64) -> bool {
        let s = self.r.get_ref();
        s.set_read_timeout(Some(Duration::from_millis(ms))).ok();
        let r = self.r.fill_buf().map(|b| b.is_empty());
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok();
        matches!(r, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }

    fn blocked_clients(&mut self) -> usize {
        let info = self.cmd(&["INFO", "clients"]);
        info.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("blocked_clients in INFO")
    }

    fn id(&mut self) -> String {
        self.cmd(&["CLIENT", "ID"])
            .trim()
            .trim_start_matches(':')
            .to_string()
    }
}

fn pair(key: &str, v: &str) -> String {
    format!("*2\r\n${}\r\n{key}\r\n${}\r\n{v}\r\n", key.len(), v.len())
}

#[test]
fn waiters_on_one_key_are_served_in_arrival_order() {
    let s = Server::start();
    let mut waiters: Vec<Conn> = Vec::new();
    for i in 0..3 {
        let mut c = s.conn();
        c.send(&["BLPOP", "q", "0"]);
        s.wait_blocked(i + 1);
        waiters.push(c);
    }
    let mut p = s.conn();
    assert_eq!(p.cmd(&["RPUSH", "q", "a", "b", "c", "d"]), ":4\r\n");
    for (c, v) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(c.read(), pair("q", v));
    }
    assert_eq!(p.cmd(&["LRANGE", "q", "0", "-1"]), "*1\r\n$1\r\nd\r\n");
    assert_eq!(p.blocked_clients(), 0);
}

#[test]
fn timeouts_have_sub_second_precision() {
    let s = Server::start();
    let mut c = s.conn();
    let t = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "nokey", "0.25"]), "*-1\r\n");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(240), "{took:?}");
    assert!(took < Duration::from_millis(950), "{took:?}");
    assert_eq!(c.cmd(&["BRPOPLPUSH", "nokey", "d", "0.05"]), "*-1\r\n");
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["BLMPOP", "0.05", "1", "nokey", "LEFT"]), "_\r\n");
    assert_eq!(c.blocked_clients(), 0);
}

#[test]
fn push_from_another_connection_wakes_a_multi_key_waiter() {
    let s = Server::start();
    let mut w = s.conn();
    w.send(&["BRPOP", "k1", "k2", "k3", "5"]);
    s.wait_blocked(1);
    let mut p = s.conn();
    assert_eq!(p.cmd(&["LPUSH", "k2", "x", "y"]), ":2\r\n");
    assert_eq!(w.read(), pair("k2", "x"));
    assert_eq!(p.cmd(&["LRANGE", "k2", "0", "-1"]), "*1\r\n$1\r\ny\r\n");
    // The connection goes on with its next command.
    assert_eq!(w.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn requests_pipelined_after_a_blocking_command_wait_for_it() {
    let s = Server::start();
    let mut w = s.conn();
    w.send(&["BLPOP", "k", "0"]);
    w.send(&["LLEN", "k"]);
    s.wait_blocked(1);
    assert!(w.is_silent(50));
    s.conn().cmd(&["RPUSH", "k", "v1", "v2"]);
    assert_eq!(w.read(), pair("k", "v1"));
    assert_eq!(w.read(), ":1\r\n");
}

#[test]
fn blmove_serves_and_its_push_serves_the_next_waiter() {
    let s = Server::start();
    let mut last = s.conn();
    last.send(&["BLPOP", "dst", "0"]);
    s.wait_blocked(1);
    let mut mover = s.conn();
    mover.send(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    s.wait_blocked(2);
    let mut p = s.conn();
    assert_eq!(p.cmd(&["RPUSH", "src", "x"]), ":1\r\n");
    assert_eq!(mover.read(), "$1\r\nx\r\n");
    assert_eq!(last.read(), pair("dst", "x"));
    assert_eq!(p.cmd(&["EXISTS", "src", "dst"]), ":0\r\n");
    assert_eq!(p.blocked_clients(), 0);
}

#[test]
fn a_key_of_another_type_leaves_the_waiter_blocked() {
    let s = Server::start();
    let mut w = s.conn();
    w.send(&["BLPOP", "k", "0"]);
    s.wait_blocked(1);
    let mut p = s.conn();
    assert_eq!(p.cmd(&["SET", "k", "str"]), "+OK\r\n");
    assert!(w.is_silent(50));
    assert_eq!(p.blocked_clients(), 1);
    p.cmd(&["DEL", "k"]);
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(w.read(), pair("k", "v"));
}

#[test]
fn client_kill_of_a_blocked_client_closes_it_and_loses_nothing() {
    let s = Server::start();
    let mut w = s.conn();
    let id = w.id();
    w.send(&["BLPOP", "k", "0"]);
    s.wait_blocked(1);
    let mut p = s.conn();
    assert_eq!(p.cmd(&["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    assert!(w.is_closed());
    s.wait_blocked(0);
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(p.cmd(&["LLEN", "k"]), ":1\r\n");
}

#[test]
fn a_blocked_client_that_disconnects_is_removed() {
    let s = Server::start();
    let mut w = s.conn();
    w.send(&["BLPOP", "k", "0"]);
    let mut other = s.conn();
    other.send(&["BLPOP", "k", "0"]);
    s.wait_blocked(2);
    drop(w);
    s.wait_blocked(1);
    let mut p = s.conn();
    p.cmd(&["RPUSH", "k", "a", "b"]);
    // The remaining waiter gets the first element; nothing went to the dead one.
    assert_eq!(other.read(), pair("k", "a"));
    assert_eq!(p.cmd(&["LRANGE", "k", "0", "-1"]), "*1\r\n$1\r\nb\r\n");
}

#[test]
fn client_unblock_with_timeout_or_error() {
    let s = Server::start();
    let mut w = s.conn();
    let id = w.id();
    let mut p = s.conn();
    w.send(&["BLPOP", "k", "0"]);
    s.wait_blocked(1);
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(w.read(), "*-1\r\n");
    w.send(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    s.wait_blocked(1);
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(
        w.read(),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    assert_eq!(p.blocked_clients(), 0);
}

#[test]
fn blmpop_waiter_gets_up_to_count_elements_from_the_ready_key() {
    let s = Server::start();
    let mut w = s.conn();
    w.send(&["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2"]);
    s.wait_blocked(1);
    let mut p = s.conn();
    p.cmd(&["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(w.read(), "*2\r\n$1\r\nb\r\n*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
    assert_eq!(p.cmd(&["LLEN", "b"]), ":1\r\n");
}
