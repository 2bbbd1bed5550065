//! The OpenTSDB connectors: telnet lines and HTTP `/api/put` bodies.
//!
//! * `opentsdb` (`opentsdb:telnet`): lines over TCP or UDP, port 4242 by default,
//!   `put PREFIX.CHART.DIM TIMESTAMP VALUE host=HOSTNAME[ key=value]*\n`;
//! * `opentsdb:http`, `opentsdb:https`: POSTs to `/api/put` (port 80 or 443 by default) of a
//!   JSON array (see [`json_array`](crate::export::format::json_array)) of
//!   `{"metric":"PREFIX.CHART.DIM","timestamp":T,"value":V,"tags":{"host":"HOSTNAME","key":"value",…}}`,
//!   each body at most [`HTTP_BODY_MAX`] bytes.
//!
//! The metric name and every tag are sanitized (see [`sanitize`](crate::export::format::sanitize)),
//! so a line always parses as `put`, metric, timestamp, value and `key=value` tags, and an
//! object needs no JSON escaping. Chart and host labels become extra tags: a label whose key or
//! value is empty, or whose key repeats an earlier key once sanitized, is left out (OpenTSDB
//! rejects empty and duplicate tags); one named `host` is sent as `exported_host`. Knows nothing of sockets or batching.

use super::ConnectorKind;
use crate::export::format::json_array::JsonArrayBody;
use crate::export::format::number::write_i64;
use crate::export::format::sanitize::write_path;
use crate::export::format::template::{Layout, LineSink, LineTemplate};
use crate::export::format::Metric;
use crate::export::format::{prefix, tag_labels};

/// The exporter types of the telnet connector.
pub const TELNET_TYPES: &[(&str, ConnectorKind)] =
    &[("opentsdb", ConnectorKind::Opentsdb), ("opentsdb:telnet", ConnectorKind::Opentsdb)];

/// The exporter types of the HTTP connector.
pub const HTTP_TYPES: &[(&str, ConnectorKind)] = &[
    ("opentsdb:http", ConnectorKind::OpentsdbHttp { tls: false }),
    ("opentsdb:https", ConnectorKind::OpentsdbHttp { tls: true }),
];

/// The port of a telnet destination that gives none: the TSD's.
pub const TELNET_PORT: u16 = 4242;

/// The path HTTP bodies are POSTed to.
pub const HTTP_PATH: &str = "/api/put";

/// The largest HTTP body: 8 KiB. A stock OpenTSDB 2.x reads a larger body as a chunked
/// request and refuses it ("Chunked request not supported") unless
/// `tsd.http.request.enable_chunked` is on.
pub const HTTP_BODY_MAX: usize = 8 * 1024;

/// The headers of an HTTP body, besides `Content-Length`.
pub const HTTP_HEADERS: &[(&str, &str)] = &[("Content-Type", "application/json")];

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
fn write_metric_name(sink: &mut impl LineSink, m: &Metric) {
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
    for (renamed, k, v) in tag_labels(m.labels, "host") {
        out.push(b' ');
        out.extend_from_slice(prefix(renamed).as_bytes());
        write_path(out, k);
        out.push(b'=');
        write_path(out, v);
    }
}

/// The OpenTSDB `/api/put` object, defined once.
pub struct OpentsdbObject;

impl Layout for OpentsdbObject {
    const RESERVE: usize = 96;

    #[inline]
    fn line(sink: &mut impl LineSink, m: &Metric) {
        sink.text().extend_from_slice(b"{\"metric\":\"");
        write_metric_name(sink, m);
        let out = sink.text();
        out.extend_from_slice(b"\",\"timestamp\":");
        write_i64(out, m.timestamp);
        out.extend_from_slice(b",\"value\":");
        sink.value();
        let out = sink.text();
        out.extend_from_slice(b",\"tags\":{\"host\":\"");
        write_path(out, m.hostname);
        out.push(b'"');
        for (renamed, k, v) in tag_labels(m.labels, "host") {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(prefix(renamed).as_bytes());
            write_path(out, k);
            out.extend_from_slice(b"\":\"");
            write_path(out, v);
            out.push(b'"');
        }
        out.extend_from_slice(b"}}");
    }
}

/// An empty HTTP body.
pub fn http_body() -> JsonArrayBody {
    JsonArrayBody::new(write_http_object)
}

/// Appends the OpenTSDB `/api/put` object for `m`. Returns `false`, writing nothing, when the
/// value is NaN or infinite.
pub fn write_http_object(out: &mut Vec<u8>, m: &Metric) -> bool {
    OpentsdbObject::write_line(out, m)
}
