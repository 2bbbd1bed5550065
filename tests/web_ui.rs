//! The status page in real browsers: headless Chromium and Firefox load it from a running
//! rrdpipe whose plugin collects known values and whose one exporter points at a dead
//! destination; the page must list the chart, plot it with those values, and show the exporter
//! failing, with nothing on the console, laid out at a laptop's and a phone's width; and it must
//! say when the agent goes away and pick up again when it is back. Screenshots go to
//! `target/screenshots/`.

pub mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::agent::Rrdpipe;
use support::browser::{Chromium, Page};
use support::firefox::{Firefox, FirefoxPage};
use support::{free_port, http_get, local, skip, wait_for_tcp};

/// `probe.const`: `a` 42, `bee` 123.4 (1234 / 10), `n` −7; and a second chart.
const PROBE: &str = r#"#!/bin/sh
echo "CHART probe.const '' 'Known values' 'units' probe probe.const line 1 1"
echo "DIMENSION a '' absolute 1 1"
echo "DIMENSION b bee absolute 1 10"
echo "DIMENSION n '' absolute -1 1"
echo "CHART probe.other '' 'Another chart' 'things' probe probe.other line 2 1"
echo "DIMENSION x '' absolute 1 1"
while true; do
  echo "BEGIN probe.const"; echo "SET a = 42"; echo "SET b = 1234"; echo "SET n = 7"; echo "END"
  echo "BEGIN probe.other"; echo "SET x = 5"; echo "END"
  sleep 1
done
"#;

fn start_agent() -> (Rrdpipe, u16) {
    let web = free_port();
    let dead = free_port();
    let agent = Rrdpipe::start(
        &format!(
            "[global]\nhostname = uihost\nupdate every = 1\nhistory = 600\n[directories]\nplugins = @DIR@/plugins\n\
             [plugins]\nproc = no\n[web]\nbind to = 127.0.0.1:{web}\n\
             [graphite:dead]\nenabled = yes\ndestination = tcp:127.0.0.1:{dead}\nupdate every = 1\n"
        ),
        &[("probe", PROBE)],
    );
    // Wait for a few stored slots and the exporter's first failures.
    let deadline = Instant::now() + Duration::from_secs(30);
    assert!(wait_for_tcp(local(web), deadline), "the API does not listen; log:\n{}", agent.log());
    loop {
        let r = http_get(local(web), "/api/v1/status");
        if r.status == 200 && r.text().contains("\"failing_since\":1") && stored_slots(web) >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "agent not ready in 30 s: {}; log:\n{}", r.text(), agent.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    (agent, web)
}

fn stored_slots(web: u16) -> usize {
    let r = http_get(local(web), "/api/v1/data?chart=probe.const&after=-60&format=csv");
    if r.status != 200 {
        return 0;
    }
    r.text().lines().skip(1).filter(|l| l.contains("42")).count()
}

/// The start tag of the first element carrying `attr` (e.g. `data-exporter="dead"`).
fn tag_with<'a>(dom: &'a str, attr: &str) -> &'a str {
    let at = dom.find(attr).unwrap_or_else(|| panic!("no element with {attr} in the page:\n{dom}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// The text of the `<b>` value in the legend entry of `dimension` inside the plot of `chart`.
fn legend_value(dom: &str, chart: &str, dimension: &str) -> String {
    let plot = &dom[dom.find(&format!("data-chart=\"{chart}\"")).expect("plot")..];
    let entry = &plot[plot.find(&format!("data-dimension=\"{dimension}\"")).expect("legend entry")..];
    let b = entry.find("<b>").unwrap() + 3;
    entry[b..b + entry[b..].find("</b>").unwrap()].to_string()
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

#[test]
fn the_status_page_lists_and_plots_the_plugin_s_chart_and_shows_the_dead_exporter() {
    let Some(chromium) = Chromium::find() else { return };
    let (agent, web) = start_agent();
    let page = chromium.render(&format!("http://127.0.0.1:{web}/"), Duration::from_secs(6));
    let dom = &page.dom;

    assert!(page.console.is_empty(), "console messages: {:#?}", page.console);
    assert!(dom.contains("<span id=\"hostname\">uihost</span>"), "{dom}");
    // The exporter to a dead port is shown down, in red, with the reason.
    let row = tag_with(dom, "data-exporter=\"dead\"");
    assert!(row.contains("data-state=\"down\"") && row.contains("class=\"bad\""), "{row}");
    assert!(dom.contains("cannot connect to any destination"), "the reason is shown");
    let cells = &dom[dom.find(row).unwrap()..];
    let cells = &cells[..cells.find("</tr>").unwrap()];
    assert!(cells.ends_with("<td>never</td>"), "no delivery ever succeeded: {cells}");
    // The local host.
    assert!(tag_with(dom, "data-host=\"uihost\"").starts_with("<tr"));
    // Both charts are listed; with no chart asked for, the first ones are plotted.
    assert!(tag_with(dom, "data-key=\"probe.const\"").contains("class=\"on\""));
    assert!(tag_with(dom, "data-key=\"probe.other\"").starts_with("<li"));
    let plot = tag_with(dom, "data-chart=\"probe.const\"");
    let rows: usize =
        plot.split("data-rows=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().parse().unwrap();
    assert!(rows >= 3, "plotted rows: {plot}");
    assert_eq!(legend_value(dom, "probe.const", "a"), "42");
    assert_eq!(legend_value(dom, "probe.const", "bee"), "123.4");
    assert_eq!(legend_value(dom, "probe.const", "n"), "-7");

    // A link with ?chart= opens with exactly that chart.
    let page = chromium.render(&format!("http://127.0.0.1:{web}/?chart=probe.other"), Duration::from_secs(4));
    assert!(page.dom.contains("data-chart=\"probe.other\""));
    assert!(!page.dom.contains("data-chart=\"probe.const\""), "only the linked chart is plotted");
    assert_eq!(legend_value(&page.dom, "probe.other", "x"), "5");

    // Screenshots at a laptop's and a phone's width, for the README.
    let dir = screenshots();
    chromium.screenshot(
        &format!("http://127.0.0.1:{web}/"),
        Duration::from_secs(6),
        1280,
        900,
        &dir.join("status.png"),
    );
    chromium.screenshot(
        &format!("http://127.0.0.1:{web}/"),
        Duration::from_secs(6),
        390,
        844,
        &dir.join("status-phone.png"),
    );
    drop(agent);
}

/// netdata's web files, as Debian's `netdata-web` installs them.
const NETDATA_WEB: &str = "/usr/share/netdata/web";

/// The text of each `…DimensionValue…` span of the legend entry labelled `dimension` (netdata's
/// dashboard: `<span class="…DimensionLabel…">a</span><span class="…DimensionValue…">42</span>`).
fn dashboard_legend_values(dom: &str, dimension: &str) -> Vec<String> {
    let label = format!("\">{dimension}</span><span class=\"");
    dom.match_indices(&label)
        .filter_map(|(at, _)| {
            let rest = &dom[at + label.len()..];
            let (class, rest) = rest.split_once("\">")?;
            let value = &rest[..rest.find('<')?];
            class.contains("DimensionValue").then(|| value.to_string())
        })
        .collect()
}

/// The console lines of a page that tell of an error or a failure, but for the dashboard's
/// version check against GitHub, which cannot be reached here (netdata itself logs it too).
fn console_errors(console: &[String]) -> Vec<&String> {
    console
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("fail") || l.contains("cannot") || l.contains("warn")
        })
        .filter(|l| {
            !l.contains("error fetching https://api.github.com/repos/netdata/netdata/releases/latest")
        })
        .collect()
}

/// The agent with the probe plugin and netdata's web files as `[directories] web`, listening;
/// `None` (after SKIPPED; a failure under CI) when netdata's web files are not installed.
fn start_with_netdata_web() -> Option<(Rrdpipe, u16)> {
    if !["index.html", "dashboard.js"].iter().all(|f| std::path::Path::new(NETDATA_WEB).join(f).is_file()) {
        skip(&format!("netdata's web files are not in {NETDATA_WEB} (Debian package netdata-web)"));
        return None;
    }
    let web = free_port();
    let agent = Rrdpipe::start(
        &format!(
            "[global]\nhostname = uihost\nupdate every = 1\nhistory = 600\n\
             [directories]\nplugins = @DIR@/plugins\nweb = {NETDATA_WEB}\n\
             [plugins]\nproc = no\n[web]\nbind to = 127.0.0.1:{web}\n"
        ),
        &[("probe", PROBE)],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    assert!(wait_for_tcp(local(web), deadline), "the API does not listen; log:\n{}", agent.log());
    Some((agent, web))
}

#[test]
fn netdata_s_dashboards_draw_the_plugin_s_chart_from_rrdpipe_offline() {
    let Some(chromium) = Chromium::find() else { return };
    let Some((agent, web)) = start_with_netdata_web() else { return };
    // The dashboard's first query (`after=-300`, 5 to 7 points) ends at a multiple of its point's
    // width (43 to 60 s): wait until that window holds the known values.
    let deadline = Instant::now() + Duration::from_secs(150);
    for points in [5, 6, 7] {
        let q = format!(
            "/api/v1/data?chart=probe.const&format=json&points={points}&group=average&gtime=0\
             &options=ms%7Cflip%7Cjsonwrap%7Cnonzero&after=-300"
        );
        while !http_get(local(web), &q).text().contains("\"view_latest_values\": [42, 123.4, -7]") {
            assert!(
                Instant::now() < deadline,
                "no data in the dashboard's window: {}",
                http_get(local(web), &q).text()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // The registry names the agent itself: the dashboards ask nothing of registry.my-netdata.io.
    let hello = http_get(local(web), "/api/v1/registry?action=hello").text();
    assert!(hello.contains(&format!("\"registry\": \"http://127.0.0.1:{web}\"")), "{hello}");

    let main = chromium.render(&format!("http://127.0.0.1:{web}/"), Duration::from_secs(8));
    assert!(console_errors(&main.console).is_empty(), "console: {:#?}", main.console);
    assert!(main.dom.contains("probe.const"), "the chart is listed");
    // The legend shows the latest values with the dashboard's decimals (`42.0`).
    for (dim, value) in [("a", 42.0), ("bee", 123.4), ("n", -7.0)] {
        let shown = dashboard_legend_values(&main.dom, dim);
        let parsed: Vec<f64> = shown.iter().filter_map(|v| v.parse().ok()).collect();
        assert_eq!(parsed, [value], "legend of {dim}: {shown:?}");
    }

    let old = chromium.render(&format!("http://127.0.0.1:{web}/old/"), Duration::from_secs(8));
    // `/old/` builds its page from the charts and passes the registry (netdata itself logs
    // "ERROR 409: Cannot ACCESS netdata registry" here); its `dashboard.js` draws no chart
    // without focus, against netdata too, so no legend to read.
    assert!(console_errors(&old.console).is_empty(), "console: {:#?}", old.console);
    assert!(old.dom.contains("data-netdata=\"probe.const\""), "the chart's element");
    assert!(
        old.console.iter().any(|l| l.contains("ACCESS uihost")),
        "the registry access: {:#?}",
        old.console
    );

    let dir = screenshots();
    let main_png = dir.join("netdata-dashboard.png");
    chromium.screenshot(&format!("http://127.0.0.1:{web}/"), Duration::from_secs(8), 1280, 900, &main_png);
    let old_png = dir.join("netdata-old.png");
    chromium.screenshot(&format!("http://127.0.0.1:{web}/old/"), Duration::from_secs(8), 1280, 900, &old_png);
    drop(agent);
}

/// The page open at the agent's status page says "live", then, with the agent killed under it,
/// that the agent is unreachable (keeping the last values on screen), and once the agent is
/// started again, that it reconnected, showing the new process's uptime and values.
fn survives_the_agent_restarting(page: &mut impl Page, agent: &mut Rrdpipe) {
    let link = "document.getElementById('link').textContent";
    let rows = "Number(document.querySelector('[data-chart=\"probe.const\"]')?.dataset.rows || 0)";
    let a = "document.querySelector('[data-chart=\"probe.const\"] [data-dimension=\"a\"] b')?.textContent";
    let uptime = "parseInt(document.getElementById('uptime').textContent)";
    page.wait_for(link, Duration::from_secs(20), |v| v == "live");
    page.wait_for(rows, Duration::from_secs(20), |v| v.as_u64().is_some_and(|n| n >= 5));
    assert_eq!(page.eval(a), "42");

    // The agent goes away: the page says so, and keeps what it showed.
    let before = page.wait_for(uptime, Duration::from_secs(10), |v| v.as_u64().is_some_and(|s| s >= 5));
    agent.kill();
    let down = page.wait_for(link, Duration::from_secs(15), |v| {
        v.as_str().is_some_and(|s| s.starts_with("agent unreachable since ") && s.ends_with("; retrying"))
    });
    assert_eq!(page.eval("document.getElementById('link').className"), "link down", "{down}");
    assert_eq!(page.eval(a), "42", "the last values stay on screen");

    // It comes back (a new process: uptime starts again): the page picks up by itself.
    std::thread::sleep(Duration::from_secs(2));
    agent.restart();
    page.wait_for(link, Duration::from_secs(30), |v| {
        v.as_str().is_some_and(|s| s.starts_with("reconnected at "))
    });
    assert_eq!(page.eval("document.getElementById('link').className"), "link up");
    page.wait_for(uptime, Duration::from_secs(10), |v| {
        v.as_u64().is_some_and(|s| s < before.as_u64().unwrap())
    });
    page.wait_for(a, Duration::from_secs(30), |v| v == "42");
    assert!(agent.is_running());
}

#[test]
fn the_status_page_says_when_the_agent_is_gone_and_picks_up_again_when_it_is_back() {
    let Some(chromium) = Chromium::find() else { return };
    let (mut agent, web) = start_agent();
    let mut page = chromium.open(&format!("http://127.0.0.1:{web}/"));
    survives_the_agent_restarting(&mut page, &mut agent);
}

#[test]
fn in_firefox_the_status_page_says_when_the_agent_is_gone_and_picks_up_again() {
    let Some(firefox) = Firefox::find() else { return };
    let opening = open_meanwhile(firefox);
    let (mut agent, web) = start_agent();
    let mut page = opening.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    page.navigate(&format!("http://127.0.0.1:{web}/"));
    survives_the_agent_restarting(&mut page, &mut agent);
}

/// Firefox, starting (a few seconds) while the agent does.
fn open_meanwhile(firefox: Firefox) -> std::thread::JoinHandle<FirefoxPage> {
    std::thread::spawn(move || firefox.open())
}

/// What the status page shows, read from its DOM in one go.
const STATUS_FACTS: &str = r##"(() => {
  const q = (s) => document.querySelector(s);
  const box = (e) => e && e.getBoundingClientRect().toJSON();
  const row = q('[data-exporter="dead"]');
  const plot = q('[data-chart="probe.const"]');
  const canvas = plot && plot.querySelector("canvas");
  let painted = 0;
  if (canvas && canvas.width && canvas.height) {
    const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i]) painted++;
  }
  return {
    hostname: q("#hostname").textContent,
    exporter: row && { state: row.dataset.state, cls: row.className, text: row.textContent, last: row.lastElementChild.textContent },
    host: !!q('tr[data-host="uihost"]'),
    listed: [...document.querySelectorAll("#chart-list li")].map((li) => [li.dataset.key, li.className]),
    plotted: [...document.querySelectorAll("[data-chart]")].map((p) => p.dataset.chart),
    legend: ["a", "bee", "n"].map((d) => plot && plot.querySelector(`[data-dimension="${d}"] b`)?.textContent),
    painted,
    viewport: innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    link: box(q("#link")),
    picker: box(q(".picker")),
    plots: box(q("#plots")),
    canvas: box(canvas),
  };
})()"##;

/// The status page at `width`×`height`: the plugin's chart listed and plotted with the known
/// values, the dead exporter failing, the local host, nothing on the console; laid out without
/// sideways scrolling, the chart picker beside the plots on a laptop and above them on a phone.
/// Screenshots of its top and of its plots are saved as `{shot}.png` and `{shot}-plots.png`.
fn shows_the_status_page(page: &mut impl Page, web: u16, width: u32, height: u32, shot: &str) {
    page.set_viewport(width, height);
    page.navigate(&format!("http://127.0.0.1:{web}/"));
    let rows = "Number(document.querySelector('[data-chart=\"probe.const\"]')?.dataset.rows || 0)";
    page.wait_for(rows, Duration::from_secs(20), |v| v.as_u64().is_some_and(|n| n >= 3));
    let facts = page.wait_for(STATUS_FACTS, Duration::from_secs(10), |f| f["exporter"].is_object());
    let f = |k: &str| &facts[k];

    assert_eq!(f("hostname"), "uihost", "{facts:#}");
    assert_eq!(f("exporter")["state"], "down");
    assert_eq!(f("exporter")["cls"], "bad");
    assert!(
        f("exporter")["text"].as_str().unwrap().contains("cannot connect to any destination"),
        "{facts:#}"
    );
    assert_eq!(f("exporter")["last"], "never", "no delivery ever succeeded");
    assert_eq!(f("host"), true);
    // The plugin's charts first, both plotted (with no chart asked for, the first two are); then
    // the agent's own.
    let listed = f("listed").as_array().unwrap();
    assert_eq!(
        listed[..2],
        serde_json::json!([["probe.const", "on"], ["probe.other", "on"]]).as_array().unwrap()[..]
    );
    assert!(listed[2..].iter().all(|l| l[1] == ""), "{listed:?}");
    assert_eq!(f("plotted"), &serde_json::json!(["probe.const", "probe.other"]));
    assert_eq!(f("legend"), &serde_json::json!(["42", "123.4", "-7"]));
    assert!(f("painted").as_u64().unwrap() > 500, "the chart's canvas is drawn on: {facts:#}");

    // Laid out for the width: nothing wider than the viewport, the link state on screen, the
    // chart filling its column.
    assert_eq!(f("viewport"), width, "{facts:#}");
    assert!(f("scroll_width").as_u64().unwrap() <= width as u64, "the page scrolls sideways: {facts:#}");
    let (link, picker, plots, canvas) = (f("link"), f("picker"), f("plots"), f("canvas"));
    let num = |b: &serde_json::Value, k: &str| b[k].as_f64().unwrap();
    assert!(num(link, "left") >= 0.0 && num(link, "right") <= width as f64, "{facts:#}");
    assert!(
        num(canvas, "width") >= num(plots, "width") - 40.0 && num(canvas, "right") <= width as f64,
        "{facts:#}"
    );
    assert!(num(canvas, "height") >= 200.0, "{facts:#}");
    if width > 720 {
        assert!(
            num(picker, "right") <= num(plots, "left") && num(picker, "top") == num(plots, "top"),
            "side by side: {facts:#}"
        );
    } else {
        assert!(num(picker, "bottom") <= num(plots, "top"), "the picker above the plots: {facts:#}");
        assert!(num(picker, "width") >= width as f64 - 40.0, "the picker spans the phone's width: {facts:#}");
    }
    assert_eq!(page.console_errors(), Vec::<String>::new());
    page.screenshot(&screenshots().join(format!("{shot}.png")));
    page.eval("document.getElementById('plots').scrollIntoView()");
    page.screenshot(&screenshots().join(format!("{shot}-plots.png")));
}

#[test]
fn in_firefox_the_status_page_plots_the_chart_and_shows_the_dead_exporter_on_laptop_and_phone() {
    let Some(firefox) = Firefox::find() else { return };
    let opening = open_meanwhile(firefox);
    let (agent, web) = start_agent();
    let mut page = opening.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    shows_the_status_page(&mut page, web, 1366, 800, "firefox-status");
    shows_the_status_page(&mut page, web, 390, 844, "firefox-status-phone");

    // A link with ?chart= opens with exactly that chart.
    page.navigate(&format!("http://127.0.0.1:{web}/?chart=probe.other"));
    let x = "document.querySelector('[data-chart=\"probe.other\"] [data-dimension=\"x\"] b')?.textContent";
    page.wait_for(x, Duration::from_secs(20), |v| v == "5");
    assert_eq!(
        page.eval("[...document.querySelectorAll('[data-chart]')].map(p => p.dataset.chart)"),
        serde_json::json!(["probe.other"]),
        "only the linked chart is plotted"
    );
    assert_eq!(page.console_errors(), Vec::<String>::new());
    drop(agent);
}

#[test]
fn in_a_live_chromium_the_status_page_is_laid_out_at_laptop_and_phone_width() {
    let Some(chromium) = Chromium::find() else { return };
    let (agent, web) = start_agent();
    let mut page = chromium.open("about:blank");
    shows_the_status_page(&mut page, web, 1366, 800, "chromium-status");
    shows_the_status_page(&mut page, web, 390, 844, "chromium-status-phone");
    drop(agent);
}

/// The legend values `dashboard.js` shows for `probe.const`, as numbers.
const LEGEND: &str = r#"[...document.querySelectorAll('[data-netdata="probe.const"] .netdata-legend-value')].map(e => Number(e.textContent))"#;

#[test]
fn netdata_s_dashboard_js_draws_the_chart_in_old_and_in_a_custom_page_from_file() {
    let Some(chromium) = Chromium::find() else { return };
    let Some((_agent, web)) = start_with_netdata_web() else { return };
    let known = |v: &serde_json::Value| {
        v.as_array().is_some_and(|a| a.iter().filter_map(|x| x.as_f64()).eq([42.0, 123.4, -7.0]))
    };
    // dashboard.js draws only in a focused window: the page gets focus emulated.
    let mut page = chromium.open("about:blank");
    page.call("Emulation.setFocusEmulationEnabled", serde_json::json!({ "enabled": true }));
    page.call("Page.navigate", serde_json::json!({ "url": format!("http://127.0.0.1:{web}/old/") }));
    page.wait_for("location.pathname", Duration::from_secs(10), |v| v == "/old/");
    page.wait_for(LEGEND, Duration::from_secs(60), known);

    // netdata's custom dashboard example: a page of its own (here from file://, another
    // origin) loading dashboard.js from the agent, with one data-netdata element.
    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("custom.html");
    std::fs::write(
        &custom,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><script>var netdataServer = \
             'http://127.0.0.1:{web}';</script><script src=\"http://127.0.0.1:{web}/dashboard.js\"></script>\
             </head><body><div data-netdata=\"probe.const\" data-chart-library=\"dygraph\" data-width=\"600px\" \
             data-height=\"200px\" data-after=\"-60\"></div></body></html>"
        ),
    )
    .unwrap();
    page.call("Page.navigate", serde_json::json!({ "url": format!("file://{}", custom.display()) }));
    page.wait_for("location.protocol", Duration::from_secs(10), |v| v == "file:");
    page.wait_for(LEGEND, Duration::from_secs(60), known);
    // It read the agent from its own origin, with netdata's CORS answers.
    assert_eq!(page.eval("netdataServer"), format!("http://127.0.0.1:{web}").as_str());
}

/// A page in `page`'s browser that logs an error, a warning and a plain message and throws: the
/// harness's console check sees the first two and the exception, in order, and not the third.
fn sees_console_errors(page: &mut impl Page) {
    page.navigate("data:text/html,<p>console</p>");
    page.eval(
        "(console.error('seen-error'), console.warn('seen-warning'), console.log('not an error'), \
         setTimeout(() => { throw new Error('seen-exception') }), 0)",
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.len() < 3 && Instant::now() < deadline {
        seen.extend(page.console_errors());
        std::thread::sleep(Duration::from_millis(100));
    }
    let expected = ["seen-error", "seen-warning", "seen-exception"];
    assert!(
        seen.len() == expected.len() && seen.iter().zip(expected).all(|(line, e)| line.contains(e)),
        "{seen:#?}"
    );
}

#[test]
fn the_console_check_sees_errors_warnings_and_exceptions_in_both_browsers() {
    if let Some(firefox) = Firefox::find() {
        sees_console_errors(&mut firefox.open());
    }
    if let Some(chromium) = Chromium::find() {
        sees_console_errors(&mut chromium.open("about:blank"));
    }
}
