//! The export walk over a million dimensions: 10 000 charts × 100 dimensions, 3600 slots of
//! history, graphite lines of the 10-second average.
//!
//! Two measurements:
//!
//! 1. `walk_1m/graphite_average_every_10`: one exporter wake-up formatting all 1 000 000
//!    metrics (criterion). It must take well under the 10 s between wake-ups.
//! 2. The delay the walk adds to collections (printed after the criterion output): a collector
//!    thread stores one chart every millisecond, rotating over the walked charts, while walks
//!    run back to back; every `collect` call is timed. The same collector then runs without a
//!    walk, for comparison. The walk holds one chart's read lock at a time, so a collection can
//!    only wait for the formatting of one chart.

mod common;

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use rrdpipe::export::connector::ConnectorKind;
use rrdpipe::export::format::DataSource;
use rrdpipe::export::instance::Formatter;
use rrdpipe::rrd::Db;

use common::{filled_db, instance, probe, summary, DIMS, S, T0};

const CHARTS: usize = 10_000;
/// Collections at T0+0.5 s … T0+32.5 s.
const SECONDS: u64 = 33;
/// Wake-up whose window is (T0+20, T0+30].
const NOW: u64 = T0 + 33;

fn walk(db: &Db) -> usize {
    let mut f = Formatter::new(instance(ConnectorKind::Graphite, DataSource::Average, 10), T0 * S);
    f.format_due(db, NOW * S).iter().map(|b| b.metrics).sum()
}

fn bench_walk(c: &mut Criterion, db: &Db) {
    let mut g = c.benchmark_group("walk_1m");
    g.throughput(Throughput::Elements((CHARTS * DIMS) as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_millis(200));
    g.bench_function("graphite_average_every_10", |b| {
        b.iter_batched(
            || Formatter::new(instance(ConnectorKind::Graphite, DataSource::Average, 10), T0 * S),
            |mut f| f.format_due(db, NOW * S),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn main() {
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"walk_1m".contains(a.as_str())) {
        return; // `cargo bench -- NAME` selected other benchmarks
    }
    let t = Instant::now();
    let db = filled_db(CHARTS, SECONDS);
    println!("walk_1m: store of {} dimensions filled in {:.1} s", CHARTS * DIMS, t.elapsed().as_secs_f64());
    assert_eq!(walk(&db), CHARTS * DIMS, "one metric per dimension");

    let mut c = common::quick();
    bench_walk(&mut c, &db);

    // The probe writes the slot after each chart's last, ahead of the exported window: every
    // walk still finds its 10 slots.
    let charts = db.localhost().charts();
    let mut walks = Vec::new();
    let with_walk = probe(&charts, 0, SECONDS, || {
        for _ in 0..10 {
            let t = Instant::now();
            assert_eq!(walk(&db), CHARTS * DIMS);
            walks.push(t.elapsed().as_secs_f64() * 1e3);
        }
    });
    let idle = probe(&charts, with_walk.len(), SECONDS, || std::thread::sleep(Duration::from_secs(2)));
    println!(
        "walk_1m: 10 walks of 1 000 000 metrics took {:.0} to {:.0} ms each (budget: 10 000 ms)",
        walks.iter().cloned().fold(f64::MAX, f64::min),
        walks.iter().cloned().fold(0.0, f64::max)
    );
    summary("walk_1m: collect latency during walks", with_walk);
    summary("walk_1m: collect latency without a walk", idle);
    c.final_summary();
}
