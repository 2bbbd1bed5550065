//! Hosts of streaming children that left are removed, after their data was exported, and their
//! memory returns: children speak the netdata 1.37 wire protocol (the handshake of a captured
//! real child, then CHART / DIMENSION / BEGIN / SET / END) into the release binary, which
//! exports every host every second as graphite lines to a counting receiver.

pub mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::agent::Rrdpipe;
use support::{deadline_in, free_port, local, wait_for_tcp, wait_until};

const KEY: &str = "5eed0009-2222-3333-4444-555555555555";
const CHARTS: usize = 20;
const DIMS_PER_CHART: usize = 1000;

/// Exported rows per host and timestamp, counted by a graphite line receiver.
type Rows = Arc<Mutex<HashMap<String, BTreeMap<i64, usize>>>>;

/// Listen on a free port and count every `netdata.HOST.… value ts` line per host and ts.
fn graphite_counter() -> (SocketAddr, Rows) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rows: Rows = Arc::default();
    let r = rows.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let r = r.clone();
            std::thread::spawn(move || {
                let mut local: HashMap<String, BTreeMap<i64, usize>> = HashMap::new();
                let mut reader = BufReader::with_capacity(1 << 20, conn);
                let mut line = String::new();
                let mut since_flush = 0;
                loop {
                    line.clear();
                    let n = reader.read_line(&mut line).unwrap_or(0);
                    if n > 0 {
                        let mut words = line.split_whitespace();
                        let (Some(path), Some(_), Some(ts)) = (words.next(), words.next(), words.next())
                        else {
                            continue;
                        };
                        let host = path.split('.').nth(1).unwrap_or("").to_string();
                        *local.entry(host).or_default().entry(ts.parse().unwrap_or(0)).or_default() += 1;
                        since_flush += 1;
                    }
                    if n == 0 || since_flush >= 10_000 || reader.buffer().is_empty() {
                        let mut all = r.lock().unwrap();
                        for (host, by_ts) in local.drain() {
                            let into = all.entry(host).or_default();
                            for (ts, count) in by_ts {
                                *into.entry(ts).or_default() += count;
                            }
                        }
                        since_flush = 0;
                    }
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    (addr, rows)
}

/// Resident memory of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The handshake a netdata 1.37 child sends, from the captured one, as `hostname` of machine
/// `guid`.
fn handshake(hostname: &str, guid: &str) -> Vec<u8> {
    let set = [
        ("STREAM key", KEY),
        ("hostname", hostname),
        ("registry_hostname", hostname),
        ("machine_guid", guid),
    ];
    support::stream::captured_child(&set).0.into_bytes()
}

/// A protocol-level netdata 1.37 child connected to `parent`.
struct Child {
    stream: TcpStream,
}

impl Child {
    fn connect(parent: SocketAddr, hostname: &str, guid: &str) -> Child {
        let mut stream = TcpStream::connect(parent).unwrap();
        stream.write_all(&handshake(hostname, guid)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let accepted = b"Hit me baby, push them over with the version=4160";
        let mut reply = [0u8; 49];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, accepted);
        Child { stream }
    }

    /// `charts` charts `test.cN` of `dims` absolute dimensions `dM` each.
    fn define(&mut self, charts: usize, dims: usize) {
        let mut out = String::new();
        for c in 0..charts {
            out.push_str(&format!(
                "CHART \"test.c{c}\" \"\" \"Chart {c}\" \"units\" \"test\" \"test.c\" \"line\" {} 1 \"   \" \"test.plugin\" \"\"\n",
                1000 + c
            ));
            for d in 0..dims {
                out.push_str(&format!("DIMENSION \"d{d}\" \"d{d}\" \"absolute\" 1 1 \"  \"\n"));
            }
        }
        self.stream.write_all(out.as_bytes()).unwrap();
    }

    /// One collection of every dimension, value 7, as the child sends it (BEGIN with 0 µs:
    /// timed by arrival).
    fn collect(&mut self, charts: usize, dims: usize) {
        let mut out = String::with_capacity(charts * dims * 16);
        for c in 0..charts {
            out.push_str(&format!("BEGIN \"test.c{c}\" 0\n"));
            for d in 0..dims {
                out.push_str(&format!("SET \"d{d}\" = 7\n"));
            }
            out.push_str("END\n");
        }
        self.stream.write_all(out.as_bytes()).unwrap();
    }
}

/// Sleep until the middle of the next wall-clock second, so that a collection lands well inside
/// its second.
fn sleep_to_half_second() {
    let now = now_f64();
    let target = now.floor() + 1.5;
    std::thread::sleep(Duration::from_secs_f64(target - now));
}

fn parent_conf(parent: SocketAddr, sink: SocketAddr, cleanup_secs: u64) -> String {
    format!(
        "[global]\nhostname = parent\nupdate every = 1\n\
         [plugins]\nproc = no\nenable running new plugins = no\n\
         [db]\ncleanup orphan hosts after secs = {cleanup_secs}\n\
         [web]\nbind to = {parent}\n\
         [{KEY}]\ntype = api\nenabled = yes\n\
         [graphite:counter]\nenabled = yes\ndestination = {sink}\nupdate every = 1\ndata source = average\n\
         send charts matching = test.c0\n"
    )
}

#[test]
fn hosts_of_children_that_left_are_removed_after_export_and_memory_returns() {
    const CHILDREN: usize = 10;
    const COLLECTIONS: usize = 6;
    let (sink, rows) = graphite_counter();
    let parent = local(free_port());
    let agent = Rrdpipe::start(&parent_conf(parent, sink, 5), &[]);
    assert!(wait_for_tcp(parent, deadline_in(10)), "rrdpipe does not listen:\n{}", agent.log());
    std::thread::sleep(Duration::from_secs(2));
    let rss_start = rss_kib(agent.pid());

    // Children with fresh machine GUIDs and 20 000 dimensions each, collecting every second.
    let children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            std::thread::spawn(move || {
                let guid = format!("0ddba11e-0000-4000-8000-{:012}", now_f64() as u64 * 10 + i as u64);
                let mut child = Child::connect(parent, &format!("orphan{i}"), &guid);
                child.define(CHARTS, DIMS_PER_CHART);
                // Let the parent read the definitions first: collections are timed by arrival.
                std::thread::sleep(Duration::from_secs(3));
                let mut last_sent = 0.0;
                for _ in 0..COLLECTIONS {
                    sleep_to_half_second();
                    last_sent = now_f64();
                    child.collect(CHARTS, DIMS_PER_CHART);
                }
                // The child leaves.
                drop(child);
                last_sent
            })
        })
        .collect();
    let last_sent: Vec<f64> = children.into_iter().map(|c| c.join().unwrap()).collect();
    let rss_full = rss_kib(agent.pid());
    assert!(
        rss_full > rss_start + 20 * 1024,
        "the children's hosts should take memory: {rss_start} KiB at start, {rss_full} KiB with them"
    );

    // Each host goes once it has been an orphan for 5 s and its data was exported.
    let removed = |a: &Rrdpipe| a.log().lines().filter(|l| l.contains("rrd: removed host 'orphan")).count();
    assert!(
        wait_until(deadline_in(40), || removed(&agent) == CHILDREN),
        "the hosts of the children that left were not removed:\n{}",
        agent.log()
    );
    for line in agent.log().lines().filter(|l| l.contains("rrd: removed host")) {
        assert!(line.contains("20 charts and 20000 dimensions freed"), "{line}");
    }

    // Nothing was lost: every second each child sent is exported, for every dimension of the
    // chart exported (one of 20, so that the exporter's own buffers stay small next to the store).
    std::thread::sleep(Duration::from_secs(2));
    let rows = rows.lock().unwrap().clone();
    for (i, sent) in last_sent.iter().enumerate() {
        let host = format!("orphan{i}");
        let by_ts = rows.get(&host).unwrap_or_else(|| panic!("no rows of {host}: {:?}", rows.keys()));
        let (first, last) = (*by_ts.keys().next().unwrap(), *by_ts.keys().last().unwrap());
        assert!(last >= sent.floor() as i64, "{host}: last exported second {last}, last sent at {sent}");
        assert_eq!(by_ts.len() as i64, last - first + 1, "{host}: a second is missing: {by_ts:?}");
        // The first collection only primes; on a loaded machine two may arrive in one second.
        assert!(by_ts.len() >= COLLECTIONS - 3, "{host}: only {} seconds exported", by_ts.len());
        assert!(by_ts.values().all(|&n| n == DIMS_PER_CHART), "{host}: rows per second {by_ts:?}");
    }

    // Memory returns to within 16 MiB of the start.
    let mut rss_end = 0;
    let fell = wait_until(deadline_in(15), || {
        rss_end = rss_kib(agent.pid());
        rss_end <= rss_start + 16 * 1024
    });
    assert!(
        fell,
        "memory did not return: {rss_start} KiB at start, {rss_full} KiB with the children, {rss_end} KiB \
         after their hosts were removed"
    );
    eprintln!("RSS: start {rss_start} KiB, with children {rss_full} KiB, after removal {rss_end} KiB");
}

#[test]
fn a_child_back_before_the_cleanup_time_finds_its_host_and_it_is_not_removed_while_connected() {
    let (sink, _rows) = graphite_counter();
    let parent = local(free_port());
    let agent = Rrdpipe::start(&parent_conf(parent, sink, 5), &[]);
    assert!(wait_for_tcp(parent, deadline_in(10)), "rrdpipe does not listen:\n{}", agent.log());
    let guid = format!("0ddba11e-1111-4000-8000-{:012}", now_f64() as u64);
    let session = |collections: usize| {
        let mut child = Child::connect(parent, "returning", &guid);
        child.define(2, 10);
        for _ in 0..collections {
            sleep_to_half_second();
            child.collect(2, 10);
        }
    };
    session(3);
    std::thread::sleep(Duration::from_secs(1));
    // Back within the cleanup time, and connected for longer than it.
    session(8);
    let log = agent.log();
    assert!(
        log.contains("child{host=returning ") && log.contains("}: connected: known host, charts kept"),
        "{log}"
    );
    assert!(!log.contains("rrd: removed host 'returning'"), "removed while connected:\n{log}");
    // Gone for good: removed after the cleanup time.
    assert!(
        wait_until(deadline_in(30), || agent.log().contains("rrd: removed host 'returning'")),
        "not removed after the child left:\n{}",
        agent.log()
    );
    assert!(agent.log().contains("2 charts and 20 dimensions freed"));
}
