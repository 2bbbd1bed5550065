//! Configuration: netdata.conf-style files, parsed into typed settings; every error names
//! `file:line`.
//!
//! [`load`] reads the main file and, in the configuration directory, `exporting.conf` and
//! `stream.conf`, then calls [`parse_files`], which does no I/O: tests feed it string literals.
//! All problems of a file are reported together. This module knows nothing of what the settings
//! drive.
//!
//! * `ini`: the syntax (`[section]`, `key = value`, `#` comments), with line numbers;
//! * `setting`: typed values (booleans, numbers, paths, ...) and the visit that lists a section's
//!   keys once for reading, rendering and unknown-key warnings;
//! * `agent`: `[global]`, `[db]`, `[directories]`, `[plugins]`;
//! * `exporting`: `[backend]`, `[exporting:global]` and `[TYPE:NAME]` exporter sections;
//! * `stream`: parent mode: `[web]`, `[stream]`, the API key sections of stream.conf, and
//!   `[registry]` (where the machine GUID is kept);
//! * `address`: one `HOST[:PORT]` (IPv6 in brackets), as `destination` and `bind to` write it;
//! * `diag`: collected errors and warnings.

mod address;
mod agent;
mod diag;
mod exporting;
mod ini;
mod prometheus;
mod setting;
mod stream;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use agent::{
    Database, Directories, Global, PluginOptions, Plugins, CACHE_DIR, CUSTOM_PLUGINS_DIR, DIRECTORY_KEYS,
    HISTORY_RANGE, LIB_DIR, LOG_DIR, LOG_LEVELS, STOCK_CONFIG_DIR, WEB_DIR,
};
pub use exporting::{
    parse_destinations, ConnectorKind, DataSource, Endpoint, ExporterConfig, INSTANCE_TYPES,
    SPOOL_MAX_SIZE_DEFAULT,
};
pub use prometheus::PrometheusExporter;
pub use stream::{
    parse_bind_to, BindTo, KeyReplication, PortTls, Registry, Stream, StreamKey, StreamKeyType, Web,
    DEFAULT_FIRST_REQUEST_TIMEOUT, DEFAULT_MAX_CHILDREN, DEFAULT_MAX_PENDING_PER_ADDRESS,
    DEFAULT_MAX_PENDING_REQUESTS, DEFAULT_SSL_CERTIFICATE, DEFAULT_SSL_KEY, DEFAULT_STREAM_TIMEOUT_SECONDS,
    DEFAULT_WEB_PORT, TLS_VERSIONS, UNIQUE_ID_FILE,
};

use diag::Diagnostics;
use exporting::Found;
use ini::{Ini, Section};

/// The whole configuration, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The main file, as named to [`parse`].
    pub file: PathBuf,
    /// `[global]`.
    pub global: Global,
    /// `[db]` (and its keys' old names in `[global]`).
    pub db: Database,
    /// `[directories]`.
    pub directories: Directories,
    /// `[plugins]`.
    pub plugins: Plugins,
    /// `[backend]` and every `[TYPE:NAME]`, in file order (main file first).
    pub exporters: Vec<ExporterConfig>,
    /// `[prometheus:exporter]`: what `/api/v1/allmetrics` sends unless a request says.
    pub prometheus: PrometheusExporter,
    /// `[host labels]`: `name = value` pairs in file order.
    pub host_labels: Vec<(String, String)>,
    /// `[web]`: where streaming children connect.
    pub web: Web,
    /// `[stream]` and the API key sections (main file and `stream.conf`).
    pub stream: Stream,
    /// `[registry]`: where the machine GUID is kept.
    pub registry: Registry,
}

/// One configuration file's display name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name used in messages (usually the path).
    pub name: String,
    /// The file's contents.
    pub text: String,
}

/// Defaults that come from the machine rather than from files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The system hostname, the default of `[global] hostname`.
    pub hostname: String,
    /// The default of `[directories] plugins`: where netdata's package put its plugins.
    pub plugins_dir: PathBuf,
}

/// Where netdata's packages install their plugins: Debian and Ubuntu, then the layout of
/// netdata's own installer and of other distributions.
pub const PLUGINS_DIRS: [&str; 2] = ["/usr/lib/netdata/plugins.d", "/usr/libexec/netdata/plugins.d"];

/// The default plugins directory: the first of [`PLUGINS_DIRS`] that exists, else the first.
pub fn installed_plugins_dir() -> PathBuf {
    let found = PLUGINS_DIRS.iter().find(|d| Path::new(d).is_dir());
    PathBuf::from(found.unwrap_or(&PLUGINS_DIRS[0]))
}

/// A configuration that can be used, and what was odd about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Warnings (`file:line: ...`) worth logging: unknown keys and sections, overridden values.
    pub warnings: Vec<String>,
}

/// Why a configuration cannot be used: every error found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors {
    /// Each error, `file:line: problem`, in file and line order.
    pub errors: Vec<String>,
    /// Warnings found along the way (they may explain an error).
    pub warnings: Vec<String>,
}

impl Errors {
    fn one(error: String) -> Errors {
        Errors { errors: vec![error], warnings: Vec::new() }
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.errors.join("\n"))
    }
}

impl std::error::Error for Errors {}

/// What a section name means.
enum Role<'a> {
    Global,
    Db,
    Directories,
    Plugins,
    /// `[plugin:NAME]`: how one external plugin is run.
    Plugin(&'a str),
    HostLabels,
    Web,
    Stream,
    Registry,
    /// A section named after a UUID: a stream API key or machine GUID.
    StreamKey,
    /// Read elsewhere, or later: no warning.
    Accepted,
    Backend,
    ExportingGlobal,
    PrometheusExporter,
    Instance(ConnectorKind, &'a str),
    Unknown,
}

fn role(name: &str) -> Role<'_> {
    match name {
        "global" => Role::Global,
        "db" => Role::Db,
        "directories" => Role::Directories,
        "plugins" => Role::Plugins,
        "host labels" => Role::HostLabels,
        "web" => Role::Web,
        "stream" => Role::Stream,
        "registry" => Role::Registry,
        "logs" => Role::Accepted,
        "backend" => Role::Backend,
        "exporting:global" => Role::ExportingGlobal,
        prometheus::SECTION => Role::PrometheusExporter,
        _ if is_uuid(name) => Role::StreamKey,
        _ => match agent::plugin_section_name(name) {
            Some(plugin) => Role::Plugin(plugin),
            None => instance_role(name),
        },
    }
}

/// The role of a `[TYPE:NAME]` exporter section, or unknown.
fn instance_role(name: &str) -> Role<'_> {
    match exporting::split_section(name) {
        Some((kind, instance)) => match ConnectorKind::from_type(kind) {
            Some(kind) => Role::Instance(kind, instance),
            None => Role::Unknown,
        },
        None => Role::Unknown,
    }
}

/// Whether `name` is a UUID (`8-4-4-4-12` hex digits), as stream API keys are.
fn is_uuid(name: &str) -> bool {
    let groups: Vec<&str> = name.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The directory holding the main file `name` (`.` when it has none).
fn directory_of(name: &str) -> PathBuf {
    match Path::new(name).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Parse the main file and, when present, `exporting.conf`. Pure: no I/O.
pub fn parse(main: Source, exporting: Option<Source>, defaults: &Defaults) -> Result<Loaded, Errors> {
    parse_files(main, exporting, None, defaults)
}

/// Parse the main file and, when present, `exporting.conf` and `stream.conf`. Pure: no I/O.
///
/// `stream.conf` holds `[stream]` and the sections named after an API key or machine GUID; where
/// it and the main file both set a key of the same section, `stream.conf` wins.
pub fn parse_files(
    main: Source,
    exporting: Option<Source>,
    stream_conf: Option<Source>,
    defaults: &Defaults,
) -> Result<Loaded, Errors> {
    let mut diag = Diagnostics::default();
    let main_ini = ini::parse(&main.name, &main.text, &mut diag);
    let exporting_ini = exporting.map(|s| ini::parse(&s.name, &s.text, &mut diag));
    let stream_ini = stream_conf.map(|s| ini::parse(&s.name, &s.text, &mut diag));

    let mut config = Config::defaults(&main.name, defaults);
    let mut sorted = Sorted::default();
    if let Some(ini) = &stream_ini {
        sorted.stream_conf(ini, &mut diag);
    }
    sorted.main_file(&main_ini, &mut config, &mut diag);
    if let Some(ini) = &exporting_ini {
        sorted.exporting_conf(ini, &mut diag);
    }
    config.directories.finish(&directory_of(&main.name), &defaults.plugins_dir);
    sorted.read_into(&main_ini.file, &mut config, &mut diag);

    let (errors, warnings) = diag.finish();
    if !errors.is_empty() {
        return Err(Errors { errors, warnings });
    }
    config.registry.unique_id_file = Some(config.registry.unique_id_file(&config.directories.lib));
    Ok(Loaded { config, warnings })
}

impl Config {
    /// Every setting at its default, the main file being `main`.
    fn defaults(main: &str, defaults: &Defaults) -> Config {
        Config {
            file: PathBuf::from(main),
            global: Global::new(defaults.hostname.clone()),
            db: Database::default(),
            directories: Directories::new(
                directory_of(main),
                defaults.plugins_dir.clone(),
                PathBuf::from(agent::LIB_DIR),
            ),
            plugins: Plugins::default(),
            exporters: Vec::new(),
            prometheus: PrometheusExporter::default(),
            host_labels: Vec::new(),
            web: Web::default(),
            stream: Stream::default(),
            registry: Registry::default(),
        }
    }
}

/// The sections whose settings come from several sections or files, gathered by role before
/// they are read; each chain lists `(file, section)` with the one that wins first.
#[derive(Default)]
struct Sorted<'a> {
    /// `[db]` sections.
    db_chain: Vec<(&'a str, &'a Section)>,
    /// `[global]`'s old names of `[db]` keys, under their `[db]` names: read after `db_chain`.
    db_keys_in_global: Vec<Section>,
    /// `[plugin:NAME]` sections.
    plugin_sections: Vec<(&'a str, &'a Section)>,
    /// `[backend]` and `[TYPE:NAME]` sections.
    found: Vec<Found<'a>>,
    /// `[exporting:global]` sections, exporting.conf's first.
    globals: Vec<(&'a str, &'a Section)>,
    /// `[prometheus:exporter]` sections, exporting.conf's first.
    prometheus: Vec<(&'a str, &'a Section)>,
    /// `[stream]` sections, stream.conf's first.
    stream_chain: Vec<(&'a str, &'a Section)>,
    /// One chain per UUID-named section (an API key or machine GUID), stream.conf's first.
    key_chains: Vec<Vec<(&'a str, &'a Section)>>,
    /// Where the chain of each UUID-named section is in `key_chains`.
    key_chain_at: HashMap<&'a str, usize>,
}

impl<'a> Sorted<'a> {
    /// Add `section` to the chain of its UUID name, starting one when it is the first.
    fn push_key(&mut self, file: &'a str, section: &'a Section) {
        match self.key_chain_at.get(section.name.as_str()) {
            Some(&at) => self.key_chains[at].push((file, section)),
            None => {
                self.key_chain_at.insert(&section.name, self.key_chains.len());
                self.key_chains.push(vec![(file, section)]);
            }
        }
    }

    /// stream.conf: `[stream]` and UUID-named sections; anything else is warned about.
    fn stream_conf(&mut self, ini: &'a Ini, diag: &mut Diagnostics) {
        let file = ini.file.as_str();
        for section in &ini.sections {
            match role(&section.name) {
                Role::Stream => self.stream_chain.push((file, section)),
                Role::StreamKey => self.push_key(file, section),
                _ => unknown_section(
                    diag,
                    file,
                    section,
                    " (stream.conf holds [stream] and sections named after an API key or machine GUID)",
                ),
            }
        }
    }

    /// The main file: sections read on their own go into `config` at once, the others are
    /// gathered.
    fn main_file(&mut self, ini: &'a Ini, config: &mut Config, diag: &mut Diagnostics) {
        let file = ini.file.as_str();
        for section in &ini.sections {
            match role(&section.name) {
                Role::Global => {
                    let (own, db_keys) = split_db_keys(section);
                    agent::read_section(&mut config.global, file, &own, diag);
                    self.db_keys_in_global.push(db_keys);
                }
                Role::Db => self.db_chain.push((file, section)),
                Role::Directories => agent::read_directories(&mut config.directories, file, section, diag),
                Role::Plugins => config.plugins = agent::read_plugins(file, section, diag),
                Role::Plugin(name) => self.plugin_sections.push((name, section)),
                Role::HostLabels => {
                    config.host_labels =
                        section.entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect();
                }
                Role::Web => agent::read_section(&mut config.web, file, section, diag),
                Role::Registry => stream::read_registry(&mut config.registry, file, section, diag),
                Role::Stream => self.stream_chain.push((file, section)),
                Role::StreamKey => self.push_key(file, section),
                Role::Accepted => {}
                Role::Backend => self.found.push(Found { file, section, instance: None }),
                Role::ExportingGlobal => self.globals.push((file, section)),
                Role::PrometheusExporter => self.prometheus.push((file, section)),
                Role::Instance(kind, name) => {
                    self.found.push(Found { file, section, instance: Some((kind, name)) })
                }
                Role::Unknown => unknown_section(diag, file, section, ""),
            }
        }
    }

    /// exporting.conf: `[exporting:global]` (whose defaults win over the main file's) and
    /// `[TYPE:NAME]` sections; anything else is warned about.
    fn exporting_conf(&mut self, ini: &'a Ini, diag: &mut Diagnostics) {
        let file = ini.file.as_str();
        for section in &ini.sections {
            match role(&section.name) {
                Role::ExportingGlobal => self.globals.insert(0, (file, section)),
                Role::PrometheusExporter => self.prometheus.insert(0, (file, section)),
                Role::Instance(kind, name) => {
                    self.found.push(Found { file, section, instance: Some((kind, name)) })
                }
                _ => unknown_section(
                    diag,
                    file,
                    section,
                    " (exporting.conf holds [exporting:global], [prometheus:exporter] and [TYPE:NAME] \
                     sections)",
                ),
            }
        }
    }

    /// Read the gathered sections into `config`: plugins' options, `[db]`, the exporters and
    /// `[stream]` with its API keys. `file` is the main file.
    fn read_into(self, file: &str, config: &mut Config, diag: &mut Diagnostics) {
        for (name, section) in &self.plugin_sections {
            let options = config
                .plugins
                .options
                .entry(name.to_string())
                .or_insert(PluginOptions::new(config.global.update_every));
            agent::read_section(options, file, section, diag);
        }
        let mut db_chain = self.db_chain.clone();
        db_chain.extend(self.db_keys_in_global.iter().map(|section| (file, section)));
        agent::read_chain(&mut config.db, &db_chain, diag);
        config.exporters = exporting::read(&self.found, &self.globals, diag);
        config.prometheus = prometheus::read(&self.prometheus, &self.globals, diag);
        stream::read_stream(&mut config.stream, &self.stream_chain, diag);
        config.stream.keys = self.key_chains.iter().map(|chain| stream::read_key(chain, diag)).collect();
    }
}

/// `[global]` without the old names of `[db]` keys, and those keys under their `[db]` names
/// (lines kept, so messages point at what was written).
fn split_db_keys(global: &Section) -> (Section, Section) {
    let mut own = Section { name: global.name.clone(), line: global.line, entries: Vec::new() };
    let mut db = Section { name: "global".to_string(), line: global.line, entries: Vec::new() };
    for entry in &global.entries {
        match agent::DB_KEYS_IN_GLOBAL.iter().find(|(old, _)| *old == entry.key) {
            Some((_, new)) => db.entries.push(ini::Entry { key: new.to_string(), ..entry.clone() }),
            None => own.entries.push(entry.clone()),
        }
    }
    (own, db)
}

fn unknown_section(diag: &mut Diagnostics, file: &str, section: &Section, hint: &str) {
    diag.warn(file, section.line, format_args!("unknown section [{}]; ignored{hint}", section.name));
}

/// The directory `exporting.conf` is looked for in: `[directories] config` of the main file's
/// text, else the main file's directory.
fn config_directory(path: &Path, text: &str) -> PathBuf {
    let name = path.display().to_string();
    let ini: Ini = ini::parse(&name, text, &mut Diagnostics::default());
    let main_dir = directory_of(&name);
    match ini.section("directories").and_then(|s| s.get("config")).filter(|e| !e.value.is_empty()) {
        Some(entry) => main_dir.join(&entry.value),
        None => main_dir,
    }
}

/// Read the main configuration file at `path`, and `exporting.conf` and `stream.conf` from the
/// configuration directory when they exist, then [`parse_files`] them with this host's hostname
/// as default.
pub fn load(path: &Path) -> Result<Loaded, Errors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Errors::one(match e.kind() {
            io::ErrorKind::InvalidData => {
                format!("{name}: the configuration file is not UTF-8 text; save it as UTF-8")
            }
            _ => format!("{name}: cannot read the configuration file: {e}; check the path"),
        })
    })?;
    let dir = config_directory(path, &text);
    let exporting = read_optional(&dir.join("exporting.conf"))?;
    let stream_conf = read_optional(&dir.join("stream.conf"))?;
    let defaults = Defaults { hostname: system_hostname(), plugins_dir: installed_plugins_dir() };
    let mut loaded = parse_files(Source { name: name.clone(), text }, exporting, stream_conf, &defaults)?;
    let dirs = &mut loaded.config.directories;
    if !dirs.set_at.contains_key("home") {
        if let Some(home) = std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute()) {
            dirs.home = home;
        }
    }
    loaded.warnings.extend(missing_directories(&loaded.config.directories, &name, Path::is_dir));
    Ok(loaded)
}

/// A warning for each directory that is missing where rrdpipe or its plugins need it (`exists`
/// tells). A plugins directory is checked when the file set it, or when it is the installed
/// one; the directories plugins are given (but `lib`, which rrdpipe makes) are checked only when
/// some plugins directory exists.
/// Each names the key and where it was set (`file:line`, or the main file for a default).
fn missing_directories(dirs: &Directories, main: &str, exists: impl Fn(&Path) -> bool) -> Vec<String> {
    let at = |key: &str| dirs.set_at.get(key).cloned().unwrap_or_else(|| format!("{main} (default)"));
    let mut warnings = Vec::new();
    let any_plugins = dirs.plugins.iter().any(|d| exists(d));
    for (i, dir) in dirs.plugins.iter().enumerate() {
        if exists(dir) || (i > 0 && !dirs.set_at.contains_key("plugins")) {
            continue;
        }
        let what = if any_plugins {
            "no such directory; skipped".to_string()
        } else {
            "no such directory, so no external plugin will run; install netdata's plugins (Debian: apt install netdata) \
             or point the key at a directory of *.plugin programs"
                .to_string()
        };
        warnings.push(format!("{}: [directories] plugins = {}: {what}", at("plugins"), dir.display()));
    }
    if !any_plugins {
        return warnings;
    }
    // `lib` is left out: rrdpipe makes it when it keeps its machine GUID there.
    let given: [(&str, &Path, &str); 4] = [
        ("config", &dirs.config, "NETDATA_USER_CONFIG_DIR"),
        ("stock config", &dirs.stock_config, "NETDATA_STOCK_CONFIG_DIR"),
        ("log", &dirs.log, "NETDATA_LOG_DIR"),
        ("cache", &dirs.cache, "NETDATA_CACHE_DIR"),
    ];
    for (key, dir, var) in given {
        if !exists(dir) {
            warnings.push(format!(
                "{}: [directories] {key} = {}: no such directory; plugins are given it as {var} and may fail without it: \
                 create it or point the key at the right directory",
                at(key),
                dir.display()
            ));
        }
    }
    if !dirs.host_prefix.as_os_str().is_empty() && !exists(&dirs.host_prefix) {
        warnings.push(format!(
            "{}: [directories] host prefix = {}: no such directory; plugins read the host's /proc and /sys under it: \
             fix the path or leave the key empty",
            at("host prefix"),
            dirs.host_prefix.display()
        ));
    }
    warnings
}

/// The file at `path`, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<Source>, Errors> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(Source { name: path.display().to_string(), text })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Errors::one(format!(
            "{}: cannot read: {e}; fix its permissions or remove it",
            path.display()
        ))),
    }
}

/// The system's hostname, or `localhost` when it cannot be read.
fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, which bounds what is written.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match String::from_utf8_lossy(&buf[..end]).into_owned() {
        name if rc == 0 && !name.is_empty() => name,
        _ => "localhost".to_string(),
    }
}

impl Config {
    /// The effective configuration in netdata.conf syntax: every key with its value, defaults
    /// included, exporters with their `[exporting:global]` defaults applied. Passwords show as
    /// `********`. Parsing the result gives this configuration again (but for passwords).
    pub fn effective(&self) -> String {
        let mut out = format!(
            "# rrdpipe effective configuration, read from {}\n\
             # every key is shown with its value, defaults included; passwords are masked\n",
            self.file.display()
        );
        out.push_str("\n[global]\n");
        setting::render(&self.global, &mut out);
        out.push_str("\n[db]\n");
        setting::render(&self.db, &mut out);
        out.push_str("\n[directories]\n");
        agent::render_directories(&self.directories, &mut out);
        out.push_str("\n[plugins]\n");
        agent::render_plugins(&self.plugins, &mut out);
        out.push_str("\n[host labels]\n");
        for (name, value) in &self.host_labels {
            setting::entry_line(&mut out, name, value);
        }
        stream::render(&self.web, &self.stream, &mut out);
        out.push_str("\n[registry]\n");
        setting::render(&self.registry, &mut out);
        prometheus::render(&self.prometheus, &mut out);
        for exporter in &self.exporters {
            exporting::render(exporter, &mut out);
        }
        out
    }
}
