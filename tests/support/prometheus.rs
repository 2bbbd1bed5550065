//! A real Prometheus for tests: the remote-write receiver on, over HTTP or HTTPS, optionally
//! scraping targets, its TSDB in a temp dir; read back through its HTTP API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::http::{try_request, urlencode, HttpResponse, Tls};
use super::ports::{free_port, local};
use super::require;
use super::series::{
    json_f64, json_labels, merge_series, normalize_series_key, parse_prometheus_text, Series,
};
use super::server::{start_with_retries, temp_dir, Server};
use super::wait::now_secs;

/// A Prometheus with the remote-write receiver on (`POST /api/v1/write`), no
/// scrape targets, and its TSDB in a temp dir. Optionally serves HTTPS.
pub struct Prometheus {
    server: Server,
    addr: SocketAddr,
    tls: bool,
}

impl Prometheus {
    /// Starts Prometheus over plain HTTP; `None` (after printing SKIPPED) if
    /// the binary is missing outside CI. Panics if it does not start.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// Starts Prometheus serving HTTPS with the given PEM certificate and key
    /// files.
    pub fn start_tls(cert_pem: &Path, key_pem: &Path) -> Option<Self> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    /// Starts Prometheus, with TLS when `tls` is `Some((cert_pem, key_pem))`.
    pub fn start_with(tls: Option<(&Path, &Path)>) -> Option<Self> {
        Self::start_configured(tls, "scrape_configs: []\n")
    }

    /// Starts Prometheus over plain HTTP scraping what `scrape_configs` (the YAML of the
    /// `scrape_configs:` key, that key included) lists.
    pub fn start_scraping(scrape_configs: &str) -> Option<Self> {
        Self::start_configured(None, scrape_configs)
    }

    fn start_configured(tls: Option<(&Path, &Path)>, scrape_configs: &str) -> Option<Self> {
        let bin = require("prometheus")?;
        Some(start_with_retries("prometheus", || {
            let dir = temp_dir("prometheus-");
            let root = dir.path().to_path_buf();
            let addr = local(free_port());
            std::fs::write(
                root.join("prometheus.yml"),
                format!("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n{scrape_configs}"),
            )
            .expect("write prometheus.yml");
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--config.file={}", root.join("prometheus.yml").display()))
                .arg(format!("--storage.tsdb.path={}", root.join("data").display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--web.enable-remote-write-receiver")
                .arg("--storage.tsdb.retention.time=100y");
            if let Some((cert, key)) = tls {
                std::fs::write(
                    root.join("web.yml"),
                    format!(
                        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                        cert.display(),
                        key.display()
                    ),
                )
                .expect("write web.yml");
                cmd.arg(format!("--web.config.file={}", root.join("web.yml").display()));
            }
            let mut server = Server::spawn("prometheus", cmd, dir);
            let tls = tls.is_some();
            let ready =
                server.wait_ready(|| get_maybe_tls(tls, addr, "/-/ready").map(|r| r.status) == Some(200));
            match ready {
                Ok(()) => Ok(Prometheus { server, addr, tls }),
                Err(status) => Err((server, status)),
            }
        }))
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True when serving HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `http://addr` or `https://addr`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The remote-write endpoint URL.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// The process's temp dir and log.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// `GET path_and_query` (over HTTPS when TLS is on).
    pub fn get(&self, path_and_query: &str) -> HttpResponse {
        get_maybe_tls(self.tls, self.addr, path_and_query)
            .unwrap_or_else(|| self.server.fail(&format!("GET {}{path_and_query} failed", self.base_url())))
    }

    fn api(&self, path_and_query: &str) -> Value {
        let r = self.get(path_and_query);
        let v = r.json();
        if v["status"] != "success" {
            self.server.fail(&format!("GET {path_and_query}: HTTP {}: {}", r.status, r.text()));
        }
        v["data"].clone()
    }

    /// Instant query at `time` (seconds); returns the `data` object
    /// (`resultType`, `result`) after checking the status is `success`.
    pub fn query(&self, promql: &str, time: f64) -> Value {
        self.api(&format!("/api/v1/query?query={}&time={time}", urlencode(promql)))
    }

    /// Range query; returns the `data` object.
    pub fn query_range(&self, promql: &str, start: f64, end: f64, step: f64) -> Value {
        self.api(&format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            urlencode(promql)
        ))
    }

    /// Label sets of all series matching `matcher` (`/api/v1/series`).
    pub fn series(&self, matcher: &str) -> Vec<BTreeMap<String, String>> {
        let data = self.api(&format!(
            "/api/v1/series?match[]={}&start=0&end={}",
            urlencode(matcher),
            now_secs() + 3600
        ));
        let mut out: Vec<_> = data.as_array().expect("series array").iter().map(json_labels).collect();
        out.sort();
        out
    }

    /// Every raw sample (exact values and millisecond timestamps) of the
    /// series matching `selector` (e.g. `netdata_cpu{chart="x"}` or
    /// `{__name__=~"netdata_.*"}`), from ten years ago to an hour from now.
    /// Stale markers are not included.
    pub fn samples(&self, selector: &str) -> Vec<Series> {
        let data = self.query(&format!("{selector}[3660d]"), (now_secs() + 3600) as f64);
        assert_eq!(data["resultType"], "matrix", "{data}");
        let parts = data["result"]
            .as_array()
            .expect("result array")
            .iter()
            .map(|s| {
                let values = s["values"].as_array().expect("values array");
                Series {
                    labels: json_labels(&s["metric"]),
                    timestamps: values
                        .iter()
                        .map(|p| (p[0].as_f64().expect("timestamp") * 1000.0).round() as i64)
                        .collect(),
                    values: values.iter().map(|p| json_f64(&p[1])).collect(),
                }
            })
            .collect::<Vec<_>>();
        merge_series(parts)
    }

    /// Polls [`samples`](Self::samples) until the matching series hold at
    /// least `min_points` samples in total; panics after 20 s.
    pub fn samples_wait(&self, selector: &str, min_points: usize) -> Vec<Series> {
        self.server.read_back_points(selector, min_points, || self.samples(selector))
    }

    /// One of Prometheus's own metrics from `/metrics` (e.g.
    /// `prometheus_tsdb_head_samples_appended_total{type="float"}`); `None`
    /// if absent.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.get("/metrics").text();
        parse_prometheus_text(&text).get(&normalize_series_key(name)).copied()
    }
}

/// GET over plain HTTP, or over HTTPS accepting the server's (self-signed) certificate.
/// `None` when no response came.
fn get_maybe_tls(tls: bool, addr: SocketAddr, path_and_query: &str) -> Option<HttpResponse> {
    let tls = if tls { Tls::Unverified } else { Tls::Off };
    try_request(tls, addr, "GET", path_and_query, &[], &[]).ok()
}
