//! A real carbon-cache for tests: started on free loopback ports in its own temp dir with
//! 1-second whisper files, and read back by reading those files with carbon's own python.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ports::{free_port, local};
use super::server::{start_with_retries, temp_dir, Server, READ_BACK_TIMEOUT};
use super::{is_executable, require, skip, which};

/// A carbon-cache (graphite-carbon) in the foreground, writing whisper files
/// with a 1-second resolution (`retentions = 1s:1d`) for every metric.
///
/// The line receiver is on [`Carbon::line_addr`]; pickle and cache-query
/// listeners get free ports too. Whisper files are created sparse, without
/// create or update rate limits, and carbon's own `carbon.*` metrics are off.
/// Carbon silently drops NaN values and logs (and drops) lines it cannot
/// parse; [`Carbon::invalid_lines`] counts those log entries. Whisper keeps
/// one value per second per metric: the last write to a second wins.
pub struct Carbon {
    server: Server,
    python: PathBuf,
    line: SocketAddr,
    pickle: SocketAddr,
    whisper_dir: PathBuf,
}

impl Carbon {
    /// Starts carbon-cache; `None` (after printing SKIPPED) if carbon-cache or
    /// python3's whisper module is missing outside CI. Panics if it does not
    /// start.
    pub fn start() -> Option<Self> {
        let bin = require("carbon-cache")?;
        // Read whisper files with carbon's own interpreter: a `python3` found
        // first on PATH (a virtualenv, pyenv) may lack the whisper module.
        let python = match carbon_python(&bin) {
            Some(p) => p,
            None => require("python3")?,
        };
        let has_whisper = Command::new(&python)
            .args(["-c", "import whisper"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !has_whisper {
            skip(&format!(
                "{} cannot import the `whisper` module (package python3-whisper)",
                python.display()
            ));
            return None;
        }
        Some(start_with_retries("carbon-cache", || {
            let dir = temp_dir("carbon-");
            let root = dir.path().to_path_buf();
            let storage = root.join("storage");
            let whisper_dir = storage.join("whisper");
            let (line, pickle, query) = (free_port(), free_port(), free_port());
            let conf = format!(
                "[cache]\n\
                 STORAGE_DIR = {storage}/\n\
                 LOCAL_DATA_DIR = {whisper}/\n\
                 WHISPER_DIR = {whisper}/\n\
                 LOG_DIR = {storage}/log/\n\
                 PID_DIR = {storage}/\n\
                 DATABASE = whisper\n\
                 ENABLE_LOGROTATION = False\n\
                 USER =\n\
                 MAX_CACHE_SIZE = inf\n\
                 MAX_UPDATES_PER_SECOND = 1000000\n\
                 MAX_CREATES_PER_MINUTE = inf\n\
                 MIN_TIMESTAMP_RESOLUTION = 1\n\
                 LINE_RECEIVER_INTERFACE = 127.0.0.1\n\
                 LINE_RECEIVER_PORT = {line}\n\
                 ENABLE_UDP_LISTENER = False\n\
                 PICKLE_RECEIVER_INTERFACE = 127.0.0.1\n\
                 PICKLE_RECEIVER_PORT = {pickle}\n\
                 CACHE_QUERY_INTERFACE = 127.0.0.1\n\
                 CACHE_QUERY_PORT = {query}\n\
                 USE_FLOW_CONTROL = True\n\
                 LOG_UPDATES = False\n\
                 LOG_CREATES = True\n\
                 LOG_LISTENER_CONN_SUCCESS = False\n\
                 CACHE_WRITE_STRATEGY = sorted\n\
                 WHISPER_AUTOFLUSH = True\n\
                 WHISPER_SPARSE_CREATE = True\n\
                 WHISPER_FALLOCATE_CREATE = False\n\
                 ENABLE_TAGS = False\n\
                 CARBON_METRIC_INTERVAL = 0\n",
                storage = storage.display(),
                whisper = whisper_dir.display(),
            );
            std::fs::write(root.join("carbon.conf"), conf).expect("write carbon.conf");
            std::fs::write(
                root.join("storage-schemas.conf"),
                "[everything]\npattern = .*\nretentions = 1s:1d\n",
            )
            .expect("write storage-schemas.conf");
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--config={}", root.join("carbon.conf").display()))
                .arg(format!("--pidfile={}", root.join("carbon-cache.pid").display()))
                .args(["--debug", "start"])
                // Log lines reach the log file at once (counted by
                // `invalid_lines`, shown on failures).
                .env("PYTHONUNBUFFERED", "1");
            let mut server = Server::spawn("carbon-cache", cmd, dir);
            let line = local(line);
            let pickle = local(pickle);
            let ready = server.wait_ready(|| {
                [line, pickle]
                    .iter()
                    .all(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
            });
            match ready {
                Ok(()) => Ok(Carbon {
                    server,
                    python: python.clone(),
                    line,
                    pickle,
                    whisper_dir: whisper_dir.clone(),
                }),
                Err(status) => Err((server, status)),
            }
        }))
    }

    /// The plaintext line receiver (`path value timestamp\n`).
    pub fn line_addr(&self) -> SocketAddr {
        self.line
    }

    /// The pickle receiver.
    pub fn pickle_addr(&self) -> SocketAddr {
        self.pickle
    }

    /// The process's temp dir and log.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The whisper file for a dotted metric path (`a.b.c` → `a/b/c.wsp`).
    pub fn whisper_file(&self, path: &str) -> PathBuf {
        let mut p = self.whisper_dir.clone();
        for part in path.split('.') {
            p.push(part);
        }
        p.set_extension("wsp");
        p
    }

    /// How many "invalid line received" entries carbon has logged.
    pub fn invalid_lines(&self) -> usize {
        self.server.log().lines().filter(|l| l.contains("invalid line received")).count()
    }

    /// Every whisper file carbon has created, as dotted metric paths, sorted.
    pub fn metric_paths(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                if path.is_dir() {
                    walk(&path, &format!("{prefix}{name}."), out);
                } else if let Some(stem) = name.strip_suffix(".wsp") {
                    out.push(format!("{prefix}{stem}"));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.whisper_dir, "", &mut out);
        out.sort();
        out
    }

    /// Reads the whisper file of `path` once: one `(timestamp_s, value)` per
    /// second from `from` to `until`, both inclusive (whisper clips `until`
    /// to now and `from` to the 1-day retention). Empty if the file does not
    /// exist yet.
    pub fn read_whisper(&self, path: &str, from: i64, until: i64) -> Vec<(i64, Option<f64>)> {
        let file = self.whisper_file(path);
        if !file.exists() {
            return Vec::new();
        }
        // whisper.fetch's `from` is exclusive; ask from one second earlier.
        // Non-finite values travel as strings (JSON has no NaN/Infinity).
        const SCRIPT: &str = "\
import json, math, sys, whisper
r = whisper.fetch(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
out = []
if r is not None:
    (start, end, step), vals = r
    for i, v in enumerate(vals):
        if v is not None and not math.isfinite(v):
            v = repr(v)
        out.append([start + i * step, v])
print(json.dumps(out))
";
        let out = Command::new(&self.python)
            .args(["-c", SCRIPT])
            .arg(&file)
            .arg((from - 1).to_string())
            .arg(until.to_string())
            .output()
            .unwrap_or_else(|e| panic!("run python3 to read {}: {e}", file.display()));
        if !out.status.success() {
            self.server.fail(&format!(
                "reading {} failed ({}): {}",
                file.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("whisper fetch output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        });
        v.as_array()
            .expect("array of points")
            .iter()
            .map(|p| {
                let t = p[0].as_i64().expect("integer timestamp");
                let v = match &p[1] {
                    Value::Null => None,
                    Value::String(s) => Some(match s.as_str() {
                        "nan" => f64::NAN,
                        "inf" => f64::INFINITY,
                        "-inf" => f64::NEG_INFINITY,
                        other => panic!("unexpected whisper value {other:?}"),
                    }),
                    n => Some(n.as_f64().expect("number")),
                };
                (t, v)
            })
            .filter(|(t, _)| (from..=until).contains(t))
            .collect()
    }

    /// Waits until the whisper file of `path` exists and holds at least one
    /// value between `from` and `until` (inclusive), then returns the points
    /// as [`read_whisper`](Self::read_whisper) does. Panics after 20 s.
    pub fn fetch(&self, path: &str, from: i64, until: i64) -> Vec<(i64, Option<f64>)> {
        self.fetch_wait(path, from, until, 1)
    }

    /// Like [`fetch`](Self::fetch), but waits until at least `min_values`
    /// seconds in the range hold a value.
    pub fn fetch_wait(
        &self,
        path: &str,
        from: i64,
        until: i64,
        min_values: usize,
    ) -> Vec<(i64, Option<f64>)> {
        let deadline = Instant::now() + READ_BACK_TIMEOUT;
        loop {
            let got = self.read_whisper(path, from, until);
            let n = got.iter().filter(|(_, v)| v.is_some()).count();
            if n >= min_values {
                return got;
            }
            if Instant::now() >= deadline {
                self.server.fail(&format!(
                    "{path} ({}): wanted at least {min_values} values in {from}..={until}, got {n} after {READ_BACK_TIMEOUT:?}; metrics created: {:?}",
                    self.whisper_file(path).display(),
                    self.metric_paths()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Only the seconds holding a value, from [`fetch_wait`](Self::fetch_wait).
    pub fn values_wait(&self, path: &str, from: i64, until: i64, min_values: usize) -> Vec<(i64, f64)> {
        self.fetch_wait(path, from, until, min_values)
            .into_iter()
            .filter_map(|(t, v)| v.map(|v| (t, v)))
            .collect()
    }
}

/// The interpreter named on the `#!` line of the carbon-cache script, if it
/// is an absolute path to an executable (`#! /usr/bin/python3` on Debian).
fn carbon_python(carbon_cache: &Path) -> Option<PathBuf> {
    let text = std::fs::read(carbon_cache).ok()?;
    let first = text.split(|&b| b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?.strip_prefix("#!")?.trim();
    let mut words = first.split_whitespace();
    let interp = PathBuf::from(words.next()?);
    // `#!/usr/bin/env python3` names the interpreter in the next word.
    let interp = if interp.ends_with("env") { which(words.next()?)? } else { interp };
    (interp.is_absolute() && is_executable(&interp)).then_some(interp)
}
