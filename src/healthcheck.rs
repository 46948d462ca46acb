//! `redmite healthcheck`: is a server answering on this address?
//!
//! Why this exists: a container image built `FROM scratch` has no shell and no `redis-cli`,
//! so its `HEALTHCHECK` runs the binary itself. The check is a real round trip through the
//! RESP port (connect, `PING`, read the reply), not just a TCP connect, so a process that
//! accepts connections but no longer serves them is reported unhealthy. Everything is
//! blocking and bounded by one short timeout: no tokio runtime, no logging set-up, so a
//! check costs a few milliseconds and can run every second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where and how long to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `host:port` of the RESP port to check.
    pub addr: String,
    /// The whole check (resolve, connect, write, read) must finish within this.
    pub timeout: Duration,
}

/// Why a check failed, in words for the container's health log.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("cannot resolve '{0}'")]
    Resolve(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("no reply from {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("no reply from {0} within the timeout")]
    TimedOut(SocketAddr),
    #[error("unexpected reply from {0}: {1:?}")]
    Reply(SocketAddr, String),
}

/// Runs the check and prints one line saying how it went: the exit code a `HEALTHCHECK`
/// wants (0 healthy, 1 unhealthy).
pub fn run(opts: &Options) -> std::process::ExitCode {
    match check(opts) {
        Ok(addr) => {
            println!("healthy: {addr} answered PONG");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Sends `PING` and expects `+PONG`. A server that requires a password answers
/// `-NOAUTH …`; that still proves it is serving, so it counts as healthy too.
pub fn check(opts: &Options) -> Result<SocketAddr, Unhealthy> {
    let deadline = Instant::now() + opts.timeout;
    let addr = opts
        .addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Unhealthy::Resolve(opts.addr.clone()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, opts.timeout).map_err(|e| Unhealthy::Connect(addr, e))?;
    let io = |e| Unhealthy::Io(addr, e);
    stream
        .set_write_timeout(Some(remaining(deadline, addr)?))
        .map_err(io)?;
    stream.write_all(b"PING\r\n").map_err(io)?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !reply.ends_with(b"\r\n") && reply.len() < 1024 {
        stream
            .set_read_timeout(Some(remaining(deadline, addr)?))
            .map_err(io)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Unhealthy::TimedOut(addr))
            }
            Err(e) => return Err(io(e)),
        }
    }
    if reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH ") {
        Ok(addr)
    } else {
        Err(Unhealthy::Reply(
            addr,
            String::from_utf8_lossy(&reply).into_owned(),
        ))
    }
}

/// The time left before `deadline`; socket timeouts must not be zero.
fn remaining(deadline: Instant, addr: SocketAddr) -> Result<Duration, Unhealthy> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(Unhealthy::TimedOut(addr))
}
