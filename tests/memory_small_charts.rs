//! Many small charts (a parent's children: ~3 dimensions each) with a long history stay small
//! until history fills, whatever the allocator does with small allocations. One test per
//! binary, so nothing else moves this process's RSS.

pub mod support;

use support::rss::rss_growth;

#[test]
fn ten_thousand_small_charts_with_a_long_history_cost_what_was_written() {
    const HISTORY: usize = 3600;
    const CHARTS: usize = 10_000;
    const DIMS: usize = 3;
    let (grown, _) = rss_growth(HISTORY, CHARTS, DIMS, 46, |c| format!("child.c{c:05}"), |d| format!("d{d}"));
    let full = (CHARTS * DIMS * HISTORY * 4) as u64; // 432 MB if every slot were resident
    eprintln!("RSS grew by {} KiB for {} KiB of history", grown >> 10, full >> 10);
    // 45 rows of 12 bytes per chart are written, into one or two 3 KiB blocks of 256 rows, plus
    // the chart's metadata: about 8 KiB per chart, not the 43 KiB of its whole history.
    assert!(grown < 120 << 20, "RSS grew by {grown} bytes for {full} bytes of history");
}
