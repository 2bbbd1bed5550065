//! Storage numbers: netdata's 32-bit packed representation of one stored value.
//!
//! Layout, most significant bit first:
//!
//! ```text
//!  31    30        29..27     26..24   23..0
//! sign  mul/div   power of 10  flags   mantissa
//! ```
//!
//! * `sign` set means negative;
//! * `mul/div` set means `value = mantissa × 10^power`, clear means `value = mantissa / 10^power`;
//! * flags: [`SN_EXISTS`] (so that a stored `0` differs from an empty slot), [`SN_EXISTS_RESET`]
//!   (a counter reset happened in this slot), and one spare bit;
//! * the all-zero word is an empty slot ([`SN_EMPTY`]).
//!
//! Round-trip error is ≤ 1e-6 relative for 0.17 ≤ |v| ≤ 1.6e14 and ≤ 1e-7 absolute below 0.17;
//! larger magnitudes saturate at `0xFFFFFF × 10^7`.
//!
//! Unlike netdata's 2017 packer, a mantissa pushed just past 24 bits by the last scaling step
//! (16.777218 scales to 16 777 218 > 0xFFFFFF) is divided once more instead of spilling into
//! the flag bits.
//!
//! This module knows nothing about time or slots.

/// A packed stored value.
pub type StorageNumber = u32;

/// An empty slot: nothing was stored for this time.
pub const SN_EMPTY: StorageNumber = 0;
/// Flag: the slot holds a value (possibly zero).
pub const SN_EXISTS: StorageNumber = 1 << 24;
/// Flag: the value exists and a counter reset happened in its interval.
pub const SN_EXISTS_RESET: StorageNumber = 1 << 25;

const SN_FLAGS_MASK: StorageNumber = 0x0700_0000;
/// Either flag that marks a stored value: `n & EXISTS_BITS != 0` is [`exists`].
pub const EXISTS_BITS: StorageNumber = SN_EXISTS | SN_EXISTS_RESET;
/// The power of ten and the `mul/div` bit.
pub const EXPONENT_BITS: StorageNumber = 0x7800_0000;
const SIGN_BIT: StorageNumber = 1 << 31;
const MUL_BIT: StorageNumber = 1 << 30;
const MANTISSA_MAX: f64 = 16_777_215.0; // 0xFFFFFF
/// Smallest scaled mantissa that still keeps 7 significant digits: 0x19999E ≈ 0xFFFFFF / 10.
const MANTISSA_LOW: f64 = 1_677_726.0;

const POW10: [f64; 8] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// Pack `value` with the given flags. `flags` is [`SN_EXISTS`] or [`SN_EXISTS_RESET`]
/// (the latter implies existence). NaN and infinities cannot be stored: callers store
/// [`SN_EMPTY`] for them instead.
pub fn pack(value: f64, flags: StorageNumber) -> StorageNumber {
    debug_assert!(value.is_finite(), "pack() called with {value}");
    let flags = (flags & SN_FLAGS_MASK) | SN_EXISTS;
    if value == 0.0 || !value.is_finite() {
        return flags;
    }
    let mut r = flags;
    let mut n = value;
    if n < 0.0 {
        r |= SIGN_BIT;
        n = -n;
    }

    let mut m: u32 = 0;
    if n > MANTISSA_MAX {
        while m < 7 && n > MANTISSA_MAX {
            n /= 10.0;
            m += 1;
        }
        r |= MUL_BIT | (m << 27);
        let mantissa = round_positive(n).min(MANTISSA_MAX) as u32;
        return r | mantissa;
    }

    while m < 7 && n < MANTISSA_LOW {
        n *= 10.0;
        m += 1;
    }
    let mut mantissa = round_positive(n);
    if mantissa > MANTISSA_MAX {
        // The 2017 overflow: rounding or the last ×10 pushed the mantissa past 24 bits.
        // Undo one scaling step rather than corrupting the flag bits.
        if m > 0 {
            m -= 1;
            mantissa = round_positive(value.abs() * POW10[m as usize]);
        }
        mantissa = mantissa.min(MANTISSA_MAX);
    }
    r | (m << 27) | mantissa as u32
}

/// `n.round()` (half away from zero) for finite `n ≥ 0`, without the call into the C library
/// that `f64::round` costs on baseline x86-64. Exact: truncation and the fraction it leaves are
/// both exactly representable below 2⁵², and from 2⁵² up every value is already an integer.
#[inline]
fn round_positive(n: f64) -> f64 {
    if n >= 4_503_599_627_370_496.0 {
        return n;
    }
    let t = n as i64 as f64;
    if n - t >= 0.5 {
        t + 1.0
    } else {
        t
    }
}

/// Unpack a stored value. Empty slots unpack to 0.0: check [`exists`] first.
#[inline]
pub fn unpack(n: StorageNumber) -> f64 {
    let mantissa = (n & 0x00FF_FFFF) as f64;
    let power = POW10[((n >> 27) & 0x7) as usize];
    let v = if n & MUL_BIT != 0 { mantissa * power } else { mantissa / power };
    if n & SIGN_BIT != 0 {
        -v
    } else {
        v
    }
}

/// `10^(7-power)` for divided mantissas (index `power`), `10^(7+power)` for multiplied ones
/// (index `8 + power`): the factor that turns a mantissa into the value × 10⁷.
const SCALE_E7: [u64; 16] = {
    let mut t = [0u64; 16];
    let mut k = 0;
    while k < 8 {
        t[k] = 10u64.pow(7 - k as u32);
        t[8 + k] = 10u64.pow(7 + k as u32);
        k += 1;
    }
    t
};

/// The stored value × 10⁷, exactly: every storage number is a whole multiple of 10⁻⁷ (a
/// mantissa divided by at most 10⁷), and the largest, `0xFFFFFF × 10⁷`, is below 2⁷¹. Empty
/// slots give 0. Sums of these are exact, and need no division per value: averaging a window
/// this way costs one division per window instead of one per slot, and gives the `f64`
/// nearest the exact average.
#[inline]
pub fn unpack_e7(n: StorageNumber) -> i128 {
    let mantissa = (n & 0x00FF_FFFF) as u64;
    // Bits 27..=29 are the power, bit 30 multiplies: together the table's index.
    let v = (mantissa as u128 * SCALE_E7[((n >> 27) & 0xF) as usize] as u128) as i128;
    if n & SIGN_BIT != 0 {
        -v
    } else {
        v
    }
}

/// [`unpack_e7`] for values whose mantissa is divided (|v| < 2²⁴, the `mul/div` bit clear;
/// see [`is_multiplied`]), whose ×10⁷ form is below 2⁴⁸: fits an `i64`, and so do sums of up to
/// [`NARROW_SUM_MAX`] of them. For a multiplied value the result is meaningless, never UB.
#[inline]
pub fn unpack_e7_narrow(n: StorageNumber) -> i64 {
    let mantissa = (n & 0x00FF_FFFF) as i64;
    let negative = ((n as i32) >> 31) as i64; // 0 or -1
    ((mantissa ^ negative) - negative) * scale_e7(n)
}

/// `10^(7 - power)` for the power of ten in `n`'s exponent bits: what a divided mantissa is
/// multiplied by to count units of 10⁻⁷.
#[inline]
pub fn scale_e7(n: StorageNumber) -> i64 {
    SCALE_E7[((n >> 27) & 0x7) as usize] as i64
}

/// How many [`unpack_e7_narrow`] values an `i64` sum holds: `0xFFFFFF × 10⁷ × 50 000 < 2⁶³`.
pub const NARROW_SUM_MAX: usize = 50_000;

/// Whether the mantissa is multiplied by its power of ten (|v| ≥ 2²⁴).
#[inline]
pub fn is_multiplied(n: StorageNumber) -> bool {
    n & MUL_BIT != 0
}

/// `sum / 10⁷`: a sum of [`unpack_e7`] values as the `f64` nearest it (for sums below 2⁵³,
/// which every window of 10⁷-scaled mantissas under 2⁴⁸ summed over fewer than 32 slots is;
/// beyond, within one rounding more).
#[inline]
pub fn e7_to_f64(sum: i128, divisor: u32) -> f64 {
    let small = sum as i64;
    let s = if small as i128 == sum { small as f64 } else { wide_to_f64(sum) };
    s / (divisor as f64 * 1e7)
}

/// Out of line: the conversion is a library call, kept off the common path.
#[cold]
#[inline(never)]
fn wide_to_f64(sum: i128) -> f64 {
    sum as f64
}

/// Whether the slot holds a value.
#[inline]
pub fn exists(n: StorageNumber) -> bool {
    n & (SN_EXISTS | SN_EXISTS_RESET) != 0
}

/// Whether the slot records a counter reset.
#[inline]
pub fn is_reset(n: StorageNumber) -> bool {
    n & SN_EXISTS_RESET != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_close(v: f64) {
        let got = unpack(pack(v, SN_EXISTS));
        let err = (got - v).abs();
        if v.abs() >= 0.17 {
            assert!(err <= v.abs() * 1e-6, "{v} came back as {got} (rel err {})", err / v.abs());
        } else {
            assert!(err <= 1e-7, "{v} came back as {got} (abs err {err})");
        }
    }

    #[test]
    fn zero_is_stored_and_differs_from_empty() {
        let z = pack(0.0, SN_EXISTS);
        assert_ne!(z, SN_EMPTY);
        assert!(exists(z));
        assert!(!exists(SN_EMPTY));
        assert_eq!(unpack(z), 0.0);
    }

    #[test]
    fn mantissa_overflow_16_777218_does_not_corrupt_flags() {
        // The 2017 packer scaled this to 16 777 218 > 0xFFFFFF and set flag bits.
        let n = pack(16.777218, SN_EXISTS);
        assert_eq!(n & SN_FLAGS_MASK, SN_EXISTS, "flags corrupted: {n:#010x}");
        assert!(!is_reset(n));
        assert!((unpack(n) - 16.777218).abs() <= 16.777218 * 1e-6);
        // Neighbours of every power of ten that hit the same edge.
        for p in -7..7 {
            let v = 1.6777218 * 10f64.powi(p);
            let n = pack(v, SN_EXISTS);
            assert_eq!(n & SN_FLAGS_MASK, SN_EXISTS, "flags corrupted for {v}: {n:#010x}");
            assert_close(v);
        }
    }

    #[test]
    fn exact_small_integers_round_trip_exactly() {
        for v in [1.0, 2.0, 10.0, 100.0, 1000.0, 123456.0, 16777215.0, -42.0] {
            assert_eq!(unpack(pack(v, SN_EXISTS)), v);
        }
    }

    #[test]
    fn reset_flag_is_kept_and_implies_exists() {
        let n = pack(5.5, SN_EXISTS_RESET);
        assert!(exists(n));
        assert!(is_reset(n));
        assert_eq!(unpack(n), 5.5);
    }

    #[test]
    fn large_values_saturate() {
        let max = 16_777_215.0 * 1e7;
        assert_eq!(unpack(pack(1e20, SN_EXISTS)), max);
        assert_eq!(unpack(pack(-1e20, SN_EXISTS)), -max);
    }

    #[test]
    fn whole_range_by_decades() {
        let mut v = 1e-9;
        while v < 1.6e14 {
            for f in [1.0, 1.234567, 3.3333333, 9.999999] {
                if v * f > 1.6e14 {
                    continue;
                }
                assert_close(v * f);
                assert_close(-v * f);
            }
            v *= 10.0;
        }
        assert_close(1.6e14);
    }

    /// Every divided mantissa at every power: the exact ×10⁷ integer, back as `f64`, is what
    /// `unpack` gives (both are the correctly rounded `mantissa / 10^power`).
    #[test]
    fn unpack_e7_is_exact() {
        for power in 0..8u32 {
            for mantissa in (0..=0xFF_FFFFu32).step_by(997).chain([1, 0xFF_FFFF]) {
                for sign in [0, SIGN_BIT] {
                    let n = sign | SN_EXISTS | (power << 27) | mantissa;
                    let e7 = unpack_e7(n);
                    let want = mantissa as i128 * 10i128.pow(7 - power);
                    assert_eq!(e7, if sign == 0 { want } else { -want });
                    assert_eq!(e7_to_f64(e7, 1), unpack(n), "{n:#x}");
                }
                let n = MUL_BIT | SN_EXISTS | (power << 27) | mantissa;
                assert_eq!(unpack_e7(n), mantissa as i128 * 10i128.pow(7 + power));
            }
        }
        for n in (0..=u32::MAX).step_by(65_537).chain([SN_EMPTY, SIGN_BIT | SN_EXISTS | 0xFF_FFFF]) {
            if !is_multiplied(n) {
                assert_eq!(unpack_e7_narrow(n) as i128, unpack_e7(n), "{n:#x}");
            }
        }
        assert_eq!(unpack_e7(SN_EMPTY), 0);
        assert_eq!(unpack_e7(pack(-2.5, SN_EXISTS)), -25_000_000);
        // An average of 1, 2 and 2 slots: 5/3 nearest, where summing f64 would also do; and a
        // sum too large for i64.
        let sum = [1.0, 2.0, 2.0].map(|v| unpack_e7(pack(v, SN_EXISTS))).iter().sum();
        assert_eq!(e7_to_f64(sum, 3), 5.0 / 3.0);
        let big = unpack_e7(pack(1e14, SN_EXISTS)) * 1000;
        assert_eq!(e7_to_f64(big, 1000), unpack(pack(1e14, SN_EXISTS)));
    }

    #[test]
    fn round_positive_is_f64_round() {
        let ties = [0.5, 1.5, 2.5, 1_677_725.5, 16_777_215.5, 0.49999999999999994, 4_503_599_627_370_495.5];
        for v in ties.into_iter().chain([0.0, 1e-300, 1e15, 4.5e15, 1e300, f64::MAX]) {
            assert_eq!(round_positive(v).to_bits(), v.round().to_bits(), "{v}");
        }
    }

    proptest! {
        #[test]
        fn round_positive_equals_round(bits in 0u64..0x7FF0_0000_0000_0000) {
            let v = f64::from_bits(bits);
            prop_assert_eq!(round_positive(v).to_bits(), v.round().to_bits());
        }

        #[test]
        fn round_positive_equals_round_in_mantissa_range(v in 0f64..2e7, half in any::<u32>()) {
            prop_assert_eq!(round_positive(v).to_bits(), v.round().to_bits());
            let tie = half as f64 + 0.5;
            prop_assert_eq!(round_positive(tie).to_bits(), tie.round().to_bits());
        }

        #[test]
        fn round_trip_within_documented_error(v in -1.6e14f64..1.6e14f64) {
            assert_close(v);
        }

        #[test]
        fn round_trip_small(v in -0.17f64..0.17f64) {
            assert_close(v);
        }

        #[test]
        fn packed_value_always_exists(v in proptest::num::f64::NORMAL) {
            let n = pack(v, SN_EXISTS);
            prop_assert!(exists(n));
            prop_assert_eq!(n & SN_FLAGS_MASK, SN_EXISTS);
        }
    }
}
