//! Shared helper for the integration tests: start the real `redmite` binary on a free
//! loopback port, talk to it with the `redis` crate or a raw socket, and always stop it.
//!
//! Each test owns its [`Server`]; dropping it (also during a panic) sends SIGTERM, waits,
//! and falls back to SIGKILL, so no test leaves a process behind. Nothing here sleeps to
//! synchronise: start-up and conditions are polled with a deadline.
//!
//! Every test binary includes this module with `mod common;` and uses a different subset
//! of it, hence the `dead_code` allowance below.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the server gets to answer its first PING.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// How long a SIGTERM gets before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// A running `redmite` process, killed on drop.
pub struct Server {
    child: Child,
    port: u16,
    client: redis::Client,
    log: PathBuf,
}

impl Server {
    /// Starts `redmite --port N --bind 127.0.0.1 <args>` on a free port and returns once
    /// it answers PING (any reply counts, so `--requirepass` servers qualify). If another
    /// process grabs the port between our probe and the server's bind, the server exits
    /// and we retry on a new port.
    pub fn start(args: &[&str]) -> Server {
        let mut last_err = String::new();
        for attempt in 0..5 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "redmite-test-{}-{port}-{attempt}.log",
                std::process::id()
            ));
            let log_file = std::fs::File::create(&log).expect("create the server log file");
            let child = Command::new(env!("CARGO_BIN_EXE_redmite"))
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                // Many servers run at once: no peer or stats port.
                .args(["--dyn-listen", "none", "--stats-listen", "none"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone the log file"))
                .stderr(log_file)
                .spawn()
                .expect("spawn target binary redmite");
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .expect("a valid redis URL");
            let mut server = Server {
                child,
                port,
                client,
                log,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("redmite did not start: {last_err}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Err(format!("exited early with {status}: {}", self.log_text()));
            }
            if let Ok(mut s) = TcpStream::connect(self.addr()) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 64];
                if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
                    && s.read(&mut buf).is_ok_and(|n| n > 0)
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no PING reply within {START_DEADLINE:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `redis` crate client for this server.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A new synchronous `redis` crate connection.
    pub fn conn(&self) -> redis::Connection {
        self.client
            .get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect with the redis crate")
    }

    /// A new async `redis` crate connection. The crate's default timeouts (1 s to
    /// connect, 500 ms per reply) are too tight for a debug build on a busy two-core
    /// machine with a thousand clients connecting at once, so they are raised here.
    pub async fn async_conn(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(30)))
            .set_response_timeout(Some(Duration::from_secs(30)));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A new raw socket connection.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr())
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        self.try_exit_status().is_none()
    }

    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("query the child process")
    }

    /// Sends SIGTERM (through the `kill` command, so the tests need no libc crate).
    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// Waits until the process exits, or `timeout` passes.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.is_alive() {
            self.sigterm();
            if self.wait_exit(STOP_DEADLINE).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- redmite log (port {}) ---\n{}",
                self.port,
                self.log_text()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A real `redis-server` 7.0 (the oracle) on a free loopback port, killed on drop:
/// the tests that compare redmite with Redis start one each.
pub struct Oracle {
    child: Child,
    port: u16,
    client: redis::Client,
}

impl Oracle {
    pub fn start() -> Oracle {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (the oracle, 7.0) must be installed for this test");
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("a valid redis URL");
        let oracle = Oracle {
            child,
            port,
            client,
        };
        let up = poll_until(START_DEADLINE, || {
            oracle
                .client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
        assert!(up, "redis-server did not answer PING");
        oracle
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn conn(&self) -> redis::Connection {
        self.client
            .get_connection()
            .expect("connect to redis-server")
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody is listening on, for a server this process starts.
///
/// The kernel's `bind(0)` hands out ports from the ephemeral range, the same range every
/// outgoing client socket takes its local port from; a test's client could then hold the
/// port the server is about to bind. So ports come from below that range (Linux starts it
/// at 32768), from a per-process counter seeded by the pid so that two test binaries run
/// at once rarely meet, and each is checked by binding it. [`Server::start`] still retries
/// if another process takes the port first.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + seed.wrapping_add(n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + SPAN);
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn resp_cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw TCP connection that reads whole RESP2/RESP3 frames as bytes, so tests can
/// compare replies byte for byte with what Redis sends.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("raw connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set read timeout");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw write");
    }

    /// Sends one command as a RESP array and returns its reply frame.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&resp_cmd(args));
        self.read_frame()
    }

    /// Reads exactly one complete reply frame (nested aggregates included).
    pub fn read_frame(&mut self) -> Vec<u8> {
        loop {
            match frame_len(&self.buf) {
                Ok(Some(n)) => return self.buf.drain(..n).collect(),
                Ok(None) => {}
                Err(e) => panic!("bad reply frame ({e}): {:?}", show(&self.buf)),
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).expect("raw read");
            assert!(
                n > 0,
                "connection closed while a frame was expected; have {:?}",
                show(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the server closes the connection and returns everything received
    /// that was not consumed yet. Panics if the connection stays open for `timeout`.
    pub fn read_until_closed(&mut self, timeout: Duration) -> Vec<u8> {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                // A reset after the server closed with unread input is a close too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return std::mem::take(&mut self.buf)
                }
                Err(e) => panic!(
                    "connection not closed ({e}); received {:?}",
                    show(&self.buf)
                ),
            }
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// Renders bytes for assertion messages, keeping `\r\n` visible.
pub fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    let s = s.replace('\r', "\\r").replace('\n', "\\n");
    if bytes.len() > 300 {
        format!("{s}... ({} bytes)", bytes.len())
    } else {
        s
    }
}

/// The length of the first complete RESP2/RESP3 frame in `buf`: `Ok(None)` when more
/// bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let head = eol + 2;
    // Only length headers are parsed; error and status lines may hold any bytes.
    let count = || -> Result<i64, String> {
        std::str::from_utf8(&buf[1..eol])
            .map_err(|e| e.to_string())?
            .parse::<i64>()
            .map_err(|e| e.to_string())
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(head)),
        b'$' | b'!' | b'=' => {
            let n = count()?;
            if n < 0 {
                return Ok(Some(head));
            }
            let end = head + n as usize + 2;
            Ok((buf.len() >= end).then_some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count()?;
            if n < 0 {
                return Ok(Some(head));
            }
            let items = if matches!(kind, b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut at = head;
            for _ in 0..items {
                match frame_len(&buf[at..])? {
                    Some(len) => at += len,
                    None => return Ok(None),
                }
            }
            // An attribute (`|`) precedes the frame it annotates.
            if kind == b'|' {
                return Ok(frame_len(&buf[at..])?.map(|len| at + len));
            }
            Ok(Some(at))
        }
        other => Err(format!("unknown frame type {:?}", other as char)),
    }
}

/// Stops node `i` of a multi-node test (SIGCONT first, in case a test paused it, then
/// SIGKILL) and, when the test is panicking, prints its log so the failure explains
/// itself.
pub fn stop_node(i: usize, child: &mut Child, client: &str, log: &std::path::Path) {
    let _ = Command::new("kill")
        .args(["-CONT", &child.id().to_string()])
        .status();
    let _ = child.kill();
    let _ = child.wait();
    if std::thread::panicking() {
        eprintln!(
            "--- node {i} ({client}) log ---\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}
