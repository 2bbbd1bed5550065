//! Writing the points of a `/api/v1/data` answer in netdata 1.37's formats.
//!
//! One job: bytes for `json`, `jsonp`, `datatable`, `datasource`, `csv`, `tsv`, `ssv`,
//! `ssvcomma`, `array`, `csvjsonarray`, `html` and `markdown`, with or without the `jsonwrap`
//! envelope, laid out as netdata lays them out (its spaces, its newest-first rows, its number
//! printing). Where netdata writes names unescaped, names are escaped here so that every answer
//! parses whatever the names hold: JSON strings, quoted CSV fields, HTML entities.
//!
//! Pure: local time comes in as a function ([`Civil`]), so tests fix the zone.

use super::query::{Points, EMPTY, RESET};
use super::request::{opt, Format, Group};
use crate::api::json::{write_int, write_number, write_str, write_str_inner, Quote};

/// A calendar time, as `localtime_r` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
}

/// What the envelope says besides the points.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// netdata's query id (`chart://host:…/instance:…/…`).
    pub id: String,
    /// Seconds per point.
    pub view_update_every: i64,
    /// The chart's seconds per slot.
    pub update_every: i64,
    /// The chart's oldest and newest slot (0 when none).
    pub first_entry: i64,
    /// See `first_entry`.
    pub last_entry: i64,
    /// The newest point's time.
    pub before: i64,
    /// The start of the oldest point.
    pub after: i64,
    /// The grouping.
    pub group: Group,
    /// The option bits as the window reports them.
    pub options: String,
}

/// Everything a formatter reads.
pub struct Answer<'a> {
    /// The points.
    pub points: &'a Points,
    /// The format.
    pub format: Format,
    /// Option bits.
    pub options: u32,
    /// The envelope, with `jsonwrap`.
    pub envelope: &'a Envelope,
    /// Local time of a timestamp.
    pub local: &'a dyn Fn(i64) -> Civil,
}

/// The largest and smallest values the formatter printed where netdata's formatters track
/// them (`percentage`, and the row sums of `ssv` and `array`).
#[derive(Default)]
struct Seen(Option<(f64, f64)>);

impl Seen {
    fn add(&mut self, v: f64) {
        self.0 = Some(self.0.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    }
}

impl Answer<'_> {
    fn has(&self, bit: u32) -> bool {
        self.options & bit != 0
    }

    fn quote(&self) -> Quote {
        if self.has(opt::GOOGLE_JSON) {
            Quote::Single
        } else {
            Quote::Double
        }
    }

    /// Indices of the dimensions shown. With `nonzero`, the ones with a value other than zero,
    /// or all of them when none has (netdata's: a chart with no data yet keeps its dimensions).
    fn shown(&self) -> impl Iterator<Item = usize> + '_ {
        let nonzero = self.has(opt::NONZERO) && self.points.dims.iter().any(|d| !d.hidden && d.nonzero);
        self.points
            .dims
            .iter()
            .enumerate()
            .filter(move |(_, d)| !d.hidden && (!nonzero || d.nonzero))
            .map(|(i, _)| i)
    }

    /// Row indices in output order: newest first unless `flip`.
    fn row_order(&self) -> Box<dyn Iterator<Item = usize>> {
        let n = self.points.rows();
        if self.has(opt::REVERSED) {
            Box::new(0..n)
        } else {
            Box::new((0..n).rev())
        }
    }

    /// The divisor of `percentage` for a row: the sum of every queried value (hidden ones
    /// too), 1 when it is zero.
    fn total(&self, values: &[f64]) -> f64 {
        if !self.has(opt::PERCENTAGE) {
            return 1.0;
        }
        let abs = self.has(opt::ABSOLUTE);
        let total: f64 = values.iter().map(|&n| if abs && n < 0.0 { -n } else { n }).sum();
        if total == 0.0 {
            1.0
        } else {
            total
        }
    }

    /// A shown value after `abs` and `percentage`.
    fn shown_value(&self, n: f64, total: f64) -> f64 {
        let n = if self.has(opt::ABSOLUTE) && n < 0.0 { -n } else { n };
        if self.has(opt::PERCENTAGE) {
            n * 100.0 / total
        } else {
            n
        }
    }

    /// One value as shown (`null` when empty), noting it in `seen` for `min`/`max` under
    /// `percentage`.
    fn write_cell(&self, out: &mut Vec<u8>, n: f64, flags: u8, total: f64, seen: &mut Seen) {
        if flags & EMPTY != 0 {
            self.write_empty(out);
            return;
        }
        let v = self.shown_value(n, total);
        if self.has(opt::PERCENTAGE) {
            seen.add(v);
        }
        write_number(out, v);
    }

    fn write_empty(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.has(opt::NULL2ZERO) { b"0" } else { b"null" });
    }

    /// A time as netdata prints it in the formats that take `seconds`/`ms`.
    fn write_seconds(&self, out: &mut Vec<u8>, t: i64) {
        write_int(out, t);
        if self.has(opt::MILLISECONDS) {
            out.extend_from_slice(b"000");
        }
    }
}

/// `Date(2026,11,7,15,24,7)`: JavaScript's month counts from 0.
fn write_js_date(out: &mut Vec<u8>, c: Civil) {
    out.extend_from_slice(b"Date(");
    write_int(out, c.year as i64);
    for v in [c.month as i64 - 1, c.day as i64, c.hour as i64, c.minute as i64, c.second as i64] {
        out.push(b',');
        write_int(out, v);
    }
    out.push(b')');
}

/// Appends `v` with at least two digits.
fn write_2(out: &mut Vec<u8>, v: u32) {
    if v < 10 {
        out.push(b'0');
    }
    write_int(out, v as i64);
}

/// `2026-12-07 15:24:01`.
fn write_date(out: &mut Vec<u8>, c: Civil) {
    write_int(out, c.year as i64);
    out.push(b'-');
    write_2(out, c.month);
    out.push(b'-');
    write_2(out, c.day);
    out.push(b' ');
    write_2(out, c.hour);
    out.push(b':');
    write_2(out, c.minute);
    out.push(b':');
    write_2(out, c.second);
}

/// Write the answer's body; returns it with the smallest and largest values for the envelope.
pub fn write(a: &Answer<'_>, out: &mut Vec<u8>) {
    let wrap = a.has(opt::JSON_WRAP);
    let string_result = matches!(
        a.format,
        Format::Ssv | Format::SsvComma | Format::Csv | Format::Markdown | Format::Tsv | Format::Html
    );
    let mut seen = Seen::default();
    if !wrap {
        write_result(a, out, false, &mut seen);
        return;
    }
    let q = a.quote();
    write_envelope_head(a, out);
    if string_result {
        let mut inner = Vec::new();
        write_result(a, &mut inner, true, &mut seen);
        out.push(q.char());
        write_str_inner(out, &String::from_utf8_lossy(&inner), q);
        out.push(q.char());
    } else {
        write_result(a, out, true, &mut seen);
    }
    let key = |out: &mut Vec<u8>, k: &str| write_key(out, k, q);
    let (min, max) = seen.0.or(a.points.min_max).map_or((f64::NAN, f64::NAN), |p| p);
    out.extend_from_slice(b",\n ");
    key(out, "min");
    out.extend_from_slice(b": ");
    write_number(out, min);
    out.extend_from_slice(b",\n ");
    key(out, "max");
    out.extend_from_slice(b": ");
    write_number(out, max);
    out.extend_from_slice(b"\n}\n");
}

/// The result itself; `wrapped` when inside the envelope (csv-like lines then end in `\n`).
fn write_result(a: &Answer<'_>, out: &mut Vec<u8>, wrapped: bool, seen: &mut Seen) {
    let nl: &str = if wrapped { "\n" } else { "\r\n" };
    match a.format {
        Format::Json | Format::Jsonp => write_json(a, out, false, seen),
        Format::Datatable | Format::Datasource => write_json(a, out, true, seen),
        Format::Ssv => write_ssv(a, out, "", " ", "", seen),
        Format::SsvComma => write_ssv(a, out, "", ",", "", seen),
        Format::Array => write_ssv(a, out, "[", ",", "]", seen),
        Format::Csv => write_csv(a, out, Table::Csv, "", ",", nl, "", seen),
        Format::Tsv => write_csv(a, out, Table::Tsv, "", "\t", nl, "", seen),
        Format::Markdown => write_csv(a, out, Table::Markdown, "", "|", nl, "", seen),
        Format::CsvJsonArray => {
            out.extend_from_slice(b"[\n");
            write_csv(a, out, Table::JsonArray, "[", ",", "]", ",\n", seen);
            out.extend_from_slice(b"\n]");
        }
        Format::Html => {
            out.extend_from_slice(
                b"<html>\n<center>\n<table border=\"0\" cellpadding=\"5\" cellspacing=\"5\">\n",
            );
            write_csv(a, out, Table::Html, "<tr><td>", "</td><td>", "</td></tr>\n", "", seen);
            out.extend_from_slice(b"</table>\n</center>\n</html>\n");
        }
    }
}

/// An envelope key, indented and quoted as the envelope's dialect wants: `   "k": `.
fn write_envelope_key(out: &mut Vec<u8>, k: &str, q: Quote) {
    out.extend_from_slice(b"   ");
    write_key(out, k, q);
    out.extend_from_slice(b": ");
}

/// A key as the dialect writes it: quoted in JSON, bare in Google's JavaScript.
fn write_key(out: &mut Vec<u8>, k: &str, q: Quote) {
    if q == Quote::Double {
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(k.as_bytes());
    }
}

/// `[a, b, …]` of the shown dimensions, each written by `item`; `empty` when none is shown.
fn write_envelope_list(
    out: &mut Vec<u8>,
    shown: &[usize],
    empty: &[u8],
    mut item: impl FnMut(&mut Vec<u8>, usize),
) {
    out.push(b'[');
    for (j, &c) in shown.iter().enumerate() {
        if j > 0 {
            out.extend_from_slice(b", ");
        }
        item(out, c);
    }
    if shown.is_empty() {
        out.extend_from_slice(empty);
    }
    out.extend_from_slice(b"],\n");
}

/// The envelope up to and including `"result": `.
fn write_envelope_head(a: &Answer<'_>, out: &mut Vec<u8>) {
    let q = a.quote();
    let shown: Vec<usize> = a.shown().collect();
    out.extend_from_slice(b"{\n");
    write_envelope_query(a, out);
    let rows = if shown.is_empty() { 0 } else { a.points.rows() };
    write_envelope_values(a, out, &shown, rows);
    write_envelope_key(out, "dimensions", q);
    write_int(out, if rows > 0 { shown.len() as i64 } else { 0 });
    out.extend_from_slice(b",\n");
    write_envelope_key(out, "points", q);
    write_int(out, rows as i64);
    out.extend_from_slice(b",\n");
    write_envelope_key(out, "format", q);
    write_str(out, a.format.as_str(), q);
    out.extend_from_slice(b",\n");
    write_envelope_key(out, "db_points_per_tier", q);
    out.extend_from_slice(b"[ ");
    write_int(out, a.points.slots_read as i64);
    out.extend_from_slice(b" ],\n");
    write_envelope_key(out, "result", q);
}

/// The envelope's account of the query: `api`, `id`, `name`, the times, `group` and `options`.
fn write_envelope_query(a: &Answer<'_>, out: &mut Vec<u8>) {
    let e = a.envelope;
    let q = a.quote();
    write_envelope_key(out, "api", q);
    out.extend_from_slice(b"1,\n");
    for k in ["id", "name"] {
        write_envelope_key(out, k, q);
        write_str(out, &e.id, q);
        out.extend_from_slice(b",\n");
    }
    for (k, v) in [
        ("view_update_every", e.view_update_every),
        ("update_every", e.update_every),
        ("first_entry", e.first_entry),
        ("last_entry", e.last_entry),
        ("before", e.before),
        ("after", e.after),
    ] {
        write_envelope_key(out, k, q);
        write_int(out, v);
        out.extend_from_slice(b",\n");
    }
    write_envelope_key(out, "group", q);
    write_str(out, e.group.as_str(), q);
    out.extend_from_slice(b",\n");
    write_envelope_key(out, "options", q);
    write_str(out, &e.options, q);
    out.extend_from_slice(b",\n");
}

/// The envelope's per-dimension lists: names, ids, `functions`, the latest stored values and
/// the newest shown row (`rows` of them are shown).
fn write_envelope_values(a: &Answer<'_>, out: &mut Vec<u8>, shown: &[usize], rows: usize) {
    let (p, q) = (a.points, a.quote());
    let mut no_data = Vec::new();
    write_str(&mut no_data, "no data", q);
    write_envelope_key(out, "dimension_names", q);
    write_envelope_list(out, shown, &no_data, |out, c| write_str(out, &p.dims[c].name, q));
    write_envelope_key(out, "dimension_ids", q);
    write_envelope_list(out, shown, &no_data, |out, c| write_str(out, &p.dims[c].id, q));
    write_envelope_key(out, "functions", q);
    out.extend_from_slice(b"[],\n");
    write_envelope_key(out, "latest_values", q);
    write_envelope_list(out, shown, b"null", |out, c| {
        write_number(out, p.dims[c].latest.unwrap_or(f64::NAN))
    });
    write_envelope_key(out, "view_latest_values", q);
    if rows == 0 {
        out.extend_from_slice(b"[null],\n");
        return;
    }
    let (values, flags) = p.row(rows - 1);
    let total = a.total(values);
    write_envelope_list(out, shown, b"null", |out, c| {
        if flags[c] & EMPTY != 0 {
            a.write_empty(out);
        } else {
            write_number(out, a.shown_value(values[c], total));
        }
    });
}

/// How [`write_json`] lays out its answer: Google's DataTable or plain json, which quotes, and
/// whether rows are objects.
struct JsonLayout {
    datatable: bool,
    google: bool,
    objectrows: bool,
    q: Quote,
}

impl JsonLayout {
    /// A key, quoted when the dialect is JSON.
    fn key(&self, out: &mut Vec<u8>, k: &str) {
        write_key(out, k, self.q);
    }
}

/// `json`, `jsonp` (`datatable = false`) and Google's DataTable (`datatable = true`).
fn write_json(a: &Answer<'_>, out: &mut Vec<u8>, datatable: bool, seen: &mut Seen) {
    let google = a.has(opt::GOOGLE_JSON);
    let l = JsonLayout {
        datatable,
        google,
        objectrows: !datatable && a.has(opt::OBJECTROWS),
        // The DataTable takes Google's dialect with google_json; plain json keeps JSON keys.
        q: if datatable && google { Quote::Single } else { Quote::Double },
    };
    let shown: Vec<usize> = a.shown().collect();
    if datatable {
        write_datatable_cols(a, out, &l, &shown);
    } else {
        write_json_labels(a, out, &shown);
    }
    if !shown.is_empty() {
        for (j, row) in a.row_order().enumerate() {
            if j > 0 {
                out.extend_from_slice(b",\n");
            }
            write_json_row(a, out, &l, &shown, row, seen);
        }
    }
    out.extend_from_slice(b"\n]\n}");
}

/// The DataTable's `cols` (time, two annotation columns, one per shown dimension) and the
/// opening of its `rows`.
fn write_datatable_cols(a: &Answer<'_>, out: &mut Vec<u8>, l: &JsonLayout, shown: &[usize]) {
    let (q, sq) = (l.q, l.q.char());
    out.extend_from_slice(b"{\n ");
    l.key(out, "cols");
    out.extend_from_slice(b":\n [\n");
    let col = |out: &mut Vec<u8>, label: &str, ty: &str, role: Option<&str>, lead: &[u8]| {
        out.extend_from_slice(lead);
        out.push(b'{');
        l.key(out, "id");
        out.extend_from_slice(&[b':', sq, sq, b',']);
        l.key(out, "label");
        out.push(b':');
        write_str(out, label, q);
        out.push(b',');
        l.key(out, "pattern");
        out.extend_from_slice(&[b':', sq, sq, b',']);
        l.key(out, "type");
        out.push(b':');
        write_str(out, ty, q);
        if let Some(role) = role {
            out.push(b',');
            l.key(out, "p");
            out.extend_from_slice(b":{");
            l.key(out, "role");
            out.push(b':');
            write_str(out, role, q);
            out.push(b'}');
        }
        out.push(b'}');
    };
    col(out, "time", "datetime", None, b"        ");
    out.extend_from_slice(b",\n");
    col(out, "", "string", Some("annotation"), b"        ");
    out.extend_from_slice(b",\n");
    col(out, "", "string", Some("annotationText"), b"        ");
    for &c in shown {
        col(out, &a.points.dims[c].name, "number", None, b",\n     ");
    }
    if shown.is_empty() {
        col(out, "no data", "number", None, b",\n     ");
    }
    out.extend_from_slice(b"\n  ],\n    ");
    l.key(out, "rows");
    out.extend_from_slice(b":\n [\n");
}

/// Plain json's `labels` (time, then the shown dimensions' names) and the opening of `data`.
fn write_json_labels(a: &Answer<'_>, out: &mut Vec<u8>, shown: &[usize]) {
    out.extend_from_slice(b"{\n \"labels\": [\"time\"");
    for &c in shown {
        out.push(b',');
        write_str(out, &a.points.dims[c].name, Quote::Double);
    }
    if shown.is_empty() {
        out.extend_from_slice(b",\"no data\"");
    }
    out.extend_from_slice(b"],\n    \"data\":\n [\n");
}

/// One row of `json` or the DataTable: its time, then a cell per shown dimension.
fn write_json_row(
    a: &Answer<'_>,
    out: &mut Vec<u8>,
    l: &JsonLayout,
    shown: &[usize],
    row: usize,
    seen: &mut Seen,
) {
    let p = a.points;
    let (values, flags) = p.row(row);
    if l.datatable {
        let reset = shown.iter().any(|&c| flags[c] & RESET != 0);
        write_datatable_row_head(a, out, l, p.times[row], reset);
    } else {
        out.extend_from_slice(if l.objectrows { b" { " } else { b" [ " });
        if l.objectrows {
            out.extend_from_slice(b"\"time\": ");
        }
        if l.google {
            out.extend_from_slice(b"new ");
            write_js_date(out, (a.local)(p.times[row]));
        } else {
            a.write_seconds(out, p.times[row]);
        }
    }
    let total = a.total(values);
    for &c in shown {
        if l.datatable {
            out.extend_from_slice(b",{");
            l.key(out, "v");
            out.push(b':');
        } else {
            out.push(b',');
            if l.objectrows {
                write_str(out, &p.dims[c].name, Quote::Double);
                out.extend_from_slice(b": ");
            }
        }
        a.write_cell(out, values[c], flags[c], total, seen);
        if l.datatable {
            out.push(b'}');
        }
    }
    out.extend_from_slice(if l.datatable {
        b"]}"
    } else if l.objectrows {
        b"}"
    } else {
        b"]"
    });
}

/// A DataTable row's time cell and its two annotation cells (a wrapped counter's note when
/// `reset`).
fn write_datatable_row_head(a: &Answer<'_>, out: &mut Vec<u8>, l: &JsonLayout, t: i64, reset: bool) {
    let sq = l.q.char();
    out.extend_from_slice(b"        {");
    l.key(out, "c");
    out.extend_from_slice(b":[{");
    l.key(out, "v");
    out.push(b':');
    out.push(sq);
    write_js_date(out, (a.local)(t));
    out.push(sq);
    out.push(b'}');
    let notes = if reset {
        [Some("RESET OR OVERFLOW"), Some("The counters have been wrapped.")]
    } else {
        [None, None]
    };
    for text in notes {
        out.extend_from_slice(b",{");
        l.key(out, "v");
        out.push(b':');
        match text {
            Some(s) => write_str(out, s, l.q),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

/// One number per point: the sum of the row's shown values (or max − min with `min2max`).
fn write_ssv(
    a: &Answer<'_>,
    out: &mut Vec<u8>,
    prefix: &str,
    separator: &str,
    suffix: &str,
    seen: &mut Seen,
) {
    let p = a.points;
    out.extend_from_slice(prefix.as_bytes());
    let shown: Vec<usize> = a.shown().collect();
    for (j, row) in a.row_order().enumerate() {
        if j > 0 {
            out.extend_from_slice(separator.as_bytes());
        }
        let (values, flags) = p.row(row);
        let total = a.total(values);
        let (mut sum, mut lo, mut hi, mut any) = (0.0, 0.0_f64, 0.0_f64, false);
        for &c in &shown {
            let n = if flags[c] & EMPTY != 0 { 0.0 } else { a.shown_value(values[c], total) };
            lo = lo.min(n);
            hi = hi.max(n);
            if flags[c] & EMPTY == 0 {
                any = true;
                sum += n;
            }
        }
        if !any {
            a.write_empty(out);
            continue;
        }
        let v = if a.has(opt::MIN2MAX) { hi - lo } else { sum };
        seen.add(v);
        write_number(out, v);
    }
    out.extend_from_slice(suffix.as_bytes());
}

/// How a table format writes a dimension name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Csv,
    Tsv,
    Markdown,
    Html,
    JsonArray,
}

impl Table {
    /// Append `s` so that it stays one cell of this table.
    fn write_label(self, out: &mut Vec<u8>, s: &str) {
        match self {
            Table::Csv => {
                if s.contains([',', '"', '\r', '\n']) {
                    out.push(b'"');
                    out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
                    out.push(b'"');
                } else {
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Table::Tsv => out.extend_from_slice(s.replace(['\t', '\r', '\n'], " ").as_bytes()),
            Table::Markdown => {
                out.extend_from_slice(s.replace('|', "\\|").replace(['\r', '\n'], " ").as_bytes())
            }
            Table::Html => {
                for c in s.chars() {
                    match c {
                        '&' => out.extend_from_slice(b"&amp;"),
                        '<' => out.extend_from_slice(b"&lt;"),
                        '>' => out.extend_from_slice(b"&gt;"),
                        '"' => out.extend_from_slice(b"&quot;"),
                        c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
            }
            Table::JsonArray => write_str(out, s, Quote::Double),
        }
    }
}

/// The table formats: a header line of names, then one line per point.
#[allow(clippy::too_many_arguments)]
fn write_csv(
    a: &Answer<'_>,
    out: &mut Vec<u8>,
    table: Table,
    startline: &str,
    separator: &str,
    endline: &str,
    betweenlines: &str,
    seen: &mut Seen,
) {
    let p = a.points;
    let shown: Vec<usize> = a.shown().collect();
    if !shown.is_empty() {
        out.extend_from_slice(startline.as_bytes());
        table.write_label(out, "time");
        for &c in &shown {
            out.extend_from_slice(separator.as_bytes());
            table.write_label(out, &p.dims[c].name);
        }
    }
    out.extend_from_slice(endline.as_bytes());
    if table == Table::Markdown && !shown.is_empty() {
        out.extend_from_slice(startline.as_bytes());
        out.extend_from_slice(b":---:");
        for _ in &shown {
            out.extend_from_slice(separator.as_bytes());
            out.extend_from_slice(b":---:");
        }
        out.extend_from_slice(endline.as_bytes());
    }
    if shown.is_empty() {
        return;
    }
    let seconds = a.has(opt::SECONDS) || a.has(opt::MILLISECONDS);
    for row in a.row_order() {
        out.extend_from_slice(betweenlines.as_bytes());
        out.extend_from_slice(startline.as_bytes());
        let t = p.times[row];
        if seconds {
            a.write_seconds(out, t);
        } else if table == Table::JsonArray {
            // netdata prints the date bare here, which is not JSON: quoted.
            out.push(b'"');
            write_date(out, (a.local)(t));
            out.push(b'"');
        } else {
            write_date(out, (a.local)(t));
        }
        let (values, flags) = p.row(row);
        let total = a.total(values);
        for &c in &shown {
            out.extend_from_slice(separator.as_bytes());
            a.write_cell(out, values[c], flags[c], total, seen);
        }
        out.extend_from_slice(endline.as_bytes());
    }
}
