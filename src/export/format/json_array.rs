//! JSON-array request bodies: OpenTSDB `/api/put` and `json:http`.
//!
//! A [`JsonArrayBody`] starts with `[`, takes one object per metric separated by commas, and
//! closes with `]` when finished. It always knows the size the closed body would have, and
//! [`JsonArrayBody::push_within`] refuses an object that would take the body over a byte limit,
//! so the caller can cut batches without reformatting anything. Knows nothing of HTTP or
//! sockets.
//!
//! OpenTSDB objects are
//! `{"metric":"PREFIX.CHART.DIM","timestamp":T,"value":V,"tags":{"host":"HOSTNAME","key":"value",…}}`
//! with the metric name and tags sanitized as for the telnet protocol (so they need no JSON
//! escaping), and labels kept or left out by the same rules as there. `json:http` objects are
//! the [`json`] objects, without their newline.

use super::number::write_i64;
use super::sanitize::write_path;
use super::template::{Layout, LineSink};
use super::{json, opentsdb, tag_labels, Metric, Push};

/// The OpenTSDB `/api/put` object, defined once.
pub struct OpentsdbObject;

impl Layout for OpentsdbObject {
    const RESERVE: usize = 96;

    #[inline]
    fn line(sink: &mut impl LineSink, m: &Metric) {
        sink.text().extend_from_slice(b"{\"metric\":\"");
        opentsdb::write_metric_name(sink, m);
        let out = sink.text();
        out.extend_from_slice(b"\",\"timestamp\":");
        write_i64(out, m.timestamp);
        out.extend_from_slice(b",\"value\":");
        sink.value();
        let out = sink.text();
        out.extend_from_slice(b",\"tags\":{\"host\":\"");
        write_path(out, m.hostname);
        out.push(b'"');
        for (k, v) in tag_labels(m.labels, "host") {
            out.extend_from_slice(b",\"");
            write_path(out, k);
            out.extend_from_slice(b"\":\"");
            write_path(out, v);
            out.push(b'"');
        }
        out.extend_from_slice(b"}}");
    }
}

/// Appends the OpenTSDB `/api/put` object for `m`. Returns `false`, writing nothing, when the
/// value is NaN or infinite.
pub fn write_opentsdb_object(out: &mut Vec<u8>, m: &Metric) -> bool {
    OpentsdbObject::write_line(out, m)
}

/// A JSON array of metric objects, built one metric at a time.
#[derive(Debug, Clone)]
pub struct JsonArrayBody {
    /// `[` and the objects so far, separated by commas; `]` is added by `finish`.
    buf: Vec<u8>,
    /// Objects in `buf`.
    count: usize,
    /// Writes one object, or nothing (returning `false`) for a non-finite value.
    write: fn(&mut Vec<u8>, &Metric) -> bool,
}

impl JsonArrayBody {
    /// An empty body of OpenTSDB `/api/put` objects.
    pub fn opentsdb() -> JsonArrayBody {
        JsonArrayBody::new(write_opentsdb_object)
    }

    /// An empty body of `json:http` objects.
    pub fn json() -> JsonArrayBody {
        JsonArrayBody::new(json::write_object)
    }

    fn new(write: fn(&mut Vec<u8>, &Metric) -> bool) -> JsonArrayBody {
        JsonArrayBody { buf: vec![b'['], count: 0, write }
    }

    /// Adds `m`'s object. Returns `false`, adding nothing, when the value is NaN or infinite.
    pub fn push(&mut self, m: &Metric) -> bool {
        self.push_within(m, usize::MAX) == Push::Added
    }

    /// Adds `m`'s object unless the closed body would then exceed `limit` bytes. An empty body
    /// takes any object, however large: one object cannot be split.
    pub fn push_within(&mut self, m: &Metric, limit: usize) -> Push {
        let mark = self.buf.len();
        if self.count > 0 {
            self.buf.push(b',');
        }
        if !(self.write)(&mut self.buf, m) {
            self.buf.truncate(mark);
            return Push::NotFinite;
        }
        if self.count > 0 && self.buf.len() + 1 > limit {
            self.buf.truncate(mark);
            return Push::Full;
        }
        self.count += 1;
        Push::Added
    }

    /// The size in bytes of the body once closed.
    pub fn len(&self) -> usize {
        self.buf.len() + 1
    }

    /// How many objects the body holds.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether the body holds no object.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Closes the array and returns it (`[]` when empty); the builder starts a new, empty body.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut next = Vec::with_capacity(self.buf.capacity());
        next.push(b'[');
        let mut body = std::mem::replace(&mut self.buf, next);
        body.push(b']');
        self.count = 0;
        body
    }
}
