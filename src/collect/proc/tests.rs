//! Collector tests: fixture roots driven with a fake clock, and one pass over this machine's /proc.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::rrd::storage_number::{self, StorageNumber, SN_EMPTY, SN_EXISTS};
use crate::rrd::{Host, HostInfo};

const SEC: u64 = 1_000_000;
const T0: u64 = 1000 * SEC;
const T1: u64 = 1001 * SEC;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc").join(rel)
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn new_host() -> Arc<Host> {
    Arc::new(Host::new(HostInfo::default(), 60))
}

fn collector(root: &Path, host: &Arc<Host>) -> ProcCollector {
    ProcCollector::new(&ProcConfig { root: root.to_path_buf(), update_every: 1 }, host.clone())
}

fn stored(host: &Host, chart: &str, dim: &str, t: i64) -> StorageNumber {
    let c = host.chart(chart).unwrap_or_else(|| panic!("no chart {chart}"));
    let i = c.dimension_index(dim).unwrap_or_else(|| panic!("no dimension {chart}.{dim}"));
    let n = c.read().value_at(i, t);
    n
}

fn raw(host: &Host, chart: &str, dim: &str) -> i64 {
    let c = host.chart(chart).unwrap();
    let i = c.dimension_index(dim).unwrap();
    let v = c.read().dims[i].last_collected_value;
    v
}

/// The stored slot must be exactly what storing `expected` gives.
#[track_caller]
fn assert_stored(host: &Host, chart: &str, dim: &str, t: i64, expected: f64) {
    let n = stored(host, chart, dim, t);
    assert!(storage_number::exists(n), "{chart}.{dim} @ {t}: empty slot, expected {expected}");
    assert_eq!(
        (storage_number::unpack(n), n),
        (
            storage_number::unpack(storage_number::pack(expected, SN_EXISTS)),
            storage_number::pack(expected, SN_EXISTS)
        ),
        "{chart}.{dim} @ {t}"
    );
}

fn chart_ids(host: &Host) -> Vec<String> {
    host.charts().iter().map(|c| c.id().to_string()).collect()
}

#[test]
fn values_match_what_the_kernel_reports() {
    let root = tempfile::tempdir().unwrap();
    let host = new_host();
    let mut c = collector(root.path(), &host);
    copy_tree(&fixture("t0"), root.path());
    c.collect_once(T0);
    copy_tree(&fixture("t1"), root.path());
    c.collect_once(T1);
    assert_eq!(c.problems_logged(), 0);

    // lo is excluded; ifb0, ifb1, the loop devices and zram0 never moved a byte.
    assert_eq!(
        chart_ids(&host),
        ["system.cpu", "system.load", "system.ram", "net.eth0", "disk.vda", "system.uptime"]
    );

    // /proc/stat "cpu" lines (user nice system idle iowait irq softirq steal guest guest_nice):
    //   t0: 7080 0 3790 62308 423 0 39 16 0 0
    //   t1: 7082 0 3804 62506 424 0 40 16 0 0
    // deltas: user 2, system 14, idle 198, iowait 1, softirq 1; total 216.
    let total = 216.0;
    assert_stored(&host, "system.cpu", "user", 1001, 100.0 * 2.0 / total);
    assert_stored(&host, "system.cpu", "system", 1001, 100.0 * 14.0 / total);
    assert_stored(&host, "system.cpu", "iowait", 1001, 100.0 * 1.0 / total);
    assert_stored(&host, "system.cpu", "softirq", 1001, 100.0 * 1.0 / total);
    assert_stored(&host, "system.cpu", "idle", 1001, 100.0 * 198.0 / total);
    for zero in ["nice", "irq", "steal", "guest", "guest_nice"] {
        assert_stored(&host, "system.cpu", zero, 1001, 0.0);
    }
    assert_eq!(raw(&host, "system.cpu", "user"), 7082);
    assert_eq!(raw(&host, "system.cpu", "idle"), 62506);

    // /proc/meminfo t1: MemTotal 24684092, MemFree 23074160, Buffers 16524, Cached 1370396,
    // SReclaimable 101972 (kB). cached = 1370396 + 101972 = 1472368;
    // used = 24684092 - 23074160 - 1472368 - 16524 = 121040.
    assert_stored(&host, "system.ram", "free", 1001, 23074160.0 / 1024.0);
    assert_stored(&host, "system.ram", "used", 1001, 121040.0 / 1024.0);
    assert_stored(&host, "system.ram", "cached", 1001, 1472368.0 / 1024.0);
    assert_stored(&host, "system.ram", "buffers", 1001, 16524.0 / 1024.0);
    assert_eq!(raw(&host, "system.ram", "free"), 23074160);
    assert_eq!(raw(&host, "system.ram", "used"), 121040);

    // /proc/net/dev eth0 bytes: received 115452082 → 116702082, sent 193150 → 255650.
    assert_stored(&host, "net.eth0", "received", 1001, (116702082.0 - 115452082.0) * 8.0 / 1000.0);
    assert_stored(&host, "net.eth0", "sent", 1001, -(255650.0 - 193150.0) * 8.0 / 1000.0);
    assert_eq!(storage_number::unpack(stored(&host, "net.eth0", "received", 1001)), 10000.0);
    assert_eq!(raw(&host, "net.eth0", "received"), 116702082);
    assert_eq!(raw(&host, "net.eth0", "sent"), 255650);

    // /proc/diskstats vda sectors: read 2979562 → 2985378, written 6291144 → 6324184.
    assert_stored(&host, "disk.vda", "reads", 1001, (2985378.0 - 2979562.0) * 512.0 / 1024.0);
    assert_stored(&host, "disk.vda", "writes", 1001, -(6324184.0 - 6291144.0) * 512.0 / 1024.0);
    assert_eq!(storage_number::unpack(stored(&host, "disk.vda", "reads", 1001)), 2908.0);
    assert_eq!(raw(&host, "disk.vda", "reads"), 2985378);
    assert_eq!(raw(&host, "disk.vda", "writes"), 6324184);

    // /proc/uptime t1: 371.26 s.
    assert_stored(&host, "system.uptime", "uptime", 1001, 371.26);
    assert_eq!(raw(&host, "system.uptime", "uptime"), 371260);

    // system.load is a 5-second chart: its first slot after t0 is 1005.
    // /proc/loadavg t1: 0.40 0.26 0.11.
    assert_eq!(stored(&host, "system.load", "load1", 1001), SN_EMPTY);
    c.collect_once(1005 * SEC);
    assert_stored(&host, "system.load", "load1", 1005, 0.4);
    assert_stored(&host, "system.load", "load5", 1005, 0.26);
    assert_stored(&host, "system.load", "load15", 1005, 0.11);
    assert_eq!(raw(&host, "system.load", "load1"), 400);
    assert!((storage_number::unpack(stored(&host, "system.load", "load1", 1005)) - 0.40).abs() < 1e-6);
}

#[test]
fn chart_metadata_is_netdatas() {
    let root = tempfile::tempdir().unwrap();
    copy_tree(&fixture("t0"), root.path());
    let host = new_host();
    collector(root.path(), &host).collect_once(T0);
    let meta = |id: &str| {
        let c = host.chart(id).unwrap();
        let d = c.read();
        let m = &d.meta;
        (
            m.name.to_string(),
            m.family.to_string(),
            m.context.to_string(),
            m.units.to_string(),
            m.priority,
            m.update_every,
        )
    };
    assert_eq!(
        meta("system.cpu"),
        ("system.cpu".into(), "cpu".into(), "system.cpu".into(), "percentage".into(), 100, 1)
    );
    assert_eq!(
        meta("system.load"),
        ("system.load".into(), "load".into(), "system.load".into(), "load".into(), 100, 5)
    );
    assert_eq!(
        meta("system.ram"),
        ("system.ram".into(), "ram".into(), "system.ram".into(), "MiB".into(), 200, 1)
    );
    assert_eq!(
        meta("net.eth0"),
        ("net.eth0".into(), "eth0".into(), "net.net".into(), "kilobits/s".into(), 7000, 1)
    );
    assert_eq!(
        meta("disk.vda"),
        ("disk.vda".into(), "vda".into(), "disk.io".into(), "KiB/s".into(), 2000, 1)
    );
    assert_eq!(
        meta("system.uptime"),
        ("system.uptime".into(), "uptime".into(), "system.uptime".into(), "seconds".into(), 1000, 1)
    );
    let cpu = host.chart("system.cpu").unwrap();
    let d = cpu.read();
    let hidden: Vec<&str> = (0..d.dims.len()).filter(|&i| d.dims[i].hidden).map(|i| d.names.id(i)).collect();
    assert_eq!(hidden, ["idle"]);
}

/// A root with odd interface names, every kind of block device, and no cpu/load/ram/uptime files.
fn edge_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("proc/net")).unwrap();
    fs::copy(fixture("edge/net_dev"), r.join("proc/net/dev")).unwrap();
    write(
        r,
        "proc/diskstats",
        "   8       0 sda 100 0 3000 10 200 0 5000 20 0 30 40 0 0 0 0\n\
         \x20  8       1 sda1 90 0 2900 10 190 0 4900 20 0 30 40 0 0 0 0\n\
         \x20  8      16 sdb 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
         \x20  7       0 loop0 5 0 40 0 0 0 0 0 0 0 0 0 0 0 0\n\
         \x20  1       0 ram0 5 0 40 0 0 0 0 0 0 0 0 0 0 0 0\n\
         \x20253       0 dm-0 10 0 80 1 20 0 160 2 0 3 4 0 0 0 0\n",
    );
    write(r, "sys/dev/block/8:1/partition", "1\n");
    fs::create_dir_all(r.join("sys/block/sda")).unwrap();
    fs::create_dir_all(r.join("sys/devices/virtual/block/dm-0")).unwrap();
    fs::create_dir_all(r.join("dev/mapper")).unwrap();
    std::os::unix::fs::symlink("../dm-0", r.join("dev/mapper/vg0-root")).unwrap();
    write(r, "proc/self/mountinfo", "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/dm-0 rw\n");
    root
}

#[test]
fn odd_interfaces_and_which_disks_get_charts() {
    let root = edge_root();
    let host = new_host();
    let mut c = collector(root.path(), &host);
    c.collect_once(T0);
    assert_eq!(
        chart_ids(&host),
        ["net.veth1_if2", "net.eth0_1", "net.eth1", "net.my_if", "net.big0", "disk.sda", "disk.dm-0"]
    );
    let family = |id: &str| host.chart(id).unwrap().read().meta.family.to_string();
    let name = |id: &str| host.chart(id).unwrap().read().meta.name.to_string();
    assert_eq!((family("net.veth1_if2"), family("net.my_if")), ("veth1@if2".into(), "my if".into()));
    assert_eq!((name("disk.dm-0"), family("disk.dm-0")), ("disk.vg0-root".into(), "/".into()));
    assert_eq!((name("disk.sda"), family("disk.sda")), ("disk.sda".into(), "sda".into()));

    // big0's 64-bit counters pass through as the same 64 bits.
    assert_eq!(raw(&host, "net.big0", "received"), -1);
    assert_eq!(raw(&host, "net.big0", "received") as u64, u64::MAX);

    // The received counter wraps: u64::MAX → 1000 is 1001 bytes.
    let text = fs::read_to_string(fixture("edge/net_dev")).unwrap();
    let wrapped = text.replacen("big0: 18446744073709551615", "big0: 1000", 1);
    assert_ne!(wrapped, text);
    write(root.path(), "proc/net/dev", &wrapped);
    c.collect_once(T1);
    assert_stored(&host, "net.big0", "received", 1001, 1001.0 * 8.0 / 1000.0);
    assert_stored(&host, "net.big0", "sent", 1001, 0.0);
    assert_stored(&host, "disk.dm-0", "reads", 1001, 0.0);
}

#[test]
fn each_problem_is_logged_once_until_it_goes_away() {
    let root = edge_root();
    let host = new_host();
    let mut c = collector(root.path(), &host);
    // stat, loadavg, meminfo and uptime are missing; net/dev has 3 bad rows.
    for t in 0..3 {
        c.collect_once(T0 + t * SEC);
        assert_eq!(c.problems_logged(), 7);
    }
    assert!(host.chart("system.cpu").is_none());

    write(root.path(), "proc/stat", "cpu 1 2 3 4 5 6 7 8 0 0\n");
    c.collect_once(T0 + 3 * SEC);
    assert_eq!(c.problems_logged(), 7);
    assert!(host.chart("system.cpu").is_some());

    // Gone again: a new occurrence is logged again, once.
    fs::remove_file(root.path().join("proc/stat")).unwrap();
    c.collect_once(T0 + 4 * SEC);
    c.collect_once(T0 + 5 * SEC);
    assert_eq!(c.problems_logged(), 8);

    // A file that does not parse is a problem too.
    write(root.path(), "proc/uptime", "up a while\n");
    c.collect_once(T0 + 6 * SEC);
    assert_eq!(c.problems_logged(), 8, "uptime was already reported as unreadable");
    write(root.path(), "proc/uptime", "12.5 3\n");
    c.collect_once(T0 + 7 * SEC);
    write(root.path(), "proc/uptime", "up a while\n");
    c.collect_once(T0 + 8 * SEC);
    assert_eq!(c.problems_logged(), 9);
}

#[test]
fn a_clock_going_back_is_logged_once_per_chart() {
    let root = tempfile::tempdir().unwrap();
    copy_tree(&fixture("t0"), root.path());
    let host = new_host();
    let mut c = collector(root.path(), &host);
    c.collect_once(T1);
    c.collect_once(T0);
    c.collect_once(T0 + 1);
    assert_eq!(c.problems_logged(), 6);
}

fn net_dev(rows: &[(&str, u64, u64)]) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for (name, rx, tx) in rows {
        s.push_str(&format!("{name:>6}: {rx} 0 0 0 0 0 0 0 {tx} 0 0 0 0 0 0 0\n"));
    }
    s
}

#[test]
fn interfaces_that_vanish_stop_and_come_back_fresh() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let host = new_host();
    let mut c = collector(r, &host);
    let obsolete = |id: &str| host.chart(id).unwrap().read().meta.obsolete;

    write(r, "proc/net/dev", &net_dev(&[("eth0", 1000, 1000), ("eth1", 5000, 0)]));
    c.collect_once(1000 * SEC);
    write(r, "proc/net/dev", &net_dev(&[("eth0", 2000, 1000), ("eth1", 6000, 0)]));
    c.collect_once(1001 * SEC);
    assert_stored(&host, "net.eth1", "received", 1001, 8.0);

    // eth1 disappears, eth2 appears.
    write(r, "proc/net/dev", &net_dev(&[("eth0", 3000, 1000), ("eth2", 10, 10)]));
    c.collect_once(1002 * SEC);
    assert!(obsolete("net.eth1"));
    assert!(!obsolete("net.eth0"));
    assert_eq!(stored(&host, "net.eth1", "received", 1002), SN_EMPTY);
    assert_stored(&host, "net.eth0", "received", 1002, 8.0);
    assert_eq!(chart_ids(&host), ["net.eth0", "net.eth1", "net.eth2"]);

    // eth1 is back, recreated with fresh counters: the first pass only primes it.
    write(r, "proc/net/dev", &net_dev(&[("eth0", 4000, 1000), ("eth1", 500, 0), ("eth2", 20, 10)]));
    c.collect_once(1003 * SEC);
    assert!(!obsolete("net.eth1"));
    assert_eq!(stored(&host, "net.eth1", "received", 1003), SN_EMPTY);

    write(r, "proc/net/dev", &net_dev(&[("eth0", 5000, 1000), ("eth1", 1500, 0), ("eth2", 30, 10)]));
    c.collect_once(1004 * SEC);
    assert_stored(&host, "net.eth1", "received", 1004, 8.0);
    assert_stored(&host, "net.eth2", "received", 1004, 0.08);
}

#[test]
fn collections_are_aligned_to_update_every() {
    assert_eq!(delay_to_next_collection(1000 * SEC + 300_000, 1), Duration::from_micros(705_000));
    assert_eq!(delay_to_next_collection(1000 * SEC, 5), Duration::from_micros(5_005_000));
    assert_eq!(delay_to_next_collection(1003 * SEC + 200_000, 5), Duration::from_micros(1_805_000));
    assert_eq!(delay_to_next_collection(1000 * SEC + 999_999, 1), Duration::from_micros(5_001));
    assert_eq!(delay_to_next_collection(1000 * SEC + 1, 0), Duration::from_micros(1_004_999));
}

#[test]
fn the_thread_collects_at_once_and_stops_on_shutdown() {
    let root = tempfile::tempdir().unwrap();
    copy_tree(&fixture("t0"), root.path());
    let host = new_host();
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let handle = start(
        ProcConfig { root: root.path().to_path_buf(), update_every: 1 },
        host.clone(),
        shutdown.clone(),
    );
    shutdown.trigger();
    handle.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        chart_ids(&host),
        ["system.cpu", "system.load", "system.ram", "net.eth0", "disk.vda", "system.uptime"]
    );
}

#[test]
fn this_machines_proc() {
    let host = new_host();
    let mut c = collector(Path::new("/"), &host);
    c.collect_once(1000 * SEC);
    c.collect_once(1005 * SEC);
    assert_eq!(c.problems_logged(), 0);

    for (id, dims) in [("system.cpu", 10), ("system.load", 3), ("system.ram", 4), ("system.uptime", 1)] {
        let chart = host.chart(id).unwrap_or_else(|| panic!("no chart {id}"));
        assert_eq!(chart.dimension_count(), dims, "{id}");
    }
    // Every interface and disk that qualifies by the rules has its chart, with its 2 dimensions.
    let mut expected = Vec::new();
    for r in parse::parse_net_dev(&fs::read_to_string("/proc/net/dev").unwrap()).rows {
        if !devices::iface_excluded(&r.name) && (r.rx_bytes > 0 || r.tx_bytes > 0) {
            expected.push(charts::net_chart_id(&r.name));
        }
    }
    for r in parse::parse_diskstats(&fs::read_to_string("/proc/diskstats").unwrap()).rows {
        let kind = devices::disk_kind(Path::new("/"), &r.name, r.major, r.minor);
        if devices::disk_included(&r.name, kind) && (r.sectors_read > 0 || r.sectors_written > 0) {
            expected.push(charts::disk_chart_id(&r.name));
        }
    }
    for id in &expected {
        let chart = host.chart(id).unwrap_or_else(|| panic!("no chart {id}"));
        assert_eq!(chart.dimension_count(), 2, "{id}");
    }
    assert_eq!(host.chart_count(), 4 + expected.len(), "{:?}", chart_ids(&host));

    let now = parse::parse_loadavg(&fs::read_to_string("/proc/loadavg").unwrap()).unwrap();
    let load1 = storage_number::unpack(stored(&host, "system.load", "load1", 1005));
    assert!(
        (load1 - now.load1_milli as f64 / 1000.0).abs() <= 0.01 + 1e-9,
        "stored {load1}, /proc/loadavg says {}",
        now.load1_milli
    );
    assert!(storage_number::exists(stored(&host, "system.cpu", "user", 1005)));
    assert!(storage_number::exists(stored(&host, "system.uptime", "uptime", 1005)));
}
