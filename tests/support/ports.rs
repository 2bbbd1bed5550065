//! Loopback addresses for tests: free ports, waiting for a listener, and sending raw bytes
//! to one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::wait::wait_until;

/// A TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// `127.0.0.1:port`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until a TCP connection to `addr` succeeds; false if `deadline` passes.
pub fn wait_for_tcp(addr: SocketAddr, deadline: Instant) -> bool {
    wait_until(deadline, || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
}

/// Connects to `addr`, writes all of `bytes`, and closes the connection
/// cleanly (write side shut down, then waits for the peer to close).
pub fn send_tcp(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.write_all(bytes).unwrap_or_else(|e| panic!("write to {addr}: {e}"));
    s.shutdown(std::net::Shutdown::Write).unwrap_or_else(|e| panic!("shutdown write to {addr}: {e}"));
    // Wait (briefly) for the server to close its side, so the data has been
    // read by the time we return.
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sink = [0u8; 256];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}
