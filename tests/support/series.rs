//! Stored series as read back from VictoriaMetrics or Prometheus, and the Prometheus text
//! exposition format their own `/metrics` pages use.

use std::collections::BTreeMap;

use serde_json::Value;

/// One stored time series: its labels (including `__name__`) and its samples
/// in timestamp order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// All labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// Sample values, parallel to `timestamps`.
    pub values: Vec<f64>,
    /// Sample timestamps in milliseconds since the epoch, ascending.
    pub timestamps: Vec<i64>,
}

impl Series {
    /// The metric name (`__name__` label), or "" if absent.
    pub fn name(&self) -> &str {
        self.labels.get("__name__").map(String::as_str).unwrap_or("")
    }

    /// `(timestamp_ms, value)` pairs.
    pub fn points(&self) -> Vec<(i64, f64)> {
        self.timestamps.iter().copied().zip(self.values.iter().copied()).collect()
    }
}

/// Total number of samples over `series`.
pub fn point_count(series: &[Series]) -> usize {
    series.iter().map(|s| s.values.len()).sum()
}

/// Parses a JSON sample value: a number, a string ("NaN", "+Inf", "1.5"), or
/// null (NaN).
pub(super) fn json_f64(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number as f64"),
        Value::String(s) => parse_f64(s),
        Value::Null => f64::NAN,
        other => panic!("not a sample value: {other}"),
    }
}

pub(super) fn parse_f64(s: &str) -> f64 {
    match s {
        "NaN" | "nan" => f64::NAN,
        "+Inf" | "Inf" | "inf" | "Infinity" => f64::INFINITY,
        "-Inf" | "-inf" | "-Infinity" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|e| panic!("not a number {s:?}: {e}")),
    }
}

pub(super) fn json_labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap_or_else(|| panic!("labels are not an object: {v}"))
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_else(|| panic!("label {k} is not a string: {v}"));
            (k.clone(), v.to_string())
        })
        .collect()
}

/// Merges series with identical labels and sorts each one's samples by time
/// (stable, so duplicates keep their arrival order).
pub(super) fn merge_series(parts: impl IntoIterator<Item = Series>) -> Vec<Series> {
    let mut by_labels: BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> = BTreeMap::new();
    for s in parts {
        by_labels.entry(s.labels.clone()).or_default().extend(s.points());
    }
    by_labels
        .into_iter()
        .map(|(labels, mut pts)| {
            pts.sort_by_key(|p| p.0);
            Series {
                labels,
                timestamps: pts.iter().map(|p| p.0).collect(),
                values: pts.iter().map(|p| p.1).collect(),
            }
        })
        .collect()
}

/// Parses the Prometheus text format into series key → value; keys are
/// normalized by [`normalize_series_key`]. Comment lines are skipped.
pub fn parse_prometheus_text(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.trim_end().rsplit_once(' ')?;
            Some((normalize_series_key(key), parse_f64(value)))
        })
        .collect()
}

/// Removes whitespace outside double-quoted label values, so
/// `m{a="x", b="y"}` and `m{a="x",b="y"}` compare equal.
pub fn normalize_series_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in key.chars() {
        if quoted {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}
