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
    fmt_g_exact(v, prec).unwrap_or_else(|| fmt_g_general(v, prec))
}

/// `%.<prec>g` of a finite, non-zero double, for any value.
fn fmt_g_general(v: f64, prec: usize) -> String {
    // Scientific form with prec significant digits: its exponent (after rounding)
    // picks %g's style, and its digits are the fixed form's too.
    let sci = format!("{:.*e}", prec - 1, v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|&c| c != '.').collect();
    let mut out = String::with_capacity(prec + 8);
    if v < 0.0 {
        out.push('-');
    }
    // The digits before the point, then the others without trailing zeros.
    let push_point = |out: &mut String, at: usize| {
        let (int, frac) = digits.split_at(at);
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    };
    if exp < -4 || exp >= prec as i32 {
        push_point(&mut out, 1);
        let sign = if exp < 0 { '-' } else { '+' };
        out.push_str(&format!("e{sign}{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        push_point(&mut out, exp as usize + 1);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', exp.unsigned_abs() as usize - 1));
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// `%.<prec>g` of a double whose exact decimal value has at most `prec` digits and
/// no exponent: a whole number below 10^prec, or a multiple of 2^-10 below
/// 10^(prec-10) (timestamps, counters, halves and quarters: most scores). Its digits
/// are the value's own, so they are written directly, without the general path's
/// `{:e}` formatting. `None` for every other value.
fn fmt_g_exact(v: f64, prec: usize) -> Option<String> {
    const FRACTION_BITS: u32 = 10;
    let a = v.abs();
    // Below 10^15 the value converts to an integer exactly.
    let below = |digits: usize| a < 10f64.powi(digits.min(15) as i32);
    if a.fract() == 0.0 {
        return below(prec).then(|| itoa::Buffer::new().format(v as i64).to_string());
    }
    let scaled = a * f64::from(1u32 << FRACTION_BITS);
    if prec <= FRACTION_BITS as usize
        || !below(prec - FRACTION_BITS as usize)
        || scaled.fract() != 0.0
    {
        return None;
    }
    let n = scaled as u64;
    let (int, frac) = (n >> FRACTION_BITS, n & ((1 << FRACTION_BITS) - 1));
    // frac / 2^10 = frac * 5^10 / 10^10: ten decimals, trailing zeros dropped.
    let mut decimals = frac * 5u64.pow(FRACTION_BITS);
    let mut width = FRACTION_BITS as usize;
    while decimals.is_multiple_of(10) {
        decimals /= 10;
        width -= 1;
    }
    let sign = if v < 0.0 { "-" } else { "" };
    Some(format!("{sign}{int}.{decimals:0width$}"))
}

/// Formats an integer into a stack buffer-free `Vec` (hot path helper for replies).
pub fn i64_bytes(v: i64) -> bytes::Bytes {
    let mut b = itoa::Buffer::new();
    bytes::Bytes::copy_from_slice(b.format(v).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strip_fraction_zeros(s: &str) -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    }

    /// The formatter as first written (two formatting passes), kept as the oracle
    /// for the one-pass `fmt_g_general`.
    fn reference_g(v: f64, prec: usize) -> String {
        let sci = format!("{:.*e}", prec - 1, v);
        let (mant, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if exp < -4 || exp >= prec as i32 {
            let sign = if exp < 0 { '-' } else { '+' };
            format!(
                "{}e{}{:02}",
                strip_fraction_zeros(mant),
                sign,
                exp.unsigned_abs()
            )
        } else {
            let decimals = (prec as i32 - 1 - exp).max(0) as usize;
            strip_fraction_zeros(&format!("{:.*}", decimals, v))
        }
    }

    proptest! {
        /// The one-pass formatter agrees with the two-pass one, for any double.
        #[test]
        fn general_path_agrees_with_the_reference(
            bits in any::<u64>(),
            prec in prop_oneof![Just(1usize), Just(14usize), Just(17usize)],
        ) {
            let v = f64::from_bits(bits);
            if v.is_finite() && v != 0.0 {
                prop_assert_eq!(fmt_g_general(v, prec), reference_g(v, prec));
            }
        }

        #[test]
        fn general_path_agrees_near_the_style_boundaries(
            m in 1.0f64..10.0,
            exp in -7i32..20,
            prec in prop_oneof![Just(14usize), Just(17usize)],
        ) {
            let v = m * 10f64.powi(exp);
            prop_assert_eq!(fmt_g_general(v, prec), reference_g(v, prec));
            prop_assert_eq!(fmt_g_general(-v, prec), reference_g(-v, prec));
        }

        /// The direct digits agree with the general formatter wherever they apply.
        #[test]
        fn exact_digits_agree_with_the_general_path(
            n in -(1i64 << 40)..(1i64 << 40),
            shift in 0u32..12,
            prec in prop_oneof![Just(14usize), Just(17usize)],
        ) {
            let v = n as f64 / f64::from(1u32 << shift);
            if v != 0.0 {
                if let Some(short) = fmt_g_exact(v, prec) {
                    prop_assert_eq!(short, fmt_g_general(v, prec));
                }
            }
        }
    }

    #[test]
    fn exact_digits_cover_common_scores() {
        for (v, want) in [
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1.0e12, "1000000000000"),
            (0.0009765625, "0.0009765625"),
            (9999999.5, "9999999.5"),
        ] {
            assert_eq!(fmt_g_exact(v, 17).as_deref(), Some(want));
            assert_eq!(fmt_g(v, 17), want);
        }
        // Not exact in ten fraction bits, or too many digits: the general path.
        for v in [0.1, 1.0 / 3.0, 1.0e15, 1.0e7 + 0.5, 1.0e-5] {
            assert_eq!(fmt_g_exact(v, 17), None, "{v}");
        }
        assert_eq!(fmt_g_exact(1.0e14, 14), None);
        assert_eq!(fmt_g(0.1, 17), "0.10000000000000001");
    }

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
