//! Pub/sub through the real binary: ordered delivery to many subscribers under load,
//! and the output buffer limit that disconnects a subscriber that stops reading.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{resp_cmd, Raw, Server};

/// Reads one RESP2 `message` push from `r` and returns its payload.
fn read_message(r: &mut impl BufRead) -> Vec<u8> {
    let mut line = String::new();
    let mut next_line = |r: &mut dyn BufRead| {
        line.clear();
        r.read_line(&mut line).expect("read a line");
        assert!(line.ends_with("\r\n"), "truncated line {line:?}");
        line.trim_end().to_string()
    };
    assert_eq!(next_line(r), "*3");
    let mut bulk = |r: &mut dyn BufRead| {
        let head = next_line(r);
        let n: usize = head[1..].parse().expect("a bulk length");
        let mut body = vec![0u8; n + 2];
        r.read_exact(&mut body).expect("read a bulk");
        body.truncate(n);
        body
    };
    assert_eq!(bulk(r), b"message");
    assert_eq!(bulk(r), b"ch");
    bulk(r)
}

/// A subscriber of `ch` on its own connection, with the confirmation read.
fn subscriber(server: &Server) -> Raw {
    let mut sub = server.raw();
    let reply = sub.cmd(&[b"SUBSCRIBE", b"ch"]);
    assert_eq!(reply, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    sub
}

#[test]
fn hundred_thousand_messages_reach_ten_subscribers_in_order() {
    const MESSAGES: usize = 100_000;
    const SUBSCRIBERS: usize = 10;
    let server = Server::start(&[]);
    let readers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut sub = subscriber(&server);
            let stream = sub.stream().try_clone().expect("clone the stream");
            std::thread::spawn(move || {
                let mut r = BufReader::with_capacity(256 * 1024, stream);
                for i in 0..MESSAGES {
                    let got = read_message(&mut r);
                    assert_eq!(got, i.to_string().as_bytes(), "message {i} out of order");
                }
            })
        })
        .collect();
    let mut publisher = TcpStream::connect(server.addr()).expect("connect");
    let mut replies = BufReader::new(publisher.try_clone().expect("clone"));
    let mut line = String::new();
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Vec::new();
        for i in chunk {
            batch.extend(resp_cmd(&[b"PUBLISH", b"ch", i.to_string().as_bytes()]));
        }
        publisher.write_all(&batch).expect("publish");
        for _ in chunk {
            line.clear();
            replies.read_line(&mut line).expect("PUBLISH reply");
            assert_eq!(line, format!(":{SUBSCRIBERS}\r\n"));
        }
    }
    for r in readers {
        r.join().expect("a subscriber saw every message in order");
    }
}

/// A field of `INFO memory` as a number.
fn info_field(conn: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(conn).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_at_its_buffer_limit() {
    let server = Server::start(&[]);
    let mut conn = server.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 4mb 2mb 60")
        .query(&mut conn)
        .expect("CONFIG SET");
    let mut sub = subscriber(&server);
    let id_reply = {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query(&mut conn)
            .expect("CLIENT LIST");
        list
    };
    assert_eq!(id_reply.lines().count(), 1, "one pubsub client: {id_reply}");
    let before = info_field(&mut conn, "used_memory");
    // The subscriber never reads again. Publish 1 KB messages, 256 KB at a time, until
    // it is gone (kernel socket buffers absorb a few MB first) or 64 MB were sent.
    let payload = vec![b'x'; 1024];
    let mut published = 0usize;
    let mut peak = before;
    let mut gone = false;
    while published < 64 << 20 {
        let mut pipe = redis::pipe();
        for _ in 0..256 {
            pipe.cmd("PUBLISH").arg("ch").arg(&payload[..]).ignore();
        }
        let _: () = pipe.query(&mut conn).expect("PUBLISH");
        published += 256 * 1024;
        peak = peak.max(info_field(&mut conn, "used_memory"));
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query(&mut conn)
            .expect("CLIENT LIST");
        if list.trim().is_empty() && published >= 5 << 20 {
            gone = true;
            break;
        }
    }
    assert!(
        gone,
        "the subscriber was still connected after {published} bytes"
    );
    // What the server holds for the subscriber is its queue, up to the 4 MB hard
    // limit, counting what it took from it and could not write yet: with the
    // allocator's size classes and the publisher's own buffers, about 1.3 times the
    // limit. A message kept in a buffer grown by doubling (twice its size) makes it
    // about 2.4 times.
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 6 << 20,
        "used_memory grew by {grown} bytes while {published} bytes were published"
    );
    let log = server.log_text();
    assert!(log.contains("output buffer limits"), "no log line: {log}");
    // The server closed the subscriber's socket.
    sub.stream()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match sub.stream().read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the subscriber's socket was not closed: {e}"),
        }
    }
}

/// What is written to a subscriber counts in INFO's `total_net_output_bytes` (its
/// writer counts outside the store lock). 2,000 messages of 1,000 bytes: the other
/// bytes the server writes meanwhile (2,000 `:1` replies, at most 500 polls of
/// `INFO stats`) come to well under the 2 MB checked for.
#[test]
fn messages_written_to_subscribers_count_as_output_bytes() {
    const MESSAGES: usize = 2000;
    const SIZE: usize = 1000;
    let server = Server::start(&[]);
    let mut sub = subscriber(&server);
    let mut conn = server.conn();
    let output = |conn: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("stats").query(conn).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("total_net_output_bytes in INFO stats")
    };
    let before = output(&mut conn);
    let payload = vec![b'x'; SIZE];
    for _ in 0..MESSAGES {
        let n: u64 = redis::cmd("PUBLISH")
            .arg("ch")
            .arg(&payload[..])
            .query(&mut conn)
            .unwrap();
        assert_eq!(n, 1);
    }
    let mut reader = BufReader::new(sub.stream().try_clone().unwrap());
    for _ in 0..MESSAGES {
        assert_eq!(read_message(&mut reader).len(), SIZE);
    }
    let wanted = (MESSAGES * SIZE) as u64;
    let counted = common::poll_until(Duration::from_secs(5), || {
        output(&mut conn) - before >= wanted
    });
    assert!(
        counted,
        "total_net_output_bytes grew by {} for {wanted} bytes of messages",
        output(&mut conn) - before
    );
}
