//! External plugins run by the supervisor: real shell scripts in a temp directory, a real store.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rrdpipe::collect::plugins_d::supervisor::{
    self, PluginStatus, RestartPolicy, SupervisorConfig, SupervisorHandle,
};
use rrdpipe::rrd::{Db, Host, HostInfo};
use rrdpipe::shutdown::Shutdown;

fn write_plugin(dir: &Path, name: &str, script: &str) {
    let path = dir.join(format!("{name}.plugin"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn db() -> Db {
    Db::new(HostInfo { hostname: "test".into(), update_every: 1, ..Default::default() }, 120)
}

fn config(dir: &Path) -> SupervisorConfig {
    let mut cfg = SupervisorConfig::new(vec![dir.to_path_buf()], 1);
    cfg.env.plugins_dir = dir.display().to_string();
    cfg.restart = RestartPolicy {
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(800),
        healthy_after: Duration::from_secs(60),
    };
    cfg
}

/// Poll `cond` every 50 ms for up to `secs` seconds.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

fn status(h: &SupervisorHandle, name: &str) -> PluginStatus {
    h.plugin(name).unwrap_or_else(|| panic!("plugin '{name}' not known: {:?}", h.status()))
}

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !matches!(stat.rsplit(')').next().map(str::trim_start), Some(s) if s.starts_with('Z')),
        Err(_) => false,
    }
}

/// Every stored value of dimension `dim` of `chart`.
fn values(host: &Arc<Host>, chart: &str, dim: usize) -> Vec<f64> {
    let Some(c) = host.chart(chart) else {
        return Vec::new();
    };
    let data = c.read();
    let mut out = Vec::new();
    data.for_each_value(dim, i64::MIN / 2, i64::MAX / 2, |_, v| out.push(v));
    out
}

const SYNTH: &str = r#"#!/bin/sh
# Exit as soon as stdin reaches EOF, like apps.plugin does.
exec 3<&0
( cat <&3 >/dev/null; echo "stdin closed, exiting" >&2; kill $$ ) &
helper=$!
echo "synth starting, update every $1" >&2
# A stdout line and a stderr line far longer than the line limit.
head -c 100000 /dev/zero | tr '\0' x; echo
head -c 100000 /dev/zero | tr '\0' y >&2; echo >&2
for i in 0 1; do
  echo "CHART synth.c$i '' 'Synthetic $i' 'things' synth synth.c line $((1000 + i)) $1"
  echo "DIMENSION v '' absolute 1 1"
done
echo "CHART synth.env '' 'What the plugin was given' 'values'"
echo "DIMENSION ue '' absolute 1 1"
echo "DIMENSION arg '' absolute 1 1"
echo "DIMENSION dirlen '' absolute 1 1"
echo "DIMENSION helper '' absolute 1 1"
while true; do
  for i in 0 1; do
    echo "BEGIN synth.c$i"
    echo "SET v = $((1000 + i))"
    echo "END"
  done
  echo "BEGIN synth.env"
  echo "SET ue = $NETDATA_UPDATE_EVERY"
  echo "SET arg = $1"
  echo "SET dirlen = ${#NETDATA_PLUGINS_DIR}"
  echo "SET helper = $helper"
  echo "END"
  echo "noise on stderr" >&2
  sleep 1
done
"#;

#[test]
fn synth_plugin_values_land_exactly_its_stdin_stays_open_and_shutdown_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "synth", SYNTH);
    write_plugin(dir.path(), "off", "#!/bin/sh\necho DISABLE\n");
    let mut cfg = config(dir.path());
    cfg.enabled = HashMap::from([("off".to_string(), false)]);
    let db = db();
    let host = db.localhost();
    let shutdown = Shutdown::new();
    let h = supervisor::start(cfg, host.clone(), shutdown.clone());
    assert!(h.plugin("off").is_none(), "[plugins] off = no must not start it");

    assert!(
        wait_for(15, || values(&host, "synth.c1", 0).len() >= 3 && values(&host, "synth.env", 3).len() >= 3),
        "no values after 15 s: {:?}",
        h.status()
    );
    let first = status(&h, "synth");
    let pid = first.pid.expect("running plugin has a pid");

    for (chart, expected) in [("synth.c0", 1000.0), ("synth.c1", 1001.0)] {
        let v = values(&host, chart, 0);
        assert!(v.len() >= 3, "{chart}: {v:?}");
        assert!(v.iter().all(|&x| x == expected), "{chart}: {v:?}");
        let c = host.chart(chart).unwrap();
        let data = c.read();
        let last = data.last_entry_t().unwrap();
        assert_eq!(rrdpipe::rrd::storage_number::unpack(data.value_at(0, last)), expected);
        assert_eq!(data.meta.priority, expected as i64);
        assert_eq!(&*data.meta.family, "synth");
    }
    let env = |dim| values(&host, "synth.env", dim);
    assert!(env(0).iter().all(|&x| x == 1.0) && !env(0).is_empty(), "NETDATA_UPDATE_EVERY: {:?}", env(0));
    assert!(env(1).iter().all(|&x| x == 1.0) && !env(1).is_empty(), "argument: {:?}", env(1));
    let dirlen = dir.path().display().to_string().len() as f64;
    assert!(
        env(2).iter().all(|&x| x == dirlen) && !env(2).is_empty(),
        "NETDATA_PLUGINS_DIR length: {:?}",
        env(2)
    );
    let helper = *env(3).last().unwrap() as u32;
    assert!(alive(helper), "the plugin's stdin watcher {helper} should be running");

    // Two more seconds: the plugin would have exited had its stdin closed.
    std::thread::sleep(Duration::from_secs(2));
    let st = status(&h, "synth");
    assert!(st.running, "{st:?}");
    assert_eq!(st.pid, Some(pid), "same process: never restarted");
    assert_eq!((st.starts, st.restarts), (1, 0));
    assert_eq!(st.errors, 0, "stderr noise and over-long lines are not protocol errors");
    assert!(st.values_stored >= 12, "{st:?}");
    assert_eq!(st.disabled, None);

    shutdown.trigger();
    let started = Instant::now();
    h.join();
    assert!(started.elapsed() < Duration::from_secs(5), "join took {:?}", started.elapsed());
    assert!(!alive(pid), "plugin {pid} still running after join");
    assert!(wait_for(2, || !alive(helper)), "plugin's child {helper} still running after join");
}

#[test]
fn exiting_plugin_is_restarted_with_a_growing_delay() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(
        dir.path(),
        "brief",
        "#!/bin/sh\necho 'CHART brief.c'\necho 'DIMENSION x'\necho 'BEGIN brief.c'\necho 'SET x = 1'\necho 'END'\nexit 3\n",
    );
    let db = db();
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let h = supervisor::start(config(dir.path()), db.localhost(), shutdown.clone());
    // Delays 100, 200, 400, 800, 800 ms: by 2 s about 4 restarts; without doubling about 18.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(started.elapsed()));
    let st = status(&h, "brief");
    assert!((3..=5).contains(&st.restarts), "restarts after 2 s: {st:?}");
    assert!(st.starts >= st.restarts && st.starts <= st.restarts + 1, "{st:?}");
    assert_eq!(st.last_exit.as_deref(), Some("exited with code 3"));
    assert_eq!(st.disabled, None);
    assert_eq!(st.errors, 0);
    assert!(db.localhost().chart("brief.c").is_some());
    shutdown.trigger();
    h.join();
}

#[test]
fn disable_stops_the_plugin_for_good() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "nothing", "#!/bin/sh\necho DISABLE\nexec sleep 30\n");
    let db = db();
    let shutdown = Shutdown::new();
    let h = supervisor::start(config(dir.path()), db.localhost(), shutdown.clone());
    assert!(wait_for(10, || status(&h, "nothing").disabled.is_some()), "{:?}", h.status());
    std::thread::sleep(Duration::from_millis(500));
    let st = status(&h, "nothing");
    assert_eq!(st.disabled.as_deref(), Some("the plugin sent DISABLE"));
    assert!(!st.running && st.pid.is_none(), "{st:?}");
    assert_eq!((st.starts, st.restarts), (1, 0));
    assert_eq!(st.last_exit.as_deref(), Some("was killed by signal 15"));
    shutdown.trigger();
    h.join();
}

#[test]
fn plugin_printing_garbage_is_killed_and_disabled() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(
        dir.path(),
        "chatty",
        "#!/bin/sh\ni=0\nwhile [ $i -lt 150 ]; do echo \"hello world $i\"; i=$((i + 1)); done\nexec sleep 30\n",
    );
    let db = db();
    let shutdown = Shutdown::new();
    let h = supervisor::start(config(dir.path()), db.localhost(), shutdown.clone());
    assert!(wait_for(10, || status(&h, "chatty").disabled.is_some()), "{:?}", h.status());
    assert!(wait_for(5, || !status(&h, "chatty").running));
    let st = status(&h, "chatty");
    assert!(st.disabled.as_deref().unwrap().contains("first 100 lines were all errors"), "{st:?}");
    assert_eq!(st.restarts, 0);
    assert!(st.errors >= 100, "{st:?}");
    assert_eq!(st.last_exit.as_deref(), Some("was killed by signal 15"));
    shutdown.trigger();
    h.join();
}

#[test]
fn plugin_whose_whole_run_is_errors_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "confused", "#!/bin/sh\necho 'usage: confused [options]'\nexit 1\n");
    let db = db();
    let shutdown = Shutdown::new();
    let h = supervisor::start(config(dir.path()), db.localhost(), shutdown.clone());
    assert!(wait_for(10, || status(&h, "confused").disabled.is_some()), "{:?}", h.status());
    let st = status(&h, "confused");
    assert!(st.disabled.as_deref().unwrap().contains("exited with code 1"), "{st:?}");
    assert_eq!((st.starts, st.restarts, st.errors), (1, 0, 1));
    shutdown.trigger();
    h.join();
}
