//! The Debian package a user installs: built by `cargo deb` from Cargo.toml's metadata, it holds
//! the release binary, the systemd unit and the example configuration as a conffile.

pub mod support;

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_deb_holds_the_binary_the_unit_and_the_example_configuration() {
    if support::require("cargo-deb").is_none() || support::require("dpkg-deb").is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    // The binary the rest of the suite tests, packaged as built (`--no-build`).
    let deb =
        run(Command::new("cargo").current_dir(root).args(["deb", "--no-build", "--output"]).arg(out.path()));
    let deb = deb.lines().last().unwrap().trim().to_string();
    assert!(deb.ends_with(".deb"), "{deb}");

    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let paths: Vec<&str> = contents.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    for expected in [
        "./usr/bin/rrdpipe",
        "./etc/rrdpipe/rrdpipe.conf",
        "./usr/share/doc/rrdpipe/rrdpipe.conf.example",
        "./usr/share/doc/rrdpipe/README.md",
        "./usr/share/doc/rrdpipe/exporting.md",
        "./usr/share/doc/rrdpipe/parent-mode.md",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {deb}:\n{contents}");
    }
    let unit = paths.iter().find(|p| p.ends_with("/systemd/system/rrdpipe.service"));
    assert!(unit.is_some(), "no systemd unit in {deb}:\n{contents}");
    let exec = contents.lines().find(|l| l.ends_with("./usr/bin/rrdpipe")).unwrap();
    assert!(exec.starts_with("-rwxr-xr-x"), "{exec}");

    // The configuration is a conffile: an upgrade never overwrites the user's edits.
    let conffiles = run(Command::new("dpkg-deb").args(["--info"]).arg(&deb).arg("conffiles"));
    assert_eq!(conffiles.trim(), "/etc/rrdpipe/rrdpipe.conf");
    let control = run(Command::new("dpkg-deb").args(["--field"]).arg(&deb).args(["Package", "Version"]));
    assert_eq!(control, format!("Package: rrdpipe\nVersion: {}-1\n", env!("CARGO_PKG_VERSION")));

    // What the package installs runs: the packaged binary accepts the packaged configuration.
    let unpacked = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb").arg("--extract").arg(&deb).arg(unpacked.path()));
    let bin = unpacked.path().join("usr/bin/rrdpipe");
    let conf = unpacked.path().join("etc/rrdpipe/rrdpipe.conf");
    let checked = Command::new(&bin).arg("--check-config").arg("-c").arg(&conf).output().unwrap();
    assert_eq!(checked.status.code(), Some(0), "{}", String::from_utf8_lossy(&checked.stderr));
    let unit = std::fs::read_to_string(unpacked.path().join(unit.unwrap().trim_start_matches("./"))).unwrap();
    assert!(unit.lines().any(|l| l == "ExecStart=/usr/bin/rrdpipe -c /etc/rrdpipe/rrdpipe.conf"), "{unit}");
    assert!(unit.lines().any(|l| l == "ExecReload=/bin/kill -HUP $MAINPID"), "{unit}");
    assert!(unit.lines().any(|l| l == "RestartPreventExitStatus=2"), "{unit}");
}
