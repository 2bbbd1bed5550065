//! Many small charts (a parent's children: ~3 dimensions each) with a long history stay small
//! until history fills, whatever the allocator does with small allocations. One test per
//! binary, so nothing else moves this process's RSS.

use rrdpipe::rrd::{Algorithm, ChartDef, Db, DimensionDef, HostInfo};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn ten_thousand_small_charts_with_a_long_history_cost_what_was_written() {
    const HISTORY: usize = 3600;
    const CHARTS: usize = 10_000;
    const DIMS: usize = 3;
    let db = Db::new(HostInfo { hostname: "m".into(), update_every: 1, ..Default::default() }, HISTORY);
    let host = db.localhost();
    let before = rss_bytes();
    let mut charts = Vec::new();
    for c in 0..CHARTS {
        let (chart, _) = host.define_chart(&ChartDef::new(&format!("child.c{c:05}"), 1));
        for d in 0..DIMS {
            chart.add_dimension(&DimensionDef::new(&format!("d{d}"), Algorithm::Absolute));
        }
        charts.push(chart);
    }
    let values: Vec<(usize, i64)> = (0..DIMS).map(|d| (d, d as i64)).collect();
    for t in 0..46u64 {
        for chart in &charts {
            chart.collect(&values, (1_000_000 + t) * 1_000_000).unwrap();
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    let full = (CHARTS * DIMS * HISTORY * 4) as u64; // 432 MB if every slot were resident
    eprintln!("RSS grew by {} KiB for {} KiB of history", grown >> 10, full >> 10);
    // 45 rows of 12 bytes per chart are written, into one or two 3 KiB blocks of 256 rows, plus
    // the chart's metadata: about 8 KiB per chart, not the 43 KiB of its whole history.
    assert!(grown < 120 << 20, "RSS grew by {grown} bytes for {full} bytes of history");
}
