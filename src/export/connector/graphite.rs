//! The Graphite connector (`graphite`, `graphite:plaintext`): plaintext lines over TCP or UDP,
//! port 2003 by default, `PREFIX.HOSTNAME.CHART.DIM[;key=value]* VALUE TIMESTAMP\n`.
//!
//! Every path component and tag is sanitized (see [`sanitize`](super::sanitize)), so a line
//! always has exactly three space-separated fields, and the hostname's dots become `_`, so it is
//! always one path level. Chart and host labels become Graphite tags: a label whose
//! key or value is empty, or whose key repeats an earlier key once sanitized, is left out; one
//! named `name` (Graphite's own tag for the path) is sent as `exported_name`. Knows nothing of sockets or batching.

use super::ConnectorKind;
use crate::export::format::number::write_i64;
use crate::export::format::sanitize::{write_path, write_path_level};
use crate::export::format::template::{Layout, LineSink, LineTemplate};
use crate::export::format::Metric;
use crate::export::format::{prefix, tag_labels};

/// The exporter types that select it.
pub const TYPES: &[(&str, ConnectorKind)] =
    &[("graphite", ConnectorKind::Graphite), ("graphite:plaintext", ConnectorKind::Graphite)];

/// The port of a destination that gives none: carbon's plaintext listener.
pub const DEFAULT_PORT: u16 = 2003;

/// The Graphite line, defined once.
pub struct Graphite;

impl Layout for Graphite {
    /// `PREFIX.HOST.CHART.` · dim · `[;tags] ` · value · ` TS\n`.
    #[inline]
    fn line(sink: &mut impl LineSink, m: &Metric) {
        write_head(sink.text(), m);
        sink.dim_path();
        let out = sink.text();
        write_tags(out, m);
        out.push(b' ');
        sink.value();
        let out = sink.text();
        out.push(b' ');
        write_i64(out, m.timestamp);
        out.push(b'\n');
    }
}

/// Appends one Graphite line for `m` to `out`. Returns `false`, writing nothing, when the value
/// is NaN or infinite.
pub fn write_line(out: &mut Vec<u8>, m: &Metric) -> bool {
    Graphite::write_line(out, m)
}

/// The lines of `m`'s chart in `m`'s window: see [`LineTemplate`].
pub fn template(m: &Metric) -> LineTemplate {
    Graphite::template(m)
}

/// `PREFIX.HOST.CHART.`, sanitized; HOST is one level (its dots become `_`).
fn write_head(out: &mut Vec<u8>, m: &Metric) {
    write_path(out, m.prefix);
    out.push(b'.');
    write_path_level(out, m.hostname);
    out.push(b'.');
    write_path(out, m.chart());
    out.push(b'.');
}

/// `;key=value` for each label kept.
fn write_tags(out: &mut Vec<u8>, m: &Metric) {
    for (renamed, k, v) in tag_labels(m.labels, "name") {
        out.push(b';');
        out.extend_from_slice(prefix(renamed).as_bytes());
        write_path(out, k);
        out.push(b'=');
        write_path(out, v);
    }
}
