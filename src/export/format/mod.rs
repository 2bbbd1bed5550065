//! The building blocks every connector's format is written with; no format itself (those are
//! in [`connector`](crate::export::connector)).
//!
//! Everything here is pure: it reads a [`Metric`] (whose timestamp the caller chose) and
//! appends to a byte buffer. None of it does I/O, reads the clock, or knows how values were
//! selected, how batches are cut, or where the bytes go.
//!
//! * [`template`]: a line format defined once ([`template::Layout`]), and from it the writer of
//!   one metric's line and the fast template of one chart's lines in one window;
//! * [`json_array`]: size-limited JSON-array request bodies;
//! * [`sanitize`]: the rules that keep untrusted names from breaking any format;
//! * [`number`]: fast, exact number printing (`%0.7f` and integers);
//! * [`append`]: copying a line's short pieces without a library call each.
//!
//! Writers are named for where they write: `write_*` appends to a `Vec<u8>`, `append_*` goes
//! through an [`append::Appender`], `put_*` into a line's reserved [`append::Room`].
//!
//! A value that is NaN or infinite is never written as text: line writers return `false` and
//! leave the buffer untouched.

pub mod append;
pub mod json_array;
pub mod number;
pub mod sanitize;
pub mod template;

/// The value of one dimension for one export window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// The raw value the collector last sent (before multiplier and divisor); printed as an
    /// integer.
    Collected(i64),
    /// An average or sum computed from stored slots; printed with exactly 7 decimals.
    Computed(f64),
    /// An average or sum known exactly: `e7 / count` units of 10⁻⁷ (a sum has `count` 1).
    /// Printed with exactly 7 decimals, the exact quotient rounded half to even (what
    /// `Computed` prints for the `f64` nearest it, except when the quotient lies within an
    /// `f64` rounding of a tie); sent as that nearest `f64` where a format takes binary numbers.
    /// `count` is never 0.
    Mean {
        /// The sum, in units of 10⁻⁷.
        e7: i64,
        /// Stored values summed.
        count: u32,
    },
}

impl Value {
    /// The value as a binary number: for a [`Value::Mean`] the `f64` nearest it.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Collected(v) => v as f64,
            Value::Computed(v) => v,
            Value::Mean { e7, count } => crate::rrd::storage_number::e7_to_f64(e7 as i128, count),
        }
    }
}

/// What a writer of a chart's lines knows of its dimension ids and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimText {
    /// Only ASCII letters and digits, `.`, `_` and `-` (as [`crate::rrd::chart::is_plain`]
    /// tells): every line format writes them as they are, so they are copied without a look
    /// at each byte.
    Plain,
    /// Anything: each is sanitized or escaped as its format requires.
    Any,
}

/// What happened to a metric offered to a size-limited body
/// ([`JsonArrayBody::push_within`](json_array::JsonArrayBody::push_within),
/// [`RemoteWriteBuilder::push_within`](crate::export::connector::remote_write::RemoteWriteBuilder::push_within)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The metric is in the body.
    Added,
    /// The value is NaN or infinite: nothing was written.
    NotFinite,
    /// The metric would take the body over the limit: nothing was written. Finish this body
    /// and push the metric into the next one.
    Full,
}

/// Which values of a dimension an exporter sends (`data source`); remote write names its
/// series after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataSource {
    /// The raw value last collected ([`Value::Collected`]; `as collected`, `as-collected`,
    /// `raw`).
    AsCollected,
    /// The mean of the stored slots in the window (`average`).
    Average,
    /// The sum of the stored slots in the window (`sum`, `volume`).
    Sum,
}

impl DataSource {
    /// The canonical name: `as collected`, `average` or `sum`.
    pub fn name(self) -> &'static str {
        match self {
            DataSource::AsCollected => "as collected",
            DataSource::Average => "average",
            DataSource::Sum => "sum",
        }
    }
}

/// One dimension's value, with everything a formatter may print about it.
///
/// All strings are as the store holds them (possibly from an untrusted plugin); formatters
/// sanitize or escape them, callers never need to.
#[derive(Debug, Clone, Copy)]
pub struct Metric<'a> {
    /// The configured prefix (`netdata` by default).
    pub prefix: &'a str,
    /// The hostname to export under (the configured one for the local host).
    pub hostname: &'a str,
    /// The chart's id (`system.cpu`).
    pub chart_id: &'a str,
    /// The chart's name (may equal the id).
    pub chart_name: &'a str,
    /// The chart's family.
    pub family: &'a str,
    /// The chart's context.
    pub context: &'a str,
    /// The chart's type (the part of the id before the first dot).
    pub chart_type: &'a str,
    /// The chart's units.
    pub units: &'a str,
    /// The dimension's id.
    pub dim_id: &'a str,
    /// The dimension's name (may equal the id).
    pub dim_name: &'a str,
    /// Paths use the chart and dimension names instead of their ids ("send names instead of
    /// ids").
    pub use_names: bool,
    /// The value to send.
    pub value: Value,
    /// The timestamp to send, in seconds.
    pub timestamp: i64,
    /// Labels of the chart, then of the host, in the order they are sent (a later label with
    /// a name already sent is left out by each format); empty for the legacy backend.
    pub labels: &'a [(String, String)],
}

impl Metric<'_> {
    /// The chart as it appears in paths: its name when [`use_names`](Metric::use_names) is set
    /// and the name is not empty, its id otherwise.
    pub fn chart(&self) -> &str {
        if self.use_names && !self.chart_name.is_empty() {
            self.chart_name
        } else {
            self.chart_id
        }
    }

    /// The dimension as it appears in paths: its name when [`use_names`](Metric::use_names) is
    /// set and the name is not empty, its id otherwise.
    pub fn dim(&self) -> &str {
        if self.use_names && !self.dim_name.is_empty() {
            self.dim_name
        } else {
            self.dim_id
        }
    }

    /// Whether the value can be written: false for NaN and ±Inf.
    pub fn is_finite(&self) -> bool {
        match self.value {
            Value::Collected(_) | Value::Mean { .. } => true,
            Value::Computed(v) => v.is_finite(),
        }
    }

    /// An upper bound on the bytes of names and labels, used to reserve buffer space once per
    /// line instead of growing it field by field.
    pub(crate) fn text_len(&self) -> usize {
        let labels: usize =
            self.labels.iter().map(|(k, v)| k.len() + v.len() + 8 + RENAMED_PREFIX.len()).sum();
        self.prefix.len()
            + self.hostname.len()
            + self.chart_id.len()
            + self.chart_name.len()
            + self.family.len()
            + self.context.len()
            + self.chart_type.len()
            + self.units.len()
            + self.dim_id.len()
            + self.dim_name.len()
            + labels
    }
}

/// Appends the value: an integer when collected, `%0.7f` when computed. The caller has checked
/// [`Metric::is_finite`].
#[inline]
pub(crate) fn write_value(out: &mut Vec<u8>, value: Value) {
    match value {
        Value::Collected(v) => number::write_i64(out, v),
        Value::Computed(v) => {
            number::write_f64(out, v);
        }
        Value::Mean { e7, count } => number::write_mean(out, e7, count),
    }
}

/// What a label whose name a format reserves for itself is renamed with, in front (as
/// Prometheus renames a scraped label that collides with its own): `exported_instance`.
pub const RENAMED_PREFIX: &str = "exported_";

/// The labels Graphite and OpenTSDB tags carry, as `(renamed, key, value)`: those with a
/// non-empty key and value, a key that sanitizes to `reserved` (a tag the format already uses)
/// renamed with [`RENAMED_PREFIX`], and none whose key, once renamed and sanitized, repeats an
/// earlier one's (the first one wins). Allocates nothing.
pub(crate) fn tag_labels<'a>(
    labels: &'a [(String, String)],
    reserved: &'static str,
) -> impl Iterator<Item = (bool, &'a str, &'a str)> + 'a {
    let tag = move |(k, v): &'a (String, String)| {
        (!k.is_empty() && !v.is_empty()).then(|| (sanitize::path_eq(k, reserved), k.as_str(), v.as_str()))
    };
    labels.iter().enumerate().filter_map(move |(i, label)| {
        let (renamed, key, value) = tag(label)?;
        let repeats = labels[..i]
            .iter()
            .filter_map(tag)
            .any(|(r, k, _)| sanitize::path_eq_prefixed((prefix(r), k), (prefix(renamed), key)));
        (!repeats).then_some((renamed, key, value))
    })
}

/// [`RENAMED_PREFIX`] for a renamed tag, nothing for another.
pub(crate) fn prefix(renamed: bool) -> &'static str {
    if renamed {
        RENAMED_PREFIX
    } else {
        ""
    }
}
