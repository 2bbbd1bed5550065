//! One connected child: its lines go through a plugins.d [`Session`] into its host until it
//! leaves, goes silent, is replaced by a newer connection, or the agent stops.
//!
//! One job: the read loop. Lines are read with a bounded [`LineReader`] (a line longer than the
//! limit is dropped and counted, never buffered), over the socket or over its lz4 decoder
//! ([`super::compression`]), and timed by their arrival on the wall clock. The loop wakes at
//! least every [`WAKE`] to notice shutdown and silence even when the child sends nothing, and
//! checks both at least that often while the child sends a lot. It knows nothing of
//! handshakes, keys or listening sockets.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use crate::clock::now_ut;

use tracing::warn;

use super::registry::Live;
use crate::collect::plugins_d::lines::{Input, LineReader, ReadEvent};
use crate::collect::plugins_d::session::Session;
use crate::shutdown::Shutdown;

/// The longest wait for input before shutdown, replacement and silence are checked.
pub const WAKE: Duration = Duration::from_millis(250);

/// Over-long lines logged per connection before they are only counted.
const TOO_LONG_LOGGED: u64 = 3;

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The child closed the connection.
    Closed,
    /// Nothing arrived for this many seconds (`[stream] timeout seconds`).
    Silent(u64),
    /// A newer connection of the same machine took over.
    Replaced,
    /// The agent is stopping.
    Shutdown,
    /// Reading failed.
    ReadError(String),
    /// The compressed stream cannot be read on (see [`super::compression`]).
    Corrupt(String),
    /// Writing a reply (a replication request) failed.
    WriteError(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed => f.write_str("the child closed the connection"),
            End::Silent(s) => write!(f, "nothing received for {s} s ([stream] timeout seconds)"),
            End::Replaced => f.write_str("a newer connection of the same machine replaced it"),
            End::Shutdown => f.write_str("rrdpipe is stopping"),
            End::ReadError(e) => write!(f, "read error: {e}"),
            End::Corrupt(e) => write!(
                f,
                "its compressed stream is broken: {e}; the connection is closed and the child starts a new \
                 stream when it reconnects (set enable compression = no in its stream.conf if this repeats)"
            ),
            End::WriteError(e) => write!(f, "cannot send to the child: {e}"),
        }
    }
}

/// Limits of one connection's read loop.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Disconnect after this long without a line.
    pub timeout: Duration,
    /// The longest line kept, in bytes.
    pub max_line: usize,
}

/// Feed every line from `reader` (a [`LineReader`] of `limits.max_line`) to `session` until the
/// connection ends. Returns why, and how many over-long lines were dropped. `live` is touched
/// (wall-clock milliseconds) as lines arrive. What the session has to send back (replication
/// requests) is written to the connection as soon as the line that asked for it has been fed.
pub fn receive<R: Input + Write>(
    reader: &mut LineReader<R>,
    session: &mut Session,
    live: &Live,
    limits: Limits,
    shutdown: &Shutdown,
) -> (End, u64) {
    let wake = WAKE.as_micros() as u64;
    let mut last_line_ut = now_ut();
    let mut next_check_ut = last_line_ut + wake;
    let mut too_long = 0u64;
    loop {
        let event = match reader.next(WAKE) {
            Ok(e) => e,
            // A replaced connection's socket is shut down to wake it: say why it ended.
            Err(_) if live.replaced() => return (End::Replaced, too_long),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return (End::Corrupt(e.to_string()), too_long)
            }
            Err(e) => return (End::ReadError(e.to_string()), too_long),
        };
        let now = match event {
            ReadEvent::Line(line) => {
                let now = now_ut();
                session.feed(line, now);
                if let Some(out) = session.take_output() {
                    if let Err(e) = reader.get_mut().write_all(&out) {
                        return (End::WriteError(e.to_string()), too_long);
                    }
                }
                last_line_ut = now;
                now
            }
            ReadEvent::TooLong(len) => {
                too_long += 1;
                if too_long <= TOO_LONG_LOGGED {
                    warn!(bytes = len, max = limits.max_line, "dropped a line longer than the limit");
                }
                let now = now_ut();
                last_line_ut = now;
                now
            }
            ReadEvent::Timeout => {
                let now = now_ut();
                next_check_ut = now;
                now
            }
            ReadEvent::Eof if live.replaced() => return (End::Replaced, too_long),
            ReadEvent::Eof => return (End::Closed, too_long),
        };
        if now >= next_check_ut {
            next_check_ut = now + wake;
            live.touch(last_line_ut / 1000);
            if shutdown.is_triggered() {
                return (End::Shutdown, too_long);
            }
            if live.replaced() {
                return (End::Replaced, too_long);
            }
            let silent = Duration::from_micros(now.saturating_sub(last_line_ut));
            if silent >= limits.timeout {
                return (End::Silent(silent.as_secs()), too_long);
            }
        }
    }
}
