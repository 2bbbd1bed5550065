//! Batching: one export window's metrics turned into the units a sender delivers.
//!
//! One job: collect a window's metrics into [`Batch`]es. Line connectors get one buffer of
//! lines per window (the line sender's outbox cuts it only at line boundaries); HTTP
//! connectors get whole request bodies, each kept under its format's size limit, so every
//! request is sent, acknowledged or dropped as a unit. Uses each connector's format (see
//! [`connector`](super::connector)); knows nothing of sockets, HTTP or the store.
//!
//! A single metric larger than its body limit still goes, alone in its body: it cannot be
//! split.

use super::connector::{json, opentsdb, BodyFormat, Encoding, LineFormat};
use super::format::json_array::JsonArrayBody;
use super::format::{DataSource, DimText, Metric, Push, Value};
use crate::export::connector::remote_write::RemoteWriteBuilder;

/// One unit of delivery: a window's lines, or one whole request body of a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The window's end (seconds): the timestamp its metrics carry (as collected: the wake-up).
    pub timestamp: i64,
    /// Metrics in `bytes`.
    pub metrics: usize,
    /// Complete lines (line connectors) or one complete request body (HTTP connectors).
    pub bytes: Vec<u8>,
}

impl Batch {
    /// Whether it carries nothing (a tick that only wakes the sender up).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The body being filled.
#[derive(Debug)]
enum Open {
    Lines(LineFormat, Vec<u8>, usize),
    Json(JsonArrayBody, usize),
    RemoteWrite(Box<RemoteWriteBuilder>),
}

/// Collects one window's metrics into batches.
#[derive(Debug)]
pub struct Batcher {
    timestamp: i64,
    open: Open,
    done: Vec<Batch>,
}

impl Batcher {
    /// An empty batcher for the window ending at `timestamp`, exporting values from `source`
    /// (remote write names its series after it).
    pub fn new(encoding: Encoding, source: DataSource, timestamp: i64) -> Batcher {
        Batcher::with_capacity(encoding, source, timestamp, 0)
    }

    /// [`Batcher::new`], with room for `bytes` of lines from the start (a formatter passes the
    /// size of its previous window, so that a window's buffer does not grow by copying).
    pub fn with_capacity(encoding: Encoding, source: DataSource, timestamp: i64, bytes: usize) -> Batcher {
        let open = match encoding {
            Encoding::Lines(f) => Open::Lines(f, Vec::with_capacity(bytes), 0),
            Encoding::Bodies(f @ BodyFormat::OpentsdbJson) => Open::Json(opentsdb::http_body(), f.body_max()),
            Encoding::Bodies(f @ BodyFormat::Json) => Open::Json(json::http_body(), f.body_max()),
            Encoding::Bodies(BodyFormat::RemoteWrite) => {
                Open::RemoteWrite(Box::new(RemoteWriteBuilder::new(source)))
            }
        };
        Batcher { timestamp, open, done: Vec::new() }
    }

    /// Adds `m`; false when nothing was added (a NaN or infinite value). A full body is closed
    /// and `m` starts the next one.
    pub fn push(&mut self, m: &Metric) -> bool {
        let ts = self.timestamp;
        match &mut self.open {
            Open::Lines(f, buf, n) => {
                let added = f.write(buf, m);
                *n += added as usize;
                added
            }
            Open::Json(body, max) => match body.push_within(m, *max) {
                Push::Added => true,
                Push::NotFinite => false,
                Push::Full => {
                    let metrics = body.count();
                    self.done.push(Batch { timestamp: ts, metrics, bytes: body.finish() });
                    body.push(m)
                }
            },
            Open::RemoteWrite(b) => match b.push_within(m, BodyFormat::RemoteWrite.body_max()) {
                Push::Added => true,
                Push::NotFinite => false,
                Push::Full => {
                    let metrics = b.len();
                    self.done.push(Batch { timestamp: ts, metrics, bytes: b.finish() });
                    b.push(m)
                }
            },
        }
    }

    /// Adds one chart's dimensions: `m` carries the chart's fields and the window's timestamp,
    /// `dims` each dimension's id, name and value; returns how many were added. Lines write
    /// the parts shared by the chart's lines once (a [`LineTemplate`](super::format::template::LineTemplate)),
    /// byte for byte what [`Batcher::push`] writes metric by metric.
    pub fn push_chart<'a>(
        &mut self,
        m: &mut Metric<'a>,
        dims: impl Iterator<Item = (&'a str, &'a str, Value)>,
        text: DimText,
    ) -> usize {
        let mut added = 0;
        if let Open::Lines(f, buf, n) = &mut self.open {
            added = f.template(m).write_lines(buf, dims, text);
            *n += added;
            return added;
        }
        for (id, name, value) in dims {
            m.dim_id = id;
            m.dim_name = name;
            m.value = value;
            added += self.push(m) as usize;
        }
        added
    }

    /// The window's batches, oldest metrics first. Lines always make exactly one batch (empty
    /// when no metric was added); bodies make one batch per non-empty body.
    pub fn finish(mut self) -> Vec<Batch> {
        let ts = self.timestamp;
        match &mut self.open {
            Open::Lines(_, buf, n) => {
                self.done.push(Batch { timestamp: ts, metrics: *n, bytes: std::mem::take(buf) })
            }
            Open::Json(body, _) if !body.is_empty() => {
                let metrics = body.count();
                self.done.push(Batch { timestamp: ts, metrics, bytes: body.finish() });
            }
            Open::RemoteWrite(b) if !b.is_empty() => {
                let metrics = b.len();
                self.done.push(Batch { timestamp: ts, metrics, bytes: b.finish() });
            }
            Open::Json(..) | Open::RemoteWrite(_) => {}
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::format::Value;

    fn metric(dim: &str, v: f64) -> Metric<'_> {
        Metric {
            prefix: "netdata",
            hostname: "h1",
            chart_id: "test.chart",
            chart_name: "test.chart",
            family: "fam",
            context: "test.ctx",
            chart_type: "test",
            units: "things",
            dim_id: dim,
            dim_name: dim,
            use_names: false,
            value: Value::Computed(v),
            timestamp: 1000,
            labels: &[],
        }
    }

    fn dims(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("dimension_number_{i:04}")).collect()
    }

    #[test]
    fn lines_make_one_batch_per_window_even_when_empty() {
        let mut e = Batcher::new(Encoding::Lines(LineFormat::Graphite), DataSource::Average, 1000);
        assert!(e.push(&metric("a", 1.0)));
        assert!(!e.push(&metric("nan", f64::NAN)));
        assert!(e.push(&metric("b", 2.5)));
        assert_eq!(
            e.finish(),
            vec![Batch {
                timestamp: 1000,
                metrics: 2,
                bytes: b"netdata.h1.test.chart.a 1.0000000 1000\nnetdata.h1.test.chart.b 2.5000000 1000\n"
                    .to_vec()
            }]
        );
        let e = Batcher::new(Encoding::Lines(LineFormat::Json), DataSource::Average, 1010);
        assert_eq!(e.finish(), vec![Batch { timestamp: 1010, metrics: 0, bytes: vec![] }]);
    }

    #[test]
    fn an_empty_window_makes_no_request() {
        for f in [BodyFormat::OpentsdbJson, BodyFormat::Json, BodyFormat::RemoteWrite] {
            let mut e = Batcher::new(Encoding::Bodies(f), DataSource::Average, 1000);
            assert!(!e.push(&metric("nan", f64::INFINITY)));
            assert_eq!(e.finish(), vec![], "{f:?}");
        }
    }

    /// Every object of every body, in order, parsed back.
    fn objects(batches: &[Batch]) -> Vec<serde_json::Value> {
        batches
            .iter()
            .flat_map(|b| {
                let v: serde_json::Value = serde_json::from_slice(&b.bytes).unwrap();
                let a = v.as_array().unwrap().clone();
                assert_eq!(a.len(), b.metrics);
                a
            })
            .collect()
    }

    #[test]
    fn opentsdb_bodies_stay_under_8_kib_and_lose_nothing() {
        let names = dims(500);
        let mut e = Batcher::new(Encoding::Bodies(BodyFormat::OpentsdbJson), DataSource::Average, 1000);
        for (i, d) in names.iter().enumerate() {
            assert!(e.push(&metric(d, i as f64)));
        }
        let batches = e.finish();
        assert!(batches.len() > 5, "{}", batches.len());
        for b in &batches {
            assert!(b.bytes.len() <= opentsdb::HTTP_BODY_MAX, "{}", b.bytes.len());
            assert_eq!(b.timestamp, 1000);
        }
        // Bodies are filled: each but the last has no room for one more object (~110 bytes).
        for b in &batches[..batches.len() - 1] {
            assert!(b.bytes.len() > opentsdb::HTTP_BODY_MAX - 120, "{}", b.bytes.len());
        }
        let all = objects(&batches);
        assert_eq!(all.len(), 500);
        for (i, o) in all.iter().enumerate() {
            assert_eq!(o["metric"], format!("netdata.test.chart.dimension_number_{i:04}"));
            assert_eq!(o["value"].as_f64(), Some(i as f64));
            assert_eq!(o["timestamp"], 1000);
            assert_eq!(o["tags"]["host"], "h1");
        }
    }

    #[test]
    fn json_http_bodies_cut_at_512_kib() {
        let names = dims(3000);
        let mut e = Batcher::new(Encoding::Bodies(BodyFormat::Json), DataSource::Average, 1000);
        for (i, d) in names.iter().enumerate() {
            assert!(e.push(&metric(d, i as f64)));
        }
        let batches = e.finish();
        assert_eq!(batches.len(), 2, "3000 objects of ~300 bytes need two bodies");
        assert!(batches.iter().all(|b| b.bytes.len() <= json::HTTP_BODY_MAX));
        let all = objects(&batches);
        assert_eq!(all.len(), 3000);
        assert_eq!(all[2999]["id"], "dimension_number_2999");
    }

    #[test]
    fn remote_write_bodies_cut_before_compression() {
        use crate::export::connector::remote_write::decode;
        use prost::Message;
        let names = dims(6000);
        let mut e = Batcher::new(Encoding::Bodies(BodyFormat::RemoteWrite), DataSource::Sum, 1000);
        for (i, d) in names.iter().enumerate() {
            assert!(e.push(&metric(d, i as f64)));
        }
        let batches = e.finish();
        assert!(batches.len() >= 2, "{}", batches.len());
        let mut n = 0;
        for b in &batches {
            let req = decode(&b.bytes);
            assert!(req.encoded_len() <= crate::export::connector::remote_write::RAW_BODY_MAX);
            assert_eq!(req.timeseries.len(), b.metrics);
            for ts in &req.timeseries {
                assert_eq!(ts.samples[0].value, n as f64);
                assert_eq!(ts.samples[0].timestamp, 1_000_000);
                assert_eq!(ts.labels[0].value, "netdata_test_ctx_sum");
                n += 1;
            }
        }
        assert_eq!(n, 6000);
    }
}
