//! Parent mode end to end on loopback: fake children speaking netdata's bytes to a real
//! listener and a real store.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::access::Access;
use super::compression::Encoder;
use super::gate::GateLimits;
use super::listener::{self, PortAcl, StreamConfig, StreamHandle};
use super::request::MAX_REQUEST;
use crate::collect::plugins_d::lines::LineReader;
use crate::collect::plugins_d::session::{Session, SessionConfig};
use crate::config::{Stream, StreamKey, StreamKeyType};
use crate::rrd::storage_number::{unpack, SN_EMPTY};
use crate::rrd::{Db, Host, HostInfo};
use crate::shutdown::Shutdown;

const KEY: &str = "11111111-2222-3333-4444-555555555555";
const G1: &str = "aaaaaaaa-bbbb-cccc-dddd-000000000001";
const G2: &str = "aaaaaaaa-bbbb-cccc-dddd-000000000002";
/// The answer to a child offering what a netdata 1.37 child with `enable compression = no` offers.
const ACCEPTED: &[u8] = b"Hit me baby, push them over with the version=4800";
const NOT_PERMITTED: &[u8] = b"You are not permitted to access this. Check the logs for more info.";
const ALREADY: &[u8] = b"This GUID is already streaming to this server";

fn db() -> Arc<Db> {
    Arc::new(Db::new(HostInfo { hostname: "parent".into(), update_every: 1, ..Default::default() }, 600))
}

fn config(max_children: usize) -> StreamConfig {
    let keys = vec![StreamKey {
        uuid: KEY.into(),
        key_type: StreamKeyType::Api,
        enabled: true,
        allow_from: "*".into(),
        enable_compression: true,
        replication: Default::default(),
        file: "stream.conf".into(),
        line: 1,
    }];
    StreamConfig {
        addresses: vec!["127.0.0.1:0".into()],
        acls: vec![PortAcl { streaming: true, dashboard: true, tls: crate::config::PortTls::Default }],
        allow_from: crate::pattern::SimplePattern::new("localhost *"),
        http: None,
        access: Access::new(&Stream { keys, ..Stream::default() }, "", &["parent".to_string()]),
        max_children,
        timeout: Duration::from_secs(60),
        max_charts: 100,
        max_dimensions: 1000,
        max_line: 1024,
        update_every: 1,
        gate: GateLimits {
            max_pending: 16,
            max_per_address: 8,
            first_request_timeout: Duration::from_secs(10),
            max_request: MAX_REQUEST,
        },
        compression: true,
        tls: None,
        replication: Default::default(),
    }
}

struct Parent {
    db: Arc<Db>,
    shutdown: Shutdown,
    handle: Option<StreamHandle>,
}

impl Parent {
    fn start(cfg: StreamConfig) -> Parent {
        let db = db();
        let shutdown = Shutdown::new();
        let handle = listener::start(cfg, db.clone(), shutdown.clone()).unwrap();
        Parent { db, shutdown, handle: Some(handle) }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.as_ref().unwrap().local_addrs()[0]
    }

    fn handle(&self) -> &StreamHandle {
        self.handle.as_ref().unwrap()
    }

    fn child_host(&self, guid: &str) -> Option<Arc<Host>> {
        self.db.hosts().into_iter().skip(1).find(|h| h.info().machine_guid == guid)
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(h) = self.handle.take() {
            h.join();
        }
    }
}

fn request(key: &str, hostname: &str, guid: &str) -> String {
    format!(
        "STREAM key={key}&hostname={hostname}&registry_hostname={hostname}&machine_guid={guid}\
         &update_every=1&os=linux&timezone=Etc/UTC&tags=rack 7&ver=15352\
         &NETDATA_CONTAINER_OS_NAME=Debian GNU/Linux&NETDATA_PROTOCOL_VERSION=1.1 HTTP/1.1\r\n\
         User-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n"
    )
}

/// Connect, send `req`, and return the socket and everything the parent answered before it
/// either closed or went quiet for 300 ms.
fn handshake(addr: SocketAddr, req: &str) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let reply = read_reply(&mut s);
    (s, reply)
}

fn read_reply(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) if !out.is_empty() || Instant::now() > deadline => break,
            Err(_) => {}
        }
    }
    out
}

/// Whether the parent closed `s` (read returns end of stream) within `secs`.
fn closed_within(s: &mut TcpStream, secs: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    matches!(s.read(&mut [0u8; 64]), Ok(0))
}

fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn last_collected(host: &Host, chart: &str, dim: usize) -> Option<i64> {
    let c = host.chart(chart)?;
    let d = c.read();
    let dim = d.dims.get(dim)?;
    (dim.last_collected_ut != 0).then_some(dim.last_collected_value)
}

const DEFINITIONS: &str = "CHART \"system.load\" \"\" \"System Load Average\" \"load\" \"load\" \"system.load\" \"line\" 100 1 \"   \" \"proc.plugin\" \"/proc/loadavg\"\n\
DIMENSION \"load1\" \"load1\" \"absolute\" 1 1000 \" \"\n\
DIMENSION \"load5\" \"load5\" \"absolute\" 1 1000 \"\"\n";

#[test]
fn a_child_is_accepted_with_its_capabilities_and_its_lines_reach_its_own_host() {
    let p = Parent::start(config(10));
    let (mut s, reply) = handshake(p.addr(), &request(KEY, "child1", G1));
    assert_eq!(reply, ACCEPTED);
    s.write_all(DEFINITIONS.as_bytes()).unwrap();
    s.write_all(b"BEGIN \"system.load\" 0\nSET \"load1\" = 1250\nSET \"load5\" = 980\nEND\n").unwrap();
    s.write_all(b"VARIABLE HOST tcp_max_orphans = 131072.0000000\nCLAIMED_ID x\n").unwrap();
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 1)) == Some(980)));
    let host = p.child_host(G1).unwrap();
    assert_eq!(
        host.info(),
        HostInfo {
            hostname: "child1".into(),
            machine_guid: G1.into(),
            update_every: 1,
            os: "linux".into(),
            tags: "rack 7".into(),
        }
    );
    assert_eq!(last_collected(&host, "system.load", 0), Some(1250));
    let chart = host.chart("system.load").unwrap();
    let d = chart.read();
    assert_eq!((&*d.meta.title, &*d.meta.units, d.meta.priority), ("System Load Average", "load", 100));
    assert_eq!((d.dims[0].multiplier, d.dims[0].divisor), (1, 1000));
    drop(d);
    assert!(p.db.localhost().chart("system.load").is_none(), "a child's charts are not the parent's");
    assert_eq!(p.handle().connected(), 1);
    drop(s);
    assert!(wait_for(5, || p.handle().connected() == 0), "a closed child is noticed");
    assert_eq!(p.handle().refused(), 0);
}

#[test]
fn a_wrong_key_is_refused_with_netdatas_string_and_no_host_is_made() {
    let p = Parent::start(config(10));
    let wrong = "99999999-2222-3333-4444-555555555555";
    let (mut s, reply) = handshake(p.addr(), &request(wrong, "intruder", G1));
    assert_eq!(reply, NOT_PERMITTED);
    assert!(closed_within(&mut s, 5));
    let (_, reply) = handshake(p.addr(), &request("not-a-uuid", "intruder", G1));
    assert_eq!(reply, NOT_PERMITTED);
    assert_eq!(p.handle().refused(), 2);
    assert_eq!(p.db.hosts().len(), 1);
}

#[test]
fn a_second_live_connection_of_a_guid_is_refused_and_the_first_keeps_streaming() {
    let p = Parent::start(config(10));
    let (mut first, reply) = handshake(p.addr(), &request(KEY, "twin", G1));
    assert_eq!(reply, ACCEPTED);
    let (mut second, reply) = handshake(p.addr(), &request(KEY, "twin", G1));
    assert_eq!(reply, ALREADY);
    assert!(closed_within(&mut second, 5));
    first.write_all(DEFINITIONS.as_bytes()).unwrap();
    first.write_all(b"BEGIN system.load\nSET load1 = 7\nEND\n").unwrap();
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 0)) == Some(7)));
    assert_eq!((p.handle().connected(), p.handle().refused()), (1, 1));
}

#[test]
fn children_past_max_children_are_refused_as_not_permitted() {
    let p = Parent::start(config(1));
    let (_first, reply) = handshake(p.addr(), &request(KEY, "one", G1));
    assert_eq!(reply, ACCEPTED);
    let (_, reply) = handshake(p.addr(), &request(KEY, "two", G2));
    assert_eq!(reply, NOT_PERMITTED);
    assert_eq!(p.handle().connected(), 1);
    assert!(p.child_host(G2).is_none());
}

#[test]
fn a_request_split_across_writes_and_data_right_behind_it_are_both_read() {
    let p = Parent::start(config(10));
    let req = request(KEY, "slow", G1);
    let mut s = TcpStream::connect(p.addr()).unwrap();
    let (a, b) = req.split_at(40);
    s.write_all(a.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The rest of the request and the first lines in one write: nothing may be lost.
    let mut rest = b.as_bytes().to_vec();
    rest.extend_from_slice(DEFINITIONS.as_bytes());
    rest.extend_from_slice(b"BEGIN system.load\nSET load1 = 42\nEND\n");
    s.write_all(&rest).unwrap();
    assert_eq!(read_reply(&mut s), ACCEPTED);
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 0)) == Some(42)));
}

#[test]
fn a_silent_child_is_disconnected_after_the_timeout() {
    let mut cfg = config(10);
    cfg.timeout = Duration::from_millis(700);
    let p = Parent::start(cfg);
    let started = Instant::now();
    let (mut s, reply) = handshake(p.addr(), &request(KEY, "quiet", G1));
    assert_eq!(reply, ACCEPTED);
    assert!(closed_within(&mut s, 5), "the parent should close a silent child");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    assert!(wait_for(2, || p.handle().connected() == 0));
}

#[test]
fn over_long_lines_are_dropped_and_the_child_goes_on() {
    let p = Parent::start(config(10));
    let (mut s, reply) = handshake(p.addr(), &request(KEY, "long", G1));
    assert_eq!(reply, ACCEPTED);
    s.write_all(DEFINITIONS.as_bytes()).unwrap();
    let mut long = b"SET load1 = 1".to_vec();
    long.extend(std::iter::repeat_n(b'0', 100_000));
    long.push(b'\n');
    s.write_all(b"BEGIN system.load\n").unwrap();
    s.write_all(&long).unwrap();
    s.write_all(b"SET load1 = 3\nEND\n").unwrap();
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 0)) == Some(3)));
}

#[test]
fn caps_of_a_child_are_the_plugin_caps() {
    let mut cfg = config(10);
    cfg.max_charts = 1;
    let p = Parent::start(cfg);
    let (mut s, _) = handshake(p.addr(), &request(KEY, "greedy", G1));
    s.write_all(DEFINITIONS.as_bytes()).unwrap();
    s.write_all(b"CHART more.one\nDIMENSION x\nCHART more.two\nDIMENSION x\n").unwrap();
    s.write_all(b"BEGIN system.load\nSET load1 = 5\nEND\n").unwrap();
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 0)) == Some(5)));
    assert_eq!(p.child_host(G1).unwrap().chart_count(), 1);
}

#[test]
fn shutdown_is_not_held_up_by_connected_or_half_connected_children() {
    let p = Parent::start(config(10));
    let (_quiet, reply) = handshake(p.addr(), &request(KEY, "quiet", G1));
    assert_eq!(reply, ACCEPTED);
    let mut half = TcpStream::connect(p.addr()).unwrap();
    half.write_all(b"STREAM key=").unwrap();
    let mut p = p;
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    p.shutdown.trigger();
    p.handle.take().unwrap().join();
    assert!(started.elapsed() < Duration::from_secs(2), "join took {:?}", started.elapsed());
}

#[test]
fn the_streaming_children_chart_counts_connected_and_refused() {
    let p = Parent::start(config(10));
    let (_s, reply) = handshake(p.addr(), &request(KEY, "counted", G1));
    assert_eq!(reply, ACCEPTED);
    handshake(p.addr(), &request(KEY, "twin", G1));
    let chart = p.db.localhost().chart("netdata.streaming_children").expect("chart defined");
    let ids: Vec<String> = {
        let d = chart.read();
        (0..d.names.len()).map(|i| d.names.id(i).to_string()).collect()
    };
    assert_eq!(ids, ["connected", "refused"]);
    // Within a few ticks: one connected, and one refusal in some interval.
    let mut refused_seen = false;
    let ok = wait_for(5, || {
        let d = chart.read();
        refused_seen |= d.dims[1].last_collected_value == 1;
        d.dims[0].last_collected_value == 1 && refused_seen
    });
    assert!(ok, "connected {} refused {}", chart.read().dims[0].last_collected_value, refused_seen);
}

/// A connection replaced by a newer one of the same machine stops reading and says why, even
/// when its socket is still open.
#[test]
fn a_replaced_connection_stops_and_says_why() {
    use super::receiver::{self, End, Limits};
    use super::registry::{Registry, STALE_AFTER_MS};
    let db = db();
    let (host, _) =
        db.host_by_guid(HostInfo { hostname: "c".into(), machine_guid: G1.into(), ..Default::default() });
    let registry = Registry::new(5);
    let now = crate::clock::now_ms();
    let old = registry.admit(G1, "c1", 1, now - STALE_AFTER_MS, None).unwrap();
    let (mut child_end, parent_end) = std::os::unix::net::UnixStream::pair().unwrap();
    child_end.write_all(DEFINITIONS.as_bytes()).unwrap();
    let _new = registry.admit(G1, "c1", 1, now, None).unwrap();
    let mut session = Session::new(SessionConfig::new("stream/c", 1), host.clone());
    let limits = Limits { timeout: Duration::from_secs(60), max_line: 1024 };
    let started = Instant::now();
    let mut reader = LineReader::new(parent_end, limits.max_line);
    let (end, too_long) = receiver::receive(&mut reader, &mut session, old.live(), limits, &Shutdown::new());
    assert_eq!((end, too_long), (End::Replaced, 0));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(session.stats().lines, 3, "lines already sent are applied first");
    assert_eq!(host.chart_count(), 1);
}

/// A child that reconnects re-sends its definitions: the host and its charts are reused, and
/// the time it was away stays empty. Driven with explicit times through the same calls the
/// receiver makes.
#[test]
fn a_reconnecting_child_reuses_its_host_and_leaves_the_time_away_empty() {
    const S: u64 = 1_000_000;
    let db = db();
    let info =
        HostInfo { hostname: "c".into(), machine_guid: G1.into(), update_every: 1, ..Default::default() };
    let feed = |s: &mut Session, text: &str, at: u64| {
        for line in text.lines() {
            s.feed(line.as_bytes(), at);
        }
    };
    let (host, new) = db.host_by_guid(info.clone());
    assert!(new);
    let mut first = Session::new(SessionConfig::new("stream/c", 1), host);
    feed(&mut first, DEFINITIONS, 1000 * S);
    for t in 1000..1004u64 {
        feed(&mut first, "BEGIN system.load 0\nSET load1 = 2000\nSET load5 = 1000\nEND", t * S + S / 2);
    }
    drop(first);
    let (again, new) = db.host_by_guid(HostInfo { hostname: "renamed".into(), ..info });
    assert!(!new);
    assert_eq!(db.hosts().len(), 2);
    assert_eq!(again.hostname(), "renamed");
    let mut second = Session::new(SessionConfig::new("stream/c", 1), again.clone());
    feed(&mut second, DEFINITIONS, 1010 * S);
    for t in 1010..1013u64 {
        feed(&mut second, "BEGIN system.load 0\nSET load1 = 3000\nSET load5 = 1000\nEND", t * S + S / 2);
    }
    assert_eq!(again.chart_count(), 1);
    let chart = again.chart("system.load").unwrap();
    let d = chart.read();
    let v = |t: i64| {
        let n = d.value_at(0, t);
        (n != SN_EMPTY).then(|| unpack(n))
    };
    for t in 1001..=1003 {
        assert_eq!(v(t), Some(2.0), "slot {t}");
    }
    for t in 1004..=1010 {
        assert_eq!(v(t), None, "slot {t} should stay empty");
    }
    for t in 1011..=1012 {
        assert_eq!(v(t), Some(3.0), "slot {t}");
    }
}

/// The exporters walk every host: a child is exported under its own hostname, even where the
/// local host is renamed by `hostname`, and `send hosts matching` can leave it out.
#[test]
fn a_child_is_exported_under_its_own_hostname() {
    use crate::export::connector::ConnectorKind;
    use crate::export::instance::{Formatter, InstanceConfig};
    use crate::pattern::SimplePattern;
    use crate::rrd::{Algorithm, ChartDef, DimensionDef};
    const S: u64 = 1_000_000;
    let db = db();
    let (child, _) =
        db.host_by_guid(HostInfo { hostname: "kid".into(), machine_guid: G1.into(), ..Default::default() });
    for host in [db.localhost(), child] {
        let (c, _) = host.define_chart(&ChartDef::new("system.load", 1));
        c.add_dimension(&DimensionDef::new("load1", Algorithm::Absolute));
        for t in 995..1010u64 {
            c.collect(&[(0, 2)], t * S).unwrap();
        }
    }
    let cfg = |legacy: bool, hosts: Option<&str>| InstanceConfig {
        legacy,
        hostname: Some("alias".into()),
        hosts: hosts.map(SimplePattern::new),
        ..InstanceConfig::new("t", ConnectorKind::Graphite)
    };
    let text = |cfg: InstanceConfig| {
        let out = Formatter::new(cfg, 1000 * S).format_due(&db, 1010 * S);
        out.iter().map(|f| String::from_utf8(f.bytes.clone()).unwrap()).collect::<String>()
    };
    let both =
        "netdata.alias.system.load.load1 2.0000000 1000\nnetdata.kid.system.load.load1 2.0000000 1000\n";
    // The legacy [backend] exports every host.
    assert_eq!(text(cfg(true, None)), both);
    // An instance with the default `localhost *` too.
    assert_eq!(text(cfg(false, Some("localhost *"))), both);
    assert_eq!(text(cfg(false, Some("localhost"))), "netdata.alias.system.load.load1 2.0000000 1000\n");
    assert_eq!(text(cfg(false, Some("!localhost k*"))), "netdata.kid.system.load.load1 2.0000000 1000\n");
}

/// Caps hold for the child's host, not per connection: a child that reconnects with new chart
/// and dimension ids each time cannot grow its host past them, while re-sending its known
/// definitions is always accepted.
#[test]
fn reconnections_cannot_grow_a_child_host_past_the_caps() {
    const S: u64 = 1_000_000;
    let db = db();
    let info =
        HostInfo { hostname: "c".into(), machine_guid: G1.into(), update_every: 1, ..Default::default() };
    let (host, _) = db.host_by_guid(info);
    let cfg = SessionConfig {
        max_charts: 3,
        max_dimensions: 4,
        whole_host: true,
        ..SessionConfig::new("stream/c", 1)
    };
    for round in 0..5u64 {
        let mut s = Session::new(cfg.clone(), host.clone());
        // The known chart again, then a new one with two dimensions each round.
        for line in [
            "CHART a.known '' t u".to_string(),
            "DIMENSION k".to_string(),
            format!("CHART a.new{round} '' t u"),
            format!("DIMENSION x{round}"),
            format!("DIMENSION y{round}"),
        ] {
            s.feed(line.as_bytes(), (1000 + round) * S);
        }
    }
    assert_eq!(host.chart_count(), 3, "charts: the known one and two new ones");
    let dims: usize = host.charts().iter().map(|c| c.dimension_count()).sum();
    assert_eq!(dims, 4, "k, x0, y0, x1; y1 and later refused");
    assert_eq!(host.chart("a.known").unwrap().dimension_count(), 1);
}

/// What netdata 1.37 offers with its default settings, compression included.
fn request_compressed(hostname: &str, guid: &str) -> String {
    request(KEY, hostname, guid).replace("&ver=15352&", "&ver=16376&")
}

/// `messages`, each one lz4 frame, as a netdata child sends them.
fn frames(encoder: &mut Encoder, messages: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        encoder.frame(m.as_bytes(), &mut out);
    }
    out
}

#[test]
fn a_child_offering_compression_gets_it_and_its_frames_reach_its_host() {
    let p = Parent::start(config(10));
    let (mut s, reply) = handshake(p.addr(), &request_compressed("lz4child", G1));
    assert_eq!(reply, b"Hit me baby, push them over with the version=5824");
    let mut enc = Encoder::new();
    let mut wire = frames(&mut enc, &[DEFINITIONS, "LABEL \"room\" = 1 \"a\"\nOVERWRITE labels\n"]);
    for i in 0..50 {
        let data =
            format!("BEGIN \"system.load\" 0\nSET \"load1\" = {}\nSET \"load5\" = 980\nEND\n", 1000 + i);
        wire.extend(frames(&mut enc, &[&data]));
    }
    // Frames split at odd places over many writes, as TCP may deliver them.
    for chunk in wire.chunks(13) {
        s.write_all(chunk).unwrap();
    }
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 0)) == Some(1049)));
    let host = p.child_host(G1).unwrap();
    assert_eq!(last_collected(&host, "system.load", 1), Some(980));
    assert_eq!(host.stream_capabilities(), "VCAPS|HLABELS|CLABELS|COMPRESSION|REPLICATION");
    drop(s);
    assert!(wait_for(5, || p.handle().connected() == 0));
}

#[test]
fn a_broken_compressed_stream_closes_the_connection_and_keeps_what_arrived() {
    let p = Parent::start(config(10));
    let (mut s, reply) = handshake(p.addr(), &request_compressed("broken", G1));
    assert_eq!(reply, b"Hit me baby, push them over with the version=5824");
    let mut enc = Encoder::new();
    s.write_all(&frames(&mut enc, &[DEFINITIONS, "BEGIN \"system.load\" 0\nSET \"load1\" = 7\nEND\n"]))
        .unwrap();
    // Plain text where a frame header is due.
    s.write_all(b"BEGIN \"system.load\" 0\nSET \"load1\" = 8\nEND\n").unwrap();
    assert!(closed_within(&mut s, 5), "the parent closes a broken stream");
    assert!(wait_for(5, || p.handle().connected() == 0));
    let host = p.child_host(G1).unwrap();
    assert_eq!(last_collected(&host, "system.load", 0), Some(7));

    // A frame whose block needs history the stream never had.
    let (mut s, _) = handshake(p.addr(), &request_compressed("broken", G1));
    let mut other = Encoder::new();
    frames(&mut other, &[DEFINITIONS]);
    let needs_history = frames(&mut other, &[DEFINITIONS]);
    s.write_all(&needs_history).unwrap();
    assert!(closed_within(&mut s, 5));
}

#[test]
fn with_compression_off_here_a_child_streams_plain_text() {
    let mut cfg = config(10);
    cfg.compression = false;
    let p = Parent::start(cfg);
    let (mut s, reply) = handshake(p.addr(), &request_compressed("plain", G1));
    assert_eq!(reply, ACCEPTED);
    s.write_all(DEFINITIONS.as_bytes()).unwrap();
    s.write_all(b"BEGIN \"system.load\" 0\nSET \"load1\" = 3\nEND\n").unwrap();
    assert!(wait_for(5, || p.child_host(G1).and_then(|h| last_collected(&h, "system.load", 0)) == Some(3)));
    assert_eq!(p.child_host(G1).unwrap().stream_capabilities(), "VCAPS|HLABELS|CLABELS|REPLICATION");

    // The same from `enable compression = no` in the API key's section alone.
    let mut cfg = config(10);
    let key = StreamKey {
        uuid: KEY.into(),
        key_type: StreamKeyType::Api,
        enabled: true,
        allow_from: "*".into(),
        enable_compression: false,
        replication: Default::default(),
        file: "stream.conf".into(),
        line: 1,
    };
    let stream = Stream { keys: vec![key], ..Stream::default() };
    cfg.access = Access::new(&stream, "", &["parent".to_string()]);
    let p = Parent::start(cfg);
    let (_s, reply) = handshake(p.addr(), &request_compressed("plain", G1));
    assert_eq!(reply, ACCEPTED);
}

#[test]
fn an_old_child_gets_the_prompt_it_knows() {
    let p = Parent::start(config(10));
    let v1 = request(KEY, "old", G1).replace("&ver=15352&", "&").replace("&NETDATA_PROTOCOL_VERSION=1.1", "");
    let (_s, reply) = handshake(p.addr(), &v1);
    assert_eq!(reply, b"Hit me baby, push them over...");
    let v5 = request(KEY, "older", G2).replace("&ver=15352&", "&ver=5&");
    let (_s2, reply) = handshake(p.addr(), &v5);
    assert_eq!(reply, b"Hit me baby, push them over and bring the host labels...");
    assert!(wait_for(5, || p.child_host(G2).map(|h| h.stream_capabilities()) == Some("V2|HLABELS".into())));
}
