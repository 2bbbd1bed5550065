//! The charts of the `proc` collector, defined as netdata 1.37 defines them: ids, names, titles,
//! units, families, contexts, chart types, priorities, and each dimension's algorithm,
//! multiplier and divisor.
//!
//! The multiplier and divisor carry all the scaling, so the raw values stored are the kernel's
//! own counters (ticks, KiB, bytes, sectors, thousandths, milliseconds) and an `as collected`
//! export sends what the kernel reports.
//!
//! This module knows nothing about files or parsing; it builds definitions and binds them to a
//! host.

use std::sync::Arc;

use crate::rrd::chart::sanitize_name;
use crate::rrd::{Algorithm, Chart, ChartDef, ChartType, CollectError, DimensionDef, Host};

/// The plugin name netdata gives its `/proc` collectors.
const PLUGIN: &str = "proc.plugin";

/// netdata's chart priorities (`collectors/all.h`).
const PRIO_SYSTEM_CPU: i64 = 100;
const PRIO_SYSTEM_LOAD: i64 = 100;
const PRIO_SYSTEM_RAM: i64 = 200;
const PRIO_SYSTEM_UPTIME: i64 = 1000;
const PRIO_DISK_IO: i64 = 2000;
const PRIO_FIRST_NET_IFACE: i64 = 7000;

/// Linux recomputes load averages every 5 seconds, so netdata never charts them more often.
pub const MIN_LOAD_UPDATE_EVERY: u32 = 5;

/// The block layer counts in 512-byte sectors, whatever the device's sector size.
pub const SECTOR_BYTES: i64 = 512;

/// A chart definition with its dimensions, in the order values are passed to [`Bound::collect`].
#[derive(Clone, Debug, PartialEq)]
pub struct ChartSpec {
    /// The chart.
    pub chart: ChartDef,
    /// Its dimensions.
    pub dims: Vec<DimensionDef>,
}

#[allow(clippy::too_many_arguments)]
fn chart(
    id: &str,
    name: Option<&str>,
    title: &str,
    units: &str,
    family: &str,
    context: &str,
    chart_type: ChartType,
    priority: i64,
    update_every: u32,
    module: &str,
) -> ChartDef {
    ChartDef {
        name: name.map(str::to_string),
        title: title.to_string(),
        units: units.to_string(),
        family: family.to_string(),
        context: context.to_string(),
        chart_type,
        priority,
        plugin: PLUGIN.to_string(),
        module: module.to_string(),
        ..ChartDef::new(id, update_every)
    }
}

fn dim(id: &str, algorithm: Algorithm, multiplier: i64, divisor: i64) -> DimensionDef {
    DimensionDef::new(id, algorithm).scaled(multiplier, divisor)
}

/// `system.cpu`: the share of each CPU state in the ticks elapsed since the last collection.
///
/// Values, in this order: `guest_nice, guest, steal, softirq, irq, user − guest, system,
/// nice − guest_nice, iowait, idle` (netdata's order; `idle` is hidden but is part of the row
/// total, so the visible states add up to the busy share).
pub fn system_cpu(update_every: u32) -> ChartSpec {
    let pct = |id: &str| dim(id, Algorithm::PercentageOfIncrementalRow, 1, 1);
    let mut idle = pct("idle");
    idle.hidden = true;
    ChartSpec {
        chart: chart(
            "system.cpu",
            None,
            "Total CPU utilization",
            "percentage",
            "cpu",
            "system.cpu",
            ChartType::Stacked,
            PRIO_SYSTEM_CPU,
            update_every,
            "/proc/stat",
        ),
        dims: vec![
            pct("guest_nice"),
            pct("guest"),
            pct("steal"),
            pct("softirq"),
            pct("irq"),
            pct("user"),
            pct("system"),
            pct("nice"),
            pct("iowait"),
            idle,
        ],
    }
}

/// `system.load`: load averages collected in thousandths. Never more often than every
/// [`MIN_LOAD_UPDATE_EVERY`] seconds. Values: `load1, load5, load15`.
pub fn system_load(update_every: u32) -> ChartSpec {
    let load = |id: &str| dim(id, Algorithm::Absolute, 1, 1000);
    ChartSpec {
        chart: chart(
            "system.load",
            None,
            "System Load Average",
            "load",
            "load",
            "system.load",
            ChartType::Line,
            PRIO_SYSTEM_LOAD,
            update_every.max(MIN_LOAD_UPDATE_EVERY),
            "/proc/loadavg",
        ),
        dims: vec![load("load1"), load("load5"), load("load15")],
    }
}

/// `system.ram`: memory collected in KiB, shown in MiB. Values: `free, used, cached, buffers`.
pub fn system_ram(update_every: u32) -> ChartSpec {
    let mib = |id: &str| dim(id, Algorithm::Absolute, 1, 1024);
    ChartSpec {
        chart: chart(
            "system.ram",
            None,
            "System RAM",
            "MiB",
            "ram",
            "system.ram",
            ChartType::Stacked,
            PRIO_SYSTEM_RAM,
            update_every,
            "/proc/meminfo",
        ),
        dims: vec![mib("free"), mib("used"), mib("cached"), mib("buffers")],
    }
}

/// `system.uptime`: collected in milliseconds, shown in seconds. Values: `uptime`.
pub fn system_uptime(update_every: u32) -> ChartSpec {
    ChartSpec {
        chart: chart(
            "system.uptime",
            None,
            "System Uptime",
            "seconds",
            "uptime",
            "system.uptime",
            ChartType::Line,
            PRIO_SYSTEM_UPTIME,
            update_every,
            "/proc/uptime",
        ),
        dims: vec![dim("uptime", Algorithm::Absolute, 1, 1000)],
    }
}

/// The chart id of an interface: `net.` + the name with characters chart ids cannot hold
/// replaced by `_`.
pub fn net_chart_id(iface: &str) -> String {
    format!("net.{}", sanitize_name(iface))
}

/// `net.IFACE`: byte counters shown in kilobits/s, sent drawn below zero.
/// Values: `received, sent` (bytes).
pub fn net_iface(iface: &str, update_every: u32) -> ChartSpec {
    ChartSpec {
        chart: chart(
            &net_chart_id(iface),
            None,
            "Bandwidth",
            "kilobits/s",
            iface,
            "net.net",
            ChartType::Area,
            PRIO_FIRST_NET_IFACE,
            update_every,
            "/proc/net/dev",
        ),
        dims: vec![
            dim("received", Algorithm::Incremental, 8, 1000),
            dim("sent", Algorithm::Incremental, -8, 1000),
        ],
    }
}

/// The chart id of a block device: `disk.` + the kernel name, sanitized.
pub fn disk_chart_id(device: &str) -> String {
    format!("disk.{}", sanitize_name(device))
}

/// `disk.DEV`: sector counters shown in KiB/s, writes drawn below zero.
/// `name` is the disk's friendly name (device-mapper or label name, else the kernel name);
/// `family` its mount point, else its name. Values: `reads, writes` (sectors).
pub fn disk_io(device: &str, name: &str, family: &str, update_every: u32) -> ChartSpec {
    ChartSpec {
        chart: chart(
            &disk_chart_id(device),
            Some(name),
            "Disk I/O Bandwidth",
            "KiB/s",
            family,
            "disk.io",
            ChartType::Area,
            PRIO_DISK_IO,
            update_every,
            "/proc/diskstats",
        ),
        dims: vec![
            dim("reads", Algorithm::Incremental, SECTOR_BYTES, 1024),
            dim("writes", Algorithm::Incremental, -SECTOR_BYTES, 1024),
        ],
    }
}

/// A chart defined on a host, with the indices of its dimensions in spec order.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The chart.
    pub chart: Arc<Chart>,
    /// Dimension indices, in the order of the spec's dimensions.
    pub dims: Vec<usize>,
    /// The definition it was created with (to mark it obsolete and back).
    pub spec: ChartSpec,
}

impl Bound {
    /// Define (or redefine) the chart and its dimensions on `host`.
    pub fn define(host: &Host, spec: ChartSpec) -> Bound {
        let (chart, _) = host.define_chart(&spec.chart);
        let dims = spec.dims.iter().map(|d| chart.add_dimension(d)).collect();
        Bound { chart, dims, spec }
    }

    /// Store one collection; `values` are raw kernel numbers in spec order.
    pub fn collect(&self, values: &[i64], now_ut: u64) -> Result<(), CollectError> {
        let row: Vec<(usize, i64)> = self.dims.iter().copied().zip(values.iter().copied()).collect();
        self.chart.collect(&row, now_ut)
    }

    /// Mark the chart obsolete (its device went away) or current again.
    pub fn set_obsolete(&mut self, obsolete: bool) {
        if self.spec.chart.obsolete != obsolete {
            self.spec.chart.obsolete = obsolete;
            self.chart.redefine(&self.spec.chart);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(s: &ChartSpec) -> Vec<(String, Algorithm, i64, i64, bool)> {
        s.dims.iter().map(|d| (d.id.clone(), d.algorithm, d.multiplier, d.divisor, d.hidden)).collect()
    }

    #[test]
    fn cpu_chart_is_netdatas() {
        let s = system_cpu(1);
        let c = &s.chart;
        assert_eq!(
            (c.id.as_str(), c.title.as_str(), c.units.as_str(), c.family.as_str(), c.context.as_str()),
            ("system.cpu", "Total CPU utilization", "percentage", "cpu", "system.cpu")
        );
        assert_eq!((c.chart_type, c.priority, c.update_every), (ChartType::Stacked, 100, 1));
        assert_eq!((c.plugin.as_str(), c.module.as_str()), ("proc.plugin", "/proc/stat"));
        let p = Algorithm::PercentageOfIncrementalRow;
        let ids =
            ["guest_nice", "guest", "steal", "softirq", "irq", "user", "system", "nice", "iowait", "idle"];
        let want: Vec<_> = ids.iter().map(|id| (id.to_string(), p, 1, 1, *id == "idle")).collect();
        assert_eq!(dims(&s), want);
    }

    #[test]
    fn load_chart_is_never_faster_than_five_seconds() {
        assert_eq!(system_load(1).chart.update_every, 5);
        assert_eq!(system_load(10).chart.update_every, 10);
        let a = Algorithm::Absolute;
        assert_eq!(
            dims(&system_load(1)),
            [
                ("load1".into(), a, 1, 1000, false),
                ("load5".into(), a, 1, 1000, false),
                ("load15".into(), a, 1, 1000, false)
            ]
        );
        let c = system_load(1).chart;
        assert_eq!(
            (c.units.as_str(), c.family.as_str(), c.chart_type, c.priority),
            ("load", "load", ChartType::Line, 100)
        );
    }

    #[test]
    fn ram_and_uptime_charts_are_netdatas() {
        let a = Algorithm::Absolute;
        let r = system_ram(2);
        assert_eq!(
            (
                r.chart.id.as_str(),
                r.chart.units.as_str(),
                r.chart.chart_type,
                r.chart.priority,
                r.chart.update_every
            ),
            ("system.ram", "MiB", ChartType::Stacked, 200, 2)
        );
        assert_eq!(
            dims(&r),
            [
                ("free".into(), a, 1, 1024, false),
                ("used".into(), a, 1, 1024, false),
                ("cached".into(), a, 1, 1024, false),
                ("buffers".into(), a, 1, 1024, false)
            ]
        );
        let u = system_uptime(1);
        assert_eq!(
            (u.chart.id.as_str(), u.chart.units.as_str(), u.chart.priority),
            ("system.uptime", "seconds", 1000)
        );
        assert_eq!(dims(&u), [("uptime".into(), a, 1, 1000, false)]);
    }

    #[test]
    fn net_and_disk_charts_are_netdatas() {
        let i = Algorithm::Incremental;
        let n = net_iface("veth1@if2", 1);
        assert_eq!(
            (n.chart.id.as_str(), n.chart.family.as_str(), n.chart.context.as_str(), n.chart.units.as_str()),
            ("net.veth1_if2", "veth1@if2", "net.net", "kilobits/s")
        );
        assert_eq!(
            (n.chart.chart_type, n.chart.priority, n.chart.name.clone()),
            (ChartType::Area, 7000, None)
        );
        assert_eq!(dims(&n), [("received".into(), i, 8, 1000, false), ("sent".into(), i, -8, 1000, false)]);

        let d = disk_io("dm-0", "vg0-root", "/", 1);
        assert_eq!(
            (d.chart.id.as_str(), d.chart.name.as_deref(), d.chart.family.as_str(), d.chart.context.as_str()),
            ("disk.dm-0", Some("vg0-root"), "/", "disk.io")
        );
        assert_eq!(
            (d.chart.title.as_str(), d.chart.units.as_str(), d.chart.chart_type, d.chart.priority),
            ("Disk I/O Bandwidth", "KiB/s", ChartType::Area, 2000)
        );
        assert_eq!(
            dims(&d),
            [("reads".into(), i, 512, 1024, false), ("writes".into(), i, -512, 1024, false)]
        );
    }
}
