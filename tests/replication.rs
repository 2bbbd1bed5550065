//! Replication with a real netdata 1.37 child: the child keeps its data in dbengine, so after
//! rrdpipe was stopped, or the connection cut, for 30 s it replays the slots rrdpipe is missing,
//! and the exported series has every second exactly once, with the values the child collected.
//!
//! The child runs one plugin of the test's own, `clock`, that collects the current second
//! (modulo 100 000) half-way through every second: the value the child stores in slot `t` is
//! `t % 100000`, so each exported point says by itself whether it is right. rrdpipe exports as
//! graphite, every second, to a TCP sink that keeps every line it received, so a point sent
//! twice shows up twice.

pub mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::agent::{Rrdpipe, Sink};
use support::fault::{FaultProxy, Mode};
use support::netdata::{Netdata, Setup};
use support::wait::{deadline_in, now_secs, wait_until};
use support::*;

const KEY: &str = "5eed0042-2222-3333-4444-555555555555";
const METRIC: &str = "netdata.CHILD.test.clock.now";

/// The child's plugin: the current second modulo 100 000, collected at x.5 s.
const CLOCK_PLUGIN: &str = r#"#!/bin/bash
echo "CHART test.clock '' 'The clock' 's' 'test' 'test.clock' line 1 1"
echo "DIMENSION now '' absolute 1 1"
while :; do
    n=$(date +%s%N)
    ns=$((10#${n: -9}))
    if (( ns < 500000000 )); then w=$((500000000 - ns)); else w=$((1500000000 - ns)); fi
    sleep "$(printf '%d.%09d' $((w / 1000000000)) $((w % 1000000000)))"
    s=$(date +%s)
    printf 'BEGIN test.clock\nSET now = %d\nEND\n' $((s % 100000))
done
"#;

/// rrdpipe as a parent on a free port, exporting every host every second as graphite to `sink`;
/// `db` is the text of its `[db]` section.
fn parent(port: u16, sink: &Sink, db: &str) -> Rrdpipe {
    parent_with_key(port, sink, db, "")
}

/// [`parent`], with `key` added to the API key's section of its `stream.conf`.
fn parent_with_key(port: u16, sink: &Sink, db: &str, key: &str) -> Rrdpipe {
    let conf = format!(
        "[global]\nhostname = PARENT\n[db]\n{db}\n[plugins]\nproc = no\nenable running new plugins = no\n\
         [web]\nbind to = 127.0.0.1:{port}\n\
         [exporting:global]\nenabled = yes\n\
         [graphite:sink]\nenabled = yes\ndestination = {}\nupdate every = 1\n",
        sink.addr
    );
    let stream = format!("[{KEY}]\n    type = api\n    enabled = yes\n{key}");
    Rrdpipe::start_with_files(&conf, &[], &[("stream.conf", &stream)])
}

/// The child, keeping its data in dbengine and streaming to `parent`.
fn child(parent: std::net::SocketAddr) -> Option<Netdata> {
    Netdata::start(Setup {
        hostname: "CHILD".to_string(),
        db_mode: Some("dbengine".to_string()),
        own_plugins: vec![("clock".to_string(), CLOCK_PLUGIN.to_string())],
        stream_conf: Some(format!(
            "[stream]\n    enabled = yes\n    destination = tcp:{parent}\n    api key = {KEY}\n    \
             timeout seconds = 60\n    enable compression = no\n    reconnect delay seconds = 1\n"
        )),
        ..Setup::default()
    })
}

/// Every point of the clock chart the sink received: timestamp → values (one each, if right).
fn points(sink: &Sink) -> BTreeMap<i64, Vec<f64>> {
    let mut out: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for line in sink.lines() {
        // The path, its tags (the child's host labels, `;name=value`), the value, the timestamp.
        let mut words = line.split(' ');
        let (Some(path), Some(v), Some(t)) = (words.next(), words.next(), words.next()) else { continue };
        if path.split(';').next() != Some(METRIC) {
            continue;
        }
        out.entry(t.parse().unwrap()).or_default().push(v.parse().unwrap());
    }
    out
}

/// The newest timestamp the sink received a point for.
fn newest(sink: &Sink) -> i64 {
    points(sink).keys().next_back().copied().unwrap_or(0)
}

/// Wait until the sink has points up to `t`; panics after `secs`.
fn wait_for_point(sink: &Sink, t: i64, secs: u64) {
    assert!(
        wait_until(deadline_in(secs), || newest(sink) >= t),
        "no point up to {t} within {secs} s; newest {}; first lines received: {:?}",
        newest(sink),
        sink.lines().iter().take(3).collect::<Vec<_>>()
    );
}

/// Every second from the first point to the last has exactly one point, whose value is the
/// second (modulo 100 000), and the points cover `gap` (the time rrdpipe had no connection).
/// The child's first seconds are left out of the values: it interpolates its first collections
/// while the plugin's timing settles, and stores (and replays) those values, not the second.
fn assert_every_second_once(sink: &Sink, gap: (i64, i64)) {
    let p = points(sink);
    let (first, last) = (*p.keys().next().unwrap(), *p.keys().next_back().unwrap());
    let once: Vec<i64> = p.iter().filter(|(_, v)| v.len() != 1).map(|(t, _)| *t).collect();
    assert!(once.is_empty(), "seconds with more than one point: {once:?}");
    let first = first + 5;
    assert!(first < gap.0 && last > gap.1, "points {first}..{last} do not cover the gap {gap:?}");
    let mut wrong = Vec::new();
    for t in first..=last {
        let want = vec![(t % 100_000) as f64];
        if p.get(&t) != Some(&want) {
            wrong.push((t, p.get(&t).cloned()));
        }
    }
    assert!(wrong.is_empty(), "seconds {first}..{last}: missing, repeated or wrong: {wrong:?}");
}

#[test]
fn a_restart_of_rrdpipe_leaves_no_gap_and_repeats_nothing() {
    let sink = Sink::start(b"");
    let port = free_port();
    let mut rrdpipe = parent(port, &sink, "");
    let Some(_child) = child(local(port)) else { return };
    let started = now_secs();
    wait_for_point(&sink, started + 10, 40);
    let status = rrdpipe.terminate();
    assert!(status.success(), "rrdpipe stopped with {status:?}");
    let stopped = now_secs();
    std::thread::sleep(Duration::from_secs(30));
    rrdpipe.restart();
    let restarted = now_secs();
    // The child replays the 30 s, then streams on: 15 s of it are exported.
    wait_for_point(&sink, restarted + 15, 60);
    rrdpipe.wait_log("replication", 5);
    assert_every_second_once(&sink, (stopped, restarted));
}

/// rrdpipe killed with SIGKILL mid-stream (no stop, no last write): where export got to was
/// written before each second's points were handed out, so after the restart the child's replay
/// sends none of them again.
#[test]
fn a_kill_of_rrdpipe_repeats_nothing() {
    let sink = Sink::start(b"");
    let port = free_port();
    let mut rrdpipe = parent(port, &sink, "");
    let Some(_child) = child(local(port)) else { return };
    let started = now_secs();
    wait_for_point(&sink, started + 10, 40);
    // Half-way through a second: the second's wake-up has just handed out its points.
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_millis();
    std::thread::sleep(Duration::from_millis(1_500 - u64::from(ms)));
    rrdpipe.kill();
    let killed = now_secs();
    std::thread::sleep(Duration::from_secs(15));
    rrdpipe.restart();
    let restarted = now_secs();
    wait_for_point(&sink, restarted + 15, 60);
    assert_every_second_once(&sink, (killed, restarted));
}

#[test]
fn a_connection_cut_for_30_s_leaves_no_gap_and_repeats_nothing() {
    let sink = Sink::start(b"");
    let port = free_port();
    let _rrdpipe = parent(port, &sink, "");
    let proxy = FaultProxy::start(local(port), false);
    let Some(_child) = child(proxy.addr()) else { return };
    let started = now_secs();
    wait_for_point(&sink, started + 10, 40);
    proxy.reset_to(Mode::Refuse);
    let cut = now_secs();
    std::thread::sleep(Duration::from_secs(30));
    proxy.set_mode(Mode::Pass);
    let back = now_secs();
    wait_for_point(&sink, back + 15, 60);
    assert_every_second_once(&sink, (cut, back));
}

/// The same cut with replication turned off: the child is answered the plain protocol and the
/// time it was away stays empty (so the checks above do see a gap when there is one), and
/// nothing is sent twice.
#[test]
fn without_replication_a_cut_leaves_its_gap() {
    let sink = Sink::start(b"");
    let port = free_port();
    let _rrdpipe = parent(port, &sink, "enable replication = no");
    let proxy = FaultProxy::start(local(port), false);
    let Some(_child) = child(proxy.addr()) else { return };
    let started = now_secs();
    wait_for_point(&sink, started + 5, 40);
    proxy.reset_to(Mode::Refuse);
    let cut = now_secs();
    std::thread::sleep(Duration::from_secs(20));
    proxy.set_mode(Mode::Pass);
    let back = now_secs();
    wait_for_point(&sink, back + 10, 60);
    let p = points(&sink);
    let missing: Vec<i64> = (cut + 2..back - 2).filter(|t| !p.contains_key(t)).collect();
    assert_eq!(missing, (cut + 2..back - 2).collect::<Vec<_>>(), "the gap stays empty");
    let first = *p.keys().next().unwrap() + 5;
    assert!(p.range(first..).all(|(t, v)| v == &vec![(t % 100_000) as f64]), "{p:?}");
}

/// `enable replication = no` in the API key's section of `stream.conf` (netdata 1.37 reads it
/// there too): the child, which offers replication, is answered without it, while `[db]`
/// enables it.
#[test]
fn replication_keys_are_read_from_the_api_keys_section() {
    let sink = Sink::start(b"");
    let port = free_port();
    let rrdpipe = parent_with_key(port, &sink, "enable replication = yes", "    enable replication = no\n");
    let Some(_child) = child(local(port)) else { return };
    rrdpipe.wait_log("child{host=CHILD peer=127.0.0.1:", 40);
    rrdpipe.wait_log("connected: new host", 10);
    let log = rrdpipe.log();
    let line = log.lines().find(|l| l.contains("connected: new host")).unwrap();
    assert!(line.ends_with("capabilities=VCAPS|HLABELS|CLABELS"), "{line}");
}
