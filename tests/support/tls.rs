//! A self-signed certificate for test servers that speak TLS, made by the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::require;

/// Writes a self-signed certificate and key for `127.0.0.1`/`localhost` into
/// `dir` with the `openssl` command; returns `(cert_pem, key_pem)`, or `None`
/// (after [`skip`]) if openssl is missing.
pub fn self_signed_cert(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let openssl = require("openssl")?;
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&out.stderr));
    Some((cert, key))
}
