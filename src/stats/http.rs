//! Just enough HTTP/1.1 for the stats endpoint: a request parser (a pure function,
//! property-tested on arbitrary bytes) and the listener.
//!
//! Dynomite read each request in a single `recv`, wrote headers ending in space+LF and
//! closed every connection. Here a request may arrive in pieces, replies are valid
//! HTTP/1.1 with `Content-Length`, connections stay open for keep-alive, and a client
//! that sends its headers too slowly (or goes idle between requests) is closed after
//! [`HEADER_TIMEOUT`], so slow clients cannot pin tasks forever.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// The longest request head accepted; anything longer is answered 431 and closed.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send a complete request head (also the keep-alive idle
/// limit).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query string.
    pub path: String,
    /// Whether the connection stays open after the reply.
    pub keep_alive: bool,
}

/// What [`parse`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet.
    Incomplete,
    /// A request and how many bytes of the buffer it used (head and body).
    Done(Request, usize),
    /// Not HTTP we accept: answer with this status and close.
    Bad(u16),
}

fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    // CRLF CRLF, or bare LF LF as lenient servers accept.
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = memchr::memmem::find(buf, b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Parses one request head from the start of `buf`. A body (`Content-Length`) is
/// skipped once it has fully arrived; chunked bodies are refused (411), since no path
/// takes a body.
pub fn parse(buf: &[u8]) -> Parsed {
    let Some((head_len, body_start)) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Bad(431)
        } else {
            Parsed::Incomplete
        };
    };
    if head_len > MAX_HEAD {
        return Parsed::Bad(431);
    }
    let Ok(head) = std::str::from_utf8(&buf[..head_len]) else {
        return Parsed::Bad(400);
    };
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let Some(request_line) = lines.next() else {
        return Parsed::Bad(400);
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad(400);
    };
    if method.is_empty()
        || !method.bytes().all(|c| c.is_ascii_uppercase())
        || !target.starts_with('/')
        || target.bytes().any(|c| c.is_ascii_control())
    {
        return Parsed::Bad(400);
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Parsed::Bad(505),
        _ => return Parsed::Bad(400),
    };
    let mut body_len = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Bad(400);
        };
        if name.is_empty() || name.bytes().any(|c| c.is_ascii_whitespace()) {
            return Parsed::Bad(400);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<usize>() {
                Ok(n) if n <= MAX_HEAD => body_len = n,
                Ok(_) => return Parsed::Bad(413),
                Err(_) => return Parsed::Bad(400),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Bad(411);
        }
    }
    let total = body_start + body_len;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Parsed::Done(
        Request {
            method: method.to_string(),
            path: path.to_string(),
            keep_alive,
        },
        total,
    )
}

/// A reply: status, content type and body (shared bytes: a `/metrics` body served
/// again is not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

/// Dynomite's content type for every path (its bodies are JSON or plain lines).
pub const JSON: &str = "application/json; charset=utf-8";
pub const TEXT: &str = "text/plain; charset=utf-8";
/// The Prometheus text exposition format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    pub fn ok(body: impl Into<Bytes>) -> Response {
        Response {
            status: 200,
            content_type: JSON,
            body: body.into(),
        }
    }

    pub fn status(status: u16, body: impl Into<Bytes>) -> Response {
        Response {
            status,
            content_type: TEXT,
            body: body.into(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// Encodes `resp` (without its body for HEAD).
pub fn encode(resp: &Response, keep_alive: bool, head_only: bool, out: &mut Vec<u8>) {
    let allow = if resp.status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: {}\r\n\r\n",
            resp.status,
            reason(resp.status),
            resp.content_type,
            resp.body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        )
        .as_bytes(),
    );
    if !head_only {
        out.extend_from_slice(&resp.body);
    }
}

/// Accepts stats connections until `stop` flips, answering each request with `handle`.
pub async fn serve<H>(
    listener: TcpListener,
    handle: Arc<H>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let handle = handle.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let _ = connection(stream, &*handle, stop).await;
                });
            }
            Err(e) => {
                warn!("stats accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection<H>(
    mut stream: TcpStream,
    handle: &H,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()>
where
    H: Fn(&Request) -> Response,
{
    let mut buf = BytesMut::with_capacity(1024);
    let mut out = Vec::with_capacity(1024);
    loop {
        // Read until one request head is complete, within the header timeout.
        let deadline = tokio::time::Instant::now() + HEADER_TIMEOUT;
        let (req, used) = loop {
            match parse(&buf) {
                Parsed::Done(req, used) => break (req, used),
                Parsed::Bad(status) => {
                    out.clear();
                    encode(
                        &Response::status(status, format!("{}\r\n", reason(status))),
                        false,
                        false,
                        &mut out,
                    );
                    stream.write_all(&out).await?;
                    linger(&mut stream).await;
                    return Ok(());
                }
                Parsed::Incomplete => {}
            }
            tokio::select! {
                r = stream.read_buf(&mut buf) => {
                    if r? == 0 {
                        return Ok(());
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    debug!("stats client too slow; closing");
                    return Ok(());
                }
                _ = stop.wait_for(|s| *s) => return Ok(()),
            }
        };
        let _ = buf.split_to(used);
        let head_only = req.method == "HEAD";
        let resp = if req.method == "GET" || head_only {
            handle(&req)
        } else {
            Response::status(405, "Method Not Allowed\r\n")
        };
        out.clear();
        encode(&resp, req.keep_alive, head_only, &mut out);
        stream.write_all(&out).await?;
        if !req.keep_alive {
            return Ok(());
        }
    }
}

/// Closes after an error reply without losing it: stop writing, then discard what the
/// client is still sending for a moment, so closing with unread input does not reset
/// the connection before the client has read the reply.
async fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut total = 0;
        while total < 1 << 20 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn done(s: &str) -> Request {
        match parse(s.as_bytes()) {
            Parsed::Done(r, n) => {
                assert_eq!(n, s.len());
                r
            }
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn requests() {
        let r = done("GET /info HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.keep_alive),
            ("GET", "/info", true)
        );
        assert!(!done("GET /ping HTTP/1.0\r\n\r\n").keep_alive);
        assert!(done("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!done("GET /ping HTTP/1.1\r\nconnection: Close\r\n\r\n").keep_alive);
        assert_eq!(done("GET /metrics?x=1 HTTP/1.1\n\n").path, "/metrics");
        assert_eq!(
            done("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").method,
            "POST"
        );
        assert_eq!(
            parse(b"GET /info HTTP/1.1\r\nHost: x\r\n"),
            Parsed::Incomplete
        );
        assert_eq!(
            parse(b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\na"),
            Parsed::Incomplete
        );
        assert_eq!(parse(b"GET /info\r\n\r\n"), Parsed::Bad(400));
        assert_eq!(parse(b"get /info HTTP/1.1\r\n\r\n"), Parsed::Bad(400));
        assert_eq!(parse(b"GET info HTTP/1.1\r\n\r\n"), Parsed::Bad(400));
        assert_eq!(parse(b"GET /info HTTP/2.0\r\n\r\n"), Parsed::Bad(505));
        assert_eq!(
            parse(b"GET /info HTTP/1.1\r\nbad header\r\n\r\n"),
            Parsed::Bad(400)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Bad(411)
        );
        assert_eq!(parse(&vec![b'a'; MAX_HEAD + 1]), Parsed::Bad(431));
    }

    #[test]
    fn encoded_reply_is_http_1_1() {
        let mut out = Vec::new();
        encode(&Response::ok("OK\r\n"), true, false, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: keep-alive\r\n\r\nOK\r\n"
        );
    }

    proptest! {
        /// Arbitrary bytes never panic, a result never claims more bytes than given,
        /// and a request that parsed still parses with more bytes after it.
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
            match parse(&buf) {
                Parsed::Done(_, n) => {
                    prop_assert!(n <= buf.len());
                    let mut more = buf.clone();
                    more.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
                    prop_assert!(matches!(parse(&more), Parsed::Done(_, m) if m == n));
                }
                Parsed::Incomplete => prop_assert!(buf.len() <= MAX_HEAD),
                Parsed::Bad(s) => prop_assert!((400..600).contains(&s)),
            }
        }

        /// A valid request split at any point is Incomplete before the split and the
        /// same request after it.
        #[test]
        fn split_requests(path in "/[a-z_/0-9]{0,30}", cut in 0usize..60, ka in any::<bool>()) {
            let text = format!(
                "GET {path} HTTP/1.1\r\nHost: h\r\nConnection: {}\r\n\r\n",
                if ka { "keep-alive" } else { "close" }
            );
            let cut = cut.min(text.len() - 1);
            prop_assert_eq!(parse(&text.as_bytes()[..cut]), Parsed::Incomplete);
            match parse(text.as_bytes()) {
                Parsed::Done(r, n) => {
                    prop_assert_eq!(n, text.len());
                    prop_assert_eq!(r.path, path);
                    prop_assert_eq!(r.keep_alive, ka);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
