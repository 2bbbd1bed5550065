//! plugins.d ingest: parse-and-store cost per value.
//!
//! A [`Session`] over a store of 1000 charts × 100 dimensions (3600 slots of history) is fed
//! one chart's collection per iteration, `BEGIN`, 100 `SET` lines and `END`, as the synthetic
//! plugin sends it; charts are fed in turn and each round is one second later, so every `END`
//! stores a real collection. Throughput is counted in values (100 per iteration).

mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rrdpipe::collect::plugins_d::session::{Feed, Session, SessionConfig};
use rrdpipe::rrd::{Db, HostInfo};

use common::{block, definitions, DIMS, HISTORY, S, T0};

const CHARTS: usize = 1000;

/// The lines of `text`, as the line reader hands them out (without newlines).
fn lines(text: &str) -> Vec<Vec<u8>> {
    text.lines().map(|l| l.as_bytes().to_vec()).collect()
}

fn bench(c: &mut Criterion) {
    let db =
        Db::new(HostInfo { hostname: "bench-host".into(), update_every: 1, ..Default::default() }, HISTORY);
    let mut session = Session::new(SessionConfig::new("synth", 1), db.localhost());
    for line in lines(&definitions(CHARTS)) {
        assert_eq!(session.feed(&line, T0 * S), Feed::Ok);
    }
    let blocks: Vec<Vec<Vec<u8>>> = (0..CHARTS).map(|c| lines(&block(c, T0))).collect();

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(DIMS as u64));
    let mut i = 0u64;
    g.bench_function("session_feed_per_chart_of_100", |b| {
        b.iter(|| {
            let c = (i % CHARTS as u64) as usize;
            let now = (T0 + 1 + i / CHARTS as u64) * S + 300_000 + c as u64;
            i += 1;
            for line in &blocks[c] {
                session.feed(line, now);
            }
        })
    });
    g.finish();
    let st = session.stats();
    assert_eq!(st.errors, 0, "every line applies");
    assert_eq!(st.values_stored, st.collections * DIMS as u64);
}

criterion_group! { name = benches; config = common::quick(); targets = bench }
criterion_main!(benches);
