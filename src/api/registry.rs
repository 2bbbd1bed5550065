//! `/api/v1/registry`: the answers netdata's dashboards need from a registry, offline.
//!
//! One job: answer the dashboards' registry calls so they work with no network. rrdpipe is not a
//! registry (it keeps no persons and no list of the agents a browser visited), so `hello` names
//! the agent itself as the registry (the URL the client reached it at) instead of netdata's
//! global `registry.my-netdata.io`, `access` answers `ok` with an empty list of agents, and the
//! actions that change a registry (`delete`, `switch`, `search`) answer netdata's `disabled`.
//! The dashboards then make no request off the agent for the registry.

use std::sync::Arc;

use super::response::JSON;
use super::{Api, Request, Response};
use crate::export::format::sanitize::write_json_str;
use crate::rrd::Host;

/// `cloud_base_url`: netdata's. The main dashboard draws no chart when it is empty; with it,
/// `/old/` frames the cloud's sign-in page (which fails, harmlessly, offline).
pub const CLOUD_BASE_URL: &str = "https://app.netdata.cloud";

/// Answer `/api/v1/registry?action=…`.
pub fn serve(_api: &Api, host: &Arc<Host>, req: &Request<'_>) -> Response {
    let info = host.info();
    let own = req.own_url.as_deref().unwrap_or("");
    match req.query.get("action") {
        Some("hello") => Response::ok(JSON, hello(&info.hostname, &info.machine_guid, own)),
        Some("access") => Response::ok(JSON, access(&info.hostname, &info.machine_guid)),
        Some(action @ ("delete" | "switch" | "search")) => {
            Response::ok(JSON, disabled(action, &info.hostname, &info.machine_guid, own))
        }
        _ => Response::bad_request(
            "Invalid registry request - you need to set an action: hello, access, delete, search",
        ),
    }
}

/// The answer to `action=hello`: netdata's, with `registry` the agent itself.
pub fn hello(hostname: &str, machine_guid: &str, registry: &str) -> Vec<u8> {
    let mut out = header("hello", "ok", hostname, machine_guid);
    field(&mut out, "registry", registry, true);
    field(&mut out, "cloud_base_url", CLOUD_BASE_URL, true);
    out.extend_from_slice(b"\t\"anonymous_statistics\": false\n}");
    out
}

/// The answer to `action=access`: netdata's `ok` with no agent known and no person.
pub fn access(hostname: &str, machine_guid: &str) -> Vec<u8> {
    let mut out = header("access", "ok", hostname, machine_guid);
    out.extend_from_slice(b"\t\"urls\": [\n\t]\n}");
    out
}

/// netdata's answer to a registry action where the agent is no registry.
pub fn disabled(action: &str, hostname: &str, machine_guid: &str, registry: &str) -> Vec<u8> {
    let mut out = header(action, "disabled", hostname, machine_guid);
    field(&mut out, "registry", registry, false);
    out.extend_from_slice(b"}");
    out
}

/// `{` and the four fields every registry answer opens with.
fn header(action: &str, status: &str, hostname: &str, machine_guid: &str) -> Vec<u8> {
    let mut out = b"{\n".to_vec();
    field(&mut out, "action", action, true);
    field(&mut out, "status", status, true);
    field(&mut out, "hostname", hostname, true);
    field(&mut out, "machine_guid", machine_guid, true);
    out
}

/// `"key": "value"` escaped, at one tab, with a comma when more follows.
fn field(out: &mut Vec<u8>, key: &str, value: &str, more: bool) {
    out.extend_from_slice(b"\t\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": \"");
    write_json_str(out, value);
    out.extend_from_slice(if more { b"\",\n" } else { b"\"\n" });
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "376c666c-f25d-11f1-8d3f-02fc00000001";

    #[test]
    fn hello_is_netdatas_with_the_agent_as_registry() {
        assert_eq!(
            String::from_utf8(hello("ndhost", GUID, "http://127.0.0.1:19999")).unwrap(),
            "{\n\t\"action\": \"hello\",\n\t\"status\": \"ok\",\n\t\"hostname\": \"ndhost\",\n\
             \t\"machine_guid\": \"376c666c-f25d-11f1-8d3f-02fc00000001\",\n\
             \t\"registry\": \"http://127.0.0.1:19999\",\n\t\"cloud_base_url\": \"https://app.netdata.cloud\",\n\
             \t\"anonymous_statistics\": false\n}"
        );
    }

    #[test]
    fn access_is_ok_with_no_agents() {
        assert_eq!(
            String::from_utf8(access("ndhost", GUID)).unwrap(),
            "{\n\t\"action\": \"access\",\n\t\"status\": \"ok\",\n\t\"hostname\": \"ndhost\",\n\
             \t\"machine_guid\": \"376c666c-f25d-11f1-8d3f-02fc00000001\",\n\t\"urls\": [\n\t]\n}"
        );
    }

    #[test]
    fn changing_actions_are_netdatas_disabled() {
        assert_eq!(
            String::from_utf8(disabled("delete", "nd\"host", GUID, "http://h")).unwrap(),
            "{\n\t\"action\": \"delete\",\n\t\"status\": \"disabled\",\n\t\"hostname\": \"nd\\\"host\",\n\
             \t\"machine_guid\": \"376c666c-f25d-11f1-8d3f-02fc00000001\",\n\t\"registry\": \"http://h\"\n}"
        );
    }
}
