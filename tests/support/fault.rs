//! A fault proxy between rrdpipe and a real receiver: the network misbehaving on command.
//!
//! Faults: reset every connection ([`FaultProxy::reset`]), cut the next burst of data in the
//! middle and reset that connection ([`FaultProxy::cut_mid_stream`]), refuse new connections
//! for a while ([`Mode::Refuse`]), stall (accept, never read: [`Mode::Stall`]), black-hole
//! (read and discard: [`Mode::BlackHole`]), and pass again. It forwards both ways, so HTTP
//! replies reach rrdpipe. When the receiver closes a connection, rrdpipe sees it closed (and
//! reset on its next write), and the proxy stops listening until the receiver accepts
//! connections again, so a receiver that is down refuses connections as its own closed port
//! would. (A connection that arrives before the proxy noticed is accepted, then reset.)
//!
//! In line mode it hands the receiver only complete lines: when a connection dies, the partial
//! line at its end is discarded, as a receiver that parses whole lines would. (VictoriaMetrics
//! itself parses a trailing partial line as a metric, so a raw cut would garble data whatever the
//! sender did; the proxy models the receiver losing whatever it had not completely received, which
//! is what the sender must make good.) In raw mode (HTTP) bytes pass as they come: a request cut
//! short reaches the receiver truncated, which it rejects whole.
//!
//! A mode and the connections' generation live in one atomic word, so [`FaultProxy::reset_to`]
//! changes both at once: a connection of the old generation never acts under the new mode (a
//! stalled connection is not resumed by the `Pass` that follows its reset). A connection that
//! was black-holed never forwards again, even if the mode goes back to `Pass` without a reset:
//! whatever it discarded is gone, and joining later bytes to a partial line it held would
//! garble a line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward.
    Pass = 0,
    /// Keep connections open but stop reading from rrdpipe; new connections are accepted and
    /// stall too.
    Stall = 1,
    /// Read from rrdpipe and discard.
    BlackHole = 2,
    /// Not listening: connections are refused. Open connections keep forwarding: use
    /// [`FaultProxy::reset_to`] to reset them as refusing starts.
    Refuse = 3,
}

impl Mode {
    fn from_bits(b: u64) -> Mode {
        match b & 0xff {
            0 => Mode::Pass,
            1 => Mode::Stall,
            2 => Mode::BlackHole,
            _ => Mode::Refuse,
        }
    }
}

/// The mode (low byte) and the generation (the rest) in one word.
#[derive(Clone, Copy, PartialEq, Eq)]
struct State(u64);

impl State {
    fn mode(self) -> Mode {
        Mode::from_bits(self.0)
    }
    fn generation(self) -> u64 {
        self.0 >> 8
    }
    fn with_mode(self, m: Mode) -> State {
        State((self.0 & !0xff) | m as u64)
    }
    fn next_generation(self) -> State {
        State(self.0 + (1 << 8))
    }
}

struct Shared {
    state: AtomicU64,
    stop: AtomicBool,
    line_mode: bool,
    target: SocketAddr,
    port: u16,
    /// Armed by `cut_mid_stream`: the next connection to read data cuts it.
    cut_armed: AtomicBool,
    /// The receiver closed a connection or refused one: stop listening until it accepts again.
    upstream_down: AtomicBool,
    /// Counters for reports.
    resets: AtomicU64,
    cuts: AtomicU64,
    connections: AtomicU64,
    refused_upstream_down: AtomicU64,
}

impl Shared {
    fn state(&self) -> State {
        State(self.state.load(Ordering::SeqCst))
    }
    fn update(&self, f: impl Fn(State) -> State) {
        let _ = self.state.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| Some(f(State(s)).0));
    }
}

/// The proxy. Dropping it stops every thread and connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `target`; `line_mode` hands the receiver
    /// complete lines only.
    pub fn start(target: SocketAddr, line_mode: bool) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: AtomicU64::new(Mode::Pass as u64),
            stop: AtomicBool::new(false),
            line_mode,
            target,
            port,
            cut_armed: AtomicBool::new(false),
            upstream_down: AtomicBool::new(false),
            resets: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            refused_upstream_down: AtomicU64::new(0),
        });
        let p = FaultProxy { shared: shared.clone(), threads: Mutex::new(Vec::new()) };
        let t = std::thread::spawn(move || accept_loop(listener, shared));
        p.threads.lock().unwrap().push(t);
        p
    }

    /// Where rrdpipe should send.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.shared.port))
    }

    /// Change what happens to traffic from now on; open connections stay open.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.update(|s| s.with_mode(mode));
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.state().mode()
    }

    /// Reset every open connection (RST to rrdpipe; the receiver keeps complete lines only).
    pub fn reset(&self) {
        self.shared.update(State::next_generation);
        self.shared.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// Reset every open connection and switch to `mode`, in one step: connections opened from
    /// now on get `mode`, and the old ones never act under it.
    pub fn reset_to(&self, mode: Mode) {
        self.shared.update(|s| s.next_generation().with_mode(mode));
        self.shared.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// Arm a cut: the next read of data from rrdpipe, on any connection, forwards only the
    /// first half of what was read (in line mode, its complete lines), then resets that
    /// connection. What rrdpipe had written after that point is lost with the connection.
    pub fn cut_mid_stream(&self) {
        self.shared.cut_armed.store(true, Ordering::SeqCst);
    }

    /// Waits until an armed cut has happened; false if `timeout` passes first (the cut stays
    /// armed).
    pub fn wait_cut(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.shared.cut_armed.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Disarm a cut that has not happened yet.
    pub fn disarm_cut(&self) {
        self.shared.cut_armed.store(false, Ordering::SeqCst);
    }

    /// Connections accepted and forwarded so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Cuts made so far.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::Relaxed)
    }

    /// Resets ordered so far (`reset`, `reset_to`).
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::Relaxed)
    }

    /// Connections reset at once because the receiver could not be reached.
    pub fn refused_upstream_down(&self) -> u64 {
        self.shared.refused_upstream_down.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.reset();
        for t in self.threads.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, s: Arc<Shared>) {
    let mut listener = Some(listener);
    let mut conns = Vec::new();
    while !s.stop.load(Ordering::SeqCst) {
        if s.state().mode() == Mode::Refuse {
            // Stop listening so connects are refused (pending ones in the backlog get an RST).
            listener = None;
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if s.upstream_down.load(Ordering::SeqCst) {
            // The receiver closed a connection or refused one: refuse too, as its own closed
            // port would, until it accepts again.
            listener = None;
            if TcpStream::connect_timeout(&s.target, Duration::from_millis(200)).is_ok() {
                s.upstream_down.store(false, Ordering::SeqCst);
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        }
        let l = match listener.as_ref() {
            Some(l) => l,
            None => match TcpListener::bind(("127.0.0.1", s.port)) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false).unwrap();
                let generation = s.state().generation();
                let Ok(upstream) = TcpStream::connect_timeout(&s.target, Duration::from_secs(2)) else {
                    // The receiver went down unnoticed: refuse by resetting, and refuse at
                    // connect time from now on.
                    s.refused_upstream_down.fetch_add(1, Ordering::Relaxed);
                    s.upstream_down.store(true, Ordering::SeqCst);
                    rst(client);
                    continue;
                };
                s.connections.fetch_add(1, Ordering::Relaxed);
                let s2 = s.clone();
                conns.push(std::thread::spawn(move || connection(client, upstream, s2, generation)));
                conns.retain(|c: &std::thread::JoinHandle<()>| !c.is_finished());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

/// Close `s` with an RST (linger 0, no FIN first).
fn rst(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

fn timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Pump one connection both ways until it ends, the proxy stops, or a reset hits it.
fn connection(client: TcpStream, upstream: TcpStream, s: Arc<Shared>, generation: u64) {
    let dead = Arc::new(AtomicBool::new(false));
    let upstream_gone = Arc::new(AtomicBool::new(false));
    // Replies: upstream → client, raw. When the receiver closes its side, rrdpipe sees the close
    // too (a FIN), as it would without the proxy.
    let back = {
        let (mut up, mut cl) = (upstream.try_clone().unwrap(), client.try_clone().unwrap());
        let (dead, gone, shared) = (dead.clone(), upstream_gone.clone(), s.clone());
        let dead2 = dead.clone();
        let closer = client.try_clone().unwrap();
        let gone = move || {
            // Our own reset closes the upstream too: that is not the receiver going away.
            if !dead2.load(Ordering::SeqCst) {
                gone.store(true, Ordering::SeqCst);
                shared.upstream_down.store(true, Ordering::SeqCst);
                let _ = closer.shutdown(std::net::Shutdown::Write);
            }
        };
        std::thread::spawn(move || {
            up.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut buf = [0u8; 16384];
            while !dead.load(Ordering::SeqCst) {
                match up.read(&mut buf) {
                    Ok(0) => {
                        gone();
                        break;
                    }
                    Ok(n) => {
                        if cl.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(e) if timeout(&e) => {}
                    Err(_) => {
                        gone();
                        break;
                    }
                }
            }
        })
    };
    let (mut cl, mut up) = (client, upstream);
    cl.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut pending: Vec<u8> = Vec::new();
    let mut holed = false;
    let alive = |s: &Shared| !s.stop.load(Ordering::SeqCst) && s.state().generation() == generation;
    loop {
        if !alive(&s) {
            break;
        }
        let mode = s.state().mode();
        if mode == Mode::Stall {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let n = match cl.read(&mut buf) {
            Ok(0) => {
                // rrdpipe closed: hand over what is complete and close.
                if !holed {
                    let _ = up.write_all(&pending[..complete(&pending, s.line_mode)]);
                }
                dead.store(true, Ordering::SeqCst);
                let _ = up.shutdown(std::net::Shutdown::Write);
                let _ = back.join();
                return;
            }
            Ok(n) => n,
            // Nothing new; data held during a stall may still be due.
            Err(e) if timeout(&e) => 0,
            Err(_) => break,
        };
        // A reset that came during the read wins, and a receiver that closed takes nothing
        // more: what was read is lost with the connection.
        if !alive(&s) || upstream_gone.load(Ordering::SeqCst) {
            break;
        }
        let mode = s.state().mode();
        if holed || mode == Mode::BlackHole {
            holed = true;
            pending.clear();
            continue;
        }
        let cut = n > 0 && s.cut_armed.swap(false, Ordering::SeqCst);
        let take = if cut { n / 2 } else { n };
        pending.extend_from_slice(&buf[..take]);
        if mode == Mode::Stall && !cut {
            // Read just as the stall began: held, not delivered, while the stall lasts.
            continue;
        }
        let k = complete(&pending, s.line_mode);
        if k > 0 {
            if up.write_all(&pending[..k]).is_err() {
                break;
            }
            pending.drain(..k);
        }
        if cut {
            s.cuts.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    // Reset: rrdpipe gets an RST; the receiver a clean close after the complete lines it got.
    dead.store(true, Ordering::SeqCst);
    let _ = up.shutdown(std::net::Shutdown::Both);
    let _ = back.join();
    rst(cl);
}

/// How much of `b` to hand over: everything, or up to the last newline in line mode.
fn complete(b: &[u8], line_mode: bool) -> usize {
    if !line_mode {
        return b.len();
    }
    b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1)
}
