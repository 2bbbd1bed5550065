//! The parent's listening side: accept children, shake hands, and run one thread per child.
//!
//! One job: sockets and threads. The `stream-listen` thread accepts on every `[web] bind to`
//! address without blocking (it polls with a short timeout, so shutdown never waits on a
//! connection) and charts connected and refused children. Each connection gets its own
//! `stream-child` thread, which reads the request ([`super::request`]), checks it
//! ([`super::access`], [`super::registry`]), answers in one write, and then feeds the child's
//! lines to its host ([`super::receiver`]). A slow or silent child therefore only ever holds its
//! own thread; handshakes are bounded in time and size, and threads in number
//! (`max children` plus [`HANDSHAKE_SLACK`] for connections still shaking hands).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::access::{Access, Refusal};
use super::receiver::{self, now_ut, Limits};
use super::registry::Registry;
use super::request::{parse_request, request_len, StreamRequest, MAX_REQUEST, REPLY_V1};
use crate::collect::plugins_d::session::{Session, SessionConfig};
use crate::config::Config;
use crate::rrd::{Algorithm, Chart, ChartDef, ChartType, Db, DimensionDef, HostInfo};
use crate::shutdown::Shutdown;

/// The longest time a child may take to send its request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections allowed to be shaking hands beyond `max children`; more are closed at once.
pub const HANDSHAKE_SLACK: usize = 64;
/// The longest line kept from a child; longer ones are dropped. netdata's lines are well under
/// 1 KiB.
pub const CHILD_MAX_LINE: usize = 16 * 1024;
/// Stack of a child's thread: its loop keeps its buffers on the heap.
const CHILD_STACK: usize = 256 * 1024;
/// The listener's longest sleep before it checks for shutdown.
const LISTEN_WAKE: Duration = Duration::from_millis(250);

/// Everything the listener needs, resolved from the configuration.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// `host:port` addresses to listen on.
    pub addresses: Vec<String>,
    /// Who may stream.
    pub access: Access,
    /// Children connected at once, at most.
    pub max_children: usize,
    /// A child silent this long is disconnected.
    pub timeout: Duration,
    /// Charts one connection may create.
    pub max_charts: usize,
    /// Dimensions one connection may create.
    pub max_dimensions: usize,
    /// The longest line kept.
    pub max_line: usize,
    /// Seconds between updates of the `netdata.streaming_children` chart.
    pub update_every: u32,
}

impl StreamConfig {
    /// The listener's settings from `cfg`, for an agent whose machine GUID is `local_guid`
    /// (empty when unknown). `None` when no API key is enabled: nothing to listen for.
    pub fn from_config(cfg: &Config, local_guid: &str) -> Option<StreamConfig> {
        if !cfg.stream.any_api_key_enabled() {
            return None;
        }
        Some(StreamConfig {
            addresses: cfg.web.streaming_addresses(),
            access: Access::new(&cfg.stream, local_guid),
            max_children: cfg.stream.max_children,
            timeout: Duration::from_secs(cfg.stream.timeout_seconds as u64),
            max_charts: cfg.plugins.max_charts_per_plugin,
            max_dimensions: cfg.plugins.max_dimensions_per_plugin,
            max_line: CHILD_MAX_LINE,
            update_every: cfg.global.update_every,
        })
    }
}

/// A running listener.
#[derive(Debug)]
pub struct StreamHandle {
    registry: Arc<Registry>,
    addrs: Vec<SocketAddr>,
    thread: JoinHandle<()>,
}

impl StreamHandle {
    /// The addresses listened on (with the real port where 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Children connected now.
    pub fn connected(&self) -> usize {
        self.registry.connected()
    }

    /// Connections refused since start.
    pub fn refused(&self) -> u64 {
        self.registry.refused()
    }

    /// Wait for the listener and every child thread (after shutdown was triggered); each
    /// notices within a fraction of a second.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// What every connection thread shares.
struct Shared {
    cfg: StreamConfig,
    registry: Arc<Registry>,
    db: Arc<Db>,
    shutdown: Shutdown,
}

/// Bind every address and start the `stream-listen` thread.
pub fn start(cfg: StreamConfig, db: Arc<Db>, shutdown: Shutdown) -> io::Result<StreamHandle> {
    if cfg.addresses.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no [web] bind to address accepts streaming (each has an =ACL without 'streaming')",
        ));
    }
    let mut listeners = Vec::new();
    for a in &cfg.addresses {
        let l = TcpListener::bind(a.as_str()).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on {a} for streaming children: {e}"))
        })?;
        l.set_nonblocking(true)?;
        listeners.push(l);
    }
    let addrs = listeners.iter().map(|l| l.local_addr()).collect::<io::Result<Vec<_>>>()?;
    let registry = Registry::new(cfg.max_children);
    info!(
        "stream: listening for children on {} (at most {}, disconnected after {} s of silence)",
        addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" "),
        cfg.max_children,
        cfg.timeout.as_secs()
    );
    let shared = Arc::new(Shared { cfg, registry: registry.clone(), db, shutdown });
    let thread =
        std::thread::Builder::new().name("stream-listen".into()).spawn(move || listen(listeners, shared))?;
    Ok(StreamHandle { registry, addrs, thread })
}

/// The `netdata.streaming_children` chart of the local host.
fn define_chart(db: &Db, every: u32) -> Arc<Chart> {
    let mut def = ChartDef::new("netdata.streaming_children", every);
    def.family = "streaming".into();
    def.title = "Streaming children (connected now; refused during the last interval)".into();
    def.units = "children".into();
    def.priority = 130150;
    def.chart_type = ChartType::Line;
    def.plugin = "rrdpipe".into();
    def.module = "stream".into();
    let (chart, _) = db.localhost().define_chart(&def);
    chart.add_dimension(&DimensionDef::new("connected", Algorithm::Absolute));
    chart.add_dimension(&DimensionDef::new("refused", Algorithm::Absolute));
    chart
}

fn listen(listeners: Vec<TcpListener>, shared: Arc<Shared>) {
    let every_ut = shared.cfg.update_every.max(1) as u64 * 1_000_000;
    let chart = define_chart(&shared.db, shared.cfg.update_every.max(1));
    let mut refused_before = shared.registry.refused();
    let mut next_tick_ut = (now_ut() / every_ut + 1) * every_ut;
    let mut children: Vec<JoinHandle<()>> = Vec::new();
    let mut overflow_logged = 0u64;
    let mut fds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|l| libc::pollfd { fd: l.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    while !shared.shutdown.is_triggered() {
        let until_tick = Duration::from_micros(next_tick_ut.saturating_sub(now_ut()));
        let ms = until_tick.min(LISTEN_WAKE).as_millis() as i32;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the duration of the call.
        let _ = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        for (l, fd) in listeners.iter().zip(fds.iter_mut()) {
            if fd.revents == 0 {
                continue;
            }
            fd.revents = 0;
            loop {
                let (stream, peer) = match l.accept() {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // Out of file descriptors and the like: let the backlog wait.
                        warn!("stream: cannot accept a connection: {e}");
                        break;
                    }
                };
                children.retain(|h| !h.is_finished());
                if children.len() >= shared.cfg.max_children + HANDSHAKE_SLACK {
                    shared.registry.note_refused();
                    overflow_logged += 1;
                    if overflow_logged <= 10 || overflow_logged.is_multiple_of(1000) {
                        warn!(
                            "stream: closed the connection from {peer} at once: {} connections are open \
                             ([stream] max children {} plus {HANDSHAKE_SLACK} shaking hands)",
                            children.len(),
                            shared.cfg.max_children
                        );
                    }
                    drop(stream);
                    continue;
                }
                let s = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("stream-child".into())
                    .stack_size(CHILD_STACK)
                    .spawn(move || serve(stream, peer, &s));
                match spawned {
                    Ok(h) => children.push(h),
                    Err(e) => {
                        shared.registry.note_refused();
                        warn!("stream: cannot start a thread for {peer}: {e}; connection closed");
                    }
                }
            }
        }
        let now = now_ut();
        if now >= next_tick_ut {
            let refused = shared.registry.refused();
            let values = [(0, shared.registry.connected() as i64), (1, (refused - refused_before) as i64)];
            refused_before = refused;
            let _ = chart.collect(&values, now);
            next_tick_ut = (now / every_ut + 1) * every_ut;
        }
    }
    for h in children {
        let _ = h.join();
    }
}

/// Why no request could be read.
enum NoRequest {
    Closed,
    Timeout,
    TooLong,
    Shutdown,
    Io(io::Error),
}

/// Read the request without reading past it: peek until the empty line has arrived, then
/// consume exactly the request, so nothing the child sends after it can be lost.
fn read_request(stream: &mut TcpStream, shutdown: &Shutdown) -> Result<Vec<u8>, NoRequest> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    stream.set_read_timeout(Some(LISTEN_WAKE)).map_err(NoRequest::Io)?;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut seen = 0;
    loop {
        if shutdown.is_triggered() {
            return Err(NoRequest::Shutdown);
        }
        if Instant::now() >= deadline {
            return Err(NoRequest::Timeout);
        }
        let n = match stream.peek(&mut buf) {
            Ok(0) => return Err(NoRequest::Closed),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(NoRequest::Io(e)),
        };
        if let Some(len) = request_len(&buf[..n]) {
            buf.truncate(len);
            stream.read_exact(&mut buf).map_err(NoRequest::Io)?;
            stream.set_read_timeout(None).map_err(NoRequest::Io)?;
            return Ok(buf);
        }
        if n == MAX_REQUEST {
            return Err(NoRequest::TooLong);
        }
        if n == seen {
            // Part of the request is waiting: peeking would return at once, so pause.
            std::thread::sleep(Duration::from_millis(10));
        }
        seen = n;
    }
}

/// Answer `reply` in one write; false when it could not all be written.
fn answer(stream: &mut TcpStream, reply: &[u8]) -> bool {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    matches!(stream.write(reply), Ok(n) if n == reply.len())
}

fn refuse(
    stream: &mut TcpStream,
    peer: SocketAddr,
    req: Option<&StreamRequest>,
    why: &Refusal,
    shared: &Shared,
) {
    shared.registry.note_refused();
    match req {
        Some(r) => warn!(
            "stream: refused child '{}' (machine guid {}) from {peer}: {why}",
            r.hostname, r.machine_guid
        ),
        None => warn!("stream: refused {peer}: {why}"),
    }
    answer(stream, why.reply());
}

/// One connection, start to end.
fn serve(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let bytes = match read_request(&mut stream, &shared.shutdown) {
        Ok(b) => b,
        Err(e) => {
            match e {
                NoRequest::Shutdown => {}
                NoRequest::Closed => debug!("stream: {peer} closed the connection before sending a request"),
                NoRequest::Timeout => {
                    shared.registry.note_refused();
                    warn!("stream: closed {peer}: no request within {} s", HANDSHAKE_TIMEOUT.as_secs())
                }
                NoRequest::TooLong => {
                    shared.registry.note_refused();
                    warn!("stream: closed {peer}: its request is longer than {MAX_REQUEST} bytes")
                }
                NoRequest::Io(e) => debug!("stream: {peer}: reading the request failed: {e}"),
            }
            return;
        }
    };
    let req = match parse_request(&bytes) {
        Ok(r) => r,
        Err(e) => return refuse(&mut stream, peer, None, &Refusal::BadRequest(e), shared),
    };
    if let Err(why) = shared.cfg.access.check(&req, peer.ip()) {
        return refuse(&mut stream, peer, Some(&req), &why, shared);
    }
    let waker = stream.try_clone().ok();
    let admission =
        match shared.registry.admit(&req.machine_guid, req.update_every, Registry::now_ms(), waker) {
            Ok(a) => a,
            Err(why) => return refuse(&mut stream, peer, Some(&req), &why, shared),
        };
    let (host, is_new) = shared.db.host_by_guid(HostInfo {
        hostname: req.hostname.clone(),
        machine_guid: req.machine_guid.clone(),
        update_every: req.update_every,
        os: req.os.clone(),
        tags: req.tags.clone(),
    });
    // Until this is dropped (the end of this function) the host is not an orphan.
    let _feeding = host.attach();
    if !answer(&mut stream, REPLY_V1) {
        warn!(
            "stream: child '{}' from {peer}: could not answer the handshake; connection closed",
            req.hostname
        );
        return;
    }
    info!(
        "stream: child '{}' connected from {peer} (machine guid {}, update every {} s, os {}; {}{})",
        req.hostname,
        req.machine_guid,
        req.update_every,
        if req.os.is_empty() { "unknown" } else { &req.os },
        if is_new { "new host" } else { "known host, charts kept" },
        if admission.replaced_one() { ", replacing its silent previous connection" } else { "" }
    );
    let started = Instant::now();
    let mut session = Session::new(
        SessionConfig {
            name: format!("stream/{}", req.hostname),
            update_every: req.update_every,
            max_charts: shared.cfg.max_charts,
            max_dimensions: shared.cfg.max_dimensions,
            whole_host: true,
        },
        host,
    );
    let limits = Limits { timeout: shared.cfg.timeout, max_line: shared.cfg.max_line };
    let (end, too_long) = receiver::receive(stream, &mut session, admission.live(), limits, &shared.shutdown);
    drop(admission);
    let st = session.stats();
    info!(
        "stream: child '{}' from {peer} disconnected after {:.1} s: {end}; {} lines, {} collections, \
         {} errors, {} over-long lines, {} charts and {} dimensions refused by the caps",
        req.hostname,
        started.elapsed().as_secs_f64(),
        st.lines,
        st.collections,
        st.errors,
        too_long,
        st.charts_refused,
        st.dimensions_refused
    );
}
