//! An HTTP client for tests, over `ureq`: one request per connection, every status returned
//! as a response (never an error), no redirect followed, the whole body read.
//!
//! Tests that must choose the bytes on the wire (malformed or oversized requests, slow
//! clients, keep-alive on one connection) write to a `TcpStream` themselves instead.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use ureq::http::Request;
use ureq::tls::TlsConfig;
use ureq::Agent;

/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether to speak TLS, and how to check the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP.
    Off,
    /// HTTPS accepting any certificate (the tests' certificates are self-signed).
    Unverified,
}

/// A response from [`http_get`] / [`http_post`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// `GET path_and_query` from `addr`. Panics on connection errors.
pub fn http_get(addr: SocketAddr, path_and_query: &str) -> HttpResponse {
    http_request(addr, "GET", path_and_query, &[], &[])
}

/// `POST path` to `addr` with `body` and the given extra headers (e.g.
/// `("Content-Type", "application/json")`). Panics on connection errors.
pub fn http_post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_request(addr, "POST", path, headers, body)
}

/// One plain HTTP request; reads the whole response. Panics on connection errors.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    try_request(Tls::Off, addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// One request over plain HTTP or HTTPS; reads the whole response. `Err` says why no
/// response came (connection refused, timeout, TLS handshake, a response that is not HTTP).
pub fn try_request(
    tls: Tls,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let scheme = if tls == Tls::Off { "http" } else { "https" };
    let mut req = Request::builder().method(method).uri(format!("{scheme}://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let agent = agent(tls);
    // ureq refuses a body on GET and HEAD; an empty one is no body.
    let sent = if body.is_empty() && matches!(method, "GET" | "HEAD") {
        agent.run(req.body(()).map_err(|e| format!("bad request: {e}"))?)
    } else {
        agent.run(req.body(body).map_err(|e| format!("bad request: {e}"))?)
    };
    let mut resp = sent.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).trim().to_string()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .map_err(|e| format!("read response body: {e}"))?;
    Ok(HttpResponse { status, headers, body })
}

/// A client that keeps no connection for later, follows no redirect and returns error
/// statuses as responses.
fn agent(tls: Tls) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections(0)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT))
        .tls_config(TlsConfig::builder().disable_verification(tls == Tls::Unverified).build())
        .build()
        .into()
}

/// Percent-encodes `s` for use as a query-string value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
