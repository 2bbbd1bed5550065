//! Counters of one exporter instance: what was buffered, sent, lost, received, retried.
//!
//! One job: count. The sender and formatter threads add to these atomics; the self-monitoring
//! charts take the per-interval values with [`Stats::take_interval`]. Totals are never reset, so
//! tests and logs can compare them with what a receiver got. Beside the counters, the sender
//! keeps the delivery's [`Health`] (where it delivers, since when it fails and why) for the
//! status page.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Per-interval and total counters. All fields are updated with relaxed atomics.
#[derive(Debug, Default)]
pub struct Stats {
    interval: Counters,
    total: Counters,
    /// Lines waiting in the outbox (gauge, set by the sender).
    pub buffered_metrics: AtomicU64,
    /// Bytes waiting in the outbox (gauge, set by the sender).
    pub buffered_bytes: AtomicU64,
    /// CPU time of the formatter thread, user µs (cumulative).
    pub formatter_user_us: AtomicU64,
    /// CPU time of the formatter thread, system µs (cumulative).
    pub formatter_system_us: AtomicU64,
    /// CPU time of the sender thread, user µs (cumulative).
    pub sender_user_us: AtomicU64,
    /// CPU time of the sender thread, system µs (cumulative).
    pub sender_system_us: AtomicU64,
    /// Bytes in the instance's spool directory (gauge, set by the sender).
    pub spool_bytes: AtomicU64,
    health: Mutex<Health>,
}

/// How an instance's deliveries go, as the sender last saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// The destination of the last successful delivery.
    pub peer: Option<String>,
    /// When a delivery last succeeded, seconds since the epoch.
    pub last_success_s: Option<i64>,
    /// While deliveries fail: since when (seconds since the epoch) and the last reason.
    pub failing: Option<(i64, String)>,
}

/// One set of event counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Lines formatted into the buffer.
    pub formatted_metrics: AtomicU64,
    /// Lines delivered whole to a backend.
    pub sent_metrics: AtomicU64,
    /// Bytes of whole lines delivered.
    pub sent_bytes: AtomicU64,
    /// Lines dropped.
    pub lost_metrics: AtomicU64,
    /// Bytes dropped.
    pub lost_bytes: AtomicU64,
    /// Bytes the backend sent us.
    pub received_bytes: AtomicU64,
    /// Successful sends (all pending data accepted).
    pub writes: AtomicU64,
    /// Drop events.
    pub discards: AtomicU64,
    /// Connections opened.
    pub reconnects: AtomicU64,
    /// Failed attempts (connect, write, timeout).
    pub failures: AtomicU64,
    /// Reads of backend replies.
    pub reads: AtomicU64,
    /// Lines queued again after a connection failure (the replay window).
    pub replayed_metrics: AtomicU64,
}

/// A plain snapshot of [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Counters::formatted_metrics`].
    pub formatted_metrics: u64,
    /// See [`Counters::sent_metrics`].
    pub sent_metrics: u64,
    /// See [`Counters::sent_bytes`].
    pub sent_bytes: u64,
    /// See [`Counters::lost_metrics`].
    pub lost_metrics: u64,
    /// See [`Counters::lost_bytes`].
    pub lost_bytes: u64,
    /// See [`Counters::received_bytes`].
    pub received_bytes: u64,
    /// See [`Counters::writes`].
    pub writes: u64,
    /// See [`Counters::discards`].
    pub discards: u64,
    /// See [`Counters::reconnects`].
    pub reconnects: u64,
    /// See [`Counters::failures`].
    pub failures: u64,
    /// See [`Counters::reads`].
    pub reads: u64,
    /// See [`Counters::replayed_metrics`].
    pub replayed_metrics: u64,
}

macro_rules! counter_fns {
    ($($name:ident),*) => {
        impl Counters {
            fn snapshot(&self, reset: bool) -> Snapshot {
                Snapshot { $($name: if reset { self.$name.swap(0, Relaxed) } else { self.$name.load(Relaxed) }),* }
            }
        }
        impl Stats {
            $(
                #[doc = concat!("Add to `", stringify!($name), "`.")]
                pub fn $name(&self, n: u64) {
                    if n > 0 {
                        self.interval.$name.fetch_add(n, Relaxed);
                        self.total.$name.fetch_add(n, Relaxed);
                    }
                }
            )*
        }
    };
}

counter_fns!(
    formatted_metrics,
    sent_metrics,
    sent_bytes,
    lost_metrics,
    lost_bytes,
    received_bytes,
    writes,
    discards,
    reconnects,
    failures,
    reads,
    replayed_metrics
);

impl Stats {
    /// The counts since the previous call, resetting them.
    pub fn take_interval(&self) -> Snapshot {
        self.interval.snapshot(true)
    }

    /// The counts since the instance started.
    pub fn totals(&self) -> Snapshot {
        self.total.snapshot(false)
    }

    /// Set the outbox gauges.
    pub fn set_buffered(&self, metrics: usize, bytes: usize) {
        self.buffered_metrics.store(metrics as u64, Relaxed);
        self.buffered_bytes.store(bytes as u64, Relaxed);
    }

    /// A delivery to `peer` succeeded at `now_s`: any failure streak is over.
    pub fn note_success(&self, peer: String, now_s: i64) {
        let mut h = self.health.lock();
        h.peer = Some(peer);
        h.last_success_s = Some(now_s);
        h.failing = None;
    }

    /// A delivery failed at `now_s` for `reason`; the streak keeps its first time.
    pub fn note_failure(&self, reason: String, now_s: i64) {
        let mut h = self.health.lock();
        let since = h.failing.as_ref().map_or(now_s, |(since, _)| *since);
        h.failing = Some((since, reason));
    }

    /// The delivery's health now.
    pub fn health(&self) -> Health {
        self.health.lock().clone()
    }
}

/// CPU time of the calling thread, (user µs, system µs).
pub fn thread_cpu_us() -> (u64, u64) {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return (0, 0);
    }
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_resets_totals_do_not() {
        let s = Stats::default();
        s.sent_metrics(5);
        s.sent_metrics(2);
        s.failures(1);
        let i = s.take_interval();
        assert_eq!((i.sent_metrics, i.failures), (7, 1));
        s.sent_metrics(3);
        assert_eq!(s.take_interval().sent_metrics, 3);
        assert_eq!(s.take_interval().sent_metrics, 0);
        assert_eq!(s.totals().sent_metrics, 10);
        assert_eq!(s.totals().failures, 1);
    }

    #[test]
    fn a_failure_streak_keeps_its_start_and_ends_with_a_success() {
        let s = Stats::default();
        assert_eq!(s.health(), Health::default());
        s.note_failure("connection refused".into(), 100);
        s.note_failure("timed out".into(), 130);
        assert_eq!(s.health().failing, Some((100, "timed out".to_string())));
        s.note_success("127.0.0.1:2003".into(), 140);
        let h = s.health();
        assert_eq!(
            (h.peer.as_deref(), h.last_success_s, h.failing),
            (Some("127.0.0.1:2003"), Some(140), None)
        );
        s.note_failure("reset".into(), 150);
        assert_eq!(s.health().failing, Some((150, "reset".to_string())));
        assert_eq!(s.health().last_success_s, Some(140));
    }

    #[test]
    fn thread_cpu_grows_with_work() {
        // Spin until the thread has had 10 ms of CPU, however loaded the machine; the counter
        // must see it well within 20 s of wall time.
        let (u0, s0) = thread_cpu_us();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        let (mut u1, mut s1) = (u0, s0);
        while u1 + s1 <= u0 + s0 + 10_000 && start.elapsed() < std::time::Duration::from_secs(20) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
            std::hint::black_box(x);
            (u1, s1) = thread_cpu_us();
        }
        assert!(u1 + s1 > u0 + s0 + 10_000, "{u0}+{s0} → {u1}+{s1}");
    }
}
