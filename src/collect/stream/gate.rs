//! Connections that have not yet said who they are: held until their request has arrived,
//! within a budget that idle connections cannot exhaust.
//!
//! One job: admission of not-yet-identified connections on a listening port, for any protocol
//! whose request ends with an empty line (a streaming child's `STREAM …` and an HTTP request
//! alike). The [`Gate`] holds each accepted connection, without a thread, until its request head
//! (through the empty line) has arrived, and hands over the socket with exactly those bytes read,
//! so nothing sent after the head is lost. It bounds what an idle client can hold:
//!
//! * at most `max pending` connections in all; a new one closes the **oldest** pending one, so a
//!   flood of idle connections only ever delays itself, and a real client, which sends its
//!   request as soon as it connects, is read long before it would be the oldest;
//! * at most `max pending per address` from one address (an IPv6 /64 counts as one); a new one
//!   closes that address's oldest;
//! * `timeout for first request`: a connection that has not sent its request by then is closed;
//! * a request longer than the limit is handed back (in [`Serviced::too_long`]) to be answered
//!   and closed.
//!
//! With a TLS configuration ([`Gate::with_tls`]), a connection whose first byte opens a TLS
//! handshake has its handshake driven here, and its request head read from the plaintext, all
//! without blocking and within the same deadline (a client that stalls its handshake is closed
//! like one that stalls its request); it is handed over with its session ([`Conn::Tls`]).
//!
//! The gate never blocks: the owner polls [`Gate::poll_fds`] with its listening sockets and
//! passes the results to [`Gate::service`]. What happens to a finished request (stream
//! handshake, HTTP) is the owner's business.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use super::request::request_len;
use super::tls::{Accepting, Conn, Pumped, TlsFailure, TLS_HANDSHAKE_BYTE};

/// An address as far as per-address limits go: an IPv4 address (also when it arrives as
/// `::ffff:a.b.c.d` on a dual-stack socket), or the /64 network of an IPv6 address, which one
/// client usually holds whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of a peer address.
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                AddressKey(IpAddr::V6(bits.into()))
            }
            v4 => AddressKey(v4),
        }
    }
}

impl std::fmt::Display for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

/// The gate's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateLimits {
    /// Connections held at once, at most.
    pub max_pending: usize,
    /// Connections held at once from one [`AddressKey`], at most.
    pub max_per_address: usize,
    /// The longest a connection may take to send its request head.
    pub first_request_timeout: Duration,
    /// The longest request head, in bytes.
    pub max_request: usize,
}

/// Why the gate closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// The oldest of all, to make room (`max pending`).
    Evicted,
    /// The oldest of its address, to make room (`max pending per address`).
    EvictedFromAddress,
    /// No request within `first_request_timeout`.
    Expired,
    /// A request head longer than `max_request`.
    TooLong,
    /// The client closed it (or it failed) before its request was complete.
    Closed,
    /// Its TLS session failed.
    Tls(TlsFailure),
}

/// How many times a TLS connection's socket is read per turn, at most: a client sending a
/// flood of records still leaves the other connections their turn.
const TLS_READS_PER_TURN: usize = 16;

/// A connection whose request head has arrived: the connection (non-blocking, positioned right
/// after the head) and the head's bytes.
#[derive(Debug)]
pub struct Ready {
    /// The connection, plain or TLS.
    pub stream: Conn,
    /// The peer, an IPv4-mapped address shown as IPv4.
    pub peer: SocketAddr,
    /// The request head, through its empty line (for [`Serviced::too_long`]: what arrived).
    pub request: Vec<u8>,
    /// Which listening socket it came through, as given to [`Gate::admit`].
    pub origin: usize,
}

/// What a waiting connection speaks.
#[derive(Debug)]
enum Transport {
    /// Plain TCP.
    Plain,
    /// Not known yet: its first byte tells (TLS is configured).
    Unknown(Arc<ServerConfig>),
    /// TLS: its session.
    Tls(Box<Accepting>),
}

/// One connection still sending its request.
#[derive(Debug)]
struct Pending {
    stream: TcpStream,
    transport: Transport,
    peer: SocketAddr,
    origin: usize,
    key: AddressKey,
    since: Instant,
    head: Vec<u8>,
}

impl Pending {
    /// Hand the connection over with what it sent.
    fn into_ready(self) -> Ready {
        let stream = match self.transport {
            Transport::Tls(acc) => acc.into_conn(self.stream),
            Transport::Plain | Transport::Unknown(_) => Conn::Plain(self.stream),
        };
        Ready { stream, peer: self.peer, request: self.head, origin: self.origin }
    }
}

/// What [`Gate::service`] found: finished requests and closed connections.
#[derive(Debug, Default)]
pub struct Serviced {
    /// Requests whose head arrived.
    pub ready: Vec<Ready>,
    /// Connections closed, with why and from where.
    pub dropped: Vec<(Dropped, SocketAddr)>,
    /// Connections whose request head grew past the limit ([`Dropped::TooLong`]), still open
    /// so that the owner can answer them; `request` holds what arrived.
    pub too_long: Vec<Ready>,
}

/// The peer as shown and matched: an IPv4-mapped address as plain IPv4.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

/// The pending connections, oldest first; see the module docs.
#[derive(Debug)]
pub struct Gate {
    limits: GateLimits,
    pending: VecDeque<Pending>,
    scratch: Vec<u8>,
    tls: Option<Arc<ServerConfig>>,
}

impl Gate {
    /// An empty gate.
    pub fn new(limits: GateLimits) -> Gate {
        let limits = GateLimits {
            max_pending: limits.max_pending.max(1),
            max_per_address: limits.max_per_address.max(1),
            ..limits
        };
        Gate { limits, pending: VecDeque::new(), scratch: vec![0u8; 4096], tls: None }
    }

    /// The same gate telling TLS clients from plain ones by their first byte, and shaking hands
    /// with the former under `config`.
    pub fn with_tls(self, config: Option<Arc<ServerConfig>>) -> Gate {
        Gate { tls: config, ..self }
    }

    /// The limits in force.
    pub fn limits(&self) -> GateLimits {
        self.limits
    }

    /// Connections held now.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Connections held from `key`.
    pub fn from_address(&self, key: AddressKey) -> usize {
        self.pending.iter().filter(|p| p.key == key).count()
    }

    /// Take the oldest connection out, to free its descriptor: handed over (in `ready`) if its
    /// request has just arrived, else closed as [`Dropped::Evicted`]. Empty when none is held.
    pub fn evict_oldest(&mut self) -> Serviced {
        let mut out = Serviced::default();
        if !self.pending.is_empty() {
            self.make_room(0, Dropped::Evicted, &mut out);
        }
        out
    }

    /// Hold a freshly accepted connection. Room is made first: when its address is at its limit,
    /// that address's oldest connection goes, else, when the gate is full, the oldest of all.
    /// A connection about to go is read once more, so one whose request has just arrived is
    /// handed over (in the result's `ready`) rather than closed.
    /// `origin` says which listening socket it came through; it is handed back in [`Ready`].
    pub fn admit(&mut self, stream: TcpStream, peer: SocketAddr, origin: usize, now: Instant) -> Serviced {
        let peer = canonical_peer(peer);
        let key = AddressKey::of(peer.ip());
        let mut out = Serviced::default();
        if self.from_address(key) >= self.limits.max_per_address {
            if let Some(i) = self.pending.iter().position(|p| p.key == key) {
                self.make_room(i, Dropped::EvictedFromAddress, &mut out);
            }
        }
        while self.pending.len() >= self.limits.max_pending {
            self.make_room(0, Dropped::Evicted, &mut out);
        }
        let _ = stream.set_nonblocking(true);
        let transport = match &self.tls {
            Some(config) => Transport::Unknown(config.clone()),
            None => Transport::Plain,
        };
        self.pending.push_back(Pending {
            stream,
            transport,
            peer,
            origin,
            key,
            since: now,
            head: Vec::new(),
        });
        out
    }

    /// Take the connection at `i` out: handed over if its request is complete now, else closed
    /// for `why`.
    fn make_room(&mut self, i: usize, why: Dropped, out: &mut Serviced) {
        let Some(mut p) = self.pending.remove(i) else { return };
        match read_head(&mut p, &mut self.scratch, self.limits.max_request) {
            Step::Done => out.ready.push(p.into_ready()),
            Step::Drop(Dropped::TooLong) => out.too_long.push(p.into_ready()),
            Step::Drop(d @ (Dropped::Closed | Dropped::Tls(_))) => out.dropped.push((d, p.peer)),
            _ => out.dropped.push((why, p.peer)),
        }
    }

    /// The descriptors to poll for input, in the order [`service`](Self::service) expects.
    pub fn poll_fds(&self, out: &mut Vec<libc::pollfd>) {
        out.extend(self.pending.iter().map(|p| {
            let writing = matches!(&p.transport, Transport::Tls(acc) if acc.wants_write());
            libc::pollfd {
                fd: p.stream.as_raw_fd(),
                events: if writing { libc::POLLIN | libc::POLLOUT } else { libc::POLLIN },
                revents: 0,
            }
        }));
    }

    /// Read what arrived on the connections whose `revents` (as filled by `poll`, in
    /// [`poll_fds`](Self::poll_fds) order) say so, and close those past their deadline at
    /// `now`.
    pub fn service(&mut self, revents: &[libc::pollfd], now: Instant) -> Serviced {
        let mut out = Serviced::default();
        let mut keep = VecDeque::with_capacity(self.pending.len());
        let held = std::mem::take(&mut self.pending);
        for (i, mut p) in held.into_iter().enumerate() {
            let ready = revents.get(i).is_some_and(|r| r.fd == p.stream.as_raw_fd() && r.revents != 0);
            if ready {
                match read_head(&mut p, &mut self.scratch, self.limits.max_request) {
                    Step::Waiting => {}
                    Step::Done => {
                        out.ready.push(p.into_ready());
                        continue;
                    }
                    Step::Drop(Dropped::TooLong) => {
                        out.too_long.push(p.into_ready());
                        continue;
                    }
                    Step::Drop(why) => {
                        out.dropped.push((why, p.peer));
                        continue;
                    }
                }
            }
            if now.duration_since(p.since) >= self.limits.first_request_timeout {
                out.dropped.push((Dropped::Expired, p.peer));
                continue;
            }
            keep.push_back(p);
        }
        self.pending = keep;
        out
    }

    /// When the oldest held connection reaches its deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.front().map(|p| p.since + self.limits.first_request_timeout)
    }
}

/// What reading a pending connection came to.
enum Step {
    Waiting,
    Done,
    Drop(Dropped),
}

/// Read what has arrived of `p`'s request head without reading past it; a connection's first
/// byte decides whether it speaks TLS (when the gate has a TLS configuration).
fn read_head(p: &mut Pending, scratch: &mut [u8], max_request: usize) -> Step {
    if let Transport::Unknown(config) = &p.transport {
        match p.stream.peek(&mut scratch[..1]) {
            Ok(0) => return Step::Drop(Dropped::Closed),
            Ok(_) if scratch[0] == TLS_HANDSHAKE_BYTE => match Accepting::new(config) {
                Ok(acc) => p.transport = Transport::Tls(Box::new(acc)),
                Err(_) => return Step::Drop(Dropped::Closed),
            },
            Ok(_) => p.transport = Transport::Plain,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                return Step::Waiting
            }
            Err(_) => return Step::Drop(Dropped::Closed),
        }
    }
    match &mut p.transport {
        Transport::Tls(acc) => read_tls_head(acc, &mut p.stream, &mut p.head, max_request),
        _ => read_plain_head(p, scratch, max_request),
    }
}

/// A plain connection: peek, and consume only through the empty line when it is there
/// (everything, when it is not: it is all head).
fn read_plain_head(p: &mut Pending, scratch: &mut [u8], max_request: usize) -> Step {
    let room = (max_request + 1).saturating_sub(p.head.len()).clamp(1, scratch.len());
    let n = match p.stream.peek(&mut scratch[..room]) {
        Ok(0) => return Step::Drop(Dropped::Closed),
        Ok(n) => n,
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
            return Step::Waiting
        }
        Err(_) => return Step::Drop(Dropped::Closed),
    };
    let (take, done) = take_head(&mut p.head, &scratch[..n]);
    if p.stream.read_exact(&mut scratch[..take]).is_err() {
        return Step::Drop(Dropped::Closed);
    }
    head_step(&p.head, done, max_request)
}

/// A TLS connection: go on with the handshake, and take the request head from the plaintext,
/// consuming only through its empty line (the rest stays in the session).
fn read_tls_head(acc: &mut Accepting, sock: &mut TcpStream, head: &mut Vec<u8>, max_request: usize) -> Step {
    for _ in 0..TLS_READS_PER_TURN {
        match acc.plaintext() {
            Ok(chunk) if !chunk.is_empty() => {
                let room = (max_request + 1).saturating_sub(head.len()).max(1);
                let (take, done) = take_head(head, &chunk[..chunk.len().min(room)]);
                acc.consume(take);
                match head_step(head, done, max_request) {
                    Step::Waiting => continue,
                    step => return step,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Closed, cleanly or not, after the handshake.
            _ if head.is_empty() => return Step::Drop(Dropped::Tls(TlsFailure::ClosedAfterHandshake)),
            _ => return Step::Drop(Dropped::Closed),
        }
        match acc.pump(sock) {
            Pumped::Progress => {}
            Pumped::Blocked => return Step::Waiting,
            // A client that leaves tickets unread resets the connection rather than closing it.
            Pumped::Closed if head.is_empty() && !acc.is_handshaking() => {
                return Step::Drop(Dropped::Tls(TlsFailure::ClosedAfterHandshake))
            }
            Pumped::Closed => return Step::Drop(Dropped::Closed),
            Pumped::Failed(why) => return Step::Drop(Dropped::Tls(why)),
        }
    }
    Step::Waiting
}

/// Append to `head` what of `bytes` belongs to the request head: (bytes taken, whether the
/// head is complete). The empty line may start in what was read before: it is looked for from
/// three bytes back.
fn take_head(head: &mut Vec<u8>, bytes: &[u8]) -> (usize, bool) {
    let old = head.len();
    let from = old.saturating_sub(3);
    head.extend_from_slice(bytes);
    let end = request_len(&head[from..]);
    let take = match end {
        Some(len) => from + len - old,
        None => bytes.len(),
    };
    head.truncate(old + take);
    (take, end.is_some())
}

/// Where a head stands after bytes were taken.
fn head_step(head: &[u8], done: bool, max_request: usize) -> Step {
    if done {
        Step::Done
    } else if head.len() > max_request {
        Step::Drop(Dropped::TooLong)
    } else {
        Step::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn limits(max_pending: usize, max_per_address: usize) -> GateLimits {
        GateLimits {
            max_pending,
            max_per_address,
            first_request_timeout: Duration::from_secs(10),
            max_request: 64,
        }
    }

    /// A connected pair: (client, server side, peer as the server sees it).
    fn pair(l: &TcpListener) -> (TcpStream, TcpStream, SocketAddr) {
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = l.accept().unwrap();
        (c, s, peer)
    }

    /// Poll every held connection once (waiting up to 2 s for something to arrive) and service.
    fn pump(g: &mut Gate, now: Instant) -> Serviced {
        let mut fds = Vec::new();
        g.poll_fds(&mut fds);
        // SAFETY: `fds` is a valid array for the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 2000) };
        g.service(&fds, now)
    }

    #[test]
    fn address_keys_fold_mapped_ipv4_and_ipv6_networks() {
        let k = |s: &str| AddressKey::of(s.parse().unwrap());
        assert_eq!(k("::ffff:127.0.0.1"), k("127.0.0.1"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:10.0.0.1").to_string(), "10.0.0.1");
        assert_eq!(k("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_full_gate_closes_the_oldest_and_a_full_address_its_own_oldest() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        let mut g = Gate::new(limits(3, 2));
        let mut clients = Vec::new();
        let mut peers = Vec::new();
        let mut dropped = Vec::new();
        for i in 0..4u64 {
            let (c, s, peer) = pair(&l);
            clients.push(c);
            peers.push(peer);
            dropped.extend(g.admit(s, peer, 0, t0 + Duration::from_millis(i)).dropped);
        }
        // All from 127.0.0.1: the per-address limit (2) decides first, oldest first.
        assert_eq!(
            dropped,
            vec![(Dropped::EvictedFromAddress, peers[0]), (Dropped::EvictedFromAddress, peers[1])]
        );
        assert_eq!(g.len(), 2);
        let mut g = Gate::new(limits(2, 10));
        let mut dropped = Vec::new();
        for (i, _) in peers.iter().enumerate() {
            let (c, s, peer) = pair(&l);
            clients.push(c);
            dropped.extend(
                g.admit(s, peer, 0, t0 + Duration::from_millis(i as u64)).dropped.into_iter().map(|d| d.0),
            );
        }
        assert_eq!(dropped, vec![Dropped::Evicted, Dropped::Evicted]);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn a_connection_whose_request_has_arrived_is_handed_over_instead_of_evicted() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        let mut g = Gate::new(limits(8, 1));
        let (mut c1, s1, p1) = pair(&l);
        g.admit(s1, p1, 0, t0);
        c1.write_all(b"STREAM x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let (_c2, s2, p2) = pair(&l);
        let out = g.admit(s2, p2, 0, t0);
        assert!(out.dropped.is_empty());
        assert_eq!(out.ready.len(), 1);
        assert_eq!((out.ready[0].peer, out.ready[0].request.as_slice()), (p1, &b"STREAM x\r\n\r\n"[..]));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn a_request_is_handed_over_without_the_bytes_after_it() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        let mut g = Gate::new(limits(8, 8));
        let (mut c, s, peer) = pair(&l);
        let first = g.admit(s, peer, 0, t0);
        assert!(first.ready.is_empty() && first.dropped.is_empty());
        // The empty line is split across two reads; data follows it at once.
        c.write_all(b"STREAM key=x HTTP/1.1\r\n\r").unwrap();
        let partial = pump(&mut g, t0);
        assert!(partial.ready.is_empty() && partial.dropped.is_empty());
        c.write_all(b"\nCHART a\n").unwrap();
        let mut done = pump(&mut g, t0);
        for _ in 0..20 {
            if !done.ready.is_empty() {
                break;
            }
            done = pump(&mut g, t0);
        }
        let mut ready = done.ready.pop().expect("the request arrived");
        assert_eq!(ready.request, b"STREAM key=x HTTP/1.1\r\n\r\n");
        assert_eq!(ready.peer, peer);
        assert!(g.is_empty());
        ready.stream.socket().set_nonblocking(false).unwrap();
        let mut rest = [0u8; 8];
        ready.stream.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"CHART a\n");
    }

    #[test]
    fn silent_long_and_closed_connections_are_dropped() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        let mut g = Gate::new(limits(8, 8));
        let (_silent, s1, p1) = pair(&l);
        let (mut long, s2, p2) = pair(&l);
        let (closing, s3, p3) = pair(&l);
        g.admit(s1, p1, 0, t0);
        g.admit(s2, p2, 0, t0 + Duration::from_secs(5));
        g.admit(s3, p3, 0, t0 + Duration::from_secs(5));
        long.write_all(&[b'x'; 100]).unwrap();
        drop(closing);
        let mut dropped = Vec::new();
        let mut too_long = Vec::new();
        for _ in 0..20 {
            let out = pump(&mut g, t0 + Duration::from_secs(1));
            dropped.extend(out.dropped);
            too_long.extend(out.too_long);
            if dropped.len() == 1 && too_long.len() == 1 {
                break;
            }
        }
        assert_eq!(dropped, vec![(Dropped::Closed, p3)]);
        // Still open, to be answered, with what it sent so far (one byte past the limit).
        assert_eq!((too_long[0].peer, too_long[0].request.len()), (p2, 65));
        assert_eq!(g.next_deadline(), Some(t0 + Duration::from_secs(10)));
        let late = g.service(&[], t0 + Duration::from_secs(10));
        assert_eq!(late.dropped, vec![(Dropped::Expired, p1)]);
        assert!(g.is_empty());
    }
}
