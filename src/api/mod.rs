//! The HTTP API: netdata's `/api/v1` over the store, on the port children stream to.
//!
//! One job: turn a parsed request into a response, reading the store. No sockets here: the
//! [`server`] owns connections and HTTP; endpoints are pure over `(store, request, now)`, so
//! every answer can be tested byte for byte without a network.
//!
//! * [`query`]: the query string, and netdata's ways of spelling a parameter; pure;
//! * [`response`]: what an endpoint answers (status, type, body), and the error answers;
//! * [`allmetrics`]: `/api/v1/allmetrics` (shell, prometheus, prometheus_all_hosts, json), with
//!   netdata's averaging window per scraper;
//! * [`data`]: `/api/v1/data`: a chart's values over time, grouped into points, in netdata's formats;
//! * [`charts`]: `/api/v1/charts`, `/api/v1/chart`, and the chart objects they share;
//! * [`info`]: `/api/v1/info`, `/api/v1/alarms`, `/api/v1/alarm_log`;
//! * [`registry`]: `/api/v1/registry`, answered so the dashboards work offline;
//! * [`status`]: `/api/v1/status`, rrdpipe's own summary for its status page;
//! * [`ui`]: rrdpipe's status page, embedded;
//! * [`files`]: netdata's dashboard files from `[directories] web`;
//! * [`server`]: connections, HTTP/1.1 (hyper), limits, CORS, gzip.

pub mod allmetrics;
pub mod charts;
pub mod data;
pub mod files;
pub mod info;
pub mod json;
pub mod query;
pub mod registry;
pub mod response;
pub mod server;
pub mod status;
pub mod tls_io;
pub mod ui;

use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::PrometheusExporter;
use crate::rrd::{Db, Host};

pub use query::Query;
pub use response::Response;

/// What the API says about this agent, fixed at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFacts {
    /// rrdpipe's version, as `v0.1.0`.
    pub version: String,
    /// The agent's `[global] update every`, seconds.
    pub update_every: u32,
    /// The agent's `[global] history`, slots.
    pub history: usize,
    /// When the agent started, seconds since the epoch.
    pub started_s: i64,
    /// The machine's operating system, for `/api/v1/info`.
    pub os: info::OsFacts,
    /// The kinds of the enabled exporting connectors (`graphite`, …).
    pub exporting: Vec<String>,
}

/// The API's state: the store it reads and what it remembers between requests.
#[derive(Debug)]
pub struct Api {
    /// The store.
    pub db: Arc<Db>,
    /// About this agent.
    pub facts: AgentFacts,
    /// Each Prometheus scraper's last window, per host.
    pub scrapers: allmetrics::Scrapers,
    /// The exporter instances running, for the status page.
    pub exporters: status::Exporters,
    /// `[directories] web`, when netdata's dashboard is to be served from it.
    pub web_dir: Option<std::path::PathBuf>,
    /// `[prometheus:exporter]`: what `/api/v1/allmetrics` sends unless a request says; replaced
    /// when the configuration is reloaded.
    prometheus: RwLock<Arc<PrometheusExporter>>,
}

/// One API request, as the server parsed it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The endpoint after `/api/v1/` (`data`, `allmetrics`, …), host prefix removed.
    pub endpoint: &'a str,
    /// The query string's parameters.
    pub query: Query,
    /// The client's address (`::ffff:a.b.c.d` already as `a.b.c.d`).
    pub peer: IpAddr,
    /// Now, in milliseconds since the epoch.
    pub now_ms: i64,
    /// The agent's URL as the client reached it (`http://` and the `Host` header), if it sent one.
    pub own_url: Option<String>,
}

impl Api {
    /// An API over `db`.
    pub fn new(db: Arc<Db>, facts: AgentFacts) -> Api {
        Api {
            db,
            facts,
            scrapers: allmetrics::Scrapers::default(),
            exporters: status::Exporters::default(),
            web_dir: None,
            prometheus: RwLock::new(Arc::new(PrometheusExporter::default())),
        }
    }

    /// The `[prometheus:exporter]` settings in effect.
    pub fn prometheus(&self) -> Arc<PrometheusExporter> {
        self.prometheus.read().clone()
    }

    /// Apply new `[prometheus:exporter]` settings from the next request on.
    pub fn set_prometheus(&self, settings: PrometheusExporter) {
        *self.prometheus.write() = Arc::new(settings);
    }

    /// Answer `req` for `host` (the local host, or the one a `/host/NAME/` prefix chose).
    pub fn respond(&self, host: &Arc<Host>, req: &Request<'_>) -> Response {
        match req.endpoint {
            "allmetrics" => allmetrics::serve(self, host, req),
            "data" => data::serve(self, host, req),
            "charts" => charts::serve_charts(self, host, req),
            "chart" => charts::serve_chart(self, host, req),
            "info" => info::serve_info(self, host, req),
            "alarms" => info::serve_alarms(self, host, req),
            "alarm_log" => info::serve_alarm_log(self, host, req),
            "registry" => registry::serve(self, host, req),
            "status" => status::serve(self, host, req),
            other => Response::not_found(&format!("no API endpoint /api/v1/{other}")),
        }
    }

    /// The host a `/host/NAME/` prefix names: by hostname, else by machine GUID.
    pub fn host_named(&self, name: &str) -> Option<Arc<Host>> {
        let hosts = self.db.hosts();
        let by_name = hosts.iter().find(|h| h.hostname() == name);
        by_name.or_else(|| hosts.iter().find(|h| h.info().machine_guid.eq_ignore_ascii_case(name))).cloned()
    }
}
