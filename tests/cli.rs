//! The command line: `--check-config`, exit codes, and errors that name file and line.

pub mod support;

use std::process::Command;

fn run(args: &[&str], conf: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rrdpipe.conf");
    std::fs::write(&path, conf).unwrap();
    let out = Command::new(support::agent::rrdpipe_bin()).args(args).arg("-c").arg(&path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_prints_every_key_with_defaults_and_exits_0() {
    let (code, out, err) = run(
        &["--check-config"],
        "[global]\n    hostname = h\n[backend]\n    enabled = yes\n    destination = c1\n",
    );
    assert_eq!(code, 0, "{err}");
    for line in [
        "[global]",
        "    hostname = h",
        "    update every = 1",
        "    history = 3600",
        "[plugins]",
        "    proc = yes",
        "    max charts per plugin = 10000",
        "    max dimensions per plugin = 200000",
        "[backend]",
        "    enabled = yes",
        "    type = graphite",
        "    destination = c1:2003",
        "    data source = average",
        "    prefix = netdata",
        "    update every = 10",
        "    buffer on failures = 10",
        "    timeout ms = 20000",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn a_bad_value_names_file_line_key_and_what_is_valid_and_exits_2() {
    let (code, out, err) = run(&["--check-config"], "[global]\n    hostname = h\n    update every = soon\n");
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(
        err.contains("rrdpipe.conf:3: update every = \"soon\": expected a whole number of seconds ≥ 1"),
        "{err}"
    );
}

#[test]
fn the_agent_refuses_to_start_on_an_unknown_backend_type() {
    let (code, _, err) = run(&[], "[backend]\n    enabled = yes\n    type = graphit\n");
    assert_eq!(code, 2);
    assert!(err.contains("rrdpipe.conf:3: type = \"graphit\": unknown backend type. Choose from: graphite, graphite:plaintext, opentsdb, opentsdb:telnet, json, json:plaintext"), "{err}");
    assert!(err.contains("not starting"), "{err}");
}

#[test]
fn unknown_keys_are_warned_about_and_ignored() {
    let (code, _, err) = run(&["--check-config"], "[global]\n    colour = blue\n");
    assert_eq!(code, 0);
    assert!(err.contains("rrdpipe.conf:2: unknown key 'colour' in [global]; ignored"), "{err}");
}

#[test]
fn a_missing_config_file_is_an_error_with_exit_2() {
    let out = Command::new(support::agent::rrdpipe_bin())
        .args(["-c", "/nonexistent/rrdpipe.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/rrdpipe.conf"));
}

/// Runs the binary with `args` in `cwd`; returns (exit code, stdout, stderr).
fn run_in(cwd: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::agent::rrdpipe_bin()).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_what_the_start_would_refuse() {
    // The README's own example path, absent here: the agent would not start, so neither may
    // --check-config pass.
    let ca = "/nonexistent/rrdpipe/private-ca.pem";
    let conf = format!(
        "[prometheus_remote_write:https:prom]\n    enabled = yes\n    destination = 127.0.0.1:9\n    tls ca file = {ca}\n"
    );
    let (code, out, err) = run(&["--check-config"], &conf);
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains(&format!(
            "rrdpipe.conf:1: [prometheus_remote_write:https:prom]: exporter 'prom': tls ca file '{ca}': cannot read it"
        )),
        "{err}"
    );
    assert!(err.contains("the configuration would not start"), "{err}");
    let (code, _, err) = run(&[], &conf);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_relative_config_path_is_made_absolute() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rrdpipe.conf"), "[global]\n    hostname = h\n").unwrap();
    let (code, out, err) = run_in(dir.path(), &["--check-config", "-c", "rrdpipe.conf"]);
    assert_eq!(code, 0, "{err}");
    let abs = dir.path().canonicalize().unwrap();
    assert!(out.lines().any(|l| l == format!("    config = {}", abs.display())), "{out}");
}

#[test]
fn conflicting_flags_are_refused_saying_which() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_in(dir.path(), &["--demo", "--check-config"]);
    assert_eq!(code, 2);
    assert!(err.contains("the argument '--demo' cannot be used with '--check-config'"), "{err}");
    let (code, _, err) = run_in(dir.path(), &["--demo", "-c", "x.conf"]);
    assert_eq!(code, 2);
    assert!(err.contains("the argument '--demo' cannot be used with '--config <FILE>'"), "{err}");
    let (code, _, err) = run_in(dir.path(), &["--seconds", "5"]);
    assert_eq!(code, 2);
    assert_eq!(err, "rrdpipe: --seconds sets how long --demo runs; use it with --demo, e.g. rrdpipe --demo --seconds 10\n");
}

#[test]
fn without_a_config_file_it_says_how_to_start() {
    if std::path::Path::new("/etc/rrdpipe/rrdpipe.conf").exists() {
        // Installed here: `rrdpipe` alone runs it. The message is for a machine without one.
        let (code, _, err) = run_in(std::path::Path::new("/"), &["--check-config"]);
        assert_eq!(code, 0, "{err}");
        return;
    }
    let (code, out, err) = run_in(std::path::Path::new("/"), &[]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert!(err.starts_with("rrdpipe: no configuration at /etc/rrdpipe/rrdpipe.conf.\n"), "{err}");
    assert!(err.contains("rrdpipe --demo"), "{err}");
    assert!(err.contains("rrdpipe.conf.example"), "{err}");
}

#[test]
fn the_demo_prints_where_its_status_page_and_api_answer() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(support::agent::rrdpipe_bin())
        .args(["--demo", "--seconds", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = "rrdpipe demo: the status page is at http://";
    let line = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with(prefix))
        .expect("the demo names its address");
    let addr: std::net::SocketAddr = line[prefix.len()..].split('/').next().unwrap().parse().expect(&line);
    assert!(addr.ip().is_loopback(), "{line}");
    let page = support::http_get(addr, "/");
    assert_eq!((page.status, page.header("content-type")), (200, Some("text/html; charset=utf-8")));
    let info = support::http_get(addr, "/api/v1/info");
    assert_eq!(info.status, 200);
    assert!(info.json()["version"].as_str().is_some_and(|v| v.starts_with('v')), "{}", info.text());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_demo_ends_quietly_when_its_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // `rrdpipe --demo 2>&1 | head -1`: both pipes closed after one line.
    let mut child = Command::new(support::agent::rrdpipe_bin())
        .args(["--demo", "--seconds", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("received: "), "{first}");
    drop(child.stderr.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo went on for 30 s with nobody reading");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // 0, not 101 (a panic on the closed pipe).
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_missing_plugins_directory_is_warned_about_naming_the_key() {
    let (code, _, err) = run(&["--check-config"], "[directories]\n    plugins = /nonexistent/plugins.d\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "rrdpipe.conf:2: [directories] plugins = /nonexistent/plugins.d: no such directory, so no external plugin will run"
        ),
        "{err}"
    );
}

/// The keys of an effective configuration (`--check-config` output), as `[section] key`.
fn keys_by_section(text: &str, section_of: impl Fn(&str) -> String) -> Vec<String> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let l = line.trim().trim_start_matches('#').trim();
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = section_of(name);
        } else if let Some((key, _)) = l.split_once(" = ").or_else(|| l.strip_suffix(" =").map(|k| (k, ""))) {
            keys.push(format!("[{section}] {key}"));
        }
    }
    keys
}

#[test]
fn the_example_configuration_is_valid_and_shows_every_key() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rrdpipe.conf")).unwrap();
    let (code, _, err) = run(&["--check-config"], &example);
    assert_eq!(code, 0, "{err}");
    // Only directories this machine lacks may be warned about.
    assert!(!err.lines().any(|l| l.starts_with("warning:") && !l.contains("[directories] ")), "{err}");
    // Every key rrdpipe knows, for each kind of section, is in the example (commented or not).
    let every_kind = "[backend]\n\
         [graphite:carbon]\n[prometheus_remote_write:https:prom]\n\
         [11111111-2222-3333-4444-555555555555]\n    type = api\n[plugin:apps]\n";
    let (code, effective, err) = run(&["--check-config"], every_kind);
    assert_eq!(code, 0, "{err}");
    // Exporter sections are compared together: each key shown once in any of them will do.
    let kind = |name: &str| -> String {
        if name.len() == 36 && name.matches('-').count() == 4 {
            "API KEY".into()
        } else if name.starts_with("plugin:") {
            "PLUGIN".into()
        } else if name == "backend" || (name.contains(':') && name != "exporting:global") {
            "EXPORTER".into()
        } else {
            name.into()
        }
    };
    let shown = keys_by_section(&example, kind);
    let missing: Vec<String> =
        keys_by_section(&effective, kind).into_iter().filter(|k| !shown.contains(k)).collect();
    assert_eq!(missing, Vec::<String>::new(), "keys missing from examples/rrdpipe.conf");
}

#[test]
fn check_config_of_78000_keys_answers_within_seconds() {
    // Loading and printing are linear in the keys: 78 000 of them answer within seconds, where
    // comparing each key with every key, section and warning before it takes half a minute.
    let (main, stream) = rrdpipe::testdata::config_of_78000_keys();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rrdpipe.conf");
    std::fs::write(&path, &main).unwrap();
    std::fs::write(dir.path().join("stream.conf"), &stream).unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(support::agent::rrdpipe_bin())
        .arg("--check-config")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{}", stderr.lines().last().unwrap_or(""));
    assert!(stdout.lines().any(|l| l == "    update every = 5000"));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("    label")).count(), 20_000);
    assert!(stdout.lines().any(|l| l == "    label19999 = value 19999"));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("[graphite:g")).count(), 2_500);
    assert!(stdout.lines().any(|l| l == "    destination = 127.0.0.1:3499"));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("[00000000-0000-0000-0000-")).count(), 1_500);
    assert_eq!(stdout.lines().filter(|l| *l == "    allow from = 10.*").count(), 1_000);
    assert_eq!(stderr.lines().filter(|l| l.starts_with("warning: ")).count(), 4_999 + 45_999);
    assert!(elapsed < std::time::Duration::from_secs(8), "--check-config of 78 000 keys took {elapsed:?}");
}

#[test]
fn log_format_json_writes_each_log_line_as_an_object_with_its_fields() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rrdpipe.conf");
    std::fs::write(
        &path,
        format!(
            "[global]\n    hostname = h\n[plugins]\n    proc = no\n[directories]\n    plugins = {d}/plugins\n    \
             lib = {d}/lib\n[web]\n    mode = none\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let mut child = Command::new(support::agent::rrdpipe_bin())
        .args(["--log-format", "json", "-c"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = support::deadline_in(30);
    let mut lines = Vec::new();
    let started = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("rrdpipe started") => break Some(line),
            Ok(line) => lines.push(line),
            Err(_) => break None,
        }
    };
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let started = started.unwrap_or_else(|| panic!("no start-up line within 30 s:\n{}", lines.join("\n")));
    let v: serde_json::Value = serde_json::from_str(&started).unwrap_or_else(|e| panic!("{e}: {started}"));
    assert_eq!(v["level"], "INFO", "{started}");
    assert_eq!(v["message"], "rrdpipe started", "{started}");
    assert_eq!(v["config"], path.display().to_string(), "{started}");
    assert!(v["timestamp"].as_str().is_some_and(|t| t.len() >= 20), "{started}");
    // Every log line is an object; the configuration's warnings (printed before logging starts)
    // are plain text.
    let logged: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| !l.starts_with("warning: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let messages: Vec<&str> = logged.iter().filter_map(|v| v["message"].as_str()).collect();
    assert!(messages.contains(&"stopped"), "{lines:?}");
    assert_eq!(status.code(), Some(0));
}
