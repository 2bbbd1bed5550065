//! One exporter instance: a formatter thread on the clock and a sender thread on the network.
//!
//! The formatter wakes on wall-clock multiples of `update every`, walks hosts → charts →
//! dimensions, computes each due window's value, encodes it for the instance's [`Connector`]
//! (a buffer of lines per window, or whole HTTP request bodies) and hands the batches to the
//! sender over a channel, then charts the instance's own counters. The sender
//! ([`crate::export::sender`]) delivers them. A slow or absent backend therefore never delays
//! formatting, and a failing instance never touches another.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{now_ut, USEC_PER_SEC};
use crate::logs::{repeat_note, Persisting};

use super::selfmon::ExporterCharts;
use crate::export::batch::{Batch, Batcher};
use crate::export::compute::WindowValues;
use crate::export::connector::{remote_write, BodyFormat, ConnectorKind, Encoding};
use crate::export::exported::{self, Exported};
use crate::export::format::{DataSource, DimText, Metric, Value};
use crate::export::sender::{self, Delivery, HttpDelivery, LineDelivery, SenderConfig};
use crate::export::spool::Spool;
use crate::export::stats::{thread_cpu_us, Stats};
use crate::export::transport::http::{HttpSettings, HttpTransport};
use crate::export::transport::tls::Trust;
use crate::export::transport::{describe, Endpoint};
use crate::export::window::{Window, Windows};
use crate::pattern::SimplePattern;
use crate::rrd::{storage_number, ChartData, Db, DimNames, Host, LabelFilter, Labels, Late};
use crate::shutdown::Shutdown;

/// The connector an instance runs: its kind, and for an HTTP one how to reach the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connector {
    /// What it sends, and over what.
    pub kind: ConnectorKind,
    /// The HTTP connectors' request path, authentication and TLS; unused by line connectors.
    pub http: HttpSettings,
}

/// How an instance's batches travel, as its connector says: what [`delivery`] builds.
enum Carrier<'a> {
    /// Lines over TCP or UDP.
    Lines,
    /// Whole request bodies POSTed over HTTP(S).
    Http(BodyFormat, &'a HttpSettings),
}

impl Connector {
    /// A connector of `kind` with its own request path (`/receive` for remote write), no
    /// authentication and the system's certificates.
    pub fn new(kind: ConnectorKind) -> Connector {
        Connector {
            kind,
            http: HttpSettings {
                tls: kind.tls(),
                path: kind.url_path(remote_write::DEFAULT_PATH),
                auth: None,
                ca_file: None,
                skip_verify: false,
            },
        }
    }

    /// How metrics are encoded.
    pub fn encoding(&self) -> Encoding {
        self.kind.encoding()
    }

    /// The exporter type, for logs and the status page (`graphite`, `opentsdb:https`, ...).
    pub fn type_name(&self) -> String {
        self.kind.type_name().to_string()
    }

    fn carrier(&self) -> Carrier<'_> {
        match self.kind.encoding() {
            Encoding::Lines(_) => Carrier::Lines,
            Encoding::Bodies(format) => Carrier::Http(format, &self.http),
        }
    }
}

/// Everything an instance needs, resolved from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceConfig {
    /// Instance name (`backend` for the legacy section).
    pub name: String,
    /// The legacy `[backend]`: netdata's `backend_*` self-chart ids, every host exported.
    pub legacy: bool,
    /// Encoding and delivery.
    pub connector: Connector,
    /// What value is sent.
    pub source: DataSource,
    /// Metric prefix.
    pub prefix: String,
    /// Exported hostname of the local host; `None` means its own.
    pub hostname: Option<String>,
    /// Seconds between exports.
    pub every: u32,
    /// Consecutive failed intervals before the buffer is dropped.
    pub buffer_on_failures: u32,
    /// Bound on connect and each send.
    pub timeout: Duration,
    /// Destinations in order of preference.
    pub endpoints: Vec<Endpoint>,
    /// Charts sent (matched against id or name).
    pub charts: SimplePattern,
    /// Hosts sent; `None` sends every host.
    pub hosts: Option<SimplePattern>,
    /// Paths use names instead of ids.
    pub use_names: bool,
    /// Which labels of hosts and charts are sent with each metric (`send configured labels`,
    /// `send automatic labels`).
    pub labels: LabelFilter,
    /// Undelivered bytes kept in memory; past it the oldest whole intervals are dropped.
    pub max_buffer_bytes: usize,
    /// After a line connection fails, what was written to it this recently is sent again.
    pub replay: Duration,
    /// `spool directory` and `spool max size`, when a spool is configured.
    pub spool: Option<(std::path::PathBuf, u64)>,
    /// Where the windows handed out for each streaming child are kept across restarts
    /// ([`crate::export::exported`]); `None` keeps them in memory only.
    pub exported_file: Option<std::path::PathBuf>,
}

impl InstanceConfig {
    /// An instance `name` of `kind`, sending to no destination (set
    /// [`endpoints`](InstanceConfig::endpoints)): the average of every chart of every host,
    /// by id, prefixed `netdata`, every 10 s, with configured labels and no spool, and the
    /// remaining settings at their `exporting.conf` defaults.
    pub fn new(name: &str, kind: ConnectorKind) -> InstanceConfig {
        InstanceConfig {
            name: name.to_string(),
            legacy: false,
            connector: Connector::new(kind),
            source: DataSource::Average,
            prefix: "netdata".to_string(),
            hostname: None,
            every: 10,
            buffer_on_failures: 10,
            timeout: Duration::from_secs(20),
            endpoints: Vec::new(),
            charts: SimplePattern::new("*"),
            hosts: None,
            use_names: false,
            labels: LabelFilter { configured: true, automatic: false },
            max_buffer_bytes: 128 << 20,
            replay: Duration::ZERO,
            spool: None,
            exported_file: None,
        }
    }
}

/// Formats due windows into batches for the sender. Holds the windows already handed out.
#[derive(Debug)]
pub struct Formatter {
    cfg: InstanceConfig,
    windows: Windows,
    /// As collected: collection times up to this (µs) count as exported for a chart not yet
    /// in `collected_sent` (the formatter's start).
    collected_from_ut: u64,
    /// As collected, per chart (keyed by its address, alive while it is walked): the newest
    /// collection time (µs) exported, and the wake-up that last walked it. Kept per chart, not
    /// as one cursor for all: a collection is timed at its BEGIN but only readable at its END,
    /// so one that begins before a wake-up and ends after it is older than that wake-up when
    /// it is first seen, and must still be sent then.
    collected_sent: HashMap<usize, (u64, u64)>,
    /// Scratch: one chart's values for one window.
    values: WindowValues,
    /// Scratch: the labels sent with a labelled chart's metrics (its own, then its host's).
    chart_labels: Vec<(String, String)>,
    /// Room each window's buffer of lines starts with: the last window's size, and some.
    line_bytes: usize,
    /// Its id in the store's exporter list, once registered: orphan hosts it has sent all of
    /// are marked with it.
    exporter: Option<u64>,
    /// Charts that were replicated, by address: their own window cursors.
    late: HashMap<usize, LateCursor>,
    /// The windows handed out per streaming child before the last restart.
    previous: Exported,
    /// The text last written to the `exported` file.
    saved: Option<String>,
    /// Writing the `exported` file fails.
    save_failed: Persisting,
}

/// The windows of a chart that was replicated: slots were written into its past, so its
/// windows go back to the first late one, once, and wait while replication goes on.
#[derive(Clone, Copy, Debug)]
struct LateCursor {
    /// The end of the last window handed out for it.
    end: i64,
    /// The last replication (generation) gone back for.
    seen: u64,
    /// The wake-up that last walked it (µs).
    walked: u64,
}

impl Formatter {
    /// A formatter that starts exporting from `now_ut`.
    pub fn new(cfg: InstanceConfig, now_ut: u64) -> Formatter {
        let every = cfg.every;
        Formatter {
            cfg,
            windows: Windows::new(every, 3600),
            collected_from_ut: now_ut,
            collected_sent: HashMap::new(),
            values: WindowValues::new(),
            chart_labels: Vec::new(),
            line_bytes: 0,
            exporter: None,
            late: HashMap::new(),
            previous: Exported::new(),
            saved: None,
            save_failed: Persisting::default(),
        }
    }

    /// A formatter for `cfg` that goes on exactly where `previous` stopped: no window skipped
    /// or sent twice, even when `update every` changed.
    pub fn continue_from(cfg: InstanceConfig, previous: Formatter) -> Formatter {
        let windows = Windows::continue_from(previous.windows, cfg.every);
        Formatter {
            cfg,
            windows,
            collected_from_ut: previous.collected_from_ut,
            collected_sent: previous.collected_sent,
            values: WindowValues::new(),
            chart_labels: Vec::new(),
            line_bytes: 0,
            exporter: None,
            late: previous.late,
            previous: previous.previous,
            saved: previous.saved,
            save_failed: previous.save_failed,
        }
    }

    /// Mark orphan hosts as exported under `id` ([`Db::register_exporter`]) once every slot
    /// they store has been handed out, so that they can be removed.
    pub fn mark_orphans_as(&mut self, id: u64) {
        self.exporter = Some(id);
    }

    /// Read what the previous run handed out for each streaming child
    /// ([`InstanceConfig::exported_file`]); a file that cannot be read is logged and ignored.
    pub fn load_exported(&mut self) {
        let Some(path) = &self.cfg.exported_file else { return };
        match exported::load(path) {
            Ok(e) => self.previous = e,
            Err(e) => tracing::warn!(
                path = %path.display(),
                error = %e,
                "cannot read where export got to before the restart; slots children replay may be sent again"
            ),
        }
    }

    /// Where export got to for each streaming child of `db`: what the previous run knew,
    /// updated with this run's windows for every child host present.
    pub fn exported(&self, db: &Db) -> Exported {
        let hosts = db.hosts();
        let children: Vec<(String, &Arc<Host>)> =
            hosts.iter().skip(1).map(|h| (h.info().machine_guid, h)).filter(|(g, _)| !g.is_empty()).collect();
        let mut e = self.previous.clone();
        e.forget_hosts(&children.iter().map(|(g, _)| g.clone()).collect());
        for (guid, host) in children {
            if self.cfg.source == DataSource::AsCollected {
                self.collected_exported(&mut e, &guid, host);
                continue;
            }
            for (ue, end) in self.windows.last_ends() {
                e.set_host(&guid, ue, end);
            }
            if self.late.is_empty() {
                continue;
            }
            for chart in host.charts().iter() {
                if let Some(c) = self.late.get(&(Arc::as_ptr(chart) as usize)) {
                    let ue = chart.read().meta.update_every;
                    if self.windows.last_end(ue) != Some(c.end) {
                        e.set_chart(&guid, ue, chart.id(), c.end);
                    }
                }
            }
        }
        e
    }

    /// As collected, where export got to for `host` (machine GUID `guid`): every collection
    /// up to the last wake-up, and the replayed slots up to each chart's cursor; a chart whose
    /// replication goes on has sent nothing after the replication's `from`.
    fn collected_exported(&self, e: &mut Exported, guid: &str, host: &Host) {
        let Some(walked) = self.collected_sent.values().map(|(_, w)| *w).max() else { return };
        let walked = (walked / USEC_PER_SEC) as i64;
        for chart in host.charts().iter() {
            let d = chart.read();
            let ue = d.meta.update_every;
            e.set_host(guid, ue, walked);
            let (Some(l), Some(c)) = (d.late(), self.late.get(&(Arc::as_ptr(chart) as usize))) else {
                continue;
            };
            if let (true, Some(from)) = (l.active, l.from_since(c.seen)) {
                e.set_chart(guid, ue, &d.meta.id, from.max(c.end));
            }
        }
    }

    /// Write [`Formatter::exported`] to [`InstanceConfig::exported_file`], if set and unless
    /// it says what the file already says; a failure is logged. Called before a wake-up's
    /// batches are handed to the sender, so that a kill after them never sends them again, and
    /// at the stop with `sync` (then on the disk before the file is replaced).
    pub fn save_exported(&mut self, db: &Db, sync: bool) {
        let Some(path) = &self.cfg.exported_file else { return };
        if db.hosts().len() < 2 && self.previous.is_empty() && self.saved.is_none() {
            // No child was ever seen: there is nothing to keep.
            return;
        }
        let text = self.exported(db).format();
        if self.saved.as_deref() == Some(text.as_str()) {
            return;
        }
        match exported::save(path, &text, sync) {
            Ok(()) => self.saved = Some(text),
            Err(e) => {
                if self.save_failed.occur(std::time::Instant::now()) {
                    tracing::warn!(
                        path = %path.display(),
                        error = %e,
                        "cannot write where export got to; after a restart, slots children replay may be sent \
                         again: make [directories] lib writable{}",
                        repeat_note(&self.save_failed)
                    );
                }
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Format everything due at `now_ut` into batches, oldest window first: for lines one
    /// batch per window end (as collected: one batch timestamped `now`), for HTTP the window's
    /// request bodies.
    pub fn format_due(&mut self, db: &Db, now_ut: u64) -> Vec<Batch> {
        let mut wake = WakeUp {
            now_ut,
            now: (now_ut / USEC_PER_SEC) as i64,
            due: Vec::new(),
            batchers: Batchers {
                encoding: self.cfg.connector.encoding(),
                source: self.cfg.source,
                line_bytes: self.line_bytes,
                by_end: BTreeMap::new(),
            },
        };
        for (i, host) in db.hosts().iter().enumerate() {
            self.walk_host(&mut wake, host, i == 0);
        }
        if self.cfg.source == DataSource::AsCollected {
            // Charts not walked this time are gone (or filtered out): forget them.
            self.collected_sent.retain(|_, (_, walked)| *walked == now_ut);
        }
        self.late.retain(|_, c| c.walked == now_ut);
        let batches: Vec<Batch> = wake.batchers.by_end.into_values().flat_map(Batcher::finish).collect();
        self.size_line_buffer(&batches);
        batches
    }

    /// Formats what is due of `host`'s charts, unless the host filter leaves it out; marks an
    /// orphan host exported once every slot it stores has been handed out.
    fn walk_host(&mut self, wake: &mut WakeUp, host: &Host, is_local: bool) {
        let cfg = &self.cfg;
        let info = host.info();
        // Read before the walk: a host orphaned now stores nothing that is not read below.
        let orphan = self.exporter.and_then(|id| host.orphan().map(|o| (id, o)));
        if let Some(p) = &cfg.hosts {
            if !(p.matches(&info.hostname) || (is_local && p.matches("localhost"))) {
                if let Some((id, o)) = orphan {
                    host.mark_exported(id, o);
                }
                return;
            }
        }
        let hostname = match (&cfg.hostname, is_local) {
            (Some(h), true) => h.as_str(),
            _ => info.hostname.as_str(),
        };
        let mut all_handed_out = true;
        // The host's labels as they are now: a change is sent from the next wake-up on.
        let mut host_labels = Vec::new();
        if cfg.labels.any() {
            host.labels().sent_into(cfg.labels, &mut host_labels);
        }
        // Loads are started ahead, so that a chart's data has arrived when its turn comes:
        // the chart after next has its own fields loaded, and the next one is locked and
        // its names and rows loaded while this one is formatted. The next chart's lock is
        // only taken if it is free at once: the walk never waits for a lock while it holds
        // another, so it cannot deadlock with collectors or other instances.
        let charts = host.charts();
        let mut ahead = None;
        for (k, chart) in charts.iter().enumerate() {
            let d = ahead.take().unwrap_or_else(|| chart.read());
            if let Some(c) = charts.get(k + 2) {
                c.prefetch();
            }
            ahead = charts.get(k + 1).and_then(|c| c.try_read());
            if let (Some(n), Some((_, w))) = (&ahead, wake.due.first()) {
                if let Some(w) = w.first() {
                    n.prefetch(w.after, w.end);
                }
            }
            if !cfg.charts.matches_any(&[&d.meta.id, &d.meta.name]) {
                continue;
            }
            let text = if d.names.all_plain() { DimText::Plain } else { DimText::Any };
            let labels = metric_labels(cfg.labels, &d.labels, &host_labels, &mut self.chart_labels);
            let mut m = chart_metric(cfg, hostname, &d, labels);
            if cfg.source == DataSource::AsCollected {
                let key = Arc::as_ptr(chart) as usize;
                let sent = self.collected_sent.entry(key).or_insert((self.collected_from_ut, wake.now_ut));
                if let Some(late) = d.late() {
                    let at = LateAt { key, guid: &info.machine_guid, now_ut: wake.now_ut };
                    if let Some(slots) = replayed_due(&mut self.late, &self.previous, at, &d, late) {
                        // A slot at or before the last collection sent has its timestamp sent
                        // already: only newer slots go out.
                        let newer = (sent.0 / USEC_PER_SEC) as i64 + 1;
                        let slots = (*slots.start()).max(newer)..=*slots.end();
                        // Collections up to the last replayed slot are in the slots sent here;
                        // one in the slot's second would repeat its timestamp.
                        sent.0 = sent.0.max((*slots.end() as u64 + 1) * USEC_PER_SEC - 1);
                        if !slots.is_empty() {
                            push_replayed(wake.batchers.at(wake.now), &d, &mut m, text, slots);
                        }
                    }
                    if late.active {
                        // What a child streams once its replay ends follows the replayed slots.
                        sent.1 = wake.now_ut;
                        continue;
                    }
                }
                push_collected(wake.batchers.at(wake.now), sent, &d, &mut m, text, wake.now_ut);
                continue;
            }
            let ue = d.meta.update_every;
            let global = due_windows(&mut wake.due, &mut self.windows, wake.now, ue);
            let own;
            let (windows, handed_out) = match d.late() {
                None => (global, self.windows.last_end(ue)),
                Some(late) => {
                    let at = LateAt {
                        key: Arc::as_ptr(chart) as usize,
                        guid: &info.machine_guid,
                        now_ut: wake.now_ut,
                    };
                    let (w, c) =
                        late_windows(&mut self.late, &self.previous, &self.windows, at, &d, late, global);
                    own = w;
                    (own.as_deref().unwrap_or(global), Some(c))
                }
            };
            for w in windows {
                m.timestamp = w.end;
                self.values.compute(&d, w.after, w.end, cfg.source);
                let dims = WindowDims { names: &d.names, values: &self.values, next: 0 };
                wake.batchers.at(w.end).push_chart(&mut m, dims, text);
            }
            if orphan.is_some() && d.last_entry_t().is_some_and(|t| handed_out.is_none_or(|end| end < t)) {
                all_handed_out = false;
            }
        }
        // As collected, every value collected so far was sent above.
        if let (Some((id, o)), true) = (orphan, all_handed_out) {
            host.mark_exported(id, o);
        }
    }

    /// Sizes the next wake-up's buffers of lines a little above the largest window of this
    /// one, so that it rarely has to grow its buffer by copying.
    fn size_line_buffer(&mut self, batches: &[Batch]) {
        if let Encoding::Lines(_) = self.cfg.connector.encoding() {
            let largest = batches.iter().map(|b| b.bytes.len()).max().unwrap_or(0);
            if largest > 0 {
                self.line_bytes = largest + largest / 16;
            }
        }
    }
}

/// One wake-up's walk: its time, the windows due, and their batchers.
struct WakeUp {
    /// The wake-up (µs).
    now_ut: u64,
    /// The wake-up (s).
    now: i64,
    /// The windows due for charts of each `update every` met so far.
    due: Vec<(u32, Vec<Window>)>,
    batchers: Batchers,
}

/// The batcher of each window of a wake-up.
struct Batchers {
    encoding: Encoding,
    source: DataSource,
    /// Room each buffer of lines starts with.
    line_bytes: usize,
    /// By window end (as collected: the wake-up), oldest first.
    by_end: BTreeMap<i64, Batcher>,
}

impl Batchers {
    /// The batcher of the window ending at `end`, started if it is the first metric of it.
    fn at(&mut self, end: i64) -> &mut Batcher {
        let (encoding, source, bytes) = (self.encoding, self.source, self.line_bytes);
        self.by_end.entry(end).or_insert_with(|| Batcher::with_capacity(encoding, source, end, bytes))
    }
}

/// Which replicated chart a walk is at.
struct LateAt<'a> {
    /// The chart's address.
    key: usize,
    /// Its host's machine GUID.
    guid: &'a str,
    /// The wake-up (µs).
    now_ut: u64,
}

/// The windows due for chart `d`, which was replicated (`l`), and the end of the last
/// one handed out for it. A replication it has not gone back for yet takes its cursor back to
/// the window that holds the replication's first slot (the windows from there were handed out
/// while those slots were missing), but never before what the previous run handed out
/// (`previous`); while a replication goes on, nothing is handed out. The window in which the
/// gap began was sent with the slots it had then: it is sent again, once, with all of them,
/// under the same timestamp (graphite, opentsdb and remote write receivers keep the newer
/// value of a timestamp, see docs/parent-mode.md).
/// Then the windows from the cursor to the end of `global` (this wake-up's windows for every
/// chart of its `update every`) are due: `None` when they are those of `global`.
fn late_windows(
    late: &mut HashMap<usize, LateCursor>,
    previous: &Exported,
    windows: &Windows,
    at: LateAt<'_>,
    d: &ChartData,
    l: &Late,
    global: &[Window],
) -> (Option<Vec<Window>>, i64) {
    let ue = d.meta.update_every;
    let global_end = windows.last_end(ue).unwrap_or(0);
    let before = global.first().map_or(global_end, |w| w.after);
    let c = late.entry(at.key).or_insert(LateCursor { end: before, seen: 0, walked: at.now_ut });
    c.walked = at.now_ut;
    if let Some(from) = l.from_since(c.seen) {
        // Slots after `from` were missing: back to the start of the window holding the first.
        let every = windows.every();
        let back = from.div_euclid(every) * every;
        let floor = previous.end_of(at.guid, ue, &d.meta.id).unwrap_or(i64::MIN);
        c.end = c.end.min(back.max(floor));
        c.seen = l.generation;
    }
    if l.active {
        return (Some(Vec::new()), c.end);
    }
    if c.end == before {
        // In step with the other charts again: their windows, nothing to allocate.
        c.end = global_end;
        return (None, c.end);
    }
    let due = windows.between(c.end, global_end);
    c.end = c.end.max(global_end);
    (Some(due), c.end)
}

/// As collected: the replayed slots of chart `d` (replicated, `l`) due now, first and last;
/// `None` while a replication goes on or when none is due. A replication the chart's cursor
/// has not gone back for sends its slots after its `from` (never those the previous run sent,
/// `previous`), once each; the cursor then stands at the newest replayed slot.
fn replayed_due(
    late: &mut HashMap<usize, LateCursor>,
    previous: &Exported,
    at: LateAt<'_>,
    d: &ChartData,
    l: &Late,
) -> Option<std::ops::RangeInclusive<i64>> {
    let c = late.entry(at.key).or_insert(LateCursor { end: i64::MIN, seen: 0, walked: at.now_ut });
    c.walked = at.now_ut;
    if l.active {
        return None;
    }
    let from = l.from_since(c.seen)?;
    c.seen = l.generation;
    let floor = previous.end_of(at.guid, d.meta.update_every, &d.meta.id).unwrap_or(i64::MIN);
    let after = from.max(floor).max(c.end);
    let to = l.replayed_to?;
    c.end = c.end.max(to);
    (to > after).then(|| after + 1..=to)
}

/// As collected: pushes the stored value of each slot of `slots` of `d` that holds any, with
/// the slot's time: what a child replayed has no raw values.
fn push_replayed<'a>(
    f: &mut Batcher,
    d: &'a ChartData,
    m: &mut Metric<'a>,
    text: DimText,
    slots: std::ops::RangeInclusive<i64>,
) {
    let ue = i64::from(d.meta.update_every.max(1));
    let (first, last) = (*slots.start(), *slots.end());
    let first = first + (ue - first.rem_euclid(ue)) % ue;
    for t in (first..=last).step_by(ue as usize) {
        m.timestamp = t;
        let row = (0..d.dims.len()).filter_map(|i| {
            let n = d.value_at(i, t);
            storage_number::exists(n)
                .then(|| (d.names.id(i), d.names.name(i), Value::Computed(storage_number::unpack(n))))
        });
        f.push_chart(m, row, text);
    }
}

/// The windows due at `now` for a chart collected every `ue` seconds: handed out by
/// `windows` the first time a wake-up meets `ue`, kept in `due` for the other charts.
fn due_windows<'a>(
    due: &'a mut Vec<(u32, Vec<Window>)>,
    windows: &mut Windows,
    now: i64,
    ue: u32,
) -> &'a [Window] {
    let at = match due.iter().position(|(u, _)| *u == ue) {
        Some(at) => at,
        None => {
            due.push((ue, windows.due(now, ue)));
            due.len() - 1
        }
    };
    &due[at].1
}

/// The labels sent with the metrics of a chart labelled `chart`: those `filter` lets through,
/// the chart's first, then the host's (`host`, already filtered). Without chart labels the
/// host's are used as they are; otherwise they are gathered in `scratch`.
fn metric_labels<'a>(
    filter: LabelFilter,
    chart: &Labels,
    host: &'a [(String, String)],
    scratch: &'a mut Vec<(String, String)>,
) -> &'a [(String, String)] {
    if chart.is_empty() || !filter.any() {
        return host;
    }
    scratch.clear();
    chart.sent_into(filter, scratch);
    if scratch.is_empty() {
        return host;
    }
    scratch.extend_from_slice(host);
    scratch
}

/// The fields of chart `d` that every metric of it carries, exported under `hostname` with
/// `labels`; the dimension, value and timestamp are set per metric.
fn chart_metric<'a>(
    cfg: &'a InstanceConfig,
    hostname: &'a str,
    d: &'a ChartData,
    labels: &'a [(String, String)],
) -> Metric<'a> {
    Metric {
        prefix: &cfg.prefix,
        hostname,
        chart_id: &d.meta.id,
        chart_name: &d.meta.name,
        family: &d.meta.family,
        context: &d.meta.context,
        chart_type: &d.meta.type_part,
        units: &d.meta.units,
        dim_id: "",
        dim_name: "",
        use_names: cfg.use_names,
        value: Value::Collected(0),
        timestamp: 0,
        labels,
    }
}

/// As collected: pushes each dimension of `d` collected after `sent.0` and by `now_ut`, with
/// its collection time, and moves `sent` on (to the newest collection pushed, and the
/// wake-up that walked it).
fn push_collected<'a>(
    f: &mut Batcher,
    sent: &mut (u64, u64),
    d: &'a ChartData,
    m: &mut Metric<'a>,
    text: DimText,
    now_ut: u64,
) {
    sent.1 = now_ut;
    let since = sent.0;
    let due = |i: usize| (since + 1..=now_ut).contains(&d.dims[i].last_collected_ut);
    if let Some(newest) = (0..d.dims.len()).filter(|&i| due(i)).map(|i| d.dims[i].last_collected_ut).max() {
        sent.0 = newest;
    }
    let secs = |i: usize| (d.dims[i].last_collected_ut / USEC_PER_SEC) as i64;
    // Dimensions collected together share a timestamp: each run of them is pushed as one
    // chart (one template), in dimension order.
    let n = d.dims.len();
    let mut start = 0;
    while let Some(first) = (start..n).find(|&i| due(i)) {
        let ts = secs(first);
        let end = (first..n).find(|&i| due(i) && secs(i) != ts).unwrap_or(n);
        m.timestamp = ts;
        let run = (first..end)
            .filter(|&i| due(i))
            .map(|i| (d.names.id(i), d.names.name(i), Value::Collected(d.dims[i].last_collected_value)));
        f.push_chart(m, run, text);
        start = end;
    }
}

/// A running instance.
#[derive(Debug)]
pub struct InstanceHandle {
    /// Its counters.
    pub stats: Arc<Stats>,
    /// The settings it runs with.
    pub config: InstanceConfig,
    stop: Shutdown,
    formatter: JoinHandle<Formatter>,
    sender: JoinHandle<()>,
}

/// What a stopped instance hands to the one that replaces it: where its export got to, and its
/// counters, so that the new one neither skips nor repeats a window and its self-charts go on.
#[derive(Debug)]
pub struct Handover {
    formatter: Formatter,
    stats: Arc<Stats>,
}

impl InstanceHandle {
    /// Ask both threads to stop: the formatter at once, the sender after its last attempt.
    pub fn trigger_stop(&self) {
        self.stop.trigger();
    }

    /// Stop and wait for both threads. The sender makes one last attempt, bounded by
    /// `timeout ms`, before it returns; what it could not deliver stays in the spool when there
    /// is one. `None` when the formatter thread panicked.
    pub fn join(self) -> Option<Handover> {
        self.stop.trigger();
        let formatter = self.formatter.join().ok();
        let _ = self.sender.join();
        formatter.map(|formatter| Handover { formatter, stats: self.stats })
    }
}

/// How long an idle HTTP connection is kept for the next interval: long enough to bridge
/// intervals of up to 45 s, short enough to be dropped before common server idle timeouts
/// (60 s and more) close it under our feet.
fn keep_idle(every: u32) -> Duration {
    Duration::from_secs(u64::from(every) + 5).clamp(Duration::from_secs(15), Duration::from_secs(50))
}

/// The sender's delivery for `cfg`, and a description of where it sends, for the start-up log.
fn delivery(cfg: &InstanceConfig) -> Result<(Box<dyn Delivery>, String), String> {
    match cfg.connector.carrier() {
        Carrier::Lines => Ok((
            // The replay shares the memory budget: at most a quarter of `max buffer size`.
            Box::new(LineDelivery::new(
                cfg.endpoints.clone(),
                cfg.timeout,
                cfg.replay,
                cfg.max_buffer_bytes / 4,
            )),
            describe(&cfg.endpoints),
        )),
        Carrier::Http(format, http) => {
            let t = HttpTransport::builder(http, &cfg.endpoints, cfg.timeout)
                .body_headers(format.headers())
                .keep_idle(keep_idle(cfg.every))
                .build()?;
            let mut to = t.urls().join(" ");
            match t.trust() {
                Some(Trust::Anything) => tracing::warn!(
                    destination = %to,
                    "tls skip verify = yes: any certificate is accepted, so anyone on the way can read and \
                     change what is sent. Prefer 'tls ca file'"
                ),
                Some(Trust::BuiltIn) => tracing::warn!(
                    destination = %to,
                    "no system root certificates found (install the ca-certificates package); verifying \
                     against the roots built into rrdpipe"
                ),
                Some(Trust::Roots { system, ca_file }) => to.push_str(&format!(
                    " (trusting {system} system certificates and {ca_file} from 'tls ca file')"
                )),
                None => {}
            }
            if let Some(a) = &http.auth {
                to.push_str(&format!(" as user '{}'", a.username));
            }
            Ok((Box::new(HttpDelivery::new(t)), to))
        }
    }
}

/// An instance checked and ready to start: its destinations are usable.
pub struct Prepared {
    cfg: InstanceConfig,
    delivery: Box<dyn Delivery>,
    to: String,
}

/// Check that an instance can run: fails, saying what to do, when its destinations cannot be
/// used (an unreadable `tls ca file`). Nothing is started.
pub fn prepare(cfg: InstanceConfig) -> Result<Prepared, String> {
    let (delivery, to) = span(&cfg.name).in_scope(|| delivery(&cfg))?;
    Ok(Prepared { cfg, delivery, to })
}

/// The span an instance's threads run in, for their whole life: its log lines say which
/// instance they are about without repeating it.
fn span(name: &str) -> tracing::Span {
    tracing::info_span!("exporter", instance = %name)
}

/// Start an instance's two threads. Fails, saying what to do, when its destinations cannot be
/// used (an unreadable `tls ca file`) or a thread cannot start.
pub fn start(cfg: InstanceConfig, db: Arc<Db>) -> Result<InstanceHandle, String> {
    launch(prepare(cfg)?, db, None)
}

/// Start a prepared instance; with `previous`, it goes on where that one stopped.
pub fn launch(prepared: Prepared, db: Arc<Db>, previous: Option<Handover>) -> Result<InstanceHandle, String> {
    let Prepared { cfg, delivery, to } = prepared;
    let (stats, formatter) = match previous {
        Some(h) => (h.stats, Some(h.formatter)),
        None => (Arc::new(Stats::default()), None),
    };
    let (tx, rx) = mpsc::channel::<Batch>();
    let span = span(&cfg.name);
    let spool = match &cfg.spool {
        None => None,
        Some((dir, max)) => Some(
            span.in_scope(|| Spool::open(dir, &cfg.name, *max))
                .map_err(|e| format!("cannot use the spool in {}: {e}", dir.display()))?,
        ),
    };
    span.in_scope(|| {
        tracing::info!(
            "type" = %cfg.connector.type_name(),
            to = %to,
            data_source = %cfg.source.name(),
            every_s = cfg.every,
            prefix = %cfg.prefix,
            timeout_ms = cfg.timeout.as_millis() as u64,
            buffer_on_failures = cfg.buffer_on_failures,
            "started"
        )
    });
    let scfg = SenderConfig {
        timeout: cfg.timeout,
        buffer_on_failures: cfg.buffer_on_failures,
        max_buffer_bytes: cfg.max_buffer_bytes,
        every: Duration::from_secs(u64::from(cfg.every)),
    };
    let sstats = stats.clone();
    let exporter = db.register_exporter();
    let sender = std::thread::Builder::new()
        .name(format!("exp-send-{}", cfg.name))
        .spawn({
            let span = span.clone();
            move || span.in_scope(|| sender::run(scfg, delivery, rx, sstats, spool))
        })
        .map_err(|e| {
            db.unregister_exporter(exporter);
            format!("cannot start the sender thread: {e}")
        })?;
    let (fstats, stop, config, fdb) = (stats.clone(), Shutdown::new(), cfg.clone(), db.clone());
    let fstop = stop.clone();
    let span = tracing::info_span!("exporter", instance = %cfg.name);
    let formatter = std::thread::Builder::new()
        .name(format!("exp-fmt-{}", cfg.name))
        .spawn(move || {
            let _span = span.entered();
            let start = now_ut();
            let mut f = match formatter {
                Some(previous) => Formatter::continue_from(cfg, previous),
                None => {
                    let mut f = Formatter::new(cfg, start);
                    f.load_exported();
                    f
                }
            };
            f.mark_orphans_as(exporter);
            let f = run_formatter(f, &fdb, fstop, tx, fstats);
            // Orphan hosts no longer wait for this instance.
            fdb.unregister_exporter(exporter);
            f
        })
        .map_err(|e| {
            db.unregister_exporter(exporter);
            format!("cannot start the formatter thread: {e}")
        })?;
    Ok(InstanceHandle { stats, config, stop, formatter, sender })
}

/// Format on the clock until `stop`; returns the formatter, which knows where export got to.
fn run_formatter(
    f: Formatter,
    db: &Db,
    stop: Shutdown,
    tx: mpsc::Sender<Batch>,
    stats: Arc<Stats>,
) -> Formatter {
    let cfg = f.config();
    let every_ut = cfg.every as u64 * USEC_PER_SEC;
    let charts = ExporterCharts::new(&db.localhost(), &cfg.name, cfg.legacy, cfg.every);
    let mut f = f;
    charts.update(&stats, now_ut());
    loop {
        let now = now_ut();
        let next = (now / every_ut + 1) * every_ut;
        if stop.wait_timeout(Duration::from_micros(next - now)) {
            f.save_exported(db, true);
            return f;
        }
        let now = now_ut();
        let batches = f.format_due(db, now);
        // Kept before they are handed out: an agent killed after this sends none of them
        // again once it restarts (without a spool, those not yet delivered are lost).
        f.save_exported(db, false);
        let mut sent_any = false;
        for b in batches {
            stats.formatted_metrics(b.metrics as u64);
            if !b.is_empty() {
                sent_any = true;
                if tx.send(b).is_err() {
                    return f;
                }
            }
        }
        // Nothing to send still wakes the sender: it retries what it holds once per interval.
        if !sent_any && tx.send(Batch::default()).is_err() {
            return f;
        }
        let (u, s) = thread_cpu_us();
        stats.formatter_user_us.store(u, std::sync::atomic::Ordering::Relaxed);
        stats.formatter_system_us.store(s, std::sync::atomic::Ordering::Relaxed);
        charts.update(&stats, now);
    }
}

/// A chart's dimensions with a value in the window [`WindowValues`] computed: id, name and
/// value, in order. A named iterator rather than a `filter_map` closure so that its `next`
/// is always inlined into the batcher's loop (the closure was called out of line and handed
/// its result back through the stack).
struct WindowDims<'a, 'v> {
    names: &'a DimNames,
    values: &'v WindowValues,
    next: usize,
}

impl<'a> Iterator for WindowDims<'a, '_> {
    type Item = (&'a str, &'a str, Value);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.names.len() {
            let i = self.next;
            self.next += 1;
            if let Some(v) = self.values.value(i) {
                return Some((self.names.id(i), self.names.name(i), v));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rrd::{Algorithm, ChartDef, DimensionDef, HostInfo};

    const S: u64 = 1_000_000;

    use crate::rrd::labels::source as label_source;

    fn cfg(kind: ConnectorKind, source: DataSource, every: u32) -> InstanceConfig {
        InstanceConfig { legacy: true, source, every, ..InstanceConfig::new("backend", kind) }
    }

    fn db() -> Db {
        Db::new(HostInfo { hostname: "h1".into(), update_every: 1, ..Default::default() }, 3600)
    }

    fn text(b: &[Batch]) -> Vec<(i64, String)> {
        b.iter().map(|v| (v.timestamp, String::from_utf8(v.bytes.clone()).unwrap())).collect()
    }

    /// The exporter wakes at a boundary before the collector stored that
    /// boundary's slot. Every slot must still be exported exactly once.
    #[test]
    fn collection_lagging_the_wake_up_loses_no_slot() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("test.lag", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::Sum, 2), 1000 * S);
        let mut exported_sum = 0.0;
        let mut stored_sum = 0.0;
        let mut timestamps = vec![];
        // Collect value t at t + 0.9 s: each slot lands 900 ms after its boundary, so at every
        // exporter wake-up (on the boundary) the newest slot is not stored yet.
        c.collect(&[(0, 999)], 999 * S + 900_000).unwrap();
        for t in 1000..1100u64 {
            // The exporter wakes first, at t.0 ...
            if t % 2 == 0 {
                for Batch { timestamp: ts, bytes, .. } in f.format_due(&db, t * S) {
                    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        let line = std::str::from_utf8(line).unwrap();
                        let v: f64 = line.split(' ').nth(1).unwrap().parse().unwrap();
                        exported_sum += v;
                        timestamps.push(ts);
                    }
                }
            }
            // ... then the collector stores slot t at t.9.
            c.collect(&[(0, t as i64)], t * S + 900_000).unwrap();
            if t <= 1095 {
                stored_sum += t as f64;
            }
        }
        // The first collection (999) only primed. Windows end 2 s behind the wake-up: the
        // last wake (1098) exported up to 1096. Every slot in between exactly once.
        let expected: f64 = (1000..=1096).map(|t| t as f64).sum();
        assert_eq!(exported_sum, expected);
        assert!(stored_sum > 0.0);
        assert!(timestamps.windows(2).all(|w| w[1] == w[0] + 2), "one point per 2 s: {timestamps:?}");
        assert!(timestamps.iter().all(|t| t % 2 == 0));
    }

    #[test]
    fn an_orphan_host_is_marked_exported_once_its_last_slot_was_handed_out() {
        let db = db();
        let exporter = db.register_exporter();
        let info = HostInfo {
            hostname: "c".into(),
            machine_guid: "g".into(),
            update_every: 1,
            ..Default::default()
        };
        let (host, _) = db.host_by_guid(info);
        let feeding = host.attach();
        let (c, _) = host.define_chart(&ChartDef::new("t.orphan", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        for t in 1000..=1005 {
            c.collect(&[(0, 3)], t * S).unwrap();
        }
        drop(feeding);
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::Average, 1), 1000 * S);
        f.mark_orphans_as(exporter);
        // The window handed out at 1005 ends at 1003: slots 1004 and 1005 are still to send.
        assert_eq!(
            text(&f.format_due(&db, 1005 * S)),
            vec![(1003, "netdata.c.t.orphan.v 3.0000000 1003\n".to_string())]
        );
        assert!(db.remove_orphans(i64::MAX, 0).is_empty());
        let last = text(&f.format_due(&db, 1007 * S));
        assert_eq!(last.last().unwrap(), &(1005, "netdata.c.t.orphan.v 3.0000000 1005\n".to_string()));
        assert_eq!(db.remove_orphans(i64::MAX, 0).len(), 1, "every slot was handed out");
    }

    /// A child's host for the replication tests: chart `t.r` collected every second.
    fn child_chart(db: &Db) -> Arc<crate::rrd::Chart> {
        let info = HostInfo {
            hostname: "c".into(),
            machine_guid: "g".into(),
            update_every: 1,
            ..Default::default()
        };
        let (host, _) = db.host_by_guid(info);
        let (c, _) = host.define_chart(&ChartDef::new("t.r", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        c
    }

    fn lines(b: &[Batch]) -> Vec<String> {
        text(b).into_iter().flat_map(|(_, t)| t.lines().map(str::to_string).collect::<Vec<_>>()).collect()
    }

    fn replayed(c: &crate::rrd::Chart, slots: std::ops::RangeInclusive<i64>, v: f64) {
        for t in slots {
            assert!(c.store_replayed(
                t,
                &[(0, crate::rrd::storage_number::pack(v, crate::rrd::storage_number::SN_EXISTS))]
            ));
        }
    }

    /// Windows handed out while a child was away are sent once its replayed slots are in, each
    /// once, with their own timestamps; nothing while the replication goes on.
    #[test]
    fn replayed_slots_are_exported_late_and_once() {
        let db = db();
        let c = child_chart(&db);
        for t in 1000..=1005 {
            c.collect(&[(0, 7)], t * S + 500_000).unwrap();
        }
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::Average, 1), 1000 * S);
        f.format_due(&db, 1003 * S);
        let sent = lines(&f.format_due(&db, 1008 * S));
        assert_eq!(sent.last().unwrap(), "netdata.c.t.r.v 7.0000000 1005");
        // The child is away: the windows to 1018 pass with nothing to send.
        assert!(lines(&f.format_due(&db, 1020 * S)).is_empty());
        c.begin_replication(1005);
        replayed(&c, 1006..=1019, 9.0);
        assert!(lines(&f.format_due(&db, 1021 * S)).is_empty(), "replication goes on: the chart waits");
        c.end_replication();
        assert_eq!(
            lines(&f.format_due(&db, 1022 * S)),
            (1006..=1019).map(|t| format!("netdata.c.t.r.v 9.0000000 {t}")).collect::<Vec<_>>()
        );
        replayed(&c, 1020..=1021, 9.0);
        assert_eq!(lines(&f.format_due(&db, 1023 * S)), vec!["netdata.c.t.r.v 9.0000000 1021"]);
        assert!(lines(&f.format_due(&db, 1023 * S)).is_empty());
    }

    /// An exporter of 10 s had sent the window in which the child's gap began with the slots
    /// it had then: once the replay is in, that window is sent again, once, with the average
    /// of all its slots, under the same timestamp; the windows after it once each.
    #[test]
    fn the_window_in_which_a_gap_began_is_sent_again_complete_and_only_once() {
        let db = db();
        let c = child_chart(&db);
        for t in 1000..=1005 {
            c.collect(&[(0, 7)], t * S).unwrap();
        }
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::Average, 10), 1000 * S);
        assert_eq!(lines(&f.format_due(&db, 1012 * S)), vec!["netdata.c.t.r.v 7.0000000 1010"]);
        assert!(lines(&f.format_due(&db, 1022 * S)).is_empty(), "the child is away");
        c.begin_replication(1005);
        replayed(&c, 1006..=1029, 9.0);
        c.end_replication();
        assert_eq!(
            lines(&f.format_due(&db, 1032 * S)),
            vec![
                "netdata.c.t.r.v 8.0000000 1010",
                "netdata.c.t.r.v 9.0000000 1020",
                "netdata.c.t.r.v 9.0000000 1030"
            ]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
        );
        assert!(lines(&f.format_due(&db, 1042 * S)).is_empty(), "nothing is sent twice");
    }

    /// As collected, the slots a child replays go out once its replay is in, each with its
    /// stored value and its slot's time; the collections after them follow, nothing twice.
    #[test]
    fn as_collected_sends_replayed_slots_with_their_stored_values_once() {
        let db = db();
        let c = child_chart(&db);
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::AsCollected, 1), 1000 * S);
        c.collect(&[(0, 7)], 1001 * S + 500_000).unwrap();
        assert_eq!(lines(&f.format_due(&db, 1002 * S)), vec!["netdata.c.t.r.v 7 1001"]);
        c.begin_replication(1002);
        replayed(&c, 1003..=1005, 9.0);
        assert!(lines(&f.format_due(&db, 1006 * S)).is_empty(), "replication goes on: the chart waits");
        c.end_replication();
        c.collect(&[(0, 3)], 1006 * S + 500_000).unwrap();
        assert_eq!(
            lines(&f.format_due(&db, 1007 * S)),
            vec![
                "netdata.c.t.r.v 9.0000000 1003",
                "netdata.c.t.r.v 9.0000000 1004",
                "netdata.c.t.r.v 9.0000000 1005",
                "netdata.c.t.r.v 3 1006"
            ]
        );
        assert!(lines(&f.format_due(&db, 1008 * S)).is_empty());
        assert_eq!(f.exported(&db).format(), "g 1 1008\n");
    }

    /// After a restart the child replays more than was missing: only the windows after those
    /// the previous run handed out (its `exported` file) are sent.
    #[test]
    fn after_a_restart_only_windows_the_previous_run_did_not_hand_out_are_sent() {
        let db = db();
        let c = child_chart(&db);
        c.begin_replication(990);
        replayed(&c, 991..=1015, 5.0);
        c.end_replication();
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::Average, 1), 1015 * S);
        f.previous = Exported::parse("g 1 1010\n");
        assert_eq!(
            lines(&f.format_due(&db, 1017 * S)),
            (1011..=1015).map(|t| format!("netdata.c.t.r.v 5.0000000 {t}")).collect::<Vec<_>>()
        );
        assert_eq!(f.exported(&db).format(), "g 1 1015\n", "the chart is in step with its host");
        c.begin_replication(1015);
        f.format_due(&db, 1019 * S);
        assert_eq!(
            f.exported(&db).format(),
            "g 1 1015 t.r\ng 1 1017\n",
            "the chart waits for its replication"
        );
    }

    #[test]
    fn missed_wake_ups_are_formatted_as_separate_windows() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("test.gap", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        for t in 980..1050u64 {
            c.collect(&[(0, 7)], t * S).unwrap();
        }
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::Average, 10), 1000 * S);
        assert_eq!(
            text(&f.format_due(&db, 1010 * S)),
            vec![(1000, "netdata.h1.test.gap.v 7.0000000 1000\n".to_string())]
        );
        // The exporter was stuck until 1043: windows ending 1010 to 1040 come out
        // separately, each with its own timestamp.
        assert_eq!(
            text(&f.format_due(&db, 1043 * S)),
            (1010..=1040)
                .step_by(10)
                .map(|t| (t, format!("netdata.h1.test.gap.v 7.0000000 {t}\n")))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn as_collected_sends_raw_values_once_with_their_collection_time() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("test.raw", 1));
        c.add_dimension(&DimensionDef::new("bytes", Algorithm::Incremental).scaled(8, 1000));
        c.collect(&[(0, 5000)], 1001 * S + 250_000).unwrap();
        let mut f = Formatter::new(cfg(ConnectorKind::Opentsdb, DataSource::AsCollected, 10), 1000 * S);
        assert_eq!(
            text(&f.format_due(&db, 1010 * S)),
            vec![(1010, "put netdata.test.raw.bytes 1001 5000 host=h1\n".to_string())]
        );
        // Not collected since: nothing is sent again.
        assert_eq!(text(&f.format_due(&db, 1020 * S)), vec![(1020, String::new())]);
    }

    /// netdata 1.37's slabinfo.plugin writes through a full stdout buffer, so its last
    /// chart's BEGIN comes in one read and its END in the next, a second later: the collection
    /// is timed at BEGIN, before the wake-up in between, but only readable after it. It is sent
    /// at the next wake-up with its BEGIN time, once.
    #[test]
    fn as_collected_sends_a_collection_that_began_before_a_wake_up_and_ended_after_it() {
        use crate::collect::plugins_d::session::{Session, SessionConfig};
        let db = db();
        let mut session = Session::new(SessionConfig::new("slabinfo", 1), db.localhost());
        let mut feed = |lines: &[&[u8]], at: u64| {
            for line in lines {
                assert_ne!(session.feed(line, at), crate::collect::plugins_d::session::Feed::Ignored);
            }
        };
        feed(
            &[
                b"CHART mem.slabmemory '' 'Memory Usage' 'B' 'slab' '' line 3000 1 slabinfo.plugin",
                b"DIMENSION kmalloc-64 '' absolute 1 1",
                b"CHART mem.slabwaste '' 'Memory waste' 'B' 'slab' '' line 3002 1 slabinfo.plugin",
                b"DIMENSION kmalloc-64 '' absolute 1 1",
                b"BEGIN mem.slabmemory",
                b"SET kmalloc-64 = 4096",
                b"END",
                b"BEGIN mem.slabwaste",
                b"SET kmalloc-64 = 18496",
            ],
            1001 * S + 3_000,
        );
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::AsCollected, 1), 1000 * S);
        let first = "netdata.h1.mem.slabmemory.kmalloc-64 4096 1001\n";
        assert_eq!(text(&f.format_due(&db, 1002 * S)), vec![(1002, first.to_string())]);
        feed(&[b"END", b"BEGIN mem.slabmemory", b"SET kmalloc-64 = 8192", b"END"], 1002 * S + 5_000);
        let second =
            "netdata.h1.mem.slabmemory.kmalloc-64 8192 1002\nnetdata.h1.mem.slabwaste.kmalloc-64 18496 1001\n";
        assert_eq!(text(&f.format_due(&db, 1003 * S)), vec![(1003, second.to_string())]);
        assert_eq!(text(&f.format_due(&db, 1004 * S)), vec![(1004, String::new())]);
    }

    /// Dimensions of one chart collected at different times: each line carries its own
    /// collection time, in dimension order; one collected after the wake-up waits for the next.
    #[test]
    fn as_collected_keeps_each_dimensions_time_and_order() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("test.mix", 1));
        for id in ["a", "b", "c", "d"] {
            c.add_dimension(&DimensionDef::new(id, Algorithm::Absolute));
        }
        c.collect(&[(0, 1), (1, 2), (2, 3), (3, 4)], 1001 * S + 250_000).unwrap();
        c.collect(&[(1, 20), (3, 40)], 1002 * S + 500_000).unwrap();
        c.collect(&[(2, 300)], 1004 * S + 500_000).unwrap();
        let mut f = Formatter::new(cfg(ConnectorKind::Graphite, DataSource::AsCollected, 10), 1000 * S);
        let want =
            "netdata.h1.test.mix.a 1 1001\nnetdata.h1.test.mix.b 20 1002\nnetdata.h1.test.mix.d 40 1002\n";
        assert_eq!(text(&f.format_due(&db, 1004 * S)), vec![(1004, want.to_string())]);
        let want = "netdata.h1.test.mix.c 300 1004\n";
        assert_eq!(text(&f.format_due(&db, 1010 * S)), vec![(1010, want.to_string())]);
    }

    /// Plain ids and names are copied as they are; a chart with one that is not (a space, a
    /// quote, a letter outside ASCII) has it sanitized or escaped, also once a rename makes a
    /// plain chart's name unplain, and copied again once it is renamed back.
    #[test]
    fn dimension_ids_and_names_are_sanitized_unless_plain() {
        let db = db();
        let host = db.localhost();
        let (plain, _) = host.define_chart(&ChartDef::new("t.plain", 1));
        plain.add_dimension(&DimensionDef::new("a-b.c_1", Algorithm::Absolute));
        let (mixed, _) = host.define_chart(&ChartDef::new("t.mixed", 1));
        mixed.add_dimension(&DimensionDef::new("ok", Algorithm::Absolute));
        mixed.add_dimension(&DimensionDef::new("d \"é\"", Algorithm::Absolute));
        let mut now = 1000;
        let mut wake = |format: ConnectorKind, use_names: bool| {
            for c in [&plain, &mixed] {
                let row: Vec<(usize, i64)> = (0..c.dimension_count()).map(|i| (i, 7)).collect();
                c.collect(&row, now * S + 500_000).unwrap();
            }
            let mut f = Formatter::new(
                InstanceConfig { use_names, ..cfg(format, DataSource::AsCollected, 1) },
                now * S,
            );
            now += 1;
            text(&f.format_due(&db, now * S)).remove(0).1
        };
        assert_eq!(
            wake(ConnectorKind::Graphite, false),
            "netdata.h1.t.plain.a-b.c_1 7 1000\nnetdata.h1.t.mixed.ok 7 1000\nnetdata.h1.t.mixed.d____ 7 1000\n"
        );
        let json = wake(ConnectorKind::Json, false);
        assert!(json.contains(r#""id":"a-b.c_1","name":"a-b.c_1","value":7,"#), "{json}");
        assert!(json.contains(r#""id":"d \"é\"","name":"d \"é\"","value":7,"#), "{json}");
        // A rename to a name that is not plain, then back to a plain one.
        for (name, line) in [
            ("x;y=z", "put netdata.t.plain.x_y_z 1002 7 host=h1"),
            ("xyz", "put netdata.t.plain.xyz 1003 7 host=h1"),
        ] {
            plain.add_dimension(&DimensionDef {
                name: Some(name.into()),
                ..DimensionDef::new("a-b.c_1", Algorithm::Absolute)
            });
            assert_eq!(wake(ConnectorKind::Opentsdb, true).lines().next(), Some(line));
        }
    }

    /// The line sender takes a batch's metric count as its number of lines without reading it
    /// again: every line batch, of every format and data source, has exactly one line per
    /// metric, also with values too large for exact sums, names to sanitize and empty slots.
    #[test]
    fn line_batches_count_one_metric_per_line() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("t.count", 1));
        c.add_dimension(&DimensionDef::new("small", Algorithm::Absolute).scaled(1, 1000));
        c.add_dimension(&DimensionDef::new("huge é", Algorithm::Absolute).scaled(1_000_000, 1));
        c.add_dimension(&DimensionDef::new("gappy", Algorithm::Absolute));
        for t in 1000..1030u64 {
            let mut row = vec![(0, t as i64 * 7), (1, 9_000_000_000 + t as i64)];
            if t % 3 != 0 {
                row.push((2, -(t as i64)));
            }
            c.collect(&row, t * S + 300_000).unwrap();
        }
        for format in [ConnectorKind::Graphite, ConnectorKind::Opentsdb, ConnectorKind::Json] {
            for source in [DataSource::Average, DataSource::Sum, DataSource::AsCollected] {
                let mut f = Formatter::new(cfg(format, source, 5), 1000 * S);
                let mut lines = 0;
                for now in (1005..=1030).step_by(5) {
                    for b in f.format_due(&db, now * S) {
                        assert_eq!(
                            b.bytes.iter().filter(|&&c| c == b'\n').count(),
                            b.metrics,
                            "{format:?} {source:?}"
                        );
                        lines += b.metrics;
                    }
                }
                // As collected sends each dimension's last collection (all made before the
                // first wake-up here) once; the windows send 3 dimensions every 5 s.
                let least = if source == DataSource::AsCollected { 3 } else { 3 * 4 };
                assert!(lines >= least, "{format:?} {source:?}: {lines} lines");
            }
        }
    }

    #[test]
    fn a_window_without_stored_values_sends_no_line() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("test.empty", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        let mut f = Formatter::new(cfg(ConnectorKind::Json, DataSource::Average, 10), 1000 * S);
        let out = f.format_due(&db, 1010 * S);
        assert_eq!(out.iter().map(|f| f.metrics).sum::<usize>(), 0);
    }

    #[test]
    fn host_and_chart_filters_apply_to_id_or_name_and_localhost() {
        let db = db();
        let mut def = ChartDef::new("app.x1", 1);
        def.name = Some("friendly".into());
        let (c, _) = db.localhost().define_chart(&def);
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        let (d, _) = db.localhost().define_chart(&ChartDef::new("app.other", 1));
        d.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        for t in 995..1010u64 {
            c.collect(&[(0, 1)], t * S).unwrap();
            d.collect(&[(0, 1)], t * S).unwrap();
        }
        let mut conf = cfg(ConnectorKind::Graphite, DataSource::Sum, 10);
        conf.charts = SimplePattern::new("app.friendly");
        conf.hosts = Some(SimplePattern::new("localhost"));
        let mut f = Formatter::new(conf.clone(), 1000 * S);
        assert_eq!(
            text(&f.format_due(&db, 1010 * S)),
            vec![(1000, "netdata.h1.app.x1.v 5.0000000 1000\n".to_string())]
        );
        // The local host answers to its hostname and to `localhost`: both must be refused.
        conf.hosts = Some(SimplePattern::new("!h1 *"));
        let mut f = Formatter::new(conf.clone(), 1000 * S);
        assert_eq!(f.format_due(&db, 1010 * S).len(), 1);
        conf.hosts = Some(SimplePattern::new("!h1 !localhost *"));
        let mut f = Formatter::new(conf, 1000 * S);
        assert_eq!(text(&f.format_due(&db, 1010 * S)), vec![]);
    }

    /// Chart labels come before host labels; each instance sends those its sources allow; a
    /// change of either reaches the next wake-up.
    #[test]
    fn labels_follow_their_sources_and_changes_reach_the_next_export() {
        let db = db();
        let host = db.localhost();
        let mut own = Labels::new();
        own.add("room", "b12", label_source::CONFIG);
        own.add("_os_name", "Debian GNU/Linux", label_source::AUTO);
        host.set_own_labels(own);
        let (c, _) = host.define_chart(&ChartDef::new("test.l", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        let mut chart = Labels::new();
        chart.add("device", "sda", label_source::AUTO);
        chart.add("mount", "root", label_source::CONFIG);
        c.set_labels(chart);
        for t in 990..1030u64 {
            c.collect(&[(0, 4)], t * S).unwrap();
        }
        let graphite = |filter: LabelFilter| {
            let conf =
                InstanceConfig { labels: filter, ..cfg(ConnectorKind::Graphite, DataSource::Average, 10) };
            let mut f = Formatter::new(conf, 1000 * S);
            text(&f.format_due(&db, 1010 * S))
        };
        let (configured, automatic) = (
            LabelFilter { configured: true, automatic: false },
            LabelFilter { configured: false, automatic: true },
        );
        assert_eq!(
            graphite(configured),
            [(1000, "netdata.h1.test.l.v;mount=root;room=b12 4.0000000 1000\n".to_string())]
        );
        assert_eq!(
            graphite(automatic),
            [(1000, "netdata.h1.test.l.v;device=sda;_os_name=Debian_GNU_Linux 4.0000000 1000\n".to_string())]
        );
        assert_eq!(
            graphite(LabelFilter { configured: true, automatic: true }),
            [(1000, "netdata.h1.test.l.v;device=sda;mount=root;room=b12;_os_name=Debian_GNU_Linux 4.0000000 1000\n".to_string())]
        );
        assert_eq!(
            graphite(LabelFilter::default()),
            [(1000, "netdata.h1.test.l.v 4.0000000 1000\n".to_string())]
        );
        let conf =
            InstanceConfig { labels: configured, ..cfg(ConnectorKind::Graphite, DataSource::Average, 10) };
        let mut f = Formatter::new(conf, 1000 * S);
        f.format_due(&db, 1010 * S);
        let mut chart = Labels::new();
        chart.add("room", "chart wins", label_source::CONFIG);
        c.set_labels(chart);
        host.overwrite_labels(Labels::from_pairs(&[("rack".into(), "r1".into())], label_source::CONFIG));
        assert_eq!(
            text(&f.format_due(&db, 1020 * S)),
            [(1010, "netdata.h1.test.l.v;room=chart_wins;rack=r1 4.0000000 1010\n".to_string())]
        );
    }

    #[test]
    fn http_connectors_get_whole_bodies_per_window_with_host_labels() {
        let db = db();
        let (c, _) = db.localhost().define_chart(&ChartDef::new("test.http", 1));
        c.add_dimension(&DimensionDef::new("v", Algorithm::Absolute));
        for t in 980..1030u64 {
            c.collect(&[(0, 4)], t * S).unwrap();
        }
        let mut conf = cfg(ConnectorKind::OpentsdbHttp { tls: false }, DataSource::Average, 10);
        db.localhost()
            .set_own_labels(Labels::from_pairs(&[("room".into(), "b12".into())], label_source::CONFIG));
        let mut f = Formatter::new(conf.clone(), 1000 * S);
        f.format_due(&db, 1010 * S);
        assert_eq!(
            text(&f.format_due(&db, 1023 * S)),
            vec![
                (1010, r#"[{"metric":"netdata.test.http.v","timestamp":1010,"value":4.0000000,"tags":{"host":"h1","room":"b12"}}]"#.to_string()),
                (1020, r#"[{"metric":"netdata.test.http.v","timestamp":1020,"value":4.0000000,"tags":{"host":"h1","room":"b12"}}]"#.to_string()),
            ]
        );
        conf.connector = Connector::new(ConnectorKind::RemoteWrite { tls: false });
        let mut f = Formatter::new(conf, 1000 * S);
        let out = f.format_due(&db, 1010 * S);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].timestamp, out[0].metrics), (1000, 1));
        let req = crate::export::connector::remote_write::decode(&out[0].bytes);
        let labels: Vec<(&str, &str)> =
            req.timeseries[0].labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(
            labels,
            vec![
                ("__name__", "netdata_test_http_average"),
                ("chart", "test.http"),
                ("dimension", "v"),
                ("family", "test"),
                ("instance", "h1"),
                ("room", "b12"),
            ]
        );
        assert_eq!(
            (req.timeseries[0].samples[0].value, req.timeseries[0].samples[0].timestamp),
            (4.0, 1_000_000)
        );
    }
}
