//! The plugins of Debian's netdata 1.37 package, run unchanged by the rrdpipe binary from
//! netdata's plugins directory, with nothing under `[directories]` but what the example modules
//! need: each defines the same charts under rrdpipe as under a real netdata 1.37 running the
//! same plugin at the same time (netdata's chart ids read from its `/api/v1/charts`), and
//! rrdpipe exports them (a JSON exporter to a TCP sink). Then the rough edges around them:
//! two plugin directories, `[plugin:apps] update every`, a disabled plugin, a missing
//! directory, a plugin that keeps failing.
//!
//! Under CI a missing netdata, or a missing plugin of its package, fails the test.

pub mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::agent::{write_plugin, Rrdpipe, Sink};
use support::netdata::{Netdata, Setup};
use support::*;

/// Where Debian's netdata package puts its plugins.
const PLUGINS_DIR: &str = "/usr/lib/netdata/plugins.d";

/// The user's python.d.conf enabling netdata's `example` module alone.
const PYTHON_D_CONF: &str = "enabled: yes\ndefault_run: no\nexample: yes\n";
/// The user's charts.d.conf enabling netdata's `example` module alone.
const CHARTS_D_CONF: &str = "enable_all_charts=\"no\"\nexample=\"force\"\n";
/// The `example` module's own settings: it refuses to start without a magic number.
const CHARTS_D_EXAMPLE_CONF: &str = "example_magic_number=12345\n";

/// One plugin of netdata's package and what it needs.
struct Case {
    /// Its name in `[plugins]` (`apps` for `apps.plugin`).
    name: &'static str,
    /// Configuration both agents get (e.g. a `[plugin:perf]` section).
    extra: &'static str,
    /// Files for the configuration directory, `(name, text)`; rrdpipe gets them through
    /// `[directories] config`.
    files: &'static [(&'static str, &'static str)],
    /// Charts that must be among them.
    must: &'static [&'static str],
}

/// `Some(())` when the plugin is installed; `None` after SKIPPED outside CI; a failure under CI.
fn require_plugin(name: &str) -> Option<()> {
    let path = Path::new(PLUGINS_DIR).join(format!("{name}.plugin"));
    if path.exists() {
        return Some(());
    }
    let why =
        format!("{} is not installed (Debian: apt install netdata netdata-plugins-python)", path.display());
    if is_ci() {
        panic!("{why}");
    }
    skip(&why);
    None
}

/// The chart ids in JSON exporter lines.
fn exported_chart_ids(sink: &Sink) -> BTreeSet<String> {
    sink.lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["chart_id"].as_str().map(str::to_string))
        .collect()
}

/// Every exported `(chart_id, timestamp)`.
fn exported_points(sink: &Sink) -> Vec<(String, i64)> {
    sink.lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["chart_id"].as_str()?.to_string(), v["timestamp"].as_i64()?)))
        .collect()
}

/// rrdpipe's configuration running only the plugin `name`, exporting everything it stores
/// every second as JSON to `sink`.
fn rrdpipe_conf(name: &str, extra: &str, sink: &Sink) -> String {
    format!(
        "[global]\n    hostname = plugins-{name}\n    update every = 1\n\
         [plugins]\n    proc = no\n    enable running new plugins = no\n    {name} = yes\n{extra}\n\
         [json:sink]\n    enabled = yes\n    destination = {}\n    data source = as collected\n    \
         update every = 1\n    send names instead of ids = no\n    send hosts matching = *\n",
        sink.addr
    )
}

/// Run `case` under netdata and under rrdpipe side by side until both define the same charts
/// (at most 40 s), and check that rrdpipe exported every one.
fn same_charts_as_netdata(case: Case) {
    if require_plugin(case.name).is_none() {
        return;
    }
    let Some(netdata) = Netdata::start(Setup {
        hostname: format!("netdata-{}", case.name),
        plugins: vec![case.name.to_string()],
        web: true,
        extra: case.extra.to_string(),
        files: case.files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(),
        ..Setup::default()
    }) else {
        return;
    };
    let config_dir = tempfile::tempdir().unwrap();
    for (name, text) in case.files {
        let path = config_dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let directories = if case.files.is_empty() {
        String::new()
    } else {
        format!("[directories]\n    config = {}\n", config_dir.path().display())
    };
    let sink = Sink::start(b"");
    let agent = Rrdpipe::start(&rrdpipe_conf(case.name, &format!("{}{directories}", case.extra), &sink), &[]);
    let plugin = format!("{}.plugin", case.name);
    // netdata's side, and rrdpipe's less its own charts (netdata.* that netdata lacks).
    let compare = || {
        let theirs: BTreeSet<String> = netdata.chart_ids(&plugin).into_iter().collect();
        let ours: BTreeSet<String> = exported_chart_ids(&sink)
            .into_iter()
            .filter(|id| !id.starts_with("netdata.") || theirs.contains(id))
            .collect();
        (theirs, ours)
    };
    let settled = wait_until(deadline_in(40), || {
        let (theirs, ours) = compare();
        !theirs.is_empty() && theirs == ours && case.must.iter().all(|c| ours.contains(*c))
    });
    let (theirs, ours) = compare();
    assert!(
        settled,
        "{plugin}: netdata's charts and rrdpipe's differ\nonly netdata: {:?}\nonly rrdpipe: {:?}\nmust have: {:?}\nrrdpipe log:\n{}",
        theirs.difference(&ours).collect::<Vec<_>>(),
        ours.difference(&theirs).collect::<Vec<_>>(),
        case.must,
        agent.log()
    );
    let log = agent.log();
    assert!(
        !log.contains(&format!("plugin{{plugin={}}}: disabled", case.name)),
        "{plugin} was disabled:\n{log}"
    );
    eprintln!("{plugin}: {} charts under both agents", ours.len());
}

#[test]
fn apps_plugin_defines_the_same_charts_as_under_netdata() {
    same_charts_as_netdata(Case {
        name: "apps",
        extra: "",
        files: &[],
        must: &["apps.cpu", "apps.mem", "apps.processes", "users.cpu", "groups.cpu"],
    });
}

#[test]
fn python_d_example_module_defines_the_same_charts_as_under_netdata() {
    same_charts_as_netdata(Case {
        name: "python.d",
        extra: "",
        files: &[("python.d.conf", PYTHON_D_CONF)],
        must: &["example_Four_Lines.random"],
    });
}

#[test]
fn charts_d_example_module_defines_the_same_charts_as_under_netdata() {
    same_charts_as_netdata(Case {
        name: "charts.d",
        extra: "",
        files: &[("charts.d.conf", CHARTS_D_CONF), ("charts.d/example.conf", CHARTS_D_EXAMPLE_CONF)],
        must: &["example.random"],
    });
}

#[test]
fn slabinfo_plugin_defines_the_same_charts_as_under_netdata() {
    same_charts_as_netdata(Case {
        name: "slabinfo",
        extra: "",
        files: &[],
        must: &["mem.slabmemory", "mem.slabfilling", "mem.slabwaste"],
    });
}

#[test]
fn perf_plugin_with_all_events_defines_the_same_charts_as_under_netdata() {
    // Hardware events need a PMU the kernel may not offer (a VM, a container): perf.plugin
    // disables those itself; the software ones (migrations) are there everywhere.
    same_charts_as_netdata(Case {
        name: "perf",
        extra: "[plugin:perf]\n    command options = all\n",
        files: &[],
        must: &["perf.migrations"],
    });
}

// ---------------------------------------------------------------- the rough edges

/// The process ids of `comm` whose parent is `parent`.
fn children_named(parent: u32, comm: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map_or("", |(_, n)| n);
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if name == comm && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn plugin_apps_update_every_2_is_its_argument_and_its_charts_interval() {
    if require_plugin("apps").is_none() {
        return;
    }
    let sink = Sink::start(b"");
    let agent = Rrdpipe::start(&rrdpipe_conf("apps", "[plugin:apps]\n    update every = 2\n", &sink), &[]);
    let mut cmdline = String::new();
    assert!(
        wait_until(deadline_in(15), || {
            if let Some(pid) = children_named(agent.pid(), "apps.plugin").first() {
                cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            }
            !cmdline.is_empty()
        }),
        "apps.plugin did not start:\n{}",
        agent.log()
    );
    assert_eq!(cmdline, format!("{PLUGINS_DIR}/apps.plugin\x002\x00"));
    // Every exported point of apps.cpu lies 2 s (or a multiple, for a missed beat) from the
    // one before.
    let stamps = || {
        let mut t: Vec<i64> =
            exported_points(&sink).into_iter().filter(|(c, _)| c == "apps.cpu").map(|(_, t)| t).collect();
        t.sort();
        t.dedup();
        t
    };
    assert!(
        wait_until(deadline_in(30), || stamps().len() >= 4),
        "apps.cpu not exported 4 times:\n{}",
        agent.log()
    );
    let t = stamps();
    let steps: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|s| *s > 0 && s % 2 == 0), "apps.cpu timestamps {t:?} (steps {steps:?})");
}

/// A plugin that writes its environment and arguments to `$OUT`, then defines one chart.
const ENV_PLUGIN: &str = "#!/bin/sh
env > \"$(dirname \"$0\")/../env.$(basename \"$0\" .plugin).txt\"
echo \"$@\" > \"$(dirname \"$0\")/../args.$(basename \"$0\" .plugin).txt\"
echo \"CHART probe.$(basename \"$0\" .plugin) '' 'probe' 'n' '' '' line 1 $1\"
echo \"DIMENSION x '' absolute 1 1\"
while true; do printf 'BEGIN probe.%s\\nSET x = 1\\nEND\\n' \"$(basename \"$0\" .plugin)\"; sleep 1; done
";

#[test]
fn two_plugin_directories_are_scanned_first_wins_and_a_disabled_plugin_does_not_run() {
    let root = tempfile::tempdir().unwrap();
    let (first, second) = (root.path().join("first"), root.path().join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    write_plugin(&first, "same", ENV_PLUGIN);
    write_plugin(&second, "same", "#!/bin/sh\necho 'CHART wrong.dir x x x x x line 1 1'\nsleep 60\n");
    write_plugin(&second, "other", ENV_PLUGIN);
    write_plugin(&second, "off", ENV_PLUGIN);
    let sink = Sink::start(b"");
    let conf = format!(
        "[global]\n    hostname = dirs\n[directories]\n    plugins = \"{}\" \"{}\"\n\
         [plugins]\n    proc = no\n    off = no\n\
         [json:sink]\n    enabled = yes\n    destination = {}\n    data source = as collected\n    update every = 1\n    \
         send names instead of ids = no\n",
        first.display(),
        second.display(),
        sink.addr
    );
    let agent = Rrdpipe::start(&conf, &[]);
    let want: BTreeSet<String> = ["probe.same", "probe.other"].map(String::from).into();
    assert!(
        wait_until(deadline_in(20), || want.is_subset(&exported_chart_ids(&sink))),
        "exported: {:?}\n{}",
        exported_chart_ids(&sink),
        agent.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let ids = exported_chart_ids(&sink);
    assert!(!ids.contains("wrong.dir"), "the second directory's same.plugin ran: {ids:?}");
    assert!(!ids.contains("probe.off"), "the disabled plugin ran: {ids:?}");
    assert!(!root.path().join("env.off.txt").exists(), "the disabled plugin ran");
    let env = std::fs::read_to_string(root.path().join("env.same.txt")).unwrap();
    assert!(env.lines().any(|l| l == format!("NETDATA_PLUGINS_DIR={}", first.display())), "{env}");
    assert!(env.lines().any(|l| l == format!("NETDATA_USER_PLUGINS_DIRS={}", second.display())), "{env}");
}

#[test]
fn plugins_get_the_environment_netdata_gives_them() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    let plugins = d.join("plugins.d");
    std::fs::create_dir_all(&plugins).unwrap();
    for sub in ["conf", "stock", "log", "cache", "lib", "web", "home", "extra"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    write_plugin(&plugins, "env", ENV_PLUGIN);
    let p = |s: &str| d.join(s).display().to_string();
    let conf = format!(
        "[global]\n    hostname = envhost\n    update every = 3\n\
         [directories]\n    config = {conf}\n    stock config = {stock}\n    plugins = \"{plugins}\" \"{extra}\"\n    \
         log = {log}\n    cache = {cache}\n    lib = {lib}\n    web = {web}\n    home = {home}\n\
         [web]\n    default port = 29999\n    bind to = 127.0.0.1:{port}\n\
         [plugins]\n    proc = no\n[plugin:env]\n    update every = 2\n    command options = --a 'b c'\n",
        conf = p("conf"),
        stock = p("stock"),
        plugins = plugins.display(),
        extra = p("extra"),
        log = p("log"),
        cache = p("cache"),
        lib = p("lib"),
        web = p("web"),
        home = p("home"),
        port = free_port(),
    );
    let agent = Rrdpipe::start(&conf, &[]);
    let env_file = d.join("env.env.txt");
    assert!(wait_until(deadline_in(15), || env_file.exists()), "the plugin did not run:\n{}", agent.log());
    std::thread::sleep(Duration::from_millis(300));
    let env = std::fs::read_to_string(&env_file).unwrap();
    let get = |k: &str| env.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    // As netdata 1.37.1 gives them to a plugin for the same settings (observed with a plugin
    // like this one under /usr/sbin/netdata).
    let expected = [
        ("NETDATA_UPDATE_EVERY", "3".to_string()),
        ("NETDATA_CONFIG_DIR", p("conf")),
        ("NETDATA_USER_CONFIG_DIR", p("conf")),
        ("NETDATA_STOCK_CONFIG_DIR", p("stock")),
        ("NETDATA_PLUGINS_DIR", plugins.display().to_string()),
        ("NETDATA_USER_PLUGINS_DIRS", p("extra")),
        ("NETDATA_WEB_DIR", p("web")),
        ("NETDATA_CACHE_DIR", p("cache")),
        ("NETDATA_LIB_DIR", p("lib")),
        ("NETDATA_LOCK_DIR", format!("{}/lock", p("lib"))),
        ("NETDATA_LOG_DIR", p("log")),
        ("NETDATA_HOST_PREFIX", String::new()),
        ("NETDATA_HOSTNAME", "envhost".to_string()),
        ("NETDATA_REGISTRY_HOSTNAME", "envhost".to_string()),
        ("NETDATA_REGISTRY_URL", "https://registry.my-netdata.io".to_string()),
        ("NETDATA_REGISTRY_CLOUD_BASE_URL", "https://api.netdata.cloud".to_string()),
        ("NETDATA_LISTEN_PORT", "29999".to_string()),
        ("NETDATA_DEBUG_FLAGS", "0x0000000000000000".to_string()),
        ("NETDATA_ERRORS_THROTTLE_PERIOD", "1200".to_string()),
        ("NETDATA_ERRORS_PER_PERIOD", "200".to_string()),
        ("NETDATA_INTERNALS_MONITORING", "YES".to_string()),
        ("NETDATA_VERSION", "v1.37.1".to_string()),
        ("HOME", p("home")),
        ("LC_ALL", "C".to_string()),
    ];
    for (k, v) in expected {
        assert_eq!(get(k).as_deref(), Some(v.as_str()), "{k} in\n{env}");
    }
    assert!(get("NETDATA_REGISTRY_UNIQUE_ID").is_some(), "{env}");
    let args = std::fs::read_to_string(d.join("args.env.txt")).unwrap();
    assert_eq!(args, "2 --a b c\n", "update every of [plugin:env], then its command options");
}

#[test]
fn a_plugin_that_keeps_failing_is_logged_once_and_retried_with_backoff() {
    // As slabinfo.plugin run without the right to read /proc/slabinfo: a time-stamped
    // message, then exit 1, at every start.
    let plugin = "#!/bin/sh
echo \"$(date '+%Y-%m-%d %H:%M:%S'): denied.plugin ERROR : MAIN : Cannot open /proc/slabinfo (errno 13, Permission denied)\" >&2
date +%s.%N >> \"$(dirname \"$0\")/../starts.txt\"
exit 1
";
    let agent = Rrdpipe::start(
        "[global]\n    hostname = fail\n[directories]\n    plugins = @DIR@/plugins\n[plugins]\n    proc = no\n",
        &[("denied", plugin)],
    );
    let starts = agent.dir().join("starts.txt");
    let count = || std::fs::read_to_string(&starts).map(|s| s.lines().count()).unwrap_or(0);
    assert!(wait_until(deadline_in(20), || count() >= 4), "started {} times:\n{}", count(), agent.log());
    let log = agent.log();
    let said = log.matches("Cannot open /proc/slabinfo (errno 13, Permission denied)").count();
    assert_eq!(said, 1, "the plugin's message logged {said} times over {} starts:\n{log}", count());
    let exits = log
        .lines()
        .filter(|l| {
            l.contains("plugin{plugin=denied}: ended; restarting")
                && l.contains("exit=\"exited with code 1\"")
        })
        .count();
    assert_eq!(exits, 1, "the exit logged {exits} times over {} starts:\n{log}", count());
    assert!(log.contains("the delay doubles up to"), "{log}");
    // Delays 1, 2, 4 s: the fourth start comes at least 1 + 2 + 4 s after the first.
    let times: Vec<f64> =
        std::fs::read_to_string(&starts).unwrap().lines().filter_map(|l| l.parse().ok()).collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= 0.9 && gaps[1] >= 1.9 && gaps[2] >= 3.9, "gaps between starts {gaps:?}");
}

#[test]
fn a_missing_plugins_directory_and_stock_config_are_warned_about_by_key() {
    let root = tempfile::tempdir().unwrap();
    let conf = format!(
        "[global]\n    hostname = missing\n[directories]\n    plugins = \"{}\" \"{}\"\n    stock config = {}\n\
         [plugins]\n    proc = no\n",
        root.path().display(),
        root.path().join("gone").display(),
        root.path().join("no-conf.d").display(),
    );
    let agent = Rrdpipe::start(&conf, &[]);
    agent.wait_log(
        &format!(
            "[directories] plugins = {}: no such directory; skipped",
            root.path().join("gone").display()
        ),
        10,
    );
    agent.wait_log(
        &format!(
            "[directories] stock config = {}: no such directory; plugins are given it as NETDATA_STOCK_CONFIG_DIR",
            root.path().join("no-conf.d").display()
        ),
        10,
    );
}
