//! `/api/v1/info`, `/api/v1/alarms`, `/api/v1/alarm_log`.
//!
//! One job: netdata 1.37's shape of what the agent is (version, machine GUID, the hosts it
//! holds, the operating system, counts) and of an empty health engine (rrdpipe has
//! none: no alarms, ever). The operating system is read once at start ([`OsFacts::detect`]);
//! everything else is read from the store per request. Formatting is pure.

use std::sync::Arc;

use super::response::JSON;
use super::{AgentFacts, Api, Request, Response};
use crate::export::format::sanitize::write_json_str;
use crate::rrd::{Host, Labels};

/// The operating system as netdata's `info` shows it; `unknown` where nothing says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsFacts {
    /// `/etc/os-release` `NAME`.
    pub os_name: String,
    /// `ID`.
    pub os_id: String,
    /// `ID_LIKE`.
    pub os_id_like: String,
    /// `VERSION`.
    pub os_version: String,
    /// `VERSION_ID`.
    pub os_version_id: String,
    /// Where the above came from (`/etc/os-release`), or `unknown`.
    pub os_detection: String,
    /// CPU cores online.
    pub cores_total: String,
    /// Total RAM in bytes.
    pub ram_total: String,
    /// `uname -s`.
    pub kernel_name: String,
    /// `uname -r`.
    pub kernel_version: String,
    /// `uname -m`.
    pub architecture: String,
}

impl Default for OsFacts {
    fn default() -> OsFacts {
        let u = || "unknown".to_string();
        OsFacts {
            os_name: u(),
            os_id: u(),
            os_id_like: u(),
            os_version: u(),
            os_version_id: u(),
            os_detection: u(),
            cores_total: u(),
            ram_total: u(),
            kernel_name: u(),
            kernel_version: u(),
            architecture: u(),
        }
    }
}

impl OsFacts {
    /// Read this machine's: `/etc/os-release`, `/proc/meminfo`, `uname`, the CPUs online.
    pub fn detect() -> OsFacts {
        let mut f = OsFacts::default();
        if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
            f.apply_os_release(&text);
            f.os_detection = "/etc/os-release".into();
        }
        if let Some(kb) = std::fs::read_to_string("/proc/meminfo").ok().as_deref().and_then(mem_total_kib) {
            f.ram_total = (kb * 1024).to_string();
        }
        if let Ok(n) = std::thread::available_parallelism() {
            f.cores_total = n.to_string();
        }
        // SAFETY: `uname` fills the zeroed struct; its fields are NUL-terminated strings.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut u) } == 0 {
            let s = |a: &[libc::c_char]| {
                let bytes: Vec<u8> = a.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            f.kernel_name = s(&u.sysname);
            f.kernel_version = s(&u.release);
            f.architecture = s(&u.machine);
        }
        f
    }

    /// Take `NAME`, `ID`, `ID_LIKE`, `VERSION`, `VERSION_ID` from an os-release text.
    pub fn apply_os_release(&mut self, text: &str) {
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else { continue };
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            match k.trim() {
                "NAME" => self.os_name = v,
                "ID" => self.os_id = v,
                "ID_LIKE" => self.os_id_like = v,
                "VERSION" => self.os_version = v,
                "VERSION_ID" => self.os_version_id = v,
                _ => {}
            }
        }
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in KiB.
fn mem_total_kib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Answer `/api/v1/info`.
pub fn serve_info(api: &Api, host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::ok(JSON, info_json(api, host))
}

/// Answer `/api/v1/alarms`: netdata's shape with no alarm.
pub fn serve_alarms(_api: &Api, host: &Arc<Host>, req: &Request<'_>) -> Response {
    let mut out = b"{\n\t\"hostname\": \"".to_vec();
    write_json_str(&mut out, &host.hostname());
    out.extend_from_slice(b"\",\n\t\"latest_alarm_log_unique_id\": 0,\n\t\"status\": false,\n\t\"now\": ");
    out.extend_from_slice(req.now_ms.div_euclid(1000).to_string().as_bytes());
    out.extend_from_slice(b",\n\t\"alarms\": {\n\n\t}\n}\n");
    Response::ok(JSON, out)
}

/// Answer `/api/v1/alarm_log`: netdata's empty log.
pub fn serve_alarm_log(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::ok(JSON, b"[\n]\n".to_vec())
}

/// `"key": "value"` with the value escaped, one line at one tab.
fn field(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b"\t\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": \"");
    write_json_str(out, value);
    out.extend_from_slice(b"\",\n");
}

/// `"key": raw`, one line at one tab (`raw` is a JSON number, boolean or null).
fn raw(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b"\t\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b",\n");
}

/// The `info` object for `host`, in netdata 1.37's layout.
pub fn info_json(api: &Api, host: &Arc<Host>) -> Vec<u8> {
    let facts = &api.facts;
    let hosts = api.db.hosts();
    let local = api.db.is_localhost(host);
    let unknown = OsFacts::default();
    let mut out = b"{\n".to_vec();
    field(&mut out, "version", &facts.version);
    field(&mut out, "uid", &host.info().machine_guid);
    write_mirrored_hosts(api, &hosts, &mut out);
    out.extend_from_slice(
        b"\t\"alarms\": {\n\t\t\"normal\": 0,\n\t\t\"warning\": 0,\n\t\t\"critical\": 0\n\t},\n",
    );
    write_os_facts(if local { &facts.os } else { &unknown }, &mut out);
    write_host_labels(&host.labels(), local && hosts.len() > 1, &mut out);
    // The store does not keep which plugin made a chart: the list is netdata's empty one.
    out.extend_from_slice(b"\n\t},\n\t\"functions\": {\n\n\t},\n\t\"collectors\": [\n\t],\n");
    write_features(facts, hosts.len(), &mut out);
    let charts = host.charts();
    let dimensions: usize = charts.iter().map(|c| c.dimension_count()).sum();
    raw(&mut out, "charts-count", &charts.len().to_string());
    out.extend_from_slice(format!("\t\"metrics-count\": {dimensions}\n}}\n").as_bytes());
    out
}

/// `mirrored_hosts` (every host's name) and `mirrored_hosts_status` (each one's GUID, name and
/// whether it is reachable).
fn write_mirrored_hosts(api: &Api, hosts: &[Arc<Host>], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\t\"mirrored_hosts\": [\n");
    for (i, h) in hosts.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\t\t\"" } else { b",\n\t\t\"" });
        write_json_str(out, &h.hostname());
        out.push(b'"');
    }
    out.extend_from_slice(b"\n\t],\n\t\"mirrored_hosts_status\": [\n");
    for (i, h) in hosts.iter().enumerate() {
        let hi = h.info();
        let is_local = api.db.is_localhost(h);
        let reachable = is_local || h.orphan().is_none();
        out.extend_from_slice(if i == 0 { b"\t\t{ \"guid\": \"" } else { b",\n\t\t{ \"guid\": \"" });
        write_json_str(out, &hi.machine_guid);
        out.extend_from_slice(b"\", \"hostname\": \"");
        write_json_str(out, &hi.hostname);
        let tail = format!(
            "\", \"reachable\": {reachable}, \"hops\": {}, \"claim_id\": null, \"node_id\": null }}",
            if is_local { 0 } else { 1 }
        );
        out.extend_from_slice(tail.as_bytes());
    }
    out.extend_from_slice(b"\n\t],\n");
}

/// The operating system, kernel and machine fields (`unknown` where not detected).
fn write_os_facts(os: &OsFacts, out: &mut Vec<u8>) {
    let unknown = "unknown";
    for (key, value) in [
        ("os_name", os.os_name.as_str()),
        ("os_id", &os.os_id),
        ("os_id_like", &os.os_id_like),
        ("os_version", &os.os_version),
        ("os_version_id", &os.os_version_id),
        ("os_detection", &os.os_detection),
        ("cores_total", &os.cores_total),
        ("total_disk_space", unknown),
        ("cpu_freq", unknown),
        ("ram_total", &os.ram_total),
        ("kernel_name", &os.kernel_name),
        ("kernel_version", &os.kernel_version),
        ("architecture", &os.architecture),
        ("virtualization", unknown),
        ("virt_detection", unknown),
        ("container", unknown),
        ("container_detection", unknown),
    ] {
        field(out, key, value);
    }
}

/// `host_labels`: the host's, whatever their source, then `_is_parent`; left open for what
/// follows.
fn write_host_labels(labels: &Labels, is_parent: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\t\"host_labels\": {");
    let builtin = [("_is_parent", if is_parent { "true" } else { "false" })];
    let own = labels.iter().filter(|l| &*l.name != "_is_parent").map(|l| (&*l.name, &*l.value));
    let all = own.chain(builtin.iter().copied());
    for (i, (k, v)) in all.enumerate() {
        out.extend_from_slice(if i == 0 { b"\n\t\t\"" } else { b",\n\t\t\"" });
        write_json_str(out, k);
        out.extend_from_slice(b"\":\"");
        write_json_str(out, v);
        out.push(b'"');
    }
}

/// What the agent offers: cloud (never), memory mode, streaming, hosts, web and exporting.
fn write_features(facts: &AgentFacts, hosts: usize, out: &mut Vec<u8>) {
    raw(out, "cloud-enabled", "false");
    raw(out, "cloud-available", "false");
    raw(out, "agent-claimed", "false");
    raw(out, "aclk-available", "false");
    field(out, "memory-mode", "ram");
    raw(out, "stream-enabled", "false");
    raw(out, "hosts-available", &hosts.to_string());
    raw(out, "https-enabled", "false");
    field(out, "release-channel", "stable");
    raw(out, "web-enabled", "true");
    raw(out, "exporting-enabled", if facts.exporting.is_empty() { "false" } else { "true" });
    if facts.exporting.is_empty() {
        raw(out, "exporting-connectors", "null");
    } else {
        field(out, "exporting-connectors", &facts.exporting.join("|"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AgentFacts;
    use crate::rrd::{Algorithm, ChartDef, Db, DimensionDef, HostInfo};

    const GUID: &str = "11111111-2222-3333-4444-555555555555";

    fn fixed_api() -> Api {
        let db = Arc::new(Db::new(
            HostInfo { hostname: "parent".into(), machine_guid: GUID.into(), ..HostInfo::default() },
            60,
        ));
        let own = [("room".to_string(), "a\"b".to_string())];
        db.localhost().set_own_labels(Labels::from_pairs(&own, crate::rrd::labels::source::CONFIG));
        let def = ChartDef::new("probe.const", 1);
        let (chart, _) = db.localhost().define_chart(&def);
        chart.add_dimension(&DimensionDef::new("a", Algorithm::Absolute));
        chart.add_dimension(&DimensionDef::new("b\"q", Algorithm::Absolute));
        let mut os = OsFacts::default();
        os.apply_os_release(
            "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION=\"12 (bookworm)\"\nVERSION_ID=\"12\"\n",
        );
        os.os_detection = "/etc/os-release".into();
        os.cores_total = "2".into();
        os.ram_total = "1024".into();
        os.kernel_name = "Linux".into();
        os.kernel_version = "6.1.0".into();
        os.architecture = "x86_64".into();
        let facts = AgentFacts {
            version: "v0.1.0".into(),
            update_every: 1,
            history: 60,
            started_s: 0,
            os,
            exporting: vec!["graphite".into()],
        };
        Api::new(db, facts)
    }

    fn request(endpoint: &str) -> Request<'_> {
        Request {
            endpoint,
            query: Default::default(),
            peer: "127.0.0.1".parse().unwrap(),
            now_ms: 1_796_657_152_500,
            own_url: None,
        }
    }

    #[test]
    fn info_has_netdatas_layout_on_a_fixed_store() {
        let api = fixed_api();
        let r = serve_info(&api, &api.db.localhost(), &request("info"));
        assert_eq!((r.status, r.content_type), (200, JSON));
        let expected = r#"{
	"version": "v0.1.0",
	"uid": "11111111-2222-3333-4444-555555555555",
	"mirrored_hosts": [
		"parent"
	],
	"mirrored_hosts_status": [
		{ "guid": "11111111-2222-3333-4444-555555555555", "hostname": "parent", "reachable": true, "hops": 0, "claim_id": null, "node_id": null }
	],
	"alarms": {
		"normal": 0,
		"warning": 0,
		"critical": 0
	},
	"os_name": "Debian GNU/Linux",
	"os_id": "debian",
	"os_id_like": "unknown",
	"os_version": "12 (bookworm)",
	"os_version_id": "12",
	"os_detection": "/etc/os-release",
	"cores_total": "2",
	"total_disk_space": "unknown",
	"cpu_freq": "unknown",
	"ram_total": "1024",
	"kernel_name": "Linux",
	"kernel_version": "6.1.0",
	"architecture": "x86_64",
	"virtualization": "unknown",
	"virt_detection": "unknown",
	"container": "unknown",
	"container_detection": "unknown",
	"host_labels": {
		"room":"a_b",
		"_is_parent":"false"
	},
	"functions": {

	},
	"collectors": [
	],
	"cloud-enabled": false,
	"cloud-available": false,
	"agent-claimed": false,
	"aclk-available": false,
	"memory-mode": "ram",
	"stream-enabled": false,
	"hosts-available": 1,
	"https-enabled": false,
	"release-channel": "stable",
	"web-enabled": true,
	"exporting-enabled": true,
	"exporting-connectors": "graphite",
	"charts-count": 1,
	"metrics-count": 2
}
"#;
        assert_eq!(std::str::from_utf8(&r.body).unwrap(), expected);
        serde_json::from_slice::<serde_json::Value>(&r.body).expect("valid JSON");
    }

    #[test]
    fn a_childs_info_names_it_and_lists_every_host() {
        let api = fixed_api();
        let (child, _) = api.db.host_by_guid(HostInfo {
            hostname: "kid\"1".into(),
            machine_guid: "aaaaaaaa-2222-3333-4444-555555555555".into(),
            ..HostInfo::default()
        });
        let info = |h: &Arc<Host>| -> serde_json::Value {
            serde_json::from_slice(&serve_info(&api, h, &request("info")).body).unwrap()
        };
        let feeding = child.attach();
        let v = info(&child);
        assert_eq!(v["uid"], "aaaaaaaa-2222-3333-4444-555555555555");
        assert_eq!(v["mirrored_hosts"], serde_json::json!(["parent", "kid\"1"]));
        assert_eq!(v["mirrored_hosts_status"][1]["hops"], 1);
        assert_eq!(v["mirrored_hosts_status"][1]["reachable"], true, "a child feeds it");
        assert_eq!(info(&api.db.localhost())["host_labels"]["_is_parent"], "true");
        drop(feeding);
        let v = info(&child);
        assert_eq!(v["mirrored_hosts_status"][1]["reachable"], false, "its child left");
        assert_eq!(v["os_name"], "unknown");
        assert_eq!(v["host_labels"], serde_json::json!({"_is_parent": "false"}));
        assert_eq!(v["charts-count"], 0);
    }

    #[test]
    fn alarms_and_alarm_log_are_netdatas_empty_answers() {
        let api = fixed_api();
        let r = serve_alarms(&api, &api.db.localhost(), &request("alarms"));
        assert_eq!(
            std::str::from_utf8(&r.body).unwrap(),
            "{\n\t\"hostname\": \"parent\",\n\t\"latest_alarm_log_unique_id\": 0,\n\t\"status\": false,\n\t\
             \"now\": 1796657152,\n\t\"alarms\": {\n\n\t}\n}\n"
        );
        let r = serve_alarm_log(&api, &api.db.localhost(), &request("alarm_log"));
        assert_eq!((r.status, &r.body[..]), (200, &b"[\n]\n"[..]));
    }

    #[test]
    fn meminfo_total_is_read_in_kib() {
        assert_eq!(mem_total_kib("MemTotal:       24683784 kB\nMemFree: 1 kB\n"), Some(24683784));
        assert_eq!(mem_total_kib("MemFree: 1 kB\n"), None);
    }
}
