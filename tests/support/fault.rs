//! A fault proxy between rrdpipe and a real receiver: the network misbehaving on command.
//!
//! Faults: reset every connection mid-stream, refuse new connections for a while, stall
//! (accept, never read), black-hole (read and discard), and pass again. It forwards both ways,
//! so HTTP replies reach rrdpipe.
//!
//! In line mode it hands the receiver only complete lines: when a connection dies, the partial
//! line at its end is discarded, as a receiver that parses whole lines would. (VictoriaMetrics
//! itself parses a trailing partial line as a metric, so a raw cut would garble data whatever the
//! sender did; the proxy models the receiver losing whatever it had not completely received, which
//! is what the sender must make good.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward.
    Pass = 0,
    /// Keep connections open but stop reading from rrdpipe.
    Stall = 1,
    /// Read from rrdpipe and discard.
    BlackHole = 2,
    /// Not listening: connections are refused.
    Refuse = 3,
}

struct Shared {
    mode: AtomicU8,
    /// Bumped by `reset`: connections of an older generation are reset.
    generation: AtomicU64,
    stop: AtomicBool,
    line_mode: bool,
    target: SocketAddr,
    port: u16,
    /// Counters for reports.
    resets: AtomicU64,
    connections: AtomicU64,
}

/// The proxy. Dropping it stops every thread and connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `target`.
    pub fn start(target: SocketAddr, line_mode: bool) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Pass as u8),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            line_mode,
            target,
            port,
            resets: AtomicU64::new(0),
            connections: AtomicU64::new(0),
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

    /// Change what happens to traffic from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Reset every open connection (RST to rrdpipe; the receiver keeps complete lines only).
    pub fn reset(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.shared.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
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

fn mode(s: &Shared) -> Mode {
    match s.mode.load(Ordering::SeqCst) {
        0 => Mode::Pass,
        1 => Mode::Stall,
        2 => Mode::BlackHole,
        _ => Mode::Refuse,
    }
}

fn accept_loop(listener: TcpListener, s: Arc<Shared>) {
    let mut listener = Some(listener);
    let mut conns = Vec::new();
    while !s.stop.load(Ordering::SeqCst) {
        if mode(&s) == Mode::Refuse {
            // Stop listening so connects are refused.
            listener = None;
            std::thread::sleep(Duration::from_millis(20));
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
                let Ok(upstream) = TcpStream::connect_timeout(&s.target, Duration::from_secs(2)) else {
                    // The receiver is down: behave like it, refuse by closing.
                    rst(&client);
                    continue;
                };
                s.connections.fetch_add(1, Ordering::Relaxed);
                let generation = s.generation.load(Ordering::SeqCst);
                let s2 = s.clone();
                conns.push(std::thread::spawn(move || connection(client, upstream, s2, generation)));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

fn rst(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    let _ = s.shutdown(std::net::Shutdown::Both);
}

fn timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Pump one connection both ways until it ends, the proxy stops, or a reset hits it.
fn connection(client: TcpStream, upstream: TcpStream, s: Arc<Shared>, generation: u64) {
    let dead = Arc::new(AtomicBool::new(false));
    // Replies: upstream → client, raw.
    let back = {
        let (mut up, mut cl) = (upstream.try_clone().unwrap(), client.try_clone().unwrap());
        let dead = dead.clone();
        std::thread::spawn(move || {
            up.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut buf = [0u8; 16384];
            while !dead.load(Ordering::SeqCst) {
                match up.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if cl.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(e) if timeout(&e) => {}
                    Err(_) => break,
                }
            }
        })
    };
    let (mut cl, mut up) = (client, upstream);
    cl.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if s.stop.load(Ordering::SeqCst) || s.generation.load(Ordering::SeqCst) != generation {
            break;
        }
        match mode(&s) {
            Mode::Stall => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Mode::Pass | Mode::BlackHole | Mode::Refuse => {}
        }
        let n = match cl.read(&mut buf) {
            Ok(0) => {
                // rrdpipe closed: hand over what is complete and close.
                let _ = up.write_all(&pending[..complete(&pending, s.line_mode)]);
                dead.store(true, Ordering::SeqCst);
                let _ = up.shutdown(std::net::Shutdown::Write);
                let _ = back.join();
                return;
            }
            Ok(n) => n,
            Err(e) if timeout(&e) => continue,
            Err(_) => break,
        };
        if mode(&s) == Mode::BlackHole {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        let k = complete(&pending, s.line_mode);
        if k > 0 {
            if up.write_all(&pending[..k]).is_err() {
                break;
            }
            pending.drain(..k);
        }
    }
    // Reset: rrdpipe gets an RST; the receiver a clean close after the complete lines it got.
    dead.store(true, Ordering::SeqCst);
    rst(&cl);
    let _ = up.shutdown(std::net::Shutdown::Both);
    let _ = back.join();
}

/// How much of `b` to hand over: everything, or up to the last newline in line mode.
fn complete(b: &[u8], line_mode: bool) -> usize {
    if !line_mode {
        return b.len();
    }
    b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1)
}
