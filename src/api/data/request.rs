//! The parameters of `/api/v1/data`, as netdata 1.37 spells them.
//!
//! One job: turn the query string into a [`DataRequest`], or a 400 reason naming the
//! parameter. netdata silently falls back to defaults on words it does not know; here a word
//! that is not one of netdata's is an error, so that a typo does not quietly answer something
//! else. Pure.

use super::super::Query;

/// `after`/`before` values up to this magnitude are relative (3 years, netdata's
/// `API_RELATIVE_TIME_MAX`).
pub const RELATIVE_TIME_MAX: i64 = 3 * 365 * 86_400;

/// The largest time or duration a parameter may give, seconds (about 35 000 years): beyond it
/// a value means nothing, and the arithmetic on it stays far from overflowing.
pub const TIME_MAX: i64 = 1 << 40;

/// Option bits (netdata's `RRDR_OPTION_*`).
pub mod opt {
    /// Hide dimensions whose values are all zero.
    pub const NONZERO: u32 = 1 << 0;
    /// Oldest row first.
    pub const REVERSED: u32 = 1 << 1;
    /// The `jsonwrap` envelope.
    pub const JSON_WRAP: u32 = 1 << 2;
    /// `ssv`/`array` rows: max − min instead of the sum.
    pub const MIN2MAX: u32 = 1 << 3;
    /// Times in milliseconds.
    pub const MILLISECONDS: u32 = 1 << 4;
    /// Negative values as positive.
    pub const ABSOLUTE: u32 = 1 << 5;
    /// Badges only in netdata: accepted, no effect on data.
    pub const DISPLAY_ABS: u32 = 1 << 6;
    /// Times in seconds (csv-like formats print dates otherwise).
    pub const SECONDS: u32 = 1 << 7;
    /// Empty slots as 0 instead of null.
    pub const NULL2ZERO: u32 = 1 << 8;
    /// Rows as objects keyed by dimension name.
    pub const OBJECTROWS: u32 = 1 << 9;
    /// Google's JavaScript dialect.
    pub const GOOGLE_JSON: u32 = 1 << 10;
    /// Each value as a percentage of its row's total.
    pub const PERCENTAGE: u32 = 1 << 11;
    /// Do not align points to multiples of the group.
    pub const NOT_ALIGNED: u32 = 1 << 12;
    /// Match `dimensions` against ids only.
    pub const MATCH_IDS: u32 = 1 << 13;
    /// Match `dimensions` against names only.
    pub const MATCH_NAMES: u32 = 1 << 14;
    /// Query a chosen tier: the store has one, so no effect.
    pub const SELECTED_TIER: u32 = 1 << 15;
    /// Points at the chart's own resolution.
    pub const NATURAL_POINTS: u32 = 1 << 16;
    /// Points at any resolution.
    pub const VIRTUAL_POINTS: u32 = 1 << 17;
}

/// netdata's option words in netdata's table order: the first word of a bit is the one the
/// `jsonwrap` envelope and the query id print.
const OPTIONS: &[(&str, u32)] = &[
    ("nonzero", opt::NONZERO),
    ("flip", opt::REVERSED),
    ("reversed", opt::REVERSED),
    ("reverse", opt::REVERSED),
    ("jsonwrap", opt::JSON_WRAP),
    ("min2max", opt::MIN2MAX),
    ("ms", opt::MILLISECONDS),
    ("milliseconds", opt::MILLISECONDS),
    ("abs", opt::ABSOLUTE),
    ("absolute", opt::ABSOLUTE),
    ("absolute_sum", opt::ABSOLUTE),
    ("absolute-sum", opt::ABSOLUTE),
    ("display_absolute", opt::DISPLAY_ABS),
    ("display-absolute", opt::DISPLAY_ABS),
    ("seconds", opt::SECONDS),
    ("null2zero", opt::NULL2ZERO),
    ("objectrows", opt::OBJECTROWS),
    ("google_json", opt::GOOGLE_JSON),
    ("google-json", opt::GOOGLE_JSON),
    ("percentage", opt::PERCENTAGE),
    ("unaligned", opt::NOT_ALIGNED),
    ("match_ids", opt::MATCH_IDS),
    ("match-ids", opt::MATCH_IDS),
    ("match_names", opt::MATCH_NAMES),
    ("match-names", opt::MATCH_NAMES),
    ("selected-tier", opt::SELECTED_TIER),
    ("natural-points", opt::NATURAL_POINTS),
    ("virtual-points", opt::VIRTUAL_POINTS),
];

/// netdata's option words that need what the store does not keep (anomaly bits, tiers of
/// raw points, lists across contexts).
const UNSUPPORTED_OPTIONS: &[&str] = &["anomaly-bit", "raw", "jw-anomaly-rates", "all-dimensions"];

/// Write the option words of `bits` as netdata does: comma-separated, one word per bit.
pub fn options_to_string(bits: u32, out: &mut String) {
    let mut used = 0;
    for &(name, bit) in OPTIONS {
        if bits & bit != 0 && used & bit == 0 {
            if used != 0 {
                out.push(',');
            }
            out.push_str(name);
            used |= bit;
        }
    }
}

/// How the slots of one point become its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// The mean (netdata also says `mean`).
    Average,
    /// The value of smallest magnitude, as netdata picks it.
    Min,
    /// The value of largest magnitude, as netdata picks it.
    Max,
    /// The sum.
    Sum,
    /// The median.
    Median,
    /// The sample standard deviation.
    Stddev,
    /// The last value minus the first.
    IncrementalSum,
}

impl Group {
    /// Parse netdata's word.
    pub fn parse(s: &str) -> Option<Group> {
        Some(match s {
            "average" | "mean" => Group::Average,
            "min" => Group::Min,
            "max" => Group::Max,
            "sum" => Group::Sum,
            "median" => Group::Median,
            "stddev" => Group::Stddev,
            "incremental-sum" | "incremental_sum" => Group::IncrementalSum,
            _ => return None,
        })
    }

    /// netdata's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Average => "average",
            Group::Min => "min",
            Group::Max => "max",
            Group::Sum => "sum",
            Group::Median => "median",
            Group::Stddev => "stddev",
            Group::IncrementalSum => "incremental-sum",
        }
    }
}

/// netdata 1.37's grouping words that this store does not compute.
const OTHER_GROUPS: &[&str] =
    &["trimmed-mean", "trimmed-median", "percentile", "cv", "rsd", "ses", "ema", "ewma", "des", "countif"];

/// The shape of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{labels, data}`.
    Json,
    /// `json` inside `callback(…);`.
    Jsonp,
    /// Google's DataTable as JSON.
    Datatable,
    /// Google's DataTable inside its JSONP response.
    Datasource,
    /// Comma-separated, one row per point.
    Csv,
    /// Tab-separated.
    Tsv,
    /// One number per point (the row's sum), space-separated.
    Ssv,
    /// One number per point, comma-separated.
    SsvComma,
    /// One number per point, as a JSON array.
    Array,
    /// Rows as JSON arrays.
    CsvJsonArray,
    /// An HTML table.
    Html,
    /// A Markdown table.
    Markdown,
}

/// The formats, by netdata's word.
const FORMATS: &[(&str, Format)] = &[
    ("json", Format::Json),
    ("jsonp", Format::Jsonp),
    ("datatable", Format::Datatable),
    ("datasource", Format::Datasource),
    ("csv", Format::Csv),
    ("tsv", Format::Tsv),
    ("tsv-excel", Format::Tsv),
    ("ssv", Format::Ssv),
    ("ssvcomma", Format::SsvComma),
    ("array", Format::Array),
    ("csvjsonarray", Format::CsvJsonArray),
    ("html", Format::Html),
    ("markdown", Format::Markdown),
];

impl Format {
    /// Parse netdata's word.
    pub fn parse(s: &str) -> Option<Format> {
        FORMATS.iter().find(|(n, _)| *n == s).map(|&(_, f)| f)
    }

    /// netdata's word, as the envelope prints it.
    pub fn as_str(self) -> &'static str {
        FORMATS.iter().find(|(_, f)| *f == self).map_or("json", |&(n, _)| n)
    }
}

/// What Google's `tqx` parameter asked (`datasource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Google {
    /// `version`.
    pub version: String,
    /// `reqId`.
    pub req_id: String,
    /// `sig`: the last time the client has; the answer is "not modified" unless newer data exists.
    pub sig: i64,
}

/// A parsed `/api/v1/data` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRequest {
    /// Chart id or name.
    pub chart: String,
    /// The `dimension(s)` patterns as netdata joins them: each value after a `|`.
    pub dimensions: Option<String>,
    /// `after`, as given (default −600).
    pub after: i64,
    /// `before`, as given (default 0).
    pub before: i64,
    /// `points` (0: every point).
    pub points: i64,
    /// `gtime`: resampling time, seconds (0: none).
    pub gtime: i64,
    /// `group`.
    pub group: Group,
    /// `format`.
    pub format: Format,
    /// Option bits ([`opt`]).
    pub options: u32,
    /// `callback` (JSONP function), made safe.
    pub callback: Option<String>,
    /// `filename` for `Content-Disposition`, made safe.
    pub filename: Option<String>,
    /// Google's `tqx` details.
    pub google: Google,
}

/// `(parameter, value)` pairs netdata reads: empty values are skipped, as netdata does.
fn given<'a>(q: &'a Query, names: &[&'a str]) -> Option<&'a str> {
    names.iter().find_map(|n| q.all(n).find(|v| !v.is_empty()))
}

fn int(q: &Query, name: &str, default: i64) -> Result<i64, String> {
    match given(q, &[name]).map(str::trim) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("parameter '{name}' must be an integer, not '{v}'")),
    }
}

/// netdata's `fix_google_param`: anything but letters, digits, `.`, `_` and `-` becomes `_`, so
/// a callback name or file name cannot break out of its place.
pub fn safe_word(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect()
}

impl DataRequest {
    /// Parse the query of a `/api/v1/data` request.
    pub fn parse(q: &Query) -> Result<DataRequest, String> {
        let Some(chart) = given(q, &["chart"]) else {
            return Err(if given(q, &["context"]).is_some() {
                "parameter 'context' is not supported; give 'chart' (a chart id or name)".into()
            } else {
                "No chart or context is given: add chart=ID".into()
            });
        };
        let points = int(q, "points", 0)?;
        if points < 0 {
            return Err(format!("parameter 'points' must be 0 (every point) or more, not {points}"));
        }
        let gtime = int(q, "gtime", 0)?;
        if !(0..=TIME_MAX).contains(&gtime) {
            return Err(format!("parameter 'gtime' must be 0 to {TIME_MAX} seconds, not {gtime}"));
        }
        let mut request = DataRequest {
            chart: chart.to_string(),
            dimensions: dimensions(q),
            after: 0,
            before: 0,
            points,
            gtime,
            group: group(q)?,
            format: format(q)?,
            options: options(q)?,
            callback: given(q, &["callback"]).map(safe_word),
            filename: given(q, &["filename"]).map(safe_word),
            google: Google { version: "0.6".into(), req_id: "0".into(), sig: 0 },
        };
        if let Some(tqx) = given(q, &["tqx"]) {
            request.apply_tqx(tqx);
        }
        request.after = int(q, "after", -600)?.clamp(-TIME_MAX, TIME_MAX);
        request.before = int(q, "before", 0)?.clamp(-TIME_MAX, TIME_MAX);
        Ok(request)
    }

    /// Google's `tqx` (`name:value;…`): its details, and the format, callback and file name it
    /// may set over the plain parameters.
    fn apply_tqx(&mut self, tqx: &str) {
        for item in tqx.split(';') {
            let Some((name, value)) = item.split_once(':') else { continue };
            if name.is_empty() || value.is_empty() {
                continue;
            }
            match name {
                "version" => self.google.version = safe_word(value),
                "reqId" => self.google.req_id = safe_word(value),
                "sig" => self.google.sig = value.trim().parse().unwrap_or(0),
                "out" => {
                    self.format = match value {
                        "json" => Format::Datasource,
                        "html" => Format::Html,
                        "csv" => Format::Csv,
                        "tsv-excel" => Format::Tsv,
                        _ => Format::Json,
                    }
                }
                "responseHandler" => self.callback = Some(safe_word(value)),
                "outFileName" => self.filename = Some(safe_word(value)),
                _ => {}
            }
        }
    }
}

/// `dimension`, `dim`, `dimensions` and `dims`, joined as netdata joins them: each value after
/// a `|`; `None` when none is given.
fn dimensions(q: &Query) -> Option<String> {
    let mut dimensions: Option<String> = None;
    for name in ["dimension", "dim", "dimensions", "dims"] {
        for value in q.all(name).filter(|v| !v.is_empty()) {
            let d = dimensions.get_or_insert_with(String::new);
            d.push('|');
            d.push_str(value);
        }
    }
    dimensions
}

/// `group` (default average).
fn group(q: &Query) -> Result<Group, String> {
    match given(q, &["group"]) {
        None => Ok(Group::Average),
        Some(g) => Group::parse(g).ok_or_else(|| {
            let known = OTHER_GROUPS.iter().any(|o| g.starts_with(o));
            format!(
                "parameter 'group' {} '{g}'; use average, min, max, sum, median, stddev or incremental-sum",
                if known { "does not support" } else { "does not know" }
            )
        }),
    }
}

/// `format` (default json).
fn format(q: &Query) -> Result<Format, String> {
    match given(q, &["format"]) {
        None => Ok(Format::Json),
        Some(f) => Format::parse(f).ok_or_else(|| {
            format!(
                "parameter 'format' does not know '{f}'; use json, jsonp, datatable, datasource, csv, tsv, \
                 ssv, ssvcomma, array, csvjsonarray, html or markdown"
            )
        }),
    }
}

/// Every `options` word (separated by `,`, ` ` or `|`) as [`opt`] bits.
fn options(q: &Query) -> Result<u32, String> {
    let mut options = 0;
    for value in q.all("options") {
        for word in value.split([',', ' ', '|']).filter(|w| !w.is_empty()) {
            options |= option_bit(word)?;
        }
    }
    Ok(options)
}

/// The [`opt`] bit of one `options` word.
fn option_bit(word: &str) -> Result<u32, String> {
    if let Some(&(_, bit)) = OPTIONS.iter().find(|(n, _)| *n == word) {
        return Ok(bit);
    }
    if UNSUPPORTED_OPTIONS.contains(&word) {
        return Err(format!("parameter 'options': '{word}' is not supported here"));
    }
    Err(format!(
        "parameter 'options' does not know '{word}'; use jsonwrap, seconds, ms, flip, nonzero, null2zero, abs, \
         percentage, min2max, objectrows, google_json, unaligned, match-ids, match-names"
    ))
}
