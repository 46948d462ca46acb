//! Membership tests: nodes that learn their peers at run time from a Florida-style HTTP
//! endpoint, from a DNS TXT record, or from each other by gossip, and then replicate
//! writes to them.
//!
//! The test itself serves the seeds (a tiny HTTP server, a tiny UDP DNS server, both on
//! loopback) and changes what it serves while the nodes run. Each test has its own
//! loopback subnet (127.0.61–63.x), so they run in parallel. Nodes are killed when the
//! test's [`Nodes`] is dropped, also on panic; every condition is polled with a deadline.

mod common;

use common::poll_until as poll;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// One running node: its client and stats addresses, its log.
struct Node {
    child: Child,
    client: String,
    stats: String,
    log: PathBuf,
}

/// The nodes of one test, killed on drop (their logs printed when the test failed).
struct Nodes {
    nodes: Vec<Node>,
    dir: PathBuf,
}

impl Nodes {
    fn new(net: u8) -> Nodes {
        let dir =
            std::env::temp_dir().join(format!("redmite-membership-{}-{net}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Nodes {
            nodes: Vec::new(),
            dir,
        }
    }

    /// Starts a node from `conf` (text) listening on `ip` (client 8102, stats 22222),
    /// with `env` set, and waits for its PING.
    fn start(&mut self, ip: &str, conf: &str, env: &[(&str, String)]) -> usize {
        let i = self.nodes.len();
        let path = self.dir.join(format!("node{i}.yml"));
        std::fs::write(&path, conf).expect("write config");
        let log = self.dir.join(format!("node{i}.log"));
        let child = spawn(&path, &log, env);
        let client = format!("{ip}:8102");
        self.nodes.push(Node {
            child,
            client: client.clone(),
            stats: format!("{ip}:22222"),
            log,
        });
        assert!(
            poll(WAIT, || cmd(&client, &["PING"]).is_ok_and(|r| r == "+PONG")),
            "node {client} did not start:\n{}",
            self.log(i)
        );
        i
    }

    fn client(&self, i: usize) -> &str {
        &self.nodes[i].client
    }

    fn describe(&self, i: usize) -> String {
        http_get(&self.nodes[i].stats, "/cluster_describe").unwrap_or_default()
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
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

fn spawn(conf: &Path, log: &Path, env: &[(&str, String)]) -> Child {
    let log_file = std::fs::File::create(log).expect("create log");
    let mut c = Command::new(env!("CARGO_BIN_EXE_redmite"));
    c.arg("-c").arg(conf).arg("-v").arg("6");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log"))
        .stderr(log_file)
        .spawn()
        .expect("spawn redmite")
}

/// A node's configuration: `ip` for every port, in `dc1`, rack `rack`, token 0, and
/// `extra` directives (two-space indented lines).
fn conf(ip: &str, rack: &str, extra: &str) -> String {
    format!(
        "dyn_o_mite:\n  datacenter: dc\n  rack: {rack}\n  listen: {ip}:8102\n  dyn_listen: {ip}:8101\n  \
         stats_listen: {ip}:22222\n  servers:\n  - {ip}:22122:1\n  tokens: '0'\n{extra}"
    )
}

/// A sample from `conf/` moved onto `ip`, with `extra` directives appended.
fn sample(name: &str, ip: &str, extra: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name);
    let text = std::fs::read_to_string(path).expect("read sample config");
    text.replace("0.0.0.0", ip).replace("127.0.0.1", ip) + extra
}

/// Sends one command on a fresh connection; the reply as `+OK`, `$value`, `$nil`, `:1`
/// or `-ERR ...`; for INFO the whole bulk text.
fn cmd(addr: &str, args: &[&str]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b)?;
        line.push(b[0]);
    }
    line.truncate(line.len() - 2);
    let line = String::from_utf8_lossy(&line).into_owned();
    match line.strip_prefix('$').map(str::parse::<i64>) {
        Some(Ok(n)) if n >= 0 => {
            let mut body = vec![0u8; n as usize + 2];
            s.read_exact(&mut body)?;
            body.truncate(n as usize);
            Ok(format!("${}", String::from_utf8_lossy(&body)))
        }
        Some(_) => Ok("$nil".into()),
        None => Ok(line),
    }
}

/// GET `path` from a stats endpoint; the body of a 200 answer.
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(std::io::Error::other(format!("bad answer: {text}"))),
    }
}

/// Polls until `GET key` on `addr` answers `$want`.
fn eventually_get(addr: &str, key: &str, want: &str) -> bool {
    poll(WAIT, || {
        cmd(addr, &["GET", key]).is_ok_and(|r| r == format!("${want}"))
    })
}

/// Polls until `addr`'s `/cluster_describe` lists `host` with its peer link up.
fn until_linked(nodes: &Nodes, i: usize, host: &str) {
    let needle = format!("\"host\":\"{host}\",\"port\":8101,\"token\":0,\"state\":\"up\"");
    assert!(
        poll(WAIT, || nodes.describe(i).contains(&needle)),
        "node {i} never linked to {host}: {}\n{}",
        nodes.describe(i),
        nodes.log(i)
    );
}

/// A one-thread HTTP server answering every request with `body` (HTTP/1.0, then
/// close); `status` other than 200 answers that status. Stops on drop.
struct SeedsHttp {
    port: u16,
    body: Arc<Mutex<(u16, String)>>,
    stop: Arc<AtomicBool>,
}

impl SeedsHttp {
    fn start(ip: &str, body: &str) -> SeedsHttp {
        let l = TcpListener::bind((ip, 0)).expect("bind the seeds server");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("local addr").port();
        let body = Arc::new(Mutex::new((200, body.to_string())));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, st) = (body.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut req = Vec::new();
                let mut chunk = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&chunk[..n]),
                    }
                }
                let (status, text) = b.lock().expect("seeds lock").clone();
                let _ = write!(
                    s,
                    "HTTP/1.0 {status} X\r\nContent-Type: text/plain\r\n\r\n{text}"
                );
            }
        });
        SeedsHttp { port, body, stop }
    }

    fn serve(&self, status: u16, text: &str) {
        *self.body.lock().expect("seeds lock") = (status, text.to_string());
    }
}

impl Drop for SeedsHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A one-thread UDP DNS server answering every query with one TXT record holding
/// `text` (split into 100-byte character-strings). Stops on drop.
struct SeedsDns {
    port: u16,
    text: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl SeedsDns {
    fn start(ip: &str, text: &str) -> SeedsDns {
        let sock = UdpSocket::bind((ip, 0)).expect("bind the DNS server");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let port = sock.local_addr().expect("local addr").port();
        let text = Arc::new(Mutex::new(text.to_string()));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, st) = (text.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                // The question ends after the name's zero byte, type and class.
                let Some(end) = q.iter().skip(12).position(|&b| b == 0).map(|p| 12 + p + 5) else {
                    continue;
                };
                let text = t.lock().expect("dns lock").clone();
                let mut r = Vec::new();
                r.extend_from_slice(&q[..2]);
                r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
                r.extend_from_slice(&q[12..end.min(n)]);
                let strings: Vec<&[u8]> = text.as_bytes().chunks(100).collect();
                let rdlen: usize = strings.iter().map(|s| s.len() + 1).sum();
                r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 5]);
                r.extend_from_slice(&(rdlen as u16).to_be_bytes());
                for s in strings {
                    r.push(s.len() as u8);
                    r.extend_from_slice(s);
                }
                let _ = sock.send_to(&r, from);
            }
        });
        SeedsDns { port, text, stop }
    }

    fn serve(&self, text: &str) {
        *self.text.lock().expect("dns lock") = text.to_string();
    }
}

impl Drop for SeedsDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The seeds string entry for a node of `dc` on `ip`.
fn seed(ip: &str, rack: &str) -> String {
    format!("{ip}:8101:{rack}:dc:0")
}

#[test]
fn florida_provider_adds_the_peers_it_serves() {
    let mut nodes = Nodes::new(61);
    let b = nodes.start("127.0.61.2", &conf("127.0.61.2", "rack2", ""), &[]);
    let c = nodes.start("127.0.61.3", &conf("127.0.61.3", "rack3", ""), &[]);
    // The list includes the node itself, as Florida's does; it must skip itself.
    let http = SeedsHttp::start(
        "127.0.61.250",
        &format!(
            "{}|{}\n",
            seed("127.0.61.1", "rack1"),
            seed("127.0.61.2", "rack2")
        ),
    );
    let env = [
        ("DYNOMITE_FLORIDA_IP", "127.0.61.250".to_string()),
        ("DYNOMITE_FLORIDA_PORT", http.port.to_string()),
        (
            "DYNOMITE_FLORIDA_REQUEST",
            "/REST/v1/admin/get_seeds".to_string(),
        ),
    ];
    let a = nodes.start(
        "127.0.61.1",
        &sample(
            "dynomite_florida_single.yml",
            "127.0.61.1",
            "  gos_interval: 100\n",
        ),
        &env,
    );
    until_linked(&nodes, a, "127.0.61.2");
    assert!(!nodes.describe(a).contains("127.0.61.3"));
    assert_eq!(cmd(nodes.client(a), &["SET", "f1", "v1"]).unwrap(), "+OK");
    assert!(eventually_get(nodes.client(b), "f1", "v1"));

    // A later list adds node C; writes from then on reach it too.
    http.serve(
        200,
        &[
            seed("127.0.61.1", "rack1"),
            seed("127.0.61.2", "rack2"),
            seed("127.0.61.3", "rack3"),
        ]
        .join("|"),
    );
    until_linked(&nodes, a, "127.0.61.3");
    assert_eq!(cmd(nodes.client(a), &["SET", "f2", "v2"]).unwrap(), "+OK");
    assert!(eventually_get(nodes.client(b), "f2", "v2"));
    assert!(eventually_get(nodes.client(c), "f2", "v2"));
    let info = cmd(nodes.client(a), &["INFO", "cluster"]).unwrap();
    assert!(info.contains("dynomite_peers:2"), "{info}");

    // A failing endpoint warns and keeps the members; the node keeps replicating.
    http.serve(500, "oops");
    assert!(
        poll(WAIT, || nodes.log(a).contains(
            "cannot get the seeds: the endpoint answered HTTP status 500"
        )),
        "no warning about the failing provider:\n{}",
        nodes.log(a)
    );
    assert_eq!(cmd(nodes.client(a), &["SET", "f3", "v3"]).unwrap(), "+OK");
    assert!(eventually_get(nodes.client(c), "f3", "v3"));
    assert!(nodes.describe(a).contains("127.0.61.3"));
    // The warning is rate-limited: one per minute, not one per poll.
    let warnings = nodes.log(a).matches("cannot get the seeds").count();
    assert_eq!(warnings, 1, "{}", nodes.log(a));
}

#[test]
fn dns_provider_adds_the_peers_of_its_txt_record() {
    let mut nodes = Nodes::new(62);
    let b = nodes.start("127.0.62.2", &conf("127.0.62.2", "rack2", ""), &[]);
    let c = nodes.start("127.0.62.3", &conf("127.0.62.3", "rack3", ""), &[]);
    // Longer than one character-string: the record arrives split and must be joined.
    let padding = "|not-a-seed".repeat(12);
    let dns = SeedsDns::start(
        "127.0.62.250",
        &format!(
            "{}|{}{padding}",
            seed("127.0.62.1", "rack1"),
            seed("127.0.62.2", "rack2")
        ),
    );
    let env = [
        ("REDMITE_DNS_SERVER", format!("127.0.62.250:{}", dns.port)),
        ("DYNOMITE_DNS_NAME", "_dynomite.test.internal".to_string()),
    ];
    let a = nodes.start(
        "127.0.62.1",
        &sample(
            "dynomite_dns_single.yml",
            "127.0.62.1",
            "  gos_interval: 100\n",
        ),
        &env,
    );
    until_linked(&nodes, a, "127.0.62.2");
    assert_eq!(cmd(nodes.client(a), &["SET", "d1", "v1"]).unwrap(), "+OK");
    assert!(eventually_get(nodes.client(b), "d1", "v1"));
    assert!(nodes.log(a).contains("skipping seed \"not-a-seed\""));

    dns.serve(&format!(
        "{}|{}|{}",
        seed("127.0.62.1", "rack1"),
        seed("127.0.62.2", "rack2"),
        seed("127.0.62.3", "rack3")
    ));
    until_linked(&nodes, a, "127.0.62.3");
    assert_eq!(cmd(nodes.client(a), &["SET", "d2", "v2"]).unwrap(), "+OK");
    assert!(eventually_get(nodes.client(b), "d2", "v2"));
    assert!(eventually_get(nodes.client(c), "d2", "v2"));
}

#[test]
fn gossip_spreads_members_and_states() {
    let mut nodes = Nodes::new(63);
    let gossip = "  enable_gossip: true\n  gos_interval: 100\n";
    // B knows nobody, A knows B, C knows A: only gossip can tell C about B.
    let b = nodes.start("127.0.63.2", &conf("127.0.63.2", "rack2", gossip), &[]);
    let a = nodes.start(
        "127.0.63.1",
        &conf(
            "127.0.63.1",
            "rack1",
            &format!(
                "{gossip}  dyn_seeds:\n  - {}\n",
                seed("127.0.63.2", "rack2")
            ),
        ),
        &[],
    );
    let c = nodes.start(
        "127.0.63.3",
        &conf(
            "127.0.63.3",
            "rack3",
            &format!(
                "{gossip}  dyn_seeds:\n  - {}\n",
                seed("127.0.63.1", "rack1")
            ),
        ),
        &[],
    );
    for (i, others) in [
        (a, ["127.0.63.2", "127.0.63.3"]),
        (b, ["127.0.63.1", "127.0.63.3"]),
        (c, ["127.0.63.1", "127.0.63.2"]),
    ] {
        for host in others {
            until_linked(&nodes, i, host);
        }
    }
    assert_eq!(cmd(nodes.client(c), &["SET", "g1", "v1"]).unwrap(), "+OK");
    assert!(eventually_get(nodes.client(b), "g1", "v1"));
    assert!(eventually_get(nodes.client(a), "g1", "v1"));

    // B goes to STANDBY through its stats endpoint; A and C learn it by gossip.
    assert_eq!(
        http_get("127.0.63.2:22222", "/state/standby")
            .unwrap()
            .trim(),
        "OK"
    );
    let b_standby = "\"host\":\"127.0.63.2\",\"port\":8101,\"token\":0,\"state\":\"up\",\"node_state\":\"STANDBY\"";
    assert!(
        poll(WAIT, || nodes.describe(a).contains(b_standby)),
        "A never saw B in STANDBY: {}",
        nodes.describe(a)
    );
    assert!(
        poll(WAIT, || cmd(nodes.client(c), &["INFO", "cluster"])
            .is_ok_and(
                |i| i.contains("addr=127.0.63.2:8101") && i.contains("node_state=STANDBY")
            )),
        "C's INFO cluster never showed B in STANDBY: {}",
        cmd(nodes.client(c), &["INFO", "cluster"]).unwrap_or_default()
    );
    // The state is B's own: B refuses requests, A does not.
    assert!(cmd(nodes.client(b), &["GET", "g1"])
        .unwrap()
        .contains("current state"));
    assert_eq!(cmd(nodes.client(a), &["GET", "g1"]).unwrap(), "$v1");
    assert!(nodes.describe(b).contains("\"node_state\":\"STANDBY\""));
}

#[test]
fn the_provider_samples_pass_the_config_check() {
    for name in ["dynomite_florida_single.yml", "dynomite_dns_single.yml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("conf")
            .join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_redmite"))
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .expect("run redmite -t");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {text}");
        assert!(text.contains("syntax is valid"), "{name}: {text}");
    }
}
