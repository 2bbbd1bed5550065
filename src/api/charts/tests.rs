//! `/api/v1/charts` and `/api/v1/chart` over a fixed store.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde_json::Value;

use super::{serve_chart, serve_charts};
use crate::api::{Api, Query, Request, Response};
use crate::rrd::{Algorithm, ChartDef, ChartType, Db, DimensionDef, HostInfo};

const T0: i64 = 1_796_657_000;

fn api() -> Api {
    let db = Arc::new(Db::new(HostInfo { hostname: "h1".into(), ..HostInfo::default() }, 3600));
    let host = db.localhost();
    let def =
        ChartDef { title: "Probe const".into(), units: "units".into(), ..ChartDef::new("probe.const", 1) };
    let (c, _) = host.define_chart(&def);
    c.add_dimension(&DimensionDef::new("a", Algorithm::Absolute));
    c.add_dimension(&DimensionDef {
        name: Some("bee".into()),
        ..DimensionDef::new("b", Algorithm::Absolute)
    });
    c.add_dimension(&DimensionDef { hidden: true, ..DimensionDef::new("h", Algorithm::Absolute) });
    for k in 0..5 {
        c.collect(&[(0, 42), (1, 1234), (2, 1)], (T0 + k) as u64 * 1_000_000).unwrap();
    }
    let def = ChartDef {
        name: Some("evil name".into()),
        title: "Evil \"t\"\n".into(),
        units: "un\\its".into(),
        family: "fam ily".into(),
        chart_type: ChartType::Stacked,
        priority: 1002,
        ..ChartDef::new("probe.evil", 2)
    };
    let (c, _) = host.define_chart(&def);
    c.add_dimension(&DimensionDef {
        name: Some("name with spaces".into()),
        ..DimensionDef::new("we\"ird id", Algorithm::Absolute)
    });
    c.add_dimension(&DimensionDef::new("semi;colon,comma", Algorithm::Incremental));
    host.define_chart(&ChartDef { obsolete: true, ..ChartDef::new("probe.gone", 1) });
    let facts = crate::testdata::agent_facts(3600, T0);
    Api::new(db, facts)
}

fn request(query: &str) -> Request<'_> {
    Request {
        endpoint: "charts",
        query: Query::parse(query),
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        now_ms: T0 * 1000,
        own_url: None,
    }
}

/// Each of `keys`, preceded by `prefix`, appears in the body in this order.
fn in_order(body: &[u8], prefix: &str, keys: &[&str]) {
    let text = String::from_utf8_lossy(body);
    let mut from = 0;
    for k in keys {
        let needle = format!("{prefix}\"{k}\": ");
        let at = text[from..].find(&needle).unwrap_or_else(|| panic!("{k} after byte {from}: {text}"));
        from += at + needle.len();
    }
}

fn parse(r: &Response) -> Value {
    assert_eq!((r.status, r.content_type), (200, crate::api::response::JSON));
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

/// The document parses whatever the names hold, and says what netdata's says.
#[test]
fn charts_lists_every_visible_chart_with_netdatas_keys() {
    let api = api();
    let host = api.db.localhost();
    let r = serve_charts(&api, &host, &request(""));
    let v = parse(&r);
    in_order(
        &r.body,
        "\n\t",
        &[
            "hostname",
            "version",
            "release_channel",
            "os",
            "timezone",
            "update_every",
            "history",
            "memory_mode",
            "custom_info",
            "charts",
            "charts_count",
            "dimensions_count",
            "alarms_count",
            "rrd_memory_bytes",
            "hosts_count",
            "hosts",
        ],
    );
    assert_eq!(v["hostname"], "h1");
    assert_eq!(v["version"], "v0.1.0");
    assert_eq!(v["release_channel"], "stable");
    assert_eq!(v["os"], "linux");
    assert_eq!(v["update_every"], 1);
    assert_eq!(v["history"], 3600);
    assert_eq!(v["memory_mode"], "ram");
    assert_eq!(v["custom_info"], "");
    assert_eq!(v["charts_count"], 2, "the obsolete chart is not listed");
    assert_eq!(v["dimensions_count"], 4, "the hidden dimension is not counted");
    assert_eq!(v["alarms_count"], 0);
    assert_eq!(v["rrd_memory_bytes"], 3600 * 3 * 4 + 3600 * 2 * 4);
    assert_eq!(v["hosts_count"], 1);
    assert_eq!(v["hosts"], serde_json::json!([{ "hostname": "h1" }]));
    let charts: Vec<&str> = v["charts"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(charts, ["probe.const", "probe.evil"], "creation order");
    in_order(&r.body, "\n\t\t", &["probe.const", "probe.evil"]);

    let c = &v["charts"]["probe.const"];
    let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = [
        "id",
        "name",
        "type",
        "family",
        "context",
        "title",
        "priority",
        "plugin",
        "module",
        "units",
        "data_url",
        "chart_type",
        "duration",
        "first_entry",
        "last_entry",
        "update_every",
        "dimensions",
        "chart_variables",
        "green",
        "red",
        "alarms",
        "chart_labels",
        "functions",
    ];
    in_order(&r.body, "\n\t\t\t", &expected);
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(c["title"], "Probe const (probe.const)");
    assert_eq!(c["data_url"], "/api/v1/data?chart=probe.const");
    // The collection at T0 primes: slots T0+1 … T0+4.
    assert_eq!(
        (&c["first_entry"], &c["last_entry"], &c["duration"]),
        (&(T0 + 1).into(), &(T0 + 4).into(), &4.into())
    );
    assert_eq!(c["dimensions"], serde_json::json!({ "a": { "name": "a" }, "b": { "name": "bee" } }));
    assert_eq!((&c["green"], &c["red"]), (&Value::Null, &Value::Null));

    let e = &v["charts"]["probe.evil"];
    assert_eq!(e["name"], "probe.evil_name");
    assert_eq!(e["title"], "Evil \"t\"\n (probe.evil_name)");
    assert_eq!(
        (&e["family"], &e["units"], &e["chart_type"]),
        (&"fam ily".into(), &"un\\its".into(), &"stacked".into())
    );
    assert_eq!((&e["priority"], &e["update_every"], &e["duration"]), (&1002.into(), &2.into(), &2.into()));
    assert_eq!((&e["first_entry"], &e["last_entry"]), (&0.into(), &0.into()), "nothing stored yet");
    let dims: Vec<(&str, &Value)> =
        e["dimensions"].as_object().unwrap().iter().map(|(k, v)| (k.as_str(), &v["name"])).collect();
    assert_eq!(
        dims,
        [("semi;colon,comma", &"semi;colon,comma".into()), ("we\"ird id", &"name with spaces".into())]
    );
    in_order(&r.body, "\n\t\t\t\t", &["we\\\"ird id", "semi;colon,comma"]);
}

/// One chart's object: by id or by name, in netdata's tab layout, byte for byte.
#[test]
fn chart_answers_one_object_by_id_or_name() {
    let api = api();
    let host = api.db.localhost();
    let r = serve_chart(&api, &host, &request("chart=probe.const"));
    assert_eq!(
        String::from_utf8(r.body.clone()).unwrap(),
        "\t\t{\n\t\t\t\"id\": \"probe.const\",\n\t\t\t\"name\": \"probe.const\",\n\t\t\t\"type\": \"probe\",\n\
         \t\t\t\"family\": \"probe\",\n\t\t\t\"context\": \"probe.const\",\n\t\t\t\"title\": \"Probe const (probe.const)\",\n\
         \t\t\t\"priority\": 1000,\n\t\t\t\"plugin\": \"\",\n\t\t\t\"module\": \"\",\n\t\t\t\"units\": \"units\",\n\
         \t\t\t\"data_url\": \"/api/v1/data?chart=probe.const\",\n\t\t\t\"chart_type\": \"line\",\n\
         \t\t\t\"duration\": 4,\n\t\t\t\"first_entry\": 1796657001,\n\t\t\t\"last_entry\": 1796657004,\n\
         \t\t\t\"update_every\": 1,\n\t\t\t\"dimensions\": {\n\t\t\t\t\"a\": { \"name\": \"a\" },\n\
         \t\t\t\t\"b\": { \"name\": \"bee\" }\n\t\t\t},\n\t\t\t\"chart_variables\": {\n\t\t\t},\n\
         \t\t\t\"green\": null,\n\t\t\t\"red\": null,\n\t\t\t\"alarms\": {\n\n\t\t\t},\n\
         \t\t\t\"chart_labels\": {\n\t\t\t},\n\t\t\t\"functions\": {\n\t\t\t}\n\t\t}"
    );
    let by_name = parse(&serve_chart(&api, &host, &request("chart=probe.evil_name")));
    assert_eq!(by_name["id"], "probe.evil");
    assert_eq!(by_name, parse(&serve_chart(&api, &host, &request("chart=probe.evil"))));
}

#[test]
fn chart_without_a_known_chart_is_an_error() {
    let api = api();
    let host = api.db.localhost();
    let r = serve_chart(&api, &host, &request("chart=nope"));
    assert_eq!((r.status, r.body.as_slice()), (404, &b"Chart is not found: nope\n"[..]));
    let r = serve_chart(&api, &host, &request("chart="));
    assert_eq!(
        (r.status, r.body.as_slice()),
        (400, &b"No chart id is given at the request: add chart=ID\n"[..])
    );
}

/// A child's document: its own hostname and os, every host listed.
#[test]
fn charts_of_a_child_host() {
    let api = api();
    let info = HostInfo {
        hostname: "child \"1\"".into(),
        machine_guid: "g-1".into(),
        update_every: 2,
        os: "freebsd".into(),
        tags: String::new(),
    };
    let (child, _) = api.db.host_by_guid(info);
    let v = parse(&serve_charts(&api, &child, &request("")));
    assert_eq!(
        (&v["hostname"], &v["os"], &v["timezone"]),
        (&"child \"1\"".into(), &"freebsd".into(), &"unknown".into())
    );
    assert_eq!(
        (&v["update_every"], &v["charts_count"], &v["hosts_count"]),
        (&2.into(), &0.into(), &2.into())
    );
    assert_eq!(v["charts"], serde_json::json!({}));
    assert_eq!(v["hosts"], serde_json::json!([{ "hostname": "h1" }, { "hostname": "child \"1\"" }]));
}
