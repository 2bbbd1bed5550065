//! Connections, HTTP/1.1, limits, CORS and compression for the API.
//!
//! One job: carry requests from sockets to [`Api::respond`] and answers back. The
//! `stream-listen` thread accepts every connection and reads its request head (through the
//! [`Gate`](crate::collect::stream::gate::Gate), which bounds idle and slow clients); a head
//! that is not `STREAM …` is handed here as an [`Incoming`]: the socket and the bytes already
//! read, which are replayed to the HTTP parser first. A TLS connection arrives with its session
//! (handshake done, head read) and is served over it ([`super::tls_io`]).
//!
//! HTTP/1.1 itself (parsing, keep-alive, pipelining, the header size cap and the deadline for
//! each later request on a connection) is hyper's, on a single-threaded tokio runtime on the
//! `api-http` thread, so thousands of idle connections cost no thread. Endpoints read the store
//! synchronously: they run on tokio's blocking pool (`api-worker` threads, at most
//! [`WORKERS`]), so a large scrape never stalls other connections, and a panicking endpoint
//! becomes a 500 and a log line.
//!
//! Limits: at most `[web] web server max sockets` connections; a new one closes the one idle
//! the longest (an idle connection is one between requests), so idle keep-alive clients never
//! keep out a new one. Every answer carries netdata's CORS headers and
//! `Cache-Control: no-cache, no-store, must-revalidate`; bodies are gzipped for clients that
//! accept it; `HEAD` gets the headers of the `GET` without its body.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, Notify};
use tracing::{info, warn};

use super::tls_io::TlsIo;
use super::{files, ui, Api, Query, Request, Response};
use crate::collect::stream::tls::Conn as Connection;
use crate::logs::{Escaped, Tally};
use crate::shutdown::Shutdown;

/// Threads that run endpoints, at most.
pub const WORKERS: usize = 4;
/// The longest request line and headers, in bytes; longer ones are answered 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// How often the server looks for shutdown.
const WAKE: Duration = Duration::from_millis(250);
/// How long a closed connection may take to finish the answer it is writing.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// At most one log line per this long for a recurring condition.
const LOG_PERIOD: Duration = Duration::from_secs(60);

/// `Access-Control-Allow-Methods` of a preflight answer (netdata's).
pub const CORS_METHODS: &str = "GET, OPTIONS";
/// `Access-Control-Allow-Headers` of a preflight answer (netdata's: what `dashboard.js` sends).
pub const CORS_HEADERS: &str =
    "accept, x-requested-with, origin, content-type, cookie, pragma, cache-control, x-auth-token";
/// `Access-Control-Max-Age` of a preflight answer (netdata's, two weeks).
pub const CORS_MAX_AGE: &str = "1209600";
/// `Cache-Control` of every answer: API answers are live.
pub const NO_CACHE: &str = "no-cache, no-store, must-revalidate";

/// The server's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Connections held at once (`[web] web server max sockets`).
    pub max_sockets: usize,
    /// The longest a connection may take to send a request after its first
    /// (`[web] timeout for first request`); an idle keep-alive connection is closed then too.
    pub request_timeout: Duration,
}

/// A connection whose first request head has been read: handed over by the listener.
#[derive(Debug)]
pub struct Incoming {
    /// The connection (plain or TLS), positioned right after `head`.
    pub stream: Connection,
    /// The client (IPv4-mapped shown as IPv4).
    pub peer: SocketAddr,
    /// The bytes already read: the first request's head.
    pub head: Vec<u8>,
}

/// Counters of the server, since start.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// Connections refused because every socket was busy with a request.
    pub refused: AtomicU64,
    /// Endpoints that panicked (answered 500).
    pub panics: AtomicU64,
}

/// Hands connections to the server; cheap to clone.
#[derive(Clone, Debug)]
pub struct Handoff {
    tx: mpsc::UnboundedSender<Incoming>,
}

impl Handoff {
    /// Give `c` to the server; false (and the socket closed) when the server has stopped.
    pub fn give(&self, c: Incoming) -> bool {
        self.tx.send(c).is_ok()
    }
}

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    handoff: Handoff,
    stats: Arc<ServerStats>,
    thread: JoinHandle<()>,
}

impl HttpServer {
    /// Start the `api-http` thread serving `api`; it stops when `shutdown` is triggered.
    pub fn start(api: Arc<Api>, cfg: ServerConfig, shutdown: Shutdown) -> io::Result<HttpServer> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(WORKERS)
            .thread_name("api-worker")
            .build()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(ServerStats::default());
        let state = Arc::new(Shared {
            api,
            cfg,
            stats: stats.clone(),
            conns: Mutex::new(Conns::default()),
            logs: Mutex::new(Logs::default()),
        });
        let thread = std::thread::Builder::new().name("api-http".into()).spawn(move || {
            rt.block_on(accept_loop(state, rx, shutdown));
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
        Ok(HttpServer { handoff: Handoff { tx }, stats, thread })
    }

    /// What the listener hands connections to.
    pub fn handoff(&self) -> Handoff {
        self.handoff.clone()
    }

    /// The server's counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Wait for the server's thread (after shutdown was triggered).
    pub fn join(self) {
        drop(self.handoff);
        let _ = self.thread.join();
    }
}

/// What every connection's task shares.
struct Shared {
    api: Arc<Api>,
    cfg: ServerConfig,
    stats: Arc<ServerStats>,
    conns: Mutex<Conns>,
    logs: Mutex<Logs>,
}

/// Throttles of the server's recurring log lines.
struct Logs {
    evicted: Tally,
    refused: Tally,
}

impl Default for Logs {
    fn default() -> Logs {
        Logs { evicted: Tally::new(LOG_PERIOD), refused: Tally::new(LOG_PERIOD) }
    }
}

/// One open connection, as the table sees it.
struct Conn {
    /// Whether a request is being answered.
    busy: bool,
    /// When it last started or finished a request (or connected).
    last_active: Instant,
    /// Told to close the connection.
    close: Arc<Notify>,
}

/// The open connections.
#[derive(Default)]
struct Conns {
    next_id: u64,
    open: HashMap<u64, Conn>,
}

impl Conns {
    /// The connection idle the longest, if any is idle.
    fn oldest_idle(&self) -> Option<u64> {
        self.open
            .iter()
            .filter(|(_, c)| !c.busy)
            .min_by_key(|(id, c)| (c.last_active, **id))
            .map(|(id, _)| *id)
    }

    /// Mark `id` busy or idle, now.
    fn set_busy(&mut self, id: u64, busy: bool) {
        if let Some(c) = self.open.get_mut(&id) {
            c.busy = busy;
            c.last_active = Instant::now();
        }
    }
}

/// Take connections from the listener until shutdown.
async fn accept_loop(state: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Incoming>, shutdown: Shutdown) {
    loop {
        let next = tokio::select! {
            c = rx.recv() => c,
            _ = tokio::time::sleep(WAKE) => {
                if shutdown.is_triggered() { return; }
                continue;
            }
        };
        let Some(c) = next else { return };
        if shutdown.is_triggered() {
            return;
        }
        admit(&state, c);
    }
}

/// Make room for `c` if the table is full, then serve it on a task of its own.
fn admit(state: &Arc<Shared>, c: Incoming) {
    let Incoming { stream, peer, head } = c;
    let (id, close) = {
        let mut conns = state.conns.lock();
        if conns.open.len() >= state.cfg.max_sockets.max(1) {
            match conns.oldest_idle() {
                Some(victim) => {
                    if let Some(v) = conns.open.remove(&victim) {
                        v.close.notify_one();
                    }
                    state.stats.evicted.fetch_add(1, Ordering::Relaxed);
                    if let Some(n) = state.logs.lock().evicted.occur(Instant::now()) {
                        info!(
                            closed = n,
                            open = state.cfg.max_sockets,
                            "web: closed idle connections to make room for new ones ([web] web server max sockets)"
                        );
                    }
                }
                None => {
                    drop(conns);
                    refuse_busy(state, stream, peer);
                    return;
                }
            }
        }
        conns.next_id += 1;
        let id = conns.next_id;
        let close = Arc::new(Notify::new());
        conns.open.insert(id, Conn { busy: false, last_active: Instant::now(), close: close.clone() });
        (id, close)
    };
    let (session, stream) = stream.into_parts();
    let stream = match stream.set_nonblocking(true).and_then(|_| tokio::net::TcpStream::from_std(stream)) {
        Ok(s) => s,
        Err(e) => {
            state.conns.lock().open.remove(&id);
            warn!(%peer, error = %e, "web: cannot serve a connection; closed it");
            return;
        }
    };
    let io = match session {
        Some(session) => Transport::Tls(Box::new(TlsIo::new(session, stream))),
        None => Transport::Plain(stream),
    };
    tokio::spawn(serve_connection(state.clone(), id, close, Replayed::new(head, io), peer));
}

/// Every socket is busy answering: answer 503 and close.
fn refuse_busy(state: &Shared, mut stream: Connection, peer: SocketAddr) {
    state.stats.refused.fetch_add(1, Ordering::Relaxed);
    let _ = stream.socket().set_nonblocking(true);
    stream.answer(
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Content-Length: 38\r\n\r\nevery connection is busy; retry later\n",
    );
    if let Some(n) = state.logs.lock().refused.occur(Instant::now()) {
        warn!(
            refused = n,
            last_peer = %peer,
            busy = state.cfg.max_sockets,
            "web: refused connections: every socket is answering a request; raise [web] web server max sockets"
        );
    }
}

/// Serve one connection until it ends or is told to close.
async fn serve_connection(state: Arc<Shared>, id: u64, close: Arc<Notify>, io: Replayed, peer: SocketAddr) {
    let svc_state = state.clone();
    let secure = io.is_tls();
    let svc = service_fn(move |req| {
        let state = svc_state.clone();
        async move { Ok::<_, Infallible>(answer(state, id, peer, secure, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.cfg.request_timeout)
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_HEAD.max(8192) * 2)
        .keep_alive(true)
        .pipeline_flush(false);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = close.notified() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
        }
    }
    state.conns.lock().open.remove(&id);
}

/// Answer one request, marking the connection busy meanwhile.
async fn answer(
    state: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    secure: bool,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    state.conns.lock().set_busy(id, true);
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, _body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let gzip = accepts_gzip(&parts.headers);
    let mut out = if parts.method == Method::OPTIONS {
        preflight()
    } else if parts.method == Method::GET || head {
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let api = state.api.clone();
        let ip = peer.ip().to_canonical();
        let own_url = own_url(&parts.headers, secure);
        match off_the_loop(move || {
            encode(respond_to(&api, &path, &query, ip, crate::clock::now_ms() as i64, own_url), gzip)
        })
        .await
        {
            Some(r) => r,
            None => {
                state.stats.panics.fetch_add(1, Ordering::Relaxed);
                warn!(
                    uri = %Escaped::str(&parts.uri.to_string()),
                    %peer,
                    "web: the endpoint panicked; answered 500. This is a bug: please report it with this line"
                );
                plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the agent's log")
            }
        }
    } else {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET, HEAD and OPTIONS are served");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS"));
        r
    };
    add_common_headers(out.headers_mut(), origin);
    if head {
        // The GET's headers, its length included, and no body.
        *out.body_mut() = Full::new(Bytes::new());
    }
    state.conns.lock().set_busy(id, false);
    out
}

/// Run `f` (an endpoint: synchronous, reading the store) on the blocking pool, so the event
/// loop serves other connections meanwhile. `None` when it panicked.
async fn off_the_loop<F>(f: F) -> Option<hyper::Response<Full<Bytes>>>
where
    F: FnOnce() -> hyper::Response<Full<Bytes>> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.ok()
}

/// The answer to a first request head whose request line HTTP cannot carry (hyper closes
/// such a connection without a word): `METHOD SP TARGET SP HTTP/1.x`, the target in visible
/// ASCII. `None` when the line is fine.
pub fn bad_request_line(head: &[u8]) -> Option<&'static [u8]> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|b| *b == b' ');
    let (method, target, version) = (parts.next()?, parts.next(), parts.next());
    let fine = !method.is_empty()
        && method.iter().all(|b| b.is_ascii_alphabetic() || *b == b'-' || *b == b'_')
        && target.is_some_and(|t| !t.is_empty() && t.iter().all(|b| (0x21..0x7f).contains(b)))
        && version.is_some_and(|v| v.starts_with(b"HTTP/1."))
        && parts.next().is_none();
    (!fine).then_some(BAD_REQUEST_LINE)
}

/// See [`bad_request_line`].
const BAD_REQUEST_LINE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 99\r\n\r\n\
    the request line must be METHOD PATH HTTP/1.1, the path in visible ASCII (percent-encode the rest)\n";

/// The agent's URL as the client reached it: `http://` (`https://` over TLS) and the `Host`
/// header, when that is a plain `host[:port]` (visible ASCII, no `/`, `@`, quote or backslash).
fn own_url(headers: &HeaderMap, secure: bool) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    plain_host(host).then(|| format!("{}://{host}", if secure { "https" } else { "http" }))
}

/// Whether a `Host` value is a plain `host[:port]` fit for a URL.
fn plain_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'@' | b'"' | b'\\' | b'?' | b'#'))
}

/// The answer to a plain HTTP request on a port that serves HTTPS (netdata redirects them):
/// `301` to the same path over `https://` on the `Host` the client used, or `400` saying to use
/// HTTPS when the request names no plain host or path.
pub fn https_redirect(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let target = lines.next().and_then(|l| l.split(' ').nth(1)).filter(|t| t.starts_with('/'));
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim())
        .filter(|h| plain_host(h));
    let (status, location, body) = match (host, target.filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))) {
        (Some(host), Some(target)) => {
            let url = format!("https://{host}{target}");
            (
                "301 Moved Permanently",
                format!("Location: {url}\r\n"),
                format!("this port serves HTTPS: {url}\n"),
            )
        }
        _ => ("400 Bad Request", String::new(), "this port serves HTTPS: use https://\n".to_string()),
    };
    format!(
        "HTTP/1.1 {status}\r\n{location}Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// [`respond_to`] for a client that sent no `Host` header.
pub fn respond(api: &Api, path: &str, query: &str, peer: IpAddr, now_ms: i64) -> Response {
    respond_to(api, path, query, peer, now_ms, None)
}

/// The endpoint's answer for a GET of `path?query`; routing, path checks and the endpoint
/// itself. Pure but for the store it reads. Repeated slashes count as one, as netdata's do
/// (its dashboard asks for `//api/v1/info`).
pub fn respond_to(
    api: &Api,
    path: &str,
    query: &str,
    peer: IpAddr,
    now_ms: i64,
    own_url: Option<String>,
) -> Response {
    let decoded = match percent_encoding::percent_decode_str(path).decode_utf8() {
        Ok(p) => collapse_slashes(&p),
        Err(_) => return Response::bad_request("the path is not valid UTF-8"),
    };
    if decoded.split('/').any(|s| s == "..") {
        return Response::bad_request("the path may not contain '..'");
    }
    let (host, endpoint) = match route(&decoded) {
        Some(r) => r,
        None => return page(api, &decoded),
    };
    let host = match host {
        None => api.db.localhost(),
        Some(name) => match api.host_named(name) {
            Some(h) => h,
            None => {
                return Response::not_found(&format!(
                    "this agent holds no host '{}' (neither hostname nor machine GUID)",
                    Escaped::str(name)
                ))
            }
        },
    };
    let req = Request { endpoint, query: Query::parse(query), peer, now_ms, own_url };
    api.respond(&host, &req)
}

/// A path outside the API: the status page (always at [`ui::PATH`], and at `/` unless netdata's
/// dashboard is served there), else a file of `[directories] web`.
fn page(api: &Api, path: &str) -> Response {
    let own =
        path.strip_prefix(ui::PATH).or(if path == ui::PATH.trim_end_matches('/') { Some("") } else { None });
    let at_root = if api.web_dir.is_none() { path.strip_prefix('/') } else { None };
    if let Some((kind, bytes)) = own.or(at_root).and_then(ui::asset) {
        return Response::ok(kind, bytes.to_vec());
    }
    match &api.web_dir {
        Some(dir) => files::serve(dir, path),
        None => Response::not_found(&format!(
            "nothing is served at {}; the status page is at /, the API under /api/v1/ (e.g. /api/v1/info)",
            Escaped::str(path)
        )),
    }
}

/// `path` with each run of `/` as one `/`.
fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// Split a decoded path into the `/host/NAME/` prefix (if any) and the endpoint after
/// `/api/v1/`; `None` when the path is not an API path.
pub fn route(path: &str) -> Option<(Option<&str>, &str)> {
    let (host, rest) = match path.strip_prefix("/host/") {
        Some(r) => {
            let (name, rest) = r.split_once('/')?;
            (Some(name), rest)
        }
        None => (None, path.strip_prefix('/')?),
    };
    let endpoint = rest.strip_prefix("api/v1/")?;
    if endpoint.is_empty() || endpoint.contains('/') {
        return None;
    }
    Some((host, endpoint))
}

/// Whether the client accepts `gzip` (`Accept-Encoding`, any entry but one with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
    })
}

/// An endpoint's answer as HTTP: status, type, body (gzipped when `gzip` and not empty).
fn encode(r: Response, gzip: bool) -> hyper::Response<Full<Bytes>> {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = r.body;
    let mut compressed = false;
    if gzip && !body.is_empty() {
        let mut enc =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        if enc.write_all(&body).is_ok() {
            if let Ok(z) = enc.finish() {
                body = z;
                compressed = true;
            }
        }
    }
    let len = body.len();
    let mut out = hyper::Response::new(Full::new(Bytes::from(body)));
    *out.status_mut() = status;
    let h = out.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if gzip {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if compressed {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Some(name) = r.filename {
        let name: String = name.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\').collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    out
}

/// A plain-text answer of `status`.
fn plain(status: StatusCode, why: &str) -> hyper::Response<Full<Bytes>> {
    encode(Response::text(status.as_u16(), why), false)
}

/// The answer to an `OPTIONS` preflight (netdata's).
fn preflight() -> hyper::Response<Full<Bytes>> {
    let mut r = encode(Response::ok(super::response::TEXT, b"OK".to_vec()), false);
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(CORS_METHODS));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(CORS_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(CORS_MAX_AGE));
    r
}

/// Headers every answer carries: CORS (the request's `Origin` echoed, `*` without one),
/// no caching, and the server's name.
fn add_common_headers(h: &mut HeaderMap, origin: Option<HeaderValue>) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.unwrap_or(HeaderValue::from_static("*")));
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::SERVER, HeaderValue::from_static(concat!("rrdpipe/", env!("CARGO_PKG_VERSION"))));
}

/// The wall clock, in milliseconds since the epoch.
/// A connection's transport: plain, or TLS over the socket.
enum Transport {
    Plain(tokio::net::TcpStream),
    Tls(Box<TlsIo>),
}

/// A connection whose first bytes were already read: reads give those back first.
struct Replayed {
    head: Bytes,
    stream: Transport,
}

impl Replayed {
    fn new(head: Vec<u8>, stream: Transport) -> Replayed {
        Replayed { head: Bytes::from(head), stream }
    }

    /// Whether it speaks TLS.
    fn is_tls(&self) -> bool {
        matches!(self.stream, Transport::Tls(_))
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(t) => Pin::new(t.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        matches!(self, Transport::Plain(s) if s.is_write_vectored())
    }
}

impl AsyncRead for Replayed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.remaining());
            let part = self.head.split_to(n);
            buf.put_slice(&part);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replayed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AgentFacts;
    use crate::rrd::{Db, HostInfo};

    fn api() -> Api {
        let db = Arc::new(Db::new(
            HostInfo {
                hostname: "parent".into(),
                machine_guid: "11111111-2222-3333-4444-555555555555".into(),
                ..HostInfo::default()
            },
            60,
        ));
        db.host_by_guid(HostInfo {
            hostname: "child".into(),
            machine_guid: "aaaaaaaa-2222-3333-4444-555555555555".into(),
            ..HostInfo::default()
        });
        let facts = AgentFacts {
            version: "v0.1.0".into(),
            update_every: 1,
            history: 60,
            started_s: 0,
            ..AgentFacts::default()
        };
        Api::new(db, facts)
    }

    fn body(r: &Response) -> &str {
        std::str::from_utf8(&r.body).unwrap()
    }

    #[test]
    fn routes_local_and_host_prefixed_paths_only() {
        assert_eq!(route("/api/v1/info"), Some((None, "info")));
        assert_eq!(route("/host/child/api/v1/data"), Some((Some("child"), "data")));
        assert_eq!(route("/api/v1/"), None);
        assert_eq!(route("/api/v1/info/x"), None);
        assert_eq!(route("/api/v2/info"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route("/host/child"), None);
        assert_eq!(route("/index.html"), None);
    }

    #[test]
    fn repeated_slashes_count_as_one_and_the_registry_names_the_agent() {
        let a = api();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let info = respond(&a, "/api/v1/info", "", ip, 0);
        for path in ["//api/v1/info", "/api//v1///info"] {
            let r = respond(&a, path, "", ip, 0);
            assert_eq!((r.status, &r.body), (200, &info.body), "{path}");
        }
        let r = respond_to(&a, "/api/v1/registry", "action=hello", ip, 0, Some("http://h:1".into()));
        assert_eq!(r.status, 200);
        assert!(body(&r).contains("\t\"registry\": \"http://h:1\",\n"), "{}", body(&r));
        let r = respond(&a, "/api/v1/registry", "", ip, 0);
        assert_eq!(
            (r.status, body(&r)),
            (400, "Invalid registry request - you need to set an action: hello, access, delete, search\n")
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:19999"));
        assert_eq!(own_url(&headers, false).as_deref(), Some("http://127.0.0.1:19999"));
        assert_eq!(own_url(&headers, true).as_deref(), Some("https://127.0.0.1:19999"));
        headers.insert(header::HOST, HeaderValue::from_static("evil.com/x?"));
        assert_eq!(own_url(&headers, false), None);
        assert_eq!(own_url(&HeaderMap::new(), false), None);
    }

    #[test]
    fn bad_paths_are_400_and_unknown_ones_404_with_a_reason() {
        let a = api();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let r = respond(&a, "/api/v1/%FF", "", ip, 0);
        assert_eq!((r.status, body(&r)), (400, "the path is not valid UTF-8\n"));
        let r = respond(&a, "/api/v1/../../etc/passwd", "", ip, 0);
        assert_eq!((r.status, body(&r)), (400, "the path may not contain '..'\n"));
        let r = respond(&a, "/%2e%2e/etc/passwd", "", ip, 0);
        assert_eq!(r.status, 400);
        let r = respond(&a, "/etc/passwd", "", ip, 0);
        assert_eq!(
            (r.status, body(&r)),
            (404, "nothing is served at /etc/passwd; the status page is at /, the API under /api/v1/ (e.g. /api/v1/info)\n")
        );
        // The status page, at / and at its own path; netdata's dashboard takes / when served.
        for page in ["/", "/index.html", "/rrdpipe", "/rrdpipe/", "/rrdpipe/index.html"] {
            let r = respond(&a, page, "", ip, 0);
            assert_eq!((r.status, r.content_type), (200, "text/html; charset=utf-8"), "{page}");
        }
        assert_eq!(
            respond(&a, "/rrdpipe/ui.js", "", ip, 0).content_type,
            "application/javascript; charset=utf-8"
        );
        let web = tempfile::tempdir().unwrap();
        std::fs::write(web.path().join("index.html"), "netdata").unwrap();
        let mut with_web = api();
        with_web.web_dir = Some(web.path().to_path_buf());
        assert_eq!(respond(&with_web, "/", "", ip, 0).body, b"netdata");
        assert_eq!(respond(&with_web, "/rrdpipe/", "", ip, 0).content_type, "text/html; charset=utf-8");
        assert_eq!(respond(&with_web, "/ui.js", "", ip, 0).status, 404);
        let r = respond(&a, "/host/nobody/api/v1/info", "", ip, 0);
        assert_eq!(
            (r.status, body(&r)),
            (404, "this agent holds no host 'nobody' (neither hostname nor machine GUID)\n")
        );
        let r = respond(&a, "/api/v1/nope", "", ip, 0);
        assert_eq!((r.status, body(&r)), (404, "no API endpoint /api/v1/nope\n"));
    }

    #[test]
    fn hosts_are_found_by_hostname_and_by_machine_guid() {
        let a = api();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for path in ["/host/child/api/v1/info", "/host/AAAAAAAA-2222-3333-4444-555555555555/api/v1/info"] {
            let r = respond(&a, path, "", ip, 0);
            assert_eq!(r.status, 200, "{path}");
            assert!(body(&r).contains("\"hostname\": \"child\"") || body(&r).contains("child"), "{path}");
        }
    }

    #[test]
    fn request_lines_http_cannot_carry_are_answered_400() {
        assert_eq!(bad_request_line(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(bad_request_line(b"OPTIONS * HTTP/1.0\r\n\r\n"), None);
        for bad in [
            &b"GET /api/v1/\xff\xfe HTTP/1.1\r\n\r\n"[..],
            b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            let answer = bad_request_line(bad).expect("refused");
            let text = std::str::from_utf8(answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
            assert!(head.ends_with(&format!("Content-Length: {}", body.len())), "{head}");
        }
    }

    #[test]
    fn plain_http_on_a_tls_port_is_sent_to_the_same_path_over_https() {
        let r = https_redirect(b"GET /api/v1/info?a=1 HTTP/1.1\r\nAccept: */*\r\nhost: agent:19999\r\n\r\n");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://agent:19999/api/v1/info?a=1\r\nConnection: close\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 60\r\n\r\n\
             this port serves HTTPS: https://agent:19999/api/v1/info?a=1\n"
        );
        for head in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: evil.com/x\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(
                String::from_utf8(https_redirect(head)).unwrap(),
                "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: 37\r\n\r\nthis port serves HTTPS: use https://\n"
            );
        }
    }

    #[test]
    fn gzip_is_accepted_unless_refused_with_q_zero() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("deflate, GZIP;q=0.5"));
        assert!(h("*"));
        assert!(!h("gzip;q=0"));
        assert!(!h("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn a_gzipped_body_decodes_to_the_identity_body() {
        use std::io::Read;
        let r = encode(Response::ok(super::super::response::JSON, b"{\"a\": 1}".to_vec()), true);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::VARY], "Accept-Encoding");
        let z = futures_body(r);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "{\"a\": 1}");
    }

    #[test]
    fn a_panicking_endpoint_is_none_and_the_runtime_goes_on() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let panicked = rt.block_on(off_the_loop(|| panic!("an endpoint's bug (expected by this test)")));
        assert!(panicked.is_none());
        let fine = rt.block_on(off_the_loop(|| plain(StatusCode::OK, "fine"))).expect("answered");
        assert_eq!(futures_body(fine), b"fine\n");
    }

    fn futures_body(r: hyper::Response<Full<Bytes>>) -> Vec<u8> {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async { r.into_body().collect().await.unwrap().to_bytes().to_vec() })
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;
    use crate::api::AgentFacts;
    use crate::rrd::{Db, HostInfo};
    use std::io::Read;

    /// Serve one connection whose head `first` was already read, send `rest`, read the answer.
    fn exchange(first: &[u8], rest: &[u8]) -> Vec<u8> {
        let db = Arc::new(Db::new(HostInfo { hostname: "h".into(), ..HostInfo::default() }, 60));
        let api = Arc::new(Api::new(db, AgentFacts::default()));
        let shutdown = Shutdown::new();
        let cfg = ServerConfig { max_sockets: 4, request_timeout: Duration::from_secs(5) };
        let server = HttpServer::start(api, cfg, shutdown.clone()).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = l.accept().unwrap();
        server.handoff().give(Incoming { stream: Connection::Plain(s), peer, head: first.to_vec() });
        c.write_all(rest).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        shutdown.trigger();
        server.join();
        out
    }

    #[test]
    fn replayed_bytes_come_first_then_what_follows_on_the_socket() {
        let out = exchange(
            b"GET /api/v1/alarm_log HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/alarm_log HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(String::from_utf8_lossy(&out).matches("HTTP/1.1 200 OK").count(), 2);
        let out =
            exchange(b"GET /api/v1/alarm_log HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /\xff HTTP/1.1\r\n\r\n");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("HTTP/1.1 400 Bad Request"), "{text}");
    }
}
