//! rrdpipe itself under test: the binary with a config file in a temp dir, test plugins, a TCP
//! forwarder that can come up late or go away (a backend that appears and disappears), and a
//! TCP sink for formats no server here reads back.
//!
//! Every process and thread started here is stopped on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The rrdpipe binary under test: `$RRDPIPE_BIN` if set, else the one cargo
/// built for this test run.
pub fn rrdpipe_bin() -> PathBuf {
    match std::env::var_os("RRDPIPE_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_rrdpipe")),
    }
}

/// A running `rrdpipe -c DIR/rrdpipe.conf`, logging to `DIR/rrdpipe.log`.
pub struct Rrdpipe {
    child: Option<Child>,
    dir: TempDir,
}

impl Rrdpipe {
    /// Write `conf` (with `@DIR@` replaced by the temp dir) and start the binary on it.
    /// `plugins` are `(name, script)` pairs written as executable `DIR/plugins/NAME.plugin`.
    pub fn start(conf: &str, plugins: &[(&str, &str)]) -> Rrdpipe {
        Rrdpipe::start_with_files(conf, plugins, &[])
    }

    /// [`start`](Self::start), with `files` (`(name, contents)`, `@DIR@` replaced) written
    /// beside the config first, e.g. `stream.conf`.
    pub fn start_with_files(conf: &str, plugins: &[(&str, &str)], files: &[(&str, &str)]) -> Rrdpipe {
        let dir = tempfile::Builder::new().prefix("rrdpipe-test-").tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        for (name, script) in plugins {
            write_plugin(&dir.path().join("plugins"), name, script);
        }
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text.replace("@DIR@", &dir.path().display().to_string()))
                .unwrap();
        }
        let conf = with_state_in_dir(conf).replace("@DIR@", &dir.path().display().to_string());
        std::fs::write(dir.path().join("rrdpipe.conf"), conf).unwrap();
        let child = spawn(dir.path(), false);
        Rrdpipe { child: Some(child), dir }
    }

    /// Kill the process with SIGKILL (no shutdown, no last attempt) and wait for it. Its
    /// plugins notice on their next write.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Start the binary again, after [`kill`](Self::kill) or [`terminate`](Self::terminate), on
    /// the same dir and config; the log continues in the same file.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart while rrdpipe still runs");
        self.child = Some(spawn(self.dir.path(), true));
    }

    /// The temp dir holding the config, the plugins and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rrdpipe.log")).unwrap_or_default()
    }

    /// Poll the log until it contains `needle`; panics with the log after `secs`.
    pub fn wait_log(&self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("rrdpipe did not log {needle:?} within {secs} s; log:\n{}", self.log());
    }

    /// Replace the config file (with `@DIR@` replaced by the temp dir); the running process
    /// reads it on [`signal`](Self::signal)`(libc::SIGHUP)` or at its next start.
    pub fn write_config(&self, conf: &str) {
        let conf = with_state_in_dir(conf).replace("@DIR@", &self.dir.path().display().to_string());
        std::fs::write(self.dir.path().join("rrdpipe.conf"), conf).unwrap();
    }

    /// Send `sig` to the running process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then wait up to 20 s for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rrdpipe did not stop within 20 s of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `conf` with the agent's state (its machine GUID, under `[directories] lib`) kept in the
/// test's dir, unless the test chose a place: a test never writes into the machine's
/// `/var/lib/netdata`. Sections of the same name merge, so a second `[directories]` is fine.
/// A conf without a `[web]` section listens nowhere (`mode = none`), so that tests running at
/// once do not all try the default port 19999.
fn with_state_in_dir(conf: &str) -> String {
    let sets_lib = conf.lines().any(|l| l.trim_start().starts_with("lib =") || l.contains("unique id file"));
    let mut conf = conf.to_string();
    if !sets_lib {
        conf.push_str("\n[directories]\n    lib = @DIR@/lib\n");
    }
    if !conf.contains("[web]") {
        conf.push_str("\n[web]\n    mode = none\n");
    }
    conf
}

impl Drop for Rrdpipe {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- rrdpipe log ---\n{}", self.log());
        }
    }
}

/// Start `rrdpipe -c DIR/rrdpipe.conf` logging to `DIR/rrdpipe.log` (appended to when `append`).
fn spawn(dir: &Path, append: bool) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(dir.join("rrdpipe.log"))
        .unwrap();
    Command::new(rrdpipe_bin())
        .arg("-c")
        .arg(dir.join("rrdpipe.conf"))
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start rrdpipe")
}

/// Write an executable plugin script.
pub fn write_plugin(dir: &Path, name: &str, script: &str) -> PathBuf {
    let path = dir.join(format!("{name}.plugin"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A plugin of constant values: chart `test.values` with `a` = 425 / 10 = 42.5 and `b` = 7,
/// collected every second (so averages are exact and sums count slots).
pub const CONSTANT_PLUGIN: &str = "#!/bin/sh
echo \"CHART test.values '' 'Known values' 'units' '' '' line 1000 $1\"
echo \"DIMENSION a '' absolute 1 10\"
echo \"DIMENSION b '' absolute 1 1\"
while true; do
    printf 'BEGIN test.values\\nSET a = 425\\nSET b = 7\\nEND\\n'
    sleep 1
done
";

/// A TCP forwarder from a listening port to a target, that can be started late and stopped.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Bytes forwarded to the target.
    pub forwarded: Arc<AtomicU64>,
}

impl Forwarder {
    /// Listen on `127.0.0.1:port` and forward every connection to `target`.
    pub fn start(port: u16, target: SocketAddr) -> Forwarder {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind forwarder port");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let (s, f) = (stop.clone(), forwarded.clone());
        let thread = std::thread::spawn(move || {
            let mut pumps = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let upstream = TcpStream::connect(target).expect("connect forwarder target");
                        let (s2, f2) = (s.clone(), f.clone());
                        pumps.push(std::thread::spawn(move || pump(client, upstream, s2, f2)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            for p in pumps {
                let _ = p.join();
            }
        });
        Forwarder { stop, thread: Some(thread), forwarded }
    }

    /// Stop accepting and close every forwarded connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

fn pump(mut client: TcpStream, mut upstream: TcpStream, stop: Arc<AtomicBool>, fwd: Arc<AtomicU64>) {
    client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if upstream.write_all(&buf[..n]).is_err() {
                    break;
                }
                fwd.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    let _ = upstream.shutdown(std::net::Shutdown::Write);
    let _ = client.shutdown(std::net::Shutdown::Both);
}

/// A TCP sink that keeps everything it receives.
pub struct Sink {
    /// The listening address.
    pub addr: SocketAddr,
    data: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    /// Listen on a free port; `reply` is written back once to every connection.
    pub fn start(reply: &'static [u8]) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Sink::on(listener, reply)
    }

    /// Listen on `port`.
    pub fn start_on(port: u16) -> Sink {
        Sink::on(TcpListener::bind(("127.0.0.1", port)).expect("bind sink port"), b"")
    }

    fn on(listener: TcpListener, reply: &'static [u8]) -> Sink {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let data = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (data.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let _ = c.write_all(reply);
                        let (d, s) = (d.clone(), s.clone());
                        std::thread::spawn(move || {
                            c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                            let mut buf = [0u8; 65536];
                            while !s.load(Ordering::Relaxed) {
                                match c.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(n) => d.lock().unwrap().extend_from_slice(&buf[..n]),
                                    Err(e) if is_timeout(&e) => {}
                                    Err(_) => break,
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Sink { addr, data, stop }
    }

    /// Everything received so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.data.lock().unwrap().clone()
    }

    /// Complete lines received so far.
    pub fn lines(&self) -> Vec<String> {
        let b = self.bytes();
        let end = b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        String::from_utf8_lossy(&b[..end]).lines().map(str::to_string).collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
