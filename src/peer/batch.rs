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
    // A short command (most writes) is built on the stack and appended at once: one
    // capacity check and one copy instead of five per argument.
    let mut line = [0u8; 256];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        let end = len + bytes.len();
        let room = line.get_mut(len..end)?;
        room.copy_from_slice(bytes);
        len = end;
        Some(())
    };
    let built = (|| {
        put(b"*")?;
        put(n.format(args.len()).as_bytes())?;
        put(b"\r\n")?;
        for a in args {
            put(b"$")?;
            put(n.format(a.len()).as_bytes())?;
            put(b"\r\n")?;
            put(a)?;
            put(b"\r\n")?;
        }
        Some(())
    })();
    if built.is_some() {
        out.extend_from_slice(&line[..len]);
        return;
    }
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

/// Appends `@a,b,...\r\n`. The line is built on the stack and appended at once: one
/// capacity check per unit instead of one per field and separator.
fn push_header<const N: usize>(out: &mut BytesMut, fields: [u64; N]) {
    const { assert!(N <= 4) };
    let mut n = itoa::Buffer::new();
    // '@', N numbers of at most 20 digits, N - 1 commas, CRLF.
    let mut line = [0u8; 96];
    line[0] = b'@';
    let mut len = 1;
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            line[len] = b',';
            len += 1;
        }
        let digits = n.format(f).as_bytes();
        line[len..len + digits.len()].copy_from_slice(digits);
        len += digits.len();
    }
    line[len..len + 2].copy_from_slice(b"\r\n");
    out.extend_from_slice(&line[..len + 2]);
}

/// Appends a request unit: `cmds` is RESP commands as [`push_command`] writes them.
pub fn push_unit(out: &mut BytesMut, db: u8, proto: u8, flags: u8, cmds: &[u8]) {
    push_header(
        out,
        [
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
    push_header(out, [u64::from(checksum), reply.len() as u64]);
    out.extend_from_slice(reply);
}

/// Reads `@a,b,...\r\n` with exactly `N` decimal fields at `at`; returns the fields and
/// the offset after the line. One pass over the bytes: this runs for every unit of
/// every batch frame and reply.
fn header<const N: usize>(buf: &[u8], at: usize) -> Result<([u64; N], usize), BatchError> {
    let bad = BatchError::BadHeader(at);
    let rest = &buf[at..];
    if rest.first() != Some(&b'@') {
        return Err(bad);
    }
    let mut fields = [0u64; N];
    let mut i = 1;
    for (k, f) in fields.iter_mut().enumerate() {
        let digits_start = i;
        let mut n = 0u64;
        while let Some(&d) = rest.get(i).filter(|d| d.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(BatchError::BadHeader(at))?;
            i += 1;
        }
        // At most 20 digits: leading zeros do not make a header longer than that.
        if i == digits_start || i - digits_start > 20 {
            return Err(bad);
        }
        *f = n;
        let sep = if k + 1 < N { b',' } else { b'\r' };
        if rest.get(i) != Some(&sep) {
            return Err(bad);
        }
        i += 1;
    }
    if rest.get(i) != Some(&b'\n') {
        return Err(bad);
    }
    Ok((fields, at + i + 1))
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

/// A guess at a payload's unit count, to size its vector once: a pipeline of short
/// writes has about one unit (or reply) per 20 bytes; large units make it an
/// overestimate, so it is capped.
fn expected_units(payload: &[u8]) -> usize {
    (payload.len() / 20).clamp(1, 64)
}

/// Splits a batch request payload into its units.
pub fn parse_units(payload: &Bytes) -> Result<Vec<Unit>, BatchError> {
    let mut units = Vec::with_capacity(expected_units(payload));
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
    let mut out = Vec::with_capacity(expected_units(payload));
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

    #[test]
    fn header_fields_are_bounded() {
        let max = format!("@{},0\r\n", u64::MAX);
        assert_eq!(
            header::<2>(max.as_bytes(), 0),
            Ok(([u64::MAX, 0], max.len()))
        );
        // 20 digits with leading zeros are a number; 21 digits are not.
        let padded = b"@00000000000000000001,2\r\n";
        assert_eq!(header::<2>(padded, 0), Ok(([1, 2], padded.len())));
        for bad in [
            &b"@000000000000000000001,2\r\n"[..],
            b"@18446744073709551616,0\r\n",
            b"@1,2,\r\n",
            b"@1;2\r\n",
            b"@1,2\r",
            b"@1,2\n\n",
            b"@",
        ] {
            assert_eq!(
                header::<2>(bad, 0),
                Err(BatchError::BadHeader(0)),
                "{bad:?}"
            );
        }
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

        /// Commands shorter and longer than `push_command`'s stack buffer encode to
        /// the same RESP that the client decoder reads back as the same arguments.
        #[test]
        fn commands_round_trip_through_the_resp_decoder(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..6),
        ) {
            use crate::resp::{parse_request, Decoder, Limits};
            let args: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
            let mut out = BytesMut::from(&b"prefix"[..]);
            push_command(&mut out, &args);
            prop_assert_eq!(&out[..6], b"prefix");
            let mut buf = out.split_off(6);
            let decoded = parse_request(&mut Decoder::default(), &mut buf, &Limits::default());
            prop_assert_eq!(decoded, Ok(Some(args)));
            prop_assert!(buf.is_empty());
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
