//! Ring memory not yet written stays uncommitted: a new chart with a long history is small
//! until history fills. One test per binary, so nothing else moves this process's RSS.

pub mod support;

use support::rss::rss_growth;

#[test]
fn a_long_history_costs_only_what_has_been_written() {
    const HISTORY: usize = 86_400;
    const CHARTS: usize = 20;
    const DIMS: usize = 100;
    // 60 collections: 60 of 86 400 slots written.
    let (grown, charts) =
        rss_growth(HISTORY, CHARTS, DIMS, 61, |c| format!("synth.c{c:04}"), |d| format!("d{d:02}"));
    let full = (CHARTS * DIMS * HISTORY * 4) as u64; // 691 MB if every slot were resident
                                                     // 60 rows of 100 dims × 4 bytes per chart, rounded up to pages, plus metadata.
    assert!(grown < 16 << 20, "RSS grew by {grown} bytes for {full} bytes of history");
    assert_eq!(charts[0].read().last_entry_t(), Some(1_000_060));
}
