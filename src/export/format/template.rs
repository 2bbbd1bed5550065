//! Line templates: a line format applied to one chart in one window, with the parts that are the
//! same for every dimension formatted once.
//!
//! An export walk writes one line per dimension, and in every format most of a line (prefix,
//! host, chart, labels, timestamp) is the same for all dimensions of a chart in a window. A
//! [`LineTemplate`] holds those parts as ready bytes; writing a line then formats only the
//! dimension and the value. The output is byte for byte what the format's `write_line` writes
//! (tests compare the two on hostile names). Pure: no I/O, no clock.

use super::append::Appender;
use super::number::{append_f64, is_fast_f64, put_fast_f64, put_i64, put_mean, F64_MAX_LEN};
use super::sanitize::{append_json_str, append_path, PATH_MAP};
use super::{DimText, Metric, Value};

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
    /// the format's `write_line` would for the template's metric with these fields. Returns
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

/// Graphite: `PREFIX.HOST.CHART.` · dim · `[;tags] ` · value · ` TS\n`.
pub(crate) fn graphite(m: &Metric) -> LineTemplate {
    let mut t = LineTemplate::new(m.use_names);
    super::graphite::write_head(&mut t.text, m);
    t.piece(Piece::DimPath);
    super::graphite::write_tags(&mut t.text, m);
    t.text.push(b' ');
    t.piece(Piece::Value);
    t.text.push(b' ');
    super::number::write_i64(&mut t.text, m.timestamp);
    t.text.push(b'\n');
    t.finish()
}

/// OpenTSDB telnet: `put PREFIX.CHART.` · dim · ` TS ` · value · ` host=HOST[ tags]\n`.
pub(crate) fn opentsdb(m: &Metric) -> LineTemplate {
    let mut t = LineTemplate::new(m.use_names);
    t.text.extend_from_slice(b"put ");
    super::opentsdb::write_metric_head(&mut t.text, m);
    t.piece(Piece::DimPath);
    t.text.push(b' ');
    super::number::write_i64(&mut t.text, m.timestamp);
    t.text.push(b' ');
    t.piece(Piece::Value);
    super::opentsdb::write_tags(&mut t.text, m);
    t.text.push(b'\n');
    t.finish()
}

/// JSON lines: everything up to `"id":"` · id · `","name":"` · name · `","value":` · value ·
/// `,"timestamp": TS}\n`.
pub(crate) fn json(m: &Metric) -> LineTemplate {
    let mut t = LineTemplate::new(m.use_names);
    super::json::write_head(&mut t.text, m);
    t.text.extend_from_slice(b"\"id\":\"");
    t.piece(Piece::DimIdJson);
    t.text.extend_from_slice(b"\",\"name\":\"");
    t.piece(Piece::DimNameJson);
    t.text.extend_from_slice(b"\",\"value\":");
    t.piece(Piece::Value);
    t.text.extend_from_slice(b",\"timestamp\": ");
    super::number::write_i64(&mut t.text, m.timestamp);
    t.text.extend_from_slice(b"}\n");
    t.finish()
}
