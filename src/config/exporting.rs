//! Exporter sections: the legacy `[backend]` and exporting-engine `[TYPE:NAME]` instances with
//! their `[exporting:global]` defaults, read into [`ExporterConfig`]s.
//!
//! Destinations are parsed here but never resolved; nothing here opens a connection or knows
//! how data is formatted. What differs by exporter type (the types there are, default ports)
//! the [connector](crate::export::connector) says.

use std::collections::HashMap;
use std::path::PathBuf;

use super::diag::Diagnostics;
use super::ini::Section;
use super::setting::{
    self, parse_bool, Bool, Kind, OptPath, OptText, Secret, Settings, Size, Text, Visit, Whole,
};

pub use crate::export::connector::{ConnectorKind, INSTANCE_TYPES};
pub use crate::export::format::DataSource;
pub use crate::export::transport::Endpoint;

/// Parse a `destination` value: entries separated by spaces or commas, each
/// `[tcp:|udp:]HOST[:PORT]` with IPv6 addresses in brackets. On error, says what is wrong.
pub fn parse_destinations(text: &str, kind: ConnectorKind) -> Result<Vec<Endpoint>, String> {
    let list = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| parse_destination(t, kind))
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(format!("expected at least one destination, e.g. localhost:{}", kind.default_port()));
    }
    Ok(list)
}

fn parse_destination(token: &str, kind: ConnectorKind) -> Result<Endpoint, String> {
    let prefix =
        |p: &str| token.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &token[p.len()..]);
    let (udp, rest) = match (prefix("tcp:"), prefix("udp:")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => (false, token),
    };
    if udp && !kind.is_plaintext() {
        return Err(format!(
            "'{token}' uses udp, which only graphite, opentsdb and json (plaintext) can send over; \
             remove 'udp:'"
        ));
    }
    let (host, port) = super::address::split_host_port(rest, token, "[tcp:|udp:]HOST[:PORT]")?;
    let port = port.unwrap_or(kind.default_port());
    Ok(Endpoint { udp, host: host.to_string(), port })
}

/// One exporter's settings, with defaults applied. Its `Debug` output masks the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    /// `backend` for the legacy section, else the NAME of `[TYPE:NAME]`.
    pub name: String,
    /// The section name as written, for messages.
    pub section: String,
    /// The file the section is in, for messages.
    pub file: String,
    /// The line the section starts at, for messages.
    pub line: usize,
    /// Whether this is the legacy `[backend]` section.
    pub legacy: bool,
    /// The type: from the section name, or from `type` in `[backend]` (default graphite).
    pub kind: ConnectorKind,
    /// `enabled` (default no; `[exporting:global] enabled = no` disables every instance).
    pub enabled: bool,
    /// `destination` (default `localhost` on the type's default port); tried in order.
    pub destinations: Vec<Endpoint>,
    /// `data source` (default `average`).
    pub data_source: DataSource,
    /// `prefix` (default `netdata`).
    pub prefix: String,
    /// `hostname`; `None` sends the host's own hostname.
    pub hostname: Option<String>,
    /// `update every`: seconds between exports (default 10).
    pub update_every: u32,
    /// `buffer on failures`: how many intervals of data are kept while sending fails (default 10).
    pub buffer_on_failures: u32,
    /// `spool directory`: where intervals wait on disk while the backend is away, in a
    /// subdirectory per instance; `None` (the default, an empty value) keeps them in memory only.
    pub spool_directory: Option<PathBuf>,
    /// `spool max size`: bytes the instance's spool may hold before its oldest intervals are
    /// dropped (default 1 GiB).
    pub spool_max_size: u64,
    /// `timeout ms` (default 2 × update every × 1000).
    pub timeout_ms: u64,
    /// `send charts matching`: simple pattern (default `*`).
    pub send_charts_matching: String,
    /// `send hosts matching`: simple pattern (default `localhost *`).
    pub send_hosts_matching: String,
    /// `send names instead of ids` (default yes, but no for `[backend]`).
    pub send_names_instead_of_ids: bool,
    /// `send configured labels`: host labels from `[host labels]` (default yes).
    pub send_configured_labels: bool,
    /// `send automatic labels`: labels the agent detects itself (default no).
    pub send_automatic_labels: bool,
    /// `remote write URL path` (default `/receive`).
    pub remote_write_url_path: String,
    /// `username` for HTTP basic authentication.
    pub username: Option<String>,
    /// `password` for HTTP basic authentication; never printed.
    pub password: Option<String>,
    /// `tls ca file`: certificates to trust instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// `tls skip verify`: accept any server certificate (default no).
    pub tls_skip_verify: bool,
    /// `max buffer size`: bytes of undelivered data kept in memory; past it the oldest whole
    /// intervals are dropped, counted (default 128 MiB).
    pub max_buffer_bytes: u64,
    /// `replay window`: seconds of data already written to a connection that are sent again
    /// after the connection fails; 0 (the default) means max(10 × update every, 2 × timeout ms).
    /// The lines kept for it never exceed a quarter of `max buffer size`.
    pub replay_window_s: u64,
}

impl std::fmt::Debug for ExporterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterConfig")
            .field("name", &self.name)
            .field("section", &self.section)
            .field("file", &self.file)
            .field("line", &self.line)
            .field("legacy", &self.legacy)
            .field("kind", &self.kind)
            .field("enabled", &self.enabled)
            .field("destinations", &self.destinations)
            .field("data_source", &self.data_source)
            .field("prefix", &self.prefix)
            .field("hostname", &self.hostname)
            .field("update_every", &self.update_every)
            .field("buffer_on_failures", &self.buffer_on_failures)
            .field("timeout_ms", &self.timeout_ms)
            .field("send_charts_matching", &self.send_charts_matching)
            .field("send_hosts_matching", &self.send_hosts_matching)
            .field("send_names_instead_of_ids", &self.send_names_instead_of_ids)
            .field("send_configured_labels", &self.send_configured_labels)
            .field("send_automatic_labels", &self.send_automatic_labels)
            .field("remote_write_url_path", &self.remote_write_url_path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| setting::MASK))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .field("max_buffer_bytes", &self.max_buffer_bytes)
            .field("replay_window_s", &self.replay_window_s)
            .finish()
    }
}

impl ExporterConfig {
    /// The replay window in effect, in seconds.
    pub fn replay_window(&self) -> u64 {
        if self.replay_window_s > 0 {
            self.replay_window_s
        } else {
            (10 * self.update_every as u64).max((2 * self.timeout_ms).div_ceil(1000))
        }
    }
}

impl ExporterConfig {
    /// The defaults for the exporter `name` in `section` at `file:line`; `legacy` for `[backend]`.
    /// The kind starts as graphite (the `[backend] type` default).
    fn new(section: &str, name: &str, file: &str, line: usize, legacy: bool) -> ExporterConfig {
        let kind = ConnectorKind::Graphite;
        ExporterConfig {
            name: name.to_string(),
            section: section.to_string(),
            file: file.to_string(),
            line,
            legacy,
            kind,
            enabled: false,
            destinations: Vec::new(),
            data_source: DataSource::Average,
            prefix: "netdata".to_string(),
            hostname: None,
            update_every: 10,
            buffer_on_failures: 10,
            spool_directory: None,
            spool_max_size: SPOOL_MAX_SIZE_DEFAULT,
            timeout_ms: 20_000,
            send_charts_matching: "*".to_string(),
            send_hosts_matching: "localhost *".to_string(),
            send_names_instead_of_ids: !legacy,
            send_configured_labels: !legacy,
            send_automatic_labels: false,
            remote_write_url_path: crate::export::connector::remote_write::DEFAULT_PATH.to_string(),
            username: None,
            password: None,
            tls_ca_file: None,
            tls_skip_verify: false,
            max_buffer_bytes: 128 << 20,
            replay_window_s: 0,
        }
    }
}

impl Settings for ExporterConfig {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("enabled", &mut self.enabled, &Bool);
        if self.legacy {
            v.setting("type", &mut self.kind, &LegacyType);
        }
        let destinations = Destinations(self.kind);
        v.setting("destination", &mut self.destinations, &destinations);
        v.setting("data source", &mut self.data_source, &DataSources);
        v.setting("prefix", &mut self.prefix, &Text);
        v.setting("hostname", &mut self.hostname, &OptText);
        v.setting("update every", &mut self.update_every, &SECONDS);
        v.setting("buffer on failures", &mut self.buffer_on_failures, &INTERVALS);
        v.setting("spool directory", &mut self.spool_directory, &OptPath);
        v.setting("spool max size", &mut self.spool_max_size, &SPOOL_SIZE);
        v.setting("timeout ms", &mut self.timeout_ms, &MILLISECONDS);
        v.setting("send charts matching", &mut self.send_charts_matching, &Text);
        v.setting("send hosts matching", &mut self.send_hosts_matching, &Text);
        let names = &mut self.send_names_instead_of_ids;
        v.setting("send names instead of ids", names, &Bool);
        v.setting("send configured labels", &mut self.send_configured_labels, &Bool);
        v.setting("send automatic labels", &mut self.send_automatic_labels, &Bool);
        let url_path = &mut self.remote_write_url_path;
        v.setting("remote write URL path", url_path, &UrlPath);
        v.setting("username", &mut self.username, &OptText);
        v.setting("password", &mut self.password, &Secret);
        v.setting("tls ca file", &mut self.tls_ca_file, &OptPath);
        v.setting("tls skip verify", &mut self.tls_skip_verify, &Bool);
        v.setting("max buffer size", &mut self.max_buffer_bytes, &Size { min: 1024 });
        v.setting("replay window", &mut self.replay_window_s, &REPLAY_SECONDS);
    }
}

pub(super) const SECONDS: Whole = Whole { min: 1, max: None, unit: "seconds" };
/// 0 means automatic.
const REPLAY_SECONDS: Whole = Whole { min: 0, max: None, unit: "seconds (0 for automatic)" };

const INTERVALS: Whole = Whole { min: 1, max: None, unit: "update intervals" };

/// The default `spool max size`: 1 GiB.
pub const SPOOL_MAX_SIZE_DEFAULT: u64 = 1 << 30;

/// `spool max size`: at least 1 MiB, so the spool holds more than a handful of intervals.
const SPOOL_SIZE: Size = Size { min: 1 << 20 };

const MILLISECONDS: Whole = Whole { min: 1, max: None, unit: "milliseconds" };

/// `[backend] type`: one of the plaintext types.
struct LegacyType;

impl Kind<ConnectorKind> for LegacyType {
    fn parse(&self, text: &str) -> Result<ConnectorKind, String> {
        let legacy = INSTANCE_TYPES.iter().filter(|(_, kind)| kind.is_plaintext());
        legacy.clone().find(|(name, _)| *name == text).map(|(_, kind)| *kind).ok_or_else(|| {
            let names: Vec<&str> = legacy.map(|(name, _)| *name).collect();
            format!("unknown backend type. Choose from: {}", names.join(", "))
        })
    }
    fn render(&self, value: &ConnectorKind) -> String {
        value.type_name().to_string()
    }
}

/// `destination`, with default ports of the given type.
struct Destinations(ConnectorKind);

impl Kind<Vec<Endpoint>> for Destinations {
    fn parse(&self, text: &str) -> Result<Vec<Endpoint>, String> {
        parse_destinations(text, self.0)
    }
    fn render(&self, value: &Vec<Endpoint>) -> String {
        let list: Vec<String> = value.iter().map(Endpoint::to_string).collect();
        list.join(" ")
    }
}

/// `data source`.
pub(super) struct DataSources;

impl Kind<DataSource> for DataSources {
    fn parse(&self, text: &str) -> Result<DataSource, String> {
        let text = text.to_ascii_lowercase();
        match text.as_str() {
            "as collected" | "as-collected" | "raw" => Ok(DataSource::AsCollected),
            "average" => Ok(DataSource::Average),
            "sum" | "volume" => Ok(DataSource::Sum),
            _ => Err("unknown data source. Choose from: as collected (or as-collected, raw), \
                      average, sum (or volume)"
                .to_string()),
        }
    }
    fn render(&self, value: &DataSource) -> String {
        value.name().to_string()
    }
}

/// An HTTP path: starts with `/`.
struct UrlPath;

impl Kind<String> for UrlPath {
    fn parse(&self, text: &str) -> Result<String, String> {
        if text.starts_with('/') {
            Ok(text.to_string())
        } else {
            Err("expected a URL path starting with /, e.g. /receive".to_string())
        }
    }
    fn render(&self, value: &String) -> String {
        value.clone()
    }
}

/// Where an exporter section was found and what its name says.
pub(crate) struct Found<'a> {
    /// The file it is in.
    pub file: &'a str,
    /// The section.
    pub section: &'a Section,
    /// `None` for `[backend]`, else the kind and NAME of `[TYPE:NAME]`.
    pub instance: Option<(ConnectorKind, &'a str)>,
}

/// Split a section name at its last `:` into type and instance name, both trimmed.
pub(crate) fn split_section(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once(':').map(|(t, n)| (t.trim(), n.trim()))
}

/// Read exporter sections in order. `globals` are the `[exporting:global]` sections, the first
/// one holding a key giving its default for every instance.
pub(crate) fn read(
    found: &[Found<'_>],
    globals: &[(&str, &Section)],
    diag: &mut Diagnostics,
) -> Vec<ExporterConfig> {
    let keys = Keys {
        instance: setting::known_keys(&ExporterConfig::new("", "", "", 0, false)),
        legacy: setting::known_keys(&ExporterConfig::new("", "", "", 0, true)),
    };
    check_globals(globals, &keys.instance, diag);
    // `(value, file, line)` of the `enabled` every instance is subject to.
    let global_enabled = globals.iter().find_map(|(file, section)| {
        section.get("enabled").and_then(|e| parse_bool(&e.value).map(|on| (on, *file, e.line)))
    });
    let mut exporters: Vec<ExporterConfig> = Vec::new();
    // Where each instance name already is in `exporters`.
    let mut named: HashMap<String, usize> = HashMap::new();
    for f in found {
        let Some(mut exporter) = read_section(f, globals, &keys, diag) else {
            continue;
        };
        if let (false, Some((false, file, line))) = (exporter.legacy, global_enabled) {
            disable_globally(&mut exporter, f, (file, line), diag);
        }
        if let Some(other) = named.get(&exporter.name).map(|&at| &exporters[at]) {
            diag.error(
                f.file,
                f.section.line,
                format_args!(
                    "[{}]: the name '{}' is already used by [{}] at {}:{}; give each exporter its \
                     own name",
                    f.section.name, exporter.name, other.section, other.file, other.line
                ),
            );
            continue;
        }
        named.insert(exporter.name.clone(), exporters.len());
        exporters.push(exporter);
    }
    exporters
}

/// The keys an exporter section may hold.
struct Keys {
    /// Of `[TYPE:NAME]` and `[exporting:global]`.
    instance: Vec<&'static str>,
    /// Of `[backend]`.
    legacy: Vec<&'static str>,
}

/// Warns of unknown keys in the `[exporting:global]` sections and checks their values once,
/// even when no instance uses them.
fn check_globals(globals: &[(&str, &Section)], known: &[&'static str], diag: &mut Diagnostics) {
    for (file, section) in globals {
        setting::warn_unknown(file, section, known, diag);
    }
    if !globals.is_empty() {
        setting::read(&mut ExporterConfig::new("", "", "", 0, false), globals, diag);
    }
}

/// One exporter section's settings, with the instance defaults from `globals` and the defaults
/// that follow from other keys; `None`, with an error, when the section has no instance name.
fn read_section(
    f: &Found<'_>,
    globals: &[(&str, &Section)],
    keys: &Keys,
    diag: &mut Diagnostics,
) -> Option<ExporterConfig> {
    let section = f.section;
    let (name, legacy) = match f.instance {
        None => ("backend", true),
        Some((_, name)) => (name, false),
    };
    if name.is_empty() {
        diag.error(
            f.file,
            section.line,
            format_args!(
                "[{}] has no instance name; write [TYPE:NAME], e.g. [graphite:my_graphite]",
                section.name
            ),
        );
        return None;
    }
    let mut exporter = ExporterConfig::new(&section.name, name, f.file, section.line, legacy);
    let mut chain = vec![(f.file, section)];
    if let Some((kind, _)) = f.instance {
        exporter.kind = kind;
        chain.extend_from_slice(globals);
    }
    let present = setting::read(&mut exporter, &chain, diag);
    let known = if legacy { &keys.legacy } else { &keys.instance };
    setting::warn_unknown(f.file, section, known, diag);
    if legacy && exporter.send_configured_labels {
        let line = section.get("send configured labels").map_or(section.line, |e| e.line);
        diag.warn(
            f.file,
            line,
            format_args!(
                "[backend] send configured labels = yes has no effect: the legacy [backend] sends no \
                 labels; to send them, export through an instance such as [graphite:NAME] instead"
            ),
        );
    }
    if !present.contains(&"destination") {
        let port = exporter.kind.default_port();
        exporter.destinations = vec![Endpoint { udp: false, host: "localhost".to_string(), port }];
    }
    if !present.contains(&"timeout ms") {
        exporter.timeout_ms = 2 * u64::from(exporter.update_every) * 1000;
    }
    Some(exporter)
}

/// `[exporting:global] enabled = no` (at `global`) disables every instance: one that says
/// `enabled = yes` is warned of it.
fn disable_globally(
    exporter: &mut ExporterConfig,
    f: &Found<'_>,
    global: (&str, usize),
    diag: &mut Diagnostics,
) {
    if exporter.enabled {
        let own = f.section.get("enabled").map_or(f.section.line, |e| e.line);
        let (file, line) = global;
        diag.warn(
            f.file,
            own,
            format_args!(
                "[{}] enabled = yes is overridden by [exporting:global] enabled = no at \
                 {file}:{line}; this exporter stays disabled",
                f.section.name
            ),
        );
        exporter.enabled = false;
    }
}

/// Append the section header and every key of `exporter`.
pub(crate) fn render(exporter: &ExporterConfig, out: &mut String) {
    out.push_str(&format!("\n[{}]\n", exporter.section));
    setting::render(exporter, out);
}
