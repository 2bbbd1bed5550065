//! Golden bytes of every format and source, over a store built here that copies the probe
//! plugin netdata 1.37.1 was recorded with (`probe.const`, `probe.evil`, `probe.pct`,
//! `probe.rate`), with a fixed clock.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::api::Query;
use crate::config::PrometheusExporter;
use crate::rrd::{Algorithm, ChartDef, Db, DimensionDef, HostInfo};

/// Seconds of the first collection; collections come every second at `.483`.
const T0: i64 = 1_796_656_960;
/// Collections: the last at `T0 + 23.483`.
const ROUNDS: i64 = 24;
/// The first request's clock: 1796656984.027.
const NOW_MS: i64 = (T0 + ROUNDS) * 1000 + 27;

fn chart(id: &str, name: Option<&str>, title: &str, units: &str, family: &str) -> ChartDef {
    let mut def = ChartDef::new(id, 1);
    def.name = name.map(str::to_string);
    def.title = title.into();
    def.units = units.into();
    def.family = family.into();
    def.context = id.into();
    def
}

fn dim(id: &str, name: Option<&str>, algorithm: Algorithm, multiplier: i64, divisor: i64) -> DimensionDef {
    let mut d = DimensionDef::new(id, algorithm).scaled(multiplier, divisor);
    d.name = name.map(str::to_string);
    d
}

/// The probe plugin's store: `hosts` named hosts, `h1` local, each with the same charts.
fn probe_api(hosts: &[(&str, &str)]) -> Api {
    let info = |(name, tags): (&str, &str)| HostInfo {
        hostname: name.into(),
        machine_guid: format!("guid-{name}"),
        update_every: 1,
        os: "linux".into(),
        tags: tags.into(),
    };
    let db = Db::new(info(hosts[0]), 3600);
    for &h in &hosts[1..] {
        db.host_by_guid(info(h));
    }
    for host in db.hosts() {
        let (c, _) = host.define_chart(&chart("probe.const", None, "Probe constant", "units", "probe"));
        c.add_dimension(&dim("a", None, Algorithm::Absolute, 1, 1));
        c.add_dimension(&dim("b", Some("bee"), Algorithm::Absolute, 1, 10));
        c.add_dimension(&dim("c", None, Algorithm::Incremental, 1, 1));
        c.add_dimension(&dim("n", None, Algorithm::Absolute, -1, 1));
        let (e, _) =
            host.define_chart(&chart("probe.evil", Some("evil_name"), "Evil \"title", "un its", "fam ily"));
        e.add_dimension(&dim("we\"ird id", None, Algorithm::Absolute, 1, 1));
        e.add_dimension(&dim("semi;colon,comma", Some("name with spaces"), Algorithm::Absolute, 1, 1));
        let (p, _) = host.define_chart(&chart("probe.pct", None, "Percent", "%", "probe"));
        p.add_dimension(&dim("x", None, Algorithm::Absolute, 1, 100));
        p.add_dimension(&dim("y", None, Algorithm::Absolute, 1, 100));
        let (r, _) = host.define_chart(&chart("probe.rate", None, "Rate", "kilobits/s", "probe"));
        r.add_dimension(&dim("in", None, Algorithm::Incremental, 8, 1000));
        r.add_dimension(&dim("out", None, Algorithm::Incremental, -8, 1000));
        for k in 0..ROUNDS {
            let ut = ((T0 + k) * 1_000_000 + 483_000) as u64;
            let counter = 1_000_000 + 50 * (k + 1);
            c.collect(&[(0, 42), (1, 1234), (2, counter), (3, 7)], ut).unwrap();
            e.collect(&[(0, 3), (1, 5)], ut).unwrap();
            p.collect(&[(0, 1250), (1, 333)], ut).unwrap();
            r.collect(&[(0, counter * 10), (1, counter * 3)], ut).unwrap();
        }
    }
    let facts = crate::testdata::agent_facts(3600, T0);
    Api::new(Arc::new(db), facts)
}

fn get(api: &Api, query: &str, now_ms: i64) -> Response {
    let req = Request {
        endpoint: "allmetrics",
        query: Query::parse(query),
        peer: IpAddr::from([127, 0, 0, 1]),
        now_ms,
        own_url: None,
    };
    api.respond(&api.db.localhost(), &req)
}

fn body(api: &Api, query: &str, now_ms: i64) -> String {
    let r = get(api, query, now_ms);
    assert_eq!(r.status, 200, "{query}: {}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body).unwrap()
}

/// The recorded requests, each as a first request of its own scraper at [`NOW_MS`], and the
/// file under `golden/` holding the answer. netdata 1.37.1's answers to the same requests are
/// the same bytes except where noted in the module docs of the writers (application, version,
/// escaped JSON, one HELP/TYPE per family, the sanitized prefix, real sums).
const GOLDEN: &[(&str, &str)] = &[
    ("format=shell", "shell.txt"),
    ("filter=probe.const", "shell_filter.txt"),
    ("format=json", "json.txt"),
    ("format=json&filter=!probe.const%20*", "json_filter.txt"),
    ("format=prometheus", "prometheus.txt"),
    ("format=prometheus&help=yes&types=yes", "prometheus_help_types.txt"),
    ("format=prometheus&help=yes", "prometheus_help.txt"),
    ("format=prometheus&source=as-collected&help=yes&types=yes", "as_collected_help_types.txt"),
    ("format=prometheus&data=raw", "as_collected.txt"),
    ("format=prometheus&source=sum&help=yes&types=yes", "sum_help_types.txt"),
    ("format=prometheus&datasource=volume", "sum.txt"),
    ("format=prometheus&names=no", "names_no.txt"),
    ("format=prometheus&names=no&data-source=as-collected", "names_no_as_collected.txt"),
    ("format=prometheus&timestamps=no", "timestamps_no.txt"),
    ("format=prometheus&hideunits=yes", "hideunits.txt"),
    ("format=prometheus&oldunits=yes&variables=yes", "oldunits.txt"),
    ("format=prometheus&prefix=my.pre-x", "prefix.txt"),
    ("format=prometheus&filter=probe.evil*", "filter.txt"),
    ("format=prometheus&filter=probe.evil_name", "filter_name.txt"),
];

/// Golden bytes for every format and source. `GOLDEN_UPDATE=1` rewrites the files (then
/// compare them with netdata's answers before committing).
#[test]
fn every_format_and_source_gives_the_golden_bytes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/allmetrics/golden");
    let update = std::env::var_os("GOLDEN_UPDATE").is_some();
    let api = probe_api(&[("h1", "")]);
    for (i, (query, file)) in GOLDEN.iter().enumerate() {
        let got = body(&api, &format!("{query}&server=s{i}"), NOW_MS);
        let path = dir.join(file);
        if update {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap();
        assert_eq!(got, want, "{query}: answer differs from {file}");
    }
}

/// All hosts: each series with `instance`, each host's `netdata_info`, and a child's tags.
#[test]
fn all_hosts_golden() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/allmetrics/golden");
    let update = std::env::var_os("GOLDEN_UPDATE").is_some();
    let api = probe_api(&[("h1", ""), ("child \"2\"", "role=db zone=\"eu west\"")]);
    for (query, file) in [
        ("format=prometheus_all_hosts&filter=probe.const%20probe.pct", "all_hosts.txt"),
        (
            "format=prometheus_all_hosts&source=as-collected&help=yes&types=yes&filter=probe.rate",
            "all_hosts_as_collected.txt",
        ),
    ] {
        let got = body(&api, query, NOW_MS);
        let path = dir.join(file);
        if update {
            std::fs::write(&path, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(&path).unwrap(), "{query}");
    }
    // One host's answer carries its tags without `instance`, under `/host/NAME/`.
    let child = api.host_named("child \"2\"").unwrap();
    let req = Request {
        endpoint: "allmetrics",
        query: Query::parse("format=prometheus&filter=none"),
        peer: IpAddr::from([127, 0, 0, 1]),
        now_ms: NOW_MS,
        own_url: None,
    };
    let r = api.respond(&child, &req);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "netdata_info{instance=\"child \\\"2\\\"\",application=\"rrdpipe\",version=\"v0.1.0\"} 1 1796656984027\n\
         netdata_host_tags_info{role=\"db\",zone=\"eu west\"} 1 1796656984027\n"
    );
}

/// Labels: the host's configured ones on `netdata_info` (automatic ones not), the chart's on
/// each series but the automatic `_…` ones, names that collide with the line's own renamed;
/// hostile values stay inside their quotes.
#[test]
fn labels_on_netdata_info_and_on_each_series() {
    use crate::rrd::labels::source::{AUTO, CONFIG};
    use crate::rrd::Labels;
    let api = probe_api(&[("h1", ""), ("child", "")]);
    let host = api.db.localhost();
    let mut own = Labels::new();
    own.add("room", "b12", CONFIG);
    own.add("instance", "forged", CONFIG);
    own.add("_os_name", "Debian", AUTO);
    host.set_own_labels(own);
    let mut chart = Labels::new();
    chart.add("device", "sda \"1\"\n", CONFIG);
    chart.add("dimension", "forged", 1);
    chart.add("_collect_plugin", "probe", AUTO);
    chart.add("9lives", "cat", 0);
    host.chart("probe.pct").unwrap().set_labels(chart);
    assert_eq!(
        body(&api, "format=prometheus&filter=probe.pct", NOW_MS),
        "netdata_info{instance=\"h1\",application=\"rrdpipe\",version=\"v0.1.0\",room=\"b12\",exported_instance=\"forged\"} 1 1796656984027\n\
         netdata_probe_pct_percent_average{chart=\"probe.pct\",family=\"probe\",dimension=\"x\",device=\"sda _1_\",exported_dimension=\"forged\",_9lives=\"cat\"} 12.5000000 1796656981000\n\
         netdata_probe_pct_percent_average{chart=\"probe.pct\",family=\"probe\",dimension=\"y\",device=\"sda _1_\",exported_dimension=\"forged\",_9lives=\"cat\"} 3.3300000 1796656981000\n"
    );
    // All hosts: the chart labels come before `instance`; the child has none.
    let all = body(&api, "format=prometheus_all_hosts&filter=probe.pct&server=all", NOW_MS);
    assert!(all.contains(
        "netdata_probe_pct_percent_average{chart=\"probe.pct\",family=\"probe\",dimension=\"x\",device=\"sda _1_\",exported_dimension=\"forged\",_9lives=\"cat\",instance=\"h1\"} 12.5000000 1796656981000\n"
    ), "{all}");
    assert!(all.contains(
        "netdata_probe_pct_percent_average{chart=\"probe.pct\",family=\"probe\",dimension=\"x\",instance=\"child\"} 12.5000000 1796656981000\n"
    ), "{all}");
}

/// Content types, and the 400s: an unknown format names the formats; a bad source or flag
/// names its parameter.
#[test]
fn content_types_and_bad_parameters() {
    let api = probe_api(&[("h1", "")]);
    assert_eq!(get(&api, "format=shell", NOW_MS).content_type, TEXT);
    assert_eq!(get(&api, "format=json", NOW_MS).content_type, JSON);
    assert_eq!(get(&api, "format=prometheus", NOW_MS).content_type, PROMETHEUS);
    assert_eq!(get(&api, "format=prometheus_all_hosts", NOW_MS).content_type, PROMETHEUS);
    let bad = |q: &str| {
        let r = get(&api, q, NOW_MS);
        assert_eq!(r.status, 400, "{q}");
        String::from_utf8(r.body).unwrap()
    };
    assert_eq!(
        bad("format=xml"),
        "Which format? 'shell', 'prometheus', 'prometheus_all_hosts' and 'json' are currently supported, not 'xml'.\n"
    );
    assert_eq!(bad("format=bash").lines().count(), 1);
    assert_eq!(
        get(&api, "format=&source=", NOW_MS).content_type,
        TEXT,
        "empty values are absent, as netdata"
    );
    assert!(bad("format=prometheus&source=median").starts_with("parameter 'source' must be average"));
    assert!(bad("format=prometheus&help=maybe").starts_with("parameter 'help' must be yes or no"));
    assert!(bad(&format!("format=prometheus&server={}", "x".repeat(300)))
        .starts_with("parameter 'server' is longer"));
}

/// A store whose one dimension stores `t - T0` at slot `t`, collected on the second.
fn ramp_api() -> Api {
    let db = Db::new(HostInfo { hostname: "h1".into(), update_every: 1, ..HostInfo::default() }, 3600);
    let (c, _) = db.localhost().define_chart(&chart("r.amp", None, "Ramp", "things", "r"));
    c.add_dimension(&dim("v", None, Algorithm::Absolute, 1, 1));
    for t in T0..=T0 + 100 {
        c.collect(&[(0, t - T0)], (t * 1_000_000) as u64).unwrap();
    }
    let facts = crate::testdata::agent_facts(3600, T0);
    Api::new(Arc::new(db), facts)
}

/// The one series of [`ramp_api`]: (value, timestamp in seconds after `T0`).
fn ramp(api: &Api, query: &str, at_s: i64) -> (String, i64) {
    let b = body(api, &format!("format=prometheus&{query}"), (T0 + at_s) * 1000 + 400);
    let line = b.lines().find(|l| l.starts_with("netdata_r_amp")).unwrap_or_else(|| panic!("no series: {b}"));
    let mut words = line.rsplit(' ');
    let ts: i64 = words.next().unwrap().parse().unwrap();
    (words.next().unwrap().to_string(), ts / 1000 - T0)
}

/// Each scraper has its own window: the first covers the last 10 s, each next one the time
/// since its previous request, two scrapers never share or skip a slot, a request in the same
/// second gets the last slot again (never nothing), and the series is stamped with the
/// window's last slot.
#[test]
fn windows_per_scraper_are_exact_and_do_not_overlap() {
    let api = ramp_api();
    // First request at T0+50: slots 38..=47 (netdata steps back two slots and one more).
    assert_eq!(ramp(&api, "server=a", 50), ("42.5000000".into(), 47));
    // B's first request at T0+55: slots 43..=52, whatever A did.
    assert_eq!(ramp(&api, "server=b", 55), ("47.5000000".into(), 52));
    // A at T0+60: slots 48..=57, right after its previous window.
    assert_eq!(ramp(&api, "server=a", 60), ("52.5000000".into(), 57));
    // A again in the same second: the last slot alone.
    assert_eq!(ramp(&api, "server=a", 60), ("57.0000000".into(), 57));
    // B at T0+70: slots 53..=67; sums over A's next window 58..=70 (T0+73).
    assert_eq!(ramp(&api, "server=b", 70), ("60.0000000".into(), 67));
    assert_eq!(
        ramp(&api, "server=a&source=sum", 73),
        (((58..=70).sum::<i64>()).to_string() + ".0000000", 70)
    );
    // The client's address names the scraper when `server` is absent: a first window.
    assert_eq!(ramp(&api, "", 73), ("65.5000000".into(), 70));
    assert_eq!(api.scrapers.len(), 3);
    // A window ending before the first stored slot, or starting after the last: no series
    // (the chart was not collected then), as netdata.
    let after_the_end = body(&api, "format=prometheus&server=c", (T0 + 200) * 1000);
    assert!(!after_the_end.contains("netdata_r_amp"), "{after_the_end}");
    // One ending past the last stored slot ends at it.
    assert_eq!(ramp(&api, "server=d", 105), ("96.5000000".into(), 100));
}

/// `[prometheus:exporter]` gives what a request does not: the source, the prefix, names or ids,
/// the first window, the charts, the hosts of `prometheus_all_hosts` and the host labels of
/// `netdata_info`; what a request gives wins.
#[test]
fn prometheus_exporter_settings_are_the_defaults_of_a_request() {
    use crate::rrd::labels::source::{AUTO, CONFIG};
    use crate::rrd::Labels;
    let api = ramp_api();
    api.set_prometheus(PrometheusExporter {
        data_source: DataSource::Sum,
        prefix: "site".into(),
        update_every: 4,
        send_names_instead_of_ids: false,
        send_automatic_labels: true,
        send_configured_labels: false,
        ..PrometheusExporter::default()
    });
    let mut own = Labels::new();
    own.add("room", "b12", CONFIG);
    own.add("_os_name", "Debian", AUTO);
    api.db.localhost().set_own_labels(own);
    // First window 4 s: slots 44..=47 at T0+50 (as for 10 s, 38..=47, it ends where netdata's does).
    let b = body(&api, "format=prometheus&server=a", (T0 + 50) * 1000 + 400);
    assert_eq!(
        b,
        format!(
            "netdata_info{{instance=\"h1\",application=\"rrdpipe\",version=\"v0.1.0\",_os_name=\"Debian\"}} 1 {}\n\
             site_r_amp_sum{{chart=\"r.amp\",family=\"r\",dimension=\"v\"}} {}.0000000 {}\n",
            (T0 + 50) * 1000 + 400,
            (44..=47).sum::<i64>(),
            (T0 + 47) * 1000
        )
    );
    assert_eq!(ramp(&api, "server=b&source=average&prefix=netdata", 50), ("45.5000000".into(), 47));
    // Charts: the configured pattern, unless the request filters.
    api.set_prometheus(PrometheusExporter {
        send_charts_matching: "!r.* *".into(),
        ..PrometheusExporter::default()
    });
    assert!(!body(&api, "format=prometheus&server=c", (T0 + 60) * 1000).contains("r_amp"));
    assert_eq!(ramp(&api, "server=d&filter=r.amp", 60), ("52.5000000".into(), 57));
}

/// `send hosts matching` chooses the hosts of `prometheus_all_hosts`.
#[test]
fn all_hosts_are_those_send_hosts_matching_accepts() {
    let api = probe_api(&[("h1", ""), ("child1", ""), ("db2", "")]);
    api.set_prometheus(PrometheusExporter {
        send_hosts_matching: "!child* *".into(),
        ..PrometheusExporter::default()
    });
    let all = body(&api, "format=prometheus_all_hosts&filter=none", NOW_MS);
    let infos: Vec<&str> = all.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(infos, ["netdata_info{instance=\"h1\"", "netdata_info{instance=\"db2\""]);
}

/// The scrapers remembered are bounded in number (the oldest go) and forgotten after a day.
#[test]
fn scrapers_are_bounded_and_forgotten() {
    let s = Scrapers::default();
    assert_eq!(s.swap_last_access("a", "h", 1000), None);
    assert_eq!(s.swap_last_access("a", "h", 1010), Some(1000));
    assert_eq!(s.swap_last_access("a", "other host", 1010), None, "per host");
    for i in 0..scrapers::MAX_SCRAPERS + 10 {
        s.swap_last_access(&format!("s{i}"), "h", 2000 + i as i64);
    }
    assert_eq!(s.len(), scrapers::MAX_SCRAPERS);
    assert_eq!(s.swap_last_access("a", "h", 9000), None, "the oldest were dropped");
    let later = 9000 + scrapers::FORGET_AFTER_S + 1;
    assert_eq!(s.swap_last_access("a", "h", later), None, "forgotten after a day");
    assert_eq!(s.len(), 1, "the stale entries went with it");
}

/// netdata's window arithmetic for charts updated every 1 and 5 seconds.
#[test]
fn chart_windows_as_netdata() {
    assert_eq!(chart_window(74, 84, 1, (74, 83)), Some((74, 81)));
    assert_eq!(chart_window(84, 84, 1, (0, 83)), Some((81, 81)));
    assert_eq!(chart_window(100, 130, 5, (0, 1000)), Some((90, 115)));
    assert_eq!(chart_window(100, 130, 5, (117, 1000)), None);
    assert_eq!(chart_window(100, 130, 5, (0, 95)), Some((90, 95)));
}

/// Names from a hostile plugin: line breaks, quotes, backslashes and non-ASCII stay inside
/// their labels, comments and strings; metric names stay valid; the JSON parses.
#[test]
fn hostile_names_stay_in_their_place() {
    let db = Db::new(HostInfo { hostname: "h\n\"1\\".into(), update_every: 1, ..HostInfo::default() }, 60);
    let mut def = chart("9ev.il\nrm -rf /", Some("n\"a\\me"), "T\nitle\\", "u\nnits/s", "fa\"m\nily");
    def.context = "1ctx:é\n".into();
    let (c, _) = db.localhost().define_chart(&def);
    c.add_dimension(&dim("d\"\\\n", Some("é \"x\"\n"), Algorithm::Incremental, 1, 1));
    for t in T0..T0 + 20 {
        c.collect(&[(0, (t - T0) * 10)], (t * 1_000_000) as u64).unwrap();
    }
    let facts = crate::testdata::agent_facts(60, T0);
    let api = Api::new(Arc::new(db), facts);
    let now = (T0 + 20) * 1000;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/allmetrics/golden");
    let update = std::env::var_os("GOLDEN_UPDATE").is_some();
    for (query, file) in [
        ("format=prometheus&help=yes&types=yes&prefix=0x&server=a", "hostile_prometheus.txt"),
        (
            "format=prometheus&source=as-collected&help=yes&types=yes&names=no&server=b",
            "hostile_as_collected.txt",
        ),
        ("format=shell", "hostile_shell.txt"),
        ("format=json", "hostile_json.txt"),
    ] {
        let got = body(&api, query, now);
        let path = dir.join(file);
        if update {
            std::fs::write(&path, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(&path).unwrap(), "{query}");
    }
    let json: serde_json::Value = serde_json::from_str(&body(&api, "format=json", now)).unwrap();
    let chart = &json["9ev.il\nrm -rf /"];
    assert_eq!(chart["name"], "9ev.n_a_me", "the store sanitizes names");
    assert_eq!(chart["dimensions"]["d\"\\\n"]["name"], "é \"x\"\n");
    assert_eq!(chart["dimensions"]["d\"\\\n"]["value"], 10.0);
    // Every shell line is a comment, a blank, or one NAME="value" assignment.
    for line in body(&api, "format=shell", now).lines() {
        let ok = line.is_empty()
            || line.starts_with('#')
            || line.split_once("=\"").is_some_and(|(k, _)| {
                k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            });
        assert!(ok, "shell line {line:?}");
    }
}

/// The API's state is shared by the server's threads.
#[test]
fn api_is_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Api>();
    shared::<Scrapers>();
}
