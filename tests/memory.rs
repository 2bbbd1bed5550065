//! Ring memory not yet written stays uncommitted: a new chart with a long history is small
//! until history fills. One test per binary, so nothing else moves this process's RSS.

use rrdpipe::rrd::{Algorithm, ChartDef, Db, DimensionDef, HostInfo};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_long_history_costs_only_what_has_been_written() {
    const HISTORY: usize = 86_400;
    const CHARTS: usize = 20;
    const DIMS: usize = 100;
    let db = Db::new(HostInfo { hostname: "m".into(), update_every: 1, ..Default::default() }, HISTORY);
    let host = db.localhost();
    let before = rss_bytes();
    let mut charts = Vec::new();
    for c in 0..CHARTS {
        let (chart, _) = host.define_chart(&ChartDef::new(&format!("synth.c{c:04}"), 1));
        for d in 0..DIMS {
            chart.add_dimension(&DimensionDef::new(&format!("d{d:02}"), Algorithm::Absolute));
        }
        charts.push(chart);
    }
    // 60 collections: 60 of 86 400 slots written.
    let values: Vec<(usize, i64)> = (0..DIMS).map(|d| (d, d as i64)).collect();
    for t in 0..61u64 {
        for chart in &charts {
            chart.collect(&values, (1_000_000 + t) * 1_000_000).unwrap();
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    let full = (CHARTS * DIMS * HISTORY * 4) as u64; // 691 MB if every slot were resident
                                                     // 60 rows of 100 dims × 4 bytes per chart, rounded up to pages, plus metadata.
    assert!(grown < 16 << 20, "RSS grew by {grown} bytes for {full} bytes of history");
    assert_eq!(charts[0].read().last_entry_t(), Some(1_000_060));
}
