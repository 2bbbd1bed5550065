//! `format=shell` and `format=json`: each dimension's last stored value, in netdata 1.37's
//! shapes.
//!
//! Shell: one block per chart, `NETDATA_CHART_DIM="rounded value"      # units` (names upper
//! case, every other byte `_`, at most 100 bytes each as netdata), then the chart's
//! `_VISIBLETOTAL`. JSON: `{id: {name, family, context, units, last_updated, dimensions: {id:
//! {name, value}}}}` with netdata's whitespace, every string escaped (netdata 1.37 writes them
//! raw, so one quote in an id breaks the document). Text from plugins that lands in a shell
//! comment has its line breaks written as `\n`, so a chart cannot add shell commands.
//! Pure: no I/O, no clock.

use crate::export::format::number;
use crate::export::format::sanitize::write_json_str;
use crate::rrd::{storage_number, ChartData, Host};

use super::Options;

/// netdata's limit on a chart's or dimension's part of a shell variable name.
const SHELL_ELEMENT_MAX: usize = 100;

/// Whether dimension `i` of `d` is written: collected at least once and not obsolete.
fn shown(d: &ChartData, i: usize) -> bool {
    let dim = &d.dims[i];
    dim.last_collected_ut != 0 && !dim.obsolete
}

/// Dimension `i`'s last stored value (NaN when that slot is empty), as netdata's
/// `last_stored_value`.
fn last_stored(d: &ChartData, i: usize) -> f64 {
    match d.last_entry_t() {
        Some(t) => {
            let n = d.value_at(i, t);
            if storage_number::exists(n) {
                storage_number::unpack(n)
            } else {
                f64::NAN
            }
        }
        None => f64::NAN,
    }
}

/// Appends `s` as netdata's shell names: ASCII letters and digits upper-cased, every other
/// byte `_`, at most [`SHELL_ELEMENT_MAX`] bytes.
fn write_shell_name(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().take(SHELL_ELEMENT_MAX).map(|b| {
        if b.is_ascii_alphanumeric() {
            b.to_ascii_uppercase()
        } else {
            b'_'
        }
    }));
}

/// Appends `s` inside a `#` comment: a line break becomes `\n` (and `\` `\\`), so the
/// comment stays one line.
pub(super) fn write_comment_text(out: &mut Vec<u8>, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'\n' | b'\r' | b'\\')) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for b in s.bytes() {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
}

/// Appends `v` rounded half away from zero, with no decimals (C's `%0.0f` of `round(v)`).
fn write_rounded(out: &mut Vec<u8>, v: f64) {
    let r = v.round();
    if r.abs() < 9e15 {
        // Exact as an integer; keep C's `-0` for a negative value that rounds to zero.
        if r == 0.0 && r.is_sign_negative() {
            out.extend_from_slice(b"-0");
        } else {
            number::write_i64(out, r as i64);
        }
    } else {
        out.extend_from_slice(format!("{r:.0}").as_bytes());
    }
}

/// Writes `format=shell` for `host`.
pub(super) fn write_shell(out: &mut Vec<u8>, host: &Host, opts: &Options) {
    let mut var = Vec::with_capacity(2 * SHELL_ELEMENT_MAX + 16);
    for chart in host.charts() {
        let d = chart.read();
        let m = &d.meta;
        if m.obsolete || !opts.wants(&m.id, &m.name) {
            continue;
        }
        out.extend_from_slice(b"\n# chart: ");
        write_comment_text(out, &m.id);
        out.extend_from_slice(b" (name: ");
        write_comment_text(out, &m.name);
        out.extend_from_slice(b")\n");
        var.clear();
        var.extend_from_slice(b"NETDATA_");
        write_shell_name(&mut var, &m.name);
        var.push(b'_');
        let chart_len = var.len();
        let mut total = 0.0;
        for i in 0..d.dims.len() {
            if !shown(&d, i) {
                continue;
            }
            var.truncate(chart_len);
            write_shell_name(&mut var, d.names.name(i));
            out.extend_from_slice(&var);
            out.extend_from_slice(b"=\"");
            let mut n = last_stored(&d, i);
            if n.is_finite() {
                let dim = &d.dims[i];
                if dim.multiplier < 0 || dim.divisor < 0 {
                    n = -n;
                }
                n = n.round();
                if !dim.hidden {
                    total += n;
                }
                write_rounded(out, n);
            }
            out.extend_from_slice(b"\"      # ");
            write_comment_text(out, &m.units);
            out.push(b'\n');
        }
        var.truncate(chart_len);
        out.extend_from_slice(&var);
        out.extend_from_slice(b"VISIBLETOTAL=\"");
        write_rounded(out, total);
        out.extend_from_slice(b"\"      # ");
        write_comment_text(out, &m.units);
        out.push(b'\n');
    }
    out.extend_from_slice(b"\n# NETDATA ALARMS RUNNING\n");
}

/// Appends `"s"`, escaped.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_json_str(out, s);
    out.push(b'"');
}

/// Writes `format=json` for `host`.
pub(super) fn write_json(out: &mut Vec<u8>, host: &Host, opts: &Options) {
    out.push(b'{');
    let mut charts = 0;
    for chart in host.charts() {
        let d = chart.read();
        let m = &d.meta;
        if m.obsolete || !opts.wants(&m.id, &m.name) {
            continue;
        }
        if charts > 0 {
            out.push(b',');
        }
        charts += 1;
        out.extend_from_slice(b"\n\t");
        write_json_string(out, &m.id);
        out.extend_from_slice(b": {\n\t\t\"name\":");
        write_json_string(out, &m.name);
        out.extend_from_slice(b",\n\t\t\"family\":");
        write_json_string(out, &m.family);
        out.extend_from_slice(b",\n\t\t\"context\":");
        write_json_string(out, &m.context);
        out.extend_from_slice(b",\n\t\t\"units\":");
        write_json_string(out, &m.units);
        out.extend_from_slice(b",\n\t\t\"last_updated\": ");
        number::write_i64(out, d.last_entry_t().unwrap_or(0));
        out.extend_from_slice(b",\n\t\t\"dimensions\": {");
        let mut dims = 0;
        for i in 0..d.dims.len() {
            if !shown(&d, i) {
                continue;
            }
            if dims > 0 {
                out.push(b',');
            }
            dims += 1;
            out.extend_from_slice(b"\n\t\t\t");
            write_json_string(out, d.names.id(i));
            out.extend_from_slice(b": {\n\t\t\t\t\"name\": ");
            write_json_string(out, d.names.name(i));
            out.extend_from_slice(b",\n\t\t\t\t\"value\": ");
            if !number::write_f64(out, last_stored(&d, i)) {
                out.extend_from_slice(b"null");
            }
            out.extend_from_slice(b"\n\t\t\t}");
        }
        out.extend_from_slice(b"\n\t\t}\n\t}");
    }
    out.extend_from_slice(b"\n}");
}
