//! The plugins.d line parser: one line of bytes in, one [`Command`] out.
//!
//! One job: split a line into words the way netdata does and turn the words into a typed
//! command, with netdata's defaults for missing fields. It does no I/O, reads no clock and
//! knows nothing about the store or about processes; [`super::session`] applies the commands.
//!
//! # Words
//! Words are separated by spaces, tabs, carriage returns, newlines and `=` (netdata treats `=` as
//! a separator too, so `SET x = 1`, `SET x=1` and `SET x 1` are the same command). A word that
//! starts with `'` or `"` runs to the matching quote, which is removed: it may be empty and may
//! contain separators. Inside a quoted word, a backslash before the quote character or before
//! another backslash escapes it; any other backslash is kept as is. A quote that is missing its
//! closing partner runs to the end of the line. Bytes that are not UTF-8 are replaced with
//! U+FFFD.
//!
//! # Values
//! `SET` takes a signed 64-bit integer. Some plugins send decimals (`12.7`): those are rounded to
//! the nearest integer (`13`), and `0x`-prefixed hexadecimal is accepted too. An empty value
//! means "not collected this time".
//!
//! # Forgiveness
//! Like netdata, metadata that cannot be understood falls back to a default instead of failing
//! the line (an unknown algorithm becomes `absolute`, an unknown chart type `line`, a bad
//! priority 1000); each fallback is reported as a [`ParseWarning`] on the command so the caller
//! can log it. Keywords this parser does not know are not errors: they come back as
//! [`Command::Ignored`].

use std::borrow::Cow;
use std::fmt;

use crate::logs::Escaped;
use crate::rrd::{Algorithm, ChartType};

/// Default chart priority when the CHART line gives none.
pub const DEFAULT_PRIORITY: i64 = 1000;

/// One parsed line.
#[derive(Clone, Debug, PartialEq)]
pub enum Command<'a> {
    /// A blank line.
    Empty,
    /// `CHART`: define or redefine a chart.
    Chart(ChartCmd<'a>),
    /// `DIMENSION`: add or redefine a dimension of the last chart defined.
    Dimension(DimensionCmd<'a>),
    /// `BEGIN type.id [microseconds]`: start a collection of a chart.
    Begin {
        /// `type.id` of the chart.
        id: Cow<'a, str>,
        /// Microseconds since the previous collection, as the plugin measured them; `None` or 0
        /// means "time it by arrival".
        microseconds: Option<u64>,
    },
    /// `SET id = value`: one collected value inside a BEGIN/END block.
    Set {
        /// Dimension id.
        id: Cow<'a, str>,
        /// The raw value; `None` means not collected this time.
        value: Option<i64>,
    },
    /// `END`: store the collection started by BEGIN.
    End,
    /// `FLUSH`: discard the collection started by BEGIN.
    Flush,
    /// `DISABLE`: the plugin asks not to be run again.
    Disable,
    /// `VARIABLE [HOST|CHART] name = value`: a custom variable (accepted, not used).
    Variable {
        /// `HOST`/`GLOBAL` or `CHART`/`LOCAL`; `None` when not given.
        scope: Option<VariableScope>,
        /// Variable name.
        name: Cow<'a, str>,
        /// Its value.
        value: f64,
    },
    /// `LABEL name = source value`: a host label, held until `OVERWRITE`. A value of several
    /// unquoted words is their join with single spaces, as netdata reads it.
    Label {
        /// The label's name, as sent.
        name: Cow<'a, str>,
        /// netdata's source bits (`1` automatic, `2` configured, …); 0 when not a number.
        source: u32,
        /// The value, as sent.
        value: Cow<'a, str>,
    },
    /// `OVERWRITE labels`: the host's labels become those sent by `LABEL` since the last one.
    Overwrite,
    /// `CLABEL name value source`: a label of the chart last defined or begun, held until
    /// `CLABEL_COMMIT`.
    Clabel {
        /// The label's name, as sent.
        name: Cow<'a, str>,
        /// The value, as sent.
        value: Cow<'a, str>,
        /// netdata's source bits; 0 when not a number.
        source: u32,
    },
    /// `CLABEL_COMMIT`: the chart's labels become those sent by `CLABEL` since the last one.
    ClabelCommit,
    /// A keyword this parser does not handle (FUNCTION, HOST_DEFINE, …), or text
    /// that is not a keyword at all. Holds the first word of the line.
    Ignored(Cow<'a, str>),
}

/// Where a `VARIABLE` applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableScope {
    /// `HOST` or `GLOBAL`.
    Host,
    /// `CHART` or `LOCAL`.
    Chart,
}

/// Options of a CHART line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChartOptions {
    /// `obsolete`: the chart is no longer collected.
    pub obsolete: bool,
    /// `detail`: a detail chart.
    pub detail: bool,
    /// `store_first`: store the first collection.
    pub store_first: bool,
    /// `hidden`: hidden from dashboards.
    pub hidden: bool,
}

/// Options of a DIMENSION line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DimensionOptions {
    /// `hidden`: stored and exported, not drawn.
    pub hidden: bool,
    /// `obsolete`: no longer collected.
    pub obsolete: bool,
    /// `noreset`: do not flag counter resets.
    pub noreset: bool,
    /// `nooverflow`: do not detect counter overflows.
    pub nooverflow: bool,
}

/// A parsed CHART line, with netdata's defaults applied to missing fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartCmd<'a> {
    /// `type.id`.
    pub id: Cow<'a, str>,
    /// Name without the type; empty means "use the id".
    pub name: Cow<'a, str>,
    /// Title.
    pub title: Cow<'a, str>,
    /// Units.
    pub units: Cow<'a, str>,
    /// Family; empty lets the store use the type.
    pub family: Cow<'a, str>,
    /// Context; empty lets the store use the id.
    pub context: Cow<'a, str>,
    /// Chart type (`line` when missing or unknown).
    pub chart_type: ChartType,
    /// Priority ([`DEFAULT_PRIORITY`] when missing or bad).
    pub priority: i64,
    /// Seconds between collections; 0 when missing, meaning "the plugin's update every".
    pub update_every: u32,
    /// Options.
    pub options: ChartOptions,
    /// Producing plugin; empty when missing.
    pub plugin: Cow<'a, str>,
    /// Producing module; empty when missing.
    pub module: Cow<'a, str>,
    /// Fields that fell back to a default.
    pub warnings: Vec<ParseWarning>,
}

/// A parsed DIMENSION line, with netdata's defaults applied to missing fields.
#[derive(Clone, Debug, PartialEq)]
pub struct DimensionCmd<'a> {
    /// Dimension id.
    pub id: Cow<'a, str>,
    /// Name; empty means "use the id".
    pub name: Cow<'a, str>,
    /// Algorithm (`absolute` when missing or unknown).
    pub algorithm: Algorithm,
    /// Multiplier (1 when missing, bad or 0).
    pub multiplier: i64,
    /// Divisor (1 when missing, bad or 0).
    pub divisor: i64,
    /// Options.
    pub options: DimensionOptions,
    /// Fields that fell back to a default.
    pub warnings: Vec<ParseWarning>,
}

/// A field that could not be understood and fell back to its default. The line still applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseWarning {
    /// Unknown algorithm; `absolute` is used.
    UnknownAlgorithm(String),
    /// Unknown chart type; `line` is used.
    UnknownChartType(String),
    /// A numeric field that is not a number; its default is used.
    BadNumber {
        /// Which field.
        field: &'static str,
        /// What was sent.
        value: String,
    },
    /// An option word this parser does not know; it is skipped.
    UnknownOption(String),
}

impl fmt::Display for ParseWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseWarning::UnknownAlgorithm(a) => write!(
                f,
                "unknown algorithm '{}', using 'absolute' (expected absolute, incremental, \
                 percentage-of-absolute-row or percentage-of-incremental-row)",
                Escaped::str(a)
            ),
            ParseWarning::UnknownChartType(t) => {
                write!(
                    f,
                    "unknown chart type '{}', using 'line' (expected line, area or stacked)",
                    Escaped::str(t)
                )
            }
            ParseWarning::BadNumber { field, value } => {
                write!(f, "{field} '{}' is not a number, using the default", Escaped::str(value))
            }
            ParseWarning::UnknownOption(o) => write!(f, "unknown option '{}' skipped", Escaped::str(o)),
        }
    }
}

/// Why a line was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// CHART without a chart id.
    MissingChartId,
    /// CHART or BEGIN with an id that is not `type.id`.
    ChartIdWithoutDot(String),
    /// BEGIN without a chart id.
    MissingBeginId,
    /// DIMENSION without an id.
    MissingDimensionId,
    /// SET without a dimension id.
    MissingSetId,
    /// VARIABLE without a name.
    MissingVariableName,
    /// VARIABLE without a value.
    MissingVariableValue,
    /// LABEL or CLABEL without its name, value or source.
    IncompleteLabel(&'static str),
    /// A value that must be a number is not.
    BadNumber {
        /// The keyword of the line.
        keyword: &'static str,
        /// Which field.
        field: &'static str,
        /// What was sent.
        value: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::MissingChartId => {
                f.write_str("CHART without a chart id (expected: CHART type.id name title units ...)")
            }
            ParseError::ChartIdWithoutDot(id) => {
                write!(f, "chart id '{}' is not of the form type.id (for example system.cpu)", Escaped::str(id))
            }
            ParseError::MissingBeginId => {
                f.write_str("BEGIN without a chart id (expected: BEGIN type.id [microseconds])")
            }
            ParseError::MissingDimensionId => f.write_str(
                "DIMENSION without an id (expected: DIMENSION id [name [algorithm [multiplier [divisor [options]]]]])",
            ),
            ParseError::MissingSetId => {
                f.write_str("SET without a dimension id (expected: SET id = value)")
            }
            ParseError::MissingVariableName => {
                f.write_str("VARIABLE without a name (expected: VARIABLE [HOST|CHART] name = value)")
            }
            ParseError::MissingVariableValue => {
                f.write_str("VARIABLE without a value (expected: VARIABLE [HOST|CHART] name = value)")
            }
            ParseError::BadNumber { keyword, field, value } => {
                write!(f, "{keyword}: {field} '{}' is not a number", Escaped::str(value))
            }
            ParseError::IncompleteLabel("LABEL") => {
                f.write_str("LABEL without a name, source or value (expected: LABEL \"name\" = SOURCE \"value\")")
            }
            ParseError::IncompleteLabel(_) => {
                f.write_str("CLABEL without a name, value or source (expected: CLABEL \"name\" \"value\" SOURCE)")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Parse one line (with or without its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<Command<'_>, ParseError> {
    if let Some((id, value)) = plain_set(line) {
        return Ok(Command::Set { id: Cow::Borrowed(id), value });
    }
    match std::str::from_utf8(line) {
        Ok(s) => parse_str(s),
        Err(_) => {
            let owned = String::from_utf8_lossy(line).into_owned();
            parse_str(&owned).map(Command::into_owned)
        }
    }
}

fn parse_str(s: &str) -> Result<Command<'_>, ParseError> {
    let mut w = Words::new(s);
    let Some(keyword) = w.next() else {
        return Ok(Command::Empty);
    };
    match &*keyword {
        "CHART" => parse_chart(&mut w).map(Command::Chart),
        "DIMENSION" => parse_dimension(&mut w).map(Command::Dimension),
        "BEGIN" => {
            let id = w.next_nonempty().ok_or(ParseError::MissingBeginId)?;
            check_chart_id(&id)?;
            let microseconds = match w.next_nonempty() {
                None => None,
                Some(v) => Some(parse_u64(&v).ok_or_else(|| ParseError::BadNumber {
                    keyword: "BEGIN",
                    field: "microseconds",
                    value: v.into_owned(),
                })?),
            };
            Ok(Command::Begin { id, microseconds })
        }
        "SET" => {
            let id = w.next_nonempty().ok_or(ParseError::MissingSetId)?;
            let value = match w.next_nonempty() {
                None => None,
                Some(v) => Some(parse_value(&v).ok_or_else(|| ParseError::BadNumber {
                    keyword: "SET",
                    field: "value",
                    value: v.into_owned(),
                })?),
            };
            Ok(Command::Set { id, value })
        }
        "END" => Ok(Command::End),
        "FLUSH" => Ok(Command::Flush),
        "DISABLE" => Ok(Command::Disable),
        "VARIABLE" => {
            let first = w.next_nonempty().ok_or(ParseError::MissingVariableName)?;
            let scope = match &*first {
                "HOST" | "GLOBAL" => Some(VariableScope::Host),
                "CHART" | "LOCAL" => Some(VariableScope::Chart),
                _ => None,
            };
            let name = match scope {
                Some(_) => w.next_nonempty().ok_or(ParseError::MissingVariableName)?,
                None => first,
            };
            let v = w.next_nonempty().ok_or(ParseError::MissingVariableValue)?;
            let value = v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                ParseError::BadNumber { keyword: "VARIABLE", field: "value", value: v.into_owned() }
            })?;
            Ok(Command::Variable { scope, name, value })
        }
        "LABEL" => parse_label(&mut w),
        "OVERWRITE" => Ok(Command::Overwrite),
        "CLABEL" => {
            let (Some(name), Some(value), Some(source)) = (w.next(), w.next(), w.next_nonempty()) else {
                return Err(ParseError::IncompleteLabel("CLABEL"));
            };
            Ok(Command::Clabel { name, value, source: label_source(&source) })
        }
        "CLABEL_COMMIT" => Ok(Command::ClabelCommit),
        _ => Ok(Command::Ignored(keyword)),
    }
}

/// `LABEL name source value…`: the words after the source are the value, joined by spaces.
fn parse_label<'a>(w: &mut Words<'a>) -> Result<Command<'a>, ParseError> {
    let (Some(name), Some(source), Some(value)) = (w.next(), w.next(), w.next()) else {
        return Err(ParseError::IncompleteLabel("LABEL"));
    };
    let value = match w.next() {
        None => value,
        Some(more) => {
            let mut joined = format!("{value} {more}");
            for word in w {
                joined.push(' ');
                joined.push_str(&word);
            }
            Cow::Owned(joined)
        }
    };
    Ok(Command::Label { name, source: label_source(&source), value })
}

/// A label source as netdata reads it (`str2l`): the leading decimal digits, 0 when none.
fn label_source(s: &str) -> u32 {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s[..digits].parse::<u64>().map_or(0, |v| v.min(u32::MAX as u64) as u32)
}

/// The line nearly every value arrives on, `SET id = 123`, parsed without the general word
/// splitter: an unquoted ASCII id and an empty or plain decimal integer value (at most 18
/// digits, so it cannot overflow). Anything else (leading blanks, quotes, non-ASCII ids,
/// decimals, hexadecimal, long numbers) returns `None` and goes through [`parse_str`], which
/// gives the same result for every line this accepts: words after the value are ignored by
/// both, and bytes that are not UTF-8 can only sit after the value here, where the general
/// parser's replacement does not reach the id or the value.
///
/// Returns the id and the value. [`super::session`] calls it before [`parse_line`] to spare
/// the hot path the move of a whole [`Command`].
#[inline]
pub(crate) fn plain_set(line: &[u8]) -> Option<(&str, Option<i64>)> {
    let rest = line.strip_prefix(b"SET")?;
    let mut i = 0;
    let skip = |mut i: usize| {
        while i < rest.len() && is_separator(rest[i]) {
            i += 1;
        }
        i
    };
    if rest.first().is_some_and(|&b| !is_separator(b)) {
        return None; // "SETX": another keyword
    }
    i = skip(i);
    let id_start = i;
    while i < rest.len() && !is_separator(rest[i]) {
        if !rest[i].is_ascii() {
            return None;
        }
        i += 1;
    }
    if i == id_start || matches!(rest[id_start], b'\'' | b'"') {
        return None; // no id (an error), or a quoted one
    }
    let id = std::str::from_utf8(&rest[id_start..i]).ok()?;
    i = skip(i);
    let v_start = i;
    while i < rest.len() && !is_separator(rest[i]) {
        i += 1;
    }
    let digits = &rest[v_start..i];
    if digits.is_empty() {
        return Some((id, None));
    }
    let (negative, digits) = match digits[0] {
        b'-' => (true, &digits[1..]),
        b'+' => (false, &digits[1..]),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (d - b'0') as i64;
    }
    Some((id, Some(if negative { -v } else { v })))
}

fn check_chart_id(id: &str) -> Result<(), ParseError> {
    match id.split_once('.') {
        Some((t, rest)) if !t.is_empty() && !rest.is_empty() => Ok(()),
        _ => Err(ParseError::ChartIdWithoutDot(id.to_string())),
    }
}

fn parse_chart<'a>(w: &mut Words<'a>) -> Result<ChartCmd<'a>, ParseError> {
    let id = w.next_nonempty().ok_or(ParseError::MissingChartId)?;
    check_chart_id(&id)?;
    let mut warnings = Vec::new();
    let name = w.next().unwrap_or_default();
    let title = w.next().unwrap_or_default();
    let units = w.next().unwrap_or_default();
    let family = w.next().unwrap_or_default();
    let context = w.next().unwrap_or_default();
    let chart_type = match w.next_nonempty() {
        None => ChartType::Line,
        Some(t) => ChartType::parse(&t).unwrap_or_else(|| {
            warnings.push(ParseWarning::UnknownChartType(t.into_owned()));
            ChartType::Line
        }),
    };
    let priority = match w.next_nonempty() {
        None => DEFAULT_PRIORITY,
        Some(p) => p.parse::<i64>().unwrap_or_else(|_| {
            warnings.push(ParseWarning::BadNumber { field: "priority", value: p.into_owned() });
            DEFAULT_PRIORITY
        }),
    };
    let update_every = match w.next_nonempty() {
        None => 0,
        Some(u) => u.parse::<i64>().map(|v| v.clamp(0, u32::MAX as i64) as u32).unwrap_or_else(|_| {
            warnings.push(ParseWarning::BadNumber { field: "update_every", value: u.into_owned() });
            0
        }),
    };
    let mut options = ChartOptions::default();
    if let Some(o) = w.next() {
        for word in o.split_ascii_whitespace() {
            match word {
                "obsolete" => options.obsolete = true,
                "detail" => options.detail = true,
                "store_first" => options.store_first = true,
                "hidden" => options.hidden = true,
                other => warnings.push(ParseWarning::UnknownOption(other.to_string())),
            }
        }
    }
    let plugin = w.next().unwrap_or_default();
    let module = w.next().unwrap_or_default();
    Ok(ChartCmd {
        id,
        name,
        title,
        units,
        family,
        context,
        chart_type,
        priority,
        update_every,
        options,
        plugin,
        module,
        warnings,
    })
}

fn parse_dimension<'a>(w: &mut Words<'a>) -> Result<DimensionCmd<'a>, ParseError> {
    let id = w.next_nonempty().ok_or(ParseError::MissingDimensionId)?;
    let mut warnings = Vec::new();
    let name = w.next().unwrap_or_default();
    let algorithm = match w.next_nonempty() {
        None => Algorithm::Absolute,
        Some(a) => Algorithm::parse(&a).unwrap_or_else(|| {
            warnings.push(ParseWarning::UnknownAlgorithm(a.into_owned()));
            Algorithm::Absolute
        }),
    };
    let mut scale = |field: &'static str, v: Option<Cow<'_, str>>| match v {
        None => 1,
        Some(v) => match v.parse::<i64>() {
            Ok(0) => 1,
            Ok(n) => n,
            Err(_) => {
                warnings.push(ParseWarning::BadNumber { field, value: v.into_owned() });
                1
            }
        },
    };
    let multiplier = scale("multiplier", w.next_nonempty());
    let divisor = scale("divisor", w.next_nonempty());
    let mut options = DimensionOptions::default();
    if let Some(o) = w.next() {
        for word in o.split_ascii_whitespace() {
            match word {
                "hidden" => options.hidden = true,
                "obsolete" => options.obsolete = true,
                "noreset" => options.noreset = true,
                "nooverflow" => options.nooverflow = true,
                other => warnings.push(ParseWarning::UnknownOption(other.to_string())),
            }
        }
    }
    Ok(DimensionCmd { id, name, algorithm, multiplier, divisor, options, warnings })
}

fn parse_u64(s: &str) -> Option<u64> {
    s.strip_prefix('+').unwrap_or(s).parse::<u64>().ok()
}

/// A SET value: a signed integer, `0x` hexadecimal, or a decimal rounded to the nearest integer.
fn parse_value(s: &str) -> Option<i64> {
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        // Hexadecimal carries the two's-complement bit pattern of the value.
        return u64::from_str_radix(hex, 16).ok().map(|v| v as i64);
    }
    // Only plain decimal notation: no "inf", "nan" or other words f64 parsing would take.
    if !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return None;
    }
    let f = s.parse::<f64>().ok()?;
    let r = f.round();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: require strictly less.
    if r >= -(2f64.powi(63)) && r < 2f64.powi(63) {
        Some(r as i64)
    } else {
        None
    }
}

#[inline]
fn is_separator(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c' | b'=')
}

/// Iterator over the words of a line; see the module docs for the rules.
struct Words<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Words<'a> {
    fn new(s: &'a str) -> Words<'a> {
        Words { s, pos: 0 }
    }

    /// The next word, treating an empty (quoted) word as missing.
    fn next_nonempty(&mut self) -> Option<Cow<'a, str>> {
        self.next().filter(|w| !w.is_empty())
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        let b = self.s.as_bytes();
        while self.pos < b.len() && is_separator(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let q = b[self.pos];
        if q != b'\'' && q != b'"' {
            let start = self.pos;
            while self.pos < b.len() && !is_separator(b[self.pos]) {
                self.pos += 1;
            }
            return Some(Cow::Borrowed(&self.s[start..self.pos]));
        }
        // Quoted: all separators and quote characters are ASCII, so byte positions found here
        // are always on character boundaries.
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            if self.pos >= b.len() {
                // Unterminated: the rest of the line.
                let tail = &self.s[run..self.pos];
                return Some(match owned {
                    Some(mut o) => {
                        o.push_str(tail);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(&self.s[start..self.pos]),
                });
            }
            let c = b[self.pos];
            if c == b'\\' && self.pos + 1 < b.len() && (b[self.pos + 1] == q || b[self.pos + 1] == b'\\') {
                let o = owned.get_or_insert_with(String::new);
                o.push_str(&self.s[run..self.pos]);
                o.push(b[self.pos + 1] as char);
                self.pos += 2;
                run = self.pos;
                continue;
            }
            if c == q {
                let end = self.pos;
                self.pos += 1;
                return Some(match owned {
                    Some(mut o) => {
                        o.push_str(&self.s[run..end]);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(&self.s[start..end]),
                });
            }
            self.pos += 1;
        }
    }
}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

impl Command<'_> {
    /// A copy that borrows nothing from the input line.
    pub fn into_owned(self) -> Command<'static> {
        match self {
            Command::Empty => Command::Empty,
            Command::Chart(c) => Command::Chart(ChartCmd {
                id: own(c.id),
                name: own(c.name),
                title: own(c.title),
                units: own(c.units),
                family: own(c.family),
                context: own(c.context),
                chart_type: c.chart_type,
                priority: c.priority,
                update_every: c.update_every,
                options: c.options,
                plugin: own(c.plugin),
                module: own(c.module),
                warnings: c.warnings,
            }),
            Command::Dimension(d) => Command::Dimension(DimensionCmd {
                id: own(d.id),
                name: own(d.name),
                algorithm: d.algorithm,
                multiplier: d.multiplier,
                divisor: d.divisor,
                options: d.options,
                warnings: d.warnings,
            }),
            Command::Begin { id, microseconds } => Command::Begin { id: own(id), microseconds },
            Command::Set { id, value } => Command::Set { id: own(id), value },
            Command::End => Command::End,
            Command::Flush => Command::Flush,
            Command::Disable => Command::Disable,
            Command::Variable { scope, name, value } => Command::Variable { scope, name: own(name), value },
            Command::Label { name, source, value } => {
                Command::Label { name: own(name), source, value: own(value) }
            }
            Command::Overwrite => Command::Overwrite,
            Command::Clabel { name, value, source } => {
                Command::Clabel { name: own(name), value: own(value), source }
            }
            Command::ClabelCommit => Command::ClabelCommit,
            Command::Ignored(k) => Command::Ignored(own(k)),
        }
    }

    /// The line that parses back to this command, without a trailing newline.
    pub fn to_line(&self) -> String {
        self.to_string()
    }
}

/// Writes one word so that the parser reads it back unchanged.
struct Word<'s>(&'s str);

impl fmt::Display for Word<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let needs_quotes =
            s.is_empty() || s.bytes().any(is_separator) || s.starts_with('\'') || s.starts_with('"');
        if !needs_quotes {
            return f.write_str(s);
        }
        let q = if !s.contains('\'') {
            '\''
        } else if !s.contains('"') {
            '"'
        } else {
            '\''
        };
        let mut out = String::with_capacity(s.len() + 2);
        out.push(q);
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == q {
                out.push('\\');
                out.push(c);
            } else if c == '\\' {
                // Escape only where the parser would otherwise take it as an escape (or as
                // escaping the closing quote), so ordinary backslashes stay readable by netdata.
                match chars.peek() {
                    None | Some('\\') => out.push_str("\\\\"),
                    Some(&n) if n == q => out.push_str("\\\\"),
                    _ => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out.push(q);
        f.write_str(&out)
    }
}

impl fmt::Display for ChartOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = [
            (self.obsolete, "obsolete"),
            (self.detail, "detail"),
            (self.store_first, "store_first"),
            (self.hidden, "hidden"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        f.write_str(&words.join(" "))
    }
}

impl fmt::Display for DimensionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = [
            (self.hidden, "hidden"),
            (self.obsolete, "obsolete"),
            (self.noreset, "noreset"),
            (self.nooverflow, "nooverflow"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        f.write_str(&words.join(" "))
    }
}

impl fmt::Display for Command<'_> {
    /// The protocol line for this command. `Empty` writes nothing and `Ignored` writes only its
    /// keyword.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Empty => Ok(()),
            Command::Chart(c) => write!(
                f,
                "CHART {} {} {} {} {} {} {} {} {} {} {} {}",
                Word(&c.id),
                Word(&c.name),
                Word(&c.title),
                Word(&c.units),
                Word(&c.family),
                Word(&c.context),
                c.chart_type.as_str(),
                c.priority,
                c.update_every,
                Word(&c.options.to_string()),
                Word(&c.plugin),
                Word(&c.module),
            ),
            Command::Dimension(d) => write!(
                f,
                "DIMENSION {} {} {} {} {} {}",
                Word(&d.id),
                Word(&d.name),
                d.algorithm.as_str(),
                d.multiplier,
                d.divisor,
                Word(&d.options.to_string()),
            ),
            Command::Begin { id, microseconds: Some(us) } => write!(f, "BEGIN {} {us}", Word(id)),
            Command::Begin { id, microseconds: None } => write!(f, "BEGIN {}", Word(id)),
            Command::Set { id, value: Some(v) } => write!(f, "SET {} = {v}", Word(id)),
            Command::Set { id, value: None } => write!(f, "SET {} = ''", Word(id)),
            Command::End => f.write_str("END"),
            Command::Flush => f.write_str("FLUSH"),
            Command::Disable => f.write_str("DISABLE"),
            Command::Variable { scope, name, value } => {
                f.write_str("VARIABLE ")?;
                match scope {
                    Some(VariableScope::Host) => f.write_str("HOST ")?,
                    Some(VariableScope::Chart) => f.write_str("CHART ")?,
                    None => {}
                }
                write!(f, "{} = {value}", Word(name))
            }
            Command::Label { name, source, value } => {
                write!(f, "LABEL {} = {source} {}", Word(name), Word(value))
            }
            Command::Overwrite => f.write_str("OVERWRITE labels"),
            Command::Clabel { name, value, source } => {
                write!(f, "CLABEL {} {} {source}", Word(name), Word(value))
            }
            Command::ClabelCommit => f.write_str("CLABEL_COMMIT"),
            Command::Ignored(k) => write!(f, "{}", Word(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(s: &str) -> Vec<String> {
        Words::new(s).map(|w| w.into_owned()).collect()
    }

    fn chart(line: &[u8]) -> ChartCmd<'static> {
        match parse_line(line).unwrap().into_owned() {
            Command::Chart(c) => c,
            other => panic!("not a CHART: {other:?}"),
        }
    }

    fn dimension(line: &[u8]) -> DimensionCmd<'static> {
        match parse_line(line).unwrap().into_owned() {
            Command::Dimension(d) => d,
            other => panic!("not a DIMENSION: {other:?}"),
        }
    }

    #[test]
    fn words_split_on_whitespace_and_equals_with_quotes_removed() {
        assert_eq!(words("  a\tb  c\r\n"), ["a", "b", "c"]);
        assert_eq!(words("SET x = 1"), ["SET", "x", "1"]);
        assert_eq!(words("SET x=1"), ["SET", "x", "1"]);
        assert_eq!(words("a 'b c' \"d = e\" '' f"), ["a", "b c", "d = e", "", "f"]);
        assert_eq!(words("'it''s'"), ["it", "s"]);
        assert_eq!(words("\"it's\" don't"), ["it's", "don't"]);
        assert_eq!(words("'unterminated rest"), ["unterminated rest"]);
        assert_eq!(words(r"'a\'b' 'c\\d' 'e\f'"), ["a'b", r"c\d", r"e\f"]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn full_chart_line() {
        let c = chart(
            b"CHART system.cpu 'cpu' 'Total CPU utilization' 'percentage' 'cpu' 'system.cpu' \
              stacked 100 2 'obsolete detail' 'proc.plugin' '/proc/stat'\n",
        );
        assert_eq!(
            c,
            ChartCmd {
                id: "system.cpu".into(),
                name: "cpu".into(),
                title: "Total CPU utilization".into(),
                units: "percentage".into(),
                family: "cpu".into(),
                context: "system.cpu".into(),
                chart_type: ChartType::Stacked,
                priority: 100,
                update_every: 2,
                options: ChartOptions { obsolete: true, detail: true, ..Default::default() },
                plugin: "proc.plugin".into(),
                module: "/proc/stat".into(),
                warnings: vec![],
            }
        );
    }

    #[test]
    fn chart_missing_fields_take_defaults() {
        let c = chart(b"CHART a.b");
        assert_eq!(c.id, "a.b");
        assert_eq!((&*c.name, &*c.title, &*c.units, &*c.family, &*c.context), ("", "", "", "", ""));
        assert_eq!(c.chart_type, ChartType::Line);
        assert_eq!(c.priority, 1000);
        assert_eq!(c.update_every, 0);
        assert_eq!(c.options, ChartOptions::default());
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn chart_options_may_be_blank_or_padded() {
        assert_eq!(chart(b"CHART a.b n t u f c line 1 1 ''").options, ChartOptions::default());
        assert_eq!(
            chart(b"CHART a.b n t u f c line 1 1 '  hidden   store_first '").options,
            ChartOptions { hidden: true, store_first: true, ..Default::default() }
        );
    }

    #[test]
    fn chart_bad_fields_fall_back_with_warnings() {
        let c = chart(b"CHART a.b n t u f c pie high 1 'obsolete shiny'");
        assert_eq!(c.chart_type, ChartType::Line);
        assert_eq!(c.priority, 1000);
        assert!(c.options.obsolete);
        assert_eq!(
            c.warnings,
            vec![
                ParseWarning::UnknownChartType("pie".into()),
                ParseWarning::BadNumber { field: "priority", value: "high".into() },
                ParseWarning::UnknownOption("shiny".into()),
            ]
        );
    }

    #[test]
    fn chart_id_errors() {
        assert_eq!(parse_line(b"CHART"), Err(ParseError::MissingChartId));
        assert_eq!(parse_line(b"CHART ''"), Err(ParseError::MissingChartId));
        assert_eq!(parse_line(b"CHART nodot"), Err(ParseError::ChartIdWithoutDot("nodot".into())));
        assert_eq!(parse_line(b"CHART .x"), Err(ParseError::ChartIdWithoutDot(".x".into())));
        assert_eq!(parse_line(b"CHART x."), Err(ParseError::ChartIdWithoutDot("x.".into())));
        assert_eq!(parse_line(b"BEGIN nodot"), Err(ParseError::ChartIdWithoutDot("nodot".into())));
        assert_eq!(parse_line(b"BEGIN"), Err(ParseError::MissingBeginId));
    }

    #[test]
    fn dimension_defaults_and_fields() {
        let d = dimension(b"DIMENSION user");
        assert_eq!(
            d,
            DimensionCmd {
                id: "user".into(),
                name: "".into(),
                algorithm: Algorithm::Absolute,
                multiplier: 1,
                divisor: 1,
                options: DimensionOptions::default(),
                warnings: vec![],
            }
        );
        let d = dimension(b"DIMENSION rx received incremental 8 -1024 'hidden noreset'");
        assert_eq!(d.name, "received");
        assert_eq!(d.algorithm, Algorithm::Incremental);
        assert_eq!((d.multiplier, d.divisor), (8, -1024));
        assert_eq!(d.options, DimensionOptions { hidden: true, noreset: true, ..Default::default() });
        assert_eq!(parse_line(b"DIMENSION"), Err(ParseError::MissingDimensionId));
    }

    #[test]
    fn dimension_bad_algorithm_falls_back_to_absolute_with_warning() {
        let d = dimension(b"DIMENSION x x derivative 0 zero");
        assert_eq!(d.algorithm, Algorithm::Absolute);
        assert_eq!((d.multiplier, d.divisor), (1, 1));
        assert_eq!(
            d.warnings,
            vec![
                ParseWarning::UnknownAlgorithm("derivative".into()),
                ParseWarning::BadNumber { field: "divisor", value: "zero".into() },
            ]
        );
    }

    #[test]
    fn begin_set_end() {
        assert_eq!(
            parse_line(b"BEGIN a.b 1000000\n"),
            Ok(Command::Begin { id: "a.b".into(), microseconds: Some(1_000_000) })
        );
        assert_eq!(parse_line(b"BEGIN a.b"), Ok(Command::Begin { id: "a.b".into(), microseconds: None }));
        assert_eq!(
            parse_line(b"BEGIN a.b soon"),
            Err(ParseError::BadNumber { keyword: "BEGIN", field: "microseconds", value: "soon".into() })
        );
        assert_eq!(parse_line(b"SET x = -42"), Ok(Command::Set { id: "x".into(), value: Some(-42) }));
        assert_eq!(parse_line(b"SET x 7"), Ok(Command::Set { id: "x".into(), value: Some(7) }));
        assert_eq!(parse_line(b"SET x ="), Ok(Command::Set { id: "x".into(), value: None }));
        assert_eq!(parse_line(b"SET x = ''"), Ok(Command::Set { id: "x".into(), value: None }));
        assert_eq!(
            parse_line(b"SET x = 9223372036854775807"),
            Ok(Command::Set { id: "x".into(), value: Some(i64::MAX) })
        );
        assert_eq!(parse_line(b"SET"), Err(ParseError::MissingSetId));
        assert_eq!(parse_line(b"END\n"), Ok(Command::End));
        assert_eq!(parse_line(b"FLUSH"), Ok(Command::Flush));
        assert_eq!(parse_line(b"DISABLE"), Ok(Command::Disable));
    }

    #[test]
    fn set_decimals_are_rounded_and_garbage_is_an_error() {
        let v = |s: &[u8]| match parse_line(s) {
            Ok(Command::Set { value, .. }) => Ok(value),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(v(b"SET x = 12.7"), Ok(Some(13)));
        assert_eq!(v(b"SET x = 12.2"), Ok(Some(12)));
        assert_eq!(v(b"SET x = -2.5"), Ok(Some(-3)));
        assert_eq!(v(b"SET x = 1e3"), Ok(Some(1000)));
        assert_eq!(v(b"SET x = 0xff"), Ok(Some(255)));
        assert_eq!(v(b"SET x = 0xffffffffffffffff"), Ok(Some(-1)));
        for bad in ["abc", "inf", "nan", "1e30", "12abc", "--1"] {
            let line = format!("SET x = {bad}");
            assert_eq!(
                v(line.as_bytes()),
                Err(ParseError::BadNumber { keyword: "SET", field: "value", value: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn variable_lines() {
        assert_eq!(
            parse_line(b"VARIABLE HOST threshold = 3.5"),
            Ok(Command::Variable { scope: Some(VariableScope::Host), name: "threshold".into(), value: 3.5 })
        );
        assert_eq!(
            parse_line(b"VARIABLE t = 1"),
            Ok(Command::Variable { scope: None, name: "t".into(), value: 1.0 })
        );
        assert_eq!(
            parse_line(b"VARIABLE LOCAL t = 1"),
            Ok(Command::Variable { scope: Some(VariableScope::Chart), name: "t".into(), value: 1.0 })
        );
        assert_eq!(parse_line(b"VARIABLE"), Err(ParseError::MissingVariableName));
        assert_eq!(parse_line(b"VARIABLE CHART t"), Err(ParseError::MissingVariableValue));
    }

    #[test]
    fn other_keywords_are_ignored_not_errors() {
        for (line, kw) in [
            (&b"FUNCTION GLOBAL processes 10 \"help\""[..], "FUNCTION"),
            (b"HOST_DEFINE guid name", "HOST_DEFINE"),
            (b"CLAIMED_ID x", "CLAIMED_ID"),
            (b"hello world", "hello"),
        ] {
            assert_eq!(parse_line(line), Ok(Command::Ignored(kw.into())));
        }
    }

    #[test]
    fn empty_and_blank_lines() {
        assert_eq!(parse_line(b""), Ok(Command::Empty));
        assert_eq!(parse_line(b"   \t\r\n"), Ok(Command::Empty));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(
            parse_line(b"SET caf\xe9 = 1"),
            Ok(Command::Set { id: "caf\u{fffd}".into(), value: Some(1) })
        );
        let c = chart(b"CHART a.b n 'bad \xff title'");
        assert_eq!(c.title, "bad \u{fffd} title");
    }

    #[test]
    fn to_line_exact_text() {
        let c = Command::Chart(chart(b"CHART a.b n 'A title' % '' '' area 5 0 hidden"));
        assert_eq!(c.to_line(), "CHART a.b n 'A title' % '' '' area 5 0 hidden '' ''");
        let d = Command::Dimension(dimension(b"DIMENSION in '' incremental -8 1000"));
        assert_eq!(d.to_line(), "DIMENSION in '' incremental -8 1000 ''");
        assert_eq!(Command::Set { id: "x".into(), value: Some(-1) }.to_line(), "SET x = -1");
        assert_eq!(Command::Set { id: "x".into(), value: None }.to_line(), "SET x = ''");
        assert_eq!(Command::Begin { id: "a.b".into(), microseconds: Some(5) }.to_line(), "BEGIN a.b 5");
        assert_eq!(Command::End.to_line(), "END");
    }

    /// Label lines as netdata 1.37 children and plugins send them.
    #[test]
    fn label_lines_as_netdata_sends_them() {
        fn label(name: &'static str, source: u32, value: &'static str) -> Command<'static> {
            Command::Label { name: name.into(), source, value: value.into() }
        }
        fn clabel(name: &'static str, value: &'static str, source: u32) -> Command<'static> {
            Command::Clabel { name: name.into(), value: value.into(), source }
        }
        assert_eq!(
            parse_line(b"LABEL \"_os_name\" = 1 \"Debian GNU/Linux\""),
            Ok(label("_os_name", 1, "Debian GNU/Linux"))
        );
        assert_eq!(parse_line(b"LABEL \"room\" = 2 \"a=b;c\"\n"), Ok(label("room", 2, "a=b;c")));
        assert_eq!(parse_line(b"LABEL k = 2 several plain words"), Ok(label("k", 2, "several plain words")));
        assert_eq!(parse_line(b"LABEL k = 2 \"\""), Ok(label("k", 2, "")));
        assert_eq!(parse_line(b"LABEL k = x v"), Ok(label("k", 0, "v")));
        assert_eq!(parse_line(b"LABEL k = 3abc v"), Ok(label("k", 3, "v")));
        assert_eq!(parse_line(b"LABEL k = 2"), Err(ParseError::IncompleteLabel("LABEL")));
        assert_eq!(parse_line(b"OVERWRITE labels"), Ok(Command::Overwrite));
        assert_eq!(parse_line(b"CLABEL \"device\" \"sda\" 1"), Ok(clabel("device", "sda", 1)));
        assert_eq!(parse_line(b"CLABEL k v nope"), Ok(clabel("k", "v", 0)));
        assert_eq!(parse_line(b"CLABEL \"k\" \"\" 2"), Ok(clabel("k", "", 2)));
        assert_eq!(parse_line(b"CLABEL \"k\" \"v\""), Err(ParseError::IncompleteLabel("CLABEL")));
        assert_eq!(parse_line(b"CLABEL \"k\" \"v\" ''"), Err(ParseError::IncompleteLabel("CLABEL")));
        assert_eq!(parse_line(b"CLABEL_COMMIT"), Ok(Command::ClabelCommit));
        for cmd in [
            label("a b", 2, "x \"y\" z"),
            clabel("k=1", "it's", 1),
            Command::Overwrite,
            Command::ClabelCommit,
        ] {
            round_trip(&cmd);
        }
    }

    fn round_trip(cmd: &Command<'_>) {
        let line = cmd.to_line();
        let back = parse_line(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(&back, cmd, "line: {line}");
    }

    #[test]
    fn round_trip_awkward_strings() {
        for s in [
            "",
            "plain",
            "two words",
            "a=b",
            "it's",
            "say \"hi\"",
            "both ' and \"",
            r"C:\temp\",
            r"\\",
            r"'\'",
            "'lead",
            "\"lead",
            "tab\there",
            "x\\",
        ] {
            if !s.is_empty() {
                round_trip(&Command::Set { id: s.into(), value: Some(1) });
            }
            let mut c = chart(b"CHART a.b");
            c.title = s.into();
            c.family = s.into();
            round_trip(&Command::Chart(c));
        }
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z '\"\\\\=\t.é]{0,12}").unwrap()
    }

    fn ident() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z][a-z0-9_ '\"\\\\=.]{0,10}").unwrap()
    }

    /// The general parser alone, for comparing with the fast path.
    fn parse_general(line: &[u8]) -> Result<Command<'static>, ParseError> {
        match std::str::from_utf8(line) {
            Ok(s) => parse_str(s).map(Command::into_owned),
            Err(_) => parse_str(&String::from_utf8_lossy(line)).map(Command::into_owned),
        }
    }

    #[test]
    fn plain_set_fast_path_agrees_with_the_general_parser() {
        let lines: &[&[u8]] = &[
            b"SET x = 1",
            b"SET x=1",
            b"SET x 1",
            b"SET\tx\t=\t-42\r",
            b"SET x = +7",
            b"SET x =",
            b"SET x",
            b"SET",
            b"SET ",
            b"SETX x = 1",
            b" SET x = 1",
            b"SET 'x' = 1",
            b"SET x = '1'",
            b"SET x = 12.7",
            b"SET x = 0x10",
            b"SET x = 999999999999999999",
            b"SET x = 9999999999999999999",
            b"SET x = -",
            b"SET x = 1 extra words",
            b"SET x = 1 \xff\xfe",
            b"SET \xc3\xa9 = 1",
            b"SET a'b = 3",
            b"SET x = 1a",
        ];
        for line in lines {
            assert_eq!(parse_line(line), parse_general(line), "{:?}", String::from_utf8_lossy(line));
        }
        assert_eq!(
            plain_set(b"SET d07 = 123456"),
            Some(("d07", Some(123456))),
            "the common line takes the fast path"
        );
    }

    proptest! {
        #[test]
        fn plain_set_fast_path_agrees_on_any_line(tail in proptest::collection::vec(
            prop_oneof![Just(b' '), Just(b'='), Just(b'-'), Just(b'+'), Just(b'\''), Just(b'x'), Just(0xffu8), b'0'..=b'9'],
            0..30,
        )) {
            let mut line = b"SET".to_vec();
            line.extend_from_slice(&tail);
            prop_assert_eq!(parse_line(&line), parse_general(&line));
        }

        #[test]
        fn chart_round_trips(
            ty in "[a-z]{1,5}", rest in "[a-z0-9_]{1,8}", name in text(), title in text(),
            units in text(), family in text(), context in text(), ct in 0..3usize,
            priority in any::<i64>(), ue in any::<u32>(), opts in any::<[bool; 4]>(),
            plugin in text(), module in text(),
        ) {
            let cmd = Command::Chart(ChartCmd {
                id: format!("{ty}.{rest}").into(), name: name.into(), title: title.into(),
                units: units.into(), family: family.into(), context: context.into(),
                chart_type: [ChartType::Line, ChartType::Area, ChartType::Stacked][ct],
                priority, update_every: ue,
                options: ChartOptions { obsolete: opts[0], detail: opts[1], store_first: opts[2], hidden: opts[3] },
                plugin: plugin.into(), module: module.into(), warnings: vec![],
            });
            round_trip(&cmd);
        }

        #[test]
        fn dimension_round_trips(
            id in ident(), name in text(), alg in 0..4usize,
            m in any::<i64>().prop_filter("0 means 1", |v| *v != 0),
            d in any::<i64>().prop_filter("0 means 1", |v| *v != 0),
            opts in any::<[bool; 4]>(),
        ) {
            let algorithm = [Algorithm::Absolute, Algorithm::Incremental,
                Algorithm::PercentageOfAbsoluteRow, Algorithm::PercentageOfIncrementalRow][alg];
            let cmd = Command::Dimension(DimensionCmd {
                id: id.into(), name: name.into(), algorithm, multiplier: m, divisor: d,
                options: DimensionOptions { hidden: opts[0], obsolete: opts[1], noreset: opts[2], nooverflow: opts[3] },
                warnings: vec![],
            });
            round_trip(&cmd);
        }

        #[test]
        fn begin_set_end_round_trip(id in ident(), us in proptest::option::of(any::<u64>()), v in proptest::option::of(any::<i64>())) {
            round_trip(&Command::Begin { id: format!("t.{id}").into(), microseconds: us });
            round_trip(&Command::Set { id: id.into(), value: v });
            round_trip(&Command::End);
        }

        #[test]
        fn words_of_any_line_survive_being_written_back(line in proptest::collection::vec(any::<u8>(), 0..80)) {
            // Any input parses to a command or an error, never a panic.
            let _ = parse_line(&line);
            let s = String::from_utf8_lossy(&line);
            let first: Vec<String> = Words::new(&s).map(|w| w.into_owned()).collect();
            let written: Vec<String> = first.iter().map(|w| Word(w).to_string()).collect();
            let joined = written.join(" ");
            let second: Vec<String> = Words::new(&joined).map(|w| w.into_owned()).collect();
            prop_assert_eq!(first, second, "written back as {}", joined);
        }
    }
}
