//! TLS on the listening port: the server's certificate and settings, telling a TLS client from
//! a plain one, the handshake without blocking, and one connection type for both.
//!
//! One job: the transport under the listener, the gate, a child's thread and the HTTP API.
//! [`TlsServer::load`] reads `[web] ssl key` and `ssl certificate` (netdata's keys and defaults:
//! `ssl/key.pem` and `ssl/cert.pem` under `[directories] config`, used when both exist) with
//! `tls version` and `tls ciphers`, and says what to do when they cannot be used. With a
//! certificate, every port tells the two kinds of client apart by the first byte, as netdata
//! does: a TLS client opens with a handshake record (`0x16`), a plain one with a letter.
//! [`Accepting`] drives a handshake and reads the request's plaintext on a non-blocking socket
//! (for the gate); [`Conn`] is the connection handed on, plain or TLS behind one `Read + Write`.
//! Knows nothing of requests or of the streaming protocol.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CipherSuite, ServerConfig, ServerConnection, StreamOwned, SupportedCipherSuite,
};

use crate::collect::plugins_d::lines::Input;
use crate::config::Web;

/// The first byte of a TLS record carrying a handshake message: how every TLS client opens.
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// Cipher suites by the names `tls ciphers` may use: OpenSSL's (netdata's examples) and IANA's.
const SUITES: &[(&str, &str, CipherSuite)] = &[
    ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", CipherSuite::TLS13_AES_256_GCM_SHA384),
    ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", CipherSuite::TLS13_AES_128_GCM_SHA256),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The certificate and key every new handshake presents; [`TlsServer::renew`] replaces them
/// while connections made with the old ones go on.
#[derive(Debug)]
pub struct CertSlot(parking_lot::RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

/// The listening port's TLS: the configuration every handshake uses, and what was loaded.
#[derive(Clone, Debug)]
pub struct TlsServer {
    /// The configuration of every connection.
    pub config: Arc<ServerConfig>,
    /// The certificate it presents, replaced by [`TlsServer::renew`].
    pub cert: Arc<CertSlot>,
    /// The cipher suites and key types allowed, to read a renewed key with.
    provider: Arc<CryptoProvider>,
    /// The certificate file, for logs.
    pub certificate: PathBuf,
    /// What the start-up log says about it (versions, suites).
    pub summary: String,
    /// Settings that could not be followed exactly, to be logged as warnings.
    pub notes: Vec<String>,
}

impl TlsServer {
    /// The TLS configuration `web` asks for, with netdata's default files under `config_dir`.
    /// `None` when no key or certificate is set and the default files are not both there;
    /// an error, saying what to do, when the files or settings cannot be used.
    pub fn load(web: &Web, config_dir: &Path) -> Result<Option<TlsServer>, String> {
        let (key_path, cert_path, set) = web.tls_files(config_dir);
        let defaults_there = key_path.exists() && cert_path.exists();
        if !(set || defaults_there) {
            return Ok(None);
        }
        let (key_name, cert_name) = if set {
            ("[web] ssl key".to_string(), "[web] ssl certificate".to_string())
        } else {
            ("[web] ssl key (default)".to_string(), "[web] ssl certificate (default)".to_string())
        };
        let mut notes = Vec::new();
        let versions = versions(&web.tls_version, &mut notes);
        let suites =
            suites(&web.tls_ciphers).map_err(|e| format!("[web] tls ciphers = {}: {e}", web.tls_ciphers))?;
        let provider = Arc::new(CryptoProvider { cipher_suites: suites, ..ring::default_provider() });
        let names: Vec<String> = provider.cipher_suites.iter().map(|s| suite_name(s.suite())).collect();
        let key = certified_key(&provider, (&key_name, &key_path), (&cert_name, &cert_path))?;
        let cert = Arc::new(CertSlot(parking_lot::RwLock::new(Arc::new(key))));
        let config = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| {
                format!(
                    "[web] tls ciphers = {} has no cipher suite for the versions of [web] tls version = {} ({e}); \
                     add suites of that version or change the version",
                    web.tls_ciphers, web.tls_version
                )
            })?
            .with_no_client_auth()
            .with_cert_resolver(cert.clone());
        let summary = format!(
            "TLS with {} ({}; {})",
            cert_path.display(),
            versions
                .iter()
                .map(|v| if v.version == rustls::ProtocolVersion::TLSv1_3 { "TLS 1.3" } else { "TLS 1.2" })
                .collect::<Vec<_>>()
                .join(", "),
            names.join(" ")
        );
        Ok(Some(TlsServer {
            config: Arc::new(config),
            cert,
            provider,
            certificate: cert_path,
            summary,
            notes,
        }))
    }

    /// Read `[web] ssl key` and `ssl certificate` of `web` again (a renewed certificate, on a
    /// reload) and present them from the next handshake on; connections already made keep
    /// theirs. The files given must be usable (the defaults are used only when both exist);
    /// otherwise nothing changes and the error says what to do. Returns the certificate file.
    pub fn renew(&self, web: &Web, config_dir: &Path) -> Result<PathBuf, String> {
        let (key_path, cert_path, set) = web.tls_files(config_dir);
        if !(set || (key_path.exists() && cert_path.exists())) {
            return Err(
                "[web] ssl key and ssl certificate are no longer set and the default files are not both \
                 there; serving without TLS takes a restart"
                    .to_string(),
            );
        }
        let key = certified_key(
            &self.provider,
            ("[web] ssl key", &key_path),
            ("[web] ssl certificate", &cert_path),
        )?;
        *self.cert.0.write() = Arc::new(key);
        Ok(cert_path)
    }
}

/// The certificate chain of `cert` and the private key of `key` (each the setting's name and
/// file), checked to belong together; an error names the setting and says what to do.
fn certified_key(
    provider: &CryptoProvider,
    (key_name, key_path): (&str, &Path),
    (cert_name, cert_path): (&str, &Path),
) -> Result<CertifiedKey, String> {
    let certs =
        read_certificates(cert_path).map_err(|e| format!("{cert_name} = {}: {e}", cert_path.display()))?;
    let key = read_key(key_path).map_err(|e| format!("{key_name} = {}: {e}", key_path.display()))?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => format!(
            "{key_name} = {} is not the key of the certificate in {cert_name} = {}; give the key the \
             certificate was made for (openssl x509 -noout -pubkey -in CERT and openssl pkey -pubout -in KEY \
             print the same public key for a matching pair)",
            key_path.display(),
            cert_path.display()
        ),
        e => format!(
            "{key_name} = {} cannot be used with {cert_name} = {}: {e}; use an RSA, ECDSA or Ed25519 key",
            key_path.display(),
            cert_path.display()
        ),
    })
}

/// The name of a cipher suite as `tls ciphers` takes it (OpenSSL's).
fn suite_name(suite: CipherSuite) -> String {
    SUITES
        .iter()
        .find(|(_, _, s)| *s == suite)
        .map_or_else(|| format!("{suite:?}"), |(name, _, _)| name.to_string())
}

/// The certificates of a PEM file, in order (the server's first).
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| {
        format!("it is not a PEM file ({e}); give the certificate in PEM form (-----BEGIN CERTIFICATE-----)")
    })?;
    if certs.is_empty() {
        let hint = if PrivateKeyDer::from_pem_slice(&bytes).is_ok() {
            "it holds a private key: are [web] ssl key and ssl certificate swapped?"
        } else {
            "give the server's certificate in PEM form (-----BEGIN CERTIFICATE-----), followed by any intermediates"
        };
        return Err(format!("it holds no certificate; {hint}"));
    }
    Ok(certs)
}

/// The private key of a PEM file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read_file(path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(if contains(&bytes, b"ENCRYPTED PRIVATE KEY") {
            "the key is encrypted with a passphrase, which rrdpipe cannot ask for; store it decrypted \
             (openssl pkey -in KEY -out KEY.plain) and readable only by rrdpipe's user"
                .to_string()
        } else if contains(&bytes, b"CERTIFICATE") {
            "it holds a certificate, not a private key: are [web] ssl key and ssl certificate swapped?"
                .to_string()
        } else {
            "it holds no private key; give the certificate's key in PEM form (-----BEGIN PRIVATE KEY-----, \
             BEGIN RSA PRIVATE KEY or BEGIN EC PRIVATE KEY)"
                .to_string()
        }),
        Err(e) => Err(format!("it is not a PEM private key ({e})")),
    }
}

/// Whether `needle` occurs in `bytes`.
fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// A whole file, or why it cannot be read and what to do.
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "no such file; set the key to the right path, or remove [web] ssl key and \
             ssl certificate to serve without TLS"
            .to_string(),
        io::ErrorKind::PermissionDenied => {
            "permission denied; make it readable by the user rrdpipe runs as (e.g. chgrp netdata and chmod 640)"
                .to_string()
        }
        _ => format!("cannot read it: {e}"),
    })
}

/// The versions `tls version` allows: netdata's value is the highest offered. rustls has no
/// TLS 1.0 or 1.1, so those mean TLS 1.2, with a note.
fn versions(version: &str, notes: &mut Vec<String>) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static BOTH: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    match version {
        "1.3" => BOTH,
        "1.2" => TLS12,
        old => {
            notes.push(format!(
                "[web] tls version = {old}: TLS 1.0 and 1.1 are not offered (they are broken); serving TLS 1.2. \
                 Set tls version = 1.2 or 1.3"
            ));
            TLS12
        }
    }
}

/// The suites `tls ciphers` allows (`none` or empty: all of the provider's, its order).
fn suites(ciphers: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = ring::default_provider().cipher_suites;
    let wanted = ciphers.trim();
    if wanted.is_empty() || wanted.eq_ignore_ascii_case("none") {
        return Ok(all);
    }
    let mut out = Vec::new();
    for name in wanted.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
        let Some((_, _, suite)) = SUITES.iter().find(|(ossl, iana, _)| name == *ossl || name == *iana) else {
            return Err(format!(
                "unknown cipher suite '{name}'. Choose from: {} (separated by ':'), or none for the default list",
                SUITES.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        };
        if let Some(s) = all.iter().find(|s| s.suite() == *suite) {
            if !out.iter().any(|o: &SupportedCipherSuite| o.suite() == *suite) {
                out.push(*s);
            }
        }
    }
    Ok(out)
}

/// Why a TLS connection ended before its request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// The client refused this agent's certificate during the handshake (an alert such as
    /// `unknown_ca` or `bad_certificate`, named here).
    Untrusted(&'static str),
    /// The handshake completed and the client closed without a request: what a netdata child
    /// does when it does not trust the certificate (it checks after the handshake).
    ClosedAfterHandshake,
    /// No version or cipher suite in common.
    Incompatible,
    /// Anything else that is not TLS as it should be (plain bytes after a handshake record, a
    /// broken message, another alert).
    Broken,
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const TRUST: &str = "give the client the CA that signed [web] ssl certificate: for a netdata child, \
            CAfile = /path/to/ca.pem (or CApath) in the [stream] section of its stream.conf, or ssl skip \
            certificate verification = yes there; or serve a certificate from a CA the clients trust";
        match self {
            TlsFailure::Untrusted(alert) => {
                write!(f, "the client refused this agent's certificate in the TLS handshake (alert {alert}); {TRUST}")
            }
            TlsFailure::ClosedAfterHandshake => write!(
                f,
                "the client closed the connection right after the TLS handshake, without a request; a netdata \
                 child does that when it does not trust [web] ssl certificate (its error.log says the server SSL \
                 certificate is not valid): {TRUST}"
            ),
            TlsFailure::Incompatible => f.write_str(
                "the client has no TLS version or cipher suite in common with this agent; check [web] tls version \
                 and tls ciphers (none offers the default list)",
            ),
            TlsFailure::Broken => f.write_str("the client's TLS was broken or it gave up the handshake"),
        }
    }
}

/// What [`Accepting::pump`] came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Pumped {
    /// Bytes arrived and were processed: look for plaintext again.
    Progress,
    /// Nothing more to read now.
    Blocked,
    /// The client closed the connection (or it failed).
    Closed,
    /// The TLS session failed; the alert, if any, was sent.
    Failed(TlsFailure),
}

/// A TLS connection waiting in the gate: its handshake, then its request's plaintext.
#[derive(Debug)]
pub struct Accepting {
    conn: ServerConnection,
}

impl Accepting {
    /// A new server session with `config`.
    pub fn new(config: &Arc<ServerConfig>) -> io::Result<Accepting> {
        ServerConnection::new(config.clone()).map(|conn| Accepting { conn }).map_err(io::Error::other)
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether handshake bytes wait to be written (the socket was full).
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Plaintext received and not yet consumed: `Ok(empty)` when the client closed cleanly,
    /// `WouldBlock` when nothing is there yet.
    pub fn plaintext(&mut self) -> io::Result<&[u8]> {
        self.conn.reader().into_first_chunk()
    }

    /// Mark `n` bytes of [`plaintext`](Self::plaintext) consumed.
    pub fn consume(&mut self, n: usize) {
        self.conn.reader().consume(n)
    }

    /// Send what the handshake has to say, read what arrived on `sock` (non-blocking) once and
    /// process it.
    pub fn pump(&mut self, sock: &mut TcpStream) -> Pumped {
        if flush(&mut self.conn, sock).is_err() {
            return Pumped::Closed;
        }
        match self.conn.read_tls(sock) {
            // Closed during the handshake; after it, the plaintext says how (cleanly or not).
            Ok(0) if self.conn.is_handshaking() => return Pumped::Closed,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                return Pumped::Blocked
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Pumped::Failed(TlsFailure::Broken),
            Err(_) => return Pumped::Closed,
        }
        match self.conn.process_new_packets() {
            Ok(_) => {
                let _ = flush(&mut self.conn, sock);
                Pumped::Progress
            }
            Err(e) => {
                // Tell the client why, if the socket takes it.
                let _ = flush(&mut self.conn, sock);
                Pumped::Failed(failure(&e))
            }
        }
    }

    /// The connection, to be handed on with the socket it came on.
    pub fn into_conn(self, sock: TcpStream) -> Conn {
        Conn::Tls(Box::new(StreamOwned::new(self.conn, sock)))
    }
}

/// Write what the session has to send, without blocking: `Ok` also when the socket is full.
fn flush(conn: &mut ServerConnection, sock: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What a failed session is called in the log.
fn failure(e: &rustls::Error) -> TlsFailure {
    use rustls::Error;
    match e {
        Error::AlertReceived(a) => match a {
            AlertDescription::UnknownCA => TlsFailure::Untrusted("unknown_ca"),
            AlertDescription::BadCertificate => TlsFailure::Untrusted("bad_certificate"),
            AlertDescription::CertificateUnknown => TlsFailure::Untrusted("certificate_unknown"),
            AlertDescription::CertificateExpired => TlsFailure::Untrusted("certificate_expired"),
            AlertDescription::CertificateRevoked => TlsFailure::Untrusted("certificate_revoked"),
            AlertDescription::UnsupportedCertificate => TlsFailure::Untrusted("unsupported_certificate"),
            AlertDescription::ProtocolVersion | AlertDescription::HandshakeFailure => {
                TlsFailure::Incompatible
            }
            _ => TlsFailure::Broken,
        },
        Error::PeerIncompatible(_) => TlsFailure::Incompatible,
        _ => TlsFailure::Broken,
    }
}

/// A connection handed on from the gate: plain, or TLS with its session.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP; the session may hold plaintext already received.
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    /// The TCP socket under it.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    /// Whether it speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// Write `reply` at once on the non-blocking socket (one TLS record for TLS); false when it
    /// could not all be written.
    pub fn answer(&mut self, reply: &[u8]) -> bool {
        match self {
            Conn::Plain(s) => matches!(s.write(reply), Ok(n) if n == reply.len()),
            Conn::Tls(t) => {
                if t.conn.writer().write_all(reply).is_err() {
                    return false;
                }
                flush(&mut t.conn, &mut t.sock).is_ok() && !t.conn.wants_write()
            }
        }
    }

    /// For a thread of its own: blocking, and for TLS a read timeout of `wake`, so that a
    /// client sending half a record cannot keep a read from returning.
    pub fn into_blocking(self, wake: Duration) -> io::Result<Conn> {
        self.socket().set_nonblocking(false)?;
        if self.is_tls() {
            self.socket().set_read_timeout(Some(wake))?;
        }
        Ok(self)
    }

    /// The parts the HTTP server serves TLS over: the session and the socket.
    pub fn into_parts(self) -> (Option<ServerConnection>, TcpStream) {
        match self {
            Conn::Plain(s) => (None, s),
            Conn::Tls(t) => {
                let StreamOwned { conn, sock } = *t;
                (Some(conn), sock)
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => match t.read(buf) {
                // A peer that closes without close_notify has still closed.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.socket().as_raw_fd()
    }
}

impl Input for Conn {
    fn has_buffered(&mut self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(t) => t.conn.reader().fill_buf().is_ok_and(|b| !b.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::stream::gate::{Dropped, Gate, GateLimits, Ready};
    use std::net::TcpListener;
    use std::time::Instant;

    /// A CA and a server certificate and key signed by it, as PEM: (ca, cert, key).
    fn pems() -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert =
            CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
        (ca_cert.pem(), cert.pem(), key.serialize_pem())
    }

    /// `[web]` with the key and certificate written into `dir`.
    fn web_with(dir: &Path, cert: &str, key: &str) -> Web {
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        Web {
            ssl_key: Some(dir.join("key.pem")),
            ssl_certificate: Some(dir.join("cert.pem")),
            ..Web::default()
        }
    }

    #[test]
    fn without_keys_or_default_files_there_is_no_tls_and_default_files_are_used_when_both_exist() {
        let dir = tempfile::tempdir().unwrap();
        assert!(TlsServer::load(&Web::default(), dir.path()).unwrap().is_none());
        let (_, cert, key) = pems();
        std::fs::create_dir_all(dir.path().join("ssl")).unwrap();
        std::fs::write(dir.path().join("ssl/cert.pem"), &cert).unwrap();
        assert!(TlsServer::load(&Web::default(), dir.path()).unwrap().is_none(), "the key is missing");
        std::fs::write(dir.path().join("ssl/key.pem"), &key).unwrap();
        let tls = TlsServer::load(&Web::default(), dir.path()).unwrap().expect("netdata's default files");
        assert_eq!(tls.certificate, dir.path().join("ssl/cert.pem"));
        assert!(tls.notes.is_empty());
    }

    #[test]
    fn unusable_settings_are_errors_that_name_the_key_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (_, cert, key) = pems();
        let (_, _, other_key) = pems();
        let d = dir.path().display();
        let err = |web: &Web| TlsServer::load(web, dir.path()).unwrap_err();
        assert_eq!(
            err(&web_with(dir.path(), &cert, &cert)),
            format!(
                "[web] ssl key = {d}/key.pem: it holds a certificate, not a private key: are [web] ssl key and ssl \
                 certificate swapped?"
            )
        );
        assert!(err(&web_with(dir.path(), &cert, &other_key))
            .starts_with(&format!("[web] ssl key = {d}/key.pem is not the key of the certificate in [web] ssl certificate = {d}/cert.pem; ")));
        assert_eq!(
            err(&web_with(dir.path(), "nothing\n", &key)),
            format!(
                "[web] ssl certificate = {d}/cert.pem: it holds no certificate; give the server's certificate in PEM \
                 form (-----BEGIN CERTIFICATE-----), followed by any intermediates"
            )
        );
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(
            err(&web_with(dir.path(), &cert, encrypted)).contains(": the key is encrypted with a passphrase")
        );
        let web =
            Web { tls_ciphers: "TLS_AES_256_GCM_SHA384:RC4-MD5".into(), ..web_with(dir.path(), &cert, &key) };
        assert!(err(&web).starts_with(
            "[web] tls ciphers = TLS_AES_256_GCM_SHA384:RC4-MD5: unknown cipher suite 'RC4-MD5'. Choose from: \
             TLS_AES_256_GCM_SHA384, "
        ));
        let web = Web {
            tls_version: "1.2".into(),
            tls_ciphers: "TLS_AES_128_GCM_SHA256".into(),
            ..web_with(dir.path(), &cert, &key)
        };
        assert!(
            err(&web).contains("has no cipher suite for the versions of [web] tls version = 1.2"),
            "{}",
            err(&web)
        );
        let mut web = Web { tls_version: "1.1".into(), ..web_with(dir.path(), &cert, &key) };
        web.tls_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into();
        let tls = TlsServer::load(&web, dir.path()).unwrap().unwrap();
        assert_eq!(tls.summary, format!("TLS with {d}/cert.pem (TLS 1.2; ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384)"));
        assert_eq!(tls.notes.len(), 1);
        assert!(tls.notes[0].starts_with("[web] tls version = 1.1: TLS 1.0 and 1.1 are not offered"));
    }

    /// A gate with TLS from a fresh CA, its listener, and the CA's certificate.
    fn tls_gate() -> (Gate, TcpListener, String) {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = pems();
        let tls = TlsServer::load(&web_with(dir.path(), &cert, &key), dir.path()).unwrap().unwrap();
        let limits = GateLimits {
            max_pending: 8,
            max_per_address: 8,
            first_request_timeout: Duration::from_secs(10),
            max_request: 1024,
        };
        (Gate::new(limits).with_tls(Some(tls.config)), TcpListener::bind("127.0.0.1:0").unwrap(), ca)
    }

    /// A rustls client trusting `ca` (nothing when `None`).
    fn client_config(ca: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            roots
                .add_parsable_certificates(CertificateDer::pem_slice_iter(ca.as_bytes()).map(Result::unwrap));
        }
        let provider = Arc::new(ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// Accept one connection into `gate` and service it until something comes out.
    fn run_gate(gate: &mut Gate, l: &TcpListener) -> (Vec<Ready>, Vec<Dropped>) {
        let (s, peer) = l.accept().unwrap();
        let now = Instant::now();
        gate.admit(s, peer, 0, now);
        for _ in 0..200 {
            let mut fds = Vec::new();
            gate.poll_fds(&mut fds);
            // SAFETY: `fds` is a valid array for the call.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
            let out = gate.service(&fds, now);
            if !out.ready.is_empty() || !out.dropped.is_empty() {
                return (out.ready, out.dropped.into_iter().map(|d| d.0).collect());
            }
        }
        panic!("the gate never finished the connection");
    }

    #[test]
    fn a_tls_request_is_handed_over_with_its_session_and_what_follows_it_stays_unread() {
        let (mut gate, l, ca) = tls_gate();
        let addr = l.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let conn =
                rustls::ClientConnection::new(client_config(Some(&ca)), "localhost".try_into().unwrap())
                    .unwrap();
            let mut tls = StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
            tls.write_all(b"STREAM key=x HTTP/1.1\r\n\r\nCHART a\n").unwrap();
            let mut answer = [0u8; 5];
            tls.read_exact(&mut answer).unwrap();
            answer
        });
        let (mut ready, dropped) = run_gate(&mut gate, &l);
        assert!(dropped.is_empty(), "{dropped:?}");
        let r = ready.pop().unwrap();
        assert_eq!(r.request, b"STREAM key=x HTTP/1.1\r\n\r\n");
        let mut conn = r.stream.into_blocking(Duration::from_millis(250)).unwrap();
        assert!(conn.is_tls());
        assert!(conn.has_buffered(), "the line after the request is held by the session");
        let mut rest = [0u8; 8];
        conn.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"CHART a\n");
        assert!(conn.answer(b"hello"));
        assert_eq!(&client.join().unwrap(), b"hello");
    }

    #[test]
    fn a_stalled_handshake_is_closed_at_the_request_deadline_and_holds_no_thread() {
        let (mut gate, l, _) = tls_gate();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        // The start of a ClientHello record, and nothing more.
        c.write_all(&[TLS_HANDSHAKE_BYTE, 3, 1, 0, 200, 1]).unwrap();
        let (s, peer) = l.accept().unwrap();
        let t0 = Instant::now();
        gate.admit(s, peer, 0, t0);
        for _ in 0..5 {
            let mut fds = Vec::new();
            gate.poll_fds(&mut fds);
            // SAFETY: `fds` is a valid array for the call.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
            let out = gate.service(&fds, t0 + Duration::from_secs(9));
            assert!(out.ready.is_empty() && out.dropped.is_empty(), "still waiting: {:?}", out.dropped);
        }
        let late = gate.service(&[], t0 + Duration::from_secs(10));
        assert_eq!(late.dropped, vec![(Dropped::Expired, peer)]);
        assert!(gate.is_empty());
    }

    #[test]
    fn a_plain_client_on_a_tls_gate_is_read_as_plain() {
        let (mut gate, l, _) = tls_gate();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let (ready, _) = run_gate(&mut gate, &l);
        assert_eq!(ready[0].request, b"GET / HTTP/1.1\r\n\r\n");
        assert!(!ready[0].stream.is_tls());
    }

    #[test]
    fn a_client_refusing_the_certificate_is_told_apart_from_one_closing_after_the_handshake() {
        let (mut gate, l, ca) = tls_gate();
        let addr = l.local_addr().unwrap();
        let untrusting = std::thread::spawn(move || {
            let conn =
                rustls::ClientConnection::new(client_config(None), "localhost".try_into().unwrap()).unwrap();
            let mut tls = StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
            tls.write_all(b"GET / HTTP/1.1\r\n\r\n").expect_err("the certificate is not trusted");
        });
        let (_, dropped) = run_gate(&mut gate, &l);
        untrusting.join().unwrap();
        assert_eq!(dropped, vec![Dropped::Tls(TlsFailure::Untrusted("unknown_ca"))]);
        let leaving = std::thread::spawn(move || {
            let conn =
                rustls::ClientConnection::new(client_config(Some(&ca)), "localhost".try_into().unwrap())
                    .unwrap();
            let mut tls = StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
            while tls.conn.is_handshaking() {
                tls.conn.complete_io(&mut tls.sock).unwrap();
            }
            tls.conn.send_close_notify();
            tls.conn.complete_io(&mut tls.sock).unwrap();
        });
        let (_, dropped) = run_gate(&mut gate, &l);
        leaving.join().unwrap();
        assert_eq!(dropped, vec![Dropped::Tls(TlsFailure::ClosedAfterHandshake)]);
    }
}
