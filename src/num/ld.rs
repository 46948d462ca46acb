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
//! as glibc and the FPU do. What fits 128 bits is computed in `u128`: decimal inputs of
//! up to 19 significant digits and 18 decimals, sums whose operands' exponents are less
//! than 64 apart, and every printed fraction. The rest uses big integers, and both round
//! through the one `round_small`. Proptests check the 128-bit paths against the big
//! integer code they replaced.

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
        let r = if ea - e < 64 && eb - e < 64 {
            // Both below 2^127: the sum fits a u128.
            let a = u128::from(ma) << (ea - e);
            let b = u128::from(mb) << (eb - e);
            match signed_sum(na, a, nb, b) {
                Some((neg, sum)) => round_small(neg, sum, e, false),
                None => LongDouble::zero(false),
            }
        } else {
            let a = BigUint::from(ma) << (ea - e) as usize;
            let b = BigUint::from(mb) << (eb - e) as usize;
            match signed_sum(na, a, nb, b) {
                Some((neg, sum)) => round(neg, &sum, e, false),
                None => LongDouble::zero(false),
            }
        };
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
        let body = if exp > 64 {
            (BigUint::from(mant) << exp as usize).to_string()
        } else if exp >= 0 {
            (u128::from(mant) << exp).to_string()
        } else {
            // The value times 10^17 (below 2^121), rounded to an integer, ties to even.
            // Below 2^-64 (a shift of 128 or more) that is 0.
            let q = shift_round(
                u128::from(mant) * 10u128.pow(DECIMALS),
                (-exp) as u32,
                false,
            );
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
    let bits = n.bits();
    if bits <= 128 {
        return round_small(neg, to_u128(n), e2, sticky);
    }
    // The result keeps the top 64 bits and the next ones decide up or down: the top
    // 128 do, with whatever lies below them folded into the sticky fraction.
    let cut = bits - 128;
    let below = n.trailing_zeros().is_some_and(|tz| tz < cut);
    round_small(
        neg,
        to_u128(&(n >> cut as usize)),
        e2 + cut as i64,
        sticky || below,
    )
}

/// [`round`] of a value that fits 128 bits.
fn round_small(neg: bool, n: u128, e2: i64, sticky: bool) -> LongDouble {
    if n == 0 {
        return LongDouble::zero(neg);
    }
    let bits = i64::from(128 - n.leading_zeros());
    let mut exp = (e2 + bits - 64).max(MIN_EXP);
    let drop = exp - e2;
    let mut mant = if drop <= 0 {
        // Fewer than 64 bits: shifted up into the mantissa, nothing lost.
        (n << (-drop)) as u64
    } else {
        // At most 64 bits remain after dropping `drop` (all of them for subnormals
        // far below the range); rounding up may carry into a 65th.
        let m = shift_round(n, drop as u32, sticky);
        if m >> 64 != 0 {
            exp += 1;
            1 << 63
        } else {
            m as u64
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

/// `n / 2^shift` (`shift` at least 1) rounded to nearest, ties to even; `sticky` says
/// that the exact value has a nonzero fraction below `n`'s lowest bit.
fn shift_round(n: u128, shift: u32, sticky: bool) -> u128 {
    let q = n.checked_shr(shift).unwrap_or(0);
    // Half a unit of 2^128 or more is above any remainder.
    let Some(half) = 1u128.checked_shl(shift - 1) else {
        return q;
    };
    let rem = n & (half << 1).wrapping_sub(1);
    let up = match rem.cmp(&half) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => sticky || q & 1 == 1,
    };
    q + u128::from(up)
}

fn to_u128(n: &BigUint) -> u128 {
    let mut digits = n.iter_u64_digits();
    let lo = digits.next().unwrap_or(0);
    let hi = digits.next().unwrap_or(0);
    u128::from(hi) << 64 | u128::from(lo)
}

/// `(-1)^na * a + (-1)^nb * b` as a sign and a magnitude; `None` when it is exactly
/// zero (which is `+0`, as the FPU rounds `x + -x`).
fn signed_sum<T: Ord + std::ops::Add<Output = T> + std::ops::Sub<Output = T>>(
    na: bool,
    a: T,
    nb: bool,
    b: T,
) -> Option<(bool, T)> {
    if na == nb {
        return Some((na, a + b));
    }
    match a.cmp(&b) {
        Ordering::Equal => None,
        Ordering::Greater => Some((na, a - b)),
        Ordering::Less => Some((nb, b - a)),
    }
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
    let significant = &digits[digits.len() - significant as usize..];
    let v = match decimal_small(neg, significant, k) {
        Some(v) => v,
        None => decimal_big(neg, &BigUint::parse_bytes(significant, 10)?, k),
    };
    underflow_check(v)
}

/// `d * 10^k` rounded, for decimal digits `d` (no leading zero).
fn decimal_big(neg: bool, d: &BigUint, k: i64) -> LongDouble {
    if k >= 0 {
        round(neg, &(d * BigUint::from(10u32).pow(k as u32)), 0, false)
    } else {
        // Enough quotient bits (66) for the rounding, the remainder as the sticky bit.
        let p = BigUint::from(10u32).pow((-k) as u32);
        let shift = (p.bits() as i64 - d.bits() as i64 + 66).max(0);
        let n = d << shift as usize;
        let q = &n / &p;
        let sticky = q.clone() * &p != n;
        round(neg, &q, -shift, sticky)
    }
}

/// [`decimal_big`] in `u128`, when everything fits: up to 19 digits, and `10^k`
/// below 10^20 (`k >= 0`, the product below 10^38) or `10^-k` below 2^62 (the
/// shifted dividend below 2^128). `None` otherwise.
fn decimal_small(neg: bool, digits: &[u8], k: i64) -> Option<LongDouble> {
    if digits.len() > 19 || !(-18..=19).contains(&k) {
        return None;
    }
    let d = digits
        .iter()
        .fold(0u128, |d, &c| d * 10 + u128::from(c - b'0'));
    if k >= 0 {
        return Some(round_small(neg, d * 10u128.pow(k as u32), 0, false));
    }
    let p = 10u128.pow((-k) as u32);
    let bits = |x: u128| i64::from(128 - x.leading_zeros());
    let shift = (bits(p) - bits(d) + 66).max(0);
    let n = d << shift;
    Some(round_small(neg, n / p, -shift, n % p != 0))
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

    use proptest::prelude::*;

    // The arithmetic as first written, all in big integers: the oracle for the
    // 128-bit paths.
    fn reference_round(neg: bool, n: &BigUint, e2: i64, sticky: bool) -> LongDouble {
        let bits = n.bits() as i64;
        if bits == 0 {
            return LongDouble::zero(neg);
        }
        let mut exp = (e2 + bits - 64).max(MIN_EXP);
        let drop = exp - e2;
        let mut mant = if drop <= 0 {
            ref_low_u64(&(n << (-drop) as usize))
        } else {
            let drop = drop as usize;
            let q = n >> drop;
            let rem = n - (&q << drop);
            let half = BigUint::from(1u8) << (drop - 1);
            let q = ref_low_u64(&q);
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

    fn ref_low_u64(n: &BigUint) -> u64 {
        n.iter_u64_digits().next().unwrap_or(0)
    }

    fn reference_human(v: &LongDouble) -> String {
        let LongDouble::Finite { neg, mant, exp } = *v else {
            return if matches!(v, LongDouble::Inf { neg: true }) {
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

    fn reference_add(a: LongDouble, b: LongDouble) -> Option<LongDouble> {
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
        ) = (a, b)
        else {
            return None;
        };
        if ma == 0 || mb == 0 {
            return a.checked_add(b);
        }
        let e = ea.min(eb);
        let x = BigUint::from(ma) << (ea - e) as usize;
        let y = BigUint::from(mb) << (eb - e) as usize;
        let r = match signed_sum(na, x, nb, y) {
            Some((neg, sum)) => reference_round(neg, &sum, e, false),
            None => LongDouble::zero(false),
        };
        r.is_finite().then_some(r)
    }

    /// Any finite value, not always normalised: what the printing and the sum take.
    fn finite() -> impl Strategy<Value = LongDouble> {
        (any::<bool>(), any::<u64>(), -300i64..300)
            .prop_map(|(neg, mant, exp)| LongDouble::Finite { neg, mant, exp })
    }

    /// A 64-bit head with `s` more bits below it that are exactly half a unit, or
    /// just above or below it: the cases where ties to even and the sticky bit decide.
    fn near_half() -> impl Strategy<Value = BigUint> {
        (any::<u64>(), 1usize..140, 0u8..3).prop_map(|(head, s, which)| {
            let half = BigUint::from(1u8) << (s - 1);
            let low = match which {
                0 => half,
                1 => half + 1u8,
                _ => half - 1u8,
            };
            (BigUint::from(head | 1 << 63) << s) + low
        })
    }

    proptest! {
        #[test]
        fn round_agrees_with_the_big_integer_rounding(
            neg: bool,
            words in prop::collection::vec(any::<u64>(), 1..6),
            e2 in -16600i64..16400,
            sticky: bool,
        ) {
            let n = BigUint::new(words.iter().flat_map(|w| [*w as u32, (*w >> 32) as u32]).collect());
            // `sticky` needs 66 significant bits, as the callers guarantee.
            let sticky = sticky && n.bits() >= 66;
            prop_assert_eq!(round(neg, &n, e2, sticky), reference_round(neg, &n, e2, sticky));
        }

        #[test]
        fn round_agrees_near_half_a_unit(
            neg: bool,
            n in near_half(),
            e2 in prop_oneof![-16600i64..-16300, -200i64..200],
            sticky: bool,
        ) {
            prop_assert_eq!(round(neg, &n, e2, sticky), reference_round(neg, &n, e2, sticky));
        }

        /// The 128-bit path where it applies, the big one elsewhere, as one value.
        #[test]
        fn small_decimals_agree_with_big_ones(
            neg: bool,
            digits in "[1-9][0-9]{0,24}",
            k in -25i64..=25,
        ) {
            let big = decimal_big(neg, &BigUint::parse_bytes(digits.as_bytes(), 10).unwrap(), k);
            let small = decimal_small(neg, digits.as_bytes(), k);
            prop_assert!(small.is_none() || small == Some(big));
            prop_assert_eq!(small.is_some(), digits.len() <= 19 && (-18..=19).contains(&k));
        }

        #[test]
        fn sums_agree_with_big_sums(a in finite(), b in finite()) {
            prop_assert_eq!(a.checked_add(b), reference_add(a, b));
        }

        /// Exponents about a word apart, where the sum leaves 128 bits.
        #[test]
        fn sums_agree_near_the_word_gap(
            na: bool,
            nb: bool,
            ma: u64,
            mb: u64,
            e in -100i64..100,
            gap in 56i64..72,
        ) {
            let a = LongDouble::Finite { neg: na, mant: ma | 1 << 63, exp: e + gap };
            let b = LongDouble::Finite { neg: nb, mant: mb, exp: e };
            prop_assert_eq!(a.checked_add(b), reference_add(a, b));
            prop_assert_eq!(b.checked_add(a), reference_add(b, a));
        }

        #[test]
        fn printing_agrees_with_big_printing(v in finite()) {
            prop_assert_eq!(v.to_human(), reference_human(&v));
        }

        /// An odd mantissa 18 bits below the point is an exact tie at the 17th decimal.
        #[test]
        fn printing_agrees_on_ties(neg: bool, mant: u64, exp in -140i64..-1) {
            let v = LongDouble::Finite { neg, mant: mant | 1, exp };
            prop_assert_eq!(v.to_human(), reference_human(&v));
        }
    }

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
