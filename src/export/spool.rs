//! The disk spool of one exporter instance: a write-ahead log of the batches not yet delivered.
//!
//! One job: keep every batch an instance produces on disk, in order, until the sender says it
//! left its queue, so that intervals outlive a backend outage longer than memory allows and a
//! restart of rrdpipe, a kill -9 included. Knows nothing of sockets, formats, the sender's
//! queues or its counters; it sees batches, sequence numbers and files. It logs its own
//! troubles (with the instance name, the path and what to do) and returns what they cost.
//!
//! # On disk
//!
//! `spool directory/INSTANCE/`, where INSTANCE is the instance name with every byte other than
//! ASCII letters, digits, `-`, `_` and a `.` not in first place written `%XX` (so two names
//! never share a directory, and none is `.` or `..`):
//!
//! * `NNNNNNNNNNNNNNNNNNNN.spool`: segments, named by the sequence number of their first record
//!   (20 digits, so names sort in order). Only the newest takes appends; it is closed when the
//!   next record would take it past [`SEGMENT_MAX`] (or `max size / 16`, if smaller), and after a
//!   restart appends always start a new one, never after a possibly cut tail;
//! * `acknowledged`: the highest sequence number delivered, so a restart does not send again
//!   what was delivered (magic `RPSA`, version `u16` 1, flags `u16` 0, seq `u64`, CRC-32 of the
//!   12 bytes before it; little-endian);
//! * `lock`: held (`flock`) while a process uses the spool, so two rrdpipes never share one.
//!
//! # Links and other users
//!
//! rrdpipe often runs as root, so a link planted in the spool could make it overwrite any file.
//! It opens every file there with `O_NOFOLLOW` and uses it only if it is a regular file with a
//! single link; a new segment is created with `O_EXCL`, never over an existing file. The
//! `spool directory` (which may itself be reached through a link, as configured) and each
//! `INSTANCE` directory (which may not) must belong to root or to the user rrdpipe runs as,
//! and must not be writable by every user (`o+w`, sticky or not), so that nobody else can plant
//! links there; missing directories are created `0755`. What is refused is logged with the path,
//! the reason and what to do: a refused directory, `acknowledged` or `lock` makes the spool
//! unusable (rrdpipe does not start), a refused segment is left as it is and the rest of the
//! spool is used.
//!
//! A record, little-endian:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | magic `RPSL` |
//! | 4 | 2 | version, 1 |
//! | 6 | 2 | flags, 0 |
//! | 8 | 4 | length of what follows the 16-byte header: 24 + payload |
//! | 12 | 4 | CRC-32 (IEEE) of bytes 4..12 and of everything after the header |
//! | 16 | 8 | sequence number (from 1, increasing by 1 per append) |
//! | 24 | 8 | [`Batch::timestamp`] (signed) |
//! | 32 | 8 | [`Batch::metrics`] |
//! | 40 | n | [`Batch::bytes`] |
//!
//! # What survives what
//!
//! * **kill -9 of rrdpipe** loses nothing appended: [`Spool::append`] returns only once
//!   `write(2)` has handed the whole record to the kernel, and the page cache outlives the
//!   process. A record being written at the moment of the kill was never appended (its caller
//!   got no sequence number); if part of it reached the file, recovery reports it and skips it.
//! * **A power loss or kernel crash** loses at most the records appended after the last sync.
//!   A segment is synced when it is closed, so only the open segment can hold unsynced records;
//!   [`Spool::maybe_sync`] syncs it (with the directory and `acknowledged`) when something is
//!   unsynced and the last sync is at least [`SYNC_EVERY`] (1 s) old. Called after every append
//!   and on every wake-up of the sender (at least once a second), a record is on stable storage
//!   at most 2 s after it was appended; with `update every` of 1 s or more (netdata's default is
//!   10), each interval is synced right after its append, and the most a power loss takes is the
//!   interval being appended. [`Spool::durable_upto`] says which records are synced. A cut or
//!   garbled tail left by the crash is reported and skipped at the next start.
//! * **A damaged file** (disk error, cut tail): every record is checksummed. Recovery keeps every
//!   record before the first bad one of a file, then reports the file, the offset, the reason
//!   and the bytes skipped (that record and the rest of its file: a length can no longer be
//!   trusted), cuts the file there so the problem is reported once, and goes on with the next
//!   file. Nothing is dropped silently and nothing panics.
//!
//! # Errors
//!
//! A failed write (disk full, permission denied, read-only file system) is logged once with the
//! path, the reason and what to do, and again once when writing works again. The batch it was
//! writing is not spooled (its caller gets the error and keeps the batch in memory only), the
//! part that reached the file is cut off, and the next append tries again in a fresh segment:
//! the spool is off while the disk refuses and back on with the first append that succeeds. A
//! failed sync is logged the same way and closes the segment (after a failed `fsync` the
//! kernel's copy of its pages cannot be trusted to reach the disk). A failed write of
//! `acknowledged` only means that a restart sends some delivered batches again, which receivers
//! store as identical duplicates.
//!
//! # Wiring into the sender
//!
//! The spool sits beside the sender's queue (the line `Outbox` or the HTTP `RequestQueue`), and
//! [`Acks`] tells which spooled records have left that queue. Every batch goes to the spool
//! first, then to the queue; after each attempt, whatever left the queue (delivered, or refused
//! for good) is acknowledged. Two events differ from the sender without a spool:
//!
//! * more than `buffer on failures` failed intervals: the queue is emptied *without* counting a
//!   loss (its batches are on disk) and [`Acks::clear`]ed; new batches then go to the spool
//!   only, and the queue is refilled with [`Spool::read_after`] once it has room again;
//! * a non-empty [`Spool::enforce_cap`]: that loss is counted (it is the only count of it); the
//!   queue may still hold the records the spool just deleted, so it is emptied and refilled the
//!   same way.
//!
//! ```
//! use std::time::Instant;
//!
//! use rrdpipe::export::buffer::RequestQueue;
//! use rrdpipe::export::encode::Batch;
//! use rrdpipe::export::spool::{Acks, Spool};
//!
//! /// At most this many bytes wait in memory while the rest waits on disk.
//! const IN_MEMORY: usize = 4 << 20;
//! # fn deliver(queue: &mut RequestQueue) -> bool { while queue.front().is_some() { queue.delivered(); } true }
//! # let dir = tempfile::tempdir().unwrap();
//! # let spool_directory = dir.path();
//! # let batches = vec![Batch { timestamp: 10, metrics: 1, bytes: b"[1]".to_vec() }];
//!
//! let mut queue = RequestQueue::new();
//! let mut acks = Acks::new();
//! // Start: what the spool holds goes first. Problems found are already logged.
//! let mut spool = match Spool::open(spool_directory, "my_graphite", 1 << 30) {
//!     Ok((spool, recovered)) => {
//!         // stats.lost_bytes(recovered.lost_bytes); stats.lost_metrics(recovered.over_cap.metrics);
//!         for (seq, batch) in recovered.batches {
//!             acks.pushed(Some(seq), batch.bytes.len());
//!             queue.push(batch);
//!         }
//!         Some(spool)
//!     }
//!     Err(e) => {
//!         eprintln!("exporter 'my_graphite': {e}; running without a spool");
//!         None
//!     }
//! };
//! // On disk but not in the queue (after the queue was emptied to bound memory).
//! let mut behind = false;
//! for batch in batches {
//!     // Each batch from the formatter: to disk first (None: not spooled, memory only).
//!     let seq = spool.as_mut().and_then(|s| s.append(&batch).ok());
//!     if !(behind && seq.is_some()) {
//!         acks.pushed(seq, batch.bytes.len());
//!         queue.push(batch);
//!     }
//!     if let Some(s) = spool.as_mut() {
//!         let lost = s.enforce_cap(); // count lost.metrics, lost.bytes, one discard
//!         if lost.bytes > 0 {
//!             queue.drop_all(); // not counted: the spool counted its part, the rest is on disk
//!             acks.clear();
//!             behind = true;
//!         }
//!         let _ = s.maybe_sync(Instant::now()); // also on every 1 s wake-up
//!     }
//!     // One delivery attempt; then whatever left the queue is done with.
//!     let _ok = deliver(&mut queue);
//!     if let (Some(s), Some(upto)) = (spool.as_mut(), acks.settled(queue.pending_bytes())) {
//!         let _ = s.acknowledge(upto);
//!     }
//!     // More than `buffer on failures` failed intervals: `queue.drop_all(); acks.clear();
//!     // behind = true;` without counting a loss.
//!     if let (Some(s), true) = (spool.as_mut(), behind) {
//!         if queue.pending_bytes() < IN_MEMORY {
//!             let after = acks.newest().unwrap_or(0);
//!             let replay = s.read_after(after, IN_MEMORY).unwrap_or_default();
//!             // count replay.lost like a cap drop
//!             behind = replay.more;
//!             for (seq, batch) in replay.batches {
//!                 acks.pushed(Some(seq), batch.bytes.len());
//!                 queue.push(batch);
//!             }
//!         }
//!     }
//! }
//! // Shutdown: the last attempt, then make what is left durable.
//! if let Some(s) = spool.as_mut() {
//!     let _ = s.sync();
//! }
//! assert_eq!(queue.pending_bytes(), 0);
//! ```

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::export::buffer::Dropped;
use crate::export::encode::Batch;

/// The largest segment: one is closed when the next record would take it past this size (or
/// past `max size / 16`, if smaller). A record larger than that gets a segment of its own.
pub const SEGMENT_MAX: u64 = 4 << 20;

/// The longest time [`Spool::maybe_sync`] lets appended records wait for a sync.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The start of every record.
const MAGIC: [u8; 4] = *b"RPSL";
/// The start of the `acknowledged` file.
const ACK_MAGIC: [u8; 4] = *b"RPSA";
/// The record (and `acknowledged`) format this code writes and reads.
const VERSION: u16 = 1;
/// Magic, version, flags, length, CRC.
const HEADER: usize = 16;
/// Sequence number, timestamp, metrics.
const FIXED: usize = 24;
/// The header and the fixed fields: the part of a record before its payload.
const HEAD: usize = HEADER + FIXED;
/// Size of the `acknowledged` file.
const ACK_LEN: usize = 20;
const ACK_FILE: &str = "acknowledged";
const LOCK_FILE: &str = "lock";
const SUFFIX: &str = ".spool";

/// Why the spool could not do something. Its `Display` says what to do next.
#[derive(Debug)]
pub enum SpoolError {
    /// A file system operation failed.
    Io {
        /// What was being done (`create the spool directory`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Another process holds the spool's lock.
    Locked {
        /// The spool directory.
        path: PathBuf,
    },
    /// A batch too large for one record (its length field is 32 bits).
    TooLarge {
        /// The batch's size in bytes.
        bytes: usize,
    },
    /// An instance without a name has no directory of its own.
    NoName,
    /// A file or directory the spool will not use, because using it could write elsewhere or
    /// let other users plant links.
    Refused {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it (`it is a symbolic link (to /etc/passwd)`).
        problem: String,
        /// What to do.
        fix: String,
    },
}

impl SpoolError {
    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SpoolError + 'a {
        move |source| SpoolError::Io { action, path: path.to_path_buf(), source }
    }
}

/// What to do about a failed file operation.
fn advice(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            "free space on that file system, or lower 'spool max size'"
        }
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "let the user rrdpipe runs as write there, or change 'spool directory'"
        }
        Some(libc::EROFS) => "that file system is read-only; change 'spool directory'",
        Some(libc::EIO) => "the disk reports errors; check it (dmesg), or change 'spool directory'",
        _ => "check the file system, or change 'spool directory'",
    }
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolError::Io { action, path, source } => {
                write!(f, "cannot {action} {}: {source}; {}", path.display(), advice(source))
            }
            SpoolError::Locked { path } => write!(
                f,
                "spool {} is in use by another process; give each running rrdpipe its own \
                 'spool directory'",
                path.display()
            ),
            SpoolError::TooLarge { bytes } => write!(
                f,
                "a batch of {bytes} bytes is larger than a spool record holds (4 GiB); it is \
                 kept in memory only"
            ),
            SpoolError::NoName => f.write_str("an exporter without a name cannot have a spool"),
            SpoolError::Refused { path, problem, fix } => {
                write!(f, "refused {}: {problem}; {fix}", path.display())
            }
        }
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpoolError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What [`Spool::open`] found on disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every record not yet acknowledged, oldest first, with its sequence number: to be queued
    /// before anything new. Records delivered just before a restart (or a kill) may be among
    /// them; receivers store such duplicates idempotently.
    pub batches: Vec<(u64, Batch)>,
    /// One message per problem (already logged): the file, the offset, the reason and the bytes
    /// skipped.
    pub corrupt: Vec<String>,
    /// Bytes of damaged files skipped: their records are lost.
    pub lost_bytes: u64,
    /// Records deleted because the spool was over its size at start (`spool max size` was
    /// lowered since they were written); already logged.
    pub over_cap: Dropped,
    /// One message per segment file refused (a symbolic link, not a regular file, or one with
    /// several hard links; already logged): left as it is, never read or written.
    pub refused: Vec<String>,
}

/// Records waiting in the spool (appended, not acknowledged, not dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Records (batches).
    pub records: u64,
    /// Metrics in them.
    pub metrics: u64,
    /// Their payload bytes (as [`Batch::bytes`], headers not counted).
    pub bytes: u64,
}

/// Records read back by [`Spool::read_after`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// The records, oldest first, with their sequence numbers.
    pub batches: Vec<(u64, Batch)>,
    /// Whether records remain after the last one returned.
    pub more: bool,
    /// Records found damaged on the way: skipped, logged, and no longer in the spool.
    pub lost: Dropped,
}

/// What the spool knows of one record without reading it.
#[derive(Clone, Copy, Debug)]
struct Meta {
    seq: u64,
    timestamp: i64,
    metrics: u64,
    /// Payload bytes.
    len: u64,
    /// Where the record starts in its segment.
    offset: u64,
}

/// One segment file.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Bytes in the file.
    size: u64,
    /// The newest record's sequence number, 0 when it has none.
    last_seq: u64,
    /// Its records not yet acknowledged, oldest first.
    pending: VecDeque<Meta>,
}

/// A trouble logged once when it starts and once when it ends.
#[derive(Debug, Default)]
struct Trouble {
    failures: u64,
}

impl Trouble {
    /// Returns whether this is the first failure in a row (to be logged).
    fn failed(&mut self) -> bool {
        self.failures += 1;
        self.failures == 1
    }

    /// Returns how many failures in a row ended now, if any.
    fn ok(&mut self) -> Option<u64> {
        (self.failures > 0).then(|| std::mem::take(&mut self.failures))
    }
}

/// The spool of one exporter instance. See the [module documentation](self).
#[derive(Debug)]
pub struct Spool {
    /// Instance name, for logs.
    name: String,
    /// `spool directory/INSTANCE`.
    dir: PathBuf,
    max_bytes: u64,
    segment_max: u64,
    /// Oldest first. The last one is open for appends while `writer` is set.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    next_seq: u64,
    /// Every record up to this sequence number is acknowledged.
    acked: u64,
    ack_file: File,
    /// Held for the lock; closing it releases the lock.
    _lock: File,
    disk_bytes: u64,
    pending: Pending,
    /// Every record up to this sequence number is on stable storage (or acknowledged).
    durable: u64,
    /// The newest record of a segment whose sync failed: until it is acknowledged, no record
    /// after `durable` can be called durable.
    failed_upto: u64,
    /// Appends to the open segment since its last sync.
    unsynced: bool,
    /// Files created or deleted since the directory's last sync.
    dir_unsynced: bool,
    /// `acknowledged` written since its last sync.
    ack_unsynced: bool,
    last_sync: Option<Instant>,
    write_trouble: Trouble,
    ack_trouble: Trouble,
    sync_trouble: Trouble,
    delete_trouble: Trouble,
}

/// The directory name of an instance: ASCII letters, digits, `-`, `_` and a `.` not in first
/// place as they are, every other byte as `%XX`.
pub fn dir_name(instance: &str) -> String {
    let mut out = String::with_capacity(instance.len());
    for (i, b) in instance.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

/// The first sequence number a segment file name carries, if it is one.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Why a record cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Truncated { have: usize, need: usize },
    Magic,
    Version(u16),
    Flags(u16),
    Length(u32),
    Checksum,
    OutOfOrder { seq: u64, after: u64 },
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Truncated { have, need } => write!(f, "record cut short ({have} of {need} bytes present)"),
            Bad::Magic => f.write_str("no record starts here (bad magic)"),
            Bad::Version(v) => write!(f, "record version {v}; this rrdpipe reads version {VERSION}"),
            Bad::Flags(x) => write!(f, "unknown record flags {x:#06x}"),
            Bad::Length(n) => write!(f, "impossible record length {n}"),
            Bad::Checksum => f.write_str("checksum mismatch"),
            Bad::OutOfOrder { seq, after } => {
                write!(f, "sequence number {seq} where more than {after} was expected")
            }
        }
    }
}

/// A record read from bytes.
#[derive(Debug)]
struct Record<'a> {
    seq: u64,
    timestamp: i64,
    metrics: u64,
    payload: &'a [u8],
}

impl Record<'_> {
    fn batch(&self) -> Batch {
        Batch { timestamp: self.timestamp, metrics: self.metrics as usize, bytes: self.payload.to_vec() }
    }
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn checksum(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&head[4..12]);
    h.update(&head[HEADER..HEAD]);
    h.update(payload);
    h.finalize()
}

/// The part of a record before its payload; `None` when the payload is too large.
fn encode_head(seq: u64, batch: &Batch) -> Option<[u8; HEAD]> {
    let len = u32::try_from(FIXED + batch.bytes.len()).ok()?;
    let mut head = [0u8; HEAD];
    head[0..4].copy_from_slice(&MAGIC);
    head[4..6].copy_from_slice(&VERSION.to_le_bytes());
    head[8..12].copy_from_slice(&len.to_le_bytes());
    head[16..24].copy_from_slice(&seq.to_le_bytes());
    head[24..32].copy_from_slice(&batch.timestamp.to_le_bytes());
    head[32..40].copy_from_slice(&(batch.metrics as u64).to_le_bytes());
    let crc = checksum(&head, &batch.bytes);
    head[12..16].copy_from_slice(&crc.to_le_bytes());
    Some(head)
}

/// Read the record at the start of `buf`; returns it and its length in bytes.
fn decode(buf: &[u8]) -> Result<(Record<'_>, usize), Bad> {
    let magic_seen = buf.len().min(MAGIC.len());
    if buf[..magic_seen] != MAGIC[..magic_seen] {
        return Err(Bad::Magic);
    }
    if buf.len() < HEADER {
        return Err(Bad::Truncated { have: buf.len(), need: HEADER });
    }
    let version = le_u16(&buf[4..6]);
    if version != VERSION {
        return Err(Bad::Version(version));
    }
    let flags = le_u16(&buf[6..8]);
    if flags != 0 {
        return Err(Bad::Flags(flags));
    }
    let len = le_u32(&buf[8..12]);
    if (len as usize) < FIXED {
        return Err(Bad::Length(len));
    }
    let total = HEADER + len as usize;
    if buf.len() < total {
        return Err(Bad::Truncated { have: buf.len(), need: total });
    }
    let payload = &buf[HEAD..total];
    if le_u32(&buf[12..16]) != checksum(&buf[..HEAD], payload) {
        return Err(Bad::Checksum);
    }
    let record = Record {
        seq: le_u64(&buf[16..24]),
        timestamp: le_u64(&buf[24..32]) as i64,
        metrics: le_u64(&buf[32..40]),
        payload,
    };
    Ok((record, total))
}

/// Write a record's head and payload with as few `write(2)` calls as the kernel allows.
fn write_record(file: &mut File, head: &[u8], payload: &[u8]) -> io::Result<()> {
    let total = head.len() + payload.len();
    let mut done = 0;
    while done < total {
        let r = if done < head.len() {
            file.write_vectored(&[IoSlice::new(&head[done..]), IoSlice::new(payload)])
        } else {
            file.write(&payload[done - head.len()..])
        };
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Windows (distinct timestamps) among records in order (a window's records are adjacent).
fn intervals<'a>(records: impl Iterator<Item = &'a Meta>) -> u64 {
    let mut n = 0;
    let mut last = None;
    for m in records {
        if last != Some(m.timestamp) {
            n += 1;
            last = Some(m.timestamp);
        }
    }
    n
}

/// What the records in `gone` held.
fn dropped(gone: &[Meta]) -> Dropped {
    Dropped {
        metrics: gone.iter().map(|m| m.metrics).sum(),
        bytes: gone.iter().map(|m| m.len).sum(),
        intervals: intervals(gone.iter()),
    }
}

/// What to do about a link or another odd file planted in the spool.
const REMOVE_IT: &str = "rrdpipe never follows links or writes through them in its spool: remove it \
                         (and find out who put it there)";

/// How every file in the spool is opened: never through a symbolic link (`O_NOFOLLOW`: the open
/// fails with `ELOOP`) and never waiting for the other end of a FIFO (`O_NONBLOCK`, which
/// regular files ignore).
fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    o
}

fn refused(path: &Path, problem: String, fix: String) -> SpoolError {
    SpoolError::Refused { path: path.to_path_buf(), problem, fix }
}

/// `path` is a symbolic link: refused, saying where it points.
fn refused_link(path: &Path) -> SpoolError {
    let to = fs::read_link(path).map(|t| format!(" (to {})", t.display())).unwrap_or_default();
    refused(path, format!("it is a symbolic link{to}"), REMOVE_IT.to_string())
}

/// What a file that is not a regular one is, in words.
fn kind(t: fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "of an unknown kind"
    }
}

/// Open the spool file `path` with `opts` (from [`options`]) if it is a regular file with a
/// single link, so that writing it changes that file and no other. `action` is for errors.
fn open_file(opts: &OpenOptions, action: &'static str, path: &Path) -> Result<File, SpoolError> {
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refused_link(path)),
        Err(source) => return Err(SpoolError::Io { action, path: path.to_path_buf(), source }),
    };
    let meta = file.metadata().map_err(SpoolError::io(action, path))?;
    if !meta.file_type().is_file() {
        let problem = format!("it is {}, not a regular file", kind(meta.file_type()));
        return Err(refused(path, problem, REMOVE_IT.to_string()));
    }
    if meta.nlink() > 1 {
        let problem =
            format!("it has {} hard links, so writing it would change another file too", meta.nlink());
        return Err(refused(path, problem, REMOVE_IT.to_string()));
    }
    Ok(file)
}

/// Create the segment file `path`, never over an existing file (`O_EXCL`). A regular file of
/// that name can only be a segment this spool failed to write and then to delete: it is
/// replaced. Anything else there (a link) is refused.
fn create_segment(path: &Path) -> Result<File, SpoolError> {
    let mut opts = options();
    opts.read(true).write(true).create_new(true);
    match open_file(&opts, "create", path) {
        Err(SpoolError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            let meta = fs::symlink_metadata(path).map_err(SpoolError::io("create", path))?;
            if meta.file_type().is_symlink() {
                return Err(refused_link(path));
            }
            if !meta.file_type().is_file() {
                let problem = format!("it is {}, not a regular file", kind(meta.file_type()));
                return Err(refused(path, problem, REMOVE_IT.to_string()));
            }
            fs::remove_file(path).map_err(SpoolError::io("replace", path))?;
            open_file(&opts, "create", path)
        }
        r => r,
    }
}

/// The user rrdpipe runs as.
fn euid() -> u32 {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() }
}

/// Make sure nobody but root and this user can add or replace entries in the directory `path`
/// (`meta` is its metadata): it belongs to one of them and is not writable by others.
fn check_dir(path: &Path, meta: &fs::Metadata) -> Result<(), SpoolError> {
    if !meta.is_dir() {
        return Err(refused(
            path,
            format!("it is {}, not a directory", kind(meta.file_type())),
            "change 'spool directory'".to_string(),
        ));
    }
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(refused(
            path,
            format!(
                "it belongs to user {}, neither root nor the user rrdpipe runs as ({me}); that user \
                 could put links there that make rrdpipe overwrite other files",
                meta.uid()
            ),
            format!("run 'chown {me} {}', or change 'spool directory'", path.display()),
        ));
    }
    if meta.mode() & 0o002 != 0 {
        return Err(refused(
            path,
            format!(
                "it is writable by other users (mode {:04o}); any of them could put links there \
                 that make rrdpipe overwrite other files",
                meta.mode() & 0o7777
            ),
            format!("run 'chmod o-w {}', or change 'spool directory'", path.display()),
        ));
    }
    Ok(())
}

/// Create the directory `path` with `builder`; one that exists already is left to the checks
/// that follow (something else of that name is refused there).
fn create_dir(builder: &DirBuilder, path: &Path) -> Result<(), SpoolError> {
    match builder.create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => {
            Err(SpoolError::Io { action: "create the spool directory", path: path.to_path_buf(), source })
        }
    }
}

/// Create the `spool directory` `path` and its missing parents (`0755`) and check it. It may be
/// reached through a symbolic link (the configured path is the user's choice); what it leads to
/// is checked.
fn prepare_root(path: &Path) -> Result<(), SpoolError> {
    create_dir(DirBuilder::new().recursive(true).mode(0o755), path)?;
    let meta = fs::metadata(path).map_err(SpoolError::io("check the spool directory", path))?;
    check_dir(path, &meta)
}

/// Create the instance directory `path` if missing (`0755`) and check it: a directory itself,
/// never a link (nobody configured one there).
fn prepare_instance_dir(path: &Path) -> Result<(), SpoolError> {
    create_dir(DirBuilder::new().mode(0o755), path)?;
    let meta = fs::symlink_metadata(path).map_err(SpoolError::io("check the spool directory", path))?;
    if meta.file_type().is_symlink() {
        return Err(refused_link(path));
    }
    check_dir(path, &meta)
}

/// Check, creating nothing, what [`Spool::open`] would refuse about the directories of the
/// spool of `instance` under `dir`: those that exist must belong to root or this user and not
/// be writable by others, and the instance's must not be a link. For `--check-config`.
pub fn check(dir: &Path, instance: &str) -> Result<(), SpoolError> {
    match fs::metadata(dir) {
        Ok(meta) => check_dir(dir, &meta)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SpoolError::Io {
                action: "check the spool directory",
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    let path = dir.join(dir_name(instance));
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(refused_link(&path)),
        Ok(meta) => check_dir(&path, &meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SpoolError::Io { action: "check the spool directory", path, source }),
    }
}

/// How long a held lock is waited for. A process being spawned (forked, not yet exec'd)
/// holds a copy of every descriptor for an instant, and with it any `flock` on them: a lock
/// just released by closing its file can look held for that long.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Take the spool's lock, or say who holds it.
fn lock(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join(LOCK_FILE);
    let file = open_file(options().create(true).truncate(false).write(true), "open the lock file", &path)?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // SAFETY: flock takes a descriptor that `file` keeps open for the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(file);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(SpoolError::Io { action: "lock", path, source: e });
        }
        if Instant::now() >= deadline {
            return Err(SpoolError::Locked { path: dir.to_path_buf() });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Open `acknowledged` and read it: (the acknowledged sequence number, the file, a problem).
fn read_ack(dir: &Path) -> Result<(u64, File, Option<String>), SpoolError> {
    let path = dir.join(ACK_FILE);
    let file = open_file(options().create(true).truncate(false).read(true).write(true), "open", &path)?;
    let mut buf = Vec::new();
    io::Read::read_to_end(&mut &file, &mut buf).map_err(SpoolError::io("read", &path))?;
    if buf.is_empty() {
        return Ok((0, file, None));
    }
    let good = buf.len() == ACK_LEN
        && buf[0..4] == ACK_MAGIC
        && le_u16(&buf[4..6]) == VERSION
        && le_u16(&buf[6..8]) == 0
        && le_u32(&buf[16..20]) == crc32fast::hash(&buf[4..16]);
    if good {
        return Ok((le_u64(&buf[8..16]), file, None));
    }
    let problem = format!(
        "{}: unreadable ({} bytes, not a valid acknowledgement); batches delivered before the \
         restart may be sent again",
        path.display(),
        buf.len()
    );
    // Cleared, so the next acknowledgement makes it valid again; failing that, it is reported
    // again at the next start.
    let _ = file.set_len(0);
    Ok((0, file, Some(problem)))
}

impl Spool {
    /// Open (creating it if needed) the spool of `instance` under `dir`, holding at most about
    /// `max_bytes` on disk, and read back what it holds. Damaged files are reported in
    /// [`Recovered::corrupt`] (and logged), not returned as errors; an error means the spool
    /// cannot be used at all (the caller logs it and runs without one).
    pub fn open(dir: &Path, instance: &str, max_bytes: u64) -> Result<(Spool, Recovered), SpoolError> {
        let segment_max = SEGMENT_MAX.min(max_bytes / 16).max(1);
        Spool::open_with(dir, instance, max_bytes, segment_max)
    }

    fn open_with(
        dir: &Path,
        instance: &str,
        max_bytes: u64,
        segment_max: u64,
    ) -> Result<(Spool, Recovered), SpoolError> {
        if instance.is_empty() {
            return Err(SpoolError::NoName);
        }
        prepare_root(dir)?;
        let dir = dir.join(dir_name(instance));
        prepare_instance_dir(&dir)?;
        let lock = lock(&dir)?;
        let (acked, ack_file, ack_problem) = read_ack(&dir)?;
        let mut rec = Recovered::default();

        let mut names = Vec::new();
        let listing = fs::read_dir(&dir).map_err(SpoolError::io("list the spool directory", &dir))?;
        for entry in listing {
            let entry = entry.map_err(SpoolError::io("list the spool directory", &dir))?;
            if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
                names.push(first);
            }
        }
        names.sort_unstable();

        let mut spool = Spool {
            name: instance.to_string(),
            dir,
            max_bytes,
            segment_max,
            segments: VecDeque::new(),
            writer: None,
            next_seq: 1,
            acked,
            ack_file,
            _lock: lock,
            disk_bytes: 0,
            pending: Pending::default(),
            durable: acked,
            failed_upto: 0,
            unsynced: false,
            dir_unsynced: false,
            ack_unsynced: false,
            last_sync: None,
            write_trouble: Trouble::default(),
            ack_trouble: Trouble::default(),
            sync_trouble: Trouble::default(),
            delete_trouble: Trouble::default(),
        };
        let mut last = 0;
        for first in &names {
            spool.recover_segment(*first, &mut last, &mut rec);
        }
        let newest_name = names.last().copied().unwrap_or(0);
        spool.next_seq = last.max(acked).max(newest_name) + 1;
        // What the last process wrote may still be in the page cache only (after a kill -9).
        spool.sync_recovered();

        for problem in &rec.corrupt {
            tracing::error!(
                "exporter '{}': damaged spool file: {problem}. The intervals in those bytes are \
                 lost; the rest of the spool is sent",
                spool.name
            );
        }
        for problem in &rec.refused {
            tracing::error!(
                "exporter '{}': spool: {problem}. It is left as it is, never read or written",
                spool.name
            );
        }
        if let Some(problem) = ack_problem {
            tracing::warn!("exporter '{}': spool: {problem}", spool.name);
            rec.corrupt.insert(0, problem);
        }
        rec.over_cap = spool.enforce_cap();
        let oldest = spool.oldest_pending().unwrap_or(u64::MAX);
        rec.batches.retain(|(seq, _)| *seq >= oldest);
        if !rec.batches.is_empty() {
            tracing::info!(
                "exporter '{}': spool {}: {} batches ({} metrics, {} bytes) not yet delivered; \
                 to be sent first",
                spool.name,
                spool.dir.display(),
                spool.pending.records,
                spool.pending.metrics,
                spool.pending.bytes
            );
        }
        Ok((spool, rec))
    }

    /// Read the segment named `first` into the index and `rec`; `last` is the sequence number of
    /// the last record read before it, and becomes that of its own last record.
    fn recover_segment(&mut self, first: u64, last: &mut u64, rec: &mut Recovered) {
        let path = self.dir.join(segment_name(first));
        let read = open_file(options().read(true), "read", &path).and_then(|f| {
            let mut data = Vec::new();
            io::Read::read_to_end(&mut &f, &mut data).map_err(SpoolError::io("read", &path))?;
            Ok(data)
        });
        let data = match read {
            Ok(d) => d,
            Err(e @ SpoolError::Refused { .. }) => {
                rec.refused.push(e.to_string());
                return;
            }
            Err(e) => {
                let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
                rec.corrupt.push(format!(
                    "{}: cannot read it: {e}; skipped {size} bytes (the whole file; it is left \
                     as it is)",
                    path.display()
                ));
                rec.lost_bytes += size;
                return;
            }
        };
        let mut seg = Segment { path, size: data.len() as u64, last_seq: 0, pending: VecDeque::new() };
        let mut off = 0;
        while off < data.len() {
            let bad = match decode(&data[off..]) {
                Ok((r, _)) if r.seq <= *last || r.seq < first => {
                    Bad::OutOfOrder { seq: r.seq, after: (*last).max(first.saturating_sub(1)) }
                }
                Ok((r, len)) => {
                    *last = r.seq;
                    seg.last_seq = r.seq;
                    if r.seq > self.acked {
                        let meta = Meta {
                            seq: r.seq,
                            timestamp: r.timestamp,
                            metrics: r.metrics,
                            len: r.payload.len() as u64,
                            offset: off as u64,
                        };
                        self.count_in(&meta);
                        seg.pending.push_back(meta);
                        rec.batches.push((r.seq, r.batch()));
                    }
                    off += len;
                    continue;
                }
                Err(bad) => bad,
            };
            let skipped = (data.len() - off) as u64;
            rec.lost_bytes += skipped;
            let cut = match open_file(options().write(true), "cut", &seg.path)
                .and_then(|f| f.set_len(off as u64).map_err(SpoolError::io("cut", &seg.path)))
            {
                Ok(()) => {
                    seg.size = off as u64;
                    String::new()
                }
                Err(e) => format!(" (could not cut them off, so this is reported again: {e})"),
            };
            rec.corrupt.push(format!(
                "{}: offset {off}: {bad}; skipped {skipped} bytes (this record and the rest of \
                 the file){cut}",
                seg.path.display()
            ));
            break;
        }
        if seg.pending.is_empty() && fs::remove_file(&seg.path).is_ok() {
            // Everything in it was delivered, or nothing in it could be read.
            self.dir_unsynced = true;
            return;
        }
        self.disk_bytes += seg.size;
        self.segments.push_back(seg);
    }

    /// Sync the segments found at start; `durable` covers them if that works.
    fn sync_recovered(&mut self) {
        let mut all = true;
        for seg in &self.segments {
            let synced = open_file(options().read(true), "sync", &seg.path)
                .and_then(|f| f.sync_data().map_err(SpoolError::io("sync", &seg.path)));
            if let Err(e) = synced {
                tracing::debug!("exporter '{}': spool: cannot sync {}: {e}", self.name, seg.path.display());
                all = false;
            }
        }
        if all {
            self.durable = self.next_seq - 1;
        } else {
            self.failed_upto = self.next_seq - 1;
        }
    }

    fn count_in(&mut self, m: &Meta) {
        self.pending.records += 1;
        self.pending.metrics += m.metrics;
        self.pending.bytes += m.len;
    }

    fn count_out(&mut self, m: &Meta) {
        self.pending.records -= 1;
        self.pending.metrics -= m.metrics;
        self.pending.bytes -= m.len;
    }

    /// The instance's spool directory (`spool directory/INSTANCE`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records appended and neither acknowledged nor dropped.
    pub fn pending(&self) -> Pending {
        self.pending
    }

    /// Bytes of segment files on disk (acknowledged records not yet deleted included).
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// The sequence number the next append gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest record still pending, if any.
    pub fn oldest_pending(&self) -> Option<u64> {
        self.segments.iter().find_map(|s| s.pending.front()).map(|m| m.seq)
    }

    /// Every record up to this sequence number is on stable storage (synced); a power loss or
    /// kernel crash can take the records after it.
    pub fn durable_upto(&self) -> u64 {
        self.durable
    }

    /// Write `batch` to the spool and return its sequence number. On error (already logged) the
    /// batch is not spooled; the next append tries again, in a new segment.
    pub fn append(&mut self, batch: &Batch) -> Result<u64, SpoolError> {
        let r = self.try_append(batch);
        match &r {
            Ok(_) => {
                if let Some(n) = self.write_trouble.ok() {
                    tracing::info!(
                        "exporter '{}': spool {} takes intervals again, after {n} failed writes",
                        self.name,
                        self.dir.display()
                    );
                }
            }
            // Not a trouble of the disk: said every time, and nothing to recover from.
            Err(e @ SpoolError::TooLarge { .. }) => tracing::error!("exporter '{}': {e}", self.name),
            Err(e) => {
                if self.write_trouble.failed() {
                    tracing::error!(
                        "exporter '{}': {e}. Intervals are kept in memory only (up to 'buffer on \
                         failures') until the spool can be written again; it is tried with every \
                         interval",
                        self.name
                    );
                }
            }
        }
        r
    }

    fn try_append(&mut self, batch: &Batch) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        let head = encode_head(seq, batch).ok_or(SpoolError::TooLarge { bytes: batch.bytes.len() })?;
        let size = (HEAD + batch.bytes.len()) as u64;
        if let (Some(_), Some(seg)) = (&self.writer, self.segments.back()) {
            if seg.size > 0 && seg.size + size > self.segment_max {
                self.close_segment();
            }
        }
        if self.writer.is_none() {
            self.new_segment(seq)?;
        }
        let (Some(file), Some(seg)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            // new_segment sets both; should it not, the batch stays in memory.
            let source = io::Error::from(io::ErrorKind::NotFound);
            return Err(SpoolError::Io { action: "open a segment in", path: self.dir.clone(), source });
        };
        let offset = seg.size;
        if let Err(source) = write_record(file, &head, &batch.bytes) {
            // Cut off what reached the file; the next append starts a new segment.
            let _ = file.set_len(offset);
            let e = SpoolError::Io { action: "write to", path: seg.path.clone(), source };
            if offset == 0 {
                let _ = fs::remove_file(&seg.path);
                self.segments.pop_back();
                self.writer = None;
            } else {
                self.close_segment();
            }
            return Err(e);
        }
        let meta = Meta {
            seq,
            timestamp: batch.timestamp,
            metrics: batch.metrics as u64,
            len: batch.bytes.len() as u64,
            offset,
        };
        seg.size += size;
        seg.last_seq = seq;
        seg.pending.push_back(meta);
        self.count_in(&meta);
        self.disk_bytes += size;
        self.next_seq += 1;
        self.unsynced = true;
        Ok(seq)
    }

    fn new_segment(&mut self, first: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(segment_name(first));
        let file = create_segment(&path)?;
        self.segments.push_back(Segment { path, size: 0, last_seq: 0, pending: VecDeque::new() });
        self.writer = Some(file);
        self.dir_unsynced = true;
        Ok(())
    }

    /// Close the open segment, synced: from now on only a new segment can hold unsynced records.
    fn close_segment(&mut self) {
        let Some(file) = self.writer.take() else { return };
        let path = self.segments.back().map_or_else(|| self.dir.clone(), |s| s.path.clone());
        // The file, and the directory that names it.
        match file.sync_data().and_then(|()| self.sync_dir()) {
            Ok(()) => {
                self.unsynced = false;
                let upto = self.segments.back().map_or(0, |s| s.last_seq);
                self.sync_ok(upto);
            }
            Err(source) => self.sync_failed(&SpoolError::Io { action: "sync", path, source }),
        }
    }

    fn sync_dir(&mut self) -> io::Result<()> {
        if self.dir_unsynced {
            File::open(&self.dir)?.sync_all()?;
            self.dir_unsynced = false;
        }
        Ok(())
    }

    fn sync_ok(&mut self, upto: u64) {
        if self.failed_upto <= self.acked {
            self.durable = self.durable.max(upto);
        }
        if let Some(n) = self.sync_trouble.ok() {
            tracing::info!("exporter '{}': spool syncs again, after {n} failures", self.name);
        }
    }

    fn sync_failed(&mut self, e: &SpoolError) {
        // After a failed fsync the kernel's copy cannot be trusted to reach the disk: go on in a
        // new segment.
        self.writer = None;
        self.unsynced = false;
        self.failed_upto = self.failed_upto.max(self.segments.back().map_or(0, |s| s.last_seq));
        if self.sync_trouble.failed() {
            tracing::error!(
                "exporter '{}': {e}. Intervals appended since the last sync may not survive a \
                 power loss; the spool goes on in a new segment",
                self.name
            );
        }
    }

    /// Sync if something is unsynced and the last sync is at least [`SYNC_EVERY`] old. Returns
    /// whether it synced. Call it after every append and at least once a second.
    pub fn maybe_sync(&mut self, now: Instant) -> Result<bool, SpoolError> {
        if !(self.unsynced || self.dir_unsynced || self.ack_unsynced) {
            return Ok(false);
        }
        if self.last_sync.is_some_and(|t| now.saturating_duration_since(t) < SYNC_EVERY) {
            return Ok(false);
        }
        self.sync_at(now).map(|()| true)
    }

    /// Sync now (at shutdown): every record appended is on stable storage when it returns Ok.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.sync_at(Instant::now())
    }

    fn sync_at(&mut self, now: Instant) -> Result<(), SpoolError> {
        self.last_sync = Some(now);
        let upto = self.next_seq - 1;
        if let (Some(f), true) = (&self.writer, self.unsynced) {
            let path = self.segments.back().map_or_else(|| self.dir.clone(), |s| s.path.clone());
            if let Err(source) = f.sync_data() {
                let e = SpoolError::Io { action: "sync", path, source };
                self.sync_failed(&e);
                return Err(e);
            }
        }
        self.unsynced = false;
        if let Err(source) = self.sync_dir() {
            let e = SpoolError::Io { action: "sync", path: self.dir.clone(), source };
            self.sync_failed(&e);
            return Err(e);
        }
        if self.ack_unsynced {
            // A lost acknowledgement costs duplicates only: not a sync failure of the records.
            match self.ack_file.sync_data() {
                Ok(()) => self.ack_unsynced = false,
                Err(e) => tracing::debug!("exporter '{}': spool: cannot sync {ACK_FILE}: {e}", self.name),
            }
        }
        self.sync_ok(upto);
        Ok(())
    }

    /// Every record up to `upto` left the sender's queue (delivered, or refused for good).
    /// Segments holding only such records are deleted; the open one too when it is at least a
    /// quarter full (a smaller one stays open, to avoid a file per interval). Errors are logged;
    /// they cost duplicates after a restart, or disk space, never data.
    pub fn acknowledge(&mut self, upto: u64) -> Result<(), SpoolError> {
        let upto = upto.min(self.next_seq - 1);
        if upto <= self.acked {
            return Ok(());
        }
        self.acked = upto;
        let mut gone = Vec::new();
        for seg in self.segments.iter_mut() {
            while seg.pending.front().is_some_and(|m| m.seq <= upto) {
                gone.extend(seg.pending.pop_front());
            }
        }
        for m in &gone {
            self.count_out(m);
        }
        let written = self.write_ack();
        let deleted = self.delete_acknowledged();
        written.and(deleted)
    }

    fn write_ack(&mut self) -> Result<(), SpoolError> {
        let mut buf = [0u8; ACK_LEN];
        buf[0..4].copy_from_slice(&ACK_MAGIC);
        buf[4..6].copy_from_slice(&VERSION.to_le_bytes());
        buf[8..16].copy_from_slice(&self.acked.to_le_bytes());
        let crc = crc32fast::hash(&buf[4..16]);
        buf[16..20].copy_from_slice(&crc.to_le_bytes());
        match self.ack_file.write_all_at(&buf, 0) {
            Ok(()) => {
                self.ack_unsynced = true;
                if let Some(n) = self.ack_trouble.ok() {
                    tracing::info!(
                        "exporter '{}': spool records deliveries again, after {n} failures",
                        self.name
                    );
                }
                Ok(())
            }
            Err(source) => {
                let e = SpoolError::Io { action: "write", path: self.dir.join(ACK_FILE), source };
                if self.ack_trouble.failed() {
                    tracing::warn!(
                        "exporter '{}': {e}. Deliveries cannot be recorded; after a restart, \
                         intervals already delivered may be sent again",
                        self.name
                    );
                }
                Err(e)
            }
        }
    }

    fn delete_acknowledged(&mut self) -> Result<(), SpoolError> {
        while let Some(front) = self.segments.front() {
            if !front.pending.is_empty() {
                break;
            }
            if self.writer.is_some() && self.segments.len() == 1 {
                if front.size < self.segment_max / 4 {
                    break;
                }
                self.writer = None; // Deleted below: no need to sync it.
                self.unsynced = false;
            }
            self.delete_front()?;
        }
        Ok(())
    }

    /// Delete the oldest segment; returns its pending records.
    fn delete_front(&mut self) -> Result<VecDeque<Meta>, SpoolError> {
        let Some(seg) = self.segments.pop_front() else { return Ok(VecDeque::new()) };
        match fs::remove_file(&seg.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                let e = SpoolError::Io { action: "delete", path: seg.path.clone(), source };
                if self.delete_trouble.failed() {
                    tracing::error!(
                        "exporter '{}': {e}. The spool keeps it and grows past 'spool max size'",
                        self.name
                    );
                }
                self.segments.push_front(seg);
                return Err(e);
            }
        }
        self.delete_trouble.ok();
        self.disk_bytes -= seg.size;
        self.dir_unsynced = true;
        for m in &seg.pending {
            self.count_out(m);
        }
        Ok(seg.pending)
    }

    /// While the segments on disk are over `max size`, delete the oldest (never the open one).
    /// Returns what they held that was not acknowledged: lost, to be counted by the caller. Each
    /// loss is logged once, with what to do.
    pub fn enforce_cap(&mut self) -> Dropped {
        let mut gone = Vec::new();
        let mut segments = 0;
        while self.disk_bytes > self.max_bytes && !self.segments.is_empty() {
            if self.writer.is_some() && self.segments.len() == 1 {
                break;
            }
            match self.delete_front() {
                Ok(pending) => gone.extend(pending),
                Err(_) => break,
            }
            segments += 1;
        }
        let d = dropped(&gone);
        if d != Dropped::default() {
            tracing::error!(
                "exporter '{}': spool {} reached 'spool max size' ({} bytes); deleted its {segments} \
                 oldest segment(s), losing {} metrics ({} bytes, {} intervals) never delivered. \
                 Raise 'spool max size' to keep more of a long outage",
                self.name,
                self.dir.display(),
                self.max_bytes,
                d.metrics,
                d.bytes,
                d.intervals
            );
        }
        d
    }

    /// Read back pending records with a sequence number above `after`, oldest first, until
    /// their payloads reach `max_bytes` (at least one record is returned when there is one).
    /// A record found damaged is skipped, logged and counted in [`Replay::lost`]; an error means
    /// a segment could not be read at all.
    pub fn read_after(&mut self, after: u64, max_bytes: usize) -> Result<Replay, SpoolError> {
        let mut out = Replay::default();
        let mut total = 0usize;
        let mut damaged: Vec<(usize, u64)> = Vec::new();
        'segments: for (si, seg) in self.segments.iter().enumerate() {
            if seg.last_seq <= after {
                continue;
            }
            let mut reader = None;
            for m in seg.pending.iter().filter(|m| m.seq > after) {
                if total >= max_bytes && !out.batches.is_empty() {
                    out.more = true;
                    break 'segments;
                }
                let file = match (&reader, si + 1 == self.segments.len(), &self.writer) {
                    (Some(f), _, _) => f,
                    (None, true, Some(w)) => w,
                    (None, _, _) => reader.insert(open_file(options().read(true), "open", &seg.path)?),
                };
                let mut buf = vec![0u8; HEAD + m.len as usize];
                file.read_exact_at(&mut buf, m.offset).map_err(SpoolError::io("read", &seg.path))?;
                match decode(&buf) {
                    Ok((r, _)) if r.seq == m.seq => {
                        total += r.payload.len();
                        out.batches.push((r.seq, r.batch()));
                    }
                    found => {
                        let bad = match found {
                            Ok((r, _)) => Bad::OutOfOrder { seq: r.seq, after: m.seq - 1 },
                            Err(bad) => bad,
                        };
                        tracing::error!(
                            "exporter '{}': damaged spool file: {}: offset {}: {bad}; skipped \
                             that record ({} metrics, {} bytes)",
                            self.name,
                            seg.path.display(),
                            m.offset,
                            m.metrics,
                            m.len
                        );
                        damaged.push((si, m.seq));
                    }
                }
            }
        }
        let mut lost = Vec::new();
        for (si, seq) in damaged {
            let pending = &mut self.segments[si].pending;
            if let Some(i) = pending.iter().position(|m| m.seq == seq) {
                lost.extend(pending.remove(i));
            }
        }
        for m in &lost {
            self.count_out(m);
        }
        out.lost = dropped(&lost);
        Ok(out)
    }
}

/// Which spooled records have left a queue that only ever loses bytes from its front (the
/// line outbox and the request queue, delivering or dropping): the caller says what it pushed
/// and how much is still pending; what left is `pushed - pending` bytes from the front.
#[derive(Debug, Default)]
pub struct Acks {
    /// Per batch in the queue, oldest first: its sequence number (`None` when it is not
    /// spooled) and the offset one past its last byte in everything pushed.
    queued: VecDeque<(Option<u64>, u64)>,
    pushed: u64,
}

impl Acks {
    /// Nothing queued.
    pub fn new() -> Acks {
        Acks::default()
    }

    /// A batch of `len` bytes was pushed to the queue; `seq` is its sequence number in the spool.
    pub fn pushed(&mut self, seq: Option<u64>, len: usize) {
        self.pushed += len as u64;
        self.queued.push_back((seq, self.pushed));
    }

    /// With `pending_bytes` left in the queue, the newest sequence number of the batches that
    /// left it since the last call, if any (to pass to [`Spool::acknowledge`]).
    pub fn settled(&mut self, pending_bytes: usize) -> Option<u64> {
        let gone = self.pushed.saturating_sub(pending_bytes as u64);
        let mut newest = None;
        while let Some(&(seq, end)) = self.queued.front() {
            if end > gone {
                break;
            }
            newest = seq.or(newest);
            self.queued.pop_front();
        }
        newest
    }

    /// The newest sequence number in the queue, if any (where [`Spool::read_after`] goes on).
    pub fn newest(&self) -> Option<u64> {
        self.queued.iter().rev().find_map(|(seq, _)| *seq)
    }

    /// The queue was emptied without delivering (its batches stay in the spool): forget it.
    pub fn clear(&mut self) {
        self.queued.clear();
        self.pushed = 0;
    }
}

#[cfg(test)]
mod tests;
