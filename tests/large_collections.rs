//! One-million-element collections against the real binary: a list, a set, a hash and a
//! sorted set are built with pipelined commands, then read at that size where off-by-one
//! and rehashing bugs hide (the middle, both ends, full SCAN iterations) and deleted.
//!
//! These tests check answers only; speed is measured by `bench/run.sh`.

mod common;

use std::collections::HashSet;

use common::Server;
use redis::{Commands, Connection};

/// Elements per collection.
const N: usize = 1_000_000;
/// Elements per command.
const PER_CMD: usize = 10;
/// Commands per pipeline round trip (10k elements).
const PER_BATCH: usize = 1_000;

/// Sends `N` elements as `cmd key <args of element i>...` commands, `PER_CMD` elements
/// each, `PER_BATCH` commands per pipeline.
fn build(con: &mut Connection, cmd: &str, key: &str, args: impl Fn(usize) -> Vec<String>) {
    let mut i = 0;
    while i < N {
        let mut pipe = redis::pipe();
        for _ in 0..PER_BATCH {
            if i >= N {
                break;
            }
            let c = pipe.cmd(cmd).arg(key);
            for j in i..(i + PER_CMD).min(N) {
                c.arg(args(j));
            }
            c.ignore();
            i += PER_CMD;
        }
        pipe.query::<()>(con).expect("pipelined build");
    }
}

/// Marks member `i` seen, failing if it was seen before.
fn see(seen: &mut [bool], i: usize, what: &str) {
    assert!(!seen[i], "{what} {i} returned twice by the scan");
    seen[i] = true;
}

/// The number in `prefix<n>`.
fn index_of(s: &str, prefix: &str) -> usize {
    s.strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected element {s:?}"))
}

fn del(con: &mut Connection, key: &str) {
    let n: i64 = con.del(key).unwrap();
    assert_eq!(n, 1);
    let exists: bool = con.exists(key).unwrap();
    assert!(!exists);
    let size: i64 = redis::cmd("DBSIZE").query(con).unwrap();
    assert_eq!(size, 0);
}

#[test]
fn million_element_list() {
    let server = Server::start(&[]);
    let mut con = server.conn();
    build(&mut con, "RPUSH", "l", |i| vec![i.to_string()]);
    let len: usize = con.llen("l").unwrap();
    assert_eq!(len, N);

    let mid: String = con.lindex("l", (N / 2) as isize).unwrap();
    assert_eq!(mid, (N / 2).to_string());
    let mid: String = con.lindex("l", -((N / 2) as isize) - 1).unwrap();
    assert_eq!(mid, (N / 2 - 1).to_string());
    let last: String = con.lindex("l", -1).unwrap();
    assert_eq!(last, (N - 1).to_string());
    let none: Option<String> = con.lindex("l", N as isize).unwrap();
    assert_eq!(none, None);

    let range: Vec<String> = con.lrange("l", 499_990, 500_009).unwrap();
    let want: Vec<String> = (499_990..500_010).map(|i| i.to_string()).collect();
    assert_eq!(range, want);
    let range: Vec<String> = con.lrange("l", -500_010, -499_991).unwrap();
    let want: Vec<String> = (N - 500_010..N - 499_990).map(|i| i.to_string()).collect();
    assert_eq!(range, want);

    let first: String = con.lpop("l", None).unwrap();
    assert_eq!(first, "0");
    let last: String = con.rpop("l", None).unwrap();
    assert_eq!(last, (N - 1).to_string());
    let popped: Vec<String> = con.lpop("l", std::num::NonZeroUsize::new(1_000)).unwrap();
    let want: Vec<String> = (1..=1_000).map(|i| i.to_string()).collect();
    assert_eq!(popped, want);
    let popped: Vec<String> = con.rpop("l", std::num::NonZeroUsize::new(1_000)).unwrap();
    let want: Vec<String> = (N - 1_001..N - 1).rev().map(|i| i.to_string()).collect();
    assert_eq!(popped, want);
    let len: usize = con.llen("l").unwrap();
    assert_eq!(len, N - 2_002);
    let head: String = con.lindex("l", 0).unwrap();
    assert_eq!(head, "1001");
    let mid: String = con.lindex("l", (N / 2) as isize).unwrap();
    assert_eq!(mid, (N / 2 + 1_001).to_string());

    del(&mut con, "l");
}

#[test]
fn million_member_set() {
    let server = Server::start(&[]);
    let mut con = server.conn();
    build(&mut con, "SADD", "s", |i| vec![format!("m:{i}")]);
    let card: usize = con.scard("s").unwrap();
    assert_eq!(card, N);
    for i in [0, 1, N / 2, N - 1] {
        let is: bool = con.sismember("s", format!("m:{i}")).unwrap();
        assert!(is, "m:{i}");
    }
    for m in ["m:-1".to_string(), format!("m:{N}"), "x".to_string()] {
        let is: bool = con.sismember("s", &m).unwrap();
        assert!(!is, "{m}");
    }

    let some: Vec<String> = con.srandmember_multiple("s", 100).unwrap();
    assert_eq!(some.len(), 100);
    assert_eq!(some.iter().collect::<HashSet<_>>().len(), 100);
    for m in &some {
        assert!(index_of(m, "m:") < N);
    }
    let some: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(-100)
        .query(&mut con)
        .unwrap();
    assert_eq!(some.len(), 100);

    let mut seen = vec![false; N];
    let mut cursor = 0u64;
    loop {
        let (next, members): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg("s")
            .arg(cursor)
            .arg("COUNT")
            .arg(1_000)
            .query(&mut con)
            .unwrap();
        for m in &members {
            see(&mut seen, index_of(m, "m:"), "member");
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(seen.iter().all(|&s| s), "SSCAN missed members");

    del(&mut con, "s");
}

#[test]
fn million_field_hash() {
    let server = Server::start(&[]);
    let mut con = server.conn();
    build(&mut con, "HSET", "h", |i| {
        vec![format!("f:{i}"), format!("v:{i}")]
    });
    let len: usize = con.hlen("h").unwrap();
    assert_eq!(len, N);
    for i in [0, N / 2, N - 1] {
        let v: String = con.hget("h", format!("f:{i}")).unwrap();
        assert_eq!(v, format!("v:{i}"));
    }
    let none: Option<String> = con.hget("h", format!("f:{N}")).unwrap();
    assert_eq!(none, None);

    let mut seen = vec![false; N];
    let mut cursor = 0u64;
    loop {
        let (next, pairs): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg("h")
            .arg(cursor)
            .arg("COUNT")
            .arg(1_000)
            .query(&mut con)
            .unwrap();
        assert_eq!(pairs.len() % 2, 0);
        for pair in pairs.chunks(2) {
            let i = index_of(&pair[0], "f:");
            assert_eq!(pair[1], format!("v:{i}"));
            see(&mut seen, i, "field");
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(seen.iter().all(|&s| s), "HSCAN missed fields");

    del(&mut con, "h");
}

#[test]
fn million_member_sorted_set() {
    let server = Server::start(&[]);
    let mut con = server.conn();
    build(&mut con, "ZADD", "z", |i| {
        vec![i.to_string(), format!("m:{i}")]
    });
    let card: usize = con.zcard("z").unwrap();
    assert_eq!(card, N);

    let m = format!("m:{}", N / 2);
    let rank: usize = con.zrank("z", &m).unwrap();
    assert_eq!(rank, N / 2);
    let rank: usize = con.zrevrank("z", &m).unwrap();
    assert_eq!(rank, N - 1 - N / 2);
    let score: f64 = con.zscore("z", &m).unwrap();
    assert_eq!(score, (N / 2) as f64);
    let none: Option<f64> = con.zscore("z", "nope").unwrap();
    assert_eq!(none, None);

    let range: Vec<String> = con.zrange("z", 500_000, 500_009).unwrap();
    let want: Vec<String> = (500_000..500_010).map(|i| format!("m:{i}")).collect();
    assert_eq!(range, want);
    let range: Vec<(String, f64)> = con.zrange_withscores("z", -3, -1).unwrap();
    let want: Vec<(String, f64)> = (N - 3..N).map(|i| (format!("m:{i}"), i as f64)).collect();
    assert_eq!(range, want);
    let range: Vec<String> = con.zrevrange("z", 250_000, 250_002).unwrap();
    let want: Vec<String> = (0..3)
        .map(|k| format!("m:{}", N - 1 - 250_000 - k))
        .collect();
    assert_eq!(range, want);

    let range: Vec<String> = con
        .zrangebyscore_limit("z", 250_000, "+inf", 10, 5)
        .unwrap();
    let want: Vec<String> = (250_010..250_015).map(|i| format!("m:{i}")).collect();
    assert_eq!(range, want);
    let range: Vec<String> = con
        .zrangebyscore_limit("z", "(999995", "+inf", 0, 100)
        .unwrap();
    let want: Vec<String> = (999_996..N).map(|i| format!("m:{i}")).collect();
    assert_eq!(range, want);
    let count: usize = con.zcount("z", 100_000, "(200000").unwrap();
    assert_eq!(count, 100_000);

    let removed: usize = con.zrem("z", format!("m:{}", N / 4)).unwrap();
    assert_eq!(removed, 1);
    let rank: usize = con.zrank("z", &m).unwrap();
    assert_eq!(rank, N / 2 - 1);
    let popped: Vec<(String, f64)> = redis::cmd("ZPOPMIN")
        .arg("z")
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        popped,
        vec![("m:0".to_string(), 0.0), ("m:1".to_string(), 1.0)]
    );
    let card: usize = con.zcard("z").unwrap();
    assert_eq!(card, N - 3);

    del(&mut con, "z");
}
