//! Line layouts and templates: the format-agnostic machinery every line format is written with.
//!
//! A line format is defined once, as a [`Layout`]: the walk of one metric's line that writes
//! its fixed parts as bytes and names its variable ones (the dimension, the value) through a
//! [`LineSink`]. From that one definition come both writers:
//!
//! * [`Layout::write_line`] writes one metric's whole line (the sink writes the dimension and
//!   the value at once);
//! * [`Layout::template`] builds a [`LineTemplate`]: the line applied to one chart in one
//!   window. An export walk writes one line per dimension, and in every format most of a line
//!   (prefix, host, chart, labels, timestamp) is the same for all dimensions of a chart in a
//!   window; the template holds those parts as ready bytes, and writing a line then formats
//!   only the dimension and the value.
//!
//! The two are byte for byte the same (tests compare them on hostile names). Knows no format.
//! Pure: no I/O, no clock.

use super::append::Appender;
use super::number::{append_f64, is_fast_f64, put_fast_f64, put_i64, put_mean, F64_MAX_LEN};
use super::sanitize::{append_json_str, append_path, write_json_str, write_path, PATH_MAP};
use super::{write_value, DimText, Metric, Value};

/// Where a [`Layout`] writes a line: the parts that are the same for every dimension of a chart
/// in a window go to [`LineSink::text`] as bytes; the parts that are not are asked for by name.
pub trait LineSink {
    /// The line so far, to append fixed parts to.
    fn text(&mut self) -> &mut Vec<u8>;
    /// The dimension as it appears in paths (name or id, as [`Metric::dim`] chooses), sanitized.
    fn dim_path(&mut self);
    /// The dimension id, JSON-escaped.
    fn dim_id_json(&mut self);
    /// The dimension name, JSON-escaped.
    fn dim_name_json(&mut self);
    /// The value (an integer when collected, `%0.7f` when computed).
    fn value(&mut self);
}

/// A line format, defined once; see the module docs.
pub trait Layout {
    /// Bytes a line takes besides its names and labels, reserved before it is written.
    const RESERVE: usize = 64;

    /// Writes `m`'s line into `sink`: its fixed parts from `m`, its dimension and value through
    /// the sink. The value is finite (callers check).
    fn line(sink: &mut impl LineSink, m: &Metric);

    /// Appends `m`'s line to `out`. Returns `false`, writing nothing, when the value is NaN or
    /// infinite.
    #[inline]
    fn write_line(out: &mut Vec<u8>, m: &Metric) -> bool {
        if !m.is_finite() {
            return false;
        }
        out.reserve(m.text_len() + Self::RESERVE);
        Self::line(&mut OneLine { out, m }, m);
        true
    }

    /// The lines of `m`'s chart in `m`'s window: see [`LineTemplate`].
    fn template(m: &Metric) -> LineTemplate {
        let mut t = LineTemplate::new(m.use_names);
        Self::line(&mut t, m);
        t.finish()
    }
}

/// A sink that writes one metric's whole line.
struct OneLine<'o, 'm> {
    out: &'o mut Vec<u8>,
    m: &'o Metric<'m>,
}

impl LineSink for OneLine<'_, '_> {
    #[inline(always)]
    fn text(&mut self) -> &mut Vec<u8> {
        self.out
    }
    #[inline(always)]
    fn dim_path(&mut self) {
        write_path(self.out, self.m.dim());
    }
    #[inline(always)]
    fn dim_id_json(&mut self) {
        write_json_str(self.out, self.m.dim_id);
    }
    #[inline(always)]
    fn dim_name_json(&mut self) {
        write_json_str(self.out, self.m.dim_name);
    }
    #[inline(always)]
    fn value(&mut self) {
        write_value(self.out, self.m.value);
    }
}

/// A template records the line's variable parts as pieces.
impl LineSink for LineTemplate {
    fn text(&mut self) -> &mut Vec<u8> {
        &mut self.text
    }
    fn dim_path(&mut self) {
        self.piece(Piece::DimPath);
    }
    fn dim_id_json(&mut self) {
        self.piece(Piece::DimIdJson);
    }
    fn dim_name_json(&mut self) {
        self.piece(Piece::DimNameJson);
    }
    fn value(&mut self) {
        self.piece(Piece::Value);
    }
}

/// One piece of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// `text[..end]` from the previous literal's end: the same in every line.
    Literal(usize),
    /// The dimension as it appears in paths (name or id), sanitized.
    DimPath,
    /// The dimension id, JSON-escaped.
    DimIdJson,
    /// The dimension name, JSON-escaped.
    DimNameJson,
    /// The value.
    Value,
}

/// The lines of one chart in one window; see the module docs.
#[derive(Clone, Debug)]
pub struct LineTemplate {
    text: Vec<u8>,
    pieces: Vec<Piece>,
    use_names: bool,
    /// For lines shaped `literal · dimension path · literal · value · literal` (graphite and
    /// OpenTSDB): the three literals' ends, written without walking `pieces`.
    path_value: Option<[usize; 3]>,
}

impl LineTemplate {
    fn new(use_names: bool) -> LineTemplate {
        LineTemplate {
            text: Vec::with_capacity(160),
            pieces: Vec::with_capacity(7),
            use_names,
            path_value: None,
        }
    }

    /// Ends the template: the last literal, and the straight-line form when the shape has one.
    fn finish(mut self) -> LineTemplate {
        self.literal();
        // Padding, so that every literal can be copied in whole 16-byte moves.
        self.text.extend_from_slice(&[0; 16]);
        if let [Piece::Literal(a), Piece::DimPath, Piece::Literal(b), Piece::Value, Piece::Literal(c)] =
            self.pieces[..]
        {
            self.path_value = Some([a, b, c]);
        }
        self
    }

    /// Ends the literal written to `text` since the last piece.
    fn literal(&mut self) {
        self.pieces.push(Piece::Literal(self.text.len()));
    }

    fn piece(&mut self, p: Piece) {
        self.literal();
        self.pieces.push(p);
    }

    /// Appends the line of the dimension `dim_id` (named `dim_name`) with `value`, exactly as
    /// [`Layout::write_line`] would for the template's metric with these fields. Returns
    /// `false`, writing nothing, when the value is NaN or infinite.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>, dim_id: &str, dim_name: &str, value: Value) -> bool {
        self.write_lines(out, std::iter::once((dim_id, dim_name, value)), DimText::Any) == 1
    }

    /// Appends one line per dimension of `dims` (id, name, value), as [`LineTemplate::write`]
    /// does for each; returns how many were written. `names` is what the caller knows of the
    /// ids and names: [`DimText::Plain`] ones are copied without a look at each byte.
    #[inline]
    pub fn write_lines<'a>(
        &self,
        out: &mut Vec<u8>,
        dims: impl Iterator<Item = (&'a str, &'a str, Value)>,
        names: DimText,
    ) -> usize {
        let mut a = Appender::new(out, 0);
        let mut written = 0;
        for (id, name, value) in dims {
            let done = match self.path_value {
                Some(ends) => self.write_path_value(&mut a, ends, id, name, value, names),
                None => None,
            };
            written += done.unwrap_or_else(|| self.write_pieces(&mut a, id, name, value, names)) as usize;
        }
        written
    }

    /// The graphite and OpenTSDB shape, `literal · dimension path · literal · value · literal`,
    /// for the usual line: an ASCII dimension and a value that is not NaN, infinite or huge.
    /// The line's room is reserved once and every piece written into it straight. `None`,
    /// writing nothing, for any other line.
    #[inline(always)]
    fn write_path_value(
        &self,
        a: &mut Appender<'_>,
        [l1, l2, l3]: [usize; 3],
        dim_id: &str,
        dim_name: &str,
        value: Value,
        names: DimText,
    ) -> Option<bool> {
        let dim = if self.use_names && !dim_name.is_empty() { dim_name } else { dim_id };
        let short = match value {
            Value::Computed(v) => is_fast_f64(v),
            Value::Mean { .. } | Value::Collected(_) => true,
        };
        let plain = names == DimText::Plain;
        if !short || !(plain || dim.is_ascii()) {
            return None;
        }
        // Each literal is copied 16 bytes at a time from the padded text: up to 15 bytes more
        // than it holds, which the next piece overwrites.
        let text = &self.text[..];
        let mut r = a.room(l3 + 3 * 15 + dim.len() + F64_MAX_LEN);
        r.padded(text, l1);
        if plain {
            r.bytes(dim.as_bytes());
        } else {
            r.mapped(dim.as_bytes(), &PATH_MAP);
        }
        r.padded(&text[l1..], l2 - l1);
        match value {
            Value::Mean { e7, count } => put_mean(&mut r, e7, count),
            Value::Collected(v) => put_i64(&mut r, v),
            Value::Computed(v) => put_fast_f64(&mut r, v),
        }
        r.padded(&text[l2..], l3 - l2);
        Some(true)
    }

    /// Any line, piece by piece.
    fn write_pieces(
        &self,
        a: &mut Appender<'_>,
        dim_id: &str,
        dim_name: &str,
        value: Value,
        names: DimText,
    ) -> bool {
        let plain = names == DimText::Plain;
        if let Value::Computed(v) = value {
            if !v.is_finite() {
                return false;
            }
        }
        let mut start = 0;
        for &p in &self.pieces {
            match p {
                Piece::Literal(end) => {
                    a.bytes(&self.text[start..end]);
                    start = end;
                }
                Piece::DimPath => {
                    let dim = if self.use_names && !dim_name.is_empty() { dim_name } else { dim_id };
                    if plain {
                        a.bytes(dim.as_bytes());
                    } else {
                        append_path(a, dim);
                    }
                }
                Piece::DimIdJson | Piece::DimNameJson => {
                    let s = if p == Piece::DimIdJson { dim_id } else { dim_name };
                    if plain {
                        a.bytes(s.as_bytes());
                    } else {
                        append_json_str(a, s);
                    }
                }
                Piece::Value => append_value(a, value),
            }
        }
        true
    }
}

/// [`super::write_value`] through an [`Appender`].
#[inline(always)]
fn append_value(a: &mut Appender<'_>, value: Value) {
    match value {
        Value::Computed(v) => {
            append_f64(a, v);
        }
        Value::Mean { e7, count } => put_mean(&mut a.room(F64_MAX_LEN), e7, count),
        Value::Collected(v) => put_i64(&mut a.room(F64_MAX_LEN), v),
    }
}
