//! JSON-array request bodies, whatever object each metric makes.
//!
//! A [`JsonArrayBody`] starts with `[`, takes one object per metric separated by commas, and
//! closes with `]` when finished. It always knows the size the closed body would have, and
//! [`JsonArrayBody::push_within`] refuses an object that would take the body over a byte limit,
//! so the caller can cut batches without reformatting anything. The objects are the
//! connector's (OpenTSDB `/api/put`, `json:http`): this module knows no format, nor HTTP or
//! sockets.

use super::{Metric, Push};

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
    /// An empty body whose objects `write` writes (nothing, returning `false`, for a value that
    /// is NaN or infinite).
    pub fn new(write: fn(&mut Vec<u8>, &Metric) -> bool) -> JsonArrayBody {
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
