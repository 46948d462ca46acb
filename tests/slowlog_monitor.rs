//! The details of SLOWLOG and MONITOR that `tests/observability.rs` does not cover:
//! argument trimming and redaction, commands run by scripts and transactions, blocked
//! commands logged when served, a monitor's own restrictions and its output buffer
//! limit, and the start and shutdown log lines.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{poll_until, resp_cmd, show, Raw, Server};

fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).expect("command")
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        redis::Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn items(v: &redis::Value) -> Vec<redis::Value> {
    match v {
        redis::Value::Array(a) => a.clone(),
        other => panic!("not an array: {other:?}"),
    }
}

/// SLOWLOG GET -1 as (id, args, addr, name), newest first.
fn entries(c: &mut redis::Connection) -> Vec<(i64, Vec<String>, String, String)> {
    items(&cmd(c, &["SLOWLOG", "GET", "-1"]))
        .iter()
        .map(|e| {
            let e = items(e);
            let id = match e[0] {
                redis::Value::Int(i) => i,
                ref other => panic!("not an id: {other:?}"),
            };
            (
                id,
                items(&e[3]).iter().map(text).collect(),
                text(&e[4]),
                text(&e[5]),
            )
        })
        .collect()
}

fn client_field(line: &str, name: &str) -> String {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}

#[test]
fn slowlog_trims_redacts_and_logs_scripts_and_transactions() {
    let server = Server::start(&["--slowlog-log-slower-than", "0"]);
    let mut c = server.conn();
    let addr = client_field(&text(&cmd(&mut c, &["CLIENT", "INFO"])), "addr");
    cmd(&mut c, &["CLIENT", "SETNAME", "writer"]);
    cmd(&mut c, &["SLOWLOG", "RESET"]);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut rpush = vec!["RPUSH", "list"];
    rpush.extend(many.iter().map(String::as_str));
    cmd(&mut c, &rpush);
    cmd(&mut c, &["SET", "big", &"x".repeat(200)]);
    let _ = redis::cmd("AUTH")
        .arg("secret")
        .query::<redis::Value>(&mut c);
    cmd(
        &mut c,
        &["EVAL", "return redis.call('get', 'big') and 1", "0"],
    );
    cmd(&mut c, &["MULTI"]);
    cmd(&mut c, &["INCR", "n"]);
    cmd(&mut c, &["EXEC"]);
    let _ = redis::cmd("NOSUCH").query::<redis::Value>(&mut c);
    let e = entries(&mut c);
    let argv: Vec<Vec<String>> = e.iter().rev().map(|x| x.1.clone()).collect();
    // Oldest first. EXEC is SKIP_SLOWLOG (its commands are logged); a rejected
    // command is not logged.
    assert_eq!(argv.len(), 8, "{argv:?}");
    assert_eq!(argv[0], ["SLOWLOG", "RESET"]);
    assert_eq!(argv[1].len(), 32);
    assert_eq!(argv[1][30], "28");
    assert_eq!(argv[1][31], "... (11 more arguments)");
    assert_eq!(
        argv[2][2],
        format!("{}... (72 more bytes)", "x".repeat(128))
    );
    assert_eq!(argv[3], ["AUTH", "(redacted)"]);
    assert_eq!(argv[4], ["get", "big"]);
    assert_eq!(argv[5][0], "EVAL");
    assert_eq!(argv[6], ["MULTI"]);
    assert_eq!(argv[7], ["INCR", "n"]);
    let ids: Vec<i64> = e.iter().map(|x| x.0).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{ids:?}");
    // What a script ran is the script client's: `?:0`, no name.
    let script = &e[e.len() - 5];
    assert_eq!((script.2.as_str(), script.3.as_str()), ("?:0", ""));
    assert!(e
        .iter()
        .filter(|x| x.2 != "?:0")
        .all(|x| x.2 == addr && x.3 == "writer"));
    // A negative threshold turns the log off.
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    cmd(&mut c, &["SLOWLOG", "RESET"]);
    cmd(&mut c, &["DEBUG", "SLEEP", "0.02"]);
    assert_eq!(text(&cmd(&mut c, &["SLOWLOG", "LEN"])), "0");
}

/// A blocked command is logged when it is served, after the command that served it,
/// under its own client; one that times out is not logged (as Redis 7.0).
#[test]
fn slowlog_logs_blocked_commands_when_served() {
    let server = Server::start(&["--slowlog-log-slower-than", "0"]);
    let mut c = server.conn();
    let mut blocked = server.raw();
    blocked.cmd(&[b"CLIENT", b"SETNAME", b"waiter"]);
    cmd(&mut c, &["SLOWLOG", "RESET"]);
    assert_eq!(blocked.cmd(&[b"BLPOP", b"none", b"0.05"]), b"*-1\r\n");
    blocked.send(&resp_cmd(&[b"BLPOP", b"q", b"0"]));
    assert!(poll_until(Duration::from_secs(10), || {
        text(&cmd(&mut c, &["CLIENT", "LIST"])).contains("cmd=blpop")
    }));
    cmd(&mut c, &["RPUSH", "q", "v"]);
    assert_eq!(blocked.read_frame(), b"*2\r\n$1\r\nq\r\n$1\r\nv\r\n");
    let logged: Vec<(String, String)> = entries(&mut c)
        .into_iter()
        .rev()
        .map(|x| (x.1.join(" "), x.3))
        .filter(|(a, _)| !a.starts_with("CLIENT"))
        .collect();
    let want = [
        ("SLOWLOG RESET", ""),
        ("RPUSH q v", ""),
        ("BLPOP q 0", "waiter"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, n)| (a.to_string(), n.to_string()))
        .collect();
    assert_eq!(logged, want);
}

/// Reads MONITOR lines until `n` arrived.
fn lines(m: &mut Raw, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while out.len() < n {
        let mut chunk = [0u8; 4096];
        let k = m.stream().read(&mut chunk).expect("monitor read");
        assert!(k > 0, "monitor closed after {out:?}");
        buf.extend_from_slice(&chunk[..k]);
        while let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..i + 2).collect();
            out.push(String::from_utf8_lossy(&line[..i]).into_owned());
        }
    }
    out
}

/// A monitoring client may not touch keys, sees its own commands after their
/// replies, is refused inside MULTI, and RESET ends monitoring.
#[test]
fn a_monitor_client_is_restricted_like_redis_replicas() {
    let server = Server::start(&[]);
    let mut m = server.raw();
    m.cmd(&[b"MULTI"]);
    m.cmd(&[b"MONITOR"]);
    assert_eq!(
        show(&m.cmd(&[b"EXEC"])),
        show(b"*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n")
    );
    assert_eq!(m.cmd(&[b"MONITOR"]), b"+OK\r\n");
    assert_eq!(
        show(&m.cmd(&[b"GET", b"k"])),
        show(b"-ERR Replica can't interact with the keyspace\r\n")
    );
    m.send(&resp_cmd(&[b"PING"]));
    let got = lines(&mut m, 2);
    assert_eq!(got[0], "+PONG");
    assert!(got[1].ends_with("\"PING\""), "{got:?}");
    let mut c = server.raw();
    let list = String::from_utf8_lossy(&c.cmd(&[b"CLIENT", b"LIST"])).into_owned();
    assert!(list.lines().any(|l| l.contains(" flags=O ")), "{list}");
    assert_eq!(m.cmd(&[b"RESET"]), b"+RESET\r\n");
    c.cmd(&[b"SET", b"after", b"reset"]);
    assert_eq!(m.cmd(&[b"GET", b"after"]), b"$5\r\nreset\r\n");
}

/// A monitor that stops reading is closed once its queue passes the `normal` class
/// of `client-output-buffer-limit`, so it cannot make the server grow without bound.
#[test]
fn a_monitor_that_does_not_read_is_disconnected() {
    let server = Server::start(&["--client-output-buffer-limit", "normal 1mb 0 0"]);
    let mut m = server.raw();
    assert_eq!(m.cmd(&[b"MONITOR"]), b"+OK\r\n");
    let mut c = server.conn();
    let value = "v".repeat(100_000);
    let gone = poll_until(Duration::from_secs(60), || {
        for _ in 0..20 {
            cmd(&mut c, &["SET", "k", &value]);
        }
        !text(&cmd(&mut c, &["CLIENT", "LIST"])).contains("flags=O")
    });
    assert!(gone, "the monitor was never dropped");
    m.read_until_closed(Duration::from_secs(30));
    assert!(server
        .log_text()
        .contains("client scheduled to be closed ASAP for overcoming of output buffer limits"));
}

#[test]
fn start_and_shutdown_are_logged() {
    let mut server = Server::start(&[]);
    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    let log = server.log_text();
    for line in [
        "ready to accept connections",
        "received a shutdown signal",
        "ready to exit",
    ] {
        assert!(log.contains(line), "no '{line}' in:\n{log}");
    }
}
