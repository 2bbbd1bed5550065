//! Workloads shared by the benchmarks: a store of realistic size, the plugins.d text a plugin
//! sends for it, and exporter settings.
//!
//! Sizes are the ones the agent meets in the field, never toy ones: 3600 slots of history,
//! charts of 100 dimensions, names shaped like the synthetic plugin's (`synth.c0042`, `d07`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rrdpipe::export::connector::ConnectorKind;
use rrdpipe::export::format::DataSource;
use rrdpipe::export::instance::InstanceConfig;
use rrdpipe::rrd::{Algorithm, Chart, ChartDef, ChartType, Db, DimensionDef, HostInfo};

/// Slots of history everywhere.
pub const HISTORY: usize = 3600;
/// Dimensions per chart.
pub const DIMS: usize = 100;
/// A wall-clock second that is a multiple of 10 and 3600 (windows line up with it).
pub const T0: u64 = 1_700_002_800;
/// Microseconds per second.
pub const S: u64 = 1_000_000;

/// `synth.cNNNN`.
pub fn chart_id(c: usize) -> String {
    format!("synth.c{c:04}")
}

/// `dNN`.
pub fn dim_id(d: usize) -> String {
    format!("d{d:02}")
}

/// A raw value that varies with chart, dimension and time, with 1 to 7 digits.
pub fn raw_value(c: usize, d: usize, t: u64) -> i64 {
    let x = (c as u64).wrapping_mul(7919) ^ (d as u64).wrapping_mul(104_729) ^ t.wrapping_mul(13);
    (x % 9_999_991) as i64 >> (d % 5 * 4)
}

/// The chart definition the synthetic plugin sends.
pub fn chart_def(c: usize) -> ChartDef {
    ChartDef {
        id: chart_id(c),
        name: None,
        title: format!("Synthetic chart {c}"),
        units: "units".into(),
        family: "synth".into(),
        context: "synth.ctx".into(),
        chart_type: ChartType::Line,
        priority: 1000 + c as i64,
        update_every: 1,
        obsolete: false,
        plugin: "synth".into(),
        module: String::new(),
    }
}

/// A store with `charts` × [`DIMS`] absolute dimensions and [`HISTORY`] slots, collected once a
/// second at `T0 + 0.5 s`, `T0 + 1.5 s`, … for `seconds` collections. The first collection only
/// primes, so slots `T0 + 1 ..= T0 + seconds - 1` hold values.
pub fn filled_db(charts: usize, seconds: u64) -> Db {
    let db =
        Db::new(HostInfo { hostname: "bench-host".into(), update_every: 1, ..Default::default() }, HISTORY);
    let host = db.localhost();
    let mut handles = Vec::with_capacity(charts);
    for c in 0..charts {
        let (chart, _) = host.define_chart(&chart_def(c));
        for d in 0..DIMS {
            chart.add_dimension(&DimensionDef::new(&dim_id(d), Algorithm::Absolute));
        }
        handles.push(chart);
    }
    let mut row: Vec<(usize, i64)> = Vec::with_capacity(DIMS);
    for s in 0..seconds {
        let t = T0 + s;
        for (c, chart) in handles.iter().enumerate() {
            row.clear();
            row.extend((0..DIMS).map(|d| (d, raw_value(c, d, t))));
            chart.collect(&row, t * S + S / 2).expect("time moves forward");
        }
    }
    db
}

/// The CHART and DIMENSION lines defining `charts` charts, as the synthetic plugin sends them.
pub fn definitions(charts: usize) -> String {
    let mut s = String::new();
    for c in 0..charts {
        s.push_str(&format!(
            "CHART {} '' 'Synthetic chart {c}' 'units' synth synth.ctx line {} 1\n",
            chart_id(c),
            1000 + c
        ));
        for d in 0..DIMS {
            s.push_str(&format!("DIMENSION {} '' absolute 1 1\n", dim_id(d)));
        }
    }
    s
}

/// One collection of chart `c`: `BEGIN`, one `SET` per dimension, `END`.
pub fn block(c: usize, t: u64) -> String {
    let mut s = format!("BEGIN {}\n", chart_id(c));
    for d in 0..DIMS {
        s.push_str(&format!("SET {} = {}\n", dim_id(d), raw_value(c, d, t)));
    }
    s.push_str("END\n");
    s
}

/// An exporter sending every chart of every host, with the default prefix.
pub fn instance(kind: ConnectorKind, source: DataSource, every: u32) -> InstanceConfig {
    InstanceConfig { source, every, max_buffer_bytes: 1 << 30, ..InstanceConfig::new("bench", kind) }
}

/// Short measurement settings, so that the whole `cargo bench` run takes a few minutes.
pub fn quick() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

/// Period of the latency probe's collections.
pub const PROBE_EVERY: Duration = Duration::from_millis(1);

/// Latencies (µs) of a probe's collections, one chart every millisecond, taken while `busy`
/// runs on this thread, in a store filled for `seconds` (see [`filled_db`]). The probe
/// collects charts `first`, `first + 1`, … once each, in the slot after their last one.
pub fn probe(charts: &[Arc<Chart>], first: usize, seconds: u64, busy: impl FnOnce()) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        let charts = charts.to_vec();
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut row = Vec::with_capacity(DIMS);
            let mut c = first;
            let t = T0 + seconds;
            while !stop.load(Ordering::Relaxed) && c < charts.len() {
                row.clear();
                row.extend((0..DIMS).map(|d| (d, raw_value(c, d, t))));
                let started = Instant::now();
                charts[c].collect(&row, t * S + S / 2).expect("time moves forward");
                lat.push(started.elapsed().as_secs_f64() * 1e6);
                c += 1;
                std::thread::sleep(PROBE_EVERY);
            }
            lat
        })
    };
    busy();
    stop.store(true, Ordering::Relaxed);
    collector.join().expect("collector thread")
}

/// Print the median, p99 and max of the probe latencies `lat`.
pub fn summary(name: &str, mut lat: Vec<f64>) {
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "{name}: {} collections, median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
}
