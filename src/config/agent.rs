//! The agent's own sections of netdata.conf: `[global]`, `[directories]` and `[plugins]`.
//!
//! Each section's keys are listed once in its `visit`; it knows nothing of exporters, of other
//! sections, or of how files are read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::diag::Diagnostics;
use super::ini::Section;
use super::setting::{
    self, parse_bool, Bool, Choice, NonEmpty, Path, PathList, PathOrEmpty, Settings, Visit, Whole, Words,
    BOOL_EXPECTED,
};

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
    /// `enable replication`: children are offered replication (default yes).
    pub enable_replication: bool,
    /// `seconds to replicate`: how far back a chart rrdpipe holds nothing of is filled from its
    /// child (default 86400, as netdata; never more than `history` keeps).
    pub seconds_to_replicate: u64,
    /// `seconds per replication step`: the longest span asked of a child at once (default 600).
    pub seconds_per_replication_step: u64,
}

impl Default for Database {
    fn default() -> Database {
        Database {
            cleanup_obsolete_charts_after: 3600,
            cleanup_orphan_hosts_after: 3600,
            enable_replication: true,
            seconds_to_replicate: 86_400,
            seconds_per_replication_step: 600,
        }
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
        v.setting("enable replication", &mut self.enable_replication, &Bool);
        let seconds = Whole { min: 1, max: None, unit: "seconds" };
        v.setting("seconds to replicate", &mut self.seconds_to_replicate, &seconds);
        v.setting("seconds per replication step", &mut self.seconds_per_replication_step, &seconds);
    }
}

/// netdata 1.37's `[directories]` defaults for a Debian install, for the keys whose default
/// does not depend on another key or on the machine.
pub const STOCK_CONFIG_DIR: &str = "/usr/lib/netdata/conf.d";
/// The default of `[directories] log`.
pub const LOG_DIR: &str = "/var/log/netdata";
/// The default of `[directories] cache`.
pub const CACHE_DIR: &str = "/var/cache/netdata";
/// The default of `[directories] lib`, and of `home` when the agent's environment has no `HOME`.
pub const LIB_DIR: &str = "/var/lib/netdata";
/// The default of `[directories] web`.
pub const WEB_DIR: &str = "/usr/share/netdata/web";
/// The folder, under `config`, of the second default plugins directory (netdata's
/// `custom-plugins.d`).
pub const CUSTOM_PLUGINS_DIR: &str = "custom-plugins.d";

/// `[directories]`: where plugins, configuration and state live, with netdata 1.37's keys and
/// its defaults for a Debian install. Every path is absolute once read: a relative one is taken
/// from the main configuration file's folder. Two are equal when their directories are (where
/// they were set does not count).
#[derive(Debug, Clone, Eq)]
pub struct Directories {
    /// `config`: where configuration files are found, the agent's and the plugins'
    /// (default: the main file's folder).
    pub config: PathBuf,
    /// `stock config`: the configuration shipped with netdata's plugins (default
    /// `/usr/lib/netdata/conf.d`).
    pub stock_config: PathBuf,
    /// `plugins`: where external plugins are found, written as netdata does (`"/a" "/b"`); all
    /// are scanned and the first holding a plugin name wins (default: where netdata's package put
    /// its plugins, then `custom-plugins.d` in `config`).
    pub plugins: Vec<PathBuf>,
    /// `log` (default `/var/log/netdata`): given to plugins.
    pub log: PathBuf,
    /// `cache` (default `/var/cache/netdata`): given to plugins.
    pub cache: PathBuf,
    /// `lib`: state kept across restarts, the machine GUID (default `/var/lib/netdata`).
    pub lib: PathBuf,
    /// `lock` (default `lock` in `lib`): given to plugins.
    pub lock: PathBuf,
    /// `web` (default `/usr/share/netdata/web`): given to plugins.
    pub web: PathBuf,
    /// `home`: the plugins' `HOME` (default: the agent's own `HOME`, else `/var/lib/netdata`,
    /// the netdata user's home on Debian).
    pub home: PathBuf,
    /// `host prefix`: where the host's `/proc` and `/sys` are seen from a container (default
    /// empty: here).
    pub host_prefix: PathBuf,
    /// Where each key set in a file was set (`file:line`), by key; keys not here have their
    /// default.
    pub set_at: BTreeMap<&'static str, String>,
}

impl PartialEq for Directories {
    fn eq(&self, other: &Directories) -> bool {
        let Directories {
            set_at: _,
            config,
            stock_config,
            plugins,
            log,
            cache,
            lib,
            lock,
            web,
            home,
            host_prefix,
        } = self;
        (config, stock_config, plugins, log, cache, lib, lock, web, home, host_prefix)
            == (
                &other.config,
                &other.stock_config,
                &other.plugins,
                &other.log,
                &other.cache,
                &other.lib,
                &other.lock,
                &other.web,
                &other.home,
                &other.host_prefix,
            )
    }
}

/// The `[directories]` keys, in the order they are rendered.
pub const DIRECTORY_KEYS: [&str; 10] =
    ["config", "stock config", "plugins", "log", "cache", "lib", "lock", "web", "home", "host prefix"];

impl Directories {
    /// The defaults, with `config` as the main file's folder, `plugins_dir` as the installed
    /// plugins directory and `home` as the agent's `HOME`.
    pub fn new(config: PathBuf, plugins_dir: PathBuf, home: PathBuf) -> Directories {
        let lib = PathBuf::from(LIB_DIR);
        Directories {
            stock_config: PathBuf::from(STOCK_CONFIG_DIR),
            plugins: vec![plugins_dir, config.join(CUSTOM_PLUGINS_DIR)],
            log: PathBuf::from(LOG_DIR),
            cache: PathBuf::from(CACHE_DIR),
            lock: lib.join("lock"),
            lib,
            web: PathBuf::from(WEB_DIR),
            home,
            host_prefix: PathBuf::new(),
            config,
            set_at: BTreeMap::new(),
        }
    }

    /// Where `key`'s value came from: `file:line`, or `default`.
    pub fn origin(&self, key: &str) -> &str {
        self.set_at.get(key).map_or("default", |s| s.as_str())
    }

    /// Every directory with its key, in [`DIRECTORY_KEYS`] order (`plugins` once per
    /// directory; `host prefix` only when set).
    pub fn each(&self) -> Vec<(&'static str, &std::path::Path)> {
        let mut all = vec![("config", self.config.as_path()), ("stock config", self.stock_config.as_path())];
        all.extend(self.plugins.iter().map(|p| ("plugins", p.as_path())));
        all.extend([
            ("log", self.log.as_path()),
            ("cache", self.cache.as_path()),
            ("lib", self.lib.as_path()),
            ("lock", self.lock.as_path()),
            ("web", self.web.as_path()),
            ("home", self.home.as_path()),
        ]);
        if !self.host_prefix.as_os_str().is_empty() {
            all.push(("host prefix", self.host_prefix.as_path()));
        }
        all
    }

    /// After reading: relative paths taken from `base` (the main file's folder), and the
    /// defaults that follow other keys (`plugins` follows `config`, `lock` follows `lib`)
    /// applied where those keys were not set.
    pub(crate) fn finish(&mut self, base: &std::path::Path, installed_plugins: &std::path::Path) {
        let set = self.set_at.clone();
        let absolute = |key: &str, p: &mut PathBuf| {
            if set.contains_key(key) && !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        };
        absolute("config", &mut self.config);
        absolute("stock config", &mut self.stock_config);
        absolute("log", &mut self.log);
        absolute("cache", &mut self.cache);
        absolute("lib", &mut self.lib);
        absolute("lock", &mut self.lock);
        absolute("web", &mut self.web);
        absolute("home", &mut self.home);
        absolute("host prefix", &mut self.host_prefix);
        for p in &mut self.plugins {
            absolute("plugins", p);
        }
        if !set.contains_key("plugins") {
            self.plugins = vec![installed_plugins.to_path_buf(), self.config.join(CUSTOM_PLUGINS_DIR)];
        }
        if !set.contains_key("lock") {
            self.lock = self.lib.join("lock");
        }
    }
}

impl Settings for Directories {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        let dir = Path("a directory");
        v.setting("config", &mut self.config, &dir);
        v.setting("stock config", &mut self.stock_config, &dir);
        v.setting("plugins", &mut self.plugins, &PathList);
        v.setting("log", &mut self.log, &dir);
        v.setting("cache", &mut self.cache, &dir);
        v.setting("lib", &mut self.lib, &dir);
        v.setting("lock", &mut self.lock, &dir);
        v.setting("web", &mut self.web, &dir);
        v.setting("home", &mut self.home, &dir);
        v.setting("host prefix", &mut self.host_prefix, &PathOrEmpty);
    }
}

/// Read a `[directories]` section into `dirs`, noting where each key was set.
pub(crate) fn read_directories(
    dirs: &mut Directories,
    file: &str,
    section: &Section,
    diag: &mut Diagnostics,
) {
    read_section(dirs, file, section, diag);
    for key in DIRECTORY_KEYS {
        if let Some(entry) = section.get(key) {
            dirs.set_at.insert(key, format!("{file}:{}", entry.line));
        }
    }
}

/// Append the `[directories]` keys, each after a comment saying where its value came from.
pub(crate) fn render_directories(dirs: &Directories, out: &mut String) {
    let mut lines = String::new();
    setting::render(dirs, &mut lines);
    for (line, key) in lines.lines().zip(DIRECTORY_KEYS) {
        match dirs.set_at.get(key) {
            Some(at) => out.push_str(&format!("    # set at {at}\n")),
            None => out.push_str("    # default\n"),
        }
        out.push_str(line);
        out.push('\n');
    }
}

/// `[plugin:NAME]`: how the external plugin NAME is run, as netdata 1.37 reads the section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOptions {
    /// `update every`: the plugin's command-line argument and its charts' interval, in
    /// seconds (default: `[global] update every`).
    pub update_every: u32,
    /// `command options`: words appended to the plugin's command line after `update every`
    /// (default none), split as a shell splits them.
    pub command_options: Vec<String>,
}

impl PluginOptions {
    /// The defaults, with `update_every` from `[global]`.
    pub fn new(update_every: u32) -> PluginOptions {
        PluginOptions { update_every, command_options: Vec::new() }
    }
}

impl Settings for PluginOptions {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("update every", &mut self.update_every, &SECONDS);
        v.setting("command options", &mut self.command_options, &Words);
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
    /// `[plugin:NAME]` sections, by plugin name.
    pub options: BTreeMap<String, PluginOptions>,
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
            options: BTreeMap::new(),
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

/// Append every `[plugins]` key: the fixed ones, then one line per plugin switch; then each
/// `[plugin:NAME]` section.
pub(crate) fn render_plugins(plugins: &Plugins, out: &mut String) {
    setting::render(plugins, out);
    for (name, on) in &plugins.enabled {
        setting::entry_line(out, name, if *on { "yes" } else { "no" });
    }
    for (name, options) in &plugins.options {
        out.push_str(&format!("\n[plugin:{name}]\n"));
        setting::render(options, out);
    }
}

/// netdata's internal plugins: their `[plugin:NAME]` sections hold keys of netdata's own
/// collectors, not how an external program is run.
const INTERNAL_PLUGINS: [&str; 9] =
    ["proc", "diskspace", "cgroups", "tc", "idlejitter", "timex", "checks", "statsd", "netdata monitoring"];

/// The external plugin a `[plugin:NAME]` section is about, if `section` is one.
pub(crate) fn plugin_section_name(section: &str) -> Option<&str> {
    section.strip_prefix("plugin:").filter(|name| !name.is_empty() && !INTERNAL_PLUGINS.contains(name))
}
