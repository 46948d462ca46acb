//! The reply value every command handler returns.
//!
//! Handlers describe *what* they answer (a map, a set, a double) and never the bytes;
//! the encoder picks the RESP2 or RESP3 shape per connection, the same way Redis's
//! `addReplyMap`/`addReplyDouble` do.

use bytes::Bytes;

/// A reply to one command, independent of the protocol version.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`-style status text (must not contain CR or LF).
    Status(&'static str),
    /// A status built at run time (e.g. `TYPE` replies, `PING` arguments are bulk though).
    StatusOwned(String),
    /// An error line, complete with its code prefix (`ERR ...`, `WRONGTYPE ...`).
    Error(String),
    Int(i64),
    Bulk(Bytes),
    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// A map in RESP3; a flat array of key, value, key, value in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// A double in RESP3; a bulk string formatted as Redis 7.0 does (`%.17g`) in RESP2.
    Double(f64),
    /// A boolean in RESP3; the integer 1 or 0 in RESP2.
    Bool(bool),
    /// A verbatim string (`=` in RESP3, e.g. INFO, CLIENT INFO); a bulk string in RESP2.
    Verbatim(Bytes),
    /// An out-of-band push (`>` in RESP3); an array in RESP2 (pub/sub messages).
    Push(Vec<Reply>),
    /// Bytes already encoded in the connection's protocol (a peer's reply relayed by
    /// the cluster layer).
    Raw(Bytes),
    /// Nothing is written: the command's reply was suppressed (CLIENT REPLY OFF/SKIP)
    /// or it will be written later (blocking commands).
    None,
}

impl Reply {
    pub const OK: Reply = Reply::Status("OK");

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// A bulk string copied from a byte slice.
    pub fn bulk_from(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }

    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// An array of bulk strings (KEYS, MGET-like shapes).
    pub fn bulks<I: IntoIterator<Item = Bytes>>(items: I) -> Reply {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }

    /// An array of bulk strings borrowed from the store (LRANGE, SMEMBERS), encoded
    /// at once: a reply of 600 elements as 600 `Reply::Bulk` took a reference count
    /// up and down on each element's buffer, each a cache miss, and three times the
    /// memory of the encoded bytes. An array of bulks is the same in RESP2 and RESP3.
    pub fn bulk_array<'a, I>(items: I) -> Reply
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        Reply::Raw(super::encode::bulk_array(items.into_iter()))
    }

    /// A member list, with scores when asked: flat pairs in RESP2, `[member, score]`
    /// arrays in RESP3. Encoded at once (as [`Reply::bulk_array`]) where that is the
    /// same in both protocols or the connection speaks RESP2.
    pub fn scored<M: AsRef<[u8]>>(items: &[(M, f64)], withscores: bool, proto: u8) -> Reply {
        if withscores && proto >= 3 {
            return Reply::Array(
                items
                    .iter()
                    .map(|(m, s)| {
                        Reply::Array(vec![Reply::bulk_from(m.as_ref()), Reply::Double(*s)])
                    })
                    .collect(),
            );
        }
        Reply::Raw(super::encode::scored_array(items, withscores))
    }
}
