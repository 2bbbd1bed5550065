//! One pass of the `proc` collector: read each file, parse it, store the kernel's numbers.
//!
//! Charts are defined the first time there is something to put in them. Interfaces and disks
//! that appear get charts; those that disappear stop being collected and their charts are
//! marked obsolete (and current again, with a fresh start, if they come back). A file that
//! cannot be read or parsed is reported once, not on every pass, and only its charts are
//! skipped.
//!
//! Time comes from the caller, so tests drive a pass with a fake clock and a fixture root.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::rrd::{CollectError, Host};

use super::charts::{self, Bound, ChartSpec};
use super::devices::{self, DiskKind};
use super::parse::{self, Mount, ParseError, Rows};
use super::ProcConfig;

const STAT: &str = "proc/stat";
const LOADAVG: &str = "proc/loadavg";
const MEMINFO: &str = "proc/meminfo";
const NET_DEV: &str = "proc/net/dev";
const DISKSTATS: &str = "proc/diskstats";
const UPTIME: &str = "proc/uptime";
const MOUNTINFO: &str = "proc/self/mountinfo";

/// The `proc` collector's state between passes.
#[derive(Debug)]
pub struct ProcCollector {
    root: PathBuf,
    update_every: u32,
    host: Arc<Host>,
    cpu: Option<Bound>,
    load: Option<Bound>,
    ram: Option<Bound>,
    uptime: Option<Bound>,
    ifaces: HashMap<String, Device>,
    disks: HashMap<String, Disk>,
    problems: Problems,
}

/// An interface or block device seen in a table file.
#[derive(Debug, Default)]
struct Device {
    /// Left out by the default rules; never charted.
    excluded: bool,
    /// Its chart, once it has moved data.
    chart: Option<Bound>,
    /// Whether it was in the file at the last pass.
    present: bool,
}

#[derive(Debug)]
struct Disk {
    major: u32,
    minor: u32,
    name: String,
    family: String,
    device: Device,
}

/// Problems already reported, so that each is logged once until it goes away.
#[derive(Debug, Default)]
struct Problems {
    active: HashSet<String>,
    logged: u64,
}

impl Problems {
    fn report(&mut self, key: &str, message: impl Display) {
        if self.active.insert(key.to_string()) {
            self.logged += 1;
            tracing::warn!("proc collector: {message}");
        }
    }

    fn resolved(&mut self, key: &str) {
        if self.active.remove(key) {
            tracing::info!("proc collector: {key} is usable again; its charts are collected again");
        }
    }
}

impl ProcCollector {
    /// A collector reading files under `cfg.root` and writing charts into `host`.
    pub fn new(cfg: &ProcConfig, host: Arc<Host>) -> ProcCollector {
        ProcCollector {
            root: cfg.root.clone(),
            update_every: cfg.update_every.max(1),
            host,
            cpu: None,
            load: None,
            ram: None,
            uptime: None,
            ifaces: HashMap::new(),
            disks: HashMap::new(),
            problems: Problems::default(),
        }
    }

    /// How many distinct problems (unreadable files, unparsable lines, rejected collections)
    /// have been logged so far. Each is logged once until it goes away.
    pub fn problems_logged(&self) -> u64 {
        self.problems.logged
    }

    /// Read every file once and store what it holds, as collected at `now_ut` (µs since the
    /// epoch).
    pub fn collect_once(&mut self, now_ut: u64) {
        self.collect_cpu(now_ut);
        self.collect_load(now_ut);
        self.collect_ram(now_ut);
        self.collect_net(now_ut);
        self.collect_disks(now_ut);
        self.collect_uptime(now_ut);
    }

    fn collect_cpu(&mut self, now_ut: u64) {
        let Some(c) = self.read_parsed(STAT, parse::parse_stat) else {
            return;
        };
        // As netdata: guest time is also counted in user (and guest_nice in nice); take it
        // out so the stacked states do not count it twice.
        let values = [
            c.guest_nice,
            c.guest,
            c.steal,
            c.softirq,
            c.irq,
            c.user.saturating_sub(c.guest),
            c.system,
            c.nice.saturating_sub(c.guest_nice),
            c.iowait,
            c.idle,
        ]
        .map(counter);
        let ue = self.update_every;
        let bound = self.cpu.get_or_insert_with(|| Bound::define(&self.host, charts::system_cpu(ue)));
        store(&mut self.problems, bound, &values, now_ut);
    }

    fn collect_load(&mut self, now_ut: u64) {
        let Some(l) = self.read_parsed(LOADAVG, parse::parse_loadavg) else {
            return;
        };
        let values = [l.load1_milli, l.load5_milli, l.load15_milli].map(counter);
        let ue = self.update_every;
        let bound = self.load.get_or_insert_with(|| Bound::define(&self.host, charts::system_load(ue)));
        store(&mut self.problems, bound, &values, now_ut);
    }

    fn collect_ram(&mut self, now_ut: u64) {
        let Some(m) = self.read_parsed(MEMINFO, parse::parse_meminfo) else {
            return;
        };
        // netdata 1.37: cached is the page cache plus reclaimable slab; used is the rest of
        // what is not free. Signed, so an inconsistent snapshot shows as negative, not huge.
        let cached = counter(m.cached).saturating_add(counter(m.sreclaimable));
        let used = counter(m.mem_total)
            .wrapping_sub(counter(m.mem_free))
            .wrapping_sub(cached)
            .wrapping_sub(counter(m.buffers));
        let values = [counter(m.mem_free), used, cached, counter(m.buffers)];
        let ue = self.update_every;
        let bound = self.ram.get_or_insert_with(|| Bound::define(&self.host, charts::system_ram(ue)));
        store(&mut self.problems, bound, &values, now_ut);
    }

    fn collect_uptime(&mut self, now_ut: u64) {
        let Some(u) = self.read_parsed(UPTIME, parse::parse_uptime) else {
            return;
        };
        let ue = self.update_every;
        let bound = self.uptime.get_or_insert_with(|| Bound::define(&self.host, charts::system_uptime(ue)));
        store(&mut self.problems, bound, &[counter(u.uptime_ms)], now_ut);
    }

    fn collect_net(&mut self, now_ut: u64) {
        let Some(rows) = self.read_rows(NET_DEV, parse::parse_net_dev) else {
            return;
        };
        let mut seen = HashSet::with_capacity(rows.len());
        for r in rows {
            seen.insert(r.name.clone());
            let dev = self.ifaces.entry(r.name.clone()).or_insert_with(|| Device {
                excluded: devices::iface_excluded(&r.name),
                ..Device::default()
            });
            let moved = r.rx_bytes != 0 || r.tx_bytes != 0;
            let ue = self.update_every;
            let host = &self.host;
            update_device(
                &mut self.problems,
                dev,
                moved,
                || charts::net_iface(&r.name, ue),
                host,
                &[counter(r.rx_bytes), counter(r.tx_bytes)],
                now_ut,
            );
        }
        vanish(self.ifaces.iter_mut().filter(|(k, _)| !seen.contains(*k)).map(|(_, d)| d));
        self.ifaces.retain(|k, d| seen.contains(k) || d.chart.is_some());
    }

    fn collect_disks(&mut self, now_ut: u64) {
        let Some(rows) = self.read_rows(DISKSTATS, parse::parse_diskstats) else {
            return;
        };
        let mut mounts: Option<Vec<Mount>> = None;
        let mut seen = HashSet::with_capacity(rows.len());
        for r in rows {
            seen.insert(r.name.clone());
            let known = self.disks.get(&r.name).is_some_and(|d| (d.major, d.minor) == (r.major, r.minor));
            if !known {
                let mounts = mounts.get_or_insert_with(|| read_mounts(&self.root));
                let disk = classify_disk(&self.root, mounts, &r.name, r.major, r.minor);
                if let Some(mut old) = self.disks.insert(r.name.clone(), disk) {
                    // Same name, new device numbers: the old chart is not this device's.
                    vanish(std::iter::once(&mut old.device));
                }
            }
            let Some(disk) = self.disks.get_mut(&r.name) else {
                continue;
            };
            let moved = r.sectors_read != 0 || r.sectors_written != 0 || r.sectors_discarded != 0;
            let ue = self.update_every;
            let host = &self.host;
            let (name, family) = (&disk.name, &disk.family);
            update_device(
                &mut self.problems,
                &mut disk.device,
                moved,
                || charts::disk_io(&r.name, name, family, ue),
                host,
                &[counter(r.sectors_read), counter(r.sectors_written)],
                now_ut,
            );
        }
        vanish(self.disks.iter_mut().filter(|(k, _)| !seen.contains(*k)).map(|(_, d)| &mut d.device));
        self.disks.retain(|k, d| seen.contains(k) || d.device.chart.is_some());
    }

    /// The text of `rel` under the root; a failure is reported once. The caller resolves the
    /// problem once the text is usable.
    fn read(&mut self, rel: &'static str) -> Option<String> {
        let path = self.root.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) => {
                self.problems.report(
                    rel,
                    format_args!(
                        "cannot read {}: {e}; its charts are skipped until it can be read \
                         (check that the root path is right and the file is readable)",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    fn read_parsed<T>(&mut self, rel: &'static str, parse: fn(&str) -> Result<T, ParseError>) -> Option<T> {
        let text = self.read(rel)?;
        match parse(&text) {
            Ok(v) => {
                self.problems.resolved(rel);
                Some(v)
            }
            Err(e) => {
                self.problems.report(rel, format_args!("{e}; its charts are skipped until it parses"));
                None
            }
        }
    }

    /// A table file's rows; a file that reads is usable even when some rows are not.
    fn read_rows<T>(&mut self, rel: &'static str, parse: fn(&str) -> Rows<T>) -> Option<Vec<T>> {
        let text = self.read(rel)?;
        self.problems.resolved(rel);
        Some(self.report_skipped(parse(&text)))
    }

    fn report_skipped<T>(&mut self, rows: Rows<T>) -> Vec<T> {
        for e in &rows.skipped {
            self.problems.report(&e.to_string(), format_args!("{e}; the row is skipped"));
        }
        rows.rows
    }
}

/// Kernel counters are unsigned 64-bit; the store takes signed ones. Counters past `i64::MAX`
/// wrap to negative, and deltas stay right because the store subtracts with wrap-around.
fn counter(v: u64) -> i64 {
    v as i64
}

fn store(problems: &mut Problems, bound: &Bound, values: &[i64], now_ut: u64) {
    match bound.collect(values, now_ut) {
        Ok(()) => problems.resolved(bound.chart.id()),
        Err(CollectError::TimeWentBackwards) => problems.report(
            bound.chart.id(),
            format_args!(
                "chart {}: collection time {now_ut} µs is not after the previous one; the \
                 value is dropped (is the system clock stepping back?)",
                bound.chart.id()
            ),
        ),
    }
}

/// Collect one interface or disk: define its chart once it has moved data, revive it if it had
/// gone away.
fn update_device(
    problems: &mut Problems,
    dev: &mut Device,
    moved: bool,
    spec: impl FnOnce() -> ChartSpec,
    host: &Host,
    values: &[i64],
    now_ut: u64,
) {
    if dev.excluded {
        return;
    }
    let was_present = dev.present;
    dev.present = true;
    let bound = match dev.chart.as_mut() {
        Some(b) => {
            if !was_present {
                // Back after a gap: do not spread the counters' jump over the time it was away.
                b.set_obsolete(false);
                b.chart.restart_collection();
            }
            b
        }
        None if moved => dev.chart.insert(Bound::define(host, spec())),
        None => return,
    };
    store(problems, bound, values, now_ut);
}

/// Devices no longer in the file: stop collecting them and mark their charts obsolete.
fn vanish<'a>(devices: impl Iterator<Item = &'a mut Device>) {
    for d in devices {
        if d.present {
            d.present = false;
            if let Some(b) = d.chart.as_mut() {
                b.set_obsolete(true);
            }
        }
    }
}

fn read_mounts(root: &Path) -> Vec<Mount> {
    match std::fs::read_to_string(root.join(MOUNTINFO)) {
        Ok(text) => parse::parse_mountinfo(&text).rows,
        Err(e) => {
            tracing::debug!(
                "proc collector: cannot read {}: {e}; disks are named without mount points",
                MOUNTINFO
            );
            Vec::new()
        }
    }
}

fn classify_disk(root: &Path, mounts: &[Mount], device: &str, major: u32, minor: u32) -> Disk {
    let kind: DiskKind = devices::disk_kind(root, device, major, minor);
    let name = devices::disk_name(root, device);
    let family = devices::mount_point(mounts, major, minor, device).unwrap_or_else(|| name.clone());
    Disk {
        major,
        minor,
        name,
        family,
        device: Device { excluded: !devices::disk_included(device, kind), chart: None, present: false },
    }
}
