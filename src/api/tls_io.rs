//! A TLS session over a tokio socket, as the HTTP server reads and writes it.
//!
//! One job: carry an established rustls server session (its handshake done and its request head
//! read on the listener's thread) on as `AsyncRead + AsyncWrite`, so that hyper serves HTTPS
//! exactly as it serves HTTP. Plaintext the session already holds is read first. Knows nothing
//! of HTTP.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A server session and its socket.
pub struct TlsIo {
    conn: ServerConnection,
    sock: TcpStream,
}

impl TlsIo {
    /// Go on with `conn` over `sock`.
    pub fn new(conn: ServerConnection, sock: TcpStream) -> TlsIo {
        TlsIo { conn, sock }
    }

    /// Write what the session has to send; `Pending` until the socket took all of it.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            ready!(self.sock.poll_write_ready(cx))?;
            match self.conn.write_tls(&mut Sync(&self.sock)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The socket's non-blocking `try_read`/`try_write` as `std::io` for rustls: `WouldBlock` also
/// clears tokio's readiness, so the next poll waits for the socket.
struct Sync<'a>(&'a TcpStream);

impl Read for Sync<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Sync<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.conn.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // A client that closes without close_notify has still closed.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Alerts and key updates go out before more is read; a full socket does not stop reading.
            if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
            ready!(this.sock.poll_read_ready(cx))?;
            match this.conn.read_tls(&mut Sync(&this.sock)) {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Err(e) = this.conn.process_new_packets() {
                let _ = this.poll_flush_tls(cx);
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
        }
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            let n = this.conn.writer().write(buf)?;
            if n > 0 || buf.is_empty() {
                // Sent now if the socket takes it; otherwise at the next write or flush.
                if let Poll::Ready(Err(e)) = this.poll_flush_tls(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(n));
            }
            // The session's buffer is full: wait for the socket to take some.
            ready!(this.poll_flush_tls(cx))?;
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_tls(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.conn.send_close_notify();
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.sock).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::future::poll_fn;
    use std::sync::Arc;

    /// Read exactly `buf.len()` bytes through the poll interface.
    async fn read_exact(io: &mut TlsIo, buf: &mut [u8]) {
        let mut filled = 0;
        while filled < buf.len() {
            let n = poll_fn(|cx| {
                let mut rb = ReadBuf::new(&mut buf[filled..]);
                Pin::new(&mut *io).poll_read(cx, &mut rb).map_ok(|()| rb.filled().len())
            })
            .await
            .unwrap();
            assert!(n > 0, "closed early");
            filled += n;
        }
    }

    /// Write all of `buf`, flush and shut down through the poll interface.
    async fn write_all_and_close(io: &mut TlsIo, buf: &[u8]) {
        let mut done = 0;
        while done < buf.len() {
            done += poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, &buf[done..])).await.unwrap();
        }
        poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await.unwrap();
        poll_fn(|cx| Pin::new(&mut *io).poll_shutdown(cx)).await.unwrap();
    }

    /// A server and a client configuration, the client trusting the server's self-signed
    /// certificate.
    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = CertificateDer::from_pem_slice(c.cert.pem().as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(c.signing_key.serialize_pem().as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    #[test]
    fn a_body_larger_than_every_buffer_arrives_whole_and_the_request_is_read_first() {
        let (server, client) = configs();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = body.clone();
        let reader = std::thread::spawn(move || {
            let conn = rustls::ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, std::net::TcpStream::connect(addr).unwrap());
            tls.write_all(b"ping").unwrap();
            // Read slowly at first, so the server meets a full socket.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut got = vec![0u8; expected.len()];
            tls.read_exact(&mut got).unwrap();
            got == expected
        });
        let (sock, _) = l.accept().unwrap();
        let mut conn = rustls::ServerConnection::new(server).unwrap();
        // The handshake and the first bytes on the blocking socket, as the gate leaves them.
        let mut sock = sock;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).unwrap();
        }
        sock.set_nonblocking(true).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
        let got_ping = rt.block_on(async move {
            let mut io = TlsIo::new(conn, TcpStream::from_std(sock).unwrap());
            let mut ping = [0u8; 4];
            read_exact(&mut io, &mut ping).await;
            write_all_and_close(&mut io, &body).await;
            ping
        });
        assert_eq!(&got_ping, b"ping");
        assert!(reader.join().unwrap(), "the client read the body whole");
    }
}
