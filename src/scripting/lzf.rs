//! LZF, the compression of RDB strings, with liblzf's output byte for byte.
//!
//! [`compress`] follows the algorithm of liblzf 3.6 as Redis builds it (`HLOG` 16,
//! `VERY_FAST`, not `ULTRA_FAST`): the same hash of three bytes, the same choice of
//! match, the same partial rehash after a match and the same output bounds, so that
//! FUNCTION DUMP's payload is the one Redis makes. (Redis does not clear its hash
//! table, so in theory a stale slot could give it a different but valid match; a
//! cleared table is what it finds in practice and what any reader accepts.)

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

fn first(s: &[u8], i: usize) -> u32 {
    (u32::from(s[i]) << 8) | u32::from(s[i + 1])
}

fn next(h: u32, s: &[u8], i: usize) -> u32 {
    (h << 8) | u32::from(s[i + 2])
}

/// Appends one literal byte to the run being built, closing the run (its header
/// byte at its start) when it reaches `MAX_LIT` bytes.
fn push_literal(out: &mut [u8], byte: u8, op: &mut usize, lit: &mut usize) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

/// `lzf_compress(input, out_len)`: the compressed bytes, or `None` when they would
/// not fit in `out_len` bytes.
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    // Slots hold a position + 1; 0 is an empty slot (liblzf's null reference).
    let mut htab = vec![0usize; HSIZE];
    let mut out = vec![0u8; out_len + 8];
    let out_end = out_len;
    let mut ip = 0usize;
    let mut op = 1usize; // the first literal run's header
    let mut lit = 0usize;
    if in_len < 3 {
        // Too short for the main loop: copied as literals below.
    } else {
        let mut hval = first(input, ip);
        while ip < in_len - 2 {
            hval = next(hval, input, ip);
            let slot = idx(hval);
            let reference = htab[slot];
            htab[slot] = ip + 1;
            let matched = reference > 1 && {
                let r = reference - 1;
                r < ip
                    && ip - r - 1 < MAX_OFF
                    && input[r + 2] == input[ip + 2]
                    && input[r] == input[ip]
                    && input[r + 1] == input[ip + 1]
            };
            if matched {
                let r = reference - 1;
                let off = ip - r - 1;
                let mut len = 2usize;
                let maxlen = (in_len - ip - len).min(MAX_REF);
                if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                    return None;
                }
                out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                op -= usize::from(lit == 0);
                let mut stopped = false;
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            stopped = true;
                            break;
                        }
                    }
                }
                if !stopped {
                    loop {
                        len += 1;
                        if !(len < maxlen && input[r + len] == input[ip + len]) {
                            break;
                        }
                    }
                }
                len -= 2;
                ip += 1;
                if len < 7 {
                    out[op] = ((off >> 8) + (len << 5)) as u8;
                    op += 1;
                } else {
                    out[op] = ((off >> 8) + (7 << 5)) as u8;
                    out[op + 1] = (len - 7) as u8;
                    op += 2;
                }
                out[op] = off as u8;
                op += 1;
                lit = 0;
                op += 1;
                ip += len + 1;
                if ip >= in_len - 2 {
                    break;
                }
                ip -= 2;
                hval = first(input, ip);
                hval = next(hval, input, ip);
                htab[idx(hval)] = ip + 1;
                ip += 1;
                hval = next(hval, input, ip);
                htab[idx(hval)] = ip + 1;
                ip += 1;
            } else {
                if op >= out_end {
                    return None;
                }
                push_literal(&mut out, input[ip], &mut op, &mut lit);
                ip += 1;
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_len {
        push_literal(&mut out, input[ip], &mut op, &mut lit);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// `lzf_decompress`: the `len` bytes `input` holds, or `None` if it is corrupt or
/// does not hold exactly that many.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // A payload's declared length is not trusted for the allocation: each input
    // byte yields at most 88 output bytes (a 3-byte back reference of 264).
    if len > input.len().saturating_mul(88) {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 1 << 5 {
            let n = ctrl + 1;
            if out.len() + n > len {
                return None;
            }
            out.extend_from_slice(input.get(ip..ip + n)?);
            ip += n;
        } else {
            let mut n = ctrl >> 5;
            let back = (ctrl & 0x1f) << 8;
            if n == 7 {
                n += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = back + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            if out.len() + n + 2 > len || back > out.len() {
                return None;
            }
            let start = out.len() - back;
            for i in 0..n + 2 {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever compresses decompresses to itself, within the bound given.
        #[test]
        fn compress_round_trips(data in proptest::collection::vec(0u8..4, 0..3000), slack in 0usize..8) {
            let out_len = data.len().saturating_sub(slack);
            if let Some(c) = compress(&data, out_len) {
                prop_assert!(c.len() <= out_len);
                prop_assert_eq!(decompress(&c, data.len()), Some(data));
            }
        }

        /// Arbitrary input never panics the decompressor.
        #[test]
        fn decompress_takes_any_input(data in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..100_000) {
            if let Some(out) = decompress(&data, len) {
                prop_assert_eq!(out.len(), len);
            }
        }
    }

    #[test]
    fn round_trips() {
        let samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"#!lua name=lib\nredis.register_function('f1', function() return 1 end)\nredis.register_function('f2', function() return 2 end)\n".to_vec(),
            (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
            (0..300u32).map(|i| (i % 3) as u8).collect(),
        ];
        for s in samples {
            if let Some(c) = compress(&s, s.len() - 4) {
                assert!(c.len() <= s.len() - 4);
                assert_eq!(decompress(&c, s.len()).as_deref(), Some(&s[..]));
            }
        }
        assert_eq!(compress(b"abcdefghijklmnopqrstuvwxyz", 22), None);
        // A declared length no input can hold is refused before allocating it.
        assert_eq!(decompress(&[0, b'a'], usize::MAX), None);
    }
}
