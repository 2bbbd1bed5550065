//! `/api/v1/allmetrics` answers over 100 000 dimensions (1000 charts × 100), through the API
//! as the server calls it ([`Api::respond`]): the time of one whole answer, body built.
//!
//! Each iteration is a scraper's first request (a 10-slot window), as a Prometheus scraping
//! every 10 s sees it; the store holds 33 s of collections. netdata 1.37 answers the same
//! `format=prometheus` scrape in 0.11–0.15 s on the project's test machine (API-NOTES).

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rrdpipe::api::{AgentFacts, Api, Query, Request};

use common::{filled_db, DIMS, T0};

const CHARTS: usize = 1000;
const SECONDS: u64 = 33;

fn bench_allmetrics(c: &mut Criterion) {
    let db = Arc::new(filled_db(CHARTS, SECONDS));
    let facts = AgentFacts { version: "v0.1.0".into(), update_every: 1, history: 3600, started_s: T0 as i64 };
    let api = Api::new(db, facts);
    let host = api.db.localhost();
    let mut g = c.benchmark_group("allmetrics_100k");
    g.throughput(Throughput::Elements((CHARTS * DIMS) as u64));
    g.sample_size(20);
    // Every request is a new scraper's first: `server=` is never repeated.
    let mut round = 0u64;
    for query in [
        "format=prometheus",
        "format=prometheus&source=as-collected",
        "format=prometheus&help=yes&types=yes",
        "format=shell",
        "format=json",
    ] {
        let mut scrape = || {
            round += 1;
            let req = Request {
                endpoint: "allmetrics",
                query: Query::parse(&format!("{query}&server=bench{round}")),
                peer: IpAddr::from([127, 0, 0, 1]),
                now_ms: (T0 + SECONDS) as i64 * 1000,
            };
            api.respond(&host, &req)
        };
        let first = scrape();
        let lines = first.body.iter().filter(|&&b| b == b'\n').count();
        assert!(lines >= CHARTS * DIMS, "{query}: {lines} lines");
        eprintln!("{query}: {} bytes", first.body.len());
        g.bench_function(query, |b| b.iter(&mut scrape));
    }
    g.finish();
}

criterion_group!(benches, bench_allmetrics);
criterion_main!(benches);
