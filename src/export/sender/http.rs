//! HTTP delivery: the request queue POSTed body by body.
//!
//! One job: send the oldest body until the server acknowledges it, and decide from the answer
//! what becomes of it:
//!
//! * 2xx: delivered; its metrics and bytes count as sent;
//! * 5xx, 429, 408, or no server answering: kept, with everything after it, for the next
//!   interval (the attempt fails, and `buffer on failures` applies as for lines);
//! * any other status (400, 401, 404, 413, 3xx, ...): refused for good, since sending it again
//!   cannot help; dropped, its loss counted (lost metrics and bytes, a discard and a failure)
//!   and the status with the start of the response body logged; the next body goes on.
//!
//! Requests are atomic: a body is never delivered in part, and one that failed mid-way is
//! sent again whole.

use std::time::Instant;

use super::{repeat_note, Attempt, Delivery, Persisting};
use crate::export::buffer::{Dropped, RequestQueue};
use crate::export::encode::Batch;
use crate::export::transport::http::{Answer, HttpTransport};

/// A queue of request bodies and the client that sends them.
#[derive(Debug)]
pub(crate) struct HttpDelivery {
    transport: HttpTransport,
    queue: RequestQueue,
    /// Refusals (non-retryable statuses), logged at most every few minutes.
    refused: Persisting,
}

impl HttpDelivery {
    /// Bodies sent through `transport`.
    pub(crate) fn new(transport: HttpTransport) -> HttpDelivery {
        HttpDelivery { transport, queue: RequestQueue::new(), refused: Persisting::default() }
    }
}

/// What to check for a status that refuses a body for good.
fn advice(status: u16) -> &'static str {
    match status {
        401 | 403 => "check 'username' and 'password'",
        404 | 405 => "check 'destination', and 'remote write URL path' for remote write",
        413 => "the server takes smaller requests; raise its request size limit",
        300..=399 => "the server redirects elsewhere; point 'destination' at the final address",
        _ => "the server could not use the data; its answer above says why",
    }
}

impl Delivery for HttpDelivery {
    fn push(&mut self, batch: Batch) {
        self.queue.push(batch);
    }

    fn pending_metrics(&self) -> usize {
        self.queue.pending_metrics()
    }

    fn pending_bytes(&self) -> usize {
        self.queue.pending_bytes()
    }

    fn drop_all(&mut self) -> Dropped {
        self.queue.drop_all()
    }

    fn destinations(&self) -> String {
        self.transport.urls().join(" ")
    }

    fn peer(&self) -> String {
        self.transport.peer().to_string()
    }

    fn close(&mut self) {}

    fn deliver(&mut self, a: &mut Attempt<'_>) -> bool {
        while let Some(body) = self.queue.front() {
            if Instant::now() >= a.deadline {
                if a.down.occur(Instant::now()) {
                    tracing::warn!(
                        "exporter '{}': {} is slow: {} metrics ({} requests) still buffered after {} ms; continuing next interval{}",
                        a.name,
                        self.transport.peer(),
                        self.queue.pending_metrics(),
                        self.queue.pending_requests(),
                        a.timeout.as_millis(),
                        repeat_note(a.down)
                    );
                }
                return false;
            }
            let (metrics, bytes) = (body.metrics, body.bytes.len());
            let result = self.transport.post(&body.bytes);
            a.stats.reconnects(self.transport.take_connections());
            let answer = match result {
                Ok(answer) => answer,
                Err(e) => {
                    if a.down.occur(Instant::now()) {
                        tracing::error!(
                            "exporter '{}': no destination answered ({}); keeping {} metrics buffered and retrying every interval{}",
                            a.name,
                            e.errors.join("; "),
                            self.queue.pending_metrics(),
                            repeat_note(a.down)
                        );
                    }
                    return false;
                }
            };
            a.stats.reads(1);
            a.stats.received_bytes(answer.received as u64);
            if answer.accepted() {
                let d = self.queue.delivered();
                a.stats.sent_metrics(d.metrics);
                a.stats.sent_bytes(d.bytes);
                a.stats.writes(1);
                if let Some((n, d)) = self.refused.clear(Instant::now()) {
                    tracing::info!(
                        "exporter '{}': {} accepts requests again, after refusing {n} over {}s",
                        a.name,
                        self.transport.peer(),
                        d.as_secs()
                    );
                }
                continue;
            }
            if answer.retryable() {
                if a.down.occur(Instant::now()) {
                    tracing::error!(
                        "exporter '{}': {} answered HTTP {}{}; keeping {} metrics buffered and retrying every interval{}",
                        a.name,
                        self.transport.peer(),
                        answer.status,
                        sample(&answer),
                        self.queue.pending_metrics(),
                        repeat_note(a.down)
                    );
                }
                return false;
            }
            let d = self.queue.reject_front();
            a.stats.lost_metrics(d.metrics);
            a.stats.lost_bytes(d.bytes);
            a.stats.discards(1);
            a.stats.failures(1);
            if self.refused.occur(Instant::now()) {
                tracing::error!(
                    "exporter '{}': {} refused a request of {metrics} metrics ({bytes} bytes) with HTTP {}{}; dropped it, \
                     since sending it again cannot help: {}{}",
                    a.name,
                    self.transport.peer(),
                    answer.status,
                    sample(&answer),
                    advice(answer.status),
                    repeat_note(&self.refused)
                );
            }
        }
        true
    }
}

/// `: 'body sample'`, or nothing for an empty body.
fn sample(a: &Answer) -> String {
    if a.sample.is_empty() {
        String::new()
    } else {
        format!(": '{}'", a.sample)
    }
}
