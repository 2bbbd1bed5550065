//! Certificates for tests that speak TLS: a self-signed one made by the `openssl` command, and a
//! private CA with a server certificate signed by it ([`TestCa`]).

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

/// A private CA and a server certificate for `127.0.0.1` and `localhost` signed by it, as PEM
/// files in a directory (made with `rcgen`, no outside tool).
pub struct TestCa {
    /// The CA's certificate: what a client is told to trust.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl TestCa {
    /// Write a new CA, and a server certificate and key signed by it, into `dir`.
    pub fn new(dir: &Path) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "rrdpipe test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).unwrap();
        let t =
            TestCa { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server-key.pem") };
        std::fs::write(&t.ca, ca_cert.pem()).unwrap();
        std::fs::write(&t.cert, cert.pem()).unwrap();
        std::fs::write(&t.key, key.serialize_pem()).unwrap();
        t
    }

    /// An HTTPS client (ureq, rustls) that trusts this CA only, follows no redirect and keeps
    /// one connection alive between requests.
    pub fn client(&self) -> ureq::Agent {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let pem = std::fs::read(&self.ca).unwrap();
        let ca = Certificate::from_pem(&pem).expect("the CA is PEM");
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .tls_config(
                TlsConfig::builder().root_certs(RootCerts::Specific(std::sync::Arc::new(vec![ca]))).build(),
            )
            .build()
            .into()
    }
}
