//! A started server process for tests: its temp dir, its log file, starting it again when it
//! dies at startup (a port race), stopping it with SIGTERM, killing it when dropped, and
//! polling what it stored until enough has arrived (failing with its log tail).
//!
//! Each server runs with `PR_SET_PDEATHSIG`, so it is killed if the thread that started it
//! dies without dropping it (e.g. the test binary is killed). Consequently a server must be
//! owned by the test that started it: do not share one across tests through a static.
//!
//! Server output goes to `<name>.log` in the server's temp dir; its last lines are printed
//! when a start fails and when a server is dropped during a panic.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::series::{point_count, Series};

/// How long a server may take to become ready before the start fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long read-back helpers poll before giving up.
pub(super) const READ_BACK_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts to start a server when it dies at startup (e.g. a port that was
/// free when picked got taken by a parallel test).
const START_ATTEMPTS: usize = 3;

/// A started server process: its temp dir, its log, and the child to kill.
pub struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
    // Dropped after `Drop::drop` has killed the child.
    dir: TempDir,
}

impl Server {
    /// Spawns `cmd` with stdout and stderr written to `<dir>/<name>.log`.
    pub(super) fn spawn(name: &'static str, cmd: Command, dir: TempDir) -> Server {
        let log = dir.path().join(format!("{name}.log"));
        let child = spawn_logged(name, cmd, dir.path(), &log, false);
        Server { name, child, log, dir }
    }

    /// Stops the process with SIGTERM, as a service manager would, and waits for it to exit;
    /// after `grace` it is killed. Returns its exit status.
    pub(super) fn terminate(&mut self, grace: Duration) -> String {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return format!("killed after not stopping within {grace:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `cmd` in place of the process, which must have exited: same dir, same log
    /// (appended to).
    pub(super) fn respawn(&mut self, cmd: Command) {
        assert!(self.exited().is_some(), "{}: respawn while the process still runs", self.name);
        self.child = spawn_logged(self.name, cmd, self.dir.path(), &self.log, true);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The full log so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `Some(description)` if the process has exited.
    pub(super) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot wait: {e}")),
        }
    }

    /// Panics with `msg` and the log tail.
    pub(super) fn fail(&self, msg: &str) -> ! {
        panic!(
            "{}: {msg}\n--- last lines of {} ---\n{}\n---",
            self.name,
            self.log.display(),
            self.log_tail(40)
        )
    }

    /// Waits until `ready()` holds. `Err(exit status)` if the process exits
    /// first; panics with the log tail if `START_TIMEOUT` passes.
    pub(super) fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(status);
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.fail(&format!("not ready after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// Calls `read` every 100 ms until the series it returns hold at least `min_points` samples
    /// in total, and returns them; panics with what it got (labelled `what`) and the log tail
    /// after [`READ_BACK_TIMEOUT`].
    pub(super) fn read_back_points(
        &self,
        what: &str,
        min_points: usize,
        mut read: impl FnMut() -> Vec<Series>,
    ) -> Vec<Series> {
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        loop {
            let got = read();
            if point_count(&got) >= min_points {
                return got;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "{what}: wanted at least {min_points} samples, got {} after {READ_BACK_TIMEOUT:?}: {got:?}",
                    point_count(&got)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log tail ({}) ---\n{}\n---", self.name, self.log.display(), self.log_tail(40));
        }
    }
}

/// Spawns `cmd` in `dir` with stdout and stderr going to `log` (appended to when `append`),
/// killed with SIGKILL if the thread that started it dies.
pub(super) fn spawn_logged(name: &str, mut cmd: Command, dir: &Path, log: &Path, append: bool) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log file handle");
    cmd.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).current_dir(dir);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"))
}

/// Runs `attempt` up to `START_ATTEMPTS` times while the server exits during
/// startup (typically a port race); panics with the last log tail otherwise.
pub(super) fn start_with_retries<T>(
    name: &str,
    mut attempt: impl FnMut() -> Result<T, (Server, String)>,
) -> T {
    let mut last = None;
    for _ in 0..START_ATTEMPTS {
        match attempt() {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
    }
    let (server, status) = last.expect("at least one attempt");
    server.fail(&format!("{name} exited during startup ({status}) {START_ATTEMPTS} times"))
}

pub(super) fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("create temp dir")
}
