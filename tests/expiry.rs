//! Key expiry against the real binary: active expiry reclaims keys nobody reads, and
//! lazy expiry hides a key as soon as its time has passed.

mod common;

use std::time::Duration;

use common::{poll_until, resp_cmd, show, Raw, Server};

/// Reads one integer field from `INFO <section>`.
fn info_field(raw: &mut Raw, section: &str, field: &str) -> u64 {
    let reply = raw.cmd(&[b"INFO", section.as_bytes()]);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {text}"))
}

fn dbsize(raw: &mut Raw) -> u64 {
    let reply = raw.cmd(&[b"DBSIZE"]);
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("DBSIZE reply {}", show(&reply)))
}

/// 100k keys with a 100 ms TTL are reclaimed by the background cycle alone: DBSIZE
/// (which touches no key) drops to 0, and INFO counts every one as expired.
#[test]
fn active_expiry_reclaims_unread_keys() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let n = 100_000u64;
    let mut batch = Vec::with_capacity(n as usize * 40);
    for i in 0..n {
        let key = format!("ttl:{i}");
        batch.extend(resp_cmd(&[b"SET", key.as_bytes(), b"x", b"PX", b"100"]));
    }
    raw.send(&batch);
    for i in 0..n {
        assert_eq!(raw.read_frame(), b"+OK\r\n", "SET #{i}");
    }
    // A key without a TTL must survive the cycle.
    assert_eq!(raw.cmd(&[b"SET", b"keeper", b"v"]), b"+OK\r\n");

    let mut last = u64::MAX;
    let reclaimed = poll_until(Duration::from_secs(20), || {
        last = dbsize(&mut raw);
        last == 1
    });
    assert!(reclaimed, "DBSIZE still {last} after 20 s");
    let expired = info_field(&mut raw, "stats", "expired_keys");
    assert!(expired >= n, "expired_keys = {expired}");
    assert_eq!(raw.cmd(&[b"GET", b"keeper"]), b"$1\r\nv\r\n");
}

/// A key whose TTL has passed is gone on the next read, whoever removes it first.
#[test]
fn lazy_expiry_on_read() {
    // A slow cron (hz 1) leaves the removal to the read in practice.
    let server = Server::start(&["--hz", "1"]);
    let mut raw = server.raw();
    let before = info_field(&mut raw, "stats", "expired_keys");
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v", b"PX", b"1"]), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"SET", b"long", b"v", b"EX", b"1000"]),
        b"+OK\r\n"
    );

    // Wait on the server's own clock until 1 ms has certainly passed.
    let now_us = |raw: &mut Raw| -> u64 {
        let reply = raw.cmd(&[b"TIME"]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let nums: Vec<u64> = text.split("\r\n").filter_map(|l| l.parse().ok()).collect();
        assert_eq!(nums.len(), 2, "TIME reply {}", show(&reply));
        nums[0] * 1_000_000 + nums[1]
    };
    let start = now_us(&mut raw);
    assert!(poll_until(Duration::from_secs(5), || now_us(&mut raw) >= start + 3_000));

    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(raw.cmd(&[b"EXISTS", b"k"]), b":0\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"long"]), b"$1\r\nv\r\n");
    assert_eq!(dbsize(&mut raw), 1);
    assert_eq!(info_field(&mut raw, "stats", "expired_keys"), before + 1);
}
