//! The sender thread of a line-protocol exporter: outbox → transport, surviving failures.
//!
//! One job: deliver the formatted intervals it receives, in order, counting every byte. It
//! retries a failed connection once per interval, keeps the outbox across failures, and drops it
//! (counted and logged) after more than `buffer on failures` consecutive failed intervals.
//! Formatting never waits for it: intervals arrive over a channel.

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::export::buffer::Outbox;
use crate::export::stats::{thread_cpu_us, Stats};
use crate::export::transport::tcp::{LineTransport, WriteEnd};
use crate::export::transport::{describe, Endpoint};

/// How often a persisting failure is logged again.
const REPEAT_LOG_EVERY: Duration = Duration::from_secs(300);

/// What the sender needs to know.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Instance name, for logs.
    pub name: String,
    /// Destinations, tried in order.
    pub endpoints: Vec<Endpoint>,
    /// Bound on connect and on each send.
    pub timeout: Duration,
    /// Consecutive failed intervals tolerated before the outbox is dropped.
    pub buffer_on_failures: u32,
}

/// Logs a persisting condition once, then a reminder at most every [`REPEAT_LOG_EVERY`], and
/// once more when it clears.
#[derive(Debug, Default)]
struct Persisting {
    since: Option<Instant>,
    last_log: Option<Instant>,
    count: u64,
}

impl Persisting {
    /// Record one occurrence; returns whether to log it.
    fn occur(&mut self, now: Instant) -> bool {
        self.count += 1;
        let since = *self.since.get_or_insert(now);
        let _ = since;
        match self.last_log {
            Some(t) if now.duration_since(t) < REPEAT_LOG_EVERY => false,
            _ => {
                self.last_log = Some(now);
                true
            }
        }
    }

    /// Clear; returns (occurrences, duration) when something had persisted.
    fn clear(&mut self, now: Instant) -> Option<(u64, Duration)> {
        let r = self.since.map(|s| (self.count, now.duration_since(s)));
        *self = Persisting::default();
        r
    }
}

/// The sender's state.
struct Sender {
    cfg: SenderConfig,
    transport: LineTransport,
    outbox: Outbox,
    stats: Arc<Stats>,
    failures: u32,
    down: Persisting,
}

/// Run the sender until the channel closes, then make one last attempt bounded by the timeout.
pub fn run(cfg: SenderConfig, rx: Receiver<Vec<u8>>, stats: Arc<Stats>) {
    let transport = LineTransport::new(cfg.endpoints.clone(), cfg.timeout);
    let mut s =
        Sender { cfg, transport, outbox: Outbox::new(), stats, failures: 0, down: Persisting::default() };
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(bytes) => s.outbox.push(&bytes),
            Err(RecvTimeoutError::Timeout) => {
                s.record_cpu();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let mut closed = false;
        loop {
            match rx.try_recv() {
                Ok(bytes) => s.outbox.push(&bytes),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        s.attempt();
        s.record_cpu();
        if closed {
            break;
        }
    }
    if !s.outbox.is_empty() {
        tracing::info!(
            "exporter '{}': shutting down; one last attempt to send {} metrics ({} bytes)",
            s.cfg.name,
            s.outbox.pending_metrics(),
            s.outbox.pending_bytes()
        );
        s.attempt();
        if !s.outbox.is_empty() {
            let d = s.outbox.drop_all();
            s.stats.lost_metrics(d.metrics);
            s.stats.lost_bytes(d.bytes);
            s.stats.discards(1);
            tracing::error!(
                "exporter '{}': stopped with {} metrics ({} bytes) undelivered",
                s.cfg.name,
                d.metrics,
                d.bytes
            );
        }
    }
    s.transport.close();
    s.record_cpu();
}

impl Sender {
    fn record_cpu(&self) {
        let (u, s) = thread_cpu_us();
        self.stats.sender_user_us.store(u, std::sync::atomic::Ordering::Relaxed);
        self.stats.sender_system_us.store(s, std::sync::atomic::Ordering::Relaxed);
    }

    /// One interval's delivery attempt.
    fn attempt(&mut self) {
        let ok = self.try_send();
        if ok {
            self.failures = 0;
            if let Some((n, d)) = self.down.clear(Instant::now()) {
                tracing::info!(
                    "exporter '{}': delivering again to {} after {} failed attempts over {}s",
                    self.cfg.name,
                    self.transport.peer(),
                    n,
                    d.as_secs()
                );
            }
        } else {
            self.failures += 1;
            self.stats.failures(1);
            if self.failures > self.cfg.buffer_on_failures {
                let d = self.outbox.drop_all();
                self.stats.lost_metrics(d.metrics);
                self.stats.lost_bytes(d.bytes);
                self.stats.discards(1);
                tracing::error!(
                    "exporter '{}': {} consecutive failures; dropped {} metrics ({} bytes, {} intervals) to protect this host. \
                     Check that {} is up, or raise 'buffer on failures'",
                    self.cfg.name,
                    self.failures,
                    d.metrics,
                    d.bytes,
                    d.intervals,
                    describe(&self.cfg.endpoints)
                );
                self.failures = 0;
            }
        }
        self.stats.set_buffered(self.outbox.pending_metrics(), self.outbox.pending_bytes());
    }

    /// Returns whether the interval counts as a success.
    fn try_send(&mut self) -> bool {
        if self.outbox.is_empty() {
            return true;
        }
        let now = Instant::now();
        if self.transport.is_connected() {
            let d = self.transport.drain();
            if d.bytes > 0 {
                self.stats.received_bytes(d.bytes as u64);
                self.stats.reads(d.reads as u64);
                tracing::info!(
                    "exporter '{}': received {} bytes from {}; ignoring them. Sample: '{}'",
                    self.cfg.name,
                    d.bytes,
                    self.transport.peer(),
                    d.sample
                );
            }
            if d.closed {
                tracing::warn!(
                    "exporter '{}': {} closed the connection; reconnecting",
                    self.cfg.name,
                    self.transport.peer()
                );
                self.transport.close();
                self.outbox.connection_lost();
            }
        }
        if !self.transport.is_connected() {
            match self.transport.connect() {
                Ok(c) => {
                    self.stats.reconnects(1);
                    tracing::debug!("exporter '{}': connected to {}", self.cfg.name, c.peer);
                }
                Err(f) => {
                    if self.down.occur(now) {
                        tracing::error!(
                            "exporter '{}': cannot connect to any destination ({}); keeping {} metrics buffered and retrying every interval{}",
                            self.cfg.name,
                            f.errors.join("; "),
                            self.outbox.pending_metrics(),
                            if self.down.count > 1 { " (this repeats silently; logged again every 5 minutes)" } else { "" }
                        );
                    }
                    return false;
                }
            }
        }
        let deadline = now + self.cfg.timeout;
        let (n, end) = self.transport.write(self.outbox.unwritten(), deadline);
        let delivered = self.outbox.wrote(n);
        self.stats.sent_metrics(delivered.metrics);
        self.stats.sent_bytes(delivered.bytes);
        match end {
            WriteEnd::Done => {
                self.stats.writes(1);
                true
            }
            WriteEnd::TimedOut if n > 0 => {
                // A slow peer that still reads: keep the connection so a line cut by the
                // deadline is completed, not left truncated; continue next interval.
                if self.down.occur(Instant::now()) {
                    tracing::warn!(
                        "exporter '{}': {} is slow: {} metrics still buffered after {} ms; continuing next interval",
                        self.cfg.name,
                        self.transport.peer(),
                        self.outbox.pending_metrics(),
                        self.cfg.timeout.as_millis()
                    );
                }
                false
            }
            WriteEnd::TimedOut => {
                if self.down.occur(Instant::now()) {
                    tracing::error!(
                        "exporter '{}': {} accepted nothing for {} ms; reconnecting. {} metrics stay buffered",
                        self.cfg.name,
                        self.transport.peer(),
                        self.cfg.timeout.as_millis(),
                        self.outbox.pending_metrics()
                    );
                }
                self.transport.close();
                self.outbox.connection_lost();
                false
            }
            WriteEnd::Failed(e) => {
                if self.down.occur(Instant::now()) {
                    tracing::error!(
                        "exporter '{}': sending to {} failed: {e}; reconnecting next interval. {} metrics stay buffered",
                        self.cfg.name,
                        self.transport.peer(),
                        self.outbox.pending_metrics()
                    );
                }
                self.transport.close();
                self.outbox.connection_lost();
                false
            }
        }
    }
}
