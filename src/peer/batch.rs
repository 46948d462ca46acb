//! The payload of a batch frame (`RedmiteExt::BATCH`): many independent units in one peer
//! frame, and their replies in one answer frame.
//!
//! **Why.** A pipeline of N replicated writes used to cost N frames, N reply frames, N
//! hints and N reply channels per peer; the per-frame work, not the network, bounded
//! pipelined quorum writes. The coordinator now gathers every unit a batch of client
//! commands sends to one peer into a single frame (one sequence number, one hint, one
//! reply channel), and the peer answers every unit in one frame, in order, so each unit's
//! quorum is still decided on its own.
//!
//! Request payload, per unit: `@<db>,<proto>,<flags>,<len>\r\n` and then `len` bytes of
//! RESP commands (a unit is one write's effects, a read, or a PUBLISH). Flag
//! [`FORWARD`] marks a write from another DC that the receiver fans out to its own racks.
//! Reply payload, per unit: `@<checksum>,<len>\r\n` and then the `len` bytes of the RESP
//! reply (in the unit's protocol) with the peer's canonical checksum of it.

use bytes::{BufMut, Bytes, BytesMut};

/// Unit flag: a write from another DC, to be sent on to the receiver's other racks.
pub const FORWARD: u8 = 1;

/// One unit of a batch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub db: u8,
    pub proto: u8,
    pub flags: u8,
    /// RESP-encoded commands, applied in order; the unit's reply is the last one's.
    pub cmds: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch unit header at byte {0} is malformed")]
    BadHeader(usize),
    #[error("batch unit at byte {0} is truncated")]
    Truncated(usize),
}

/// Appends one RESP command (an array of bulk strings) to `out`.
pub fn push_command(out: &mut BytesMut, args: &[Bytes]) {
    let mut n = itoa::Buffer::new();
    out.put_u8(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.put_u8(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_header(out: &mut BytesMut, fields: &[u64]) {
    let mut n = itoa::Buffer::new();
    out.put_u8(b'@');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.extend_from_slice(n.format(*f).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a request unit: `cmds` is RESP commands as [`push_command`] writes them.
pub fn push_unit(out: &mut BytesMut, db: u8, proto: u8, flags: u8, cmds: &[u8]) {
    push_header(
        out,
        &[
            u64::from(db),
            u64::from(proto),
            u64::from(flags),
            cmds.len() as u64,
        ],
    );
    out.extend_from_slice(cmds);
}

/// Appends one unit's reply.
pub fn push_reply(out: &mut BytesMut, checksum: u32, reply: &[u8]) {
    push_header(out, &[u64::from(checksum), reply.len() as u64]);
    out.extend_from_slice(reply);
}

/// Reads `@a,b,...\r\n` with exactly `N` decimal fields at `at`; returns the fields and
/// the offset after the line.
fn header<const N: usize>(buf: &[u8], at: usize) -> Result<([u64; N], usize), BatchError> {
    let bad = BatchError::BadHeader(at);
    let rest = &buf[at..];
    if rest.first() != Some(&b'@') {
        return Err(bad);
    }
    // A header is short: at most 4 numbers of at most 20 digits.
    let end = rest
        .iter()
        .take(80)
        .position(|&b| b == b'\r')
        .ok_or(BatchError::BadHeader(at))?;
    if rest.get(end + 1) != Some(&b'\n') {
        return Err(bad);
    }
    let mut fields = [0u64; N];
    let mut parts = rest[1..end].split(|&b| b == b',');
    for f in fields.iter_mut() {
        let p = parts.next().ok_or(BatchError::BadHeader(at))?;
        if p.is_empty() || p.len() > 20 {
            return Err(bad);
        }
        let mut n = 0u64;
        for &d in p {
            if !d.is_ascii_digit() {
                return Err(bad);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(BatchError::BadHeader(at))?;
        }
        *f = n;
    }
    if parts.next().is_some() {
        return Err(bad);
    }
    Ok((fields, at + end + 2))
}

/// Splits `len` bytes at `at` off `payload` (zero-copy).
fn body(payload: &Bytes, at: usize, len: u64) -> Result<(Bytes, usize), BatchError> {
    let len = usize::try_from(len).map_err(|_| BatchError::Truncated(at))?;
    let end = at
        .checked_add(len)
        .filter(|&e| e <= payload.len())
        .ok_or(BatchError::Truncated(at))?;
    Ok((payload.slice(at..end), end))
}

/// Splits a batch request payload into its units.
pub fn parse_units(payload: &Bytes) -> Result<Vec<Unit>, BatchError> {
    let mut units = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let ([db, proto, flags, len], next) = header::<4>(payload, at)?;
        let (db, proto, flags) = match (u8::try_from(db), u8::try_from(proto), u8::try_from(flags))
        {
            (Ok(d), Ok(p), Ok(f)) => (d, p, f),
            _ => return Err(BatchError::BadHeader(at)),
        };
        let (cmds, end) = body(payload, next, len)?;
        units.push(Unit {
            db,
            proto,
            flags,
            cmds,
        });
        at = end;
    }
    Ok(units)
}

/// Splits a batch reply payload into each unit's (checksum, reply bytes).
pub fn parse_replies(payload: &Bytes) -> Result<Vec<(u32, Bytes)>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let ([checksum, len], next) = header::<2>(payload, at)?;
        let checksum = u32::try_from(checksum).map_err(|_| BatchError::BadHeader(at))?;
        let (reply, end) = body(payload, next, len)?;
        out.push((checksum, reply));
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units_round_trip() {
        let mut cmds = BytesMut::new();
        push_command(
            &mut cmds,
            &[
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::new(),
            ],
        );
        assert_eq!(&cmds[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let mut p = BytesMut::new();
        push_unit(&mut p, 3, 2, FORWARD, &cmds);
        push_unit(&mut p, 0, 3, 0, b"");
        let units = parse_units(&p.freeze()).unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(
            (units[0].db, units[0].proto, units[0].flags),
            (3, 2, FORWARD)
        );
        assert_eq!(units[0].cmds, cmds.freeze());
        assert_eq!(
            (units[1].db, units[1].proto, units[1].cmds.len()),
            (0, 3, 0)
        );
    }

    #[test]
    fn replies_round_trip_and_reject_garbage() {
        let mut p = BytesMut::new();
        push_reply(&mut p, u32::MAX, b"+OK\r\n");
        push_reply(&mut p, 7, b"$-1\r\n");
        let r = parse_replies(&p.freeze()).unwrap();
        assert_eq!(r[0], (u32::MAX, Bytes::from_static(b"+OK\r\n")));
        assert_eq!(r[1], (7, Bytes::from_static(b"$-1\r\n")));
        for bad in [
            &b"+OK\r\n"[..],
            b"@1\r\n",
            b"@1,9\r\n+OK\r\n",
            b"@1,2,3\r\nab",
            b"@,2\r\nab",
            b"@99999999999,0\r\n",
            b"@1,2\rx",
        ] {
            assert!(
                parse_replies(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse_units(&Bytes::from_static(b"@300,2,0,0\r\n")).is_err());
        assert!(parse_units(&Bytes::from_static(b"@0,2,0\r\n")).is_err());
        assert!(parse_units(&Bytes::from_static(b"@0,2,0,5\r\n+OK")).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let b = Bytes::from(data);
            let _ = parse_units(&b);
            let _ = parse_replies(&b);
        }

        #[test]
        fn parsers_never_panic_on_near_valid_input(
            units in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(),
                proptest::collection::vec(any::<u8>(), 0..40)), 0..6),
            cut in any::<usize>(),
            flip in any::<(usize, u8)>(),
        ) {
            let mut p = BytesMut::new();
            for (db, proto, flags, body) in &units {
                push_unit(&mut p, *db, *proto, *flags, body);
            }
            let whole = p.clone().freeze();
            let parsed = parse_units(&whole).unwrap();
            prop_assert_eq!(parsed.len(), units.len());
            for (u, (db, proto, flags, body)) in parsed.iter().zip(&units) {
                prop_assert_eq!((u.db, u.proto, u.flags, &u.cmds[..]), (*db, *proto, *flags, &body[..]));
            }
            let mut damaged = p.to_vec();
            if !damaged.is_empty() {
                let i = flip.0 % damaged.len();
                damaged[i] ^= flip.1;
                damaged.truncate(cut % (damaged.len() + 1));
            }
            let d = Bytes::from(damaged);
            let _ = parse_units(&d);
            let _ = parse_replies(&d);
        }

        #[test]
        fn replies_round_trip(replies in proptest::collection::vec((any::<u32>(),
                proptest::collection::vec(any::<u8>(), 0..40)), 0..6)) {
            let mut p = BytesMut::new();
            for (c, r) in &replies {
                push_reply(&mut p, *c, r);
            }
            let parsed = parse_replies(&p.freeze()).unwrap();
            prop_assert_eq!(parsed.len(), replies.len());
            for ((c, r), (pc, pr)) in replies.iter().zip(parsed) {
                prop_assert_eq!((*c, &r[..]), (pc, &pr[..]));
            }
        }
    }
}
