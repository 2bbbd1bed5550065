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
use crate::logs::repeat_note;

/// An outbox of lines and its socket.
#[derive(Debug)]
pub(crate) struct LineDelivery {
    transport: LineTransport,
    outbox: Outbox,
    endpoints: Vec<Endpoint>,
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
        }
    }

    /// Close a failed connection; queue again what the receiver may not have read.
    fn lost(&mut self, a: &mut Attempt<'_>) {
        let peer = self.transport.peer().to_string();
        self.transport.close();
        let r = self.outbox.connection_lost(Instant::now());
        if r.metrics > 0 {
            a.stats.replayed_metrics(r.metrics);
            tracing::info!(
                "exporter '{}': the connection to {peer} failed; sending again the {} metrics ({} bytes) written to it in the replay window, \
                 which it may not have received",
                a.name,
                r.metrics,
                r.bytes
            );
        }
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
        self.transport.close();
    }

    fn deliver(&mut self, a: &mut Attempt<'_>) -> bool {
        if self.transport.is_connected() {
            let d = self.transport.drain();
            if d.bytes > 0 {
                a.stats.received_bytes(d.bytes as u64);
                a.stats.reads(d.reads as u64);
                tracing::info!(
                    "exporter '{}': received {} bytes from {}; ignoring them. Sample: '{}'",
                    a.name,
                    d.bytes,
                    self.transport.peer(),
                    d.sample
                );
            }
            if d.closed {
                tracing::warn!(
                    "exporter '{}': {} closed the connection; reconnecting",
                    a.name,
                    self.transport.peer()
                );
                self.lost(a);
            }
        }
        if !self.transport.is_connected() {
            match self.transport.connect() {
                Ok(c) => {
                    a.stats.reconnects(1);
                    tracing::debug!("exporter '{}': connected to {}", a.name, c.peer);
                }
                Err(f) => {
                    if a.down.occur(Instant::now()) {
                        tracing::error!(
                            "exporter '{}': cannot connect to any destination ({}); keeping {} metrics buffered and retrying every interval{}",
                            a.name,
                            f.errors.join("; "),
                            self.outbox.pending_metrics(),
                            repeat_note(a.down)
                        );
                    }
                    return false;
                }
            }
        }
        let (n, end) = self.transport.write(self.outbox.unwritten(), a.deadline);
        let delivered = self.outbox.wrote(n, Instant::now());
        a.stats.sent_metrics(delivered.metrics);
        a.stats.sent_bytes(delivered.bytes);
        match end {
            WriteEnd::Done => {
                a.stats.writes(1);
                true
            }
            WriteEnd::TimedOut if n > 0 => {
                // A slow peer that still reads: keep the connection so a line cut by the
                // deadline is completed, not left truncated; continue next interval.
                if a.down.occur(Instant::now()) {
                    tracing::warn!(
                        "exporter '{}': {} is slow: {} metrics still buffered after {} ms; continuing next interval",
                        a.name,
                        self.transport.peer(),
                        self.outbox.pending_metrics(),
                        a.timeout.as_millis()
                    );
                }
                false
            }
            WriteEnd::TimedOut => {
                if a.down.occur(Instant::now()) {
                    tracing::error!(
                        "exporter '{}': {} accepted nothing for {} ms; reconnecting. {} metrics stay buffered",
                        a.name,
                        self.transport.peer(),
                        a.timeout.as_millis(),
                        self.outbox.pending_metrics()
                    );
                }
                self.lost(a);
                false
            }
            WriteEnd::Failed(e) => {
                if a.down.occur(Instant::now()) {
                    tracing::error!(
                        "exporter '{}': sending to {} failed: {e}; reconnecting next interval. {} metrics stay buffered",
                        a.name,
                        self.transport.peer(),
                        self.outbox.pending_metrics()
                    );
                }
                self.lost(a);
                false
            }
        }
    }
}
