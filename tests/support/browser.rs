//! Debian's Chromium, headless, as the status page's and netdata's dashboard's reader: load a
//! page, let it run, and take its rendered DOM, its console and a screenshot.
//!
//! Started with the flags that keep it off the network (no background requests, no component
//! updates, no sync, and no name resolves: only 127.0.0.1 is reachable, so a page's requests to
//! the internet fail at once), in a new profile in a temp dir, as root without the sandbox.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::require;

/// A headless Chromium.
pub struct Chromium {
    bin: PathBuf,
}

/// What a page left after it ran.
pub struct Rendered {
    /// The DOM, serialized after the time budget.
    pub dom: String,
    /// Console messages and uncaught errors the page produced (Chromium's `CONSOLE` log lines).
    pub console: Vec<String>,
}

impl Chromium {
    /// `None` (after SKIPPED) outside CI when Chromium is not installed.
    pub fn find() -> Option<Chromium> {
        Some(Chromium { bin: require("chromium")? })
    }

    fn command(&self, profile: &Path, width: u32, height: u32) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .stdin(Stdio::null());
        cmd
    }

    /// Load `url`, let it run for `budget` of virtual time, and return its DOM and console.
    pub fn render(&self, url: &str, budget: Duration) -> Rendered {
        let profile = tempfile::tempdir().expect("profile dir");
        let out = self
            .command(profile.path(), 1280, 900)
            .arg(format!("--virtual-time-budget={}", budget.as_millis()))
            .arg("--dump-dom")
            .arg(url)
            .output()
            .expect("run chromium");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "chromium failed on {url}: {}\n{stderr}", out.status);
        Rendered { dom: String::from_utf8_lossy(&out.stdout).into_owned(), console: console_lines(&stderr) }
    }

    /// Load `url` at `width`×`height`, let it run for `budget` of virtual time, and save a PNG
    /// screenshot at `path`.
    pub fn screenshot(&self, url: &str, budget: Duration, width: u32, height: u32, path: &Path) {
        let profile = tempfile::tempdir().expect("profile dir");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        let _ = std::fs::remove_file(path);
        let started = Instant::now();
        let out = self
            .command(profile.path(), width, height)
            .arg(format!("--virtual-time-budget={}", budget.as_millis()))
            .arg(format!("--screenshot={}", path.display()))
            .arg(url)
            .output()
            .expect("run chromium");
        assert!(
            out.status.success() && path.exists(),
            "chromium made no screenshot of {url} in {:?}: {}",
            started.elapsed(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The console messages in Chromium's log (`…:CONSOLE(LINE)] "message", source: URL (LINE)`).
fn console_lines(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect()
}
