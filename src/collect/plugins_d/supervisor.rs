//! The plugin supervisor: finds external `*.plugin` programs, runs them, and keeps them running.
//!
//! One job: process life. Every executable `NAME.plugin` in the plugins directories (symlinks
//! followed, directories skipped, the first directory holding a name wins) that the
//! configuration does not disable (`[plugins] NAME = no`) is started with its `update every`
//! as its argument, followed by its `command options` (see [`PluginRun`]), in its own process
//! group, with the agent's environment plus the variables netdata 1.37 gives its plugins (see
//! [`PluginEnv`]). Its stdout feeds a [`Session`]; its stderr goes to the log, line by line,
//! control characters escaped. Its stdin is a pipe that stays open (and silent) for the
//! plugin's whole life: some plugins exit when their stdin closes. Everything a plugin's
//! threads log is in the span `plugin{plugin=NAME}`.
//!
//! What the lines mean is the session's business; this module only looks at the verdict of
//! each line ([`Feed`]) to decide whether a plugin is worth keeping:
//!
//! * a plugin that exits is restarted after a delay that starts at `update every` and doubles
//!   up to 10 minutes; it starts over after a run that was healthy for a while;
//! * a plugin that sends `DISABLE` is stopped and not run again;
//! * a plugin whose first 100 lines are all errors, or whose whole run was errors only, is
//!   stopped and disabled: it is not speaking the protocol;
//! * a plugin that exits ends its run even when a process it started keeps its stdout open;
//! * whenever a run ends (exit, shutdown, disable) the plugin's whole process group gets
//!   SIGTERM, and what is left of it SIGKILL after a grace period: a background child that
//!   ignores SIGTERM does not outlive the plugin, nor the agent.
//!
//! Threads: one per plugin (runs the process and reads its stdout), one per running plugin's
//! stderr, and one that rescans the directories for new plugins.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::now_ut;

use parking_lot::Mutex;
use tracing::{debug, error, info, warn};

use super::lines::{LineReader, ReadEvent, DEFAULT_MAX_LINE};
use super::session::{
    Feed, Session, SessionConfig, SessionStats, DEFAULT_MAX_CHARTS, DEFAULT_MAX_DIMENSIONS,
};
use crate::logs::{repeat_note, Escaped, Persisting};
use crate::rrd::Host;
use crate::shutdown::Shutdown;

/// How long a read waits before checking for shutdown.
const POLL: Duration = Duration::from_millis(200);
/// Lines read between two checks for shutdown while a plugin keeps talking (well under a second
/// of a busy plugin's output; a silent one is checked at every [`POLL`]).
const SHUTDOWN_CHECK_LINES: u32 = 1024;
/// How often a stopping child is checked for exit.
const REAP_POLL: Duration = Duration::from_millis(20);
/// How long processes get to vanish after SIGKILL before the supervisor stops waiting.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// After the plugin exited, how long its output is still read (what it wrote before exiting,
/// or what a process it left behind keeps writing).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);
/// Output a plugin may send before its first line that can be applied; past it the plugin
/// is disabled (it is printing something else, maybe without a newline at all).
const GARBAGE_BYTES: u64 = 1 << 20;
/// How long a read waits for the rest of the output of a plugin that exited.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// The netdata version whose plugins rrdpipe runs, given to plugins as `NETDATA_VERSION`
/// (plugins compare it to decide what the agent understands).
pub const NETDATA_VERSION: &str = "v1.37.1";

/// The environment netdata 1.37 gives its plugins, variable by variable (as observed from a
/// plugin run by netdata 1.37.1), from the agent's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginEnv {
    /// `NETDATA_UPDATE_EVERY`: `[global] update every` (the plugin's own interval is its
    /// argument).
    pub update_every: u32,
    /// `NETDATA_PLUGINS_DIR`: the first `[directories] plugins` directory.
    pub plugins_dir: String,
    /// `NETDATA_USER_PLUGINS_DIRS`: the other `[directories] plugins` directories, space
    /// separated.
    pub user_plugins_dirs: String,
    /// `NETDATA_CONFIG_DIR` and `NETDATA_USER_CONFIG_DIR`: `[directories] config`.
    pub config_dir: String,
    /// `NETDATA_STOCK_CONFIG_DIR`: `[directories] stock config`.
    pub stock_config_dir: String,
    /// `NETDATA_WEB_DIR`: `[directories] web`.
    pub web_dir: String,
    /// `NETDATA_CACHE_DIR`: `[directories] cache`.
    pub cache_dir: String,
    /// `NETDATA_LIB_DIR`: `[directories] lib`.
    pub lib_dir: String,
    /// `NETDATA_LOCK_DIR`: `[directories] lock`.
    pub lock_dir: String,
    /// `NETDATA_LOG_DIR`: `[directories] log`.
    pub log_dir: String,
    /// `NETDATA_HOST_PREFIX`: `[directories] host prefix` (usually empty).
    pub host_prefix: String,
    /// `HOME`: `[directories] home`.
    pub home: String,
    /// `NETDATA_HOSTNAME` and `NETDATA_REGISTRY_HOSTNAME`: `[global] hostname`.
    pub hostname: String,
    /// `NETDATA_LISTEN_PORT`: `[web] default port`.
    pub listen_port: u16,
    /// `NETDATA_REGISTRY_UNIQUE_ID`: the machine GUID (empty when the agent keeps none).
    pub machine_guid: String,
}

impl PluginEnv {
    /// Every variable set for a plugin, in netdata's names. The fixed ones are netdata 1.37's
    /// defaults for settings rrdpipe does not have (`[logs]` debug flags and flood protection,
    /// the registry and cloud addresses); `LC_ALL=C` keeps numbers printed with a dot whatever
    /// the locale, and `TZ` is left alone when the agent's environment sets it.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("NETDATA_UPDATE_EVERY", self.update_every.to_string()),
            ("NETDATA_PLUGINS_DIR", self.plugins_dir.clone()),
            ("NETDATA_USER_PLUGINS_DIRS", self.user_plugins_dirs.clone()),
            ("NETDATA_CONFIG_DIR", self.config_dir.clone()),
            ("NETDATA_USER_CONFIG_DIR", self.config_dir.clone()),
            ("NETDATA_STOCK_CONFIG_DIR", self.stock_config_dir.clone()),
            ("NETDATA_WEB_DIR", self.web_dir.clone()),
            ("NETDATA_CACHE_DIR", self.cache_dir.clone()),
            ("NETDATA_LIB_DIR", self.lib_dir.clone()),
            ("NETDATA_LOCK_DIR", self.lock_dir.clone()),
            ("NETDATA_LOG_DIR", self.log_dir.clone()),
            ("NETDATA_HOST_PREFIX", self.host_prefix.clone()),
            ("NETDATA_HOSTNAME", self.hostname.clone()),
            ("NETDATA_REGISTRY_HOSTNAME", self.hostname.clone()),
            ("NETDATA_REGISTRY_UNIQUE_ID", self.machine_guid.clone()),
            ("NETDATA_REGISTRY_URL", "https://registry.my-netdata.io".to_string()),
            ("NETDATA_REGISTRY_CLOUD_BASE_URL", "https://api.netdata.cloud".to_string()),
            ("NETDATA_LISTEN_PORT", self.listen_port.to_string()),
            ("NETDATA_DEBUG_FLAGS", "0x0000000000000000".to_string()),
            ("NETDATA_ERRORS_THROTTLE_PERIOD", "1200".to_string()),
            ("NETDATA_ERRORS_PER_PERIOD", "200".to_string()),
            ("NETDATA_INTERNALS_MONITORING", "YES".to_string()),
            ("NETDATA_VERSION", NETDATA_VERSION.to_string()),
            ("HOME", self.home.clone()),
            ("LC_ALL", "C".to_string()),
            ("MALLOC_ARENA_MAX", "1".to_string()),
        ];
        if std::env::var_os("TZ").is_none() {
            vars.push(("TZ", ":/etc/localtime".to_string()));
        }
        vars
    }
}

/// How one plugin is run: `[plugin:NAME]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRun {
    /// Its argument and its charts' interval, in seconds.
    pub update_every: u32,
    /// Words appended to its command line.
    pub options: Vec<String>,
}

/// When to start a plugin again after it exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart.
    pub first_delay: Duration,
    /// The delay doubles after each quick exit, up to this.
    pub max_delay: Duration,
    /// A run at least this long that stored something resets the delay to `first_delay`.
    pub healthy_after: Duration,
}

impl RestartPolicy {
    /// `update every` seconds first, doubling up to 10 minutes; healthy after a minute.
    pub fn for_update_every(update_every: u32) -> RestartPolicy {
        RestartPolicy {
            first_delay: Duration::from_secs(update_every.max(1) as u64),
            max_delay: Duration::from_secs(600),
            healthy_after: Duration::from_secs(60),
        }
    }

    /// Given the delay the last exit would wait and whether the run was healthy, the delay to
    /// wait now and the one the next quick exit will wait.
    pub fn delays(&self, current: Duration, healthy: bool) -> (Duration, Duration) {
        let now = if healthy { self.first_delay } else { current };
        (now, (now * 2).min(self.max_delay.max(self.first_delay)))
    }
}

/// Everything the supervisor needs; the caller fills it from `[plugins]` and `[directories]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SupervisorConfig {
    /// Directories searched for `*.plugin`, in order; a name found twice runs from the first.
    pub plugins_dirs: Vec<PathBuf>,
    /// Seconds between collections, passed to each plugin as its argument.
    pub update_every: u32,
    /// `[plugins] NAME = yes|no`, by plugin name (file name without `.plugin`).
    pub enabled: HashMap<String, bool>,
    /// `[plugins] enable running new plugins`: run plugins not listed in `enabled`.
    pub enable_new_plugins: bool,
    /// `[plugins] check for new plugins every`.
    pub scan_every: Duration,
    /// `[plugins] max charts per plugin`.
    pub max_charts: usize,
    /// `[plugins] max dimensions per plugin`.
    pub max_dimensions: usize,
    /// Longest stdout/stderr line kept; longer lines are dropped with a warning.
    pub max_line_len: usize,
    /// A plugin whose first this-many lines are all errors is disabled.
    pub garbage_lines: usize,
    /// Restart delays.
    pub restart: RestartPolicy,
    /// Time between SIGTERM and SIGKILL when stopping a plugin.
    pub stop_grace: Duration,
    /// The environment given to every plugin.
    pub env: PluginEnv,
    /// `[plugin:NAME]` settings, by plugin name; a plugin not here runs with `update_every`
    /// and no options.
    pub runs: HashMap<String, PluginRun>,
}

impl SupervisorConfig {
    /// Defaults for everything but the directories and `update every`.
    pub fn new(plugins_dirs: Vec<PathBuf>, update_every: u32) -> SupervisorConfig {
        let update_every = update_every.max(1);
        SupervisorConfig {
            plugins_dirs,
            update_every,
            enabled: HashMap::new(),
            enable_new_plugins: true,
            scan_every: Duration::from_secs(60),
            max_charts: DEFAULT_MAX_CHARTS,
            max_dimensions: DEFAULT_MAX_DIMENSIONS,
            max_line_len: DEFAULT_MAX_LINE,
            garbage_lines: 100,
            restart: RestartPolicy::for_update_every(update_every),
            stop_grace: Duration::from_secs(2),
            env: PluginEnv { update_every, ..PluginEnv::default() },
            runs: HashMap::new(),
        }
    }

    /// How the plugin `name` is run.
    pub fn run_of(&self, name: &str) -> PluginRun {
        self.runs
            .get(name)
            .cloned()
            .unwrap_or(PluginRun { update_every: self.update_every, options: Vec::new() })
    }
}

/// A plugin program found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginFile {
    /// File name without `.plugin`.
    pub name: String,
    /// Full path (not resolved: a symlink stays a symlink).
    pub path: PathBuf,
}

/// The plugins to run: executable `NAME.plugin` files (after following symlinks) in `dirs`,
/// minus those disabled by name, sorted by name. A directory that cannot be read is logged and
/// skipped.
pub fn scan_plugins(dirs: &[PathBuf], enabled: &HashMap<String, bool>, enable_new: bool) -> Vec<PluginFile> {
    let mut found: Vec<PluginFile> = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                debug!("plugins directory {}: {e}; skipped", dir.display());
                continue;
            }
        };
        let mut here: Vec<PluginFile> = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".plugin")) else {
                continue;
            };
            if name.is_empty() || found.iter().chain(&here).any(|p| p.name == name) {
                continue;
            }
            let path = entry.path();
            // `metadata` follows symlinks: a link to a program counts, a dangling link does not.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {}
                _ => continue,
            }
            if !is_executable(&path) {
                debug!("{}: not executable; skipped", path.display());
                continue;
            }
            if !enabled.get(name).copied().unwrap_or(enable_new) {
                debug!("plugin '{name}' disabled by [plugins] {name} = no; not started");
                continue;
            }
            here.push(PluginFile { name: name.to_string(), path });
        }
        found.extend(here);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

fn is_executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// What the supervisor knows about one plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginStatus {
    /// Plugin name.
    pub name: String,
    /// Program path.
    pub path: PathBuf,
    /// Whether a process is running now.
    pub running: bool,
    /// Its process id while running.
    pub pid: Option<u32>,
    /// Times a process was started.
    pub starts: u64,
    /// Times it was started again after exiting.
    pub restarts: u64,
    /// Why it will not be run again, once disabled.
    pub disabled: Option<String>,
    /// How the last process ended.
    pub last_exit: Option<String>,
    /// Stdout lines read, over all runs.
    pub lines: u64,
    /// Stdout lines that could not be applied, over all runs.
    pub errors: u64,
    /// Values stored, over all runs.
    pub values_stored: u64,
}

struct Runner {
    name: String,
    path: PathBuf,
    /// The settings it was started with.
    cfg: Arc<SupervisorConfig>,
    /// Stops this plugin alone (a reload that disables it); the agent's stop triggers every one.
    stop: Shutdown,
    status: Arc<Mutex<PluginStatus>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    /// The current settings; replaced by [`SupervisorHandle::reconfigure`].
    cfg: Mutex<Arc<SupervisorConfig>>,
    host: Arc<Host>,
    shutdown: Shutdown,
    runners: Mutex<Vec<Runner>>,
}

/// The running supervisor; see [`start`].
pub struct SupervisorHandle {
    shared: Arc<Shared>,
    scanner: Option<JoinHandle<()>>,
}

/// Start every plugin found now, and rescan every `scan_every` for new ones. Stops when
/// `shutdown` is triggered; call [`SupervisorHandle::join`] then.
pub fn start(cfg: SupervisorConfig, host: Arc<Host>, shutdown: Shutdown) -> SupervisorHandle {
    let shared =
        Arc::new(Shared { cfg: Mutex::new(Arc::new(cfg)), host, shutdown, runners: Mutex::new(Vec::new()) });
    start_new_plugins(&shared);
    let s = shared.clone();
    let scanner = std::thread::Builder::new()
        .name("plugins-scan".into())
        .spawn(move || loop {
            let every = s.cfg.lock().scan_every;
            if s.shutdown.wait_timeout(every) {
                break;
            }
            start_new_plugins(&s);
        })
        .expect("spawning the plugin scanner thread");
    SupervisorHandle { shared, scanner: Some(scanner) }
}

fn start_new_plugins(shared: &Arc<Shared>) {
    let cfg = shared.cfg.lock().clone();
    let found = scan_plugins(&cfg.plugins_dirs, &cfg.enabled, cfg.enable_new_plugins);
    let mut runners = shared.runners.lock();
    for file in found {
        if shared.shutdown.is_triggered() {
            return;
        }
        if runners.iter().any(|r| r.name == file.name) {
            continue;
        }
        let status = Arc::new(Mutex::new(PluginStatus {
            name: file.name.clone(),
            path: file.path.clone(),
            ..Default::default()
        }));
        let (host, st, name, path, stop) =
            (shared.host.clone(), status.clone(), file.name.clone(), file.path.clone(), Shutdown::new());
        let (c, halt) = (cfg.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("plugin-{}", file.name))
            .spawn(move || run_plugin(&host, &c, &file, &st, &halt));
        match thread {
            Ok(t) => runners.push(Runner { name, path, cfg: cfg.clone(), stop, status, thread: Some(t) }),
            Err(e) => {
                let _span = tracing::info_span!("plugin", plugin = %name).entered();
                error!(error = %e, "cannot start a thread for the plugin; it does not run");
            }
        }
    }
}

impl SupervisorHandle {
    /// A snapshot of every plugin's status, by name.
    pub fn status(&self) -> Vec<PluginStatus> {
        self.shared.runners.lock().iter().map(|r| r.status.lock().clone()).collect()
    }

    /// The status of one plugin.
    pub fn plugin(&self, name: &str) -> Option<PluginStatus> {
        let runners = self.shared.runners.lock();
        runners.iter().find(|r| r.name == name).map(|r| r.status.lock().clone())
    }

    /// Run the plugins `cfg` asks for from now on: plugins it disables, and plugins whose
    /// settings changed, are stopped (and the latter started again with the new ones); plugins
    /// it enables are started, and so are plugins that had been disabled for sending garbage or
    /// `DISABLE`, which get another chance. Plugins whose settings are the same run on
    /// untouched. Returns the names stopped and the names started.
    pub fn reconfigure(&self, cfg: SupervisorConfig) -> (Vec<String>, Vec<String>) {
        let cfg = Arc::new(cfg);
        *self.shared.cfg.lock() = cfg.clone();
        let found = scan_plugins(&cfg.plugins_dirs, &cfg.enabled, cfg.enable_new_plugins);
        let stale: Vec<Runner> = {
            let mut runners = self.shared.runners.lock();
            let (stale, keep) = std::mem::take(&mut *runners).into_iter().partition(|r: &Runner| {
                let wanted = found.iter().any(|f| f.name == r.name && f.path == r.path);
                let ended = r.thread.as_ref().is_none_or(|t| t.is_finished());
                ended || !wanted || !same_run_settings(&r.cfg, &cfg)
            });
            *runners = keep;
            stale
        };
        let stopped = stale
            .iter()
            .filter(|r| r.thread.as_ref().is_some_and(|t| !t.is_finished()))
            .map(|r| r.name.clone())
            .collect();
        stop_runners(stale, cfg.stop_grace);
        let before: Vec<String> = self.shared.runners.lock().iter().map(|r| r.name.clone()).collect();
        start_new_plugins(&self.shared);
        let started = self
            .shared
            .runners
            .lock()
            .iter()
            .map(|r| r.name.clone())
            .filter(|n| !before.contains(n))
            .collect();
        (stopped, started)
    }

    /// Stop every plugin and wait for the threads. Triggers the shutdown if the caller has not.
    /// Each plugin gets SIGTERM; one still alive after the grace period gets SIGKILL.
    pub fn join(mut self) {
        if !self.shared.shutdown.is_triggered() {
            self.shared.shutdown.trigger();
        }
        if let Some(t) = self.scanner.take() {
            let _ = t.join();
        }
        let runners = std::mem::take(&mut *self.shared.runners.lock());
        let grace = self.shared.cfg.lock().stop_grace;
        stop_runners(runners, grace);
    }
}

/// Whether a plugin started under `a` runs the same under `b` (which plugins run may differ).
fn same_run_settings(a: &SupervisorConfig, b: &SupervisorConfig) -> bool {
    let run_settings = |c: &SupervisorConfig| SupervisorConfig {
        plugins_dirs: Vec::new(),
        enabled: HashMap::new(),
        enable_new_plugins: true,
        scan_every: Duration::ZERO,
        ..c.clone()
    };
    run_settings(a) == run_settings(b)
}

/// Stop the runners' plugins and wait for their threads: SIGTERM to each, SIGKILL to one still
/// alive after `grace`.
fn stop_runners(mut runners: Vec<Runner>, grace: Duration) {
    for r in &runners {
        r.stop.trigger();
        signal_running(&r.status, libc::SIGTERM);
    }
    // The runner threads stop their own children too; this only bounds the wait.
    let deadline = Instant::now() + grace + Duration::from_secs(1);
    while Instant::now() < deadline
        && runners.iter().any(|r| r.thread.as_ref().is_some_and(|t| !t.is_finished()))
    {
        std::thread::sleep(REAP_POLL);
    }
    for r in &mut runners {
        if r.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            let _span = tracing::info_span!("plugin", plugin = %r.name).entered();
            warn!("still running after SIGTERM; sending SIGKILL");
            signal_running(&r.status, libc::SIGKILL);
        }
        if let Some(t) = r.thread.take() {
            let _ = t.join();
        }
    }
}

impl fmt::Debug for SupervisorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorHandle").field("plugins", &self.status()).finish()
    }
}

/// Signal the plugin's process group, if a process is running. The status lock is held, and
/// processes are only reaped under it, so the pid cannot belong to someone else by now.
fn signal_running(status: &Mutex<PluginStatus>, sig: libc::c_int) {
    let st = status.lock();
    if let Some(pid) = st.pid {
        signal(pid, sig);
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    let pid = pid as libc::pid_t;
    // SAFETY: plain system calls; the group id equals the pid (the child leads its own group).
    unsafe {
        libc::kill(-pid, sig);
        libc::kill(pid, sig);
    }
}

/// Reap the child if it exited, under the status lock (see [`signal_running`]).
fn try_reap(child: &mut Child, status: &Mutex<PluginStatus>) -> Option<String> {
    let mut st = status.lock();
    let done = match child.try_wait() {
        Ok(Some(s)) => Some(describe_exit(s)),
        Ok(None) => None,
        Err(e) => Some(format!("exit status unknown ({e})")),
    };
    if done.is_some() {
        st.pid = None;
        st.running = false;
    }
    done
}

/// Stop the plugin and everything left of its process group: SIGTERM to the group, then
/// SIGKILL to whatever of it is still alive after `grace`. `exited` is how the plugin ended if
/// it was reaped already (its group may outlive it: a background child that ignores SIGTERM).
/// Returns how the plugin ended.
fn stop_group(
    child: &mut Child,
    status: &Mutex<PluginStatus>,
    grace: Duration,
    exited: Option<String>,
) -> String {
    let pgid = child.id() as libc::pid_t;
    let mut how = exited;
    if how.is_none() {
        signal_running(status, libc::SIGTERM);
    } else if group_alive(pgid) {
        signal_group(pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    let mut killed_at: Option<Instant> = None;
    loop {
        if how.is_none() {
            how = try_reap(child, status);
        }
        if let Some(h) = &how {
            if !group_alive(pgid) {
                return h.clone();
            }
        }
        match killed_at {
            None if Instant::now() >= deadline => {
                if how.is_none() {
                    signal_running(status, libc::SIGKILL);
                }
                signal_group(pgid, libc::SIGKILL);
                killed_at = Some(Instant::now());
            }
            // SIGKILL cannot be ignored: a member still there is one that changed its group
            // after the check, or one stuck in the kernel. The plugin itself is reaped.
            Some(t) if how.is_some() && t.elapsed() >= KILL_WAIT => {
                warn!(pgid, wait = ?KILL_WAIT, "the process group still has processes after SIGKILL; leaving them");
                return how.unwrap_or_default();
            }
            _ => {}
        }
        std::thread::sleep(REAP_POLL);
    }
}

/// Send `sig` to every process of group `pgid`.
fn signal_group(pgid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: a plain system call.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Whether group `pgid` has a process that is not a zombie. A group id is not reused while
/// any process of the group exists, so this cannot mistake another group for the plugin's.
fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    if unsafe { libc::kill(-pgid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
    {
        return false;
    }
    // The group exists, but orphaned zombies count too (an init that does not reap them
    // would keep it "alive" for ever): look for a member that still runs.
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| live_member_of(&stat, pgid))
    })
}

/// Whether a `/proc/PID/stat` line is of a process of group `pgid` that is not a zombie.
fn live_member_of(stat: &str, pgid: libc::pid_t) -> bool {
    // After the parenthesised command name: state, ppid, pgrp.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut f = rest.split_whitespace();
    let (Some(state), Some(_ppid), Some(pgrp)) = (f.next(), f.next(), f.next()) else {
        return false;
    };
    state != "Z" && state != "X" && pgrp.parse::<libc::pid_t>() == Ok(pgid)
}

fn describe_exit(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".to_string(),
    }
}

/// Why reading a plugin's stdout stopped.
enum RunEnd {
    /// The plugin closed its stdout.
    Eof,
    /// The plugin exited while its stdout stayed open: a process it started holds it.
    Exited,
    /// The agent is stopping.
    Shutdown,
    /// The plugin sent DISABLE.
    Disabled,
    /// The output is not the plugins.d protocol; holds why.
    Garbage(String),
    /// Reading failed.
    ReadError(std::io::Error),
    /// The process could not be started.
    SpawnFailed(std::io::Error),
}

/// The result of one run.
struct Run {
    end: RunEnd,
    exit: String,
    runtime: Duration,
    ok: u64,
    errors: u64,
    /// What it wrote to stderr.
    stderr: StderrSeen,
}

/// Most stderr lines remembered across restarts (a plugin's start-up messages are a few).
const STDERR_REMEMBERED: usize = 256;

/// The stderr lines of a plugin's runs, each with its digits removed, so that a message that
/// differs only in its time stamp or a process id is the same message.
#[derive(Clone, Debug, Default)]
struct StderrSeen(Arc<std::collections::HashSet<Vec<u8>>>);

impl StderrSeen {
    /// `line` as remembered.
    fn key(line: &[u8]) -> Vec<u8> {
        line.iter().copied().filter(|b| !b.is_ascii_digit()).collect()
    }

    fn contains(&self, line: &[u8]) -> bool {
        self.0.contains(&StderrSeen::key(line))
    }

    /// Remember `other`'s lines too, up to [`STDERR_REMEMBERED`].
    fn extend(&mut self, other: StderrSeen) {
        let room = STDERR_REMEMBERED.saturating_sub(self.0.len());
        let new: Vec<Vec<u8>> = other.0.iter().filter(|k| !self.0.contains(*k)).take(room).cloned().collect();
        Arc::make_mut(&mut self.0).extend(new);
    }
}

/// Run the plugin until it is disabled or the agent stops. The thread's log lines are in the
/// plugin's span.
fn run_plugin(
    host: &Arc<Host>,
    cfg: &SupervisorConfig,
    file: &PluginFile,
    status: &Mutex<PluginStatus>,
    stop: &Shutdown,
) {
    let _span = tracing::info_span!("plugin", plugin = %file.name).entered();
    let mut restarts = Restarts::new(cfg.restart.first_delay);
    while !stop.is_triggered() {
        let run = run_once(host, cfg, file, status, stop, &restarts.said);
        status.lock().last_exit = Some(run.exit.clone());
        if stop.is_triggered() {
            info!(exit = ?run.exit, ran = ?run.runtime, "stopped");
            break;
        }
        if let Some(reason) = disable_reason(&run) {
            if matches!(run.end, RunEnd::Disabled) {
                info!("sent DISABLE; it will not be run again");
            } else {
                error!(
                    path = %file.path.display(),
                    "disabled: {reason}. Fix the plugin or set [plugins] {} = no, then reload (SIGHUP) or restart \
                     the agent",
                    file.name
                );
            }
            status.lock().disabled = Some(reason);
            break;
        }
        let delay = restarts.after(run, cfg, file);
        if stop.wait_timeout(delay) {
            break;
        }
        status.lock().restarts += 1;
    }
    let mut st = status.lock();
    st.running = false;
    st.pid = None;
}

/// Why a plugin is not run again after `run`, if it is not: it sent `DISABLE`, or its output
/// is not the plugins.d protocol.
fn disable_reason(run: &Run) -> Option<String> {
    match &run.end {
        RunEnd::Disabled => Some("the plugin sent DISABLE".to_string()),
        RunEnd::Garbage(why) => Some(format!("{why}: it does not speak the plugins.d protocol")),
        _ if run.errors > 0 && run.ok == 0 => Some(format!(
            "it {} after sending {} lines that are errors and none that could be applied: it does not speak the \
             plugins.d protocol",
            run.exit, run.errors
        )),
        _ => None,
    }
}

/// When a plugin whose run ended starts again, and what of its runs is logged: the delay
/// doubles while runs keep ending early, and a run that was healthy for a while resets it.
struct Restarts {
    /// The delay before the next start.
    delay: Duration,
    /// Quick exits in a row: logged once, then every 5 minutes, and when a healthy run ends them.
    failing: Persisting,
    /// What the plugin wrote to stderr in those runs: said once, not again at every restart.
    said: StderrSeen,
}

impl Restarts {
    fn new(first_delay: Duration) -> Restarts {
        Restarts { delay: first_delay, failing: Persisting::default(), said: StderrSeen::default() }
    }

    /// The wait before the start after `run`; logs how the run ended unless it is one more of
    /// a series of early ends.
    fn after(&mut self, mut run: Run, cfg: &SupervisorConfig, file: &PluginFile) -> Duration {
        let healthy = run.runtime >= cfg.restart.healthy_after && run.ok > 0;
        let (delay, next) = cfg.restart.delays(self.delay, healthy);
        self.delay = next;
        if healthy {
            self.said = StderrSeen::default();
            if let Some((runs, over)) = self.failing.clear(Instant::now()) {
                info!(runs, over = ?over, "runs well again after runs that ended early");
            }
        } else {
            self.said.extend(std::mem::take(&mut run.stderr));
            if !self.failing.occur(Instant::now()) {
                debug!(exit = ?run.exit, ran = ?run.runtime, restart_in = ?delay, "ended early again; restarting");
                return delay;
            }
        }
        log_run_end(&run, delay, repeat_note(&self.failing), cfg.restart.max_delay, file);
        delay
    }
}

/// Logs how `run` ended and that the plugin starts again in `delay`; `again` says whether
/// this repeats silently.
fn log_run_end(run: &Run, delay: Duration, again: &str, max_delay: Duration, file: &PluginFile) {
    let (exit, ran) = (&run.exit, run.runtime);
    match &run.end {
        RunEnd::SpawnFailed(e) => error!(
            path = %file.path.display(),
            error = %e,
            retry_in = ?delay,
            "cannot run the plugin; trying again{again}"
        ),
        RunEnd::ReadError(e) => warn!(
            error = %e,
            exit = ?exit,
            ran = ?ran,
            restart_in = ?delay,
            "reading its output failed; restarting{again}"
        ),
        RunEnd::Exited => warn!(
            exit = ?exit,
            ran = ?ran,
            restart_in = ?delay,
            "ended while a process it started still held its output open; stopped its process group; \
             restarting{again}"
        ),
        _ => warn!(
            exit = ?exit,
            ran = ?ran,
            restart_in = ?delay,
            max_delay = ?max_delay,
            "ended; restarting (the delay doubles up to max_delay while it keeps ending early){again}"
        ),
    }
}

/// Start the plugin once, feed its output to a new session until it ends, and reap it.
fn run_once(
    host: &Arc<Host>,
    cfg: &SupervisorConfig,
    file: &PluginFile,
    status: &Mutex<PluginStatus>,
    stop: &Shutdown,
    said: &StderrSeen,
) -> Run {
    let started = Instant::now();
    let plugin_run = cfg.run_of(&file.name);
    let mut child = match spawn(cfg, file, &plugin_run) {
        Ok(c) => c,
        Err(e) => {
            return Run {
                exit: format!("could not start ({e})"),
                end: RunEnd::SpawnFailed(e),
                runtime: started.elapsed(),
                ok: 0,
                errors: 0,
                stderr: StderrSeen::default(),
            }
        }
    };
    let pid = child.id();
    // Held until the child is reaped: closing it would tell the plugin to exit.
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    {
        let mut st = status.lock();
        st.running = true;
        st.pid = Some(pid);
        st.starts += 1;
    }
    info!(path = %file.path.display(), pid, "started");
    let stderr_logger = StderrLogger::start(&file.name, stderr, cfg.max_line_len, said);

    let session_cfg = SessionConfig {
        name: file.name.clone(),
        update_every: plugin_run.update_every,
        max_charts: cfg.max_charts,
        max_dimensions: cfg.max_dimensions,
        whole_host: false,
    };
    let mut output = Output::new(Session::new(session_cfg, host.clone()), status);
    // The reader, and so the pipe, lives until the plugin is stopped: a plugin still writing
    // when it is stopped ends by SIGTERM, not by a SIGPIPE from a pipe closed under it.
    let mut reader = LineReader::new(stdout, cfg.max_line_len);
    let (end, exited) = output.read(&mut reader, &mut child, cfg, stop);

    let exit = match &end {
        RunEnd::Eof if exited.is_none() => wait_after_eof(&mut child, status, cfg.stop_grace, stop),
        _ => stop_group(&mut child, status, cfg.stop_grace, exited),
    };
    drop(stdin);
    drop(reader);
    let stderr = stderr_logger.finish();
    Run { end, exit, runtime: started.elapsed(), ok: output.ok, errors: output.errors, stderr }
}

/// Start the plugin's process: its interval and options as arguments, the plugins'
/// environment, every standard stream piped, in a process group of its own.
fn spawn(cfg: &SupervisorConfig, file: &PluginFile, plugin_run: &PluginRun) -> std::io::Result<Child> {
    Command::new(&file.path)
        .arg(plugin_run.update_every.to_string())
        .args(&plugin_run.options)
        .envs(cfg.env.vars())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// The thread that logs a plugin's stderr during one run.
struct StderrLogger {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<StderrSeen>>,
}

impl StderrLogger {
    /// Start logging `stderr` on a thread of its own, in the current (plugin's) span.
    fn start(name: &str, stderr: ChildStderr, max_line: usize, said: &StderrSeen) -> StderrLogger {
        let stop = Arc::new(AtomicBool::new(false));
        let (halt, said, span) = (stop.clone(), said.clone(), tracing::Span::current());
        let thread = std::thread::Builder::new()
            .name(format!("plugin-{name}-err"))
            .spawn(move || span.in_scope(|| log_stderr(stderr, max_line, &halt, &said)))
            .ok();
        StderrLogger { stop, thread }
    }

    /// Stop once the pipe is quiet, and return the lines of this run.
    fn finish(self) -> StderrSeen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

/// One run's stdout going into its session, and what it tells of the plugin.
struct Output<'a> {
    session: Session,
    status: &'a Mutex<PluginStatus>,
    /// The session's counters last added to the status.
    published: SessionStats,
    /// Lines applied.
    ok: u64,
    /// Lines that were errors (over-long ones included).
    errors: u64,
    /// Lines that were errors while none has been applied yet (blank lines and ignored
    /// keywords say nothing about the plugin).
    judged: usize,
    /// Whether any line was applied.
    applied_any: bool,
}

impl<'a> Output<'a> {
    fn new(session: Session, status: &'a Mutex<PluginStatus>) -> Output<'a> {
        let published = session.stats();
        Output { session, status, published, ok: 0, errors: 0, judged: 0, applied_any: false }
    }

    /// Read lines until the output ends, the plugin exits and its output stays quiet, the
    /// plugin is judged, or the agent stops. Returns why the reading ended, and how the plugin
    /// exited if it was reaped.
    fn read(
        &mut self,
        reader: &mut LineReader<std::process::ChildStdout>,
        child: &mut Child,
        cfg: &SupervisorConfig,
        stop: &Shutdown,
    ) -> (RunEnd, Option<String>) {
        // Lines until the next shutdown check: the check takes a lock, too much for every line.
        let mut until_check = 0u32;
        // Once the plugin exited: how, and until when its output is still read.
        let mut exited: Option<(String, Instant)> = None;
        let end = loop {
            if until_check == 0 {
                if stop.is_triggered() {
                    break RunEnd::Shutdown;
                }
                if exited.is_none() {
                    // The plugin's exit ends the run, not the end of its output: a process it
                    // left behind may hold the pipe open for ever.
                    exited = try_reap(child, self.status).map(|how| (how, Instant::now() + DRAIN_AFTER_EXIT));
                }
                until_check = SHUTDOWN_CHECK_LINES;
            }
            if exited.as_ref().is_some_and(|(_, until)| Instant::now() >= *until) {
                break RunEnd::Exited;
            }
            until_check -= 1;
            if !self.applied_any && reader.bytes_read() > GARBAGE_BYTES {
                break RunEnd::Garbage(format!(
                    "its first {} bytes of output held no line that could be applied",
                    reader.bytes_read()
                ));
            }
            let wait = if exited.is_some() { DRAIN_POLL } else { POLL };
            let verdict = match reader.next(wait) {
                Ok(ReadEvent::Line(line)) => self.line(line, cfg.garbage_lines),
                Ok(ReadEvent::TooLong(n)) => {
                    warn!(
                        bytes = n,
                        max = cfg.max_line_len,
                        "dropped a stdout line longer than the limit; reading resumes at the next line"
                    );
                    self.error(cfg.garbage_lines)
                }
                // After the exit, read on until the end of the output or the deadline.
                Ok(ReadEvent::Timeout) if exited.is_some() => None,
                Ok(ReadEvent::Timeout) => {
                    until_check = 0;
                    self.publish();
                    None
                }
                Ok(ReadEvent::Eof) => Some(RunEnd::Eof),
                Err(e) => Some(RunEnd::ReadError(e)),
            };
            if let Some(end) = verdict {
                break end;
            }
        };
        self.publish();
        (end, exited.map(|(how, _)| how))
    }

    /// Feed one line to the session; the end of the run if the line ends it.
    #[inline]
    fn line(&mut self, line: &[u8], garbage_lines: usize) -> Option<RunEnd> {
        let feed = self.session.feed_timed(line, now_ut);
        let end = match feed {
            Feed::Ok => {
                self.ok += 1;
                self.applied_any = true;
                None
            }
            Feed::Ignored => None,
            Feed::Error(_) => self.error(garbage_lines),
            Feed::Disable => return Some(RunEnd::Disabled),
        };
        if self.session.stats().lines.is_multiple_of(256) {
            self.publish();
        }
        end
    }

    /// Count a line that is an error; the end of the run if the plugin's first
    /// `garbage_lines` judged lines are all errors.
    fn error(&mut self, garbage_lines: usize) -> Option<RunEnd> {
        self.errors += 1;
        if self.applied_any {
            return None;
        }
        self.judged += 1;
        (self.judged >= garbage_lines).then(|| {
            RunEnd::Garbage(format!(
                "its first {garbage_lines} lines were all errors (blank lines and unknown keywords not counted)"
            ))
        })
    }

    /// Add the session's counters since the last time to the plugin's status.
    fn publish(&mut self) {
        let now = self.session.stats();
        let mut st = self.status.lock();
        st.lines += now.lines - self.published.lines;
        st.errors += now.errors - self.published.errors;
        st.values_stored += now.values_stored - self.published.values_stored;
        self.published = now;
    }
}

/// The plugin closed its stdout: give it `grace` to exit on its own, then stop it; either way
/// stop what is left of its process group.
fn wait_after_eof(
    child: &mut Child,
    status: &Mutex<PluginStatus>,
    grace: Duration,
    shutdown: &Shutdown,
) -> String {
    let deadline = Instant::now() + grace;
    loop {
        if let Some(how) = try_reap(child, status) {
            return stop_group(child, status, grace, Some(how));
        }
        if shutdown.is_triggered() || Instant::now() >= deadline {
            return stop_group(child, status, grace, None);
        }
        std::thread::sleep(REAP_POLL);
    }
}

/// Log each stderr line of a plugin until the pipe closes, or until `stop` is set and the pipe
/// has been quiet for a moment (a grandchild may hold it open). A line the plugin already wrote
/// in the runs that ended early before this one (`said`) is not logged again. Returns the
/// lines of this run.
fn log_stderr(stderr: ChildStderr, max_line: usize, stop: &AtomicBool, said: &StderrSeen) -> StderrSeen {
    let mut reader = LineReader::new(stderr, max_line);
    let mut this_run = std::collections::HashSet::new();
    let mut silenced = 0u64;
    loop {
        match reader.next(POLL) {
            Ok(ReadEvent::Line(line)) => {
                let text = line.trim_ascii_end();
                if text.is_empty() {
                    continue;
                }
                if this_run.len() < STDERR_REMEMBERED {
                    this_run.insert(StderrSeen::key(text));
                }
                if said.contains(text) {
                    silenced += 1;
                    continue;
                }
                // Escaped: a CR, an escape sequence or a forged log line stays visible text.
                info!("stderr: {}", Escaped(text));
            }
            Ok(ReadEvent::TooLong(n)) => {
                warn!(bytes = n, max = max_line, "dropped a stderr line longer than the limit")
            }
            Ok(ReadEvent::Timeout) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(ReadEvent::Eof) | Err(_) => break,
        }
    }
    if silenced > 0 {
        debug!(lines = silenced, "stderr lines as in its earlier runs, not logged again");
    }
    StderrSeen(Arc::new(this_run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn write(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn names(found: &[PluginFile]) -> Vec<&str> {
        found.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn scan_finds_executable_plugins_and_symlinks_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(&d.join("apps.plugin"), 0o755);
        write(&d.join("noexec.plugin"), 0o644);
        write(&d.join("target-program"), 0o755);
        symlink(d.join("target-program"), d.join("linked.plugin")).unwrap();
        symlink(d.join("missing"), d.join("dangling.plugin")).unwrap();
        write(&d.join("off.plugin"), 0o755);
        std::fs::create_dir(d.join("adir.plugin")).unwrap();
        write(&d.join("script.sh"), 0o755);
        write(&d.join(".plugin"), 0o755);
        let enabled = HashMap::from([("off".to_string(), false), ("apps".to_string(), true)]);
        let found = scan_plugins(&[d.to_path_buf()], &enabled, true);
        assert_eq!(names(&found), ["apps", "linked"]);
        assert_eq!(found[1].path, d.join("linked.plugin"));
    }

    #[test]
    fn scan_without_new_plugins_runs_only_those_enabled_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.plugin"), 0o755);
        write(&dir.path().join("b.plugin"), 0o755);
        let enabled = HashMap::from([("b".to_string(), true)]);
        assert_eq!(names(&scan_plugins(&[dir.path().to_path_buf()], &enabled, false)), ["b"]);
    }

    #[test]
    fn scan_first_directory_wins_and_missing_directories_are_skipped() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        write(&first.path().join("x.plugin"), 0o755);
        write(&second.path().join("x.plugin"), 0o755);
        write(&second.path().join("y.plugin"), 0o755);
        let dirs = [
            PathBuf::from("/nonexistent/plugins.d"),
            first.path().to_path_buf(),
            second.path().to_path_buf(),
        ];
        let found = scan_plugins(&dirs, &HashMap::new(), true);
        assert_eq!(names(&found), ["x", "y"]);
        assert_eq!(found[0].path, first.path().join("x.plugin"));
        assert_eq!(found[1].path, second.path().join("y.plugin"));
    }

    #[test]
    fn restart_delay_doubles_up_to_the_cap_and_resets_after_a_healthy_run() {
        let p = RestartPolicy::for_update_every(1);
        let mut d = p.first_delay;
        let mut waits = Vec::new();
        for _ in 0..12 {
            let (now, next) = p.delays(d, false);
            waits.push(now.as_secs());
            d = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(p.delays(d, true), (Duration::from_secs(1), Duration::from_secs(2)));
    }

    #[test]
    fn group_members_are_read_from_proc_stat_and_zombies_do_not_count() {
        // pid (comm) state ppid pgrp ...; a command name may hold spaces and parentheses.
        assert!(live_member_of("4242 (sleep) S 1 4200 4200 0 -1", 4200));
        assert!(live_member_of("4242 (a (b) c) R 1 4200 4200 0 -1", 4200));
        assert!(!live_member_of("4242 (sleep) Z 1 4200 4200 0 -1", 4200), "a zombie");
        assert!(!live_member_of("4242 (sleep) S 1 4201 4201 0 -1", 4200), "another group");
        assert!(!live_member_of("garbage", 4200));
        // This process is in its own group.
        // SAFETY: getpgrp has no preconditions.
        let own = unsafe { libc::getpgrp() };
        assert!(group_alive(own));
    }

    #[test]
    fn a_plugin_without_its_own_section_runs_at_the_agents_interval_without_options() {
        let mut cfg = SupervisorConfig::new(Vec::new(), 3);
        cfg.runs.insert("apps".into(), PluginRun { update_every: 2, options: vec!["all".into()] });
        assert_eq!(cfg.run_of("apps"), PluginRun { update_every: 2, options: vec!["all".into()] });
        assert_eq!(cfg.run_of("perf"), PluginRun { update_every: 3, options: Vec::new() });
        assert_eq!(cfg.env.update_every, 3);
    }
}
