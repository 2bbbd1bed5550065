//! Printing numbers: integers for collected values, `%0.7f` for computed ones.
//!
//! [`write_f64`] prints exactly what C's `printf("%0.7f", v)` prints (and what Rust's
//! `format!("{:.7}", v)` prints): the binary value rounded to 7 decimals, ties to even, with a
//! `-` for every negative value, even one that rounds to zero (`-1e-9` prints `-0.0000000`,
//! as C does; receivers parse it as zero). Byte-exactness with the C agent wins over
//! prettiness here.
//!
//! The fast path is exact, not approximate: for |v| < 10¹² it multiplies the 53-bit mantissa by
//! 10⁷ in 128-bit integers and rounds the shifted-out bits half-to-even, so no case (ties
//! included) can differ from exact decimal rounding. Larger values go through `core::fmt`.
//! This module knows nothing about metrics or formats.

use std::io::Write;

use super::append::{Appender, Room};

/// Values below this magnitude take the integer fast path: `v * 10⁷` must fit in a `u64`.
const FAST_LIMIT: f64 = 1e12;

/// 10⁷: one unit of the 7th decimal.
const SCALE: u64 = 10_000_000;

/// Appends `v` in decimal (C's `%lld`).
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `v` with exactly 7 decimals (C's `%0.7f`). Returns `false`, writing nothing, when
/// `v` is NaN or infinite.
#[inline]
pub fn write_f64(out: &mut Vec<u8>, v: f64) -> bool {
    append_f64(&mut Appender::new(out, F64_MAX_LEN), v)
}

/// [`write_f64`] on an [`Appender`].
#[inline]
pub fn append_f64(a: &mut Appender<'_>, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    if v.abs() >= FAST_LIMIT {
        // Finite, so formatting cannot fail; writing to a Vec cannot fail either.
        a.with_vec(|out| {
            let _ = write!(out, "{v:.7}");
        });
        return true;
    }
    put_fast_f64(&mut a.room(F64_MAX_LEN), v);
    true
}

/// Whether `v` takes [`write_f64`]'s fast path ([`put_fast_f64`]): finite and below 10¹² in
/// magnitude.
#[inline(always)]
pub fn is_fast_f64(v: f64) -> bool {
    // False for NaN and the infinities too.
    v.abs() < FAST_LIMIT
}

/// [`write_f64`] into reserved room with [`F64_MAX_LEN`] bytes left, for a value that
/// [`is_fast_f64`].
#[inline(always)]
pub fn put_fast_f64(r: &mut Room<'_>, v: f64) {
    debug_assert!(is_fast_f64(v));
    put_scaled(r, scaled_rounded(v), v.is_sign_negative())
}

/// [`write_i64`] into reserved room with 20 bytes left.
#[inline(always)]
pub fn put_i64(r: &mut Room<'_>, v: i64) {
    r.bytes(itoa::Buffer::new().format(v).as_bytes())
}

/// The longest text the fast paths write: `-`, 13 integer digits, `.`, 7 decimals, and room
/// for the last 8-byte store to spill past the end.
pub const F64_MAX_LEN: usize = 32;

/// Appends `e7 / count` units of 10⁻⁷ with exactly 7 decimals: the exact quotient rounded
/// half to even, with a `-` for a negative one (even one that rounds to zero, as `%0.7f` does
/// for the `f64`). `count` must not be 0.
#[inline]
pub fn write_mean(out: &mut Vec<u8>, e7: i64, count: u32) {
    put_mean(&mut Appender::new(out, 0).room(F64_MAX_LEN), e7, count)
}

/// [`write_mean`] into reserved room, which must have [`F64_MAX_LEN`] bytes left.
#[inline(always)]
pub fn put_mean(r: &mut Room<'_>, e7: i64, count: u32) {
    let (n, d) = (e7.unsigned_abs(), count.max(1) as u64);
    let (q, rem) = (n / d, n % d);
    // Round half to even: up when twice the remainder is over the divisor, or equal to it and q
    // is odd (rem < d ≤ 2³², so nothing overflows).
    let up = 2 * rem + (q & 1) > d;
    put_scaled(r, q + up as u64, e7 < 0)
}

/// Appends `scaled` units of 10⁻⁷ with a `-` when `negative`.
///
/// Every piece is built in a register and written with one 8-byte store: 8 digits with
/// leading zeros come from [`digits8`], and shifting the little-endian word drops the zeros.
/// (Building the text in a stack buffer first and copying it cost two failed store-to-load
/// forwards per value, as the copy read across the stores that built it.)
#[inline(always)]
fn put_scaled(r: &mut Room<'_>, scaled: u64, negative: bool) {
    if negative {
        r.byte(b'-');
    }
    let int = scaled / SCALE;
    // The 7 decimals are the last 7 of 8 digits; the first ('0') becomes the point.
    let decimals = (u64::from_le_bytes(digits8((scaled % SCALE) as u32)) & !0xFF) | b'.' as u64;
    let (high, low) = (int / 100_000_000, (int % 100_000_000) as u32);
    if high == 0 {
        let len = (low | 1).ilog10() as usize + 1;
        r.word(u64::from_le_bytes(digits8(low)) >> (8 * (8 - len)), len);
    } else {
        // u64::MAX / 10⁷ / 10⁸ < 10⁵: `high` has at most 5 digits.
        let len = high.ilog10() as usize + 1;
        r.word(u64::from_le_bytes(digits8(high as u32)) >> (8 * (8 - len)), len);
        r.word(u64::from_le_bytes(digits8(low)), 8);
    }
    r.word(decimals, 8);
}

/// `x` (below 10⁸) as 8 decimal digits with leading zeros: two look-ups of 4 digits in a
/// 40 KB table, which measured faster than computing the digits (a chain of dependent
/// multiplications per value).
#[inline]
fn digits8(x: u32) -> [u8; 8] {
    debug_assert!(x < 100_000_000);
    let (a, b) = (DIGITS4[(x / 10_000) as usize], DIGITS4[(x % 10_000) as usize]);
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

/// "0000" to "9999".
static DIGITS4: [[u8; 4]; 10_000] = {
    let mut t = [[0u8; 4]; 10_000];
    let mut i = 0;
    while i < 10_000 {
        t[i] = [
            b'0' + (i / 1000) as u8,
            b'0' + (i / 100 % 10) as u8,
            b'0' + (i / 10 % 10) as u8,
            b'0' + (i % 10) as u8,
        ];
        i += 1;
    }
    t
};

/// `|v| * 10⁷` rounded to the nearest integer, ties to even, computed exactly.
/// Requires `|v| < FAST_LIMIT`.
#[inline]
fn scaled_rounded(v: f64) -> u64 {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7FF) as i32;
    let frac = bits & ((1 << 52) - 1);
    // |v| = mant * 2^-shift; below 2^52 every finite value has a negative binary exponent.
    let (mant, shift) = if exp == 0 { (frac, 1074) } else { (frac | (1 << 52), 1075 - exp) };
    if shift >= 128 {
        // |v| * 10^7 < 2^77 * 2^-128: far below one half.
        return 0;
    }
    let n = mant as u128 * SCALE as u128;
    let q = (n >> shift) as u64;
    let rem = n & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        assert!(write_f64(&mut out, v));
        String::from_utf8(out).unwrap()
    }

    /// What C's printf prints.
    fn c_printf(v: f64) -> String {
        let mut buf = [0u8; 400];
        // SAFETY: the format takes exactly one double; the buffer size is passed.
        let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%0.7f".as_ptr(), v) };
        String::from_utf8(buf[..n as usize].to_vec()).unwrap()
    }

    #[test]
    fn digits8_every_value_of_a_sample() {
        for x in (0..100_000_000u32).step_by(9_973).chain([0, 1, 9, 10, 99, 100, 9_999, 10_000, 99_999_999]) {
            assert_eq!(digits8(x), *format!("{x:08}").as_bytes(), "{x}");
        }
    }

    /// The exact quotient, rounded half to even, printed as decimals by long division.
    fn exact_mean(e7: i64, count: u32) -> String {
        let (n, d) = (e7.unsigned_abs() as u128, count as u128);
        let (q, r) = (n / d, n % d);
        let q = if 2 * r > d || (2 * r == d && q % 2 == 1) { q + 1 } else { q };
        format!("{}{}.{:07}", if e7 < 0 { "-" } else { "" }, q / 10_000_000, q % 10_000_000)
    }

    #[test]
    fn means_print_the_exact_quotient() {
        let m = |e7, count| {
            let mut out = Vec::new();
            write_mean(&mut out, e7, count);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(m(15, 10), "0.0000002", "1.5 units: a tie, to even");
        assert_eq!(m(25, 10), "0.0000002", "2.5 units: a tie, to even");
        assert_eq!(m(-1, 3), "-0.0000000", "negative and rounding to zero, like %0.7f");
        assert_eq!(m(10_000_000, 3), "0.3333333");
        assert_eq!(m(20_000_000, 3), "0.6666667");
        assert_eq!(m(i64::MAX, 1), "922337203685.4775807");
        assert_eq!(m(i64::MIN, 1), "-922337203685.4775808");
        assert_eq!(m(0, 7), "0.0000000");
    }

    proptest! {
        /// Any sum and count: the exact quotient; and, away from ties, what `write_f64` prints
        /// for the nearest `f64` (the text every connector printed before).
        #[test]
        fn mean_is_exact_and_matches_f64_away_from_ties(
            e7 in prop_oneof![any::<i64>(), -(1i64 << 53)..(1i64 << 53), -100_000_000i64..100_000_000],
            count in prop_oneof![1u32..100_000, 1u32..20],
        ) {
            let mut out = Vec::new();
            write_mean(&mut out, e7, count);
            let text = String::from_utf8(out).unwrap();
            prop_assert_eq!(&text, &exact_mean(e7, count));
            // The f64 is within a relative 2⁻⁵³ of the quotient (for sums below 2⁵³): its
            // rounding can only differ when the quotient's fraction of a unit is that close to
            // one half.
            let (n, d) = (e7.unsigned_abs(), count as u64);
            let from_half = (2.0 * (n % d) as f64 - d as f64).abs() / (2.0 * d as f64);
            let near_tie = from_half <= ((n / d) as f64 + 1.0) * 2f64.powi(-50);
            if n < 1 << 53 && !near_tie {
                let v = crate::rrd::storage_number::e7_to_f64(e7 as i128, count);
                prop_assert_eq!(text, f(v));
            }
        }
    }

    #[test]
    fn typical_values() {
        assert_eq!(f(1.5), "1.5000000");
        assert_eq!(f(12.5), "12.5000000");
        assert_eq!(f(0.0), "0.0000000");
        assert_eq!(f(-2.25), "-2.2500000");
        assert_eq!(f(-0.0000001), "-0.0000001");
        assert_eq!(f(123_456_789.123_456_79), "123456789.1234568");
        assert_eq!(f(0.1), "0.1000000");
        assert_eq!(f(2.0 / 3.0), "0.6666667");
    }

    #[test]
    fn tiny_negatives_keep_their_sign_like_c() {
        assert_eq!(f(-1e-9), "-0.0000000");
        assert_eq!(f(-0.0), "-0.0000000");
        assert_eq!(c_printf(-1e-9), "-0.0000000");
    }

    #[test]
    fn exact_ties_round_to_even() {
        // k/256 with k odd is exactly half-way between two 7-decimal numbers.
        assert_eq!(f(1.0 / 256.0), "0.0039062");
        assert_eq!(f(3.0 / 256.0), "0.0117188");
        assert_eq!(f(-1.0 / 256.0), "-0.0039062");
    }

    #[test]
    fn limits_of_the_fast_path() {
        let below = f64::from_bits(FAST_LIMIT.to_bits() - 1);
        assert_eq!(f(below), "999999999999.9998779");
        assert_eq!(f(FAST_LIMIT), "1000000000000.0000000");
        assert_eq!(f(f64::MIN_POSITIVE), "0.0000000");
        assert_eq!(f(5e-324), "0.0000000");
        assert_eq!(f(5e-8), "0.0000000");
        assert_eq!(f(f64::MAX), format!("{:.7}", f64::MAX));
    }

    #[test]
    fn non_finite_writes_nothing() {
        let mut out = b"x".to_vec();
        assert!(!write_f64(&mut out, f64::NAN));
        assert!(!write_f64(&mut out, f64::INFINITY));
        assert!(!write_f64(&mut out, f64::NEG_INFINITY));
        assert_eq!(out, b"x");
    }

    #[test]
    fn integers() {
        let mut out = Vec::new();
        for v in [0, -1, 42, i64::MIN, i64::MAX] {
            write_i64(&mut out, v);
            out.push(b' ');
        }
        assert_eq!(out, b"0 -1 42 -9223372036854775808 9223372036854775807 ");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn integers_equal_display(v in any::<i64>(), digits in 0u32..19) {
            for v in [v, v / 10i64.pow(digits)] {
                let mut out = b"x".to_vec();
                write_i64(&mut out, v);
                prop_assert_eq!(String::from_utf8(out).unwrap(), format!("x{v}"));
            }
        }

        #[test]
        fn equals_core_fmt_for_any_bits(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                prop_assert_eq!(f(v), format!("{v:.7}"));
            }
        }

        #[test]
        fn equals_core_fmt_in_wide_ranges(v in prop_oneof![
            -1e13..1e13f64, -1e6..1e6f64, -1.0..1.0f64, -1e-6..1e-6f64,
        ]) {
            prop_assert_eq!(f(v), format!("{v:.7}"));
        }

        #[test]
        fn equals_core_fmt_at_and_around_ties(k in -(1i64 << 45)..(1i64 << 45), d in -2i64..=2) {
            let tie = (2 * k + 1) as f64 / 256.0;
            let v = f64::from_bits((tie.to_bits() as i64 + d) as u64);
            prop_assert_eq!(f(v), format!("{v:.7}"));
        }

        #[test]
        fn equals_c_printf(v in prop_oneof![-1e13..1e13f64, -1.0..1.0f64], k in any::<i32>()) {
            prop_assert_eq!(f(v), c_printf(v));
            let tie = (2 * k as i64 + 1) as f64 / 256.0;
            prop_assert_eq!(f(tie), c_printf(tie));
        }
    }
}
