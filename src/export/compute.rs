//! Values for one window: the average or sum of a dimension's stored slots.
//!
//! One job: read completed slots out of a chart and reduce them. Empty slots are skipped; a
//! window with no stored value yields `None` (no line is sent). Knows nothing of formats.
//!
//! Sums are exact: each stored number is added as an integer count of 10⁻⁷
//! ([`storage_number::unpack_e7`]), with no division per slot. [`WindowValues::value`] hands the
//! exact sum and count to the formats ([`Value::Mean`]); [`window_value`] and
//! [`WindowValues::get`] give the `f64` nearest the exact sum or average.
//!
//! [`window_value`] reads one dimension; [`WindowValues`] reads every dimension of a chart in
//! one pass over the window's rows, which the slot-major ring keeps contiguous; both give the
//! same bits.

use crate::export::format::{DataSource, Value};
use crate::rrd::storage_number;
use crate::rrd::ChartData;

/// The average or sum of dimension `dim` over slots `(after, end]`.
#[inline]
pub fn window_value(d: &ChartData, dim: usize, after: i64, end: i64, source: DataSource) -> Option<f64> {
    let mut sum = 0i128;
    let mut count = 0u32;
    d.for_each_row(after, end, |_, row| {
        if let Some(&n) = row.get(dim) {
            sum += storage_number::unpack_e7(n);
            count += storage_number::exists(n) as u32;
        }
    });
    reduce(sum, count, source)
}

/// The window's value from its exact sum and its number of stored slots.
#[inline]
fn reduce(sum: i128, count: u32, source: DataSource) -> Option<f64> {
    match (count, source) {
        (0, _) => None,
        (_, DataSource::Sum) => Some(storage_number::e7_to_f64(sum, 1)),
        _ => Some(storage_number::e7_to_f64(sum, count)),
    }
}

/// Rows whose signed mantissas (below 2²⁴ in magnitude) are summed in 32 bits before being
/// added into the 64-bit sums: 127 × (2²⁴ − 1) < 2³¹.
const CHUNK_ROWS: usize = 127;

/// The values of every dimension of one chart for one window; see the module docs.
#[derive(Debug, Clone)]
pub struct WindowValues {
    /// Per dimension: exact sum (in 10⁻⁷) and number of stored slots.
    narrow: Vec<(i64, u32)>,
    /// Per dimension, the first pass (see [`WindowValues::compute`]): the sum of the signed
    /// mantissas, the number of stored slots, and the OR and AND of the stored values'
    /// exponent bits.
    mantissas: Vec<i64>,
    /// The mantissa sums of the last rows (at most [`CHUNK_ROWS`]), added into `mantissas`.
    chunk: Vec<i32>,
    counts: Vec<u32>,
    exp_or: Vec<u32>,
    exp_and: Vec<u32>,
    /// The same, for windows with a value of 2²⁴ or more or longer than
    /// [`storage_number::NARROW_SUM_MAX`] slots.
    wide: Vec<(i128, u32)>,
    is_wide: bool,
    source: DataSource,
}

impl Default for WindowValues {
    fn default() -> WindowValues {
        WindowValues::new()
    }
}

impl WindowValues {
    /// Empty; reuse one across charts and windows to avoid allocating.
    pub fn new() -> WindowValues {
        WindowValues {
            narrow: Vec::new(),
            mantissas: Vec::new(),
            chunk: Vec::new(),
            counts: Vec::new(),
            exp_or: Vec::new(),
            exp_and: Vec::new(),
            wide: Vec::new(),
            is_wide: false,
            source: DataSource::Average,
        }
    }

    /// Compute every dimension of `d` over slots `(after, end]`.
    pub fn compute(&mut self, d: &ChartData, after: i64, end: i64, source: DataSource) {
        self.source = source;
        let n_dims = d.dims.len();
        // First pass, lane by lane with no table look-up (the compiler vectorizes it): the
        // signed mantissas are summed, and the exponent bits ORed and ANDed over stored values.
        // A dimension whose stored values all share one exponent (the usual case) has its
        // exact sum in 10⁻⁷ as `mantissas × 10^(7 - power)`; the others are summed again one
        // by one.
        for (v, fill) in [(&mut self.counts, 0), (&mut self.exp_or, 0), (&mut self.exp_and, u32::MAX)] {
            v.clear();
            v.resize(n_dims, fill);
        }
        self.mantissas.clear();
        self.mantissas.resize(n_dims, 0);
        self.chunk.clear();
        self.chunk.resize(n_dims, 0);
        let mut rows = 0;
        let flush = |chunk: &mut [i32], mantissas: &mut [i64]| {
            for (m, c) in mantissas.iter_mut().zip(chunk) {
                *m += std::mem::take(c) as i64;
            }
        };
        d.for_each_row(after, end, |_, row| {
            rows += 1;
            // All lanes 32 bits wide: twice as many per vector as with the 64-bit sums.
            let lanes =
                self.chunk.iter_mut().zip(&mut self.counts).zip(&mut self.exp_or).zip(&mut self.exp_and);
            for ((((m, c), or), and), &n) in lanes.zip(row) {
                let stored = ((n & storage_number::EXISTS_BITS) != 0) as u32;
                let negative = (n as i32) >> 31;
                let mantissa = (n & 0x00FF_FFFF) as i32;
                *m += (mantissa ^ negative) - negative;
                *c += stored;
                *or |= n;
                // An empty slot (all zero) must not clear bits: AND with all ones instead.
                *and &= n | stored.wrapping_sub(1);
            }
            if rows % CHUNK_ROWS == 0 {
                flush(&mut self.chunk, &mut self.mantissas);
            }
        });
        flush(&mut self.chunk, &mut self.mantissas);
        let any = self.exp_or.iter().fold(0, |a, &b| a | b);
        self.is_wide = storage_number::is_multiplied(any) || rows > storage_number::NARROW_SUM_MAX;
        if !self.is_wide {
            self.narrow.clear();
            for i in 0..n_dims {
                let (or, and) = (
                    self.exp_or[i] & storage_number::EXPONENT_BITS,
                    self.exp_and[i] & storage_number::EXPONENT_BITS,
                );
                let sum = if self.counts[i] == 0 {
                    0
                } else if or == and {
                    self.mantissas[i] * storage_number::scale_e7(or)
                } else {
                    let mut sum = 0;
                    d.for_each_row(after, end, |_, row| {
                        sum += row.get(i).map_or(0, |&n| storage_number::unpack_e7_narrow(n))
                    });
                    sum
                };
                self.narrow.push((sum, self.counts[i]));
            }
        }
        if self.is_wide {
            self.wide.clear();
            self.wide.resize(d.dims.len(), (0, 0));
            d.for_each_row(after, end, |_, row| {
                for (acc, &n) in self.wide.iter_mut().zip(row) {
                    acc.0 += storage_number::unpack_e7(n);
                    acc.1 += storage_number::exists(n) as u32;
                }
            });
        }
    }

    /// Dimension `dim`'s value to export: [`Value::Mean`], exact, unless the window holds a
    /// value of 2²⁴ or more (then [`Value::Computed`]); `None` as for [`WindowValues::get`].
    #[inline]
    pub fn value(&self, dim: usize) -> Option<Value> {
        if self.is_wide {
            return self.get(dim).map(Value::Computed);
        }
        match *self.narrow.get(dim)? {
            (_, 0) => None,
            (e7, _) if self.source == DataSource::Sum => Some(Value::Mean { e7, count: 1 }),
            (e7, count) => Some(Value::Mean { e7, count }),
        }
    }

    /// Dimension `dim`'s value, as [`window_value`] gives it; `None` when the window holds no
    /// stored value for it (or `dim` is not a dimension of the chart computed).
    #[inline]
    pub fn get(&self, dim: usize) -> Option<f64> {
        let (sum, count) = match self.is_wide {
            false => self.narrow.get(dim).map(|&(s, c)| (s as i128, c))?,
            true => *self.wide.get(dim)?,
        };
        reduce(sum, count, self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rrd::{Algorithm, Chart, ChartDef, DimensionDef};

    const S: u64 = 1_000_000;

    #[test]
    fn average_and_sum_skip_empty_slots() {
        let c = Chart::new(&ChartDef::new("a.b", 1), 60);
        c.add_dimension(&DimensionDef::new("x", Algorithm::Absolute));
        c.add_dimension(&DimensionDef::new("y", Algorithm::Absolute));
        c.collect(&[(0, 0), (1, 0)], 100 * S).unwrap();
        for t in 101..=110u64 {
            // y is missing at 105.
            if t == 105 {
                c.collect(&[(0, t as i64)], t * S).unwrap();
            } else {
                c.collect(&[(0, t as i64), (1, 2)], t * S).unwrap();
            }
        }
        let d = c.read();
        assert_eq!(window_value(&d, 0, 100, 110, DataSource::Sum), Some((101..=110).sum::<i64>() as f64));
        assert_eq!(window_value(&d, 0, 100, 110, DataSource::Average), Some(105.5));
        assert_eq!(window_value(&d, 1, 100, 110, DataSource::Sum), Some(18.0));
        assert_eq!(window_value(&d, 1, 100, 110, DataSource::Average), Some(2.0));
        assert_eq!(window_value(&d, 1, 104, 105, DataSource::Average), None);
        assert_eq!(window_value(&d, 0, 110, 120, DataSource::Average), None);
    }

    /// Sums are exact: ten slots of 0.1 average to the f64 nearest 0.1 (adding f64s gives
    /// 0.09999999999999999), and a sum of many values stays exact.
    #[test]
    fn sums_are_exact() {
        let c = Chart::new(&ChartDef::new("a.b", 1), 60);
        c.add_dimension(&DimensionDef::new("x", Algorithm::Absolute).scaled(1, 10));
        c.add_dimension(&DimensionDef::new("y", Algorithm::Absolute).scaled(-1, 1000));
        c.collect(&[(0, 1), (1, 7)], 100 * S).unwrap();
        for t in 101..=110u64 {
            c.collect(&[(0, 1), (1, 7)], t * S).unwrap();
        }
        let d = c.read();
        let naive = (0..10).fold(0.0, |s, _| s + 0.1) / 10.0;
        assert_ne!(naive, 0.1);
        assert_eq!(window_value(&d, 0, 100, 110, DataSource::Average), Some(0.1));
        assert_eq!(window_value(&d, 0, 100, 110, DataSource::Sum), Some(1.0));
        assert_eq!(window_value(&d, 1, 100, 110, DataSource::Sum), Some(-0.07));
        let mut all = WindowValues::new();
        all.compute(&d, 100, 110, DataSource::Average);
        assert_eq!((all.get(0), all.get(1), all.get(2)), (Some(0.1), Some(-0.007), None));
        assert!(!all.is_wide);
    }

    /// Every window of a chart with gaps, a dimension added later and a wrapped ring: the
    /// one-pass values equal the per-dimension ones bit for bit.
    #[test]
    fn window_values_equal_window_value() {
        for ue in [1u32, 2, 5] {
            let c = Chart::new(&ChartDef::new("a.b", ue), 40);
            for i in 0..6 {
                c.add_dimension(&DimensionDef::new(&format!("d{i}"), Algorithm::Absolute).scaled(1, 7));
            }
            // Values up to 10⁸ and down to -10⁸: windows holding one of 2²⁴ or more take the
            // wide sums.
            c.add_dimension(&DimensionDef::new("big", Algorithm::Absolute).scaled(-1000, 1));
            let mut t = 1000 * S;
            for step in 0..120u64 {
                if step == 50 {
                    c.add_dimension(&DimensionDef::new("late", Algorithm::Incremental));
                }
                let row: Vec<(usize, i64)> = (0..c.dimension_count())
                    .filter(|&i| !(step + i as u64).is_multiple_of(5))
                    .map(|i| (i, (step * 7919 + i as u64 * 104_729) as i64 % 100_003))
                    .collect();
                c.collect(&row, t).unwrap();
                t += ue as u64 * S * (1 + step % 3) / 2 + 123_457;
            }
            let d = c.read();
            let mut all = WindowValues::new();
            let last = d.last_entry_t().unwrap();
            let mut found = 0;
            for source in [DataSource::Average, DataSource::Sum] {
                for after in (last - 60..=last).step_by(3) {
                    for len in [1, 2, 10, 30] {
                        all.compute(&d, after, after + len, source);
                        for dim in 0..d.dims.len() + 1 {
                            let want = window_value(&d, dim, after, after + len, source);
                            let exact = all.value(dim);
                            assert_eq!(exact.map(|v| v.as_f64().to_bits()), want.map(f64::to_bits));
                            assert_eq!(all.get(dim).map(f64::to_bits), want.map(f64::to_bits));
                            found += want.is_some() as usize;
                        }
                    }
                }
            }
            assert!(found > 500, "the windows hold values: {found}");
            all.compute(&d, last - 30, last, DataSource::Sum);
            assert!(all.is_wide, "some windows hold big values");
        }
    }

    /// A window of 300 slots of the largest narrow values: the 32-bit sums are added into the
    /// 64-bit ones every 127 rows, so nothing overflows and the sums stay exact.
    #[test]
    fn long_windows_of_large_values_stay_exact() {
        let c = Chart::new(&ChartDef::new("a.b", 1), 400);
        c.add_dimension(&DimensionDef::new("up", Algorithm::Absolute));
        c.add_dimension(&DimensionDef::new("down", Algorithm::Absolute));
        for t in 100..=400u64 {
            c.collect(&[(0, 16_000_000), (1, -16_000_000)], t * S).unwrap();
        }
        let d = c.read();
        let mut all = WindowValues::new();
        all.compute(&d, 100, 400, DataSource::Sum);
        assert!(!all.is_wide);
        assert_eq!(all.value(0), Some(Value::Mean { e7: 300 * 16_000_000 * 10_000_000, count: 1 }));
        assert_eq!(all.get(1), Some(-4_800_000_000.0));
        all.compute(&d, 100, 400, DataSource::Average);
        assert_eq!(all.value(1), Some(Value::Mean { e7: -300 * 16_000_000 * 10_000_000, count: 300 }));
        assert_eq!(all.get(0), window_value(&d, 0, 100, 400, DataSource::Average));
        assert_eq!(all.get(0), Some(16_000_000.0));
    }
}
