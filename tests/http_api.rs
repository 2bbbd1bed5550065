//! The HTTP API's server against the release binary on loopback: one port for the API and
//! streaming children, netdata's HTTP behaviour (keep-alive, HEAD, gzip, CORS), and abuse
//! (oversized, trickling, idle, disallowed and path-walking clients) that must get a clear
//! answer while collection and export carry on.

pub mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::agent::{Rrdpipe, Sink};
use support::{deadline_in, free_port, local, wait_for_tcp, wait_until};

const KEY: &str = "11112222-3333-4444-5555-666677778888";

/// A plugin collecting one chart every second.
const PLUGIN: &str = "#!/bin/sh\n\
    echo 'CHART probe.const \"\" \"c\" \"units\" probe probe.const line 1 1'\n\
    echo 'DIMENSION a a absolute 1 1'\n\
    while true; do echo 'BEGIN probe.const'; echo 'SET a = 42'; echo 'END'; sleep 1; done\n";

/// An agent listening on `web` (a `[web]` section's body), collecting `probe.const` every
/// second and exporting it as graphite to `sink` every second.
fn start_agent(web: &str, sink: Option<SocketAddr>) -> Rrdpipe {
    let export = match sink {
        Some(s) => format!(
            "[graphite:g]\nenabled = yes\ndestination = {s}\nupdate every = 1\ndata source = as collected\n\
             send charts matching = probe.const\n"
        ),
        None => String::new(),
    };
    let conf = format!(
        "[global]\nhostname = apihost\nupdate every = 1\n\
         [directories]\nplugins = @DIR@/plugins\n\
         [plugins]\nproc = no\n\
         [web]\n{web}\n{export}"
    );
    Rrdpipe::start(&conf, &[("probe", PLUGIN)])
}

/// An agent on a free port with `extra` `[web]` keys; waits until it listens.
fn serving(extra: &str, sink: Option<SocketAddr>) -> (Rrdpipe, SocketAddr) {
    let addr = local(free_port());
    let a = start_agent(&format!("bind to = {addr}\n{extra}"), sink);
    assert!(wait_for_tcp(addr, deadline_in(10)), "the agent does not listen:\n{}", a.log());
    (a, addr)
}

/// One HTTP response: status line, headers (names lower case), body.
#[derive(Debug)]
struct Answer {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn code(&self) -> u16 {
        self.status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Read one response from `s` (its body by `Content-Length`; none for a `HEAD`).
fn read_answer(s: &mut TcpStream, head_request: bool) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok())?;
    let mut body = vec![0u8; if head_request { 0 } else { len }];
    s.read_exact(&mut body).ok()?;
    Some(Answer { status, headers, body })
}

/// Send `request` on a new connection and read one answer.
fn ask(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    read_answer(&mut s, request.starts_with(b"HEAD ")).expect("an answer")
}

fn get(path: &str, headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
}

/// Whether the server closed `s` (EOF or reset) within `secs`, having sent nothing.
fn closed_silently(s: &mut TcpStream, secs: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

/// Distinct graphite timestamps of `probe.const` the sink received.
fn exported_seconds(sink: &Sink) -> std::collections::BTreeSet<i64> {
    sink.lines()
        .iter()
        .filter(|l| l.contains("probe_const.a") || l.contains("probe.const.a"))
        .filter_map(|l| l.split(' ').nth(2)?.parse().ok())
        .collect()
}

/// Raise this process's open file limit (the agent it starts inherits it).
fn raise_nofile(n: u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        let want = n.min(r.rlim_max);
        if r.rlim_cur < want {
            r.rlim_cur = want;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

#[test]
fn info_keep_alive_head_gzip_and_netdatas_cors() {
    let (agent, addr) = serving("", None);
    // Keep-alive: two requests, one connection.
    let mut s = connect(addr);
    s.write_all(&get("/api/v1/info", "")).unwrap();
    let first = read_answer(&mut s, false).expect("first answer");
    s.write_all(&get("/api/v1/alarm_log", "")).unwrap();
    let second = read_answer(&mut s, false).expect("second answer on the same connection");
    assert_eq!((first.code(), second.code()), (200, 200));
    assert_eq!(second.text(), "[\n]\n");
    let info: serde_json::Value = serde_json::from_slice(&first.body).expect("info is JSON");
    assert_eq!(info["mirrored_hosts"], serde_json::json!(["apihost"]));
    let guid = std::fs::read_to_string(agent.dir().join("lib/registry/netdata.public.unique.id")).unwrap();
    assert_eq!(info["uid"], guid.trim());
    assert_eq!(info["alarms"], serde_json::json!({"normal": 0, "warning": 0, "critical": 0}));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("cache-control"), Some("no-cache, no-store, must-revalidate"));
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));
    assert_eq!(first.header("access-control-allow-credentials"), Some("true"));

    // HEAD: the GET's headers (its length included), no body.
    let head = ask(addr, b"HEAD /api/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.code(), 200);
    let without_date = |a: &Answer| {
        a.headers.iter().filter(|(n, _)| n != "date" && n != "connection").cloned().collect::<Vec<_>>()
    };
    assert_eq!(without_date(&head), without_date(&first));
    let mut rest = Vec::new();
    let mut s = connect(addr);
    s.write_all(b"HEAD /api/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    s.read_to_end(&mut rest).unwrap();
    assert!(String::from_utf8_lossy(&rest).ends_with("\r\n\r\n"), "a HEAD answer has no body");

    // gzip for a client that accepts it; the body decodes to the identity body.
    let z = ask(addr, &get("/api/v1/info", "Accept-Encoding: gzip, deflate\r\n"));
    assert_eq!((z.code(), z.header("content-encoding")), (200, Some("gzip")));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&z.body[..]).read_to_end(&mut plain).unwrap();
    assert_eq!(plain, first.body);
    assert!(z.body.len() < first.body.len());

    // CORS: the Origin echoed (`null` for file://), credentials allowed.
    let o = ask(addr, &get("/api/v1/info", "Origin: http://dash.example:8080\r\n"));
    assert_eq!(o.header("access-control-allow-origin"), Some("http://dash.example:8080"));
    assert_eq!(o.header("access-control-allow-credentials"), Some("true"));
    let n = ask(addr, &get("/api/v1/info", "Origin: null\r\n"));
    assert_eq!(n.header("access-control-allow-origin"), Some("null"));
    // A preflight as dashboard.js causes it: netdata's exact answer.
    let p = ask(
        addr,
        b"OPTIONS /api/v1/data HTTP/1.1\r\nHost: x\r\nOrigin: http://dash.example\r\n\
          Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: cache-control, pragma\r\n\r\n",
    );
    assert_eq!((p.code(), p.text().as_str()), (200, "OK"));
    assert_eq!(p.header("access-control-allow-origin"), Some("http://dash.example"));
    assert_eq!(p.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(p.header("access-control-allow-methods"), Some("GET, OPTIONS"));
    assert_eq!(
        p.header("access-control-allow-headers"),
        Some("accept, x-requested-with, origin, content-type, cookie, pragma, cache-control, x-auth-token")
    );
    assert_eq!(p.header("access-control-max-age"), Some("1209600"));

    // Other methods: 405 naming the ones served.
    let m = ask(addr, b"POST /api/v1/info HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((m.code(), m.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
    // Hosts by name and by machine GUID; an unknown one is a 404 with a reason.
    let by_guid = ask(addr, &get(&format!("/host/{}/api/v1/info", guid.trim()), ""));
    assert_eq!(by_guid.code(), 200);
    let by_name = ask(addr, &get("/host/apihost/api/v1/alarms", ""));
    assert!(by_name.text().contains("\"hostname\": \"apihost\""), "{}", by_name.text());
    let unknown = ask(addr, &get("/host/nobody/api/v1/info", ""));
    assert_eq!(
        (unknown.code(), unknown.text().as_str()),
        (404, "this agent holds no host 'nobody' (neither hostname nor machine GUID)\n")
    );
}

#[test]
fn bad_paths_and_oversized_heads_get_their_status_and_no_file_is_read() {
    let (agent, addr) = serving("", None);
    // Invalid UTF-8, raw or percent-encoded: 400, on a first and on a later request.
    let raw = ask(addr, b"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(raw.code(), 400, "{}", raw.text());
    let pct = ask(addr, &get("/api/v1/%FF%FE", ""));
    assert_eq!((pct.code(), pct.text().as_str()), (400, "the path is not valid UTF-8\n"));
    let mut s = connect(addr);
    s.write_all(&get("/api/v1/info", "")).unwrap();
    assert_eq!(read_answer(&mut s, false).unwrap().code(), 200);
    s.write_all(&get("/api/v1/%C3%28", "")).unwrap();
    assert_eq!(read_answer(&mut s, false).unwrap().code(), 400);
    s.write_all(b"GET /api/v1/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_answer(&mut s, false).expect("a 400 answer").code(), 400);
    // `..`, however spelled: 400, and nothing of the file comes back.
    for path in [
        "/../../../../etc/passwd",
        "/api/v1/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/host/../etc/passwd",
    ] {
        let a = ask(addr, &get(path, ""));
        assert_eq!((a.code(), a.text().as_str()), (400, "the path may not contain '..'\n"), "{path}");
    }
    let f = ask(addr, &get("/etc/passwd", ""));
    assert_eq!(f.code(), 404);
    assert!(!f.text().contains("root:"));
    // A request line and headers over 16 KiB: 431, then closed.
    let big = format!("GET /api/v1/info HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "a".repeat(17 * 1024));
    let mut s = connect(addr);
    let _ = s.write_all(big.as_bytes());
    let a = read_answer(&mut s, false).expect("a 431 answer");
    assert_eq!(a.code(), 431, "{}", a.status);
    // Also on a later request of a kept-alive connection.
    let mut s = connect(addr);
    s.write_all(&get("/api/v1/info", "")).unwrap();
    assert_eq!(read_answer(&mut s, false).unwrap().code(), 200);
    let _ = s.write_all(big.as_bytes());
    assert_eq!(read_answer(&mut s, false).expect("a 431 answer").code(), 431);
    assert!(agent.log().contains("its request is longer than 16384 bytes"), "{}", agent.log());
}

#[test]
fn abusive_clients_are_bounded_while_requests_collection_and_export_go_on() {
    raise_nofile(8192);
    let sink = Sink::start(b"");
    let (agent, addr) = serving(
        "timeout for first request = 2\nweb server max sockets = 100\nmax pending requests = 256\n\
         max pending requests per address = 4096\n",
        Some(sink.addr),
    );
    assert!(
        wait_until(deadline_in(15), || exported_seconds(&sink).len() >= 2),
        "no export:\n{}",
        agent.log()
    );
    let abuse_started = support::now_secs();

    // A client trickling its request one byte at a time is closed after the deadline while
    // another request is answered.
    let trickler = std::thread::spawn(move || {
        let mut s = connect(addr);
        let started = Instant::now();
        for b in b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain([b'a'; 200].iter()) {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            if started.elapsed() > Duration::from_secs(15) {
                break;
            }
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (started.elapsed(), buf)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ask(addr, &get("/api/v1/info", "")).code(), 200, "answered while one trickles");
    let (took, got) = trickler.join().unwrap();
    assert!(got.is_empty(), "the trickler got an answer: {}", String::from_utf8_lossy(&got));
    assert!(took < Duration::from_secs(8), "the trickler was held {took:?} (deadline 2 s)");

    // 2 000 connections that send nothing, then 300 kept-alive ones idle after one request
    // (max sockets 100): a new request is still answered within a second.
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect an idle one"));
    }
    let mut kept = Vec::new();
    for _ in 0..300 {
        let mut s = connect(addr);
        s.write_all(&get("/api/v1/alarm_log", "")).unwrap();
        assert_eq!(read_answer(&mut s, false).expect("answered").code(), 200);
        kept.push(s);
    }
    let asked = Instant::now();
    let a = ask(addr, &get("/api/v1/info", ""));
    let took = asked.elapsed();
    eprintln!("answered in {took:?} with 2 000 idle and 300 kept-alive connections open");
    assert_eq!(a.code(), 200);
    assert!(
        took < Duration::from_secs(1),
        "answered after {took:?} with 2 000 idle and 300 kept-alive connections"
    );
    // The kept-alive connections idle the longest made room: the first ones are closed.
    assert!(closed_silently(&mut kept[0], 5), "the oldest idle keep-alive connection is still open");
    assert!(
        agent.log().contains("web: closed idle connections to make room for new ones"),
        "{}",
        agent.log()
    );
    drop(idle);
    drop(kept);

    // Collection and export went on: every second of the abuse was exported.
    std::thread::sleep(Duration::from_secs(2));
    let abuse_ended = support::now_secs();
    let seconds = exported_seconds(&sink);
    let missing: Vec<i64> = (abuse_started + 1..abuse_ended - 1).filter(|t| !seconds.contains(t)).collect();
    assert!(missing.is_empty(), "seconds not exported during the abuse: {missing:?}");
    assert!(
        agent.log().contains("no request within 2 s ([web] timeout for first request)"),
        "{}",
        agent.log()
    );
}

#[test]
fn a_disallowed_address_is_closed_at_once_and_counted() {
    let (agent, addr) = serving("allow connections from = 127.0.0.1\n", None);
    for _ in 0..3 {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into()).unwrap();
        sock.connect_timeout(&addr.into(), Duration::from_secs(5)).unwrap();
        let mut s: TcpStream = sock.into();
        let _ = s.write_all(&get("/api/v1/info", ""));
        assert!(closed_silently(&mut s, 5), "127.0.0.2 was not closed at once");
    }
    assert_eq!(ask(addr, &get("/api/v1/info", "")).code(), 200, "127.0.0.1 is allowed");
    // Counted, and logged once for the minute (the first at once).
    agent.wait_log("closed 1 connection(s) from addresses not matched by [web] allow connections from (the last from 127.0.0.2)", 5);
    assert_eq!(agent.log().matches("not matched by [web] allow connections from").count(), 1);
}

#[test]
fn an_acl_decides_what_a_port_offers_and_mode_none_serves_nothing() {
    let (p1, p2) = (free_port(), free_port());
    let conf = format!(
        "bind to = 127.0.0.1:{p1}=streaming 127.0.0.1:{p2}=dashboard\n[{KEY}]\ntype = api\nenabled = yes\n"
    );
    let agent = start_agent(&conf, None);
    let (children, api) = (local(p1), local(p2));
    assert!(wait_for_tcp(children, deadline_in(10)) && wait_for_tcp(api, deadline_in(10)), "{}", agent.log());
    let forbidden = |addr| {
        let a = ask(addr, &get("/api/v1/info", ""));
        (a.code(), a.text())
    };
    assert_eq!(forbidden(children), (403, "You are not allowed to access this resource.".to_string()));
    assert_eq!(ask(api, &get("/api/v1/info", "")).code(), 200);
    let stream = |addr: SocketAddr, key: &str| {
        let mut s = connect(addr);
        s.write_all(
            format!(
                "STREAM key={key}&hostname=kid&registry_hostname=kid&machine_guid=22223333-4444-5555-6666-777788889999\
                 &update_every=1&os=linux&ver=1 HTTP/1.1\r\nUser-Agent: netdata/v1.37.1\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(stream(children, KEY), "Hit me baby, push them over...");
    assert!(stream(api, KEY).starts_with("HTTP/1.1 403 Forbidden\r\n"));
    drop(agent);

    // Without an API key the API is served and a child refused, as netdata refuses it.
    let (agent, addr) = serving("", None);
    assert_eq!(stream(addr, KEY), "You are not permitted to access this. Check the logs for more info.");
    assert_eq!(ask(addr, &get("/api/v1/info", "")).code(), 200);
    drop(agent);

    // mode = none: nothing listens.
    let port = free_port();
    let mut agent = start_agent(&format!("mode = none\nbind to = 127.0.0.1:{port}\n"), None);
    agent.wait_log("plugin{plugin=probe}: started", 10);
    assert!(!wait_for_tcp(local(port), deadline_in(2)), "mode = none listens:\n{}", agent.log());
    assert!(agent.is_running());
}

#[test]
fn a_port_that_cannot_be_bound_stops_the_start_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut agent = start_agent(&format!("bind to = {addr}\n"), None);
    assert!(wait_until(deadline_in(10), || !agent.is_running()), "the agent runs on a taken port");
    assert_eq!(agent.terminate().code(), Some(2));
    assert!(agent.log().contains(&format!("cannot listen on {addr} ([web] bind to)")), "{}", agent.log());
}
