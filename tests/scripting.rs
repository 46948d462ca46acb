//! Integration tests of Lua scripts against the real binary: a busy script makes
//! other clients get BUSY (not wait) and SCRIPT KILL stops it; concurrent scripts
//! are atomic. Exact replies are covered by `compat/cases/62-scripting.txt`.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{poll_until, Server};

const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Starts `body` (an endless script) on its own connection; returns the thread that
/// yields the script's reply.
fn run_forever(server: &Server, body: &'static str) -> thread::JoinHandle<Vec<u8>> {
    let mut raw = server.raw();
    thread::spawn(move || raw.cmd(&[b"EVAL", body.as_bytes(), b"0"]))
}

/// Polls with PING on `other` until the server answers BUSY.
fn wait_busy(other: &mut common::Raw) {
    assert!(poll_until(Duration::from_secs(10), || {
        other.cmd(&[b"PING"]) == BUSY
    }));
}

#[test]
fn busy_script_is_answered_busy_and_killed() {
    let server = Server::start(&["--busy-reply-threshold", "200"]);
    let mut other = server.raw();
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    let started = Instant::now();
    let script = run_forever(&server, "while true do end");
    wait_busy(&mut other);
    // Not before the threshold.
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(other.cmd(&[b"GET", b"k"]), BUSY);
    assert_eq!(other.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let reply = script.join().unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: ")
            && text.ends_with(", on @user_script:1.\r\n"),
        "{text}"
    );
    // The server serves everyone again.
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        other.cmd(&[b"SCRIPT", b"KILL"]),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
}

/// Regression (issue 4): a connection opened while a script is busy used to wait
/// for the script instead of being answered. As in Redis 7.0.15, it gets BUSY for
/// ordinary commands, its usual errors for unknown commands and bad arities, a
/// syntax error for SHUTDOWN NOSAVE with extra arguments, and SCRIPT KILL works from
/// it; an ALLOW_BUSY command that needs the store (MULTI, HELLO) is run once the
/// script has ended.
#[test]
fn connection_opened_during_busy_script_gets_busy() {
    let server = Server::start(&["--busy-reply-threshold", "100"]);
    let mut first = server.raw();
    let script = run_forever(&server, "local i = 0 while true do i = i + 1 end");
    wait_busy(&mut first);
    let mut late = server.raw();
    assert_eq!(late.cmd(&[b"PING"]), BUSY);
    assert_eq!(late.cmd(&[b"SET", b"k", b"v"]), BUSY);
    assert_eq!(late.cmd(&[b"CLIENT", b"ID"]), BUSY);
    assert_eq!(late.cmd(&[b"SHUTDOWN"]), BUSY);
    assert_eq!(
        late.cmd(&[b"NOSUCH"]),
        b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n"
    );
    assert_eq!(
        late.cmd(&[b"GET"]),
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        late.cmd(&[b"SHUTDOWN", b"NOSAVE", b"extra"]),
        b"-ERR syntax error\r\n"
    );
    // A second late connection, pipelining: BUSY, then MULTI waits for the script.
    let mut piped = server.raw();
    piped.send(&common::resp_cmd(&[b"GET", b"k"]));
    piped.send(&common::resp_cmd(&[b"MULTI"]));
    assert_eq!(piped.read_frame(), BUSY);
    assert_eq!(late.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let reply = script.join().unwrap();
    assert!(String::from_utf8_lossy(&reply).contains("Script killed by user"));
    assert_eq!(piped.read_frame(), b"+OK\r\n");
    assert_eq!(piped.cmd(&[b"EXEC"]), b"*0\r\n");
    assert_eq!(late.cmd(&[b"PING"]), b"+PONG\r\n");
    assert!(late.cmd(&[b"CLIENT", b"ID"]).starts_with(b":"));
}

#[test]
fn short_scripts_from_many_clients_are_atomic() {
    let server = Server::start(&[]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut con = server.conn();
            thread::spawn(move || {
                for _ in 0..200 {
                    // Read-modify-write without INCR: only atomic if the script is.
                    let _: i64 = redis::cmd("EVAL")
                        .arg("local v = tonumber(redis.call('get', KEYS[1]) or '0') redis.call('set', KEYS[1], v + 1) return v + 1")
                        .arg(1)
                        .arg("counter")
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut con = server.conn();
    let v: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(v, 1600);
}

/// A command a script runs is timed from its own start: the Lua code the script ran
/// before it is the script's time (INFO commandstats, SLOWLOG), as in Redis.
#[test]
fn commands_run_by_a_script_are_timed_alone() {
    let server = Server::start(&["--slowlog-log-slower-than", "20000"]);
    let mut raw = server.raw();
    // About 100 ms of Lua before and between the calls (measured by the script's time).
    let body = "local t = 0 for i = 1, 5000000 do t = t + i end \
                redis.call('incr', KEYS[1]) \
                for i = 1, 5000000 do t = t + i end \
                return redis.call('incr', KEYS[1])";
    let started = Instant::now();
    assert_eq!(raw.cmd(&[b"EVAL", body.as_bytes(), b"1", b"n"]), b":2\r\n");
    let elapsed = started.elapsed();
    let stats = String::from_utf8(raw.cmd(&[b"INFO", b"commandstats"])).unwrap();
    let usec = |cmd: &str| -> u64 {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
            .unwrap_or_else(|| panic!("no {cmd} in {stats}"));
        let field = line.split(',').find(|f| f.starts_with("usec=")).unwrap();
        field["usec=".len()..].parse().unwrap()
    };
    let (eval, incr) = (usec("eval"), usec("incr"));
    // The script's own time covers its Lua loops; the two INCRs take microseconds.
    assert!(
        eval >= 20_000 && eval as u128 <= elapsed.as_micros(),
        "eval usec={eval}, elapsed {elapsed:?}"
    );
    assert!(incr < eval / 10, "incr usec={incr}, eval usec={eval}");
    // Only the script is slow enough for the slow log.
    let slowlog = raw.cmd(&[b"SLOWLOG", b"GET"]);
    let text = String::from_utf8_lossy(&slowlog);
    assert!(text.contains("EVAL") || text.contains("eval"), "{text}");
    assert!(!text.contains("$4\r\nincr\r\n"), "{text}");
}
