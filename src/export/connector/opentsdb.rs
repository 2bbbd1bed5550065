//! OpenTSDB telnet: `put PREFIX.CHART.DIM TIMESTAMP VALUE host=HOSTNAME[ key=value]*\n`.
//!
//! The metric name and every tag are sanitized (see [`sanitize`](super::sanitize)), so a line
//! always parses as `put`, metric, timestamp, value and `key=value` tags. Host labels become
//! extra tags; a label whose key or value is empty, whose key is `host` or repeats an earlier
//! key once sanitized is left out (OpenTSDB rejects empty and duplicate tags). Knows nothing of
//! sockets or batching.

use super::number::write_i64;
use super::sanitize::write_path;
use super::tag_labels;
use super::template::{Layout, LineSink, LineTemplate};
use super::Metric;

/// The OpenTSDB telnet line, defined once.
pub struct Opentsdb;

impl Layout for Opentsdb {
    /// `put PREFIX.CHART.` · dim · ` TS ` · value · ` host=HOST[ tags]\n`.
    #[inline]
    fn line(sink: &mut impl LineSink, m: &Metric) {
        sink.text().extend_from_slice(b"put ");
        write_metric_name(sink, m);
        let out = sink.text();
        out.push(b' ');
        write_i64(out, m.timestamp);
        out.push(b' ');
        sink.value();
        let out = sink.text();
        write_tags(out, m);
        out.push(b'\n');
    }
}

/// Appends one `put` line for `m` to `out`. Returns `false`, writing nothing, when the value is
/// NaN or infinite.
pub fn write_line(out: &mut Vec<u8>, m: &Metric) -> bool {
    Opentsdb::write_line(out, m)
}

/// The lines of `m`'s chart in `m`'s window: see [`LineTemplate`].
pub fn template(m: &Metric) -> LineTemplate {
    Opentsdb::template(m)
}

/// `PREFIX.CHART.DIM`, sanitized: the OpenTSDB metric name (telnet and HTTP alike).
pub(crate) fn write_metric_name(sink: &mut impl LineSink, m: &Metric) {
    let out = sink.text();
    write_path(out, m.prefix);
    out.push(b'.');
    write_path(out, m.chart());
    out.push(b'.');
    sink.dim_path();
}

/// ` host=HOST` and ` key=value` for each label kept.
fn write_tags(out: &mut Vec<u8>, m: &Metric) {
    out.extend_from_slice(b" host=");
    write_path(out, m.hostname);
    for (k, v) in tag_labels(m.labels, "host") {
        out.push(b' ');
        write_path(out, k);
        out.push(b'=');
        write_path(out, v);
    }
}
