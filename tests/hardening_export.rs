//! The export side under attack, end to end: the rrdpipe binary (release), started on a config
//! in a temp dir, with what an attacker could plant or send; each test reproduces one attack and
//! asserts the exact bytes that show it failed.

mod support;

use support::agent::{Rrdpipe, Sink, CONSTANT_PLUGIN};
use support::{deadline_in, wait_until};

fn conf(hostname: &str, exporters: &str) -> String {
    format!(
        "[global]\n    hostname = {hostname}\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n\
         [plugins]\n    proc = no\n\
         {exporters}"
    )
}

// ---------------------------------------------------------------------------
// Hostnames

/// A hostname with dots was several graphite path levels: a host named `evil.system.load` sent
/// `netdata.evil.system.load.test.values.a`, a path another host's charts could own. Now its
/// dots become `_`: the hostname is one level. OpenTSDB's host tag keeps them.
#[test]
fn a_hostname_with_dots_is_one_graphite_path_level() {
    let graphite = Sink::start(b"");
    let opentsdb = Sink::start(b"");
    let agent = Rrdpipe::start(
        &conf(
            "evil.system.load",
            &format!(
                "[graphite:g]\n    enabled = yes\n    destination = {}\n    update every = 1\n    \
                 data source = as collected\n\
                 [opentsdb:o]\n    enabled = yes\n    destination = {}\n    update every = 1\n    \
                 data source = as collected\n",
                graphite.addr, opentsdb.addr
            ),
        ),
        &[("values", CONSTANT_PLUGIN)],
    );
    let has = |sink: &Sink, needle: &str| sink.lines().iter().any(|l| l.contains(needle));
    assert!(
        wait_until(deadline_in(30), || has(&graphite, "test.values.b ") && has(&opentsdb, "test.values.b ")),
        "log:\n{}",
        agent.log()
    );
    let lines: Vec<String> = graphite.lines().into_iter().filter(|l| l.contains("test.values")).collect();
    for l in &lines {
        let (path, rest) = l.split_once(' ').unwrap();
        assert!(
            path == "netdata.evil_system_load.test.values.a"
                || path == "netdata.evil_system_load.test.values.b",
            "{l}"
        );
        let value = rest.split(' ').next().unwrap();
        assert_eq!(value, if path.ends_with(".a") { "425" } else { "7" }, "{l}");
    }
    let tsdb: Vec<String> = opentsdb.lines().into_iter().filter(|l| l.contains("test.values")).collect();
    assert!(!tsdb.is_empty());
    for l in &tsdb {
        assert!(l.starts_with("put netdata.test.values."), "{l}");
        assert!(l.ends_with(" host=evil.system.load"), "{l}");
    }
}
