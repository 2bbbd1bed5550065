//! A real netdata 1.37 agent for tests: its own temp dir for configuration, logs, cache and
//! state, the plugins of netdata's package (and on request some of the test's own), a
//! memory-only database unless asked for another, and on request its web API on a free port of
//! 127.0.0.1 and a stream.conf.
//!
//! Every netdata started here runs in its own process group and is stopped (SIGTERM to the
//! group, then SIGKILL) when dropped, also when a test panics; with `PR_SET_PDEATHSIG` it dies
//! with the thread that started it.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http::{try_request, Tls};
use super::ports::{free_port, local};
use super::require;

/// netdata's internal collectors besides proc, all kept off so that only what a test asks for
/// runs.
const INTERNAL_OFF: [&str; 9] =
    ["diskspace", "cgroups", "tc", "idlejitter", "checks", "statsd", "timex", "netdata monitoring", "ebpf"];

/// What a netdata runs.
#[derive(Default)]
pub struct Setup {
    /// `[global] hostname`.
    pub hostname: String,
    /// Whether the built-in proc collector runs.
    pub proc: bool,
    /// The external plugins that run (`[plugins] NAME = yes`, by the name netdata knows them
    /// by: `apps`, `python.d`); no other runs.
    pub plugins: Vec<String>,
    /// Serve the web API on a free port (see [`Netdata::web`]).
    pub web: bool,
    /// Text appended to netdata.conf (e.g. `[plugin:perf]` sections).
    pub extra: String,
    /// stream.conf, when it streams.
    pub stream_conf: Option<String>,
    /// Files written into the configuration directory: `(relative path, contents)`.
    pub files: Vec<(String, String)>,
    /// `[db] mode` when not `ram` (`dbengine` keeps what a child replays to its parent).
    pub db_mode: Option<String>,
    /// Plugins of the test's own, `(name, script)`: written as `DIR/plugins/NAME.plugin`,
    /// that directory is searched after the package's, and each is turned on.
    pub own_plugins: Vec<(String, String)>,
}

/// A running netdata; stopped (group-wide) when dropped.
pub struct Netdata {
    bin: PathBuf,
    dir: TempDir,
    child: Option<Child>,
    /// Its web API, when [`Setup::web`] asked for one.
    pub web: Option<SocketAddr>,
}

impl Netdata {
    /// Start netdata as `setup` says. `None` (after SKIPPED) outside CI when netdata is not
    /// installed; under CI a missing netdata fails the test.
    pub fn start(setup: Setup) -> Option<Netdata> {
        let bin = require("netdata")?;
        let dir = tempfile::Builder::new().prefix("netdata-").tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["etc", "log", "cache", "lib", "run"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let p = |s: &str| d.join(s).display().to_string();
        let port = setup.web.then(free_port);
        let web = match port {
            Some(port) => format!(
                "[web]\n    mode = static-threaded\n    bind to = 127.0.0.1:{port}\n    default port = {port}\n"
            ),
            None => "[web]\n    mode = none\n".to_string(),
        };
        let mut plugins_on =
            setup.plugins.iter().map(|name| format!("    {name} = yes\n")).collect::<String>();
        let mut plugins_dirs = String::new();
        if !setup.own_plugins.is_empty() {
            std::fs::create_dir_all(d.join("plugins")).unwrap();
            // netdata 1.37 finds its helper scripts in the first plugins directory only.
            plugins_dirs = format!("    plugins = \"/usr/lib/netdata/plugins.d\" \"{}\"\n", p("plugins"));
            for (name, script) in &setup.own_plugins {
                super::agent::write_plugin(&d.join("plugins"), name, script);
                plugins_on.push_str(&format!("    {name} = yes\n"));
            }
        }
        let internal_off = INTERNAL_OFF.map(|name| format!("    {name} = no\n")).concat();
        let conf = format!(
            "[global]\n    run as user = root\n    hostname = {hostname}\n    update every = 1\n\
             [db]\n    mode = {db_mode}\n\
             [directories]\n    config = {etc}\n    log = {log}\n    cache = {cache}\n    lib = {lib}\n    \
             home = {lib}\n    lock = {lib}/lock\n    registry = {lib}/registry\n{plugins_dirs}\
             {web}[registry]\n    enabled = no\n[health]\n    enabled = no\n[ml]\n    enabled = no\n\
             [plugins]\n    proc = {proc}\n    enable running new plugins = no\n{internal_off}{plugins_on}{extra}",
            hostname = setup.hostname,
            etc = p("etc"),
            log = p("log"),
            cache = p("cache"),
            lib = p("lib"),
            proc = if setup.proc { "yes" } else { "no" },
            db_mode = setup.db_mode.as_deref().unwrap_or("ram"),
            extra = setup.extra,
        );
        std::fs::write(d.join("etc/netdata.conf"), conf).unwrap();
        if let Some(stream) = &setup.stream_conf {
            std::fs::write(d.join("etc/stream.conf"), stream).unwrap();
        }
        for (name, text) in &setup.files {
            let path = d.join("etc").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::write(d.join("etc/.opt-out-from-anonymous-statistics"), "").unwrap();
        let mut n = Netdata { bin, dir, child: None, web: port.map(local) };
        n.spawn();
        Some(n)
    }

    /// Start the process (again, after [`stop`](Self::stop)).
    pub fn spawn(&mut self) {
        let d = self.dir.path();
        let out = File::options().create(true).append(true).open(d.join("netdata.out")).unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-D")
            .arg("-c")
            .arg(d.join("etc/netdata.conf"))
            .arg("-P")
            .arg(d.join("run/netdata.pid"))
            .env("DO_NOT_TRACK", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display())));
    }

    /// SIGTERM to the whole group, up to 10 s for netdata to exit, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = child.id() as i32;
        // SAFETY: signals to a process group we created.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; whatever is left of the group goes.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Its temp dir (`etc/` is its configuration directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// netdata's own error.log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/error.log")).unwrap_or_default()
    }

    /// The ids of the charts its web API lists (`/api/v1/charts`) whose `plugin` is `plugin`
    /// (e.g. `apps.plugin`); empty while the API does not answer.
    pub fn chart_ids(&self, plugin: &str) -> Vec<String> {
        let addr = self.web.expect("netdata started without its web API");
        let Ok(resp) = try_request(Tls::Off, addr, "GET", "/api/v1/charts", &[], b"") else {
            return Vec::new();
        };
        if resp.status != 200 {
            return Vec::new();
        }
        let mut ids: Vec<String> = resp.json()["charts"]
            .as_object()
            .map(|charts| {
                charts
                    .iter()
                    .filter(|(_, c)| c["plugin"].as_str() == Some(plugin))
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

impl Drop for Netdata {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.error_log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- netdata error.log (last lines) ---\n{}\n---",
                lines[lines.len().saturating_sub(20)..].join("\n")
            );
        }
    }
}
