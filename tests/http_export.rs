//! The HTTP connectors end to end: an agent started in-process from a configuration text, fed
//! known values, exporting to real servers (VictoriaMetrics, Prometheus, over HTTPS with a
//! private CA) and to small local recorders; what the servers store is read back and compared
//! with the store exactly: names, labels, values and timestamps, and counted against the
//! exporters' own counters.

pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rrdpipe::agent::Agent;
use rrdpipe::config::{self, Defaults, Source};
use rrdpipe::export::stats::{Snapshot, Stats};
use rrdpipe::rrd::{Algorithm, ChartDef, Db, DimensionDef};
use rrdpipe::shutdown::Shutdown;
use support::prometheus::Prometheus;
use support::series::{point_count, Series};
use support::victoria::{VictoriaMetrics, VM_OPENTSDB_HTTP_INVALID};
use support::*;

/// The exported hostname.
const HOST: &str = "rrdtest";

/// The charts fed: id and dimensions. Their context is `test.<letter>`, their units `things`.
const CHARTS: &[(&str, &[&str])] = &[("test.a1", &["x", "y"]), ("test.b1", &["x"]), ("test.c1", &["x", "y"])];

/// The host labels every connector must carry.
const LABELS: &[(&str, &str)] = &[("room", "b12"), ("rack", "r1")];

// ---------------------------------------------------------------------------
// Logs

/// Everything the agents of this test binary logged (one subscriber for the process).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Capture(w.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines of exporter `name`: in its span, or naming it.
fn log_lines(name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let tags = [format!("exporter{{instance={name}}}"), format!("exporter '{name}'")];
    text.lines().filter(|l| tags.iter().any(|t| l.contains(t))).map(str::to_string).collect()
}

// ---------------------------------------------------------------------------
// An agent fed with known values

/// The raw value collected for dimension `d` of chart `c` at second `t`.
fn raw(c: usize, d: usize, t: i64) -> i64 {
    (t % 997) * 2 + d as i64 + 1000 * c as i64
}

struct Running {
    agent: Option<Agent>,
    db: Arc<Db>,
    stop: Arc<AtomicBool>,
    feeder: Option<JoinHandle<()>>,
    started: Instant,
    _plugins: tempfile::TempDir,
}

/// Starts an agent with the exporter sections `exporters` and feeds [`CHARTS`] every second.
fn start(exporters: &str) -> Running {
    logs();
    let plugins = tempfile::tempdir().unwrap();
    let labels: String = LABELS.iter().map(|(k, v)| format!("    {k} = {v}\n")).collect();
    let text = format!(
        "[global]\n    hostname = {HOST}\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = {}\n\
         [plugins]\n    proc = no\n\
         [web]\n    mode = none\n\
         [host labels]\n{labels}\n{exporters}",
        plugins.path().display()
    );
    let loaded = config::parse(
        Source { name: "test.conf".into(), text },
        None,
        &Defaults { hostname: HOST.into(), plugins_dir: "/nonexistent".into() },
    )
    .unwrap_or_else(|e| panic!("configuration: {e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let agent = Agent::start(&loaded.config, Shutdown::new()).unwrap_or_else(|e| panic!("start: {e}"));
    let db = agent.db.clone();
    let host = db.localhost();
    let charts: Vec<_> = CHARTS
        .iter()
        .map(|(id, dims)| {
            let mut def = ChartDef::new(id, 1);
            def.context = id[..id.len() - 1].to_string();
            def.units = "things".into();
            let (c, _) = host.define_chart(&def);
            for d in dims.iter() {
                c.add_dimension(&DimensionDef::new(d, Algorithm::Absolute));
            }
            c
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let feeder = std::thread::spawn(move || {
        let mut last = 0;
        while !stopped.load(Ordering::Relaxed) {
            let t = now_secs();
            if t != last {
                last = t;
                for (ci, c) in charts.iter().enumerate() {
                    let values: Vec<(usize, i64)> =
                        (0..CHARTS[ci].1.len()).map(|d| (d, raw(ci, d, t))).collect();
                    c.collect(&values, t as u64 * 1_000_000).unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    Running { agent: Some(agent), db, stop, feeder: Some(feeder), started: Instant::now(), _plugins: plugins }
}

impl Running {
    /// The counters of exporter `name`.
    fn stats(&self, name: &str) -> Arc<Stats> {
        let agent = self.agent.as_ref().expect("running");
        agent
            .exporters
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no exporter {name}"))
            .1
            .stats
            .clone()
    }

    /// Waits until exporter `name` has sent at least `metrics` metrics.
    fn wait_sent(&self, name: &str, metrics: u64, secs: u64) {
        let stats = self.stats(name);
        assert!(
            wait_until(deadline_in(secs), || stats.totals().sent_metrics >= metrics),
            "exporter '{name}' sent {:?} after {:?}; its log: {:#?}",
            stats.totals(),
            self.started.elapsed(),
            log_lines(name)
        );
    }

    /// Stops the agent (senders make their last attempt) and returns every exporter's totals.
    fn stop(&mut self) -> BTreeMap<String, Snapshot> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            f.join().unwrap();
        }
        let agent = self.agent.take().expect("running");
        let stats: Vec<(String, Arc<Stats>)> =
            agent.exporters.iter().map(|(n, h)| (n.clone(), h.stats.clone())).collect();
        agent.stop();
        stats.into_iter().map(|(n, s)| (n, s.totals())).collect()
    }

    /// The average the store holds for dimension `dim` of `chart` over `(end - every, end]`.
    fn average(&self, chart: &str, dim: usize, end: i64, every: i64) -> Option<f64> {
        let c = self.db.localhost().chart(chart)?;
        let d = c.read();
        let (mut sum, mut n) = (0.0, 0);
        d.for_each_value(dim, end - every, end, |_, v| {
            sum += v;
            n += 1;
        });
        (n > 0).then(|| sum / n as f64)
    }

    /// Checks one exported series of `chart`'s dimension `dim`: timestamps (ms) on window ends
    /// `every` seconds apart, with no gap and no repeat, and each value the store's average.
    fn check_points(&self, chart: &str, dim: usize, every: i64, points: &[(i64, f64)]) {
        assert!(!points.is_empty(), "{chart} dim {dim}: no points");
        for (i, &(ts, v)) in points.iter().enumerate() {
            assert_eq!(ts % (every * 1000), 0, "{chart} dim {dim}: {ts} is not a window end");
            if i > 0 {
                assert_eq!(
                    ts - points[i - 1].0,
                    every * 1000,
                    "{chart} dim {dim}: gap or repeat: {points:?}"
                );
            }
            let expected = self.average(chart, dim, ts / 1000, every);
            assert_eq!(Some(v), expected, "{chart} dim {dim} at {ts}: {points:?}");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.agent.is_some() {
            self.stop();
        }
    }
}

fn dim_index(chart: &str, dim: &str) -> usize {
    let (_, dims) = CHARTS.iter().find(|(id, _)| *id == chart).unwrap_or_else(|| panic!("no chart {chart}"));
    dims.iter().position(|d| *d == dim).unwrap_or_else(|| panic!("no dimension {chart}.{dim}"))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().chain(LABELS).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The label sets remote write must produce for the charts whose id starts with `prefix`.
fn remote_write_series(name_prefix: &str, chart_prefix: &str) -> BTreeSet<BTreeMap<String, String>> {
    CHARTS
        .iter()
        .filter(|(id, _)| id.starts_with(chart_prefix))
        .flat_map(|(id, dims)| {
            let context = id[..id.len() - 1].replace('.', "_");
            dims.iter().map(move |d| {
                let name = format!("{name_prefix}_{context}_things_average");
                labels(&[
                    ("__name__", &name),
                    ("chart", id),
                    ("family", "test"),
                    ("dimension", d),
                    ("instance", HOST),
                ])
            })
        })
        .collect()
}

/// Checks remote write series read back from a server against the store.
fn check_remote_write(run: &Running, series: &[Series], every: i64) {
    for s in series {
        let chart = &s.labels["chart"];
        run.check_points(chart, dim_index(chart, &s.labels["dimension"]), every, &s.points());
    }
}

// ---------------------------------------------------------------------------
// Remote write

fn remote_write_section(name: &str, destination: &str, charts: &str) -> String {
    format!(
        "[prometheus_remote_write:{name}]\n    enabled = yes\n    destination = {destination}\n    \
         remote write URL path = /api/v1/write\n    update every = 2\n    send charts matching = {charts}\n"
    )
}

#[test]
fn remote_write_into_victoriametrics_reads_back_exactly() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let mut run = start(&remote_write_section("vm", &vm.http_addr().to_string(), "test.*"));
    run.wait_sent("vm", 5 * 4, 30);
    let totals = run.stop();
    let sent = totals["vm"].sent_metrics as usize;
    let series = vm.export_wait(r#"{__name__=~"netdata_.*"}"#, sent);
    assert_eq!(point_count(&series), sent, "every metric counted as sent is stored, once");
    let got: BTreeSet<_> = series.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(got, remote_write_series("netdata", "test."));
    check_remote_write(&run, &series, 2);
    let t = totals["vm"];
    assert_eq!((t.lost_metrics, t.failures, t.discards), (0, 0, 0));
    assert_eq!(t.writes, t.reads, "one answer read per request");
    assert_eq!(t.reconnects, 1, "one kept-alive connection: {t:?}");
}

#[test]
fn remote_write_into_prometheus_reads_back_exactly() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let mut run = start(&remote_write_section("prom", &prom.addr().to_string(), "test.*"));
    run.wait_sent("prom", 5 * 4, 30);
    let totals = run.stop();
    let sent = totals["prom"].sent_metrics as usize;
    let series = prom.samples_wait(r#"{__name__=~"netdata_.*"}"#, sent);
    assert_eq!(point_count(&series), sent);
    let got: BTreeSet<_> = series.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(got, remote_write_series("netdata", "test."));
    check_remote_write(&run, &series, 2);
    assert_eq!((totals["prom"].lost_metrics, totals["prom"].failures), (0, 0));
}

// ---------------------------------------------------------------------------
// opentsdb:http

#[test]
fn opentsdb_http_into_victoriametrics_reads_back_exactly() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let mut run = start(&format!(
        "[opentsdb:http:tsdb]\n    enabled = yes\n    destination = {}\n    update every = 2\n    \
         send charts matching = test.*\n",
        vm.opentsdb_http_addr()
    ));
    run.wait_sent("tsdb", 5 * 4, 30);
    let totals = run.stop();
    let sent = totals["tsdb"].sent_metrics as usize;
    let series = vm.export_wait(r#"{__name__=~"netdata[.]test[.].*"}"#, sent);
    assert_eq!(point_count(&series), sent);
    let expected: BTreeSet<_> = CHARTS
        .iter()
        .flat_map(|(id, dims)| {
            dims.iter().map(move |d| labels(&[("__name__", &format!("netdata.{id}.{d}")), ("host", HOST)]))
        })
        .collect();
    let got: BTreeSet<_> = series.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(got, expected);
    for s in &series {
        let name = s.name().strip_prefix("netdata.").unwrap();
        let (chart, dim) = name.rsplit_once('.').unwrap();
        run.check_points(chart, dim_index(chart, dim), 2, &s.points());
    }
    assert_eq!(vm.metric(VM_OPENTSDB_HTTP_INVALID), 0.0);
    assert_eq!((totals["tsdb"].lost_metrics, totals["tsdb"].failures), (0, 0));
}

// ---------------------------------------------------------------------------
// A recording HTTP server

/// One request a [`Recorder`] received.
#[derive(Debug, Clone)]
struct Request {
    /// `POST /api/put HTTP/1.1`
    line: String,
    /// Header names lower-cased.
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP server that answers every request with 200 and records it.
struct Recorder {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let r = requests.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let r = r.clone();
                std::thread::spawn(move || Recorder::serve(s, r));
            }
        });
        Recorder { port, requests }
    }

    fn serve(s: TcpStream, requests: Arc<Mutex<Vec<Request>>>) {
        let mut w = s.try_clone().unwrap();
        let mut r = BufReader::new(s);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = BTreeMap::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            let len: usize = headers.get("content-length").map(|v| v.parse().unwrap()).unwrap_or(0);
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            requests.lock().unwrap().push(Request { line: line.trim_end().to_string(), headers, body });
            if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                return;
            }
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Receives lines over TCP.
fn line_receiver() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let g = g.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    g.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (port, got)
}

/// Checks `json` connector objects against the store; returns how many.
fn check_json_objects(run: &Running, objects: &[serde_json::Value], every: i64) -> usize {
    let mut points: BTreeMap<(String, String), Vec<(i64, f64)>> = BTreeMap::new();
    for o in objects {
        assert_eq!(o["hostname"], HOST, "{o}");
        assert_eq!(o["prefix"], "netdata", "{o}");
        assert_eq!(o["labels"], serde_json::json!({"room": "b12", "rack": "r1"}), "{o}");
        let chart = o["chart_id"].as_str().unwrap().to_string();
        let dim = o["id"].as_str().unwrap().to_string();
        let ts = o["timestamp"].as_i64().unwrap();
        points.entry((chart, dim)).or_default().push((ts * 1000, o["value"].as_f64().unwrap()));
    }
    for ((chart, dim), p) in &points {
        run.check_points(chart, dim_index(chart, dim), every, p);
    }
    objects.len()
}

#[test]
fn json_http_and_json_lines_carry_host_labels_and_basic_auth_never_logs_the_password() {
    let rec = Recorder::start();
    let (line_port, lines) = line_receiver();
    let (bare_port, bare) = line_receiver();
    let mut run = start(&format!(
        "[json:http:jh]\n    enabled = yes\n    destination = 127.0.0.1:{}\n    update every = 2\n    \
         send charts matching = test.a1\n    username = alice\n    password = s3cr3t!pass\n\
         [json:jl]\n    enabled = yes\n    destination = tcp:127.0.0.1:{line_port}\n    update every = 2\n    \
         send charts matching = test.a1\n\
         [json:bare]\n    enabled = yes\n    destination = tcp:127.0.0.1:{bare_port}\n    update every = 2\n    \
         send charts matching = test.a1\n    send configured labels = no\n",
        rec.port
    ));
    run.wait_sent("jh", 2 * 4, 30);
    run.wait_sent("jl", 2 * 4, 30);
    run.wait_sent("bare", 2, 30);
    let totals = run.stop();

    let requests = rec.requests();
    assert_eq!(requests.len() as u64, totals["jh"].writes);
    let mut objects = Vec::new();
    for r in &requests {
        assert_eq!(r.line, "POST /api/put HTTP/1.1");
        assert_eq!(r.headers["content-type"], "application/json");
        // base64("alice:s3cr3t!pass")
        assert_eq!(r.headers["authorization"], "Basic YWxpY2U6czNjcjN0IXBhc3M=");
        assert_eq!(r.headers["user-agent"], format!("rrdpipe/{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(r.headers["content-length"], r.body.len().to_string());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        objects.extend(v.as_array().unwrap().iter().cloned());
    }
    assert_eq!(check_json_objects(&run, &objects, 2) as u64, totals["jh"].sent_metrics);
    let bytes: u64 = requests.iter().map(|r| r.body.len() as u64).sum();
    assert_eq!(bytes, totals["jh"].sent_bytes);

    let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    let objects: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(check_json_objects(&run, &objects, 2) as u64, totals["jl"].sent_metrics);

    // `send configured labels = no`: the same objects, without labels.
    let text = String::from_utf8(bare.lock().unwrap().clone()).unwrap();
    assert!(!text.is_empty());
    for l in text.lines() {
        let o: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(o["hostname"], HOST);
        assert!(o.get("labels").is_none(), "{l}");
    }

    let all = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(!all.contains("s3cr3t"), "the password appears in the logs");
    assert!(log_lines("jh").iter().any(|l| l.contains("as user 'alice'")), "{:#?}", log_lines("jh"));
}

// ---------------------------------------------------------------------------
// TLS

#[test]
fn https_remote_write_is_verified_against_the_ca_file_refused_without_it_and_accepted_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let support::tls::TestCa { ca, cert, key } = support::tls::TestCa::new(dir.path());
    let Some(prom) = Prometheus::start_tls(&cert, &key) else {
        return;
    };
    let section = |name: &str, extra: &str| {
        format!(
            "[prometheus_remote_write:https:{name}]\n    enabled = yes\n    destination = {}\n    prefix = {name}\n    \
             remote write URL path = /api/v1/write\n    update every = 2\n    send charts matching = test.b1\n{extra}",
            prom.addr()
        )
    };
    let mut run = start(&format!(
        "{}{}{}",
        section("withca", &format!("    tls ca file = {}\n", ca.display())),
        section("noca", ""),
        section("skip", "    tls skip verify = yes\n"),
    ));
    run.wait_sent("withca", 4, 30);
    run.wait_sent("skip", 4, 30);
    let noca = run.stats("noca");
    assert!(wait_until(deadline_in(10), || noca.totals().failures >= 2), "{:?}", noca.totals());
    let totals = run.stop();

    for name in ["withca", "skip"] {
        let sent = totals[name].sent_metrics as usize;
        let series = prom.samples_wait(&format!(r#"{{__name__=~"{name}_.*"}}"#), sent);
        assert_eq!(point_count(&series), sent, "{name}");
        let got: BTreeSet<_> = series.iter().map(|s| s.labels.clone()).collect();
        assert_eq!(got, remote_write_series(name, "test.b"), "{name}");
        check_remote_write(&run, &series, 2);
    }
    assert!(prom.samples(r#"{__name__=~"noca_.*"}"#).is_empty());
    let t = totals["noca"];
    assert_eq!((t.sent_metrics, t.writes, t.reads), (0, 0, 0), "{t:?}");
    assert!(t.lost_metrics > 0, "undelivered metrics are dropped at shutdown, counted: {t:?}");

    let refused = log_lines("noca");
    assert!(
        refused
            .iter()
            .any(|l| l.contains("invalid peer certificate: UnknownIssuer") && l.contains("'tls ca file'")),
        "the refusal names the TLS library's reason and the key to set: {refused:#?}"
    );
    assert!(
        log_lines("skip").iter().any(|l| l.contains("tls skip verify = yes")),
        "{:#?}",
        log_lines("skip")
    );
    assert!(
        log_lines("withca").iter().any(|l| l.contains("and 1 from 'tls ca file'")),
        "{:#?}",
        log_lines("withca")
    );
}

// ---------------------------------------------------------------------------
// Several instances at once

/// A destination that accepts connections and never answers, until killed.
struct BlackHole {
    port: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl BlackHole {
    fn start() -> BlackHole {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (conns.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((conn, _)) => c.lock().unwrap().push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        BlackHole { port, conns, stop }
    }

    /// Stops accepting and resets every connection.
    fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn several_instances_with_different_filters_each_get_exactly_theirs_with_labels_and_a_dead_one_slows_none() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let hole = BlackHole::start();
    let mut run = start(&format!(
        "[graphite:g]\n    enabled = yes\n    destination = {}\n    update every = 2\n    send charts matching = test.a*\n\
         {}\
         [opentsdb:http:o]\n    enabled = yes\n    destination = {}\n    update every = 2\n    send charts matching = test.c*\n\
         [opentsdb:t]\n    enabled = yes\n    destination = {}\n    update every = 2\n    prefix = telnet\n    \
         send charts matching = test.c*\n\
         [prometheus_remote_write:dead]\n    enabled = yes\n    destination = 127.0.0.1:{}\n    update every = 2\n    \
         timeout ms = 20000\n",
        vm.graphite_addr(),
        remote_write_section("rw", &vm.http_addr().to_string(), "test.b*"),
        vm.opentsdb_http_addr(),
        vm.opentsdb_addr(),
        hole.port,
    ));
    // Four windows each, while the dead destination holds its sender in a 20 s request.
    run.wait_sent("g", 2 * 4, 14);
    run.wait_sent("rw", 4, 14);
    run.wait_sent("o", 2 * 4, 14);
    run.wait_sent("t", 2 * 4, 14);
    assert_eq!(run.stats("dead").totals().sent_metrics, 0);
    hole.kill();
    let totals = run.stop();

    let working = ["g", "rw", "o", "t"];
    let sent: u64 = working.iter().map(|n| totals[*n].sent_metrics).sum();
    let all = vm.export_wait(r#"{__name__=~".+"}"#, sent as usize);
    let family = |prefix: &str| -> Vec<Series> {
        all.iter().filter(|s| s.name().starts_with(prefix)).cloned().collect()
    };
    let graphite = family(&format!("netdata.{HOST}."));
    let opentsdb = family("netdata.test.");
    let remote = family("netdata_");
    let telnet = family("telnet.");
    assert_eq!(
        graphite.len() + opentsdb.len() + remote.len() + telnet.len(),
        all.len(),
        "nothing else: {all:?}"
    );

    let names = |s: &[Series]| s.iter().map(|s| s.labels.clone()).collect::<BTreeSet<_>>();
    let graphite_expected: BTreeSet<_> =
        ["x", "y"].iter().map(|d| labels(&[("__name__", &format!("netdata.{HOST}.test.a1.{d}"))])).collect();
    assert_eq!(names(&graphite), graphite_expected);
    let opentsdb_expected: BTreeSet<_> = ["x", "y"]
        .iter()
        .map(|d| labels(&[("__name__", &format!("netdata.test.c1.{d}")), ("host", HOST)]))
        .collect();
    assert_eq!(names(&opentsdb), opentsdb_expected);
    let telnet_expected: BTreeSet<_> = ["x", "y"]
        .iter()
        .map(|d| labels(&[("__name__", &format!("telnet.test.c1.{d}")), ("host", HOST)]))
        .collect();
    assert_eq!(names(&telnet), telnet_expected);
    assert_eq!(names(&remote), remote_write_series("netdata", "test.b"));

    assert_eq!(point_count(&graphite) as u64, totals["g"].sent_metrics);
    assert_eq!(point_count(&opentsdb) as u64, totals["o"].sent_metrics);
    assert_eq!(point_count(&remote) as u64, totals["rw"].sent_metrics);
    assert_eq!(point_count(&telnet) as u64, totals["t"].sent_metrics);
    for s in graphite.iter().chain(&opentsdb).chain(&telnet) {
        let parts: Vec<&str> = s.name().rsplitn(3, '.').collect();
        let chart = format!("test.{}", parts[1]);
        run.check_points(&chart, dim_index(&chart, parts[0]), 2, &s.points());
    }
    check_remote_write(&run, &remote, 2);
    for name in working {
        assert_eq!((totals[name].lost_metrics, totals[name].failures), (0, 0), "{name}: {:?}", totals[name]);
    }
    let dead = totals["dead"];
    assert_eq!(dead.sent_metrics, 0);
    assert!(dead.lost_metrics > 0 && dead.failures > 0, "{dead:?}");
}
