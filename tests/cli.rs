//! The command line: `--check-config`, exit codes, and errors that name file and line.

mod support;

use std::process::Command;

fn run(args: &[&str], conf: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rrdpipe.conf");
    std::fs::write(&path, conf).unwrap();
    let out = Command::new(support::rrdpipe_bin()).args(args).arg("-c").arg(&path).output().unwrap();
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
    let out =
        Command::new(support::rrdpipe_bin()).args(["-c", "/nonexistent/rrdpipe.conf"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/rrdpipe.conf"));
}

#[test]
fn check_config_of_78000_keys_answers_within_seconds() {
    // Loading used to compare each key with every key, section and warning before it: 78 000
    // keys took half a minute. Now it is linear, and so is printing them.
    use std::fmt::Write;
    let mut main = String::from("[global]\nhostname = big\n");
    for i in 0..5_000 {
        writeln!(main, "update every = {}", i + 1).unwrap();
    }
    for i in 0..45_999 {
        writeln!(main, "unknown {i} = v").unwrap();
    }
    main.push_str("[host labels]\n");
    for i in 0..20_000 {
        writeln!(main, "label{i} = value {i}").unwrap();
    }
    for i in 0..2_500 {
        writeln!(main, "[graphite:g{i}]\nenabled = no\ndestination = 127.0.0.1:{}", 1000 + i).unwrap();
    }
    for i in 0..1_000 {
        writeln!(main, "[00000000-0000-0000-0000-{i:012}]\nenabled = yes").unwrap();
    }
    let mut stream = String::new();
    for i in 500..1_500 {
        writeln!(stream, "[00000000-0000-0000-0000-{i:012}]\nallow from = 10.*").unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rrdpipe.conf");
    std::fs::write(&path, &main).unwrap();
    std::fs::write(dir.path().join("stream.conf"), &stream).unwrap();
    let started = std::time::Instant::now();
    let out =
        Command::new(support::rrdpipe_bin()).arg("--check-config").arg("-c").arg(&path).output().unwrap();
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
