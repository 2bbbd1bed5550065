//! Export cost per metric, through the exporter's own walk ([`Formatter::format_due`]).
//!
//! The store holds 1000 charts × 100 dimensions with 3600 slots of history, collected every
//! second. Each iteration is one exporter wake-up with `update every = 10`: 100 000 metrics,
//! each the average or sum of 10 slots (or the last collected value), formatted as graphite,
//! opentsdb or json lines. Throughput is counted in metrics. The formatter has formatted the
//! window before (untimed), as a running agent's has: its buffer starts at that window's size.
//!
//! `graphite/average_packed` reads the same window out of compressed ring blocks (the store
//! collected for 130 s, so the block holding the window is sealed and packed).
//!
//! Remote write is measured on its own builder: 1000 series per request (10 charts), pushed,
//! protobuf-encoded and snappy-compressed. Throughput is counted in series.

mod common;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rrdpipe::export::compute::WindowValues;
use rrdpipe::export::connector::remote_write::RemoteWriteBuilder;
use rrdpipe::export::connector::ConnectorKind;
use rrdpipe::export::connector::LineFormat;
use rrdpipe::export::format::{DataSource, Metric, Value};
use rrdpipe::export::instance::Formatter;

use common::{chart_id, dim_id, filled_db, instance, DIMS, S, T0};

const CHARTS: usize = 1000;
/// Collections stored, at T0+0.5 s … T0+32.5 s: slots T0+1 ..= T0+32.
const SECONDS: u64 = 33;
/// The wake-up: its window is (T0+20, T0+30], 10 full slots; as collected, it sends the last
/// collection (T0+32.5 s) of every dimension.
const NOW: u64 = T0 + 33;

fn bench_formats(c: &mut Criterion) {
    let db = filled_db(CHARTS, SECONDS);
    let metrics = (CHARTS * DIMS) as u64;
    let mut g = c.benchmark_group("export_per_metric");
    g.throughput(Throughput::Elements(metrics));
    g.sample_size(10);
    for format in [ConnectorKind::Graphite, ConnectorKind::Opentsdb, ConnectorKind::Json] {
        for source in [DataSource::Average, DataSource::Sum, DataSource::AsCollected] {
            let cfg = instance(format, source, 10);
            // A formatter started at T0+13 that already sent the window ending at T0+20 (as
            // collected: the collections up to T0+23). Due now: (T0+20, T0+30], or the last
            // collection of every dimension.
            let warm = || {
                let mut f = Formatter::new(cfg.clone(), (NOW - 20) * S);
                assert!(!f.format_due(&db, (NOW - 10) * S).is_empty());
                f
            };
            let check = warm().format_due(&db, NOW * S);
            let sent: usize = check.iter().map(|f| f.metrics).sum();
            assert_eq!(sent as u64, metrics, "{format:?} {source:?}: one metric per dimension");
            let name = format!("{}/{}", format.type_name(), format!("{source:?}").to_lowercase());
            g.bench_function(name, |b| {
                b.iter_batched(warm, |mut f| f.format_due(&db, NOW * S), BatchSize::PerIteration)
            });
        }
    }
    bench_packed(&mut g);
    g.finish();
}

/// Collections stored for the packed case: slots T0+1 ..= T0+129, so the first ring block
/// (T0 ..= T0+63) is sealed and compressed whatever the chart's offset.
const SECONDS_PACKED: u64 = 130;

/// Graphite averages of the same window, (T0+20, T0+30], read out of compressed blocks.
fn bench_packed(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let db = filled_db(CHARTS, SECONDS_PACKED);
    let cfg = instance(ConnectorKind::Graphite, DataSource::Average, 10);
    let warm = || {
        let mut f = Formatter::new(cfg.clone(), (NOW - 20) * S);
        assert!(!f.format_due(&db, (NOW - 10) * S).is_empty());
        f
    };
    let sent: usize = warm().format_due(&db, NOW * S).iter().map(|f| f.metrics).sum();
    assert_eq!(sent, CHARTS * DIMS, "one metric per dimension");
    g.bench_function("graphite/average_packed", |b| {
        b.iter_batched(warm, |mut f| f.format_due(&db, NOW * S), BatchSize::PerIteration)
    });
}

/// The two halves of the walk, measured apart: reading the windows' values out of the store,
/// and formatting lines from ready values.
fn bench_parts(c: &mut Criterion) {
    let db = filled_db(CHARTS, SECONDS);
    let charts = db.localhost().charts();
    let mut g = c.benchmark_group("export_parts");
    g.throughput(Throughput::Elements((CHARTS * DIMS) as u64));
    g.sample_size(10);
    let (after, end) = (T0 as i64 + 20, T0 as i64 + 30);
    let mut values = WindowValues::new();
    g.bench_function("window_values_average", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for chart in &charts {
                let d = chart.read();
                values.compute(&d, after, end, DataSource::Average);
                for i in 0..d.dims.len() {
                    acc += values.value(i).map_or(0.0, Value::as_f64);
                }
            }
            acc
        })
    });
    let names: Vec<(String, Vec<String>)> =
        (0..CHARTS).map(|c| (chart_id(c), (0..DIMS).map(dim_id).collect())).collect();
    for format in [LineFormat::Graphite, LineFormat::Opentsdb, LineFormat::Json] {
        g.bench_function(format!("{}_lines", format.as_str()), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                for (ci, (chart, dims)) in names.iter().enumerate() {
                    for (di, dim) in dims.iter().enumerate() {
                        format.write(&mut out, &synth_metric(chart, dim, ci, di));
                    }
                }
                out
            })
        });
    }
    g.finish();
}

/// The metric of dimension `di` (`dim`) of chart `ci` (`chart`) in the synthetic store, with
/// its third collection's value, as the export walk hands it to a format at T0+30.
fn synth_metric<'a>(chart: &'a str, dim: &'a str, ci: usize, di: usize) -> Metric<'a> {
    Metric {
        prefix: "netdata",
        hostname: "bench-host",
        chart_id: chart,
        chart_name: chart,
        family: "synth",
        context: "synth.ctx",
        chart_type: "synth",
        units: "units",
        dim_id: dim,
        dim_name: dim,
        use_names: false,
        value: Value::Computed(common::raw_value(ci, di, 3) as f64 / 10.0),
        timestamp: T0 as i64 + 30,
        labels: &[],
    }
}

fn bench_remote_write(c: &mut Criterion) {
    const SERIES: usize = 1000;
    let charts: Vec<String> = (0..SERIES / DIMS).map(chart_id).collect();
    let dims: Vec<String> = (0..DIMS).map(dim_id).collect();
    let mut g = c.benchmark_group("remote_write_per_series");
    g.throughput(Throughput::Elements(SERIES as u64));
    let mut builder = RemoteWriteBuilder::new(DataSource::Average);
    g.bench_function("push_encode_compress", |b| {
        b.iter(|| {
            for (ci, chart) in charts.iter().enumerate() {
                for (di, dim) in dims.iter().enumerate() {
                    builder.push(black_box(&synth_metric(chart, dim, ci, di)));
                }
            }
            builder.finish()
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = bench_formats, bench_parts, bench_remote_write }
criterion_main!(benches);
