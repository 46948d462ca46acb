//! Parsing a reply's RESP bytes back into a [`Reply`], for replies relayed by peers
//! that the coordinator must merge (MGET split across the nodes of a sharded rack).

use bytes::Bytes;
use memchr::memchr;

use super::Reply;

/// Parses one complete reply from the front of `buf`. Returns the reply and the number
/// of bytes it used, or `None` if `buf` does not start with a whole, valid reply.
pub fn parse_reply(buf: &Bytes) -> Option<(Reply, usize)> {
    parse_at(buf, 0, 0)
}

/// Aggregates nest at most this deep (Redis itself never nests replies deeper).
const MAX_DEPTH: usize = 64;

fn line(buf: &Bytes, pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let cr = memchr(b'\r', rest)?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    Some((&rest[..cr], pos + cr + 2))
}

fn parse_at(buf: &Bytes, pos: usize, depth: usize) -> Option<(Reply, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let kind = *buf.get(pos)?;
    let (text, next) = line(buf, pos + 1)?;
    let text_str = || String::from_utf8_lossy(text).into_owned();
    let int = || std::str::from_utf8(text).ok()?.parse::<i64>().ok();
    match kind {
        b'+' => Some((Reply::StatusOwned(text_str()), next)),
        b'-' => Some((Reply::Error(text_str()), next)),
        b':' => Some((Reply::Int(int()?), next)),
        b'_' => Some((Reply::Nil, next)),
        b'#' => Some((Reply::Bool(text == b"t"), next)),
        b',' => {
            let s = text_str();
            let v = match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => s.parse().ok()?,
            };
            Some((Reply::Double(v), next))
        }
        b'(' => Some((Reply::Bulk(Bytes::copy_from_slice(text)), next)),
        b'$' | b'=' | b'!' => {
            let n = int()?;
            if n < 0 {
                return Some((Reply::Nil, next));
            }
            let end = next.checked_add(n as usize)?;
            if buf.get(end..end + 2)? != b"\r\n" {
                return None;
            }
            let body = buf.slice(next..end);
            let reply = match kind {
                b'=' => Reply::Verbatim(body.slice(body.len().min(4)..)),
                b'!' => Reply::Error(String::from_utf8_lossy(&body).into_owned()),
                _ => Reply::Bulk(body),
            };
            Some((reply, end + 2))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = int()?;
            if n < 0 {
                return Some((Reply::NilArray, next));
            }
            let count = if kind == b'%' {
                (n as usize).checked_mul(2)?
            } else {
                n as usize
            };
            let mut items = Vec::with_capacity(count.min(1024));
            let mut at = next;
            for _ in 0..count {
                let (item, after) = parse_at(buf, at, depth + 1)?;
                items.push(item);
                at = after;
            }
            let reply = match kind {
                b'~' => Reply::Set(items),
                b'>' => Reply::Push(items),
                b'%' => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
                _ => Reply::Array(items),
            };
            Some((reply, at))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::encode;
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn arb_reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| Reply::Bulk(Bytes::from(v))),
            Just(Reply::Nil),
            "[a-z ]{0,10}".prop_map(Reply::StatusOwned),
            "[A-Z]{1,5} [a-z ]{0,10}".prop_map(Reply::Error),
            any::<bool>().prop_map(Reply::Bool),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Set),
                proptest::collection::vec((inner.clone(), inner), 0..3).prop_map(Reply::Map),
            ]
        })
    }

    proptest! {
        /// Encoding in RESP3 then parsing gives the same reply back.
        #[test]
        fn roundtrip_resp3(reply in arb_reply()) {
            let mut out = BytesMut::new();
            encode(&reply, 3, &mut out);
            let bytes = out.freeze();
            let (parsed, used) = parse_reply(&bytes).expect("parses");
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(parsed, reply);
        }

        /// Truncated or random input never panics and never claims more than it has.
        #[test]
        fn garbage_is_safe(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let bytes = Bytes::from(input);
            if let Some((_, used)) = parse_reply(&bytes) {
                prop_assert!(used <= bytes.len());
            }
        }
    }
}
