//! Connections and the process life cycle, against the real binary: many concurrent
//! clients, CLIENT LIST/KILL, SHUTDOWN and SIGTERM exit codes, and `--requirepass`.

mod common;

use std::time::Duration;

use common::{poll_until, show, Server};

const CLIENTS: usize = 1000;

/// 1,000 clients connect at once, each SETs and GETs its own key; CLIENT LIST shows
/// every one of them, and CLIENT KILL closes exactly the one it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_clients() {
    let server = std::sync::Arc::new(Server::start(&[]));
    let mut tasks = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = server
                .async_conn()
                .await
                .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
            let key = format!("client:{i}");
            let value = format!("value of {i}");
            let ok: String = redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("client {i}: SET: {e}"));
            assert_eq!(ok, "OK", "client {i}");
            let got: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("client {i}: GET: {e}"));
            assert_eq!(got.as_deref(), Some(value.as_str()), "client {i}");
            let id: i64 = redis::cmd("CLIENT")
                .arg("ID")
                .query_async(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("client {i}: CLIENT ID: {e}"));
            (conn, id)
        }));
    }
    // Keep every connection open until CLIENT LIST has been checked.
    let mut conns = Vec::with_capacity(CLIENTS);
    for t in tasks {
        conns.push(t.await.expect("client task"));
    }

    let mut admin = server.async_conn().await.unwrap();
    let dbsize: usize = redis::cmd("DBSIZE").query_async(&mut admin).await.unwrap();
    assert_eq!(dbsize, CLIENTS);
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    for (_, id) in &conns {
        let field = format!("id={id} ");
        assert!(
            list.lines().any(|l| l.starts_with(&field)),
            "client id {id} missing from CLIENT LIST"
        );
    }
    assert_eq!(list.lines().count(), CLIENTS + 1, "CLIENT LIST:\n{list}");

    // Kill one by id: it disappears, and its next command fails.
    let (mut victim, victim_id) = conns.pop().unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(victim_id)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut victim).await;
    assert!(ping.is_err(), "killed client still answered: {ping:?}");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(!list.contains(&format!("id={victim_id} ")));

    // The others are unaffected.
    let (mut other, _) = conns.pop().unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut other).await.unwrap();
    assert_eq!(pong, "PONG");
}

/// CLIENT KILL with the old `addr:port` form closes that socket right away.
#[test]
fn client_kill_by_address_closes_the_socket() {
    let server = Server::start(&[]);
    let mut victim = server.raw();
    assert_eq!(victim.cmd(&[b"CLIENT", b"SETNAME", b"victim"]), b"+OK\r\n");
    let addr = victim.stream().local_addr().unwrap().to_string();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"KILL", addr.as_bytes()]),
        b"+OK\r\n"
    );
    let rest = victim.read_until_closed(Duration::from_secs(10));
    assert_eq!(show(&rest), "");
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"KILL", addr.as_bytes()]),
        b"-ERR No such client\r\n"
    );
}

/// SHUTDOWN over the wire ends the process with exit code 0.
#[test]
fn shutdown_command_exits_zero() {
    let mut server = Server::start(&[]);
    let mut raw = server.raw();
    raw.send(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n");
    // Redis sends no reply: the connection just closes.
    assert_eq!(show(&raw.read_until_closed(Duration::from_secs(10))), "");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("redmite still running 10 s after SHUTDOWN");
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
}

/// SIGTERM (what `docker stop` and systemd send) ends the process with exit code 0,
/// also while clients are connected.
#[test]
fn sigterm_exits_zero() {
    let mut server = Server::start(&[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    server.sigterm();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("redmite still running 10 s after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert_eq!(show(&raw.read_until_closed(Duration::from_secs(10))), "");
}

/// With `--requirepass`, commands other than AUTH/HELLO fail until the client
/// authenticates; a wrong password is refused with Redis's text.
#[test]
fn requirepass_needs_auth() {
    let server = Server::start(&["--requirepass", "s3cret"]);
    let mut raw = server.raw();
    let noauth = b"-NOAUTH Authentication required.\r\n";
    assert_eq!(raw.cmd(&[b"GET", b"k"]), noauth);
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), noauth);
    assert_eq!(raw.cmd(&[b"PING"]), noauth);
    assert_eq!(
        raw.cmd(&[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw.cmd(&[b"GET", b"k"]), noauth);
    assert_eq!(raw.cmd(&[b"AUTH", b"s3cret"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");

    // A fresh connection starts unauthenticated again.
    let mut other = server.raw();
    assert_eq!(other.cmd(&[b"GET", b"k"]), noauth);
    assert_eq!(other.cmd(&[b"AUTH", b"default", b"s3cret"]), b"+OK\r\n");
    assert_eq!(other.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");

    // The redis crate, without and with the password in the URL.
    let mut conn = server.conn();
    let err = redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut conn)
        .unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    let url = format!("redis://:s3cret@127.0.0.1:{}/", server.port());
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut conn).unwrap();
    assert_eq!(v, "v");
}

/// Dropping a client mid-command and reconnecting does not leak a CLIENT LIST entry.
#[test]
fn closed_connections_leave_client_list() {
    let server = Server::start(&[]);
    let mut admin = server.raw();
    for _ in 0..20 {
        let mut c = server.raw();
        assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
        c.send(b"*2\r\n$3\r\nGET\r\n");
    }
    let only_admin = poll_until(Duration::from_secs(10), || {
        let list = admin.cmd(&[b"CLIENT", b"LIST"]);
        String::from_utf8_lossy(&list).matches("id=").count() == 1
    });
    assert!(only_admin, "closed clients still listed");
}

/// `redmite_threads` sizes the runtime (the node logs the count its runtime reports),
/// and the node serves with one worker as with several.
#[test]
fn redmite_threads_sets_the_worker_threads() {
    for n in [1, 3] {
        let dir = std::env::temp_dir().join(format!("redmite-threads-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("node.yml");
        std::fs::write(
            &conf,
            format!(
                "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  dyn_listen: 127.0.0.1:8101\n  \
                 servers:\n  - 127.0.0.1:{}:1\n  tokens: '0'\n  redmite_threads: {n}\n",
                common::free_port()
            ),
        )
        .unwrap();
        let server = Server::start(&["-c", conf.to_str().unwrap()]);
        let mut conn = server.conn();
        let _: () = redis::cmd("SET").arg("k").arg(n).query(&mut conn).unwrap();
        let v: u32 = redis::cmd("GET").arg("k").query(&mut conn).unwrap();
        assert_eq!(v, n);
        let line = format!("{n} worker threads");
        assert!(
            poll_until(Duration::from_secs(5), || server.log_text().contains(&line)),
            "no '{line}' in the log: {}",
            server.log_text()
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
