//! The sender's disk spool: every batch on disk before it is queued, and the queue kept in
//! step with it.
//!
//! One job: tie a [`Spool`] to the sender's [`Outbox`]. Every batch goes to the spool first,
//! then to the outbox; after each attempt, whatever left the outbox (delivered, or refused for
//! good) is acknowledged, which [`Acks`] works out from the bytes still pending. To bound
//! memory without losing anything (`buffer on failures` or `max buffer size` reached) the outbox
//! is emptied *without* counting a loss, since its batches are on disk; new batches then go to
//! the spool only, and the outbox is refilled from disk, in order, once it has drained. What the
//! spool itself deletes to stay under `spool max size` is counted lost (it is the only count of
//! it).

use std::path::Path;
use std::time::Instant;

use super::count_lost;
use crate::export::batch::Batch;
use crate::export::outbox::{Dropped, Outbox};
use crate::export::spool::{Acks, Recovered, Spool};
use crate::export::stats::Stats;

/// A spool beside the sender's outbox, and which of its records the outbox holds.
#[derive(Debug)]
pub(super) struct Spooling {
    spool: Spool,
    acks: Acks,
    /// The outbox was emptied to bound memory and records from this sequence number on wait on
    /// disk only, to be read back in order once the outbox has drained.
    spilled_from: Option<u64>,
}

impl Spooling {
    /// Queue in `outbox` what a previous run left in `spool`, before anything new, and count
    /// what recovery found lost.
    pub(super) fn recover(
        spool: Spool,
        recovered: Recovered,
        outbox: &mut dyn Outbox,
        stats: &Stats,
    ) -> Spooling {
        let mut acks = Acks::new();
        let (mut metrics, mut bytes) = (0usize, 0usize);
        for (seq, batch) in recovered.batches {
            metrics += batch.metrics;
            bytes += batch.bytes.len();
            acks.pushed(Some(seq), batch.bytes.len());
            outbox.push_batch(batch);
        }
        if recovered.lost_bytes > 0 {
            stats.lost_bytes(recovered.lost_bytes);
            stats.discards(1);
        }
        count_spool_loss(stats, recovered.over_cap);
        if bytes > 0 {
            tracing::info!(
                metrics,
                bytes,
                spool = %spool.dir().display(),
                "read back what the previous run left undelivered; sending it first"
            );
        }
        Spooling { spool, acks, spilled_from: None }
    }

    /// Write `batch` to the spool (counting what that pushed out over `spool max size`) and
    /// return it when it is to be queued in memory too: not when it waits on disk behind records
    /// spilled earlier. A batch the spool cannot take (logged there) is queued in memory only.
    pub(super) fn append(&mut self, batch: Batch, stats: &Stats) -> Option<Batch> {
        let seq = self.spool.append(&batch).ok();
        count_spool_loss(stats, self.spool.enforce_cap());
        if self.spilled_from.is_some() && seq.is_some() {
            return None;
        }
        self.acks.pushed(seq, batch.bytes.len());
        Some(batch)
    }

    /// Bound memory without losing anything: empty `outbox` (its records are on disk) and read
    /// them back in order later. `limit` is the setting reached and `destinations` where the
    /// data goes, for the log. Returns false when nothing is on disk to fall back on.
    pub(super) fn spill(&mut self, outbox: &mut dyn Outbox, limit: &str, destinations: &str) -> bool {
        let Some(first) = self.spool.oldest_pending() else {
            return false;
        };
        let (metrics, bytes) = (outbox.pending_metrics(), outbox.pending_bytes());
        // Bytes cut from a connection mid-line are lost with it; whole records are on disk.
        let _ = outbox.drop_all();
        self.acks.clear();
        if self.spilled_from.is_none() {
            tracing::warn!(
                limit,
                destination = destinations,
                metrics,
                bytes,
                spool = %self.spool.dir().display(),
                "buffer limit reached while the destination is not taking data; what is buffered now waits on disk \
                 only, and is sent in order when the destination is back"
            );
        }
        self.spilled_from = Some(self.spilled_from.map_or(first, |s| s.min(first)));
        true
    }

    /// After a spill, read the next records back from disk into `outbox`, up to `budget` bytes.
    /// Call it only once the outbox has drained and the last attempt did not fail, so that what a
    /// destination still away would refuse again is not read back every interval.
    pub(super) fn refill(&mut self, outbox: &mut dyn Outbox, stats: &Stats, budget: usize) {
        let Some(from) = self.spilled_from else {
            return;
        };
        let read = match self.spool.read_after(from.saturating_sub(1), budget) {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the spool back; trying again next interval");
                return;
            }
        };
        count_spool_loss(stats, read.lost);
        let next = read.batches.last().map(|(seq, _)| seq + 1);
        for (seq, batch) in read.batches {
            self.acks.pushed(Some(seq), batch.bytes.len());
            outbox.push_batch(batch);
        }
        self.spilled_from = if read.more { next } else { None };
        if self.spilled_from.is_none() {
            tracing::info!("caught up with the spool; new data is queued in memory again");
        }
    }

    /// Acknowledge to the spool what has left the outbox, which holds `pending_bytes` now.
    pub(super) fn settle(&mut self, pending_bytes: usize) {
        if let Some(upto) = self.acks.settled(pending_bytes) {
            let _ = self.spool.acknowledge(upto);
        }
    }

    /// Let the spool sync what it has appended (at most once a second; errors are logged there).
    pub(super) fn maybe_sync(&mut self) {
        let _ = self.spool.maybe_sync(Instant::now());
    }

    /// Sync now, at shutdown (errors are logged there).
    pub(super) fn sync(&mut self) {
        let _ = self.spool.sync();
    }

    /// Bytes of spool files on disk.
    pub(super) fn disk_bytes(&self) -> u64 {
        self.spool.disk_bytes()
    }

    /// Whether records wait on disk only (spilled, not yet read back).
    pub(super) fn spilled(&self) -> bool {
        self.spilled_from.is_some()
    }

    /// The instance's spool directory.
    pub(super) fn dir(&self) -> &Path {
        self.spool.dir()
    }
}

/// Count what the spool lost, if anything.
fn count_spool_loss(stats: &Stats, d: Dropped) {
    if d.bytes > 0 {
        count_lost(stats, d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::outbox::RequestOutbox;

    fn batch(ts: i64) -> Batch {
        Batch { timestamp: ts, metrics: 1, bytes: format!("[{ts}]").into_bytes() }
    }

    /// A spill empties the outbox without a loss, later batches wait on disk only, refills
    /// bring everything back in order, and what was delivered is acknowledged, so that a
    /// restart finds nothing to send again.
    #[test]
    fn a_spill_loses_nothing_and_refills_bring_everything_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, recovered) = Spool::open(dir.path(), "t", 1 << 20).unwrap();
        let stats = Stats::default();
        let mut outbox = RequestOutbox::new();
        let mut s = Spooling::recover(spool, recovered, &mut outbox, &stats);
        for ts in [10, 20] {
            let b = s.append(batch(ts), &stats).expect("queued in memory as well");
            outbox.push_batch(b);
        }
        assert!(s.spill(&mut outbox, "buffer on failures", "127.0.0.1:1"));
        assert!(outbox.is_empty() && s.spilled());
        assert_eq!(s.append(batch(30), &stats), None, "behind a spill, a batch waits on disk only");
        let mut bodies = Vec::new();
        while s.spilled() {
            // One record at a time: the budget is one byte.
            s.refill(&mut outbox, &stats, 1);
            assert_eq!(outbox.pending_requests(), 1);
            while let Some(b) = outbox.front() {
                bodies.push(b.bytes.clone());
                outbox.delivered();
            }
            s.settle(outbox.pending_bytes());
        }
        assert_eq!(bodies, [b"[10]".to_vec(), b"[20]".to_vec(), b"[30]".to_vec()]);
        assert_eq!((stats.totals().lost_metrics, stats.totals().discards), (0, 0));
        drop(s);
        let (_, recovered) = Spool::open(dir.path(), "t", 1 << 20).unwrap();
        assert_eq!(recovered.batches, vec![]);
    }
}
