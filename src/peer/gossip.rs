//! The payload of gossip frames (header types 7 GOSSIP_SYN and 8 GOSSIP_SYN_REPLY): a
//! node's view of the cluster, as pure byte functions.
//!
//! Why a binary layout of our own: Dynomite's gossip text (`dc$rack$token,ts,state,addr`
//! records joined by `|`, see `shared/dynomite-notes.md` §4) has no peer port, one token
//! per node, second-resolution timestamps and no escaping, so names holding `$`, `,` or
//! `|` break it. Gossip between redmite nodes rides in redmite's version-2 frames, so it
//! can use a length-prefixed layout that round-trips any name:
//!
//! ```text
//! u8  payload version (1)
//! u16 record count
//! per record:
//!   u8 len + host, u16 port, u8 len + dc, u8 len + rack,
//!   u16 token count + u32 tokens, u8 state, u64 generation, u64 heartbeat
//! ```
//!
//! All integers are big-endian. A reader accepts any payload version at least 1 and
//! ignores bytes after the records it knows, so later versions may append fields at the
//! end. `state` uses Dynomite's codes (`dyn_state_t`): 1 STANDBY, 2 WRITES_ONLY,
//! 3 RESUMING, 4 NORMAL, 7 JOINING, 8 DOWN. Decoding never panics and never allocates
//! more than the input can hold.

use bytes::{BufMut, BytesMut};

/// The payload version this build writes.
pub const PAYLOAD_VERSION: u8 = 1;
/// At most this many records in one payload.
pub const MAX_RECORDS: usize = 4096;
/// At most this many tokens per record.
pub const MAX_TOKENS: usize = 1024;

/// Dynomite's state codes as carried in a record.
pub mod state {
    pub const STANDBY: u8 = 1;
    pub const WRITES_ONLY: u8 = 2;
    pub const RESUMING: u8 = 3;
    pub const NORMAL: u8 = 4;
    pub const JOINING: u8 = 7;
    pub const DOWN: u8 = 8;
}

/// One node as a gossiping node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub host: String,
    /// The node's peer port (`dyn_listen`).
    pub port: u16,
    pub dc: String,
    pub rack: String,
    pub tokens: Vec<u32>,
    /// One of the [`state`] codes.
    pub state: u8,
    /// The node's start time (Unix ms): a restarted node's records win over its old ones.
    pub generation: u64,
    /// Bumped by the node itself every gossip round and on every state change.
    pub heartbeat: u64,
}

impl Record {
    /// The version that decides which of two records about one node is newer.
    pub fn version(&self) -> (u64, u64) {
        (self.generation, self.heartbeat)
    }
}

/// Why bytes are not a gossip payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    #[error("gossip payload is truncated")]
    Truncated,
    #[error("gossip payload version {0} is not supported")]
    Version(u8),
    #[error("gossip payload has too many records or tokens")]
    TooMany,
    #[error("gossip payload has a name that is not UTF-8")]
    BadName,
    #[error("gossip record cannot be encoded: a name is longer than 255 bytes")]
    NameTooLong,
}

/// Appends the payload for `records` to `out`. Fails, writing nothing, when a name is
/// longer than 255 bytes or there are too many records or tokens.
pub fn encode(records: &[Record], out: &mut BytesMut) -> Result<(), GossipError> {
    if records.len() > MAX_RECORDS || records.iter().any(|r| r.tokens.len() > MAX_TOKENS) {
        return Err(GossipError::TooMany);
    }
    if records
        .iter()
        .any(|r| r.host.len() > 255 || r.dc.len() > 255 || r.rack.len() > 255)
    {
        return Err(GossipError::NameTooLong);
    }
    out.put_u8(PAYLOAD_VERSION);
    out.put_u16(records.len() as u16);
    for r in records {
        put_name(out, &r.host);
        out.put_u16(r.port);
        put_name(out, &r.dc);
        put_name(out, &r.rack);
        out.put_u16(r.tokens.len() as u16);
        r.tokens.iter().for_each(|&t| out.put_u32(t));
        out.put_u8(r.state);
        out.put_u64(r.generation);
        out.put_u64(r.heartbeat);
    }
    Ok(())
}

fn put_name(out: &mut BytesMut, s: &str) {
    out.put_u8(s.len() as u8);
    out.put_slice(s.as_bytes());
}

/// Reads a payload written by [`encode`] (or a later version of it).
pub fn decode(buf: &[u8]) -> Result<Vec<Record>, GossipError> {
    let mut r = Reader { buf };
    let version = r.u8()?;
    if version == 0 {
        return Err(GossipError::Version(version));
    }
    let count = r.u16()? as usize;
    if count > MAX_RECORDS {
        return Err(GossipError::TooMany);
    }
    let mut records = Vec::with_capacity(count.min(buf.len() / 16));
    for _ in 0..count {
        let host = r.name()?;
        let port = r.u16()?;
        let dc = r.name()?;
        let rack = r.name()?;
        let ntokens = r.u16()? as usize;
        if ntokens > MAX_TOKENS {
            return Err(GossipError::TooMany);
        }
        let mut tokens = Vec::with_capacity(ntokens.min(r.buf.len() / 4));
        for _ in 0..ntokens {
            tokens.push(r.u32()?);
        }
        records.push(Record {
            host,
            port,
            dc,
            rack,
            tokens,
            state: r.u8()?,
            generation: r.u64()?,
            heartbeat: r.u64()?,
        });
    }
    Ok(records)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], GossipError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(GossipError::Truncated)?;
        self.buf = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, GossipError> {
        Ok(self.take::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, GossipError> {
        Ok(u16::from_be_bytes(self.take()?))
    }

    fn u32(&mut self) -> Result<u32, GossipError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, GossipError> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn name(&mut self) -> Result<String, GossipError> {
        let len = self.u8()? as usize;
        if self.buf.len() < len {
            return Err(GossipError::Truncated);
        }
        let (s, rest) = self.buf.split_at(len);
        self.buf = rest;
        String::from_utf8(s.to_vec()).map_err(|_| GossipError::BadName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        (
            ".{0,40}",
            any::<u16>(),
            "[a-z$|,]{0,20}",
            "[a-z$|,]{0,20}",
            proptest::collection::vec(any::<u32>(), 0..8),
            any::<u8>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_filter("names fit in 255 bytes", |t| t.0.len() <= 255)
            .prop_map(
                |(host, port, dc, rack, tokens, state, generation, heartbeat)| Record {
                    host,
                    port,
                    dc,
                    rack,
                    tokens,
                    state,
                    generation,
                    heartbeat,
                },
            )
    }

    proptest! {
        #[test]
        fn records_round_trip(records in proptest::collection::vec(record(), 0..10)) {
            let mut out = BytesMut::new();
            encode(&records, &mut out).unwrap();
            prop_assert_eq!(decode(&out).unwrap(), records);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn a_truncated_payload_is_an_error(records in proptest::collection::vec(record(), 1..4), cut in 1usize..64) {
            let mut out = BytesMut::new();
            encode(&records, &mut out).unwrap();
            let keep = out.len().saturating_sub(cut);
            prop_assert!(decode(&out[..keep]).is_err());
        }
    }

    #[test]
    fn later_versions_may_append_fields() {
        let r = Record {
            host: "127.0.0.1".into(),
            port: 8101,
            dc: "dc1".into(),
            rack: "r1".into(),
            tokens: vec![0, 7],
            state: state::NORMAL,
            generation: 1,
            heartbeat: 2,
        };
        let mut out = BytesMut::new();
        encode(std::slice::from_ref(&r), &mut out).unwrap();
        out[0] = 2;
        out.extend_from_slice(b"future fields");
        assert_eq!(decode(&out).unwrap(), vec![r]);
        assert_eq!(decode(&[0, 0, 0]), Err(GossipError::Version(0)));
    }

    #[test]
    fn long_names_are_refused() {
        let r = Record {
            host: "h".repeat(256),
            port: 1,
            dc: String::new(),
            rack: String::new(),
            tokens: vec![],
            state: 0,
            generation: 0,
            heartbeat: 0,
        };
        let mut out = BytesMut::new();
        assert_eq!(encode(&[r], &mut out), Err(GossipError::NameTooLong));
        assert!(out.is_empty());
    }
}
