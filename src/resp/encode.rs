//! Reply encoding for RESP2 and RESP3.
//!
//! One function writes a [`Reply`] in the shape the connection negotiated. RESP2
//! flattens maps, turns sets into arrays, doubles into bulk strings and booleans into
//! integers, exactly as Redis 7.0 does for clients that did not send `HELLO 3`.

use bytes::{BufMut, Bytes, BytesMut};

use super::Reply;
use crate::num::fmt_g17;

/// Formats a double reply body as Redis 7.0 does (`%.17g`, `inf`, `-inf`).
pub fn fmt_double(v: f64) -> String {
    fmt_g17(v)
}

fn put_len(out: &mut BytesMut, prefix: u8, n: usize) {
    // Most lengths have one or two digits: written as one fixed-size store each,
    // where the general path formats and copies three slices.
    if n < 10 {
        return out.put_slice(&[prefix, b'0' + n as u8, b'\r', b'\n']);
    }
    if n < 100 {
        let (t, u) = (n / 10, n % 10);
        return out.put_slice(&[prefix, b'0' + t as u8, b'0' + u as u8, b'\r', b'\n']);
    }
    let mut b = itoa::Buffer::new();
    out.put_u8(prefix);
    out.put_slice(b.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    put_len(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// The size of a `*N\r\n` or `$N\r\n` line.
fn len_line(n: usize) -> usize {
    3 + n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The RESP bytes of an array of bulk strings, in a buffer of exactly their size.
/// The items are walked twice: once to size the buffer, once to fill it.
pub(super) fn bulk_array<'a>(items: impl Iterator<Item = &'a [u8]> + Clone) -> Bytes {
    let (n, body) = items.clone().fold((0, 0), |(n, size), b| {
        (n + 1, size + len_line(b.len()) + b.len() + 2)
    });
    let mut out = BytesMut::with_capacity(len_line(n) + body);
    put_len(&mut out, b'*', n);
    for item in items {
        put_bulk(&mut out, item);
    }
    out.freeze()
}

/// The RESP2 bytes of a member list (ZRANGE and the like): the members, each followed
/// by its score as a bulk string when `withscores`.
pub(super) fn scored_array<M: AsRef<[u8]>>(items: &[(M, f64)], withscores: bool) -> Bytes {
    let members: usize = items.iter().map(|(m, _)| m.as_ref().len() + 8).sum();
    // A score is at most 24 characters (`-1.2345678901234567e-308`) and its lines.
    let scores = if withscores { items.len() * 32 } else { 0 };
    let mut out = BytesMut::with_capacity(16 + members + scores);
    put_len(&mut out, b'*', items.len() * if withscores { 2 } else { 1 });
    for (m, s) in items {
        put_bulk(&mut out, m.as_ref());
        if withscores {
            put_bulk(&mut out, fmt_double(*s).as_bytes());
        }
    }
    out.freeze()
}

/// Error and status lines must stay on one line: Redis replaces CR/LF with spaces.
fn put_line(out: &mut BytesMut, prefix: u8, text: &str) {
    out.put_u8(prefix);
    if text.bytes().any(|c| c == b'\r' || c == b'\n') {
        out.put_slice(text.replace(['\r', '\n'], " ").as_bytes());
    } else {
        out.put_slice(text.as_bytes());
    }
    out.put_slice(b"\r\n");
}

/// Appends `reply` to `out` in protocol version `proto` (2 or 3).
pub fn encode(reply: &Reply, proto: u8, out: &mut BytesMut) {
    let resp3 = proto >= 3;
    match reply {
        Reply::Status(s) => put_line(out, b'+', s),
        Reply::StatusOwned(s) => put_line(out, b'+', s),
        Reply::Error(e) => put_line(out, b'-', e),
        Reply::Int(i) => {
            let mut b = itoa::Buffer::new();
            out.put_u8(b':');
            out.put_slice(b.format(*i).as_bytes());
            out.put_slice(b"\r\n");
        }
        Reply::Bulk(b) => put_bulk(out, b),
        Reply::Nil => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Reply::NilArray => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
        Reply::Array(items) => {
            put_len(out, b'*', items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                put_len(out, b'%', pairs.len());
            } else {
                put_len(out, b'*', pairs.len() * 2);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Set(items) => {
            put_len(out, if resp3 { b'~' } else { b'*' }, items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Push(items) => {
            put_len(out, if resp3 { b'>' } else { b'*' }, items.len());
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Double(d) => {
            let text = fmt_double(*d);
            if resp3 {
                put_line(out, b',', &text);
            } else {
                put_bulk(out, text.as_bytes());
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
            } else {
                out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" });
            }
        }
        Reply::Verbatim(b) => {
            if resp3 {
                put_len(out, b'=', b.len() + 4);
                out.put_slice(b"txt:");
                out.put_slice(b);
                out.put_slice(b"\r\n");
            } else {
                put_bulk(out, b);
            }
        }
        Reply::Raw(b) => out.put_slice(b),
        Reply::None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(reply: Reply, resp2: &str, resp3: &str) {
        for (proto, want) in [(2, resp2), (3, resp3)] {
            let mut out = BytesMut::new();
            encode(&reply, proto, &mut out);
            assert_eq!(
                String::from_utf8_lossy(&out),
                want,
                "{reply:?} in RESP{proto}"
            );
        }
    }

    #[test]
    fn shapes() {
        check(Reply::OK, "+OK\r\n", "+OK\r\n");
        check(Reply::error("ERR x\r\ny"), "-ERR x  y\r\n", "-ERR x  y\r\n");
        check(Reply::Int(-3), ":-3\r\n", ":-3\r\n");
        check(
            Reply::Bulk(Bytes::from_static(b"a\r\n")),
            "$3\r\na\r\n\r\n",
            "$3\r\na\r\n\r\n",
        );
        check(Reply::Nil, "$-1\r\n", "_\r\n");
        check(Reply::NilArray, "*-1\r\n", "_\r\n");
        check(
            Reply::Map(vec![(Reply::bulk_from(b"k"), Reply::Int(1))]),
            "*2\r\n$1\r\nk\r\n:1\r\n",
            "%1\r\n$1\r\nk\r\n:1\r\n",
        );
        check(
            Reply::Set(vec![Reply::Int(1)]),
            "*1\r\n:1\r\n",
            "~1\r\n:1\r\n",
        );
        check(Reply::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
        check(Reply::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
        check(Reply::Bool(true), ":1\r\n", "#t\r\n");
        check(
            Reply::Verbatim(Bytes::from_static(b"hi")),
            "$2\r\nhi\r\n",
            "=6\r\ntxt:hi\r\n",
        );
        check(
            Reply::bulk_array([&b"ab"[..], b"", b"c\r\n"]),
            "*3\r\n$2\r\nab\r\n$0\r\n\r\n$3\r\nc\r\n\r\n",
            "*3\r\n$2\r\nab\r\n$0\r\n\r\n$3\r\nc\r\n\r\n",
        );
        check(Reply::bulk_array(std::iter::empty()), "*0\r\n", "*0\r\n");
        for n in [0, 9, 10, 99, 100, 12345] {
            let mut out = BytesMut::new();
            put_len(&mut out, b'$', n);
            assert_eq!(len_line(n), out.len(), "{n}");
        }
        check(
            Reply::Push(vec![Reply::Int(1)]),
            "*1\r\n:1\r\n",
            ">1\r\n:1\r\n",
        );
    }
}
