//! Line protocols over TCP (or UDP): connect to the first reachable endpoint, drain what the
//! peer sent us, and write with a deadline.
//!
//! One job: move bytes and say exactly how many the kernel accepted. It never decides what to
//! resend; the outbox does (see [`crate::export::outbox`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{SockRef, TcpKeepalive};

use super::Endpoint;

/// Largest UDP datagram we send: fits an Ethernet MTU with IPv6 headers.
const UDP_MAX: usize = 1432;
/// Most bytes of a peer's unexpected reply kept for the log sample.
const SAMPLE_MAX: usize = 1024;

#[derive(Debug)]
enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

/// A connection attempt over the whole destination list failed.
#[derive(Debug)]
pub struct ConnectFailure {
    /// Addresses tried.
    pub attempts: usize,
    /// One `endpoint: reason` per failure.
    pub errors: Vec<String>,
}

/// A successful connection.
#[derive(Debug)]
pub struct Connected {
    /// Addresses tried, including the one that worked.
    pub attempts: usize,
    /// The peer, for logs.
    pub peer: String,
    /// One `endpoint: reason` per destination tried before it (and failed), in order.
    pub skipped: Vec<String>,
}

/// What draining the peer's replies found.
#[derive(Debug, Default)]
pub struct Drained {
    /// Bytes received.
    pub bytes: usize,
    /// Successful reads.
    pub reads: usize,
    /// Up to 1 KiB of what was received, non-printable bytes replaced by spaces.
    pub sample: String,
    /// The peer closed the connection (or it failed).
    pub closed: bool,
}

/// How a write ended.
#[derive(Debug)]
pub enum WriteEnd {
    /// Everything was accepted.
    Done,
    /// The deadline passed first.
    TimedOut,
    /// The connection failed.
    Failed(io::Error),
}

/// A line transport over a list of endpoints.
#[derive(Debug)]
pub struct LineTransport {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    conn: Option<Conn>,
    peer: String,
}

impl LineTransport {
    /// A transport that tries `endpoints` in order, bounding connect and each write by `timeout`.
    pub fn new(endpoints: Vec<Endpoint>, timeout: Duration) -> LineTransport {
        LineTransport { endpoints, timeout, conn: None, peer: String::new() }
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The connected peer, for logs.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Close the connection, if any: what the kernel holds is still sent, then an orderly end
    /// of stream.
    pub fn close(&mut self) {
        if let Some(Conn::Tcp(s)) = self.conn.take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.peer.clear();
    }

    /// Reset the connection, if any: what the kernel still holds is discarded and the peer
    /// sees a reset, not an orderly end of stream. For a stream that ends inside a line, so
    /// that no receiver takes the cut line for a whole one.
    pub fn abort(&mut self) {
        if let Some(Conn::Tcp(s)) = self.conn.take() {
            // A zero linger time makes close(2) send a reset and drop unsent data.
            let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
        self.peer.clear();
    }

    /// Connect to the first endpoint (and address) that accepts. Each address gets the whole
    /// timeout: a destination that never answers costs its own timeout, and nothing of it is
    /// charged to the next one.
    pub fn connect(&mut self) -> Result<Connected, ConnectFailure> {
        self.close();
        let mut attempts = 0;
        let mut errors = Vec::new();
        for ep in &self.endpoints {
            let addrs: Vec<SocketAddr> = match (ep.host.as_str(), ep.port).to_socket_addrs() {
                Ok(a) => a.collect(),
                Err(e) => {
                    errors.push(format!("{ep}: cannot resolve: {e}"));
                    continue;
                }
            };
            for addr in addrs {
                attempts += 1;
                match open(ep.udp, &addr, self.timeout) {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.peer = ep.to_string();
                        return Ok(Connected { attempts, peer: self.peer.clone(), skipped: errors });
                    }
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => errors
                        .push(format!("{ep} ({addr}): no answer within {} ms", self.timeout.as_millis())),
                    Err(e) => errors.push(format!("{ep} ({addr}): {e}")),
                }
            }
        }
        Err(ConnectFailure { attempts, errors })
    }

    /// Read whatever the peer sent, without blocking.
    pub fn drain(&mut self) -> Drained {
        let mut out = Drained::default();
        let Some(Conn::Tcp(s)) = self.conn.as_mut() else {
            return out;
        };
        if s.set_nonblocking(true).is_err() {
            out.closed = true;
            return out;
        }
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    out.closed = true;
                    break;
                }
                Ok(n) => {
                    out.bytes += n;
                    out.reads += 1;
                    for &b in &buf[..n] {
                        if out.sample.len() >= SAMPLE_MAX {
                            break;
                        }
                        out.sample.push(if (0x20..0x7f).contains(&b) { b as char } else { ' ' });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    out.closed = true;
                    break;
                }
            }
        }
        if !out.closed && s.set_nonblocking(false).is_err() {
            out.closed = true;
        }
        out
    }

    /// Write as much of `data` as the peer accepts before `deadline`. Returns the bytes the kernel
    /// accepted (possibly mid-line) and how the write ended. UDP sends whole lines only.
    pub fn write(&mut self, data: &[u8], deadline: Instant) -> (usize, WriteEnd) {
        match self.conn.as_mut() {
            None => (0, WriteEnd::Failed(io::Error::new(io::ErrorKind::NotConnected, "not connected"))),
            Some(Conn::Tcp(s)) => write_tcp(s, data, deadline),
            Some(Conn::Udp(s)) => write_udp(s, data),
        }
    }
}

fn open(udp: bool, addr: &SocketAddr, timeout: Duration) -> io::Result<Conn> {
    if udp {
        let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
        let s = UdpSocket::bind(bind)?;
        s.connect(addr)?;
        return Ok(Conn::Udp(s));
    }
    let s = TcpStream::connect_timeout(addr, timeout)?;
    let sock = SockRef::from(&s);
    // Find dead peers even when we have nothing to send.
    let ka = TcpKeepalive::new().with_time(Duration::from_secs(30)).with_interval(Duration::from_secs(10));
    let _ = sock.set_tcp_keepalive(&ka);
    Ok(Conn::Tcp(s))
}

fn write_tcp(s: &mut TcpStream, data: &[u8], deadline: Instant) -> (usize, WriteEnd) {
    let mut written = 0;
    while written < data.len() {
        let now = Instant::now();
        if now >= deadline {
            return (written, WriteEnd::TimedOut);
        }
        if let Err(e) = s.set_write_timeout(Some(deadline - now)) {
            return (written, WriteEnd::Failed(e));
        }
        match s.write(&data[written..]) {
            Ok(0) => {
                return (
                    written,
                    WriteEnd::Failed(io::Error::new(io::ErrorKind::WriteZero, "peer accepts nothing")),
                )
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return (written, WriteEnd::TimedOut)
            }
            Err(e) => return (written, WriteEnd::Failed(e)),
        }
    }
    (written, WriteEnd::Done)
}

fn write_udp(s: &mut UdpSocket, data: &[u8]) -> (usize, WriteEnd) {
    let mut written = 0;
    while written < data.len() {
        let rest = &data[written..];
        // Whole lines up to UDP_MAX; a longer line goes alone.
        let mut cut = 0;
        for (i, &b) in rest.iter().enumerate() {
            if b == b'\n' {
                if i + 1 > UDP_MAX && cut > 0 {
                    break;
                }
                cut = i + 1;
                if cut >= UDP_MAX {
                    break;
                }
            }
        }
        if cut == 0 {
            cut = rest.len();
        }
        match s.send(&rest[..cut]) {
            Ok(_) => written += cut,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (written, WriteEnd::Failed(e)),
        }
    }
    (written, WriteEnd::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn ep(port: u16) -> Endpoint {
        Endpoint { udp: false, host: "127.0.0.1".into(), port }
    }

    fn dead_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn first_reachable_destination_wins() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = l.local_addr().unwrap().port();
        let mut t = LineTransport::new(vec![ep(dead_port()), ep(good)], Duration::from_secs(2));
        let c = t.connect().unwrap();
        assert_eq!(c.attempts, 2);
        assert_eq!(c.peer, format!("127.0.0.1:{good}"));
        let (n, end) = t.write(b"a 1 2\n", Instant::now() + Duration::from_secs(2));
        assert_eq!(n, 6);
        assert!(matches!(end, WriteEnd::Done));
        let (mut s, _) = l.accept().unwrap();
        let mut got = [0u8; 6];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"a 1 2\n");
    }

    /// A destination whose connects go unanswered (a full listen queue) costs its own timeout
    /// and is reported with its reason; the next one is connected.
    #[test]
    fn a_destination_that_never_answers_is_skipped_with_its_reason() {
        let hole = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        hole.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        hole.listen(0).unwrap();
        let a = hole.local_addr().unwrap().as_socket().unwrap();
        let mut fillers = Vec::new();
        while let Ok(s) = TcpStream::connect_timeout(&a, Duration::from_millis(200)) {
            fillers.push(s);
            assert!(fillers.len() < 16, "a full listen queue still answers");
        }
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = l.local_addr().unwrap().port();
        let mut t = LineTransport::new(vec![ep(a.port()), ep(good)], Duration::from_millis(300));
        let c = t.connect().unwrap();
        assert_eq!(c.peer, format!("127.0.0.1:{good}"));
        assert_eq!(c.skipped, vec![format!("{a} ({a}): no answer within 300 ms")]);
    }

    #[test]
    fn all_destinations_down_lists_every_failure() {
        let mut t = LineTransport::new(vec![ep(dead_port()), ep(dead_port())], Duration::from_secs(1));
        let f = t.connect().unwrap_err();
        assert_eq!(f.attempts, 2);
        assert_eq!(f.errors.len(), 2);
        assert!(!t.is_connected());
    }

    #[test]
    fn drain_collects_replies_and_notices_close() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut t = LineTransport::new(vec![ep(l.local_addr().unwrap().port())], Duration::from_secs(2));
        t.connect().unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"hello\x01world").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let d = t.drain();
        assert_eq!(d.bytes, 11);
        assert_eq!(d.sample, "hello world");
        assert!(!d.closed);
        drop(s);
        std::thread::sleep(Duration::from_millis(50));
        assert!(t.drain().closed);
    }

    #[test]
    fn a_peer_that_never_reads_times_out_with_a_partial_count() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut t = LineTransport::new(vec![ep(l.local_addr().unwrap().port())], Duration::from_secs(2));
        t.connect().unwrap();
        let (_s, _) = l.accept().unwrap();
        let data = vec![b'x'; 64 << 20];
        let start = Instant::now();
        let (n, end) = t.write(&data, Instant::now() + Duration::from_millis(300));
        assert!(matches!(end, WriteEnd::TimedOut), "{end:?}");
        assert!(n > 0 && n < data.len(), "{n}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn udp_sends_whole_lines_per_datagram() {
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = r.local_addr().unwrap().port();
        let mut t = LineTransport::new(
            vec![Endpoint { udp: true, host: "127.0.0.1".into(), port }],
            Duration::from_secs(1),
        );
        t.connect().unwrap();
        let line = b"netdata.host.chart.dimension 123.4567890 1700000000\n";
        let data: Vec<u8> = line.iter().copied().cycle().take(line.len() * 100).collect();
        let (n, end) = t.write(&data, Instant::now() + Duration::from_secs(1));
        assert_eq!(n, data.len());
        assert!(matches!(end, WriteEnd::Done));
        let mut total = 0;
        let mut buf = [0u8; 65536];
        r.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        while let Ok(k) = r.recv(&mut buf) {
            assert!(k <= UDP_MAX);
            assert!(buf[..k].ends_with(b"\n"));
            assert_eq!(k % line.len(), 0);
            total += k;
        }
        assert_eq!(total, data.len());
    }
}
