//! C `long double` arithmetic in software, for INCRBYFLOAT.
//!
//! Redis computes INCRBYFLOAT with `strtold`, `+` and `printf("%.17Lf")`. On x86-64
//! Linux `long double` is the x87 80-bit format: a 64-bit mantissa and a 15-bit
//! exponent. Clients see the consequences: `0.1 + 0.2` prints `0.3` (the error sits
//! below the 17th decimal), `1e400` is a valid increment, and `123456789.123456789`
//! comes back as `123456789.12345678899873747`. Approximating with `f64` or decimal
//! arithmetic gets some of these right and others wrong, so this module reproduces the
//! format itself: a value is `mantissa * 2^exp`, and parsing, addition and printing
//! compute the exact result with big integers, then round to nearest, ties to even,
//! as glibc and the FPU do. INCRBYFLOAT is not a hot path, so clarity wins over speed.

use std::cmp::Ordering;

use num_bigint::BigUint;

/// Exponent of the mantissa's lowest bit for the smallest (subnormal) values:
/// the smallest normal value is `2^63 * 2^-16445 = 2^-16382`.
const MIN_EXP: i64 = -16445;
/// The largest exponent of a finite value: `(2^64 - 1) * 2^16320` is `LDBL_MAX`.
const MAX_EXP: i64 = 16320;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer arguments are not valid floats.
const MAX_CHARS: usize = 5 * 1024;
/// Digits `%.17Lf` prints after the decimal point.
const DECIMALS: u32 = 17;

/// An 80-bit `long double` value (NaN is never needed: Redis rejects it on input and
/// treats it as an error on output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongDouble {
    /// `(-1)^neg * mant * 2^exp`; `mant == 0` is a signed zero.
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
    Inf {
        neg: bool,
    },
}

impl LongDouble {
    /// Positive zero: what a missing key counts as.
    pub const ZERO: LongDouble = LongDouble::zero(false);

    const fn zero(neg: bool) -> LongDouble {
        LongDouble::Finite {
            neg,
            mant: 0,
            exp: 0,
        }
    }

    /// Parses `s` as Redis's `string2ld` does: `strtold` syntax (decimal or hex
    /// digits, exponents, `inf`/`infinity`, a leading sign), the whole argument
    /// consumed, no leading space, NaN rejected, and overflow or underflow to zero
    /// rejected. `None` means "value is not a valid float".
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS || is_c_space(s[0]) {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Inf { neg });
        }
        let hex = body.len() > 2
            && body[0] == b'0'
            && (body[1] | 0x20) == b'x'
            && (body[2].is_ascii_hexdigit()
                || (body[2] == b'.' && body.get(3).is_some_and(u8::is_ascii_hexdigit)));
        let v = if hex {
            parse_hex(neg, &body[2..])?
        } else {
            parse_decimal(neg, body)?
        };
        match v {
            LongDouble::Inf { .. } => None,
            _ => Some(v),
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self, LongDouble::Finite { .. })
    }

    /// `self + other` rounded to nearest; `None` when the sum is infinite or NaN.
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let (
            LongDouble::Finite {
                neg: na,
                mant: ma,
                exp: ea,
            },
            LongDouble::Finite {
                neg: nb,
                mant: mb,
                exp: eb,
            },
        ) = (self, other)
        else {
            return None;
        };
        if ma == 0 && mb == 0 {
            return Some(LongDouble::zero(na && nb));
        }
        if ma == 0 {
            return Some(other);
        }
        if mb == 0 {
            return Some(self);
        }
        let e = ea.min(eb);
        let a = BigUint::from(ma) << (ea - e) as usize;
        let b = BigUint::from(mb) << (eb - e) as usize;
        let (neg, sum) = if na == nb {
            (na, a + b)
        } else {
            match a.cmp(&b) {
                Ordering::Equal => return Some(LongDouble::zero(false)),
                Ordering::Greater => (na, a - b),
                Ordering::Less => (nb, b - a),
            }
        };
        let r = round(neg, &sum, e, false);
        r.is_finite().then_some(r)
    }

    /// Formats a finite value as Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf`,
    /// trailing zeros and a trailing `.` removed, and `-0` written as `0`.
    pub fn to_human(&self) -> String {
        let LongDouble::Finite { neg, mant, exp } = *self else {
            return if matches!(self, LongDouble::Inf { neg: true }) {
                "-inf".into()
            } else {
                "inf".into()
            };
        };
        let body = if exp >= 0 {
            (BigUint::from(mant) << exp as usize).to_string()
        } else {
            // The value times 10^17, rounded to an integer, ties to even.
            let shift = (-exp) as usize;
            let n = BigUint::from(mant) * BigUint::from(10u32).pow(DECIMALS);
            let q = &n >> shift;
            let rem = n - (&q << shift);
            let half = BigUint::from(1u8) << (shift - 1);
            let q = match rem.cmp(&half) {
                Ordering::Greater => q + 1u8,
                Ordering::Equal if q.bit(0) => q + 1u8,
                _ => q,
            };
            let digits = format!("{:0>width$}", q.to_string(), width = DECIMALS as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - DECIMALS as usize);
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{frac}")
            }
        };
        if neg && body != "0" {
            format!("-{body}")
        } else {
            body
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Rounds the exact value `(-1)^neg * (n + s) * 2^e2`, where `s` is a fraction in
/// `(0, 1)` when `sticky` and 0 otherwise, to the nearest `long double`, ties to even.
/// Callers give at least 66 significant bits in `n` when `sticky` is set.
fn round(neg: bool, n: &BigUint, e2: i64, sticky: bool) -> LongDouble {
    let bits = n.bits() as i64;
    if bits == 0 {
        return LongDouble::zero(neg);
    }
    let mut exp = (e2 + bits - 64).max(MIN_EXP);
    let drop = exp - e2;
    let mut mant = if drop <= 0 {
        low_u64(&(n << (-drop) as usize))
    } else {
        let drop = drop as usize;
        let q = n >> drop;
        let rem = n - (&q << drop);
        let half = BigUint::from(1u8) << (drop - 1);
        let q = low_u64(&q);
        let up = match rem.cmp(&half) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => sticky || q & 1 == 1,
        };
        if up {
            match q.checked_add(1) {
                Some(m) => m,
                None => {
                    exp += 1;
                    1 << 63
                }
            }
        } else {
            q
        }
    };
    if exp > MAX_EXP {
        return LongDouble::Inf { neg };
    }
    if mant == 0 {
        exp = 0;
    }
    if mant != 0 && exp > MIN_EXP {
        // Keep normal values normalised (only matters for equality in tests).
        let lz = i64::from(mant.leading_zeros()).min(exp - MIN_EXP);
        mant <<= lz;
        exp -= lz;
    }
    LongDouble::Finite { neg, mant, exp }
}

fn low_u64(n: &BigUint) -> u64 {
    n.iter_u64_digits().next().unwrap_or(0)
}

/// Splits `digits[.digits]` off the front of `s`: (all digits, digits after the
/// point, rest). `None` when there is no digit at all.
fn mantissa_digits(s: &[u8], hex: bool) -> Option<(Vec<u8>, usize, &[u8])> {
    let is_digit = |c: &u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    let int_len = s.iter().take_while(|c| is_digit(c)).count();
    let mut digits = s[..int_len].to_vec();
    let mut rest = &s[int_len..];
    let mut frac = 0;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| is_digit(c)).count();
        digits.extend_from_slice(&rest[1..1 + n]);
        frac = n;
        rest = &rest[1 + n..];
    }
    (!digits.is_empty()).then_some((digits, frac, rest))
}

/// Parses an exponent (`[+-]digits`) that must end the input, saturating far
/// beyond any representable magnitude.
fn exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0i64, |v, &c| {
        (v * 10 + i64::from(c - b'0')).min(1_000_000_000)
    });
    Some(if neg { -v } else { v })
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (digits, frac, rest) = mantissa_digits(s, false)?;
    let exp = match rest.first() {
        None => 0,
        Some(b'e' | b'E') => exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let significant = digits.iter().skip_while(|&&c| c == b'0').count() as i64;
    if significant == 0 {
        return Some(LongDouble::zero(neg));
    }
    let d = BigUint::parse_bytes(&digits, 10)?;
    let k = exp - frac as i64;
    // The value lies in [10^(mag-1), 10^mag): skip the exact computation when it
    // is certainly beyond LDBL_MAX (~1.19e4932) or below half the smallest
    // subnormal (~1.8e-4951).
    let mag = significant + k;
    if mag > 4934 {
        return Some(LongDouble::Inf { neg });
    }
    if mag < -4952 {
        return None;
    }
    let v = if k >= 0 {
        round(neg, &(d * BigUint::from(10u32).pow(k as u32)), 0, false)
    } else {
        let p = BigUint::from(10u32).pow((-k) as u32);
        let shift = (p.bits() as i64 - d.bits() as i64 + 66).max(0);
        let n = d << shift as usize;
        let q = &n / &p;
        let sticky = q.clone() * &p != n;
        round(neg, &q, -shift, sticky)
    };
    underflow_check(v)
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let (digits, frac, rest) = mantissa_digits(s, true)?;
    let exp = match rest.first() {
        None => 0,
        Some(b'p' | b'P') => exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let h = BigUint::parse_bytes(&digits, 16)?;
    if h.bits() == 0 {
        return Some(LongDouble::zero(neg));
    }
    let e2 = exp - 4 * frac as i64;
    let mag = h.bits() as i64 + e2;
    if mag > 16400 {
        return Some(LongDouble::Inf { neg });
    }
    if mag < -16500 {
        return None;
    }
    underflow_check(round(neg, &h, e2, false))
}

/// A non-zero input that rounded to zero is an `ERANGE` underflow, which Redis
/// rejects.
fn underflow_check(v: LongDouble) -> Option<LongDouble> {
    match v {
        LongDouble::Finite { mant: 0, .. } => None,
        v => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(s: &str) -> LongDouble {
        LongDouble::parse(s.as_bytes()).unwrap_or_else(|| panic!("{s} should parse"))
    }

    fn incr(a: &str, b: &str) -> Option<String> {
        ld(a).checked_add(ld(b)).map(|v| v.to_human())
    }

    #[test]
    fn parses_like_strtold() {
        for bad in [
            "", " 1", "1 ", "abc", "nan", "NaN", "-nan", "1.5.5", "1e", "1e+", "1\0", "0x", "0x1p",
            "1_000", "1,5", "0\t", ".", "-", "+", "e5", "1e-5000", "infinit",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(ld("inf"), LongDouble::Inf { neg: false });
        assert_eq!(ld("-Infinity"), LongDouble::Inf { neg: true });
        assert_eq!(ld("+INF"), LongDouble::Inf { neg: false });
        assert_eq!(LongDouble::parse(b"1e5000"), None);
        assert_eq!(ld("0x10").to_human(), "16");
        assert_eq!(ld("0x1p3").to_human(), "8");
        assert_eq!(ld("0x.8").to_human(), "0.5");
        assert_eq!(ld(".5").to_human(), "0.5");
        assert_eq!(ld("5.").to_human(), "5");
        assert_eq!(ld("01").to_human(), "1");
        assert_eq!(ld("1E1").to_human(), "10");
        assert_eq!(ld("0e999999999999999999999").to_human(), "0");
        // The smallest subnormal (2^-16445 ~ 3.6e-4951) is accepted; 1e-400 prints 0.
        assert!(LongDouble::parse(b"4e-4951").is_some());
        assert_eq!(ld("1e-400").to_human(), "0");
    }

    #[test]
    fn rounds_to_the_nearest_long_double() {
        // 2^64 + 1 needs 65 bits: the tie rounds to even (2^64).
        assert_eq!(
            ld("18446744073709551617").to_human(),
            "18446744073709551616"
        );
        // 2^64 + 3 rounds up to 2^64 + 4.
        assert_eq!(
            ld("18446744073709551619").to_human(),
            "18446744073709551620"
        );
        assert_eq!(ld("9223372036854775807").to_human(), "9223372036854775807");
    }

    #[test]
    fn incrbyfloat_results_match_redis() {
        let cases: &[(&str, &str, &str)] = &[
            ("0.1", "0.2", "0.3"),
            ("1.5", "0.1", "1.6"),
            ("1.6", "-0.6", "1"),
            ("10.50", "0.1", "10.6"),
            ("5.0e3", "2.0e2", "5200"),
            ("-0", "0", "0"),
            ("0", "-0", "0"),
            ("3.0", "1.1234567890123", "4.1234567890123"),
            ("0", "-1e-5", "-0.00001"),
            ("9223372036854775807", "1", "9223372036854775808"),
            ("0", "1e20", "100000000000000000000"),
            ("124.51", "0.0000000001", "124.5100000001"),
            ("3.0000000000000000001", "0", "3"),
            ("1.23456789012345678", "0", "1.23456789012345678"),
            ("123456789.123456789", "0", "123456789.12345678899873747"),
            ("1e400", "-1e400", "0"),
            ("0", "-1e-20", "0"),
        ];
        for (a, b, want) in cases {
            assert_eq!(incr(a, b).as_deref(), Some(*want), "{a} + {b}");
        }
        let sum = incr("1.7e308", "1.7e308").unwrap_or_default();
        assert!(
            sum.starts_with("3400000000000000000062735560503951935905"),
            "{sum}"
        );
        assert_eq!(sum.len(), 309);
        let big = incr("0", "1e400").unwrap_or_default();
        assert!(
            big.starts_with("1000000000000000000028188068394758651458"),
            "{big}"
        );
        assert_eq!(big.len(), 401);
    }

    #[test]
    fn infinities_and_overflow_are_errors() {
        assert_eq!(incr("1", "inf"), None);
        assert_eq!(incr("inf", "-inf"), None);
        assert_eq!(incr("1e4932", "1e4932"), None);
    }
}
