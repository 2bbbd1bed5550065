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
