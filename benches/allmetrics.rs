//! `/api/v1/allmetrics` answers over 100 000 dimensions (1000 charts × 100, 3600 slots of
//! history), through the API as the server calls it ([`Api::respond`]), and the delay scrapes
//! add to collections.
//!
//! Two measurements:
//!
//! 1. `allmetrics_100k/FORMAT`: one whole answer, body built (criterion). Each request is a new
//!    scraper's first (a 10-slot window), as a Prometheus scraping every 10 s sees it; the store
//!    holds 33 s of collections. netdata 1.37 answers the same `format=prometheus` scrape in
//!    0.11–0.15 s on the project's test machine (`bench/scrape.sh` measures both over HTTP).
//! 2. The delay scrapes add to collections (printed after the criterion output): a collector
//!    thread stores one chart every millisecond while 10 threads scrape back to back; every
//!    `collect` call is timed. The same collector then runs without scrapes, for comparison.
//!    A scrape holds one chart's read lock at a time, so a collection waits at most for the
//!    formatting of one chart.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Throughput;
use rrdpipe::api::{Api, Query, Request};

use common::{filled_db, probe, summary, DIMS, HISTORY, T0};

const CHARTS: usize = 1_000;
/// Collections at T0+0.5 s … T0+32.5 s.
const SECONDS: u64 = 33;
/// Scrapers in the delay measurement.
const SCRAPERS: usize = 10;

fn api() -> Api {
    let facts = rrdpipe::testdata::agent_facts(HISTORY, T0 as i64);
    Api::new(Arc::new(filled_db(CHARTS, SECONDS)), facts)
}

/// One `format=prometheus` scrape by scraper number `n`; the body's length.
fn scrape(api: &Api, n: usize) -> usize {
    answer(api, "format=prometheus", n)
}

/// One answer to `query` for scraper number `n`; the body's length.
fn answer(api: &Api, query: &str, n: usize) -> usize {
    let req = Request {
        endpoint: "allmetrics",
        query: Query::parse(&format!("{query}&server=s{n}")),
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        now_ms: ((T0 + SECONDS) * 1000) as i64,
        own_url: None,
    };
    let r = api.respond(&api.db.localhost(), &req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.body.len()
}

fn main() {
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"allmetrics".contains(a.as_str())) {
        return; // `cargo bench -- NAME` selected other benchmarks
    }
    let api = api();
    let mut c = common::quick();
    let mut g = c.benchmark_group("allmetrics_100k");
    g.throughput(Throughput::Elements((CHARTS * DIMS) as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_millis(200));
    let next = AtomicUsize::new(1_000_000);
    for query in [
        "format=prometheus",
        "format=prometheus&source=as-collected",
        "format=prometheus&help=yes&types=yes",
        "format=shell",
        "format=json",
    ] {
        println!("allmetrics: {query}: {} bytes", answer(&api, query, usize::MAX));
        g.bench_function(query, |b| b.iter(|| answer(&api, query, next.fetch_add(1, Ordering::Relaxed))));
    }
    g.finish();

    // Ten scrapers loop for a second while the probe collects (charts 0…), then the probe
    // runs alone on the charts after those.
    let charts = api.db.localhost().charts();
    let scrapes = AtomicUsize::new(0);
    let with_scrapes = probe(&charts, 0, SECONDS, || {
        let until = Instant::now() + Duration::from_millis(300);
        std::thread::scope(|s| {
            for n in 0..SCRAPERS {
                let (api, scrapes) = (&api, &scrapes);
                s.spawn(move || {
                    while Instant::now() < until {
                        scrape(api, n);
                        scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
    });
    let idle = probe(&charts, with_scrapes.len(), SECONDS, || std::thread::sleep(Duration::from_millis(300)));
    println!("allmetrics: {SCRAPERS} scrapers answered {} scrapes in 0.3 s", scrapes.load(Ordering::Relaxed));
    summary("allmetrics: collect latency during scrapes", with_scrapes);
    summary("allmetrics: collect latency without scrapes", idle);
    c.final_summary();
}
