//! A real Prometheus scrapes rrdpipe's `/api/v1/allmetrics` with netdata's documented scrape
//! configuration, and what Prometheus stored is read back: exact values, labels, timestamps.
//!
//! A second test adds a real netdata 1.37 child streaming into rrdpipe and scrapes every host
//! with `format=prometheus_all_hosts`.
//!
//! The collected chart is the API notes' `probe.const`: `a` absolute 42, `b` named `bee` with
//! divisor 10 (123.4), `c` incremental growing 50 per second, `n` multiplier −1 (−7).

pub mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::agent::Rrdpipe;
use support::netdata::{Netdata, Setup};
use support::prometheus::Prometheus;
use support::series::Series;
use support::{free_port, http_get, local, wait_for_tcp};

/// The probe plugin: one chart, a collection every second, timed by the plugin.
const PROBE: &str = r#"#!/bin/sh
echo "CHART probe.const '' 'Probe' 'units' probe probe.const line 1 1"
echo "DIMENSION a '' absolute 1 1"
echo "DIMENSION b bee absolute 1 10"
echo "DIMENSION c '' incremental 1 1"
echo "DIMENSION n '' absolute -1 1"
c=1000000
first=1
while true; do
  if [ $first = 1 ]; then echo "BEGIN probe.const"; first=0; else echo "BEGIN probe.const 1000000"; fi
  echo "SET a = 42"
  echo "SET b = 1234"
  echo "SET c = $c"
  echo "SET n = 7"
  echo "END"
  c=$((c + 50))
  sleep 1
done
"#;

fn agent(port: u16) -> Rrdpipe {
    Rrdpipe::start(
        &format!(
            "[global]\nhostname = scraped\nupdate every = 1\nhistory = 600\n[directories]\nplugins = @DIR@/plugins\n\
             [plugins]\nproc = no\n[web]\nbind to = 127.0.0.1:{port}\n"
        ),
        &[("probe", PROBE)],
    )
}

/// The series of `samples` whose `dimension` label is `dim`.
fn by_dimension<'a>(samples: &'a [Series], dim: &str) -> &'a Series {
    samples
        .iter()
        .find(|s| s.labels.get("dimension").map(String::as_str) == Some(dim))
        .unwrap_or_else(|| panic!("no series with dimension={dim} in {samples:#?}"))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn prometheus_scrapes_averages_and_raw_counters_with_netdata_s_documented_config() {
    let port = free_port();
    let agent = agent(port);
    let target = format!("127.0.0.1:{port}");
    // netdata's documented scrape job, and a second one for the raw counters.
    let jobs = format!(
        "scrape_configs:\n\
         - job_name: netdata\n  scrape_interval: 1s\n  metrics_path: /api/v1/allmetrics\n  honor_labels: true\n  \
         params:\n    format: [prometheus]\n  static_configs:\n  - targets: ['{target}']\n\
         - job_name: raw\n  scrape_interval: 1s\n  metrics_path: /api/v1/allmetrics\n  honor_labels: true\n  \
         params:\n    format: [prometheus]\n    source: [as-collected]\n    server: [raw]\n  \
         static_configs:\n  - targets: ['{target}']\n"
    );
    let Some(prom) = Prometheus::start_scraping(&jobs) else { return };

    // The agent answers before Prometheus is asked anything.
    let deadline = Instant::now() + Duration::from_secs(20);
    assert!(wait_for_tcp(local(port), deadline), "the API does not listen; log:\n{}", agent.log());
    while http_get(local(port), "/api/v1/allmetrics?format=prometheus").status != 200 {
        assert!(Instant::now() < deadline, "no allmetrics answer within 20 s; log:\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let avg = prom.samples_wait(r#"{__name__="netdata_probe_const_units_average",job="netdata"}"#, 20);
    assert_eq!(avg.len(), 4, "one series per dimension: {avg:#?}");
    for (dim, want) in [("a", 42.0), ("bee", 123.4), ("n", -7.0)] {
        let s = by_dimension(&avg, dim);
        assert_eq!(
            s.labels,
            labels(&[
                ("__name__", "netdata_probe_const_units_average"),
                ("chart", "probe.const"),
                ("family", "probe"),
                ("dimension", dim),
                ("instance", &target),
                ("job", "netdata"),
            ])
        );
        assert!(s.values.iter().all(|&v| v == want), "{dim}: every sample is {want}: {:?}", s.values);
    }
    // The incremental dimension: 50 per second, computed from the plugin's own timing.
    let c = by_dimension(&avg, "c");
    let settled = &c.values[1..];
    assert!(settled.iter().all(|v| (v - 50.0).abs() < 0.01), "c is 50/s: {:?}", c.values);
    // Timestamps are the windows' last slots: whole seconds, each window once.
    let ts = &by_dimension(&avg, "a").timestamps;
    assert!(ts.iter().all(|t| t % 1000 == 0), "whole seconds: {ts:?}");
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "each window once, in order: {ts:?}");

    // As collected: raw values before multiplier and divisor; the counter as `_total`.
    let raw = prom.samples_wait(r#"{__name__=~"netdata_probe_const(_total)?",job="raw"}"#, 20);
    assert_eq!(by_dimension(&raw, "bee").values.last(), Some(&1234.0));
    assert_eq!(by_dimension(&raw, "n").values.last(), Some(&7.0));
    let counter = by_dimension(&raw, "c");
    assert_eq!(counter.labels["__name__"], "netdata_probe_const_total");
    let first = counter.values[0];
    assert!(first >= 1_000_000.0 && first % 50.0 == 0.0, "the plugin's counter: {first}");
    assert!(counter.values.windows(2).all(|w| w[1] >= w[0]), "a counter never falls: {:?}", counter.values);

    // The agent identifies itself.
    let info = prom.samples_wait(r#"netdata_info{job="netdata"}"#, 1);
    assert_eq!(info[0].labels["application"], "rrdpipe");
    assert_eq!(info[0].labels["instance"], "scraped");
    assert_eq!(info[0].values[0], 1.0);
}

const KEY: &str = "5eed0002-2222-3333-4444-555555555555";

#[test]
fn prometheus_scrapes_every_host_with_a_real_netdata_child_streaming_in() {
    let port = free_port();
    let agent = Rrdpipe::start_with_files(
        &format!(
            "[global]\nhostname = parent\nupdate every = 1\nhistory = 600\n[directories]\nplugins = @DIR@/plugins\n\
             [plugins]\nproc = no\n[web]\nbind to = 127.0.0.1:{port}\n"
        ),
        &[("probe", PROBE)],
        &[("stream.conf", &format!("[{KEY}]\n    type = api\n    enabled = yes\n"))],
    );
    let Some(_child) = Netdata::start(Setup {
        hostname: "childhost".to_string(),
        proc: true,
        stream_conf: Some(format!(
            "[stream]\n    enabled = yes\n    destination = tcp:127.0.0.1:{port}\n    api key = {KEY}\n    \
             timeout seconds = 60\n    reconnect delay seconds = 1\n"
        )),
        ..Setup::default()
    }) else {
        return;
    };
    let target = format!("127.0.0.1:{port}");
    let jobs = format!(
        "scrape_configs:\n\
         - job_name: all\n  scrape_interval: 1s\n  metrics_path: /api/v1/allmetrics\n  honor_labels: true\n  \
         params:\n    format: [prometheus_all_hosts]\n  static_configs:\n  - targets: ['{target}']\n"
    );
    let Some(prom) = Prometheus::start_scraping(&jobs) else { return };

    // The parent's own chart, labelled with its hostname.
    let local = prom.samples_wait(r#"netdata_probe_const_units_average{dimension="a"}"#, 5);
    assert_eq!(local.len(), 1, "{local:#?}");
    assert_eq!(local[0].labels["instance"], "parent");
    assert!(local[0].values.iter().all(|&v| v == 42.0), "{:?}", local[0].values);

    // The child's system.cpu, under its own hostname: netdata's proc plugin, through the stream.
    let cpu = prom.samples_wait(r#"netdata_system_cpu_percentage_average{instance="childhost"}"#, 10);
    let dims: Vec<&str> = cpu.iter().map(|s| s.labels["dimension"].as_str()).collect();
    for want in ["user", "system", "idle"] {
        assert!(
            dims.contains(&want),
            "dimension {want} of the child's system.cpu: {dims:?}; log:\n{}",
            agent.log()
        );
    }
    for s in &cpu {
        assert_eq!((s.labels["chart"].as_str(), s.labels["family"].as_str()), ("system.cpu", "cpu"));
        assert!(
            s.values.iter().all(|v| (0.0..=100.0).contains(v)),
            "{}: {:?}",
            s.labels["dimension"],
            s.values
        );
    }
    // Every host says who it is.
    let info = prom.samples_wait("netdata_info", 2);
    let mut instances: Vec<&str> = info.iter().map(|s| s.labels["instance"].as_str()).collect();
    instances.sort();
    assert_eq!(instances, ["childhost", "parent"]);
}

/// exporting.conf with netdata's `[prometheus:exporter]` keys (and one from `[exporting:global]`),
/// given to netdata 1.37 and to rrdpipe running the same probe plugin.
const EXPORTING_CONF: &str = "[exporting:global]\n    send names instead of ids = no\n\
     [prometheus:exporter]\n    prefix = site\n    data source = sum\n    update every = 5\n    \
     send charts matching = probe.*\n";

/// The series lines of an allmetrics answer without their timestamps, sorted; the agent's
/// `netdata_info` (which names the application) left out.
fn series_without_timestamps(body: &str) -> Vec<String> {
    let mut lines: Vec<String> = body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("netdata_info"))
        .map(|l| l.rsplit_once(' ').map_or(l, |(head, _)| head).to_string())
        .collect();
    lines.sort();
    lines
}

/// A scraper's first answer from `addr`, once the probe has 10 s of data.
fn first_scrape(addr: std::net::SocketAddr, who: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http_get(addr, "/api/v1/allmetrics?format=prometheus&server=probe-settled");
        let body = String::from_utf8_lossy(&r.body).to_string();
        if r.status == 200 && body.contains("site_probe_const_sum") {
            return body;
        }
        assert!(Instant::now() < deadline, "{who}: no probe series within 60 s: {} {body}", r.status);
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Both agents answer a request that gives only the format with the section's prefix, source,
/// ids and charts, summing a first window of 5 seconds: the same series with the same values.
#[test]
fn prometheus_exporter_section_shapes_the_answer_as_in_netdata() {
    let Some(netdata) = Netdata::start(Setup {
        hostname: "twin".to_string(),
        web: true,
        files: vec![("exporting.conf".to_string(), EXPORTING_CONF.to_string())],
        own_plugins: vec![("probe".to_string(), PROBE.to_string())],
        ..Setup::default()
    }) else {
        return;
    };
    let port = free_port();
    let agent = Rrdpipe::start_with_files(
        &format!(
            "[global]\nhostname = twin\nupdate every = 1\nhistory = 600\n[directories]\nplugins = @DIR@/plugins\n\
             [plugins]\nproc = no\n[web]\nbind to = 127.0.0.1:{port}\n"
        ),
        &[("probe", PROBE)],
        &[("exporting.conf", EXPORTING_CONF)],
    );
    assert!(wait_for_tcp(local(port), Instant::now() + Duration::from_secs(20)), "log:\n{}", agent.log());
    // Both have collected for more than the window before the first request.
    std::thread::sleep(Duration::from_secs(12));
    let theirs = series_without_timestamps(&first_scrape(netdata.web.unwrap(), "netdata"));
    let ours = series_without_timestamps(&first_scrape(local(port), "rrdpipe"));
    let want = [
        "site_probe_const_sum{chart=\"probe.const\",family=\"probe\",dimension=\"a\"} 210.0000000",
        "site_probe_const_sum{chart=\"probe.const\",family=\"probe\",dimension=\"b\"} 617.0000000",
        "site_probe_const_sum{chart=\"probe.const\",family=\"probe\",dimension=\"n\"} -35.0000000",
    ];
    for line in want {
        assert!(theirs.iter().any(|l| l == line), "netdata 1.37 does not say {line}: {theirs:#?}");
        assert!(
            ours.iter().any(|l| l == line),
            "rrdpipe does not say {line}: {ours:#?}\nlog:\n{}",
            agent.log()
        );
    }
    // The counter's sum over 5 slots of 50/s; every series netdata sends, rrdpipe sends.
    let names = |lines: &[String]| {
        lines.iter().map(|l| l.rsplit_once(' ').unwrap().0.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&ours), names(&theirs), "the same series");
    let c = ours.iter().find(|l| l.contains("dimension=\"c\"")).unwrap();
    let sum: f64 = c.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!((sum - 250.0).abs() < 0.5, "c sums 5 slots of 50/s: {c}");
}
