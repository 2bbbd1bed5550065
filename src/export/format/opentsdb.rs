//! OpenTSDB telnet: `put PREFIX.CHART.DIM TIMESTAMP VALUE host=HOSTNAME[ key=value]*\n`.
//!
//! The metric name and every tag are sanitized (see [`sanitize`](super::sanitize)), so a line
//! always parses as `put`, metric, timestamp, value and `key=value` tags. Host labels become
//! extra tags; a label whose key or value is empty, whose key is `host` or repeats an earlier
//! key once sanitized is left out (OpenTSDB rejects empty and duplicate tags). Knows nothing of
//! sockets or batching.

use super::{sanitize::write_path, tag_labels, template::LineTemplate, write_value, Metric};

/// Appends `PREFIX.CHART.DIM`, sanitized: the OpenTSDB metric name (telnet and HTTP alike).
pub(crate) fn write_metric_name(out: &mut Vec<u8>, m: &Metric) {
    write_metric_head(out, m);
    write_path(out, m.dim());
}

/// `PREFIX.CHART.`, sanitized.
pub(crate) fn write_metric_head(out: &mut Vec<u8>, m: &Metric) {
    write_path(out, m.prefix);
    out.push(b'.');
    write_path(out, m.chart());
    out.push(b'.');
}

/// ` host=HOST` and ` key=value` for each label kept.
pub(crate) fn write_tags(out: &mut Vec<u8>, m: &Metric) {
    out.extend_from_slice(b" host=");
    write_path(out, m.hostname);
    for (k, v) in tag_labels(m.labels, "host") {
        out.push(b' ');
        write_path(out, k);
        out.push(b'=');
        write_path(out, v);
    }
}

/// The lines of `m`'s chart in `m`'s window: see [`LineTemplate`].
pub fn template(m: &Metric) -> LineTemplate {
    super::template::opentsdb(m)
}

/// Appends one `put` line for `m` to `out`. Returns `false`, writing nothing, when the value is
/// NaN or infinite.
pub fn write_line(out: &mut Vec<u8>, m: &Metric) -> bool {
    if !m.is_finite() {
        return false;
    }
    out.reserve(m.text_len() + 64);
    out.extend_from_slice(b"put ");
    write_metric_name(out, m);
    out.push(b' ');
    super::number::write_i64(out, m.timestamp);
    out.push(b' ');
    write_value(out, m.value);
    write_tags(out, m);
    out.push(b'\n');
    true
}
