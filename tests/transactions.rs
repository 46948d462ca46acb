//! Integration tests of MULTI/EXEC/WATCH against the real binary: atomicity seen by
//! concurrent readers, optimistic-locking races, and transactions meeting blocking
//! pops. Exact replies are covered by `compat/cases/60-multi.txt`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{poll_until, Server};
use redis::Value;

fn blocked_clients(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A transaction of 1,000 INCRs over 10 keys is never seen half-applied: readers
/// MGET all the keys and always find them equal.
#[test]
fn exec_is_atomic_for_concurrent_readers() {
    let server = Server::start(&[]);
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..20 {
        let mut con = server.conn();
        let keys = keys.clone();
        let stop = stop.clone();
        readers.push(thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                let vals: Vec<Option<i64>> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
                let first = vals[0].unwrap_or(0);
                assert!(
                    vals.iter().all(|v| v.unwrap_or(0) == first),
                    "half-applied transaction seen: {vals:?}"
                );
                reads += 1;
            }
            reads
        }));
    }
    let mut con = server.conn();
    let rounds = 5;
    for _ in 0..rounds {
        let mut pipe = redis::pipe();
        pipe.cmd("MULTI").ignore();
        for i in 0..1000 {
            pipe.cmd("INCR").arg(&keys[i % keys.len()]).ignore();
        }
        pipe.cmd("EXEC");
        let (replies,): (Vec<i64>,) = pipe.query(&mut con).unwrap();
        assert_eq!(replies.len(), 1000);
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let vals: Vec<i64> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
    assert!(vals.iter().all(|&v| v == rounds * 100), "{vals:?}");
}

/// 50 clients each add 1 to a counter 20 times with WATCH/GET/MULTI/SET/EXEC,
/// retrying when EXEC aborts: no increment is lost.
#[test]
fn watch_races_lose_no_increment() {
    let server = Server::start(&[]);
    let (clients, per_client) = (50, 20);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let mut con = server.conn();
        handles.push(thread::spawn(move || {
            let mut aborted = 0u64;
            for _ in 0..per_client {
                loop {
                    let _: () = redis::cmd("WATCH").arg("counter").query(&mut con).unwrap();
                    let v: Option<i64> = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
                    let (res,): (Value,) = redis::pipe()
                        .cmd("MULTI")
                        .ignore()
                        .cmd("SET")
                        .arg("counter")
                        .arg(v.unwrap_or(0) + 1)
                        .ignore()
                        .cmd("EXEC")
                        .query(&mut con)
                        .unwrap();
                    if matches!(res, Value::Nil) {
                        aborted += 1;
                        continue;
                    }
                    break;
                }
            }
            aborted
        }));
    }
    let aborted: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut con = server.conn();
    let total: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(total, clients * per_client);
    // With 50 racing clients some EXECs must have been aborted.
    assert!(aborted > 0);
}

/// A push inside MULTI/EXEC wakes a client blocked in BLPOP, after the whole
/// transaction ran (it sees the list as EXEC left it).
#[test]
fn push_inside_exec_wakes_a_blocked_client() {
    let server = Server::start(&[]);
    let mut blocked = server.conn();
    let waiter = thread::spawn(move || {
        let r: (String, String) = redis::cmd("BLPOP")
            .arg("q")
            .arg(10)
            .query(&mut blocked)
            .unwrap();
        r
    });
    let mut con = server.conn();
    assert!(poll_until(Duration::from_secs(10), || blocked_clients(
        &mut con
    ) == 1));
    let (replies,): (Vec<Value>,) = redis::pipe()
        .cmd("MULTI")
        .ignore()
        .cmd("RPUSH")
        .arg("q")
        .arg("a")
        .arg("b")
        .ignore()
        .cmd("LLEN")
        .arg("q")
        .ignore()
        .cmd("EXEC")
        .query(&mut con)
        .unwrap();
    // The waiter is served after EXEC, so LLEN inside it still saw both elements.
    assert_eq!(replies, vec![Value::Int(2), Value::Int(2)]);
    assert_eq!(waiter.join().unwrap(), ("q".to_string(), "a".to_string()));
    let rest: Vec<String> = redis::cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(rest, ["b"]);
}

/// BLPOP inside MULTI never blocks: it answers null at once, like a timeout.
#[test]
fn blpop_inside_multi_does_not_block() {
    let server = Server::start(&[]);
    let mut con = server.conn();
    con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (replies,): (Vec<Value>,) = redis::pipe()
        .cmd("MULTI")
        .ignore()
        .cmd("BLPOP")
        .arg("empty")
        .arg(0)
        .ignore()
        .cmd("SET")
        .arg("after")
        .arg("1")
        .ignore()
        .cmd("EXEC")
        .query(&mut con)
        .unwrap();
    assert_eq!(replies[0], Value::Nil);
    assert_eq!(replies[1], Value::Okay);
    assert_eq!(blocked_clients(&mut con), 0);
}
