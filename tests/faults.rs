//! Lossless delivery through network faults, counted at a real receiver.
//!
//! One rrdpipe collects 1000 series every second from a plugin whose values are a known function
//! of (series, second), and exports them every second through three instances, graphite,
//! opentsdb (telnet) and prometheus_remote_write, each through its own fault proxy
//! (`support::fault`) to one VictoriaMetrics. Faults are applied to the three proxies at once,
//! one after the other, each followed by a few seconds of normal traffic:
//!
//! 1. warm-up, no fault;
//! 2. reset mid-stream: three times, the next burst of data is cut in its middle and the
//!    connection reset (the receiver keeps the complete lines it got);
//! 3. refuse: open connections are reset and new ones refused for 5 s;
//! 4. stall: connections are accepted but not read for 5 s, then reset;
//! 5. black-hole: everything is read and discarded for 3 s (less than the replay window,
//!    max(10 intervals, 2 × `timeout ms`)), then connections are reset;
//! 6. VictoriaMetrics restarted: stopped with SIGTERM as a burst of rows is sent, down for 3 s
//!    (the proxies refuse connections meanwhile, as its closed ports would), then started again
//!    on the same ports and data;
//! 7. last, rrdpipe killed with SIGKILL while the receiver is away, then started again with the
//!    same configuration and `spool directory`: every interval that was formatted up to
//!    [`SPOOL_SYNC_GRACE`] seconds before the kill must arrive.
//!
//! Then every series is read back with `/api/v1/export` and counted (`support::faults_table`):
//! for each fault × connector, the (series, second) rows missing, the duplicates, and the
//! garbled rows (VictoriaMetrics's own invalid-row counters for graphite and opentsdb; remote
//! write requests it failed for any reason but arriving cut short; values that are not the
//! expected one; duplicates whose values differ; samples of series nobody sent). A row counts
//! against the phase under way when it was first sent, about [`SEND_LAG`] seconds after its
//! timestamp. The first seconds of the run (partial windows), the seconds around the kill (no
//! rrdpipe running) and the last seconds are not required.
//!
//! VictoriaMetrics (without `-dedup.minScrapeInterval`) keeps every sample it receives, also
//! two with the same timestamp and value, so duplicates are visible in the export; the test
//! checks this on a calibration series before it starts.
//!
//! The table is printed and written to `target/fault-table.md` (with rrdpipe's and
//! VictoriaMetrics's logs next to it, `target/fault-rrdpipe.log` and
//! `target/fault-victoria-metrics.log`); the test fails unless every cell shows 0 missing and
//! 0 garbled. It takes about 100 s: `cargo test --release --test faults -- --nocapture`.

pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::agent::Rrdpipe;
use support::fault::{FaultProxy, Mode};
use support::faults_table::{Expected, Phase, Plan, Readback, Table};
use support::ports::send_tcp;
use support::series::Series;
use support::victoria::{VictoriaMetrics, VM_GRAPHITE_INVALID, VM_OPENTSDB_INVALID};

/// Charts of the plugin, and dimensions per chart: `CHARTS × DIMS` series.
const CHARTS: usize = 20;
const DIMS: usize = 50;
const SERIES: usize = CHARTS * DIMS;

/// The exported host name.
const HOST: &str = "fhost";

/// Seconds from a row's timestamp (its window's end) to its first send: a window ends two
/// collection intervals behind the wake-up that sends it.
const SEND_LAG: i64 = 2;

/// Seconds before a kill -9 whose intervals the spool may not have on disk yet: its sync
/// policy's worst case. Intervals formatted earlier must all arrive after the restart.
const SPOOL_SYNC_GRACE: i64 = 2;

/// Seconds after rrdpipe starts again before every series must have a row (the plugin starts,
/// its first collection only primes, the first window is partial).
const RESTART_SETTLE: i64 = 5;

/// Seconds of normal traffic after each fault.
const RECOVERY: f64 = 6.0;

/// Longest delay from the plugin writing a collection to rrdpipe storing it, for which a slot's
/// value is still predicted exactly.
const ARRIVAL_SLACK: f64 = 0.2;

/// The connectors, in column order: (table name, rrdpipe instance).
const CONNECTORS: [(&str, &str); 3] = [("graphite", "fg"), ("opentsdb", "ft"), ("remote write", "fr")];

/// VictoriaMetrics counts a remote write request that failed in this counter...
const VM_RW_ERRORS: &str = r#"vm_http_request_errors_total{path="/api/v1/write",protocol="promremotewrite"}"#;
/// ...and logs one that arrived cut short (the proxy reset its connection) with these words.
const VM_RW_CUT_SHORT: &str = "requestURI: /api/v1/write; cannot read";

// ---------------------------------------------------------------------------
// The plugin and its values

/// The value series `s` has in the collection the plugin makes in wall-clock second `second`.
fn value(s: usize, second: i64) -> f64 {
    (s as i64 + 1000 * second.rem_euclid(1000)) as f64
}

/// Chart `c`, dimension `d` of series `s`.
fn chart_dim(s: usize) -> (usize, usize) {
    (s / DIMS, s % DIMS)
}

/// The plugin: 20 charts × 50 absolute dimensions, collected at the middle of every second
/// (far from the slot boundaries) with [`value`]`(series, second)`. After each collection it
/// appends `TIME SECOND` to `emits.log` next to its directory, so the test knows exactly when
/// each collection reached rrdpipe.
fn plugin(python: &Path) -> String {
    format!(
        r#"#!{python}
import os, sys, time
CHARTS, DIMS = {CHARTS}, {DIMS}
here = os.path.dirname(os.path.abspath(__file__))
log = open(os.path.join(here, "..", "emits.log"), "a", buffering=1)
out = sys.stdout
defs = []
for c in range(CHARTS):
    defs.append("CHART faults.c%02d '' 'Fault suite' 'things' faults faults.ctx line 1000 1\n" % c)
    for d in range(DIMS):
        defs.append("DIMENSION d%02d '' absolute 1 1\n" % d)
out.write("".join(defs))
out.flush()
while True:
    time.sleep((0.5 - time.time() % 1.0) % 1.0 or 1.0)
    t = time.time()
    second = int(t)
    base = 1000 * (second % 1000)
    lines = []
    for c in range(CHARTS):
        lines.append("BEGIN faults.c%02d\n" % c)
        for d in range(DIMS):
            lines.append("SET d%02d = %d\n" % (d, c * DIMS + d + base))
        lines.append("END\n")
    out.write("".join(lines))
    out.flush()
    log.write("%.6f %d\n" % (t, second))
"#,
        python = python.display()
    )
}

/// The plugin's collections, `(wall time, second)`, in time order.
#[derive(Debug, Default)]
struct Emissions(Vec<(f64, i64)>);

impl Emissions {
    fn parse(text: &str) -> Emissions {
        let mut v: Vec<(f64, i64)> = text
            .lines()
            .filter_map(|l| {
                let (t, s) = l.split_once(' ')?;
                Some((t.parse().ok()?, s.trim().parse().ok()?))
            })
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        Emissions(v)
    }

    /// Whether slot `t` is stored from exactly one collection: the one before it reached
    /// rrdpipe within `(t − 1, t]`, and the one after within `(t, t + 1]`, even if each took up
    /// to [`ARRIVAL_SLACK`] to arrive. The slot then holds that second collection's value as
    /// collected; otherwise the store interpolated between collections.
    fn around(&self, t: i64) -> (usize, bool) {
        let tf = t as f64;
        let i = self.0.partition_point(|e| e.0 <= tf);
        let regular = i > 0
            && i < self.0.len()
            && self.0[i - 1].0 > tf - 1.0
            && self.0[i - 1].0 <= tf - ARRIVAL_SLACK
            && self.0[i].0 <= tf + 1.0 - ARRIVAL_SLACK;
        (i, regular)
    }

    /// What slot `t` of series `s` holds.
    fn expect(&self, s: usize, t: i64) -> Expected {
        let (i, regular) = self.around(t);
        if regular {
            return Expected::Exact(value(s, self.0[i].1));
        }
        // Interpolated, or collected late: between the values of the collections around it.
        let near = &self.0[i.saturating_sub(2)..(i + 2).min(self.0.len())];
        if near.is_empty() {
            return Expected::Between(f64::NEG_INFINITY, f64::INFINITY);
        }
        let vals: Vec<f64> = near.iter().map(|e| value(s, e.1)).collect();
        Expected::Between(
            vals.iter().copied().fold(f64::INFINITY, f64::min),
            vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    }
}

/// A python3 for the plugin: the system's (a version manager's shim on `PATH` starts slowly).
fn python3() -> Option<PathBuf> {
    let system = PathBuf::from("/usr/bin/python3");
    if system.exists() {
        return Some(system);
    }
    support::require("python3")
}

// ---------------------------------------------------------------------------
// Names

/// `cCC.dDD` → series index.
fn parse_chart_dim(chart: &str, dim: &str) -> Option<usize> {
    let c = chart.strip_prefix('c').filter(|x| x.len() == 2)?.parse::<usize>().ok()?;
    let d = dim.strip_prefix('d').filter(|x| x.len() == 2)?.parse::<usize>().ok()?;
    (c < CHARTS && d < DIMS).then_some(c * DIMS + d)
}

/// The graphite path of series `s`.
fn graphite_name(s: usize) -> String {
    let (c, d) = chart_dim(s);
    format!("fg.{HOST}.faults.c{c:02}.d{d:02}")
}

/// The opentsdb metric of series `s` (tagged `host=fhost`).
fn opentsdb_name(s: usize) -> String {
    let (c, d) = chart_dim(s);
    format!("ft.faults.c{c:02}.d{d:02}")
}

/// The remote write metric name (one for all series; `chart` and `dimension` tell them apart).
const RW_NAME: &str = "fr_faults_ctx_things_average";

/// A selector for series `s` of `connector`.
fn selector(connector: usize, s: usize) -> String {
    let (c, d) = chart_dim(s);
    match connector {
        0 => graphite_name(s),
        1 => opentsdb_name(s),
        _ => format!(r#"{RW_NAME}{{chart="faults.c{c:02}",dimension="d{d:02}"}}"#),
    }
}

/// Which connector a stored series came from, and which expected series it is (`None`: a
/// series nobody should have sent). Calibration series give `None`.
fn classify(series: &Series) -> Option<(usize, Option<usize>)> {
    let name = series.name();
    if name.starts_with("calib.") {
        return None;
    }
    let labels: BTreeMap<&str, &str> = series
        .labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let graphite = || {
        let rest = name.strip_prefix(&format!("fg.{HOST}.faults."))?;
        let (c, d) = rest.split_once('.')?;
        labels.is_empty().then(|| parse_chart_dim(c, d)).flatten()
    };
    let opentsdb = || {
        let (c, d) = name.strip_prefix("ft.faults.")?.split_once('.')?;
        (labels == BTreeMap::from([("host", HOST)])).then(|| parse_chart_dim(c, d)).flatten()
    };
    let remote_write = || {
        if name != RW_NAME || labels.len() != 4 || labels.get("family") != Some(&"faults") {
            return None;
        }
        if labels.get("instance") != Some(&HOST) {
            return None;
        }
        parse_chart_dim(labels.get("chart")?.strip_prefix("faults.")?, labels.get("dimension")?)
    };
    if let Some(s) = graphite() {
        return Some((0, Some(s)));
    }
    if let Some(s) = opentsdb() {
        return Some((1, Some(s)));
    }
    if let Some(s) = remote_write() {
        return Some((2, Some(s)));
    }
    // Nobody sent this: guess from its shape whom to blame.
    let connector = if labels.contains_key("dimension") || name.starts_with("fr_") {
        2
    } else if labels.contains_key("host") || name.starts_with("ft.") {
        1
    } else {
        0
    };
    Some((connector, None))
}

/// Sorts every stored series into the connectors' read-backs.
fn readbacks(all: &[Series]) -> Vec<Readback> {
    let mut out: Vec<Readback> = (0..CONNECTORS.len()).map(|_| Readback::new(SERIES)).collect();
    for series in all {
        match classify(series) {
            None => {}
            Some((c, Some(s))) => out[c].series[s].extend(series.points()),
            Some((c, None)) => out[c].unexpected.push((format!("{:?}", series.labels), series.points())),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The run

fn config(proxies: &[FaultProxy], spool: &Path) -> String {
    format!(
        "[global]\n    hostname = {HOST}\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n\
         [plugins]\n    proc = no\n\
         [exporting:global]\n    update every = 1\n    data source = average\n    buffer on failures = 60\n    \
         timeout ms = 2000\n    send charts matching = faults.*\n\
         # `spool directory` keeps what waits for delivery on disk, so a kill -9 loses nothing that\n\
         # was spooled: the last part of the test depends on it.\n\
         [graphite:fg]\n    enabled = yes\n    destination = tcp:{g}\n    prefix = fg\n    spool directory = {sp}/fg\n\
         [opentsdb:ft]\n    enabled = yes\n    destination = tcp:{o}\n    prefix = ft\n    spool directory = {sp}/ft\n\
         [prometheus_remote_write:fr]\n    enabled = yes\n    destination = {r}\n    \
         remote write URL path = /api/v1/write\n    prefix = fr\n    spool directory = {sp}/fr\n",
        g = proxies[0].addr(),
        o = proxies[1].addr(),
        r = proxies[2].addr(),
        sp = spool.display(),
    )
}

fn now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs_f64()
}

fn sleep_s(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}

/// Sleeps until the middle of the next wall-clock second, so a fault starts well away from the
/// moment rows are sent.
fn sleep_to_half_second() {
    let frac = now_f64().fract();
    sleep_s(if frac < 0.5 { 0.5 - frac } else { 1.5 - frac });
}

/// Sends identical and differing samples with the same timestamp straight to VictoriaMetrics
/// and returns whether it keeps identical ones apart; panics if it merges differing ones, which
/// would hide the duplicates this test must see.
fn calibrate_duplicates(vm: &VictoriaMetrics) -> bool {
    let t = support::now_secs() - 600;
    send_tcp(
        vm.graphite_addr(),
        format!("calib.same 7 {t}\ncalib.same 7 {t}\ncalib.diff 1 {t}\ncalib.diff 2 {t}\n").as_bytes(),
    );
    let diff = vm.export_wait("calib.diff", 2);
    assert_eq!(
        diff[0].values,
        vec![1.0, 2.0],
        "VictoriaMetrics merged two samples with one timestamp and different values; duplicates \
         could not be counted"
    );
    let same = vm.export("calib.same");
    same.first().map_or(0, |s| s.values.len()) == 2
}

/// The receiver, the proxies, rrdpipe, and what happened when.
struct Rig {
    vm: VictoriaMetrics,
    proxies: Vec<FaultProxy>,
    agent: Rrdpipe,
    phases: Vec<Phase>,
    /// Receiver counters of bad input at each phase's start, per connector.
    marks: Vec<[u64; 3]>,
    /// VictoriaMetrics's counters from its processes before a restart.
    carried: BTreeMap<&'static str, f64>,
}

impl Rig {
    /// A counter of VictoriaMetrics over all its processes.
    fn vm_total(&self, name: &'static str) -> f64 {
        self.carried.get(name).copied().unwrap_or(0.0) + self.vm.metric(name)
    }

    /// Bad input the receiver counted so far, per connector: invalid graphite and opentsdb
    /// rows, and remote write requests it failed except those that arrived cut short.
    fn receiver_invalid(&self) -> [u64; 3] {
        let cut_short = self.vm.server().log().lines().filter(|l| l.contains(VM_RW_CUT_SHORT)).count() as f64;
        [
            self.vm_total(VM_GRAPHITE_INVALID) as u64,
            self.vm_total(VM_OPENTSDB_INVALID) as u64,
            (self.vm_total(VM_RW_ERRORS) - cut_short).max(0.0) as u64,
        ]
    }

    /// Starts a phase at the middle of the next second.
    fn begin(&mut self, name: &str) {
        sleep_to_half_second();
        self.marks.push(self.receiver_invalid());
        self.phases.push(Phase { name: name.to_string(), from: now_f64() });
        eprintln!("faults: +{:.1} s: {name}", now_f64() - self.phases[0].from);
    }

    fn each(&self, f: impl Fn(&FaultProxy)) {
        self.proxies.iter().for_each(f);
    }

    /// Stops VictoriaMetrics as a burst of rows is sent (at the whole second), keeps it down
    /// for `down` seconds, and starts it again.
    fn restart_vm(&mut self, down: f64) {
        for name in [VM_GRAPHITE_INVALID, VM_OPENTSDB_INVALID, VM_RW_ERRORS] {
            let v = self.vm.metric(name);
            *self.carried.entry(name).or_default() += v;
        }
        sleep_s(1.0 - now_f64().fract());
        self.vm.stop();
        sleep_s(down);
        self.vm.start_again();
    }

    /// The newest timestamp (s) of series `s` of every connector; `None` for a connector that
    /// has none yet.
    fn newest(&self, s: usize) -> Vec<Option<i64>> {
        (0..CONNECTORS.len())
            .map(|c| {
                self.vm.export(&selector(c, s)).first().and_then(|x| x.timestamps.last()).map(|ms| ms / 1000)
            })
            .collect()
    }

    /// Waits until every connector has delivered series `s` up to `ts`, or `secs` pass.
    fn wait_rows_until(&self, s: usize, ts: i64, secs: u64) -> bool {
        support::wait_until(support::deadline_in(secs), || {
            let ok = self.newest(s).iter().all(|n| n.is_some_and(|n| n >= ts));
            if !ok {
                std::thread::sleep(Duration::from_millis(200));
            }
            ok
        })
    }
}

/// The distinct warnings and errors rrdpipe logged, numbers masked, with their counts, most
/// frequent first.
fn log_summary(log: &str) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")) {
        let text = l.find("exporter{").or_else(|| l.find("exporter '")).map_or(l, |i| &l[i..]);
        let mut masked = String::with_capacity(text.len());
        let mut in_digits = false;
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                if !in_digits {
                    masked.push('N');
                }
                in_digits = true;
            } else {
                masked.push(ch);
                in_digits = false;
            }
        }
        let level = if l.contains(" ERROR ") { "ERROR" } else { "WARN" };
        *counts.entry(format!("{level} {masked}")).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(m, n)| format!("{n} × `{m}`")).collect()
}

/// The directory cargo builds into (`target/`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp has a parent").to_path_buf()
}

#[test]
fn every_row_arrives_once_and_whole_through_every_fault() {
    let Some(python) = python3() else { return };
    let Some(vm) = VictoriaMetrics::start() else { return };
    let run_started = Instant::now();
    let keeps_identical = calibrate_duplicates(&vm);
    let proxies = vec![
        FaultProxy::start(vm.graphite_addr(), true),
        FaultProxy::start(vm.opentsdb_addr(), true),
        FaultProxy::start(vm.http_addr(), false),
    ];
    let spool = tempfile::Builder::new().prefix("rrdpipe-spool-").tempdir().expect("temp dir");
    for (_, instance) in CONNECTORS {
        std::fs::create_dir_all(spool.path().join(instance)).unwrap();
    }
    let agent = Rrdpipe::start(&config(&proxies, spool.path()), &[("faults", &plugin(&python))]);
    let mut rig = Rig { vm, proxies, agent, phases: Vec::new(), marks: Vec::new(), carried: BTreeMap::new() };
    let mut notes = Vec::new();

    rig.begin("warm-up, no fault");
    // The first row every connector delivered, then a few seconds of steady traffic.
    let deadline = support::deadline_in(30);
    let first = loop {
        let firsts: Vec<Option<i64>> = (0..CONNECTORS.len())
            .map(|c| rig.vm.export(&selector(c, 0)).first().map(|s| s.timestamps[0] / 1000))
            .collect();
        if firsts.iter().all(Option::is_some) {
            break firsts.into_iter().flatten().max().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no rows from every connector within 30 s: {firsts:?}\n{}",
            rig.agent.log()
        );
        sleep_s(0.2);
    };
    let measured_from = first + 2;
    sleep_s(5.0);

    rig.begin("reset mid-stream (3 cuts)");
    for round in 0..3 {
        rig.each(FaultProxy::cut_mid_stream);
        for (p, (name, _)) in rig.proxies.iter().zip(CONNECTORS) {
            if !p.wait_cut(Duration::from_secs(3)) {
                p.disarm_cut();
                notes.push(format!("cut {} of {name}: no data came within 3 s", round + 1));
            }
        }
        sleep_s(1.0);
    }
    sleep_s(RECOVERY);

    rig.begin("refuse 5 s");
    rig.each(|p| p.reset_to(Mode::Refuse));
    sleep_s(5.0);
    rig.each(|p| p.set_mode(Mode::Pass));
    sleep_s(RECOVERY);

    rig.begin("stall 5 s, then reset");
    rig.each(|p| p.set_mode(Mode::Stall));
    sleep_s(5.0);
    rig.each(|p| p.reset_to(Mode::Pass));
    sleep_s(RECOVERY);

    rig.begin("black-hole 3 s, then reset");
    rig.each(|p| p.set_mode(Mode::BlackHole));
    sleep_s(3.0);
    rig.each(|p| p.reset_to(Mode::Pass));
    sleep_s(RECOVERY);

    rig.begin("VictoriaMetrics restart, down 3 s");
    rig.restart_vm(3.0);
    sleep_s(RECOVERY);

    // Last: needs `spool directory`. The receiver goes away, intervals are spooled, rrdpipe is
    // killed, starts again while the receiver is still away, and then the receiver comes back.
    rig.begin("kill -9 + restart, spool");
    rig.each(|p| p.reset_to(Mode::Refuse));
    sleep_s(6.0);
    let killed = now_f64();
    rig.agent.kill();
    rig.agent.restart();
    let restarted = now_f64();
    sleep_s(3.0);
    rig.each(|p| p.set_mode(Mode::Pass));
    sleep_s(10.0);
    let ended = now_f64();

    let plan = Plan {
        phases: rig.phases.clone(),
        series: SERIES,
        required: vec![
            (measured_from, killed.floor() as i64 - SEND_LAG - SPOOL_SYNC_GRACE),
            (restarted.ceil() as i64 + RESTART_SETTLE, ended.floor() as i64 - 3),
        ],
        checked: (measured_from, ended.floor() as i64 - 3),
        send_lag: SEND_LAG,
    };
    let last = plan.checked.1;
    // Wait for the newest rows; a connector that never delivers them shows as missing.
    let caught_up = rig.wait_rows_until(SERIES - 1, last, 30);
    if !caught_up {
        notes.push(format!(
            "not every connector had delivered up to {last} 30 s after the run: {:?}",
            rig.newest(SERIES - 1)
        ));
    }
    sleep_s(1.0);
    rig.marks.push(rig.receiver_invalid());

    // Count.
    let all = rig.vm.export(r#"{__name__=~".+"}"#);
    let emissions =
        Emissions::parse(&std::fs::read_to_string(rig.agent.dir().join("emits.log")).unwrap_or_default());
    let names: [fn(usize) -> String; 3] = [graphite_name, opentsdb_name, |s| selector(2, s)];
    let connector_names: Vec<&str> = CONNECTORS.iter().map(|c| c.0).collect();
    let mut table = Table::new(&plan, &connector_names);
    for (c, rb) in readbacks(&all).iter().enumerate() {
        table.account(&plan, c, rb, |s, t| emissions.expect(s, t), names[c]);
    }
    for p in 0..plan.phases.len() {
        for c in 0..CONNECTORS.len() {
            table.add_receiver_invalid(p, c, rig.marks[p + 1][c].saturating_sub(rig.marks[p][c]));
        }
    }

    // Notes: how the run went, and what rrdpipe said.
    let slots: Vec<i64> = plan.required.iter().flat_map(|&(a, b)| a..=b).collect();
    let exact = slots.iter().filter(|&&t| emissions.around(t).1).count();
    table.notes.push(format!(
        "{SERIES} series collected and exported every second; `rows` = (series, second) pairs every connector \
         must deliver in that phase. A row belongs to the phase under way when it was first sent ({SEND_LAG} s \
         after its timestamp). Values checked exactly in {exact} of {} required seconds (the others were \
         collected late and interpolated: checked to lie between their neighbours).",
        slots.len()
    ));
    table.notes.push(format!(
        "Garbled = the receiver's invalid-row counters ({VM_GRAPHITE_INVALID}, {VM_OPENTSDB_INVALID}; for \
         remote write, failed requests except those cut short by a reset) + wrong values + duplicates with \
         differing values + samples of unexpected series. VictoriaMetrics keeps identical duplicates: {}.",
        if keeps_identical { "yes" } else { "no (identical duplicates are merged and not counted)" }
    ));
    table.notes.push(format!(
        "Not required: before {measured_from} (warm-up), {} to {} (rrdpipe killed at {killed:.3}, restarted \
         at {restarted:.3}), after {last}.",
        plan.required[0].1 + 1,
        plan.required[1].0 - 1
    ));
    let spool_known = !rig.agent.log().contains("unknown key 'spool directory'");
    if !spool_known {
        table.notes.push(
            "This rrdpipe does not know `spool directory` (it warned and ignored it): the kill -9 row \
             measures what an in-memory queue loses."
                .to_string(),
        );
    }
    table.notes.push(format!(
        "Proxies: cuts {:?}, resets {:?}, connections {:?}, reset because the receiver was down {:?} \
         (graphite, opentsdb, remote write).",
        rig.proxies.iter().map(FaultProxy::cuts).collect::<Vec<_>>(),
        rig.proxies.iter().map(FaultProxy::resets).collect::<Vec<_>>(),
        rig.proxies.iter().map(FaultProxy::connections).collect::<Vec<_>>(),
        rig.proxies.iter().map(FaultProxy::refused_upstream_down).collect::<Vec<_>>(),
    ));
    table.notes.extend(notes);
    let summary = log_summary(&rig.agent.log());
    if !summary.is_empty() {
        table.notes.push(format!("rrdpipe's warnings and errors: {}", summary.join("; ")));
    }

    let md = format!(
        "## Fault suite: {} s, {} series\n\n{}",
        run_started.elapsed().as_secs(),
        SERIES,
        table.markdown()
    );
    eprintln!("\n{md}");
    let dir = target_dir();
    let _ = std::fs::write(dir.join("fault-table.md"), &md);
    let _ = std::fs::write(dir.join("fault-rrdpipe.log"), rig.agent.log());
    let _ = std::fs::write(dir.join("fault-victoria-metrics.log"), rig.vm.server().log());
    let distinct_unexpected: BTreeSet<&str> =
        all.iter().filter(|s| matches!(classify(s), Some((_, None)))).map(Series::name).collect();
    assert!(
        table.ok(),
        "rows were lost or garbled (table above and in {}); unexpected series: {distinct_unexpected:?}\n{}",
        dir.join("fault-table.md").display(),
        table.failures().join("\n")
    );
}

// ---------------------------------------------------------------------------
// The bookkeeping itself

fn plan_for_tests() -> Plan {
    Plan {
        phases: vec![Phase { name: "calm".into(), from: 0.0 }, Phase { name: "storm".into(), from: 14.5 }],
        series: 2,
        required: vec![(10, 13), (16, 16)],
        checked: (10, 17),
        send_lag: 2,
    }
}

#[test]
fn rows_are_attributed_to_the_phase_under_way_when_first_sent() {
    let plan = plan_for_tests();
    // ts 12 is sent at 14, before the storm began at 14.5; ts 13 at 15, during it.
    assert_eq!((10..=17).map(|ts| plan.phase_of(ts)).collect::<Vec<_>>(), vec![0, 0, 0, 1, 1, 1, 1, 1]);
    assert_eq!(plan.required_per_phase(), vec![3, 2]);
    assert!(plan.requires(16) && !plan.requires(15) && !plan.requires(9));
}

#[test]
fn missing_duplicates_and_garbled_rows_are_counted_per_phase_and_connector() {
    let plan = plan_for_tests();
    let mut table = Table::new(&plan, &["a", "b"]);
    let expect = |s: usize, ts: i64| Expected::Exact((s as i64 * 100 + ts) as f64);
    let row = |s: usize, ts: i64| (ts * 1000, (s as i64 * 100 + ts) as f64);
    let mut rb = Readback::new(2);
    // Series 0: every second once, 11 twice with the same value, 16 three times, once different.
    rb.series[0] = vec![row(0, 10), row(0, 11), row(0, 11), row(0, 12), row(0, 13), row(0, 16), row(0, 16)];
    rb.series[0].push((16_000, 999.0));
    // Series 1: 12 and 16 missing, 10 wrong, a sample off the grid, one outside the checked range.
    rb.series[1] = vec![(10_000, 5.0), row(1, 11), row(1, 13), (13_500, 1.0), row(1, 30)];
    rb.unexpected = vec![("x.y".into(), vec![(11_000, 1.0), (15_000, 2.0), (99_000, 3.0)])];
    table.account(&plan, 1, &rb, expect, |s| format!("s{s}"));
    table.add_receiver_invalid(1, 1, 4);

    let calm = table.cells[0][1];
    assert_eq!((calm.required, calm.missing, calm.duplicates, calm.duplicates_differing), (6, 1, 1, 0));
    assert_eq!((calm.wrong_values, calm.off_grid, calm.unexpected, calm.receiver_invalid), (1, 0, 1, 0));
    assert_eq!(calm.garbled(), 2);
    let storm = table.cells[1][1];
    assert_eq!((storm.required, storm.missing, storm.duplicates, storm.duplicates_differing), (4, 1, 2, 1));
    // 16's odd value is wrong too; the off-grid sample is at 13.5 s; 15 s of x.y.
    assert_eq!((storm.wrong_values, storm.off_grid, storm.unexpected, storm.receiver_invalid), (1, 1, 1, 4));
    assert_eq!(storm.garbled(), 8);
    // Connector a was never accounted: everything it should have delivered is missing.
    assert_eq!(table.cells[0][0], support::faults_table::Cell { required: 6, ..Default::default() });
    assert!(!table.ok());
    assert_eq!(
        table.examples[&(0, 1)],
        vec![
            "wrong value s1 @10 = 5, expected Exact(110.0)",
            "missing s1 @12",
            "unexpected series x.y @11000 ms = 1"
        ]
    );
}

#[test]
fn the_table_has_a_row_per_phase_a_total_and_bold_failures() {
    let plan = plan_for_tests();
    let mut table = Table::new(&plan, &["graphite"]);
    let mut rb = Readback::new(2);
    for s in 0..2 {
        rb.series[s] = [10, 11, 12, 13, 16].iter().map(|&ts| (ts * 1000, 1.0)).collect();
    }
    rb.series[0].push((11_000, 1.0));
    rb.series[1].retain(|&(ms, _)| ms != 16_000);
    table.account(&plan, 0, &rb, |_, _| Expected::Between(0.5, 1.5), |s| format!("s{s}"));
    table.notes.push("a note".into());
    assert_eq!(
        table.markdown(),
        "| fault | rows | graphite: missing | dup | garbled |\n\
         |---|---:|---:|---:|---:|\n\
         | calm | 6 | 0 | 1 | 0 |\n\
         | storm | 4 | **1** | 0 | 0 |\n\
         | **total** | 10 | **1** | 1 | 0 |\n\
         \n\
         Verdict: FAIL.\n\
         \n\
         - a note\n\
         \n\
         Failing cells:\n\
         \n\
         - storm × graphite: 1 of 4 missing, 0 garbled (receiver invalid 0, wrong values 0, differing duplicates 0, off-grid 0, unexpected series 0); e.g. missing s1 @16\n"
    );
}

#[test]
fn a_slot_between_two_timely_collections_holds_the_second_one_exactly() {
    let e = Emissions::parse("100.5 100\n101.5 101\n102.51 102\n103.95 103\n104.5 104\n");
    // Slot 101: collections at 100.5 and 101.5 → the value collected in second 101.
    assert_eq!(e.expect(7, 101), Expected::Exact(value(7, 101)));
    assert_eq!(e.expect(7, 102), Expected::Exact(value(7, 102)));
    // Slot 103: the next collection came at 103.95, too close to slot 104 to be sure which
    // slots it crossed: anything between the neighbours' values.
    assert_eq!(e.expect(7, 103), Expected::Between(value(7, 101), value(7, 104)));
    assert_eq!(e.expect(7, 104), Expected::Between(value(7, 102), value(7, 104)));
    // No collection after: unknown.
    assert!(matches!(e.expect(7, 105), Expected::Between(a, _) if a == value(7, 103)));
    assert_eq!(value(7, 101), 101_007.0);
    assert!(
        Expected::Exact(101_007.0).admits(101_007.000_000_1) && !Expected::Exact(101_007.0).admits(101_008.0)
    );
}

#[test]
fn stored_series_are_told_apart_by_connector() {
    let series = |labels: &[(&str, &str)]| Series {
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        values: vec![],
        timestamps: vec![],
    };
    assert_eq!(classify(&series(&[("__name__", "fg.fhost.faults.c19.d49")])), Some((0, Some(999))));
    assert_eq!(
        classify(&series(&[("__name__", "ft.faults.c00.d01"), ("host", "fhost")])),
        Some((1, Some(1)))
    );
    let rw = [
        ("__name__", RW_NAME),
        ("chart", "faults.c01"),
        ("dimension", "d00"),
        ("family", "faults"),
        ("instance", "fhost"),
    ];
    assert_eq!(classify(&series(&rw)), Some((2, Some(50))));
    // A cut line that parsed as another name, a bad index, a stray tag.
    assert_eq!(classify(&series(&[("__name__", "aults.c00.d01")])), Some((0, None)));
    assert_eq!(classify(&series(&[("__name__", "fg.fhost.faults.c20.d00")])), Some((0, None)));
    assert_eq!(classify(&series(&[("__name__", "ft.faults.c00.d01"), ("host", "fhos")])), Some((1, None)));
    assert_eq!(classify(&series(&[("__name__", "calib.same")])), None);
    assert_eq!(selector(2, 50), r#"fr_faults_ctx_things_average{chart="faults.c01",dimension="d00"}"#);
}

// ---------------------------------------------------------------------------
// The proxy's faults do what the table says they do

/// A receiver on a free port that records what each connection sent, in order of arrival.
struct Recorder {
    addr: std::net::SocketAddr,
    got: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for (i, c) in l.incoming().enumerate() {
                let Ok(mut c) = c else { return };
                g.lock().unwrap().push(Vec::new());
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = std::io::Read::read(&mut c, &mut buf) {
                        g.lock().unwrap()[i].extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Recorder { addr, got }
    }

    fn connections(&self) -> Vec<String> {
        self.got.lock().unwrap().iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect()
    }

    fn wait_for(&self, want: &[&str]) {
        let ok = support::wait_until(support::deadline_in(5), || self.connections() == want);
        assert!(ok, "receiver got {:?}, wanted {want:?}", self.connections());
    }
}

fn write(s: &mut std::net::TcpStream, b: &str) {
    std::io::Write::write_all(s, b.as_bytes()).unwrap();
}

#[test]
fn a_cut_hands_over_the_complete_lines_of_half_a_burst_then_resets() {
    let r = Recorder::start();
    let p = FaultProxy::start(r.addr, true);
    let mut c = std::net::TcpStream::connect(p.addr()).unwrap();
    write(&mut c, "a1\nb22\n");
    r.wait_for(&["a1\nb22\n"]);
    p.cut_mid_stream();
    // 45 bytes: the first 22 hold two complete lines and the start of a third.
    write(&mut c, "line0001\nline0002\nline0003\nline0004\nline0005\n");
    assert!(p.wait_cut(Duration::from_secs(5)));
    r.wait_for(&["a1\nb22\nline0001\nline0002\n"]);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let e = std::io::Read::read(&mut c, &mut [0u8; 16]).expect_err("the proxy resets");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(p.cuts(), 1);
}

#[test]
fn a_black_holed_connection_never_forwards_again_and_a_stalled_one_is_not_resumed_by_its_reset() {
    let r = Recorder::start();
    let p = FaultProxy::start(r.addr, true);
    let mut c = std::net::TcpStream::connect(p.addr()).unwrap();
    write(&mut c, "x 1\n");
    r.wait_for(&["x 1\n"]);
    p.set_mode(Mode::BlackHole);
    write(&mut c, "lost 2\nhalf");
    std::thread::sleep(Duration::from_millis(300));
    p.set_mode(Mode::Pass);
    write(&mut c, " line\nlost 3\n");
    std::thread::sleep(Duration::from_millis(300));
    // Stalled, then reset into Pass: what waited unread is not forwarded.
    let mut d = std::net::TcpStream::connect(p.addr()).unwrap();
    r.wait_for(&["x 1\n", ""]);
    p.set_mode(Mode::Stall);
    write(&mut d, "stalled 4\n");
    std::thread::sleep(Duration::from_millis(300));
    p.reset_to(Mode::Pass);
    let mut e = std::net::TcpStream::connect(p.addr()).unwrap();
    write(&mut e, "new 5\n");
    r.wait_for(&["x 1\n", "", "new 5\n"]);
}

#[test]
fn a_receiver_that_went_away_is_refused_at_connect_until_it_is_back() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = l.local_addr().unwrap();
    let p = FaultProxy::start(target, true);
    let mut c = std::net::TcpStream::connect(p.addr()).unwrap();
    // The receiver closes the connection and its port.
    drop(l.accept().unwrap());
    drop(l);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(std::io::Read::read(&mut c, &mut [0u8; 16]).unwrap(), 0, "the close reaches the sender");
    let refused = || {
        std::net::TcpStream::connect(p.addr())
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    };
    assert!(support::wait_until(support::deadline_in(5), refused));
    let Ok(back) = std::net::TcpListener::bind(target) else {
        return; // the port was taken meanwhile: nothing more to test
    };
    std::thread::spawn(move || for _ in back.incoming() {});
    assert!(support::wait_until(support::deadline_in(5), || std::net::TcpStream::connect(p.addr()).is_ok()));
    assert_eq!(p.refused_upstream_down(), 0);
}
