//! Storage numbers: packing a collected value into 32 bits and unpacking it, per value.

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rrdpipe::rrd::storage_number::{pack, unpack, SN_EXISTS};

/// Values as collectors produce them: counters' rates, percentages, byte counts, small integers.
fn values() -> Vec<f64> {
    (0..1024usize)
        .map(|i| {
            let raw = common::raw_value(i, i % 100, 17) as f64;
            match i % 4 {
                0 => raw,
                1 => raw / 1000.0,
                2 => raw * 8.0 / 1024.0,
                _ => -(raw / 7.0),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let vals = values();
    let packed: Vec<u32> = vals.iter().map(|&v| pack(v, SN_EXISTS)).collect();
    let mut g = c.benchmark_group("storage_number");
    g.throughput(Throughput::Elements(vals.len() as u64));
    g.bench_function("pack", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for &v in black_box(&vals) {
                acc ^= pack(v, SN_EXISTS);
            }
            acc
        })
    });
    g.bench_function("unpack", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for &n in black_box(&packed) {
                acc += unpack(n);
            }
            acc
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = bench }
criterion_main!(benches);
