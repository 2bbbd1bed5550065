//! Transports: getting bytes to the first reachable destination of a list.
//!
//! * [`tcp`]: line protocols over TCP or UDP with bounded connect and write;
//! * [`http`]: request bodies POSTed over HTTP(S) with kept-alive connections;
//! * [`tls`]: which server certificates HTTPS accepts, and why one was refused.
//!
//! Transports know nothing of formats or of the store; they move bytes and report what
//! happened so the sender can count it.

pub mod http;
pub mod tcp;
pub mod tls;

use std::fmt;

/// One destination of a list: `[tcp:|udp:]HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Datagrams instead of a stream.
    pub udp: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = if self.udp { "udp:" } else { "" };
        if self.host.contains(':') {
            write!(f, "{proto}[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{proto}{}:{}", self.host, self.port)
        }
    }
}

/// A list of endpoints, for log messages.
pub fn describe(endpoints: &[Endpoint]) -> String {
    endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(" ")
}
