//! HTTP delivery: the request outbox POSTed body by body.
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

use super::{Attempt, Delivery};
use crate::export::outbox::{Outbox, RequestOutbox};
use crate::export::transport::http::{Answer, HttpTransport};
use crate::logs::{repeat_note, Escaped, Persisting};

/// An outbox of request bodies and the client that sends them.
#[derive(Debug)]
pub(crate) struct HttpDelivery {
    transport: HttpTransport,
    queue: RequestOutbox,
    /// Refusals (non-retryable statuses), logged at most every few minutes.
    refused: Persisting,
}

impl HttpDelivery {
    /// Bodies sent through `transport`.
    pub(crate) fn new(transport: HttpTransport) -> HttpDelivery {
        HttpDelivery { transport, queue: RequestOutbox::new(), refused: Persisting::default() }
    }
}

/// What to check for a status that refuses a body for good.
fn advice(status: u16) -> &'static str {
    match status {
        401 | 403 => "check 'username' and 'password'",
        404 | 405 => "check 'destination', and 'remote write URL path' for remote write",
        413 => "the server takes smaller requests; raise its request size limit",
        300..=399 => "the server redirects elsewhere; point 'destination' at the final address",
        _ => "the server could not use the data; its answer says why",
    }
}

impl Delivery for HttpDelivery {
    fn outbox(&self) -> &dyn Outbox {
        &self.queue
    }

    fn outbox_mut(&mut self) -> &mut dyn Outbox {
        &mut self.queue
    }

    fn destinations(&self) -> String {
        self.transport.urls().join(" ")
    }

    fn peer(&self) -> String {
        self.transport.peer().to_string()
    }

    fn close(&mut self) {}

    fn deliver(&mut self, a: &mut Attempt<'_>) -> bool {
        while !self.queue.is_empty() {
            if Instant::now() >= a.deadline {
                self.out_of_time(a);
                return false;
            }
            let Some(answer) = self.post_oldest(a) else {
                return false;
            };
            if answer.accepted() {
                self.accepted(a);
            } else if answer.retryable() {
                self.retry_later(a, &answer);
                return false;
            } else {
                self.refused(a, &answer);
            }
        }
        true
    }
}

impl HttpDelivery {
    /// POST the oldest body; its answer, or `None` (logged) when no destination answered.
    fn post_oldest(&mut self, a: &mut Attempt<'_>) -> Option<Answer> {
        let body = self.queue.front()?;
        let result = self.transport.post(&body.bytes);
        a.stats.reconnects(self.transport.take_connections());
        match result {
            Ok(answer) => {
                a.stats.reads(1);
                a.stats.received_bytes(answer.received as u64);
                Some(answer)
            }
            Err(e) => {
                let errors = e.errors.join("; ");
                if a.failed(format!("cannot send to any destination ({errors})")) {
                    tracing::error!(
                        error = %errors,
                        metrics = self.queue.pending_metrics(),
                        "cannot send to any destination; keeping the data buffered and retrying every interval{}",
                        repeat_note(a.outage)
                    );
                }
                None
            }
        }
    }

    /// The attempt's time is up with bodies still queued: they go next interval.
    fn out_of_time(&mut self, a: &mut Attempt<'_>) {
        let peer = self.transport.peer();
        if a.failed(format!("{peer} is slow: still sending after {} ms", a.timeout.as_millis())) {
            tracing::warn!(
                destination = %peer,
                metrics = self.queue.pending_metrics(),
                requests = self.queue.pending_requests(),
                timeout_ms = a.timeout.as_millis() as u64,
                "the destination is slow: requests are still buffered when the attempt's time is up; continuing \
                 next interval{}",
                repeat_note(a.outage)
            );
        }
    }

    /// The oldest body was accepted: delivered, counted.
    fn accepted(&mut self, a: &mut Attempt<'_>) {
        let d = self.queue.delivered();
        a.stats.sent_metrics(d.metrics);
        a.stats.sent_bytes(d.bytes);
        a.stats.writes(1);
        if let Some((n, d)) = self.refused.clear(Instant::now()) {
            tracing::info!(
                destination = %self.transport.peer(),
                refused = n,
                seconds = d.as_secs(),
                "the destination accepts requests again, after refusing some"
            );
        }
    }

    /// The server could not take the oldest body now: it stays, with everything after it.
    fn retry_later(&mut self, a: &mut Attempt<'_>, answer: &Answer) {
        let peer = self.transport.peer();
        if a.failed(format!("{peer} answered HTTP {}{}", answer.status, sample(answer))) {
            tracing::error!(
                destination = %peer,
                status = answer.status,
                answer = ?Escaped::str(&answer.sample),
                metrics = self.queue.pending_metrics(),
                "the destination cannot take data now; keeping the data buffered and retrying every interval{}",
                repeat_note(a.outage)
            );
        }
    }

    /// The server refused the oldest body for good: dropped, its loss counted.
    fn refused(&mut self, a: &mut Attempt<'_>, answer: &Answer) {
        let d = self.queue.reject_front();
        a.stats.lost_metrics(d.metrics);
        a.stats.lost_bytes(d.bytes);
        a.stats.discards(1);
        a.stats.failures(1);
        if self.refused.occur(Instant::now()) {
            tracing::error!(
                destination = %self.transport.peer(),
                status = answer.status,
                answer = ?Escaped::str(&answer.sample),
                metrics = d.metrics,
                bytes = d.bytes,
                "the destination refused a request; dropped it, since sending it again cannot help: {}{}",
                advice(answer.status),
                repeat_note(&self.refused)
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::batch::Batch;
    use crate::export::stats::Stats;
    use crate::export::transport::http::testing::{client, ep, server, OK};
    use std::time::Duration;

    fn body(ts: i64, metrics: usize, text: &str) -> Batch {
        Batch { timestamp: ts, metrics, bytes: text.as_bytes().to_vec() }
    }

    fn attempt(d: &mut HttpDelivery, stats: &Stats, outage: &mut Persisting) -> bool {
        let mut a = Attempt {
            stats,
            timeout: Duration::from_secs(5),
            deadline: Instant::now() + Duration::from_secs(5),
            outage,
        };
        d.deliver(&mut a)
    }

    #[test]
    fn retryable_statuses_keep_the_body_refusals_drop_it_and_everything_is_counted() {
        const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
        const BAD: &str = "HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nbad row";
        let (port, rx, conns) = server(vec![UNAVAILABLE, OK, BAD, OK]);
        let t = client(&[ep(port)], Duration::from_secs(5));
        let mut d = HttpDelivery::new(t);
        d.queue.push_batch(body(10, 3, "[a,b,c]"));
        d.queue.push_batch(body(10, 2, "[d,e]"));
        d.queue.push_batch(body(20, 1, "[f]"));
        let stats = Stats::default();
        let mut down = Persisting::default();
        // The first body meets a 503: nothing is lost, nothing more is tried this interval.
        assert!(!attempt(&mut d, &stats, &mut down));
        assert_eq!((d.queue.pending_metrics(), d.queue.pending_bytes()), (6, 15));
        // Next interval: the first body again (204), the second is refused (400), the third
        // goes (204).
        assert!(attempt(&mut d, &stats, &mut down));
        assert_eq!((d.queue.pending_metrics(), d.queue.pending_bytes()), (0, 0));
        let bodies: Vec<Vec<u8>> = rx.try_iter().map(|(_, b)| b).collect();
        assert_eq!(
            bodies,
            vec![b"[a,b,c]".to_vec(), b"[a,b,c]".to_vec(), b"[d,e]".to_vec(), b"[f]".to_vec()]
        );
        let t = stats.totals();
        assert_eq!((t.sent_metrics, t.sent_bytes, t.writes), (4, 10, 2));
        assert_eq!((t.lost_metrics, t.lost_bytes, t.discards), (2, 5, 1));
        assert_eq!(t.failures, 1, "the refusal; failed intervals are counted by the sender loop");
        assert_eq!(t.reads, 4);
        let received = UNAVAILABLE.len() + OK.len() + BAD.len() + OK.len();
        assert_eq!(t.received_bytes, received as u64);
        assert_eq!(t.reconnects, 1);
        assert_eq!(conns.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn an_attempt_stops_at_its_deadline_and_resumes_next_interval() {
        let (port, rx, _) = server(vec![OK]);
        let t = client(&[ep(port)], Duration::from_secs(5));
        let mut d = HttpDelivery::new(t);
        d.queue.push_batch(body(10, 1, "[a]"));
        d.queue.push_batch(body(20, 1, "[b]"));
        let stats = Stats::default();
        let mut down = Persisting::default();
        let mut a = Attempt {
            stats: &stats,
            timeout: Duration::from_secs(5),
            deadline: Instant::now(),
            outage: &mut down,
        };
        assert!(!d.deliver(&mut a));
        assert_eq!(d.queue.pending_metrics(), 2);
        assert!(attempt(&mut d, &stats, &mut down));
        assert_eq!(rx.try_iter().map(|(_, b)| b).collect::<Vec<_>>(), vec![b"[a]".to_vec(), b"[b]".to_vec()]);
    }
}
