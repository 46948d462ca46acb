//! FUNCTION DUMP's payload: Redis's RDB encoding of the libraries, byte for byte.
//!
//! Each library is the opcode `RDB_OPCODE_FUNCTION2` (245) and its code as an RDB
//! string; the payload ends with the RDB version (10 for Redis 7.0, two bytes, little
//! endian) and the CRC64 (Jones polynomial, as Redis's `crc64`) of everything before
//! it, eight bytes little endian. Strings longer than 20 bytes are LZF-compressed
//! when that saves at least four bytes, as `rdbSaveRawString` does, so a payload
//! from redmite is the payload Redis makes for the same libraries, and either
//! server restores the other's.

use bytes::Bytes;

use super::lzf;

/// `RDB_VERSION` of Redis 7.0.
const RDB_VERSION: u16 = 10;
/// Redis 7.0.0's library opcode: the library's code.
const OPCODE_FUNCTION2: u8 = 245;
/// Redis 7.0's release candidates: name, engine, description, then the code.
const OPCODE_FUNCTION: u8 = 246;
const ENC_LZF: u8 = 3;

/// The payload for libraries with these codes.
pub fn dump<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        save_string(&mut out, code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a payload, with Redis's error texts.
pub fn parse(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    const BAD: &str = "ERR DUMP payload version or checksum are wrong";
    if payload.len() < 10 {
        return Err(BAD.into());
    }
    let footer = &payload[payload.len() - 10..];
    if u16::from_le_bytes([footer[0], footer[1]]) > RDB_VERSION {
        return Err(BAD.into());
    }
    let crc = crc64(0, &payload[..payload.len() - 8]);
    if crc.to_le_bytes() != footer[2..] {
        return Err(BAD.into());
    }
    // Like Redis's reader, records are read from the whole buffer until at most the
    // footer's ten bytes are left.
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let mut codes = Vec::new();
    while payload.len() - r.pos > 10 {
        let Some(kind) = r.byte() else {
            return Err("ERR can not read data type".into());
        };
        let code = match kind {
            OPCODE_FUNCTION2 => r
                .string()
                .ok_or_else(|| "ERR Failed loading library payload".to_string())?,
            OPCODE_FUNCTION => old_format(&mut r)?,
            _ => return Err("ERR given type is not a function".into()),
        };
        codes.push(Bytes::from(code));
    }
    Ok(codes)
}

/// A library in the release candidates' format, turned into the code with its
/// shebang line, as Redis does.
fn old_format(r: &mut Reader) -> Result<Vec<u8>, String> {
    let name = r
        .string()
        .ok_or_else(|| "ERR Failed loading library name".to_string())?;
    let engine = r
        .string()
        .ok_or_else(|| "ERR Failed loading engine name".to_string())?;
    let has_desc = r
        .len()
        .ok_or_else(|| "ERR Failed loading library description indicator".to_string())?;
    if has_desc != 0 && r.string().is_none() {
        return Err("ERR Failed loading library description".into());
    }
    let blob = r
        .string()
        .ok_or_else(|| "ERR Failed loading library blob".to_string())?;
    let mut code = b"#!".to_vec();
    code.extend_from_slice(&engine);
    code.extend_from_slice(b" name=");
    code.extend_from_slice(&name);
    code.push(b'\n');
    code.extend_from_slice(&blob);
    Ok(code)
}

/// `rdbSaveRawString` for a string that is not an integer (library code starts
/// with `#!`).
fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > 20 {
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            out.push(0xc0 | ENC_LZF);
            save_len(out, packed.len() as u64);
            save_len(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `rdbSaveLen`: 6, 14, 32 or 64 bits.
fn save_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A length or, with the two top bits set, a special encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn raw_len(&mut self) -> Option<Len> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn len(&mut self) -> Option<u64> {
        match self.raw_len()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    /// `rdbGenericLoadStringObject`: a plain, integer-encoded or LZF string.
    fn string(&mut self) -> Option<Vec<u8>> {
        match self.raw_len()? {
            Len::Plain(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Len::Encoded(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(ENC_LZF) => {
                let clen = usize::try_from(self.len()?).ok()?;
                let len = usize::try_from(self.len()?).ok()?;
                lzf::decompress(self.take(clen)?, len)
            }
            Len::Encoded(_) => None,
        }
    }
}

/// Redis's `crc64`: the Jones polynomial, reflected, no final xor.
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = CRC64_TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

const CRC64_TABLE: [u64; 256] = crc64_table();

const fn crc64_table() -> [u64; 256] {
    // The Jones polynomial 0xad93d23594c935a9, bit-reflected.
    const POLY: u64 = 0x95ac9329ac4bc9b5;
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any payload with a valid footer parses or fails without panicking, and
        /// what dump writes parses back to the same codes.
        #[test]
        fn parse_takes_any_payload(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut payload = body;
            payload.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(0, &payload);
            payload.extend_from_slice(&crc.to_le_bytes());
            let _ = parse(&payload);
        }

        #[test]
        fn dump_parses_back(codes in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..500), 0..4)) {
            let payload = dump(codes.iter().map(|c| &c[..]));
            let back: Vec<Vec<u8>> = parse(&payload).unwrap().iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(back, codes);
        }
    }

    #[test]
    fn crc64_check_value() {
        // Redis's own test vector (crc64.c).
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    /// A payload Redis 7.0.15 made for one library, byte for byte.
    const REDIS_PAYLOAD: &[u8] = b"\xf5@I#!lua name=mylib\nredis.register_function(\"f\", function(k,a) return 1 end)\n\x00\x88Xqyj\xe3\xae\xcb";

    #[test]
    fn same_payload_as_redis() {
        let code = &REDIS_PAYLOAD[3..REDIS_PAYLOAD.len() - 10];
        assert_eq!(dump([code].into_iter()), REDIS_PAYLOAD);
        assert_eq!(
            parse(REDIS_PAYLOAD).unwrap(),
            vec![Bytes::copy_from_slice(code)]
        );
    }

    #[test]
    fn round_trip_and_corruption() {
        let codes: Vec<Vec<u8>> = vec![
            b"#!lua name=a\n".repeat(30),
            b"#!lua name=b\nshort".to_vec(),
            vec![b'x'; 20_000],
        ];
        let payload = dump(codes.iter().map(|c| &c[..]));
        let back: Vec<Vec<u8>> = parse(&payload)
            .unwrap()
            .iter()
            .map(|b| b.to_vec())
            .collect();
        assert_eq!(back, codes);
        let mut bad = payload.clone();
        bad[5] ^= 1;
        assert!(parse(&bad).is_err());
        assert!(parse(b"short").is_err());
    }
}
