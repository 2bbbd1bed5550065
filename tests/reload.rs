//! SIGHUP: the running agent reads its configuration again and follows it where no restart is
//! needed (exporters, their filters and destinations, plugins), without losing or repeating a
//! window; an invalid configuration changes nothing.

pub mod support;

use std::collections::BTreeSet;

use support::agent::{Rrdpipe, Sink, CONSTANT_PLUGIN};
use support::{deadline_in, wait_until};

const OTHER_PLUGIN: &str = "#!/bin/sh
echo \"CHART test.other '' 'Other values' 'units' '' '' line 1000 $1\"
echo \"DIMENSION c '' absolute 1 1\"
while true; do
    printf 'BEGIN test.other\\nSET c = 3\\nEND\\n'
    sleep 1
done
";

fn conf(plugins: &str, exporters: &str) -> String {
    format!(
        "[global]\n    hostname = testhost\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n\
         [plugins]\n    proc = no\n{plugins}\
         [exporting:global]\n    enabled = yes\n{exporters}"
    )
}

fn graphite(name: &str, sink: &Sink, extra: &str) -> String {
    format!("[graphite:{name}]\n    destination = tcp:{}\n    update every = 1\n{extra}", sink.addr)
}

/// The timestamps of `metric`'s lines at `sink`.
fn timestamps(sink: &Sink, metric: &str) -> Vec<i64> {
    sink.lines()
        .iter()
        .filter_map(|l| {
            let mut w = l.split(' ');
            (w.next() == Some(metric)).then(|| w.nth(1).unwrap().parse().unwrap())
        })
        .collect()
}

/// Whether a process whose command line contains `needle` runs.
fn process_running(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(needle))
            .unwrap_or(false)
    })
}

#[test]
fn sighup_moves_an_exporter_starts_one_and_swaps_plugins_without_a_gap() {
    let (a, b, kept, added) = (Sink::start(b""), Sink::start(b""), Sink::start(b""), Sink::start(b""));
    let metric = "netdata.testhost.test.values.a";
    let before = conf(
        "    other = no\n",
        &(graphite("out", &a, "    send charts matching = test.values\n") + &graphite("keep", &kept, "")),
    );
    let mut agent = Rrdpipe::start(&before, &[("values", CONSTANT_PLUGIN), ("other", OTHER_PLUGIN)]);
    assert!(wait_until(deadline_in(30), || timestamps(&a, metric).len() >= 3), "{}", agent.log());
    assert!(!process_running(&format!("{}/plugins/other.plugin", agent.dir().display())));

    // `out` moves to B and also sends test.other; `added` is new; `keep` is unchanged; the
    // plugin `values` stops and `other` starts.
    let after = conf(
        "    values = no\n    other = yes\n",
        &(graphite("out", &b, "    send charts matching = test.*\n")
            + &graphite("keep", &kept, "")
            + &graphite("added", &added, "")),
    );
    agent.write_config(&after);
    agent.signal(libc::SIGHUP);
    agent.wait_log("configuration reloaded", 30);
    let log = agent.log();
    assert!(log.contains("reload: restarted exporters with their new settings exporters=[\"out\"]"), "{log}");
    assert!(log.contains("reload: started exporters exporters=[\"added\"]"), "{log}");
    assert!(log.contains("reload: stopped plugins plugins=[\"values\"]"), "{log}");
    assert!(log.contains("reload: started plugins plugins=[\"other\"]"), "{log}");
    assert!(!log.contains("\"keep\""), "{log}");
    assert!(!process_running(&format!("{}/plugins/values.plugin", agent.dir().display())));

    assert!(
        wait_until(deadline_in(30), || {
            timestamps(&b, "netdata.testhost.test.other.c").len() >= 3
                && !timestamps(&added, "netdata.testhost.test.other.c").is_empty()
        }),
        "{}",
        agent.log()
    );
    // `values` stopped: its last slots reach B, then nothing more comes. Every second it
    // collected went out exactly once, to A before the reload and to B after it.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (ta, tb) = (timestamps(&a, metric), timestamps(&b, metric));
    let all: Vec<i64> = ta.iter().chain(&tb).copied().collect();
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a second sent twice: A {ta:?} B {tb:?}");
    let (first, last) = (*unique.first().unwrap(), *unique.last().unwrap());
    assert_eq!(unique.len() as i64, last - first + 1, "a gap: A {ta:?} B {tb:?}");
    assert!(ta.iter().max() < tb.iter().min(), "A {ta:?} B {tb:?}");
    // The unchanged instance ran through the reload without a gap or a repeat.
    let tk = timestamps(&kept, metric);
    assert!(tk.windows(2).all(|w| w[1] == w[0] + 1), "{tk:?}");
    assert!(tk.contains(&last), "{tk:?}");
    assert!(agent.is_running());
}

#[test]
fn sighup_with_an_invalid_configuration_keeps_the_running_one() {
    let sink = Sink::start(b"");
    let metric = "netdata.testhost.test.values.a";
    let good = conf("", &graphite("out", &sink, ""));
    let mut agent = Rrdpipe::start(&good, &[("values", CONSTANT_PLUGIN)]);
    assert!(wait_until(deadline_in(30), || timestamps(&sink, metric).len() >= 2), "{}", agent.log());
    agent.write_config(&good.replace("    history = 600\n", "    history = 600\n    update every = soon\n"));
    agent.signal(libc::SIGHUP);
    agent.wait_log("configuration not reloaded", 30);
    let log = agent.log();
    assert!(
        log.contains("rrdpipe.conf:5: update every = \"soon\": expected a whole number of seconds ≥ 1"),
        "{log}"
    );
    assert!(!log.contains("configuration reloaded"), "{log}");
    let n = timestamps(&sink, metric).len();
    assert!(wait_until(deadline_in(20), || timestamps(&sink, metric).len() >= n + 3), "{}", agent.log());
    assert!(agent.is_running());
    let ts = timestamps(&sink, metric);
    assert!(ts.windows(2).all(|w| w[1] == w[0] + 1), "{ts:?}");
}

/// `[prometheus:exporter]` in exporting.conf, changed and reloaded: the API's next answer
/// follows it.
#[test]
fn sighup_applies_a_changed_prometheus_exporter_section_to_the_next_scrape() {
    let port = support::free_port();
    let conf = format!(
        "[global]\n    hostname = testhost\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n[plugins]\n    proc = no\n\
         [web]\n    bind to = 127.0.0.1:{port}\n"
    );
    let agent = Rrdpipe::start_with_files(
        &conf,
        &[("values", CONSTANT_PLUGIN)],
        &[("exporting.conf", "[prometheus:exporter]\n    prefix = before\n")],
    );
    let up = support::wait_for_tcp(
        support::local(port),
        std::time::Instant::now() + std::time::Duration::from_secs(20),
    );
    assert!(up, "the API does not listen; log:\n{}", agent.log());
    let scrape = || {
        let r = support::http_get(support::local(port), "/api/v1/allmetrics?format=prometheus&server=x");
        String::from_utf8_lossy(&r.body).to_string()
    };
    assert!(wait_until(deadline_in(30), || scrape().contains("\nbefore_test_values_")), "{}", agent.log());
    std::fs::write(agent.dir().join("exporting.conf"), "[prometheus:exporter]\n    prefix = after\n")
        .unwrap();
    agent.signal(libc::SIGHUP);
    agent.wait_log("configuration reloaded", 30);
    let body = scrape();
    assert!(body.contains("\nafter_test_values_") && !body.contains("before_"), "{body}");
}
