//! The stats endpoint (`stats_listen`) of live nodes: Dynomite's REST paths and `/info`
//! fields, `/metrics` in the Prometheus text format agreeing with INFO, INFO's cluster
//! section, and the HTTP server's robustness (malformed requests, slow clients, 1,000
//! concurrent scrapes).
//!
//! Nodes are started from the sample configs on this file's own loopback subnets
//! (127.0.70.x–127.0.79.x), as in `tests/cluster.rs`, and stopped on drop.

mod common;

use common::poll_until as poll;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    client: String,
    datastore: String,
    stats: String,
    log: PathBuf,
}

struct Nodes {
    nodes: Vec<Node>,
    dir: PathBuf,
}

/// `key: value` of a config line (the first `- ` entry for `servers`).
fn value_of(text: &str, key: &str) -> String {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix(&format!("{key}:")) {
            if rest.trim().is_empty() {
                let next = lines.next().unwrap_or("").trim().trim_start_matches("- ");
                let mut p = next.split(':');
                return format!("{}:{}", p.next().unwrap_or(""), p.next().unwrap_or(""));
            }
            return rest.trim().to_string();
        }
    }
    panic!("no {key} in config");
}

impl Nodes {
    /// Starts one node per sample config, moved onto subnet `127.0.{net}.x`, with
    /// `edits` (whole `key: value` lines) applied.
    fn start(samples: &[&str], net: u8, edits: &[(&str, &str)]) -> Nodes {
        let dir = std::env::temp_dir().join(format!("redmite-stats-{}-{net}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let mut nodes = Nodes {
            nodes: Vec::new(),
            dir: dir.clone(),
        };
        for sample in samples {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("conf")
                .join(sample);
            let mut text = std::fs::read_to_string(path)
                .expect("read sample")
                .replace("127.0.0.", &format!("127.0.{net}."))
                .replace("0.0.0.0", &format!("127.0.{net}.1"));
            for (k, v) in edits {
                text = text
                    .lines()
                    .map(|l| {
                        if l.trim_start().split(':').next().map(str::trim) == Some(*k) {
                            format!("  {k}: {v}")
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n";
            }
            let conf = dir.join(sample);
            std::fs::write(&conf, &text).expect("write config");
            let log = dir.join(format!("{sample}.log"));
            let log_file = std::fs::File::create(&log).expect("create log");
            let child = Command::new(env!("CARGO_BIN_EXE_redmite"))
                .args(["-c", conf.to_str().expect("utf-8 path"), "-v", "6"])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone log"))
                .stderr(log_file)
                .spawn()
                .expect("spawn redmite");
            nodes.nodes.push(Node {
                child,
                client: value_of(&text, "listen"),
                datastore: value_of(&text, "servers"),
                stats: value_of(&text, "stats_listen"),
                log,
            });
        }
        for n in &nodes.nodes {
            assert!(
                poll(Duration::from_secs(20), || http_get(&n.stats, "/ping")
                    .is_ok_and(|(s, b)| s == 200 && b == "OK\r\n")),
                "node {} did not start:\n{}",
                n.client,
                std::fs::read_to_string(&n.log).unwrap_or_default()
            );
        }
        nodes
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.child.kill();
            let _ = n.child.wait();
            if std::thread::panicking() {
                eprintln!(
                    "--- {} log ---\n{}",
                    n.client,
                    std::fs::read_to_string(&n.log).unwrap_or_default()
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads one HTTP/1.1 response (status, headers, body by Content-Length).
fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, BTreeMap<String, String>, String)> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "status line {status_line:?}"
    );
    let status: u16 = status_line[9..12].parse().expect("status code");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .expect("Content-Length header")
        .parse()
        .expect("numeric length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((status, headers, String::from_utf8_lossy(&body).into_owned()))
}

fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let (status, _, body) = read_response(&mut s)?;
    Ok((status, body))
}

fn get_ok(addr: &str, path: &str) -> String {
    let (status, body) = http_get(addr, path).expect("stats request");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn json(addr: &str, path: &str) -> serde_json::Value {
    let body = get_ok(addr, path);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}):\n{body}"))
}

/// Sends one command on `s` and returns the reply's first line (bulk strings as
/// `$value`).
fn cmd_on(s: &mut TcpStream, args: &[&str]) -> String {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).expect("send command");
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).expect("read reply");
        line.push(b[0]);
    }
    line.truncate(line.len() - 2);
    let line = String::from_utf8_lossy(&line).into_owned();
    if let Some(n) = line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
        let mut body = vec![0u8; n + 2];
        s.read_exact(&mut body).expect("read bulk");
        body.truncate(n);
        return format!("${}", String::from_utf8_lossy(&body));
    }
    line
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    s
}

fn cmd(addr: &str, args: &[&str]) -> String {
    cmd_on(&mut connect(addr), args)
}

/// The INFO text of `addr` as `field -> value`.
fn info(addr: &str, section: &str) -> BTreeMap<String, String> {
    let reply = {
        let mut s = connect(addr);
        s.write_all(format!("INFO {section}\r\n").as_bytes())
            .expect("send");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n") {
            s.read_exact(&mut b).expect("read");
            head.push(b[0]);
        }
        let n: usize = String::from_utf8_lossy(&head[1..head.len() - 2])
            .parse()
            .expect("bulk");
        let mut body = vec![0u8; n + 2];
        s.read_exact(&mut body).expect("read body");
        String::from_utf8_lossy(&body[..n]).into_owned()
    };
    reply
        .lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict parser of the Prometheus text exposition format 0.0.4: HELP and TYPE
/// lines, sample lines with quoted, escaped label values, every sample belonging to a
/// family declared before it (summaries own `_sum` and `_count`). Returns the
/// families' types and the samples, or what was wrong.
fn parse_prometheus(text: &str) -> Result<(BTreeMap<String, String>, Vec<Sample>), String> {
    fn valid_name(n: &str) -> bool {
        let mut c = n.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let err = |what: &str| format!("line {}: {what}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| err("TYPE"))?;
            if !valid_name(name)
                || !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind)
            {
                return Err(err("bad TYPE"));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(err("family declared twice"));
            }
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| err("no value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(err("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let mut end = None;
            while let Some(&(i, c)) = chars.peek() {
                if c == '}' {
                    end = Some(i);
                    break;
                }
                if c == ',' {
                    chars.next();
                    continue;
                }
                let key: String = std::iter::from_fn(|| chars.next_if(|&(_, c)| c != '='))
                    .map(|(_, c)| c)
                    .collect();
                if !valid_name(&key)
                    || chars.next().map(|x| x.1) != Some('=')
                    || chars.next().map(|x| x.1) != Some('"')
                {
                    return Err(err("bad label"));
                }
                let mut value = String::new();
                loop {
                    match chars.next().map(|x| x.1) {
                        Some('"') => break,
                        Some('\\') => match chars.next().map(|x| x.1) {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            _ => return Err(err("bad escape")),
                        },
                        Some(c) => value.push(c),
                        None => return Err(err("unterminated label value")),
                    }
                }
                labels.insert(key, value);
            }
            let end = end.ok_or_else(|| err("unterminated labels"))?;
            rest = &r[end + 1..];
        }
        let value_text = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("no space before value"))?;
        let value: f64 = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| err("bad value"))?,
        };
        let family = [
            name,
            name.trim_end_matches("_sum"),
            name.trim_end_matches("_count"),
        ]
        .into_iter()
        .find(|f| types.contains_key(*f))
        .ok_or_else(|| err("sample without a TYPE"))?;
        if family != name && types[family] != "summary" && types[family] != "histogram" {
            return Err(err("_sum/_count of a non-summary"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok((types, samples))
}

fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

const FOUR_NODES: [&str; 4] = [
    "dc1_rack1.yml",
    "dc1_rack2.yml",
    "dc2_rack1.yml",
    "dc2_rack2.yml",
];

#[test]
fn info_cluster_describe_and_metrics_of_a_live_cluster() {
    let nodes = Nodes::start(&FOUR_NODES, 70, &[]);
    let stats = &nodes.nodes[0].stats;
    // /cluster_describe: 2 DCs x 2 racks, one server each, the local node included.
    assert!(poll(Duration::from_secs(20), || {
        let d = json(stats, "/cluster_describe");
        let dcs = d["dcs"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = dcs.iter().filter_map(|dc| dc["name"].as_str()).collect();
        assert_eq!(names, ["dc1", "dc2"]);
        let mut servers = Vec::new();
        for dc in &dcs {
            let racks = dc["racks"].as_array().expect("racks");
            assert_eq!(racks.len(), 2);
            for r in racks {
                for s in r["servers"].as_array().expect("servers") {
                    assert_eq!(s["port"].as_u64(), Some(8101));
                    assert_eq!(s["token"].as_u64(), Some(0));
                    servers.push((
                        s["host"].as_str().unwrap_or("").to_string(),
                        s["state"].as_str().unwrap_or("").to_string(),
                    ));
                }
            }
        }
        assert_eq!(servers.len(), 4, "{d}");
        assert!(
            servers.contains(&("127.0.70.1".into(), "local".into())),
            "{d}"
        );
        servers.iter().filter(|(_, s)| s == "up").count() == 3
    }));
    // /info: Dynomite's fields, live, moving with traffic.
    let before = json(stats, "/info");
    assert_eq!(before["service"], "dynomite");
    assert_eq!(before["dc"], "dc1");
    assert_eq!(before["rack"], "rack1");
    for f in [
        "uptime",
        "timestamp",
        "latency_max",
        "latency_99th",
        "latency_mean",
        "99_cross_region_rtt",
        "average_cross_zone_latency",
        "dyn_memory",
    ] {
        assert!(before[f].is_u64(), "{f} in {before}");
    }
    let pool = &before["dyn_o_mite"];
    let server = &pool["127.0.70.1:22122"];
    assert!(server["redis_req_set"].is_u64(), "{before}");
    assert_eq!(pool["peer_connections"].as_u64(), Some(3));
    let mut c = connect(&nodes.nodes[0].client);
    for i in 0..50 {
        assert_eq!(cmd_on(&mut c, &["SET", &format!("k{i}"), "v"]), "+OK");
    }
    assert_eq!(cmd_on(&mut c, &["GET", "k1"]), "$v");
    let after = json(stats, "/info");
    let (p0, p1) = (&before["dyn_o_mite"], &after["dyn_o_mite"]);
    let grew = |obj0: &serde_json::Value, obj1: &serde_json::Value, f: &str, by: u64| {
        let (a, b) = (obj0[f].as_u64().unwrap_or(0), obj1[f].as_u64().unwrap_or(0));
        assert!(b >= a + by, "{f}: {a} -> {b}");
    };
    grew(p0, p1, "client_write_requests", 50);
    grew(p0, p1, "client_read_requests", 1);
    // Each write goes to the other rack of dc1 and to one node of dc2.
    grew(p0, p1, "peer_requests", 50 * 2);
    grew(p0, p1, "replicated_writes", 50);
    grew(
        &p0["127.0.70.1:22122"],
        &p1["127.0.70.1:22122"],
        "redis_req_set",
        50,
    );
    grew(
        &p0["127.0.70.1:22122"],
        &p1["127.0.70.1:22122"],
        "write_requests",
        50,
    );
    assert!(after["latency_max"].as_u64() > Some(0), "{after}");
    assert_eq!(p1["client_connections"].as_u64(), Some(1));
    // The replication round trips were measured, per DC.
    assert!(poll(Duration::from_secs(10), || {
        let i = json(stats, "/info");
        i["average_cross_zone_latency"].as_u64() > Some(0)
            && i["99_cross_region_rtt"].as_u64() > Some(0)
    }));
    // The other nodes applied the writes as peer requests.
    // (dc2's rack 2 gets them forwarded by dc2's rack 1.)
    assert!(poll(Duration::from_secs(10), || {
        json(&nodes.nodes[3].stats, "/info")["dyn_o_mite"]["dnode_client_requests"].as_u64()
            >= Some(50)
    }));

    // /metrics parses, has every redis_exporter name, and agrees with INFO.
    let body = get_ok(stats, "/metrics");
    let (types, samples) = parse_prometheus(&body).unwrap_or_else(|e| panic!("{e}"));
    for name in [
        "redis_up",
        "redis_uptime_in_seconds",
        "redis_connected_clients",
        "redis_blocked_clients",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_commands_processed_total",
        "redis_connections_received_total",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "redis_expired_keys_total",
        "redis_evicted_keys_total",
        "redis_net_input_bytes_total",
        "redis_net_output_bytes_total",
        "redis_db_keys",
        "redis_db_keys_expiring",
        "redis_commands_total",
        "redis_commands_duration_seconds_total",
        "redis_instance_info",
        "redis_connected_slave_lag_seconds",
        "redmite_peer_up",
        "redmite_requests_total",
        "redmite_quorum_failures_total",
        "redmite_peer_queued_writes",
        "redmite_cross_dc_lag_seconds",
        "redmite_peer_rtt_seconds",
    ] {
        assert!(types.contains_key(name), "{name} missing");
        assert!(
            samples
                .iter()
                .any(|s| s.name == name || s.name.starts_with(&format!("{name}_"))),
            "{name} has no sample"
        );
    }
    let inf = info(&nodes.nodes[0].client, "everything");
    let cmdstat = |c: &str| -> f64 {
        let v = &inf[&format!("cmdstat_{c}")];
        v.split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .expect("calls")
            .parse()
            .expect("number")
    };
    assert_eq!(
        metric(&samples, "redis_commands_total", &[("cmd", "set")]),
        Some(cmdstat("set"))
    );
    assert_eq!(
        metric(&samples, "redis_commands_total", &[("cmd", "get")]),
        Some(cmdstat("get"))
    );
    let db0_keys: f64 = inf["db0"]
        .split(',')
        .find_map(|kv| kv.strip_prefix("keys="))
        .expect("keys")
        .parse()
        .expect("n");
    assert_eq!(
        metric(&samples, "redis_db_keys", &[("db", "db0")]),
        Some(db0_keys)
    );
    assert_eq!(db0_keys, 50.0);
    for (field, name) in [
        ("keyspace_hits", "redis_keyspace_hits_total"),
        ("keyspace_misses", "redis_keyspace_misses_total"),
        ("maxmemory", "redis_memory_max_bytes"),
    ] {
        assert_eq!(
            metric(&samples, name, &[]),
            inf[field].parse().ok(),
            "{name}"
        );
    }
    assert_eq!(
        metric(
            &samples,
            "redmite_requests_total",
            &[("op", "write"), ("level", "DC_QUORUM")]
        ),
        Some(50.0)
    );
    for peer in ["127.0.70.2", "127.0.70.3", "127.0.70.4"] {
        assert_eq!(
            metric(&samples, "redmite_peer_up", &[("peer", peer)]),
            Some(1.0),
            "{peer}"
        );
    }
    assert_eq!(
        metric(
            &samples,
            "redmite_peer_up",
            &[("peer", "127.0.70.3"), ("dc", "dc2"), ("rack", "rack1")]
        ),
        Some(1.0)
    );
    // INFO's cluster section describes the topology.
    let cl = info(&nodes.nodes[0].client, "cluster");
    assert_eq!(cl["cluster_enabled"], "0");
    assert_eq!(cl["dynomite_dc"], "dc1");
    assert_eq!(cl["dynomite_rack"], "rack1");
    assert_eq!(cl["dynomite_peers_up"], "3");
    assert!(
        cl["peer2"].contains("dc=dc2") && cl["peer2"].contains("state=up"),
        "{cl:?}"
    );
    // A peer marked down is reported down everywhere, and up again.
    assert_eq!(get_ok(stats, "/peer/down/127.0.70.4"), "OK\r\n");
    assert_eq!(
        info(&nodes.nodes[0].client, "cluster")["dynomite_peers_up"],
        "2"
    );
    assert!(get_ok(stats, "/cluster_describe")
        .contains("\"host\":\"127.0.70.4\",\"port\":8101,\"token\":0,\"state\":\"down\""));
    assert_eq!(get_ok(stats, "/peer/up/127.0.70.4"), "OK\r\n");
    assert_eq!(
        info(&nodes.nodes[0].client, "cluster")["dynomite_peers_up"],
        "3"
    );
    assert_eq!(http_get(stats, "/peer/down/nosuch").unwrap().0, 404);
    // /historeset clears the histograms.
    assert_eq!(get_ok(stats, "/historeset"), "OK\r\n");
    assert_eq!(json(stats, "/info")["latency_max"].as_u64(), Some(0));
}

#[test]
fn set_consistency_applies_to_open_connections_at_once() {
    let nodes = Nodes::start(
        &[
            "safe_quorum_rack1.yml",
            "safe_quorum_rack2.yml",
            "safe_quorum_rack3.yml",
        ],
        71,
        &[
            ("read_consistency", "DC_ONE"),
            ("write_consistency", "DC_QUORUM"),
        ],
    );
    let stats = &nodes.nodes[0].stats;
    assert_eq!(
        get_ok(stats, "/get_consistency"),
        "Read Consistency: DC_ONE\r\nWrite Consistency: DC_QUORUM\r\n"
    );
    let client = &nodes.nodes[0].client;
    assert!(poll(Duration::from_secs(20), || cmd(
        client,
        &["SET", "k", "same"]
    ) == "+OK"));
    // DC_QUORUM answered after two racks: wait for the third replica too, or its copy
    // of "same" could land after (and undo) the divergence made below.
    for n in &nodes.nodes {
        assert!(poll(Duration::from_secs(20), || cmd(
            &n.datastore,
            &["GET", "k"]
        ) == "$same"));
    }
    // The replicas disagree behind the cluster's back (local-only ports).
    assert_eq!(cmd(&nodes.nodes[1].datastore, &["SET", "k", "two"]), "+OK");
    assert_eq!(
        cmd(&nodes.nodes[2].datastore, &["SET", "k", "three"]),
        "+OK"
    );
    let mut open = connect(client);
    assert_eq!(cmd_on(&mut open, &["GET", "k"]), "$same");
    assert_eq!(
        get_ok(stats, "/set_consistency/read/dc_safe_quorum"),
        "OK\r\n"
    );
    assert_eq!(
        get_ok(stats, "/get_consistency"),
        "Read Consistency: DC_SAFE_QUORUM\r\nWrite Consistency: DC_QUORUM\r\n"
    );
    // The same, already open connection now reads at DC_SAFE_QUORUM.
    assert!(poll(Duration::from_secs(20), || cmd_on(
        &mut open,
        &["GET", "k"]
    )
        == "-ERR Dynomite: Failed to achieve Quorum"));
    assert_eq!(get_ok(stats, "/set_consistency/read/DC_ONE"), "OK\r\n");
    assert_eq!(cmd_on(&mut open, &["GET", "k"]), "$same");
    // DC_EACH_SAFE_QUORUM is accepted (Dynomite answered OK and ignored it).
    assert_eq!(
        get_ok(stats, "/set_consistency/write/dc_each_safe_quorum"),
        "OK\r\n"
    );
    assert!(
        get_ok(stats, "/get_consistency").ends_with("Write Consistency: DC_EACH_SAFE_QUORUM\r\n")
    );
    assert_eq!(
        http_get(stats, "/set_consistency/read/dc_two").unwrap().0,
        400
    );
    assert_eq!(
        http_get(stats, "/set_consistency/both/dc_one").unwrap().0,
        404
    );
    let (_, samples) = parse_prometheus(&get_ok(stats, "/metrics")).expect("metrics");
    assert!(
        metric(
            &samples,
            "redmite_quorum_failures_total",
            &[("reason", "mismatch")]
        ) >= Some(1.0)
    );
    assert!(
        metric(
            &samples,
            "redmite_requests_total",
            &[("op", "read"), ("level", "DC_SAFE_QUORUM")]
        ) >= Some(1.0)
    );
    // States and timeout factor, with Dynomite's bodies.
    assert_eq!(get_ok(stats, "/state/get_state"), "State: NORMAL\n");
    assert_eq!(get_ok(stats, "/state/writes_only"), "OK\r\n");
    assert_eq!(get_ok(stats, "/state/get_state"), "State: WRITES_ONLY\n");
    assert_eq!(
        cmd_on(&mut open, &["GET", "k"]),
        "-ERR Dynomite: Dynomite's current state does not allow this request"
    );
    assert_eq!(get_ok(stats, "/state/normal"), "OK\r\n");
    assert_eq!(get_ok(stats, "/get_timeout_factor"), "Timeout factor: 1\n");
    assert_eq!(get_ok(stats, "/set_timeout_factor/4"), "OK\r\n");
    assert_eq!(get_ok(stats, "/get_timeout_factor"), "Timeout factor: 4\n");
    assert_eq!(get_ok(stats, "/set_timeout_factor/99"), "OK\r\n");
    assert_eq!(get_ok(stats, "/get_timeout_factor"), "Timeout factor: 10\n");
    assert_eq!(
        get_ok(stats, "/read_repairs/enable"),
        "Read Repairs: ENABLED\r\n"
    );
    assert_eq!(
        get_ok(stats, "/read_repairs/disable"),
        "Read Repairs: DISABLED\r\n"
    );
    assert_eq!(get_ok(stats, "/setloglevel/7"), "OK\r\n");
    assert_eq!(get_ok(stats, "/logleveldown"), "OK\r\n");
    assert_eq!(http_get(stats, "/setloglevel/12").unwrap().0, 400);
    assert!(get_ok(stats, "/help").contains("/set_consistency/<read|write>/"));
}

#[test]
fn the_endpoint_survives_bad_requests_slow_clients_and_many_scrapes() {
    let nodes = Nodes::start(&["redis_single.yml"], 72, &[]);
    let stats = nodes.nodes[0].stats.clone();
    assert_eq!(http_get(&stats, "/nope").unwrap().0, 404);
    // Malformed requests get a 400 (or 505, 431) and the connection is closed.
    for bad in [
        &b"\x00\xff garbage\r\n\r\n"[..],
        b"GET /info\r\n\r\n",
        b"GET /info HTTP/9.9\r\n\r\n",
        b"GET /info HTTP/1.1\r\nno colon here\r\n\r\n",
        &[b'x'; 20_000][..],
    ] {
        let mut s = connect(&stats);
        let _ = s.write_all(bad);
        let (status, headers, _) = read_response(&mut s).expect("an error response");
        assert!([400, 431, 505].contains(&status), "{status}");
        assert_eq!(headers["connection"], "close");
        let mut rest = Vec::new();
        assert_eq!(
            s.read_to_end(&mut rest).unwrap_or(0),
            0,
            "closed after the error"
        );
    }
    // Methods other than GET/HEAD are 405; HEAD has headers only.
    let mut s = connect(&stats);
    s.write_all(b"POST /info HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")
        .unwrap();
    let (status, headers, _) = read_response(&mut s).unwrap();
    assert_eq!((status, headers["allow"].as_str()), (405, "GET, HEAD"));
    // Keep-alive: several requests on one connection, pipelined.
    let mut s = connect(&stats);
    s.write_all(b"GET /ping HTTP/1.1\r\n\r\nHEAD /info HTTP/1.1\r\n\r\nGET /ping HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().2, "OK\r\n");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(String::from_utf8_lossy(&head).contains("Content-Length: "));
    assert_eq!(read_response(&mut s).unwrap().2, "OK\r\n");
    // A slow client is closed after the header timeout, and others are served meanwhile.
    let mut slow = connect(&stats);
    slow.write_all(b"GET /info HT").unwrap();
    let t0 = Instant::now();
    assert_eq!(get_ok(&stats, "/ping"), "OK\r\n");
    let mut buf = [0u8; 64];
    assert_eq!(slow.read(&mut buf).unwrap_or(0), 0, "slow client closed");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(14),
        "{waited:?}"
    );
    // 1,000 concurrent scrapes: all connections open at once, then all answered, while
    // the client port keeps answering.
    let mut conns: Vec<TcpStream> = (0..1000).map(|_| connect(&stats)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let path = if i % 2 == 0 { "/metrics" } else { "/info" };
        c.write_all(format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes())
            .unwrap();
    }
    assert_eq!(cmd(&nodes.nodes[0].client, &["PING"]), "+PONG");
    for (i, c) in conns.iter_mut().enumerate() {
        let (status, _, body) =
            read_response(c).unwrap_or_else(|e| panic!("scrape {i} answered: {e}"));
        assert_eq!(status, 200);
        if i % 2 == 0 {
            parse_prometheus(&body).expect("valid metrics");
        } else {
            serde_json::from_str::<serde_json::Value>(&body).expect("valid JSON");
        }
    }
    let i = json(&stats, "/info");
    assert!(i["dyn_o_mite"]["stats_count"].as_u64() >= Some(1000));
    assert_eq!(cmd(&nodes.nodes[0].client, &["PING"]), "+PONG");
}

#[test]
fn describe_stats_lists_every_counter() {
    let out = Command::new(env!("CARGO_BIN_EXE_redmite"))
        .arg("-D")
        .output()
        .expect("run -D");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("pool stats:\n"), "{text}");
    for c in [
        "client_connections",
        "peer_requests",
        "redis_req_get",
        "server_eof",
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(c))
            .unwrap_or_else(|| panic!("{c}"));
        assert!(line.contains("\"#") || line.contains("\"total"), "{line}");
    }
}
