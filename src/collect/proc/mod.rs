//! The built-in `proc` collector (Linux): CPU, load, RAM, network interfaces, disks and uptime,
//! read from `/proc` and charted with netdata 1.37's chart ids, dimensions and units.
//!
//! | chart           | source            | dimensions (raw value → shown as)                               |
//! |-----------------|-------------------|-----------------------------------------------------------------|
//! | `system.cpu`    | `/proc/stat`      | guest_nice, guest, steal, softirq, irq, user, system, nice, iowait, idle (hidden): ticks → % of the row's ticks |
//! | `system.load`   | `/proc/loadavg`   | load1, load5, load15: load × 1000 → load; every ≥ 5 s            |
//! | `system.ram`    | `/proc/meminfo`   | free, used, cached, buffers: KiB → MiB                           |
//! | `net.IFACE`     | `/proc/net/dev`   | received, sent: bytes → kilobits/s (sent negative)              |
//! | `disk.DEV`      | `/proc/diskstats` | reads, writes: 512-byte sectors → KiB/s (writes negative)       |
//! | `system.uptime` | `/proc/uptime`    | uptime: ms → seconds                                            |
//!
//! As in netdata: `user` excludes `guest` and `nice` excludes `guest_nice` (the kernel counts
//! guest time in both); `cached` is `Cached + SReclaimable` and `used` is
//! `MemTotal − MemFree − cached − Buffers`. The values stored as "collected" are these kernel
//! numbers; the dimensions' algorithm, multiplier and divisor do all the scaling. Which
//! interfaces and disks are charted is described in [`devices`].
//!
//! Not reproduced from netdata: the ZFS ARC adjustment of `used`/`cached`, and LVM UUIDs in
//! device-mapper chart ids (ours are `disk.dm-N`, named after `/dev/mapper`).
//!
//! * [`parse`]: pure parsers of the files' text;
//! * [`charts`]: the chart and dimension definitions;
//! * [`devices`]: which interfaces and disks get charts, and disk names;
//! * [`ProcCollector`]: one collection pass, driven by [`start`]'s thread or by tests.
//!
//! This module knows nothing about exporters or plugins.

pub mod charts;
mod collector;
pub mod devices;
pub mod parse;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{now_ut, USEC_PER_SEC};

use crate::rrd::Host;
use crate::shutdown::Shutdown;

pub use collector::ProcCollector;

/// How long after a slot boundary a collection runs, so that the boundary is surely passed.
const COLLECT_OFFSET_UT: u64 = 5_000;

/// Configuration of the `proc` collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcConfig {
    /// Files are read from `root/proc/…` (and `root/sys/…`, `root/dev/…` for disk details).
    /// `/` on a host; the host's root mounted elsewhere when running in a container.
    pub root: PathBuf,
    /// Seconds between collections (≥ 1).
    pub update_every: u32,
}

impl Default for ProcConfig {
    fn default() -> ProcConfig {
        ProcConfig { root: PathBuf::from("/"), update_every: 1 }
    }
}

/// Start the collector thread: it collects once at once, then every `update_every` seconds
/// just after each wall-clock multiple of `update_every`, until `shutdown` is triggered.
pub fn start(cfg: ProcConfig, host: Arc<Host>, shutdown: Shutdown) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("proc".into())
        .spawn(move || run(cfg, host, shutdown))
        .expect("cannot start the proc collector thread: the system is out of threads or memory")
}

fn run(cfg: ProcConfig, host: Arc<Host>, shutdown: Shutdown) {
    let mut collector = ProcCollector::new(&cfg, host);
    let update_every = cfg.update_every.max(1);
    tracing::info!("proc collector: reading {} every {update_every} s", cfg.root.join("proc").display());
    collector.collect_once(now_ut());
    while !shutdown.wait_timeout(delay_to_next_collection(now_ut(), update_every)) {
        collector.collect_once(now_ut());
    }
}

/// Time from `now_ut` to the next multiple of `update_every` seconds, plus a few ms.
fn delay_to_next_collection(now_ut: u64, update_every: u32) -> Duration {
    let step = u64::from(update_every.max(1)) * USEC_PER_SEC;
    let next = (now_ut / step + 1) * step + COLLECT_OFFSET_UT;
    Duration::from_micros(next - now_ut)
}
