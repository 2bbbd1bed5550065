//! Debian's Chromium, headless, as the status page's and netdata's dashboard's reader: load a
//! page, let it run, and take its rendered DOM, its console and a screenshot; or keep a page
//! open and drive it in real time over the DevTools protocol ([`ChromiumPage`]). [`Page`] is
//! what a test asks of a page kept open in any browser (Firefox's is in `firefox.rs`).
//!
//! Started with the flags that keep it off the network (no background requests, no component
//! updates, no sync, and no name resolves: only 127.0.0.1 is reachable, so a page's requests to
//! the internet fail at once), in a new profile in a temp dir, as root without the sandbox.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

use super::require;

/// A page kept open in a headless browser, running in real time: a test loads it, sizes it,
/// asks it questions while it runs, reads its console and photographs it.
pub trait Page {
    /// Load `url` and return once its load event has fired.
    fn navigate(&mut self, url: &str);

    /// The value of the JavaScript expression `expr` in the page (JSON-serializable; `null` for
    /// `undefined`).
    fn eval(&mut self, expr: &str) -> serde_json::Value;

    /// Size the page's viewport to `width`×`height` CSS pixels, at one device pixel per CSS pixel.
    fn set_viewport(&mut self, width: u32, height: u32);

    /// A PNG of what the viewport shows.
    fn screenshot_png(&mut self) -> Vec<u8>;

    /// The console errors and warnings and the uncaught exceptions since the last call.
    fn console_errors(&mut self) -> Vec<String>;

    /// Evaluate `expr` every 100 ms until `done` holds for its value; that value. Panics with the
    /// last value after `timeout`.
    fn wait_for(
        &mut self,
        expr: &str,
        timeout: Duration,
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value
    where
        Self: Sized,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(expr);
            if done(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "after {timeout:?}, `{expr}` is still {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Save [`Page::screenshot_png`] at `path`.
    fn screenshot(&mut self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        let png = self.screenshot_png();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is no PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}

/// A PNG sent base64-encoded, as both protocols send screenshots.
pub(super) fn png_from_base64(data: &serde_json::Value) -> Vec<u8> {
    let text = data.as_str().unwrap_or_else(|| panic!("no screenshot data: {data}"));
    base64::engine::general_purpose::STANDARD.decode(text).expect("screenshot is base64")
}

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

/// A page kept open in a headless Chromium, driven over the DevTools protocol (a WebSocket,
/// `tungstenite`): it runs in real time, so a test can change the world under it (stop the
/// agent, start it again) and read what the page shows meanwhile. Chromium stops on drop.
pub struct ChromiumPage {
    ws: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
    /// Console errors and warnings and uncaught exceptions, from the events read so far.
    console: Vec<String>,
    _chromium: KillOnDrop,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Open `url` in a new headless Chromium and connect to its page.
    pub fn open(&self, url: &str) -> ChromiumPage {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = self
            .command(profile.path(), 1280, 900)
            .arg("--remote-debugging-port=0")
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromium");
        // Until the page is connected, a failure below must not leave Chromium running.
        let chromium = KillOnDrop(child);
        // Chromium writes its DevTools port into the profile once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Some(p) =
                std::fs::read_to_string(&port_file).ok().and_then(|t| t.lines().next()?.parse().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "chromium opened no DevTools port in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let ws_url = loop {
            let list = devtools_targets(addr);
            let page = list.as_array().and_then(|l| l.iter().find(|t| t["type"] == "page").cloned());
            if let Some(u) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str().map(str::to_string)) {
                break u;
            }
            assert!(Instant::now() < deadline, "chromium shows no page: {list}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = std::net::TcpStream::connect(addr).expect("connect to DevTools");
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).expect("DevTools WebSocket handshake");
        let mut page =
            ChromiumPage { ws, next_id: 0, console: Vec::new(), _chromium: chromium, _profile: profile };
        // Console calls and exceptions (Runtime), failed loads and the browser's warnings (Log).
        page.call("Runtime.enable", serde_json::json!({}));
        page.call("Log.enable", serde_json::json!({}));
        page
    }
}

/// A child process started as the leader of its own process group, the whole group killed and
/// the child reaped on drop: a browser's helper processes go with it.
pub(super) struct KillOnDrop(pub(super) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group this child leads (it was spawned with process_group(0)).
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl ChromiumPage {
    /// Call a DevTools method; its `result`. Events arriving meanwhile are noted when they tell
    /// of console errors, else skipped.
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({ "id": id, "method": method, "params": params });
        self.ws.send(tungstenite::Message::text(msg.to_string())).expect("send to DevTools");
        loop {
            let m = self.ws.read().expect("read from DevTools");
            let Ok(text) = m.to_text() else { continue };
            let v: serde_json::Value = serde_json::from_str(text).expect("DevTools sends JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            if let Some(line) = chromium_console_error(&v) {
                self.console.push(line);
            }
        }
    }
}

/// The console error, warning or uncaught exception a DevTools event tells of, if it does.
fn chromium_console_error(event: &serde_json::Value) -> Option<String> {
    let p = &event["params"];
    match event["method"].as_str()? {
        "Runtime.consoleAPICalled" if matches!(p["type"].as_str(), Some("error" | "warning" | "assert")) => {
            let args: Vec<String> = p["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a["value"].as_str().map(str::to_string).unwrap_or_else(|| a["description"].to_string())
                })
                .collect();
            Some(format!("console.{}: {}", p["type"].as_str()?, args.join(" ")))
        }
        "Runtime.exceptionThrown" => {
            let d = &p["exceptionDetails"];
            Some(format!("uncaught: {} {}", d["text"], d["exception"]["description"]))
        }
        "Log.entryAdded" if matches!(p["entry"]["level"].as_str(), Some("error" | "warning")) => {
            Some(format!("{}: {} ({})", p["entry"]["level"], p["entry"]["text"], p["entry"]["url"]))
        }
        _ => None,
    }
}

impl Page for ChromiumPage {
    fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", serde_json::json!({ "url": url }));
        assert!(r.get("errorText").is_none(), "navigate to {url}: {r}");
        // Page.navigate answers once the new document is committed; then its load event.
        self.wait_for("document.readyState", Duration::from_secs(30), |v| v == "complete");
    }

    fn eval(&mut self, expr: &str) -> serde_json::Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        r["result"]["value"].clone()
    }

    fn set_viewport(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
    }

    fn screenshot_png(&mut self) -> Vec<u8> {
        png_from_base64(&self.call("Page.captureScreenshot", serde_json::json!({ "format": "png" }))["data"])
    }

    fn console_errors(&mut self) -> Vec<String> {
        // A round trip reads the events sent before it.
        self.call("Runtime.evaluate", serde_json::json!({ "expression": "0" }));
        std::mem::take(&mut self.console)
    }
}

/// `GET /json/list` from Chromium's DevTools server, which keeps the connection open: the body
/// is read by its `Content-Length`.
fn devtools_targets(addr: std::net::SocketAddr) -> serde_json::Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to DevTools");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /json/list HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("DevTools answer head");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().expect("Content-Length");
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("DevTools answer body");
    serde_json::from_slice(&body).expect("DevTools target list is JSON")
}
