//! Debian's Firefox ESR, headless, as a second reader of the status page: start it and drive
//! one page in real time over WebDriver BiDi, the protocol Firefox itself speaks on
//! `--remote-debugging-port` (a WebSocket, `tungstenite`; no geckodriver), as a
//! [`Page`](super::browser::Page).
//!
//! Started with `--no-remote` in a new profile in a temp dir, whose `user.js` keeps it off the
//! network: no updates, telemetry, safe browsing, captive-portal or connectivity checks, remote
//! settings, add-on or push services, and no name resolves at all (`network.dns.disabled`), so
//! only 127.0.0.1 is reachable.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::browser::{png_from_base64, KillOnDrop, Page};
use super::require;

/// A headless Firefox.
pub struct Firefox {
    bin: PathBuf,
}

/// The profile's preferences: Firefox's own "recommended for automation" set, applied before
/// anything starts, plus the name resolver off (IP literals still connect). What remains is
/// loopback and local sockets only (checked with strace: connects to 127.0.0.1, D-Bus and nscd;
/// the link monitor's netlink route lookups for a fixed address send nothing).
const USER_JS: &str = r#"
user_pref("remote.prefs.recommended", true);
user_pref("network.dns.disabled", true);
user_pref("network.trr.mode", 5);
user_pref("network.proxy.type", 0);
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("app.normandy.api_url", "");
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.page", 0);
user_pref("browser.startup.homepage", "about:blank");
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.newtabpage.activity-stream.feeds.system.topstories", false);
user_pref("browser.newtabpage.activity-stream.feeds.section.topstories", false);
user_pref("browser.newtabpage.activity-stream.feeds.snippets", false);
user_pref("browser.newtabpage.activity-stream.telemetry", false);
user_pref("browser.ping-centre.telemetry", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.downloads.remote.enabled", false);
user_pref("browser.safebrowsing.blockedURIs.enabled", false);
user_pref("browser.safebrowsing.provider.google4.updateURL", "");
user_pref("browser.safebrowsing.provider.google.updateURL", "");
user_pref("browser.safebrowsing.provider.mozilla.updateURL", "");
user_pref("browser.search.update", false);
user_pref("browser.search.geoip.url", "");
user_pref("browser.region.network.url", "");
user_pref("browser.region.update.enabled", false);
user_pref("browser.topsites.contile.enabled", false);
user_pref("browser.urlbar.suggest.searches", false);
user_pref("browser.discovery.enabled", false);
user_pref("browser.translations.enable", false);
user_pref("browser.ml.enable", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("captivedetect.canonicalURL", "");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.usage.uploadEnabled", false);
user_pref("dom.push.connection.enabled", false);
user_pref("dom.push.serverURL", "");
user_pref("extensions.update.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("extensions.blocklist.enabled", false);
user_pref("geo.provider.network.url", "");
user_pref("identity.fxaccounts.enabled", false);
user_pref("media.gmp-manager.url", "");
user_pref("media.gmp-gmpopenh264.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.predictor.enabled", false);
user_pref("network.prefetch-next", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.http.speculative-parallel-limit", 0);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("services.sync.enabled", false);
user_pref("security.OCSP.enabled", 0);
user_pref("security.remote_settings.crlite_filters.enabled", false);
user_pref("security.remote_settings.intermediates.enabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("toolkit.telemetry.archive.enabled", false);
user_pref("toolkit.telemetry.server", "");
user_pref("toolkit.coverage.endpoint.base", "");
"#;

impl Firefox {
    /// `None` (after SKIPPED) outside CI when Firefox is not installed.
    pub fn find() -> Option<Firefox> {
        Some(Firefox { bin: require("firefox")? })
    }

    /// Start a new headless Firefox on `about:blank` and connect to its one page.
    pub fn open(&self) -> FirefoxPage {
        let profile = tempfile::tempdir().expect("profile dir");
        std::fs::write(profile.path().join("user.js"), USER_JS).expect("write user.js");
        let log = profile.path().join("firefox.log");
        let child = Command::new(&self.bin)
            .args(["--headless", "--no-remote", "--remote-debugging-port", "0", "--profile"])
            .arg(profile.path())
            .arg("about:blank")
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("firefox log"))
            .process_group(0)
            .spawn()
            .expect("start firefox");
        // Until the page is connected, a failure below must not leave Firefox running.
        let firefox = KillOnDrop(child);
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        // Firefox writes the BiDi server's address into the profile once it listens.
        let server_file = profile.path().join("WebDriverBiDiServer.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let server: Option<serde_json::Value> =
                std::fs::read_to_string(&server_file).ok().and_then(|t| serde_json::from_str(&t).ok());
            if let Some(p) = server.and_then(|s| s["ws_port"].as_u64()) {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "firefox opened no BiDi port in 30 s; its log:\n{}",
                log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port as u16));
        let stream = std::net::TcpStream::connect(addr).expect("connect to WebDriver BiDi");
        // A Firefox that hangs fails the test instead of blocking it.
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/session").as_str(), stream)
            .unwrap_or_else(|e| panic!("WebDriver BiDi handshake: {e}; firefox's log:\n{}", log_text()));
        let mut page = FirefoxPage {
            ws,
            next_id: 0,
            context: String::new(),
            console: Vec::new(),
            _firefox: firefox,
            _profile: profile,
        };
        page.call("session.new", serde_json::json!({ "capabilities": {} }));
        page.call("session.subscribe", serde_json::json!({ "events": ["log.entryAdded"] }));
        let tree = page.call("browsingContext.getTree", serde_json::json!({ "maxDepth": 0 }));
        page.context = tree["contexts"][0]["context"]
            .as_str()
            .unwrap_or_else(|| panic!("firefox shows no page: {tree}"))
            .to_string();
        page
    }
}

/// A page kept open in a headless Firefox, driven over WebDriver BiDi. Firefox (its whole
/// process group) stops on drop.
pub struct FirefoxPage {
    ws: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
    /// The top-level browsing context: the one tab.
    context: String,
    /// Console errors and warnings and uncaught exceptions, from the events read so far.
    console: Vec<String>,
    _firefox: KillOnDrop,
    _profile: tempfile::TempDir,
}

impl FirefoxPage {
    /// Send a BiDi command; its `result`. Events arriving meanwhile are noted when they tell of
    /// console errors.
    pub fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = serde_json::json!({ "id": id, "method": method, "params": params });
        self.ws.send(tungstenite::Message::text(msg.to_string())).expect("send to WebDriver BiDi");
        loop {
            let m = self.ws.read().unwrap_or_else(|e| panic!("{method}: reading from WebDriver BiDi: {e}"));
            let Ok(text) = m.to_text() else { continue };
            let v: serde_json::Value = serde_json::from_str(text).expect("WebDriver BiDi sends JSON");
            if v["type"] == "event" {
                if let Some(line) = firefox_console_error(&v) {
                    self.console.push(line);
                }
            } else if v["id"] == id {
                assert_eq!(v["type"], "success", "{method}: {v}");
                return v["result"].clone();
            }
        }
    }
}

/// The console error or warning or uncaught exception a `log.entryAdded` event tells of, if it
/// does, with where it came from.
fn firefox_console_error(event: &serde_json::Value) -> Option<String> {
    let p = &event["params"];
    let level = p["level"].as_str()?;
    if event["method"] != "log.entryAdded" || !matches!(level, "error" | "warn") {
        return None;
    }
    let frame = &p["stackTrace"]["callFrames"][0];
    let at = frame["url"].as_str().map(|url| format!(" ({url}:{})", frame["lineNumber"])).unwrap_or_default();
    Some(format!("{} {level}: {}{at}", p["type"].as_str()?, p["text"].as_str().unwrap_or_default()))
}

impl Page for FirefoxPage {
    fn navigate(&mut self, url: &str) {
        let context = self.context.clone();
        self.call(
            "browsingContext.navigate",
            serde_json::json!({ "context": context, "url": url, "wait": "complete" }),
        );
    }

    fn eval(&mut self, expr: &str) -> serde_json::Value {
        // BiDi sends values in its own typed form: the page hands over JSON text instead.
        let context = self.context.clone();
        let r = self.call(
            "script.evaluate",
            serde_json::json!({
                "expression": format!("(async () => JSON.stringify(await ({expr})))()"),
                "target": { "context": context },
                "awaitPromise": true,
                "resultOwnership": "none",
            }),
        );
        assert_eq!(r["type"], "success", "`{expr}` threw: {}", r["exceptionDetails"]);
        match r["result"]["type"].as_str() {
            Some("string") => serde_json::from_str(r["result"]["value"].as_str().unwrap())
                .expect("JSON.stringify gives JSON"),
            Some("undefined") => serde_json::Value::Null,
            _ => panic!("`{expr}`: not a JSON value: {r}"),
        }
    }

    fn set_viewport(&mut self, width: u32, height: u32) {
        let context = self.context.clone();
        self.call(
            "browsingContext.setViewport",
            serde_json::json!({
                "context": context,
                "viewport": { "width": width, "height": height },
                "devicePixelRatio": 1,
            }),
        );
    }

    fn screenshot_png(&mut self) -> Vec<u8> {
        let context = self.context.clone();
        let r = self.call(
            "browsingContext.captureScreenshot",
            serde_json::json!({ "context": context, "origin": "viewport" }),
        );
        png_from_base64(&r["data"])
    }

    fn console_errors(&mut self) -> Vec<String> {
        // A round trip reads the events sent before it.
        self.eval("0");
        std::mem::take(&mut self.console)
    }
}
