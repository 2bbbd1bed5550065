//! The line exporters' delivery under hostile receivers, end to end: the rrdpipe binary on
//! loopback against receivers that black-hole connects, read slowly, or close every connection,
//! and what those receivers got, byte for byte.

pub mod support;

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use support::agent::{Rrdpipe, CONSTANT_PLUGIN};

/// What a [`Receiver`] does with each connection it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Read everything, at most this many bytes per second (until told to hurry).
    Rate(u64),
    /// Shut down its own sending side at once, then read everything.
    HalfClose,
    /// Close the connection at once.
    Close,
}

/// How a connection's stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Still open.
    Open,
    /// An orderly end of stream.
    Eof,
    /// A reset (or another read error).
    Reset,
}

#[derive(Debug)]
struct Conn {
    data: Vec<u8>,
    end: End,
}

/// A line receiver on 127.0.0.1 that records every connection's bytes and how it ended.
struct Receiver {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<Conn>>>,
    /// Read at full speed from now on.
    hurry: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// Listen with a small receive buffer (4 KiB), so that a slow reader pushes back at once.
    fn start(behaviour: Behaviour) -> Receiver {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.set_reuse_address(true).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        sock.listen(16).unwrap();
        let listener: TcpListener = sock.into();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let hurry = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, h, s) = (conns.clone(), hurry.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let i = {
                            let mut all = c.lock().unwrap();
                            all.push(Conn { data: Vec::new(), end: End::Open });
                            all.len() - 1
                        };
                        let (c, h, s) = (c.clone(), h.clone(), s.clone());
                        std::thread::spawn(move || serve(stream, behaviour, i, c, h, s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Receiver { addr, conns, hurry, stop }
    }

    fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    fn bytes(&self) -> usize {
        self.conns.lock().unwrap().iter().map(|c| c.data.len()).sum()
    }

    /// Every connection's bytes and end, in accept order.
    fn take(&self) -> Vec<(Vec<u8>, End)> {
        self.conns.lock().unwrap().iter().map(|c| (c.data.clone(), c.end)).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut s: TcpStream,
    behaviour: Behaviour,
    i: usize,
    conns: Arc<Mutex<Vec<Conn>>>,
    hurry: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    match behaviour {
        Behaviour::Close => {
            drop(s);
            conns.lock().unwrap()[i].end = End::Eof;
            return;
        }
        Behaviour::HalfClose => s.shutdown(Shutdown::Write).unwrap(),
        Behaviour::Rate(_) => {}
    }
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let want = match behaviour {
            // Ten reads a second of a tenth of the rate each.
            Behaviour::Rate(r) if !hurry.load(Ordering::Relaxed) => (r as usize / 10).clamp(1, buf.len()),
            _ => buf.len(),
        };
        match s.read(&mut buf[..want]) {
            Ok(0) => {
                conns.lock().unwrap()[i].end = End::Eof;
                return;
            }
            Ok(n) => conns.lock().unwrap()[i].data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => {
                conns.lock().unwrap()[i].end = End::Reset;
                return;
            }
        }
        if want < buf.len() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn conf(destination: &str, extra: &str) -> String {
    format!(
        "[global]\n    hostname = testhost\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n\
         [plugins]\n    proc = no\n\
         [backend]\n    enabled = yes\n    type = graphite\n    destination = {destination}\n    update every = 1\n\
         timeout ms = 1000\n{extra}"
    )
}

/// Each line received is a whole graphite line of the test host: `NAME VALUE TIMESTAMP`.
fn assert_whole_graphite_lines(data: &[u8], what: &str) {
    let text = std::str::from_utf8(data).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert!(
            f.len() == 3
                && f[0].starts_with("netdata.testhost.")
                && f[1].parse::<f64>().is_ok()
                && f[2].len() == 10
                && f[2].parse::<u64>().is_ok(),
            "{what}: a broken line: {line:?}"
        );
    }
}

/// `destination = A B` where every connect to A times out (its accept queue is full): B gets
/// data within a few seconds and keeps its connection. The time spent on A was charged to B's
/// send, which then "accepted nothing" and was reconnected forever, with 0 bytes.
#[test]
fn a_black_holed_first_destination_does_not_starve_the_second() {
    // A listener that never accepts, with a backlog of 0, filled until connects go unanswered.
    let hole = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    hole.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    hole.listen(0).unwrap();
    let a: SocketAddr = hole.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    let full = (0..16).any(|_| match TcpStream::connect_timeout(&a, Duration::from_millis(300)) {
        Ok(s) => {
            fillers.push(s);
            false
        }
        Err(_) => true,
    });
    assert!(full, "connects to a full listen queue were answered: cannot black-hole on this kernel");
    let b = Receiver::start(Behaviour::Rate(u64::MAX));
    let agent = Rrdpipe::start(
        &conf(&format!("tcp:{a} tcp:{}", b.addr), "    buffer on failures = 100\n"),
        &[("values", CONSTANT_PLUGIN)],
    );
    let started = Instant::now();
    let got = support::wait_until(started + Duration::from_secs(20), || b.bytes() > 0);
    assert!(got, "the second destination got nothing in 20 s; log:\n{}", agent.log());
    let first = started.elapsed();
    eprintln!("first bytes on the second destination after {first:?}");
    // Keep going: B's connection holds and keeps receiving.
    std::thread::sleep(Duration::from_secs(6));
    let conns = b.take();
    let log = agent.log();
    assert!(first < Duration::from_secs(12), "first bytes on the second destination after {first:?}\n{log}");
    assert_eq!(conns.len(), 1, "the second destination was reconnected: {:?}\n{log}", conns.len());
    let data = &conns[0].0;
    let values = String::from_utf8_lossy(data).matches("netdata.testhost.test.values.a 42.5000000 ").count();
    assert!(values >= 4, "too few lines on the second destination ({values}):\n{log}");
    assert_whole_graphite_lines(&data[..data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1)], "B");
    assert!(!log.contains("accepted nothing"), "{log}");
    // The log names the destination that failed, with the reason, and the one in use.
    assert!(
        log.contains(&format!(
            "connected to a later destination, after those before it failed destination={} skipped={a} ({a}): \
             no answer within 1000 ms",
            b.addr
        )),
        "{log}"
    );
    drop(fillers);
}

/// A plugin of 2000 metrics a second (20 charts of 100 dimensions), about 110 KB/s of graphite.
const MANY_PLUGIN: &str = r#"#!/bin/sh
exec awk -v every="$1" 'BEGIN {
    for (c = 0; c < 20; c++) {
        printf "CHART test.m%02d %c%c %cMany%c units %c%c %c%c line 1000 %d\n", c, 39, 39, 39, 39, 39, 39, 39, 39, every
        for (d = 0; d < 100; d++) printf "DIMENSION d%03d %c%c absolute 1 1\n", d, 39, 39
    }
    fflush()
    for (n = 0; ; n++) {
        for (c = 0; c < 20; c++) {
            printf "BEGIN test.m%02d\n", c
            for (d = 0; d < 100; d++) printf "SET d%03d = %d\n", d, n * 100000 + c * 100 + d
            printf "END\n"
        }
        fflush()
        system("sleep 1")
    }
}'
"#;

/// SIGTERM while a receiver reads slower than the export: the last attempt stops at a line
/// boundary, so the stream the receiver gets ends with a newline and every line in it is
/// whole. It used to end mid-line (`…d6115 6115.000` then end of stream).
#[test]
fn sigterm_against_a_slow_receiver_ends_the_stream_at_a_line_boundary() {
    let r = Receiver::start(Behaviour::Rate(30_000));
    let mut agent = Rrdpipe::start(
        &conf(&format!("tcp:{}", r.addr), "    buffer on failures = 1000\n"),
        &[("many", MANY_PLUGIN)],
    );
    // The receiver falls behind: attempts time out with data still queued.
    agent.wait_log("is slow", 40);
    assert!(support::wait_until(support::deadline_in(20), || r.bytes() > 60_000), "{}", agent.log());
    let status = agent.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", agent.log());
    // What the kernel still holds reaches the receiver; read it at full speed to the end.
    r.hurry.store(true, Ordering::Relaxed);
    let ended =
        support::wait_until(support::deadline_in(60), || r.take().iter().all(|(_, end)| *end != End::Open));
    let conns = r.take();
    let log = agent.log();
    eprintln!(
        "received {} bytes on {} connections",
        conns.iter().map(|c| c.0.len()).sum::<usize>(),
        conns.len()
    );
    assert!(
        ended,
        "a stream did not end within 60 s of the exit: {:?}",
        conns.iter().map(|c| c.1).collect::<Vec<_>>()
    );
    assert!(log.contains("one last attempt"), "{log}");
    for (i, (data, end)) in conns.iter().enumerate() {
        assert_eq!(*end, End::Eof, "connection {i} was reset\n{log}");
        let tail = String::from_utf8_lossy(&data[data.len().saturating_sub(80)..]).into_owned();
        assert_eq!(
            data.last(),
            Some(&b'\n'),
            "connection {i} ({} bytes) ends inside a line: …{tail:?}\n{log}",
            data.len()
        );
        assert_whole_graphite_lines(data, &format!("connection {i}"));
    }
    assert!(conns.iter().map(|c| c.0.len()).sum::<usize>() > 60_000);
}

/// Lines received, by `NAME TIMESTAMP`, and how many times each.
fn copies(conns: &[(Vec<u8>, End)]) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for (data, _) in conns {
        let end = data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        for line in String::from_utf8_lossy(&data[..end]).lines() {
            let f: Vec<&str> = line.split(' ').collect();
            *m.entry(format!("{} {}", f[0], f.get(2).unwrap_or(&""))).or_insert(0) += 1;
        }
    }
    m
}

/// Run rrdpipe for 16 s against a receiver that ends every connection at once; returns the
/// receiver's connections and rrdpipe's log.
fn against_a_closing_receiver(behaviour: Behaviour) -> (Vec<(Vec<u8>, End)>, String) {
    let r = Receiver::start(behaviour);
    let agent = Rrdpipe::start(&conf(&format!("tcp:{}", r.addr), ""), &[("values", CONSTANT_PLUGIN)]);
    assert!(support::wait_until(support::deadline_in(20), || r.connections() > 0), "{}", agent.log());
    std::thread::sleep(Duration::from_secs(16));
    (r.take(), agent.log())
}

/// Log lines about the receiver closing the connection.
fn closed_lines(log: &str) -> usize {
    log.lines().filter(|l| l.contains("closed the connection")).count()
}

/// A receiver that shuts down its sending side on every connection (and reads on): each close
/// is a failure like any other, so reconnects back off (1, 2, 4, 8 … intervals) and the log
/// says it once, and each line is sent again only within the replay window of its first write.
/// It used to reconnect every interval, log every interval and replay each time (10×
/// duplicates).
#[test]
fn a_half_closing_receiver_gets_backoff_one_log_line_and_bounded_replays() {
    let (conns, log) = against_a_closing_receiver(Behaviour::HalfClose);
    // 16 s: connects at about 0, 2, 5 and 10 s (jitter ±25 %); every interval would be 16.
    assert!((2..=6).contains(&conns.len()), "{} connections in 16 s\n{log}", conns.len());
    assert_eq!(closed_lines(&log), 1, "{log}");
    let c = copies(&conns);
    let a: Vec<usize> =
        c.iter().filter(|(k, _)| k.starts_with("netdata.testhost.test.values.a ")).map(|(_, n)| *n).collect();
    assert!(a.len() >= 5, "too few distinct lines: {a:?}\n{log}");
    // The replay window (10 s here) counts from a line's first write: a line goes again only
    // after the failures inside it, 3 (4 at the far end of the jitter), so at most 5 copies,
    // not one per interval.
    let most = c.values().copied().max().unwrap_or(0);
    eprintln!("{} connections in 16 s; each line arrived at most {most} times", conns.len());
    assert!(most <= 5, "a line arrived {most} times\n{log}");
    for (i, (data, _)) in conns.iter().enumerate() {
        assert_whole_graphite_lines(data, &format!("connection {i}"));
    }
}

/// A receiver that closes every connection at once: the same backoff and a single log line.
#[test]
fn a_receiver_closing_every_connection_gets_backoff_and_one_log_line() {
    let (conns, log) = against_a_closing_receiver(Behaviour::Close);
    assert!((2..=6).contains(&conns.len()), "{} connections in 16 s\n{log}", conns.len());
    let failures =
        log.lines().filter(|l| l.contains("exporter{instance=backend}") && l.contains("ERROR")).count();
    assert_eq!(failures, 1, "{log}");
}
