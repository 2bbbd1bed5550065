//! The exporter's self-monitoring charts carry the real counters: the agent runs in-process so
//! the test can read its store, and a real VictoriaMetrics says what actually arrived.

pub mod support;

use std::sync::Arc;
use std::time::Duration;

use rrdpipe::agent::Agent;
use rrdpipe::config::{self, Defaults, Source};
use rrdpipe::rrd::{Db, Host};
use rrdpipe::shutdown::Shutdown;
use support::agent::{write_plugin, CONSTANT_PLUGIN};
use support::free_port;
use support::victoria::{VictoriaMetrics, VM_GRAPHITE_INSERTED};

fn start(backend: &str) -> (Agent, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    write_plugin(&dir.path().join("plugins"), "values", CONSTANT_PLUGIN);
    let text = format!(
        "[global]\n    hostname = selfmon\n    history = 600\n\
         [directories]\n    plugins = {}/plugins\n\
         [plugins]\n    proc = no\n\
         [web]\n    mode = none\n\
         [backend]\n    enabled = yes\n{backend}",
        dir.path().display()
    );
    let loaded = config::parse(
        Source { name: "selfmon.conf".into(), text },
        None,
        &Defaults { hostname: "selfmon".into(), plugins_dir: "/nonexistent".into() },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let agent = Agent::start(&loaded.config, Shutdown::new()).unwrap();
    (agent, dir)
}

/// Sum of every stored value of `chart.dim` on the local host.
fn chart_sum(db: &Arc<Db>, chart: &str, dim: &str) -> f64 {
    let host: Arc<Host> = db.localhost();
    let c = host.chart(chart).unwrap_or_else(|| panic!("no chart {chart}"));
    let d = c.read();
    let i = d.names.position(dim).unwrap();
    let mut sum = 0.0;
    d.for_each_value(i, i64::MIN / 2, i64::MAX / 2, |_, v| sum += v);
    sum
}

/// `sent` in `netdata.backend_metrics` adds up to exactly what the receiver stored.
#[test]
fn sent_metrics_chart_equals_what_the_receiver_got() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    // Export every 3 s: a self-chart collection may run up to 3 s late and still fill exactly
    // one slot, so the chart's slots are the per-interval counts.
    let (agent, _dir) = start(&format!(
        "    type = graphite\n    destination = {}\n    update every = 3\n",
        vm.graphite_addr()
    ));
    std::thread::sleep(Duration::from_secs(14));
    let db = agent.db.clone();
    let stats = agent.exporters[0].1.stats.clone();
    agent.stop();
    let totals = stats.totals();
    assert!(totals.sent_metrics > 10, "{totals:?}");
    assert_eq!(totals.lost_metrics, 0);
    // What the sender delivered after the last chart update is not charted yet.
    let uncharted = stats.take_interval();
    let charted = chart_sum(&db, "netdata.backend_metrics", "sent");
    assert_eq!(charted as u64 + uncharted.sent_metrics, totals.sent_metrics);
    let received = vm.wait_metric(VM_GRAPHITE_INSERTED, totals.sent_metrics as f64);
    assert_eq!(received as u64, totals.sent_metrics, "VictoriaMetrics stored a different number of lines");
    let kb = chart_sum(&db, "netdata.backend_bytes", "sent");
    let bytes = totals.sent_bytes - uncharted.sent_bytes;
    assert!((kb * 1024.0 - bytes as f64).abs() < 1.0, "{kb} KB vs {bytes} bytes");
}

/// A backend that stays down: after more than `buffer on failures` failed intervals the buffer
/// is dropped, and the loss is counted in the charts.
#[test]
fn a_backend_that_stays_down_loses_data_counted_in_the_charts() {
    let dead = free_port();
    let (agent, _dir) = start(&format!(
        "    type = graphite\n    destination = tcp:127.0.0.1:{dead}\n    update every = 1\n    buffer on failures = 2\n    timeout ms = 200\n"
    ));
    std::thread::sleep(Duration::from_secs(9));
    let db = agent.db.clone();
    let stats = agent.exporters[0].1.stats.clone();
    agent.stop();
    let totals = stats.totals();
    assert_eq!(totals.sent_metrics, 0);
    // Attempts back off (1, 2, 4 s …): in 9 s at least 3 fail, and the third is more than 2.
    assert!(totals.discards >= 1, "{totals:?}");
    assert!(totals.failures >= 3, "{totals:?}");
    // Everything formatted was lost: dropped by `buffer on failures`, or at shutdown.
    assert_eq!(totals.lost_metrics, totals.formatted_metrics);
    let rest = stats.take_interval();
    let lost = chart_sum(&db, "netdata.backend_metrics", "lost");
    assert_eq!(lost as u64 + rest.lost_metrics, totals.lost_metrics);
    let failures = chart_sum(&db, "netdata.backend_ops", "failure");
    assert_eq!(failures as u64 + rest.failures, totals.failures);
    let discards = chart_sum(&db, "netdata.backend_ops", "discard");
    assert_eq!(discards as u64 + rest.discards, totals.discards);
}
