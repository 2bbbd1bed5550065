//! The store's block codec: encoding one 64-slot column (the collection path pays it when a
//! block completes) and decoding a 10-slot window out of an encoded column (what an export
//! reads), on the real corpus and on each synthetic shape.

mod common;

use std::fs::File;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rrdpipe::rrd::codec;
use rrdpipe::testdata::corpus;
use rrdpipe::testdata::ratio::BLOCK_SLOTS;
use rrdpipe::testdata::shapes::{self, SHAPES};

/// Every complete 64-slot column of the input named `name`.
fn columns(name: &str) -> Vec<Vec<u32>> {
    let series: Vec<Vec<u32>> = if name == "corpus" {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus/proc-apps.corpus.gz");
        let c = corpus::read(File::open(path).expect("the corpus")).expect("the corpus");
        c.series.into_iter().map(|s| s.values).collect()
    } else {
        (0..100).map(|seed| shapes::series(name, seed, 640)).collect()
    };
    series.iter().flat_map(|s| s.chunks_exact(BLOCK_SLOTS).map(<[u32]>::to_vec)).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    for name in std::iter::once("corpus").chain(SHAPES) {
        let cols = columns(name);
        g.throughput(Throughput::Elements(cols.len() as u64));
        let mut out = Vec::with_capacity(cols.len() * 260);
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                for col in &cols {
                    codec::encode(black_box(col), &mut out);
                }
                out.len()
            })
        });
        let mut starts = Vec::with_capacity(cols.len());
        out.clear();
        for col in &cols {
            starts.push(out.len());
            codec::encode(col, &mut out);
        }
        let windows: Vec<(usize, usize)> =
            starts.iter().enumerate().map(|(k, &at)| (at, k * 7 % (BLOCK_SLOTS - 10 + 1))).collect();
        g.bench_function(format!("decode_10/{name}"), |b| {
            let mut window = [0u32; 10];
            b.iter(|| {
                let mut acc = 0u32;
                for &(at, from) in black_box(&windows) {
                    codec::decode(&out[at..], from, &mut window);
                    acc ^= window[9];
                }
                acc
            })
        });
        g.bench_function(format!("get/{name}"), |b| {
            b.iter(|| {
                let mut acc = 0u32;
                for &(at, from) in black_box(&windows) {
                    acc ^= codec::get(&out[at..], from + 5);
                }
                acc
            })
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = common::quick(); targets = bench }
criterion_main!(benches);
