//! A bounded line reader over a pipe or socket, with a wake-up timeout.
//!
//! One job: hand out complete lines from a file descriptor without ever holding more than a
//! fixed buffer, and without blocking longer than the caller allows (so the calling thread can
//! notice a shutdown even when the other end stays silent). A line longer than the limit is
//! dropped, reported once with its length, and reading resumes after its newline. It knows
//! nothing about what the lines mean.

use std::io::{self, Read};
use std::os::unix::io::AsRawFd;
use std::time::Duration;

/// What lines are read from: a descriptor to wait on, and a reader that may hold input of its
/// own (a TLS session's decrypted records), which is there to read without the descriptor
/// becoming readable.
pub trait Input: Read + AsRawFd {
    /// Whether input waits inside the reader already.
    fn has_buffered(&mut self) -> bool {
        false
    }
}

impl Input for std::process::ChildStdout {}
impl Input for std::process::ChildStderr {}
impl Input for std::net::TcpStream {}
impl Input for std::os::unix::net::UnixStream {}

/// Default longest line kept, in bytes (without the newline).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// What [`LineReader::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEvent<'a> {
    /// One line, without its newline. The last line of the stream may lack the newline.
    Line(&'a [u8]),
    /// A line longer than the limit was dropped; holds its length (without the newline).
    TooLong(usize),
    /// No complete line yet: nothing arrived within the timeout, or only part of a line did.
    Timeout,
    /// The writer closed its end and every line was handed out.
    Eof,
}

/// Reads lines from `R` into a buffer of fixed size; see the module docs.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    max_line: usize,
    /// Inside a line that is too long: bytes dropped so far.
    dropping: Option<usize>,
    eof: bool,
    /// Bytes read so far.
    bytes: u64,
}

impl<R: Input> LineReader<R> {
    /// A reader keeping lines up to `max_line` bytes.
    pub fn new(inner: R, max_line: usize) -> LineReader<R> {
        let max_line = max_line.max(1);
        LineReader {
            inner,
            // One byte more than the longest line, so a full buffer without a newline always
            // means "too long".
            buf: vec![0u8; max_line + 1].into_boxed_slice(),
            start: 0,
            end: 0,
            max_line,
            dropping: None,
            eof: false,
            bytes: 0,
        }
    }

    /// The next line, waiting at most `timeout` for more input.
    pub fn next(&mut self, timeout: Duration) -> io::Result<ReadEvent<'_>> {
        let mut tried = false;
        loop {
            if let Some(pos) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                let (s, e) = (self.start, self.start + pos);
                self.start = e + 1;
                if let Some(dropped) = self.dropping.take() {
                    return Ok(ReadEvent::TooLong(dropped + pos));
                }
                return Ok(ReadEvent::Line(&self.buf[s..e]));
            }
            // No newline in the buffer.
            let pending = self.end - self.start;
            if let Some(dropped) = self.dropping.as_mut() {
                *dropped += pending;
                self.start = 0;
                self.end = 0;
            } else if pending > self.max_line {
                self.dropping = Some(pending);
                self.start = 0;
                self.end = 0;
            }
            if self.eof {
                if let Some(dropped) = self.dropping.take() {
                    return Ok(ReadEvent::TooLong(dropped));
                }
                if self.end > self.start {
                    let (s, e) = (self.start, self.end);
                    self.start = self.end;
                    return Ok(ReadEvent::Line(&self.buf[s..e]));
                }
                return Ok(ReadEvent::Eof);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            // At most one wait and one read per call, so a writer that trickles bytes without a
            // newline cannot keep the caller from checking for shutdown.
            if tried {
                return Ok(ReadEvent::Timeout);
            }
            tried = true;
            if !self.inner.has_buffered() && !wait_readable(self.inner.as_raw_fd(), timeout)? {
                continue;
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    self.bytes += n as u64;
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Bytes read from the reader so far (lines handed out or not yet, dropped ones too).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The wrapped reader, to write to a connection read by this reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Wait until `fd` is readable (or closed); `false` on timeout or interruption.
fn wait_readable(fd: i32, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the duration of the call.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(r > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    const T: Duration = Duration::from_millis(500);

    fn collect(r: &mut LineReader<UnixStream>) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match r.next(T).unwrap() {
                ReadEvent::Line(l) => out.push(format!("L:{}", String::from_utf8_lossy(l))),
                ReadEvent::TooLong(n) => out.push(format!("TooLong:{n}")),
                ReadEvent::Timeout => {}
                ReadEvent::Eof => return out,
            }
        }
    }

    #[test]
    fn lines_split_across_writes_and_last_line_without_newline() {
        let (mut w, r) = UnixStream::pair().unwrap();
        let mut r = LineReader::new(r, 16);
        let t = std::thread::spawn(move || {
            w.write_all(b"one\ntw").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            w.write_all(b"o\n\nthree").unwrap();
        });
        assert_eq!(collect(&mut r), ["L:one", "L:two", "L:", "L:three"]);
        t.join().unwrap();
    }

    #[test]
    fn too_long_lines_are_dropped_and_reading_resumes_at_the_next_newline() {
        let (mut w, r) = UnixStream::pair().unwrap();
        let mut r = LineReader::new(r, 8);
        let mut input = Vec::new();
        input.extend_from_slice(b"12345678\n"); // exactly the limit: kept
        input.extend_from_slice(b"123456789\n"); // one over: dropped
        input.extend(std::iter::repeat_n(b'x', 1_000_000)); // far over, many reads
        input.extend_from_slice(b"\nok\n");
        input.extend(std::iter::repeat_n(b'y', 20)); // too long and never terminated
                                                     // Read while the writer writes: the input is bigger than a socket buffer.
        let t = std::thread::spawn(move || w.write_all(&input).unwrap());
        assert_eq!(collect(&mut r), ["L:12345678", "TooLong:9", "TooLong:1000000", "L:ok", "TooLong:20"]);
        t.join().unwrap();
        assert_eq!(r.bytes_read(), 9 + 10 + 1_000_000 + 4 + 20, "every byte read is counted");
        assert_eq!(r.buf.len(), 9, "the buffer never grows");
    }

    #[test]
    fn silence_times_out_without_losing_the_partial_line() {
        let (mut w, r) = UnixStream::pair().unwrap();
        let mut r = LineReader::new(r, 64);
        w.write_all(b"par").unwrap();
        assert_eq!(r.next(Duration::from_millis(30)).unwrap(), ReadEvent::Timeout);
        w.write_all(b"tial\n").unwrap();
        assert_eq!(r.next(T).unwrap(), ReadEvent::Line(b"partial"));
        assert_eq!(r.next(Duration::from_millis(30)).unwrap(), ReadEvent::Timeout);
        drop(w);
        assert_eq!(r.next(T).unwrap(), ReadEvent::Eof);
    }
}
