//! The JSON connectors: one object per metric, byte-for-byte the layout netdata's JSON backend
//! sends, including its stray spaces after `"chart_context":`, `"units":` and `"timestamp":`.
//!
//! * `json` (`json:plaintext`): one object per line over TCP or UDP, port 5448 by default;
//! * `json:http`, `json:https`: POSTs to `/api/put` (port 80 or 443 by default) of a JSON array
//!   (see [`json_array`](crate::export::format::json_array)) of the same objects, without
//!   their newlines, each body at most [`HTTP_BODY_MAX`] bytes.
//!
//! An object:
//!
//! ```text
//! {"prefix":"netdata","hostname":"h","chart_id":"system.cpu","chart_name":"system.cpu","chart_family":"cpu","chart_context": "system.cpu","chart_type":"system","units": "percentage","id":"user","name":"user","value":12.5000000,"timestamp": 1700000000}
//! ```
//!
//! With labels (the chart's, then the host's), `"labels":{"key":"value",…},` follows the
//! hostname (the first of several labels with the same key wins). Strings are JSON-escaped (see
//! [`sanitize`](crate::export::format::sanitize)),
//! never altered otherwise. Knows nothing of sockets or batching.

use super::ConnectorKind;
use crate::export::format::json_array::JsonArrayBody;
use crate::export::format::number::write_i64;
use crate::export::format::sanitize::write_json_str;
use crate::export::format::template::{Layout, LineSink, LineTemplate};
use crate::export::format::Metric;

/// The exporter types of the line connector.
pub const LINE_TYPES: &[(&str, ConnectorKind)] =
    &[("json", ConnectorKind::Json), ("json:plaintext", ConnectorKind::Json)];

/// The exporter types of the HTTP connector.
pub const HTTP_TYPES: &[(&str, ConnectorKind)] = &[
    ("json:http", ConnectorKind::JsonHttp { tls: false }),
    ("json:https", ConnectorKind::JsonHttp { tls: true }),
];

/// The port of a line destination that gives none (netdata's).
pub const LINE_PORT: u16 = 5448;

/// The path HTTP bodies are POSTed to (netdata's).
pub const HTTP_PATH: &str = "/api/put";

/// The largest HTTP body: 512 KiB.
pub const HTTP_BODY_MAX: usize = 512 * 1024;

/// The headers of an HTTP body, besides `Content-Length`.
pub const HTTP_HEADERS: &[(&str, &str)] = &[("Content-Type", "application/json")];

/// The JSON line, defined once: the object and a newline.
pub struct Json;

impl Layout for Json {
    const RESERVE: usize = 256;

    #[inline]
    fn line(sink: &mut impl LineSink, m: &Metric) {
        JsonObject::line(sink, m);
        sink.text().push(b'\n');
    }
}

/// The JSON object alone, as `json:http` bodies hold it.
pub struct JsonObject;

impl Layout for JsonObject {
    const RESERVE: usize = 256;

    /// Everything up to `"id":"` · id · `","name":"` · name · `","value":` · value ·
    /// `,"timestamp": TS}`.
    #[inline]
    fn line(sink: &mut impl LineSink, m: &Metric) {
        let out = sink.text();
        write_head(out, m);
        out.extend_from_slice(b"\"id\":\"");
        sink.dim_id_json();
        sink.text().extend_from_slice(b"\",\"name\":\"");
        sink.dim_name_json();
        sink.text().extend_from_slice(b"\",\"value\":");
        sink.value();
        let out = sink.text();
        out.extend_from_slice(b",\"timestamp\": ");
        write_i64(out, m.timestamp);
        out.push(b'}');
    }
}

/// Appends the JSON object for `m` and a newline. Returns `false`, writing nothing, when the
/// value is NaN or infinite.
pub fn write_line(out: &mut Vec<u8>, m: &Metric) -> bool {
    Json::write_line(out, m)
}

/// Appends the JSON object for `m`, without a trailing newline. Returns `false`, writing
/// nothing, when the value is NaN or infinite.
pub fn write_object(out: &mut Vec<u8>, m: &Metric) -> bool {
    JsonObject::write_line(out, m)
}

/// An empty HTTP body.
pub fn http_body() -> JsonArrayBody {
    JsonArrayBody::new(write_object)
}

/// The lines of `m`'s chart in `m`'s window: see [`LineTemplate`].
pub fn template(m: &Metric) -> LineTemplate {
    Json::template(m)
}

/// Appends `"name":"escaped value",` (the name is trusted and written as is).
#[inline]
fn field(out: &mut Vec<u8>, name: &[u8], value: &str) {
    out.extend_from_slice(name);
    write_json_str(out, value);
    out.extend_from_slice(b"\",");
}

/// Every field before the dimension's: `{"prefix":…,"units": "…",`.
fn write_head(out: &mut Vec<u8>, m: &Metric) {
    field(out, b"{\"prefix\":\"", m.prefix);
    field(out, b"\"hostname\":\"", m.hostname);
    if !m.labels.is_empty() {
        out.extend_from_slice(b"\"labels\":{");
        let mut first = true;
        for (i, (k, v)) in m.labels.iter().enumerate() {
            if m.labels[..i].iter().any(|(earlier, _)| earlier == k) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            write_json_str(out, k);
            out.extend_from_slice(b"\":\"");
            write_json_str(out, v);
            out.push(b'"');
        }
        out.extend_from_slice(b"},");
    }
    field(out, b"\"chart_id\":\"", m.chart_id);
    field(out, b"\"chart_name\":\"", m.chart_name);
    field(out, b"\"chart_family\":\"", m.family);
    field(out, b"\"chart_context\": \"", m.context);
    field(out, b"\"chart_type\":\"", m.chart_type);
    field(out, b"\"units\": \"", m.units);
}
