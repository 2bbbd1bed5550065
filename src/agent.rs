//! The agent: builds the store, starts collectors and exporters, applies a new configuration to
//! them, and stops them on shutdown.
//!
//! One job: wiring. It turns a validated [`Config`] into running threads, follows a changed one
//! where that needs no restart ([`Agent::reload`]: exporters and plugins), and joins the
//! threads in order (collectors first, then exporters, whose senders make a last delivery
//! attempt).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::api::info::OsFacts;
use crate::api::server::{HttpServer, ServerConfig};
use crate::api::status::ExporterView;
use crate::api::{AgentFacts, Api};
use crate::collect::plugins_d::supervisor::{self, PluginEnv, PluginRun, SupervisorConfig, SupervisorHandle};
use crate::collect::proc::{self as proc_collector, ProcConfig};
use crate::collect::stream::tls::TlsServer;
use crate::collect::stream::{self, machine_guid, StreamConfig, StreamHandle};
use crate::config::{Config, ExporterConfig};
use crate::export::instance::{self, Connector, InstanceConfig, InstanceHandle};
use crate::export::spool;
use crate::export::transport::http::{BasicAuth, HttpSettings};
use crate::pattern::SimplePattern;
use crate::rrd::labels::{source as label_source, Added, MAX_BYTES, MAX_LABELS};
use crate::rrd::{cleanup, Db, HostInfo, LabelFilter, Labels};
use crate::shutdown::Shutdown;

/// A running agent.
#[derive(Debug)]
pub struct Agent {
    /// The store, shared with every thread.
    pub db: Arc<Db>,
    /// Exporter instances, in configuration order.
    pub exporters: Vec<(String, InstanceHandle)>,
    proc: Option<JoinHandle<()>>,
    plugins: Option<SupervisorHandle>,
    /// The listener for the HTTP API and streaming children, unless `[web] mode = none`.
    pub stream: Option<StreamHandle>,
    /// The HTTP API's server, unless `[web] mode = none`.
    pub http: Option<HttpServer>,
    /// What the API reads, when it runs: the exporters are published to it.
    api: Option<Arc<Api>>,
    /// The thread removing the hosts of children gone for `[db] cleanup orphan hosts after secs`.
    cleanup: Option<JoinHandle<()>>,
    /// The listening port's TLS, when it serves TLS: a reload reads its certificate again.
    tls: Option<TlsServer>,
    shutdown: Shutdown,
    /// The configuration running now.
    config: Config,
}

/// What [`Agent::reload`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Exporter instances started that did not run before.
    pub exporters_started: Vec<String>,
    /// Exporter instances restarted with changed settings (going on where they stopped).
    pub exporters_changed: Vec<String>,
    /// Exporter instances stopped because the configuration no longer has them enabled.
    pub exporters_stopped: Vec<String>,
    /// Exporter instances whose new settings cannot be used (the old ones run on), with why.
    pub exporters_refused: Vec<String>,
    /// Plugins stopped (disabled, or to restart with changed settings).
    pub plugins_stopped: Vec<String>,
    /// Plugins started.
    pub plugins_started: Vec<String>,
    /// Settings that changed but take effect only after a restart, as `[section] key`.
    pub need_restart: Vec<&'static str>,
    /// The listening port's certificate, read again when it serves TLS: the certificate file
    /// now presented, or why the new one cannot be used (the old one is kept).
    pub certificate: Option<Result<std::path::PathBuf, String>>,
}

/// What the API says about this agent, from `cfg` and the machine.
fn agent_facts(cfg: &Config) -> AgentFacts {
    let started_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut exporting: Vec<String> =
        cfg.exporters.iter().filter(|e| e.enabled).map(|e| e.kind.type_name().to_string()).collect();
    exporting.sort();
    exporting.dedup();
    AgentFacts {
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        update_every: cfg.global.update_every,
        history: cfg.global.history,
        started_s,
        os: OsFacts::detect(),
        exporting,
    }
}

/// Why the agent could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// The exporter settings an instance runs with. Every connector type is supported; `None` is
/// kept for types a future configuration may add before this build sends them.
pub fn instance_config(e: &ExporterConfig) -> Option<InstanceConfig> {
    let connector = Connector {
        kind: e.kind,
        http: HttpSettings {
            tls: e.kind.tls(),
            path: e.kind.url_path(&e.remote_write_url_path),
            auth: e
                .username
                .as_ref()
                .map(|u| BasicAuth { username: u.clone(), password: e.password.clone().unwrap_or_default() }),
            ca_file: e.tls_ca_file.clone(),
            skip_verify: e.tls_skip_verify,
        },
    };
    Some(InstanceConfig {
        name: e.name.clone(),
        legacy: e.legacy,
        connector,
        source: e.data_source,
        prefix: e.prefix.clone(),
        hostname: e.hostname.clone(),
        every: e.update_every,
        buffer_on_failures: e.buffer_on_failures,
        timeout: Duration::from_millis(e.timeout_ms),
        endpoints: e.destinations.clone(),
        charts: SimplePattern::new(&e.send_charts_matching),
        hosts: if e.legacy { None } else { Some(SimplePattern::new(&e.send_hosts_matching)) },
        use_names: e.send_names_instead_of_ids,
        labels: LabelFilter {
            configured: e.send_configured_labels && !e.legacy,
            automatic: e.send_automatic_labels && !e.legacy,
        },
        max_buffer_bytes: usize::try_from(e.max_buffer_bytes).unwrap_or(usize::MAX),
        replay: Duration::from_secs(e.replay_window()),
        spool: e.spool_directory.clone().map(|d| (d, e.spool_max_size)),
        exported_file: None,
    })
}

/// The enabled exporter instances of `cfg`, in configuration order.
fn instance_configs(cfg: &Config) -> Result<Vec<InstanceConfig>, StartError> {
    cfg.exporters
        .iter()
        .filter(|e| e.enabled)
        .map(|e| {
            let exported_file = exported_file(&cfg.directories.lib, &e.name);
            let ic = instance_config(e).map(|ic| InstanceConfig { exported_file: Some(exported_file), ..ic });
            ic.ok_or_else(|| {
                StartError(format!(
                    "{}:{}: [{}]: type '{}' is not supported by this build of rrdpipe",
                    e.file,
                    e.line,
                    e.section,
                    e.kind.type_name()
                ))
            })
        })
        .collect()
}

/// Where exporter `name` keeps the windows it handed out for each streaming child, under
/// `[directories] lib`.
fn exported_file(lib: &std::path::Path, name: &str) -> std::path::PathBuf {
    lib.join("exporting").join(format!("{}.exported", crate::rrd::chart::sanitize_name(name)))
}

/// Where the configuration of exporter `name` is, for messages.
fn exporter_place(cfg: &Config, name: &str) -> String {
    match cfg.exporters.iter().find(|e| e.enabled && e.name == name) {
        Some(e) => format!("{}:{}: [{}]", e.file, e.line, e.section),
        None => format!("exporter '{name}'"),
    }
}

/// The plugin supervisor's settings from `[global]`, `[plugins]`, `[plugin:NAME]`,
/// `[directories]` and `[web]`; `machine_guid` is the agent's (empty when it keeps none).
fn supervisor_config(cfg: &Config, machine_guid: &str) -> SupervisorConfig {
    let g = &cfg.global;
    let dirs = &cfg.directories;
    let mut sc = SupervisorConfig::new(dirs.plugins.clone(), g.update_every);
    sc.enabled = cfg.plugins.enabled.iter().map(|(k, v)| (k.clone(), *v)).collect();
    sc.enable_new_plugins = cfg.plugins.enable_running_new_plugins;
    sc.scan_every = Duration::from_secs(cfg.plugins.check_for_new_plugins_every.max(1) as u64);
    sc.max_charts = cfg.plugins.max_charts_per_plugin;
    sc.max_dimensions = cfg.plugins.max_dimensions_per_plugin;
    sc.runs = cfg
        .plugins
        .options
        .iter()
        .map(|(name, o)| {
            (name.clone(), PluginRun { update_every: o.update_every, options: o.command_options.clone() })
        })
        .collect();
    let path = |p: &std::path::Path| p.display().to_string();
    let first_plugins = dirs.plugins.first().map(|p| path(p)).unwrap_or_default();
    sc.env = PluginEnv {
        update_every: g.update_every,
        plugins_dir: first_plugins,
        user_plugins_dirs: dirs.plugins.iter().skip(1).map(|p| path(p)).collect::<Vec<_>>().join(" "),
        config_dir: path(&dirs.config),
        stock_config_dir: path(&dirs.stock_config),
        web_dir: path(&dirs.web),
        cache_dir: path(&dirs.cache),
        lib_dir: path(&dirs.lib),
        lock_dir: path(&dirs.lock),
        log_dir: path(&dirs.log),
        host_prefix: path(&dirs.host_prefix),
        home: path(&dirs.home),
        hostname: g.hostname.clone(),
        listen_port: cfg.web.default_port,
        machine_guid: machine_guid.to_string(),
    };
    sc
}

/// Make `[directories] lock` as netdata does at start: python.d.plugin takes its jobs' locks
/// there and skips every job when it is missing. A failure is logged and the agent goes on.
fn make_lock_dir(lock: &std::path::Path) {
    if let Err(e) = std::fs::create_dir_all(lock) {
        tracing::warn!(
            directory = %lock.display(),
            error = %e,
            "[directories] lock cannot be created; python.d.plugin's jobs will not run: create it or fix the key"
        );
    }
}

/// The settings that differ between `old` and `new` and that only a restart applies.
fn restart_only_changes(old: &Config, new: &Config, tls_running: bool) -> Vec<&'static str> {
    let (a, b) = (&old.global, &new.global);
    // A port serving TLS reads its key and certificate again on a reload (they may move).
    let web_changed = if tls_running {
        let strip =
            |w: &crate::config::Web| crate::config::Web { ssl_key: None, ssl_certificate: None, ..w.clone() };
        strip(&old.web) != strip(&new.web)
    } else {
        old.web != new.web
    };
    [
        (a.hostname != b.hostname, "[global] hostname"),
        (a.update_every != b.update_every, "[global] update every"),
        (a.history != b.history, "[global] history"),
        (old.plugins.proc != new.plugins.proc, "[plugins] proc"),
        (old.db != new.db, "[db]"),
        (old.directories.lib != new.directories.lib, "[directories] lib"),
        (old.registry != new.registry, "[registry]"),
        (web_changed, "[web]"),
        (old.stream != new.stream, "stream.conf / [stream]"),
    ]
    .into_iter()
    .filter_map(|(changed, what)| changed.then_some(what))
    .collect()
}

/// What would keep `cfg` from starting beyond its syntax, checked without starting anything:
/// every enabled exporter's destinations must be usable (its `tls ca file` readable and valid)
/// and its `spool directory` safe to write; `[web] ssl key` and `ssl certificate` must be a
/// usable pair when the agent listens. One message per problem, naming where it is configured.
pub fn check(cfg: &Config) -> Vec<String> {
    let tls = cfg.web.enabled().then(|| TlsServer::load(&cfg.web, &cfg.directories.config).err()).flatten();
    let mut problems: Vec<String> = tls.into_iter().collect();
    problems.extend(check_exporters(cfg));
    problems
}

/// [`check`] of the exporters.
fn check_exporters(cfg: &Config) -> Vec<String> {
    let configs = match instance_configs(cfg) {
        Ok(c) => c,
        Err(e) => return vec![e.0],
    };
    let destinations = configs.into_iter().filter_map(|ic| {
        let name = ic.name.clone();
        instance::prepare(ic).err().map(|e| format!("{}: exporter '{name}': {e}", exporter_place(cfg, &name)))
    });
    let spools = cfg.exporters.iter().filter(|e| e.enabled).filter_map(|e| {
        let dir = e.spool_directory.as_ref()?;
        let err = spool::check(dir, &e.name).err()?;
        Some(format!("{}:{}: [{}] spool directory = {}: {err}", e.file, e.line, e.section, dir.display()))
    });
    destinations.chain(spools).collect()
}

/// The local host's own labels: `[host labels]` (configured), then what netdata finds on the
/// machine (automatic: `_os_name`, `_os_version`, `_kernel_version`, `_architecture`,
/// `_system_cores`, `_system_ram_total`; those not known are left out).
pub fn local_labels(cfg: &Config, os: &OsFacts) -> Labels {
    let mut labels = Labels::new();
    let refused = cfg
        .host_labels
        .iter()
        .filter(|(name, value)| labels.add(name, value, label_source::CONFIG) == Added::Refused)
        .count();
    if refused > 0 {
        tracing::warn!(
            refused,
            "[host labels]: {refused} labels ignored; a host keeps at most {MAX_LABELS} labels of {MAX_BYTES} \
             bytes in all"
        );
    }
    for (name, value) in [
        ("_os_name", &os.os_name),
        ("_os_version", &os.os_version),
        ("_kernel_version", &os.kernel_version),
        ("_architecture", &os.architecture),
        ("_system_cores", &os.cores_total),
        ("_system_ram_total", &os.ram_total),
    ] {
        if !value.is_empty() && value != "unknown" {
            labels.add(name, value, label_source::AUTO);
        }
    }
    labels
}

/// The store, with this host as its localhost. The machine GUID tells a child streaming this
/// agent back from a real one, and is the API's `uid`; it is read (or made and kept) only when
/// the agent listens.
fn new_store(cfg: &Config) -> Arc<Db> {
    let g = &cfg.global;
    let guid = if cfg.web.enabled() {
        machine_guid::load_or_create(&cfg.registry.unique_id_file(&cfg.directories.lib))
    } else {
        String::new()
    };
    Arc::new(Db::new(
        HostInfo {
            hostname: g.hostname.clone(),
            machine_guid: guid,
            update_every: g.update_every,
            os: std::env::consts::OS.to_string(),
            ..Default::default()
        },
        g.history,
    ))
}

/// Start every enabled exporter instance, in configuration order; when one cannot start, stop
/// those already started: the agent as a whole did not.
fn start_exporters(cfg: &Config, db: &Arc<Db>) -> Result<Vec<(String, InstanceHandle)>, StartError> {
    let mut exporters: Vec<(String, InstanceHandle)> = Vec::new();
    for ic in instance_configs(cfg)? {
        let name = ic.name.clone();
        match instance::start(ic, db.clone()) {
            Ok(h) => exporters.push((name, h)),
            Err(err) => {
                for (_, h) in exporters {
                    h.join();
                }
                return Err(StartError(format!(
                    "{}: cannot start exporter '{name}': {err}",
                    exporter_place(cfg, &name)
                )));
            }
        }
    }
    Ok(exporters)
}

impl Agent {
    /// Start everything the configuration enables.
    pub fn start(cfg: &Config, shutdown: Shutdown) -> Result<Agent, StartError> {
        let db = new_store(cfg);
        db.localhost().set_own_labels(local_labels(cfg, &OsFacts::detect()));
        let exporters = start_exporters(cfg, &db)?;
        let g = &cfg.global;
        let proc = cfg.plugins.proc.then(|| {
            proc_collector::start(
                ProcConfig { root: "/".into(), update_every: g.update_every },
                db.localhost(),
                shutdown.clone(),
            )
        });
        make_lock_dir(&cfg.directories.lock);
        let plugins = Some(supervisor::start(
            supervisor_config(cfg, &db.localhost().info().machine_guid),
            db.localhost(),
            shutdown.clone(),
        ));
        let mut agent = Agent {
            db,
            exporters,
            proc,
            plugins,
            stream: None,
            http: None,
            api: None,
            cleanup: None,
            tls: None,
            shutdown,
            config: cfg.clone(),
        };
        // Each step that fails stops what already runs before reporting.
        if cfg.web.enabled() {
            if let Err(e) = agent.start_api(cfg) {
                agent.stop();
                return Err(e);
            }
        }
        if let Err(e) = agent.start_listener(cfg) {
            agent.stop();
            return Err(e);
        }
        Ok(agent)
    }

    /// Start the HTTP API's server over the store, with netdata's dashboard when
    /// `[directories] web` is set.
    fn start_api(&mut self, cfg: &Config) -> Result<(), StartError> {
        let mut api = Api::new(self.db.clone(), agent_facts(cfg));
        api.set_prometheus(cfg.prometheus.clone());
        // netdata's dashboard is served only when asked for: the status page keeps `/` otherwise.
        if cfg.directories.set_at.contains_key("web") {
            let web = &cfg.directories.web;
            if !web.join("index.html").is_file() {
                tracing::warn!(
                    directory = %web.display(),
                    "[directories] web has no index.html; install netdata's web files (Debian: the \
                     netdata-web package) or remove the key to have the status page at /"
                );
            }
            api.web_dir = Some(web.clone());
        }
        let api = Arc::new(api);
        self.api = Some(api.clone());
        self.publish_exporters();
        let server_cfg = ServerConfig {
            max_sockets: cfg.web.max_sockets,
            request_timeout: Duration::from_secs(u64::from(cfg.web.timeout_for_first_request)),
        };
        let h = HttpServer::start(api, server_cfg, self.shutdown.clone())
            .map_err(|e| StartError(format!("cannot start the HTTP API's thread: {e}")))?;
        self.http = Some(h);
        Ok(())
    }

    /// Start the listener for the API and streaming children, and the thread removing the hosts
    /// of children gone too long, unless `[web] mode = none`.
    fn start_listener(&mut self, cfg: &Config) -> Result<(), StartError> {
        let handoff = self.http.as_ref().map(HttpServer::handoff);
        let Some(mut sc) = StreamConfig::from_config(cfg, &self.db.localhost().info().machine_guid, handoff)
        else {
            return Ok(());
        };
        sc.tls = TlsServer::load(&cfg.web, &cfg.directories.config).map_err(|e| {
            StartError(format!("{e}. rrdpipe does not start with a TLS setting it cannot follow"))
        })?;
        self.tls = sc.tls.clone();
        let h = stream::start(sc, self.db.clone(), self.shutdown.clone()).map_err(|e| {
            StartError(format!("{e}; change [web] bind to (or set [web] mode = none to listen nowhere)"))
        })?;
        self.stream = Some(h);
        // Only children's hosts are ever removed.
        let after = Duration::from_secs(u64::from(cfg.db.cleanup_orphan_hosts_after));
        let h = cleanup::start(self.db.clone(), after, self.shutdown.clone())
            .map_err(|e| StartError(format!("cannot start the rrd-cleanup thread: {e}")))?;
        self.cleanup = Some(h);
        Ok(())
    }

    /// Follow `new` where no restart is needed: exporter instances that are new start, those
    /// no longer enabled stop, those whose settings changed are restarted with them and go on
    /// exactly where they stopped (no window skipped or sent twice; their counters continue);
    /// instances whose settings are the same run on untouched. An instance whose new settings
    /// cannot be used (an unreadable `tls ca file`) keeps running with the old ones. Plugins
    /// follow `[plugins]` (see [`SupervisorHandle::reconfigure`]); `[host labels]` are sent
    /// from every instance's next export; `[prometheus:exporter]` applies from the API's next
    /// request. Everything else that changed is listed in
    /// [`Reloaded::need_restart`].
    pub fn reload(&mut self, new: &Config) -> Reloaded {
        let mut done = Reloaded {
            need_restart: restart_only_changes(&self.config, new, self.tls.is_some()),
            certificate: self.tls.as_ref().map(|t| t.renew(&new.web, &new.directories.config)),
            ..Reloaded::default()
        };
        let wanted = match instance_configs(new) {
            Ok(w) => w,
            Err(e) => {
                done.exporters_refused.push(e.0);
                return done;
            }
        };
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.exporters)
            .into_iter()
            .partition(|(name, _)| wanted.iter().any(|w| w.name == *name));
        self.exporters = kept;
        for (name, h) in gone {
            h.join();
            done.exporters_stopped.push(name);
        }
        for ic in wanted {
            let name = ic.name.clone();
            let old = self.exporters.iter().position(|(n, _)| *n == name);
            if let Some(i) = old {
                if self.exporters[i].1.config == ic {
                    continue;
                }
            }
            let prepared = match instance::prepare(ic) {
                Ok(p) => p,
                Err(e) => {
                    done.exporters_refused
                        .push(format!("{}: exporter '{name}': {e}", exporter_place(new, &name)));
                    continue;
                }
            };
            let previous = old.map(|i| self.exporters.remove(i).1).and_then(InstanceHandle::join);
            let changed = old.is_some();
            match instance::launch(prepared, self.db.clone(), previous) {
                Ok(h) => {
                    if changed { &mut done.exporters_changed } else { &mut done.exporters_started }
                        .push(name.clone());
                    self.exporters.push((name, h));
                }
                Err(e) => done
                    .exporters_refused
                    .push(format!("{}: exporter '{name}': {e}", exporter_place(new, &name))),
            }
        }
        // Configuration order, as at start.
        let order: Vec<&str> = new.exporters.iter().filter(|e| e.enabled).map(|e| e.name.as_str()).collect();
        self.exporters.sort_by_key(|(n, _)| order.iter().position(|o| o == n));
        self.publish_exporters();
        if let Some(p) = &self.plugins {
            (done.plugins_stopped, done.plugins_started) =
                p.reconfigure(supervisor_config(new, &self.db.localhost().info().machine_guid));
        }
        if let Some(api) = self.api.as_ref().filter(|_| new.prometheus != self.config.prometheus) {
            api.set_prometheus(new.prometheus.clone());
        }
        if new.host_labels != self.config.host_labels {
            self.db.localhost().set_own_labels(local_labels(new, &OsFacts::detect()));
        }
        self.config = new.clone();
        done
    }

    /// Show the API's status page the exporter instances running now.
    fn publish_exporters(&self) {
        if let Some(api) = &self.api {
            api.exporters.publish(self.exporters.iter().map(|(name, h)| ExporterView::of(name, h)).collect());
        }
    }

    /// Stop every thread: collectors first, then exporters (whose senders make one last attempt).
    pub fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(s) = self.stream.take() {
            s.join();
        }
        if let Some(h) = self.http.take() {
            h.join();
        }
        if let Some(c) = self.cleanup.take() {
            let _ = c.join();
        }
        if let Some(p) = self.plugins.take() {
            p.join();
        }
        if let Some(p) = self.proc.take() {
            let _ = p.join();
        }
        for (_, h) in &self.exporters {
            h.trigger_stop();
        }
        for (_, h) in self.exporters.drain(..) {
            h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Defaults, Source};

    fn config(text: &str) -> Config {
        let defaults = Defaults { hostname: "h".into(), plugins_dir: "/nonexistent".into() };
        parse(Source { name: "r.conf".into(), text: text.into() }, None, &defaults).unwrap().config
    }

    /// `[host labels]` are configured labels, cleaned (a later one of the same name wins); the
    /// machine's known facts are automatic labels, unknown ones left out.
    #[test]
    fn local_labels_are_the_configured_then_the_machines() {
        let cfg = config("[host labels]\nRoom = b12\nroom = c 3\nrack = r;1\n");
        let mut os = OsFacts {
            os_name: "Debian GNU/Linux".into(),
            kernel_version: "6.1.0-9-amd64".into(),
            ..OsFacts::default()
        };
        os.architecture = "x86_64".into();
        os.cores_total = String::new();
        let labels = local_labels(&cfg, &os);
        let all: Vec<(&str, &str, u32)> = labels.iter().map(|l| (&*l.name, &*l.value, l.source)).collect();
        assert_eq!(
            all,
            [
                ("room", "c 3", 2),
                ("rack", "r:1", 2),
                ("_os_name", "Debian GNU/Linux", 1),
                ("_kernel_version", "6.1.0-9-amd64", 1),
                ("_architecture", "x86_64", 1),
            ]
        );
    }

    #[test]
    fn a_reload_names_exactly_the_changed_settings_that_need_a_restart() {
        let old = config("[global]\nhistory = 600\n[graphite:g]\ndestination = a:1\n");
        let same = config("[global]\nhistory = 600\n[graphite:g]\ndestination = b:2\n[plugins]\nx = no\n");
        assert_eq!(restart_only_changes(&old, &same, false), Vec::<&str>::new());
        let new = config(
            "[global]\nhistory = 700\nlog level = debug\n[db]\ncleanup orphan hosts after secs = 5\n\
             [web]\nbind to = *:1\n[graphite:g]\ndestination = a:1\n",
        );
        assert_eq!(restart_only_changes(&old, &new, false), vec!["[global] history", "[db]", "[web]"]);
        // A port serving TLS reads a moved certificate on the reload; one without TLS starts it
        // only at a restart.
        let moved = config(
            "[global]\nhistory = 600\n[web]\nssl key = /k.pem\nssl certificate = /c.pem\n\
             [graphite:g]\ndestination = a:1\n",
        );
        assert_eq!(restart_only_changes(&old, &moved, true), Vec::<&str>::new());
        assert_eq!(restart_only_changes(&old, &moved, false), vec!["[web]"]);
    }
}
