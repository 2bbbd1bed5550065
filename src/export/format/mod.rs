//! Formatters: one metric value in, the exact bytes a backend expects out.
//!
//! Every formatter here is pure: it reads a [`Metric`] (whose timestamp the caller chose) and
//! appends to a byte buffer. None of them does I/O, reads the clock, or knows how values were
//! selected, how batches are cut, or where the bytes go.
//!
//! * [`sanitize`]: the rules that keep untrusted names from breaking any of the above;
//! * [`number`]: fast, exact number printing (`%0.7f` and integers).
//!
//! A value that is NaN or infinite is never written as text: line formatters return `false` and
//! leave the buffer untouched.

pub mod number;
pub mod sanitize;

/// The value of one dimension for one export window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// The raw value the collector last sent (before multiplier and divisor); printed as an
    /// integer.
    Collected(i64),
    /// An average or sum computed from stored slots; printed with exactly 7 decimals.
    Computed(f64),
}

/// Which values an exporter sends; remote write names its series after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Raw collected values ([`Value::Collected`]).
    AsCollected,
    /// The average of the stored slots in the window ([`Value::Computed`]).
    Average,
    /// The sum of the stored slots in the window ([`Value::Computed`]).
    Sum,
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
    /// Host labels, in the order they are sent; empty for the legacy backend.
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
            Value::Collected(_) => true,
            Value::Computed(v) => v.is_finite(),
        }
    }
}
