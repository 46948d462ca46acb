//! `dns_provider`: the seeds list from a DNS TXT record, with a small DNS client of our
//! own (one UDP query, no recursion of our own, no caching).
//!
//! As Dynomite's `dyn_dns.c`, the record's name is `DYNOMITE_DNS_NAME` (default
//! `_dynomite.ec2-internal`) and its text is a seeds string (`host:port:rack:dc:tokens|...`).
//! `DYNOMITE_DNS_TYPE` may only be `TXT` here: Dynomite's `A` mode reads an address's
//! bytes as text, which cannot hold a seed. Two fixes over Dynomite: a TXT record's
//! character-strings are joined (records over 255 bytes must be split into several), and
//! several TXT records are joined with `|` (Dynomite kept only the last).
//!
//! The nameserver is the first `nameserver` line of `/etc/resolv.conf`, port 53;
//! `REDMITE_DNS_SERVER=ip:port` overrides it (tests run a server on loopback).
//!
//! [`query`] and [`parse_response`] are pure; the parser is property-tested on arbitrary
//! bytes. It never follows compression pointers (it only skips names), so no input can
//! make it loop.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Dynomite's default record name.
pub const DEFAULT_NAME: &str = "_dynomite.ec2-internal";
const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;

/// Why a lookup gave no seeds string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("\"{0}\" is not a valid DNS name")]
    BadName(String),
    #[error("the DNS response is malformed")]
    Malformed,
    #[error("the DNS response does not answer our query")]
    NotOurs,
    #[error("the DNS server answered {0}")]
    Rcode(&'static str),
    #[error("the DNS response was truncated (the TXT record is too large for UDP)")]
    Truncated,
    #[error("no TXT record found")]
    NoRecord,
    #[error("no nameserver: set REDMITE_DNS_SERVER or add one to /etc/resolv.conf")]
    NoServer,
    #[error("{0}")]
    Io(String),
}

/// The query packet for `name`'s TXT records with transaction id `id` (recursion desired).
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let bad = || DnsError::BadName(name.to_string());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(bad());
    }
    let mut q = Vec::with_capacity(18 + trimmed.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad());
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_TXT.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// The texts of the TXT records in the answer to query `id`, each record's
/// character-strings joined, in answer order.
pub fn parse_response(id: u16, buf: &[u8]) -> Result<Vec<String>, DnsError> {
    let mut r = Reader { buf, pos: 0 };
    let got_id = r.u16()?;
    let flags = r.u16()?;
    let (qd, an) = (r.u16()?, r.u16()?);
    r.skip(4)?;
    if got_id != id || flags & 0x8000 == 0 {
        return Err(DnsError::NotOurs);
    }
    if flags & 0x0200 != 0 {
        return Err(DnsError::Truncated);
    }
    match flags & 0x000f {
        0 => {}
        2 => return Err(DnsError::Rcode("SERVFAIL")),
        3 => return Err(DnsError::Rcode("NXDOMAIN (no such name)")),
        5 => return Err(DnsError::Rcode("REFUSED")),
        _ => return Err(DnsError::Rcode("an error")),
    }
    for _ in 0..qd {
        r.skip_name()?;
        r.skip(4)?;
    }
    let mut texts = Vec::new();
    for _ in 0..an {
        r.skip_name()?;
        let rtype = r.u16()?;
        let class = r.u16()?;
        r.skip(4)?;
        let len = r.u16()? as usize;
        let rdata = r.take(len)?;
        if rtype != TYPE_TXT || class != CLASS_IN {
            continue;
        }
        let mut text = Vec::with_capacity(rdata.len());
        let mut rest = rdata;
        while let Some((&n, tail)) = rest.split_first() {
            let n = n as usize;
            if tail.len() < n {
                return Err(DnsError::Malformed);
            }
            text.extend_from_slice(&tail[..n]);
            rest = &tail[n..];
        }
        texts.push(String::from_utf8_lossy(&text).into_owned());
    }
    if texts.is_empty() {
        return Err(DnsError::NoRecord);
    }
    Ok(texts)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end = self.pos.checked_add(n).ok_or(DnsError::Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(DnsError::Malformed)?;
        self.pos = end;
        Ok(s)
    }

    fn skip(&mut self, n: usize) -> Result<(), DnsError> {
        self.take(n).map(|_| ())
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Skips a (possibly compressed) name without following pointers.
    fn skip_name(&mut self) -> Result<(), DnsError> {
        loop {
            let len = self.take(1)?[0];
            match len & 0xc0 {
                0x00 if len == 0 => return Ok(()),
                0x00 => self.skip(len as usize)?,
                0xc0 => return self.skip(1),
                _ => return Err(DnsError::Malformed),
            }
        }
    }
}

/// The first usable `nameserver` of a resolv.conf text, on port 53.
pub fn nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        let ip: IpAddr = words.next()?.parse().ok()?;
        Some(SocketAddr::new(ip, 53))
    })
}

/// Where the queries go: `REDMITE_DNS_SERVER`, else `/etc/resolv.conf`'s first server.
pub fn server(get: impl Fn(&str) -> Option<String>) -> Result<SocketAddr, DnsError> {
    if let Some(s) = get("REDMITE_DNS_SERVER") {
        return s
            .trim()
            .parse()
            .map_err(|_| DnsError::Io(format!("REDMITE_DNS_SERVER \"{s}\" is not ip:port")));
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    nameserver(&text).ok_or(DnsError::NoServer)
}

/// Looks up `name`'s TXT records at `server`: up to two tries of `per_try` each.
pub async fn lookup_txt(
    server: SocketAddr,
    name: &str,
    per_try: Duration,
) -> Result<Vec<String>, DnsError> {
    let io = |e: std::io::Error| DnsError::Io(format!("{server}: {e}"));
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse().map_err(|_| DnsError::NoServer)?
    } else {
        "0.0.0.0:0".parse().map_err(|_| DnsError::NoServer)?
    };
    let sock = UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(server).await.map_err(io)?;
    let mut last = DnsError::Io(format!("{server}: no answer"));
    for _ in 0..2 {
        let id: u16 = rand::random();
        let q = query(id, name)?;
        sock.send(&q).await.map_err(io)?;
        let deadline = tokio::time::Instant::now() + per_try;
        let mut buf = vec![0u8; 4096];
        loop {
            let got = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await;
            let n = match got {
                Err(_) => break,
                Ok(Err(e)) => {
                    last = io(e);
                    break;
                }
                Ok(Ok(n)) => n,
            };
            match parse_response(id, &buf[..n]) {
                // A stray or late answer to an earlier query: keep waiting.
                Err(DnsError::NotOurs) => continue,
                other => return other,
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A response to `q` with one TXT answer per entry of `records` (each a list of
    /// character-strings), the answer names compressed to the question.
    fn answer(q: &[u8], records: &[&[&[u8]]]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x81;
        r[3] = 0x80;
        r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for strings in records {
            r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            let len: usize = strings.iter().map(|s| s.len() + 1).sum();
            r.extend_from_slice(&(len as u16).to_be_bytes());
            for s in *strings {
                r.push(s.len() as u8);
                r.extend_from_slice(s);
            }
        }
        r
    }

    #[test]
    fn queries_are_well_formed() {
        let q = query(0x1234, "_dynomite.example.com.").unwrap();
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            &q[12..],
            b"\x09_dynomite\x07example\x03com\x00\x00\x10\x00\x01"
        );
        assert!(query(1, "").is_err());
        assert!(query(1, "a..b").is_err());
        assert!(query(1, &"x".repeat(64)).is_err());
    }

    #[test]
    fn txt_answers_are_joined_per_record() {
        let q = query(7, "_dynomite.test").unwrap();
        let r = answer(&q, &[&[b"a:1:r:d:0|", b"b:1:r:d:1"], &[b"c:1:r:d:2"]]);
        assert_eq!(
            parse_response(7, &r),
            Ok(vec![
                "a:1:r:d:0|b:1:r:d:1".to_string(),
                "c:1:r:d:2".to_string()
            ])
        );
        assert_eq!(parse_response(8, &r), Err(DnsError::NotOurs));
        let mut nx = answer(&q, &[]);
        nx[3] |= 3;
        assert_eq!(
            parse_response(7, &nx),
            Err(DnsError::Rcode("NXDOMAIN (no such name)"))
        );
        assert_eq!(parse_response(7, &answer(&q, &[])), Err(DnsError::NoRecord));
        let mut tc = answer(&q, &[&[b"x"]]);
        tc[2] |= 0x02;
        assert_eq!(parse_response(7, &tc), Err(DnsError::Truncated));
    }

    #[test]
    fn resolv_conf_gives_the_first_nameserver() {
        let text = "# comment\nsearch example\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        assert_eq!(nameserver(text), Some("10.0.0.2:53".parse().unwrap()));
        assert_eq!(nameserver("options ndots:1\n"), None);
        let env = |k: &str| (k == "REDMITE_DNS_SERVER").then(|| "127.0.0.1:5353".to_string());
        assert_eq!(server(env), Ok("127.0.0.1:5353".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn parse_never_panics(id: u16, bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_response(id, &bytes);
        }

        #[test]
        fn parse_never_panics_on_mutated_answers(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
        ) {
            let q = query(9, "_dynomite.test").unwrap();
            let mut r = answer(&q, &[&[b"a:1:r:d:0"], &[b"b:1:r:d:1", b"x"]]);
            for (at, b) in flips {
                let at = at % r.len();
                r[at] = b;
            }
            let _ = parse_response(9, &r[..cut % (r.len() + 1)]);
        }

        #[test]
        fn txt_strings_round_trip(texts in proptest::collection::vec("[ -~]{0,200}", 1..4)) {
            let q = query(3, "_dynomite.test").unwrap();
            let strings: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
            let records: Vec<&[&[u8]]> = strings.iter().map(std::slice::from_ref).collect();
            prop_assert_eq!(parse_response(3, &answer(&q, &records)), Ok(texts.clone()));
        }
    }
}
