//! `[prometheus:exporter]`: what `/api/v1/allmetrics` sends when a request does not say,
//! netdata's keys of that section of exporting.conf, each falling back to `[exporting:global]`
//! as in netdata 1.37.

use super::diag::Diagnostics;
use super::exporting::{DataSources, SECONDS};
use super::ini::Section;
use super::setting::{self, Bool, Settings, Text, Visit};
use crate::export::format::DataSource;

/// The section's name.
pub const SECTION: &str = "prometheus:exporter";

/// `[prometheus:exporter]`, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusExporter {
    /// `data source` (default `average`): the `source=` of a request without one.
    pub data_source: DataSource,
    /// `prefix` (default `netdata`): the `prefix=` of a request without one.
    pub prefix: String,
    /// `update every` (default 10): the seconds a scraper's first request averages over.
    pub update_every: u32,
    /// `send names instead of ids` (default yes): the `names=` of a request without one.
    pub send_names_instead_of_ids: bool,
    /// `send configured labels` (default yes): `[host labels]` and labels a plugin or child
    /// marks configured.
    pub send_configured_labels: bool,
    /// `send automatic labels` (default no): labels the agent detects itself (`_os_name`, …).
    pub send_automatic_labels: bool,
    /// `send charts matching` (default `*`): charts whose id or name the simple pattern accepts.
    pub send_charts_matching: String,
    /// `send hosts matching` (default `localhost *`): the hosts of `prometheus_all_hosts`.
    pub send_hosts_matching: String,
}

impl Default for PrometheusExporter {
    fn default() -> PrometheusExporter {
        PrometheusExporter {
            data_source: DataSource::Average,
            prefix: "netdata".to_string(),
            update_every: 10,
            send_names_instead_of_ids: true,
            send_configured_labels: true,
            send_automatic_labels: false,
            send_charts_matching: "*".to_string(),
            send_hosts_matching: "localhost *".to_string(),
        }
    }
}

impl Settings for PrometheusExporter {
    fn visit<V: Visit>(&mut self, v: &mut V) {
        v.setting("data source", &mut self.data_source, &DataSources);
        v.setting("prefix", &mut self.prefix, &Text);
        v.setting("update every", &mut self.update_every, &SECONDS);
        v.setting("send names instead of ids", &mut self.send_names_instead_of_ids, &Bool);
        v.setting("send configured labels", &mut self.send_configured_labels, &Bool);
        v.setting("send automatic labels", &mut self.send_automatic_labels, &Bool);
        v.setting("send charts matching", &mut self.send_charts_matching, &Text);
        v.setting("send hosts matching", &mut self.send_hosts_matching, &Text);
    }
}

/// Read the `[prometheus:exporter]` sections (exporting.conf's first), each key falling back to
/// the `[exporting:global]` sections `globals`. Unknown keys are warned about; what is wrong in
/// `globals` is not reported again (the exporters' reading reports it).
pub(super) fn read(
    sections: &[(&str, &Section)],
    globals: &[(&str, &Section)],
    diag: &mut Diagnostics,
) -> PrometheusExporter {
    let mut out = PrometheusExporter::default();
    setting::read(&mut out, globals, &mut Diagnostics::default());
    let known = setting::known_keys(&out);
    for (file, section) in sections {
        setting::warn_unknown(file, section, &known, diag);
    }
    setting::read(&mut out, sections, diag);
    out
}

/// Append the section and every key of `p`.
pub(super) fn render(p: &PrometheusExporter, out: &mut String) {
    out.push_str(&format!("\n[{SECTION}]\n"));
    setting::render(p, out);
}
