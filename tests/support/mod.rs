//! Test support: real servers (VictoriaMetrics, carbon-cache, Prometheus, netdata), the agent
//! under test, an HTTP client, and the rule for a test whose server is missing.
//!
//! * [`agent`]: the rrdpipe binary under test, test plugins, a forwarder and a TCP sink;
//! * [`victoria`], [`carbon`], [`prometheus`], [`netdata`]: the real servers, started on free
//!   loopback ports in temp dirs and read back exactly;
//! * [`server`]: what those servers share: a process with a temp dir and a log, restarted on a
//!   port race, killed on drop;
//! * [`series`]: stored series as read back, and the Prometheus text format;
//! * [`stream`]: the captured stream of a real netdata child; [`rss`]: what a store costs in
//!   resident memory;
//! * [`fault`], [`faults_table`]: a proxy that misbehaves on command, and the table of what
//!   each fault cost;
//! * [`browser`]: a headless browser for the web UI;
//! * [`http`]: an HTTP client (`ureq`); [`tls`]: a self-signed certificate, a private CA;
//! * [`ports`], [`wait`]: free ports, raw TCP sends, deadlines and polling.
//!
//! A missing server binary never makes a test pass silently under CI: [`require`] (and the
//! servers' `start()` functions, which use it) return `None` after printing `SKIPPED: ...`
//! only when `CI` is unset (or `0`/`false`); with `CI=true` they panic. Use them as
//! `let Some(vm) = VictoriaMetrics::start() else { return };`.
//!
//! Test files declare this module `pub mod support;`: each test binary uses a part of it, and
//! a public module's public items are not dead code where unused; a private item nobody uses
//! still is. The helpers nearly every test needs (ports, waiting, a GET) are re-exported here.

use std::io::Write;
use std::path::{Path, PathBuf};

pub mod agent;
pub mod browser;
pub mod carbon;
pub mod fault;
pub mod faults_table;
pub mod firefox;
pub mod http;
pub mod netdata;
pub mod ports;
pub mod prometheus;
pub mod rss;
pub mod series;
pub mod server;
pub mod stream;
pub mod tls;
pub mod victoria;
pub mod wait;

pub use http::http_get;
pub use ports::{free_port, local, wait_for_tcp};
pub use wait::{deadline_in, now_secs, wait_until};

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn is_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !matches!(v.trim(), "" | "0" | "false" | "False" | "FALSE"),
        Err(_) => false,
    }
}

/// Reports that a test cannot run because `why`. Under CI this panics (the
/// test fails); otherwise it prints `SKIPPED: <why>` straight to stderr, past
/// the test harness's output capture, so the skip is visible even when the
/// test passes.
pub fn skip(why: &str) {
    let test = std::thread::current().name().map(|n| format!("{n}: ")).unwrap_or_default();
    let why = format!("{test}{why}");
    if is_ci() {
        panic!("{why} (CI is set, so this fails instead of skipping; run scripts/test-deps.sh to install the test servers)");
    }
    let _ =
        writeln!(std::io::stderr(), "SKIPPED: {why} (run scripts/test-deps.sh to install the test servers)");
}

/// Finds `binary` on `PATH` (and the sbin directories, which root's `PATH`
/// may lack). When missing, calls [`skip`] and returns `None`.
pub fn require(binary: &str) -> Option<PathBuf> {
    match which(binary) {
        Some(p) => Some(p),
        None => {
            skip(&format!("`{binary}` not found on PATH"));
            None
        }
    }
}

/// Finds `binary` on `PATH` or in the usual sbin directories.
pub fn which(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}
