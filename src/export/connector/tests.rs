//! Golden-byte and property tests for every connector's format.

use super::remote_write::{self, Label, RemoteWriteBuilder};
use super::{graphite, json, opentsdb};
use crate::export::format::template;
use crate::export::format::*;
use crate::rrd::chart::is_plain;
use proptest::prelude::*;
use prost::Message;

const TS: i64 = 1_700_000_000;

fn cpu(value: Value) -> Metric<'static> {
    Metric {
        prefix: "netdata",
        hostname: "myhost",
        chart_id: "system.cpu",
        chart_name: "system.cpu",
        family: "cpu",
        context: "system.cpu",
        chart_type: "system",
        units: "percentage",
        dim_id: "user",
        dim_name: "user",
        use_names: false,
        value,
        timestamp: TS,
        labels: &[],
    }
}

/// A metric whose names hold every character that can break a line: separators, quotes, controls.
fn evil(value: Value) -> Metric<'static> {
    Metric {
        prefix: "net data",
        hostname: "my host;x=1",
        chart_id: "evil chart;x=y",
        chart_name: "evil \"name\"",
        family: "fa/mily",
        context: "ctx\tt",
        chart_type: "ty\\pe",
        units: "°C",
        dim_id: "a\nb \"q\"",
        dim_name: "dim,name=é",
        ..cpu(value)
    }
}

type Writer = fn(&mut Vec<u8>, &Metric) -> bool;

fn line(write: Writer, m: &Metric) -> String {
    let mut out = Vec::new();
    assert!(write(&mut out, m));
    String::from_utf8(out).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---- graphite ----

#[test]
fn graphite_golden() {
    let g = graphite::write_line;
    assert_eq!(
        line(g, &cpu(Value::Computed(12.5))),
        "netdata.myhost.system.cpu.user 12.5000000 1700000000\n"
    );
    assert_eq!(line(g, &cpu(Value::Collected(1234))), "netdata.myhost.system.cpu.user 1234 1700000000\n");
    assert_eq!(line(g, &cpu(Value::Collected(-7))), "netdata.myhost.system.cpu.user -7 1700000000\n");
}

#[test]
fn graphite_uses_names_when_asked() {
    let m = Metric {
        chart_name: "cpu_total",
        dim_name: "User Time",
        use_names: true,
        ..cpu(Value::Computed(1.0))
    };
    assert_eq!(line(graphite::write_line, &m), "netdata.myhost.cpu_total.User_Time 1.0000000 1700000000\n");
    let unnamed = Metric { dim_name: "", ..m };
    assert_eq!(line(graphite::write_line, &unnamed), "netdata.myhost.cpu_total.user 1.0000000 1700000000\n");
}

#[test]
fn graphite_sanitizes_evil_names() {
    assert_eq!(
        line(graphite::write_line, &evil(Value::Computed(-0.5))),
        "net_data.my_host_x_1.evil_chart_x_y.a_b__q_ -0.5000000 1700000000\n"
    );
    let named = Metric { use_names: true, ..evil(Value::Collected(3)) };
    assert_eq!(
        line(graphite::write_line, &named),
        "net_data.my_host_x_1.evil__name_.dim_name__ 3 1700000000\n"
    );
}

/// A hostname with dots was three path levels: `evil.system.load` made its own `system.load`
/// chart pass for one named `netdata.evil.system.load.system.load.load1`.
#[test]
fn graphite_hostname_with_dots_stays_one_path_level() {
    let m = Metric {
        hostname: "evil.system.load",
        chart_id: "system.load",
        chart_name: "system.load",
        dim_id: "load1",
        dim_name: "load1",
        ..cpu(Value::Collected(420))
    };
    let want = "netdata.evil_system_load.system.load.load1 420 1700000000\n";
    assert_eq!(line(graphite::write_line, &m), want);
    let mut out = Vec::new();
    assert!(graphite::template(&m).write(&mut out, "load1", "load1", Value::Collected(420)));
    assert_eq!(String::from_utf8(out).unwrap(), want);
    // A tag value is no path: OpenTSDB and JSON keep the hostname's dots.
    assert_eq!(
        line(opentsdb::write_line, &m),
        "put netdata.system.load.load1 1700000000 420 host=evil.system.load\n"
    );
    assert!(line(json::write_line, &m).contains(r#""hostname":"evil.system.load","#));
}

#[test]
fn graphite_labels_become_tags() {
    let l = labels(&[
        ("env", "prod"),
        ("dc", "eu 1;x"),
        ("name", "forged"),
        ("e.nv", "dup"),
        ("env", "again"),
        ("", "v"),
        ("k", ""),
    ]);
    let m = Metric { labels: &l, ..cpu(Value::Computed(12.5)) };
    assert_eq!(
        line(graphite::write_line, &m),
        "netdata.myhost.system.cpu.user;env=prod;dc=eu_1_x;exported_name=forged;e.nv=dup 12.5000000 1700000000\n"
    );
}

/// Labels as a hostile plugin sends them (quotes, newlines, `;`, `=`, names the formats
/// reserve, a 10 KB value), after the store cleaned them: every format's line stays one valid
/// line, reserved names are renamed, never overwrite.
fn hostile_labels() -> Vec<(String, String)> {
    let mut l = crate::rrd::Labels::new();
    for (k, v) in [
        ("q\"uote", "say \"hi\""),
        ("new\nline", "a\nb\r\n"),
        ("semi;colon", "x;y=z"),
        ("chart", "forged"),
        ("instance", "i"),
        ("host", "h"),
        ("name", "n"),
        ("__name__", "m"),
    ] {
        l.add(k, v, crate::rrd::labels::source::CONFIG);
    }
    l.add("big", &"v".repeat(10 * 1024), crate::rrd::labels::source::CONFIG);
    let mut sent = Vec::new();
    l.sent_into(crate::rrd::LabelFilter { configured: true, automatic: false }, &mut sent);
    sent
}

#[test]
fn hostile_labels_keep_graphite_opentsdb_and_json_lines_valid() {
    let l = hostile_labels();
    let big = "v".repeat(crate::rrd::labels::VALUE_MAX);
    let m = Metric { labels: &l, ..cpu(Value::Computed(12.5)) };
    assert_eq!(
        line(graphite::write_line, &m),
        format!(
            "netdata.myhost.system.cpu.user;q_uote=say__hi_;new_line=a_b;semi_colon=x_y_z;chart=forged;instance=i;\
             host=h;exported_name=n;__name__=m;big={big} 12.5000000 1700000000\n"
        )
    );
    assert_eq!(
        line(opentsdb::write_line, &m),
        format!(
            "put netdata.system.cpu.user 1700000000 12.5000000 host=myhost q_uote=say__hi_ new_line=a_b semi_colon=x_y_z \
             chart=forged instance=i exported_host=h name=n __name__=m big={big}\n"
        )
    );
    assert_eq!(
        line(opentsdb::write_http_object, &m),
        format!(
            r#"{{"metric":"netdata.system.cpu.user","timestamp":1700000000,"value":12.5000000,"tags":{{"host":"myhost","q_uote":"say__hi_","new_line":"a_b","semi_colon":"x_y_z","chart":"forged","instance":"i","exported_host":"h","name":"n","__name__":"m","big":"{big}"}}}}"#
        )
    );
    assert_eq!(
        line(json::write_line, &m),
        CPU_JSON.replace(
            r#""hostname":"myhost","#,
            &format!(
                r#""hostname":"myhost","labels":{{"q_uote":"say _hi_","new_line":"a_b","semi_colon":"x:y:z","chart":"forged","instance":"i","host":"h","name":"n","__name__":"m","big":"{big}"}},"#
            )
        )
    );
}

#[test]
fn hostile_labels_keep_remote_write_series_valid_and_renamed() {
    let l = hostile_labels();
    let big = "v".repeat(crate::rrd::labels::VALUE_MAX);
    let mut rw = RemoteWriteBuilder::new(DataSource::Average);
    assert!(rw.push(&Metric { labels: &l, ..cpu(Value::Computed(12.5)) }));
    let req = remote_write::decode(&rw.finish());
    assert_eq!(
        label_pairs(&req.timeseries[0].labels),
        [
            ("__name__", "netdata_system_cpu_percentage_average"),
            ("big", big.as_str()),
            ("chart", "system.cpu"),
            ("dimension", "user"),
            ("exported___name__", "m"),
            ("exported_chart", "forged"),
            ("exported_instance", "i"),
            ("family", "cpu"),
            ("host", "h"),
            ("instance", "myhost"),
            ("name", "n"),
            ("new_line", "a_b"),
            ("q_uote", "say _hi_"),
            ("semi_colon", "x:y:z"),
        ]
    );
}

/// 10 000 labels of 10 KB each, to a chart and to its host: the caps bound every line.
#[test]
fn a_flood_of_labels_stays_within_the_caps_in_every_format() {
    use crate::rrd::labels::{source, MAX_BYTES};
    let mut chart = crate::rrd::Labels::new();
    let mut host = crate::rrd::Labels::new();
    let big = "x;\n\"=".repeat(2 * 1024);
    for i in 0..10_000 {
        chart.add(&format!("c{i}"), &big, source::CONFIG);
        host.add(&format!("h{i}"), &big, source::CONFIG);
    }
    let mut l = Vec::new();
    let all = crate::rrd::LabelFilter { configured: true, automatic: false };
    chart.sent_into(all, &mut l);
    host.sent_into(all, &mut l);
    let m = Metric { labels: &l, ..cpu(Value::Computed(1.0)) };
    for write in [graphite::write_line, opentsdb::write_line, json::write_line] as [Writer; 3] {
        let text = line(write, &m);
        assert_eq!(text.matches('\n').count(), 1, "one line");
        assert!(text.ends_with('\n'));
        // Every byte of a label at most twice (JSON escapes), each label's punctuation once more.
        assert!(text.len() < 2 * (2 * MAX_BYTES) + 20 * l.len() + 300, "{} bytes", text.len());
    }
    let mut rw = RemoteWriteBuilder::new(DataSource::Average);
    assert!(rw.push(&m));
    assert!(rw.encoded_len() < 2 * MAX_BYTES + 10 * l.len() + 300, "{} bytes", rw.encoded_len());
}

// ---- opentsdb ----

#[test]
fn opentsdb_golden() {
    let o = opentsdb::write_line;
    assert_eq!(
        line(o, &cpu(Value::Computed(12.5))),
        "put netdata.system.cpu.user 1700000000 12.5000000 host=myhost\n"
    );
    assert_eq!(
        line(o, &cpu(Value::Collected(1234))),
        "put netdata.system.cpu.user 1700000000 1234 host=myhost\n"
    );
}

#[test]
fn opentsdb_sanitizes_evil_names() {
    assert_eq!(
        line(opentsdb::write_line, &evil(Value::Computed(0.0000001))),
        "put net_data.evil_chart_x_y.a_b__q_ 1700000000 0.0000001 host=my_host_x_1\n"
    );
}

#[test]
fn opentsdb_labels_become_tags_renaming_host_and_never_repeating() {
    let l =
        labels(&[("env", "prod"), ("host", "forged"), ("a b", "1"), ("a_b", "2"), ("dc", "eu=1"), ("k", "")]);
    let m = Metric { labels: &l, ..cpu(Value::Collected(5)) };
    assert_eq!(
        line(opentsdb::write_line, &m),
        "put netdata.system.cpu.user 1700000000 5 host=myhost env=prod exported_host=forged a_b=1 dc=eu_1\n"
    );
}

// ---- json ----

const CPU_JSON: &str = concat!(
    r#"{"prefix":"netdata","hostname":"myhost","chart_id":"system.cpu","chart_name":"system.cpu","#,
    r#""chart_family":"cpu","chart_context": "system.cpu","chart_type":"system","units": "percentage","#,
    r#""id":"user","name":"user","value":12.5000000,"timestamp": 1700000000}"#,
    "\n"
);

#[test]
fn json_golden() {
    assert_eq!(line(json::write_line, &cpu(Value::Computed(12.5))), CPU_JSON);
    assert_eq!(line(json::write_line, &cpu(Value::Collected(1234))), CPU_JSON.replace("12.5000000", "1234"));
}

#[test]
fn json_labels_follow_the_hostname() {
    let l = labels(&[("env", "prod"), ("dc", "eu \"1\""), ("env", "again")]);
    let m = Metric { labels: &l, ..cpu(Value::Computed(12.5)) };
    let expected = CPU_JSON.replace(
        r#""hostname":"myhost","#,
        r#""hostname":"myhost","labels":{"env":"prod","dc":"eu \"1\""},"#,
    );
    assert_eq!(line(json::write_line, &m), expected);
}

#[test]
fn json_escapes_evil_names() {
    assert_eq!(
        line(json::write_line, &evil(Value::Computed(-1e-9))),
        concat!(
            r#"{"prefix":"net data","hostname":"my host;x=1","chart_id":"evil chart;x=y","chart_name":"evil \"name\"","#,
            r#""chart_family":"fa/mily","chart_context": "ctx\tt","chart_type":"ty\\pe","units": "°C","#,
            r#""id":"a\nb \"q\"","name":"dim,name=é","value":-0.0000000,"timestamp": 1700000000}"#,
            "\n"
        )
    );
}

// ---- NaN / Inf ----

#[test]
fn non_finite_values_write_nothing() {
    let writers: [Writer; 4] =
        [graphite::write_line, opentsdb::write_line, json::write_line, opentsdb::write_http_object];
    for write in writers {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut out = b"kept\n".to_vec();
            assert!(!write(&mut out, &cpu(Value::Computed(v))));
            assert_eq!(out, b"kept\n");
        }
    }
    let mut body = json::http_body();
    assert!(!body.push(&cpu(Value::Computed(f64::NAN))));
    assert!(body.is_empty());
    assert_eq!(body.finish(), b"[]");
    let mut rw = RemoteWriteBuilder::new(DataSource::Average);
    assert!(!rw.push(&cpu(Value::Computed(f64::INFINITY))));
    assert!(rw.is_empty());
}

// ---- http bodies ----

const CPU_TSDB: &str = r#"{"metric":"netdata.system.cpu.user","timestamp":1700000000,"value":12.5000000,"tags":{"host":"myhost"}}"#;

#[test]
fn opentsdb_http_body_golden() {
    let mut body = opentsdb::http_body();
    assert_eq!(body.len(), 2);
    assert!(body.push(&cpu(Value::Computed(12.5))));
    let l = labels(&[("env", "prod"), ("host", "forged"), ("d\"c", "eu 1")]);
    let m = Metric { labels: &l, dim_id: "sys tem", ..cpu(Value::Collected(42)) };
    assert!(body.push(&m));
    assert!(!body.push(&cpu(Value::Computed(f64::NAN))));
    let second = r#"{"metric":"netdata.system.cpu.sys_tem","timestamp":1700000000,"value":42,"tags":{"host":"myhost","env":"prod","exported_host":"forged","d_c":"eu_1"}}"#;
    let expected = format!("[{CPU_TSDB},{second}]");
    assert_eq!(body.count(), 2);
    assert_eq!(body.len(), expected.len());
    assert_eq!(String::from_utf8(body.finish()).unwrap(), expected);
    assert!(body.is_empty());
    assert_eq!(body.finish(), b"[]");
}

#[test]
fn json_http_body_golden() {
    let mut body = json::http_body();
    assert!(body.push(&cpu(Value::Computed(12.5))));
    assert!(body.push(&cpu(Value::Collected(1))));
    let object = CPU_JSON.trim_end();
    let expected = format!("[{object},{}]", object.replace("12.5000000", "1"));
    assert_eq!(String::from_utf8(body.finish()).unwrap(), expected);
}

#[test]
fn push_within_cuts_batches_under_the_limit() {
    let m = cpu(Value::Computed(12.5));
    let one = CPU_TSDB.len() + 2; // [obj]
    let two = one + CPU_TSDB.len() + 1; // [obj,obj]
    let mut body = opentsdb::http_body();
    // An empty body takes an object even over the limit: it cannot be split.
    assert_eq!(body.push_within(&m, 10), Push::Added);
    assert_eq!(body.len(), one);
    assert_eq!(body.push_within(&m, two - 1), Push::Full);
    assert_eq!(body.len(), one);
    assert_eq!(body.push_within(&m, two), Push::Added);
    assert_eq!(body.len(), two);
    assert_eq!(body.push_within(&cpu(Value::Computed(f64::NAN)), usize::MAX), Push::NotFinite);
    assert_eq!(body.finish(), format!("[{CPU_TSDB},{CPU_TSDB}]").into_bytes());
}

// ---- remote write ----

fn label_pairs(labels: &[Label]) -> Vec<(&str, &str)> {
    labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect()
}

#[test]
fn remote_write_metric_names() {
    let name = remote_write::metric_name;
    assert_eq!(name("netdata", "system.cpu", "percentage", DataSource::AsCollected), "netdata_system_cpu");
    assert_eq!(
        name("netdata", "system.cpu", "percentage", DataSource::Average),
        "netdata_system_cpu_percentage_average"
    );
    assert_eq!(name("netdata", "system.cpu", "percentage", DataSource::Sum), "netdata_system_cpu_sum");
    assert_eq!(
        name("netdata", "net.net", "KiB/s", DataSource::Average),
        "netdata_net_net_KiB_persec_average"
    );
    assert_eq!(
        name("netdata", "disk.ops", "operations/s", DataSource::Average),
        "netdata_disk_ops_operations_persec_average"
    );
    assert_eq!(name("netdata", "x.y", "%", DataSource::Average), "netdata_x_y_percent_average");
    assert_eq!(name("netdata", "x.y", "/s", DataSource::Average), "netdata_x_y__s_average");
    assert_eq!(name("netdata", "x.y", "", DataSource::Average), "netdata_x_y_average");
    assert_eq!(name("net data", "sensors.°C", "°C", DataSource::Average), "net_data_sensors__C__C_average");
    assert_eq!(name("1x", "a:b", "", DataSource::AsCollected), "_1x_a:b");
}

#[test]
fn remote_write_round_trip() {
    let l = labels(&[
        ("Env", "prod"),
        ("chart", "forged"),
        ("__name__", "forged"),
        ("dc-1", "eu \"1\"\n"),
        ("dc.1", "dup"),
        ("9lives", "cat"),
        ("k", ""),
    ]);
    let mut rw = RemoteWriteBuilder::new(DataSource::Average);
    let m = Metric { labels: &l, ..evil(Value::Computed(12.5)) };
    assert!(rw.push(&m));
    assert!(rw.push(&cpu(Value::Computed(-0.25))));
    assert_eq!(rw.len(), 2);
    let expected_len = rw.request().encoded_len();
    assert_eq!(rw.encoded_len(), expected_len);
    let body = rw.finish();
    assert!(rw.is_empty());
    assert_eq!(rw.encoded_len(), 0);

    let req = remote_write::decode(&body);
    assert_eq!(req.timeseries.len(), 2);
    let evil_series = &req.timeseries[0];
    assert_eq!(
        label_pairs(&evil_series.labels),
        [
            ("Env", "prod"),
            ("_9lives", "cat"),
            ("__name__", "net_data_ctx_t__C_average"),
            ("chart", "evil chart;x=y"),
            ("dc_1", "eu \"1\"\n"),
            ("dimension", "a\nb \"q\""),
            ("exported___name__", "forged"),
            ("exported_chart", "forged"),
            ("family", "fa/mily"),
            ("instance", "my host;x=1"),
        ]
    );
    assert_eq!(evil_series.samples.len(), 1);
    assert_eq!(evil_series.samples[0].value, 12.5);
    assert_eq!(evil_series.samples[0].timestamp, TS * 1000);
    let cpu_series = &req.timeseries[1];
    assert_eq!(
        label_pairs(&cpu_series.labels),
        [
            ("__name__", "netdata_system_cpu_percentage_average"),
            ("chart", "system.cpu"),
            ("dimension", "user"),
            ("family", "cpu"),
            ("instance", "myhost"),
        ]
    );
    assert_eq!(cpu_series.samples[0].value, -0.25);
}

#[test]
fn remote_write_as_collected_uses_names_when_asked() {
    let mut rw = RemoteWriteBuilder::new(DataSource::AsCollected);
    let m =
        Metric { chart_name: "cpu_total", dim_name: "User", use_names: true, ..cpu(Value::Collected(-3)) };
    assert!(rw.push(&m));
    let req = remote_write::decode(&rw.finish());
    let s = &req.timeseries[0];
    assert_eq!(
        label_pairs(&s.labels),
        [
            ("__name__", "netdata_system_cpu"),
            ("chart", "cpu_total"),
            ("dimension", "User"),
            ("family", "cpu"),
            ("instance", "myhost"),
        ]
    );
    assert_eq!((s.samples[0].value, s.samples[0].timestamp), (-3.0, 1_700_000_000_000));
}

#[test]
fn remote_write_push_within_limit() {
    let mut rw = RemoteWriteBuilder::new(DataSource::Sum);
    let m = cpu(Value::Computed(1.0));
    assert_eq!(rw.push_within(&m, 1), Push::Added);
    let one = rw.encoded_len();
    assert_eq!(rw.push_within(&m, 2 * one - 1), Push::Full);
    assert_eq!(rw.push_within(&m, 2 * one), Push::Added);
    assert_eq!(rw.encoded_len(), 2 * one);
    assert_eq!(rw.len(), 2);
}

/// Protobuf encoding by hand, independent of prost: a varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Protobuf encoding by hand: a length-delimited field.
fn field(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    varint(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

#[test]
fn remote_write_golden_bytes() {
    let mut rw = RemoteWriteBuilder::new(DataSource::Average);
    assert!(rw.push(&Metric { units: "%", ..cpu(Value::Computed(12.5)) }));
    let body = rw.finish();

    let label = |name: &str, value: &str| [field(1, name.as_bytes()), field(2, value.as_bytes())].concat();
    let mut sample = vec![1 << 3 | 1]; // Sample.value: double
    sample.extend_from_slice(&12.5f64.to_le_bytes());
    sample.push(2 << 3); // Sample.timestamp: varint 1700000000000
    varint(&mut sample, 1_700_000_000_000);
    let series = [
        field(1, &label("__name__", "netdata_system_cpu_percent_average")),
        field(1, &label("chart", "system.cpu")),
        field(1, &label("dimension", "user")),
        field(1, &label("family", "cpu")),
        field(1, &label("instance", "myhost")),
        field(2, &sample),
    ]
    .concat();
    let raw = field(1, &series);
    assert_eq!(snap::raw::Decoder::new().decompress_vec(&body).unwrap(), raw);
    // Snappy block format: the uncompressed length as a varint, then, snappy finding no repeat
    // worth a copy here, one literal: tag `60 << 2` (length - 1 in the next byte), the bytes.
    assert_eq!(raw.len(), 144);
    let mut expected = vec![0x90, 0x01, 60 << 2, 143];
    expected.extend_from_slice(&raw);
    assert_eq!(body, expected);
}

// ---- properties: no name can break a line ----

/// Owned inputs for one arbitrary metric.
#[derive(Debug, Clone)]
struct Input {
    names: [String; 10],
    use_names: bool,
    value: Value,
    timestamp: i64,
    labels: Vec<(String, String)>,
}

impl Input {
    fn metric(&self) -> Metric<'_> {
        let n = &self.names;
        Metric {
            prefix: &n[0],
            hostname: &n[1],
            chart_id: &n[2],
            chart_name: &n[3],
            family: &n[4],
            context: &n[5],
            chart_type: &n[6],
            units: &n[7],
            dim_id: &n[8],
            dim_name: &n[9],
            use_names: self.use_names,
            value: self.value,
            timestamp: self.timestamp,
            labels: &self.labels,
        }
    }

    fn value_text(&self) -> String {
        match self.value {
            Value::Collected(v) => v.to_string(),
            Value::Computed(v) => format!("{v:.7}"),
            Value::Mean { e7, count } => {
                // Exact long division, rounded half to even.
                let (n, d) = (e7.unsigned_abs() as u128, count as u128);
                let q = n / d + u128::from(2 * (n % d) > d || (2 * (n % d) == d && (n / d) % 2 == 1));
                format!("{}{}.{:07}", if e7 < 0 { "-" } else { "" }, q / 10_000_000, q % 10_000_000)
            }
        }
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z .;=,\"\\\\\n\t_é-]{0,8}"]
}

fn input() -> impl Strategy<Value = Input> {
    let value = prop_oneof![
        any::<i64>().prop_map(Value::Collected),
        any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(Value::Computed),
        (any::<i64>(), 1u32..5000).prop_map(|(e7, count)| Value::Mean { e7, count }),
        (-1e6..1e6f64).prop_map(Value::Computed),
    ];
    (
        proptest::array::uniform10(name()),
        any::<bool>(),
        value,
        any::<i64>(),
        proptest::collection::vec((name(), name()), 0..5),
    )
        .prop_map(|(names, use_names, value, timestamp, labels)| Input {
            names,
            use_names,
            value,
            timestamp,
            labels,
        })
}

fn is_safe(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn graphite_line_has_three_fields(input in input()) {
        let mut out = Vec::new();
        prop_assert!(graphite::write_line(&mut out, &input.metric()));
        let text = String::from_utf8(out).unwrap();
        let body = text.strip_suffix('\n').unwrap();
        prop_assert!(!body.contains('\n'));
        let fields: Vec<&str> = body.split(' ').collect();
        prop_assert_eq!(fields.len(), 3);
        let mut parts = fields[0].split(';');
        let path = parts.next().unwrap();
        prop_assert_eq!(path.split('.').count() >= 4, true);
        // The hostname is exactly one level, right after the prefix.
        let mut head = Vec::new();
        sanitize::write_path(&mut head, &input.names[0]);
        head.push(b'.');
        let host: String = input.names[1].chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        head.extend_from_slice(host.as_bytes());
        head.push(b'.');
        prop_assert!(path.as_bytes().starts_with(&head), "{} does not start with {:?}", path, String::from_utf8_lossy(&head));
        for tag in parts {
            let (k, v) = tag.split_once('=').unwrap();
            prop_assert!(is_safe(k) && is_safe(v) && k != "name");
        }
        prop_assert_eq!(fields[1], input.value_text());
        prop_assert_eq!(fields[2], input.timestamp.to_string());
    }

    #[test]
    fn opentsdb_line_parses(input in input()) {
        let mut out = Vec::new();
        prop_assert!(opentsdb::write_line(&mut out, &input.metric()));
        let text = String::from_utf8(out).unwrap();
        let body = text.strip_suffix('\n').unwrap();
        prop_assert!(!body.contains('\n'));
        let fields: Vec<&str> = body.split(' ').collect();
        prop_assert!(fields.len() >= 5);
        prop_assert_eq!(fields[0], "put");
        prop_assert!(fields[1].split('.').count() >= 3);
        prop_assert!(fields[1].bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        prop_assert_eq!(fields[2], input.timestamp.to_string());
        prop_assert_eq!(fields[3], input.value_text());
        let host = fields[4].strip_prefix("host=").unwrap();
        prop_assert!(host.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        let mut keys = vec!["host"];
        for tag in &fields[5..] {
            let (k, v) = tag.split_once('=').unwrap();
            prop_assert!(is_safe(k) && is_safe(v));
            prop_assert!(!keys.contains(&k));
            keys.push(k);
        }
    }

    #[test]
    fn json_line_round_trips_every_field(input in input()) {
        let mut out = Vec::new();
        prop_assert!(json::write_line(&mut out, &input.metric()));
        let text = String::from_utf8(out).unwrap();
        let body = text.strip_suffix('\n').unwrap();
        prop_assert!(!body.contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(body).unwrap();
        let obj = parsed.as_object().unwrap();
        let keys = ["prefix", "hostname", "chart_id", "chart_name", "chart_family", "chart_context",
            "chart_type", "units", "id", "name"];
        for (key, expected) in keys.iter().zip(&input.names) {
            prop_assert_eq!(obj[*key].as_str().unwrap(), expected.as_str());
        }
        prop_assert_eq!(obj["timestamp"].as_i64().unwrap(), input.timestamp);
        if let Value::Collected(v) = input.value {
            prop_assert_eq!(obj["value"].as_i64().unwrap(), v);
        }
        // The value's text, exactly: `,"value":` cannot occur inside an escaped string.
        let value_text = body.split_once(",\"value\":").unwrap().1.split_once(",\"timestamp\": ").unwrap().0;
        prop_assert_eq!(value_text, input.value_text());
        let mut expected_labels = serde_json::Map::new();
        for (k, v) in &input.labels {
            expected_labels.entry(k.clone()).or_insert_with(|| v.clone().into());
        }
        match obj.get("labels") {
            Some(l) => prop_assert_eq!(l.as_object().unwrap(), &expected_labels),
            None => prop_assert!(input.labels.is_empty()),
        }
        prop_assert_eq!(obj.len(), 12 + usize::from(!input.labels.is_empty()));
    }

    #[test]
    fn http_bodies_parse(inputs in proptest::collection::vec(input(), 0..4)) {
        let mut tsdb = opentsdb::http_body();
        let mut json = json::http_body();
        for input in &inputs {
            prop_assert!(tsdb.push(&input.metric()));
            prop_assert!(json.push(&input.metric()));
        }
        let (tsdb_len, json_len) = (tsdb.len(), json.len());
        let tsdb_body = tsdb.finish();
        let json_body = json.finish();
        prop_assert_eq!((tsdb_body.len(), json_body.len()), (tsdb_len, json_len));
        let tsdb_parsed: Vec<serde_json::Value> = serde_json::from_slice(&tsdb_body).unwrap();
        let json_parsed: Vec<serde_json::Value> = serde_json::from_slice(&json_body).unwrap();
        prop_assert_eq!((tsdb_parsed.len(), json_parsed.len()), (inputs.len(), inputs.len()));
        for (obj, input) in tsdb_parsed.iter().zip(&inputs) {
            prop_assert_eq!(obj["timestamp"].as_i64().unwrap(), input.timestamp);
            let tags = obj["tags"].as_object().unwrap();
            prop_assert!(tags.values().all(|v| is_safe(v.as_str().unwrap()) || v == ""));
            prop_assert!(tags.keys().all(|k| is_safe(k)));
        }
        for (obj, input) in json_parsed.iter().zip(&inputs) {
            prop_assert_eq!(obj["id"].as_str().unwrap(), input.names[8].as_str());
        }
    }

    #[test]
    fn remote_write_labels_are_valid_sorted_and_unique(input in input()) {
        let mut rw = RemoteWriteBuilder::new(DataSource::Average);
        prop_assert!(rw.push(&input.metric()));
        let req = remote_write::decode(&rw.finish());
        let series = &req.timeseries[0];
        let names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(&names, &sorted);
        for l in &series.labels {
            let first = l.name.as_bytes()[0];
            prop_assert!(first.is_ascii_alphabetic() || first == b'_');
            prop_assert!(l.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            if !["__name__", "chart", "dimension", "family", "instance"].contains(&l.name.as_str()) {
                prop_assert!(!l.name.starts_with("__") && !l.value.is_empty());
                prop_assert!(input.labels.iter().any(|(_, v)| v == &l.value));
            }
        }
        let metric_name = &series.labels.iter().find(|l| l.name == "__name__").unwrap().value;
        let first = metric_name.as_bytes()[0];
        prop_assert!(first.is_ascii_alphabetic() || first == b'_' || first == b':');
        prop_assert!(metric_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'));
        let expected = input.value.as_f64();
        prop_assert_eq!(series.samples[0].value, expected);
        prop_assert_eq!(series.samples[0].timestamp, input.timestamp.saturating_mul(1000));
    }
}

// ---- line templates ----

/// What `template` writes for `m`'s dimension and value, built from a metric whose own dimension
/// and value are something else (a template must not keep them).
fn via_template(template: fn(&Metric) -> template::LineTemplate, m: &Metric) -> Option<Vec<u8>> {
    let other = Metric { dim_id: "other", dim_name: "Other", value: Value::Collected(-1), ..*m };
    let mut out = b"previous line\n".to_vec();
    let written = template(&other).write(&mut out, m.dim_id, m.dim_name, m.value);
    written.then(|| out.split_off(14))
}

fn via_line(write: Writer, m: &Metric) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write(&mut out, m).then_some(out)
}

#[test]
fn templates_write_what_write_line_writes() {
    let hosts = labels(&[("env", "prod"), ("name", "x"), ("host", "y"), ("k;=", "v v")]);
    for value in [
        Value::Computed(12.5),
        Value::Collected(-3),
        Value::Computed(f64::NAN),
        Value::Mean { e7: -125, count: 10 },
    ] {
        for m in [cpu(value), evil(value)] {
            for use_names in [false, true] {
                for labels in [&[][..], &hosts[..]] {
                    let m = Metric { use_names, labels, ..m };
                    assert_eq!(via_template(graphite::template, &m), via_line(graphite::write_line, &m));
                    assert_eq!(via_template(opentsdb::template, &m), via_line(opentsdb::write_line, &m));
                    assert_eq!(via_template(json::template, &m), via_line(json::write_line, &m));
                }
            }
        }
    }
    let m = cpu(Value::Computed(12.5));
    assert_eq!(
        String::from_utf8(via_template(graphite::template, &m).unwrap()).unwrap(),
        "netdata.myhost.system.cpu.user 12.5000000 1700000000\n"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn templates_equal_write_line_for_any_metric(input in input()) {
        let m = input.metric();
        prop_assert_eq!(via_template(graphite::template, &m), via_line(graphite::write_line, &m));
        prop_assert_eq!(via_template(opentsdb::template, &m), via_line(opentsdb::write_line, &m));
        prop_assert_eq!(via_template(json::template, &m), via_line(json::write_line, &m));
    }
}

/// A whole chart through `write_lines`: the usual lines (ASCII dimension, exact value) take the
/// straight path, the others (non-ASCII or unsafe names, values of other kinds, NaN) the
/// general one, and every line is what `write_line` writes for it, in order, into a buffer
/// that has to grow several times.
#[test]
fn write_lines_writes_what_write_line_writes_for_each_dimension() {
    let dims: [(&str, &str, Value); 9] = [
        ("user", "user", Value::Mean { e7: 125_000_000, count: 10 }),
        ("température", "temp", Value::Mean { e7: -7, count: 3 }),
        ("nan", "nan", Value::Computed(f64::NAN)),
        ("sys tem", "sys;tem=1", Value::Mean { e7: i64::MAX, count: 1 }),
        ("d07", "", Value::Computed(1.5)),
        ("d08", "renamed", Value::Collected(-42)),
        ("a_much_longer_dimension_id_than_sixteen_bytes", "x", Value::Mean { e7: 5, count: 10 }),
        ("z", "名前", Value::Mean { e7: i64::MIN, count: 7 }),
        ("last", "last", Value::Mean { e7: 0, count: 1 }),
    ];
    let hosts = labels(&[("env", "prod"), ("k;=", "v v")]);
    for use_names in [false, true] {
        for labels in [&[][..], &hosts[..]] {
            for (template, write_line) in [
                (graphite::template as fn(&Metric) -> template::LineTemplate, graphite::write_line as Writer),
                (opentsdb::template, opentsdb::write_line),
                (json::template, json::write_line),
            ] {
                let chart = Metric { use_names, labels, ..cpu(Value::Collected(0)) };
                let mut want = b"earlier".to_vec();
                let mut want_lines = 0;
                for &(dim_id, dim_name, value) in &dims {
                    want_lines +=
                        write_line(&mut want, &Metric { dim_id, dim_name, value, ..chart }) as usize;
                }
                let mut got = b"earlier".to_vec();
                got.shrink_to_fit();
                let written = template(&chart).write_lines(&mut got, dims.iter().copied(), DimText::Any);
                assert_eq!((written, want_lines), (8, 8));
                assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
                // The plain ones, told plain: copied as they are, the same bytes.
                let plain = dims.iter().copied().filter(|(id, name, _)| is_plain(id) && is_plain(name));
                let (mut any, mut told) = (Vec::new(), Vec::new());
                let n = template(&chart).write_lines(&mut any, plain.clone(), DimText::Any);
                assert_eq!(template(&chart).write_lines(&mut told, plain, DimText::Plain), n);
                assert_eq!((n, String::from_utf8(told).unwrap()), (5, String::from_utf8(any).unwrap()));
            }
        }
    }
}

/// What the store calls plain is written as it is by every line format: each plain byte is
/// kept by the path sanitizer and needs no JSON escape.
#[test]
fn plain_text_needs_no_sanitizing_or_escaping() {
    let mut plain = 0;
    for b in 0..=255u8 {
        let Ok(s) = std::str::from_utf8(std::slice::from_ref(&b)) else { continue };
        if is_plain(s) {
            plain += 1;
            let (mut path, mut json) = (Vec::new(), Vec::new());
            sanitize::write_path(&mut path, s);
            sanitize::write_json_str(&mut json, s);
            assert_eq!((path.as_slice(), json.as_slice()), (s.as_bytes(), s.as_bytes()), "{s:?}");
        }
    }
    assert_eq!(plain, 26 + 26 + 10 + 3);
}
