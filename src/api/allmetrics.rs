//! `/api/v1/allmetrics`: every current value of a host, as shell variables, JSON or
//! Prometheus' text format (one host, or every host with `prometheus_all_hosts`).
//!
//! One job: read the request's parameters, choose the window, and hand each chart to the
//! format's writer. The writers ([`prometheus`], [`text`]) do no I/O and read no clock: `now`
//! comes with the request, so every answer is tested byte for byte.
//!
//! The shapes are netdata 1.37.1's, recorded from it on the wire, except where netdata's
//! output breaks its readers: JSON strings are escaped, Prometheus metric names are valid
//! whatever the prefix and contexts are, and `# HELP`/`# TYPE` come once per metric family.
//!
//! Averages and sums are netdata's: each scraper (`server=`, default the client's address)
//! has its own window per host, from its previous request to now ([`Scrapers`]); a chart's
//! slots are read with [`crate::export::compute`], the code the exporters use.
//!
//! A chart's read lock is held only while that chart is written, never across the walk, so
//! a scrape never holds up collection for longer than one chart takes.

mod prometheus;
mod scrapers;
#[cfg(test)]
mod tests;
mod text;

use std::sync::Arc;

use super::response::{JSON, PROMETHEUS, TEXT};
use super::{Api, Request, Response};
use crate::config::PrometheusExporter;
use crate::export::format::DataSource;
use crate::pattern::SimplePattern;
use crate::rrd::{Host, LabelFilter};

pub use scrapers::{chart_window, Scrapers};

/// The formats, as `format=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Shell,
    Prometheus,
    PrometheusAllHosts,
    Json,
}

impl Format {
    fn parse(s: Option<&str>) -> Option<Format> {
        match s {
            // netdata skips parameters with an empty value.
            None | Some("" | "shell") => Some(Format::Shell),
            Some("prometheus") => Some(Format::Prometheus),
            Some("prometheus_all_hosts") => Some(Format::PrometheusAllHosts),
            Some("json") => Some(Format::Json),
            Some(_) => None,
        }
    }

    /// Index into [`Scrapers`]' size memory.
    fn index(self) -> usize {
        self as usize
    }
}

/// The longest `server=` kept: the scraper's identity is remembered between requests.
const SERVER_MAX: usize = 256;

/// The request's parameters, checked.
#[derive(Debug)]
struct Options {
    format: Format,
    /// `filter=`, else `[prometheus:exporter] send charts matching`: charts whose id or name it
    /// accepts; `None` for all.
    filter: Option<SimplePattern>,
    /// `[prometheus:exporter] send hosts matching`: the hosts of `prometheus_all_hosts`.
    hosts: SimplePattern,
    /// The host labels `netdata_info` carries (`send configured labels`, `send automatic labels`).
    host_labels: LabelFilter,
    /// Seconds a scraper's first request covers (`[prometheus:exporter] update every`).
    first_window_s: i64,
    /// The scraper's identity.
    server: String,
    /// `prefix=`, as given (the Prometheus writer sanitizes it).
    prefix: String,
    source: DataSource,
    help: bool,
    types: bool,
    names: bool,
    timestamps: bool,
    oldunits: bool,
    hideunits: bool,
}

impl Options {
    /// The request's parameters; `defaults` for those it does not give.
    fn parse(req: &Request<'_>, defaults: &PrometheusExporter) -> Result<Options, String> {
        let q = &req.query;
        let format = Format::parse(q.get("format")).ok_or_else(|| {
            format!(
                "Which format? 'shell', 'prometheus', 'prometheus_all_hosts' and 'json' are currently supported, \
                 not '{}'.",
                q.get("format").unwrap_or_default()
            )
        })?;
        let source = match q.get_any(&["source", "data", "data-source", "datasource"]) {
            None | Some("") => defaults.data_source,
            Some("average") => DataSource::Average,
            Some("sum" | "volume") => DataSource::Sum,
            Some("as-collected" | "raw") => DataSource::AsCollected,
            Some(other) => {
                return Err(format!(
                "parameter 'source' must be average, sum (or volume) or as-collected (or raw), not '{other}'"
            ))
            }
        };
        let server = match q.get("server") {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => req.peer.to_canonical().to_string(),
        };
        if server.len() > SERVER_MAX {
            return Err(format!("parameter 'server' is longer than {SERVER_MAX} bytes"));
        }
        // Validated for every format, used by Prometheus only (as netdata).
        q.flag("variables", false)?;
        Ok(Options {
            format,
            filter: chart_filter(q.get("filter"), &defaults.send_charts_matching),
            hosts: SimplePattern::new(&defaults.send_hosts_matching),
            host_labels: LabelFilter {
                configured: defaults.send_configured_labels,
                automatic: defaults.send_automatic_labels,
            },
            first_window_s: defaults.update_every.into(),
            server,
            prefix: q.get("prefix").unwrap_or(&defaults.prefix).to_string(),
            source,
            help: q.flag("help", false)?,
            types: q.flag("types", false)?,
            names: q.flag("names", defaults.send_names_instead_of_ids)?,
            timestamps: q.flag("timestamps", true)?,
            oldunits: q.flag("oldunits", false)?,
            hideunits: q.flag("hideunits", false)?,
        })
    }

    /// Whether the chart with this id and name is asked for.
    fn wants(&self, id: &str, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches_any(&[id, name]))
    }
}

/// The charts a request asks for: its `filter=`, else `send charts matching` (as netdata, a
/// request's filter replaces the configured pattern); `None` for all.
fn chart_filter(filter: Option<&str>, configured: &str) -> Option<SimplePattern> {
    match filter.filter(|f| !f.trim().is_empty()) {
        Some(f) => Some(SimplePattern::new(f)),
        None => (configured.trim() != "*").then(|| SimplePattern::new(configured)),
    }
}

/// Answer `/api/v1/allmetrics`.
pub fn serve(api: &Api, host: &Arc<Host>, req: &Request<'_>) -> Response {
    let opts = match Options::parse(req, &api.prometheus()) {
        Ok(o) => o,
        Err(why) => return Response::bad_request(&why),
    };
    let mut out = Vec::with_capacity(api.scrapers.expected_size(opts.format.index()));
    let content_type = match opts.format {
        Format::Shell => {
            text::write_shell(&mut out, host, &opts);
            TEXT
        }
        Format::Json => {
            text::write_json(&mut out, host, &opts);
            JSON
        }
        Format::Prometheus => {
            prometheus::write(&mut out, api, std::slice::from_ref(host), host, req.now_ms, &opts);
            PROMETHEUS
        }
        Format::PrometheusAllHosts => {
            let mut hosts = api.db.hosts();
            hosts.retain(|h| opts.hosts.matches(&h.hostname()));
            prometheus::write(&mut out, api, &hosts, host, req.now_ms, &opts);
            PROMETHEUS
        }
    };
    api.scrapers.remember_size(opts.format.index(), out.len());
    Response::ok(content_type, out)
}
