//! Pure parsers for the Linux `/proc` files the `proc` collector reads.
//!
//! Each parser takes a file's text and returns plain structs holding the numbers exactly as the
//! kernel printed them: no scaling, no derived values, no I/O, no clock. Decimal numbers (load
//! averages, uptime) are converted to integer milli-units without going through floating point,
//! so `0.29` is `290`, never `289`.
//!
//! Tables (`/proc/net/dev`, `/proc/diskstats`) keep going past a malformed row: the row is
//! returned in [`Rows::skipped`] with its line number, and the rest is parsed.
//!
//! This module knows nothing about charts, the store, or where the text came from.

use std::fmt;

/// A line that could not be parsed: `file:line: problem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file as the kernel names it, e.g. `/proc/loadavg`.
    pub file: &'static str,
    /// 1-based line number; 0 when the problem is the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl ParseError {
    fn new(file: &'static str, line: usize, problem: impl Into<String>) -> ParseError {
        ParseError { file, line, problem: problem.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

impl std::error::Error for ParseError {}

/// The rows of a table file, and the rows that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows<T> {
    /// Rows parsed, in file order.
    pub rows: Vec<T>,
    /// Rows skipped, with the reason.
    pub skipped: Vec<ParseError>,
}

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows { rows: Vec::new(), skipped: Vec::new() }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc/stat

/// The aggregate `cpu` line of `/proc/stat`, in clock ticks since boot.
///
/// As the kernel reports them: `user` includes `guest` and `nice` includes `guest_nice`.
/// Fields an older kernel does not print are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: u64,
    /// Niced processes in user mode.
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Waiting for I/O.
    pub iowait: u64,
    /// Servicing hardware interrupts.
    pub irq: u64,
    /// Servicing soft interrupts.
    pub softirq: u64,
    /// Stolen by the hypervisor.
    pub steal: u64,
    /// Running guests (also counted in `user`).
    pub guest: u64,
    /// Running niced guests (also counted in `nice`).
    pub guest_nice: u64,
}

const STAT: &str = "/proc/stat";

/// Parse the aggregate `cpu` line of `/proc/stat`. At least `user nice system idle` must be
/// present; the other fields default to 0.
pub fn parse_stat(text: &str) -> Result<CpuTimes, ParseError> {
    for (i, line) in text.lines().enumerate() {
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("cpu") {
            continue;
        }
        let mut v = [0u64; 10];
        let mut n = 0;
        for w in words.take(10) {
            v[n] = parse_u64(w).ok_or_else(|| {
                ParseError::new(STAT, i + 1, format!("cpu field {} is `{w}`, not a number", n + 1))
            })?;
            n += 1;
        }
        if n < 4 {
            return Err(ParseError::new(
                STAT,
                i + 1,
                format!("the cpu line has {n} fields; at least 4 (user nice system idle) are needed"),
            ));
        }
        return Ok(CpuTimes {
            user: v[0],
            nice: v[1],
            system: v[2],
            idle: v[3],
            iowait: v[4],
            irq: v[5],
            softirq: v[6],
            steal: v[7],
            guest: v[8],
            guest_nice: v[9],
        });
    }
    Err(ParseError::new(STAT, 0, "no `cpu` line; is this /proc/stat?"))
}

// ---------------------------------------------------------------------------------------------
// /proc/loadavg

/// Load averages from `/proc/loadavg`, in thousandths (`0.52` is `520`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadAvg {
    /// 1-minute load average × 1000.
    pub load1_milli: u64,
    /// 5-minute load average × 1000.
    pub load5_milli: u64,
    /// 15-minute load average × 1000.
    pub load15_milli: u64,
}

const LOADAVG: &str = "/proc/loadavg";

/// Parse `/proc/loadavg`: the three load averages of its first line.
pub fn parse_loadavg(text: &str) -> Result<LoadAvg, ParseError> {
    let line = text.lines().next().unwrap_or("");
    let mut v = [0u64; 3];
    let mut words = line.split_ascii_whitespace();
    for (n, slot) in v.iter_mut().enumerate() {
        let w = words
            .next()
            .ok_or_else(|| ParseError::new(LOADAVG, 1, format!("expected 3 load averages, found {n}")))?;
        *slot = parse_milli(w).ok_or_else(|| {
            ParseError::new(LOADAVG, 1, format!("load average {} is `{w}`, not a decimal number", n + 1))
        })?;
    }
    Ok(LoadAvg { load1_milli: v[0], load5_milli: v[1], load15_milli: v[2] })
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo

/// The `/proc/meminfo` fields the collector uses, in KiB (the kernel's `kB`).
/// Fields missing from the file are 0, except `MemTotal` and `MemFree`, which are required.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub mem_total: u64,
    /// `MemFree`.
    pub mem_free: u64,
    /// `MemAvailable` (kernels ≥ 3.14).
    pub mem_available: u64,
    /// `Buffers`.
    pub buffers: u64,
    /// `Cached`.
    pub cached: u64,
    /// `Slab`.
    pub slab: u64,
    /// `SReclaimable`.
    pub sreclaimable: u64,
    /// `Shmem`.
    pub shmem: u64,
}

const MEMINFO: &str = "/proc/meminfo";

/// Parse `/proc/meminfo` lines of the form `Key:   value kB`.
pub fn parse_meminfo(text: &str) -> Result<MemInfo, ParseError> {
    let mut m = MemInfo::default();
    let (mut have_total, mut have_free) = (false, false);
    for (i, line) in text.lines().enumerate() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "MemTotal" => {
                have_total = true;
                &mut m.mem_total
            }
            "MemFree" => {
                have_free = true;
                &mut m.mem_free
            }
            "MemAvailable" => &mut m.mem_available,
            "Buffers" => &mut m.buffers,
            "Cached" => &mut m.cached,
            "Slab" => &mut m.slab,
            "SReclaimable" => &mut m.sreclaimable,
            "Shmem" => &mut m.shmem,
            _ => continue,
        };
        let w = rest.split_ascii_whitespace().next().unwrap_or("");
        *slot = parse_u64(w).ok_or_else(|| {
            ParseError::new(MEMINFO, i + 1, format!("{} is `{w}`, not a number", key.trim()))
        })?;
    }
    match (have_total, have_free) {
        (true, true) => Ok(m),
        (false, _) => Err(ParseError::new(MEMINFO, 0, "no MemTotal line; is this /proc/meminfo?")),
        (_, false) => Err(ParseError::new(MEMINFO, 0, "no MemFree line; is this /proc/meminfo?")),
    }
}

// ---------------------------------------------------------------------------------------------
// /proc/net/dev

/// One interface of `/proc/net/dev`: its 16 counters, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name, as printed (leading spaces removed).
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errs: u64,
    /// Received packets dropped.
    pub rx_drop: u64,
    /// Receive FIFO errors.
    pub rx_fifo: u64,
    /// Receive framing errors.
    pub rx_frame: u64,
    /// Compressed packets received.
    pub rx_compressed: u64,
    /// Multicast frames received.
    pub rx_multicast: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Transmit errors.
    pub tx_errs: u64,
    /// Sent packets dropped.
    pub tx_drop: u64,
    /// Transmit FIFO errors.
    pub tx_fifo: u64,
    /// Collisions.
    pub tx_colls: u64,
    /// Carrier losses.
    pub tx_carrier: u64,
    /// Compressed packets sent.
    pub tx_compressed: u64,
}

const NET_DEV: &str = "/proc/net/dev";

/// Parse `/proc/net/dev`. The two header lines are recognised by their `|` and ignored.
///
/// The name is everything before the row's last `:`, so a name that itself holds a `:` and the
/// old layout with no space after the colon (`eth0:123456`) both parse.
pub fn parse_net_dev(text: &str) -> Rows<NetDev> {
    let mut out = Rows::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, counters)) = line.rsplit_once(':') else {
            if !line.contains('|') {
                out.skipped.push(ParseError::new(NET_DEV, i + 1, "no `:` after the interface name"));
            }
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            out.skipped.push(ParseError::new(NET_DEV, i + 1, "empty interface name"));
            continue;
        }
        let mut v = [0u64; 16];
        match parse_fields(counters, &mut v) {
            Ok(()) => out.rows.push(NetDev {
                name: name.to_string(),
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errs: v[2],
                rx_drop: v[3],
                rx_fifo: v[4],
                rx_frame: v[5],
                rx_compressed: v[6],
                rx_multicast: v[7],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errs: v[10],
                tx_drop: v[11],
                tx_fifo: v[12],
                tx_colls: v[13],
                tx_carrier: v[14],
                tx_compressed: v[15],
            }),
            Err(problem) => {
                out.skipped.push(ParseError::new(NET_DEV, i + 1, format!("interface `{name}`: {problem}")))
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// /proc/diskstats

/// One block device of `/proc/diskstats`. Sectors are always 512 bytes, whatever the device.
/// Discard fields (kernels ≥ 4.18) and flush fields (≥ 5.5) are 0 when not printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStat {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Kernel device name, e.g. `sda`, `dm-0`.
    pub name: String,
    /// Reads completed.
    pub reads: u64,
    /// Reads merged.
    pub reads_merged: u64,
    /// Sectors read.
    pub sectors_read: u64,
    /// Milliseconds spent reading.
    pub read_ms: u64,
    /// Writes completed.
    pub writes: u64,
    /// Writes merged.
    pub writes_merged: u64,
    /// Sectors written.
    pub sectors_written: u64,
    /// Milliseconds spent writing.
    pub write_ms: u64,
    /// I/Os currently in progress.
    pub in_progress: u64,
    /// Milliseconds spent doing I/O.
    pub io_ms: u64,
    /// Weighted milliseconds spent doing I/O.
    pub weighted_io_ms: u64,
    /// Discards completed.
    pub discards: u64,
    /// Discards merged.
    pub discards_merged: u64,
    /// Sectors discarded.
    pub sectors_discarded: u64,
    /// Milliseconds spent discarding.
    pub discard_ms: u64,
    /// Flush requests completed.
    pub flushes: u64,
    /// Milliseconds spent flushing.
    pub flush_ms: u64,
}

const DISKSTATS: &str = "/proc/diskstats";

/// Parse `/proc/diskstats`. A row needs `major minor name` and the 11 classic counters; the
/// 4-counter partition rows of 2.6 kernels are skipped.
pub fn parse_diskstats(text: &str) -> Rows<DiskStat> {
    let mut out = Rows::default();
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let skip = |problem: String| ParseError::new(DISKSTATS, i + 1, problem);
        if words.len() < 14 {
            let who = words.get(2).copied().unwrap_or("?");
            out.skipped.push(skip(format!(
                "device `{who}` has {} fields; at least 14 (major minor name and 11 counters) are needed",
                words.len()
            )));
            continue;
        }
        let (Some(major), Some(minor)) = (parse_u32(words[0]), parse_u32(words[1])) else {
            out.skipped.push(skip(format!("`{} {}` is not a major and minor number", words[0], words[1])));
            continue;
        };
        let mut v = [0u64; 17];
        let n = words.len().min(3 + 17);
        if let Some(bad) = words[3..n].iter().position(|w| parse_u64(w).is_none()) {
            out.skipped.push(skip(format!(
                "device `{}`: counter {} is `{}`, not a number",
                words[2],
                bad + 1,
                words[3 + bad]
            )));
            continue;
        }
        for (slot, w) in v.iter_mut().zip(&words[3..n]) {
            *slot = parse_u64(w).unwrap_or(0);
        }
        out.rows.push(DiskStat {
            major,
            minor,
            name: words[2].to_string(),
            reads: v[0],
            reads_merged: v[1],
            sectors_read: v[2],
            read_ms: v[3],
            writes: v[4],
            writes_merged: v[5],
            sectors_written: v[6],
            write_ms: v[7],
            in_progress: v[8],
            io_ms: v[9],
            weighted_io_ms: v[10],
            discards: v[11],
            discards_merged: v[12],
            sectors_discarded: v[13],
            discard_ms: v[14],
            flushes: v[15],
            flush_ms: v[16],
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// /proc/uptime

/// `/proc/uptime`: seconds since boot, in milliseconds (`350735.47` is `350735470`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uptime {
    /// Time since boot in milliseconds.
    pub uptime_ms: u64,
}

const UPTIME: &str = "/proc/uptime";

/// Parse the first number of `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Result<Uptime, ParseError> {
    let w = text.split_ascii_whitespace().next().unwrap_or("");
    let uptime_ms = parse_milli(w).ok_or_else(|| {
        ParseError::new(UPTIME, 1, format!("uptime is `{w}`, not a decimal number of seconds"))
    })?;
    Ok(Uptime { uptime_ms })
}

// ---------------------------------------------------------------------------------------------
// /proc/self/mountinfo

/// One row of `/proc/self/mountinfo`, reduced to what naming a disk needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// Major number of the mounted device.
    pub major: u32,
    /// Minor number of the mounted device.
    pub minor: u32,
    /// Where it is mounted, with the kernel's octal escapes (`\040`) decoded.
    pub mount_point: String,
    /// The mount source, e.g. `/dev/sda1`, with escapes decoded.
    pub source: String,
}

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Parse `/proc/self/mountinfo`. Rows without the ` - ` separator or a `major:minor` field are
/// skipped.
pub fn parse_mountinfo(text: &str) -> Rows<Mount> {
    let mut out = Rows::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        let Some(sep) = words.iter().position(|w| *w == "-") else {
            out.skipped.push(ParseError::new(MOUNTINFO, i + 1, "no ` - ` separator"));
            continue;
        };
        let dev = words.get(2).and_then(|w| w.split_once(':'));
        let majmin = dev.and_then(|(a, b)| Some((parse_u32(a)?, parse_u32(b)?)));
        let (Some((major, minor)), Some(mp), Some(src)) = (majmin, words.get(4), words.get(sep + 2)) else {
            out.skipped.push(ParseError::new(MOUNTINFO, i + 1, "missing major:minor, mount point or source"));
            continue;
        };
        out.rows.push(Mount { major, minor, mount_point: unescape_octal(mp), source: unescape_octal(src) });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// numbers

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_u32(s: &str) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// Fill `out` from the whitespace-separated words of `s`; every slot must be filled.
fn parse_fields(s: &str, out: &mut [u64]) -> Result<(), String> {
    let mut n = 0;
    for w in s.split_ascii_whitespace() {
        if n == out.len() {
            break;
        }
        out[n] = parse_u64(w).ok_or_else(|| format!("counter {} is `{w}`, not a number", n + 1))?;
        n += 1;
    }
    if n < out.len() {
        return Err(format!("{n} counters; {} are needed", out.len()));
    }
    Ok(())
}

/// `"12.345678"` → `12345` (thousandths, extra digits truncated); `"7"` → `7000`.
fn parse_milli(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int = if int.is_empty() { 0 } else { parse_u64(int)? };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut milli = 0u64;
    let mut digits = frac.bytes();
    for _ in 0..3 {
        milli = milli * 10 + digits.next().map_or(0, |b| u64::from(b - b'0'));
    }
    int.checked_mul(1000)?.checked_add(milli)
}

/// Decode the `\ooo` escapes the kernel uses for spaces, tabs, newlines and backslashes.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0_STAT: &str = include_str!("../../../tests/fixtures/proc/t0/proc/stat");
    const T0_LOADAVG: &str = include_str!("../../../tests/fixtures/proc/t0/proc/loadavg");
    const T0_MEMINFO: &str = include_str!("../../../tests/fixtures/proc/t0/proc/meminfo");
    const T0_NET_DEV: &str = include_str!("../../../tests/fixtures/proc/t0/proc/net/dev");
    const T0_DISKSTATS: &str = include_str!("../../../tests/fixtures/proc/t0/proc/diskstats");
    const T0_UPTIME: &str = include_str!("../../../tests/fixtures/proc/t0/proc/uptime");
    const EDGE_NET_DEV: &str = include_str!("../../../tests/fixtures/proc/edge/net_dev");
    const EDGE_DISKSTATS: &str = include_str!("../../../tests/fixtures/proc/edge/diskstats");

    #[test]
    fn stat_from_a_real_machine() {
        assert_eq!(
            parse_stat(T0_STAT).unwrap(),
            CpuTimes {
                user: 7080,
                nice: 0,
                system: 3790,
                idle: 62308,
                iowait: 423,
                irq: 0,
                softirq: 39,
                steal: 16,
                guest: 0,
                guest_nice: 0,
            }
        );
    }

    #[test]
    fn stat_takes_the_aggregate_line_not_cpu0() {
        let text = "cpu0 1 2 3 4 5 6 7 8 9 10\ncpu  11 12 13 14 15 16 17 18 19 20\nintr 5\n";
        let c = parse_stat(text).unwrap();
        assert_eq!((c.user, c.guest_nice), (11, 20));
    }

    #[test]
    fn stat_of_an_old_kernel_defaults_missing_fields_to_zero() {
        let c = parse_stat("cpu 100 2 30 400 5\n").unwrap();
        assert_eq!(
            c,
            CpuTimes { user: 100, nice: 2, system: 30, idle: 400, iowait: 5, ..CpuTimes::default() }
        );
    }

    #[test]
    fn stat_errors_name_file_and_line() {
        assert_eq!(
            parse_stat("intr 1\ncpu 1 2 3\n").unwrap_err().to_string(),
            "/proc/stat:2: the cpu line has 3 fields; at least 4 (user nice system idle) are needed"
        );
        assert_eq!(
            parse_stat("cpu 1 2 x 4\n").unwrap_err().to_string(),
            "/proc/stat:1: cpu field 3 is `x`, not a number"
        );
        assert_eq!(
            parse_stat("").unwrap_err().to_string(),
            "/proc/stat:0: no `cpu` line; is this /proc/stat?"
        );
    }

    #[test]
    fn loadavg_from_a_real_machine() {
        assert_eq!(
            parse_loadavg(T0_LOADAVG).unwrap(),
            LoadAvg { load1_milli: 170, load5_milli: 210, load15_milli: 90 }
        );
    }

    #[test]
    fn loadavg_is_exact_where_float_times_1000_truncates() {
        // 4.35 * 1000.0 is 4349.999… in binary floating point.
        let l = parse_loadavg("4.35 0.29 123.45 2/90 8029\n").unwrap();
        assert_eq!((l.load1_milli, l.load5_milli, l.load15_milli), (4350, 290, 123450));
    }

    #[test]
    fn loadavg_with_missing_fields_is_an_error() {
        assert_eq!(
            parse_loadavg("0.52 0.58\n").unwrap_err().to_string(),
            "/proc/loadavg:1: expected 3 load averages, found 2"
        );
        assert_eq!(
            parse_loadavg("0.52 abc 1\n").unwrap_err().to_string(),
            "/proc/loadavg:1: load average 2 is `abc`, not a decimal number"
        );
    }

    #[test]
    fn meminfo_from_a_real_machine() {
        assert_eq!(
            parse_meminfo(T0_MEMINFO).unwrap(),
            MemInfo {
                mem_total: 24684092,
                mem_free: 23011168,
                mem_available: 24285912,
                buffers: 16536,
                cached: 1430700,
                slab: 130868,
                sreclaimable: 102544,
                shmem: 8856,
            }
        );
    }

    #[test]
    fn meminfo_missing_optional_fields_are_zero_and_required_ones_are_errors() {
        let m = parse_meminfo("MemTotal: 100 kB\nMemFree: 40 kB\nHugePages_Total: 0\n").unwrap();
        assert_eq!(m, MemInfo { mem_total: 100, mem_free: 40, ..MemInfo::default() });
        assert_eq!(
            parse_meminfo("MemFree: 40 kB\n").unwrap_err().to_string(),
            "/proc/meminfo:0: no MemTotal line; is this /proc/meminfo?"
        );
        assert_eq!(
            parse_meminfo("MemTotal: 100 kB\nMemFree: -4 kB\n").unwrap_err().to_string(),
            "/proc/meminfo:2: MemFree is `-4`, not a number"
        );
    }

    #[test]
    fn net_dev_from_a_real_machine() {
        let t = parse_net_dev(T0_NET_DEV);
        assert_eq!(t.skipped, vec![]);
        let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
        assert_eq!(
            t.rows[3],
            NetDev {
                name: "eth0".into(),
                rx_bytes: 115452082,
                rx_packets: 3415,
                tx_bytes: 193150,
                tx_packets: 2194,
                ..NetDev::default()
            }
        );
    }

    #[test]
    fn net_dev_odd_names_old_layout_huge_counters_and_short_rows() {
        let t = parse_net_dev(EDGE_NET_DEV);
        let got: Vec<(&str, u64, u64, u64)> =
            t.rows.iter().map(|r| (r.name.as_str(), r.rx_bytes, r.tx_bytes, r.tx_compressed)).collect();
        assert_eq!(
            got,
            [
                ("veth1@if2", 1000, 2000, 0),
                ("eth0:1", 300, 400, 0),
                ("eth1", 123456789, 987654321, 0),
                ("my if", 5, 6, 0),
                ("big0", 18446744073709551615, 18446744073709551614, 16),
            ]
        );
        assert_eq!(
            t.skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "/proc/net/dev:8: interface `short0`: 9 counters; 16 are needed",
                "/proc/net/dev:9: interface `bad0`: counter 2 is `x`, not a number",
                "/proc/net/dev:10: no `:` after the interface name",
            ]
        );
    }

    #[test]
    fn diskstats_from_a_real_machine() {
        let t = parse_diskstats(T0_DISKSTATS);
        assert_eq!(t.skipped, vec![]);
        assert_eq!(t.rows.len(), 10);
        assert_eq!(
            t.rows[8],
            DiskStat {
                major: 254,
                minor: 0,
                name: "vda".into(),
                reads: 29964,
                reads_merged: 5961,
                sectors_read: 2979562,
                read_ms: 14998,
                writes: 10025,
                writes_merged: 21433,
                sectors_written: 6291144,
                write_ms: 27629,
                in_progress: 0,
                io_ms: 6216,
                weighted_io_ms: 43094,
                discards: 4294,
                discards_merged: 38,
                sectors_discarded: 367648,
                discard_ms: 427,
                flushes: 1059,
                flush_ms: 38,
            }
        );
    }

    #[test]
    fn diskstats_old_kernels_short_rows_and_garbage() {
        let t = parse_diskstats(EDGE_DISKSTATS);
        let got: Vec<(&str, u64, u64, u64)> =
            t.rows.iter().map(|r| (r.name.as_str(), r.sectors_read, r.sectors_written, r.flushes)).collect();
        assert_eq!(got, [("sda", 3000, 5000, 0), ("nvme0n1", 18446744073709551615, 7, 9)]);
        assert_eq!(
            t.skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "/proc/diskstats:2: device `sda1` has 7 fields; at least 14 (major minor name and 11 counters) are needed",
                "/proc/diskstats:4: `x 0` is not a major and minor number",
                "/proc/diskstats:5: device `sdc`: counter 5 is `-1`, not a number",
            ]
        );
    }

    #[test]
    fn uptime_from_a_real_machine_and_edge_cases() {
        assert_eq!(parse_uptime(T0_UPTIME).unwrap(), Uptime { uptime_ms: 370170 });
        assert_eq!(parse_uptime("5 10").unwrap(), Uptime { uptime_ms: 5000 });
        assert_eq!(parse_uptime("1.5\n").unwrap(), Uptime { uptime_ms: 1500 });
        assert_eq!(parse_uptime("12.34567 1").unwrap(), Uptime { uptime_ms: 12345 });
        assert_eq!(
            parse_uptime("").unwrap_err().to_string(),
            "/proc/uptime:1: uptime is ``, not a decimal number of seconds"
        );
        assert_eq!(
            parse_uptime("1.2.3 4").unwrap_err().to_string(),
            "/proc/uptime:1: uptime is `1.2.3`, not a decimal number of seconds"
        );
    }

    #[test]
    fn mountinfo_rows_with_escapes() {
        let text = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                    30 22 8:17 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw\n\
                    garbage\n";
        let t = parse_mountinfo(text);
        assert_eq!(
            t.rows,
            [
                Mount { major: 254, minor: 0, mount_point: "/".into(), source: "/dev/vda".into() },
                Mount { major: 8, minor: 17, mount_point: "/mnt/my disk".into(), source: "/dev/sdb1".into() },
            ]
        );
        assert_eq!(t.skipped[0].to_string(), "/proc/self/mountinfo:3: no ` - ` separator");
    }

    #[test]
    fn milli_parsing() {
        assert_eq!(parse_milli("0.52"), Some(520));
        assert_eq!(parse_milli(".5"), Some(500));
        assert_eq!(parse_milli("3."), Some(3000));
        assert_eq!(parse_milli("."), None);
        assert_eq!(parse_milli("-1.0"), None);
        assert_eq!(parse_milli("1e3"), None);
    }
}
