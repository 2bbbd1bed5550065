//! `/api/v1/status`: rrdpipe's own summary for its status page — the agent, every host it
//! stores, and how each exporter instance delivers.
//!
//! One job: the answer's JSON from a snapshot of counters; the page computes rates from two
//! answers a second apart. Exporters are published here by the agent when they start or are
//! replaced by a reload ([`Exporters::publish`]).

use std::io::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use parking_lot::RwLock;

use super::json::{write_str, Quote};
use super::{response, Api, Request, Response};
use crate::export::instance::InstanceHandle;
use crate::export::stats::Stats;
use crate::rrd::{Feed, Host};

/// One exporter instance as the status page shows it.
#[derive(Debug, Clone)]
pub struct ExporterView {
    /// The instance's name (`graphite:main`, or `backend` for the legacy section).
    pub name: String,
    /// Its type (`graphite`, `prometheus_remote_write:https`, …).
    pub type_name: String,
    /// Its destinations, as configured.
    pub destinations: String,
    /// Seconds between its windows.
    pub every: u32,
    /// Whether it spools to disk.
    pub spool: bool,
    /// Its counters and health.
    pub stats: Arc<Stats>,
}

impl ExporterView {
    /// The view of a running instance.
    pub fn of(name: &str, handle: &InstanceHandle) -> ExporterView {
        let cfg = &handle.config;
        ExporterView {
            name: name.to_string(),
            type_name: cfg.connector.type_name(),
            destinations: cfg.endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(" "),
            every: cfg.every,
            spool: cfg.spool.is_some(),
            stats: handle.stats.clone(),
        }
    }
}

/// The exporter instances running now.
#[derive(Debug, Default)]
pub struct Exporters {
    list: RwLock<Vec<ExporterView>>,
}

impl Exporters {
    /// Replace the list (at start and after a reload).
    pub fn publish(&self, views: Vec<ExporterView>) {
        *self.list.write() = views;
    }

    fn snapshot(&self) -> Vec<ExporterView> {
        self.list.read().clone()
    }
}

/// What the process itself uses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Process {
    /// User + system CPU seconds since start.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
}

impl Process {
    /// Read from the kernel (`getrusage`, `/proc/self/statm`); zeros where unavailable.
    pub fn current() -> Process {
        // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let cpu_seconds = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
            let s = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
            s(ru.ru_utime) + s(ru.ru_stime)
        } else {
            0.0
        };
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
        let rss_pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(0);
        Process { cpu_seconds, rss_bytes: rss_pages * page }
    }
}

/// Answer `/api/v1/status` (`host` is ignored: the status covers every host).
pub fn serve(api: &Api, _host: &Arc<Host>, req: &Request<'_>) -> Response {
    Response::ok(response::JSON, render(api, Process::current(), req.now_ms / 1000))
}

/// The status document at `now_s`.
pub fn render(api: &Api, process: Process, now_s: i64) -> Vec<u8> {
    let hosts = api.db.hosts();
    let local = api.db.localhost();
    let mut out = Vec::with_capacity(1024 + 256 * hosts.len());
    let mut store_bytes = 0usize;
    let mut rows = Vec::with_capacity(hosts.len());
    for h in &hosts {
        let (mut charts, mut dims) = (0usize, 0usize);
        for c in h.charts() {
            let d = c.read();
            charts += 1;
            dims += d.dims.len();
            store_bytes += d.memory_bytes();
        }
        rows.push((h, charts, dims));
    }
    out.extend_from_slice(b"{\"agent\":{\"hostname\":");
    write_str(&mut out, &local.hostname(), Quote::Double);
    out.extend_from_slice(b",\"version\":");
    write_str(&mut out, &api.facts.version, Quote::Double);
    out.extend_from_slice(b",\"machine_guid\":");
    write_str(&mut out, &local.info().machine_guid, Quote::Double);
    let _ = write!(
        out,
        ",\"now\":{now_s},\"started\":{},\"update_every\":{},\"history\":{},\"cpu_seconds\":{:.3},\
         \"rss_bytes\":{},\"store_bytes\":{store_bytes}}}",
        api.facts.started_s,
        api.facts.update_every,
        api.facts.history,
        process.cpu_seconds,
        process.rss_bytes
    );
    out.extend_from_slice(b",\"hosts\":[");
    for (i, (h, charts, dims)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let info = h.info();
        out.extend_from_slice(b"{\"hostname\":");
        write_str(&mut out, &info.hostname, Quote::Double);
        out.extend_from_slice(b",\"machine_guid\":");
        write_str(&mut out, &info.machine_guid, Quote::Double);
        let (feed, since) = match h.feed() {
            _ if Arc::ptr_eq(h, &local) => ("local", None),
            Feed::Never => ("never", None),
            Feed::Connected(t) => ("connected", Some(t)),
            Feed::Gone(t) => ("gone", Some(t)),
        };
        let _ = write!(
            out,
            ",\"feed\":\"{feed}\",\"since\":{},\"charts\":{charts},\"dimensions\":{dims}",
            opt(since)
        );
        out.extend_from_slice(b",\"stream_capabilities\":");
        write_str(&mut out, &h.stream_capabilities(), Quote::Double);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"exporters\":[");
    for (i, e) in api.exporters.snapshot().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        exporter(&mut out, e);
    }
    out.extend_from_slice(b"]}");
    out
}

fn exporter(out: &mut Vec<u8>, e: &ExporterView) {
    let t = e.stats.totals();
    let h = e.stats.health();
    out.extend_from_slice(b"{\"name\":");
    write_str(out, &e.name, Quote::Double);
    out.extend_from_slice(b",\"type\":");
    write_str(out, &e.type_name, Quote::Double);
    out.extend_from_slice(b",\"destinations\":");
    write_str(out, &e.destinations, Quote::Double);
    let _ = write!(out, ",\"every\":{},\"spool\":{},\"peer\":", e.every, e.spool);
    match &h.peer {
        Some(p) => write_str(out, p, Quote::Double),
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(
        out,
        ",\"last_success\":{},\"failing_since\":{},\"error\":",
        opt(h.last_success_s),
        opt(h.failing.as_ref().map(|f| f.0))
    );
    match &h.failing {
        Some((_, why)) => write_str(out, why, Quote::Double),
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(
        out,
        ",\"formatted_metrics\":{},\"sent_metrics\":{},\"sent_bytes\":{},\"lost_metrics\":{},\"replayed_metrics\":{},\
         \"failures\":{},\"buffered_metrics\":{},\"buffered_bytes\":{},\"spool_bytes\":{}}}",
        t.formatted_metrics,
        t.sent_metrics,
        t.sent_bytes,
        t.lost_metrics,
        t.replayed_metrics,
        t.failures,
        e.stats.buffered_metrics.load(Relaxed),
        e.stats.buffered_bytes.load(Relaxed),
        e.stats.spool_bytes.load(Relaxed),
    );
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AgentFacts;
    use crate::rrd::Algorithm;
    use crate::rrd::{ChartDef, Db, DimensionDef, HostInfo};

    #[test]
    fn status_lists_the_agent_hosts_and_exporters_with_their_health() {
        let local =
            HostInfo { hostname: "par\"ent".into(), machine_guid: "guid-local".into(), ..Default::default() };
        let db = Arc::new(Db::new(local, 600));
        let chart = db.localhost().define_chart(&ChartDef::new("probe.const", 1)).0;
        chart.add_dimension(&DimensionDef::new("a", Algorithm::Absolute));
        chart.collect(&[(0, 1)], 1_000 * 1_000_000).unwrap();
        chart.collect(&[(0, 1)], 1_001 * 1_000_000).unwrap();
        let child = HostInfo {
            hostname: "child".into(),
            machine_guid: "guid-child".into(),
            update_every: 1,
            ..Default::default()
        };
        let (child, _) = db.host_by_guid(child);
        let feeding = child.attach();
        let Feed::Connected(since) = child.feed() else { panic!() };
        let facts = AgentFacts {
            version: "v9.9.9".into(),
            update_every: 1,
            history: 600,
            started_s: 900,
            ..Default::default()
        };
        let api = Api::new(db.clone(), facts);
        let stats = Arc::new(Stats::default());
        stats.formatted_metrics(30);
        stats.sent_metrics(20);
        stats.lost_metrics(4);
        stats.set_buffered(6, 60);
        stats.note_success("127.0.0.1:2003".into(), 950);
        stats.note_failure("127.0.0.1:2003 closed the connection".into(), 960);
        api.exporters.publish(vec![ExporterView {
            name: "graphite:main".into(),
            type_name: "graphite".into(),
            destinations: "127.0.0.1:2003".into(),
            every: 10,
            spool: false,
            stats,
        }]);
        let text = render(&api, Process { cpu_seconds: 1.5, rss_bytes: 4096 }, 1_002);
        let v: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
        let agent = &v["agent"];
        assert_eq!(agent["hostname"], "par\"ent");
        assert_eq!(agent["version"], "v9.9.9");
        assert_eq!(agent["machine_guid"], "guid-local");
        assert_eq!((agent["now"].as_i64(), agent["started"].as_i64()), (Some(1_002), Some(900)));
        assert_eq!((agent["update_every"].as_i64(), agent["history"].as_i64()), (Some(1), Some(600)));
        assert_eq!((agent["cpu_seconds"].as_f64(), agent["rss_bytes"].as_i64()), (Some(1.5), Some(4096)));
        assert_eq!(agent["store_bytes"].as_u64(), Some(chart.read().memory_bytes() as u64));
        let hosts = v["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(
            (&hosts[0]["hostname"], &hosts[0]["feed"], &hosts[0]["since"]),
            (&"par\"ent".into(), &"local".into(), &serde_json::Value::Null)
        );
        assert_eq!((hosts[0]["charts"].as_i64(), hosts[0]["dimensions"].as_i64()), (Some(1), Some(1)));
        assert_eq!((&hosts[1]["hostname"], &hosts[1]["feed"]), (&"child".into(), &"connected".into()));
        assert_eq!(hosts[1]["since"].as_i64(), Some(since));
        assert_eq!(
            (&hosts[0]["stream_capabilities"], &hosts[1]["stream_capabilities"]),
            (&"".into(), &"".into())
        );
        child.set_stream_capabilities("VCAPS|HLABELS|CLABELS|COMPRESSION");
        let v3: serde_json::Value = serde_json::from_slice(&render(&api, Process::default(), 1_001)).unwrap();
        assert_eq!(v3["hosts"][1]["stream_capabilities"], "VCAPS|HLABELS|CLABELS|COMPRESSION");
        drop(feeding);
        let gone = render(&api, Process::default(), 1_003);
        let v2: serde_json::Value = serde_json::from_slice(&gone).unwrap();
        assert_eq!(v2["hosts"][1]["feed"], "gone");
        let e = &v["exporters"][0];
        assert_eq!(
            (&e["name"], &e["type"], &e["destinations"]),
            (&"graphite:main".into(), &"graphite".into(), &"127.0.0.1:2003".into())
        );
        assert_eq!((e["every"].as_i64(), e["spool"].as_bool()), (Some(10), Some(false)));
        assert_eq!(
            (&e["peer"], e["last_success"].as_i64(), e["failing_since"].as_i64()),
            (&"127.0.0.1:2003".into(), Some(950), Some(960))
        );
        assert_eq!(e["error"], "127.0.0.1:2003 closed the connection");
        let counts = [
            "formatted_metrics",
            "sent_metrics",
            "lost_metrics",
            "replayed_metrics",
            "buffered_metrics",
            "buffered_bytes",
            "spool_bytes",
        ]
        .map(|k| e[k].as_u64().unwrap());
        assert_eq!(counts, [30, 20, 4, 0, 6, 60, 0]);
    }
}
