//! The fuzz targets' properties (see `fuzz/`), run under proptest on every test run: any input
//! to the plugins.d session or the config parser neither panics nor grows the store past its caps,
//! and every message points at a real line.

use proptest::prelude::*;
use rrdpipe::collect::plugins_d::session::{Session, SessionConfig};
use rrdpipe::config::{parse, Defaults, Source};
use rrdpipe::rrd::{Db, HostInfo};

/// Lines that look like the protocol often enough to create charts and dimensions.
fn protocol_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "CHART [a-c]\\.[a-z0-9]{1,3}( '[^']{0,5}')?( [a-z]{0,4}){0,9}",
        "DIMENSION [a-z0-9 '\"]{1,6}( [a-z-]{0,12})?( -?[0-9]{1,3}){0,2}",
        "BEGIN [a-c]\\.[a-z0-9]{1,3}( [0-9]{1,7})?",
        "SET [a-z0-9]{1,3} = -?[0-9.]{0,12}",
        Just("END".to_string()),
        Just("FLUSH".to_string()),
        "[ -~]{0,40}",
    ]
    .prop_map(String::into_bytes)
    .boxed()
    .prop_union(proptest::collection::vec(any::<u8>(), 0..80).boxed())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn a_session_stays_within_its_caps_whatever_it_is_fed(lines in proptest::collection::vec(protocol_line(), 0..300)) {
        let db = Db::new(HostInfo { hostname: "p".into(), update_every: 1, ..Default::default() }, 10);
        let mut cfg = SessionConfig::new("prop", 1);
        cfg.max_charts = 5;
        cfg.max_dimensions = 12;
        let mut session = Session::new(cfg, db.localhost());
        let mut now = 1_000_000_000_000u64;
        for line in &lines {
            session.feed(line, now);
            now += 300_000;
        }
        let host = db.localhost();
        prop_assert!(host.chart_count() <= 5);
        let dims: usize = host.charts().iter().map(|c| c.dimension_count()).sum();
        prop_assert!(dims <= 12);
        prop_assert_eq!(session.stats().lines, lines.len() as u64);
    }

    #[test]
    fn config_messages_point_at_real_lines(text in "([\\[\\]a-z:= #\n]{0,30}\n){0,20}") {
        let lines = text.lines().count().max(1);
        let messages = match parse(Source { name: "p.conf".into(), text: text.clone() }, None, &Defaults { hostname: "p".into(), plugins_dir: "/nonexistent".into() }) {
            Ok(l) => l.warnings,
            Err(e) => e.errors.into_iter().chain(e.warnings).collect(),
        };
        for m in messages {
            if let Some(rest) = m.strip_prefix("p.conf:") {
                let n: usize = rest.split(':').next().unwrap().parse().unwrap();
                prop_assert!(n >= 1 && n <= lines, "{} for {:?}", m, text);
            }
        }
    }
}
