//! Any bytes fed to a plugins.d session, line by line: no panic, and the store stays within the
//! session's caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rrdpipe::collect::plugins_d::session::{Session, SessionConfig};
use rrdpipe::rrd::{Db, HostInfo};

fuzz_target!(|data: &[u8]| {
    let db = Db::new(HostInfo { hostname: "fuzz".into(), update_every: 1, ..Default::default() }, 10);
    let mut cfg = SessionConfig::new("fuzz", 1);
    cfg.max_charts = 8;
    cfg.max_dimensions = 32;
    let mut session = Session::new(cfg, db.localhost());
    let mut now = 1_000_000_000_000u64;
    for line in data.split(|&b| b == b'\n') {
        let _ = rrdpipe::collect::plugins_d::parser::parse_line(line);
        session.feed(line, now);
        now += 250_000;
    }
    let host = db.localhost();
    assert!(host.chart_count() <= 8);
    let dims: usize = host.charts().iter().map(|c| c.dimension_count()).sum();
    assert!(dims <= 32);
});
