//! What waits for delivery: the [`LineOutbox`] of lines and the [`RequestOutbox`] of HTTP bodies.
//!
//! One job: remember what has not been delivered yet, oldest first, and say exactly what a
//! delivery or a drop took away. Both answer the same questions, the [`Outbox`] trait
//! (`push_batch`, `pending_*`, `drop_all`, `drop_oldest_until`), so that the sender's caps and
//! spool work the same for every connector.
//!
//! * The line outbox advances only at line boundaries. A connection that took part
//!   of a line and then failed leaves that whole line pending, so the next connection starts
//!   with a complete line: no byte is delivered twice by the outbox itself and no truncated line
//!   is ever counted as sent. A line cut on a connection that lives on is never dropped: the
//!   connection must complete it before anything else goes on it.
//! * The replay window is measured from the time a line was *first* written: lines sent again
//!   after a failure keep that time, so a failure that repeats (a receiver that closes every
//!   connection) cannot keep sending the same lines again and again.
//! * The request outbox holds whole request bodies; a body leaves it only when acknowledged or
//!   dropped, never in part.
//!
//! Knows nothing of sockets or formats; it sees bytes, newlines, bodies and interval boundaries.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::export::batch::Batch;

/// What waits for delivery, lines or request bodies: what the sender asks of either.
pub trait Outbox: Send {
    /// Queue one interval's batch (an empty one, a tick, adds nothing).
    fn push_batch(&mut self, batch: Batch);
    /// Bytes not yet delivered.
    fn pending_bytes(&self) -> usize;
    /// Metrics not yet delivered.
    fn pending_metrics(&self) -> usize;
    /// Intervals (whole or partial) not yet delivered.
    fn pending_intervals(&self) -> usize;
    /// Whether nothing is pending.
    fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }
    /// Drop everything pending (a line the connection took in part stays, to be completed).
    fn drop_all(&mut self) -> Dropped;
    /// Drop the oldest whole intervals until at most `max_bytes` are pending (the newest stays).
    fn drop_oldest_until(&mut self, max_bytes: usize) -> Dropped;
}

/// One exported interval's place in the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    /// Offset (into `data`) one past the interval's last byte.
    end: usize,
    /// Lines (metrics) the interval still has pending.
    metrics: usize,
    /// For lines queued again by a replay: when they were first written. The replay window
    /// counts from then.
    first_written: Option<Instant>,
}

/// What a drop discarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Lines discarded.
    pub metrics: u64,
    /// Bytes discarded.
    pub bytes: u64,
    /// Whole or partial intervals discarded.
    pub intervals: u64,
}

/// What a write delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Complete lines delivered.
    pub metrics: u64,
    /// Bytes of complete lines delivered.
    pub bytes: u64,
}

/// What a failed connection sends again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requeued {
    /// Bytes of a line cut by the failure, written again whole.
    pub partial: usize,
    /// Complete lines written in the replay window, queued again.
    pub metrics: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Lines written to the current connection in the last `window`, oldest first: the kernel
/// accepted them, but a receiver that is reset or killed may never have read them.
///
/// Each write is kept in an allocation of its own, freed whole when it leaves the window, so
/// the memory held is what is kept. (One growing buffer compacted once half of it was stale
/// kept up to twice the limit resident: 64 MiB for the default 32 MiB limit.)
#[derive(Debug, Default)]
struct ReplayWindow {
    window: Duration,
    /// At most this many bytes are kept (the oldest writes go first), whatever the window.
    max_bytes: usize,
    /// `(bytes, lines, when first written)` per write, oldest first.
    writes: VecDeque<(Box<[u8]>, usize, Instant)>,
    /// Bytes in `writes`.
    bytes: usize,
    metrics: usize,
}

impl ReplayWindow {
    /// Keep `bytes` (`metrics` lines, first written at `at`), written to the connection at `now`.
    fn record(&mut self, bytes: &[u8], metrics: usize, at: Instant, now: Instant) {
        if self.window.is_zero() || bytes.is_empty() {
            return;
        }
        self.prune(now);
        self.writes.push_back((bytes.into(), metrics, at));
        self.bytes += bytes.len();
        self.metrics += metrics;
        self.prune(now);
    }

    fn prune(&mut self, now: Instant) {
        while let Some((data, metrics, at)) = self.writes.front() {
            let too_old = now.saturating_duration_since(*at) > self.window;
            // Over the byte limit, writes go oldest first, but the newest one always stays.
            let too_big = self.bytes > self.max_bytes && self.writes.len() > 1;
            if !too_old && !too_big {
                break;
            }
            self.bytes -= data.len();
            self.metrics -= metrics;
            self.writes.pop_front();
        }
        if self.writes.capacity() > 64 && self.writes.capacity() > 4 * self.writes.len() {
            self.writes.shrink_to(2 * self.writes.len());
        }
    }

    /// Everything still inside the window, leaving the replay empty: the bytes, and per write
    /// `(end offset in those bytes, lines, when first written)`, oldest first.
    fn take(&mut self, now: Instant) -> (Vec<u8>, Vec<(usize, usize, Instant)>) {
        self.prune(now);
        let mut bytes = Vec::with_capacity(self.bytes);
        let mut ends = Vec::with_capacity(self.writes.len());
        for (data, metrics, at) in self.writes.drain(..) {
            bytes.extend_from_slice(&data);
            ends.push((bytes.len(), metrics, at));
        }
        self.clear();
        (bytes, ends)
    }

    fn clear(&mut self) {
        self.writes.clear();
        self.bytes = 0;
        self.metrics = 0;
    }
}

/// Pending formatted lines, oldest first, and the lines recently written (the replay window).
#[derive(Debug, Default)]
pub struct LineOutbox {
    data: Vec<u8>,
    /// Everything before `start` is delivered (kept until compaction).
    start: usize,
    /// Bytes after `start` already written to the current connection, possibly mid-line.
    written: usize,
    intervals: VecDeque<Interval>,
    metrics: usize,
    replay: ReplayWindow,
}

impl LineOutbox {
    /// An empty outbox that sends nothing again after a failure.
    pub fn new() -> LineOutbox {
        LineOutbox::default()
    }

    /// An empty outbox that, after a connection failure, sends again the lines written to that
    /// connection in the last `window`, keeping at most about `max_bytes` of them.
    pub fn with_replay(window: Duration, max_bytes: usize) -> LineOutbox {
        LineOutbox {
            replay: ReplayWindow { window, max_bytes, ..ReplayWindow::default() },
            ..LineOutbox::default()
        }
    }

    /// Bytes kept for replay.
    pub fn replay_bytes(&self) -> usize {
        self.replay.bytes
    }

    /// Append one interval of complete lines (`bytes` must end with `\n` or be empty); each
    /// line is one metric. An empty outbox (the usual state: everything before was delivered)
    /// takes the buffer as it is instead of copying it.
    pub fn push(&mut self, bytes: Vec<u8>) {
        let lines = count_newlines(&bytes);
        self.push_lines(bytes, lines);
    }

    /// [`LineOutbox::push`] for a buffer whose writer counted its `lines` (a formatter's batch, or
    /// one read back from the spool): the bytes are not read here, so a window's buffer reaches
    /// this thread's cache only when the connection is given it.
    pub fn push_lines(&mut self, bytes: Vec<u8>, lines: usize) {
        debug_assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
        debug_assert_eq!(count_newlines(&bytes), lines);
        if bytes.is_empty() {
            return;
        }
        let metrics = lines;
        if self.data.is_empty() {
            // Nothing pending, so nothing written to the connection and no offset to keep.
            debug_assert_eq!((self.start, self.written), (0, 0));
            self.data = bytes;
        } else {
            self.data.extend_from_slice(&bytes);
        }
        self.intervals.push_back(Interval { end: self.data.len(), metrics, first_written: None });
        self.metrics += metrics;
    }

    /// The bytes the current connection has not been given yet.
    pub fn unwritten(&self) -> &[u8] {
        &self.data[self.start + self.written..]
    }

    /// Bytes of a line the current connection took only in part (0: it stands at a line
    /// boundary).
    pub fn cut_line_written(&self) -> usize {
        self.written
    }

    /// What the current connection needs to complete the line it took in part, newline
    /// included (empty when it stands at a line boundary).
    pub fn rest_of_cut_line(&self) -> &[u8] {
        if self.written == 0 {
            return &[];
        }
        let rest = self.unwritten();
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        &rest[..end]
    }

    /// Record that the connection accepted `n` more bytes at `now`; complete lines become
    /// delivered (and are kept for the replay window).
    pub fn wrote(&mut self, n: usize, now: Instant) -> Delivered {
        self.written += n;
        debug_assert!(self.start + self.written <= self.data.len());
        let window = &self.data[self.start..self.start + self.written];
        let Some(last_nl) = window.iter().rposition(|&b| b == b'\n') else {
            return Delivered::default();
        };
        let upto = self.start + last_nl + 1;
        self.commit(upto, now)
    }

    /// The connection failed at `now`: a partly written line stays pending and is written whole
    /// next time, and the lines written in the replay window are queued again in front, in
    /// order, so the next connection starts at a line boundary with what the receiver may have
    /// lost.
    pub fn connection_lost(&mut self, now: Instant) -> Requeued {
        let partial = std::mem::take(&mut self.written);
        let (bytes, chunks) = self.replay.take(now);
        let len = bytes.len();
        let metrics: usize = chunks.iter().map(|c| c.1).sum();
        if len > 0 {
            let mut data = bytes;
            data.extend_from_slice(&self.data[self.start..]);
            for iv in self.intervals.iter_mut() {
                iv.end = iv.end - self.start + len;
            }
            for &(end, metrics, at) in chunks.iter().rev() {
                self.intervals.push_front(Interval { end, metrics, first_written: Some(at) });
            }
            self.data = data;
            self.start = 0;
            self.metrics += metrics;
        }
        Requeued { partial, metrics: metrics as u64, bytes: len as u64 }
    }

    /// The connection ended without a failure to make good (the exporter stops): a partly
    /// written line stays pending and nothing is sent again.
    pub fn connection_closed(&mut self) {
        self.written = 0;
        self.replay.clear();
    }

    fn commit(&mut self, upto: usize, now: Instant) -> Delivered {
        let mut lines = 0usize;
        let mut pos = self.start;
        while pos < upto {
            let iv = self.intervals.front_mut().expect("pending bytes belong to an interval");
            let stop = iv.end.min(upto);
            // An interval delivered to its end delivers all its pending lines: only a partly
            // delivered one needs counting.
            let n = if stop == iv.end { iv.metrics } else { count_newlines(&self.data[pos..stop]) };
            iv.metrics -= n;
            lines += n;
            self.replay.record(&self.data[pos..stop], n, iv.first_written.unwrap_or(now), now);
            pos = stop;
            if iv.end <= upto {
                self.intervals.pop_front();
            }
        }
        self.metrics -= lines;
        let bytes = upto - self.start;
        self.written -= bytes;
        self.start = upto;
        self.compact();
        Delivered { metrics: lines as u64, bytes: bytes as u64 }
    }

    fn compact(&mut self) {
        if self.start == self.data.len() {
            // Everything is delivered: give the buffer back now. The next interval brings a
            // buffer of its own (taken as it is), so keeping this one would only hold a
            // window's worth of memory idle until then.
            self.data = Vec::new();
            self.start = 0;
            self.intervals.clear();
            return;
        }
        if self.start > 64 * 1024 && self.start * 2 > self.data.len() {
            self.data.drain(..self.start);
            for iv in self.intervals.iter_mut() {
                iv.end -= self.start;
            }
            self.start = 0;
        }
    }
}

impl Outbox for LineOutbox {
    fn push_batch(&mut self, batch: Batch) {
        // Line batches carry one metric per line: the formatter counted them.
        self.push_lines(batch.bytes, batch.metrics);
    }

    /// Bytes not yet delivered.
    fn pending_bytes(&self) -> usize {
        self.data.len() - self.start
    }

    /// Lines not yet delivered.
    fn pending_metrics(&self) -> usize {
        self.metrics
    }

    /// Intervals (whole or partial) not yet delivered.
    fn pending_intervals(&self) -> usize {
        self.intervals.len()
    }

    /// Drop everything pending, except a line the current connection took in part: it stays,
    /// alone, so that the connection completes it instead of going on with a cut line.
    fn drop_all(&mut self) -> Dropped {
        let keep = self.rest_of_cut_line().len();
        let kept_end = self.start + self.written + keep;
        let kept_lines = usize::from(keep > 0);
        let d = Dropped {
            metrics: (self.metrics - kept_lines) as u64,
            bytes: (self.data.len() - kept_end) as u64,
            intervals: self.intervals.iter().filter(|iv| iv.end > kept_end).count() as u64,
        };
        if keep > 0 {
            let first_written = self.intervals.front().and_then(|iv| iv.first_written);
            self.data.truncate(kept_end);
            self.data.drain(..self.start);
            self.start = 0;
            self.intervals.clear();
            self.intervals.push_back(Interval { end: self.data.len(), metrics: 1, first_written });
            self.metrics = 1;
        } else {
            self.data = Vec::new();
            self.start = 0;
            self.written = 0;
            self.intervals.clear();
            self.metrics = 0;
        }
        self.replay.clear();
        d
    }

    /// Drop the oldest whole intervals until at most `max_bytes` are pending. The interval being
    /// written to the current connection is never cut.
    fn drop_oldest_until(&mut self, max_bytes: usize) -> Dropped {
        let mut d = Dropped::default();
        while self.pending_bytes() > max_bytes && self.intervals.len() > 1 {
            let first = self.intervals[0];
            if self.written > 0 && self.start + self.written <= first.end {
                // Being written now: drop the next one instead would reorder; stop here.
                break;
            }
            let iv = self.intervals.pop_front().expect("checked len");
            d.metrics += iv.metrics as u64;
            d.bytes += (iv.end - self.start) as u64;
            d.intervals += 1;
            self.metrics -= iv.metrics;
            self.written = self.written.saturating_sub(iv.end - self.start);
            self.start = iv.end;
        }
        self.compact();
        d
    }
}

/// Whole request bodies waiting for delivery, oldest first.
#[derive(Debug, Default)]
pub struct RequestOutbox {
    bodies: VecDeque<Batch>,
    bytes: usize,
    metrics: usize,
}

impl RequestOutbox {
    /// An empty queue.
    pub fn new() -> RequestOutbox {
        RequestOutbox::default()
    }

    /// The oldest body: the next one to send.
    pub fn front(&self) -> Option<&Batch> {
        self.bodies.front()
    }

    /// The oldest body was acknowledged: it leaves the queue.
    pub fn delivered(&mut self) -> Delivered {
        match self.pop() {
            Some(b) => Delivered { metrics: b.metrics as u64, bytes: b.bytes.len() as u64 },
            None => Delivered::default(),
        }
    }

    /// The oldest body was refused for good: it leaves the queue, lost.
    pub fn reject_front(&mut self) -> Dropped {
        match self.pop() {
            Some(b) => Dropped { metrics: b.metrics as u64, bytes: b.bytes.len() as u64, intervals: 1 },
            None => Dropped::default(),
        }
    }

    /// Bodies not yet delivered.
    pub fn pending_requests(&self) -> usize {
        self.bodies.len()
    }

    fn pop(&mut self) -> Option<Batch> {
        let b = self.bodies.pop_front()?;
        self.bytes -= b.bytes.len();
        self.metrics -= b.metrics;
        Some(b)
    }
}

impl Outbox for RequestOutbox {
    /// Append one request body; an empty one (a tick) is ignored.
    fn push_batch(&mut self, body: Batch) {
        if body.is_empty() {
            return;
        }
        self.bytes += body.bytes.len();
        self.metrics += body.metrics;
        self.bodies.push_back(body);
    }

    /// Bytes of bodies not yet delivered.
    fn pending_bytes(&self) -> usize {
        self.bytes
    }

    /// Metrics not yet delivered.
    fn pending_metrics(&self) -> usize {
        self.metrics
    }

    /// Windows (distinct timestamps) with bodies not yet delivered.
    fn pending_intervals(&self) -> usize {
        count_windows(self.bodies.iter().map(|b| b.timestamp)) as usize
    }

    /// Drop everything pending.
    fn drop_all(&mut self) -> Dropped {
        let d = Dropped {
            metrics: self.metrics as u64,
            bytes: self.bytes as u64,
            intervals: self.pending_intervals() as u64,
        };
        self.bodies.clear();
        self.bytes = 0;
        self.metrics = 0;
        d
    }

    /// Drop the oldest bodies until at most `max_bytes` are pending. The newest body is always
    /// kept.
    fn drop_oldest_until(&mut self, max_bytes: usize) -> Dropped {
        let mut gone = Vec::new();
        while self.bytes > max_bytes && self.bodies.len() > 1 {
            gone.extend(self.pop());
        }
        Dropped {
            metrics: gone.iter().map(|b| b.metrics as u64).sum(),
            bytes: gone.iter().map(|b| b.bytes.len() as u64).sum(),
            intervals: count_windows(gone.iter().map(|b| b.timestamp)),
        }
    }
}

/// Distinct windows among timestamps in queue order (a window's batches are adjacent).
pub(crate) fn count_windows(timestamps: impl IntoIterator<Item = i64>) -> u64 {
    let mut n = 0;
    let mut last = None;
    for t in timestamps {
        if last != Some(t) {
            n += 1;
            last = Some(t);
        }
    }
    n
}

#[inline]
fn count_newlines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_holds_what_it_keeps_and_gives_back_the_rest() {
        let t0 = Instant::now();
        let mut r =
            ReplayWindow { window: Duration::from_secs(10), max_bytes: 8 << 20, ..ReplayWindow::default() };
        for i in 0..20 {
            let now = t0 + Duration::from_secs(i / 4);
            r.record(&[b'x'; 1 << 20], 1000, now, now);
        }
        let held = |r: &ReplayWindow| r.writes.iter().map(|w| w.0.len()).sum::<usize>();
        assert_eq!((r.bytes, held(&r), r.writes.len(), r.metrics), (8 << 20, 8 << 20, 8, 8000));
        // Much less is written from now on: after the window, 4 KiB a write is what is kept.
        for i in 0..20 {
            let now = t0 + Duration::from_secs(20 + i);
            r.record(&[b'y'; 4096], 1, now, now);
        }
        assert_eq!((r.bytes, held(&r), r.writes.len(), r.metrics), (4096 * 11, 4096 * 11, 11, 11));
        let (bytes, ends) = r.take(t0 + Duration::from_secs(39));
        assert_eq!(bytes, vec![b'y'; 4096 * 11]);
        assert_eq!(
            ends.iter().map(|e| e.0).collect::<Vec<_>>(),
            (1..=11).map(|k| k * 4096).collect::<Vec<_>>()
        );
        assert_eq!((r.bytes, r.writes.len(), r.metrics), (0, 0, 0));
    }

    fn now() -> Instant {
        Instant::now()
    }

    fn lines(prefix: &str, n: usize) -> Vec<u8> {
        (0..n).map(|i| format!("{prefix}.{i} {i} 100\n")).collect::<String>().into_bytes()
    }

    #[test]
    fn whole_write_delivers_everything() {
        let mut o = LineOutbox::new();
        o.push(lines("a", 3));
        o.push(lines("b", 2));
        let n = o.unwritten().len();
        assert_eq!(o.wrote(n, now()), Delivered { metrics: 5, bytes: n as u64 });
        assert!(o.is_empty());
        assert_eq!(o.pending_metrics(), 0);
        assert_eq!(o.pending_intervals(), 0);
    }

    /// A buffer pushed with the count its writer made is held and delivered as one whose lines
    /// the outbox counted itself.
    #[test]
    fn pushing_with_the_writers_count_is_pushing() {
        let (mut counted, mut told) = (LineOutbox::new(), LineOutbox::new());
        for (prefix, n) in [("a", 3), ("b", 2)] {
            counted.push(lines(prefix, n));
            told.push_lines(lines(prefix, n), n);
        }
        assert_eq!((told.pending_metrics(), told.pending_intervals()), (5, 2));
        assert_eq!(told.unwritten(), counted.unwritten());
        let n = told.unwritten().len();
        let first = told.wrote(n - 1, now());
        assert_eq!(first, counted.wrote(n - 1, now()));
        assert_eq!(first.metrics, 4, "the last line is not whole yet");
        let second = told.wrote(1, now());
        assert_eq!(second, counted.wrote(1, now()));
        assert_eq!((first.metrics + second.metrics, first.bytes + second.bytes), (5, n as u64));
        assert!(told.is_empty());
    }

    #[test]
    fn partial_write_then_failure_resends_the_cut_line_whole_and_nothing_twice() {
        let mut o = LineOutbox::new();
        let a = b"x.a 1 100\nx.b 2 100\nx.c 3 100\n";
        o.push(a.to_vec());
        // The kernel took 14 bytes: the first line and 4 bytes of the second.
        assert_eq!(o.wrote(14, now()), Delivered { metrics: 1, bytes: 10 });
        assert_eq!(o.unwritten(), b"2 100\nx.c 3 100\n");
        assert_eq!(o.connection_lost(now()).partial, 4);
        // The next connection starts at the line boundary.
        assert_eq!(o.unwritten(), b"x.b 2 100\nx.c 3 100\n");
        assert_eq!(o.pending_metrics(), 2);
        let n = o.unwritten().len();
        assert_eq!(o.wrote(n, now()), Delivered { metrics: 2, bytes: 20 });
        assert!(o.is_empty());
    }

    #[test]
    fn delivery_across_interval_boundaries_counts_lines_exactly() {
        let mut o = LineOutbox::new();
        o.push(lines("a", 4));
        o.push(lines("b", 4));
        o.push(lines("c", 4));
        let total = o.pending_bytes();
        let mut delivered = 0;
        let mut step = 7;
        while !o.unwritten().is_empty() {
            let n = step.min(o.unwritten().len());
            delivered += o.wrote(n, now()).metrics;
            step += 5;
            assert_eq!(o.pending_metrics() as u64 + delivered, 12);
        }
        assert_eq!(delivered, 12);
        assert!(o.is_empty());
        let _ = total;
    }

    #[test]
    fn drop_all_reports_exactly_what_was_lost() {
        let mut o = LineOutbox::new();
        o.push(lines("a", 3));
        o.push(lines("b", 2));
        let bytes = o.pending_bytes() as u64;
        assert_eq!(o.drop_all(), Dropped { metrics: 5, bytes, intervals: 2 });
        assert!(o.is_empty());
    }

    /// Dropping the queue (`buffer on failures`) while a slow connection holds part of a line
    /// keeps that line's rest for it: the next bytes on the connection complete it, never
    /// start a new line inside it.
    #[test]
    fn drop_all_keeps_the_rest_of_a_line_the_connection_took_in_part() {
        let mut o = LineOutbox::new();
        o.push(b"a.0 1 100\na.1 2 100\n".to_vec());
        o.push(lines("b", 2));
        let pending = o.pending_bytes() as u64;
        assert_eq!(o.wrote(4, now()), Delivered::default());
        assert_eq!(o.drop_all(), Dropped { metrics: 3, bytes: pending - 10, intervals: 2 });
        assert_eq!((o.pending_metrics(), o.pending_intervals(), o.cut_line_written()), (1, 1, 4));
        assert_eq!(o.unwritten(), b"1 100\n");
        assert_eq!(o.rest_of_cut_line(), b"1 100\n");
        o.push(b"c.0 3 110\n".to_vec());
        assert_eq!(o.unwritten(), b"1 100\nc.0 3 110\n");
        assert_eq!(o.wrote(16, now()), Delivered { metrics: 2, bytes: 20 });
        assert!(o.is_empty());
        // At a line boundary nothing is kept.
        o.push(lines("d", 2));
        o.wrote(o.unwritten().iter().position(|&b| b == b'\n').unwrap() + 1, now());
        assert_eq!(o.drop_all().metrics, 1);
        assert!(o.is_empty());
    }

    /// Writes that end inside a line, inside an interval and exactly at an interval's end all
    /// count exactly the lines they completed; an outbox emptied by delivery takes the next
    /// interval's buffer whole.
    #[test]
    fn delivery_counts_lines_across_partial_and_whole_intervals() {
        let mut o = LineOutbox::new();
        let a = b"x.a 1 100\nx.b 2 100\nx.c 3 100\n".to_vec();
        let b = b"y.a 4 110\ny.b 5 110\n".to_vec();
        o.push(a.clone());
        o.push(b.clone());
        assert_eq!(o.wrote(14, now()), Delivered { metrics: 1, bytes: 10 });
        // The rest of `a` and 5 bytes of `b`.
        assert_eq!(o.wrote(a.len() - 14 + 5, now()), Delivered { metrics: 2, bytes: a.len() as u64 - 10 });
        assert_eq!((o.pending_metrics(), o.pending_intervals()), (2, 1));
        assert_eq!(o.wrote(b.len() - 5, now()), Delivered { metrics: 2, bytes: b.len() as u64 });
        assert!(o.is_empty());
        let c = b"z.a 6 120\n".to_vec();
        let at = c.as_ptr();
        o.push(c);
        assert_eq!(o.unwritten(), b"z.a 6 120\n");
        assert_eq!(o.unwritten().as_ptr(), at, "an empty outbox keeps the pushed buffer, no copy");
        assert_eq!(o.wrote(10, now()), Delivered { metrics: 1, bytes: 10 });
    }

    #[test]
    fn drop_oldest_whole_intervals_to_fit_a_cap() {
        let mut o = LineOutbox::new();
        let a = lines("a", 10);
        let b = lines("b", 10);
        let c = lines("c", 10);
        o.push(a.clone());
        o.push(b.clone());
        o.push(c.clone());
        let d = o.drop_oldest_until(b.len() + c.len());
        assert_eq!(d, Dropped { metrics: 10, bytes: a.len() as u64, intervals: 1 });
        assert_eq!(o.pending_metrics(), 20);
        assert!(o.unwritten().starts_with(b"b.0 "));
        // The newest interval is always kept.
        let d = o.drop_oldest_until(0);
        assert_eq!(d.intervals, 1);
        assert_eq!(o.pending_intervals(), 1);
        assert!(o.unwritten().starts_with(b"c.0 "));
    }

    fn body(timestamp: i64, metrics: usize, len: usize) -> Batch {
        Batch { timestamp, metrics, bytes: vec![b'x'; len] }
    }

    #[test]
    fn request_queue_moves_whole_bodies_and_counts_exactly() {
        let mut q = RequestOutbox::new();
        q.push_batch(body(10, 3, 100));
        q.push_batch(body(10, 2, 50));
        q.push_batch(Batch::default());
        q.push_batch(body(20, 4, 70));
        assert_eq!((q.pending_metrics(), q.pending_bytes(), q.pending_requests()), (9, 220, 3));
        assert_eq!(q.pending_intervals(), 2);
        assert_eq!(q.front().map(|b| b.bytes.len()), Some(100));
        assert_eq!(q.delivered(), Delivered { metrics: 3, bytes: 100 });
        assert_eq!(q.reject_front(), Dropped { metrics: 2, bytes: 50, intervals: 1 });
        assert_eq!((q.pending_metrics(), q.pending_bytes(), q.pending_intervals()), (4, 70, 1));
        assert_eq!(q.drop_all(), Dropped { metrics: 4, bytes: 70, intervals: 1 });
        assert!(q.is_empty());
        assert_eq!(q.delivered(), Delivered::default());
    }

    #[test]
    fn request_queue_drops_oldest_bodies_to_fit_a_cap_and_keeps_the_newest() {
        let mut q = RequestOutbox::new();
        q.push_batch(body(10, 1, 100));
        q.push_batch(body(10, 2, 100));
        q.push_batch(body(20, 3, 100));
        q.push_batch(body(30, 4, 100));
        assert_eq!(q.drop_oldest_until(250), Dropped { metrics: 3, bytes: 200, intervals: 1 });
        assert_eq!(q.front().map(|b| b.metrics), Some(3));
        assert_eq!(q.drop_oldest_until(0), Dropped { metrics: 3, bytes: 100, intervals: 1 });
        assert_eq!((q.pending_requests(), q.pending_metrics()), (1, 4));
    }

    #[test]
    fn a_delivered_or_dropped_outbox_holds_no_buffer() {
        let mut o = LineOutbox::with_replay(Duration::from_secs(10), usize::MAX);
        o.push(lines("a", 1000));
        assert!(o.data.capacity() > 0);
        let n = o.unwritten().len();
        assert_eq!(o.wrote(n, now()).metrics, 1000);
        assert_eq!((o.data.capacity(), o.pending_bytes(), o.replay_bytes()), (0, 0, n));
        o.push(lines("b", 10));
        assert_eq!(o.drop_all().metrics, 10);
        assert_eq!((o.data.capacity(), o.pending_bytes()), (0, 0));
    }

    #[test]
    fn compaction_keeps_offsets_right() {
        let mut o = LineOutbox::new();
        let big = lines("big", 20_000);
        o.push(big.clone());
        o.push(lines("tail", 2));
        assert_eq!(o.wrote(big.len(), now()).metrics, 20_000);
        assert_eq!(o.pending_metrics(), 2);
        assert_eq!(o.unwritten(), &lines("tail", 2)[..]);
        o.push(lines("more", 1));
        let n = o.unwritten().len();
        assert_eq!(o.wrote(n, now()).metrics, 3);
        assert!(o.is_empty());
    }

    #[test]
    fn a_failed_connection_replays_the_window_then_the_cut_line_in_order() {
        let t0 = Instant::now();
        let mut o = LineOutbox::with_replay(Duration::from_secs(10), usize::MAX);
        o.push(b"a 1 1\nb 2 1\n".to_vec());
        assert_eq!(o.wrote(12, t0).metrics, 2);
        o.push(b"c 3 2\nd 4 2\n".to_vec());
        // 9 bytes: line c and 3 bytes of d, then the connection dies.
        assert_eq!(o.wrote(9, t0 + Duration::from_secs(1)).metrics, 1);
        assert_eq!(o.replay_bytes(), 18);
        let r = o.connection_lost(t0 + Duration::from_secs(2));
        assert_eq!(r, Requeued { partial: 3, metrics: 3, bytes: 18 });
        // Everything the dead connection may have lost, from a line boundary, in order.
        assert_eq!(o.unwritten(), b"a 1 1\nb 2 1\nc 3 2\nd 4 2\n");
        assert_eq!(o.pending_metrics(), 4);
        assert_eq!(o.replay_bytes(), 0);
        let n = o.unwritten().len();
        assert_eq!(o.wrote(n, t0 + Duration::from_secs(3)), Delivered { metrics: 4, bytes: 24 });
        assert!(o.is_empty());
    }

    /// A receiver that closes every connection: each failure sends the window again, but a line
    /// is sent again only while within the window of its *first* write, not forever.
    #[test]
    fn a_line_sent_again_keeps_the_time_of_its_first_write() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut o = LineOutbox::with_replay(s(10), usize::MAX);
        o.push(b"old 1 1\n".to_vec());
        o.wrote(8, t0);
        assert_eq!(o.connection_lost(t0 + s(1)).metrics, 1);
        o.push(b"new 2 2\n".to_vec());
        // The replayed line and the new one go to the next connection at t0 + 6.
        assert_eq!(o.unwritten(), b"old 1 1\nnew 2 2\n");
        assert_eq!(o.wrote(16, t0 + s(6)).metrics, 2);
        // That one fails at t0 + 12: "old" was first written 12 s ago, "new" 6 s ago.
        assert_eq!(o.connection_lost(t0 + s(12)), Requeued { partial: 0, metrics: 1, bytes: 8 });
        assert_eq!(o.unwritten(), b"new 2 2\n");
        // Written again at t0 + 13, failing at t0 + 17: still 11 s after its first write.
        o.wrote(8, t0 + s(13));
        assert_eq!(o.connection_lost(t0 + s(17)).metrics, 0);
        assert!(o.is_empty());
    }

    #[test]
    fn lines_older_than_the_replay_window_are_not_sent_again() {
        let t0 = Instant::now();
        let mut o = LineOutbox::with_replay(Duration::from_secs(10), usize::MAX);
        o.push(b"old 1 1\n".to_vec());
        o.wrote(8, t0);
        o.push(b"new 2 2\n".to_vec());
        o.wrote(8, t0 + Duration::from_secs(15));
        let r = o.connection_lost(t0 + Duration::from_secs(20));
        assert_eq!(r, Requeued { partial: 0, metrics: 1, bytes: 8 });
        assert_eq!(o.unwritten(), b"new 2 2\n");
    }

    #[test]
    fn the_replay_keeps_at_most_its_byte_limit_and_the_newest_write() {
        let now = Instant::now();
        let mut o = LineOutbox::with_replay(Duration::from_secs(10), 25);
        for line in [&b"first 0001\n"[..], b"second 0002\n", b"third 00003\n"] {
            o.push(line.to_vec());
            assert_eq!(o.wrote(line.len(), now).metrics, 1);
        }
        // 35 bytes written: the oldest write goes, the last two (24 bytes) stay.
        assert_eq!(o.replay_bytes(), 24);
        assert_eq!(o.connection_lost(now), Requeued { partial: 0, metrics: 2, bytes: 24 });
        assert_eq!(o.unwritten(), b"second 0002\nthird 00003\n");
        let mut o = LineOutbox::with_replay(Duration::from_secs(10), 4);
        o.push(b"a line longer than the limit\n".to_vec());
        assert_eq!(o.wrote(29, now).metrics, 1);
        assert_eq!(o.replay_bytes(), 29, "the newest write is kept whole");
    }

    #[test]
    fn without_a_replay_window_nothing_is_kept() {
        let mut o = LineOutbox::new();
        o.push(b"a 1 1\n".to_vec());
        o.wrote(6, now());
        assert_eq!(o.replay_bytes(), 0);
        assert_eq!(o.connection_lost(now()), Requeued::default());
        assert!(o.is_empty());
    }

    #[test]
    fn replay_goes_before_intervals_queued_meanwhile_and_counts_stay_exact() {
        let t0 = Instant::now();
        let mut o = LineOutbox::with_replay(Duration::from_secs(10), usize::MAX);
        o.push(lines("a", 3));
        let n = o.unwritten().len();
        o.wrote(n, t0);
        o.push(lines("b", 2));
        o.push(lines("c", 2));
        o.connection_lost(t0);
        assert_eq!(o.pending_metrics(), 7);
        assert_eq!(o.pending_intervals(), 3);
        let mut expected = lines("a", 3);
        expected.extend(lines("b", 2));
        expected.extend(lines("c", 2));
        assert_eq!(o.unwritten(), &expected[..]);
        // Dropping to a cap removes the replayed interval first, whole.
        let d = o.drop_oldest_until(expected.len() - lines("a", 3).len());
        assert_eq!(d.metrics, 3);
        assert_eq!(o.pending_metrics(), 4);
    }
}
