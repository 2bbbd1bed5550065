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

use super::{Attempt, Delivery};
use crate::export::buffer::{Dropped, RequestQueue};
use crate::export::encode::Batch;
use crate::export::transport::http::{Answer, HttpTransport};
use crate::logs::repeat_note;
use crate::logs::Persisting;

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

    fn drop_oldest_until(&mut self, max_bytes: usize) -> Dropped {
        self.queue.drop_oldest_until(max_bytes)
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
                if a.failed(format!(
                    "{} is slow: still sending after {} ms",
                    self.transport.peer(),
                    a.timeout.as_millis()
                )) {
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
                    if a.failed(format!("cannot send to any destination ({})", e.errors.join("; "))) {
                        tracing::error!(
                            "exporter '{}': cannot send to any destination ({}); keeping {} metrics buffered and retrying every interval{}",
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
                if a.failed(format!(
                    "{} answered HTTP {}{}",
                    self.transport.peer(),
                    answer.status,
                    sample(&answer)
                )) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::stats::Stats;
    use crate::export::transport::http::testing::{ep, server, settings, OK};
    use std::time::Duration;

    fn body(ts: i64, metrics: usize, text: &str) -> Batch {
        Batch { timestamp: ts, metrics, bytes: text.as_bytes().to_vec() }
    }

    fn attempt(d: &mut HttpDelivery, stats: &Stats, down: &mut Persisting) -> bool {
        let mut a = Attempt {
            name: "t",
            stats,
            timeout: Duration::from_secs(5),
            deadline: Instant::now() + Duration::from_secs(5),
            down,
        };
        d.deliver(&mut a)
    }

    #[test]
    fn retryable_statuses_keep_the_body_refusals_drop_it_and_everything_is_counted() {
        const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
        const BAD: &str = "HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nbad row";
        let (port, rx, conns) = server(vec![UNAVAILABLE, OK, BAD, OK]);
        let t = HttpTransport::new(
            &settings(),
            &[ep(port)],
            &[],
            Duration::from_secs(5),
            Duration::from_secs(30),
        )
        .unwrap();
        let mut d = HttpDelivery::new(t);
        d.push(body(10, 3, "[a,b,c]"));
        d.push(body(10, 2, "[d,e]"));
        d.push(body(20, 1, "[f]"));
        let stats = Stats::default();
        let mut down = Persisting::default();
        // The first body meets a 503: nothing is lost, nothing more is tried this interval.
        assert!(!attempt(&mut d, &stats, &mut down));
        assert_eq!((d.pending_metrics(), d.pending_bytes()), (6, 15));
        // Next interval: the first body again (204), the second is refused (400), the third
        // goes (204).
        assert!(attempt(&mut d, &stats, &mut down));
        assert_eq!((d.pending_metrics(), d.pending_bytes()), (0, 0));
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
        let t = HttpTransport::new(
            &settings(),
            &[ep(port)],
            &[],
            Duration::from_secs(5),
            Duration::from_secs(30),
        )
        .unwrap();
        let mut d = HttpDelivery::new(t);
        d.push(body(10, 1, "[a]"));
        d.push(body(20, 1, "[b]"));
        let stats = Stats::default();
        let mut down = Persisting::default();
        let mut a = Attempt {
            name: "t",
            stats: &stats,
            timeout: Duration::from_secs(5),
            deadline: Instant::now(),
            down: &mut down,
        };
        assert!(!d.deliver(&mut a));
        assert_eq!(d.pending_metrics(), 2);
        assert!(attempt(&mut d, &stats, &mut down));
        assert_eq!(rx.try_iter().map(|(_, b)| b).collect::<Vec<_>>(), vec![b"[a]".to_vec(), b"[b]".to_vec()]);
    }
}
