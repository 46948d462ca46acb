//! The wire protocol, end to end against the real binary: pipelining, RESP3, very large
//! and binary values, inline commands, and malformed input.
//!
//! Replies are compared as raw bytes, because exactness is the point: a client library
//! would hide the difference between `$-1` and `_`, or between two error texts. Every
//! malformed-input case also checks that the server keeps serving other clients and is
//! still running.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{resp_cmd, show, Server};

/// 10,000 commands in a single write come back as 10,000 replies, in order.
#[test]
fn pipelining_10k_commands_in_one_write() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let n = 10_000;
    let mut batch = Vec::new();
    for i in 0..n {
        let key = format!("k{i}");
        let val = format!("v{i}");
        batch.extend(resp_cmd(&[b"SET", key.as_bytes(), val.as_bytes()]));
        batch.extend(resp_cmd(&[b"GET", key.as_bytes()]));
    }
    raw.send(&batch);
    for i in 0..n {
        assert_eq!(raw.read_frame(), b"+OK\r\n", "SET #{i}");
        let want = format!("${}\r\nv{i}\r\n", format!("v{i}").len());
        assert_eq!(show(&raw.read_frame()), show(want.as_bytes()), "GET #{i}");
    }
    assert_eq!(raw.cmd(&[b"DBSIZE"]), format!(":{n}\r\n").as_bytes());
}

/// After `HELLO 3` the connection speaks RESP3: a map for HELLO itself, `_` for nulls,
/// maps for CONFIG GET; `HELLO 2` switches back.
#[test]
fn resp3_after_hello_3() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&[b"GET", b"missing"]), b"$-1\r\n");

    let hello = raw.cmd(&[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
    for field in [
        &b"$6\r\nserver\r\n$5\r\nredis\r\n"[..],
        b"$5\r\nproto\r\n:3\r\n",
        b"$4\r\nmode\r\n$10\r\nstandalone\r\n",
        b"$4\r\nrole\r\n$6\r\nmaster\r\n",
        b"$7\r\nmodules\r\n*0\r\n",
    ] {
        assert!(
            hello.windows(field.len()).any(|w| w == field),
            "HELLO 3 lacks {} in {}",
            show(field),
            show(&hello)
        );
    }

    assert_eq!(raw.cmd(&[b"GET", b"missing"]), b"_\r\n");
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    assert_eq!(
        raw.cmd(&[b"SET", b"k", b"w", b"NX", b"GET"]),
        b"$1\r\nv\r\n"
    );
    assert_eq!(raw.cmd(&[b"SET", b"k2", b"w", b"XX"]), b"_\r\n");
    assert_eq!(raw.cmd(&[b"EXISTS", b"k", b"missing"]), b":1\r\n");
    assert_eq!(raw.cmd(&[b"TYPE", b"k"]), b"+string\r\n");
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    assert_eq!(raw.cmd(&[b"ECHO", b"hi"]), b"$2\r\nhi\r\n");
    // FIXME: no command implemented so far replies with a RESP3 double (`,`); ZSCORE
    // and friends will. The encoder's double formatting has unit tests in
    // src/resp/encode.rs until then.

    let hello2 = raw.cmd(&[b"HELLO", b"2"]);
    assert!(hello2.starts_with(b"*14\r\n"), "{}", show(&hello2));
    assert_eq!(raw.cmd(&[b"GET", b"missing"]), b"$-1\r\n");
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );

    assert_eq!(
        raw.cmd(&[b"HELLO", b"4"]),
        b"-NOPROTO unsupported protocol version\r\n"
    );
}

/// A 100 MB value survives SET and GET unchanged.
#[test]
fn value_of_100_mb_round_trips() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let value: Vec<u8> = (0..100 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    assert_eq!(raw.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    let reply = raw.cmd(&[b"GET", b"big"]);
    let header = format!("${}\r\n", value.len());
    assert!(reply.starts_with(header.as_bytes()), "{}", show(&reply));
    assert!(
        reply[header.len()..reply.len() - 2] == value[..],
        "GET returned different bytes"
    );
    assert_eq!(&reply[reply.len() - 2..], b"\r\n");
    // The connection is still in sync afterwards.
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// Keys and values may hold any bytes, including CR, LF and NUL.
#[test]
fn binary_keys_and_values() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let key: &[u8] = b"k\r\ney\0\xff\r\n";
    let value: &[u8] = b"\0\r\n\r\n$3\r\n*1\0\xfe";
    assert_eq!(raw.cmd(&[b"SET", key, value]), b"+OK\r\n");
    let mut want = format!("${}\r\n", value.len()).into_bytes();
    want.extend_from_slice(value);
    want.extend_from_slice(b"\r\n");
    assert_eq!(raw.cmd(&[b"GET", key]), want);
    assert_eq!(raw.cmd(&[b"EXISTS", b"k\r\ney"]), b":0\r\n");
    assert_eq!(raw.cmd(&[b"DEL", key]), b":1\r\n");

    // The same through the redis crate.
    let mut conn = server.conn();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query(&mut conn)
        .unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg(key).query(&mut conn).unwrap();
    assert_eq!(got, value);
}

/// Inline commands, as typed into telnet: bare words, quotes, escapes.
#[test]
fn inline_commands() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let cases: &[(&[u8], &[u8])] = &[
        (b"PING\r\n", b"+PONG\r\n"),
        (b"ping\n", b"+PONG\r\n"),
        (b"  PING   hello  \r\n", b"$5\r\nhello\r\n"),
        (b"SET k \"a b\\r\\n\\x41\"\r\n", b"+OK\r\n"),
        (b"GET k\r\n", b"$6\r\na b\r\nA\r\n"),
        (b"SET k 'it\\'s'\r\n", b"+OK\r\n"),
        (b"GET k\r\n", b"$4\r\nit's\r\n"),
        (b"ECHO \"\"\r\n", b"$0\r\n\r\n"),
        (
            b"ECHO 'a b' \"c\"\r\n",
            b"-ERR wrong number of arguments for 'echo' command\r\n",
        ),
        // Empty lines are skipped without a reply.
        (b"\r\n\r\nPING\r\n", b"+PONG\r\n"),
    ];
    for (input, want) in cases {
        raw.send(input);
        assert_eq!(show(&raw.read_frame()), show(want), "{}", show(input));
    }
}

/// Malformed requests get Redis 7.0's exact error (checked against redis-server 7.0),
/// then the connection closes. Other clients are unaffected and the server lives on.
#[test]
fn malformed_input_gets_redis_errors_and_closes() {
    let server = Server::start(&[]);
    let too_long_inline = vec![b'a'; 70 * 1024];
    let mut too_long_count = b"*1".to_vec();
    too_long_count.extend(vec![b'1'; 70 * 1024]);
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n$600000000\r\n", "invalid bulk length"),
        (b"*3000000000\r\n", "invalid multibulk length"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (b"SET a \"b\r\n", "unbalanced quotes in request"),
        (b"SET a \"b\"c\r\n", "unbalanced quotes in request"),
        (b"SET a 'b\r\n", "unbalanced quotes in request"),
        // A line that passes 64 KB before its end arrives.
        (&too_long_inline, "too big inline request"),
        (&too_long_count, "too big mbulk count string"),
        // Replies to complete requests before the bad one are still sent.
        (b"PING\r\n*1\r\n$-5\r\n", "invalid bulk length"),
    ];
    for (input, err) in cases {
        let mut raw = server.raw();
        raw.send(input);
        let got = raw.read_until_closed(Duration::from_secs(10));
        let mut want = Vec::new();
        if input.starts_with(b"PING\r\n") {
            want.extend_from_slice(b"+PONG\r\n");
        }
        want.extend_from_slice(format!("-ERR Protocol error: {err}\r\n").as_bytes());
        assert_eq!(show(&got), show(&want), "input {}", show(input));
        assert_serving(&server);
    }
}

/// Two known byte-level differences from Redis in the `expected '$'` error.
#[test]
fn expected_dollar_error_differences() {
    let server = Server::start(&[]);
    // FIXME: Redis echoes the offending byte raw (`got '\xe9'`); redmite's error text is
    // a String, so a non-ASCII byte comes out UTF-8 encoded. Expected: b"...got '\xe9'".
    let mut raw = server.raw();
    raw.send(b"*1\r\n\xe9\r\n");
    assert_eq!(
        raw.read_until_closed(Duration::from_secs(10)),
        "-ERR Protocol error: expected '$', got '\u{e9}'\r\n".as_bytes()
    );
    // FIXME: Redis waits for the line's `\r` before checking for `$`, so `*1\r\nx`
    // alone gets no reply yet; redmite answers at once. The reply, once the line is
    // complete, is the same.
    let mut raw = server.raw();
    raw.send(b"*1\r\nx");
    assert_eq!(
        raw.read_until_closed(Duration::from_secs(10)),
        b"-ERR Protocol error: expected '$', got 'x'\r\n"
    );
    assert_serving(&server);
}

/// A request that arrives in pieces is answered once complete; one that never
/// completes only costs its own connection.
#[test]
fn truncated_frames() {
    let mut server = Server::start(&[]);
    let request = resp_cmd(&[b"SET", b"key", b"value"]);

    // Byte by byte, with a flush per byte.
    let mut raw = server.raw();
    for b in &request {
        raw.stream().write_all(&[*b]).unwrap();
        raw.stream().flush().unwrap();
    }
    assert_eq!(raw.read_frame(), b"+OK\r\n");

    // Every proper prefix, then the client goes away.
    for cut in 1..request.len() {
        let mut raw = server.raw();
        raw.send(&request[..cut]);
        raw.stream().shutdown(std::net::Shutdown::Write).unwrap();
        let got = raw.read_until_closed(Duration::from_secs(10));
        assert_eq!(show(&got), "", "prefix of {cut} bytes");
    }
    // A huge declared length whose bytes never come (within the 512 MB limit).
    let mut raw = server.raw();
    raw.send(b"*2\r\n$3\r\nGET\r\n$500000000\r\nabc");
    assert_serving(&server);
    drop(raw);
    assert_serving(&server);
    assert!(server.is_alive());
}

/// Random bytes only ever produce error replies, never a crash. The generator is
/// seeded, so a failure reproduces.
#[test]
fn random_bytes_never_kill_the_server() {
    let mut server = Server::start(&[]);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    };
    for round in 0..50 {
        let len = 64 + 97 * round;
        let mut input: Vec<u8> = (0..len).map(|_| next()).collect();
        // Half the rounds look like RESP so the multibulk path is exercised too.
        if round % 2 == 1 {
            input.splice(0..0, b"*3\r\n$3\r\n".iter().copied());
        }
        let mut raw = server.raw();
        raw.send(&input);
        raw.stream().shutdown(std::net::Shutdown::Write).unwrap();
        let got = raw.read_until_closed(Duration::from_secs(10));
        let mut rest = &got[..];
        while !rest.is_empty() {
            let n = match common::frame_len(rest) {
                Ok(Some(n)) => n,
                other => panic!("round {round}: bad reply {other:?}: {}", show(&got)),
            };
            assert!(
                rest.starts_with(b"-ERR "),
                "round {round}: not an error: {}",
                show(&rest[..n])
            );
            rest = &rest[n..];
        }
        assert_serving(&server);
    }
    assert!(server.is_alive());
}

/// Another client can still use the server.
fn assert_serving(server: &Server) {
    let mut other = server.raw();
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
}
