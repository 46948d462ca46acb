//! `florida_provider`: the seeds list from an HTTP endpoint (Netflix's Florida sidecar or
//! anything that serves the same body).
//!
//! As Dynomite's `dyn_florida.c`, the endpoint is `DYNOMITE_FLORIDA_IP` (default
//! `127.0.0.1`), `DYNOMITE_FLORIDA_PORT` (default `8080`) and `DYNOMITE_FLORIDA_REQUEST`
//! (default `GET /REST/v1/admin/get_seeds HTTP/1.0` with a `Host` header). Dynomite
//! sends the request variable verbatim; so does this when it holds a whole request
//! (`\r\n` may be written as the four characters `\r\n`). A value starting with `/` is
//! taken as the path of a GET. The answer must be `200` and its body the seeds string
//! (`host:port:rack:dc:tokens|...`, see `seeds`).
//!
//! The response parser is a pure function over the bytes read so far, so it is
//! property-tested on arbitrary input; the fetch around it has a deadline and a size cap.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response read (headers and body).
pub const MAX_RESPONSE: usize = 1024 * 1024;
/// Dynomite's default path.
pub const DEFAULT_PATH: &str = "/REST/v1/admin/get_seeds";

/// Where to ask and what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `ip:port` to connect to.
    pub addr: String,
    /// The whole HTTP request.
    pub request: Vec<u8>,
}

impl Endpoint {
    /// The endpoint the environment describes (`get` reads a variable).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Endpoint {
        let ip = get("DYNOMITE_FLORIDA_IP").unwrap_or_else(|| "127.0.0.1".into());
        let port = get("DYNOMITE_FLORIDA_PORT")
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(8080);
        let request = match get("DYNOMITE_FLORIDA_REQUEST") {
            Some(r) if r.starts_with('/') => get_request(&ip, r.trim()),
            Some(r) if !r.trim().is_empty() => {
                let mut r = r.replace("\\r", "\r").replace("\\n", "\n");
                if !r.ends_with("\r\n\r\n") {
                    r = r.trim_end().to_string() + "\r\n\r\n";
                }
                r.into_bytes()
            }
            _ => get_request(&ip, DEFAULT_PATH),
        };
        let addr = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        Endpoint { addr, request }
    }
}

fn get_request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: redmite\r\n\r\n").into_bytes()
}

/// Why a response holds no seeds string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FloridaError {
    #[error("the response is not HTTP")]
    NotHttp,
    #[error("the endpoint answered HTTP status {0} (expected 200)")]
    Status(u16),
    #[error("the response ended before its headers or its Content-Length body")]
    Truncated,
    #[error("the response has a bad Content-Length")]
    BadLength,
    #[error("chunked responses are not supported (answer with HTTP/1.0 or a Content-Length)")]
    Chunked,
    #[error("the response is larger than 1 MiB")]
    TooLarge,
    #[error("the response body is not UTF-8")]
    NotUtf8,
    #[error("no seeds were found in the response")]
    Empty,
    #[error("{0}")]
    Io(String),
}

/// Parses the bytes of a response read so far. `Ok(None)` means more bytes are needed
/// (only possible while `eof` is false); at `eof` a response without Content-Length
/// ends where the connection did, as in HTTP/1.0.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<String>, FloridaError> {
    if buf.len() > MAX_RESPONSE {
        return Err(FloridaError::TooLarge);
    }
    let Some((head_len, body_start)) = header_end(buf) else {
        if eof {
            return Err(if buf.starts_with(b"HTTP/") || buf.is_empty() {
                FloridaError::Truncated
            } else {
                FloridaError::NotHttp
            });
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| FloridaError::NotHttp)?;
    let mut lines = head.lines();
    let status = lines.next().ok_or(FloridaError::NotHttp)?;
    let mut parts = status.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/")) {
        return Err(FloridaError::NotHttp);
    }
    let code: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or(FloridaError::NotHttp)?;
    if code != 200 {
        return Err(FloridaError::Status(code));
    }
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| FloridaError::BadLength)?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return Err(FloridaError::Chunked);
        }
    }
    let rest = &buf[body_start..];
    let body = match length {
        Some(n) if rest.len() >= n => &rest[..n],
        Some(_) if eof => return Err(FloridaError::Truncated),
        Some(_) => return Ok(None),
        None if eof => rest,
        None => return Ok(None),
    };
    let text = std::str::from_utf8(body).map_err(|_| FloridaError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(FloridaError::Empty);
    }
    Ok(Some(text.to_string()))
}

/// Where the headers end: (length of the head, start of the body). Accepts bare `\n`
/// line ends, as lenient clients do.
fn header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = memchr::memmem::find(buf, b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Fetches the seeds string from `ep` within `deadline`.
pub async fn fetch(ep: &Endpoint, deadline: Duration) -> Result<String, FloridaError> {
    let io = |e: std::io::Error| FloridaError::Io(format!("{}: {e}", ep.addr));
    let work = async {
        let mut s = TcpStream::connect(&ep.addr).await.map_err(io)?;
        s.write_all(&ep.request).await.map_err(io)?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.map_err(io)?;
            if n > 0 {
                buf.extend_from_slice(&chunk[..n]);
            }
            if let Some(text) = parse_response(&buf, n == 0)? {
                return Ok(text);
            }
        }
    };
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| Err(FloridaError::Io(format!("{}: no answer in time", ep.addr))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn http10_and_content_length_bodies_parse() {
        let r = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\na:1:r:d:0|b:1:r:d:1\n";
        assert_eq!(parse_response(r, false), Ok(None));
        assert_eq!(
            parse_response(r, true),
            Ok(Some("a:1:r:d:0|b:1:r:d:1".into()))
        );
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\na:1:r:d:0";
        assert_eq!(parse_response(r, false), Ok(Some("a:1:r:d:0".into())));
        assert_eq!(parse_response(&r[..r.len() - 1], false), Ok(None));
        assert_eq!(
            parse_response(&r[..r.len() - 1], true),
            Err(FloridaError::Truncated)
        );
    }

    #[test]
    fn bad_responses_say_why() {
        assert_eq!(
            parse_response(b"HTTP/1.1 503 Busy\r\n\r\n", true),
            Err(FloridaError::Status(503))
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 200 OK\r\n\r\n  \n", true),
            Err(FloridaError::Empty)
        );
        assert_eq!(
            parse_response(b"SSH-2.0\r\n\r\n", true),
            Err(FloridaError::NotHttp)
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
                false
            ),
            Err(FloridaError::Chunked)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false),
            Err(FloridaError::BadLength)
        );
    }

    #[test]
    fn the_environment_picks_the_endpoint() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let d = Endpoint::from_env(env(&[]));
        assert_eq!(d.addr, "127.0.0.1:8080");
        assert!(d
            .request
            .starts_with(b"GET /REST/v1/admin/get_seeds HTTP/1.0\r\n"));
        let e = Endpoint::from_env(env(&[
            ("DYNOMITE_FLORIDA_IP", "127.0.0.9"),
            ("DYNOMITE_FLORIDA_PORT", "9999"),
            ("DYNOMITE_FLORIDA_REQUEST", "/seeds"),
        ]));
        assert_eq!(e.addr, "127.0.0.9:9999");
        assert!(e
            .request
            .starts_with(b"GET /seeds HTTP/1.0\r\nHost: 127.0.0.9\r\n"));
        let raw = Endpoint::from_env(env(&[(
            "DYNOMITE_FLORIDA_REQUEST",
            "GET /x HTTP/1.0\\r\\nHost: h\\r\\n\\r\\n",
        )]));
        assert_eq!(raw.request, b"GET /x HTTP/1.0\r\nHost: h\r\n\r\n");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), eof: bool) {
            let _ = parse_response(&bytes, eof);
        }

        #[test]
        fn any_200_body_is_returned_trimmed(body in "[a-z0-9:|.,]{1,100}", cl: bool) {
            let resp = if cl {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            } else {
                format!("HTTP/1.0 200 OK\r\n\r\n{body}")
            };
            prop_assert_eq!(parse_response(resp.as_bytes(), true), Ok(Some(body.clone())));
            // Every prefix before the end is incomplete, never an error or a wrong body.
            for cut in 0..resp.len() {
                prop_assert_eq!(parse_response(&resp.as_bytes()[..cut], false), Ok(None));
            }
        }
    }
}
