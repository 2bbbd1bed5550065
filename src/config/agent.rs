//! The agent's own sections of netdata.conf: `[global]`, `[directories]` and `[plugins]`.
//!
//! Each section's keys are listed once in its `visit`; it knows nothing of exporters, of other
//! sections, or of how files are read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::diag::Diagnostics;
use super::ini::Section;
use super::setting::{self, parse_bool, Bool, Choice, NonEmpty, Path, Settings, Visit, Whole, BOOL_EXPECTED};

/// The log levels `[global] log level` accepts, most severe first.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// How many entries `[global] history` may keep per dimension: at least 5, at most 30 days of
/// one-second entries (memory is 4 bytes per entry per dimension).
pub const HISTORY_RANGE: (u64, u64) = (5, 30 * 86_400);

const SECONDS: Whole = Whole { min: 1, max: None, unit: "seconds" };

/// `[global]`: identity, resolution and logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `hostname`: this host's name (default: the system's hostname).
    pub hostname: String,
    /// `update every`: seconds between collections (default 1, at least 1).
    pub update_every: u32,
    /// `history`: entries kept per dimension (default 3600, see [`HISTORY_RANGE`]).
    pub history: usize,
    /// `log level`: one of [`LOG_LEVELS`] (default `info`).
    pub log_level: String,
}

impl Global {
    /// The defaults, with `hostname` as this host's name.
    pub fn new(hostname: String) -> Global {
        Global { hostname, update_every: 1, history: 3600, log_level: "info".to_string() }
    }
}

impl Settings for Global {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("hostname", &mut self.hostname, &NonEmpty("a host name"));
        v.setting("update every", &mut self.update_every, &SECONDS);
        let history = Whole { min: HISTORY_RANGE.0, max: Some(HISTORY_RANGE.1), unit: "entries" };
        v.setting("history", &mut self.history, &history);
        let levels = Choice { what: "log level", choices: LOG_LEVELS };
        v.setting("log level", &mut self.log_level, &levels);
    }
}

/// `[db]`: when what the store holds may be freed (netdata 1.37's keys and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// `cleanup obsolete charts after secs` (default 3600, at least 10 as in netdata). Read for
    /// compatibility: charts marked obsolete are freed with their host, not on their own.
    pub cleanup_obsolete_charts_after: u32,
    /// `cleanup orphan hosts after secs`: a streaming child's host is removed this long after
    /// the child disconnected, once every exporter has sent its data (default 3600).
    pub cleanup_orphan_hosts_after: u32,
}

impl Default for Database {
    fn default() -> Database {
        Database { cleanup_obsolete_charts_after: 3600, cleanup_orphan_hosts_after: 3600 }
    }
}

/// The `[global]` names netdata 1.37 still reads for `[db]` keys (it moves them to `[db]`
/// unless `[db]` sets them): `(old name in [global], name in [db])`.
pub const DB_KEYS_IN_GLOBAL: [(&str, &str); 2] = [
    ("cleanup obsolete charts after seconds", "cleanup obsolete charts after secs"),
    ("cleanup orphan hosts after seconds", "cleanup orphan hosts after secs"),
];

impl Settings for Database {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        let obsolete = Whole { min: 10, max: Some(u32::MAX as u64), unit: "seconds" };
        v.setting("cleanup obsolete charts after secs", &mut self.cleanup_obsolete_charts_after, &obsolete);
        let orphan = Whole { min: 1, max: Some(u32::MAX as u64), unit: "seconds" };
        v.setting("cleanup orphan hosts after secs", &mut self.cleanup_orphan_hosts_after, &orphan);
    }
}

/// `[directories]`: where plugins, configuration and state live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directories {
    /// `plugins`: where external plugins are found (default: where netdata's package put them,
    /// `/usr/lib/netdata/plugins.d` on Debian).
    pub plugins: PathBuf,
    /// `config`: where configuration files are found (default: the main file's directory).
    pub config: PathBuf,
    /// `lib`: state kept across restarts, the machine GUID (default `/var/lib/netdata`).
    pub lib: PathBuf,
}

impl Directories {
    /// The defaults, with `config` as the main file's directory.
    pub fn new(config: PathBuf, plugins: PathBuf) -> Directories {
        Directories { plugins, config, lib: PathBuf::from("/var/lib/netdata") }
    }
}

impl Settings for Directories {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("plugins", &mut self.plugins, &Path("a directory"));
        v.setting("config", &mut self.config, &Path("a directory"));
        v.setting("lib", &mut self.lib, &Path("a directory"));
    }
}

/// `[plugins]`: which collectors run, and limits on what a plugin may create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugins {
    /// `proc`: run the built-in proc collector (default yes).
    pub proc: bool,
    /// `enable running new plugins`: run external plugins not named in `enabled` (default yes).
    pub enable_running_new_plugins: bool,
    /// `check for new plugins every`: seconds between scans of the plugins directory (default 60).
    pub check_for_new_plugins_every: u32,
    /// `max charts per plugin` (default 10000).
    pub max_charts_per_plugin: usize,
    /// `max dimensions per plugin` (default 200000).
    pub max_dimensions_per_plugin: usize,
    /// Every other `NAME = yes|no`: whether the external plugin NAME runs.
    pub enabled: BTreeMap<String, bool>,
}

impl Default for Plugins {
    fn default() -> Plugins {
        Plugins {
            proc: true,
            enable_running_new_plugins: true,
            check_for_new_plugins_every: 60,
            max_charts_per_plugin: 10_000,
            max_dimensions_per_plugin: 200_000,
            enabled: BTreeMap::new(),
        }
    }
}

impl Plugins {
    /// Whether the external plugin `name` (e.g. `apps` for `apps.plugin`) may run.
    pub fn is_enabled(&self, name: &str) -> bool {
        self.enabled.get(name).copied().unwrap_or(self.enable_running_new_plugins)
    }
}

impl Settings for Plugins {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("proc", &mut self.proc, &Bool);
        let run_new = &mut self.enable_running_new_plugins;
        v.setting("enable running new plugins", run_new, &Bool);
        let check = &mut self.check_for_new_plugins_every;
        v.setting("check for new plugins every", check, &SECONDS);
        let charts = Whole { min: 1, max: None, unit: "charts" };
        v.setting("max charts per plugin", &mut self.max_charts_per_plugin, &charts);
        let dimensions = Whole { min: 1, max: None, unit: "dimensions" };
        let max_dimensions = &mut self.max_dimensions_per_plugin;
        v.setting("max dimensions per plugin", max_dimensions, &dimensions);
    }
}

/// Read `section` into `settings` and warn about keys it does not know.
pub(crate) fn read_section<S: Settings>(
    settings: &mut S,
    file: &str,
    section: &Section,
    diag: &mut Diagnostics,
) {
    setting::read(settings, &[(file, section)], diag);
    setting::warn_unknown(file, section, &setting::known_keys(settings), diag);
}

/// Read a chain of sections (`(file, section)`, first wins) into `settings` and warn about
/// keys none of them knows.
pub(crate) fn read_chain<S: Settings>(settings: &mut S, chain: &[(&str, &Section)], diag: &mut Diagnostics) {
    setting::read(settings, chain, diag);
    let known = setting::known_keys(settings);
    for (file, section) in chain {
        setting::warn_unknown(file, section, &known, diag);
    }
}

/// Read `[plugins]`: the fixed keys, then every other key as a plugin switch. Plugin names have
/// no spaces, so an unknown key with a space is warned about instead.
pub(crate) fn read_plugins(file: &str, section: &Section, diag: &mut Diagnostics) -> Plugins {
    let mut plugins = Plugins::default();
    setting::read(&mut plugins, &[(file, section)], diag);
    let known = setting::known_keys(&plugins);
    for entry in &section.entries {
        if known.contains(&entry.key.as_str()) {
            continue;
        }
        if entry.key.contains(char::is_whitespace) {
            diag.warn(file, entry.line, setting::unknown_key(&entry.key, &section.name));
            continue;
        }
        match parse_bool(&entry.value) {
            Some(on) => {
                plugins.enabled.insert(entry.key.clone(), on);
            }
            None => diag.error(
                file,
                entry.line,
                format_args!("{} = \"{}\": {BOOL_EXPECTED}", entry.key, entry.value),
            ),
        }
    }
    plugins
}

/// Append every `[plugins]` key: the fixed ones, then one line per plugin switch.
pub(crate) fn render_plugins(plugins: &Plugins, out: &mut String) {
    setting::render(plugins, out);
    for (name, on) in &plugins.enabled {
        setting::entry_line(out, name, if *on { "yes" } else { "no" });
    }
}
