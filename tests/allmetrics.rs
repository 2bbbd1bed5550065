//! `/api/v1/allmetrics?format=prometheus` read by Prometheus' own parser: `promtool check
//! metrics` over the answers for stores of arbitrary chart ids, names, contexts, families,
//! units and dimension names (proptest), through the library API, no server.
//!
//! promtool exits 1 on a parse error and 3 on lint findings only (naming advice such as
//! "use base unit", which arbitrary names trigger); a parse error fails the test.

pub mod support;

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use proptest::prelude::*;
use rrdpipe::api::{Api, Query, Request};
use rrdpipe::rrd::{Algorithm, ChartDef, Db, DimensionDef, HostInfo};

const T0: i64 = 1_796_656_960;

/// promtool's verdict on `text`: its exit code and what it printed.
fn promtool(bin: &Path, text: &[u8]) -> (i32, String) {
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), said)
}

/// One chart of a generated store.
#[derive(Debug, Clone)]
struct GenChart {
    id: String,
    name: Option<String>,
    context: String,
    family: String,
    units: String,
    title: String,
    dims: Vec<(String, Option<String>, bool)>,
}

/// Any text, line breaks, quotes and backslashes included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\s\\S]{0,10}",
        "[a-z0-9 ._/%\"\\\\\n-]{1,10}",
        Just("%".to_string()),
        Just("kilobits/s".to_string()),
    ]
}

fn gen_chart() -> impl Strategy<Value = GenChart> {
    (
        "[\\s\\S]{1,10}",
        proptest::option::of(text()),
        text(),
        text(),
        text(),
        text(),
        proptest::collection::vec((text(), proptest::option::of(text()), any::<bool>()), 1..4),
    )
        .prop_map(|(id, name, context, family, units, title, dims)| GenChart {
            id,
            name,
            context,
            family,
            units,
            title,
            dims,
        })
}

fn api_of(hostname: &str, charts: &[GenChart]) -> Api {
    let db = Db::new(HostInfo { hostname: hostname.into(), update_every: 1, ..HostInfo::default() }, 60);
    let host = db.localhost();
    for g in charts {
        let mut def = ChartDef::new(&g.id, 1);
        def.name = g.name.clone();
        def.context = g.context.clone();
        def.family = g.family.clone();
        def.units = g.units.clone();
        def.title = g.title.clone();
        let (c, _) = host.define_chart(&def);
        for (id, name, incremental) in &g.dims {
            let mut d = DimensionDef::new(
                id,
                if *incremental { Algorithm::Incremental } else { Algorithm::Absolute },
            );
            d.name = name.clone();
            c.add_dimension(&d);
        }
        for t in T0..T0 + 15 {
            let row: Vec<(usize, i64)> =
                (0..c.dimension_count()).map(|i| (i, (t - T0) * (i as i64 + 3))).collect();
            // A chart defined twice keeps its first collections; a refused row changes nothing.
            let _ = c.collect(&row, (t * 1_000_000) as u64);
        }
    }
    let facts = rrdpipe::testdata::agent_facts(60, T0);
    Api::new(Arc::new(db), facts)
}

fn scrape(api: &Api, query: &str) -> Vec<u8> {
    let req = Request {
        endpoint: "allmetrics",
        query: Query::parse(query),
        peer: IpAddr::from([127, 0, 0, 1]),
        now_ms: (T0 + 15) * 1000 + 1,
        own_url: None,
    };
    let r = api.respond(&api.db.localhost(), &req);
    assert_eq!(r.status, 200);
    r.body
}

/// The plain answers of a well-named store pass promtool with no finding at all.
#[test]
fn promtool_accepts_a_plain_scrape_without_findings() {
    let Some(bin) = support::require("promtool") else { return };
    let chart = GenChart {
        id: "app.requests".into(),
        name: None,
        context: "app.requests".into(),
        family: "app".into(),
        units: "requests".into(),
        title: "Requests".into(),
        dims: vec![("ok".into(), None, false), ("failed".into(), Some("errors".into()), false)],
    };
    let api = api_of("h1", &[chart]);
    for query in ["format=prometheus&help=yes&types=yes", "format=prometheus_all_hosts&help=yes&types=yes"] {
        let body = scrape(&api, query);
        let (code, said) = promtool(&bin, &body);
        assert_eq!(code, 0, "{query}: promtool said {said}\n{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("\nnetdata_app_requests_requests_average{"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the names, every source and option set parses.
    #[test]
    fn promtool_parses_every_scrape_of_any_store(
        hostname in text(),
        charts in proptest::collection::vec(gen_chart(), 1..5),
        prefix in prop_oneof![Just("netdata".to_string()), text()],
    ) {
        let Some(bin) = support::require("promtool") else { return Ok(()) };
        let api = api_of(&hostname, &charts);
        let prefix: String = prefix.bytes().map(|b| format!("%{b:02X}")).collect();
        for (i, options) in [
            "help=yes&types=yes",
            "source=as-collected&help=yes&types=yes",
            "source=sum&types=yes&names=no",
            "source=as-collected",
            "help=yes&timestamps=no&hideunits=yes",
        ]
        .iter()
        .enumerate()
        {
            for format in ["prometheus", "prometheus_all_hosts"] {
                let query = format!("format={format}&{options}&prefix={prefix}&server={i}{format}");
                let body = scrape(&api, &query);
                let (code, said) = promtool(&bin, &body);
                prop_assert!(
                    code == 0 || code == 3,
                    "{query}: promtool exit {code}: {said}\n{}",
                    String::from_utf8_lossy(&body)
                );
                prop_assert!(!said.contains("parsing error"), "{query}: {said}");
                let text = String::from_utf8(body).unwrap();
                let series = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
                prop_assert!(series >= 1, "netdata_info at least: {text}");
            }
        }
    }
}
