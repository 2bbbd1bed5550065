//! Capture a netdata child's stream, and replay it from many fake children to measure rrdpipe.
//!
//! ```text
//! # 1. Record what a real child sends (answering it like a parent) for a few seconds:
//! cargo run --release --example stream_replay -- capture --listen 127.0.0.1:29999 \
//!     --seconds 6 --out tests/fixtures/stream/child.txt
//!
//! # 2. Start rrdpipe with an API key, replay the capture from N children, measure its CPU:
//! cargo run --release --example stream_replay -- bench --rrdpipe target/release/rrdpipe \
//!     --fixture tests/fixtures/stream/child.txt --children 1000 --seconds 30 [--compression]
//!
//! # 3. The same over TLS: rrdpipe gets a certificate from a CA made for the run, and every
//! #    child connects with TLS (as with destination = HOST:PORT:SSL) trusting that CA:
//! cargo run --release --example stream_replay -- bench ... --tls [--compression]
//! ```
//!
//! A capture file is the child's `STREAM` request (through its empty line) followed by every
//! byte the child sent after the handshake. The replay splits that into definitions (every
//! CHART and DIMENSION line, in order) and one-second iterations of the other lines (an
//! iteration ends where a chart already collected in it begins again). Each fake child sends the definitions, then one iteration per
//! second, cycling through the capture, with its own hostname (`replay-N`) and machine GUID.
//! Children start spread over one second, as real ones are; they all come from 127.0.0.1, so the
//! per-address limit on connections waiting for their request is raised to their number. The benchmark reads rrdpipe's user
//! and system CPU time from `/proc/PID/stat` over the measured seconds.
//!
//! With `--compression` the children offer compression as a default netdata 1.37 child does
//! (`ver=16376`) and, once it is negotiated, send netdata's lz4 frames: one frame per message a
//! child commits (a chart's definition, a chart's `BEGIN`…`END`), each compressed against the
//! last 64 KiB of the stream. Every child sends the same bytes, so the frames are made once,
//! before the children start. Without it they offer what a child with `enable compression =
//! no` does (`ver=15352`).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rrdpipe::collect::stream::capabilities::{Capabilities, REPLY_V1, REPLY_VN_PREFIX};
use rrdpipe::collect::stream::compression::Encoder;

const KEY: &str = "5eed5eed-0000-4000-8000-000000000001";
/// What a default netdata 1.37 child offers, and the same without compression.
const VER_COMPRESSION: u32 = 16376;
const VER_PLAIN: u32 = 15352;
/// lz4's window: how far back a frame may reach into the stream.
const WINDOW: usize = 64 * 1024;

fn usage() -> ExitCode {
    eprintln!(
        "usage:\n  stream_replay capture --listen ADDR --seconds S --out FILE\n  \
         stream_replay bench --rrdpipe BIN --fixture FILE --children N --seconds S [--warmup S] [--compression] [--tls]"
    );
    ExitCode::from(2)
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("capture") => capture(&args),
        Some("bench") => bench(&args),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream_replay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn find_request_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Accept one child, answer it as a V1 parent, and record its request and stream.
fn capture(args: &[String]) -> Result<(), String> {
    let listen = arg(args, "--listen").ok_or("capture needs --listen ADDR")?;
    let seconds: u64 = arg(args, "--seconds").unwrap_or("6").parse().map_err(|_| "--seconds: a number")?;
    let out = PathBuf::from(arg(args, "--out").ok_or("capture needs --out FILE")?);
    let l = TcpListener::bind(listen).map_err(|e| format!("listen on {listen}: {e}"))?;
    eprintln!("waiting for a child on {listen} ...");
    let (mut s, peer) = l.accept().map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while find_request_end(&data).is_none() {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the child closed before sending its request".into());
        }
        data.extend_from_slice(&buf[..n]);
    }
    s.write_all(REPLY_V1).map_err(|e| e.to_string())?;
    eprintln!("{peer} connected; recording for {seconds} s");
    let end = Instant::now() + Duration::from_secs(seconds);
    s.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    // Keep whole lines only.
    if let Some(last) = data.iter().rposition(|&b| b == b'\n') {
        data.truncate(last + 1);
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&out, &data).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("wrote {} bytes to {}", data.len(), out.display());
    Ok(())
}

/// A capture split for replay.
struct Capture {
    /// The request's first line, without `\r\n`.
    request_line: String,
    definitions: Vec<u8>,
    iterations: Vec<Vec<u8>>,
    lines_per_second: f64,
    /// The same as lz4 frames, when the children compress.
    compressed: Option<Compressed>,
}

/// The capture as the lz4 frames a child sends: the definitions, then cycles through the
/// iterations. A frame reaches 64 KiB back, so the first cycles differ (they reach into the
/// definitions, or into a stream shorter than that); the last one here is what every later
/// cycle is, byte for byte.
struct Compressed {
    definitions: Vec<u8>,
    cycles: Vec<Vec<Vec<u8>>>,
}

impl Compressed {
    /// The frames of iteration `k` since the definitions.
    fn iteration(&self, k: usize) -> &[u8] {
        let n = self.cycles[0].len();
        let cycle = (k / n).min(self.cycles.len() - 1);
        &self.cycles[cycle][k % n]
    }
}

/// `text` cut into the messages a netdata child commits one by one: each starts at a `CHART`
/// or `BEGIN` line and runs to the next one.
fn messages(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if at > start && (line.starts_with(b"CHART ") || line.starts_with(b"BEGIN ")) {
            out.push(&text[start..at]);
            start = at;
        }
        at += line.len();
    }
    if at > start {
        out.push(&text[start..at]);
    }
    out
}

fn compress(definitions: &[u8], iterations: &[Vec<u8>]) -> Compressed {
    let mut enc = Encoder::new();
    let mut frames = |text: &[u8]| {
        let mut out = Vec::new();
        for m in messages(text) {
            enc.frame(m, &mut out);
        }
        out
    };
    let definitions = frames(definitions);
    let cycle_len: usize = iterations.iter().map(Vec::len).sum();
    let cycles = (0..WINDOW / cycle_len.max(1) + 2)
        .map(|_| iterations.iter().map(|it| frames(it)).collect())
        .collect();
    Compressed { definitions, cycles }
}

fn load_capture(path: &Path, compression: bool) -> Result<Capture, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let end = find_request_end(&data).ok_or("the capture does not start with a STREAM request")?;
    let request_line =
        String::from_utf8_lossy(&data[..end]).lines().next().unwrap_or_default().trim_end().to_string();
    let mut definitions = Vec::new();
    let mut iterations: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut begun: HashSet<Vec<u8>> = HashSet::new();
    for line in data[end..].split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"CHART ") || line.starts_with(b"DIMENSION ") {
            definitions.extend_from_slice(line);
            continue;
        }
        let begin = line.strip_prefix(b"BEGIN ");
        if let Some(rest) = begin {
            let id = rest.split(|&b| b == b' ' || b == b'\n').next().unwrap_or_default().to_vec();
            if begun.contains(&id) {
                iterations.push(std::mem::take(&mut current));
                begun.clear();
            }
            begun.insert(id);
        }
        current.extend_from_slice(line);
    }
    // The last iteration may be cut short by the end of the capture: it is dropped.
    if iterations.is_empty() {
        return Err("the capture holds less than two iterations; capture for longer".into());
    }
    let lines: usize = iterations.iter().map(|it| it.iter().filter(|&&b| b == b'\n').count()).sum();
    let lines_per_second = lines as f64 / iterations.len() as f64;
    let compressed = compression.then(|| compress(&definitions, &iterations));
    Ok(Capture { request_line, definitions, iterations, lines_per_second, compressed })
}

/// The captured request line with this child's key, hostname and machine GUID.
fn request_for(c: &Capture, key: &str, i: usize) -> String {
    let (head, tail) = c.request_line.rsplit_once(" HTTP/").unwrap_or((&c.request_line, "1.1"));
    let query = head.strip_prefix("STREAM ").unwrap_or(head);
    let fields: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=').map(|(k, _)| k) {
            Some("key") => format!("key={key}"),
            Some("hostname") | Some("registry_hostname") => {
                format!("{}=replay-{i}", kv.split_once('=').unwrap().0)
            }
            Some("machine_guid") => format!("machine_guid=5eed5eed-0000-4000-8000-{i:012x}"),
            Some("ver") => {
                format!("ver={}", if c.compressed.is_some() { VER_COMPRESSION } else { VER_PLAIN })
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("STREAM {} HTTP/{tail}\r\nUser-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n", fields.join("&"))
}

/// A child's connection: plain TCP, or TLS over it.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// Connect to `addr`, with TLS trusting `tls`'s roots when given.
fn connect(addr: SocketAddr, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Box<dyn Stream>, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    Ok(match tls {
        None => Box::new(s),
        Some(config) => {
            let conn = rustls::ClientConnection::new(config.clone(), "localhost".try_into().unwrap())
                .map_err(|e| e.to_string())?;
            Box::new(rustls::StreamOwned::new(conn, s))
        }
    })
}

/// A CA, and a certificate for `localhost` signed by it, written as `ca.pem`, `cert.pem` and
/// `key.pem` into `dir`; returns a client configuration trusting the CA.
fn make_certificates(dir: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| e.to_string())?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .and_then(|p| p.signed_by(&key, &issuer))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("cert.pem"), cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).map_err(|e| e.to_string())?;
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One fake child: handshake, definitions, then one iteration per second until `stop`.
#[allow(clippy::too_many_arguments)]
fn fake_child(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ClientConfig>>,
    c: &Capture,
    i: usize,
    start: Instant,
    counts: &Counts,
) -> Result<(), String> {
    let Counts { stop, connected, sent, wire: wire_bytes } = counts;
    let mut s = connect(addr, tls).map_err(|e| format!("child {i}: {e}"))?;
    s.write_all(request_for(c, KEY, i).as_bytes()).map_err(|e| e.to_string())?;
    let mut reply = [0u8; 128];
    let n = s.read(&mut reply).map_err(|e| format!("child {i}: no reply: {e}"))?;
    let compressed = match accepted(&reply[..n]) {
        Some(caps) => caps.contains(Capabilities::COMPRESSION),
        None => return Err(format!("child {i}: refused: {}", String::from_utf8_lossy(&reply[..n]))),
    };
    let frames = if compressed { c.compressed.as_ref() } else { None };
    connected.fetch_add(1, Relaxed);
    s.write_all(frames.map_or(&c.definitions, |f| &f.definitions)).map_err(|e| e.to_string())?;
    let mut k = 0usize;
    while !stop.load(Relaxed) {
        let due = start + Duration::from_secs(k as u64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let it = &c.iterations[k % c.iterations.len()];
        let wire = frames.map_or(&it[..], |f| f.iteration(k));
        s.write_all(wire).map_err(|e| format!("child {i}: send: {e}"))?;
        wire_bytes.fetch_add(wire.len() as u64, Relaxed);
        sent.fetch_add(it.iter().filter(|&&b| b == b'\n').count() as u64, Relaxed);
        k += 1;
    }
    Ok(())
}

/// What the children share with the benchmark.
#[derive(Default)]
struct Counts {
    /// Set to stop sending.
    stop: AtomicBool,
    /// Children answered and sending.
    connected: AtomicUsize,
    /// Lines sent.
    sent: AtomicU64,
    /// Bytes sent after the handshakes.
    wire: AtomicU64,
}

/// What an accepting reply settles on; `None` for a refusal.
fn accepted(reply: &[u8]) -> Option<Capabilities> {
    if reply == REPLY_V1 {
        return Some(Capabilities::V1);
    }
    let n = std::str::from_utf8(reply.strip_prefix(REPLY_VN_PREFIX.as_bytes())?).ok()?.parse::<u64>().ok()?;
    Some(Capabilities::from_version(Some(n)))
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    let after = stat.rsplit(')').next().ok_or("bad /proc stat")?;
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; `after` starts at field 3.
    let ticks: u64 =
        f[11].parse::<u64>().map_err(|e| e.to_string())? + f[12].parse::<u64>().map_err(|e| e.to_string())?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 / hz)
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Rrdpipe(Child);

impl Drop for Rrdpipe {
    fn drop(&mut self) {
        // SAFETY: kill with a pid we started and still own.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench(args: &[String]) -> Result<(), String> {
    let bin = PathBuf::from(arg(args, "--rrdpipe").unwrap_or("target/release/rrdpipe"));
    let fixture = PathBuf::from(arg(args, "--fixture").unwrap_or("tests/fixtures/stream/child.txt"));
    let children: usize =
        arg(args, "--children").unwrap_or("100").parse().map_err(|_| "--children: a number")?;
    let seconds: u64 = arg(args, "--seconds").unwrap_or("30").parse().map_err(|_| "--seconds: a number")?;
    let warmup: u64 = arg(args, "--warmup").unwrap_or("5").parse().map_err(|_| "--warmup: a number")?;
    let compression = args.iter().any(|a| a == "--compression");
    let tls = args.iter().any(|a| a == "--tls");
    let capture = Arc::new(load_capture(&fixture, compression)?);
    eprintln!(
        "capture: {} bytes of definitions, {} iterations of {:.0} lines each",
        capture.definitions.len(),
        capture.iterations.len(),
        capture.lines_per_second
    );

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let conf = dir.path().join("rrdpipe.conf");
    let (client_tls, tls_keys) = match tls {
        true => (
            Some(make_certificates(dir.path())?),
            format!("ssl key = {0}/key.pem\nssl certificate = {0}/cert.pem\n", dir.path().display()),
        ),
        false => (None, String::new()),
    };
    std::fs::write(
        &conf,
        format!(
            "[global]\nhostname = bench\nlog level = warn\n[plugins]\nproc = no\nenable running new plugins = no\n\
             [web]\nbind to = 127.0.0.1:{port}\n{tls_keys}max pending requests = {0}\n\
             max pending requests per address = {0}\n[stream]\nmax children = {0}\n[{KEY}]\ntype = api\n\
             enabled = yes\n",
            children + 10
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.path().join("rrdpipe.log")).map_err(|e| e.to_string())?;
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let rrdpipe = Rrdpipe(child);
    let pid = rrdpipe.0.id();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!("rrdpipe did not listen on {addr}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let cpu_before_connects = cpu_seconds(pid)?;
    let counts = Arc::new(Counts::default());
    let Counts { stop, connected, sent, wire } = &*counts;
    let t0 = Instant::now() + Duration::from_secs(1);
    let mut threads = Vec::new();
    for i in 0..children {
        let (c, counts) = (capture.clone(), counts.clone());
        let tls = client_tls.clone();
        // Spread the children over one second, as real ones are.
        let start = t0 + Duration::from_micros((i as u64 * 1_000_000) / children as u64);
        let t = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || fake_child(addr, tls.as_ref(), &c, i, start, &counts))
            .map_err(|e| e.to_string())?;
        threads.push(t);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Relaxed) < children {
        if Instant::now() > deadline || threads.iter().any(|t| t.is_finished()) {
            stop.store(true, Relaxed);
            let errors: Vec<String> =
                threads.into_iter().filter_map(|t| t.join().ok().and_then(Result::err)).take(3).collect();
            let log = std::fs::read_to_string(dir.path().join("rrdpipe.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(format!(
                "only {} of {children} children connected: {errors:?}; rrdpipe's last log lines:\n{}",
                connected.load(Relaxed),
                tail.join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Their definitions follow the handshakes at once: wait until every child sent data, then a second more.
    while sent.load(Relaxed) < children as u64 {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let connecting = cpu_seconds(pid)? - cpu_before_connects;
    eprintln!("{children} children connected; warming up {warmup} s");
    std::thread::sleep(Duration::from_secs(warmup));
    let (cpu0, sent0, wire0, w0) =
        (cpu_seconds(pid)?, sent.load(Relaxed), wire.load(Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, sent1, wire1, wall) =
        (cpu_seconds(pid)?, sent.load(Relaxed), wire.load(Relaxed), w0.elapsed().as_secs_f64());
    let rss = rss_mib(pid);
    stop.store(true, Relaxed);
    let failed = threads.into_iter().filter_map(|t| t.join().ok().and_then(Result::err)).count();
    let cpu = cpu1 - cpu0;
    let lines = (sent1 - sent0) as f64 / wall;
    let per_1000 = cpu / wall / (children as f64 / 1000.0);
    println!(
        "{}children {children}{}, measured {wall:.1} s: rrdpipe used {cpu:.2} CPU-seconds ({:.1}% of one core), \
         {lines:.0} lines/s received in {:.1} MB/s, RSS {rss:.0} MiB\n\
         => {per_1000:.3} CPU-seconds per second of data per 1000 children ({:.2} µs per line); \
         connecting them (handshakes, definitions, their first second of data): {connecting:.2} CPU-seconds",
        if tls { "TLS: " } else { "" },
        if compression { " (lz4)" } else { "" },
        100.0 * cpu / wall,
        (wire1 - wire0) as f64 / wall / 1e6,
        1e6 * cpu / (lines * wall)
    );
    if failed > 0 {
        return Err(format!("{failed} children failed while sending (see above)"));
    }
    Ok(())
}
