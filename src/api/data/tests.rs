//! `/api/v1/data` over fixed stores: golden bytes per format, groupings against hand-computed
//! values, gaps, alignment, options, errors, and the cost of a long answer.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::format::Civil;
use super::{answer, HTML, JAVASCRIPT};
use crate::api::response::{JSON, TEXT};
use crate::api::{Query, Request, Response};
use crate::rrd::{Algorithm, ChartDef, DimensionDef, Host, HostInfo};

/// The first slot of every chart here.
const T0: i64 = 1_796_657_000;
/// Now: relative windows end at now − 1 = T0 + 9, the newest slot.
const NOW: i64 = T0 + 10;
const S: u64 = 1_000_000;

fn dim(id: &str, name: Option<&str>, algorithm: Algorithm, multiplier: i64, divisor: i64) -> DimensionDef {
    DimensionDef {
        name: name.map(str::to_string),
        ..DimensionDef::new(id, algorithm).scaled(multiplier, divisor)
    }
}

/// Collect `rows[k]` (per dimension, `None` = not collected) at T0 + k, after a priming
/// collection at T0 − 1.
fn fill(host: &Host, def: ChartDef, dims: &[DimensionDef], prime: &[i64], rows: &[Vec<Option<i64>>]) {
    let (chart, _) = host.define_chart(&def);
    for d in dims {
        chart.add_dimension(d);
    }
    let primed: Vec<(usize, i64)> = prime.iter().copied().enumerate().collect();
    chart.collect(&primed, (T0 - 1) as u64 * S).unwrap();
    for (k, row) in rows.iter().enumerate() {
        let values: Vec<(usize, i64)> =
            row.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
        chart.collect(&values, (T0 + k as i64) as u64 * S).unwrap();
    }
}

/// netdata's probe: `probe.const` (a 42, b named bee divisor 10, c incremental +50/s, n
/// multiplier −1), `probe.gaps` (x = 1…10 with T0+4…T0+6 empty, y = x × 1.234) and
/// `probe.evil` named `evil_name` with hostile dimension ids and names; ten slots each.
fn store() -> Arc<Host> {
    let host = Arc::new(Host::new(HostInfo { hostname: "h1".into(), ..HostInfo::default() }, 3600));
    let def = ChartDef { units: "units".into(), ..ChartDef::new("probe.const", 1) };
    let dims = [
        dim("a", None, Algorithm::Absolute, 1, 1),
        dim("b", Some("bee"), Algorithm::Absolute, 1, 10),
        dim("c", None, Algorithm::Incremental, 1, 1),
        dim("n", None, Algorithm::Absolute, -1, 1),
    ];
    let rows: Vec<_> =
        (1..=10).map(|k| vec![Some(42), Some(1234), Some(1_000_000 + 50 * k), Some(7)]).collect();
    fill(&host, def, &dims, &[42, 1234, 1_000_000, 7], &rows);

    let dims = [dim("x", None, Algorithm::Absolute, 1, 1), dim("y", None, Algorithm::Absolute, 1, 1000)];
    let rows: Vec<_> = (1..=10i64)
        .map(|x| if (5..=7).contains(&x) { vec![None, None] } else { vec![Some(x), Some(x * 1234)] })
        .collect();
    fill(&host, ChartDef::new("probe.gaps", 1), &dims, &[0, 0], &rows);

    let def = ChartDef {
        name: Some("evil_name".into()),
        family: "fam ily".into(),
        ..ChartDef::new("probe.evil", 1)
    };
    let dims = [
        dim("we\"ird id", Some("name with spaces"), Algorithm::Absolute, 1, 1),
        dim("semi;colon,comma", None, Algorithm::Absolute, 1, 1),
        dim("tag\nid", Some("<b>|\"q\",\t'&"), Algorithm::Absolute, 1, 1),
    ];
    let rows: Vec<_> = (0..10).map(|k| vec![Some(5), Some(k % 3), Some(-1)]).collect();
    fill(&host, def, &dims, &[5, 0, -1], &rows);
    host
}

/// UTC, whatever the machine's zone: tests never depend on `TZ`.
fn utc(t: i64) -> Civil {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + if month <= 2 { 1 } else { 0 }) as i32;
    Civil { year, month, day, hour: secs / 3600, minute: secs / 60 % 60, second: secs % 60 }
}

fn get_at(host: &Arc<Host>, query: &str, now: i64) -> Response {
    let req = Request {
        endpoint: "data",
        query: Query::parse(query),
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        now_ms: now * 1000 + 250,
        own_url: None,
    };
    answer(host, &req, &utc)
}

fn get(host: &Arc<Host>, query: &str) -> Response {
    get_at(host, query, NOW)
}

fn body(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body.clone()).unwrap()
}

/// Each format, byte for byte as netdata 1.37.1 lays it out (checked against it on the same
/// plugin), with hostile names escaped where netdata writes them raw.
#[test]
fn every_format_matches_netdatas_layout() {
    let h = store();
    let r = get(&h, "chart=probe.const&after=-5&points=5&format=json");
    assert_eq!(r.content_type, JSON);
    assert_eq!(
        body(&r),
        "{\n \"labels\": [\"time\",\"a\",\"bee\",\"c\",\"n\"],\n    \"data\":\n [\n \
         [ 1796657009,42,123.4,50,-7],\n [ 1796657008,42,123.4,50,-7],\n [ 1796657007,42,123.4,50,-7],\n \
         [ 1796657006,42,123.4,50,-7],\n [ 1796657005,42,123.4,50,-7]\n]\n}"
    );

    let ev = "chart=probe.evil&after=-2&options=seconds&format=";
    let cases: &[(&str, &str, &str)] = &[
        (
            "jsonp",
            JAVASCRIPT,
            "callback({\n \"labels\": [\"time\",\"name with spaces\",\"semi;colon,comma\",\"<b>|\\\"q\\\",\\t'&\"],\n    \
             \"data\":\n [\n [ 1796657009,5,0,-1],\n [ 1796657008,5,2,-1]\n]\n});",
        ),
        (
            "datatable",
            JSON,
            "{\n \"cols\":\n [\n        {\"id\":\"\",\"label\":\"time\",\"pattern\":\"\",\"type\":\"datetime\"},\n        \
             {\"id\":\"\",\"label\":\"\",\"pattern\":\"\",\"type\":\"string\",\"p\":{\"role\":\"annotation\"}},\n        \
             {\"id\":\"\",\"label\":\"\",\"pattern\":\"\",\"type\":\"string\",\"p\":{\"role\":\"annotationText\"}},\n     \
             {\"id\":\"\",\"label\":\"name with spaces\",\"pattern\":\"\",\"type\":\"number\"},\n     \
             {\"id\":\"\",\"label\":\"semi;colon,comma\",\"pattern\":\"\",\"type\":\"number\"},\n     \
             {\"id\":\"\",\"label\":\"<b>|\\\"q\\\",\\t'&\",\"pattern\":\"\",\"type\":\"number\"}\n  ],\n    \"rows\":\n [\n        \
             {\"c\":[{\"v\":\"Date(2026,11,7,15,23,29)\"},{\"v\":null},{\"v\":null},{\"v\":5},{\"v\":0},{\"v\":-1}]},\n        \
             {\"c\":[{\"v\":\"Date(2026,11,7,15,23,28)\"},{\"v\":null},{\"v\":null},{\"v\":5},{\"v\":2},{\"v\":-1}]}\n]\n}",
        ),
        ("array", JSON, "[4,6]"),
        ("ssv", TEXT, "4 6"),
        ("ssvcomma", TEXT, "4,6"),
        (
            "csv",
            TEXT,
            "time,name with spaces,\"semi;colon,comma\",\"<b>|\"\"q\"\",\t'&\"\r\n1796657009,5,0,-1\r\n1796657008,5,2,-1\r\n",
        ),
        (
            "tsv",
            TEXT,
            "time\tname with spaces\tsemi;colon,comma\t<b>|\"q\", '&\r\n1796657009\t5\t0\t-1\r\n1796657008\t5\t2\t-1\r\n",
        ),
        (
            "markdown",
            TEXT,
            "time|name with spaces|semi;colon,comma|<b>\\|\"q\",\t'&\r\n:---:|:---:|:---:|:---:\r\n\
             1796657009|5|0|-1\r\n1796657008|5|2|-1\r\n",
        ),
        (
            "html",
            HTML,
            "<html>\n<center>\n<table border=\"0\" cellpadding=\"5\" cellspacing=\"5\">\n\
             <tr><td>time</td><td>name with spaces</td><td>semi;colon,comma</td><td>&lt;b&gt;|&quot;q&quot;,\t'&amp;</td></tr>\n\
             <tr><td>1796657009</td><td>5</td><td>0</td><td>-1</td></tr>\n\
             <tr><td>1796657008</td><td>5</td><td>2</td><td>-1</td></tr>\n</table>\n</center>\n</html>\n",
        ),
        (
            "csvjsonarray",
            JSON,
            "[\n[\"time\",\"name with spaces\",\"semi;colon,comma\",\"<b>|\\\"q\\\",\\t'&\"],\n\
             [1796657009,5,0,-1],\n[1796657008,5,2,-1]\n]",
        ),
    ];
    for &(format, content_type, expected) in cases {
        let r = get(&h, &format!("{ev}{format}"));
        assert_eq!((r.content_type, body(&r).as_str()), (content_type, expected), "format={format}");
    }
    // Every JSON answer parses, hostile names and all.
    for format in ["json", "datatable", "array", "csvjsonarray"] {
        let r = get(&h, &format!("{ev}{format}"));
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_else(|e| panic!("{format}: {e}"));
        let r = get(&h, &format!("{ev}{format}&options=jsonwrap"));
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .unwrap_or_else(|e| panic!("{format} wrapped: {e}"));
    }
    for format in ["csv", "tsv", "ssv", "markdown", "html"] {
        let r = get(&h, &format!("{ev}{format}&options=jsonwrap|seconds"));
        assert_eq!(r.content_type, JSON, "{format}");
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .unwrap_or_else(|e| panic!("{format} wrapped: {e}"));
    }
}

/// Dates where netdata prints them: csv without `seconds` in local time, `datasource` as
/// Google's response, `google_json` as JavaScript dates.
#[test]
fn dates_datasource_and_google_json() {
    let h = store();
    let r = get(&h, "chart=probe.gaps&after=-2&format=csv");
    assert_eq!(body(&r), "time,x,y\r\n2026-12-07 15:23:29,10,12.34\r\n2026-12-07 15:23:28,9,11.106\r\n");
    let r = get(&h, "chart=probe.gaps&after=-1&format=datasource&tqx=reqId:7;version:0.6");
    assert_eq!(r.content_type, JAVASCRIPT);
    assert_eq!(
        body(&r),
        "google.visualization.Query.setResponse({version:'0.6',reqId:'7',status:'ok',sig:'1796657009',table:{\n \"cols\":\n [\n        \
         {\"id\":\"\",\"label\":\"time\",\"pattern\":\"\",\"type\":\"datetime\"},\n        \
         {\"id\":\"\",\"label\":\"\",\"pattern\":\"\",\"type\":\"string\",\"p\":{\"role\":\"annotation\"}},\n        \
         {\"id\":\"\",\"label\":\"\",\"pattern\":\"\",\"type\":\"string\",\"p\":{\"role\":\"annotationText\"}},\n     \
         {\"id\":\"\",\"label\":\"x\",\"pattern\":\"\",\"type\":\"number\"},\n     \
         {\"id\":\"\",\"label\":\"y\",\"pattern\":\"\",\"type\":\"number\"}\n  ],\n    \"rows\":\n [\n        \
         {\"c\":[{\"v\":\"Date(2026,11,7,15,23,29)\"},{\"v\":null},{\"v\":null},{\"v\":10},{\"v\":12.34}]}\n]\n}});"
    );
    // The client already has everything up to its sig: not modified.
    let r =
        get(&h, "chart=probe.gaps&after=-1&format=datasource&tqx=reqId:7;sig:1796657009;responseHandler=x");
    assert_eq!(
        body(&r),
        "google.visualization.Query.setResponse({version:'0.6',reqId:'7',status:'error',errors:[{reason:'not_modified',\
         message:'Data not modified'}]});"
    );
    let r = get(&h, "chart=probe.gaps&after=-1&options=google_json");
    assert_eq!(
        body(&r),
        "{\n \"labels\": [\"time\",\"x\",\"y\"],\n    \"data\":\n [\n [ new Date(2026,11,7,15,23,29),10,12.34]\n]\n}"
    );
    // callback and filename cannot carry anything but a word.
    let r = get(&h, "chart=probe.gaps&after=-1&format=jsonp&callback=a();alert(1)//&filename=../x\"y.csv");
    assert!(body(&r).starts_with("a___alert_1___({"), "{}", body(&r));
    assert_eq!(r.filename.as_deref(), Some(".._x_y.csv"));
}

/// The envelope: netdata's keys in netdata's order, its spacing, and the result as a string
/// for the text formats.
#[test]
fn jsonwrap_envelope_is_netdatas() {
    let h = store();
    let r = get(&h, "chart=probe.gaps&after=-5&options=jsonwrap|seconds&format=csv");
    assert_eq!(r.content_type, JSON);
    assert_eq!(
        body(&r),
        "{\n   \"api\": 1,\n   \
         \"id\": \"chart://host:h1/instance:probe.gaps/dimensions:*/after:-5/before:0/points:0/group:average/options:jsonwrap,seconds\",\n   \
         \"name\": \"chart://host:h1/instance:probe.gaps/dimensions:*/after:-5/before:0/points:0/group:average/options:jsonwrap,seconds\",\n   \
         \"view_update_every\": 1,\n   \"update_every\": 1,\n   \"first_entry\": 1796657000,\n   \"last_entry\": 1796657009,\n   \
         \"before\": 1796657009,\n   \"after\": 1796657005,\n   \"group\": \"average\",\n   \
         \"options\": \"jsonwrap,seconds,natural-points\",\n   \"dimension_names\": [\"x\", \"y\"],\n   \
         \"dimension_ids\": [\"x\", \"y\"],\n   \"functions\": [],\n   \"latest_values\": [10, 12.34],\n   \
         \"view_latest_values\": [10, 12.34],\n   \"dimensions\": 2,\n   \"points\": 5,\n   \"format\": \"csv\",\n   \
         \"db_points_per_tier\": [ 10 ],\n   \"result\": \"time,x,y\\n1796657009,10,12.34\\n1796657008,9,11.106\\n\
         1796657007,8,9.872\\n1796657006,null,null\\n1796657005,null,null\\n\",\n \"min\": 8,\n \"max\": 12.34\n}\n"
    );
    // Google's dialect: bare keys, single quotes, and the names escaped for it.
    let r = get(
        &h,
        "chart=probe.evil_name&after=-1&options=jsonwrap|google_json&format=datatable&dimensions=*q*",
    );
    let b = body(&r);
    assert!(
        b.starts_with("{\n   api: 1,\n   id: 'chart://host:h1/instance:probe.evil_name/dimensions:|*q*/"),
        "{b}"
    );
    assert!(
        b.contains("   dimension_names: ['<b>|\\\"q\\\",\\t\\'&'],\n   dimension_ids: ['tag\\nid'],\n"),
        "{b}"
    );
    assert!(b.contains("{c:[{v:'Date(2026,11,7,15,23,29)'},{v:null},{v:null},{v:-1}]}"), "{b}");
    assert!(b.ends_with("\n]\n},\n min: -1,\n max: -1\n}\n"), "{b}");
}

/// Values of the slots T0+1 … T0+12 (3 1 4 1 | 5 −9 2 6 | 5 3 5 8) in 3 points of 4 slots.
fn grouped(group: &str) -> Vec<(i64, f64)> {
    let host = Arc::new(Host::new(HostInfo::default(), 100));
    let values = [100, 3, 1, 4, 1, 5, -9, 2, 6, 5, 3, 5, 8];
    let rows: Vec<_> = values.iter().map(|&v| vec![Some(v)]).collect();
    fill(&host, ChartDef::new("g.vals", 1), &[dim("v", None, Algorithm::Absolute, 1, 1)], &[0], &rows);
    let q = format!(
        "chart=g.vals&after={}&before={}&points=3&group={group}&format=csv&options=seconds",
        T0 + 1,
        T0 + 12
    );
    let b = body(&get_at(&host, &q, T0 + 100));
    b.lines()
        .skip(1)
        .map(|l| {
            let (t, v) = l.split_once(',').unwrap();
            (t.parse().unwrap(), v.parse().unwrap_or(f64::NAN))
        })
        .collect()
}

#[test]
fn groupings_match_hand_computed_values() {
    // Points at T0+4, T0+8, T0+12 (multiples of 4), newest first; each holds (t − 4, t].
    let at = |v: [f64; 3]| vec![(T0 + 12, v[2]), (T0 + 8, v[1]), (T0 + 4, v[0])];
    let close = |got: Vec<(i64, f64)>, want: Vec<(i64, f64)>, what: &str| {
        assert_eq!(got.len(), want.len(), "{what}: {got:?}");
        for ((gt, gv), (wt, wv)) in got.iter().zip(&want) {
            assert_eq!(gt, wt, "{what}");
            assert!((gv - wv).abs() < 1e-6 || (gv.is_nan() && wv.is_nan()), "{what}: {got:?} vs {want:?}");
        }
    };
    close(grouped("average"), at([9.0 / 4.0, 1.0, 21.0 / 4.0]), "average");
    close(grouped("mean"), at([9.0 / 4.0, 1.0, 21.0 / 4.0]), "mean");
    close(grouped("sum"), at([9.0, 4.0, 21.0]), "sum");
    // netdata's min and max compare magnitudes.
    close(grouped("min"), at([1.0, 2.0, 3.0]), "min");
    close(grouped("max"), at([4.0, -9.0, 8.0]), "max");
    close(grouped("median"), at([2.0, 3.5, 5.0]), "median");
    let sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    };
    assert!((sd(&[3.0, 1.0, 4.0, 1.0]) - 1.5).abs() < 1e-12);
    close(grouped("stddev"), at([1.5, sd(&[5.0, -9.0, 2.0, 6.0]), sd(&[5.0, 3.0, 5.0, 8.0])]), "stddev");
    close(grouped("incremental-sum"), at([-2.0, 1.0, 3.0]), "incremental-sum");
}

/// Empty slots are null, never 0; a point with some values averages only those; null2zero
/// asks for zeros.
#[test]
fn gaps_are_null_and_partly_empty_points_use_what_exists() {
    let h = store();
    let b = body(&get(&h, "chart=probe.gaps&after=-10&format=csv&options=seconds&dimensions=x"));
    assert_eq!(
        b,
        "time,x\r\n1796657009,10\r\n1796657008,9\r\n1796657007,8\r\n1796657006,null\r\n1796657005,null\r\n\
         1796657004,null\r\n1796657003,4\r\n1796657002,3\r\n1796657001,2\r\n1796657000,1\r\n"
    );
    // Points of 2 slots ending at even times, the newest at or before the newest slot:
    // (T0+2, T0+4] holds 4 and an empty slot.
    let b = body(&get(&h, "chart=probe.gaps&after=-10&points=5&format=csv&options=seconds&dimensions=x"));
    assert_eq!(
        b,
        "time,x\r\n1796657008,8.5\r\n1796657006,null\r\n1796657004,4\r\n1796657002,2.5\r\n1796657000,1\r\n"
    );
    let b = body(&get(
        &h,
        "chart=probe.gaps&after=-10&points=5&format=csv&options=seconds|null2zero&dimensions=x",
    ));
    assert!(b.contains("\r\n1796657006,0\r\n"), "{b}");
    // Before the first slot: null too.
    let b = body(&get(&h, "chart=probe.gaps&after=-12&format=ssv&dimensions=x"));
    assert_eq!(b, "10 9 8 null null null 4 3 2 1 null null");
}

/// Points end at multiples of their duration unless `unaligned`.
#[test]
fn points_align_to_their_duration_unless_unaligned() {
    let h = store();
    // 10 slots in 3 points of 3 (10 / 3 = 3.3 → 3), the newest at the multiple of 3 at or
    // before the newest slot T0+9 = 1796657009: 1796657007.
    let b = body(&get(&h, "chart=probe.const&after=-10&points=3&format=ssv&dimensions=a"));
    assert_eq!(b, "42 42 42");
    let b = body(&get(&h, "chart=probe.const&after=-10&points=3&format=csv&options=seconds&dimensions=a"));
    let times: Vec<&str> = b.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(times, ["1796657007", "1796657004", "1796657001"]);
    // Points of 4 slots end at multiples of 4: T0+8, not T0+9.
    let b = body(&get(&h, "chart=probe.const&after=-8&points=2&format=csv&options=seconds&dimensions=a"));
    let times: Vec<&str> = b.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(times, ["1796657008", "1796657004"]);
    let b = body(&get(
        &h,
        "chart=probe.const&after=-8&points=2&format=csv&options=seconds|unaligned&dimensions=a",
    ));
    let times: Vec<&str> = b.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(times, ["1796657009", "1796657005"]);
}

#[test]
fn options_change_what_is_shown() {
    let h = store();
    let q = |o: &str| body(&get(&h, &format!("chart=probe.const&after=-2&format=csv&options=seconds|{o}")));
    assert_eq!(q("flip"), "time,a,bee,c,n\r\n1796657008,42,123.4,50,-7\r\n1796657009,42,123.4,50,-7\r\n");
    assert_eq!(q("abs"), "time,a,bee,c,n\r\n1796657009,42,123.4,50,7\r\n1796657008,42,123.4,50,7\r\n");
    assert_eq!(q("ms").lines().nth(1), Some("1796657009000,42,123.4,50,-7"));
    // percentage of the row total 42 + 123.4 + 50 − 7 = 208.4.
    assert_eq!(
        q("percentage").lines().nth(1),
        Some("1796657009,20.1535509,59.2130518,23.9923225,-3.3589251")
    );
    assert_eq!(
        q("percentage|abs").lines().nth(1),
        Some("1796657009,18.8848921,55.4856115,22.4820144,3.147482")
    );
    let b = body(&get(&h, "chart=probe.const&after=-1&format=array&options=min2max"));
    assert_eq!(b, "[130.4]", "123.4 − (−7)");
    let b = body(&get(&h, "chart=probe.const&after=-1&format=json&options=objectrows|ms"));
    assert_eq!(
        b,
        "{\n \"labels\": [\"time\",\"a\",\"bee\",\"c\",\"n\"],\n    \"data\":\n [\n \
         { \"time\": 1796657009000,\"a\": 42,\"bee\": 123.4,\"c\": 50,\"n\": -7}\n]\n}"
    );
    // nonzero hides a dimension that is zero everywhere, unless asked for by name.
    let host = Arc::new(Host::new(HostInfo::default(), 100));
    let dims = [dim("z", None, Algorithm::Absolute, 1, 1), dim("one", None, Algorithm::Absolute, 1, 1)];
    fill(&host, ChartDef::new("t.nz", 1), &dims, &[0, 1], &vec![vec![Some(0), Some(1)]; 10]);
    let b = body(&get(&host, "chart=t.nz&after=-1&format=csv&options=seconds|nonzero"));
    assert_eq!(b, "time,one\r\n1796657009,1\r\n");
    let b = body(&get(&host, "chart=t.nz&after=-1&format=csv&options=seconds|nonzero&dimensions=z"));
    assert_eq!(b, "time,z\r\n1796657009,0\r\n");
    // When no dimension has a value other than zero, nonzero shows them all, as netdata does
    // (the dashboard's first query of a new chart, all null, keeps the chart's dimensions).
    let host = Arc::new(Host::new(HostInfo::default(), 100));
    fill(&host, ChartDef::new("t.nz", 1), &dims, &[0, 1], &vec![vec![Some(0), Some(0)]; 10]);
    let b = body(&get(&host, "chart=t.nz&after=-1&format=csv&options=seconds|nonzero"));
    assert_eq!(b, "time,z,one\r\n1796657009,0,0\r\n");
}

/// `dimensions` as netdata reads it: ids or names, `|` or `,` between, several parameters
/// joined, `!` and `*`, and `match-ids`/`match-names` to restrict.
#[test]
fn dimensions_select_by_id_or_name() {
    let h = store();
    let labels = |q: &str| {
        let b = body(&get(&h, &format!("chart=probe.const&after=-1&format=csv&options=seconds&{q}")));
        b.lines().next().unwrap().to_string()
    };
    assert_eq!(labels("dimensions=bee|a"), "time,a,bee", "chart order, not request order");
    assert_eq!(labels("dimension=b&dims=n"), "time,bee,n");
    assert_eq!(labels("dimensions=!c,*"), "time,a,bee,n");
    assert_eq!(get(&h, "chart=probe.const&dimensions=b&options=match-names").status, 404);
    assert_eq!(get(&h, "chart=probe.const&dimensions=bee&options=match-ids").status, 404);
    assert_eq!(labels("dimensions=b&options=match-ids"), "time,bee");
    let b = body(&get(
        &h,
        "chart=probe.evil&after=-1&format=csv&options=seconds&dimensions=semi;colon\\,comma|we\"ird id",
    ));
    assert_eq!(b, "time,name with spaces,\"semi;colon,comma\"\r\n1796657009,5,0\r\n");
}

#[test]
fn unknown_charts_are_404_and_bad_parameters_400_naming_them() {
    let h = store();
    let r = get(&h, "chart=nope");
    assert_eq!((r.status, body_text(&r)), (404, "Chart is not found: nope\n".into()));
    let r = get(&h, "chart=probe.evil_name&after=-1");
    assert_eq!(r.status, 200, "by name");
    for (q, why) in [
        ("after=-1", "No chart or context is given: add chart=ID\n"),
        ("chart=probe.const&after=soon", "parameter 'after' must be an integer, not 'soon'\n"),
        ("chart=probe.const&points=-3", "parameter 'points' must be 0 (every point) or more, not -3\n"),
        ("chart=probe.const&gtime=-1", "parameter 'gtime' must be 0 to 1099511627776 seconds, not -1\n"),
        ("chart=probe.const&format=xml", "parameter 'format' does not know 'xml'; use json, jsonp, datatable, datasource, csv, tsv, ssv, ssvcomma, array, csvjsonarray, html or markdown\n"),
        ("chart=probe.const&group=percentile95", "parameter 'group' does not support 'percentile95'; use average, min, max, sum, median, stddev or incremental-sum\n"),
        ("chart=probe.const&group=avg", "parameter 'group' does not know 'avg'; use average, min, max, sum, median, stddev or incremental-sum\n"),
        ("chart=probe.const&options=jsonwrap|raw", "parameter 'options': 'raw' is not supported here\n"),
    ] {
        let r = get(&h, q);
        assert_eq!((r.status, body_text(&r)), (400, why.to_string()), "{q}");
    }
    let r = get(&h, "chart=probe.const&options=jsonwap");
    assert_eq!(r.status, 400);
    assert!(body_text(&r).starts_with("parameter 'options' does not know 'jsonwap'; use jsonwrap"));
}

fn body_text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `after`/`before` in netdata's rules: relative to now − 1 s, `before=0` at the newest slot,
/// absolute times as given, and a window in the future moved back to now.
#[test]
fn relative_and_absolute_windows() {
    let h = store();
    let times = |q: &str, now: i64| {
        let b =
            body(&get_at(&h, &format!("chart=probe.const&format=csv&options=seconds&dimensions=a&{q}"), now));
        b.lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().0.parse::<i64>().unwrap() - T0)
            .collect::<Vec<_>>()
    };
    assert_eq!(times("after=-3", NOW), [9, 8, 7]);
    assert_eq!(times("after=-3&before=-2", NOW), [7, 6, 5]);
    assert_eq!(times(&format!("after={}&before={}", T0 + 2, T0 + 4), NOW), [4, 3, 2]);
    // Long after the newest slot: before=0 still ends at it; relative windows hold nulls.
    assert_eq!(times("after=-3", NOW + 100), [9, 8, 7]);
    let b = body(&get_at(&h, "chart=probe.const&after=-3&before=-1&format=ssv&dimensions=a", NOW + 100));
    assert_eq!(b, "null null null");
}

/// A counting allocator for this test binary, per thread: proves that an answer's cost in
/// allocations does not grow with its points.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        pub static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: forwards to the system allocator; counting touches only a thread-local Cell.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    pub fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = ALLOCATIONS.with(Cell::get);
        let r = f();
        (r, ALLOCATIONS.with(Cell::get) - before)
    }
}

/// A 3600-slot chart of 8 dimensions answers every point in microseconds, with as many
/// allocations for 3600 points as for 36.
#[test]
fn a_long_answer_costs_microseconds_per_point_and_no_allocation_per_point() {
    let host = Arc::new(Host::new(HostInfo::default(), 3600));
    let dims: Vec<_> = (0..8).map(|i| dim(&format!("d{i}"), None, Algorithm::Absolute, 1, 1)).collect();
    let (chart, _) = host.define_chart(&ChartDef::new("big.chart", 1));
    for d in &dims {
        chart.add_dimension(d);
    }
    let start = T0 - 3600;
    for t in start..T0 {
        let values: Vec<(usize, i64)> = (0..8).map(|i| (i, t % 1000 + i as i64)).collect();
        chart.collect(&values, t as u64 * S).unwrap();
    }
    for format in ["json", "csv", "datatable"] {
        let q = |points: usize| {
            format!("chart=big.chart&after=-3600&points={points}&format={format}&options=jsonwrap")
        };
        let (small, n_small) = counting::count(|| get_at(&host, &q(36), T0));
        let (large, n_large) = counting::count(|| get_at(&host, &q(0), T0));
        assert_eq!((small.status, large.status), (200, 200));
        assert!(large.body.len() > 3599 * 20, "{format}: {} bytes", large.body.len());
        assert!(n_large <= n_small + 16, "{format}: {n_small} allocations for 36 points, {n_large} for 3599");
        let started = std::time::Instant::now();
        for _ in 0..10 {
            assert_eq!(get_at(&host, &q(0), T0).status, 200);
        }
        let per_point = started.elapsed() / (10 * 3599);
        eprintln!(
            "{format}: {per_point:?} per point of 8 dimensions, {} bytes, {n_large} allocations",
            large.body.len()
        );
        // A few hundred nanoseconds here; 20 µs leaves room for a loaded machine.
        assert!(per_point < std::time::Duration::from_micros(20), "{format}: {per_point:?} per point");
    }
}

proptest::proptest! {
    /// Whatever the numbers, an answer comes (never a panic), with at most as many points as
    /// the chart keeps slots.
    #[test]
    fn any_window_parameters_answer_within_bounds(
        after in proptest::prop_oneof![-700i64..700, proptest::num::i64::ANY],
        before in proptest::prop_oneof![-700i64..700, proptest::num::i64::ANY],
        points in proptest::prop_oneof![0i64..100, proptest::num::i64::ANY],
        gtime in proptest::prop_oneof![0i64..100, proptest::num::i64::ANY],
        format in proptest::sample::select(vec!["json", "csv", "array", "datatable"]),
    ) {
        let h = small_store();
        let q = format!("chart=probe.gaps&after={after}&before={before}&points={points}&gtime={gtime}&format={format}&options=jsonwrap");
        let r = get(&h, &q);
        if r.status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            proptest::prop_assert!(v["points"].as_u64().unwrap() <= 100, "{}", v["points"]);
        } else {
            proptest::prop_assert_eq!(r.status, 400);
        }
    }
}

/// [`store`] with 100 slots per dimension.
fn small_store() -> Arc<Host> {
    let host = Arc::new(Host::new(HostInfo { hostname: "h1".into(), ..HostInfo::default() }, 100));
    let dims = [dim("x", None, Algorithm::Absolute, 1, 1), dim("y", None, Algorithm::Absolute, 1, 1000)];
    let rows: Vec<_> = (1..=10i64)
        .map(|x| if (5..=7).contains(&x) { vec![None, None] } else { vec![Some(x), Some(x * 1234)] })
        .collect();
    fill(&host, ChartDef::new("probe.gaps", 1), &dims, &[0, 0], &rows);
    host
}
