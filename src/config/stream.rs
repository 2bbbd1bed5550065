//! Parent-mode sections: `[web]` (where children connect, and limits on connections that have
//! not sent their request yet), `[stream]` (limits on children), netdata's stream.conf sections
//! named after an API key or a machine GUID (who may stream), and `[registry]` (where this
//! agent's machine GUID is kept).
//!
//! Each section's keys are listed once in its `visit`. Addresses are parsed here but never
//! resolved or bound; this module knows nothing of sockets or of the streaming protocol.

use std::fmt;
use std::path::{Path, PathBuf};

use super::address::split_host_port;
use super::diag::Diagnostics;
use super::ini::Section;
use super::setting::{self, parse_bool, Bool, Choice, Kind, Opt, Settings, Text, Visit, Whole};

/// The port of a `bind to` entry that gives none (`[web] default port`'s default).
pub const DEFAULT_WEB_PORT: u16 = 19999;
/// `[stream] max children` default.
pub const DEFAULT_MAX_CHILDREN: usize = 1000;
/// `[stream] timeout seconds` default.
pub const DEFAULT_STREAM_TIMEOUT_SECONDS: u32 = 600;
/// `[web] timeout for first request` default, in seconds.
pub const DEFAULT_FIRST_REQUEST_TIMEOUT: u32 = 10;
/// `[web] max pending requests` default.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 256;
/// `[web] max pending requests per address` default.
pub const DEFAULT_MAX_PENDING_PER_ADDRESS: usize = 16;
/// `[web] web server max sockets` default: HTTP connections held at once.
pub const DEFAULT_WEB_MAX_SOCKETS: usize = 512;
/// `[web] mode` values: netdata's, of which only `none` changes anything (no listener at all).
pub const WEB_MODES: &[&str] = &["static-threaded", "single-threaded", "multi-threaded", "none"];
/// `[web] tls version` values (netdata's); rustls speaks 1.2 and 1.3 only.
pub const TLS_VERSIONS: &[&str] = &["1.3", "1.2", "1.1", "1.0", "1"];
/// `[web] ssl key` default, under `[directories] config` (netdata's).
pub const DEFAULT_SSL_KEY: &str = "ssl/key.pem";
/// `[web] ssl certificate` default, under `[directories] config` (netdata's).
pub const DEFAULT_SSL_CERTIFICATE: &str = "ssl/cert.pem";
/// Where netdata keeps the machine GUID, under `[directories] lib`.
pub const UNIQUE_ID_FILE: &str = "registry/netdata.public.unique.id";

/// netdata's `[registry]` keys other than `netdata unique id file`: rrdpipe runs no registry,
/// so they are accepted without a warning and ignored.
const REGISTRY_KEYS: &[&str] = &[
    "enabled",
    "registry db directory",
    "registry db file",
    "registry log file",
    "registry save db every new entries",
    "registry expire idle persons days",
    "registry domain",
    "registry to announce",
    "registry hostname",
    "verify browser cookies support",
    "enable cookies SameSite and Secure",
    "max URL length",
    "max URL name length",
    "netdata management api key file",
    "allow from",
    "allow by dns",
];

/// netdata's `[stream]` keys for sending to a parent: rrdpipe receives streams and never sends
/// one, so they are accepted without a warning (but `enabled = yes` gets one).
const SENDER_KEYS: &[&str] = &[
    "enabled",
    "destination",
    "api key",
    "ssl skip certificate verification",
    "CApath",
    "CAfile",
    "send charts matching",
    "buffer size bytes",
    "reconnect delay seconds",
    "initial clock resync iterations",
    "enable replication",
    "default port",
];

/// What a `bind to` entry does with plain and TLS connections when `[web] ssl certificate` is
/// set (netdata's `^SSL=` suffix); without a certificate everything is plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortTls {
    /// No suffix: TLS and plain streams are taken; plain HTTP is redirected to HTTPS.
    Default,
    /// `^SSL=optional`: TLS and plain connections alike, HTTP included.
    Optional,
    /// `^SSL=force`: TLS only; a plain stream is refused, plain HTTP redirected to HTTPS.
    Force,
}

/// One `bind to` entry: `HOST[:PORT][=ACL]`; the host is not resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindTo {
    /// A host name or address without brackets; `*` means every IPv4 address.
    pub host: String,
    /// The port, if given (else `[web] default port`).
    pub port: Option<u16>,
    /// netdata's access list after `=` (`dashboard|streaming`), if given.
    pub acl: Option<String>,
}

impl BindTo {
    /// Whether children may stream here: no access list, or one naming `streaming`.
    pub fn allows_streaming(&self) -> bool {
        self.acl_allows("streaming")
    }

    /// Whether the HTTP API is served here: no access list, or one naming `dashboard`.
    pub fn allows_dashboard(&self) -> bool {
        self.acl_allows("dashboard")
    }

    /// Whether the access list (none means everything) names `what`. A name ends at `^`, where
    /// netdata's TLS suffix starts.
    fn acl_allows(&self, what: &str) -> bool {
        self.acl.as_deref().is_none_or(|acl| {
            acl.split('|').any(|w| w.split('^').next().is_some_and(|name| name.trim() == what))
        })
    }

    /// The entry's `^SSL=` suffix.
    pub fn tls(&self) -> PortTls {
        self.acl.as_deref().and_then(|acl| port_tls(acl).ok().flatten()).unwrap_or(PortTls::Default)
    }

    /// `host:port` to bind, with `*` as `0.0.0.0` and IPv6 hosts in brackets.
    pub fn address(&self, default_port: u16) -> String {
        let port = self.port.unwrap_or(default_port);
        match self.host.as_str() {
            "*" => format!("0.0.0.0:{port}"),
            h if h.contains(':') => format!("[{h}]:{port}"),
            h => format!("{h}:{port}"),
        }
    }
}

impl fmt::Display for BindTo {
    /// As it parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(acl) = &self.acl {
            write!(f, "={acl}")?;
        }
        Ok(())
    }
}

/// Parse a `bind to` value: entries separated by spaces or commas, each `HOST[:PORT][=ACL]`
/// with IPv6 addresses in brackets. On error, says what is wrong.
pub fn parse_bind_to(text: &str) -> Result<Vec<BindTo>, String> {
    let list = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(parse_bind_entry)
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(format!("expected at least one address, e.g. 127.0.0.1:{DEFAULT_WEB_PORT}"));
    }
    Ok(list)
}

fn parse_bind_entry(token: &str) -> Result<BindTo, String> {
    if token.starts_with("unix:") {
        return Err(format!("'{token}': unix sockets are not supported; list TCP addresses only"));
    }
    let (addr, acl) = match token.split_once('=') {
        Some((addr, acl)) => (addr, Some(acl.to_string())),
        None => (token, None),
    };
    let (host, port) = split_host_port(addr, token, "HOST[:PORT], or *:PORT for every address")?;
    if let Some(acl) = &acl {
        port_tls(acl).map_err(|e| format!("'{token}': {e}"))?;
    }
    Ok(BindTo { host: host.to_string(), port, acl })
}

/// The `^SSL=` suffix of an access list (in any of its `|` parts, as netdata reads it):
/// `None` without one; an error naming the choices for an unknown value.
fn port_tls(acl: &str) -> Result<Option<PortTls>, String> {
    let mut found = None;
    for suffix in acl.split('|').filter_map(|part| part.split_once('^').map(|(_, s)| s.trim())) {
        found = Some(match suffix.strip_prefix("SSL=") {
            Some("optional") => PortTls::Optional,
            Some("force") => PortTls::Force,
            _ => {
                return Err(format!(
                    "unknown TLS suffix '^{suffix}'. Choose from: ^SSL=optional (plain and TLS), ^SSL=force (TLS only)"
                ))
            }
        });
    }
    Ok(found)
}

/// `bind to`.
struct BindList;

impl Kind<Vec<BindTo>> for BindList {
    fn parse(&self, text: &str) -> Result<Vec<BindTo>, String> {
        parse_bind_to(text)
    }
    fn render(&self, value: &Vec<BindTo>) -> String {
        value.iter().map(BindTo::to_string).collect::<Vec<_>>().join(" ")
    }
}

/// `[web]`: where the API is served and children connect, who may connect, and how long and
/// how many connections may wait or stay open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Web {
    /// `mode`: `none` serves nothing (no listener, no API, no children); netdata's other modes
    /// (default `static-threaded`) all mean "listen".
    pub mode: String,
    /// `allow connections from`: a simple pattern over the client's IP address (default
    /// `localhost *`); other clients are closed at once.
    pub allow_connections_from: String,
    /// `bind to`: the addresses listened on (default `127.0.0.1:19999`).
    pub bind_to: Vec<BindTo>,
    /// `default port`: the port of `bind to` entries that give none (default 19999).
    pub default_port: u16,
    /// `timeout for first request`: seconds a connection may take to send its request (default
    /// 10; netdata's key, whose default is 60); on a keep-alive connection, the longest wait for
    /// the next request too.
    pub timeout_for_first_request: u32,
    /// `max pending requests`: connections waiting for their request at once; a new one closes
    /// the oldest (default 256).
    pub max_pending_requests: usize,
    /// `max pending requests per address`: the same, from one IPv4 address or IPv6 /64; a new one
    /// closes that address's oldest (default 16).
    pub max_pending_requests_per_address: usize,
    /// `web server max sockets`: HTTP connections held at once; a new one closes the one idle
    /// the longest (default 512).
    pub max_sockets: usize,
    /// `ssl key`: the PEM private key of `ssl certificate`. Unset: `[directories] config` +
    /// [`DEFAULT_SSL_KEY`], used when both default files exist (netdata's default).
    pub ssl_key: Option<PathBuf>,
    /// `ssl certificate`: the PEM certificate (chain) served on every `bind to` port. Unset:
    /// `[directories] config` + [`DEFAULT_SSL_CERTIFICATE`], as for `ssl key`.
    pub ssl_certificate: Option<PathBuf>,
    /// `tls version`: the highest TLS version offered (default `1.3`; `1.2` offers TLS 1.2 only).
    pub tls_version: String,
    /// `tls ciphers`: cipher suites allowed, separated by `:` (default `none`: the TLS library's
    /// own list).
    pub tls_ciphers: String,
}

impl Default for Web {
    fn default() -> Web {
        Web {
            mode: "static-threaded".to_string(),
            allow_connections_from: "localhost *".to_string(),
            bind_to: vec![BindTo { host: "127.0.0.1".to_string(), port: Some(DEFAULT_WEB_PORT), acl: None }],
            default_port: DEFAULT_WEB_PORT,
            timeout_for_first_request: DEFAULT_FIRST_REQUEST_TIMEOUT,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            max_pending_requests_per_address: DEFAULT_MAX_PENDING_PER_ADDRESS,
            max_sockets: DEFAULT_WEB_MAX_SOCKETS,
            ssl_key: None,
            ssl_certificate: None,
            tls_version: "1.3".to_string(),
            tls_ciphers: "none".to_string(),
        }
    }
}

impl Web {
    /// The `host:port` addresses children may stream to, in configuration order.
    pub fn streaming_addresses(&self) -> Vec<String> {
        self.bind_to.iter().filter(|b| b.allows_streaming()).map(|b| b.address(self.default_port)).collect()
    }

    /// Whether anything listens: every `mode` but `none`.
    pub fn enabled(&self) -> bool {
        self.mode != "none"
    }

    /// The key and certificate files, and whether they were set (rather than netdata's defaults
    /// under `config_dir`, `[directories] config`).
    pub fn tls_files(&self, config_dir: &Path) -> (PathBuf, PathBuf, bool) {
        let set = self.ssl_key.is_some() || self.ssl_certificate.is_some();
        let key = self.ssl_key.clone().unwrap_or_else(|| config_dir.join(DEFAULT_SSL_KEY));
        let cert = self.ssl_certificate.clone().unwrap_or_else(|| config_dir.join(DEFAULT_SSL_CERTIFICATE));
        (key, cert, set)
    }
}

impl Settings for Web {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("mode", &mut self.mode, &Choice { what: "web server mode", choices: WEB_MODES });
        v.setting("bind to", &mut self.bind_to, &BindList);
        v.setting("allow connections from", &mut self.allow_connections_from, &Text);
        let port = Whole { min: 1, max: Some(65535), unit: "port" };
        v.setting("default port", &mut self.default_port, &port);
        let seconds = Whole { min: 1, max: Some(3600), unit: "seconds" };
        v.setting("timeout for first request", &mut self.timeout_for_first_request, &seconds);
        let connections = Whole { min: 1, max: Some(65536), unit: "connections" };
        v.setting("max pending requests", &mut self.max_pending_requests, &connections);
        let per_address = &mut self.max_pending_requests_per_address;
        v.setting("max pending requests per address", per_address, &connections);
        v.setting("web server max sockets", &mut self.max_sockets, &connections);
        v.setting("ssl key", &mut self.ssl_key, &setting::OptPath);
        v.setting("ssl certificate", &mut self.ssl_certificate, &setting::OptPath);
        v.setting(
            "tls version",
            &mut self.tls_version,
            &Choice { what: "TLS version", choices: TLS_VERSIONS },
        );
        v.setting("tls ciphers", &mut self.tls_ciphers, &Text);
    }
}

/// `[registry]`: only where this agent's machine GUID is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// `netdata unique id file`: the file holding the machine GUID (default
    /// `[directories] lib`/`registry/netdata.public.unique.id`, where netdata keeps it).
    pub unique_id_file: Option<PathBuf>,
}

impl Registry {
    /// The machine GUID file: the one set, else netdata's under `lib`.
    pub fn unique_id_file(&self, lib: &Path) -> PathBuf {
        self.unique_id_file.clone().unwrap_or_else(|| lib.join(UNIQUE_ID_FILE))
    }
}

impl Settings for Registry {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("netdata unique id file", &mut self.unique_id_file, &setting::OptPath);
    }
}

/// Read `[registry]`: its one key, netdata's others accepted quietly.
pub(crate) fn read_registry(registry: &mut Registry, file: &str, section: &Section, diag: &mut Diagnostics) {
    setting::read(registry, &[(file, section)], diag);
    let mut known = setting::known_keys(registry);
    known.extend_from_slice(REGISTRY_KEYS);
    setting::warn_unknown(file, section, &known, diag);
}

/// What a stream.conf section named after a UUID describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKeyType {
    /// `type = api`: an API key children present (the default).
    Api,
    /// `type = machine`: one child, by machine GUID.
    Machine,
}

impl StreamKeyType {
    fn name(self) -> &'static str {
        match self {
            StreamKeyType::Api => "api",
            StreamKeyType::Machine => "machine",
        }
    }
}

/// `type`.
struct KeyTypes;

impl Kind<StreamKeyType> for KeyTypes {
    fn parse(&self, text: &str) -> Result<StreamKeyType, String> {
        match text.to_ascii_lowercase().as_str() {
            "api" => Ok(StreamKeyType::Api),
            "machine" => Ok(StreamKeyType::Machine),
            _ => Err("unknown type. Choose from: api (an API key), machine (a machine GUID)".to_string()),
        }
    }
    fn render(&self, value: &StreamKeyType) -> String {
        value.name().to_string()
    }
}

/// A stream.conf section named after a UUID: an API key or a machine GUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    /// The UUID naming the section.
    pub uuid: String,
    /// `type`: `api` (default) or `machine`.
    pub key_type: StreamKeyType,
    /// `enabled`: default `no` for an API key, `yes` for a machine (netdata's defaults).
    pub enabled: bool,
    /// `allow from`: simple pattern of peer IP addresses allowed (default `*`).
    pub allow_from: String,
    /// `enable compression`: `no` keeps the children it names from compressing (default yes;
    /// `[stream] enable compression = no` turns it off for all).
    pub enable_compression: bool,
    /// `enable replication`, `seconds to replicate`, `seconds per replication step`: what its
    /// children are asked to replay, where set; unset ones come from the API key's section
    /// (for a machine GUID's section), then `[db]`.
    pub replication: KeyReplication,
    /// The file the section is in (the first one, when in both).
    pub file: String,
    /// The line of its header.
    pub line: usize,
}

impl StreamKey {
    fn new(uuid: &str, key_type: StreamKeyType, file: &str, line: usize) -> StreamKey {
        StreamKey {
            uuid: uuid.to_string(),
            key_type,
            enabled: key_type == StreamKeyType::Machine,
            allow_from: "*".to_string(),
            enable_compression: true,
            replication: KeyReplication::default(),
            file: file.to_string(),
            line,
        }
    }
}

impl Settings for StreamKey {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("type", &mut self.key_type, &KeyTypes);
        v.setting("enabled", &mut self.enabled, &Bool);
        v.setting("allow from", &mut self.allow_from, &Text);
        v.setting("enable compression", &mut self.enable_compression, &Bool);
        v.setting("enable replication", &mut self.replication.enabled, &Opt(Bool));
        let seconds = Whole { min: 1, max: None, unit: "seconds" };
        v.setting("seconds to replicate", &mut self.replication.seconds, &Opt(seconds));
        let seconds = Whole { min: 1, max: None, unit: "seconds" };
        v.setting("seconds per replication step", &mut self.replication.step, &Opt(seconds));
    }
}

/// The replication keys of an API key's or a machine GUID's section, as netdata 1.37's
/// receiver reads them there; `None` where the section does not set one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyReplication {
    /// `enable replication`.
    pub enabled: Option<bool>,
    /// `seconds to replicate`.
    pub seconds: Option<u64>,
    /// `seconds per replication step`.
    pub step: Option<u64>,
}

/// `[stream]` limits on children, and who may stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// `max children`: children streaming at once; more are refused (default 1000).
    pub max_children: usize,
    /// `timeout seconds`: a child silent this long is disconnected (default 600).
    pub timeout_seconds: u32,
    /// `enable compression`: children that offer lz4 compression get it (default yes, as in
    /// netdata).
    pub enable_compression: bool,
    /// The sections named after a UUID, in file order (stream.conf first).
    pub keys: Vec<StreamKey>,
}

impl Default for Stream {
    fn default() -> Stream {
        Stream {
            max_children: DEFAULT_MAX_CHILDREN,
            timeout_seconds: DEFAULT_STREAM_TIMEOUT_SECONDS,
            enable_compression: true,
            keys: Vec::new(),
        }
    }
}

impl Stream {
    /// Whether an API key is enabled, so that the listener has a reason to run.
    pub fn any_api_key_enabled(&self) -> bool {
        self.keys.iter().any(|k| k.key_type == StreamKeyType::Api && k.enabled)
    }
}

impl Settings for Stream {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        let children = Whole { min: 1, max: None, unit: "children" };
        v.setting("max children", &mut self.max_children, &children);
        let seconds = Whole { min: 1, max: None, unit: "seconds" };
        v.setting("timeout seconds", &mut self.timeout_seconds, &seconds);
        v.setting("enable compression", &mut self.enable_compression, &Bool);
    }
}

/// Read the `[stream]` sections (`(file, section)`, first wins) into `stream`'s limits.
pub(crate) fn read_stream(stream: &mut Stream, chain: &[(&str, &Section)], diag: &mut Diagnostics) {
    setting::read(stream, chain, diag);
    let mut known = setting::known_keys(stream);
    known.extend_from_slice(SENDER_KEYS);
    for (file, section) in chain {
        setting::warn_unknown(file, section, &known, diag);
        if let Some(e) = section.get("enabled").filter(|e| parse_bool(&e.value) == Some(true)) {
            diag.warn(
                file,
                e.line,
                "[stream] enabled = yes asks to send to a parent, which rrdpipe does not do; \
                 its sending keys are ignored (children stream to rrdpipe through the API key sections)",
            );
        }
    }
}

/// Read one UUID-named section, found in `chain` (`(file, section)`, first wins).
pub(crate) fn read_key(chain: &[(&str, &Section)], diag: &mut Diagnostics) -> StreamKey {
    let (file, first) = chain[0];
    // The type decides the defaults of the other keys, so it is read first.
    let mut probe = StreamKey::new(&first.name, StreamKeyType::Api, file, first.line);
    let mut quiet = Diagnostics::default();
    setting::read(&mut probe, chain, &mut quiet);
    let mut key = StreamKey::new(&first.name, probe.key_type, file, first.line);
    setting::read(&mut key, chain, diag);
    let known = setting::known_keys(&key);
    for (file, section) in chain {
        setting::warn_unknown(file, section, &known, diag);
    }
    key
}

/// Append `[web]`, `[stream]` and every UUID-named section.
pub(crate) fn render(web: &Web, stream: &Stream, out: &mut String) {
    out.push_str("\n[web]\n");
    setting::render(web, out);
    out.push_str("\n[stream]\n");
    setting::render(stream, out);
    for key in &stream.keys {
        out.push_str(&format!("\n[{}]\n", key.uuid));
        setting::render(key, out);
    }
}

#[cfg(test)]
mod web_tests {
    use super::*;

    #[test]
    fn an_acl_names_what_a_bind_to_entry_offers() {
        let list =
            parse_bind_to("a:1 b:2=dashboard c:3=streaming d:4=dashboard|streaming e:5=badges").unwrap();
        let offers: Vec<(bool, bool)> =
            list.iter().map(|b| (b.allows_dashboard(), b.allows_streaming())).collect();
        assert_eq!(offers, vec![(true, true), (true, false), (false, true), (true, true), (false, false)]);
    }

    #[test]
    fn the_ssl_suffix_is_read_from_any_acl_part_and_does_not_hide_the_name() {
        let list = parse_bind_to(
            "a:1 b:2=dashboard^SSL=optional c:3=streaming|dashboard^SSL=force d:4=streaming^SSL=force|dashboard              e:5=^SSL=force",
        )
        .unwrap();
        let seen: Vec<(bool, bool, PortTls)> =
            list.iter().map(|b| (b.allows_dashboard(), b.allows_streaming(), b.tls())).collect();
        assert_eq!(
            seen,
            vec![
                (true, true, PortTls::Default),
                (true, false, PortTls::Optional),
                (true, true, PortTls::Force),
                (true, true, PortTls::Force),
                (false, false, PortTls::Force),
            ]
        );
        assert_eq!(list[2].to_string(), "c:3=streaming|dashboard^SSL=force", "renders as written");
        assert_eq!(
            parse_bind_to("*:19999=streaming^SSL=forced"),
            Err("'*:19999=streaming^SSL=forced': unknown TLS suffix '^SSL=forced'. Choose from: ^SSL=optional \
                 (plain and TLS), ^SSL=force (TLS only)"
                .to_string())
        );
    }

    #[test]
    fn only_mode_none_listens_nowhere_and_unknown_modes_name_the_choices() {
        assert!(Web::default().enabled());
        assert_eq!(Web::default().allow_connections_from, "localhost *");
        assert_eq!(Web::default().max_sockets, DEFAULT_WEB_MAX_SOCKETS);
        assert!(!Web { mode: "none".into(), ..Web::default() }.enabled());
        let kind = Choice { what: "web server mode", choices: WEB_MODES };
        assert_eq!(kind.parse("Static-Threaded"), Ok("static-threaded".to_string()));
        assert_eq!(
            kind.parse("apache"),
            Err("unknown web server mode. Choose from: static-threaded, single-threaded, multi-threaded, none"
                .to_string())
        );
    }
}
