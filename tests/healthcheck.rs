//! `redmite healthcheck`, the probe of the container images' HEALTHCHECK: run as a real
//! process against a real server, a closed port, and sockets that misbehave.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{free_port, Server};

fn healthcheck(args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_redmite"))
        .arg("healthcheck")
        .args(args)
        .output()
        .expect("run redmite healthcheck");
    (out, t0.elapsed())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_running_server_is_healthy_and_a_stopped_one_is_not() {
    let mut server = Server::start(&[]);
    let addr = server.addr().to_string();
    let (out, _) = healthcheck(&["--addr", &addr]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("answered PONG"), "{}", text(&out));

    server.sigterm();
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    let (out, took) = healthcheck(&["--addr", &addr]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("cannot connect"), "{}", text(&out));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_closed_port_is_unhealthy() {
    let addr = format!("127.0.0.1:{}", free_port());
    let (out, _) = healthcheck(&["--addr", &addr]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).starts_with("unhealthy: cannot connect to"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_server_with_a_password_is_healthy() {
    let server = Server::start(&["--requirepass", "secret"]);
    let (out, _) = healthcheck(&["--addr", &server.addr().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_silent_listener_times_out() {
    // Accepts (the kernel completes the handshake) but never answers.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let (out, took) = healthcheck(&["--addr", &addr, "--timeout-ms", "300"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("within the timeout"), "{}", text(&out));
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_wrong_reply_is_unhealthy() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).expect("read the probe");
        s.write_all(b"-LOADING Redis is loading the dataset in memory\r\n")
            .expect("reply");
        buf[..n].to_vec()
    });
    let (out, _) = healthcheck(&["--addr", &addr]);
    assert_eq!(peer.join().expect("peer thread"), b"PING\r\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("unexpected reply"), "{}", text(&out));
}

#[test]
fn an_unresolvable_address_is_unhealthy() {
    let (out, _) = healthcheck(&["--addr", "no-such-host.invalid:8102"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("cannot resolve"), "{}", text(&out));
}
