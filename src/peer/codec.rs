//! The peer frame: Dynomite's dnode header plus a raw RESP payload, as pure byte functions.
//!
//! Why this shape: redmite nodes talk to each other over the peer port, and a later goal is
//! to talk to real Dynomite nodes too, so a cluster can be migrated node by node. The frame
//! therefore uses Dynomite's plaintext header byte for byte (docs/dyn_protocol.txt,
//! `dmsg_write` and `dyn_parse_core` in src/dyn_dnode_msg.c):
//!
//! ```text
//!    $2014$ <id> <type> <flags> <version> <same_dc> *<data_len> <data> *<payload_len>\r\n<payload>
//! ```
//!
//! It starts with three spaces; `data` is `d` in Dynomite's plaintext messages. The header's
//! `version` field versions the frame:
//!
//! - **Version 1** is what Dynomite sends. `data` is opaque (normally `d`).
//! - **Version 2** is redmite's. `data` carries a [`RedmiteExt`] (origin node, write version,
//!   database) in 13 binary bytes, so conflict resolution and SELECT can travel with a
//!   replicated write without touching the payload. Later fields may be appended; readers
//!   ignore bytes past the ones they know.
//!
//! The decoder is two-phase in the mini-redis style: it parses the header from the front of
//! the buffer and returns `Ok(None)` until the whole frame has arrived, without consuming
//! or reserving anything, so a peer that declares a huge payload cannot make us allocate it.
//! Payloads above 512 MiB (Redis's `proto-max-bulk-len`) and malformed headers are typed
//! errors. Unlike Dynomite, which skips garbage looking for the next `$2014$`, a malformed
//! header is fatal: the caller closes the link. Nothing here panics on any input.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The largest payload accepted, as Redis's default `proto-max-bulk-len`.
pub const MAX_PAYLOAD: u64 = 512 * 1024 * 1024;

/// The largest `data` field accepted. Dynomite puts at most an RSA-encrypted key there
/// (512 bytes for a 4096-bit key); 64 KiB leaves room for extensions.
pub const MAX_DATA: u64 = 64 * 1024;

/// The frame header's leading bytes.
const MAGIC: &[u8] = b"   $2014$ ";

/// The plaintext `data` Dynomite writes when it has nothing to carry.
const DYNOMITE_DATA: &[u8] = b"d";

/// `flags` bit 0: the payload is encrypted (Dynomite's AES scheme, not supported yet).
pub const FLAG_ENCRYPTED: u8 = 0x1;

/// What a frame asks of its receiver (Dynomite's `dmsg_type_t`).
///
/// The named variants cover the request path and gossip; every other code is kept as
/// `Other`, which never holds 3, 4, 5, 7 or 8 when built through [`MsgType::from_u8`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 3: run on the receiver's local datastore only.
    Req,
    /// 4: a request from another DC; the receiver fans it out to every rack of its DC and
    /// answers with its own rack's reply.
    ReqForward,
    /// 5: the reply to the request with the same id.
    Res,
    /// 7: a node's view of the cluster (`peer::gossip` payload); the receiver merges it
    /// and answers with [`MsgType::GossipSynReply`] carrying its own merged view.
    GossipSyn,
    /// 8: the answer to a [`MsgType::GossipSyn`] with the same id.
    GossipSynReply,
    /// Any other code (0 unknown, 1 debug, 6 crypto handshake, 9+ other gossip…).
    Other(u8),
}

impl MsgType {
    /// The type for a wire code.
    pub fn from_u8(code: u8) -> MsgType {
        match code {
            3 => MsgType::Req,
            4 => MsgType::ReqForward,
            5 => MsgType::Res,
            7 => MsgType::GossipSyn,
            8 => MsgType::GossipSynReply,
            n => MsgType::Other(n),
        }
    }

    /// The wire code.
    pub fn as_u8(self) -> u8 {
        match self {
            MsgType::Req => 3,
            MsgType::ReqForward => 4,
            MsgType::Res => 5,
            MsgType::GossipSyn => 7,
            MsgType::GossipSynReply => 8,
            MsgType::Other(n) => n,
        }
    }
}

/// One peer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Matches a reply (`Res`) to its request on the same connection.
    pub id: u64,
    pub msg_type: MsgType,
    /// Bit 0 = encrypted ([`FLAG_ENCRYPTED`]); other bits unused by Dynomite.
    pub flags: u8,
    /// 1 = Dynomite-compatible, 2 = redmite with [`RedmiteExt`] in `data`.
    pub version: u8,
    /// Whether sender and receiver are in the same DC.
    pub same_dc: bool,
    pub data: Bytes,
    /// The RESP request or reply.
    pub payload: Bytes,
}

/// redmite's per-message metadata, carried in `data` of version-2 frames.
///
/// The first 13 bytes (origin, version, db) are the original layout; the fields after
/// them were appended later and default to zero when a shorter extension arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RedmiteExt {
    /// The sending process's incarnation id (random per start), so that a receiver can
    /// tell a restarted sender's sequence numbers apart from the previous run's.
    pub origin: u32,
    /// For replicated writes: the per-link sequence number the receiver deduplicates
    /// resent writes with. Zero for requests that are not deduplicated (reads).
    pub version: u64,
    /// The logical database (SELECT) the payload runs in.
    pub db: u8,
    /// What the receiver does with a request: [`RedmiteExt::APPLY`] or
    /// [`RedmiteExt::COORDINATE`].
    pub kind: u8,
    /// For COORDINATE: the client's read and write consistency levels (0..=3).
    pub read_level: u8,
    pub write_level: u8,
    /// The RESP version the reply must be encoded in (2 or 3; 0 means 2).
    pub proto: u8,
    /// In responses: the replier's canonical checksum of its reply, so that replies whose
    /// element order is unspecified (sets, maps) still compare equal.
    pub checksum: u32,
}
/// Why bytes are not a valid frame. Every variant is fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("peer frame does not start with the dnode magic")]
    BadMagic,
    #[error("peer frame has a malformed {field} field")]
    Malformed { field: &'static str },
    #[error("peer frame version {0} is not supported")]
    UnsupportedVersion(u64),
    #[error("peer frame data of {len} bytes exceeds the limit")]
    DataTooLarge { len: u64 },
    #[error("peer frame payload of {len} bytes exceeds the 512 MiB limit")]
    PayloadTooLarge { len: u64 },
    #[error("version-2 peer frame data of {len} bytes is too short for the redmite extension")]
    BadExtension { len: usize },
}

impl RedmiteExt {
    /// The minimum encoded size: origin (4) + version (8) + db (1), big-endian.
    pub const LEN: usize = 13;
    /// The full encoded size with the appended fields.
    pub const FULL_LEN: usize = 21;
    /// Apply the payload locally only (a replica write or a read for a quorum).
    pub const APPLY: u8 = 0;
    /// Run the payload as if a client sent it here: route and replicate it.
    pub const COORDINATE: u8 = 1;
    /// The payload is many units for local application (`peer::batch`), answered in one
    /// frame.
    pub const BATCH: u8 = 2;
    /// A gossip exchange (header types 7 and 8); the payload is `peer::gossip`'s.
    pub const GOSSIP: u8 = 3;

    /// The compact encoding placed in `data`.
    pub fn to_bytes(self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::FULL_LEN);
        b.put_u32(self.origin);
        b.put_u64(self.version);
        b.put_u8(self.db);
        b.put_u8(self.kind);
        b.put_u8(self.read_level);
        b.put_u8(self.write_level);
        b.put_u8(self.proto);
        b.put_u32(self.checksum);
        b.freeze()
    }

    /// Reads the extension from `data`, ignoring bytes past the known fields.
    pub fn from_bytes(mut data: &[u8]) -> Result<RedmiteExt, CodecError> {
        if data.len() < Self::LEN {
            return Err(CodecError::BadExtension { len: data.len() });
        }
        let mut ext = RedmiteExt {
            origin: data.get_u32(),
            version: data.get_u64(),
            db: data.get_u8(),
            ..RedmiteExt::default()
        };
        if data.len() >= Self::FULL_LEN - Self::LEN {
            ext.kind = data.get_u8();
            ext.read_level = data.get_u8();
            ext.write_level = data.get_u8();
            ext.proto = data.get_u8();
            ext.checksum = data.get_u32();
        }
        Ok(ext)
    }
}

impl Frame {
    /// A plaintext version-1 frame exactly as Dynomite writes it (`data` = `d`).
    pub fn dynomite(id: u64, msg_type: MsgType, same_dc: bool, payload: Bytes) -> Frame {
        Frame {
            id,
            msg_type,
            flags: 0,
            version: 1,
            same_dc,
            data: Bytes::from_static(DYNOMITE_DATA),
            payload,
        }
    }

    /// A redmite version-2 frame carrying `ext`.
    pub fn redmite(
        id: u64,
        msg_type: MsgType,
        same_dc: bool,
        ext: RedmiteExt,
        payload: Bytes,
    ) -> Frame {
        Frame {
            id,
            msg_type,
            flags: 0,
            version: 2,
            same_dc,
            data: ext.to_bytes(),
            payload,
        }
    }

    /// The redmite extension of a version-2 frame; `None` for version 1.
    pub fn ext(&self) -> Result<Option<RedmiteExt>, CodecError> {
        match self.version {
            2 => RedmiteExt::from_bytes(&self.data).map(Some),
            _ => Ok(None),
        }
    }
}

/// Appends `frame` to `dst`.
///
/// Fails, writing nothing, when the frame could not be decoded by a peer: an unsupported
/// version, a `data` or payload over the limits, or a version-2 frame without a valid
/// extension.
pub fn encode(frame: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
    check_version(u64::from(frame.version))?;
    if frame.version == 2 {
        RedmiteExt::from_bytes(&frame.data)?;
    }
    let data_len = frame.data.len() as u64;
    if data_len > MAX_DATA {
        return Err(CodecError::DataTooLarge { len: data_len });
    }
    let payload_len = frame.payload.len() as u64;
    if payload_len > MAX_PAYLOAD {
        return Err(CodecError::PayloadTooLarge { len: payload_len });
    }
    let mut num = itoa::Buffer::new();
    dst.reserve(MAGIC.len() + 64 + frame.data.len() + frame.payload.len());
    dst.put_slice(MAGIC);
    dst.put_slice(num.format(frame.id).as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(num.format(frame.msg_type.as_u8()).as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(num.format(frame.flags).as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(num.format(frame.version).as_bytes());
    dst.put_u8(b' ');
    dst.put_u8(if frame.same_dc { b'1' } else { b'0' });
    dst.put_slice(b" *");
    dst.put_slice(num.format(data_len).as_bytes());
    dst.put_u8(b' ');
    dst.put_slice(&frame.data);
    dst.put_slice(b" *");
    dst.put_slice(num.format(payload_len).as_bytes());
    dst.put_slice(b"\r\n");
    dst.put_slice(&frame.payload);
    Ok(())
}

/// Takes one frame off the front of `src`.
///
/// `Ok(None)` means more bytes are needed; `src` is then untouched. On success exactly the
/// frame's bytes are consumed and `data`/`payload` share them without copying. On error the
/// buffer is left as it was and the connection should be closed.
pub fn decode(src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
    let Some(head) = parse_header(src)? else {
        return Ok(None);
    };
    // `total` fits: header length + data ≤ 64 KiB + payload ≤ 512 MiB.
    let total = head.payload_start + head.payload_len as usize;
    if src.len() < total {
        return Ok(None);
    }
    let bytes = src.split_to(total).freeze();
    Ok(Some(Frame {
        id: head.id,
        msg_type: MsgType::from_u8(head.msg_type),
        flags: head.flags,
        version: head.version,
        same_dc: head.same_dc,
        data: bytes.slice(head.data_start..head.data_start + head.data_len),
        payload: bytes.slice(head.payload_start..),
    }))
}

/// The parsed header and where the variable parts start.
struct Header {
    id: u64,
    msg_type: u8,
    flags: u8,
    version: u8,
    same_dc: bool,
    data_start: usize,
    data_len: usize,
    payload_start: usize,
    payload_len: u64,
}

/// A cursor over the header. Every step returns `Ok(None)` when the buffer ends first.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// Expects `lit` next; a mismatch is `err`.
    fn literal(&mut self, lit: &[u8], err: CodecError) -> Result<Option<()>, CodecError> {
        let avail = &self.buf[self.pos.min(self.buf.len())..];
        let n = lit.len().min(avail.len());
        if avail[..n] != lit[..n] {
            return Err(err);
        }
        if n < lit.len() {
            return Ok(None);
        }
        self.pos += n;
        Ok(Some(()))
    }

    /// A decimal number of at most `max` followed by `end`.
    fn number(
        &mut self,
        field: &'static str,
        max: u64,
        end: &[u8],
    ) -> Result<Option<u64>, CodecError> {
        let mut value: u64 = 0;
        let mut digits = 0usize;
        loop {
            let Some(&c) = self.buf.get(self.pos) else {
                return Ok(None);
            };
            if !c.is_ascii_digit() {
                break;
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or(CodecError::Malformed { field })?;
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(CodecError::Malformed { field });
        }
        if value > max {
            return Err(match field {
                "data_len" => CodecError::DataTooLarge { len: value },
                "payload_len" => CodecError::PayloadTooLarge { len: value },
                _ => CodecError::Malformed { field },
            });
        }
        Ok(self
            .literal(end, CodecError::Malformed { field })?
            .map(|()| value))
    }
}

/// Returns early with `Ok(None)` when the cursor ran out of bytes.
macro_rules! need {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

fn parse_header(buf: &[u8]) -> Result<Option<Header>, CodecError> {
    let mut c = Cursor { buf, pos: 0 };
    need!(c.literal(MAGIC, CodecError::BadMagic));
    let id = need!(c.number("id", u64::MAX, b" "));
    let msg_type = need!(c.number("type", u64::from(u8::MAX), b" "));
    let flags = need!(c.number("flags", u64::from(u8::MAX), b" "));
    let version = need!(c.number("version", u64::from(u8::MAX), b" "));
    check_version(version)?;
    let same_dc = need!(c.number("same_dc", 1, b" "));
    need!(c.literal(b"*", CodecError::Malformed { field: "data_len" }));
    let data_len = need!(c.number("data_len", MAX_DATA, b" "));
    // Checked before waiting for the data, so a bad header fails at once.
    if version == 2 && (data_len as usize) < RedmiteExt::LEN {
        return Err(CodecError::BadExtension {
            len: data_len as usize,
        });
    }
    let data_start = c.pos;
    // `data_len` ≤ 64 KiB, so this cannot overflow.
    c.pos += data_len as usize;
    if c.pos > buf.len() {
        return Ok(None);
    }
    need!(c.literal(
        b" *",
        CodecError::Malformed {
            field: "payload_len"
        }
    ));
    let payload_len = need!(c.number("payload_len", MAX_PAYLOAD, b"\r\n"));
    Ok(Some(Header {
        id,
        // The three fields were checked against u8::MAX above.
        msg_type: msg_type as u8,
        flags: flags as u8,
        version: version as u8,
        same_dc: same_dc == 1,
        data_start,
        data_len: data_len as usize,
        payload_start: c.pos,
        payload_len,
    }))
}

fn check_version(version: u64) -> Result<(), CodecError> {
    match version {
        1 | 2 => Ok(()),
        v => Err(CodecError::UnsupportedVersion(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> (Result<Option<Frame>, CodecError>, usize) {
        let mut buf = BytesMut::from(bytes);
        let r = decode(&mut buf);
        (r, bytes.len() - buf.len())
    }

    /// `SET foo 0123456789`: 39 bytes, the payload length of the captures in the notes
    /// (whose payload bytes were elided there).
    const SET_39: &[u8] = b"*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$10\r\n0123456789\r\n";

    /// The captured headers from dynomite-notes.md §4 decode to the expected fields and
    /// re-encode byte for byte.
    #[test]
    fn dynomite_captures() {
        assert_eq!(SET_39.len(), 39);
        let same_dc_req = [b"   $2014$ 201 3 0 1 1 *1 d *39\r\n".as_slice(), SET_39].concat();
        let remote_req = [b"   $2014$ 203 4 0 1 0 *1 d *39\r\n".as_slice(), SET_39].concat();
        let response = b"   $2014$ 201 5 0 1 1 *1 d *5\r\n+OK\r\n".to_vec();
        let cases = [
            (
                same_dc_req,
                Frame::dynomite(201, MsgType::Req, true, Bytes::from_static(SET_39)),
            ),
            (
                remote_req,
                Frame::dynomite(203, MsgType::ReqForward, false, Bytes::from_static(SET_39)),
            ),
            (
                response,
                Frame::dynomite(201, MsgType::Res, true, Bytes::from_static(b"+OK\r\n")),
            ),
        ];
        for (wire, want) in cases {
            let (got, used) = decode_all(&wire);
            assert_eq!(got, Ok(Some(want.clone())));
            assert_eq!(used, wire.len());
            let mut out = BytesMut::new();
            encode(&want, &mut out).expect("encodable");
            assert_eq!(&out[..], &wire[..]);
        }
    }

    /// The encrypted captures: the first message carries a 128-byte RSA block in `data`,
    /// the reply an AES-padded payload. The codec passes both through with flags = 1.
    #[test]
    fn dynomite_encrypted_captures() {
        let rsa: Vec<u8> = (0..128u8).map(|i| i.wrapping_mul(37)).collect();
        let aes = [0xA5u8; 48];
        let first = [
            b"   $2014$ 4 4 1 1 0 *128 ".as_slice(),
            &rsa,
            b" *48\r\n",
            &aes,
        ]
        .concat();
        let (got, used) = decode_all(&first);
        let f = got.expect("valid").expect("complete");
        assert_eq!(used, first.len());
        assert_eq!(
            (f.id, f.msg_type, f.flags, f.version, f.same_dc),
            (4, MsgType::ReqForward, FLAG_ENCRYPTED, 1, false)
        );
        assert_eq!(&f.data[..], &rsa[..]);
        assert_eq!(&f.payload[..], &aes[..]);

        let reply = [b"   $2014$ 4 5 1 1 0 *1 d *16\r\n".as_slice(), &[7u8; 16]].concat();
        let f = decode_all(&reply).0.expect("valid").expect("complete");
        assert_eq!(
            (f.msg_type, f.flags, &f.data[..], f.payload.len()),
            (MsgType::Res, 1, &b"d"[..], 16)
        );
    }

    #[test]
    fn redmite_v2_carries_the_extension() {
        let ext = RedmiteExt {
            origin: 7,
            version: 0x0102_0304_0506_0708,
            db: 3,
            kind: RedmiteExt::COORDINATE,
            read_level: 1,
            write_level: 2,
            proto: 3,
            checksum: 0x0A0B_0C0D,
        };
        let f = Frame::redmite(
            9,
            MsgType::Req,
            true,
            ext,
            Bytes::from_static(b"*1\r\n$4\r\nPING\r\n"),
        );
        let mut out = BytesMut::new();
        encode(&f, &mut out).expect("encodable");
        assert!(out.starts_with(
            b"   $2014$ 9 3 0 2 1 *21 \0\0\0\x07\x01\x02\x03\x04\x05\x06\x07\x08\x03\x01\x01\x02\x03\x0a\x0b\x0c\x0d *14\r\n"
        ));
        let back = decode(&mut out).expect("valid").expect("complete");
        assert_eq!(back.ext(), Ok(Some(ext)));
        assert_eq!(back, f);
        assert!(out.is_empty());
        assert_eq!(
            Frame::dynomite(1, MsgType::Res, true, Bytes::new()).ext(),
            Ok(None)
        );
    }

    /// Malformed headers: (bytes, expected error).
    #[test]
    fn malformed_headers() {
        let cases: &[(&[u8], CodecError)] = &[
            (b"  x", CodecError::BadMagic),
            (b"*3\r\n$3\r\nSET\r\n", CodecError::BadMagic),
            (b"   $2014$ x", CodecError::Malformed { field: "id" }),
            (b"   $2014$ 1  3", CodecError::Malformed { field: "type" }),
            (
                b"   $2014$ 99999999999999999999 3",
                CodecError::Malformed { field: "id" },
            ),
            (b"   $2014$ 1 256 ", CodecError::Malformed { field: "type" }),
            (b"   $2014$ 1 3 0 9 ", CodecError::UnsupportedVersion(9)),
            (
                b"   $2014$ 1 3 0 1 2 ",
                CodecError::Malformed { field: "same_dc" },
            ),
            (
                b"   $2014$ 1 3 0 1 1 1 d",
                CodecError::Malformed { field: "data_len" },
            ),
            (
                b"   $2014$ 1 3 0 1 1 *70000 ",
                CodecError::DataTooLarge { len: 70000 },
            ),
            (
                b"   $2014$ 1 3 0 1 1 *1 dx*5\r\n",
                CodecError::Malformed {
                    field: "payload_len",
                },
            ),
            (
                b"   $2014$ 1 3 0 1 1 *1 d *5\n",
                CodecError::Malformed {
                    field: "payload_len",
                },
            ),
            (
                b"   $2014$ 1 3 0 1 1 *1 d *536870913\r\n",
                CodecError::PayloadTooLarge { len: 536870913 },
            ),
            (
                b"   $2014$ 1 3 0 2 1 *1 d *0\r\n",
                CodecError::BadExtension { len: 1 },
            ),
        ];
        for (bytes, want) in cases {
            let (got, used) = decode_all(bytes);
            assert_eq!(
                got.as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
            assert_eq!(used, 0);
        }
    }

    /// A frame declaring the maximum payload is accepted as incomplete without the bytes.
    #[test]
    fn large_declared_payload_waits_without_allocating() {
        let mut buf = BytesMut::from(&b"   $2014$ 1 3 0 1 1 *1 d *536870912\r\n+"[..]);
        let cap = buf.capacity();
        assert_eq!(decode(&mut buf), Ok(None));
        assert_eq!(buf.capacity(), cap);
        assert_eq!(buf.len(), 38);
    }

    #[test]
    fn encode_rejects_undecodable_frames() {
        let mut out = BytesMut::new();
        let mut f = Frame::dynomite(1, MsgType::Req, true, Bytes::new());
        f.version = 3;
        assert_eq!(encode(&f, &mut out), Err(CodecError::UnsupportedVersion(3)));
        f.version = 2;
        assert_eq!(
            encode(&f, &mut out),
            Err(CodecError::BadExtension { len: 1 })
        );
        f.version = 1;
        f.data = Bytes::from(vec![0; MAX_DATA as usize + 1]);
        assert!(matches!(
            encode(&f, &mut out),
            Err(CodecError::DataTooLarge { .. })
        ));
        assert!(out.is_empty());
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        (
            any::<u64>(),
            any::<u8>(),
            any::<u8>(),
            any::<bool>(),
            prop::option::of((any::<u32>(), any::<u64>(), any::<u8>())),
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(id, ty, flags, same_dc, ext, data, payload)| {
                let mut f = match ext {
                    Some((origin, version, db)) => Frame::redmite(
                        id,
                        MsgType::from_u8(ty),
                        same_dc,
                        RedmiteExt {
                            origin,
                            version,
                            db,
                            ..RedmiteExt::default()
                        },
                        Bytes::from(payload),
                    ),
                    None => Frame {
                        data: Bytes::from(data),
                        ..Frame::dynomite(id, MsgType::from_u8(ty), same_dc, Bytes::from(payload))
                    },
                };
                f.flags = flags;
                f
            })
    }

    proptest! {
        /// encode → decode gives the frame back, consuming exactly its bytes; every strict
        /// prefix is incomplete and consumes nothing.
        #[test]
        fn round_trip(frame in arb_frame(), trailer in prop::collection::vec(any::<u8>(), 0..8)) {
            let mut wire = BytesMut::new();
            encode(&frame, &mut wire).expect("arbitrary frames are within limits");
            let len = wire.len();
            for cut in 0..len {
                let (r, used) = decode_all(&wire[..cut]);
                prop_assert_eq!(r, Ok(None), "prefix of {} bytes", cut);
                prop_assert_eq!(used, 0);
            }
            wire.extend_from_slice(&trailer);
            let back = decode(&mut wire).expect("valid").expect("complete");
            prop_assert_eq!(back, frame);
            prop_assert_eq!(&wire[..], &trailer[..]);
        }

        /// Arbitrary bytes, and corruptions of valid frames, give None, an error or a frame,
        /// never a panic, and never consume more than the buffer (nothing unless a frame).
        #[test]
        fn arbitrary_input_is_safe(
            frame in arb_frame(),
            noise in prop::collection::vec(any::<u8>(), 0..300),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            for input in [noise.clone(), [MAGIC, &noise].concat()] {
                let (r, used) = decode_all(&input);
                prop_assert!(used <= input.len());
                if !matches!(r, Ok(Some(_))) {
                    prop_assert_eq!(used, 0);
                }
            }
            let mut wire = BytesMut::new();
            encode(&frame, &mut wire).expect("within limits");
            let mut bytes = wire.to_vec();
            for (i, b) in flips {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            let bytes = &bytes[..cut.index(bytes.len() + 1)];
            let (r, used) = decode_all(bytes);
            prop_assert!(used <= bytes.len());
            match r {
                Ok(Some(f)) => {
                    prop_assert!(f.payload.len() + f.data.len() <= used);
                }
                _ => prop_assert_eq!(used, 0),
            }
        }
    }
}
