//! Real servers for integration tests: VictoriaMetrics, carbon-cache and
//! Prometheus, each started on 127.0.0.1 on free ports in its own temp dir and
//! killed (and waited for) when dropped, plus the small network helpers the
//! tests need to feed them and read back exactly what they stored.
//!
//! This module knows how to run and query the servers; it knows nothing about
//! rrdpipe's internals (tests reach the agent only through its binary,
//! [`rrdpipe_bin`]).
//!
//! A missing server binary never makes a test pass silently under CI: the
//! `start()` functions return `None` after printing `SKIPPED: ...` only when
//! `CI` is unset (or `0`/`false`); with `CI=true` they panic. Use them as
//! `let Some(vm) = VictoriaMetrics::start() else { return };`.
//!
//! Each server runs with `PR_SET_PDEATHSIG`, so it is killed if the thread
//! that started it dies without dropping it (e.g. the test binary is killed).
//! Consequently a server must be owned by the test that started it: do not
//! share one across tests through a static.
//!
//! Server output goes to `<name>.log` in the server's temp dir; its last lines
//! are printed when a start fails and when a server is dropped during a panic.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

pub mod agent;
pub mod browser;
pub mod fault;
pub mod faults_table;
pub mod firefox;
pub mod netdata;

/// How long a server may take to become ready before the start fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long read-back helpers poll before giving up.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts to start a server when it dies at startup (e.g. a port that was
/// free when picked got taken by a parallel test).
const START_ATTEMPTS: usize = 3;

// ---------------------------------------------------------------------------
// Skipping and CI

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn is_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !matches!(v.trim(), "" | "0" | "false" | "False" | "FALSE"),
        Err(_) => false,
    }
}

/// Reports that a test cannot run because `why`. Under CI this panics (the
/// test fails); otherwise it prints `SKIPPED: <why>` straight to stderr, past
/// the test harness's output capture, so the skip is visible even when the
/// test passes.
pub fn skip(why: &str) {
    let test = std::thread::current().name().map(|n| format!("{n}: ")).unwrap_or_default();
    let why = format!("{test}{why}");
    if is_ci() {
        panic!("{why} (CI is set, so this fails instead of skipping; run scripts/test-deps.sh to install the test servers)");
    }
    let _ =
        writeln!(std::io::stderr(), "SKIPPED: {why} (run scripts/test-deps.sh to install the test servers)");
}

/// Finds `binary` on `PATH` (and the sbin directories, which root's `PATH`
/// may lack). When missing, calls [`skip`] and returns `None`.
pub fn require(binary: &str) -> Option<PathBuf> {
    match which(binary) {
        Some(p) => Some(p),
        None => {
            skip(&format!("`{binary}` not found on PATH"));
            None
        }
    }
}

/// Finds `binary` on `PATH` or in the usual sbin directories.
pub fn which(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// The rrdpipe binary under test: `$RRDPIPE_BIN` if set, else the one cargo
/// built for this test run.
pub fn rrdpipe_bin() -> PathBuf {
    match std::env::var_os("RRDPIPE_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_rrdpipe")),
    }
}

// ---------------------------------------------------------------------------
// Time, ports, waiting

/// The instant `secs` seconds from now, for the `deadline` arguments.
pub fn deadline_in(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// Wall-clock seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock before 1970").as_secs() as i64
}

/// A TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Polls `f` every 20 ms until it returns true (→ true) or `deadline` passes
/// (→ false). `f` is always called at least once.
pub fn wait_until(deadline: Instant, mut f: impl FnMut() -> bool) -> bool {
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a TCP connection to `addr` succeeds; false if `deadline` passes.
pub fn wait_for_tcp(addr: SocketAddr, deadline: Instant) -> bool {
    wait_until(deadline, || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
}

/// Connects to `addr`, writes all of `bytes`, and closes the connection
/// cleanly (write side shut down, then waits for the peer to close).
pub fn send_tcp(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.write_all(bytes).unwrap_or_else(|e| panic!("write to {addr}: {e}"));
    s.shutdown(std::net::Shutdown::Write).unwrap_or_else(|e| panic!("shutdown write to {addr}: {e}"));
    // Wait (briefly) for the server to close its side, so the data has been
    // read by the time we return.
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 256];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1 client (plain TCP, one request per connection)

/// A response from [`http_get`] / [`http_post`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// `GET path_and_query` from `addr`. Panics on connection errors.
pub fn http_get(addr: SocketAddr, path_and_query: &str) -> HttpResponse {
    http_request(addr, "GET", path_and_query, &[], &[])
}

/// `POST path` to `addr` with `body` and the given extra headers (e.g.
/// `("Content-Type", "application/json")`). Panics on connection errors.
pub fn http_post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_request(addr, "POST", path, headers, body)
}

/// One HTTP/1.1 request with `Connection: close`; reads the whole response.
/// Panics on connection errors.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_http_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// Like [`http_request`], but returns connection errors.
pub fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| format!("set timeout: {e}"))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    s.write_all(&out).map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read response: {e}"))?;
    parse_http_response(&raw).map_err(|e| format!("bad response ({e}): {:?}", String::from_utf8_lossy(&raw)))
}

fn parse_http_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(rest)? } else { rest.to_vec() };
    Ok(HttpResponse { status, headers, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunk size")?;
        let size_str = std::str::from_utf8(&rest[..line_end]).map_err(|e| e.to_string())?;
        let size_hex = size_str.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_hex, 16).map_err(|e| format!("bad chunk size {size_str:?}: {e}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Percent-encodes `s` for use as a query-string value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A child process with a temp dir and a log file

/// A started server process: its temp dir, its log, and the child to kill.
pub struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
    // Dropped after `Drop::drop` has killed the child.
    dir: TempDir,
}

impl Server {
    /// Spawns `cmd` with stdout and stderr written to `<dir>/<name>.log`.
    fn spawn(name: &'static str, cmd: Command, dir: TempDir) -> Server {
        let log = dir.path().join(format!("{name}.log"));
        let child = spawn_logged(name, cmd, dir.path(), &log, false);
        Server { name, child, log, dir }
    }

    /// Stops the process with SIGTERM, as a service manager would, and waits for it to exit;
    /// after `grace` it is killed. Returns its exit status.
    fn terminate(&mut self, grace: Duration) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return format!("killed after not stopping within {grace:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `cmd` in place of the process, which must have exited: same dir, same log
    /// (appended to).
    fn respawn(&mut self, cmd: Command) {
        assert!(self.exited().is_some(), "{}: respawn while the process still runs", self.name);
        self.child = spawn_logged(self.name, cmd, self.dir.path(), &self.log, true);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The full log so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `Some(description)` if the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait: {e}")),
        }
    }

    /// Panics with `msg` and the log tail.
    fn fail(&self, msg: &str) -> ! {
        panic!(
            "{}: {msg}\n--- last lines of {} ---\n{}\n---",
            self.name,
            self.log.display(),
            self.log_tail(40)
        )
    }

    /// Waits until `ready()` holds. `Err(exit status)` if the process exits
    /// first; panics with the log tail if `START_TIMEOUT` passes.
    fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(status);
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.fail(&format!("not ready after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log tail ({}) ---\n{}\n---", self.name, self.log.display(), self.log_tail(40));
        }
    }
}

/// Spawns `cmd` in `dir` with stdout and stderr going to `log` (appended to when `append`),
/// killed with SIGKILL if the thread that started it dies.
fn spawn_logged(name: &str, mut cmd: Command, dir: &Path, log: &Path, append: bool) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log file handle");
    cmd.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).current_dir(dir);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"))
}

/// Runs `attempt` up to `START_ATTEMPTS` times while the server exits during
/// startup (typically a port race); panics with the last log tail otherwise.
fn start_with_retries<T>(name: &str, mut attempt: impl FnMut() -> Result<T, (Server, String)>) -> T {
    let mut last = None;
    for _ in 0..START_ATTEMPTS {
        match attempt() {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
    }
    let (server, status) = last.expect("at least one attempt");
    server.fail(&format!("{name} exited during startup ({status}) {START_ATTEMPTS} times"))
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("create temp dir")
}

// ---------------------------------------------------------------------------
// Stored series, as read back from VictoriaMetrics or Prometheus

/// One stored time series: its labels (including `__name__`) and its samples
/// in timestamp order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// All labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// Sample values, parallel to `timestamps`.
    pub values: Vec<f64>,
    /// Sample timestamps in milliseconds since the epoch, ascending.
    pub timestamps: Vec<i64>,
}

impl Series {
    /// The metric name (`__name__` label), or "" if absent.
    pub fn name(&self) -> &str {
        self.labels.get("__name__").map(String::as_str).unwrap_or("")
    }

    /// `(timestamp_ms, value)` pairs.
    pub fn points(&self) -> Vec<(i64, f64)> {
        self.timestamps.iter().copied().zip(self.values.iter().copied()).collect()
    }
}

/// Total number of samples over `series`.
pub fn point_count(series: &[Series]) -> usize {
    series.iter().map(|s| s.values.len()).sum()
}

/// Parses a JSON sample value: a number, a string ("NaN", "+Inf", "1.5"), or
/// null (NaN).
fn json_f64(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number as f64"),
        Value::String(s) => parse_f64(s),
        Value::Null => f64::NAN,
        other => panic!("not a sample value: {other}"),
    }
}

fn parse_f64(s: &str) -> f64 {
    match s {
        "NaN" | "nan" => f64::NAN,
        "+Inf" | "Inf" | "inf" | "Infinity" => f64::INFINITY,
        "-Inf" | "-inf" | "-Infinity" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|e| panic!("not a number {s:?}: {e}")),
    }
}

fn json_labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap_or_else(|| panic!("labels are not an object: {v}"))
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_else(|| panic!("label {k} is not a string: {v}"));
            (k.clone(), v.to_string())
        })
        .collect()
}

/// Merges series with identical labels and sorts each one's samples by time
/// (stable, so duplicates keep their arrival order).
fn merge_series(parts: impl IntoIterator<Item = Series>) -> Vec<Series> {
    let mut by_labels: BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> = BTreeMap::new();
    for s in parts {
        by_labels.entry(s.labels.clone()).or_default().extend(s.points());
    }
    by_labels
        .into_iter()
        .map(|(labels, mut pts)| {
            pts.sort_by_key(|p| p.0);
            Series {
                labels,
                timestamps: pts.iter().map(|p| p.0).collect(),
                values: pts.iter().map(|p| p.1).collect(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// VictoriaMetrics

/// A single-node VictoriaMetrics with graphite, OpenTSDB telnet and OpenTSDB
/// HTTP listeners.
///
/// Started with `-search.latencyOffset=0s` (fresh points are queryable at
/// once), `-search.disableCache`, a 100-year retention and no deduplication.
/// Its counters for rejected input, read with [`VictoriaMetrics::metric`]:
/// `vm_rows_invalid_total{type="graphite"}`, `{type="opentsdb"}` (telnet
/// `put` lines), `{type="opentsdbhttp"}` (bad objects inside an `/api/put`
/// body), and `vm_protoparser_unmarshal_errors_total{type="opentsdbhttp"}`
/// (an `/api/put` body that is not JSON at all; the request gets a 400).
/// Accepted rows count in `vm_rows_inserted_total{type=...}`. The counters
/// move asynchronously: wait for them with [`VictoriaMetrics::wait_metric`].
pub struct VictoriaMetrics {
    bin: PathBuf,
    server: Server,
    http: SocketAddr,
    graphite: SocketAddr,
    opentsdb: SocketAddr,
    opentsdb_http: SocketAddr,
}

/// The invalid-row counter for graphite lines.
pub const VM_GRAPHITE_INVALID: &str = r#"vm_rows_invalid_total{type="graphite"}"#;
/// The invalid-row counter for OpenTSDB telnet `put` lines.
pub const VM_OPENTSDB_INVALID: &str = r#"vm_rows_invalid_total{type="opentsdb"}"#;
/// The invalid-row counter for objects in OpenTSDB HTTP `/api/put` bodies.
pub const VM_OPENTSDB_HTTP_INVALID: &str = r#"vm_rows_invalid_total{type="opentsdbhttp"}"#;
/// The counter of OpenTSDB HTTP bodies that are not valid JSON.
pub const VM_OPENTSDB_HTTP_UNPARSABLE: &str = r#"vm_protoparser_unmarshal_errors_total{type="opentsdbhttp"}"#;
/// The accepted-row counter for graphite lines.
pub const VM_GRAPHITE_INSERTED: &str = r#"vm_rows_inserted_total{type="graphite"}"#;
/// The accepted-row counter for OpenTSDB telnet `put` lines.
pub const VM_OPENTSDB_INSERTED: &str = r#"vm_rows_inserted_total{type="opentsdb"}"#;
/// The accepted-row counter for OpenTSDB HTTP objects (also those POSTed to
/// the telnet port's `/api/put`).
pub const VM_OPENTSDB_HTTP_INSERTED: &str = r#"vm_rows_inserted_total{type="opentsdbhttp"}"#;

impl VictoriaMetrics {
    /// Starts VictoriaMetrics; `None` (after printing SKIPPED) if the binary
    /// is missing outside CI. Panics if it does not start.
    pub fn start() -> Option<Self> {
        let bin = require("victoria-metrics")?;
        Some(start_with_retries("victoria-metrics", || {
            let dir = temp_dir("vm-");
            let (http, graphite, opentsdb, opentsdb_http) =
                (local(free_port()), local(free_port()), local(free_port()), local(free_port()));
            let cmd = vm_command(&bin, dir.path(), [http, graphite, opentsdb, opentsdb_http]);
            let mut server = Server::spawn("victoria-metrics", cmd, dir);
            match server.wait_ready(|| vm_healthy(http)) {
                Ok(()) => {
                    Ok(VictoriaMetrics { bin: bin.clone(), server, http, graphite, opentsdb, opentsdb_http })
                }
                Err(status) => Err((server, status)),
            }
        }))
    }

    /// Stops VictoriaMetrics gracefully (SIGTERM: it closes its listeners and connections and
    /// flushes what it ingested to disk) and starts it again on the same ports and data
    /// directory, waiting until it serves again. Its own counters ([`metric`](Self::metric))
    /// start again from zero; its log continues in the same file. Panics if it does not come
    /// back.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Stops VictoriaMetrics gracefully (SIGTERM) and waits for it to exit; panics if it does
    /// not exit cleanly within 30 s. [`start_again`](Self::start_again) brings it back.
    pub fn stop(&mut self) {
        let status = self.server.terminate(Duration::from_secs(30));
        if !status.contains("exit status: 0") {
            self.server.fail(&format!("stopping: {status}"));
        }
    }

    /// Starts VictoriaMetrics again after [`stop`](Self::stop), on the same ports and data
    /// directory, and waits until it serves; panics if it does not.
    pub fn start_again(&mut self) {
        let addrs = [self.http, self.graphite, self.opentsdb, self.opentsdb_http];
        self.server.respawn(vm_command(&self.bin, self.server.dir(), addrs));
        let http = self.http;
        if let Err(status) = self.server.wait_ready(|| vm_healthy(http)) {
            self.server.fail(&format!("exited while starting again ({status})"));
        }
    }

    /// The graphite plaintext (TCP) listener.
    pub fn graphite_addr(&self) -> SocketAddr {
        self.graphite
    }

    /// The OpenTSDB telnet `put` (TCP) listener; it also serves `/api/put`.
    pub fn opentsdb_addr(&self) -> SocketAddr {
        self.opentsdb
    }

    /// The OpenTSDB HTTP listener (`POST /api/put`).
    pub fn opentsdb_http_addr(&self) -> SocketAddr {
        self.opentsdb_http
    }

    /// The HTTP API: `/api/v1/write` (remote write), `/api/v1/export`,
    /// `/api/v1/query`, `/metrics`.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The process's temp dir, logs and data.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Makes every row ingested so far visible to queries
    /// (`/internal/force_flush`).
    pub fn flush(&self) {
        let r = http_get(self.http, "/internal/force_flush");
        if r.status != 200 {
            self.server.fail(&format!("force_flush: HTTP {}: {}", r.status, r.text()));
        }
    }

    /// Flushes, then returns every series matching the selector `matcher`
    /// (e.g. `a.b.c` or `{__name__=~"netdata\\..*"}`) with all its samples.
    pub fn export(&self, matcher: &str) -> Vec<Series> {
        self.flush();
        let r = http_get(self.http, &format!("/api/v1/export?match[]={}", urlencode(matcher)));
        if r.status != 200 {
            self.server.fail(&format!("export {matcher}: HTTP {}: {}", r.status, r.text()));
        }
        let parts = r
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line}"));
                Series {
                    labels: json_labels(&v["metric"]),
                    values: v["values"].as_array().expect("values array").iter().map(json_f64).collect(),
                    timestamps: v["timestamps"]
                        .as_array()
                        .expect("timestamps array")
                        .iter()
                        .map(|t| t.as_i64().expect("integer timestamp"))
                        .collect(),
                }
            })
            .collect::<Vec<_>>();
        merge_series(parts)
    }

    /// Polls [`export`](Self::export) until the matching series hold at least
    /// `min_points` samples in total; panics with what it got after 20 s.
    pub fn export_wait(&self, matcher: &str, min_points: usize) -> Vec<Series> {
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        loop {
            let got = self.export(matcher);
            if point_count(&got) >= min_points {
                return got;
            }
            if Instant::now() >= deadline {
                self.server.fail(&format!(
                    "export {matcher}: wanted at least {min_points} samples, got {} after {READ_BACK_TIMEOUT:?}: {got:?}",
                    point_count(&got)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /api/v1/query?query=...&time=...` (time in seconds); returns the
    /// `data` object after checking `status` is `success`.
    ///
    /// A series created in the last second or two may be missing here while
    /// [`export`](Self::export) already shows it (queries search a per-day
    /// index that is filled asynchronously); prefer `export` to read back.
    pub fn query(&self, promql: &str, time: f64) -> Value {
        let r = http_get(self.http, &format!("/api/v1/query?query={}&time={time}", urlencode(promql)));
        let v = r.json();
        if v["status"] != "success" {
            self.server.fail(&format!("query {promql}: {}", r.text()));
        }
        v["data"].clone()
    }

    /// All of VictoriaMetrics's own metrics from `/metrics`, keyed by series
    /// (name plus labels, with no spaces outside quoted values).
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let r = http_get(self.http, "/metrics");
        if r.status != 200 {
            self.server.fail(&format!("/metrics: HTTP {}: {}", r.status, r.text()));
        }
        parse_prometheus_text(&r.text())
    }

    /// One of VictoriaMetrics's own metrics, e.g. [`VM_GRAPHITE_INVALID`].
    /// Spaces after commas in the label list do not matter. Panics if the
    /// series does not exist (VictoriaMetrics lists its ingestion counters
    /// from startup, at 0).
    pub fn metric(&self, name: &str) -> f64 {
        let key = normalize_series_key(name);
        let all = self.metrics();
        match all.get(&key) {
            Some(v) => *v,
            None => {
                let base = key.split('{').next().unwrap_or(&key);
                let similar: Vec<&String> = all.keys().filter(|k| k.starts_with(base)).collect();
                panic!("no metric {key} in VictoriaMetrics /metrics; series with that name: {similar:?}")
            }
        }
    }

    /// Polls [`metric`](Self::metric) until it is at least `at_least`; returns
    /// its value then. Panics with the last value after 20 s.
    pub fn wait_metric(&self, name: &str, at_least: f64) -> f64 {
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        loop {
            let v = self.metric(name);
            if v >= at_least {
                return v;
            }
            if Instant::now() >= deadline {
                self.server.fail(&format!(
                    "{name} stayed at {v}, wanted at least {at_least} within {READ_BACK_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The VictoriaMetrics command line: data under `dir/data`, listeners on `[http, graphite,
/// opentsdb, opentsdb_http]`.
fn vm_command(bin: &Path, dir: &Path, [http, graphite, opentsdb, opentsdb_http]: [SocketAddr; 4]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg(format!("-storageDataPath={}", dir.join("data").display()))
        .arg(format!("-httpListenAddr={http}"))
        .arg(format!("-graphiteListenAddr={graphite}"))
        .arg(format!("-opentsdbListenAddr={opentsdb}"))
        .arg(format!("-opentsdbHTTPListenAddr={opentsdb_http}"))
        .arg("-retentionPeriod=100y")
        .arg("-search.disableCache")
        .arg("-search.latencyOffset=0s")
        .arg("-loggerLevel=INFO");
    cmd
}

/// Whether VictoriaMetrics answers `/health`. (The ingestion listeners are up before the HTTP
/// server starts; probing them would log a spurious read error.)
fn vm_healthy(http: SocketAddr) -> bool {
    try_http_request(http, "GET", "/health", &[], &[]).map(|r| r.status) == Ok(200)
}

/// Parses the Prometheus text format into series key → value; keys are
/// normalized by [`normalize_series_key`]. Comment lines are skipped.
pub fn parse_prometheus_text(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.trim_end().rsplit_once(' ')?;
            Some((normalize_series_key(key), parse_f64(value)))
        })
        .collect()
}

/// Removes whitespace outside double-quoted label values, so
/// `m{a="x", b="y"}` and `m{a="x",b="y"}` compare equal.
pub fn normalize_series_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in key.chars() {
        if quoted {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// carbon-cache

/// A carbon-cache (graphite-carbon) in the foreground, writing whisper files
/// with a 1-second resolution (`retentions = 1s:1d`) for every metric.
///
/// The line receiver is on [`Carbon::line_addr`]; pickle and cache-query
/// listeners get free ports too. Whisper files are created sparse, without
/// create or update rate limits, and carbon's own `carbon.*` metrics are off.
/// Carbon silently drops NaN values and logs (and drops) lines it cannot
/// parse; [`Carbon::invalid_lines`] counts those log entries. Whisper keeps
/// one value per second per metric: the last write to a second wins.
pub struct Carbon {
    server: Server,
    python: PathBuf,
    line: SocketAddr,
    pickle: SocketAddr,
    whisper_dir: PathBuf,
}

impl Carbon {
    /// Starts carbon-cache; `None` (after printing SKIPPED) if carbon-cache or
    /// python3's whisper module is missing outside CI. Panics if it does not
    /// start.
    pub fn start() -> Option<Self> {
        let bin = require("carbon-cache")?;
        // Read whisper files with carbon's own interpreter: a `python3` found
        // first on PATH (a virtualenv, pyenv) may lack the whisper module.
        let python = match carbon_python(&bin) {
            Some(p) => p,
            None => require("python3")?,
        };
        let has_whisper = Command::new(&python)
            .args(["-c", "import whisper"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !has_whisper {
            skip(&format!(
                "{} cannot import the `whisper` module (package python3-whisper)",
                python.display()
            ));
            return None;
        }
        Some(start_with_retries("carbon-cache", || {
            let dir = temp_dir("carbon-");
            let root = dir.path().to_path_buf();
            let storage = root.join("storage");
            let whisper_dir = storage.join("whisper");
            let (line, pickle, query) = (free_port(), free_port(), free_port());
            let conf = format!(
                "[cache]\n\
                 STORAGE_DIR = {storage}/\n\
                 LOCAL_DATA_DIR = {whisper}/\n\
                 WHISPER_DIR = {whisper}/\n\
                 LOG_DIR = {storage}/log/\n\
                 PID_DIR = {storage}/\n\
                 DATABASE = whisper\n\
                 ENABLE_LOGROTATION = False\n\
                 USER =\n\
                 MAX_CACHE_SIZE = inf\n\
                 MAX_UPDATES_PER_SECOND = 1000000\n\
                 MAX_CREATES_PER_MINUTE = inf\n\
                 MIN_TIMESTAMP_RESOLUTION = 1\n\
                 LINE_RECEIVER_INTERFACE = 127.0.0.1\n\
                 LINE_RECEIVER_PORT = {line}\n\
                 ENABLE_UDP_LISTENER = False\n\
                 PICKLE_RECEIVER_INTERFACE = 127.0.0.1\n\
                 PICKLE_RECEIVER_PORT = {pickle}\n\
                 CACHE_QUERY_INTERFACE = 127.0.0.1\n\
                 CACHE_QUERY_PORT = {query}\n\
                 USE_FLOW_CONTROL = True\n\
                 LOG_UPDATES = False\n\
                 LOG_CREATES = True\n\
                 LOG_LISTENER_CONN_SUCCESS = False\n\
                 CACHE_WRITE_STRATEGY = sorted\n\
                 WHISPER_AUTOFLUSH = True\n\
                 WHISPER_SPARSE_CREATE = True\n\
                 WHISPER_FALLOCATE_CREATE = False\n\
                 ENABLE_TAGS = False\n\
                 CARBON_METRIC_INTERVAL = 0\n",
                storage = storage.display(),
                whisper = whisper_dir.display(),
            );
            std::fs::write(root.join("carbon.conf"), conf).expect("write carbon.conf");
            std::fs::write(
                root.join("storage-schemas.conf"),
                "[everything]\npattern = .*\nretentions = 1s:1d\n",
            )
            .expect("write storage-schemas.conf");
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--config={}", root.join("carbon.conf").display()))
                .arg(format!("--pidfile={}", root.join("carbon-cache.pid").display()))
                .args(["--debug", "start"])
                // Log lines reach the log file at once (counted by
                // `invalid_lines`, shown on failures).
                .env("PYTHONUNBUFFERED", "1");
            let mut server = Server::spawn("carbon-cache", cmd, dir);
            let line = local(line);
            let pickle = local(pickle);
            let ready = server.wait_ready(|| {
                [line, pickle]
                    .iter()
                    .all(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
            });
            match ready {
                Ok(()) => Ok(Carbon {
                    server,
                    python: python.clone(),
                    line,
                    pickle,
                    whisper_dir: whisper_dir.clone(),
                }),
                Err(status) => Err((server, status)),
            }
        }))
    }

    /// The plaintext line receiver (`path value timestamp\n`).
    pub fn line_addr(&self) -> SocketAddr {
        self.line
    }

    /// The pickle receiver.
    pub fn pickle_addr(&self) -> SocketAddr {
        self.pickle
    }

    /// The process's temp dir and log.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The whisper file for a dotted metric path (`a.b.c` → `a/b/c.wsp`).
    pub fn whisper_file(&self, path: &str) -> PathBuf {
        let mut p = self.whisper_dir.clone();
        for part in path.split('.') {
            p.push(part);
        }
        p.set_extension("wsp");
        p
    }

    /// How many "invalid line received" entries carbon has logged.
    pub fn invalid_lines(&self) -> usize {
        self.server.log().lines().filter(|l| l.contains("invalid line received")).count()
    }

    /// Every whisper file carbon has created, as dotted metric paths, sorted.
    pub fn metric_paths(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                if path.is_dir() {
                    walk(&path, &format!("{prefix}{name}."), out);
                } else if let Some(stem) = name.strip_suffix(".wsp") {
                    out.push(format!("{prefix}{stem}"));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.whisper_dir, "", &mut out);
        out.sort();
        out
    }

    /// Reads the whisper file of `path` once: one `(timestamp_s, value)` per
    /// second from `from` to `until`, both inclusive (whisper clips `until`
    /// to now and `from` to the 1-day retention). Empty if the file does not
    /// exist yet.
    pub fn read_whisper(&self, path: &str, from: i64, until: i64) -> Vec<(i64, Option<f64>)> {
        let file = self.whisper_file(path);
        if !file.exists() {
            return Vec::new();
        }
        // whisper.fetch's `from` is exclusive; ask from one second earlier.
        // Non-finite values travel as strings (JSON has no NaN/Infinity).
        const SCRIPT: &str = "\
import json, math, sys, whisper
r = whisper.fetch(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
out = []
if r is not None:
    (start, end, step), vals = r
    for i, v in enumerate(vals):
        if v is not None and not math.isfinite(v):
            v = repr(v)
        out.append([start + i * step, v])
print(json.dumps(out))
";
        let out = Command::new(&self.python)
            .args(["-c", SCRIPT])
            .arg(&file)
            .arg((from - 1).to_string())
            .arg(until.to_string())
            .output()
            .unwrap_or_else(|e| panic!("run python3 to read {}: {e}", file.display()));
        if !out.status.success() {
            self.server.fail(&format!(
                "reading {} failed ({}): {}",
                file.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("whisper fetch output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        });
        v.as_array()
            .expect("array of points")
            .iter()
            .map(|p| {
                let t = p[0].as_i64().expect("integer timestamp");
                let v = match &p[1] {
                    Value::Null => None,
                    Value::String(s) => Some(match s.as_str() {
                        "nan" => f64::NAN,
                        "inf" => f64::INFINITY,
                        "-inf" => f64::NEG_INFINITY,
                        other => panic!("unexpected whisper value {other:?}"),
                    }),
                    n => Some(n.as_f64().expect("number")),
                };
                (t, v)
            })
            .filter(|(t, _)| (from..=until).contains(t))
            .collect()
    }

    /// Waits until the whisper file of `path` exists and holds at least one
    /// value between `from` and `until` (inclusive), then returns the points
    /// as [`read_whisper`](Self::read_whisper) does. Panics after 20 s.
    pub fn fetch(&self, path: &str, from: i64, until: i64) -> Vec<(i64, Option<f64>)> {
        self.fetch_wait(path, from, until, 1)
    }

    /// Like [`fetch`](Self::fetch), but waits until at least `min_values`
    /// seconds in the range hold a value.
    pub fn fetch_wait(
        &self,
        path: &str,
        from: i64,
        until: i64,
        min_values: usize,
    ) -> Vec<(i64, Option<f64>)> {
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        loop {
            let got = self.read_whisper(path, from, until);
            let n = got.iter().filter(|(_, v)| v.is_some()).count();
            if n >= min_values {
                return got;
            }
            if Instant::now() >= deadline {
                self.server.fail(&format!(
                    "{path} ({}): wanted at least {min_values} values in {from}..={until}, got {n} after {READ_BACK_TIMEOUT:?}; metrics created: {:?}",
                    self.whisper_file(path).display(),
                    self.metric_paths()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Only the seconds holding a value, from [`fetch_wait`](Self::fetch_wait).
    pub fn values_wait(&self, path: &str, from: i64, until: i64, min_values: usize) -> Vec<(i64, f64)> {
        self.fetch_wait(path, from, until, min_values)
            .into_iter()
            .filter_map(|(t, v)| v.map(|v| (t, v)))
            .collect()
    }
}

/// The interpreter named on the `#!` line of the carbon-cache script, if it
/// is an absolute path to an executable (`#! /usr/bin/python3` on Debian).
fn carbon_python(carbon_cache: &Path) -> Option<PathBuf> {
    let text = std::fs::read(carbon_cache).ok()?;
    let first = text.split(|&b| b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?.strip_prefix("#!")?.trim();
    let mut words = first.split_whitespace();
    let interp = PathBuf::from(words.next()?);
    // `#!/usr/bin/env python3` names the interpreter in the next word.
    let interp = if interp.ends_with("env") { which(words.next()?)? } else { interp };
    (interp.is_absolute() && is_executable(&interp)).then_some(interp)
}

// ---------------------------------------------------------------------------
// Prometheus

/// A Prometheus with the remote-write receiver on (`POST /api/v1/write`), no
/// scrape targets, and its TSDB in a temp dir. Optionally serves HTTPS (then
/// its HTTP API is reached through the `curl` command).
pub struct Prometheus {
    server: Server,
    addr: SocketAddr,
    tls: bool,
}

impl Prometheus {
    /// Starts Prometheus over plain HTTP; `None` (after printing SKIPPED) if
    /// the binary is missing outside CI. Panics if it does not start.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Starts Prometheus serving HTTPS with the given PEM certificate and key
    /// files. Needs `curl` for its own queries.
    pub fn start_tls(cert_pem: &Path, key_pem: &Path) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    /// Starts Prometheus, with TLS when `tls` is `Some((cert_pem, key_pem))`.
    pub fn start_with(tls: Option<(&Path, &Path)>) -> Option<Self> {
        Self::start_configured(tls, "scrape_configs: []\n")
    }

    /// Starts Prometheus over plain HTTP scraping what `scrape_configs` (the YAML of the
    /// `scrape_configs:` key, that key included) lists.
    pub fn start_scraping(scrape_configs: &str) -> Option<Self> {
        Self::start_configured(None, scrape_configs)
    }

    fn start_configured(tls: Option<(&Path, &Path)>, scrape_configs: &str) -> Option<Self> {
        let bin = require("prometheus")?;
        if tls.is_some() {
            require("curl")?;
        }
        Some(start_with_retries("prometheus", || {
            let dir = temp_dir("prometheus-");
            let root = dir.path().to_path_buf();
            let addr = local(free_port());
            std::fs::write(
                root.join("prometheus.yml"),
                format!("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n{scrape_configs}"),
            )
            .expect("write prometheus.yml");
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--config.file={}", root.join("prometheus.yml").display()))
                .arg(format!("--storage.tsdb.path={}", root.join("data").display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--web.enable-remote-write-receiver")
                .arg("--storage.tsdb.retention.time=100y");
            if let Some((cert, key)) = tls {
                std::fs::write(
                    root.join("web.yml"),
                    format!(
                        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                        cert.display(),
                        key.display()
                    ),
                )
                .expect("write web.yml");
                cmd.arg(format!("--web.config.file={}", root.join("web.yml").display()));
            }
            let mut server = Server::spawn("prometheus", cmd, dir);
            let tls = tls.is_some();
            let ready =
                server.wait_ready(|| get_maybe_tls(tls, addr, "/-/ready").map(|r| r.status) == Some(200));
            match ready {
                Ok(()) => Ok(Prometheus { server, addr, tls }),
                Err(status) => Err((server, status)),
            }
        }))
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True when serving HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `http://addr` or `https://addr`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The remote-write endpoint URL.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// The process's temp dir and log.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// `GET path_and_query` (over HTTPS via curl when TLS is on).
    pub fn get(&self, path_and_query: &str) -> HttpResponse {
        get_maybe_tls(self.tls, self.addr, path_and_query)
            .unwrap_or_else(|| self.server.fail(&format!("GET {}{path_and_query} failed", self.base_url())))
    }

    fn api(&self, path_and_query: &str) -> Value {
        let r = self.get(path_and_query);
        let v = r.json();
        if v["status"] != "success" {
            self.server.fail(&format!("GET {path_and_query}: HTTP {}: {}", r.status, r.text()));
        }
        v["data"].clone()
    }

    /// Instant query at `time` (seconds); returns the `data` object
    /// (`resultType`, `result`) after checking the status is `success`.
    pub fn query(&self, promql: &str, time: f64) -> Value {
        self.api(&format!("/api/v1/query?query={}&time={time}", urlencode(promql)))
    }

    /// Range query; returns the `data` object.
    pub fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> Value {
        self.api(&format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            urlencode(promql)
        ))
    }

    /// Label sets of all series matching `matcher` (`/api/v1/series`).
    pub fn series(&self, matcher: &str) -> Vec<BTreeMap<String, String>> {
        let data = self.api(&format!(
            "/api/v1/series?match[]={}&start=0&end={}",
            urlencode(matcher),
            now_secs() + 3600
        ));
        let mut out: Vec<_> = data.as_array().expect("series array").iter().map(json_labels).collect();
        out.sort();
        out
    }

    /// Every raw sample (exact values and millisecond timestamps) of the
    /// series matching `selector` (e.g. `netdata_cpu{chart="x"}` or
    /// `{__name__=~"netdata_.*"}`), from ten years ago to an hour from now.
    /// Stale markers are not included.
    pub fn samples(&self, selector: &str) -> Vec<Series> {
        let data = self.query(&format!("{selector}[3660d]"), (now_secs() + 3600) as f64);
        assert_eq!(data["resultType"], "matrix", "{data}");
        let parts = data["result"]
            .as_array()
            .expect("result array")
            .iter()
            .map(|s| {
                let values = s["values"].as_array().expect("values array");
                Series {
                    labels: json_labels(&s["metric"]),
                    timestamps: values
                        .iter()
                        .map(|p| (p[0].as_f64().expect("timestamp") * 1000.0).round() as i64)
                        .collect(),
                    values: values.iter().map(|p| json_f64(&p[1])).collect(),
                }
            })
            .collect::<Vec<_>>();
        merge_series(parts)
    }

    /// Polls [`samples`](Self::samples) until the matching series hold at
    /// least `min_points` samples in total; panics after 20 s.
    pub fn samples_wait(&self, selector: &str, min_points: usize) -> Vec<Series> {
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        loop {
            let got = self.samples(selector);
            if point_count(&got) >= min_points {
                return got;
            }
            if Instant::now() >= deadline {
                self.server.fail(&format!(
                    "{selector}: wanted at least {min_points} samples, got {} after {READ_BACK_TIMEOUT:?}: {got:?}",
                    point_count(&got)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One of Prometheus's own metrics from `/metrics` (e.g.
    /// `prometheus_tsdb_head_samples_appended_total{type="float"}`); `None`
    /// if absent.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.get("/metrics").text();
        parse_prometheus_text(&text).get(&normalize_series_key(name)).copied()
    }
}

/// GET over plain HTTP, or over HTTPS through `curl -k` (certificate not
/// verified: the tests' certificates are self-signed). `None` on failure.
fn get_maybe_tls(tls: bool, addr: SocketAddr, path_and_query: &str) -> Option<HttpResponse> {
    if !tls {
        return try_http_request(addr, "GET", path_and_query, &[], &[]).ok();
    }
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"])
        .arg(format!("https://{addr}{path_and_query}"))
        .output()
        .ok()?;
    let text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n')?;
    let status: u16 = std::str::from_utf8(&text[split + 1..]).ok()?.trim().parse().ok()?;
    if status == 0 {
        return None;
    }
    Some(HttpResponse { status, headers: Vec::new(), body: text[..split].to_vec() })
}

/// Writes a self-signed certificate and key for `127.0.0.1`/`localhost` into
/// `dir` with the `openssl` command; returns `(cert_pem, key_pem)`, or `None`
/// (after [`skip`]) if openssl is missing.
pub fn self_signed_cert(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let openssl = require("openssl")?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&out.stderr));
    Some((cert, key))
}
