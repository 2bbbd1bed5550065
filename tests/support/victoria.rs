//! A real VictoriaMetrics for tests: started on free loopback ports in its own temp dir, fed
//! by the agent, and read back exactly (`/api/v1/export`) or through its own counters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{http_get, try_request, urlencode, Tls};
use super::ports::{free_port, local};
use super::require;
use super::series::{
    json_f64, json_labels, merge_series, normalize_series_key, parse_prometheus_text, Series,
};
use super::server::{start_with_retries, temp_dir, Server, READ_BACK_TIMEOUT};

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
        self.server.read_back_points(&format!("export {matcher}"), min_points, || self.export(matcher))
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
    try_request(Tls::Off, http, "GET", "/health", &[], &[]).map(|r| r.status) == Ok(200)
}
