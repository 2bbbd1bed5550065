//! Connectors: every exporter type, each in one place, and the registry that names them.
//!
//! A connector module says everything about its connector: the exporter types (`[TYPE:NAME]`)
//! that select it, its default port, its line or body format (defined once, from which the fast
//! line template is derived), its body size limit and request headers, and whether it sends
//! lines over a socket or bodies over HTTP. The shared machinery sits beneath them: the format
//! building blocks in [`format`](mod@super::format), batching in [`batch`](super::batch),
//! delivery and transports in [`sender`](super::sender) and [`transport`](super::transport).
//!
//! * [`graphite`]: Graphite plaintext lines;
//! * [`opentsdb`]: OpenTSDB telnet `put` lines, and JSON bodies for its HTTP `/api/put`;
//! * [`json`]: one JSON object per line, and JSON-array bodies for `json:http`;
//! * [`remote_write`]: Prometheus remote write requests.
//!
//! Adding a connector: a module here, a variant of [`ConnectorKind`] with its arms in the
//! matches below, and its types in [`INSTANCE_TYPES`]. Knows nothing of the store or of
//! sockets.

pub mod graphite;
pub mod json;
pub mod opentsdb;
pub mod remote_write;

#[cfg(test)]
mod tests;

use super::format::template::{Layout, LineTemplate};
use super::format::Metric;

/// An exporter type's connector: what it sends, and over what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    /// Graphite plaintext lines over TCP or UDP.
    Graphite,
    /// OpenTSDB telnet `put` lines over TCP or UDP.
    Opentsdb,
    /// One JSON object per line over TCP or UDP.
    Json,
    /// OpenTSDB JSON over HTTP(S).
    OpentsdbHttp {
        /// HTTPS rather than HTTP.
        tls: bool,
    },
    /// JSON over HTTP(S).
    JsonHttp {
        /// HTTPS rather than HTTP.
        tls: bool,
    },
    /// Prometheus remote write over HTTP(S).
    RemoteWrite {
        /// HTTPS rather than HTTP.
        tls: bool,
    },
}

/// Every exporter type accepted as the TYPE of a `[TYPE:NAME]` section, each connector's
/// types together, the first of each connector its canonical name. The line connectors come
/// first.
pub const INSTANCE_TYPES: &[(&str, ConnectorKind)] = &ALL_TYPES;

/// Each connector's types, in the order [`INSTANCE_TYPES`] lists them.
const TYPE_LISTS: [&[(&str, ConnectorKind)]; 6] = [
    graphite::TYPES,
    opentsdb::TELNET_TYPES,
    json::LINE_TYPES,
    opentsdb::HTTP_TYPES,
    json::HTTP_TYPES,
    remote_write::TYPES,
];

const ALL_TYPES: [(&str, ConnectorKind); count(&TYPE_LISTS)] = concat(&TYPE_LISTS);

const fn count(lists: &[&[(&str, ConnectorKind)]]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < lists.len() {
        n += lists[i].len();
        i += 1;
    }
    n
}

const fn concat<const N: usize>(
    lists: &[&[(&'static str, ConnectorKind)]],
) -> [(&'static str, ConnectorKind); N] {
    let mut all = [("", ConnectorKind::Graphite); N];
    let (mut i, mut k) = (0, 0);
    while i < lists.len() {
        let mut j = 0;
        while j < lists[i].len() {
            all[k] = lists[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    all
}

/// The port of an HTTP connector's destination that gives none.
const fn http_port(tls: bool) -> u16 {
    if tls {
        443
    } else {
        80
    }
}

impl ConnectorKind {
    /// The kind named by an exporter type (`opentsdb:http`), if known.
    pub fn from_type(name: &str) -> Option<ConnectorKind> {
        INSTANCE_TYPES.iter().find(|(n, _)| *n == name).map(|(_, kind)| *kind)
    }

    /// The canonical type name (`graphite`, `opentsdb:https`, ...).
    pub fn type_name(self) -> &'static str {
        INSTANCE_TYPES.iter().find(|(_, kind)| *kind == self).map_or("", |(name, _)| name)
    }

    /// Whether it speaks HTTPS.
    pub fn tls(self) -> bool {
        match self {
            ConnectorKind::Graphite | ConnectorKind::Opentsdb | ConnectorKind::Json => false,
            ConnectorKind::OpentsdbHttp { tls }
            | ConnectorKind::JsonHttp { tls }
            | ConnectorKind::RemoteWrite { tls } => tls,
        }
    }

    /// Whether it sends plain lines over a socket (and so may use UDP), rather than HTTP.
    pub fn is_plaintext(self) -> bool {
        matches!(self.encoding(), Encoding::Lines(_))
    }

    /// The port used when a destination gives none.
    pub fn default_port(self) -> u16 {
        match self {
            ConnectorKind::Graphite => graphite::DEFAULT_PORT,
            ConnectorKind::Opentsdb => opentsdb::TELNET_PORT,
            ConnectorKind::Json => json::LINE_PORT,
            ConnectorKind::OpentsdbHttp { tls }
            | ConnectorKind::JsonHttp { tls }
            | ConnectorKind::RemoteWrite { tls } => http_port(tls),
        }
    }

    /// What its metrics are encoded as: lines, or request bodies of a format.
    pub fn encoding(self) -> Encoding {
        match self {
            ConnectorKind::Graphite => Encoding::Lines(LineFormat::Graphite),
            ConnectorKind::Opentsdb => Encoding::Lines(LineFormat::Opentsdb),
            ConnectorKind::Json => Encoding::Lines(LineFormat::Json),
            ConnectorKind::OpentsdbHttp { .. } => Encoding::Bodies(BodyFormat::OpentsdbJson),
            ConnectorKind::JsonHttp { .. } => Encoding::Bodies(BodyFormat::Json),
            ConnectorKind::RemoteWrite { .. } => Encoding::Bodies(BodyFormat::RemoteWrite),
        }
    }

    /// The path its HTTP requests go to: `remote_write_path` (the `remote write URL path` key)
    /// for remote write, the connector's own for the others; empty for line connectors.
    pub fn url_path(self, remote_write_path: &str) -> String {
        match self {
            ConnectorKind::Graphite | ConnectorKind::Opentsdb | ConnectorKind::Json => String::new(),
            ConnectorKind::OpentsdbHttp { .. } => opentsdb::HTTP_PATH.to_string(),
            ConnectorKind::JsonHttp { .. } => json::HTTP_PATH.to_string(),
            ConnectorKind::RemoteWrite { .. } => remote_write_path.to_string(),
        }
    }
}

/// What an instance encodes its metrics as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Lines, for the line sender.
    Lines(LineFormat),
    /// Whole request bodies, for the HTTP sender.
    Bodies(BodyFormat),
}

/// Line formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// `PREFIX.HOST.CHART.DIM VALUE TS`
    Graphite,
    /// `put PREFIX.CHART.DIM TS VALUE host=HOST`
    Opentsdb,
    /// One JSON object per line.
    Json,
}

impl LineFormat {
    /// Append one metric; false when nothing was written (NaN/Inf).
    #[inline]
    pub fn write(self, out: &mut Vec<u8>, m: &Metric) -> bool {
        match self {
            LineFormat::Graphite => graphite::Graphite::write_line(out, m),
            LineFormat::Opentsdb => opentsdb::Opentsdb::write_line(out, m),
            LineFormat::Json => json::Json::write_line(out, m),
        }
    }

    /// The lines of `m`'s chart in `m`'s window, with everything but the dimension and the
    /// value formatted once.
    #[inline]
    pub fn template(self, m: &Metric) -> LineTemplate {
        match self {
            LineFormat::Graphite => graphite::Graphite::template(m),
            LineFormat::Opentsdb => opentsdb::Opentsdb::template(m),
            LineFormat::Json => json::Json::template(m),
        }
    }

    /// Name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFormat::Graphite => "graphite",
            LineFormat::Opentsdb => "opentsdb",
            LineFormat::Json => "json",
        }
    }
}

/// Request body formats of the HTTP connectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// `opentsdb:http`: a JSON array of OpenTSDB `/api/put` objects.
    OpentsdbJson,
    /// `json:http`: a JSON array of the `json` connector's objects.
    Json,
    /// `prometheus_remote_write`: a snappy-compressed protobuf `WriteRequest`.
    RemoteWrite,
}

impl BodyFormat {
    /// Name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::OpentsdbJson => "opentsdb:http",
            BodyFormat::Json => "json:http",
            BodyFormat::RemoteWrite => "prometheus_remote_write",
        }
    }

    /// The largest body (for remote write: before compression) a batch is cut at.
    pub fn body_max(self) -> usize {
        match self {
            BodyFormat::OpentsdbJson => opentsdb::HTTP_BODY_MAX,
            BodyFormat::Json => json::HTTP_BODY_MAX,
            BodyFormat::RemoteWrite => remote_write::RAW_BODY_MAX,
        }
    }

    /// The request headers that describe the body, besides `Content-Length`.
    pub fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            BodyFormat::OpentsdbJson => opentsdb::HTTP_HEADERS,
            BodyFormat::Json => json::HTTP_HEADERS,
            BodyFormat::RemoteWrite => remote_write::HEADERS,
        }
    }
}
