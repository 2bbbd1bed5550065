//! The agent's listening side: accept connections, tell streaming children from HTTP clients,
//! shake hands with children, and run one thread per child.
//!
//! One job: sockets and threads. The `stream-listen` thread accepts on every `[web] bind to`
//! address without blocking (it polls with a short timeout, so shutdown never waits on a
//! connection) and charts connected and refused children. A client that `[web] allow
//! connections from` does not match is closed at once. A new connection waits in the [`Gate`]
//! (no thread) until its request head has arrived; idle connections are bounded there in
//! number, per address and in time, oldest closed first, so they cannot keep out a real one.
//! One port serves both, as in netdata: a head that starts `STREAM ` is a child's, anything
//! else is handed to the HTTP API's server ([`crate::api::server`]) with the bytes read; each
//! `bind to` entry's `=ACL` decides which of the two it offers. A finished `STREAM` request is
//! checked ([`super::access`], [`super::throttle`], [`super::registry`]) and answered in one
//! write on this thread; only an accepted child gets a `stream-child` thread, which feeds its
//! lines to its host ([`super::receiver`]).
//!
//! Descriptors: the listener holds at most its [`fds::connection_budget`] (two per child, one
//! per waiting connection), leaving [`fds::RESERVED_FDS`] to exporters and collectors. When
//! `accept` fails for want of descriptors it pauses accepting for [`ACCEPT_PAUSE`] instead of
//! retrying at once, and says so once (then every five minutes, then when it clears).
//!
//! Logs: what a child's thread logs is in the span `child{host=…, peer=…}`; what is logged about
//! a connection before its request names a host, in `stream{peer=…}`.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::access::{Access, Refusal};
use super::capabilities::{negotiate, Capabilities};
use super::compression::Lz4Reader;
use super::fds;
use super::gate::{canonical_peer, AddressKey, Dropped, Gate, GateLimits, Ready, Serviced};
use super::receiver::{self, Limits};
use super::registry::{Admission, Registry};
use super::replication;
use super::request::{parse_request, StreamRequest, MAX_REQUEST};
use super::throttle::Throttle;
use super::tls::{Conn, TlsServer};
use crate::api::server::{bad_request_line, https_redirect, Handoff, Incoming};
use crate::clock::{now_ut, USEC_PER_SEC};
use crate::collect::plugins_d::lines::{Input, LineReader};
use crate::collect::plugins_d::session::{Session, SessionConfig};
use crate::config::Config;
use crate::config::PortTls;
use crate::logs::{Episodes, Escaped, Note, Tally};
use crate::pattern::SimplePattern;
use crate::rrd::{Algorithm, Attachment, Chart, ChartDef, ChartType, Db, DimensionDef, Host, HostInfo};
use crate::shutdown::Shutdown;

/// How long accepting pauses after `accept` failed for want of descriptors or memory.
pub const ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// Connections accepted from one listening socket per turn of the loop, so that waiting
/// connections are read between bursts.
const ACCEPT_BATCH: usize = 64;
/// An episode of refusals (or of closed idle connections) ends after this long without one,
/// and its summary is logged.
const EPISODE_QUIET: Duration = Duration::from_secs(30);
/// The longest line kept from a child; longer ones are dropped. netdata's lines are well under
/// 1 KiB.
pub const CHILD_MAX_LINE: usize = 16 * 1024;
/// Stack of a child's thread: its loop keeps its buffers on the heap.
const CHILD_STACK: usize = 256 * 1024;
/// The listener's longest sleep before it checks for shutdown.
const LISTEN_WAKE: Duration = Duration::from_millis(250);
/// At most one log line per this long about clients `[web] allow connections from` refuses.
const DISALLOWED_LOG_PERIOD: Duration = Duration::from_secs(60);
/// netdata's answer on a port whose `=ACL` does not offer what was asked.
const FORBIDDEN: &[u8] =
    b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
    Content-Length: 44\r\n\r\nYou are not allowed to access this resource.";
/// The answer to an HTTP request head longer than the limit.
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 47\r\n\r\nthe request line and headers exceed 16384 bytes";

/// What one `bind to` entry offers (netdata's `=ACL` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortAcl {
    /// `streaming`: children may stream here.
    pub streaming: bool,
    /// `dashboard`: the HTTP API is served here.
    pub dashboard: bool,
    /// `^SSL=`: what plain connections get when TLS is configured.
    pub tls: PortTls,
}

/// Everything the listener needs, resolved from the configuration.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// `host:port` addresses to listen on.
    pub addresses: Vec<String>,
    /// What each of `addresses` offers.
    pub acls: Vec<PortAcl>,
    /// `[web] allow connections from`: clients whose address it does not match are closed.
    pub allow_from: SimplePattern,
    /// Where HTTP requests go; `None` answers them 403.
    pub http: Option<Handoff>,
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
    /// Limits on connections that have not sent their request yet.
    pub gate: GateLimits,
    /// `[stream] enable compression`: children that offer lz4 compression get it.
    pub compression: bool,
    /// TLS on every port (`[web] ssl certificate`), if configured.
    pub tls: Option<TlsServer>,
    /// `[db]` replication settings: what children are asked to replay.
    pub replication: replication::Settings,
}

impl StreamConfig {
    /// The listener's settings from `cfg`, for an agent whose machine GUID is `local_guid`
    /// (empty when unknown). `None` when `[web] mode = none`: nothing listens. Children are
    /// refused (as netdata does) while no API key is enabled; HTTP goes to `http`.
    pub fn from_config(cfg: &Config, local_guid: &str, http: Option<Handoff>) -> Option<StreamConfig> {
        if !cfg.web.enabled() {
            return None;
        }
        // The names the local host is exported under: a child may not take one.
        let mut local_names = vec![cfg.global.hostname.clone()];
        local_names.extend(cfg.exporters.iter().filter(|e| e.enabled).filter_map(|e| e.hostname.clone()));
        local_names.sort();
        local_names.dedup();
        Some(StreamConfig {
            addresses: cfg.web.bind_to.iter().map(|b| b.address(cfg.web.default_port)).collect(),
            acls: cfg
                .web
                .bind_to
                .iter()
                .map(|b| PortAcl {
                    streaming: b.allows_streaming(),
                    dashboard: b.allows_dashboard(),
                    tls: b.tls(),
                })
                .collect(),
            allow_from: SimplePattern::new(&cfg.web.allow_connections_from),
            http,
            access: Access::new(&cfg.stream, local_guid, &local_names),
            max_children: cfg.stream.max_children,
            timeout: Duration::from_secs(cfg.stream.timeout_seconds as u64),
            max_charts: cfg.plugins.max_charts_per_plugin,
            max_dimensions: cfg.plugins.max_dimensions_per_plugin,
            max_line: CHILD_MAX_LINE,
            update_every: cfg.global.update_every,
            gate: GateLimits {
                max_pending: cfg.web.max_pending_requests,
                max_per_address: cfg.web.max_pending_requests_per_address,
                first_request_timeout: Duration::from_secs(cfg.web.timeout_for_first_request as u64),
                max_request: MAX_REQUEST,
            },
            compression: cfg.stream.enable_compression,
            tls: None,
            replication: replication::Settings {
                enabled: cfg.db.enable_replication,
                seconds: cfg.db.seconds_to_replicate,
                step: cfg.db.seconds_per_replication_step,
            },
        })
    }

    /// The capabilities `req` may be answered with: compression unless `[stream]`, its API
    /// key's section or its machine GUID's section turns it off, and replication unless
    /// `enable replication` of `[db]`, the key's or the machine's section does.
    pub fn allowed_capabilities(&self, req: &StreamRequest) -> Capabilities {
        let mut allowed = Capabilities::IMPLEMENTED;
        if !(self.compression && self.access.compression(req)) {
            allowed = allowed.without(Capabilities::COMPRESSION);
        }
        if !self.access.replication(req, self.replication).enabled {
            allowed = allowed.without(Capabilities::REPLICATION);
        }
        allowed
    }
}

/// What a child's thread needs.
struct ChildShared {
    limits: Limits,
    max_charts: usize,
    max_dimensions: usize,
    shutdown: Shutdown,
}

/// A running listener.
#[derive(Debug)]
pub struct StreamHandle {
    registry: Arc<Registry>,
    addrs: Vec<SocketAddr>,
    disallowed: Arc<AtomicU64>,
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

    /// Connections closed at once since start: their address is not in `[web] allow
    /// connections from`.
    pub fn disallowed(&self) -> u64 {
        self.disallowed.load(Ordering::Relaxed)
    }

    /// Wait for the listener and every child thread (after shutdown was triggered); each
    /// notices within a fraction of a second.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Bind every address and start the `stream-listen` thread.
pub fn start(cfg: StreamConfig, db: Arc<Db>, shutdown: Shutdown) -> io::Result<StreamHandle> {
    if cfg.addresses.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no [web] bind to address"));
    }
    if let Some((a, _)) = cfg.addresses.iter().zip(&cfg.acls).find(|(_, acl)| acl.tls != PortTls::Default) {
        if cfg.tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "[web] bind to asks for TLS on {a} (^SSL=), but no certificate is configured; set [web] ssl key \
                     and ssl certificate (PEM files), or remove the ^SSL= suffix"
                ),
            ));
        }
    }
    let mut listeners = Vec::new();
    for a in &cfg.addresses {
        let l = TcpListener::bind(a.as_str())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {a} ([web] bind to): {e}")))?;
        l.set_nonblocking(true)?;
        listeners.push(l);
    }
    let addrs = listeners.iter().map(|l| l.local_addr()).collect::<io::Result<Vec<_>>>()?;
    let registry = Registry::new(cfg.max_children);
    let budget = match (fds::nofile_limit(), fds::open_fds()) {
        (Ok((soft, _)), Some(open)) => fds::connection_budget(soft, open),
        _ => usize::MAX,
    };
    let offers = |acl: &PortAcl| {
        let what = match (acl.dashboard, acl.streaming) {
            (true, true) => "API and children",
            (true, false) => "API only",
            (false, true) => "children only",
            (false, false) => "nothing",
        };
        let tls = match (&cfg.tls, acl.tls) {
            (None, _) => "",
            (Some(_), PortTls::Default) => ", TLS and plain children, HTTP redirected to HTTPS",
            (Some(_), PortTls::Optional) => ", TLS and plain",
            (Some(_), PortTls::Force) => ", TLS only",
        };
        format!("{what}{tls}")
    };
    info!(
        "stream: listening on {} (children: at most {}, disconnected after {} s of silence; at most {} \
         connections waiting for their request, {} per address, {} s each; {} descriptors for connections)",
        addrs
            .iter()
            .zip(&cfg.acls)
            .map(|(a, acl)| format!("{a} ({})", offers(acl)))
            .collect::<Vec<_>>()
            .join(" "),
        cfg.max_children,
        cfg.timeout.as_secs(),
        cfg.gate.max_pending,
        cfg.gate.max_per_address,
        cfg.gate.first_request_timeout.as_secs(),
        if budget == usize::MAX { "unlimited".to_string() } else { budget.to_string() },
    );
    if let Some(tls) = &cfg.tls {
        info!("stream: {}", tls.summary);
        for note in &tls.notes {
            warn!("stream: {note}");
        }
    }
    if budget < 2 * cfg.max_children.min(64) {
        warn!(
            "stream: only {budget} file descriptors are left for connections; raise the open file limit \
             (ulimit -n, or LimitNOFILE= in the service unit)"
        );
    }
    let state = Listener::new(cfg, registry.clone(), db, shutdown, budget);
    let disallowed = state.disallowed.clone();
    let thread =
        std::thread::Builder::new().name("stream-listen".into()).spawn(move || state.run(listeners))?;
    Ok(StreamHandle { registry, addrs, disallowed, thread })
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

/// A condition of the listener itself, for log episodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Condition {
    /// `accept` fails.
    AcceptFails,
    /// Children hold every descriptor left for connections.
    BudgetFull,
}

/// Why a connection was closed before its request was handled, for log episodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Closed {
    Gate(Dropped),
    /// Closed unread: its address used up its allowance of refusals.
    Throttled(AddressKey),
}

/// The `stream-listen` thread's state.
struct Listener {
    cfg: StreamConfig,
    registry: Arc<Registry>,
    db: Arc<Db>,
    shutdown: Shutdown,
    child: Arc<ChildShared>,
    children: Vec<JoinHandle<()>>,
    gate: Gate,
    /// Descriptors the listener may hold for connections.
    budget: usize,
    throttle: Throttle,
    /// Refusals, by address and kind, and by machine GUID but for access failures (a client
    /// guessing keys would vary it).
    refusals: Episodes<(AddressKey, &'static str, String)>,
    /// Connections closed before their request was handled.
    closed: Episodes<Closed>,
    /// Conditions of the listener itself.
    conditions: Episodes<Condition>,
    accept_paused_until: Option<Instant>,
    /// Clients closed for `[web] allow connections from`, since start.
    disallowed: Arc<AtomicU64>,
    /// Their log line, at most once a minute.
    disallowed_log: Tally,
}

impl Listener {
    fn new(
        cfg: StreamConfig,
        registry: Arc<Registry>,
        db: Arc<Db>,
        shutdown: Shutdown,
        budget: usize,
    ) -> Listener {
        let child = Arc::new(ChildShared {
            limits: Limits { timeout: cfg.timeout, max_line: cfg.max_line },
            max_charts: cfg.max_charts,
            max_dimensions: cfg.max_dimensions,
            shutdown: shutdown.clone(),
        });
        Listener {
            gate: Gate::new(cfg.gate).with_tls(cfg.tls.as_ref().map(|t| t.config.clone())),
            cfg,
            registry,
            db,
            shutdown,
            child,
            children: Vec::new(),
            budget,
            throttle: Throttle::default(),
            refusals: Episodes::new(EPISODE_QUIET),
            closed: Episodes::new(EPISODE_QUIET),
            conditions: Episodes::new(EPISODE_QUIET),
            accept_paused_until: None,
            disallowed: Arc::new(AtomicU64::new(0)),
            disallowed_log: Tally::new(DISALLOWED_LOG_PERIOD),
        }
    }

    /// Descriptors held now: one per waiting connection, two per child (its socket and the
    /// registry's handle to wake it).
    fn held(&self) -> usize {
        self.gate.len() + 2 * self.children.len()
    }

    fn run(mut self, listeners: Vec<TcpListener>) {
        let every_ut = self.cfg.update_every.max(1) as u64 * USEC_PER_SEC;
        let chart = define_chart(&self.db, self.cfg.update_every.max(1));
        let mut refused_before = self.registry.refused();
        let mut next_tick_ut = (now_ut() / every_ut + 1) * every_ut;
        let mut next_housekeeping = Instant::now();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        while !self.shutdown.is_triggered() {
            self.children.retain(|h| !h.is_finished());
            let now = Instant::now();
            let accepting = self.may_accept(now);
            fds.clear();
            if accepting {
                fds.extend(listeners.iter().map(|l| libc::pollfd {
                    fd: l.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }));
            }
            let first_gate_fd = fds.len();
            self.gate.poll_fds(&mut fds);
            let until_tick = Duration::from_micros(next_tick_ut.saturating_sub(now_ut()));
            let ms = until_tick.min(LISTEN_WAKE).as_millis() as i32;
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the duration of the call.
            let _ = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            let now = Instant::now();
            let serviced = self.gate.service(&fds[first_gate_fd..], now);
            self.handle(serviced, now);
            if accepting {
                for (origin, (l, fd)) in listeners.iter().zip(&fds[..first_gate_fd]).enumerate() {
                    if fd.revents != 0 {
                        self.accept_from(l, origin, now);
                    }
                }
            }
            if now >= next_housekeeping {
                next_housekeeping = now + Duration::from_secs(1);
                self.housekeeping(now);
            }
            let tick_ut = now_ut();
            if tick_ut >= next_tick_ut {
                let refused = self.registry.refused();
                let values = [(0, self.registry.connected() as i64), (1, (refused - refused_before) as i64)];
                refused_before = refused;
                let _ = chart.collect(&values, tick_ut);
                next_tick_ut = (tick_ut / every_ut + 1) * every_ut;
            }
        }
        for h in self.children.drain(..) {
            let _ = h.join();
        }
    }

    /// Whether to accept now: not during a pause after running out of descriptors, and not
    /// when the budget is held by children alone (a waiting connection can make room).
    fn may_accept(&mut self, now: Instant) -> bool {
        if self.accept_paused_until.is_some_and(|t| now < t) {
            return false;
        }
        self.accept_paused_until = None;
        if self.held() < self.budget || !self.gate.is_empty() {
            return true;
        }
        let more = match self.conditions.occur(Condition::BudgetFull, now) {
            Note::Silent => return false,
            Note::First => String::new(),
            Note::Reminder(n) => {
                format!(" (still, {n} checks since the last line; logged again every 5 minutes)")
            }
        };
        warn!(
            "stream: not accepting connections: {} children hold the {} file descriptors left for connections \
             (the open file limit less those open at start and {} kept for exporters and collectors); raise the \
             open file limit (ulimit -n, LimitNOFILE=) or lower [stream] max children{more}",
            self.children.len(),
            self.budget,
            fds::RESERVED_FDS,
        );
        // Look again in a while rather than at every turn.
        self.accept_paused_until = Some(now + LISTEN_WAKE);
        false
    }

    /// Accept what is waiting on `l` (the listening socket number `origin`), at most
    /// [`ACCEPT_BATCH`].
    fn accept_from(&mut self, l: &TcpListener, origin: usize, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            if self.held() >= self.budget && self.gate.is_empty() {
                // Children hold every descriptor: nothing can make room.
                return;
            }
            let (stream, peer) = match l.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) =>
                {
                    continue
                }
                Err(e) => return self.accept_failed(e, now),
            };
            let peer = canonical_peer(peer);
            if !allowed(&self.cfg.allow_from, peer.ip()) {
                self.disallow(stream, peer, now);
                continue;
            }
            let key = AddressKey::of(peer.ip());
            if !self.throttle.allows(key, now) {
                self.registry.note_refused();
                self.note_closed(Closed::Throttled(key), peer, now);
                drop(stream);
                continue;
            }
            if self.held() >= self.budget {
                // Make room with the oldest waiting connection.
                let room = self.gate.evict_oldest();
                self.handle(room, now);
            }
            let made_room = self.gate.admit(stream, peer, origin, now);
            self.handle(made_room, now);
        }
    }

    /// Close a client `[web] allow connections from` does not match: at once, counted, logged
    /// at most once a minute.
    fn disallow(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        drop(stream);
        self.disallowed.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.disallowed_log.occur(now) {
            warn!(
                "web: closed {n} connection(s) from addresses not matched by [web] allow connections from \
                 (the last from {}); add the address there to let it in",
                peer.ip()
            );
        }
    }

    /// `accept` failed with `e`: pause, and log once per episode.
    fn accept_failed(&mut self, e: io::Error, now: Instant) {
        let out_of_fds = fds::is_out_of_resources(&e);
        self.accept_paused_until = Some(now + if out_of_fds { ACCEPT_PAUSE } else { LISTEN_WAKE });
        let more = match self.conditions.occur(Condition::AcceptFails, now) {
            Note::Silent => return,
            Note::First => String::new(),
            Note::Reminder(n) => format!(" ({n} failures since the last line; logged again every 5 minutes)"),
        };
        let what = if out_of_fds {
            format!(
                "; pausing accepting {} s at a time while it lasts (the connections wait in the backlog); raise \
                 the open file limit (ulimit -n, LimitNOFILE=) or lower [stream] max children",
                ACCEPT_PAUSE.as_secs()
            )
        } else {
            String::new()
        };
        warn!("stream: cannot accept a connection: {e}{what}{more}");
    }

    /// Periodic work: end quiet episodes with a summary, forget recovered addresses.
    fn housekeeping(&mut self, now: Instant) {
        for (what, n, d) in self.conditions.ended(now) {
            match what {
                Condition::AcceptFails => info!(
                    "stream: accepting connections again: accept failed {n} times over {:.0} s",
                    d.as_secs_f64()
                ),
                Condition::BudgetFull => info!(
                    "stream: accepting connections again after {:.0} s at the descriptor budget",
                    d.as_secs_f64()
                ),
            }
        }
        self.throttle.forget_recovered(now);
        for ((addr, kind, _), n, d) in self.refusals.ended(now) {
            if n > 1 {
                info!(
                    "stream: {addr}: {n} connections refused ({kind}) over {:.0} s; none since",
                    d.as_secs_f64()
                );
            }
        }
        for (what, n, d) in self.closed.ended(now) {
            if n <= 1 {
                continue;
            }
            let secs = d.as_secs_f64();
            match what {
                Closed::Throttled(addr) => info!(
                    "stream: no longer throttling {addr}: {n} of its connections were closed unread over {secs:.0} s"
                ),
                Closed::Gate(why) => {
                    info!("stream: {n} connections closed before their request ({}) over {secs:.0} s", gate_reason(why))
                }
            }
        }
    }

    /// Connections the gate finished with: requests to handle, over-long ones to answer, and
    /// closed ones to note.
    fn handle(&mut self, serviced: Serviced, now: Instant) {
        for (why, peer) in serviced.dropped {
            self.note_closed(Closed::Gate(why), peer, now);
        }
        for mut r in serviced.too_long {
            if !r.request.starts_with(b"STREAM ") {
                // An HTTP client gets a status it can read; a child only a closed connection.
                r.stream.answer(TOO_LARGE);
            }
            self.note_closed(Closed::Gate(Dropped::TooLong), r.peer, now);
        }
        for r in serviced.ready {
            self.on_request(r, now);
        }
    }

    /// Log (within its episode) and count a connection closed before its request was handled.
    fn note_closed(&mut self, what: Closed, peer: SocketAddr, now: Instant) {
        if what == Closed::Gate(Dropped::Closed) {
            peer_span(peer).in_scope(|| debug!("closed the connection before sending a request"));
            return;
        }
        if matches!(what, Closed::Gate(_)) {
            self.registry.note_refused();
        }
        let note = self.closed.occur(what, now);
        let more = match note {
            Note::Silent => return,
            Note::First => String::new(),
            Note::Reminder(n) => {
                format!(" ({n} such since the last line; this is logged again every 5 minutes)")
            }
        };
        let limits = self.gate.limits();
        let _span = matches!(what, Closed::Gate(_)).then(|| peer_span(peer).entered());
        match what {
            Closed::Throttled(addr) => warn!(
                "stream: throttling {addr}: it was refused {} times in a row; from now on its connections beyond \
                 one a second are closed unread, until it stops{more}",
                super::throttle::FAILURE_BURST
            ),
            Closed::Gate(Dropped::Evicted) => warn!(
                "closed to make room: it had not sent its request and was the oldest of {} waiting connections \
                 ([web] max pending requests, or the descriptors left for connections){more}",
                limits.max_pending
            ),
            Closed::Gate(Dropped::EvictedFromAddress) => warn!(
                "closed to make room: it had not sent its request and was the oldest of {} waiting connections \
                 from its address ([web] max pending requests per address){more}",
                limits.max_per_address
            ),
            Closed::Gate(Dropped::Expired) => warn!(
                "closed: no request within {} s ([web] timeout for first request){more}",
                limits.first_request_timeout.as_secs()
            ),
            Closed::Gate(Dropped::TooLong) => {
                warn!("closed: its request is longer than {} bytes{more}", limits.max_request)
            }
            Closed::Gate(Dropped::Tls(why)) => warn!("closed: {why}{more}"),
            Closed::Gate(Dropped::Closed) => {}
        }
    }

    /// A request arrived: HTTP to the API's server, a child to its thread or refused.
    fn on_request(&mut self, r: Ready, now: Instant) {
        let Ready { stream, peer, request, origin } = r;
        let acl = self.cfg.acls.get(origin).copied().unwrap_or(PortAcl {
            streaming: true,
            dashboard: true,
            tls: PortTls::Default,
        });
        if request.starts_with(b"STREAM ") {
            self.on_stream_request(stream, peer, &request, acl, now);
        } else {
            self.on_http_request(stream, peer, request, acl);
        }
    }

    /// An HTTP request: to the API's server where this port offers it, answered 403 (or 400
    /// for a request line that is not HTTP) otherwise. With TLS configured, plain HTTP is
    /// redirected to HTTPS unless the port says `^SSL=optional` (netdata's rule).
    fn on_http_request(&self, mut stream: Conn, peer: SocketAddr, request: Vec<u8>, acl: PortAcl) {
        let redirect = self.cfg.tls.is_some() && acl.tls != PortTls::Optional && !stream.is_tls();
        let reply = match (&self.cfg.http, acl.dashboard) {
            (Some(_), true) if redirect => {
                stream.answer(&https_redirect(&request));
                return;
            }
            (Some(http), true) => match bad_request_line(&request) {
                Some(reply) => reply,
                None => {
                    http.give(Incoming { stream, peer, head: request });
                    return;
                }
            },
            _ => FORBIDDEN,
        };
        stream.answer(reply);
    }

    /// A child's `STREAM` request: checked (port, request, access, registry), then refused or
    /// answered and given its thread.
    fn on_stream_request(
        &mut self,
        mut stream: Conn,
        peer: SocketAddr,
        request: &[u8],
        acl: PortAcl,
        now: Instant,
    ) {
        if !acl.streaming {
            peer_span(peer).in_scope(|| {
                debug!("sent a STREAM request to a port whose =ACL lacks 'streaming'; answered 403")
            });
            stream.answer(FORBIDDEN);
            return;
        }
        let req = match parse_request(request) {
            Ok(req) => req,
            Err(e) => return self.refuse(&mut stream, peer, None, Refusal::BadRequest(e), now),
        };
        if acl.tls == PortTls::Force && !stream.is_tls() {
            return self.refuse(&mut stream, peer, Some(&req), Refusal::TlsRequired, now);
        }
        if let Err(why) = self.cfg.access.check(&req, peer.ip()) {
            return self.refuse(&mut stream, peer, Some(&req), why, now);
        }
        let waker = stream.socket().try_clone().ok();
        let admission = match self.registry.admit(
            &req.machine_guid,
            &req.hostname,
            req.update_every,
            crate::clock::now_ms(),
            waker,
        ) {
            Ok(a) => a,
            Err(why) => return self.refuse(&mut stream, peer, Some(&req), why, now),
        };
        self.start_child(stream, peer, req, admission);
    }

    /// An admitted child: attach it to its host, answer the handshake and start its thread.
    fn start_child(&mut self, mut stream: Conn, peer: SocketAddr, req: StreamRequest, admission: Admission) {
        let (host, is_new) = self.db.host_by_guid(HostInfo {
            hostname: req.hostname.clone(),
            machine_guid: req.machine_guid.clone(),
            update_every: req.update_every,
            os: req.os.clone(),
            tags: req.tags.clone(),
        });
        // Until the child's thread ends, the host is not an orphan.
        let attached = host.attach();
        let negotiated =
            negotiate(Capabilities::from_version(req.capabilities), self.cfg.allowed_capabilities(&req));
        let stream = match stream.answer(&negotiated.reply) {
            true => stream.into_blocking(receiver::WAKE),
            false => Err(io::ErrorKind::WriteZero.into()),
        };
        let stream = match stream {
            Ok(s) => s,
            Err(_) => {
                child_span(&req.hostname, peer)
                    .in_scope(|| warn!("could not answer the handshake; connection closed"));
                return;
            }
        };
        let shared = self.child.clone();
        let hostname = req.hostname.clone();
        let capabilities = negotiated.capabilities;
        let replication = self.cfg.access.replication(&req, self.cfg.replication);
        let child = Child { stream, peer, req, capabilities, replication, host, is_new, admission, attached };
        match std::thread::Builder::new()
            .name("stream-child".into())
            .stack_size(CHILD_STACK)
            .spawn(move || child.serve(&shared))
        {
            Ok(h) => self.children.push(h),
            Err(e) => {
                self.registry.note_refused();
                child_span(&hostname, peer)
                    .in_scope(|| warn!(error = %e, "cannot start a thread for the child; connection closed"));
            }
        }
    }

    /// Refuse `peer` for `why`: answer, count, log within the episode, and charge its address
    /// when the refusal is about credentials.
    fn refuse(
        &mut self,
        stream: &mut Conn,
        peer: SocketAddr,
        req: Option<&StreamRequest>,
        why: Refusal,
        now: Instant,
    ) {
        self.registry.note_refused();
        stream.answer(why.reply());
        let key = AddressKey::of(peer.ip());
        if why.is_access_failure() && self.throttle.fail(key, now) {
            // The first time this episode: say so now rather than at the next connection.
            self.note_closed(Closed::Throttled(key), peer, now);
        }
        let guid = match (req, why.is_access_failure()) {
            (Some(r), false) => r.machine_guid.to_ascii_lowercase(),
            _ => String::new(),
        };
        let more = match self.refusals.occur((key, why.kind(), guid), now) {
            Note::Silent => return,
            Note::First => String::new(),
            Note::Reminder(n) => {
                format!(" ({n} refusals of this kind from {key} since the last line; logged again every 5 minutes)")
            }
        };
        let _span = peer_span(peer).entered();
        match req {
            Some(r) => warn!(
                host = %Escaped::str(&r.hostname),
                machine_guid = %Escaped::str(&r.machine_guid),
                "refused the child: {why}{more}"
            ),
            None => warn!("refused: {why}{more}"),
        }
    }
}

/// Whether `[web] allow connections from` lets `ip` in: the address as text, and a loopback
/// address also as `localhost` (netdata's default is `localhost *`).
pub fn allowed(pattern: &SimplePattern, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    pattern
        .decide(&ip.to_string())
        .or_else(|| if ip.is_loopback() { pattern.decide("localhost") } else { None })
        .unwrap_or(false)
}

/// What a closing reason is called in a summary.
fn gate_reason(why: Dropped) -> &'static str {
    match why {
        Dropped::Evicted => "the oldest of too many waiting",
        Dropped::EvictedFromAddress => "the oldest of too many waiting from one address",
        Dropped::Expired => "no request in time",
        Dropped::TooLong => "request too long",
        Dropped::Closed => "closed by the client",
        Dropped::Tls(_) => "TLS failed",
    }
}

/// The span of a connection whose request has not named its host yet.
fn peer_span(peer: SocketAddr) -> tracing::Span {
    tracing::info_span!("stream", peer = %peer)
}

/// The span of a child's connection: everything its thread logs is in it.
fn child_span(hostname: &str, peer: SocketAddr) -> tracing::Span {
    tracing::info_span!("child", host = %Escaped::str(hostname), peer = %peer)
}

/// An accepted child, handed to its thread.
struct Child {
    stream: Conn,
    peer: SocketAddr,
    req: StreamRequest,
    /// What the handshake settled on.
    capabilities: Capabilities,
    /// What it is asked to replay (`[db]`, its API key's and machine GUID's sections).
    replication: replication::Settings,
    host: Arc<Host>,
    is_new: bool,
    admission: Admission,
    /// Keeps the host from being removed as an orphan while the child feeds it.
    attached: Attachment,
}

impl Child {
    /// Feed the child's lines to its host until it leaves, in the child's span.
    fn serve(self, shared: &ChildShared) {
        let Child { stream, peer, req, capabilities, replication, host, is_new, admission, attached } = self;
        let _span = child_span(&req.hostname, peer).entered();
        info!(
            machine_guid = %Escaped::str(&req.machine_guid),
            update_every = req.update_every,
            os = %if req.os.is_empty() { "unknown".to_string() } else { Escaped::str(&req.os).to_string() },
            capabilities = %capabilities,
            "connected: {}{}",
            if is_new { "new host" } else { "known host, charts kept" },
            if admission.replaced_one() { ", replacing its silent previous connection" } else { "" }
        );
        host.set_stream_capabilities(&capabilities.to_string());
        let started = Instant::now();
        let mut session = Session::new(
            SessionConfig {
                name: format!("stream/{}", req.hostname),
                update_every: req.update_every,
                max_charts: shared.max_charts,
                max_dimensions: shared.max_dimensions,
                whole_host: true,
            },
            host,
        );
        if capabilities.contains(Capabilities::REPLICATION) {
            session.enable_replication(replication);
        }
        // A child that stops reading cannot hold its thread for longer than this.
        let _ = stream.socket().set_write_timeout(Some(shared.limits.timeout.min(Duration::from_secs(60))));
        let (end, too_long, bytes, compressed) = if capabilities.contains(Capabilities::COMPRESSION) {
            let mut reader = LineReader::new(Lz4Reader::new(stream), shared.limits.max_line);
            let (end, too_long) = feed(&mut reader, &mut session, &admission, shared);
            let st = reader.get_ref().stats();
            (end, too_long, st.decompressed, Some(st.compressed))
        } else {
            let mut reader = LineReader::new(stream, shared.limits.max_line);
            let (end, too_long) = feed(&mut reader, &mut session, &admission, shared);
            (end, too_long, reader.bytes_read(), None)
        };
        drop(admission);
        drop(attached);
        let st = session.stats();
        info!(
            after_s = format_args!("{:.1}", started.elapsed().as_secs_f64()),
            lines = st.lines,
            collections = st.collections,
            errors = st.errors,
            too_long,
            charts_refused = st.charts_refused,
            dimensions_refused = st.dimensions_refused,
            bytes,
            compressed_bytes = compressed,
            "disconnected: {end}"
        );
    }
}

/// One child's read loop over `reader`: why it ended, and the over-long lines dropped.
fn feed<R: Input + std::io::Write>(
    reader: &mut LineReader<R>,
    session: &mut Session,
    admission: &Admission,
    shared: &ChildShared,
) -> (receiver::End, u64) {
    receiver::receive(reader, session, admission.live(), shared.limits, &shared.shutdown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Stream;
    use std::io::Read;

    fn listener(budget: usize) -> Listener {
        let cfg = StreamConfig {
            addresses: vec!["127.0.0.1:0".into()],
            acls: vec![PortAcl { streaming: true, dashboard: true, tls: PortTls::Default }],
            allow_from: SimplePattern::new("localhost *"),
            http: None,
            access: Access::new(&Stream::default(), "", &[]),
            max_children: 10,
            timeout: Duration::from_secs(60),
            max_charts: 10,
            max_dimensions: 10,
            max_line: 1024,
            update_every: 1,
            gate: GateLimits {
                max_pending: 8,
                max_per_address: 8,
                first_request_timeout: Duration::from_secs(10),
                max_request: MAX_REQUEST,
            },
            compression: true,
            tls: None,
            replication: Default::default(),
        };
        let db = Arc::new(Db::new(HostInfo { hostname: "parent".into(), ..HostInfo::default() }, 60));
        Listener::new(cfg, Registry::new(10), db, Shutdown::new(), budget)
    }

    #[test]
    fn allow_connections_from_matches_the_address_and_localhost_for_loopback() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let default = SimplePattern::new("localhost *");
        assert!(allowed(&default, ip("10.1.2.3")));
        let local_only = SimplePattern::new("localhost");
        assert!(allowed(&local_only, ip("127.0.0.1")));
        assert!(allowed(&local_only, ip("::1")));
        assert!(allowed(&local_only, ip("::ffff:127.0.0.2")));
        assert!(!allowed(&local_only, ip("10.1.2.3")));
        let one = SimplePattern::new("127.0.0.1");
        assert!(allowed(&one, ip("::ffff:127.0.0.1")));
        assert!(!allowed(&one, ip("127.0.0.2")));
        let not_two = SimplePattern::new("!127.0.0.2 *");
        assert!(!allowed(&not_two, ip("127.0.0.2")), "a negative match of the address decides");
        assert!(allowed(&not_two, ip("127.0.0.3")));
    }

    #[test]
    fn out_of_descriptors_accepting_pauses_and_one_episode_covers_every_failure() {
        let mut l = listener(100);
        let t0 = Instant::now();
        assert!(l.may_accept(t0));
        let ms = Duration::from_millis;
        for i in 0..1000 {
            l.accept_failed(io::Error::from_raw_os_error(libc::EMFILE), t0 + ms(i));
        }
        let last = t0 + ms(999);
        assert!(!l.may_accept(last + ms(999)), "paused for a second after the last failure");
        assert!(l.may_accept(last + ACCEPT_PAUSE));
        assert!(l.conditions.ended(last + EPISODE_QUIET - ms(1)).is_empty());
        assert_eq!(l.conditions.ended(last + EPISODE_QUIET), vec![(Condition::AcceptFails, 1000, ms(999))]);
        // Any other error pauses only until the next turn.
        l.accept_failed(io::Error::from_raw_os_error(libc::EPROTO), last + EPISODE_QUIET);
        assert!(l.may_accept(last + EPISODE_QUIET + LISTEN_WAKE));
    }

    #[test]
    fn at_the_descriptor_budget_the_oldest_waiting_connection_makes_room() {
        let tl = TcpListener::bind("127.0.0.1:0").unwrap();
        tl.set_nonblocking(true).unwrap();
        let addr = tl.local_addr().unwrap();
        let mut l = listener(1);
        let accept = |l: &mut Listener| {
            for _ in 0..100 {
                l.accept_from(&tl, 0, Instant::now());
                if l.gate.len() == 1 && l.registry.refused() >= 1 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let mut first = TcpStream::connect(addr).unwrap();
        while l.gate.is_empty() {
            l.accept_from(&tl, 0, Instant::now());
        }
        let _second = TcpStream::connect(addr).unwrap();
        accept(&mut l);
        assert_eq!((l.gate.len(), l.registry.refused()), (1, 1), "one held, the first closed for it");
        first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(first.read(&mut [0u8; 8]).unwrap(), 0, "the first was closed");
        // With nothing waiting and the budget held, accepting stops until something leaves.
        let mut full = listener(0);
        assert!(!full.may_accept(Instant::now()));
    }
}
