//! Line delivery: the outbox written to a TCP or UDP socket.
//!
//! One job: write the outbox to the connection with a deadline, reconnecting when the peer
//! closed or failed, and count lines and bytes as the outbox reports them delivered. Replies a
//! line backend sends are read, counted and logged, never interpreted.

use std::time::{Duration, Instant};

use super::{Attempt, Delivery};
use crate::export::buffer::{Dropped, Outbox};
use crate::export::encode::Batch;
use crate::export::transport::tcp::{LineTransport, WriteEnd};
use crate::export::transport::{describe, Endpoint};
use crate::logs::{repeat_note, Persisting};

/// An outbox of lines and its socket.
#[derive(Debug)]
pub(crate) struct LineDelivery {
    transport: LineTransport,
    outbox: Outbox,
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
            outbox: Outbox::with_replay(replay, replay_bytes),
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
        match self.transport.connect() {
            Ok(c) => {
                a.stats.reconnects(1);
                self.on_trial = true;
                if c.skipped.is_empty() {
                    if let Some((n, d)) = self.fallback.clear(Instant::now()) {
                        tracing::info!(
                            "exporter '{}': connected to {} again, after falling back {n} times over {}s",
                            a.name,
                            c.peer,
                            d.as_secs()
                        );
                    }
                    tracing::debug!("exporter '{}': connected to {}", a.name, c.peer);
                } else if self.fallback.occur(Instant::now()) {
                    tracing::warn!(
                        "exporter '{}': connected to {}, after the destinations before it failed ({}){}",
                        a.name,
                        c.peer,
                        c.skipped.join("; "),
                        repeat_note(&self.fallback)
                    );
                }
                true
            }
            Err(f) => {
                if a.failed(format!("cannot connect to any destination ({})", f.errors.join("; "))) {
                    tracing::error!(
                        "exporter '{}': cannot connect to any destination ({}); keeping {} metrics buffered and retrying \
                         with backoff{}",
                        a.name,
                        f.errors.join("; "),
                        self.outbox.pending_metrics(),
                        repeat_note(a.down)
                    );
                }
                false
            }
        }
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
                "exporter '{}': received {} bytes from {peer}; ignoring them. Sample: '{}'",
                a.name,
                d.bytes,
                d.sample
            );
        }
        if !d.closed {
            self.on_trial = false;
            return true;
        }
        let replayed = self.lost(a);
        // A receiver that closes connections is a failure like any other: the next attempt
        // comes after the backoff, and the log is not repeated for every connection.
        if a.failed(format!("{peer} closed the connection")) {
            tracing::error!(
                "exporter '{}': {peer} closed the connection; {replayed} metrics written to it in the replay window are \
                 queued again, {} metrics stay buffered; reconnecting with backoff{}",
                a.name,
                self.outbox.pending_metrics(),
                repeat_note(a.down)
            );
        }
        false
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
    fn push(&mut self, batch: Batch) {
        // Line batches carry one metric per line: the formatter counted them.
        self.outbox.push_lines(batch.bytes, batch.metrics);
    }

    fn pending_metrics(&self) -> usize {
        self.outbox.pending_metrics()
    }

    fn pending_bytes(&self) -> usize {
        self.outbox.pending_bytes()
    }

    fn drop_all(&mut self) -> Dropped {
        self.outbox.drop_all()
    }

    fn drop_oldest_until(&mut self, max_bytes: usize) -> Dropped {
        self.outbox.drop_oldest_until(max_bytes)
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
            "exporter '{}': {} took no more data for {} ms while a line was cut; resetting the connection so that it \
             does not take the cut line for a whole one",
            a.name,
            self.transport.peer(),
            a.timeout.as_millis()
        );
        self.transport.abort();
        self.outbox.connection_closed();
    }

    fn deliver(&mut self, a: &mut Attempt<'_>) -> bool {
        if self.transport.is_connected() && !self.check_peer(a) {
            return false;
        }
        if !self.transport.is_connected() && !self.connect(a) {
            return false;
        }
        // The send's own deadline starts now, after any time spent connecting: a destination
        // that never answered is not charged to the one that did.
        let (n, end) = self.transport.write(self.outbox.unwritten(), Instant::now() + a.timeout);
        let delivered = self.outbox.wrote(n, Instant::now());
        a.stats.sent_metrics(delivered.metrics);
        a.stats.sent_bytes(delivered.bytes);
        let peer = self.transport.peer().to_string();
        match end {
            WriteEnd::Done => {
                a.stats.writes(1);
                true
            }
            WriteEnd::TimedOut if n > 0 => {
                // A slow peer that still reads: keep the connection so a line cut by the
                // deadline is completed, not left truncated; continue next interval.
                if a.failed(format!("{peer} is slow: still sending after {} ms", a.timeout.as_millis())) {
                    tracing::warn!(
                        "exporter '{}': {peer} is slow: {} metrics still buffered after {} ms; continuing next interval{}",
                        a.name,
                        self.outbox.pending_metrics(),
                        a.timeout.as_millis(),
                        repeat_note(a.down)
                    );
                }
                false
            }
            WriteEnd::TimedOut => {
                let replayed = self.lost(a);
                if a.failed(format!("{peer} accepted nothing for {} ms", a.timeout.as_millis())) {
                    tracing::error!(
                        "exporter '{}': {peer} accepted nothing for {} ms; reconnecting with backoff. {} metrics stay \
                         buffered ({replayed} of them written to it in the replay window){}",
                        a.name,
                        a.timeout.as_millis(),
                        self.outbox.pending_metrics(),
                        repeat_note(a.down)
                    );
                }
                false
            }
            WriteEnd::Failed(e) => {
                let replayed = self.lost(a);
                if a.failed(format!("sending to {peer} failed: {e}")) {
                    tracing::error!(
                        "exporter '{}': sending to {peer} failed: {e}; reconnecting with backoff. {} metrics stay \
                         buffered ({replayed} of them written to it in the replay window){}",
                        a.name,
                        self.outbox.pending_metrics(),
                        repeat_note(a.down)
                    );
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::stats::Stats;
    use std::io::Read;
    use std::net::TcpListener;

    fn delivery(port: u16, timeout: Duration) -> LineDelivery {
        let ep = Endpoint { udp: false, host: "127.0.0.1".into(), port };
        LineDelivery::new(vec![ep], timeout, Duration::from_secs(10), 1 << 20)
    }

    fn attempt(d: &mut LineDelivery, stats: &Stats, down: &mut Persisting, last: bool) -> bool {
        let timeout = Duration::from_millis(300);
        let mut a = Attempt { name: "t", stats, timeout, deadline: Instant::now() + timeout, down };
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
        d.push(long_lines(3, 16 << 20));
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
        d.push(long_lines(64 * 1024, 1000));
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
