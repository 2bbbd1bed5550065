//! `/api/v1/charts`, `/api/v1/chart`, and the chart objects they share.
//!
//! One job: describe a host's charts as netdata 1.37 does (its keys, order and tab layout),
//! reading each chart under its own lock, one at a time. Every string is escaped, so the
//! document is valid JSON whatever the ids, names, titles or units hold (netdata writes most
//! of them raw).
//!
//! What the store does not keep is answered as netdata answers a chart without it: no
//! alarms, no chart variables, no labels, no functions, `green`/`red` null, and empty
//! `plugin`/`module` (the store keeps neither).

use std::sync::{Arc, OnceLock};

use super::json::{write_int, write_str, Quote};
use super::response::JSON;
use super::{Api, Request, Response};
use crate::rrd::{Chart, Host};

/// Answer `/api/v1/charts`.
pub fn serve_charts(api: &Api, host: &Arc<Host>, _req: &Request<'_>) -> Response {
    let mut out = Vec::with_capacity(1024 + 1024 * host.chart_count());
    write_charts(&mut out, api, host);
    Response::ok(JSON, out)
}

/// Answer `/api/v1/chart?chart=ID` (an id, or a name).
pub fn serve_chart(_api: &Api, host: &Arc<Host>, req: &Request<'_>) -> Response {
    let Some(id) = req.query.get("chart").filter(|c| !c.is_empty()) else {
        return Response::bad_request("No chart id is given at the request: add chart=ID");
    };
    let Some(chart) = find_chart(host, id) else {
        return Response::not_found(&format!("Chart is not found: {id}"));
    };
    let mut out = Vec::with_capacity(1024);
    write_chart(&mut out, &chart);
    Response::ok(JSON, out)
}

/// The chart with this id, else the one with this name (each chart's lock taken in turn).
pub fn find_chart(host: &Host, id_or_name: &str) -> Option<Arc<Chart>> {
    host.chart(id_or_name).or_else(|| host.charts().into_iter().find(|c| &*c.read().meta.name == id_or_name))
}

/// What one chart object counted: visible dimensions and the bytes its slots take.
#[derive(Default)]
struct Counted {
    dimensions: usize,
    memory: usize,
}

/// `"key": "value"` (escaped) after `indent` tabs, with a trailing `,\n`.
fn field_str(out: &mut Vec<u8>, indent: usize, key: &str, value: &str) {
    tabs(out, indent);
    write_str(out, key, Quote::Double);
    out.extend_from_slice(b": ");
    write_str(out, value, Quote::Double);
    out.extend_from_slice(b",\n");
}

/// `"key": 123` after `indent` tabs, with a trailing `,\n`.
fn field_int(out: &mut Vec<u8>, indent: usize, key: &str, value: i64) {
    tabs(out, indent);
    write_str(out, key, Quote::Double);
    out.extend_from_slice(b": ");
    write_int(out, value);
    out.extend_from_slice(b",\n");
}

fn tabs(out: &mut Vec<u8>, n: usize) {
    out.extend(std::iter::repeat_n(b'\t', n));
}

/// One chart's object, as `/api/v1/chart` answers it and `/api/v1/charts` nests it.
fn write_chart(out: &mut Vec<u8>, chart: &Chart) -> Counted {
    let d = chart.read();
    let m = &d.meta;
    let ue = m.update_every as i64;
    let first = d.first_entry_t().unwrap_or(0);
    let last = d.last_entry_t().unwrap_or(0);
    out.extend_from_slice(b"\t\t{\n");
    field_str(out, 3, "id", &m.id);
    field_str(out, 3, "name", &m.name);
    field_str(out, 3, "type", &m.type_part);
    field_str(out, 3, "family", &m.family);
    field_str(out, 3, "context", &m.context);
    field_str(out, 3, "title", &format!("{} ({})", m.title, m.name));
    field_int(out, 3, "priority", m.priority);
    field_str(out, 3, "plugin", "");
    field_str(out, 3, "module", "");
    field_str(out, 3, "units", &m.units);
    field_str(out, 3, "data_url", &format!("/api/v1/data?chart={}", m.name));
    field_str(out, 3, "chart_type", m.chart_type.as_str());
    field_int(out, 3, "duration", last - first + ue);
    field_int(out, 3, "first_entry", first);
    field_int(out, 3, "last_entry", last);
    field_int(out, 3, "update_every", ue);
    out.extend_from_slice(b"\t\t\t\"dimensions\": {\n");
    let mut counted = Counted { dimensions: 0, memory: d.history() * d.dims.len() * 4 };
    for (i, dim) in d.dims.iter().enumerate() {
        if dim.hidden || dim.obsolete {
            continue;
        }
        if counted.dimensions > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(b"\t\t\t\t");
        write_str(out, d.names.id(i), Quote::Double);
        out.extend_from_slice(b": { \"name\": ");
        write_str(out, d.names.name(i), Quote::Double);
        out.extend_from_slice(b" }");
        counted.dimensions += 1;
    }
    out.extend_from_slice(
        b"\n\t\t\t},\n\t\t\t\"chart_variables\": {\n\t\t\t},\n\t\t\t\"green\": null,\n\t\t\t\"red\": null,\n\
          \t\t\t\"alarms\": {\n\n\t\t\t},\n\t\t\t\"chart_labels\": {\n\t\t\t},\n\t\t\t\"functions\": {\n\t\t\t}\n\t\t}",
    );
    counted
}

/// The `/api/v1/charts` document of `host`.
fn write_charts(out: &mut Vec<u8>, api: &Api, host: &Arc<Host>) {
    let info = host.info();
    let local = api.db.is_localhost(host);
    let facts = &api.facts;
    out.extend_from_slice(b"{\n");
    field_str(out, 1, "hostname", &info.hostname);
    field_str(out, 1, "version", &facts.version);
    field_str(out, 1, "release_channel", if facts.version.contains('-') { "nightly" } else { "stable" });
    let os = match (info.os.as_str(), local) {
        ("", true) => "linux",
        ("", false) => "unknown",
        (os, _) => os,
    };
    field_str(out, 1, "os", os);
    field_str(out, 1, "timezone", if local { local_timezone() } else { "unknown" });
    field_int(out, 1, "update_every", if local { facts.update_every } else { info.update_every } as i64);
    field_int(out, 1, "history", host.history() as i64);
    field_str(out, 1, "memory_mode", "ram");
    field_str(out, 1, "custom_info", "");
    out.extend_from_slice(b"\t\"charts\": {");
    let mut count = 0;
    let mut total = Counted::default();
    for chart in host.charts() {
        if chart.read().meta.obsolete {
            continue;
        }
        if count > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\n\t\t");
        write_str(out, chart.id(), Quote::Double);
        out.extend_from_slice(b": ");
        let c = write_chart(out, &chart);
        total.dimensions += c.dimensions;
        total.memory += c.memory;
        count += 1;
    }
    out.extend_from_slice(b"\n\t}");
    let hosts = api.db.hosts();
    for (key, value) in [
        ("charts_count", count),
        ("dimensions_count", total.dimensions),
        ("alarms_count", 0),
        ("rrd_memory_bytes", total.memory),
        ("hosts_count", hosts.len()),
    ] {
        out.extend_from_slice(b",\n\t");
        write_str(out, key, Quote::Double);
        out.extend_from_slice(b": ");
        write_int(out, value as i64);
    }
    out.extend_from_slice(b",\n\t\"hosts\": [");
    let names: Vec<String> =
        if hosts.len() > 1 { hosts.iter().map(|h| h.hostname()).collect() } else { vec![info.hostname] };
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\n\t\t{\n\t\t\t\"hostname\": ");
        write_str(out, name, Quote::Double);
        out.extend_from_slice(b"\n\t\t}");
    }
    out.extend_from_slice(b"\n\t]\n}\n");
}

/// The machine's time zone name (`Etc/UTC`), found once: `TZ`, else `/etc/timezone`, else
/// where `/etc/localtime` points into the zone database; `unknown` when none says.
fn local_timezone() -> &'static str {
    static ZONE: OnceLock<String> = OnceLock::new();
    ZONE.get_or_init(|| {
        let from_env = std::env::var("TZ").ok().map(|tz| tz.trim_start_matches(':').to_string());
        let from_file = || std::fs::read_to_string("/etc/timezone").ok().map(|s| s.trim().to_string());
        let from_link = || {
            let target = std::fs::read_link("/etc/localtime").ok()?;
            let target = target.to_string_lossy();
            target.split_once("zoneinfo/").map(|(_, zone)| zone.to_string())
        };
        from_env
            .filter(|z| !z.is_empty())
            .or_else(|| from_file().filter(|z| !z.is_empty()))
            .or_else(from_link)
            .unwrap_or_else(|| "unknown".to_string())
    })
}

#[cfg(test)]
mod tests;
