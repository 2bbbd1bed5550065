//! `format=prometheus` and `format=prometheus_all_hosts`: Prometheus' text format (0.0.4),
//! in netdata 1.37.1's shape.
//!
//! ```text
//! netdata_info{instance="h1",application="rrdpipe",version="v0.1.0"} 1 1796640021769
//! netdata_probe_const_units_average{chart="probe.const",family="probe",dimension="a"} 42.0000000 1796640018000
//! netdata_probe_const_total{chart="probe.const",family="probe",dimension="c"} 1000500 1796640017483
//! ```
//!
//! Average and sum series are named `PREFIX_CONTEXT_UNITS_average` (`_sum`, without units),
//! valued `%0.7f` over the scraper's window and stamped with its last slot; as-collected
//! series are `PREFIX_CONTEXT` with the raw integer (`_total` for counters) stamped with the
//! collection time. Names keep ASCII letters and digits, every other byte becomes `_` (the
//! prefix too, which netdata copies raw); label values escape `\`, `"` and line breaks.
//! With `help=yes` netdata's `# COMMENT` lines come as netdata writes them (line breaks
//! escaped), and each metric family gets one `# HELP` before its first series; `types=yes`
//! gives one `# TYPE` per family (netdata repeats it per series, which strict parsers reject,
//! and types counters by the name without `_total`). Pure: no I/O, no clock.
//!
//! Every chart is written as netdata 1.37.1 writes it: "homogeneous", one metric per context
//! and a `dimension` label, even when its dimensions differ in algorithm, multiplier or divisor
//! (1.37.1's `help=yes` calls a chart of absolute, incremental, `/10` and `×−1` dimensions
//! homogeneous; its per-dimension names are never used).
//!
//! Labels as netdata 1.40 and later send them: the host's configured labels on `netdata_info`,
//! the chart's labels (but the automatic `_…` ones) on each of its series, after `dimension`.
//! A label named as one the line carries itself (`instance`, `chart`, …) or starting with `__`
//! is renamed `exported_NAME`; it never replaces that one.
//!
//! Two deliberate differences from 1.37.1: `source=sum` sums the window (1.37.1 names the
//! series `_sum` but sends the average, as its API reads the exporter's configured source),
//! and the host's tags (a child's `tags`) come as `netdata_host_tags_info{…} 1`, netdata's
//! series for them before host labels.

use std::collections::HashSet;
use std::sync::Arc;

use crate::export::compute::WindowValues;
use crate::export::format::{number, write_value, DataSource, Value, RENAMED_PREFIX};
use crate::rrd::{Algorithm, ChartData, Host};

use super::scrapers::chart_window;
use super::text::write_comment_text;
use super::{Api, Format, Options};

/// Appends `s` as part of a metric or label name: ASCII letters and digits as they are, every
/// other byte `_` (netdata's rule; `:` too).
fn write_name(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().map(|b| if b.is_ascii_alphanumeric() { b } else { b'_' }));
}

/// Appends `s` as a label value's inside: `\`, `"` and a line feed escaped.
fn write_label_value(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as `# HELP` text: `\` and line feeds escaped.
fn write_help_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Units as netdata puts them into average names: `_` and the units sanitized, `%` as
/// `_percent`, a trailing `/s` as `_persec`; with `oldunits`, the units netdata used before
/// 1.12 first.
fn write_units(out: &mut Vec<u8>, units: &str, oldunits: bool) {
    let units = if oldunits { old_units(units) } else { units };
    if units == "%" {
        out.extend_from_slice(b"_percent");
        return;
    }
    out.push(b'_');
    match units.strip_suffix("/s") {
        Some(rate) if !rate.is_empty() => {
            write_name(out, rate);
            out.extend_from_slice(b"_persec");
        }
        _ => write_name(out, units),
    }
}

/// netdata's table of units renamed in 1.12, back to their old names.
fn old_units(units: &str) -> &str {
    match units {
        "KiB/s" => "kilobytes/s",
        "MiB/s" => "MB/s",
        "GiB/s" => "GB/s",
        "KiB" => "KB",
        "MiB" => "MB",
        "GiB" => "GB",
        "inodes" => "Inodes",
        "percentage" => "percent",
        "faults/s" => "page faults/s",
        "KiB/operation" => "kilobytes per operation",
        "milliseconds/operation" => "ms per operation",
        other => other,
    }
}

/// A host's free-form tags as labels: `key=value` words (separated by spaces or commas, a
/// value may be double-quoted), keys as label names; empty keys or values, `instance` and
/// repeated keys are left out.
fn tag_labels(tags: &str) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut rest = tags.trim_start_matches([' ', ',', '\t']);
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim();
        let after = &rest[eq + 1..];
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            },
            None => {
                let end = after.find([' ', ',', '\t']).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        // A key is the last word before `=`.
        let key = key.rsplit([' ', ',', '\t']).next().unwrap_or("");
        let name = crate::export::format::sanitize::prometheus_label_name(key);
        if !name.is_empty()
            && !value.is_empty()
            && name != "instance"
            && !labels.iter().any(|(k, _)| *k == name)
        {
            labels.push((name, value.to_string()));
        }
        rest = next.trim_start_matches([' ', ',', '\t']);
    }
    labels
}

/// Labels a series carries itself; a chart label of one of these names is renamed.
const SERIES_LABELS: &[&str] = &["chart", "family", "dimension", "instance"];

/// Labels `netdata_info` carries itself; a host label of one of these names is renamed.
const INFO_LABELS: &[&str] = &["instance", "application", "version"];

/// Appends `,name="value"` for each label: the name as a Prometheus label name, renamed
/// `exported_NAME` when it is one of `reserved` or starts with `__`; a label whose name is empty
/// or repeats an earlier one's is left out.
fn write_labels<'l>(out: &mut Vec<u8>, labels: impl Iterator<Item = (&'l str, &'l str)>, reserved: &[&str]) {
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in labels {
        let mut name = crate::export::format::sanitize::prometheus_label_name(name);
        if reserved.contains(&name.as_str()) || name.starts_with("__") {
            name.insert_str(0, RENAMED_PREFIX);
        }
        if name.is_empty() || value.is_empty() || seen.contains(&name) {
            continue;
        }
        out.push(b',');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        write_label_value(out, value);
        out.push(b'"');
        seen.push(name);
    }
}

/// The walk's state: the output, the families already typed, the reused buffers.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    opts: &'a Options,
    /// The sanitized prefix.
    prefix: Vec<u8>,
    /// Families given their `# HELP`/`# TYPE` already.
    described: HashSet<Vec<u8>>,
    /// `,instance="HOST"` for all hosts, else empty.
    instance: Vec<u8>,
    /// `,name="value"` for each label of the chart being written.
    chart_labels: Vec<u8>,
    values: WindowValues,
    /// The series name and label start of the chart being written, per kind.
    head: Vec<u8>,
    head_counter: Vec<u8>,
    family: Vec<u8>,
    family_counter: Vec<u8>,
    /// Scrape window: `(after, now]`, seconds.
    after: i64,
    now_s: i64,
}

/// Writes Prometheus' text for `hosts`; the window is the scraper's for `window_host` (the
/// host asked for; with all hosts, one window for the whole answer, as netdata).
pub(super) fn write(
    out: &mut Vec<u8>,
    api: &Api,
    hosts: &[Arc<Host>],
    window_host: &Host,
    now_ms: i64,
    opts: &Options,
) {
    let now_s = now_ms.div_euclid(1000);
    let all_hosts = opts.format == Format::PrometheusAllHosts;
    let info = window_host.info();
    let host_key = format!("{}{}/{}", if all_hosts { "*/" } else { "" }, info.machine_guid, info.hostname);
    let last = api.scrapers.swap_last_access(&opts.server, &host_key, now_s);
    let mut after = last.unwrap_or(now_s - opts.first_window_s);
    if after > now_s {
        after = now_s - opts.first_window_s;
    }
    let mut prefix = Vec::with_capacity(opts.prefix.len() + 1);
    if opts.prefix.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        prefix.push(b'_');
    }
    write_name(&mut prefix, &opts.prefix);
    let mut w = Writer {
        out,
        opts,
        prefix,
        described: HashSet::new(),
        instance: Vec::new(),
        chart_labels: Vec::new(),
        values: WindowValues::new(),
        head: Vec::new(),
        head_counter: Vec::new(),
        family: Vec::new(),
        family_counter: Vec::new(),
        after,
        now_s,
    };
    if opts.help {
        let mode = match opts.source {
            DataSource::AsCollected => "as collected",
            DataSource::Average => "average",
            DataSource::Sum => "sum",
        };
        w.out.extend_from_slice(b"# COMMENT netdata \"");
        write_comment_text(w.out, &info.hostname);
        w.out.extend_from_slice(b"\" to ");
        if last.is_none() {
            w.out.extend_from_slice(b"FIRST SEEN ");
        }
        w.out.extend_from_slice(b"prometheus \"");
        write_comment_text(w.out, &opts.server);
        w.out.extend_from_slice(format!("\", source \"{mode}\", last seen ").as_bytes());
        match last {
            None => w.out.extend_from_slice(b"0 never"),
            Some(_) => w.out.extend_from_slice(format!("{} seconds ago", now_s - after).as_bytes()),
        }
        w.out.extend_from_slice(format!(", time range {after} to {now_s}\n\n").as_bytes());
    }
    for host in hosts {
        w.host(host, &api.facts.version, now_ms, all_hosts);
    }
}

impl Writer<'_> {
    /// `# HELP`/`# TYPE` for `family` unless it has them already (or they are not asked for).
    fn describe(&mut self, family: &[u8], kind: &str, help: impl FnOnce(&mut Vec<u8>)) {
        if !(self.opts.help || self.opts.types) || self.described.contains(family) {
            return;
        }
        self.described.insert(family.to_vec());
        if self.opts.help {
            self.out.extend_from_slice(b"# HELP ");
            self.out.extend_from_slice(family);
            self.out.push(b' ');
            help(self.out);
            self.out.push(b'\n');
        }
        if self.opts.types {
            self.out.extend_from_slice(b"# TYPE ");
            self.out.extend_from_slice(family);
            self.out.push(b' ');
            self.out.extend_from_slice(kind.as_bytes());
            self.out.push(b'\n');
        }
    }

    /// ` TIMESTAMP` when timestamps are asked for, then the line feed.
    fn end_line(&mut self, ms: i64) {
        if self.opts.timestamps {
            self.out.push(b' ');
            number::write_i64(self.out, ms);
        }
        self.out.push(b'\n');
    }

    /// One host: its `netdata_info`, its tags, its charts.
    fn host(&mut self, host: &Host, version: &str, now_ms: i64, all_hosts: bool) {
        let info = host.info();
        let mut hostname = Vec::with_capacity(info.hostname.len());
        write_label_value(&mut hostname, &info.hostname);
        self.instance.clear();
        if all_hosts {
            self.instance.extend_from_slice(b",instance=\"");
            self.instance.extend_from_slice(&hostname);
            self.instance.push(b'"');
        }
        self.describe(b"netdata_info", "gauge", |o| {
            o.extend_from_slice(b"The agent answering: its hostname, application and version")
        });
        self.out.extend_from_slice(b"netdata_info{instance=\"");
        self.out.extend_from_slice(&hostname);
        self.out.extend_from_slice(b"\",application=\"rrdpipe\",version=\"");
        write_label_value(self.out, version);
        self.out.push(b'"');
        let labels = host.labels();
        let sent = labels.iter().filter(|l| self.opts.host_labels.sends(l.source));
        write_labels(self.out, sent.map(|l| (&*l.name, &*l.value)), INFO_LABELS);
        self.out.extend_from_slice(b"} 1");
        self.end_line(now_ms);
        let tags = tag_labels(&info.tags);
        if !tags.is_empty() {
            self.describe(b"netdata_host_tags_info", "gauge", |o| o.extend_from_slice(b"The host's tags"));
            self.out.extend_from_slice(b"netdata_host_tags_info{");
            if all_hosts {
                self.out.extend_from_slice(b"instance=\"");
                self.out.extend_from_slice(&hostname);
                self.out.extend_from_slice(b"\",");
            }
            for (i, (k, v)) in tags.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                self.out.extend_from_slice(k.as_bytes());
                self.out.extend_from_slice(b"=\"");
                write_label_value(self.out, v);
                self.out.push(b'"');
            }
            self.out.extend_from_slice(b"} 1");
            self.end_line(now_ms);
        }
        for chart in host.charts() {
            // The chart's lock is held while this chart is written, and only then.
            let d = chart.read();
            if d.meta.obsolete || !self.opts.wants(&d.meta.id, &d.meta.name) {
                continue;
            }
            self.chart(&d);
        }
    }

    /// `NAME{chart="…",family="…",dimension="` for a family named `family`.
    fn series_head(head: &mut Vec<u8>, family: &[u8], chart: &str, d: &ChartData) {
        head.clear();
        head.extend_from_slice(family);
        head.extend_from_slice(b"{chart=\"");
        write_label_value(head, chart);
        head.extend_from_slice(b"\",family=\"");
        write_label_value(head, &d.meta.family);
        head.extend_from_slice(b"\",dimension=\"");
    }

    /// The dimension label's value and the rest of the labels, up to the value.
    #[inline]
    fn series_tail(&mut self, dim: &str, plain: bool) {
        if plain {
            self.out.extend_from_slice(dim.as_bytes());
        } else {
            write_label_value(self.out, dim);
        }
        self.out.push(b'"');
        self.out.extend_from_slice(&self.chart_labels);
        self.out.extend_from_slice(&self.instance);
        self.out.extend_from_slice(b"} ");
    }

    /// One chart's series.
    fn chart(&mut self, d: &ChartData) {
        let o = self.opts;
        let m = &d.meta;
        let chart = if o.names && !m.name.is_empty() { &m.name } else { &m.id };
        if o.help {
            self.out.extend_from_slice(b"\n# COMMENT homogeneous chart \"");
            for (text, next) in [
                (&**chart, &b"\", context \""[..]),
                (&m.context, b"\", family \""),
                (&m.family, b"\", units \""),
                (&m.units, b"\"\n"),
            ] {
                write_comment_text(self.out, text);
                self.out.extend_from_slice(next);
            }
        }
        // As netdata 1.40 and later: every chart label but the automatic ones (`_…`).
        self.chart_labels.clear();
        let labels = d.labels.iter().filter(|l| !l.name.starts_with('_'));
        write_labels(&mut self.chart_labels, labels.map(|l| (&*l.name, &*l.value)), SERIES_LABELS);
        self.family.clear();
        self.family.extend_from_slice(&self.prefix);
        self.family.push(b'_');
        write_name(&mut self.family, &m.context);
        let plain = d.names.all_plain();
        match o.source {
            DataSource::AsCollected => self.as_collected(d, chart, plain),
            DataSource::Average | DataSource::Sum => self.computed(d, chart, plain),
        }
    }

    /// A chart's average or sum series over the scraper's window.
    fn computed(&mut self, d: &ChartData, chart: &str, plain: bool) {
        let o = self.opts;
        let m = &d.meta;
        let (Some(first), Some(last)) = (d.first_entry_t(), d.last_entry_t()) else { return };
        let Some((from, to)) = chart_window(self.after, self.now_s, m.update_every, (first, last)) else {
            return;
        };
        let sum = o.source == DataSource::Sum;
        if !sum && !o.hideunits {
            write_units(&mut self.family, &m.units, o.oldunits);
        }
        self.family.extend_from_slice(if sum { b"_sum" } else { b"_average" });
        Self::series_head(&mut self.head, &self.family, chart, d);
        self.values.compute(d, from - 1, to, o.source);
        let ts = to * 1000;
        let what = if sum { "sum" } else { "average" };
        let mut undescribed = o.help || o.types;
        for i in 0..d.dims.len() {
            let dim = &d.dims[i];
            if dim.last_collected_ut == 0 || dim.obsolete {
                continue;
            }
            let value = match self.values.value(i) {
                Some(Value::Computed(v)) if !v.is_finite() => continue,
                Some(v) => v,
                None => continue,
            };
            let name = if o.names { d.names.name(i) } else { d.names.id(i) };
            if o.help {
                self.out.extend_from_slice(b"# COMMENT ");
                self.out.extend_from_slice(&self.family);
                self.out.extend_from_slice(b": dimension \"");
                write_comment_text(self.out, name);
                self.out.extend_from_slice(b"\", value is ");
                write_comment_text(self.out, &m.units);
                self.out.extend_from_slice(b", gauge, dt ");
                number::write_i64(self.out, self.after);
                self.out.extend_from_slice(b" to ");
                number::write_i64(self.out, to);
                self.out.extend_from_slice(b" inclusive\n");
            }
            if undescribed {
                undescribed = false;
                let family = std::mem::take(&mut self.family);
                self.describe(&family, "gauge", |out| {
                    write_help_text(out, &m.context);
                    out.extend_from_slice(b": ");
                    write_help_text(out, &m.title);
                    out.extend_from_slice(b" (");
                    write_help_text(out, &m.units);
                    out.extend_from_slice(format!("), {what} over the scrape's window").as_bytes());
                });
                self.family = family;
            }
            self.out.extend_from_slice(&self.head);
            self.series_tail(name, plain);
            write_value(self.out, value);
            self.end_line(ts);
        }
    }

    /// A chart's last collected values. Unlike netdata, which leaves out a dimension not
    /// collected again since the scraper's previous request (so a scrape faster than collection
    /// makes Prometheus mark the series stale), each is reported at every scrape, stamped with
    /// its collection time.
    fn as_collected(&mut self, d: &ChartData, chart: &str, plain: bool) {
        let o = self.opts;
        let m = &d.meta;
        self.family_counter.clear();
        self.family_counter.extend_from_slice(&self.family);
        self.family_counter.extend_from_slice(b"_total");
        Self::series_head(&mut self.head, &self.family, chart, d);
        Self::series_head(&mut self.head_counter, &self.family_counter, chart, d);
        // Per kind (gauge, counter): whether its family may still need describing.
        let mut undescribed = [o.help || o.types; 2];
        for i in 0..d.dims.len() {
            let dim = &d.dims[i];
            if dim.last_collected_ut == 0 || dim.obsolete {
                continue;
            }
            let counter =
                matches!(dim.algorithm, Algorithm::Incremental | Algorithm::PercentageOfIncrementalRow);
            let name = if o.names { d.names.name(i) } else { d.names.id(i) };
            let family = std::mem::take(if counter { &mut self.family_counter } else { &mut self.family });
            let kind = if counter { "counter" } else { "gauge" };
            if o.help {
                self.out.extend_from_slice(b"# COMMENT ");
                self.out.extend_from_slice(&family);
                self.out.extend_from_slice(b": chart \"");
                for (text, next) in [
                    (chart, &b"\", context \""[..]),
                    (&m.context, b"\", family \""),
                    (&m.family, b"\", dimension \""),
                    (name, b"\", value * "),
                ] {
                    write_comment_text(self.out, text);
                    self.out.extend_from_slice(next);
                }
                let relation = if counter { "delta gives" } else { "gives" };
                number::write_i64(self.out, dim.multiplier);
                self.out.extend_from_slice(b" / ");
                number::write_i64(self.out, dim.divisor);
                self.out.push(b' ');
                self.out.extend_from_slice(relation.as_bytes());
                self.out.push(b' ');
                write_comment_text(self.out, &m.units);
                self.out.extend_from_slice(b" (");
                self.out.extend_from_slice(kind.as_bytes());
                self.out.extend_from_slice(b")\n");
            }
            if std::mem::take(&mut undescribed[counter as usize]) {
                self.describe(&family, kind, |out| {
                    write_help_text(out, &m.context);
                    out.extend_from_slice(b": ");
                    write_help_text(out, &m.title);
                    out.extend_from_slice(
                        b", the values as collected (times multiplier, divided by divisor, gives ",
                    );
                    write_help_text(out, &m.units);
                    out.extend_from_slice(if counter { b" per second)" } else { b")" });
                });
            }
            *(if counter { &mut self.family_counter } else { &mut self.family }) = family;
            let head = std::mem::take(if counter { &mut self.head_counter } else { &mut self.head });
            self.out.extend_from_slice(&head);
            *(if counter { &mut self.head_counter } else { &mut self.head }) = head;
            self.series_tail(name, plain);
            write_value(self.out, Value::Collected(dim.last_collected_value));
            self.end_line((dim.last_collected_ut / 1000) as i64);
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn units(u: &str, old: bool) -> String {
        let mut out = Vec::new();
        write_units(&mut out, u, old);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn units_as_netdata_names_them() {
        assert_eq!(units("%", false), "_percent");
        assert_eq!(units("kilobits/s", false), "_kilobits_persec");
        assert_eq!(units("un its", false), "_un_its");
        assert_eq!(units("/s", false), "__s");
        assert_eq!(units("", false), "_");
        assert_eq!(units("KiB/s", true), "_kilobytes_persec");
        assert_eq!(units("percentage", true), "_percent");
        assert_eq!(units("MiB", false), "_MiB");
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut out = Vec::new();
        write_label_value(&mut out, "a\\b\"c\nd\re");
        assert_eq!(out, b"a\\\\b\\\"c\\nd\re");
    }

    #[test]
    fn tags_become_labels() {
        let t = tag_labels(r#"role=db zone="eu west",team=a 9x=y instance=no role=again bare empty="#);
        let want = [("role", "db"), ("zone", "eu west"), ("team", "a"), ("_9x", "y")];
        assert_eq!(t, want.map(|(k, v)| (k.to_string(), v.to_string())));
        assert!(tag_labels("").is_empty());
        assert!(tag_labels("just words").is_empty());
    }
}
