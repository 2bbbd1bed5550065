//! How long collections take while the store compresses its ring blocks: a store of
//! 10 000 charts × 100 dimensions (1 M dimensions, 3600 slots of history) collected once a
//! second for 200 seconds, with the time of every chart's collection and of every second's
//! whole round. The seconds in which blocks are sealed and compressed show in the maxima.
//!
//! Run: `cargo run --release --example compress_delay`.

use std::time::Instant;

use rrdpipe::rrd::{Algorithm, Chart, ChartDef, DimensionDef};

const CHARTS: usize = 10_000;
const DIMS: usize = 100;
const SECONDS: u64 = 200;
const S: u64 = 1_000_000;
/// A second that starts a ring block (a multiple of 3600).
const T0: u64 = 1_700_002_800;

fn main() {
    let charts: Vec<Chart> = (0..CHARTS)
        .map(|c| {
            let chart = Chart::new(&ChartDef::new(&format!("synth.c{c:05}"), 1), 3600);
            for d in 0..DIMS {
                chart.add_dimension(&DimensionDef::new(&format!("d{d:02}"), Algorithm::Absolute));
            }
            chart
        })
        .collect();
    let mut row = Vec::with_capacity(DIMS);
    let (mut worst_call, mut rounds) = (0f64, Vec::new());
    for s in 0..SECONDS {
        let started = Instant::now();
        for (c, chart) in charts.iter().enumerate() {
            row.clear();
            // A third constant, a third a slow ramp, a third noise.
            row.extend((0..DIMS).map(|d| match d % 3 {
                0 => (d, 42),
                1 => (d, (s / 10) as i64 + c as i64),
                _ => (d, ((s * 7919 + d as u64 * 104_729 + c as u64) % 99_991) as i64),
            }));
            let call = Instant::now();
            chart.collect(&row, (T0 + s) * S).unwrap();
            worst_call = worst_call.max(call.elapsed().as_secs_f64());
        }
        rounds.push((s, started.elapsed().as_secs_f64()));
    }
    let bytes: usize = charts.iter().map(|c| c.read().memory_bytes()).sum();
    // The first block's seconds allocate the rings' first blocks: compression starts after.
    let mut steady: Vec<(u64, f64)> = rounds.into_iter().filter(|&(s, _)| s >= 64).collect();
    let at_boundary: Vec<f64> = steady.iter().filter(|&&(s, _)| s % 64 == 0).map(|&(_, t)| t * 1e3).collect();
    steady.sort_by(|a, b| a.1.total_cmp(&b.1));
    let median = steady[steady.len() / 2].1;
    let worst: Vec<String> =
        steady.iter().rev().take(3).map(|(s, t)| format!("{:.1} ms (second {s})", t * 1e3)).collect();
    println!("1 M dimensions, one collection round per second, seconds 64 to {SECONDS}:");
    println!("  round of 10 000 collections: median {:.1} ms; worst {}", median * 1e3, worst.join(", "));
    println!("  rounds at block boundaries (ms): {at_boundary:.1?}");
    println!("  worst single collection, all seconds: {:.1} µs", worst_call * 1e6);
    println!("  store: {} bytes per dimension", bytes / (CHARTS * DIMS));
}
