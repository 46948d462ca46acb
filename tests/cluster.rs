//! Cluster tests: several real redmite processes on loopback addresses, started from the
//! sample configs in `conf/`, replicating to each other over their peer ports.
//!
//! Each test moves its sample configs onto its own loopback subnet (`127.0.N.x` instead
//! of `127.0.0.x`), so tests run in parallel without sharing a port. Nodes are stopped
//! (and their temporary files removed) when the test's [`Nodes`] is dropped, also on
//! panic. Conditions are polled with a deadline; nothing sleeps for a fixed time.

mod common;

use common::poll_until as poll;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One running node and where it listens.
struct Node {
    child: Child,
    /// Client port address (`listen`).
    client: String,
    /// The local-only datastore address (`servers:`).
    datastore: String,
    log: PathBuf,
    conf: PathBuf,
}

/// Starts `redmite -c conf -v 6`, appending its output to `log`.
fn spawn_node(conf: &Path, log: &Path) -> Child {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open log");
    Command::new(env!("CARGO_BIN_EXE_redmite"))
        .arg("-c")
        .arg(conf)
        .arg("-v")
        .arg("6")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log"))
        .stderr(log_file)
        .spawn()
        .expect("spawn redmite")
}

/// The nodes of one test, stopped on drop.
struct Nodes {
    nodes: Vec<Node>,
    dir: PathBuf,
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Rewrites a sample config for subnet `net` and applies `edits` (whole-line
/// replacements of `key:` lines, or appended lines when the key is absent).
fn adapt(sample: &str, net: u8, edits: &[(&str, &str)]) -> String {
    let text =
        std::fs::read_to_string(repo_file(&format!("conf/{sample}"))).expect("read sample config");
    let mut text = text
        .replace("127.0.0.", &format!("127.0.{net}."))
        .replace("0.0.0.0", &format!("127.0.{net}.1"));
    for (key, value) in edits {
        let mut found = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let k = l.trim_start().split(':').next().unwrap_or("").trim();
                if k == *key {
                    found = true;
                    format!("  {key}: {value}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        text = lines.join("\n") + "\n";
        if !found {
            text.push_str(&format!("  {key}: {value}\n"));
        }
    }
    text
}

/// Finds `key: host:port` in a config's text.
fn address_of(text: &str, key: &str) -> String {
    for l in text.lines() {
        let t = l.trim_start().trim_start_matches("- ");
        if let Some(rest) = t.strip_prefix(&format!("{key}:")) {
            return rest.trim().to_string();
        }
    }
    panic!("no {key} in config");
}

impl Nodes {
    /// Starts one node per sample, on subnet `net`, with `edits` applied to each.
    fn start(samples: &[&str], net: u8, edits: &[(&str, &str)]) -> Nodes {
        let dir =
            std::env::temp_dir().join(format!("redmite-cluster-{}-{net}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let mut nodes = Nodes {
            nodes: Vec::new(),
            dir: dir.clone(),
        };
        for sample in samples {
            let text = adapt(sample, net, edits);
            let conf = dir.join(sample);
            std::fs::write(&conf, &text).expect("write config");
            let client = address_of(&text, "listen");
            let server_line = text
                .lines()
                .skip_while(|l| !l.trim_start().starts_with("servers:"))
                .nth(1)
                .expect("servers entry")
                .trim()
                .trim_start_matches("- ")
                .to_string();
            let mut parts = server_line.split(':');
            let datastore = format!(
                "{}:{}",
                parts.next().unwrap_or(""),
                parts.next().unwrap_or("")
            );
            let log = dir.join(format!("{sample}.log"));
            let _ = std::fs::remove_file(&log);
            let child = spawn_node(&conf, &log);
            nodes.nodes.push(Node {
                child,
                client,
                datastore,
                log,
                conf,
            });
        }
        for i in 0..nodes.nodes.len() {
            let addr = nodes.nodes[i].client.clone();
            assert!(
                poll(Duration::from_secs(20), || cmd(&addr, &["PING"])
                    .is_ok_and(|r| r == "+PONG")),
                "node {addr} did not start:\n{}",
                nodes.log(i)
            );
        }
        nodes
    }

    fn client(&self, i: usize) -> &str {
        &self.nodes[i].client
    }

    fn datastore(&self, i: usize) -> &str {
        &self.nodes[i].datastore
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i].child.id().to_string();
        let status = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// Starts node `i` again (after [`Nodes::kill`]) with an empty keyspace.
    fn restart(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.child = spawn_node(&n.conf, &n.log);
        let addr = n.client.clone();
        assert!(poll(Duration::from_secs(20), || cmd(&addr, &["PING"])
            .is_ok_and(|r| r == "+PONG")));
    }

    /// Stops node `i` for good.
    fn kill(&mut self, i: usize) {
        let _ = self.nodes[i].child.kill();
        let _ = self.nodes[i].child.wait();
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            common::stop_node(i, &mut n.child, &n.client, &n.log);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends one command over a fresh raw connection and returns the reply as text: `+OK`,
/// `-ERR ...`, `:1`, `$bar` for a bulk string, `$nil` for a null, `*[a,b]` for an array
/// of bulk strings (nulls as `nil`).
fn cmd(addr: &str, args: &[&str]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())?;
    read_reply(&mut s)
}

fn read_line(s: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b)?;
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn read_reply(s: &mut TcpStream) -> std::io::Result<String> {
    let line = read_line(s)?;
    match line.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = line[1..].parse().unwrap_or(-1);
            if n < 0 {
                return Ok("$nil".into());
            }
            let mut body = vec![0u8; n as usize + 2];
            s.read_exact(&mut body)?;
            body.truncate(n as usize);
            Ok(format!("${}", String::from_utf8_lossy(&body)))
        }
        Some(b'*') => {
            let n: i64 = line[1..].parse().unwrap_or(-1);
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                let item = read_reply(s)?;
                items.push(item.trim_start_matches(['$', ':']).to_string());
            }
            Ok(format!("*[{}]", items.join(",")))
        }
        _ => Ok(line),
    }
}

/// Polls until `GET key` on `addr` returns `want` (`$value` or `$nil`).
fn eventually_get(addr: &str, key: &str, want: &str) -> bool {
    poll(Duration::from_secs(20), || {
        cmd(addr, &["GET", key]).is_ok_and(|r| r == want)
    })
}

/// Polls until a write through `addr` succeeds (the peer links are up).
fn until_ok(addr: &str, args: &[&str]) {
    let mut last = String::new();
    let ok = poll(Duration::from_secs(20), || {
        last = cmd(addr, args).unwrap_or_else(|e| e.to_string());
        last == "+OK"
    });
    assert!(ok, "{args:?} on {addr} never succeeded; last reply {last}");
}

/// The 3-rack, one-DC layout of `conf/safe_quorum_rack{1,2,3}.yml`.
const THREE_RACKS: &[&str] = &[
    "safe_quorum_rack1.yml",
    "safe_quorum_rack2.yml",
    "safe_quorum_rack3.yml",
];

/// DC_QUORUM both ways with a 1 s timeout, so failing quorums answer quickly.
const QUORUM_WITH_1S_TIMEOUT: [(&str, &str); 3] = [
    ("read_consistency", "DC_QUORUM"),
    ("write_consistency", "DC_QUORUM"),
    ("timeout", "1000"),
];

#[test]
fn a_write_on_any_node_is_read_on_every_node_of_every_dc() {
    let nodes = Nodes::start(
        &[
            "dc1_rack1.yml",
            "dc1_rack2.yml",
            "dc2_rack1.yml",
            "dc2_rack2.yml",
        ],
        41,
        &[],
    );
    for i in 0..4 {
        until_ok(
            nodes.client(i),
            &["SET", &format!("written-on-{i}"), &format!("v{i}")],
        );
    }
    for reader in 0..4 {
        for writer in 0..4 {
            let key = format!("written-on-{writer}");
            assert!(
                eventually_get(nodes.client(reader), &key, &format!("$v{writer}")),
                "node {reader} never saw {key}"
            );
        }
    }
    // A local-only write on the datastore port is not replicated.
    assert_eq!(
        cmd(nodes.datastore(0), &["SET", "local-only", "1"]).unwrap(),
        "+OK"
    );
    assert_eq!(cmd(nodes.client(0), &["GET", "local-only"]).unwrap(), "$1");
    assert_eq!(
        cmd(nodes.client(1), &["GET", "local-only"]).unwrap(),
        "$nil"
    );
    // Every node holds the same data set (the replicated keys).
    for i in 1..4 {
        assert!(poll(Duration::from_secs(10), || cmd(
            nodes.client(i),
            &["DBSIZE"]
        )
        .is_ok_and(|r| r == ":4")));
    }
}

#[test]
fn dc_quorum_with_three_racks_survives_one_node_down_and_fails_with_two() {
    let q = QUORUM_WITH_1S_TIMEOUT;
    let mut nodes = Nodes::start(THREE_RACKS, 42, &q);
    until_ok(nodes.client(0), &["SET", "k", "1"]);
    nodes.kill(2);
    // One rack down: 2 of 3 racks still make a quorum.
    until_ok(nodes.client(0), &["SET", "k", "2"]);
    assert_eq!(cmd(nodes.client(0), &["GET", "k"]).unwrap(), "$2");
    nodes.kill(1);
    // Two racks down: no quorum, and Dynomite's error says why.
    let reply = cmd(nodes.client(0), &["SET", "k", "3"]).unwrap();
    assert!(reply.starts_with("-ERR Peer: Peer Node"), "got {reply}");
    let reply = cmd(nodes.client(0), &["GET", "k"]).unwrap();
    assert!(reply.starts_with("-ERR Peer: Peer Node"), "got {reply}");
}

#[test]
fn dc_safe_quorum_fails_on_diverged_replies() {
    let nodes = Nodes::start(THREE_RACKS, 43, &[]);
    until_ok(nodes.client(0), &["SET", "k", "same"]);
    // Every replica holds the write before they are made to diverge: a quorum needs two
    // racks, and the third one's copy (queued while its link was still connecting)
    // landing after the divergence below would make two agree again.
    for i in 1..3 {
        assert!(poll(Duration::from_secs(10), || cmd(
            nodes.datastore(i),
            &["GET", "k"]
        )
        .is_ok_and(|r| r == "$same")));
    }
    // Make the three replicas disagree behind the cluster's back (local-only ports).
    assert_eq!(
        cmd(nodes.datastore(1), &["SET", "k", "two"]).unwrap(),
        "+OK"
    );
    assert_eq!(
        cmd(nodes.datastore(2), &["SET", "k", "three"]).unwrap(),
        "+OK"
    );
    assert_eq!(
        cmd(nodes.client(0), &["GET", "k"]).unwrap(),
        "-ERR Dynomite: Failed to achieve Quorum"
    );
    // Two of three agreeing is enough. (The link to rack 3 may still be in its
    // reconnect backoff if that node started last, so poll.)
    assert_eq!(
        cmd(nodes.datastore(2), &["SET", "k", "same"]).unwrap(),
        "+OK"
    );
    assert!(poll(Duration::from_secs(20), || cmd(
        nodes.client(0),
        &["GET", "k"]
    )
    .is_ok_and(|r| r == "$same")));
}

#[test]
fn dc_safe_quorum_works_with_one_rack() {
    let edits = [
        ("read_consistency", "DC_SAFE_QUORUM"),
        ("write_consistency", "DC_SAFE_QUORUM"),
    ];
    let nodes = Nodes::start(&["redis_single.yml"], 44, &edits);
    assert_eq!(cmd(nodes.client(0), &["SET", "k", "v"]).unwrap(), "+OK");
    assert_eq!(cmd(nodes.client(0), &["GET", "k"]).unwrap(), "$v");
}

#[test]
fn dc_one_never_waits_for_peers() {
    // A long timeout: if DC_ONE waited for the stopped peers, the client's 10 s read
    // timeout would fire first.
    let edits = [
        ("read_consistency", "DC_ONE"),
        ("write_consistency", "DC_ONE"),
        ("timeout", "60000"),
    ];
    let nodes = Nodes::start(THREE_RACKS, 45, &edits);
    until_ok(nodes.client(0), &["SET", "warm", "up"]);
    assert!(eventually_get(nodes.client(1), "warm", "$up"));
    nodes.signal(1, "-STOP");
    nodes.signal(2, "-STOP");
    for i in 0..50 {
        assert_eq!(
            cmd(nodes.client(0), &["SET", &format!("k{i}"), "v"]).unwrap(),
            "+OK"
        );
        assert_eq!(
            cmd(nodes.client(0), &["GET", &format!("k{i}")]).unwrap(),
            "$v"
        );
    }
    nodes.signal(1, "-CONT");
    nodes.signal(2, "-CONT");
    // And the writes reach the replicas once they run again.
    assert!(eventually_get(nodes.client(1), "k49", "$v"));
    assert!(eventually_get(nodes.client(2), "k49", "$v"));
}

#[test]
fn a_remote_dc_receives_writes_made_while_its_link_was_down() {
    let edits = [("timeout", "300")];
    let nodes = Nodes::start(&["redis_dc1.yml", "redis_dc2.yml"], 46, &edits);
    until_ok(nodes.client(0), &["SET", "before", "1"]);
    assert!(eventually_get(nodes.client(1), "before", "$1"));
    // Freeze dc2: its link stops answering, dc1 notices the stall and drops the link;
    // the writes made meanwhile wait as hints.
    nodes.signal(1, "-STOP");
    for i in 0..200 {
        assert_eq!(
            cmd(
                nodes.client(0),
                &["SET", &format!("during-{i}"), &i.to_string()]
            )
            .unwrap(),
            "+OK"
        );
    }
    assert_eq!(cmd(nodes.client(0), &["INCR", "counter"]).unwrap(), ":1");
    assert!(
        poll(Duration::from_secs(20), || nodes
            .log(0)
            .contains("peer link down")),
        "dc1 never noticed the frozen peer"
    );
    nodes.signal(1, "-CONT");
    for i in [0, 99, 199] {
        assert!(
            eventually_get(nodes.client(1), &format!("during-{i}"), &format!("${i}")),
            "during-{i} missing"
        );
    }
    // Resent writes are applied once: the counter is 1, not 2.
    assert!(eventually_get(nodes.client(1), "counter", "$1"));
    assert_eq!(cmd(nodes.client(1), &["DBSIZE"]).unwrap(), ":202");
}

#[test]
fn a_sharded_rack_splits_mget_mset_and_del() {
    let nodes = Nodes::start(&["redis_node1.yml", "redis_node2.yml"], 47, &[]);
    let keys: Vec<String> = (0..40).map(|i| format!("key{i}")).collect();
    let mut mset = vec!["MSET"];
    let values: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    for (k, v) in keys.iter().zip(&values) {
        mset.push(k);
        mset.push(v);
    }
    until_ok(nodes.client(0), &mset);
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    mget.push("missing");
    let want = format!("*[{},nil]", values.join(","));
    // Node 1's own link to node 0 may still be connecting: poll until its split MGET
    // can reach both owners, then the reply must be exact.
    for i in 0..2 {
        let mut last = String::new();
        let ok = poll(Duration::from_secs(20), || {
            last = cmd(nodes.client(i), &mget).unwrap_or_default();
            !last.starts_with("-ERR Peer")
        });
        assert!(ok, "MGET through node {i}: {last}");
        assert_eq!(last, want, "MGET through node {i}");
    }
    // Each node's own datastore holds only its share, and together they hold all.
    let n0: i64 = cmd(nodes.datastore(0), &["DBSIZE"]).unwrap()[1..]
        .parse()
        .unwrap();
    let n1: i64 = cmd(nodes.datastore(1), &["DBSIZE"]).unwrap()[1..]
        .parse()
        .unwrap();
    assert!(n0 > 0 && n1 > 0, "both nodes own keys: {n0} {n1}");
    assert_eq!(n0 + n1, 40);
    let mut del = vec!["DEL"];
    del.extend(keys.iter().take(10).map(String::as_str));
    assert_eq!(cmd(nodes.client(1), &del).unwrap(), ":10");
    let mut exists = vec!["EXISTS"];
    exists.extend(keys.iter().map(String::as_str));
    assert_eq!(cmd(nodes.client(0), &exists).unwrap(), ":30");
    // A command that cannot be split refuses keys on different nodes.
    let (a, b) = {
        let owner = |k: &str| cmd(nodes.datastore(0), &["EXISTS", k]).unwrap() == ":1";
        let on0 = keys.iter().skip(10).find(|k| owner(k)).unwrap().clone();
        let on1 = keys.iter().skip(10).find(|k| !owner(k)).unwrap().clone();
        (on0, on1)
    };
    assert_eq!(
        cmd(nodes.client(0), &["RENAME", &a, &b]).unwrap(),
        "-ERR Dynomite: Keys in the request cannot span multiple nodes"
    );
}

#[test]
fn conn_consistency_applies_to_its_connection_only() {
    let edits = [
        ("read_consistency", "DC_ONE"),
        ("write_consistency", "DC_ONE"),
    ];
    let nodes = Nodes::start(THREE_RACKS, 48, &edits);
    until_ok(nodes.client(0), &["SET", "k", "same"]);
    assert!(eventually_get(nodes.client(2), "k", "$same"));
    assert_eq!(
        cmd(nodes.datastore(1), &["SET", "k", "two"]).unwrap(),
        "+OK"
    );
    assert_eq!(
        cmd(nodes.datastore(2), &["SET", "k", "three"]).unwrap(),
        "+OK"
    );
    let mut s = TcpStream::connect(nodes.client(0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"DYNO_CONFIG:CONN_CONSISTENCY DC_SAFE_QUORUM\r\nGET k\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut s).unwrap(), "+OK");
    assert_eq!(
        read_reply(&mut s).unwrap(),
        "-ERR Dynomite: Failed to achieve Quorum"
    );
    // Other connections keep the node's DC_ONE.
    assert_eq!(cmd(nodes.client(0), &["GET", "k"]).unwrap(), "$same");
}

#[test]
fn test_conf_accepts_every_sample_and_rejects_broken_files() {
    for entry in std::fs::read_dir(repo_file("conf")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_redmite"))
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout} {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("syntax is valid"), "{stdout}");
    }
    let dir = std::env::temp_dir().join(format!("redmite-badconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yml");
    std::fs::write(
        &bad,
        "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  dyn_listn: 127.0.0.1:8101\n  tokens: '0'\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_redmite"))
        .arg("-t")
        .arg("-c")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("syntax is invalid"), "{all}");
    assert!(
        all.contains(":3:") && all.contains("dyn_listn") && all.contains("dyn_listen"),
        "{all}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A transaction's effects replicate as one MULTI ... EXEC payload: the other rack
/// applies all of them.
#[test]
fn exec_replicates_as_one_transaction() {
    let nodes = Nodes::start(&["dc1_rack1.yml", "dc1_rack2.yml"], 51, &[]);
    until_ok(nodes.client(0), &["SET", "tx-ready", "1"]);
    let mut s = TcpStream::connect(nodes.client(0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut send = |args: &[&str]| {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        read_reply(&mut s).unwrap()
    };
    assert_eq!(send(&["MULTI"]), "+OK");
    assert_eq!(send(&["INCR", "tx-counter"]), "+QUEUED");
    assert_eq!(send(&["INCR", "tx-counter"]), "+QUEUED");
    assert_eq!(send(&["SET", "tx-other", "v"]), "+QUEUED");
    assert_eq!(send(&["EXEC"]), "*[1,2,+OK]");
    assert!(eventually_get(nodes.client(1), "tx-counter", "$2"));
    assert!(eventually_get(nodes.client(1), "tx-other", "$v"));
}

/// A script's random and time-dependent writes reach the replicas as the effects they
/// had on the coordinator, so every node ends with the same values.
#[test]
fn a_lua_script_leaves_identical_replicas() {
    let nodes = Nodes::start(
        &[
            "dc1_rack1.yml",
            "dc1_rack2.yml",
            "dc2_rack1.yml",
            "dc2_rack2.yml",
        ],
        80,
        &[],
    );
    until_ok(nodes.client(0), &["SET", "lua-ready", "1"]);
    let script = "local t = redis.call('TIME') \
        redis.call('SET', KEYS[1], t[1] .. '.' .. t[2]) \
        redis.call('SET', KEYS[2], tostring(math.random())) \
        redis.call('RPUSH', KEYS[3], 'a', tostring(math.random(1000000))) \
        redis.call('INCRBY', KEYS[4], 5) \
        return redis.call('GET', KEYS[2])";
    let reply = cmd(
        nodes.client(0),
        &[
            "EVAL", script, "4", "lua-time", "lua-rand", "lua-list", "lua-n",
        ],
    )
    .unwrap();
    assert!(
        reply.starts_with('$') && reply != "$nil",
        "EVAL replied {reply}"
    );
    let here = |args: &[&str]| cmd(nodes.client(0), args).unwrap();
    let time = here(&["GET", "lua-time"]);
    let list = here(&["LRANGE", "lua-list", "0", "-1"]);
    assert_eq!(here(&["GET", "lua-rand"]), reply);
    for i in 1..4 {
        let addr = nodes.client(i);
        assert!(eventually_get(addr, "lua-n", "$5"), "lua-n on node {i}");
        assert_eq!(cmd(addr, &["GET", "lua-time"]).unwrap(), time, "node {i}");
        assert_eq!(cmd(addr, &["GET", "lua-rand"]).unwrap(), reply, "node {i}");
        assert_eq!(
            cmd(addr, &["LRANGE", "lua-list", "0", "-1"]).unwrap(),
            list,
            "node {i}"
        );
    }
}

/// A library loaded on one node reaches every node of both DCs (FUNCTION LOAD is a
/// keyless write), a function's random and time-dependent writes leave identical
/// replicas as EVAL's do, and FUNCTION DELETE on another node removes it everywhere.
#[test]
fn functions_load_everywhere_and_leave_identical_replicas() {
    let nodes = Nodes::start(
        &[
            "dc1_rack1.yml",
            "dc1_rack2.yml",
            "dc2_rack1.yml",
            "dc2_rack2.yml",
        ],
        81,
        &[],
    );
    until_ok(nodes.client(0), &["SET", "fn-ready", "1"]);
    let library = "#!lua name=fnlib\n\
        redis.register_function('fn_hello', function() return 'hello' end)\n\
        redis.register_function('fn_write', function(keys, args) \
            local t = redis.call('TIME') \
            redis.call('SET', keys[1], t[1] .. '.' .. t[2]) \
            redis.call('SET', keys[2], tostring(math.random())) \
            redis.call('INCRBY', keys[3], args[1]) \
            return redis.call('GET', keys[2]) end)";
    assert_eq!(
        cmd(nodes.client(0), &["FUNCTION", "LOAD", library]).unwrap(),
        "$fnlib"
    );
    for i in 0..4 {
        let addr = nodes.client(i);
        assert!(
            poll(Duration::from_secs(20), || {
                cmd(addr, &["FCALL", "fn_hello", "0"]).is_ok_and(|r| r == "$hello")
            }),
            "fn_hello on node {i}"
        );
    }
    let reply = cmd(
        nodes.client(0),
        &["FCALL", "fn_write", "3", "fn-time", "fn-rand", "fn-n", "7"],
    )
    .unwrap();
    assert!(
        reply.starts_with('$') && reply != "$nil",
        "FCALL replied {reply}"
    );
    let time = cmd(nodes.client(0), &["GET", "fn-time"]).unwrap();
    for i in 1..4 {
        let addr = nodes.client(i);
        assert!(eventually_get(addr, "fn-n", "$7"), "fn-n on node {i}");
        assert_eq!(cmd(addr, &["GET", "fn-time"]).unwrap(), time, "node {i}");
        assert_eq!(cmd(addr, &["GET", "fn-rand"]).unwrap(), reply, "node {i}");
    }
    assert_eq!(
        cmd(nodes.client(1), &["FUNCTION", "DELETE", "fnlib"]).unwrap(),
        "+OK"
    );
    for i in 0..4 {
        let addr = nodes.client(i);
        assert!(
            poll(Duration::from_secs(20), || {
                cmd(addr, &["FCALL", "fn_hello", "0"]).is_ok_and(|r| r == "-ERR Function not found")
            }),
            "fnlib still on node {i}"
        );
    }
}

/// Reads one RESP2 `message` push and returns its payload, or `None` on timeout.
fn read_message(s: &mut TcpStream) -> Option<String> {
    match read_reply(s) {
        Ok(r) => Some(
            r.strip_prefix("*[message,news,")
                .and_then(|p| p.strip_suffix(']'))
                .unwrap_or_else(|| panic!("not a message on news: {r}"))
                .to_string(),
        ),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("subscriber connection failed: {e}"),
    }
}

#[test]
fn publish_on_one_node_reaches_subscribers_on_every_node() {
    let nodes = Nodes::start(
        &[
            "dc1_rack1.yml",
            "dc1_rack2.yml",
            "dc2_rack1.yml",
            "dc2_rack2.yml",
        ],
        60,
        &[],
    );
    let mut sub = TcpStream::connect(nodes.client(3)).expect("connect to node D");
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut sub).unwrap(), "*[subscribe,news,1]");
    // PUBLISH is fire-and-forget to peers: repeat until the links are up.
    sub.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut reached = false;
    for _ in 0..100 {
        // The reply counts this node's receivers only.
        assert_eq!(
            cmd(nodes.client(0), &["PUBLISH", "news", "hello"]).unwrap(),
            ":0"
        );
        if read_message(&mut sub).is_some() {
            reached = true;
            break;
        }
    }
    assert!(reached, "no PUBLISH on node A ever reached node D");
    while read_message(&mut sub).is_some() {}
    // Each message arrives once and in order: peers do not forward it again.
    for m in ["one", "two", "three"] {
        assert_eq!(cmd(nodes.client(0), &["PUBLISH", "news", m]).unwrap(), ":0");
    }
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for m in ["one", "two", "three"] {
        assert_eq!(read_message(&mut sub).as_deref(), Some(m));
    }
    sub.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert_eq!(read_message(&mut sub), None, "a message arrived twice");
    // Node D's own PUBLISH counts its local subscriber.
    assert_eq!(
        cmd(nodes.client(3), &["PUBLISH", "news", "local"]).unwrap(),
        ":1"
    );
}

/// Sends every command in `cmds` in one write and reads the replies in order.
fn pipeline(addr: &str, cmds: &[Vec<String>]) -> Vec<String> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = String::new();
    for args in cmds {
        req.push_str(&format!("*{}\r\n", args.len()));
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
    }
    s.write_all(req.as_bytes()).expect("write pipeline");
    cmds.iter()
        .map(|_| read_reply(&mut s).expect("reply"))
        .collect()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_pipeline_of_quorum_writes_replicates_in_order_with_a_verdict_per_write() {
    let q = [
        ("read_consistency", "DC_QUORUM"),
        ("write_consistency", "DC_QUORUM"),
    ];
    let nodes = Nodes::start(THREE_RACKS, 90, &q);
    until_ok(nodes.client(0), &["SET", "warm", "1"]);
    until_ok(nodes.client(0), &["SET", "s", "string"]);
    // 200 writes in one pipeline: SETs, INCRs of one counter (each reply is that
    // write's own), and a write that fails with WRONGTYPE on every replica.
    let mut cmds = Vec::new();
    let mut want = Vec::new();
    for i in 0..200 {
        match i % 4 {
            0 | 1 => {
                cmds.push(args(&["SET", &format!("k{i}"), &format!("v{i}")]));
                want.push("+OK".to_string());
            }
            2 => {
                cmds.push(args(&["INCR", "counter"]));
                want.push(format!(":{}", i / 4 + 1));
            }
            _ => {
                cmds.push(args(&["LPUSH", "s", "x"]));
                want.push(
                    "-WRONGTYPE Operation against a key holding the wrong kind of value".into(),
                );
            }
        }
    }
    assert_eq!(pipeline(nodes.client(0), &cmds), want);
    for n in 1..3 {
        assert!(eventually_get(nodes.datastore(n), "counter", "$50"));
        assert!(eventually_get(nodes.datastore(n), "k196", "$v196"));
        assert_eq!(cmd(nodes.datastore(n), &["GET", "k1"]).unwrap(), "$v1");
    }
    // Reads of one pipeline get their own quorum verdict: make replicas disagree on
    // one key only, behind the cluster's back.
    let safe = [
        ("read_consistency", "DC_SAFE_QUORUM"),
        ("write_consistency", "DC_SAFE_QUORUM"),
    ];
    drop(nodes);
    let nodes = Nodes::start(THREE_RACKS, 91, &safe);
    until_ok(nodes.client(0), &["SET", "a", "same"]);
    until_ok(nodes.client(0), &["SET", "b", "same"]);
    assert!(eventually_get(nodes.datastore(2), "b", "$same"));
    cmd(nodes.datastore(1), &["SET", "a", "two"]).unwrap();
    cmd(nodes.datastore(2), &["SET", "a", "three"]).unwrap();
    let got = pipeline(
        nodes.client(0),
        &[
            args(&["GET", "a"]),
            args(&["GET", "b"]),
            args(&["GET", "a"]),
        ],
    );
    assert_eq!(
        got,
        [
            "-ERR Dynomite: Failed to achieve Quorum",
            "$same",
            "-ERR Dynomite: Failed to achieve Quorum"
        ]
    );
}

#[test]
fn a_pipeline_without_quorum_fails_each_write_and_keeps_hints() {
    let q = QUORUM_WITH_1S_TIMEOUT;
    let mut nodes = Nodes::start(THREE_RACKS, 92, &q);
    until_ok(nodes.client(0), &["SET", "warm", "1"]);
    nodes.kill(1);
    nodes.kill(2);
    let cmds: Vec<Vec<String>> = (0..5)
        .map(|i| args(&["SET", &format!("p{i}"), "v"]))
        .collect();
    for reply in pipeline(nodes.client(0), &cmds) {
        assert!(reply.starts_with("-ERR Peer: Peer Node"), "got {reply}");
    }
    // No rollback, as in Dynomite: the coordinator applied them.
    assert_eq!(cmd(nodes.datastore(0), &["GET", "p4"]).unwrap(), "$v");
}

/// Starts redmite without `-c` with `extra` arguments; returns the child and its log.
fn start_default(extra: &[&str], log: &Path) -> Child {
    let f = std::fs::File::create(log).expect("create log");
    Command::new(env!("CARGO_BIN_EXE_redmite"))
        .args(extra)
        .args(["-v", "6"])
        .stdin(Stdio::null())
        .stdout(f.try_clone().expect("clone log"))
        .stderr(f)
        .spawn()
        .expect("spawn redmite")
}

#[test]
fn without_a_config_file_a_single_node_opens_its_ports_and_the_cli_moves_them() {
    let dir = std::env::temp_dir().join(format!("redmite-defaults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("a.log");
    let mut a = start_default(
        &[
            "--port",
            "8102",
            "--bind",
            "127.0.93.1",
            "--dyn-listen",
            "127.0.93.1:8101",
            "--stats-listen",
            "127.0.93.1:22222",
        ],
        &log,
    );
    let up = poll(Duration::from_secs(20), || {
        cmd("127.0.93.1:8102", &["PING"]).is_ok_and(|r| r == "+PONG")
    });
    let peer_open = up && TcpStream::connect("127.0.93.1:8101").is_ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = a.kill();
    let _ = a.wait();
    assert!(up && peer_open, "{text}");
    // `none` opens no peer port.
    let log = dir.join("b.log");
    let mut b = start_default(
        &[
            "--port",
            "8102",
            "--bind",
            "127.0.93.2",
            "--dyn-listen",
            "none",
            "--stats-listen",
            "none",
        ],
        &log,
    );
    let up = poll(Duration::from_secs(20), || {
        cmd("127.0.93.2:8102", &["SET", "k", "v"]).is_ok_and(|r| r == "+OK")
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = b.kill();
    let _ = b.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(up, "{text}");
    assert!(!text.contains("listening for peers"), "{text}");
    assert!(
        text.contains("listening for clients on 127.0.93.2:8102"),
        "{text}"
    );
}

#[test]
fn a_failing_peer_is_marked_down_after_the_failure_limit_and_retried_after_the_retry_timeout() {
    let q = [
        ("read_consistency", "DC_QUORUM"),
        ("write_consistency", "DC_QUORUM"),
        ("timeout", "500"),
        ("server_failure_limit", "2"),
        ("server_retry_timeout", "1500"),
    ];
    let mut nodes = Nodes::start(THREE_RACKS, 94, &q);
    assert!(poll(Duration::from_secs(20), || nodes
        .log(0)
        .matches("peer link up")
        .count()
        == 2));
    nodes.kill(2);
    // The lost connection and the refused reconnect are 2 failures in a row.
    assert!(
        poll(Duration::from_secs(20), || nodes.log(0).contains(
            "peer marked down after 2 consecutive failures; retrying every 1500 ms"
        )),
        "{}",
        nodes.log(0)
    );
    // Rack 2 still makes the quorum; rack 3 gets the write as a hint.
    until_ok(nodes.client(0), &["SET", "h", "1"]);
    nodes.restart(2);
    nodes.kill(1);
    // Only rack 3 can make the quorum now: its link is retried after the retry timeout.
    until_ok(nodes.client(0), &["SET", "after", "1"]);
    assert!(eventually_get(nodes.datastore(2), "h", "$1"));
    assert!(
        nodes.log(0).matches("peer link up").count() >= 3,
        "{}",
        nodes.log(0)
    );
}

#[test]
fn a_node_logs_its_config_unreachable_peers_quorum_failures_at_most_once_a_period_and_its_shutdown()
{
    // One node of three racks whose two peers never start.
    let mut nodes = Nodes::start(&THREE_RACKS[..1], 95, &QUORUM_WITH_1S_TIMEOUT);
    assert!(
        nodes.log(0).contains("configuration loaded from"),
        "{}",
        nodes.log(0)
    );
    assert!(
        poll(Duration::from_secs(20), || nodes
            .log(0)
            .matches("peer unreachable")
            .count()
            == 2),
        "{}",
        nodes.log(0)
    );
    for i in 0..5 {
        let reply = cmd(nodes.client(0), &["SET", &format!("k{i}"), "v"]).unwrap();
        assert!(reply.starts_with("-ERR Peer: Peer Node"), "got {reply}");
    }
    // Five failures within the 10 s period: one line, with the reason.
    let log = nodes.log(0);
    assert_eq!(log.matches("quorum failed").count(), 1, "{log}");
    assert!(log.contains("reason=\"unreachable\""), "{log}");
    nodes.signal(0, "-TERM");
    assert!(
        poll(Duration::from_secs(20), || nodes.nodes[0]
            .child
            .try_wait()
            .is_ok_and(|s| s.is_some())),
        "no exit after SIGTERM"
    );
    let log = nodes.log(0);
    assert!(log.contains("received a shutdown signal"), "{log}");
    assert!(log.contains("ready to exit"), "{log}");
}
