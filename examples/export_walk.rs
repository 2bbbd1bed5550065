//! One exporter wake-up over the benchmark store (1000 charts × 100 dimensions, history 3600),
//! alone in a process: for counting its instructions with callgrind, or for timing it many
//! times in a row.
//!
//! Timings from `cargo bench` move with whatever else the host runs; an instruction count does
//! not. Use this to compare two builds of the export path:
//!
//! ```text
//! cargo build --release --example export_walk
//! valgrind --tool=callgrind --toggle-collect='export_walk::measured' \
//!     target/release/examples/export_walk graphite average
//! ```
//!
//! callgrind's `Collected` count is the wake-up's instructions; divide by the metrics printed.
//! As in `benches/export.rs`, the formatter first formats the previous window (not counted).
//!
//! With a count of wake-ups and optionally of charts (`export_walk graphite average 100 20`),
//! it times that many wake-ups, each by a new formatter, and prints the fastest and the mean
//! per metric and the page faults each took: the fastest of many is the steadiest figure on a
//! shared host, and a store of 20 charts stays in the processor's caches, which tells the cost
//! of the instructions from the cost of memory.

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::Instant;

use rrdpipe::export::batch::Batch;
use rrdpipe::export::connector::ConnectorKind;
use rrdpipe::export::format::DataSource;
use rrdpipe::export::instance::{Formatter, InstanceConfig};
use rrdpipe::rrd::Db;

use common::{filled_db, instance, DIMS, S, T0};

/// The wake-up callgrind counts (`--toggle-collect`).
#[inline(never)]
fn measured(f: &mut Formatter, db: &Db, now_ut: u64) -> Vec<Batch> {
    f.format_due(db, now_ut)
}

/// The collections stored, and the wake-up: its window is (T0+20, T0+30], as in
/// `benches/export.rs`.
const SECONDS: u64 = 33;
const NOW: u64 = T0 + 33;

/// A formatter that already sent the window before the measured one.
fn warm(cfg: &InstanceConfig, db: &Db) -> Formatter {
    let mut f = Formatter::new(cfg.clone(), (NOW - 20) * S);
    f.format_due(db, (NOW - 10) * S);
    f
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let format = match args.first().map_or("graphite", String::as_str) {
        "graphite" => ConnectorKind::Graphite,
        "opentsdb" => ConnectorKind::Opentsdb,
        "json" => ConnectorKind::Json,
        other => usage(&format!("unknown format '{other}'")),
    };
    let source = match args.get(1).map_or("average", String::as_str) {
        "average" => DataSource::Average,
        "sum" => DataSource::Sum,
        "as-collected" => DataSource::AsCollected,
        other => usage(&format!("unknown data source '{other}'")),
    };
    let number = |i: usize, what: &str| {
        args.get(i).map(|a| {
            a.parse::<usize>().ok().filter(|&n| n > 0).unwrap_or_else(|| usage(&format!("bad {what} '{a}'")))
        })
    };
    let (wake_ups, charts) = (number(2, "number of wake-ups"), number(3, "number of charts").unwrap_or(1000));
    let db = filled_db(charts, SECONDS);
    let cfg = instance(format, source, 10);
    let Some(wake_ups) = wake_ups else {
        let batches = measured(&mut warm(&cfg, &db), &db, NOW * S);
        let metrics: usize = batches.iter().map(|b| b.metrics).sum();
        let bytes: usize = batches.iter().map(|b| b.bytes.len()).sum();
        println!("{} {source:?}: {metrics} metrics, {bytes} bytes", format.type_name());
        return;
    };
    let metrics = (charts * DIMS) as f64;
    let (mut fastest, mut total, mut faults) = (f64::MAX, 0.0, 0);
    for _ in 0..wake_ups {
        let mut f = warm(&cfg, &db);
        let (faults_before, start) = (minor_faults(), Instant::now());
        let batches = measured(&mut f, &db, NOW * S);
        let ns = start.elapsed().as_secs_f64() * 1e9 / metrics;
        faults += minor_faults() - faults_before;
        assert_eq!(
            batches.iter().map(|b| b.metrics).sum::<usize>(),
            charts * DIMS,
            "one metric per dimension"
        );
        drop(batches);
        fastest = fastest.min(ns);
        total += ns;
    }
    println!(
        "{} {source:?}, {charts} charts: fastest {fastest:.1} ns per metric, mean {:.1}, {} page faults per wake-up",
        format.type_name(),
        total / wake_ups as f64,
        faults / wake_ups as i64
    );
}

/// This process's minor page faults so far.
fn minor_faults() -> i64 {
    // SAFETY: `getrusage` fills the struct it is given; an all-zero `rusage` is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: export_walk [graphite|opentsdb|json] [average|sum|as-collected] [WAKE-UPS [CHARTS]]"
    );
    std::process::exit(2)
}
