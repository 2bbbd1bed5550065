//! TLS on the listening port, against real clients: netdata 1.37 children streaming with
//! `destination = HOST:PORT:SSL`, the HTTP API over HTTPS read with ureq (rustls) and curl, and
//! plain clients on TLS ports. The certificates come from a private CA made by the test.

pub mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::agent::Rrdpipe;
use support::netdata::{Netdata, Setup};
use support::tls::TestCa;
use support::*;

const KEY: &str = "5eed0003-2222-3333-4444-555555555555";

/// rrdpipe as a parent on a free port, `bind to` ending in `suffix` (e.g. `=streaming|dashboard^SSL=force`),
/// with `web` appended to `[web]` (the TLS keys).
fn start_parent(suffix: &str, web: &str) -> (Rrdpipe, SocketAddr) {
    let port = free_port();
    let addr = local(port);
    let conf = format!(
        "[global]\n    hostname = PARENT\n[plugins]\n    proc = no\n    enable running new plugins = no\n\
         [web]\n    bind to = 127.0.0.1:{port}{suffix}\n{web}\n"
    );
    let stream = format!("[{KEY}]\n    type = api\n    enabled = yes\n");
    let p = Rrdpipe::start_with_files(&conf, &[], &[("stream.conf", &stream)]);
    assert!(wait_for_tcp(addr, deadline_in(10)), "rrdpipe does not listen on {addr}:\n{}", p.log());
    (p, addr)
}

/// `[web]` lines serving `ca`'s server certificate.
fn tls_keys(ca: &TestCa) -> String {
    format!("    ssl key = {}\n    ssl certificate = {}\n", ca.key.display(), ca.cert.display())
}

/// A netdata child streaming to `parent` over TLS, with `trust` lines in its `[stream]`.
fn tls_child(hostname: &str, parent: SocketAddr, trust: &str) -> Option<Netdata> {
    Netdata::start(Setup {
        hostname: hostname.to_string(),
        proc: true,
        stream_conf: Some(format!(
            "[stream]\n    enabled = yes\n    destination = tcp:{parent}:SSL\n    api key = {KEY}\n    \
             timeout seconds = 60\n    enable compression = no\n    reconnect delay seconds = 1\n{trust}"
        )),
        ..Setup::default()
    })
}

/// GET `path` over HTTPS with `agent`: (status, body).
fn https_get(agent: &ureq::Agent, addr: SocketAddr, path: &str) -> (u16, String) {
    let mut r =
        agent.get(&format!("https://{addr}{path}")).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// Send `bytes` on a plain connection and read the whole answer.
fn plain_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The number of rows `/api/v1/data` has for `chart` of `host` over the last minute with a
/// value in every column.
fn rows(agent: &ureq::Agent, addr: SocketAddr, host: &str, chart: &str) -> usize {
    rows_after(agent, addr, host, chart, -60)
}

/// The number of rows `/api/v1/data` has for `chart` of `host` after `after` (netdata's `after`:
/// negative is relative to now) with a value in every column.
fn rows_after(agent: &ureq::Agent, addr: SocketAddr, host: &str, chart: &str, after: i64) -> usize {
    let (status, body) =
        https_get(agent, addr, &format!("/host/{host}/api/v1/data?chart={chart}&after={after}&format=csv"));
    if status != 200 {
        return 0;
    }
    let full = |l: &str| {
        let values: Vec<&str> = l.trim_end().split(',').skip(1).collect();
        values.len() >= 2 && values.iter().all(|v| v.parse::<f64>().is_ok())
    };
    body.lines().skip(1).filter(|l| full(l)).count()
}

#[test]
fn children_with_ssl_stream_in_over_tls_and_a_plain_child_is_refused_on_a_tls_only_port() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    if require("netdata").is_none() {
        return;
    }
    let (parent, addr) = start_parent("=streaming|dashboard^SSL=force", &tls_keys(&ca));
    // One child trusts the private CA (CAfile), the other skips verification.
    let trusted = format!("    CAfile = {}\n", ca.ca.display());
    let Some(_a) = tls_child("TLSCA", addr, &trusted) else { return };
    let Some(_b) = tls_child("TLSSKIP", addr, "    ssl skip certificate verification = yes\n") else {
        return;
    };
    for host in ["TLSCA", "TLSSKIP"] {
        parent.wait_log(&format!("child{{host={host} peer=127.0.0.1:"), 40);
    }
    assert!(parent.log().contains("connected: new host"), "{}", parent.log());
    // Their data arrives: read back over HTTPS, trusting the CA.
    let client = ca.client();
    for host in ["TLSCA", "TLSSKIP"] {
        assert!(
            wait_until(deadline_in(30), || rows(&client, addr, host, "system.cpu") >= 5),
            "no system.cpu rows of {host}; log:\n{}",
            parent.log()
        );
    }

    // A plain child on this port is refused, and the log says what to do.
    let request = format!(
        "STREAM key={KEY}&hostname=PLAIN&machine_guid=5eed0004-2222-3333-4444-555555555555&update_every=1 \
         HTTP/1.1\r\nUser-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n"
    );
    assert_eq!(
        plain_exchange(addr, request.as_bytes()),
        "You are not permitted to access this. Check the logs for more info."
    );
    parent.wait_log(
        "refused the child: it connected without TLS to a port that takes TLS only ([web] bind to ...^SSL=force); \
         end the child's stream.conf destination with :SSL (destination = HOST:PORT:SSL) host=PLAIN",
        10,
    );
    // Plain HTTP is sent to HTTPS.
    let redirect = plain_exchange(addr, b"GET /api/v1/info?x=1 HTTP/1.1\r\nHost: 127.0.0.1:19999\r\n\r\n");
    assert!(
        redirect.starts_with(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://127.0.0.1:19999/api/v1/info?x=1\r\n"
        ),
        "{redirect}"
    );
    assert!(!parent.log().contains("child{host=PLAIN"), "the plain child never connected");
}

#[test]
fn a_child_that_does_not_trust_the_certificate_is_logged_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    if require("netdata").is_none() {
        return;
    }
    // A port that takes plain and TLS children alike.
    let (parent, addr) = start_parent("", &tls_keys(&ca));
    let Some(child) = tls_child("NOTRUST", addr, "") else { return };
    parent.wait_log(
        "closed: the client closed the connection right after the TLS handshake, without a request; a netdata \
         child does that when it does not trust [web] ssl certificate",
        40,
    );
    assert!(
        parent.log().contains(
            "give the client the CA that signed [web] ssl certificate: for a netdata child, CAfile = /path/to/ca.pem \
             (or CApath) in the [stream] section of its stream.conf, or ssl skip certificate verification = yes there"
        ),
        "{}",
        parent.log()
    );
    assert!(
        wait_until(deadline_in(10), || child.error_log().contains("server SSL certificate is not valid")),
        "child log:\n{}",
        child.error_log()
    );
    assert!(!parent.log().contains("child{host=NOTRUST"), "it never connected");
}

#[test]
fn the_api_is_served_over_tls_on_the_same_port_and_plain_http_only_where_optional() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let (parent, addr) = start_parent("", &tls_keys(&ca));
    parent.wait_log("TLS with", 10);
    let client = ca.client();
    for _ in 0..3 {
        // One kept-alive connection carries the three requests.
        let (status, body) = https_get(&client, addr, "/api/v1/info");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"hostname\": \"PARENT\""), "{body}");
    }
    let (status, body) = https_get(&client, addr, "/api/v1/registry?action=hello");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("\"registry\": \"https://{addr}\"")), "{body}");
    // A client that does not trust the CA refuses the certificate itself.
    let untrusting = ureq::Agent::new_with_defaults();
    let err = untrusting.get(&format!("https://{addr}/api/v1/info")).call().expect_err("not trusted");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // Plain HTTP on a port without ^SSL=optional is redirected, as by netdata.
    let plain = plain_exchange(addr, b"GET /api/v1/info HTTP/1.1\r\nHost: h:1\r\n\r\n");
    assert!(
        plain.starts_with("HTTP/1.1 301 Moved Permanently\r\nLocation: https://h:1/api/v1/info\r\n"),
        "{plain}"
    );
    drop(parent);

    let (optional, addr) = start_parent("=dashboard^SSL=optional", &tls_keys(&ca));
    let plain = plain_exchange(addr, b"GET /api/v1/info HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(plain.starts_with("HTTP/1.1 200 OK\r\n"), "{plain}");
    let (status, _) = https_get(&client, addr, "/api/v1/info");
    assert_eq!(status, 200);
    curl_reads_the_api(&ca.ca, addr);
    drop(optional);
}

/// curl, trusting the CA, gets `/api/v1/info` over HTTPS (when curl is installed).
fn curl_reads_the_api(ca: &Path, addr: SocketAddr) {
    let Some(curl) = require("curl") else { return };
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .arg(format!("https://{addr}/api/v1/info"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    assert!(body.contains("\"hostname\": \"PARENT\""), "{body}");
}

#[test]
fn a_misconfigured_key_stops_the_start_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let other = TestCa::new(&{
        let d = dir.path().join("other");
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    let missing = dir.path().join("nothing.pem");
    let cases = [
        (
            format!("    ssl key = {}\n    ssl certificate = {}\n", missing.display(), ca.cert.display()),
            format!(
                "[web] ssl key = {}: no such file; set the key to the right path, or remove [web] ssl key and ssl \
                 certificate to serve without TLS",
                missing.display()
            ),
        ),
        (
            format!("    ssl key = {}\n    ssl certificate = {}\n", other.key.display(), ca.cert.display()),
            format!(
                "[web] ssl key = {} is not the key of the certificate in [web] ssl certificate = {}; give the key \
                 the certificate was made for",
                other.key.display(),
                ca.cert.display()
            ),
        ),
        (
            format!("    ssl key = {}\n    ssl certificate = {}\n", ca.cert.display(), ca.key.display()),
            format!(
                "[web] ssl certificate = {}: it holds no certificate; it holds a private key: are [web] ssl key and \
                 ssl certificate swapped?",
                ca.key.display()
            ),
        ),
    ];
    for (web, expected) in cases {
        let port = free_port();
        let conf = format!("[plugins]\n    proc = no\n[web]\n    bind to = 127.0.0.1:{port}\n{web}");
        let mut p = Rrdpipe::start(&conf, &[]);
        let deadline = deadline_in(10);
        while p.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!p.is_running(), "rrdpipe started with a bad TLS setting; log:\n{}", p.log());
        assert!(p.log().contains(&expected), "wanted {expected:?} in:\n{}", p.log());
        // --check-config finds the same problem without starting anything.
        let out = Command::new(support::agent::rrdpipe_bin())
            .arg("--check-config")
            .arg("-c")
            .arg(p.dir().join("rrdpipe.conf"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&expected), "{out:?}");
    }
}

/// A renewed certificate is read on SIGHUP: new connections get it, a child connected with the
/// old one streams on; a key that is not the new certificate's keeps the certificate served
/// and the log says what to do.
#[test]
fn a_renewed_certificate_is_read_on_a_reload_without_dropping_children() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let (old, new) = (TestCa::new(&sub("old")), TestCa::new(&sub("new")));
    if require("netdata").is_none() {
        return;
    }
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&old.cert, &cert).unwrap();
    std::fs::copy(&old.key, &key).unwrap();
    let web = format!("    ssl key = {}\n    ssl certificate = {}\n", key.display(), cert.display());
    let (parent, addr) = start_parent("", &web);
    // The child trusts the old CA only: it could not connect again after the renewal.
    let Some(_child) = tls_child("RENEW", addr, &format!("    CAfile = {}\n", old.ca.display())) else {
        return;
    };
    parent.wait_log("child{host=RENEW peer=127.0.0.1:", 40);
    assert!(wait_until(deadline_in(30), || rows(&old.client(), addr, "RENEW", "system.cpu") >= 3));

    std::fs::copy(&new.cert, &cert).unwrap();
    std::fs::copy(&new.key, &key).unwrap();
    parent.signal(libc::SIGHUP);
    parent.wait_log("reload: read [web] ssl key and ssl certificate again", 10);
    assert!(!parent.log().contains("take effect only after a restart"), "{}", parent.log());
    let (status, _) = https_get(&new.client(), addr, "/api/v1/info");
    assert_eq!(status, 200, "a new connection gets the new certificate");
    // The two test CAs share a name: the old one finds the new certificate's signature bad.
    let err = old.client().get(&format!("https://{addr}/api/v1/info")).call().expect_err("old CA");
    assert!(err.to_string().contains("invalid peer certificate: BadSignature"), "{err}");
    // The child streams on over its connection: rows keep coming for 10 s, and it never left.
    let since = support::wait::now_secs();
    std::thread::sleep(Duration::from_secs(10));
    let after = rows_after(&new.client(), addr, "RENEW", "system.cpu", since);
    assert!(after >= 8, "{after} rows in the 10 s after the reload");
    assert!(!parent.log().contains("}: disconnected:"), "{}", parent.log());

    // A new key that is not the certificate's: the certificate served stays, the log says why.
    std::fs::copy(&old.key, &key).unwrap();
    parent.signal(libc::SIGHUP);
    parent.wait_log(
        &format!(
            "reload: cannot use the new certificate: [web] ssl key = {} is not the key of the certificate in \
             [web] ssl certificate = {}; give the key the certificate was made for",
            key.display(),
            cert.display()
        ),
        10,
    );
    assert!(parent
        .log()
        .contains("The port still serves the certificate it had; fix the files and reload again"));
    let (status, _) = https_get(&new.client(), addr, "/api/v1/info");
    assert_eq!(status, 200, "the certificate served is still the renewed one");
}
