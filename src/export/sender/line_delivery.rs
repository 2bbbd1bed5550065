//! Line delivery: the outbox written to a TCP or UDP socket.
//!
//! One job: write the outbox to the connection with a deadline, reconnecting when the peer
//! closed or failed, and count lines and bytes as the outbox reports them delivered. Replies a
//! line backend sends are read, counted and logged, never interpreted.

use std::time::{Duration, Instant};

use super::{Attempt, Delivery};
use crate::export::outbox::{LineOutbox, Outbox};
use crate::export::transport::tcp::{LineTransport, WriteEnd};
use crate::export::transport::{describe, Endpoint};
use crate::logs::{repeat_note, Escaped, Persisting};

/// An outbox of lines and its socket.
#[derive(Debug)]
pub(crate) struct LineDelivery {
    transport: LineTransport,
    outbox: LineOutbox,
    endpoints: Vec<Endpoint>,
    /// The connection was opened by the last attempt and has not yet shown that it holds.
    on_trial: bool,
    /// Connected to a destination other than the first, which failed: logged once, then every
    /// 5 minutes, and when the first one takes the connection again.
    fallback: Persisting,
}

impl LineDelivery {
    /// Lines for `endpoints`, tried in order; connect and each write are bounded by `timeout`.
    /// After a connection fails, the lines written to it in the last `replay` are sent again;
    /// at most `replay_bytes` of them are kept.
    pub(crate) fn new(
        endpoints: Vec<Endpoint>,
        timeout: Duration,
        replay: Duration,
        replay_bytes: usize,
    ) -> LineDelivery {
        LineDelivery {
            transport: LineTransport::new(endpoints.clone(), timeout),
            outbox: LineOutbox::with_replay(replay, replay_bytes),
            endpoints,
            on_trial: false,
            fallback: Persisting::default(),
        }
    }

    /// End the connection: reset it when it stands inside a line (the receiver must not take
    /// the cut line for a whole one), close it in order otherwise.
    fn disconnect(&mut self) {
        if self.outbox.cut_line_written() > 0 {
            self.transport.abort();
        } else {
            self.transport.close();
        }
        self.on_trial = false;
    }

    /// Close a failed connection; queue again what the receiver may not have read. Returns
    /// the metrics queued again.
    fn lost(&mut self, a: &Attempt<'_>) -> u64 {
        self.disconnect();
        let r = self.outbox.connection_lost(Instant::now());
        a.stats.replayed_metrics(r.metrics);
        r.metrics
    }

    /// Connect, logging a destination skipped because it failed. Returns false (logged) when
    /// no destination takes the connection.
    fn connect(&mut self, a: &mut Attempt<'_>) -> bool {
        let c = match self.transport.connect() {
            Ok(c) => c,
            Err(f) => {
                let errors = f.errors.join("; ");
                if a.failed(format!("cannot connect to any destination ({errors})")) {
                    tracing::error!(
                        error = %errors,
                        metrics = self.outbox.pending_metrics(),
                        "cannot connect to any destination; keeping the data buffered and retrying with backoff{}",
                        repeat_note(a.outage)
                    );
                }
                return false;
            }
        };
        a.stats.reconnects(1);
        self.on_trial = true;
        if c.skipped.is_empty() {
            if let Some((n, d)) = self.fallback.clear(Instant::now()) {
                tracing::info!(
                    destination = %c.peer,
                    fallbacks = n,
                    seconds = d.as_secs(),
                    "connected to the first destination again, after falling back"
                );
            }
            tracing::debug!(destination = %c.peer, "connected");
        } else if self.fallback.occur(Instant::now()) {
            tracing::warn!(
                destination = %c.peer,
                skipped = %c.skipped.join("; "),
                "connected to a later destination, after those before it failed{}",
                repeat_note(&self.fallback)
            );
        }
        true
    }

    /// Read what the peer sent; when it closed the connection, count a failure. Returns false
    /// (logged) when the connection is gone.
    fn check_peer(&mut self, a: &mut Attempt<'_>) -> bool {
        let d = self.transport.drain();
        let peer = self.transport.peer().to_string();
        if d.bytes > 0 {
            a.stats.received_bytes(d.bytes as u64);
            a.stats.reads(d.reads as u64);
            tracing::info!(
                destination = %peer,
                bytes = d.bytes,
                sample = ?Escaped::str(&d.sample),
                "received data from the destination; ignoring it"
            );
        }
        if !d.closed {
            self.on_trial = false;
            return true;
        }
        let requeued = self.lost(a);
        // A receiver that closes connections is a failure like any other: the next attempt
        // comes after the backoff, and the log is not repeated for every connection.
        if a.failed(format!("{peer} closed the connection")) {
            tracing::error!(
                destination = %peer,
                requeued,
                metrics = self.outbox.pending_metrics(),
                "the destination closed the connection; reconnecting with backoff. The lines written to it in the \
                 replay window are queued again{}",
                repeat_note(a.outage)
            );
        }
        false
    }

    /// Make sure a connection stands: the current one if the peer kept it, else a new one.
    /// Returns false (logged) when there is none.
    fn ensure_connected(&mut self, a: &mut Attempt<'_>) -> bool {
        if self.transport.is_connected() && !self.check_peer(a) {
            return false;
        }
        self.transport.is_connected() || self.connect(a)
    }

    /// Write what the connection has not been given yet, within the configured timeout; count
    /// what was delivered. Returns the bytes written and how the write ended.
    fn write_unwritten(&mut self, a: &Attempt<'_>) -> (usize, WriteEnd) {
        // The send's own deadline starts now, after any time spent connecting: a destination
        // that never answered is not charged to the one that did.
        let (n, end) = self.transport.write(self.outbox.unwritten(), Instant::now() + a.timeout);
        let delivered = self.outbox.wrote(n, Instant::now());
        a.stats.sent_metrics(delivered.metrics);
        a.stats.sent_bytes(delivered.bytes);
        (n, end)
    }

    /// A peer that still reads, slowly: keep the connection so a line cut by the deadline is
    /// completed, not left truncated; continue next interval.
    fn slow(&mut self, a: &mut Attempt<'_>) {
        let peer = self.transport.peer().to_string();
        if a.failed(format!("{peer} is slow: still sending after {} ms", a.timeout.as_millis())) {
            tracing::warn!(
                destination = %peer,
                metrics = self.outbox.pending_metrics(),
                timeout_ms = a.timeout.as_millis() as u64,
                "the destination is slow: data is still buffered when the attempt's time is up; continuing next \
                 interval{}",
                repeat_note(a.outage)
            );
        }
    }

    /// The peer took nothing within the timeout: drop the connection, queue again what it may
    /// have lost.
    fn stalled(&mut self, a: &mut Attempt<'_>) {
        let peer = self.transport.peer().to_string();
        let requeued = self.lost(a);
        if a.failed(format!("{peer} accepted nothing for {} ms", a.timeout.as_millis())) {
            tracing::error!(
                destination = %peer,
                timeout_ms = a.timeout.as_millis() as u64,
                requeued,
                metrics = self.outbox.pending_metrics(),
                "the destination accepted nothing within the timeout; reconnecting with backoff. The data stays \
                 buffered{}",
                repeat_note(a.outage)
            );
        }
    }

    /// Writing failed: drop the connection, queue again what it may have lost.
    fn write_failed(&mut self, a: &mut Attempt<'_>, e: &std::io::Error) {
        let peer = self.transport.peer().to_string();
        let requeued = self.lost(a);
        if a.failed(format!("sending to {peer} failed: {e}")) {
            tracing::error!(
                destination = %peer,
                error = %e,
                requeued,
                metrics = self.outbox.pending_metrics(),
                "sending failed; reconnecting with backoff. The data stays buffered{}",
                repeat_note(a.outage)
            );
        }
    }

    /// The last attempt ended inside a line: give the peer up to `timeout` more to take the
    /// rest of it. Returns whether the stream now stands at a line boundary.
    fn complete_cut_line(&mut self, a: &Attempt<'_>) -> bool {
        let rest = self.outbox.rest_of_cut_line().len();
        if rest == 0 {
            return true;
        }
        let (n, _) = self.transport.write(self.outbox.rest_of_cut_line(), Instant::now() + a.timeout);
        let delivered = self.outbox.wrote(n, Instant::now());
        a.stats.sent_metrics(delivered.metrics);
        a.stats.sent_bytes(delivered.bytes);
        n == rest
    }
}

impl Delivery for LineDelivery {
    fn outbox(&self) -> &dyn Outbox {
        &self.outbox
    }

    fn outbox_mut(&mut self) -> &mut dyn Outbox {
        &mut self.outbox
    }

    fn destinations(&self) -> String {
        describe(&self.endpoints)
    }

    fn peer(&self) -> String {
        self.transport.peer().to_string()
    }

    fn close(&mut self) {
        self.disconnect();
        self.outbox.connection_closed();
    }

    fn on_trial(&self) -> bool {
        self.on_trial
    }

    fn finish(&mut self, a: &mut Attempt<'_>) {
        if !self.transport.is_connected() || self.complete_cut_line(a) {
            return;
        }
        tracing::error!(
            destination = %self.transport.peer(),
            timeout_ms = a.timeout.as_millis() as u64,
            "the destination took no more data while a line was cut; resetting the connection so that it does \
             not take the cut line for a whole one"
        );
        self.transport.abort();
        self.outbox.connection_closed();
    }

    fn deliver(&mut self, a: &mut Attempt<'_>) -> bool {
        if !self.ensure_connected(a) {
            return false;
        }
        match self.write_unwritten(a) {
            (_, WriteEnd::Done) => {
                a.stats.writes(1);
                return true;
            }
            (n, WriteEnd::TimedOut) if n > 0 => self.slow(a),
            (_, WriteEnd::TimedOut) => self.stalled(a),
            (_, WriteEnd::Failed(e)) => self.write_failed(a, &e),
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::batch::Batch;
    use crate::export::stats::Stats;
    use std::io::Read;
    use std::net::TcpListener;

    fn delivery(port: u16, timeout: Duration) -> LineDelivery {
        let ep = Endpoint { udp: false, host: "127.0.0.1".into(), port };
        LineDelivery::new(vec![ep], timeout, Duration::from_secs(10), 1 << 20)
    }

    fn attempt(d: &mut LineDelivery, stats: &Stats, outage: &mut Persisting, last: bool) -> bool {
        let timeout = Duration::from_millis(300);
        let mut a = Attempt { stats, timeout, deadline: Instant::now() + timeout, outage };
        let ok = d.deliver(&mut a);
        if last {
            d.finish(&mut a);
        }
        ok
    }

    /// `n` lines of `len` bytes, newline included.
    fn long_lines(n: usize, len: usize) -> Batch {
        let mut bytes = Vec::with_capacity(n * len);
        for i in 0..n {
            let name = format!("x.{i:08} 1 1700000000 ");
            bytes.extend_from_slice(name.as_bytes());
            bytes.resize(bytes.len() + len - 1 - name.len(), b'p');
            bytes.push(b'\n');
        }
        Batch { timestamp: 1_700_000_000, metrics: n, bytes }
    }

    /// The exporter stops while its receiver reads nothing: the last attempt cut a line and the
    /// rest cannot be written, so the connection is reset. The receiver sees a broken
    /// connection, not a cut line followed by a clean end of stream.
    #[test]
    fn a_last_attempt_that_cannot_complete_its_cut_line_resets_the_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut d = delivery(l.local_addr().unwrap().port(), Duration::from_millis(300));
        // Lines of 16 MiB: the rest of a cut one cannot fit in what the kernel still takes.
        d.outbox.push_batch(long_lines(3, 16 << 20));
        // Accepted at once, read only after the exporter is done.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let (mut peer, _) = l.accept().unwrap();
            wait.recv().unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            let end = peer.read_to_end(&mut got);
            (got, end)
        });
        let (stats, mut down) = (Stats::default(), Persisting::default());
        assert!(!attempt(&mut d, &stats, &mut down, true));
        d.close();
        go.send(()).unwrap();
        let (got, end) = reader.join().unwrap();
        assert!(!got.ends_with(b"\n"), "the kernel took only whole lines of 16 MiB");
        let err = end.expect_err("a stream cut inside a line must end in a reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(!d.transport.is_connected());
        // The cut line and everything after it are still pending, whole.
        assert!(d.outbox.unwritten().starts_with(b"x."), "{:?}", &d.outbox.unwritten()[..20]);
    }

    /// A receiver that reads slowly: the last attempt's deadline cuts a line, and the rest of
    /// that line is written before the connection is closed in order.
    #[test]
    fn a_last_attempt_completes_the_line_its_deadline_cut() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut d = delivery(l.local_addr().unwrap().port(), Duration::from_millis(300));
        d.outbox.push_batch(long_lines(64 * 1024, 1000));
        let hurry = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let h = hurry.clone();
        let reader = std::thread::spawn(move || {
            let (mut peer, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match peer.read(&mut buf) {
                    Ok(0) => return Ok(got),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => return Err(e),
                }
                // About 400 KB/s: slower than the writer, never stopped; at full speed once the
                // exporter is done.
                if !h.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let (stats, mut down) = (Stats::default(), Persisting::default());
        assert!(!attempt(&mut d, &stats, &mut down, true));
        assert_eq!(d.outbox.cut_line_written(), 0);
        d.close();
        hurry.store(true, std::sync::atomic::Ordering::Relaxed);
        let got = reader.join().unwrap().expect("an orderly end of stream");
        assert!(got.len() > 1000 && got.len() % 1000 == 0, "{}", got.len());
        assert!(got.ends_with(b"\n"));
        assert_eq!(stats.totals().sent_bytes, got.len() as u64);
    }
}
