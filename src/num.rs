//! Number parsing and formatting exactly as Redis 7.0 does it.
//!
//! Redis is strict about what it accepts as an integer (`string2ll`: no sign `+`, no
//! leading zeros, no spaces) and particular about how it prints doubles (`%.17g`, and
//! `%.17Lf` with trailing zeros removed for INCRBYFLOAT). Clients compare these bytes,
//! so every command goes through the helpers here rather than Rust's own parsers.

pub mod ld;

/// Parses a signed 64-bit integer with Redis's `string2ll` rules.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i128).wrapping_neg() as i64)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a non-negative integer that must fit `usize` (Redis's `string2ull`-style uses).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    parse_i64(s).and_then(|v| u64::try_from(v).ok())
}

/// Parses a double the way Redis's `string2d`/`getDoubleFromObject` does: `strtod`
/// syntax (leading `+`, exponents, `inf`, `infinity`), no surrounding spaces, and NaN
/// rejected.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let lower = text.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if lower.len() - body.len() > 1 {
        return None;
    }
    let neg = lower.starts_with('-');
    let v = match body {
        "inf" | "infinity" => f64::INFINITY,
        _ => {
            // Rust's parser accepts "nan", "inf" spellings and such, which strtod
            // handles differently; only plain decimal/exponent syntax reaches here.
            if let Some(hex) = body.strip_prefix("0x") {
                parse_hex_float(hex)?
            } else {
                if !body
                    .bytes()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'-' | b'+'))
                {
                    return None;
                }
                let v = body.parse::<f64>().ok()?;
                // strtod reports ERANGE for overflow and for underflow to zero, and
                // Redis rejects both.
                let mantissa = body.split('e').next().unwrap_or("");
                if v.is_infinite()
                    || (v == 0.0 && mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)))
                {
                    return None;
                }
                v
            }
        }
    };
    let v = if neg { -v } else { v };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// The hexadecimal form strtod accepts after `0x`: hex digits, an optional fraction and
/// an optional binary exponent `p[+-]N`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    if v.is_infinite() {
        None
    } else {
        Some(v)
    }
}

/// Formats a double as C's `printf("%.17g")`, which Redis 7.0 uses for RESP2 double
/// replies and for scores (`inf`/`-inf` spelled as Redis spells them).
pub fn fmt_g17(v: f64) -> String {
    fmt_g(v, 17)
}

/// C's `%.<prec>g` for a finite or infinite double.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let prec = prec.max(1);
    // Scientific form with prec significant digits tells us the decimal exponent
    // after rounding, which is what %g's choice of style depends on.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if exp < -4 || exp >= prec as i32 {
        let mant = strip_fraction_zeros(&mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", mant, sign, exp.unsigned_abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        strip_fraction_zeros(&format!("{:.*}", decimals, v))
    }
}

fn strip_fraction_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Formats an integer into a stack buffer-free `Vec` (hot path helper for replies).
pub fn i64_bytes(v: i64) -> bytes::Bytes {
    let mut b = itoa::Buffer::new();
    bytes::Bytes::copy_from_slice(b.format(v).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"-0", None),
            (b"01", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"", None),
            (b"-", None),
            (b"123", Some(123)),
            (b"-123", Some(-123)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"9223372036854775808", None),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"-9223372036854775809", None),
            (b"99999999999999999999", None),
            (b"1.0", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_i64(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn doubles_parse_like_strtod() {
        let cases: &[(&[u8], Option<f64>)] = &[
            (b"1.5", Some(1.5)),
            (b"+1.5", Some(1.5)),
            (b"-1e3", Some(-1000.0)),
            (b".5", Some(0.5)),
            (b"5.", Some(5.0)),
            (b"inf", Some(f64::INFINITY)),
            (b"-inf", Some(f64::NEG_INFINITY)),
            (b"+Infinity", Some(f64::INFINITY)),
            (b"nan", None),
            (b" 1", None),
            (b"1 ", None),
            (b"abc", None),
            (b"", None),
            (b"1e400", None),
            (b"1e-400", None),
            (b"0x10", Some(16.0)),
            (b"0", Some(0.0)),
            (b"0.0e5", Some(0.0)),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_f64(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn g17_matches_printf() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (1.5, "1.5"),
            (1.1, "1.1000000000000001"),
            (0.1, "0.10000000000000001"),
            (100.0, "100"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (1.5e-5, "1.5e-05"),
            (1.0e-5 / 3.0, "3.3333333333333337e-06"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (3.0, "3"),
            (123456789.0, "123456789"),
        ];
        for (v, want) in cases {
            assert_eq!(fmt_g17(*v), *want, "{v}");
        }
    }
}
