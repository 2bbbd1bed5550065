//! TLS settings for HTTPS connectors: which certificates a server may present.
//!
//! One job: turn `tls ca file` and `tls skip verify` into the HTTP client's TLS configuration.
//! Certificates are verified by default against the system's roots (on Debian
//! `/etc/ssl/certs`, found the way OpenSSL finds them) plus every certificate of `tls ca file`.
//! Also explains a refused handshake in words that say what to change. Knows nothing of
//! requests or formats.

use std::path::Path;
use std::sync::Arc;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

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

/// The TLS configuration for `ca_file` and `skip_verify`, and what it trusts. Fails, saying
/// what to do, when `ca_file` cannot be read or holds no certificate.
pub fn config(ca_file: Option<&Path>, skip_verify: bool) -> Result<(TlsConfig, Trust), String> {
    if skip_verify {
        return Ok((TlsConfig::builder().disable_verification(true).build(), Trust::Anything));
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
        return Ok((TlsConfig::builder().root_certs(RootCerts::WebPki).build(), Trust::BuiltIn));
    }
    let config = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(roots))).build();
    Ok((config, Trust::Roots { system, ca_file: from_file }))
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
        let (_, trust) = config(Some(&path), false).unwrap();
        let Trust::Roots { system, ca_file } = trust else { panic!("{trust:?}") };
        assert_eq!(ca_file, 2);
        let native = rustls_native_certs::load_native_certs().certs.len();
        assert_eq!(system, native);
        assert_eq!(config(None, true).unwrap().1, Trust::Anything);
    }
}
