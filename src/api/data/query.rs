//! Reading a chart's slots into the points of a `/api/v1/data` answer.
//!
//! One job: under the chart's read lock, pick the dimensions, walk the window's slots once per
//! dimension and group them into points (netdata's `RRDR`: values and flags per point and
//! dimension). Formatting happens after the lock is released, from this result alone.
//!
//! Memory is allocated per answer (one array of values and one of flags), never per point.

use super::pattern::DimPattern;
use super::request::{opt, Group};
use super::window::Window;
use crate::rrd::storage_number;
use crate::rrd::ChartData;

/// A point's value is empty: no slot of its group held a value.
pub const EMPTY: u8 = 1;
/// A counter reset happened in one of its slots.
pub const RESET: u8 = 2;

/// A dimension of the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryDim {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Queried but not shown (a hidden dimension, kept only for `percentage` totals).
    pub hidden: bool,
    /// Asked for by name, or some value was not zero: shown even with `nonzero`.
    pub nonzero: bool,
    /// The value stored in the chart's newest slot.
    pub latest: Option<f64>,
}

/// The points of an answer, oldest first, before formatting.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    /// The dimensions, in the chart's order.
    pub dims: Vec<QueryDim>,
    /// Each point's time, oldest first.
    pub times: Vec<i64>,
    /// `times.len() × dims.len()` values, point-major.
    pub values: Vec<f64>,
    /// Flags ([`EMPTY`], [`RESET`]) by the same index.
    pub flags: Vec<u8>,
    /// Smallest and largest value over every point and dimension, if any.
    pub min_max: Option<(f64, f64)>,
    /// Slots read (the envelope's `db_points_per_tier`).
    pub slots_read: usize,
}

impl Points {
    /// Number of points.
    pub fn rows(&self) -> usize {
        self.times.len()
    }

    /// The values of point `row`.
    pub fn row(&self, row: usize) -> (&[f64], &[u8]) {
        let d = self.dims.len();
        (&self.values[row * d..(row + 1) * d], &self.flags[row * d..(row + 1) * d])
    }
}

/// Which dimensions a query reads, from the `dimensions` pattern and the options.
pub fn select_dims(chart: &ChartData, pattern: Option<&DimPattern>, options: u32) -> Vec<(usize, QueryDim)> {
    let (mut ids, mut names) = (options & opt::MATCH_IDS != 0, options & opt::MATCH_NAMES != 0);
    if !ids && !names {
        (ids, names) = (true, true);
    }
    let last = chart.last_entry_t();
    let mut out = Vec::new();
    for (i, dim) in chart.dims.iter().enumerate() {
        let (id, name) = (chart.names.id(i), chart.names.name(i));
        let (hidden, matched) = match pattern {
            Some(p) => {
                let m = (ids && p.matches(id)) || (names && p.matches(name));
                (!m, m)
            }
            None => (dim.hidden, false),
        };
        if hidden && options & opt::PERCENTAGE == 0 {
            continue;
        }
        let latest = last.map(|t| chart.value_at(i, t)).filter(|&n| storage_number::exists(n));
        out.push((
            i,
            QueryDim {
                id: id.to_string(),
                name: name.to_string(),
                hidden,
                nonzero: matched,
                latest: latest.map(storage_number::unpack),
            },
        ));
    }
    out
}

/// One point's accumulator, for any grouping.
struct Acc {
    group: Group,
    count: usize,
    sum: f64,
    pick: f64,
    first: f64,
    last: f64,
    mean: f64,
    m2: f64,
    reset: bool,
    nonzero: bool,
    /// `median`'s values; cleared, never freed, between points.
    series: Vec<f64>,
}

impl Acc {
    fn new(group: Group) -> Acc {
        Acc {
            group,
            count: 0,
            sum: 0.0,
            pick: 0.0,
            first: 0.0,
            last: 0.0,
            mean: 0.0,
            m2: 0.0,
            reset: false,
            nonzero: false,
            series: Vec::new(),
        }
    }

    #[inline]
    fn add(&mut self, v: f64, reset: bool) {
        self.reset |= reset;
        self.nonzero |= v != 0.0;
        self.count += 1;
        match self.group {
            Group::Average | Group::Sum => self.sum += v,
            // netdata picks by magnitude: min is the value nearest zero, max the farthest.
            Group::Min => {
                if self.count == 1 || v.abs() < self.pick.abs() {
                    self.pick = v
                }
            }
            Group::Max => {
                if self.count == 1 || v.abs() > self.pick.abs() {
                    self.pick = v
                }
            }
            Group::IncrementalSum => {
                if self.count == 1 {
                    self.first = v
                } else {
                    self.last = v
                }
            }
            Group::Median => self.series.push(v),
            Group::Stddev => {
                // Welford (Knuth TAOCP vol. 2), as netdata does.
                let delta = v - self.mean;
                self.mean += delta / self.count as f64;
                self.m2 += delta * (v - self.mean);
            }
        }
    }

    /// The point's value (`None`: empty) and flags; resets the accumulator.
    fn flush(&mut self, resampling_divisor: Option<f64>) -> (Option<f64>, u8) {
        let n = self.count;
        let value = if n == 0 {
            None
        } else {
            Some(match self.group {
                Group::Average => match resampling_divisor {
                    Some(d) => self.sum / d,
                    None => self.sum / n as f64,
                },
                Group::Sum => self.sum,
                Group::Min | Group::Max => self.pick,
                Group::IncrementalSum if n == 1 => 0.0,
                Group::IncrementalSum => self.last - self.first,
                Group::Median => median(&mut self.series),
                Group::Stddev if n == 1 => 0.0,
                Group::Stddev => (self.m2 / (n - 1) as f64).sqrt(),
            })
        }
        .filter(|v| v.is_finite());
        let flags = if value.is_none() { EMPTY } else { 0 } | if self.reset { RESET } else { 0 };
        self.count = 0;
        self.sum = 0.0;
        self.mean = 0.0;
        self.m2 = 0.0;
        self.reset = false;
        self.series.clear();
        (value, flags)
    }
}

/// The median of `v` (sorted in place): the middle value, or the mean of the two middle ones.
fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Group the slots of `window` into points for the dimensions `dims` (from [`select_dims`]).
pub fn run(chart: &ChartData, dims: Vec<(usize, QueryDim)>, window: &Window, group: Group) -> Points {
    let rows = window.points;
    let d = dims.len();
    let step = window.step();
    let first_point = window.first_point();
    let times: Vec<i64> = (0..rows as i64).map(|k| first_point + k * step).collect();
    let mut values = vec![0.0; rows * d];
    let mut flags = vec![EMPTY; rows * d];
    let mut min_max: Option<(f64, f64)> = None;
    let mut slots_read = 0;
    let mut acc = Acc::new(group);
    let (after, before) = (first_point - step, window.before);
    let mut out_dims = Vec::with_capacity(d);
    for (c, (index, mut dim)) in dims.into_iter().enumerate() {
        let mut point: Option<usize> = None;
        let mut nonzero = false;
        let mut store = |k: usize, acc: &mut Acc, nonzero: &mut bool| {
            *nonzero |= acc.nonzero;
            acc.nonzero = false;
            let (v, f) = acc.flush(window.resampling_divisor);
            flags[k * d + c] = f;
            if let Some(v) = v {
                values[k * d + c] = v;
                min_max = Some(min_max.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
            }
        };
        chart.for_each_row(after, before, |t, row| {
            slots_read += 1;
            // Point k holds the slots in (time(k) − step, time(k)].
            let k = ((t - first_point) + step - 1).div_euclid(step) as usize;
            if point != Some(k) {
                if let Some(p) = point {
                    store(p, &mut acc, &mut nonzero);
                }
                point = Some(k);
            }
            if let Some(&n) = row.get(index) {
                if storage_number::exists(n) {
                    acc.add(storage_number::unpack(n), storage_number::is_reset(n));
                }
            }
        });
        if let Some(p) = point {
            store(p, &mut acc, &mut nonzero);
        }
        dim.nonzero |= nonzero;
        out_dims.push(dim);
    }
    Points { dims: out_dims, times, values, flags, min_max, slots_read }
}
