//! The legacy `[backend]` end to end: the rrdpipe binary, a real plugin, real receivers
//! (VictoriaMetrics, carbon-cache), read back exactly.

pub mod support;

use std::time::Duration;

use support::agent::{Forwarder, Rrdpipe, Sink, CONSTANT_PLUGIN};
use support::carbon::Carbon;
use support::free_port;
use support::series::Series;
use support::victoria::{VictoriaMetrics, VM_GRAPHITE_INVALID, VM_OPENTSDB_INVALID};

fn conf(backend: &str) -> String {
    format!(
        "[global]\n    hostname = testhost\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n\
         [plugins]\n    proc = no\n\
         [backend]\n    enabled = yes\n{backend}"
    )
}

/// Every point of `s` after the first has the same value and they are `step` seconds apart,
/// on multiples of `step`: no gap, no duplicate.
fn assert_regular(s: &Series, step: i64, value: f64) {
    let pts = s.points();
    assert!(pts.len() >= 3, "too few points: {pts:?}");
    for (ts, _) in &pts {
        assert_eq!(ts % (step * 1000), 0, "timestamp {ts} not on a {step} s boundary: {pts:?}");
    }
    for w in pts.windows(2) {
        assert_eq!(w[1].0 - w[0].0, step * 1000, "gap or duplicate between {w:?} in {pts:?}");
    }
    for (_, v) in &pts[1..] {
        assert_eq!(*v, value, "{pts:?}");
    }
}

#[test]
fn graphite_average_reaches_victoriametrics_exactly() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = tcp:{}\n    data source = average\n    update every = 2\n",
            vm.graphite_addr()
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    let a = vm.export_wait("netdata.testhost.test.values.a", 5);
    assert_regular(&a[0], 2, 42.5);
    let b = vm.export_wait("netdata.testhost.test.values.b", 5);
    assert_regular(&b[0], 2, 7.0);
    // The exporter charts itself, and those charts are exported too.
    vm.export_wait("netdata.testhost.netdata.backend_metrics.sent", 2);
    assert_eq!(vm.metric(VM_GRAPHITE_INVALID), 0.0);
    drop(agent);
}

#[test]
fn opentsdb_sum_reaches_victoriametrics_exactly() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let _agent = Rrdpipe::start(
        &conf(&format!(
            "    type = opentsdb\n    destination = {}\n    data source = sum\n    update every = 2\n    prefix = pfx\n",
            vm.opentsdb_addr()
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    let a = vm.export_wait(r#"pfx.test.values.a{host="testhost"}"#, 5);
    // A 2 s window of 1 s slots sums two slots.
    assert_regular(&a[0], 2, 85.0);
    assert_eq!(a[0].labels.get("host").map(String::as_str), Some("testhost"));
    assert_eq!(vm.metric(VM_OPENTSDB_INVALID), 0.0);
}

#[test]
fn graphite_reaches_carbon_whisper_files() {
    let Some(carbon) = Carbon::start() else { return };
    let start = support::now_secs();
    let _agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite:plaintext\n    destination = {}\n    update every = 2\n",
            carbon.line_addr()
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    let got = carbon.values_wait("netdata.testhost.test.values.a", start, start + 120, 4);
    for (ts, v) in &got {
        assert_eq!(ts % 2, 0, "{got:?}");
        assert_eq!(*v, 42.5, "{got:?}");
    }
    assert_eq!(carbon.invalid_lines(), 0);
}

#[test]
fn as_collected_sends_the_raw_integer_with_its_collection_time() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let _agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = {}\n    data source = as collected\n    update every = 2\n",
            vm.graphite_addr()
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    let a = vm.export_wait("netdata.testhost.test.values.a", 4);
    // Raw 425, not 42.5: `as collected` is before the divisor.
    assert!(a[0].values.iter().all(|v| *v == 425.0), "{:?}", a[0].points());
    // One point per collection exported, never the same collection twice.
    let ts = &a[0].timestamps;
    assert!(ts.windows(2).all(|w| w[1] > w[0]), "{ts:?}");
}

#[test]
fn json_lines_parse_and_untrusted_names_round_trip() {
    let sink = Sink::start(b"");
    let evil = "#!/bin/sh
echo \"CHART test.evil 'my \\\"evil\\\" name' 'title' 'un\\\"its' 'fam;ily' 'ctx x' line 1000 $1\"
echo \"DIMENSION 'd 1' 'dim,name;x' absolute 1 1\"
while true; do printf \"BEGIN test.evil\\nSET 'd 1' = 5\\nEND\\n\"; sleep 1; done
";
    let _agent = Rrdpipe::start(
        &conf(&format!("    type = json\n    destination = {}\n    update every = 1\n", sink.addr)),
        &[("values", CONSTANT_PLUGIN), ("evil", evil)],
    );
    assert!(support::wait_until(support::deadline_in(20), || {
        sink.lines().iter().any(|l| l.contains("test.evil"))
            && sink.lines().iter().any(|l| l.contains("test.values"))
    }));
    let lines = sink.lines();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        // serde_json orders keys; the golden-byte tests pin the order on the wire.
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "prefix",
            "hostname",
            "chart_id",
            "chart_name",
            "chart_family",
            "chart_context",
            "chart_type",
            "units",
            "id",
            "name",
            "value",
            "timestamp",
        ];
        expected.sort();
        assert_eq!(keys, expected);
    }
    let values: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["chart_id"] == "test.values" && v["id"] == "a")
        .collect();
    assert!(values
        .iter()
        .all(|v| v["value"] == 42.5 && v["hostname"] == "testhost" && v["prefix"] == "netdata"));
    let e = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["chart_id"] == "test.evil")
        .unwrap();
    assert_eq!(e["chart_name"], "test.my__evil__name");
    assert_eq!(e["units"], "un\"its");
    assert_eq!(e["chart_family"], "fam;ily");
    assert_eq!(e["chart_context"], "ctx x");
    assert_eq!(e["id"], "d 1");
    assert_eq!(e["name"], "dim,name;x");
    assert_eq!(e["value"], 5.0);
}

#[test]
fn untrusted_names_cannot_break_graphite_lines() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let evil = "#!/bin/sh
echo \"CHART 'test.e v;i=l' '' 'title' 'units' fam ctx line 1000 $1\"
echo \"DIMENSION 'd 1;x=y' '' absolute 1 1\"
while true; do printf \"BEGIN 'test.e v;i=l'\\nSET 'd 1;x=y' = 5\\nEND\\n\"; sleep 1; done
";
    let _agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = {}\n    update every = 1\n",
            vm.graphite_addr()
        )),
        &[("evil", evil)],
    );
    let s = vm.export_wait("netdata.testhost.test.e_v_i_l.d_1_x_y", 3);
    assert!(s[0].values.iter().all(|v| *v == 5.0));
    // No tag was forged from the names.
    assert_eq!(s[0].labels.len(), 1, "{:?}", s[0].labels);
    assert_eq!(vm.metric(VM_GRAPHITE_INVALID), 0.0);
}

#[test]
fn failover_to_the_second_destination() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let dead = free_port();
    let agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = tcp:127.0.0.1:{dead} tcp:{}\n    update every = 1\n",
            vm.graphite_addr()
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    let a = vm.export_wait("netdata.testhost.test.values.a", 4);
    assert_regular(&a[0], 1, 42.5);
    drop(agent);
}

/// The backend is down for the first seconds: the buffered intervals all arrive once it is
/// up, each with its own timestamp, with no gap and no duplicate.
#[test]
fn a_backend_that_comes_up_late_gets_every_buffered_interval() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let port = free_port();
    let agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = tcp:127.0.0.1:{port}\n    update every = 1\n    buffer on failures = 60\n    timeout ms = 500\n"
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    agent.wait_log("cannot connect to any destination", 20);
    std::thread::sleep(Duration::from_secs(5));
    let up = support::now_secs();
    let _fwd = Forwarder::start(port, vm.graphite_addr());
    // Wait for points from after the backend came up.
    let deadline = support::deadline_in(30);
    let a = loop {
        let a = vm.export("netdata.testhost.test.values.a");
        if a.first().is_some_and(|s| s.timestamps.last().is_some_and(|t| *t >= (up + 3) * 1000)) {
            break a;
        }
        assert!(std::time::Instant::now() < deadline, "no recent points: {a:?}\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    let first = a[0].timestamps[0] / 1000;
    assert!(first <= up - 4, "buffered intervals from before {up} missing: first point at {first}");
    assert_regular(&a[0], 1, 42.5);
}

#[test]
fn sigterm_stops_cleanly_after_one_last_delivery_attempt() {
    let port = free_port();
    let mut agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = tcp:127.0.0.1:{port}\n    update every = 1\n    buffer on failures = 100\n    timeout ms = 2000\n"
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    agent.wait_log("cannot connect to any destination", 20);
    std::thread::sleep(Duration::from_secs(3));
    // The backend appears; the next attempt would be a second away, but we stop now.
    let sink = Sink::start_on(port);
    let status = agent.terminate();
    assert!(status.success(), "exit status {status:?}\n{}", agent.log());
    // What the agent wrote before it exited is in the sink's socket; give its reader the time
    // to take it.
    let delivered = |lines: &[String]| {
        lines.iter().filter(|l| l.starts_with("netdata.testhost.test.values.a 42.5000000 ")).count()
    };
    support::wait_until(support::deadline_in(5), || delivered(&sink.lines()) >= 3);
    let lines = sink.lines();
    assert!(
        delivered(&lines) >= 3,
        "buffered lines were not delivered at shutdown: {lines:?}\n{}",
        agent.log()
    );
}

#[test]
fn replies_from_the_backend_are_drained_and_logged_once() {
    let sink = Sink::start(b"hello\x01from the backend\n");
    let agent = Rrdpipe::start(
        &conf(&format!("    type = graphite\n    destination = {}\n    update every = 1\n", sink.addr)),
        &[("values", CONSTANT_PLUGIN)],
    );
    agent.wait_log("received data from the destination; ignoring it", 20);
    let log = agent.log();
    let line = log.lines().find(|l| l.contains("received data from the destination")).unwrap_or_default();
    assert!(line.contains("bytes=23") && line.contains(r#"sample="hello from the backend ""#), "{log}");
}

#[test]
fn graphite_over_udp_reaches_victoriametrics() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let _agent = Rrdpipe::start(
        &conf(&format!(
            "    type = graphite\n    destination = udp:{}\n    update every = 1\n",
            vm.graphite_addr()
        )),
        &[("values", CONSTANT_PLUGIN)],
    );
    let a = vm.export_wait("netdata.testhost.test.values.a", 4);
    assert!(a[0].values.iter().all(|v| *v == 42.5), "{:?}", a[0].points());
}
