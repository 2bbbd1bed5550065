//! Labels end to end, against the release binary: a plugin labels its chart with `CLABEL`
//! lines (hostile ones too), `[host labels]` labels the host, and the labels reach a real
//! VictoriaMetrics through remote write and appear in `/api/v1/allmetrics`, exactly; when the
//! plugin relabels its chart, the next export carries the new labels.

pub mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use support::agent::Rrdpipe;
use support::victoria::VictoriaMetrics;
use support::{deadline_in, free_port, http_get, local, wait_for_tcp, wait_until};

/// A plugin of one chart, `lab.disk`, labelled by `CLABEL` after its definition: configured
/// labels (one with quotes, one named as a built-in label), and an automatic one. Once a file
/// `relabel` appears beside it, it labels the chart again after a BEGIN, with one label.
const PLUGIN: &str = r#"#!/bin/sh
here=$(dirname "$0")
echo "CHART lab.disk '' 'Disk' 'ops' lab lab.disk line 1 1"
echo "CLABEL 'device' 'sda' 2"
echo "CLABEL 'mount' '/data \"x\"' 2"
echo "CLABEL 'chart' 'forged' 2"
echo "CLABEL '_collect_module' 'probe' 1"
echo "CLABEL_COMMIT"
echo "DIMENSION reads '' absolute 1 1"
relabelled=0
while true; do
  echo "BEGIN lab.disk"
  if [ $relabelled = 0 ] && [ -f "$here/relabel" ]; then
    echo "CLABEL 'device' 'sdb' 2"
    echo "CLABEL_COMMIT"
    relabelled=1
  fi
  echo "SET reads = 7"
  echo "END"
  sleep 1
done
"#;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The series of the chart, as remote write names and labels them, with `chart` labels.
fn series(chart: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut l = labels(&[
        ("__name__", "netdata_lab_disk_ops_average"),
        ("chart", "lab.disk"),
        ("dimension", "reads"),
        ("family", "lab"),
        ("instance", "labhost"),
        ("room", "b12"),
    ]);
    l.extend(labels(chart));
    l
}

fn allmetrics(api: SocketAddr) -> String {
    let r = http_get(
        api,
        "/api/v1/allmetrics?format=prometheus&source=as-collected&timestamps=no&filter=lab.disk",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[test]
fn chart_and_host_labels_reach_victoriametrics_and_allmetrics_and_follow_a_relabel() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let api = local(free_port());
    let conf = format!(
        "[global]\nhostname = labhost\nupdate every = 1\n\
         [directories]\nplugins = @DIR@/plugins\n\
         [plugins]\nproc = no\n\
         [web]\nbind to = {api}\n\
         [host labels]\nroom = b12\n\
         [prometheus_remote_write:vm]\nenabled = yes\ndestination = {}\nremote write URL path = /api/v1/write\n\
         update every = 1\nsend charts matching = lab.*\n",
        vm.http_addr()
    );
    let agent = Rrdpipe::start(&conf, &[("lab", PLUGIN)]);
    assert!(wait_for_tcp(api, deadline_in(10)), "the agent does not listen:\n{}", agent.log());

    let first = series(&[("device", "sda"), ("mount", "/data _x_"), ("exported_chart", "forged")]);
    let got = vm.export_wait(r#"{__name__="netdata_lab_disk_ops_average"}"#, 2);
    assert_eq!(got.iter().map(|s| &s.labels).collect::<Vec<_>>(), [&first], "{}", agent.log());
    assert!(got[0].values.iter().all(|&v| v == 7.0), "{:?}", got[0].values);

    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        allmetrics(api),
        format!(
            "netdata_info{{instance=\"labhost\",application=\"rrdpipe\",version=\"{version}\",room=\"b12\"}} 1\n\
             netdata_lab_disk{{chart=\"lab.disk\",family=\"lab\",dimension=\"reads\",device=\"sda\",mount=\"/data _x_\",\
             exported_chart=\"forged\"}} 7\n"
        )
    );

    std::fs::write(agent.dir().join("plugins/relabel"), "").unwrap();
    let second = series(&[("device", "sdb")]);
    let mut now = Vec::new();
    let arrived = wait_until(deadline_in(20), || {
        now = vm.export(r#"{__name__="netdata_lab_disk_ops_average"}"#);
        now.iter().any(|s| s.labels == second)
    });
    assert!(arrived, "no series with the new labels: {now:?}\n{}", agent.log());
    let all: std::collections::BTreeSet<_> = now.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(all, [first, second].into_iter().collect());
    assert_eq!(
        allmetrics(api),
        format!(
            "netdata_info{{instance=\"labhost\",application=\"rrdpipe\",version=\"{version}\",room=\"b12\"}} 1\n\
             netdata_lab_disk{{chart=\"lab.disk\",family=\"lab\",dimension=\"reads\",device=\"sdb\"}} 7\n"
        )
    );
}
