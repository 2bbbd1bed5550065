//! The sender thread of an exporter: queue → delivery, surviving failures.
//!
//! One job: deliver the batches it receives, in order, counting every metric and byte. Each
//! batch that arrives (at least one per interval, possibly empty) triggers one delivery
//! attempt; a failed attempt keeps everything queued for the next interval, and after more
//! than `buffer on failures` consecutive failed intervals the queue is dropped (counted and
//! logged), or with a spool moved to disk. Formatting never waits for it: batches arrive over
//! a channel.
//!
//! What an attempt does depends on the connector, behind the [`Delivery`] trait:
//!
//! * [`line_delivery`]: an outbox of lines written to a TCP or UDP socket;
//! * [`http_delivery`]: an outbox of whole request bodies POSTed over HTTP(S);
//! * [`spooling`]: the disk spool beside either outbox, when configured.

mod http_delivery;
mod line_delivery;
mod spooling;

pub(crate) use self::http_delivery::HttpDelivery;
pub(crate) use self::line_delivery::LineDelivery;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::export::batch::Batch;
use crate::export::outbox::{Dropped, Outbox};
use crate::export::spool::{Recovered, Spool};
use crate::export::stats::{thread_cpu_us, Stats};
use crate::logs::Persisting;

use self::spooling::Spooling;

/// What the sender needs to know besides its delivery.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Bound on one delivery attempt.
    pub timeout: Duration,
    /// Consecutive failed intervals tolerated before the queue is dropped.
    pub buffer_on_failures: u32,
    /// Undelivered bytes kept; past it the oldest whole intervals are dropped, counted.
    pub max_buffer_bytes: usize,
    /// The export interval: the first retry comes one interval after a failure.
    pub every: Duration,
}

/// The longest wait between attempts while a backend stays down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// When to try again after `failures` consecutive failed attempts: one interval, doubling up to
/// [`MAX_BACKOFF`] (never less than one interval), times a jitter factor in [0.75, 1.25) so that
/// many agents do not hammer a recovering backend in step.
pub(crate) fn backoff(every: Duration, failures: u32, jitter: f64) -> Duration {
    let doubled = every.saturating_mul(1 << failures.saturating_sub(1).min(16));
    let base = doubled.min(MAX_BACKOFF.max(every));
    base.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A small xorshift generator for jitter: no need for a cryptographic source.
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Jitter((t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)) | 1)
    }

    /// A number in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What one delivery attempt may use.
pub(crate) struct Attempt<'a> {
    /// Counters.
    pub stats: &'a Stats,
    /// The configured bound on an attempt, for logs.
    pub timeout: Duration,
    /// When the attempt must stop starting new work.
    pub deadline: Instant,
    /// The failure being tracked across attempts, for rate-limited logs.
    pub outage: &'a mut Persisting,
}

impl<'a> Attempt<'a> {
    /// An attempt of the instance configured by `cfg`, starting now, bounded by `timeout ms`.
    fn starting_now(cfg: &'a SenderConfig, stats: &'a Stats, outage: &'a mut Persisting) -> Attempt<'a> {
        Attempt { stats, timeout: cfg.timeout, deadline: Instant::now() + cfg.timeout, outage }
    }

    /// The delivery failed for `reason` (kept for the status page); returns whether to log it now.
    pub fn failed(&mut self, reason: String) -> bool {
        self.stats.note_failure(reason, crate::clock::now_s());
        self.outage.occur(Instant::now())
    }
}

/// An outbox and the transport that empties it.
pub(crate) trait Delivery: Send {
    /// What waits for delivery.
    fn outbox(&self) -> &dyn Outbox;
    /// What waits for delivery, to queue or drop.
    fn outbox_mut(&mut self) -> &mut dyn Outbox;
    /// Deliver what is queued, oldest first, until done, failed or past the deadline; count
    /// what happened. Returns whether the interval counts as a success (nothing retryable is
    /// left over because of a failure).
    fn deliver(&mut self, a: &mut Attempt<'_>) -> bool;
    /// The destinations, for logs.
    fn destinations(&self) -> String;
    /// The destination in use, for logs.
    fn peer(&self) -> String;
    /// Whether the last successful delivery went to a connection it opened itself, which has
    /// not yet shown that it holds: until it does, a failure streak is not over (a receiver
    /// that closes every new connection must not pass for one that is back).
    fn on_trial(&self) -> bool {
        false
    }
    /// The exporter stops after its last attempt: end the stream where the receiver can take
    /// it whole (a line cut by the attempt's deadline is completed, or the connection reset).
    fn finish(&mut self, _a: &mut Attempt<'_>) {}
    /// Close connections.
    fn close(&mut self);
}

/// The sender's state.
struct Sender {
    cfg: SenderConfig,
    delivery: Box<dyn Delivery>,
    stats: Arc<Stats>,
    failures: u32,
    /// The failure being tracked across attempts, for rate-limited logs.
    outage: Persisting,
    /// No attempt before this (backoff after failures).
    next_attempt: Option<Instant>,
    jitter: Jitter,
    /// The disk spool, when configured.
    spool: Option<Spooling>,
}

/// Run the sender until the channel closes, then make one last attempt bounded by the timeout.
/// With a spool, what it recovered from disk (a previous run's undelivered batches) is queued
/// first, and every batch is written to it before it is queued.
pub(crate) fn run(
    cfg: SenderConfig,
    delivery: Box<dyn Delivery>,
    rx: Receiver<Batch>,
    stats: Arc<Stats>,
    spool: Option<(Spool, Recovered)>,
) {
    let mut s = Sender::new(cfg, delivery, stats, spool);
    while let Some(closed) = s.take_batches(&rx) {
        s.interval();
        if closed {
            break;
        }
    }
    s.shut_down();
}

/// Count a drop as lost metrics and bytes and one discard.
fn count_lost(stats: &Stats, d: Dropped) {
    stats.lost_metrics(d.metrics);
    stats.lost_bytes(d.bytes);
    stats.discards(1);
}

impl Sender {
    fn new(
        cfg: SenderConfig,
        mut delivery: Box<dyn Delivery>,
        stats: Arc<Stats>,
        spool: Option<(Spool, Recovered)>,
    ) -> Sender {
        let spool = spool
            .map(|(spool, recovered)| Spooling::recover(spool, recovered, delivery.outbox_mut(), &stats));
        Sender {
            cfg,
            delivery,
            stats,
            failures: 0,
            outage: Persisting::default(),
            next_attempt: None,
            jitter: Jitter::new(),
            spool,
        }
    }

    /// Wait for the next batch, then queue it and every other one already waiting. Returns
    /// `None` when the channel closed with nothing new, else whether it closed meanwhile.
    fn take_batches(&mut self, rx: &Receiver<Batch>) -> Option<bool> {
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(batch) => {
                    self.queue(batch);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.sync_spool();
                    self.record_cpu();
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(batch) => self.queue(batch),
                Err(TryRecvError::Empty) => return Some(false),
                Err(TryRecvError::Disconnected) => return Some(true),
            }
        }
    }

    /// What each batch's arrival triggers: keep within `max buffer size`, attempt a delivery
    /// unless backing off, settle with the spool, publish the counters.
    fn interval(&mut self) {
        self.enforce_cap();
        if self.next_attempt.is_none_or(|t| Instant::now() >= t) {
            self.attempt();
        }
        self.settle_spool();
        self.refill();
        self.sync_spool();
        self.stats
            .set_buffered(self.delivery.outbox().pending_metrics(), self.delivery.outbox().pending_bytes());
        if let Some(spool) = &self.spool {
            self.stats.spool_bytes.store(spool.disk_bytes(), Relaxed);
        }
        self.record_cpu();
    }

    /// The channel closed: one last attempt, end the stream cleanly, and leave what is left
    /// in the spool or count it lost.
    fn shut_down(mut self) {
        let (metrics, bytes) =
            (self.delivery.outbox().pending_metrics(), self.delivery.outbox().pending_bytes());
        if metrics > 0 || bytes > 0 {
            tracing::info!(metrics, bytes, "shutting down; one last attempt to send what is buffered");
            self.attempt();
            self.finish();
        }
        self.delivery.close();
        self.settle_spool();
        self.stopped_undelivered();
        if let Some(spool) = self.spool.as_mut() {
            spool.sync();
        }
        self.record_cpu();
    }

    /// Spool a batch (when a spool is configured), then queue it.
    fn queue(&mut self, batch: Batch) {
        let batch = match self.spool.as_mut() {
            Some(spool) => spool.append(batch, &self.stats),
            None => Some(batch),
        };
        if let Some(batch) = batch {
            self.delivery.outbox_mut().push_batch(batch);
        }
    }

    /// With a spool, bound memory without losing anything: empty the outbox (its records are
    /// on disk) to read them back in order later. Returns false when there is no spool to fall
    /// back on.
    fn spill(&mut self, limit: &str) -> bool {
        let Some(spool) = self.spool.as_mut() else {
            return false;
        };
        let destinations = self.delivery.destinations();
        spool.spill(self.delivery.outbox_mut(), limit, &destinations)
    }

    /// After a spill, once the outbox has drained and the last attempt did not fail, read the
    /// next records back from disk.
    fn refill(&mut self) {
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        if !spool.spilled() || self.delivery.outbox().pending_bytes() > 0 || self.next_attempt.is_some() {
            return;
        }
        let budget = (self.cfg.max_buffer_bytes / 2).max(1);
        spool.refill(self.delivery.outbox_mut(), &self.stats, budget);
    }

    /// Acknowledge to the spool what has left the outbox (delivered, or dropped and counted).
    fn settle_spool(&mut self) {
        if let Some(spool) = self.spool.as_mut() {
            spool.settle(self.delivery.outbox().pending_bytes());
        }
    }

    /// Let the spool sync what it has appended (at most once a second).
    fn sync_spool(&mut self) {
        if let Some(spool) = self.spool.as_mut() {
            spool.maybe_sync();
        }
    }

    fn record_cpu(&self) {
        let (u, s) = thread_cpu_us();
        self.stats.sender_user_us.store(u, Relaxed);
        self.stats.sender_system_us.store(s, Relaxed);
    }

    /// Keep the outbox within `max buffer size`: drop the oldest whole intervals, counted, with
    /// one log line per drop event.
    fn enforce_cap(&mut self) {
        if self.delivery.outbox().pending_bytes() <= self.cfg.max_buffer_bytes {
            return;
        }
        if self.spill("max buffer size") {
            return;
        }
        let d = self.delivery.outbox_mut().drop_oldest_until(self.cfg.max_buffer_bytes);
        if d.bytes == 0 {
            return;
        }
        count_lost(&self.stats, d);
        tracing::error!(
            max_buffer_bytes = self.cfg.max_buffer_bytes,
            destination = %self.delivery.destinations(),
            intervals = d.intervals,
            metrics = d.metrics,
            bytes = d.bytes,
            "the buffer passed 'max buffer size' while the destination is not taking data; dropped the oldest \
             intervals. Raise 'max buffer size' or configure a 'spool directory' to keep more"
        );
    }

    /// After the last attempt, end the stream at a line boundary.
    fn finish(&mut self) {
        let mut a = Attempt::starting_now(&self.cfg, &self.stats, &mut self.outage);
        self.delivery.finish(&mut a);
    }

    /// What is left when the exporter stops: it stays in the spool, to be sent first at the
    /// next start, or is counted lost.
    fn stopped_undelivered(&mut self) {
        let (metrics, bytes) =
            (self.delivery.outbox().pending_metrics(), self.delivery.outbox().pending_bytes());
        if let Some(spool) = self.spool.as_ref() {
            if bytes > 0 || spool.spilled() {
                tracing::warn!(
                    metrics,
                    bytes,
                    more_on_disk = spool.spilled(),
                    spool = %spool.dir().display(),
                    "stopped with data undelivered; it stays in the spool and is sent first at the next start"
                );
            }
            return;
        }
        if bytes > 0 {
            let d = self.delivery.outbox_mut().drop_all();
            count_lost(&self.stats, d);
            tracing::error!(
                metrics = d.metrics,
                bytes = d.bytes,
                "stopped with data undelivered; it is lost. Configure a 'spool directory' to keep it for the next start"
            );
        }
    }

    /// One interval's delivery attempt.
    fn attempt(&mut self) {
        let delivering = self.delivery.outbox().pending_bytes() > 0;
        let ok = !delivering || {
            let mut a = Attempt::starting_now(&self.cfg, &self.stats, &mut self.outage);
            self.delivery.deliver(&mut a)
        };
        if ok && self.delivery.on_trial() {
            // Written to a connection opened just now: the streak (if any) ends only when the
            // connection is still there at the next attempt.
            self.next_attempt = None;
        } else if ok {
            self.succeeded(delivering);
        } else {
            self.failed();
        }
        self.stats
            .set_buffered(self.delivery.outbox().pending_metrics(), self.delivery.outbox().pending_bytes());
    }

    /// An attempt succeeded: a failure streak is over.
    fn succeeded(&mut self, delivered: bool) {
        self.failures = 0;
        self.next_attempt = None;
        if delivered {
            self.stats.note_success(self.delivery.peer(), crate::clock::now_s());
        }
        if let Some((n, d)) = self.outage.clear(Instant::now()) {
            tracing::info!(
                destination = %self.delivery.peer(),
                failed_attempts = n,
                seconds = d.as_secs(),
                "delivering again after failed attempts"
            );
        }
    }

    /// An attempt failed: back off, and past `buffer on failures` spill the outbox to disk or
    /// drop it, counted.
    fn failed(&mut self) {
        self.failures += 1;
        self.stats.failures(1);
        let wait = backoff(self.cfg.every, self.failures, self.jitter.next());
        // A tick arriving a little early still counts: the interval is the unit of retry.
        self.next_attempt = Some(Instant::now() + wait.saturating_sub(self.cfg.every / 4));
        if self.failures <= self.cfg.buffer_on_failures {
            return;
        }
        if !self.spill("buffer on failures") {
            let d = self.delivery.outbox_mut().drop_all();
            count_lost(&self.stats, d);
            tracing::error!(
                failures = self.failures,
                metrics = d.metrics,
                bytes = d.bytes,
                intervals = d.intervals,
                destination = %self.delivery.destinations(),
                "too many consecutive failures; dropped the buffer to protect this host. Check that the destination \
                 is up, or raise 'buffer on failures'"
            );
        }
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::spool::Spool;
    use crate::export::transport::http::testing::{client, dead_port, ep, server_on};
    use std::sync::mpsc;

    fn body(ts: i64, metrics: usize) -> Batch {
        Batch { timestamp: ts, metrics, bytes: format!("[{ts}]").into_bytes() }
    }

    fn start(
        port: u16,
        buffer_on_failures: u32,
    ) -> (mpsc::Sender<Batch>, Arc<Stats>, std::thread::JoinHandle<()>) {
        start_with(port, buffer_on_failures, 1 << 20, None)
    }

    /// A sender POSTing to `port`, with no backoff (`every` zero: every batch triggers an
    /// attempt).
    fn start_with(
        port: u16,
        buffer_on_failures: u32,
        max_buffer_bytes: usize,
        spool: Option<(Spool, Recovered)>,
    ) -> (mpsc::Sender<Batch>, Arc<Stats>, std::thread::JoinHandle<()>) {
        let t = client(&[ep(port)], Duration::from_secs(2));
        let cfg = SenderConfig {
            timeout: Duration::from_secs(2),
            buffer_on_failures,
            max_buffer_bytes,
            every: Duration::ZERO,
        };
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::channel();
        let s = stats.clone();
        let h = std::thread::spawn(move || run(cfg, Box::new(HttpDelivery::new(t)), rx, s, spool));
        (tx, stats, h)
    }

    fn wait(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "condition not met within 10 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn http_bodies_wait_through_failed_intervals_and_go_in_order_once_the_server_is_up() {
        let port = dead_port();
        let (tx, stats, h) = start(port, 10);
        tx.send(body(10, 1)).unwrap();
        wait(|| stats.totals().failures == 1);
        tx.send(body(20, 2)).unwrap();
        wait(|| stats.totals().failures == 2);
        assert_eq!(stats.buffered_metrics.load(std::sync::atomic::Ordering::Relaxed), 3);
        let health = stats.health();
        let (since, reason) = health.failing.expect("failing");
        assert!(reason.starts_with("cannot send to any destination ("), "{reason}");
        assert_eq!((health.peer, health.last_success_s), (None, None));
        let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) else {
            return; // the port was taken meanwhile: nothing to test
        };
        let (_, rx, _) = server_on(l, vec![crate::export::transport::http::testing::OK]);
        tx.send(Batch::default()).unwrap();
        wait(|| stats.totals().sent_metrics == 3);
        let bodies: Vec<Vec<u8>> = rx.try_iter().map(|(_, b)| b).collect();
        assert_eq!(bodies, vec![b"[10]".to_vec(), b"[20]".to_vec()]);
        let t = stats.totals();
        assert_eq!((t.failures, t.lost_metrics, t.writes, t.reconnects), (2, 0, 2, 1));
        wait(|| stats.health().failing.is_none());
        let health = stats.health();
        assert_eq!(health.peer, Some(format!("http://127.0.0.1:{port}/api/put")));
        assert!(health.last_success_s.unwrap() >= since);
        drop(tx);
        h.join().unwrap();
    }

    #[test]
    fn more_failed_intervals_than_buffer_on_failures_drop_the_queue_counted() {
        let (tx, stats, h) = start(dead_port(), 2);
        for i in 1..=4u64 {
            tx.send(body(i as i64 * 10, i as usize)).unwrap();
            wait(|| stats.totals().failures == i);
            if i == 3 {
                // The third consecutive failure is more than 2: bodies 1 to 3 are dropped.
                let t = stats.totals();
                assert_eq!((t.lost_metrics, t.lost_bytes, t.discards), (6, 12, 1));
            }
        }
        assert_eq!(stats.buffered_metrics.load(std::sync::atomic::Ordering::Relaxed), 4);
        // Shutdown: one last attempt fails too, and the rest is dropped, counted.
        drop(tx);
        h.join().unwrap();
        let t = stats.totals();
        assert_eq!((t.lost_metrics, t.lost_bytes, t.discards, t.sent_metrics), (10, 16, 2, 0));
    }

    #[test]
    fn backoff_doubles_from_one_interval_up_to_a_cap_with_jitter() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 1, 0.5), s);
        assert_eq!(backoff(s, 2, 0.5), 2 * s);
        assert_eq!(backoff(s, 3, 0.5), 4 * s);
        assert_eq!(backoff(s, 10, 0.5), MAX_BACKOFF);
        assert_eq!(backoff(s, 1, 0.0), Duration::from_millis(750));
        assert!(backoff(s, 1, 0.999_999) < Duration::from_millis(1250));
        assert!(backoff(s, 1, 0.999_999) > Duration::from_millis(1249));
        // An interval longer than the cap is never shortened.
        assert_eq!(backoff(Duration::from_secs(60), 5, 0.5), Duration::from_secs(60));
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let x = j.next();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn a_queue_past_max_buffer_size_drops_its_oldest_intervals_counted() {
        let (tx, stats, h) = start_with(dead_port(), 1000, 10, None);
        // Bodies "[10]", "[20]", "[30]": 4 bytes each; a cap of 10 bytes keeps the newest two.
        for (i, ts) in [10, 20, 30].into_iter().enumerate() {
            tx.send(body(ts, 5)).unwrap();
            wait(|| stats.totals().failures == i as u64 + 1);
        }
        let t = stats.totals();
        assert_eq!((t.lost_metrics, t.lost_bytes, t.discards), (5, 4, 1));
        assert_eq!(stats.buffered_bytes.load(std::sync::atomic::Ordering::Relaxed), 8);
        drop(tx);
        h.join().unwrap();
    }

    /// Stopping while the backend is away: what is left stays in the spool, not counted lost,
    /// and the next start reads it back in order.
    #[test]
    fn stopping_with_a_spool_leaves_the_undelivered_batches_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), "t", 1 << 20).unwrap();
        let (tx, stats, h) = start_with(dead_port(), 100, 1 << 20, Some(spool));
        tx.send(body(10, 1)).unwrap();
        wait(|| stats.totals().failures == 1);
        tx.send(body(20, 2)).unwrap();
        wait(|| stats.totals().failures == 2);
        drop(tx);
        h.join().unwrap();
        assert_eq!((stats.totals().lost_metrics, stats.totals().sent_metrics), (0, 0));
        let (_, recovered) = Spool::open(dir.path(), "t", 1 << 20).unwrap();
        let bodies: Vec<Vec<u8>> = recovered.batches.into_iter().map(|(_, b)| b.bytes).collect();
        assert_eq!(bodies, vec![b"[10]".to_vec(), b"[20]".to_vec()]);
    }

    /// An outage longer than memory allows: with a spool, `buffer on failures` and `max buffer
    /// size` move data to disk instead of dropping it, and it all arrives in order afterwards.
    #[test]
    fn with_a_spool_a_long_outage_loses_nothing_and_keeps_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let port = dead_port();
        let spool = Spool::open(dir.path(), "t", 1 << 20).unwrap();
        let (tx, stats, h) = start_with(port, 1, 12, Some(spool));
        for i in 1..=8u64 {
            tx.send(body(i as i64 * 10, 1)).unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
        let t = stats.totals();
        // More than one failed attempt: the queue went to disk; nothing was counted lost.
        assert!(t.failures >= 2, "{t:?}");
        assert_eq!((t.lost_metrics, t.sent_metrics), (0, 0), "{t:?}");
        let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) else {
            return; // the port was taken meanwhile: nothing to test
        };
        let (_, rx_bodies, _) = server_on(l, vec![crate::export::transport::http::testing::OK]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats.totals().sent_metrics < 8 {
            assert!(Instant::now() < deadline, "{:?}", stats.totals());
            tx.send(Batch::default()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        let bodies: Vec<Vec<u8>> = rx_bodies.try_iter().map(|(_, b)| b).collect();
        let expected: Vec<Vec<u8>> = (1..=8).map(|i| format!("[{}]", i * 10).into_bytes()).collect();
        assert_eq!(bodies, expected);
        assert_eq!(stats.totals().lost_metrics, 0);
        drop(tx);
        h.join().unwrap();
    }
}
