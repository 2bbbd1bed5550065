//! HTTP(S) POSTs to the first reachable destination of a list, over kept-alive connections.
//!
//! One job: deliver one request body and report the server's answer (status, a sample of the
//! response body, bytes received) or why no server answered. Built on `ureq`: connections are
//! pooled and reused, a pooled connection the server has closed is noticed before it is used,
//! TLS goes through rustls with the roots of [`tls`], and every new connection is
//! counted. It never decides whether to resend or drop; the sender does.
//!
//! Sent with every request: `User-Agent: rrdpipe/VERSION`, the body's own headers (content
//! type, encoding, protocol version), `Content-Length`, and `Authorization: Basic …` when a
//! username is configured. The password is never logged and never printed by `Debug`.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectionDetails, Connector, RustlsConnector, TcpConnector, Transport};
use ureq::Agent;

use super::tls::{self, Trust};
use super::Endpoint;

/// Most bytes of a response body read (the rest closes the connection).
const RESPONSE_MAX: u64 = 1 << 20;
/// Most characters of a response body kept for logs.
const SAMPLE_MAX: usize = 512;

/// `username` and `password`, for HTTP basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password; never printed.
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

impl BasicAuth {
    /// The `Authorization` header value: `Basic base64(username:password)`.
    pub fn header_value(&self) -> String {
        let plain = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(plain))
    }
}

/// How an HTTP connector reaches its server, from the exporter's section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// HTTPS rather than HTTP (the `:https` types).
    pub tls: bool,
    /// The request path (`/api/put`, or `remote write URL path`).
    pub path: String,
    /// Basic authentication, when `username` is set.
    pub auth: Option<BasicAuth>,
    /// `tls ca file`: certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// `tls skip verify`: accept any certificate.
    pub skip_verify: bool,
}

/// The server answered a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The start of the response body, non-printable characters replaced by spaces.
    pub sample: String,
    /// Bytes received: the status line and headers (as sent, give or take their letter case)
    /// and the body.
    pub received: usize,
}

impl Answer {
    /// 2xx: the body was accepted.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Worth sending again later: 5xx, 429 (too many requests) and 408 (request timeout).
    /// Any other status refuses this body for good.
    pub fn retryable(&self) -> bool {
        self.status >= 500 || self.status == 429 || self.status == 408
    }
}

/// No server answered: one `url: reason` per destination tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    /// Why each destination failed, in the order tried.
    pub errors: Vec<String>,
}

/// Counts connections as they are opened: the last link of the connector chain.
#[derive(Debug)]
struct CountConnections(Arc<AtomicU64>);

impl<In: Transport> Connector<In> for CountConnections {
    type Out = In;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<In>, ureq::Error> {
        if chained.is_some() {
            self.0.fetch_add(1, Relaxed);
        }
        Ok(chained)
    }
}

/// An HTTP client for one exporter's destinations.
pub struct HttpTransport {
    agent: Agent,
    urls: Vec<String>,
    /// The destination in use: the last one that answered.
    current: usize,
    headers: Vec<(&'static str, String)>,
    timeout: Duration,
    connections: Arc<AtomicU64>,
    trust: Option<Trust>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport").field("urls", &self.urls).field("current", &self.current).finish()
    }
}

/// How long an idle connection is kept for reuse unless the builder says otherwise: below the
/// idle timeouts common servers apply (60 s and more).
const KEEP_IDLE: Duration = Duration::from_secs(30);

/// The optional parts of an [`HttpTransport`]: the body's own headers (none unless given) and
/// how long an idle connection is kept for reuse ([`KEEP_IDLE`] unless given).
#[derive(Debug)]
pub struct HttpTransportBuilder<'a> {
    settings: &'a HttpSettings,
    endpoints: &'a [Endpoint],
    timeout: Duration,
    body_headers: &'a [(&'static str, &'static str)],
    keep_idle: Duration,
}

impl<'a> HttpTransportBuilder<'a> {
    /// Headers sent with every body (content type, encoding, protocol version).
    pub fn body_headers(self, body_headers: &'a [(&'static str, &'static str)]) -> Self {
        HttpTransportBuilder { body_headers, ..self }
    }

    /// Keep an idle connection for reuse for up to `keep_idle`.
    pub fn keep_idle(self, keep_idle: Duration) -> Self {
        HttpTransportBuilder { keep_idle, ..self }
    }

    /// The client. Fails, saying what to do, when the TLS settings cannot be used.
    pub fn build(self) -> Result<HttpTransport, String> {
        HttpTransport::build(self)
    }
}

impl HttpTransport {
    /// A client POSTing to `settings.path` on each of `endpoints` in turn, each request
    /// (connect, send, answer) bounded by `timeout`; see [`HttpTransportBuilder`] for the rest.
    pub fn builder<'a>(
        settings: &'a HttpSettings,
        endpoints: &'a [Endpoint],
        timeout: Duration,
    ) -> HttpTransportBuilder<'a> {
        HttpTransportBuilder { settings, endpoints, timeout, body_headers: &[], keep_idle: KEEP_IDLE }
    }

    /// Build the client. Fails, saying what to do, when the TLS settings cannot be used.
    fn build(b: HttpTransportBuilder<'_>) -> Result<HttpTransport, String> {
        let HttpTransportBuilder { settings, endpoints, timeout, body_headers, keep_idle } = b;
        let scheme = if settings.tls { "https" } else { "http" };
        let urls = endpoints
            .iter()
            .map(|e| {
                let host = if e.host.contains(':') { format!("[{}]", e.host) } else { e.host.clone() };
                format!("{scheme}://{host}:{}{}", e.port, settings.path)
            })
            .collect();
        let mut builder = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(concat!("rrdpipe/", env!("CARGO_PKG_VERSION")))
            .timeout_global(Some(timeout))
            .max_idle_connections_per_host(1)
            .max_idle_age(keep_idle);
        let mut trust = None;
        let mut pinned = tls::PinnedTls::default();
        if settings.tls {
            let (config, t, p) = tls::config(settings.ca_file.as_deref(), settings.skip_verify)?;
            builder = builder.tls_config(config);
            trust = Some(t);
            pinned = p;
        }
        let connections = Arc::new(AtomicU64::new(0));
        // TCP (no proxy is ever used), then TLS: the pinned-certificate connector when `tls ca
        // file` is set, else ureq's own.
        let connector =
            ().chain(TcpConnector::default())
                .chain(pinned)
                .chain(RustlsConnector::default())
                .chain(CountConnections(connections.clone()));
        let agent = Agent::with_parts(builder.build(), connector, DefaultResolver::default());
        let mut headers: Vec<(&'static str, String)> =
            body_headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        if let Some(auth) = &settings.auth {
            headers.push(("Authorization", auth.header_value()));
        }
        Ok(HttpTransport { agent, urls, current: 0, headers, timeout, connections, trust })
    }

    /// What the TLS configuration trusts (`None` for plain HTTP).
    pub fn trust(&self) -> Option<&Trust> {
        self.trust.as_ref()
    }

    /// The URL in use, for logs.
    pub fn peer(&self) -> &str {
        self.urls.get(self.current).map(String::as_str).unwrap_or("")
    }

    /// Every URL, for logs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Connections opened since the previous call.
    pub fn take_connections(&self) -> u64 {
        self.connections.swap(0, Relaxed)
    }

    /// POST `body` to the destination in use; when it cannot be reached, to the others in
    /// order of preference. The first server that answers, whatever the status, becomes the
    /// one in use.
    pub fn post(&mut self, body: &[u8]) -> Result<Answer, Unreachable> {
        let mut errors = Vec::new();
        let n = self.urls.len();
        let order: Vec<usize> =
            std::iter::once(self.current).chain((0..n).filter(|&i| i != self.current)).collect();
        for i in order.into_iter().take(n) {
            match self.post_to(i, body) {
                Ok(answer) => {
                    self.current = i;
                    return Ok(answer);
                }
                Err(e) => errors.push(format!("{}: {e}", self.urls[i])),
            }
        }
        self.current = 0;
        Err(Unreachable { errors })
    }

    fn post_to(&self, i: usize, body: &[u8]) -> Result<Answer, String> {
        let mut req = self.agent.post(&self.urls[i]);
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let resp = req.send(body).map_err(|e| self.describe(&e))?;
        let status = resp.status();
        let mut received =
            format!("HTTP/1.1 {} {}\r\n", status.as_str(), status.canonical_reason().unwrap_or("")).len() + 2;
        for (name, value) in resp.headers() {
            received += name.as_str().len() + 2 + value.len() + 2;
        }
        let mut sample = String::new();
        let mut reader = resp.into_body().into_with_config().limit(RESPONSE_MAX).reader();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    received += k;
                    for &b in &buf[..k] {
                        if sample.len() >= SAMPLE_MAX {
                            break;
                        }
                        sample.push(if (0x20..0x7f).contains(&b) { b as char } else { ' ' });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The status line arrived: the server has answered, whatever happens to the rest.
                Err(_) => break,
            }
        }
        Ok(Answer { status: status.as_u16(), sample: sample.trim().to_string(), received })
    }

    fn describe(&self, e: &ureq::Error) -> String {
        if let Some(t) = tls::explain(e) {
            return t;
        }
        match e {
            ureq::Error::Timeout(_) => {
                format!("no answer within {} ms ('timeout ms')", self.timeout.as_millis())
            }
            ureq::Error::HostNotFound => "cannot resolve the host name".to_string(),
            ureq::Error::Io(io) => io.to_string(),
            other => other.to_string(),
        }
    }
}

/// A scripted HTTP server for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    pub(crate) fn settings() -> HttpSettings {
        HttpSettings { tls: false, path: "/api/put".into(), auth: None, ca_file: None, skip_verify: false }
    }

    pub(crate) fn ep(port: u16) -> Endpoint {
        Endpoint { udp: false, host: "127.0.0.1".into(), port }
    }

    /// A plain-HTTP client of `endpoints` posting to `/api/put`, bounded by `timeout`.
    pub(crate) fn client(endpoints: &[Endpoint], timeout: Duration) -> HttpTransport {
        HttpTransport::builder(&settings(), endpoints, timeout).build().unwrap()
    }

    pub(crate) fn dead_port() -> u16 {
        TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// One received request: the head's lines and the body.
    pub(crate) type Request = (Vec<String>, Vec<u8>);

    /// Serves every connection on its own thread, answering each request with the next of
    /// `answers` (the last one repeats); sends each request and a connection count.
    pub(crate) fn server(answers: Vec<&'static str>) -> (u16, mpsc::Receiver<Request>, Arc<AtomicU64>) {
        server_on(TcpListener::bind("127.0.0.1:0").unwrap(), answers)
    }

    /// [`server`] on a listener the caller bound.
    pub(crate) fn server_on(
        l: TcpListener,
        answers: Vec<&'static str>,
    ) -> (u16, mpsc::Receiver<Request>, Arc<AtomicU64>) {
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let conns = Arc::new(AtomicU64::new(0));
        let counted = conns.clone();
        let answers = Arc::new(parking_lot::Mutex::new(answers));
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                counted.fetch_add(1, Relaxed);
                let tx = tx.clone();
                let answers = answers.clone();
                std::thread::spawn(move || serve(s, tx, answers));
            }
        });
        (port, rx, conns)
    }

    fn serve(s: TcpStream, tx: mpsc::Sender<Request>, answers: Arc<parking_lot::Mutex<Vec<&'static str>>>) {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        loop {
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                head.push(line);
            }
            let len: usize = head
                .iter()
                .find_map(|h| {
                    h.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.parse().unwrap())
                })
                .unwrap_or(0);
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let _ = tx.send((head, body));
            let answer = {
                let mut a = answers.lock();
                if a.len() > 1 {
                    a.remove(0)
                } else {
                    a[0]
                }
            };
            if w.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    pub(crate) const OK: &str = "HTTP/1.1 204 No Content\r\n\r\n";
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn posts_the_body_with_its_headers_and_reuses_the_connection() {
        let (port, rx, conns) = server(vec![OK]);
        let mut s = settings();
        s.auth = Some(BasicAuth { username: "user".into(), password: "pa:ss word".into() });
        let mut t = HttpTransport::builder(&s, &[ep(port)], Duration::from_secs(5))
            .body_headers(&[("Content-Type", "application/json")])
            .build()
            .unwrap();
        for body in [&b"[1]"[..], b"[22]", b"[333]"] {
            let a = t.post(body).unwrap();
            assert_eq!(
                a,
                Answer {
                    status: 204,
                    sample: String::new(),
                    received: "HTTP/1.1 204 No Content\r\n\r\n".len()
                }
            );
            let (head, got) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(got, body);
            assert_eq!(head[0], "POST /api/put HTTP/1.1");
            let mut headers: Vec<(String, String)> = head[1..]
                .iter()
                .map(|h| {
                    let (k, v) = h.split_once(": ").unwrap();
                    (k.to_ascii_lowercase(), v.to_string())
                })
                .collect();
            headers.sort();
            let expected = [
                ("accept", "*/*".to_string()),
                // base64("user:pa:ss word")
                ("authorization", "Basic dXNlcjpwYTpzcyB3b3Jk".to_string()),
                ("content-length", body.len().to_string()),
                ("content-type", "application/json".to_string()),
                ("host", format!("127.0.0.1:{port}")),
                ("user-agent", format!("rrdpipe/{}", env!("CARGO_PKG_VERSION"))),
            ];
            assert_eq!(headers, expected.map(|(k, v)| (k.to_string(), v)));
        }
        assert_eq!(conns.load(Relaxed), 1, "one kept-alive connection for three requests");
        assert_eq!(t.take_connections(), 1);
        assert_eq!(t.take_connections(), 0);
        assert!(!format!("{:?}", s).contains("pa:ss"), "Debug must hide the password");
    }

    #[test]
    fn error_statuses_come_back_with_a_body_sample() {
        let (port, rx, _) = server(vec![
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 23\r\nContent-Type: text/plain\r\n\r\ncannot parse\x01the body\n",
            "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n0\r\n\r\n",
            "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
        ]);
        let mut t = client(&[ep(port)], Duration::from_secs(5));
        let a = t.post(b"x").unwrap();
        assert_eq!((a.status, a.sample.as_str()), (400, "cannot parse the body"));
        assert!(!a.accepted() && !a.retryable());
        let a = t.post(b"x").unwrap();
        assert_eq!((a.status, a.sample.as_str()), (503, "busy"));
        assert!(a.retryable());
        let a = t.post(b"x").unwrap();
        assert_eq!(a.status, 429);
        assert!(a.retryable());
        assert_eq!(rx.try_iter().count(), 3);
    }

    #[test]
    fn an_unreachable_destination_fails_over_to_the_next_and_stays_there() {
        let (port, rx, _) = server(vec![OK]);
        let dead = dead_port();
        let mut t = client(&[ep(dead), ep(port)], Duration::from_secs(5));
        assert_eq!(t.post(b"a").unwrap().status, 204);
        assert_eq!(t.peer(), format!("http://127.0.0.1:{port}/api/put"));
        assert_eq!(t.post(b"b").unwrap().status, 204);
        assert_eq!(rx.try_iter().map(|(_, b)| b).collect::<Vec<_>>(), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(t.take_connections(), 1, "the dead destination opened nothing");
    }

    #[test]
    fn no_destination_answering_lists_every_reason() {
        let (a, b) = (dead_port(), dead_port());
        let mut t = client(&[ep(a), ep(b)], Duration::from_secs(2));
        let e = t.post(b"x").unwrap_err();
        assert_eq!(e.errors.len(), 2);
        assert!(e.errors[0].starts_with(&format!("http://127.0.0.1:{a}/api/put: ")), "{e:?}");
        assert!(e.errors[1].starts_with(&format!("http://127.0.0.1:{b}/api/put: ")), "{e:?}");
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut t = client(&[ep(port)], Duration::from_millis(300));
        let start = std::time::Instant::now();
        let e = t.post(b"x").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(3));
        assert_eq!(
            e.errors,
            vec![format!("http://127.0.0.1:{port}/api/put: no answer within 300 ms ('timeout ms')")]
        );
        drop(l);
    }

    #[test]
    fn ipv6_destinations_are_bracketed() {
        let t = HttpTransport::builder(
            &HttpSettings { tls: true, path: "/receive".into(), ..settings() },
            &[Endpoint { udp: false, host: "::1".into(), port: 9090 }],
            Duration::from_secs(1),
        )
        .build()
        .unwrap();
        assert_eq!(t.urls(), ["https://[::1]:9090/receive"]);
    }
}
