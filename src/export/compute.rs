//! Values for one window: the average or sum of a dimension's stored slots.
//!
//! One job: read completed slots out of a chart and reduce them. Empty slots are skipped; a
//! window with no stored value yields `None` (no line is sent). Knows nothing of formats.

use crate::export::format::Source;
use crate::rrd::ChartData;

/// The average or sum of dimension `dim` over slots `(after, end]`.
#[inline]
pub fn window_value(d: &ChartData, dim: usize, after: i64, end: i64, source: Source) -> Option<f64> {
    let mut sum = 0.0;
    let mut count = 0u32;
    d.for_each_value(dim, after, end, |_, v| {
        sum += v;
        count += 1;
    });
    if count == 0 {
        return None;
    }
    match source {
        Source::Sum => Some(sum),
        _ => Some(sum / count as f64),
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
        assert_eq!(window_value(&d, 0, 100, 110, Source::Sum), Some((101..=110).sum::<i64>() as f64));
        assert_eq!(window_value(&d, 0, 100, 110, Source::Average), Some(105.5));
        assert_eq!(window_value(&d, 1, 100, 110, Source::Sum), Some(18.0));
        assert_eq!(window_value(&d, 1, 100, 110, Source::Average), Some(2.0));
        assert_eq!(window_value(&d, 1, 104, 105, Source::Average), None);
        assert_eq!(window_value(&d, 0, 110, 120, Source::Average), None);
    }
}
