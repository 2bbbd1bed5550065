//! Tests of the test harness itself (`tests/support`): each real server starts,
//! stores exactly what it is sent, and reports malformed input in the counter
//! that later lossless tests read as their "0 malformed lines" measurement.

pub mod support;

use std::collections::BTreeMap;

use support::carbon::Carbon;
use support::http::{http_post, urlencode};
use support::ports::send_tcp;
use support::prometheus::Prometheus;
use support::series::{normalize_series_key, parse_prometheus_text, point_count, Series};
use support::tls::self_signed_cert;
use support::victoria::*;
use support::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// --- VictoriaMetrics -------------------------------------------------------

#[test]
fn vm_graphite_line_reads_back_exactly() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let ts = now_secs() - 60;
    send_tcp(vm.graphite_addr(), format!("a.b.c 42 {ts}\n").as_bytes());
    let got = vm.export_wait("a.b.c", 1);
    assert_eq!(
        got,
        vec![Series {
            labels: labels(&[("__name__", "a.b.c")]),
            values: vec![42.0],
            timestamps: vec![ts * 1000],
        }]
    );
}

#[test]
fn vm_opentsdb_telnet_put_reads_back_exactly() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let ts = now_secs() - 60;
    send_tcp(vm.opentsdb_addr(), format!("put sys.cpu.user {ts} 7.25 host=h1 cpu=0\n").as_bytes());
    let got = vm.export_wait("sys.cpu.user", 1);
    assert_eq!(
        got,
        vec![Series {
            labels: labels(&[("__name__", "sys.cpu.user"), ("host", "h1"), ("cpu", "0")]),
            values: vec![7.25],
            timestamps: vec![ts * 1000],
        }]
    );
}

#[test]
fn vm_opentsdb_http_put_reads_back_exactly() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let ts = now_secs() - 60;
    let body = format!(
        r#"[{{"metric":"net.bytes","timestamp":{ts},"value":-1.5,"tags":{{"host":"h2","dev":"eth0"}}}},
            {{"metric":"net.bytes","timestamp":{},"value":3,"tags":{{"host":"h2","dev":"eth0"}}}}]"#,
        ts + 1
    );
    let r = http_post(
        vm.opentsdb_http_addr(),
        "/api/put",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let got = vm.export_wait("net.bytes", 2);
    assert_eq!(
        got,
        vec![Series {
            labels: labels(&[("__name__", "net.bytes"), ("host", "h2"), ("dev", "eth0")]),
            values: vec![-1.5, 3.0],
            timestamps: vec![ts * 1000, (ts + 1) * 1000],
        }]
    );
    assert_eq!(vm.metric(VM_OPENTSDB_HTTP_INSERTED), 2.0);
}

#[test]
fn vm_malformed_graphite_line_bumps_invalid_counter_by_exactly_one() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    assert_eq!(vm.metric(VM_GRAPHITE_INVALID), 0.0);
    assert_eq!(vm.metric(VM_GRAPHITE_INSERTED), 0.0);
    let ts = now_secs() - 60;
    // The good line after the bad one tells when the bad one was processed:
    // a connection's lines are parsed in order.
    send_tcp(vm.graphite_addr(), format!("this is not graphite\ngood.line 1 {ts}\n").as_bytes());
    assert_eq!(vm.wait_metric(VM_GRAPHITE_INSERTED, 1.0), 1.0);
    assert_eq!(vm.metric(VM_GRAPHITE_INVALID), 1.0);
    assert_eq!(point_count(&vm.export("good.line")), 1);
}

#[test]
fn vm_malformed_opentsdb_lines_bump_their_invalid_counters_by_exactly_one() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let ts = now_secs() - 60;
    send_tcp(
        vm.opentsdb_addr(),
        format!("put bad.value {ts} notanumber host=a\nput good.value {ts} 1 host=a\n").as_bytes(),
    );
    assert_eq!(vm.wait_metric(VM_OPENTSDB_INSERTED, 1.0), 1.0);
    assert_eq!(vm.metric(VM_OPENTSDB_INVALID), 1.0);

    // An object without a metric name inside an otherwise valid body.
    let body = format!(
        r#"[{{"metric":"","timestamp":{ts},"value":1,"tags":{{"host":"a"}}}},
            {{"metric":"ok.http","timestamp":{ts},"value":2,"tags":{{"host":"a"}}}}]"#
    );
    let r = http_post(vm.opentsdb_http_addr(), "/api/put", &[], body.as_bytes());
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(vm.wait_metric(VM_OPENTSDB_HTTP_INSERTED, 1.0), 1.0);
    assert_eq!(vm.metric(VM_OPENTSDB_HTTP_INVALID), 1.0);

    // A body that is not JSON at all is refused as a whole.
    let r = http_post(vm.opentsdb_http_addr(), "/api/put", &[], b"garbage");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(vm.wait_metric(VM_OPENTSDB_HTTP_UNPARSABLE, 1.0), 1.0);
    assert_eq!(vm.metric(VM_OPENTSDB_HTTP_INVALID), 1.0);
}

#[test]
fn vm_query_sees_a_fresh_point() {
    // -search.latencyOffset=0s: a point from this second is not hidden.
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let ts = now_secs();
    send_tcp(vm.graphite_addr(), format!("fresh.point 5 {ts}\n").as_bytes());
    vm.export_wait("fresh.point", 1);
    let mut data = serde_json::Value::Null;
    // A brand-new series reaches the per-day index searched by queries a
    // moment after it reaches export.
    wait_until(deadline_in(10), || {
        data = vm.query("fresh.point", ts as f64);
        data["result"].as_array().is_some_and(|r| !r.is_empty())
    });
    assert_eq!(
        data,
        serde_json::json!({
            "resultType": "vector",
            "result": [{"metric": {"__name__": "fresh.point"}, "value": [ts, "5"]}]
        })
    );
}

#[test]
fn dropping_a_server_kills_it_and_removes_its_dir() {
    let Some(vm) = VictoriaMetrics::start() else {
        return;
    };
    let pid = vm.server().pid();
    let dir = vm.server().dir().to_path_buf();
    let http = vm.http_addr();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(vm);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still exists (not even a zombie may remain)"
    );
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(std::net::TcpStream::connect(http).is_err());
}

// --- carbon-cache -----------------------------------------------------------

#[test]
fn carbon_line_reads_back_exactly() {
    let Some(carbon) = Carbon::start() else {
        return;
    };
    let ts = now_secs() - 60;
    send_tcp(carbon.line_addr(), format!("a.b.c 42 {ts}\n").as_bytes());
    assert_eq!(carbon.fetch("a.b.c", ts - 1, ts + 1), vec![(ts - 1, None), (ts, Some(42.0)), (ts + 1, None)]);
    assert_eq!(carbon.metric_paths(), vec!["a.b.c".to_string()]);
    assert_eq!(carbon.invalid_lines(), 0);
}

#[test]
fn carbon_keeps_one_value_per_second_and_logs_invalid_lines() {
    let Some(carbon) = Carbon::start() else {
        return;
    };
    let ts = now_secs() - 60;
    send_tcp(
        carbon.line_addr(),
        format!("not a valid carbon line\nx.y 1.5 {ts}\nx.y 2.5 {}\nx.y 0.1 {}\n", ts + 1, ts + 3).as_bytes(),
    );
    assert_eq!(carbon.values_wait("x.y", ts, ts + 3, 3), vec![(ts, 1.5), (ts + 1, 2.5), (ts + 3, 0.1)]);
    assert_eq!(carbon.invalid_lines(), 1);
}

// --- Prometheus -------------------------------------------------------------

#[test]
fn prometheus_is_ready_and_empty() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let r = prom.get("/-/ready");
    assert_eq!(r.status, 200, "{}", r.text());
    let data = prom.query("up", now_secs() as f64);
    assert_eq!(data, serde_json::json!({"resultType": "vector", "result": []}));
    assert_eq!(prom.series(r#"{__name__=~".+"}"#), Vec::new());
    assert_eq!(prom.samples(r#"{__name__=~".+"}"#), Vec::new());
    // The remote-write receiver is on: an empty body is not snappy data (400),
    // where a disabled receiver would answer 404.
    let w = http_post(prom.addr(), "/api/v1/write", &[], b"");
    assert_eq!(w.status, 400, "{}", w.text());
}

#[test]
fn prometheus_serves_tls_with_a_self_signed_cert() {
    let certs = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed_cert(certs.path()) else {
        return;
    };
    let Some(prom) = Prometheus::start_tls(&cert, &key) else {
        return;
    };
    assert!(prom.write_url().starts_with("https://127.0.0.1:"));
    let r = prom.get("/-/ready");
    assert_eq!(r.status, 200, "{}", r.text());
    // Plain HTTP to the TLS port is refused by Go's server with a 400.
    let plain = http_get(prom.addr(), "/-/ready");
    assert_eq!(plain.status, 400, "{}", plain.text());
}

// --- helpers ----------------------------------------------------------------

#[test]
fn which_finds_sh_and_not_a_made_up_name() {
    assert!(which("sh").is_some());
    assert_eq!(which("no-such-binary-for-rrdpipe-tests"), None);
}

#[test]
fn urlencode_escapes_selector_characters() {
    assert_eq!(urlencode(r#"{__name__=~"a.*"}"#), "%7B__name__%3D~%22a.%2A%22%7D");
    assert_eq!(urlencode("a.b-c_d~"), "a.b-c_d~");
}

#[test]
fn normalize_series_key_ignores_spaces_outside_quotes_only() {
    assert_eq!(normalize_series_key(r#"m{a="x y", b="z"}"#), r#"m{a="x y",b="z"}"#);
    assert_eq!(normalize_series_key(r#"m{a="q\" ,", b="z"}"#), r#"m{a="q\" ,",b="z"}"#);
}

#[test]
fn parse_prometheus_text_reads_values_and_skips_comments() {
    let text = "# HELP m help\n# TYPE m counter\nm{a=\"1\", b=\"2\"} 3\nn 4.5\nnan_metric NaN\n";
    let parsed = parse_prometheus_text(text);
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[r#"m{a="1",b="2"}"#], 3.0);
    assert_eq!(parsed["n"], 4.5);
    assert!(parsed["nan_metric"].is_nan());
}

#[test]
fn http_client_reads_chunked_responses() {
    // A one-shot server answering with a chunked body.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut request = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            request.push(line);
        }
        s.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Test: yes\r\n\r\n\
              5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
        )
        .unwrap();
        request
    });
    let r = http_get(addr, "/x?y=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello, world");
    assert_eq!(r.header("x-test"), Some("yes"));
    let request = server.join().unwrap();
    assert_eq!(request[0], "GET /x?y=1 HTTP/1.1\r\n");
}
