//! JSON lines: one object per metric, byte-for-byte the layout netdata's JSON backend sends,
//! including its stray spaces after `"chart_context":`, `"units":` and `"timestamp":`:
//!
//! ```text
//! {"prefix":"netdata","hostname":"h","chart_id":"system.cpu","chart_name":"system.cpu","chart_family":"cpu","chart_context": "system.cpu","chart_type":"system","units": "percentage","id":"user","name":"user","value":12.5000000,"timestamp": 1700000000}
//! ```
//!
//! With host labels, `"labels":{"key":"value",…},` follows the hostname (the first of several
//! labels with the same key wins). Strings are JSON-escaped (see [`sanitize`](super::sanitize)),
//! never altered otherwise. Knows nothing of sockets or batching.

use super::{sanitize::write_json_str, template::LineTemplate, write_value, Metric};

/// Appends `"name":"escaped value",` (the name is trusted and written as is).
#[inline]
fn field(out: &mut Vec<u8>, name: &[u8], value: &str) {
    out.extend_from_slice(name);
    write_json_str(out, value);
    out.extend_from_slice(b"\",");
}

/// Appends the JSON object for `m`, without a trailing newline. Returns `false`, writing
/// nothing, when the value is NaN or infinite.
pub fn write_object(out: &mut Vec<u8>, m: &Metric) -> bool {
    if !m.is_finite() {
        return false;
    }
    out.reserve(m.text_len() + 256);
    write_head(out, m);
    field(out, b"\"id\":\"", m.dim_id);
    field(out, b"\"name\":\"", m.dim_name);
    out.extend_from_slice(b"\"value\":");
    write_value(out, m.value);
    out.extend_from_slice(b",\"timestamp\": ");
    super::number::write_i64(out, m.timestamp);
    out.push(b'}');
    true
}

/// Every field before the dimension's: `{"prefix":…,"units": "…",`.
pub(crate) fn write_head(out: &mut Vec<u8>, m: &Metric) {
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

/// The lines of `m`'s chart in `m`'s window: see [`LineTemplate`].
pub fn template(m: &Metric) -> LineTemplate {
    super::template::json(m)
}

/// Appends the JSON object for `m` and a newline. Returns `false`, writing nothing, when the
/// value is NaN or infinite.
pub fn write_line(out: &mut Vec<u8>, m: &Metric) -> bool {
    let written = write_object(out, m);
    if written {
        out.push(b'\n');
    }
    written
}
