//! TLS settings for HTTPS connectors: which certificates a server may present.
//!
//! One job: turn `tls ca file` and `tls skip verify` into the HTTP client's TLS configuration.
//! Certificates are verified by default against the system's roots (on Debian
//! `/etc/ssl/certs`, found the way OpenSSL finds them) plus every certificate of `tls ca file`.
//! Also explains a refused handshake in words that say what to change. Knows nothing of
//! requests or formats.
//!
//! # A self-signed server certificate in `tls ca file`
//!
//! Users pin a self-signed receiver by putting its certificate in `tls ca file` (netdata, with
//! OpenSSL, accepts that). Such certificates usually say `CA:TRUE`, and the WebPKI rules of
//! rustls refuse a CA certificate presented as a server's own (`CaUsedAsEndEntity`). So with
//! `tls ca file`, connections go through [`PinnedTls`]: the usual verification first, and when
//! it fails only because the server's certificate is a CA one, that certificate is accepted if
//! it is byte for byte one of those in the file, still within its validity period (checked
//! before that refusal) and valid for the destination's name. Nothing else is relaxed: any
//! other certificate is verified as before.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned,
};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::transport::time::{Duration, Instant};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};

/// The roots a TLS configuration trusts, for the start-up log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Any certificate (`tls skip verify = yes`).
    Anything,
    /// The system's roots and those of `tls ca file`.
    Roots {
        /// Certificates found in the system store.
        system: usize,
        /// Certificates read from `tls ca file`.
        ca_file: usize,
    },
    /// The system store was empty or unreadable and no `tls ca file` was given: the roots
    /// compiled into rrdpipe (Mozilla's list).
    BuiltIn,
}

/// The TLS configuration for `ca_file` and `skip_verify`, what it trusts, and the connector
/// that accepts a pinned self-signed server certificate (to chain before ureq's own, which then
/// leaves the connections it wrapped alone). Fails, saying what to do, when `ca_file` cannot be
/// read or holds no certificate.
pub fn config(ca_file: Option<&Path>, skip_verify: bool) -> Result<(TlsConfig, Trust, PinnedTls), String> {
    if skip_verify {
        return Ok((
            TlsConfig::builder().disable_verification(true).build(),
            Trust::Anything,
            PinnedTls(None),
        ));
    }
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    let native = rustls_native_certs::load_native_certs();
    for der in &native.certs {
        roots.push(Certificate::from_der(der.as_ref()).to_owned());
    }
    let system = roots.len();
    let mut from_file = 0;
    if let Some(path) = ca_file {
        from_file = read_ca_file(path, &mut roots)?;
    }
    if roots.is_empty() {
        return Ok((
            TlsConfig::builder().root_certs(RootCerts::WebPki).build(),
            Trust::BuiltIn,
            PinnedTls(None),
        ));
    }
    let pinned = match ca_file {
        Some(path) => PinnedTls(Some(pinned_config(&roots, &roots[system..]).map_err(|e| {
            format!(
                "tls ca file '{}': cannot use it: {e}; check that it holds valid certificates",
                path.display()
            )
        })?)),
        None => PinnedTls(None),
    };
    let config = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(roots))).build();
    Ok((config, Trust::Roots { system, ca_file: from_file }, pinned))
}

/// A rustls client configuration trusting `roots` that also accepts, as a server's own
/// certificate, a CA certificate exactly equal to one of `pinned`.
fn pinned_config(
    roots: &[Certificate<'static>],
    pinned: &[Certificate<'static>],
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = pinned_verifier(roots, pinned, &provider)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The [`PinnedVerifier`] of `roots` and `pinned`.
fn pinned_verifier(
    roots: &[Certificate<'static>],
    pinned: &[Certificate<'static>],
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<PinnedVerifier, String> {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(roots.iter().map(|c| CertificateDer::from(c.der()).into_owned()));
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(PinnedVerifier {
        webpki,
        pinned: pinned.iter().map(|c| CertificateDer::from(c.der()).into_owned()).collect(),
    })
}

/// Whether `e` is WebPKI's refusal of a CA certificate presented as a server's own.
fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = e else {
        return false;
    };
    matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
}

/// The usual WebPKI verification, plus the pinned certificates of `tls ca file` accepted as
/// they are: see the [module documentation](self).
#[derive(Debug)]
struct PinnedVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of `tls ca file`, DER.
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // WebPKI checks the validity period before the CA flag: this refusal means the
            // certificate is within it.
            Err(e)
                if is_ca_used_as_end_entity(&e)
                    && self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Wraps HTTPS connections in TLS with the [`PinnedVerifier`] when `tls ca file` is set; does
/// nothing otherwise (ureq's own TLS connector, chained after it, does the rest).
#[derive(Clone, Debug, Default)]
pub struct PinnedTls(Option<Arc<ClientConfig>>);

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, PinnedTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        let Some(config) = &self.0 else {
            return Ok(Some(Either::A(transport)));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or("");
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = ServerName::try_from(host)
            .map_err(|e| {
                ureq::Error::Io(std::io::Error::other(format!("'{host}' is no TLS server name: {e}")))
            })?
            .to_owned();
        let mut conn = ClientConnection::new(config.clone(), name)
            .map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(remaining(details.timeout, details.now, (details.current_time)()));
        conn.complete_io(&mut sock)?;
        let buffers =
            LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(PinnedTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

/// `timeout` less the time spent since `start` (the TCP connect): the handshake gets what is
/// left of the request's budget, as in ureq's own TLS connector.
fn remaining(mut timeout: NextTimeout, start: Instant, now: Instant) -> NextTimeout {
    if let (Duration::Exact(limit), Instant::Exact(start), Instant::Exact(now)) = (timeout.after, start, now)
    {
        timeout.after = Duration::Exact(limit.saturating_sub(now.saturating_duration_since(start)));
    }
    timeout
}

/// A connection wrapped by [`PinnedTls`].
pub struct PinnedTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for PinnedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedTransport").field("chained", &self.stream.sock.inner()).finish()
    }
}

impl Transport for PinnedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// Appends the certificates of the PEM file `path` to `roots`; returns how many.
fn read_ca_file(path: &Path, roots: &mut Vec<Certificate<'static>>) -> Result<usize, String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!("tls ca file '{}': cannot read it: {e}; point it at a readable PEM file", path.display())
    })?;
    let before = roots.len();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => roots.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "tls ca file '{}': not a valid PEM file ({e}); it must hold \
                     -----BEGIN CERTIFICATE----- blocks",
                    path.display()
                ))
            }
        }
    }
    if roots.len() == before {
        return Err(format!(
            "tls ca file '{}' holds no certificate; it must hold the PEM certificate \
             (-----BEGIN CERTIFICATE-----) of the authority that signed the server's certificate",
            path.display()
        ));
    }
    Ok(roots.len() - before)
}

/// The TLS library's reason when `e` is a failed TLS handshake, with what to do about it.
pub fn explain(e: &ureq::Error) -> Option<String> {
    let ureq::Error::Io(io) = e else {
        return None;
    };
    let tls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    let advice = match tls {
        e if is_ca_used_as_end_entity(e) => {
            "the server's certificate is a CA certificate (as self-signed ones usually are) that is \
             not one of those in 'tls ca file': put that exact certificate (PEM) in 'tls ca file', \
             or give the server a certificate signed by an authority this host trusts"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature) => {
            "the server's certificate is not signed by an authority this host trusts: set \
             'tls ca file' to the PEM certificate of the authority that signed it \
             (or, insecurely, 'tls skip verify = yes')"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. }) => {
            "the server's certificate does not name the host in 'destination': use a destination \
             the certificate was issued for"
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. })
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYet)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYetContext { .. }) => {
            "the server's certificate is outside its validity period: renew it, or check this \
             host's clock"
        }
        rustls::Error::InvalidCertificate(_) => {
            "the server's certificate was refused: check it, or set 'tls ca file' to the PEM \
             certificate of the authority that signed it"
        }
        _ => "check that the destination speaks HTTPS on that port",
    };
    Some(format!("TLS handshake failed: {tls}; {advice}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_says_so_and_what_to_do() {
        let e = config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert!(e.starts_with("tls ca file '/nonexistent/ca.pem': cannot read it: "), "{e}");
        assert!(e.ends_with("; point it at a readable PEM file"), "{e}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = config(Some(&path), false).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
    }

    #[test]
    fn ca_file_certificates_are_added_to_the_system_roots() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, format!("{}{}", ca.cert.pem(), ca.cert.pem())).unwrap();
        let (_, trust, pinned) = config(Some(&path), false).unwrap();
        assert!(pinned.0.is_some());
        let Trust::Roots { system, ca_file } = trust else { panic!("{trust:?}") };
        assert_eq!(ca_file, 2);
        let native = rustls_native_certs::load_native_certs().certs.len();
        assert_eq!(system, native);
        assert_eq!(config(None, true).unwrap().1, Trust::Anything);
        assert!(config(None, false).unwrap().2 .0.is_none(), "without 'tls ca file', ureq's TLS as before");
    }

    #[test]
    fn the_handshake_gets_what_is_left_of_the_timeout() {
        let secs = std::time::Duration::from_secs;
        let start = std::time::Instant::now();
        let t = NextTimeout { after: Duration::Exact(secs(5)), ..NextTimeout::default() };
        let at = |s| remaining(t, Instant::Exact(start), Instant::Exact(start + secs(s))).after;
        assert_eq!(
            (at(0), at(2), at(9)),
            (Duration::Exact(secs(5)), Duration::Exact(secs(3)), Duration::Exact(secs(0)))
        );
        let never = NextTimeout { after: Duration::NotHappening, ..NextTimeout::default() };
        assert_eq!(
            remaining(never, Instant::Exact(start), Instant::Exact(start + secs(1))).after,
            Duration::NotHappening
        );
    }

    /// A self-signed server certificate: `CA:TRUE` (as `openssl req -x509` makes them) when
    /// `ca`, valid until `until` (a year, `None`).
    fn self_signed(names: &[&str], ca: bool, until: Option<(i32, u8, u8)>) -> Certificate<'static> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        if ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if let Some((y, m, d)) = until {
            p.not_before = rcgen::date_time_ymd(y - 1, m, d);
            p.not_after = rcgen::date_time_ymd(y, m, d);
        }
        Certificate::from_der(p.self_signed(&key).unwrap().der()).to_owned()
    }

    /// What the verifier trusting (and pinning) `file` says of a server presenting `server` as
    /// `name`.
    fn verify(
        file: &[Certificate<'static>],
        server: &Certificate<'static>,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let v = pinned_verifier(file, file, &provider).unwrap();
        let name = ServerName::try_from(name).unwrap().to_owned();
        let der = CertificateDer::from(server.der());
        v.verify_server_cert(&der, &[], &name, &[], UnixTime::now()).map(|_| ())
    }

    /// The reason and advice [`explain`] gives for `e`.
    fn explained(e: rustls::Error) -> String {
        explain(&ureq::Error::Io(std::io::Error::other(e))).unwrap()
    }

    #[test]
    fn a_self_signed_ca_server_certificate_in_the_ca_file_is_accepted() {
        let server = self_signed(&["localhost", "127.0.0.1"], true, None);
        // WebPKI alone refuses it: the bug.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let plain = pinned_verifier(std::slice::from_ref(&server), &[], &provider).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let e = plain
            .verify_server_cert(&CertificateDer::from(server.der()), &[], &name, &[], UnixTime::now())
            .unwrap_err();
        assert!(is_ca_used_as_end_entity(&e), "{e:?}");
        // Pinned, it is accepted, by name and by address.
        assert_eq!(verify(std::slice::from_ref(&server), &server, "localhost"), Ok(()));
        assert_eq!(verify(std::slice::from_ref(&server), &server, "127.0.0.1"), Ok(()));
        // Among other certificates in the file too.
        let other = self_signed(&["other.test"], true, None);
        assert_eq!(verify(&[other, server.clone()], &server, "localhost"), Ok(()));
        // One without CA:TRUE was accepted already, and still is.
        let leaf = self_signed(&["localhost"], false, None);
        assert_eq!(verify(std::slice::from_ref(&leaf), &leaf, "localhost"), Ok(()));
    }

    #[test]
    fn a_pinned_certificate_is_still_checked_for_name_and_validity() {
        let server = self_signed(&["localhost"], true, None);
        let e = verify(std::slice::from_ref(&server), &server, "other.test").unwrap_err();
        assert!(
            matches!(e, rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })),
            "{e:?}"
        );
        let expired = self_signed(&["localhost"], true, Some((2020, 1, 1)));
        let e = verify(std::slice::from_ref(&expired), &expired, "localhost").unwrap_err();
        assert!(
            matches!(e, rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })),
            "{e:?}"
        );
        assert!(explained(e).contains("outside its validity period"));
    }

    #[test]
    fn another_self_signed_certificate_is_refused_saying_what_to_put_in_the_ca_file() {
        let pinned = self_signed(&["localhost"], true, None);
        let impostor = self_signed(&["localhost"], true, None);
        let e = verify(&[pinned], &impostor, "localhost").unwrap_err();
        assert!(is_ca_used_as_end_entity(&e), "{e:?}");
        let text = explained(e);
        assert!(text.starts_with("TLS handshake failed: invalid peer certificate: "), "{text}");
        assert!(
            text.ends_with(
                "; the server's certificate is a CA certificate (as self-signed ones usually are) that \
                 is not one of those in 'tls ca file': put that exact certificate (PEM) in 'tls ca \
                 file', or give the server a certificate signed by an authority this host trusts"
            ),
            "{text}"
        );
        let leaf = self_signed(&["localhost"], false, None);
        let e = verify(&[self_signed(&["localhost"], false, None)], &leaf, "localhost").unwrap_err();
        // Same subject, other key: its signature does not verify with the pinned one's key.
        assert_eq!(e, rustls::Error::InvalidCertificate(CertificateError::BadSignature));
        assert!(explained(e).contains("is not signed by an authority this host trusts"));
    }
}
