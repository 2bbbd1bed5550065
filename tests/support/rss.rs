//! What a store costs in resident memory: this process's RSS, and a store filled under
//! measurement. A test that reads RSS runs alone in its binary, so nothing else moves it.

use std::sync::Arc;

use rrdpipe::rrd::{Algorithm, Chart, ChartDef, Db, DimensionDef, HostInfo};

/// This process's resident set size in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Fills a new store of `history` slots with `charts` charts named `chart_id(c)`, each of `dims`
/// absolute dimensions named `dim_id(d)`, collected `collections` times a second apart
/// (dimension `d` storing `d`). Returns how much RSS grew from before the first chart was
/// defined, and the charts.
pub fn rss_growth(
    history: usize,
    charts: usize,
    dims: usize,
    collections: u64,
    chart_id: impl Fn(usize) -> String,
    dim_id: impl Fn(usize) -> String,
) -> (u64, Vec<Arc<Chart>>) {
    let db = Db::new(HostInfo { hostname: "m".into(), update_every: 1, ..Default::default() }, history);
    let host = db.localhost();
    let before = rss_bytes();
    let mut defined = Vec::new();
    for c in 0..charts {
        let (chart, _) = host.define_chart(&ChartDef::new(&chart_id(c), 1));
        for d in 0..dims {
            chart.add_dimension(&DimensionDef::new(&dim_id(d), Algorithm::Absolute));
        }
        defined.push(chart);
    }
    let values: Vec<(usize, i64)> = (0..dims).map(|d| (d, d as i64)).collect();
    for t in 0..collections {
        for chart in &defined {
            chart.collect(&values, (1_000_000 + t) * 1_000_000).unwrap();
        }
    }
    (rss_bytes().saturating_sub(before), defined)
}
