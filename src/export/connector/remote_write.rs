//! The Prometheus remote write connector (`prometheus_remote_write`, `:http`, `:https`):
//! remote write 1.0 request bodies, a protobuf `WriteRequest`, snappy block-compressed, POSTed
//! to `remote write URL path` (`/receive` by default; port 80 or 443 by default). A body holds
//! at most [`RAW_BODY_MAX`] bytes of protobuf before compression.
//!
//! Series are named as netdata's Prometheus exporters name them:
//!
//! * as collected: `PREFIX_CONTEXT` (`netdata_system_cpu`);
//! * average: `PREFIX_CONTEXT_UNITS_average`, where units `%` become `percent`, units ending in
//!   `/s` end in `_persec` instead (`KiB/s` → `KiB_persec`), and empty units add nothing
//!   (`netdata_system_cpu_percentage_average`);
//! * sum: `PREFIX_CONTEXT_sum` (no units: a sum of rates has none that fit).
//!
//! The name is then sanitized to `[a-zA-Z_:][a-zA-Z0-9_:]*`. Every series carries the labels
//! `chart` (id, or name with "send names instead of ids"), `family`, `dimension` (id or name)
//! and `instance` (the exported hostname), with their values as they are (left out when empty:
//! Prometheus reads an empty label as an absent one), plus the chart's labels, then the host's:
//! names sanitized to `[a-zA-Z_][a-zA-Z0-9_]*`, values as they are. A label whose sanitized name
//! is a built-in one or starts with `__` (reserved by Prometheus) is renamed `exported_NAME`,
//! as Prometheus renames a scraped label that collides with its own; one whose name or value is
//! empty, or whose name (renamed) equals an earlier label's, is left out.
//! Labels are sorted by name, as the protocol requires; timestamps are in milliseconds.
//!
//! Knows nothing of HTTP, sockets or how values were computed.

use super::ConnectorKind;
use crate::export::format::{sanitize, DataSource, Metric, Push, Value, RENAMED_PREFIX};
use prost::Message;

/// The exporter types that select it.
pub const TYPES: &[(&str, ConnectorKind)] = &[
    ("prometheus_remote_write", ConnectorKind::RemoteWrite { tls: false }),
    ("prometheus_remote_write:http", ConnectorKind::RemoteWrite { tls: false }),
    ("prometheus_remote_write:https", ConnectorKind::RemoteWrite { tls: true }),
];

/// The default `remote write URL path`.
pub const DEFAULT_PATH: &str = "/receive";

/// The largest request, in bytes of protobuf before snappy compression: 512 KiB, about 2,500
/// series (the order of Prometheus's own 2,000 samples per request).
pub const RAW_BODY_MAX: usize = 512 * 1024;

/// The headers of a request, besides `Content-Length`.
pub const HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/x-protobuf"),
    ("Content-Encoding", "snappy"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// A remote write request: the protobuf body, before compression.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, each with its samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: its identifying labels and its samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name; `__name__` holds the metric name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// One label of a series.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// The label's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label's value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// One value of a series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The largest uncompressed request the builder accepts: snappy cannot compress much more
/// than this in one block.
const MAX_RAW: usize = 3 << 30;

/// Labels every series carries, besides `__name__`; other labels with these names are renamed.
const BUILT_IN: [&str; 4] = ["chart", "dimension", "family", "instance"];

/// The series name for a metric of `context` in `units`, exported from `source` under `prefix`.
pub fn metric_name(prefix: &str, context: &str, units: &str, source: DataSource) -> String {
    let mut raw = String::with_capacity(prefix.len() + context.len() + units.len() + 16);
    raw.push_str(prefix);
    raw.push('_');
    raw.push_str(context);
    match source {
        DataSource::AsCollected => {}
        DataSource::Average => {
            if units == "%" {
                raw.push_str("_percent");
            } else if units.len() > 2 && units.ends_with("/s") {
                raw.push('_');
                raw.push_str(&units[..units.len() - 2]);
                raw.push_str("_persec");
            } else if !units.is_empty() {
                raw.push('_');
                raw.push_str(units);
            }
            raw.push_str("_average");
        }
        DataSource::Sum => raw.push_str("_sum"),
    }
    sanitize::prometheus_metric_name(&raw)
}

/// Accumulates series and produces compressed remote write bodies.
#[derive(Debug, Clone)]
pub struct RemoteWriteBuilder {
    /// Names series (`_average`, `_sum`).
    source: DataSource,
    /// The series so far.
    request: WriteRequest,
    /// `request.encoded_len()`, kept up to date on every push.
    encoded_len: usize,
    /// The host labels last seen, as given ...
    labels_seen: Vec<(String, String)>,
    /// ... and as sent: sanitized, filtered. Hosts rarely change labels, so this is reused.
    labels_sent: Vec<Label>,
}

impl RemoteWriteBuilder {
    /// An empty builder for series exported from `source`.
    pub fn new(source: DataSource) -> RemoteWriteBuilder {
        RemoteWriteBuilder {
            source,
            request: WriteRequest::default(),
            encoded_len: 0,
            labels_seen: Vec::new(),
            labels_sent: Vec::new(),
        }
    }

    /// Adds a series for `m`. Returns `false`, adding nothing, when the value is NaN or
    /// infinite, or (never in practice) when the request reached snappy's size limit.
    pub fn push(&mut self, m: &Metric) -> bool {
        self.push_within(m, MAX_RAW) == Push::Added
    }

    /// Adds a series for `m` unless the uncompressed request would then exceed `limit` bytes.
    /// An empty request takes any series: one series cannot be split.
    pub fn push_within(&mut self, m: &Metric, limit: usize) -> Push {
        let value = match m.value {
            Value::Computed(v) if !v.is_finite() => return Push::NotFinite,
            v => v.as_f64(),
        };
        if self.labels_seen.as_slice() != m.labels {
            self.labels_seen = m.labels.to_vec();
            self.labels_sent = host_labels(m.labels);
        }
        let label = |name: &str, value: &str| Label { name: name.to_owned(), value: value.to_owned() };
        let mut labels = Vec::with_capacity(5 + self.labels_sent.len());
        labels.push(label("__name__", &metric_name(m.prefix, m.context, m.units, self.source)));
        labels.push(label("chart", m.chart()));
        labels.push(label("family", m.family));
        labels.push(label("dimension", m.dim()));
        labels.push(label("instance", m.hostname));
        labels.retain(|l| !l.value.is_empty());
        labels.extend_from_slice(&self.labels_sent);
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let series = TimeSeries {
            labels,
            samples: vec![Sample { value, timestamp: m.timestamp.saturating_mul(1000) }],
        };
        let added = prost::encoding::message::encoded_len(1, &series);
        let limit = limit.min(MAX_RAW);
        if !self.request.timeseries.is_empty() && self.encoded_len + added > limit {
            return Push::Full;
        }
        self.encoded_len += added;
        self.request.timeseries.push(series);
        Push::Added
    }

    /// How many series the request holds.
    pub fn len(&self) -> usize {
        self.request.timeseries.len()
    }

    /// Whether the request holds no series.
    pub fn is_empty(&self) -> bool {
        self.request.timeseries.is_empty()
    }

    /// The size of the request in bytes before compression.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// The series so far, uncompressed.
    pub fn request(&self) -> &WriteRequest {
        &self.request
    }

    /// Encodes and snappy-compresses the request, and empties the builder.
    pub fn finish(&mut self) -> Vec<u8> {
        let raw = self.request.encode_to_vec();
        self.request.timeseries.clear();
        self.encoded_len = 0;
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("push_within keeps requests below snappy's input limit")
    }
}

/// Labels as sent: sanitized names, reserved ones renamed; empty and repeated ones left out.
fn host_labels(labels: &[(String, String)]) -> Vec<Label> {
    let mut sent: Vec<Label> = Vec::with_capacity(labels.len());
    for (name, value) in labels {
        let mut name = sanitize::prometheus_label_name(name);
        if BUILT_IN.contains(&name.as_str()) || name.starts_with("__") {
            name.insert_str(0, RENAMED_PREFIX);
        }
        if name.is_empty() || value.is_empty() || sent.iter().any(|l| l.name == name) {
            continue;
        }
        sent.push(Label { name, value: value.clone() });
    }
    sent
}

/// Decompresses and decodes a body made by [`RemoteWriteBuilder::finish`]; the receiving end,
/// for tests.
#[cfg(test)]
pub(crate) fn decode(body: &[u8]) -> WriteRequest {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    WriteRequest::decode(raw.as_slice()).unwrap()
}
