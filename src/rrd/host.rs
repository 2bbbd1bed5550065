//! Hosts and the database of hosts: who owns which charts, and when a host may go.
//!
//! One job: find or create charts by id under a host, and hand readers a snapshot of the chart
//! list so that a long export walk never holds a lock that a collector needs.
//!
//! # Orphan hosts
//! A streaming child's host is fed through an [`Attachment`]. When the last one is dropped the
//! host becomes an orphan. Each exporter that walks it afterwards and has handed out every slot
//! it stores says so ([`Host::mark_exported`]). [`Db::remove_orphans`] removes a host that has
//! been an orphan long enough and that every registered exporter has marked; nothing collected
//! is lost. A child that reconnects before that finds its host again, with its charts.
//! Time is passed in (wall-clock seconds), so tests drive it.

use crate::clock::now_s;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::chart::{Chart, ChartDef};
use super::labels::Labels;

/// Identity of a host, as a child announces it (or as configured for the local host).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostInfo {
    /// Hostname as exported.
    pub hostname: String,
    /// Machine GUID (empty for the local host unless known).
    pub machine_guid: String,
    /// Default collection interval of the host.
    pub update_every: u32,
    /// Operating system, as announced.
    pub os: String,
    /// Free-form tags, as announced.
    pub tags: String,
}

/// A host: its identity and its charts.
#[derive(Debug)]
pub struct Host {
    info: RwLock<HostInfo>,
    history: usize,
    charts: RwLock<Charts>,
    presence: Mutex<Presence>,
    labels: RwLock<HostLabels>,
    /// The stream capabilities of the child's last connection (empty for a host never fed
    /// by one).
    stream_capabilities: RwLock<String>,
}

/// A host's labels: its own (configured and found on the machine, for the local host), those
/// its feed sent last (`LABEL` … `OVERWRITE labels`), and the two merged, as readers see them.
#[derive(Debug, Default)]
struct HostLabels {
    base: Labels,
    sent: Labels,
    merged: Arc<Labels>,
}

/// Whether connections feed a host, and which exporters have sent all of it since none does.
#[derive(Debug, Default)]
struct Presence {
    /// Attachments alive.
    attached: usize,
    /// Wall-clock seconds since an attachment is alive without a break; `None` while none is.
    attached_since: Option<i64>,
    /// Wall-clock seconds since no attachment is alive; `None` while one is, or before the first.
    orphan_since: Option<i64>,
    /// Bumped whenever the host is claimed again, so that marks of an older orphan period do
    /// not count.
    generation: u64,
    /// Exporters that handed out every slot of the host during this orphan period.
    exported_by: Vec<u64>,
}

impl Presence {
    fn claim(&mut self) {
        self.orphan_since = None;
        self.generation += 1;
        self.exported_by.clear();
    }
}

/// A connection feeding a host; dropping the last one makes the host an orphan.
#[derive(Debug)]
pub struct Attachment {
    host: Arc<Host>,
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let mut p = self.host.presence.lock();
        p.attached -= 1;
        if p.attached == 0 {
            p.orphan_since = Some(now_s());
            p.attached_since = None;
        }
    }
}

/// Whether connections feed a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Never attached: the local host, fed by this agent's own collectors.
    Never,
    /// Fed by a connection since these wall-clock seconds.
    Connected(i64),
    /// No connection since these wall-clock seconds.
    Gone(i64),
}

/// An orphan period of a host, as seen by an exporter about to walk it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Orphan(u64);

/// Wall-clock seconds since the Unix epoch.
#[derive(Debug, Default)]
struct Charts {
    list: Vec<Arc<Chart>>,
    by_id: HashMap<Box<str>, Arc<Chart>>,
}

impl Host {
    /// A host whose charts keep `history` slots per dimension.
    pub fn new(info: HostInfo, history: usize) -> Host {
        Host {
            info: RwLock::new(info),
            history,
            charts: RwLock::new(Charts::default()),
            presence: Mutex::new(Presence::default()),
            labels: RwLock::new(HostLabels::default()),
            stream_capabilities: RwLock::new(String::new()),
        }
    }

    /// The host's labels now: a snapshot, replaced whole when they change.
    pub fn labels(&self) -> Arc<Labels> {
        self.labels.read().merged.clone()
    }

    /// Sets the host's own labels (`[host labels]` and the machine's, for the local host);
    /// those its feed sent stay on top of them.
    pub fn set_own_labels(&self, own: Labels) {
        let mut l = self.labels.write();
        l.merged = Arc::new(Labels::merged(&own, &l.sent));
        l.base = own;
    }

    /// Replaces the labels the host's feed sent (a plugin's or a child's `OVERWRITE labels`).
    pub fn overwrite_labels(&self, sent: Labels) {
        let mut l = self.labels.write();
        l.merged = Arc::new(Labels::merged(&l.base, &sent));
        l.sent = sent;
    }

    /// Note that a connection feeds this host until the returned attachment is dropped.
    pub fn attach(self: &Arc<Self>) -> Attachment {
        let mut p = self.presence.lock();
        p.attached += 1;
        p.attached_since.get_or_insert_with(now_s);
        p.claim();
        Attachment { host: self.clone() }
    }

    /// Whether connections feed the host, and since when (wall-clock seconds).
    pub fn feed(&self) -> Feed {
        let p = self.presence.lock();
        match (p.attached_since, p.orphan_since) {
            (Some(since), _) => Feed::Connected(since),
            (None, Some(since)) => Feed::Gone(since),
            (None, None) => Feed::Never,
        }
    }

    /// The current orphan period, when no connection feeds the host (and one did). Read it
    /// before walking the host's charts: everything they store was collected before it began.
    pub fn orphan(&self) -> Option<Orphan> {
        let p = self.presence.lock();
        (p.attached == 0 && p.orphan_since.is_some()).then_some(Orphan(p.generation))
    }

    /// Wall-clock seconds since which the host is an orphan.
    pub fn orphan_since(&self) -> Option<i64> {
        let p = self.presence.lock();
        if p.attached == 0 {
            p.orphan_since
        } else {
            None
        }
    }

    /// Exporter `exporter` has handed out every slot the host stores, having read `orphan`
    /// before its walk. Ignored when the host was claimed again since.
    pub fn mark_exported(&self, exporter: u64, orphan: Orphan) {
        let mut p = self.presence.lock();
        if p.generation == orphan.0 && p.attached == 0 && !p.exported_by.contains(&exporter) {
            p.exported_by.push(exporter);
        }
    }

    /// Total dimensions over the host's charts.
    pub fn dimension_count(&self) -> usize {
        self.charts().iter().map(|c| c.dimension_count()).sum()
    }

    /// Hostname.
    pub fn hostname(&self) -> String {
        self.info.read().hostname.clone()
    }

    /// A copy of the host's identity.
    pub fn info(&self) -> HostInfo {
        self.info.read().clone()
    }

    /// Replace the host's identity (a child reconnecting with new details).
    pub fn set_info(&self, info: HostInfo) {
        *self.info.write() = info;
    }

    /// The stream capabilities of the child's last connection (`VCAPS|HLABELS|…`); empty when
    /// no child ever fed this host.
    pub fn stream_capabilities(&self) -> String {
        self.stream_capabilities.read().clone()
    }

    /// Note what a child's connection settled on.
    pub fn set_stream_capabilities(&self, capabilities: &str) {
        *self.stream_capabilities.write() = capabilities.to_string();
    }

    /// Slots per dimension for this host's charts.
    pub fn history(&self) -> usize {
        self.history
    }

    /// The chart with this id.
    pub fn chart(&self, id: &str) -> Option<Arc<Chart>> {
        self.charts.read().by_id.get(id).cloned()
    }

    /// Create the chart, or redefine it when it exists. Returns it and whether it is new.
    pub fn define_chart(&self, def: &ChartDef) -> (Arc<Chart>, bool) {
        if let Some(c) = self.chart(&def.id) {
            c.redefine(def);
            return (c, false);
        }
        let mut charts = self.charts.write();
        if let Some(c) = charts.by_id.get(def.id.as_str()) {
            let c = c.clone();
            drop(charts);
            c.redefine(def);
            return (c, false);
        }
        let chart = Arc::new(Chart::new(def, self.history));
        charts.list.push(chart.clone());
        charts.by_id.insert(def.id.clone().into(), chart.clone());
        (chart, true)
    }

    /// A snapshot of the chart list, in creation order.
    pub fn charts(&self) -> Vec<Arc<Chart>> {
        self.charts.read().list.clone()
    }

    /// Number of charts.
    pub fn chart_count(&self) -> usize {
        self.charts.read().list.len()
    }
}

/// The database: every host, the local one first.
#[derive(Debug)]
pub struct Db {
    hosts: RwLock<Vec<Arc<Host>>>,
    history: usize,
    /// Exporters running: an orphan host waits until each has sent all of it.
    exporters: Mutex<Vec<u64>>,
    next_exporter: AtomicU64,
}

impl Db {
    /// A database whose local host is `localhost`; charts keep `history` slots.
    pub fn new(localhost: HostInfo, history: usize) -> Db {
        Db {
            hosts: RwLock::new(vec![Arc::new(Host::new(localhost, history))]),
            history,
            exporters: Mutex::new(Vec::new()),
            next_exporter: AtomicU64::new(1),
        }
    }

    /// Register a running exporter; orphan hosts are kept until it marks them exported
    /// ([`Host::mark_exported`]) or it is unregistered. Returns its id.
    pub fn register_exporter(&self) -> u64 {
        let id = self.next_exporter.fetch_add(1, Relaxed);
        self.exporters.lock().push(id);
        id
    }

    /// An exporter stopped: orphan hosts no longer wait for it.
    pub fn unregister_exporter(&self, id: u64) {
        self.exporters.lock().retain(|&e| e != id);
    }

    /// Remove every host (never the local one) that has been an orphan for at least
    /// `after_s` seconds at `now_s` and that every registered exporter has marked exported.
    /// Returns the removed hosts; their memory is freed when the last reference goes.
    pub fn remove_orphans(&self, now_s: i64, after_s: u64) -> Vec<Arc<Host>> {
        let exporters = self.exporters.lock().clone();
        let due = |h: &Host| {
            let p = h.presence.lock();
            p.attached == 0
                && p.orphan_since.is_some_and(|since| now_s.saturating_sub(since) >= after_s as i64)
                && exporters.iter().all(|e| p.exported_by.contains(e))
        };
        let mut hosts = self.hosts.write();
        let mut removed = Vec::new();
        let mut i = 1;
        while i < hosts.len() {
            if due(&hosts[i]) {
                removed.push(hosts.remove(i));
            } else {
                i += 1;
            }
        }
        removed
    }

    /// The local host.
    pub fn localhost(&self) -> Arc<Host> {
        self.hosts.read()[0].clone()
    }

    /// Every host, the local one first.
    pub fn hosts(&self) -> Vec<Arc<Host>> {
        self.hosts.read().clone()
    }

    /// Find a host by machine GUID, or create it. Returns it and whether it is new. A host
    /// found is claimed: it stops being an orphan, so it cannot be removed before the caller
    /// attaches to it ([`Host::attach`]).
    pub fn host_by_guid(&self, info: HostInfo) -> (Arc<Host>, bool) {
        let mut hosts = self.hosts.write();
        if let Some(h) = hosts.iter().skip(1).find(|h| h.info.read().machine_guid == info.machine_guid) {
            h.set_info(info);
            h.presence.lock().claim();
            return (h.clone(), false);
        }
        let h = Arc::new(Host::new(info, self.history));
        hosts.push(h.clone());
        (h, true)
    }

    /// Whether `host` is the local host.
    pub fn is_localhost(&self, host: &Arc<Host>) -> bool {
        Arc::ptr_eq(&self.hosts.read()[0], host)
    }
}
