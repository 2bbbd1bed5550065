//! Parent mode with real netdata 1.37 children: each child runs in its own temp dir with only
//! the proc plugin and streams to the rrdpipe binary, which exports every host as graphite to a
//! real VictoriaMetrics.
//!
//! Every netdata started here runs in its own process group and is stopped by a drop guard
//! (SIGTERM to the group, then SIGKILL), also when a test panics.

mod support;

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;
use tempfile::TempDir;

const KEY: &str = "5eed0001-2222-3333-4444-555555555555";

// ---------------------------------------------------------------- a real netdata child

/// A netdata agent streaming to a parent; stopped (group-wide) when dropped.
struct NetdataChild {
    bin: PathBuf,
    dir: TempDir,
    child: Option<Child>,
}

impl NetdataChild {
    /// Start netdata as `hostname`, streaming with `key` to `parent`, offering compression or
    /// not. `None` (after SKIPPED) outside CI when netdata is not installed.
    fn start_with(hostname: &str, parent: SocketAddr, key: &str, compression: bool) -> Option<NetdataChild> {
        let bin = require("netdata")?;
        let dir = tempfile::Builder::new().prefix("netdata-child-").tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["etc", "log", "cache", "lib", "run"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let p = |s: &str| d.join(s).display().to_string();
        let plugins_off = [
            "diskspace",
            "cgroups",
            "tc",
            "idlejitter",
            "checks",
            "apps",
            "charts.d",
            "python.d",
            "go.d",
            "node.d",
            "fping",
            "ioping",
            "perf",
            "slabinfo",
            "ebpf",
            "nfacct",
            "freeipmi",
            "statsd",
            "timex",
            "netdata monitoring",
        ]
        .map(|name| format!("    {name} = no\n"))
        .concat();
        let conf = format!(
            "[global]\n    run as user = root\n    hostname = {hostname}\n    update every = 1\n\
             [db]\n    mode = ram\n\
             [directories]\n    config = {etc}\n    stock config = /usr/lib/netdata/conf.d\n    log = {log}\n    \
             cache = {cache}\n    lib = {lib}\n    home = {lib}\n    lock = {lib}/lock\n    registry = {lib}/registry\n\
             [web]\n    mode = none\n[registry]\n    enabled = no\n[health]\n    enabled = no\n[ml]\n    enabled = no\n\
             [plugins]\n    proc = yes\n    enable running new plugins = no\n{plugins_off}",
            etc = p("etc"),
            log = p("log"),
            cache = p("cache"),
            lib = p("lib"),
        );
        std::fs::write(d.join("etc/netdata.conf"), conf).unwrap();
        std::fs::write(
            d.join("etc/stream.conf"),
            format!(
                "[stream]\n    enabled = yes\n    destination = tcp:{parent}\n    api key = {key}\n    \
                 timeout seconds = 60\n    enable compression = {}\n    reconnect delay seconds = 1\n",
                if compression { "yes" } else { "no" }
            ),
        )
        .unwrap();
        std::fs::write(d.join("etc/.opt-out-from-anonymous-statistics"), "").unwrap();
        let mut c = NetdataChild { bin, dir, child: None };
        c.spawn();
        Some(c)
    }

    /// [`start_with`](Self::start_with) without compression.
    fn start(hostname: &str, parent: SocketAddr, key: &str) -> Option<NetdataChild> {
        NetdataChild::start_with(hostname, parent, key, false)
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let out = File::options().create(true).append(true).open(d.join("netdata.out")).unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-D")
            .arg("-c")
            .arg(d.join("etc/netdata.conf"))
            .arg("-P")
            .arg(d.join("run/netdata.pid"))
            .env("DO_NOT_TRACK", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display())));
    }

    /// SIGTERM to the whole group, up to 10 s for netdata to exit, then SIGKILL.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = child.id() as i32;
        // SAFETY: signals to a process group we created.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; whatever is left of the group goes.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }

    /// netdata's own error.log.
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/error.log")).unwrap_or_default()
    }
}

impl Drop for NetdataChild {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.error_log();
            let tail: Vec<&str> = log.lines().filter(|l| l.contains("STREAM")).collect();
            eprintln!(
                "--- netdata child stream log ---\n{}\n---",
                tail[tail.len().saturating_sub(20)..].join("\n")
            );
        }
    }
}

// ---------------------------------------------------------------- the rrdpipe parent

/// The rrdpipe binary as a parent; killed when dropped.
struct Parent {
    child: Child,
    dir: TempDir,
    addr: SocketAddr,
}

impl Parent {
    /// Start rrdpipe accepting `key`, exporting every host every second as graphite to `vm`
    /// (when given).
    fn start(key: &str, vm: Option<&VictoriaMetrics>) -> Parent {
        let dir = tempfile::Builder::new().prefix("rrdpipe-parent-").tempdir().unwrap();
        let addr = local(free_port());
        let backend = match vm {
            Some(vm) => format!(
                "[backend]\nenabled = yes\ntype = graphite\ndestination = {}\nupdate every = 1\n",
                vm.graphite_addr()
            ),
            None => String::new(),
        };
        std::fs::write(
            dir.path().join("rrdpipe.conf"),
            format!(
                "[global]\nhostname = PARENT\n[plugins]\nproc = no\nenable running new plugins = no\n\
                 [web]\nbind to = {addr}\n{backend}"
            ),
        )
        .unwrap();
        // The API key lives in stream.conf beside the main file, as on a netdata parent.
        std::fs::write(
            dir.path().join("stream.conf"),
            format!("[{key}]\n    type = api\n    enabled = yes\n"),
        )
        .unwrap();
        let log = File::create(dir.path().join("rrdpipe.log")).unwrap();
        let child = Command::new(rrdpipe_bin())
            .arg("-c")
            .arg(dir.path().join("rrdpipe.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .spawn()
            .expect("start rrdpipe");
        let p = Parent { child, dir, addr };
        assert!(wait_for_tcp(addr, deadline_in(10)), "rrdpipe does not listen on {addr}:\n{}", p.log());
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rrdpipe.log")).unwrap_or_default()
    }

    /// Lines of the log containing every one of `parts`.
    fn log_lines(&self, parts: &[&str]) -> Vec<String> {
        self.log().lines().filter(|l| parts.iter().all(|p| l.contains(p))).map(str::to_string).collect()
    }

    fn wait_log(&self, secs: u64, parts: &[&str], count: usize) -> Vec<String> {
        let ok = wait_until(deadline_in(secs), || self.log_lines(parts).len() >= count);
        assert!(ok, "wanted {count} log lines with {parts:?} within {secs} s; log:\n{}", self.log());
        self.log_lines(parts)
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        // SAFETY: a pid we started and still own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- rrdpipe log ---\n{}\n---", self.log());
        }
    }
}

/// The 1-minute load average of this machine, as the kernel reports it.
fn loadavg1() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn points_after(series: &[Series], t_ms: i64) -> usize {
    series.iter().map(|s| s.timestamps.iter().filter(|&&t| t > t_ms).count()).sum()
}

// ---------------------------------------------------------------- tests

#[test]
fn real_children_reach_victoriametrics_under_their_own_hostnames() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    if require("netdata").is_none() {
        return;
    }
    let parent = Parent::start(KEY, Some(&vm));
    let mut load_seen = (loadavg1(), loadavg1());
    let Some(_a) = NetdataChild::start("CHILDA", parent.addr, KEY) else { return };
    // A stock child offers compression (and more); it is answered at version 1 and falls back.
    let Some(b) = NetdataChild::start_with("CHILDB", parent.addr, KEY, true) else { return };
    for name in ["CHILDA", "CHILDB"] {
        parent.wait_log(30, &["stream: child '", name, "' connected from 127.0.0.1:", "new host"], 1);
    }

    assert!(
        wait_until(deadline_in(10), || b.error_log().contains("negotiated capabilities: V1 ")),
        "CHILDB log:\n{}",
        b.error_log()
    );

    // system.cpu: every dimension, the hidden idle included, of the child's own host; the
    // percentages of one moment add up to 100.
    let cpu = vm.export_wait(r#"{__name__=~"netdata\\.CHILDA\\.system\\.cpu\\..*"}"#, 50);
    let mut names: Vec<&str> = cpu.iter().map(Series::name).collect();
    names.sort_unstable();
    let expected: Vec<String> =
        ["guest", "guest_nice", "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]
            .iter()
            .map(|d| format!("netdata.CHILDA.system.cpu.{d}"))
            .collect();
    assert_eq!(names, expected);
    let mut full_rows = 0;
    for &t in &cpu[0].timestamps {
        let row: Vec<f64> =
            cpu.iter().filter_map(|s| s.points().iter().find(|p| p.0 == t).map(|p| p.1)).collect();
        if row.len() == expected.len() {
            full_rows += 1;
            let sum: f64 = row.iter().sum();
            assert!((sum - 100.0).abs() < 0.01, "system.cpu at {t} adds up to {sum}: {row:?}");
        }
    }
    assert!(full_rows >= 3, "{full_rows} complete system.cpu rows: {cpu:?}");

    // system.load (collected every 5 s): the kernel's own numbers.
    let load = vm.export_wait("netdata.CHILDB.system.load.load1", 1);
    let now = loadavg1();
    load_seen = (load_seen.0.min(now), load_seen.1.max(now));
    for (t, v) in load[0].points() {
        assert!(
            v >= load_seen.0 - 0.6 && v <= load_seen.1 + 0.6,
            "load1 {v} at {t} is far from the kernel's {load_seen:?}"
        );
    }

    // The parent charts its children; its own hostname is its own.
    let connected = vm.export_wait("netdata.PARENT.netdata.streaming_children.connected", 1);
    assert!(
        wait_until(deadline_in(20), || vm
            .export("netdata.PARENT.netdata.streaming_children.connected")
            .iter()
            .any(|s| s.values.contains(&2.0))),
        "never 2 children connected: {connected:?}"
    );
    assert!(
        vm.export(r#"{__name__=~"netdata\\.PARENT\\.system\\..*"}"#).is_empty(),
        "children's charts are theirs"
    );
    assert_eq!(vm.metric(VM_GRAPHITE_INVALID), 0.0);
}

#[test]
fn a_child_with_a_wrong_key_is_refused_and_sends_nothing() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let wrong = "5eed0002-2222-3333-4444-555555555555";
    let parent = Parent::start(KEY, Some(&vm));
    let Some(child) = NetdataChild::start("WRONGKEY", parent.addr, wrong) else { return };
    let refused = parent.wait_log(30, &["stream: refused child 'WRONGKEY'", "from 127.0.0.1:"], 1);
    assert!(
        refused[0].ends_with(&format!(
            ": API key {wrong} is not configured; add a [{wrong}] section with type = api and enabled = yes"
        )),
        "{}",
        refused[0]
    );
    // The child understood the refusal as netdata's own "not permitted" answer.
    assert!(
        wait_until(deadline_in(10), || child.error_log().contains("remote server denied access")),
        "child log:\n{}",
        child.error_log()
    );
    // Refusals are charted, and nothing of the child was stored.
    let refusals = vm.export_wait("netdata.PARENT.netdata.streaming_children.refused", 1);
    assert!(
        wait_until(deadline_in(20), || vm
            .export("netdata.PARENT.netdata.streaming_children.refused")
            .iter()
            .any(|s| s.values.iter().any(|&v| v >= 1.0))),
        "{refusals:?}"
    );
    assert!(parent.log_lines(&["stream: child 'WRONGKEY' connected"]).is_empty());
    assert!(vm.export(r#"{__name__=~"netdata\\.WRONGKEY\\..*"}"#).is_empty());
}

#[test]
fn a_restarted_child_resumes_on_the_same_host() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let parent = Parent::start(KEY, Some(&vm));
    let Some(mut child) = NetdataChild::start("PHOENIX", parent.addr, KEY) else { return };
    let first = parent.wait_log(30, &["stream: child 'PHOENIX' connected", "new host"], 1);
    let guid = first[0].split("machine guid ").nth(1).unwrap().split(',').next().unwrap().to_string();
    vm.export_wait("netdata.PHOENIX.system.cpu.user", 3);

    child.stop();
    let gone = parent.wait_log(15, &["stream: child 'PHOENIX'", "disconnected after", "the child closed"], 1);
    assert!(gone[0].contains(" 0 errors"), "{}", gone[0]);
    let restarted_ms = now_secs() * 1000;
    std::thread::sleep(Duration::from_secs(2));
    child.spawn();

    // Same machine GUID (same lib dir): the host and its charts are reused.
    let again = parent.wait_log(30, &["stream: child 'PHOENIX' connected", "known host, charts kept"], 1);
    assert!(again[0].contains(&format!("machine guid {guid},")), "{}", again[0]);
    assert!(
        wait_until(deadline_in(30), || points_after(
            &vm.export("netdata.PHOENIX.system.cpu.user"),
            restarted_ms + 2000
        ) >= 3),
        "no data after the restart: {:?}",
        vm.export("netdata.PHOENIX.system.cpu.user")
    );
    // One series, so the same exported name, and never a refusal of the returning child.
    assert_eq!(vm.export("netdata.PHOENIX.system.cpu.user").len(), 1);
    assert!(parent.log_lines(&["stream: refused"]).is_empty(), "{}", parent.log());
}

/// The replay fixture is a real capture: its request parses like a child's, and a parent that
/// is sent it stores every line without an error.
#[test]
fn the_captured_child_stream_replays_into_rrdpipe_without_errors() {
    let parent = Parent::start(KEY, None);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stream/child.txt");
    let data = std::fs::read(&fixture).unwrap();
    let end = data.windows(4).position(|w| w == b"\r\n\r\n").expect("request in the fixture") + 4;
    let request = String::from_utf8(data[..end].to_vec()).unwrap();
    let request = request
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some(("STREAM key", _)) => format!("STREAM key={KEY}"),
            Some(("hostname", _)) => "hostname=REPLAYED".to_string(),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(parent.addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = [0u8; 64];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"Hit me baby, push them over...");
    s.write_all(&data[end..]).unwrap();
    drop(s);
    let lines = data[end..].iter().filter(|&&b| b == b'\n').count();
    let done = parent.wait_log(10, &["stream: child 'REPLAYED'", "disconnected"], 1);
    assert!(
        done[0].contains(&format!("{lines} lines, ")) && done[0].contains(" 0 errors, 0 over-long lines"),
        "{}",
        done[0]
    );
}
