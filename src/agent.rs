//! The agent: builds the store, starts collectors and exporters, and stops them on shutdown.
//!
//! One job: wiring. It turns a validated [`Config`] into running threads and joins them in
//! order (collectors first, then exporters, whose senders make a last delivery attempt).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::collect::plugins_d::supervisor::{self, PluginEnv, SupervisorConfig, SupervisorHandle};
use crate::collect::proc::{self as proc_collector, ProcConfig};
use crate::collect::stream::{self, StreamConfig, StreamHandle};
use crate::config::{Config, ConnectorKind, DataSource, ExporterConfig, Transport};
use crate::export::format::Source;
use crate::export::instance::{self, BodyFormat, Connector, InstanceConfig, InstanceHandle, LineFormat};
use crate::export::pattern::SimplePattern;
use crate::export::transport::http::{BasicAuth, HttpSettings};
use crate::export::transport::Endpoint;
use crate::rrd::{cleanup, Db, HostInfo};
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
    /// The listener for streaming children, when an API key is enabled.
    pub stream: Option<StreamHandle>,
    /// The thread removing the hosts of children gone for `[db] cleanup orphan hosts after secs`.
    cleanup: Option<JoinHandle<()>>,
    shutdown: Shutdown,
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
pub fn instance_config(e: &ExporterConfig, labels: &[(String, String)]) -> Option<InstanceConfig> {
    let http = |format: BodyFormat, path: &str| {
        Connector::Http(
            format,
            HttpSettings {
                tls: e.kind.tls(),
                path: path.to_string(),
                auth: e.username.as_ref().map(|u| BasicAuth {
                    username: u.clone(),
                    password: e.password.clone().unwrap_or_default(),
                }),
                ca_file: e.tls_ca_file.clone(),
                skip_verify: e.tls_skip_verify,
            },
        )
    };
    let connector = match e.kind {
        ConnectorKind::Graphite => Connector::Lines(LineFormat::Graphite),
        ConnectorKind::Opentsdb => Connector::Lines(LineFormat::Opentsdb),
        ConnectorKind::Json => Connector::Lines(LineFormat::Json),
        ConnectorKind::OpentsdbHttp { .. } => http(BodyFormat::OpentsdbJson, "/api/put"),
        ConnectorKind::JsonHttp { .. } => http(BodyFormat::Json, "/api/put"),
        ConnectorKind::RemoteWrite { .. } => http(BodyFormat::RemoteWrite, &e.remote_write_url_path),
    };
    Some(InstanceConfig {
        name: e.name.clone(),
        legacy: e.legacy,
        connector,
        source: match e.data_source {
            DataSource::AsCollected => Source::AsCollected,
            DataSource::Average => Source::Average,
            DataSource::Sum => Source::Sum,
        },
        prefix: e.prefix.clone(),
        hostname: e.hostname.clone(),
        every: e.update_every,
        buffer_on_failures: e.buffer_on_failures,
        timeout: Duration::from_millis(e.timeout_ms),
        endpoints: e
            .destinations
            .iter()
            .map(|d| Endpoint { udp: d.transport == Transport::Udp, host: d.host.clone(), port: d.port })
            .collect(),
        charts: SimplePattern::new(&e.send_charts_matching),
        hosts: if e.legacy { None } else { Some(SimplePattern::new(&e.send_hosts_matching)) },
        use_names: e.send_names_instead_of_ids,
        labels: if e.send_configured_labels && !e.legacy { labels.to_vec() } else { Vec::new() },
        max_buffer_bytes: usize::try_from(e.max_buffer_bytes).unwrap_or(usize::MAX),
        replay: Duration::from_secs(e.replay_window()),
        spool: e.spool_directory.clone().map(|d| (d, e.spool_max_size)),
    })
}

impl Agent {
    /// Start everything the configuration enables.
    pub fn start(cfg: &Config, shutdown: Shutdown) -> Result<Agent, StartError> {
        let g = &cfg.global;
        let db = Arc::new(Db::new(
            HostInfo {
                hostname: g.hostname.clone(),
                update_every: g.update_every,
                os: std::env::consts::OS.to_string(),
                ..Default::default()
            },
            g.history,
        ));
        let mut exporters = Vec::new();
        for e in cfg.exporters.iter().filter(|e| e.enabled) {
            let Some(ic) = instance_config(e, &cfg.host_labels) else {
                return Err(StartError(format!(
                    "{}:{}: [{}]: type '{}' is not supported by this build of rrdpipe",
                    e.file,
                    e.line,
                    e.section,
                    e.kind.type_name()
                )));
            };
            match instance::start(ic, db.clone(), shutdown.clone()) {
                Ok(h) => exporters.push((e.name.clone(), h)),
                Err(err) => {
                    // Stop what already started: the agent as a whole did not.
                    shutdown.trigger();
                    for (_, h) in exporters {
                        h.join();
                    }
                    return Err(StartError(format!(
                        "{}:{}: [{}]: cannot start exporter '{}': {err}",
                        e.file, e.line, e.section, e.name
                    )));
                }
            }
        }
        let proc = cfg.plugins.proc.then(|| {
            proc_collector::start(
                ProcConfig { root: "/".into(), update_every: g.update_every },
                db.localhost(),
                shutdown.clone(),
            )
        });
        let mut sc = SupervisorConfig::new(vec![cfg.directories.plugins.clone()], g.update_every);
        sc.enabled = cfg.plugins.enabled.iter().map(|(k, v)| (k.clone(), *v)).collect();
        sc.enable_new_plugins = cfg.plugins.enable_running_new_plugins;
        sc.scan_every = Duration::from_secs(cfg.plugins.check_for_new_plugins_every.max(1) as u64);
        sc.max_charts = cfg.plugins.max_charts_per_plugin;
        sc.max_dimensions = cfg.plugins.max_dimensions_per_plugin;
        sc.env = PluginEnv {
            hostname: g.hostname.clone(),
            config_dir: cfg.directories.config.display().to_string(),
            user_config_dir: cfg.directories.config.display().to_string(),
            plugins_dir: cfg.directories.plugins.display().to_string(),
            user_plugins_dirs: cfg.directories.plugins.display().to_string(),
            ..PluginEnv::default()
        };
        let plugins = Some(supervisor::start(sc, db.localhost(), shutdown.clone()));
        let stream = match StreamConfig::from_config(cfg, &db.localhost().info().machine_guid) {
            Some(sc) => match stream::start(sc, db.clone(), shutdown.clone()) {
                Ok(h) => Some(h),
                Err(e) => {
                    // Stop what already runs before reporting.
                    let agent = Agent { db, exporters, proc, plugins, stream: None, cleanup: None, shutdown };
                    agent.stop();
                    return Err(StartError(format!("{e}; change [web] bind to")));
                }
            },
            None => None,
        };
        // Only children's hosts are ever removed.
        let after = Duration::from_secs(u64::from(cfg.db.cleanup_orphan_hosts_after));
        let cleanup = match &stream {
            Some(_) => match cleanup::start(db.clone(), after, shutdown.clone()) {
                Ok(h) => Some(h),
                Err(e) => {
                    let agent = Agent { db, exporters, proc, plugins, stream, cleanup: None, shutdown };
                    agent.stop();
                    return Err(StartError(format!("cannot start the rrd-cleanup thread: {e}")));
                }
            },
            None => None,
        };
        Ok(Agent { db, exporters, proc, plugins, stream, cleanup, shutdown })
    }

    /// Stop every thread: collectors first, then exporters (whose senders make one last attempt).
    pub fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(s) = self.stream.take() {
            s.join();
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
        for (_, h) in self.exporters.drain(..) {
            h.join();
        }
    }
}
