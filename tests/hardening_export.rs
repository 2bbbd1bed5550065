//! The export side under attack, end to end: the rrdpipe binary (release), started on a config
//! in a temp dir, with what an attacker could plant or send; each test reproduces one attack and
//! asserts the exact bytes that show it failed.

pub mod support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::agent::{Rrdpipe, Sink, CONSTANT_PLUGIN};
use support::{deadline_in, wait_until};
use tempfile::TempDir;

fn conf(hostname: &str, exporters: &str) -> String {
    format!(
        "[global]\n    hostname = {hostname}\n    update every = 1\n    history = 600\n\
         [directories]\n    plugins = @DIR@/plugins\n\
         [plugins]\n    proc = no\n\
         {exporters}"
    )
}

// ---------------------------------------------------------------------------
// Hostnames

/// A hostname with dots was several graphite path levels: a host named `evil.system.load` sent
/// `netdata.evil.system.load.test.values.a`, a path another host's charts could own. Now its
/// dots become `_`: the hostname is one level. OpenTSDB's host tag keeps them.
#[test]
fn a_hostname_with_dots_is_one_graphite_path_level() {
    let graphite = Sink::start(b"");
    let opentsdb = Sink::start(b"");
    let agent = Rrdpipe::start(
        &conf(
            "evil.system.load",
            &format!(
                "[graphite:g]\n    enabled = yes\n    destination = {}\n    update every = 1\n    \
                 data source = as collected\n\
                 [opentsdb:o]\n    enabled = yes\n    destination = {}\n    update every = 1\n    \
                 data source = as collected\n",
                graphite.addr, opentsdb.addr
            ),
        ),
        &[("values", CONSTANT_PLUGIN)],
    );
    let has = |sink: &Sink, needle: &str| sink.lines().iter().any(|l| l.contains(needle));
    assert!(
        wait_until(deadline_in(30), || has(&graphite, "test.values.b ") && has(&opentsdb, "test.values.b ")),
        "log:\n{}",
        agent.log()
    );
    let lines: Vec<String> = graphite.lines().into_iter().filter(|l| l.contains("test.values")).collect();
    for l in &lines {
        let (path, rest) = l.split_once(' ').unwrap();
        assert!(
            path == "netdata.evil_system_load.test.values.a"
                || path == "netdata.evil_system_load.test.values.b",
            "{l}"
        );
        let value = rest.split(' ').next().unwrap();
        assert_eq!(value, if path.ends_with(".a") { "425" } else { "7" }, "{l}");
    }
    let tsdb: Vec<String> = opentsdb.lines().into_iter().filter(|l| l.contains("test.values")).collect();
    assert!(!tsdb.is_empty());
    for l in &tsdb {
        assert!(l.starts_with("put netdata.test.values."), "{l}");
        assert!(l.ends_with(" host=evil.system.load"), "{l}");
    }
}

// ---------------------------------------------------------------------------
// The spool

/// What planted links point at: a file outside the spool, as an attacker would `/etc/passwd`.
const TARGET: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n";

/// The config of one graphite exporter `g` to `sink`, spooling under `spool`.
fn spool_conf(sink: SocketAddr, spool: &Path) -> String {
    conf(
        "h1",
        &format!(
            "[graphite:g]\n    enabled = yes\n    destination = {sink}\n    update every = 1\n    \
             spool directory = {}\n",
            spool.display()
        ),
    )
}

/// A spool directory with an empty `g/` in it, and outside it the file links point at:
/// (spool, the dir holding the target, the target).
fn spool_with_target() -> (TempDir, TempDir, PathBuf) {
    let spool = tempfile::Builder::new().prefix("rrdpipe-spool-").tempdir().unwrap();
    std::fs::create_dir(spool.path().join("g")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("passwd");
    std::fs::write(&target, TARGET).unwrap();
    (spool, outside, target)
}

fn plant(spool: &Path, name: &str, target: &Path) -> PathBuf {
    let link = spool.join("g").join(name);
    std::os::unix::fs::symlink(target, &link).unwrap();
    link
}

/// Run `rrdpipe ARGS -c CONF` until it exits, at most `secs` (then it is killed and the test
/// fails): its exit code and everything it printed.
fn run_to_exit(args: &[&str], conf: &str, secs: u64) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let path = dir.path().join("rrdpipe.conf");
    std::fs::write(&path, conf.replace("@DIR@", &dir.path().display().to_string())).unwrap();
    let log = dir.path().join("out.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(support::agent::rrdpipe_bin())
        .args(args)
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = deadline_in(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    let status = status.unwrap_or_else(|| panic!("rrdpipe still ran after {secs} s; it printed:\n{text}"));
    (status.code(), text)
}

/// Links planted under every segment name the spool reads at start were followed: rrdpipe (as
/// root) read the target as a damaged segment and cut it to 0 bytes. Now each is refused and
/// logged, the target keeps its bytes, and the spool goes on in segments of its own.
#[test]
fn symlinks_planted_as_spool_segments_are_refused_and_their_target_kept() {
    let sink = Sink::start(b"");
    let (spool, _outside, target) = spool_with_target();
    let names = ["00000000000000000001.spool", "00000000000000000002.spool", "00000000000000000007.spool"];
    let links: Vec<PathBuf> = names.iter().map(|n| plant(spool.path(), n, &target)).collect();
    let mut agent = Rrdpipe::start(&spool_conf(sink.addr, spool.path()), &[("values", CONSTANT_PLUGIN)]);
    for link in &links {
        agent.wait_log(
            &format!(
                "a spool file is refused; it is left as it is, never read or written problem=refused {}: \
                 it is a symbolic link (to {}); rrdpipe never follows links or writes through them in \
                 its spool: remove it (and find out who put it there)",
                link.display(),
                target.display()
            ),
            30,
        );
    }
    // The exporter runs, through its spool: several intervals delivered.
    let intervals = |sink: &Sink| {
        let mut ts: Vec<String> = sink
            .lines()
            .iter()
            .filter(|l| l.starts_with("netdata.h1.test.values.a "))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect();
        ts.dedup();
        ts.len()
    };
    assert!(wait_until(deadline_in(30), || intervals(&sink) >= 3), "log:\n{}", agent.log());
    assert!(agent.terminate().success());
    assert_eq!(std::fs::read(&target).unwrap(), TARGET);
    for link in &links {
        assert!(std::fs::symlink_metadata(link).unwrap().file_type().is_symlink(), "{}", link.display());
    }
    // Its own segments are named after the highest planted name.
    let own: Vec<String> = std::fs::read_dir(spool.path().join("g"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".spool") && !names.contains(&n.as_str()))
        .collect();
    assert!(own.iter().all(|n| n.as_str() > names[2]), "{own:?}");
}

/// A link planted as `acknowledged` (or `lock`) was opened through: rrdpipe read the target as
/// an invalid acknowledgement and cut it to 0 bytes, then wrote its own 20 bytes there. Now the
/// spool refuses it and rrdpipe does not start (exit 2), saying which file and what to do.
#[test]
fn a_symlink_planted_as_acknowledged_or_lock_stops_the_start_with_exit_2() {
    for name in ["acknowledged", "lock"] {
        let (spool, _outside, target) = spool_with_target();
        let link = plant(spool.path(), name, &target);
        let (code, out) = run_to_exit(&[], &spool_conf("127.0.0.1:9".parse().unwrap(), spool.path()), 30);
        assert_eq!(code, Some(2), "{name}: {out}");
        let want = format!(
            "[graphite:g]: cannot start exporter 'g': cannot use the spool in {}: refused {}: \
             it is a symbolic link (to {}); \
             rrdpipe never follows links or writes through them in its spool: remove it (and find out \
             who put it there)",
            spool.path().display(),
            link.display(),
            target.display()
        );
        assert!(out.contains(&want), "{name}: {out}");
        assert_eq!(std::fs::read(&target).unwrap(), TARGET, "{name}");
    }
}

/// A `spool directory` others can write to lets them plant links: refused at start, with exit
/// 2 naming the key, and by `--check-config`.
#[test]
fn a_spool_directory_writable_by_others_is_refused_at_start_and_by_check_config() {
    let spool = tempfile::Builder::new().prefix("rrdpipe-spool-").tempdir().unwrap();
    std::fs::set_permissions(spool.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = spool_conf("127.0.0.1:9".parse().unwrap(), spool.path());
    let p = spool.path().display();
    let refusal = format!(
        "refused {p}: it is writable by other users (mode 0777); any of them could put links there \
         that make rrdpipe overwrite other files; run 'chmod o-w {p}', or change 'spool directory'"
    );

    let (code, out) = run_to_exit(&[], &conf, 30);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "[graphite:g]: cannot start exporter 'g': cannot use the spool in {p}: {refusal}"
        )),
        "{out}"
    );
    assert!(!spool.path().join("g").exists(), "nothing is created in a refused directory");

    let (code, out) = run_to_exit(&["--check-config"], &conf, 30);
    assert_eq!(code, Some(2), "{out}");
    let line = conf.lines().position(|l| l == "[graphite:g]").unwrap() + 1;
    assert!(
        out.contains(&format!("rrdpipe.conf:{line}: [graphite:g] spool directory = {p}: {refusal}\n")),
        "{out}"
    );
    assert!(out.contains("rrdpipe: the configuration would not start: fix the problems above"), "{out}");

    std::fs::set_permissions(spool.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out) = run_to_exit(&["--check-config"], &conf, 30);
    assert_eq!(code, Some(0), "{out}");
}

/// The instance directory planted as a link to another directory: rrdpipe wrote its spool
/// files there. Refused.
#[test]
fn a_symlink_planted_as_the_instance_directory_is_refused() {
    let spool = tempfile::Builder::new().prefix("rrdpipe-spool-").tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let link = spool.path().join("g");
    std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
    let conf = spool_conf("127.0.0.1:9".parse().unwrap(), spool.path());
    for args in [&[][..], &["--check-config"][..]] {
        let (code, out) = run_to_exit(args, &conf, 30);
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.contains(&format!(
                "refused {}: it is a symbolic link (to {})",
                link.display(),
                elsewhere.path().display()
            )),
            "{out}"
        );
    }
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------
// TLS

/// A self-signed certificate for 127.0.0.1 and localhost with `CA:TRUE`, as `openssl req -x509`
/// makes them, and its key, written as PEM into `dir` under `name`: (certificate, key).
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "localhost");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    let paths = (dir.join(format!("{name}.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    paths
}

/// A receiver pinned by putting its self-signed certificate in `tls ca file` was refused
/// (`CaUsedAsEndEntity`, with advice to set `tls ca file`, which was set). Now it receives
/// every interval; an exporter pinning another self-signed certificate is still refused, with
/// the reason and what to put in `tls ca file`.
#[test]
fn a_self_signed_receiver_pinned_in_tls_ca_file_receives_and_another_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (server_cert, server_key) = self_signed(certs.path(), "server");
    let (other_cert, _) = self_signed(certs.path(), "other");
    let Some(prom) = support::prometheus::Prometheus::start_tls(&server_cert, &server_key) else { return };
    let section = |name: &str, ca: &Path| {
        format!(
            "[prometheus_remote_write:https:{name}]\n    enabled = yes\n    destination = {}\n    \
             prefix = {name}\n    remote write URL path = /api/v1/write\n    update every = 1\n    \
             data source = as collected\n    tls ca file = {}\n",
            prom.addr(),
            ca.display()
        )
    };
    let agent = Rrdpipe::start(
        &conf("h1", &format!("{}{}", section("pinned", &server_cert), section("other", &other_cert))),
        &[("values", CONSTANT_PLUGIN)],
    );
    let series = prom.samples_wait(r#"{__name__="pinned_test_values"}"#, 6);
    let mut got: Vec<(String, String, f64)> = series
        .iter()
        .map(|s| (s.labels["__name__"].clone(), s.labels["dimension"].clone(), s.values[0]))
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        got,
        vec![
            ("pinned_test_values".to_string(), "a".to_string(), 425.0),
            ("pinned_test_values".to_string(), "b".to_string(), 7.0)
        ]
    );
    assert!(series.iter().all(|s| s.values.iter().all(|&v| v == s.values[0])), "{series:?}");
    agent.wait_log(
        "the server's certificate is a CA certificate (as self-signed ones usually are) that is not one \
         of those in 'tls ca file': put that exact certificate (PEM) in 'tls ca file', or give the \
         server a certificate signed by an authority this host trusts",
        30,
    );
    let log = agent.log();
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("CA certificate (as self-signed")).collect();
    assert!(
        refused.iter().all(|l| l.contains("exporter{instance=other}") && l.contains("CaUsedAsEndEntity")),
        "{refused:#?}"
    );
    assert!(
        !log.lines().any(|l| l.contains("exporter{instance=pinned}") && l.contains("TLS handshake failed")),
        "{log}"
    );
    assert!(prom.samples(r#"{__name__=~"other_.*"}"#).is_empty());
}

/// A streaming child's hostname is exported under the same rule: a child named
/// `evil.system.load` is one graphite path level too.
#[test]
fn a_childs_hostname_with_dots_is_one_graphite_path_level() {
    use std::io::{Read, Write};
    const KEY: &str = "5eed0001-2222-3333-4444-555555555599";
    let sink = Sink::start(b"");
    let web = support::local(support::free_port());
    let agent = Rrdpipe::start(
        &conf(
            "parent",
            &format!(
                "[web]\n    bind to = {web}\n[{KEY}]\n    type = api\n    enabled = yes\n\
                 [graphite:g]\n    enabled = yes\n    destination = {}\n    update every = 1\n    \
                 data source = as collected\n    send hosts matching = *\n",
                sink.addr
            ),
        ),
        &[],
    );
    assert!(support::wait_for_tcp(web, deadline_in(10)), "log:\n{}", agent.log());
    // The request of a real netdata child (captured), under another key and hostname.
    let (request, _) =
        support::stream::captured_child(&[("STREAM key", KEY), ("hostname", "evil.system.load")]);
    let mut s = std::net::TcpStream::connect(web).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = [0u8; 64];
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"Hit me baby, push them over with the version=4160");
    s.write_all(
        b"CHART system.load '' 'System Load Average' 'load' 'load' 'system.load' line 100 1 '' 'proc.plugin' ''\n\
          DIMENSION load1 '' absolute 1 1000 ''\n",
    )
    .unwrap();
    let is_child = |l: &String| l.contains("system.load.load1 ") && !l.contains(".parent.");
    let sent = wait_until(deadline_in(30), || {
        let _ = s.write_all(b"BEGIN system.load\nSET load1 = 420\nEND\n");
        std::thread::sleep(Duration::from_millis(200));
        sink.lines().iter().filter(|l| is_child(l)).count() >= 2
    });
    assert!(sent, "lines: {:?}\nlog:\n{}", sink.lines(), agent.log());
    for l in sink.lines().iter().filter(|l| is_child(l)) {
        let (path, rest) = l.split_once(' ').unwrap();
        assert_eq!(path, "netdata.evil_system_load.system.load.load1", "{l}");
        assert!(rest.starts_with("420 "), "{l}");
    }
}
