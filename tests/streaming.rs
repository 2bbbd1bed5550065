//! Parent mode with real netdata 1.37 children: each child runs in its own temp dir with only
//! the proc plugin and streams to the rrdpipe binary, which exports every host as graphite to a
//! real VictoriaMetrics.
//!
//! Every netdata started here runs in its own process group and is stopped by a drop guard
//! (SIGTERM to the group, then SIGKILL), also when a test panics.

pub mod support;

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::agent::rrdpipe_bin;
use support::agent::Sink;
use support::netdata::{Netdata, Setup};
use support::series::Series;
use support::stream::captured_child;
use support::victoria::{VictoriaMetrics, VM_GRAPHITE_INVALID};
use support::*;
use tempfile::TempDir;

const KEY: &str = "5eed0001-2222-3333-4444-555555555555";

// ---------------------------------------------------------------- a real netdata child

/// netdata agents streaming to a parent, with only the proc plugin (see `support::netdata`).
struct NetdataChild;

impl NetdataChild {
    /// Start netdata as `hostname`, streaming with `key` to `parent`, with `setup`'s plugins and
    /// configuration, its `enable compression` set, or left to netdata's default (yes) when
    /// `None`. `None` (after SKIPPED) outside CI when netdata is not installed.
    fn start_with(setup: Setup, parent: SocketAddr, key: &str, compression: Option<bool>) -> Option<Netdata> {
        let compression = match compression {
            Some(on) => format!("    enable compression = {}\n", if on { "yes" } else { "no" }),
            None => String::new(),
        };
        Netdata::start(Setup {
            proc: true,
            stream_conf: Some(format!(
                "[stream]\n    enabled = yes\n    destination = tcp:{parent}\n    api key = {key}\n    \
                 timeout seconds = 60\n{compression}    reconnect delay seconds = 1\n"
            )),
            ..setup
        })
    }

    /// A child with only proc and netdata's default stream settings (compression on).
    fn start(hostname: &str, parent: SocketAddr, key: &str) -> Option<Netdata> {
        NetdataChild::start_with(named(hostname), parent, key, None)
    }
}

/// A netdata setup with this hostname and nothing else yet.
fn named(hostname: &str) -> Setup {
    Setup { hostname: hostname.to_string(), ..Setup::default() }
}

// ---------------------------------------------------------------- the rrdpipe parent

/// The rrdpipe binary as a parent; killed when dropped.
struct Parent {
    child: Child,
    dir: TempDir,
    addr: SocketAddr,
}

/// How to start a parent beyond its API key.
#[derive(Default)]
struct ParentOpts {
    /// `[web] bind to`, when not `127.0.0.1:PORT` (`{port}` is replaced by a free port).
    bind_to: Option<&'static str>,
    /// Extra lines of `[web]`.
    web: &'static str,
    /// Extra lines of the API key's section.
    key: &'static str,
    /// Extra sections of the main file.
    main: String,
    /// `RLIMIT_NOFILE` (soft and hard) to run with.
    nofile: Option<u64>,
}

impl Parent {
    /// Start rrdpipe accepting `key`, exporting every host every second as graphite to `vm`
    /// (when given).
    fn start(key: &str, vm: Option<&VictoriaMetrics>) -> Parent {
        let main = match vm {
            Some(vm) => format!(
                "[backend]\nenabled = yes\ntype = graphite\ndestination = {}\nupdate every = 1\n",
                vm.graphite_addr()
            ),
            None => String::new(),
        };
        Parent::start_with(key, ParentOpts { main, ..ParentOpts::default() })
    }

    /// Start rrdpipe as PARENT accepting `key`, its machine GUID kept in its temp dir.
    fn start_with(key: &str, o: ParentOpts) -> Parent {
        let dir = tempfile::Builder::new().prefix("rrdpipe-parent-").tempdir().unwrap();
        let port = free_port();
        let addr = local(port);
        let bind = o.bind_to.map_or(addr.to_string(), |b| b.replace("{port}", &port.to_string()));
        std::fs::write(
            dir.path().join("rrdpipe.conf"),
            format!(
                "[global]\nhostname = PARENT\n[directories]\nlib = {}/lib\n\
                 [plugins]\nproc = no\nenable running new plugins = no\n\
                 [web]\nbind to = {bind}\n{}\n{}",
                dir.path().display(),
                o.web,
                o.main
            ),
        )
        .unwrap();
        // The API key lives in stream.conf beside the main file, as on a netdata parent.
        std::fs::write(
            dir.path().join("stream.conf"),
            format!("[{key}]\n    type = api\n    enabled = yes\n{}\n", o.key),
        )
        .unwrap();
        let log = File::create(dir.path().join("rrdpipe.log")).unwrap();
        let mut cmd = Command::new(rrdpipe_bin());
        cmd.arg("-c")
            .arg(dir.path().join("rrdpipe.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        if let Some(n) = o.nofile {
            // SAFETY: setrlimit is async-signal-safe and touches no memory of ours.
            unsafe {
                cmd.pre_exec(move || {
                    let r = libc::rlimit { rlim_cur: n as libc::rlim_t, rlim_max: n as libc::rlim_t };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("start rrdpipe");
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
    let Some(a) = NetdataChild::start_with(named("CHILDA"), parent.addr, KEY, Some(false)) else { return };
    // A stock child offers compression and more; it gets labels and compression.
    let Some(b) = NetdataChild::start("CHILDB", parent.addr, KEY) else { return };
    for name in ["CHILDA", "CHILDB"] {
        parent.wait_log(30, &[&format!("child{{host={name} peer=127.0.0.1:"), "}: connected: new host"], 1);
    }

    for (child, caps) in
        [(&a, "VCAPS HLABELS CLABELS REPLICATION "), (&b, "VCAPS HLABELS CLABELS COMPRESSION REPLICATION ")]
    {
        assert!(
            wait_until(deadline_in(10), || child
                .error_log()
                .contains(&format!("established link with negotiated capabilities: {caps}\n"))),
            "child log:\n{}",
            child.error_log()
        );
    }

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
    let refused =
        parent.wait_log(30, &["stream{peer=127.0.0.1:", "}: refused the child: ", "host=WRONGKEY"], 1);
    assert!(
        refused[0].contains(&format!(
            ": API key {wrong} is not configured; add a [{wrong}] section with type = api and enabled = yes host="
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
    assert!(parent.log_lines(&["child{host=WRONGKEY ", "connected"]).is_empty());
    assert!(vm.export(r#"{__name__=~"netdata\\.WRONGKEY\\..*"}"#).is_empty());
}

#[test]
fn a_restarted_child_resumes_on_the_same_host() {
    let Some(vm) = VictoriaMetrics::start() else { return };
    let parent = Parent::start(KEY, Some(&vm));
    let Some(mut child) = NetdataChild::start("PHOENIX", parent.addr, KEY) else { return };
    let first = parent.wait_log(30, &["child{host=PHOENIX ", "}: connected: new host"], 1);
    let guid = first[0].split("machine_guid=").nth(1).unwrap().split(' ').next().unwrap().to_string();
    vm.export_wait("netdata.PHOENIX.system.cpu.user", 3);

    child.stop();
    let gone = parent.wait_log(15, &["child{host=PHOENIX ", "}: disconnected: the child closed"], 1);
    assert!(gone[0].contains(" errors=0 "), "{}", gone[0]);
    let restarted_ms = now_secs() * 1000;
    std::thread::sleep(Duration::from_secs(2));
    child.spawn();

    // Same machine GUID (same lib dir): the host and its charts are reused.
    let again = parent.wait_log(30, &["child{host=PHOENIX ", "}: connected: known host, charts kept"], 1);
    assert!(again[0].contains(&format!("machine_guid={guid} ")), "{}", again[0]);
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
    assert!(parent.log_lines(&["refused the child"]).is_empty(), "{}", parent.log());
}

/// The replay fixture is a real capture: its request parses like a child's, and a parent that
/// is sent it stores every line without an error.
#[test]
fn the_captured_child_stream_replays_into_rrdpipe_without_errors() {
    let parent = Parent::start(KEY, None);
    let (request, rest) = captured_child(&[("STREAM key", KEY), ("hostname", "REPLAYED")]);
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(parent.addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = [0u8; 64];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], support::stream::CAPTURED_ACCEPTED);
    s.write_all(&rest).unwrap();
    drop(s);
    let lines = rest.iter().filter(|&&b| b == b'\n').count();
    let done = parent.wait_log(10, &["child{host=REPLAYED ", "}: disconnected"], 1);
    assert!(
        done[0].contains(&format!(" lines={lines} ")) && done[0].contains(" errors=0 too_long=0 "),
        "{}",
        done[0]
    );
}

// ---------------------------------------------------------------- hardening of the listener

/// The request a netdata 1.37.1 child sends, shortened to the keys rrdpipe reads.
fn stream_request(key: &str, hostname: &str, guid: &str) -> String {
    format!(
        "STREAM key={key}&hostname={hostname}&registry_hostname={hostname}&machine_guid={guid}&update_every=1\
         &os=linux&timezone=Etc/UTC&abbrev_timezone=UTC&utc_offset=0&hops=1&ml_capable=0&ml_enabled=0\
         &mc_version=1&tags=&ver=15352&NETDATA_CONTAINER_OS_NAME=Debian GNU/Linux&NETDATA_PROTOCOL_VERSION=1.1 \
         HTTP/1.1\r\nUser-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n"
    )
}

/// Send `request` to `addr` and read the parent's answer (up to 5 s); the connection stays open
/// for the caller.
fn handshake(addr: SocketAddr, request: &str) -> (std::net::TcpStream, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.write_all(request.as_bytes()).expect("send the request");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reply = vec![0u8; 128];
    let n = s.read(&mut reply).unwrap_or(0);
    reply.truncate(n);
    (s, reply)
}

/// The answer to [`stream_request`]: it offers labels and replication but not compression.
const ACCEPTED: &[u8] = b"Hit me baby, push them over with the version=4800";
const NOT_PERMITTED: &[u8] = b"You are not permitted to access this. Check the logs for more info.";

/// A slowloris: keeps `n` idle connections to `addr` open, opening a new one for each the server
/// closes, until dropped.
struct IdleFlood {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    opened: std::sync::Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IdleFlood {
    fn start(addr: SocketAddr, n: usize) -> IdleFlood {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let opened = std::sync::Arc::new(AtomicU64::new(0));
        let (s, o) = (stop.clone(), opened.clone());
        let open = move || {
            let c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
            c.set_nonblocking(true).ok()?;
            o.fetch_add(1, Relaxed);
            Some(c)
        };
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<Option<std::net::TcpStream>> = (0..n).map(|_| open()).collect();
            let mut byte = [0u8; 1];
            while !s.load(Relaxed) {
                for c in conns.iter_mut() {
                    let closed = match c {
                        None => true,
                        Some(c) => match c.peek(&mut byte) {
                            Ok(0) => true,
                            Ok(_) => false,
                            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                        },
                    };
                    if closed {
                        *c = open();
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        IdleFlood { stop, opened, thread: Some(thread) }
    }

    /// Connections opened so far.
    fn opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for IdleFlood {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A process's CPU time so far (user + system), from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// 1 100 idle connections, renewed as the parent closes them, must not keep out a real netdata
/// child, nor delay the answer to a request; the child then streams.
#[test]
fn idle_connections_do_not_keep_real_children_out() {
    if require("netdata").is_none() {
        return;
    }
    let parent = Parent::start_with(KEY, ParentOpts::default());
    let flood = IdleFlood::start(parent.addr, 1100);
    assert!(wait_until(deadline_in(30), || flood.opened() >= 1100), "opened {}", flood.opened());
    std::thread::sleep(Duration::from_secs(1));

    // The exact handshake of a child is answered within a second or two, again and again.
    let mut slowest = Duration::ZERO;
    for i in 0..5 {
        let t = Instant::now();
        let guid = format!("5eed0100-2222-3333-4444-00000000000{i}");
        let (_s, reply) = handshake(parent.addr, &stream_request(KEY, &format!("RAW{i}"), &guid));
        slowest = slowest.max(t.elapsed());
        assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(ACCEPTED), "attempt {i}");
    }
    assert!(slowest < Duration::from_secs(2), "slowest answer took {slowest:?}");

    // A real child gets in and streams while the flood goes on.
    let Some(mut child) = NetdataChild::start("REALCHILD", parent.addr, KEY) else { return };
    parent.wait_log(30, &["child{host=REALCHILD peer=127.0.0.1:", "}: connected"], 1);
    std::thread::sleep(Duration::from_secs(5));
    child.stop();
    let done = parent.wait_log(15, &["child{host=REALCHILD ", "}: disconnected"], 1);
    let lines: u64 = done[0].split(" lines=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(lines >= 100 && done[0].contains(" errors=0 "), "{}", done[0]);
    assert!(flood.opened() > 1100, "the parent closed idle connections: {}", flood.opened());
    // The closed idle connections are summarised, not logged one by one.
    let closed = parent.log_lines(&["stream{peer=127.0.0.1:", "}: closed"]);
    assert!(closed.len() <= 4, "{} lines:\n{}", closed.len(), closed.join("\n"));
    eprintln!("idle flood: {} connections opened; slowest answer {slowest:?}", flood.opened());
}

/// Thousands of wrong keys from one address in a few seconds: a few log lines, and a child with
/// the right key gets in afterwards.
#[test]
fn a_flood_of_wrong_keys_is_throttled_and_summarised() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let parent = Parent::start_with(KEY, ParentOpts::default());
    let attempts = std::sync::Arc::new(AtomicU64::new(0));
    let answered = std::sync::Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(5);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (a, ok, addr) = (attempts.clone(), answered.clone(), parent.addr);
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut i = 0u64;
                while Instant::now() < until {
                    i += 1;
                    let key = format!("{t:08x}-0000-4000-8000-{i:012x}");
                    let req = stream_request(&key, "GUESSER", "5eed0200-2222-3333-4444-555555555555");
                    let Ok(mut s) = std::net::TcpStream::connect(addr) else { continue };
                    a.fetch_add(1, Relaxed);
                    let _ = s.write_all(req.as_bytes());
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut reply = [0u8; 128];
                    if let Ok(n) = s.read(&mut reply) {
                        if &reply[..n] == NOT_PERMITTED {
                            ok.fetch_add(1, Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (tried, refused) = (attempts.load(Relaxed), answered.load(Relaxed));
    assert!(tried >= 1000, "only {tried} attempts in 5 s");
    // Ten guesses, then about one a second: the rest are closed unread.
    assert!((10..=40).contains(&refused), "{refused} of {tried} guesses were looked at");
    let lines: Vec<String> = parent
        .log()
        .lines()
        .filter(|l| (l.contains("stream: ") || l.contains("stream{")) && !l.contains("listening"))
        .map(str::to_string)
        .collect();
    assert!(lines.len() <= 4, "{} log lines for {tried} guesses:\n{}", lines.len(), lines.join("\n"));
    assert_eq!(parent.log_lines(&["refused the child", "host=GUESSER", "is not configured"]).len(), 1);
    assert_eq!(
        parent.log_lines(&["stream: throttling 127.0.0.1: it was refused 10 times in a row"]).len(),
        1
    );

    // The same address with the right key, once the guessing stopped.
    std::thread::sleep(Duration::from_secs(2));
    let (_s, reply) =
        handshake(parent.addr, &stream_request(KEY, "RIGHTKEY", "5eed0201-2222-3333-4444-555555555555"));
    assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(ACCEPTED));
    if let Some(_child) = NetdataChild::start("AFTERGUESSES", parent.addr, KEY) {
        parent.wait_log(30, &["child{host=AFTERGUESSES peer=127.0.0.1:", "}: connected"], 1);
    }
    eprintln!("brute force: {tried} attempts, {refused} looked at, {} log lines", lines.len());
}

/// On a dual-stack socket an IPv4 client arrives as ::ffff:127.0.0.1: `allow from` still sees
/// 127.0.0.1.
#[test]
fn a_dual_stack_socket_does_not_let_ipv4_past_allow_from() {
    let parent = Parent::start_with(
        KEY,
        ParentOpts {
            bind_to: Some("[::]:{port}"),
            key: "    allow from = !127.0.0.1 !::1 *",
            ..ParentOpts::default()
        },
    );
    let (_s, reply) =
        handshake(parent.addr, &stream_request(KEY, "SNEAKY", "5eed0300-2222-3333-4444-555555555555"));
    assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(NOT_PERMITTED));
    let refused = parent.wait_log(5, &["stream{peer=127.0.0.1:", "}: refused the child", "host=SNEAKY"], 1);
    assert!(
        refused[0].contains("is not allowed from this address (allow from = !127.0.0.1 !::1 *)"),
        "{}",
        refused[0]
    );
    assert!(parent.log_lines(&["child{host=SNEAKY ", "connected"]).is_empty());
}

/// At a low open file limit, a flood of connections neither makes the listener spin on accept
/// errors nor takes the descriptors an exporter needs.
#[test]
fn out_of_descriptors_the_listener_stays_calm_and_exporters_still_connect() {
    let sink_port = free_port();
    let parent = Parent::start_with(
        KEY,
        ParentOpts {
            nofile: Some(256),
            main: format!(
                "[backend]\nenabled = yes\ntype = graphite\ndestination = 127.0.0.1:{sink_port}\nupdate every = 1\n"
            ),
            ..ParentOpts::default()
        },
    );
    // Hold 600 connections: more than the whole limit.
    let mut held = Vec::new();
    for _ in 0..600 {
        if let Ok(c) = std::net::TcpStream::connect_timeout(&parent.addr, Duration::from_secs(1)) {
            held.push(c);
        }
    }
    assert!(held.len() >= 300, "only {} connections", held.len());
    let cpu_before = cpu_seconds(parent.child.id());
    let t = Instant::now();
    // The exporter's receiver comes up only now: the exporter must still be able to connect.
    let sink = Sink::start_on(sink_port);
    let delivered = wait_until(deadline_in(20), || {
        sink.lines().iter().any(|l| l.starts_with("netdata.PARENT.netdata.streaming_children."))
    });
    std::thread::sleep(Duration::from_secs(10).saturating_sub(t.elapsed()));
    let cpu = cpu_seconds(parent.child.id()) - cpu_before;
    let window = t.elapsed().as_secs_f64();
    let accept_errors = parent.log_lines(&["cannot accept"]);
    assert!(accept_errors.len() <= 3, "{} accept error lines", accept_errors.len());
    assert!(cpu < 0.25 * window, "{cpu:.2} s of CPU in {window:.1} s");
    assert!(delivered, "the exporter never delivered; log:\n{}", parent.log());
    drop(held);
    // And a child still gets in.
    let (_s, reply) =
        handshake(parent.addr, &stream_request(KEY, "LATER", "5eed0400-2222-3333-4444-555555555555"));
    assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(ACCEPTED));
    eprintln!(
        "descriptor flood: {cpu:.2} s CPU in {window:.1} s, {} accept error lines",
        accept_errors.len()
    );
}

/// A child may not take the parent's hostname, nor a connected child's; the parent's machine
/// GUID is kept in its lib directory and a child presenting it is told it streams it back.
#[test]
fn hostnames_and_the_machine_guid_cannot_be_taken() {
    let parent = Parent::start_with(KEY, ParentOpts::default());
    let guid_file = parent.dir.path().join("lib/registry/netdata.public.unique.id");
    let own = std::fs::read_to_string(&guid_file).expect("the machine GUID is kept");
    assert_eq!(own.len(), 36, "{own:?}");

    let (_s, reply) = handshake(parent.addr, &stream_request(KEY, "MIRROR", &own));
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "Don't hit me baby, you are trying to stream my localhost back"
    );
    let (_s, reply) =
        handshake(parent.addr, &stream_request(KEY, "PARENT", "5eed0500-2222-3333-4444-555555555555"));
    assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(NOT_PERMITTED));
    parent.wait_log(5, &["refused the child", "host=PARENT", "its hostname 'PARENT' is this agent's own"], 1);

    let first = "5eed0501-2222-3333-4444-555555555555";
    let (_one, reply) = handshake(parent.addr, &stream_request(KEY, "TWIN", first));
    assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(ACCEPTED));
    let (_s, reply) =
        handshake(parent.addr, &stream_request(KEY, "TWIN", "5eed0502-2222-3333-4444-555555555555"));
    assert_eq!(String::from_utf8_lossy(&reply), String::from_utf8_lossy(NOT_PERMITTED));
    let clash = parent.wait_log(5, &["refused the child", "host=TWIN", "machine_guid=5eed0502"], 1);
    assert!(
        clash[0].contains(&format!("the connected child of machine guid {first} is named 'TWIN' too")),
        "{}",
        clash[0]
    );

    // A real netdata child named like the parent is refused, and nothing of it is stored.
    if let Some(c) = NetdataChild::start("PARENT", parent.addr, KEY) {
        assert!(
            wait_until(deadline_in(30), || c.error_log().contains("remote server denied access")),
            "child log:\n{}",
            c.error_log()
        );
        assert!(parent.log_lines(&["child{host=PARENT ", "connected"]).is_empty());
    }
    // The file is kept as it is: the parent's identity does not change.
    assert_eq!(std::fs::read_to_string(&guid_file).unwrap(), own);
}

// ---------------------------------------------------------------- capabilities and compression

/// A plugin on the child with values known in advance: `seq` counts 1, 2, 3, … one a second,
/// `big` needs more than 32 bits, `neg` is `-seq`.
const EXACT_PLUGIN: &str = "#!/bin/sh
echo \"CHART test.exact '' 'Exact values' 'things' test test.exact line 1000 1\"
echo \"DIMENSION seq '' absolute 1 1\"
echo \"DIMENSION big '' absolute 1 1\"
echo \"DIMENSION neg '' absolute 1 1\"
i=1
while true; do
    printf 'BEGIN test.exact\\nSET seq = %d\\nSET big = 1234567890123\\nSET neg = -%d\\nEND\\n' $i $i
    i=$((i+1))
    sleep 1
done
";

/// The values `sink` got for `test.exact`'s dimension `dim` of `host`, in order of time.
fn exact_values(sink: &Sink, host: &str, dim: &str) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = sink
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|o| o["hostname"] == host && o["chart_id"] == "test.exact" && o["id"] == dim)
        .filter_map(|o| Some((o["timestamp"].as_i64()?, o["value"].as_f64()? as i64)))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A netdata 1.37 child with its default stream settings offers compression: rrdpipe answers
/// labels and compression, says so in its log and status, reads the lz4 stream, and the
/// child's values arrive exactly.
#[test]
fn a_default_child_negotiates_labels_and_compression_and_its_values_arrive_exactly() {
    if require("netdata").is_none() {
        return;
    }
    let sink = Sink::start(b"");
    let main = format!(
        "[json:sink]\nenabled = yes\ndestination = {}\ndata source = as collected\nupdate every = 1\n\
         send names instead of ids = no\nsend hosts matching = *\n",
        sink.addr
    );
    let parent = Parent::start_with(KEY, ParentOpts { main, ..ParentOpts::default() });
    let plugins = tempfile::tempdir().unwrap();
    support::agent::write_plugin(plugins.path(), "exact", EXACT_PLUGIN);
    let setup = Setup {
        plugins: vec!["exact".into()],
        extra: format!(
            "[directories]\n    plugins = \"/usr/lib/netdata/plugins.d\" \"{}\"\n",
            plugins.path().display()
        ),
        ..named("LZ4CHILD")
    };
    let Some(mut child) = NetdataChild::start_with(setup, parent.addr, KEY, None) else { return };

    let connected =
        parent.wait_log(30, &["child{host=LZ4CHILD peer=127.0.0.1:", "}: connected: new host"], 1);
    assert!(
        connected[0].contains(" capabilities=VCAPS|HLABELS|CLABELS|COMPRESSION|REPLICATION"),
        "{}",
        connected[0]
    );
    assert!(
        wait_until(deadline_in(10), || child.error_log().contains(
            "established link with negotiated capabilities: VCAPS HLABELS CLABELS COMPRESSION REPLICATION \n"
        )),
        "child log:\n{}",
        child.error_log()
    );
    let status = http_get(parent.addr, "/api/v1/status").json();
    let host = status["hosts"].as_array().unwrap().iter().find(|h| h["hostname"] == "LZ4CHILD").cloned();
    assert_eq!(host.unwrap()["stream_capabilities"], "VCAPS|HLABELS|CLABELS|COMPRESSION|REPLICATION");

    // Ten seconds of the plugin's values, each exactly as the child collected it.
    assert!(
        wait_until(deadline_in(60), || exact_values(&sink, "LZ4CHILD", "seq").len() >= 10),
        "seq: {:?}",
        exact_values(&sink, "LZ4CHILD", "seq")
    );
    let seq = exact_values(&sink, "LZ4CHILD", "seq");
    for w in seq.windows(2) {
        // One a second: consecutive seconds carry consecutive counts (or the same, when an
        // export ran before the next collection).
        assert!(w[1].1 - w[0].1 <= w[1].0 - w[0].0 && w[1].1 >= w[0].1, "{seq:?}");
    }
    let (first, last) = (seq[0].1, seq[seq.len() - 1].1);
    assert!(first >= 1 && last - first >= 8, "{seq:?}");
    // Streamed collections go out as collected, exactly; slots the child replayed from before
    // it connected carry their stored values (7 significant digits), each second once.
    let big = exact_values(&sink, "LZ4CHILD", "big");
    let streamed = big.iter().position(|&(_, v)| v == 1_234_567_890_123).unwrap_or(big.len());
    assert!(big.len() >= 10 && big[streamed..].iter().all(|&(_, v)| v == 1_234_567_890_123), "{big:?}");
    assert!(big[..streamed].iter().all(|&(_, v)| v == 1_234_567_900_000), "{big:?}");
    assert!(big.windows(2).all(|w| w[0].0 < w[1].0), "each second once: {big:?}");
    let neg = exact_values(&sink, "LZ4CHILD", "neg");
    for (t, v) in &neg {
        let s = seq.iter().find(|(ts, _)| ts == t).map(|&(_, s)| s);
        assert!(s.is_none_or(|s| s == -v), "neg {v} at {t} against seq {s:?}");
    }

    child.stop();
    let gone = parent.wait_log(15, &["child{host=LZ4CHILD ", "}: disconnected: the child closed"], 1);
    assert!(gone[0].contains(" errors=0 ") && gone[0].contains(" compressed_bytes="), "{}", gone[0]);
    let field = |name: &str| -> u64 {
        gone[0].split(&format!(" {name}=")).nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
    };
    let (bytes, compressed) = (field("bytes"), field("compressed_bytes"));
    eprintln!("compressed stream: {compressed} bytes on the wire for {bytes} of text");
    assert!(compressed * 3 < bytes, "{compressed} bytes on the wire for {bytes} of text");
}
