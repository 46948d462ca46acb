//! Incremental request decoding: RESP multibulk arrays and inline commands.
//!
//! The decoder keeps Redis's parsing state between reads (how many arguments and
//! which bulk length are still expected), so a command that arrives in many small
//! reads is never rescanned from its start. Arguments are zero-copy `Bytes` slices of
//! the read buffer. Error texts and limits are Redis 7.0's (`networking.c`).

use bytes::{Bytes, BytesMut};
use memchr::memchr;

use crate::num::parse_i64;

/// Inline requests and the header lines of multibulk requests are capped at 64 KB,
/// as Redis's `PROTO_INLINE_MAX_SIZE`.
pub const INLINE_MAX: usize = 64 * 1024;

/// Limits that come from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`, 512 MB by default.
    pub max_bulk_len: usize,
    /// Unauthenticated clients get the much smaller limits Redis 7 applies.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// A protocol violation. The connection answers with `-ERR Protocol error: ...` and is
/// closed, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// The state of a multibulk request that has not fully arrived.
#[derive(Debug, Default)]
pub struct Decoder {
    args: Vec<Bytes>,
    /// Arguments still expected in the current multibulk request, if one is open.
    remaining: Option<usize>,
    /// Length of the bulk whose `$len` header was consumed but whose body is pending.
    bulk_len: Option<usize>,
}

/// Decodes one request from `buf`, consuming its bytes. `Ok(None)` means more bytes are
/// needed. An empty `Vec` is never returned: empty lines and `*0` are skipped.
pub fn parse_request(
    dec: &mut Decoder,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    loop {
        if dec.remaining.is_none() {
            if buf.is_empty() {
                return Ok(None);
            }
            if buf[0] != b'*' {
                match parse_inline(buf)? {
                    Some(args) if args.is_empty() => continue,
                    other => return Ok(other),
                }
            }
            if let Some(args) = whole_request(buf, limits) {
                return Ok(Some(args));
            }
            let Some(count) = parse_header(buf, b"mbulk count")? else {
                return Ok(None);
            };
            let count = match count {
                Err(()) => return Err(err("invalid multibulk length")),
                Ok(n) if n > i64::from(i32::MAX) => return Err(err("invalid multibulk length")),
                Ok(n) if n > 10 && !limits.authenticated => {
                    return Err(err("unauthenticated multibulk length"))
                }
                Ok(n) if n <= 0 => continue,
                Ok(n) => n as usize,
            };
            dec.remaining = Some(count);
            dec.args = Vec::with_capacity(count.min(1024));
        }
        while let Some(remaining) = dec.remaining {
            if remaining == 0 {
                dec.remaining = None;
                return Ok(Some(std::mem::take(&mut dec.args)));
            }
            let len = match dec.bulk_len {
                Some(len) => len,
                None => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    if buf[0] != b'$' {
                        let got = buf[0] as char;
                        return Err(err(&format!("expected '$', got '{got}'")));
                    }
                    let Some(len) = parse_header(buf, b"bulk count")? else {
                        return Ok(None);
                    };
                    let len = match len {
                        Ok(n) if n >= 0 && !limits.authenticated && n > 16384 => {
                            return Err(err("unauthenticated bulk length"))
                        }
                        Ok(n) if n >= 0 && (n as u64) <= limits.max_bulk_len as u64 => n as usize,
                        _ => return Err(err("invalid bulk length")),
                    };
                    dec.bulk_len = Some(len);
                    len
                }
            };
            // Redis skips the two bytes after the payload without checking them.
            let need = len + 2;
            if buf.len() < need {
                // Grow towards the announced size by doubling, so a huge declared
                // length costs nothing until its bytes actually arrive.
                let want = (need - buf.len()).min(buf.capacity().max(64 * 1024));
                buf.reserve(want);
                return Ok(None);
            }
            let mut arg = buf.split_to(need);
            arg.truncate(len);
            dec.args.push(arg.freeze());
            dec.bulk_len = None;
            dec.remaining = Some(remaining - 1);
        }
    }
}

/// The common case: a whole, well-formed multibulk request is already in `buf`. It is
/// split off with one `split_to` and its arguments are slices of it, instead of one
/// split per argument. Anything unusual (incomplete, malformed, large, unauthenticated
/// limits) returns `None` and goes through the general path, which has the error texts.
fn whole_request(buf: &mut BytesMut, limits: &Limits) -> Option<Vec<Bytes>> {
    /// Parses `<digits>\r\n` at `pos`; returns the value and the position after it.
    fn number(b: &[u8], mut pos: usize) -> Option<(usize, usize)> {
        let start = pos;
        let mut v: usize = 0;
        while let Some(&c) = b.get(pos) {
            if !c.is_ascii_digit() || pos - start >= 10 {
                break;
            }
            v = v * 10 + usize::from(c - b'0');
            pos += 1;
        }
        if pos == start || b.get(pos) != Some(&b'\r') || b.get(pos + 1) != Some(&b'\n') {
            return None;
        }
        // Leading zeros are what the general path rejects; leave them to it.
        if b[start] == b'0' && pos - start > 1 {
            return None;
        }
        Some((v, pos + 2))
    }
    let b = &buf[..];
    let (count, mut pos) = number(b, 1)?;
    if count == 0 || count > 1024 || (!limits.authenticated && count > 10) {
        return None;
    }
    let mut spans = [(0usize, 0usize); 16];
    let mut more: Vec<(usize, usize)> = Vec::new();
    for i in 0..count {
        if b.get(pos) != Some(&b'$') {
            return None;
        }
        let (len, body) = number(b, pos + 1)?;
        if len > limits.max_bulk_len || (!limits.authenticated && len > 16384) {
            return None;
        }
        let end = body.checked_add(len)?.checked_add(2)?;
        if end > b.len() {
            return None;
        }
        if i < spans.len() {
            spans[i] = (body, len);
        } else {
            more.push((body, len));
        }
        pos = end;
    }
    let frame = buf.split_to(pos).freeze();
    Some(
        spans[..count.min(spans.len())]
            .iter()
            .chain(more.iter())
            .map(|&(at, len)| frame.slice(at..at + len))
            .collect(),
    )
}

fn err(msg: &str) -> ProtocolError {
    ProtocolError(msg.to_string())
}

/// Parses a `*N\r\n` or `$N\r\n` header line. `Ok(None)`: incomplete. The inner
/// `Err(())` means the number itself did not parse.
fn parse_header(buf: &mut BytesMut, what: &[u8]) -> Result<Option<Result<i64, ()>>, ProtocolError> {
    let Some(cr) = memchr(b'\r', buf) else {
        if buf.len() > INLINE_MAX {
            let what = String::from_utf8_lossy(what);
            return Err(err(&format!("too big {what} string")));
        }
        return Ok(None);
    };
    if cr + 1 >= buf.len() {
        return Ok(None);
    }
    let value = parse_i64(&buf[1..cr]).ok_or(());
    let _ = buf.split_to(cr + 2);
    Ok(Some(value))
}

/// Parses one inline command line (what telnet and `redis-cli` in some modes send),
/// splitting it as Redis's `sdssplitargs` does.
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(err("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    split_args(&line[..end])
        .map(|args| Some(args.into_iter().map(Bytes::from).collect()))
        .ok_or_else(|| err("unbalanced quotes in request"))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: whitespace-separated words, `"..."` with C escapes and
/// `\xHH`, `'...'` with only `\'`. A closing quote must be followed by a space or the
/// end. Like the C code, a NUL byte ends the line. `None` means unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 3;
                    } else {
                        p += 1;
                        cur.push(at(p));
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut dec = Decoder::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(cmd) = parse_request(&mut dec, &mut buf, &Limits::default())? {
            out.push(cmd.iter().map(|b| b.to_vec()).collect());
        }
        Ok(out)
    }

    fn cmd(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    /// Input bytes and the commands (or the error text) they decode to.
    type Case<'a> = (&'a [u8], Result<Vec<Vec<Vec<u8>>>, &'a str>);

    #[test]
    fn multibulk_and_inline() {
        let cases: &[Case] = &[
            (
                b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
                Ok(vec![cmd(&["GET", "a"])]),
            ),
            (b"PING\r\n", Ok(vec![cmd(&["PING"])])),
            (b"PING\n", Ok(vec![cmd(&["PING"])])),
            (b"\r\n\r\nPING\r\n", Ok(vec![cmd(&["PING"])])),
            (b"*0\r\n*1\r\n$4\r\nPING\r\n", Ok(vec![cmd(&["PING"])])),
            (b"*-1\r\n", Ok(vec![])),
            (b"SET a \"b c\"\r\n", Ok(vec![cmd(&["SET", "a", "b c"])])),
            (b"SET a 'it\\'s'\r\n", Ok(vec![cmd(&["SET", "a", "it's"])])),
            (
                b"SET a \"\\x41\\n\"\r\n",
                Ok(vec![vec![b"SET".to_vec(), b"a".to_vec(), b"A\n".to_vec()]]),
            ),
            (b"SET a \"b\r\n", Err("unbalanced quotes in request")),
            (b"SET a \"b\"c\r\n", Err("unbalanced quotes in request")),
            (b"*x\r\n", Err("invalid multibulk length")),
            (b"*1\r\n$x\r\n", Err("invalid bulk length")),
            (b"*1\r\n$-1\r\n", Err("invalid bulk length")),
            (b"*1\r\n$600000000\r\n", Err("invalid bulk length")),
            (b"*1\r\n:1\r\n", Err("expected '$', got ':'")),
            (b"*3000000000\r\n", Err("invalid multibulk length")),
        ];
        for (input, want) in cases {
            let got = decode_all(input);
            match want {
                Ok(v) => assert_eq!(got.as_ref(), Ok(v), "{:?}", String::from_utf8_lossy(input)),
                Err(e) => assert_eq!(
                    got,
                    Err(ProtocolError(e.to_string())),
                    "{:?}",
                    String::from_utf8_lossy(input)
                ),
            }
        }
    }

    #[test]
    fn too_long_lines_are_errors() {
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(
            decode_all(&long),
            Err(ProtocolError("too big inline request".into()))
        );
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(
            decode_all(&mb),
            Err(ProtocolError("too big mbulk count string".into()))
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits {
            authenticated: false,
            ..Limits::default()
        };
        let mut dec = Decoder::default();
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            parse_request(&mut dec, &mut buf, &limits),
            Err(ProtocolError("unauthenticated multibulk length".into()))
        );
    }

    fn encode_cmd(args: &[Vec<u8>]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n", a.len()).as_bytes());
            out.extend(a);
            out.extend(b"\r\n");
        }
        out
    }

    proptest! {
        /// Commands survive any split of the byte stream into reads.
        #[test]
        fn roundtrip_any_split(
            cmds in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6), 1..8),
            cuts in proptest::collection::vec(0usize..400, 0..10),
        ) {
            let mut stream = Vec::new();
            for c in &cmds { stream.extend(encode_cmd(c)); }
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c < stream.len()).collect();
            cuts.sort();
            cuts.push(stream.len());
            let mut dec = Decoder::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut start = 0;
            for cut in cuts {
                buf.extend_from_slice(&stream[start..cut]);
                start = cut;
                while let Some(cmd) = parse_request(&mut dec, &mut buf, &Limits::default()).unwrap() {
                    got.push(cmd.iter().map(|b| b.to_vec()).collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(got, cmds);
        }

        /// Arbitrary bytes never panic and never make the decoder consume more than it has.
        #[test]
        fn garbage_is_safe(input in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut dec = Decoder::default();
            let mut buf = BytesMut::from(&input[..]);
            for _ in 0..400 {
                let before = buf.len();
                match parse_request(&mut dec, &mut buf, &Limits::default()) {
                    Ok(Some(_)) => prop_assert!(buf.len() < before),
                    Ok(None) | Err(_) => break,
                }
            }
        }

        /// Inline splitting agrees with a simple model on unquoted words.
        #[test]
        fn inline_plain_words(words in proptest::collection::vec("[a-zA-Z0-9:_.-]{1,10}", 1..8)) {
            let line = words.join("  ");
            let got = split_args(line.as_bytes()).unwrap();
            let want: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
