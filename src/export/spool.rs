//! The disk spool of one exporter instance: a write-ahead log of the batches not yet delivered.
//!
//! One job: keep every batch an instance produces on disk, in order, until the sender says it
//! left its queue, so that intervals outlive an outage longer than memory allows and a restart,
//! a kill -9 included. Knows nothing of sockets, formats, the sender's queues or its counters;
//! it sees batches, sequence numbers and files, logs its own failures and returns what they
//! cost. How the sender uses it: `sender/spooling.rs`; what it guarantees: docs/exporting.md.
//!
//! On disk, in `spool directory/INSTANCE/` (INSTANCE as [`dir_name`] writes it):
//!
//! * `NNNNNNNNNNNNNNNNNNNN.spool`: segments, named by the sequence number of their first record
//!   (20 digits). Only the newest takes appends, up to [`SEGMENT_MAX`] (or `max size / 16`);
//!   after a restart appends start a new one. Each is a run of records, little-endian:
//!   magic `RPSL`, version `u16` 1, flags `u16` 0, length `u32` (24 + payload), CRC-32 `u32`
//!   (of bytes 4..12 and everything after the 16-byte header), sequence number `u64`,
//!   [`Batch::timestamp`] `i64`, [`Batch::metrics`] `u64`, then [`Batch::bytes`];
//! * `acknowledged`: the highest sequence number delivered (magic `RPSA`, version `u16` 1, flags
//!   `u16` 0, seq `u64`, CRC-32 of the 12 bytes before it);
//! * `lock`: held (`flock`) while a process uses the spool.
//!
//! Every file there is opened with `O_NOFOLLOW` and used only if it is a regular file with a
//! single link; the directories must belong to root or rrdpipe's user and not be writable by
//! others, so that nobody can make rrdpipe (often root) write through a planted link.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::export::batch::Batch;
use crate::export::outbox::{count_windows, Dropped};

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
pub struct ReadBack {
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

/// A run of failures of one kind: logged when it starts and when it ends.
#[derive(Debug, Default)]
struct FailureStreak {
    failures: u64,
}

impl FailureStreak {
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
    write_failures: FailureStreak,
    ack_failures: FailureStreak,
    sync_failures: FailureStreak,
    delete_failures: FailureStreak,
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
enum RecordDamage {
    Truncated { have: usize, need: usize },
    Magic,
    Version(u16),
    Flags(u16),
    Length(u32),
    Checksum,
    OutOfOrder { seq: u64, after: u64 },
}

impl fmt::Display for RecordDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordDamage::Truncated { have, need } => {
                write!(f, "record cut short ({have} of {need} bytes present)")
            }
            RecordDamage::Magic => f.write_str("no record starts here (bad magic)"),
            RecordDamage::Version(v) => write!(f, "record version {v}; this rrdpipe reads version {VERSION}"),
            RecordDamage::Flags(x) => write!(f, "unknown record flags {x:#06x}"),
            RecordDamage::Length(n) => write!(f, "impossible record length {n}"),
            RecordDamage::Checksum => f.write_str("checksum mismatch"),
            RecordDamage::OutOfOrder { seq, after } => {
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
fn decode(buf: &[u8]) -> Result<(Record<'_>, usize), RecordDamage> {
    let magic_seen = buf.len().min(MAGIC.len());
    if buf[..magic_seen] != MAGIC[..magic_seen] {
        return Err(RecordDamage::Magic);
    }
    if buf.len() < HEADER {
        return Err(RecordDamage::Truncated { have: buf.len(), need: HEADER });
    }
    let version = le_u16(&buf[4..6]);
    if version != VERSION {
        return Err(RecordDamage::Version(version));
    }
    let flags = le_u16(&buf[6..8]);
    if flags != 0 {
        return Err(RecordDamage::Flags(flags));
    }
    let len = le_u32(&buf[8..12]);
    if (len as usize) < FIXED {
        return Err(RecordDamage::Length(len));
    }
    let total = HEADER + len as usize;
    if buf.len() < total {
        return Err(RecordDamage::Truncated { have: buf.len(), need: total });
    }
    let payload = &buf[HEAD..total];
    if le_u32(&buf[12..16]) != checksum(&buf[..HEAD], payload) {
        return Err(RecordDamage::Checksum);
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

/// What the records in `gone` held.
fn dropped(gone: &[Meta]) -> Dropped {
    Dropped {
        metrics: gone.iter().map(|m| m.metrics).sum(),
        bytes: gone.iter().map(|m| m.len).sum(),
        intervals: count_windows(gone.iter().map(|m| m.timestamp)),
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

/// The first sequence numbers of the segment files in `dir`, in order.
fn segment_names(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut names = Vec::new();
    let listing = fs::read_dir(dir).map_err(SpoolError::io("list the spool directory", dir))?;
    for entry in listing {
        let entry = entry.map_err(SpoolError::io("list the spool directory", dir))?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
            names.push(first);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The bytes of the segment file `path`, or `None` when it is refused or unreadable (said in
/// `rec`, an unreadable one's bytes counted lost).
fn read_segment(path: &Path, rec: &mut Recovered) -> Option<Vec<u8>> {
    let read = open_file(options().read(true), "read", path).and_then(|f| {
        let mut data = Vec::new();
        io::Read::read_to_end(&mut &f, &mut data).map_err(SpoolError::io("read", path))?;
        Ok(data)
    });
    match read {
        Ok(data) => Some(data),
        Err(e @ SpoolError::Refused { .. }) => {
            rec.refused.push(e.to_string());
            None
        }
        Err(e) => {
            let size = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
            rec.corrupt.push(format!(
                "{}: cannot read it: {e}; skipped {size} bytes (the whole file; it is left as it is)",
                path.display()
            ));
            rec.lost_bytes += size;
            None
        }
    }
}

/// The record at `off` in `seg` (of `len` bytes) is damaged: count it and the rest of the file
/// lost, say so in `rec`, and cut the file there so that it is reported once.
fn cut_damaged_tail(seg: &mut Segment, off: usize, damage: RecordDamage, len: usize, rec: &mut Recovered) {
    let skipped = (len - off) as u64;
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
        "{}: offset {off}: {damage}; skipped {skipped} bytes (this record and the rest of the file){cut}",
        seg.path.display()
    ));
}

/// Log what recovery found wrong: damaged and refused files, an unreadable `acknowledged`.
fn log_recovery_problems(rec: &Recovered, ack_problem: Option<&str>) {
    for problem in &rec.corrupt {
        tracing::error!(
            problem = %problem,
            "a spool file is damaged; the intervals in those bytes are lost, the rest of the spool is sent"
        );
    }
    for problem in &rec.refused {
        tracing::error!(problem = %problem, "a spool file is refused; it is left as it is, never read or written");
    }
    if let Some(problem) = ack_problem {
        tracing::warn!(problem = %problem, "the spool cannot tell which batches were delivered");
    }
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
        let names = segment_names(&dir)?;
        let mut spool = Spool::unread(dir, max_bytes, segment_max, lock, acked, ack_file);
        let mut rec = spool.recover(&names);
        log_recovery_problems(&rec, ack_problem.as_deref());
        if let Some(problem) = ack_problem {
            rec.corrupt.insert(0, problem);
        }
        rec.over_cap = spool.enforce_cap();
        let oldest = spool.oldest_pending().unwrap_or(u64::MAX);
        rec.batches.retain(|(seq, _)| *seq >= oldest);
        if !rec.batches.is_empty() {
            tracing::info!(
                spool = %spool.dir.display(),
                batches = spool.pending.records,
                metrics = spool.pending.metrics,
                bytes = spool.pending.bytes,
                "the spool holds batches not yet delivered; they are sent first"
            );
        }
        Ok((spool, rec))
    }

    /// A spool in `dir` whose segments are not read yet, holding `lock`, with `acked` read
    /// from `ack_file`.
    fn unread(
        dir: PathBuf,
        max_bytes: u64,
        segment_max: u64,
        lock: File,
        acked: u64,
        ack_file: File,
    ) -> Spool {
        Spool {
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
            write_failures: FailureStreak::default(),
            ack_failures: FailureStreak::default(),
            sync_failures: FailureStreak::default(),
            delete_failures: FailureStreak::default(),
        }
    }

    /// Read the segments named `names` (oldest first) into the index; what they hold and what
    /// was wrong with them.
    fn recover(&mut self, names: &[u64]) -> Recovered {
        let mut rec = Recovered::default();
        let mut last = 0;
        for first in names {
            self.recover_segment(*first, &mut last, &mut rec);
        }
        let newest_name = names.last().copied().unwrap_or(0);
        self.next_seq = last.max(self.acked).max(newest_name) + 1;
        // What the last process wrote may still be in the page cache only (after a kill -9).
        self.sync_recovered();
        rec
    }

    /// Read the segment named `first` into the index and `rec`; `last` is the sequence number of
    /// the last record read before it, and becomes that of its own last record.
    fn recover_segment(&mut self, first: u64, last: &mut u64, rec: &mut Recovered) {
        let path = self.dir.join(segment_name(first));
        let Some(data) = read_segment(&path, rec) else {
            return;
        };
        let mut seg = Segment { path, size: data.len() as u64, last_seq: 0, pending: VecDeque::new() };
        if let Some((off, damage)) = self.index_records(&mut seg, &data, first, last, rec) {
            cut_damaged_tail(&mut seg, off, damage, data.len(), rec);
        }
        if seg.pending.is_empty() && fs::remove_file(&seg.path).is_ok() {
            // Everything in it was delivered, or nothing in it could be read.
            self.dir_unsynced = true;
            return;
        }
        self.disk_bytes += seg.size;
        self.segments.push_back(seg);
    }

    /// Index the records of `seg` (whose bytes are `data`, named `first`) that are not yet
    /// acknowledged, and add them to `rec`. Returns where the first damaged record starts and
    /// what is wrong with it, if one is.
    fn index_records(
        &mut self,
        seg: &mut Segment,
        data: &[u8],
        first: u64,
        last: &mut u64,
        rec: &mut Recovered,
    ) -> Option<(usize, RecordDamage)> {
        let mut off = 0;
        while off < data.len() {
            let (r, len) = match decode(&data[off..]) {
                Ok((r, _)) if r.seq <= *last || r.seq < first => {
                    let after = (*last).max(first.saturating_sub(1));
                    return Some((off, RecordDamage::OutOfOrder { seq: r.seq, after }));
                }
                Ok(found) => found,
                Err(damage) => return Some((off, damage)),
            };
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
        }
        None
    }

    /// Sync the segments found at start; `durable` covers them if that works.
    fn sync_recovered(&mut self) {
        let mut all = true;
        for seg in &self.segments {
            let synced = open_file(options().read(true), "sync", &seg.path)
                .and_then(|f| f.sync_data().map_err(SpoolError::io("sync", &seg.path)));
            if let Err(e) = synced {
                tracing::debug!(path = %seg.path.display(), error = %e, "cannot sync a recovered spool segment");
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
                if let Some(n) = self.write_failures.ok() {
                    tracing::info!(
                        spool = %self.dir.display(),
                        failed_writes = n,
                        "the spool takes intervals again"
                    );
                }
            }
            // Not a trouble of the disk: said every time, and nothing to recover from.
            Err(e @ SpoolError::TooLarge { .. }) => tracing::error!(error = %e, "cannot spool a batch"),
            Err(e) => {
                if self.write_failures.failed() {
                    tracing::error!(
                        error = %e,
                        "cannot write to the spool; intervals are kept in memory only (up to 'buffer on \
                         failures') until it can be written again, which is tried with every interval"
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
        if let Some(n) = self.sync_failures.ok() {
            tracing::info!(failures = n, "the spool syncs again");
        }
    }

    fn sync_failed(&mut self, e: &SpoolError) {
        // After a failed fsync the kernel's copy cannot be trusted to reach the disk: go on in a
        // new segment.
        self.writer = None;
        self.unsynced = false;
        self.failed_upto = self.failed_upto.max(self.segments.back().map_or(0, |s| s.last_seq));
        if self.sync_failures.failed() {
            tracing::error!(
                error = %e,
                "cannot sync the spool; intervals appended since the last sync may not survive a power loss. \
                 The spool goes on in a new segment"
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
                Err(e) => {
                    tracing::debug!(file = ACK_FILE, error = %e, "cannot sync the spool's acknowledgements")
                }
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
                if let Some(n) = self.ack_failures.ok() {
                    tracing::info!(failures = n, "the spool records deliveries again");
                }
                Ok(())
            }
            Err(source) => {
                let e = SpoolError::Io { action: "write", path: self.dir.join(ACK_FILE), source };
                if self.ack_failures.failed() {
                    tracing::warn!(
                        error = %e,
                        "cannot record deliveries in the spool; after a restart, intervals already delivered \
                         may be sent again"
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
                if self.delete_failures.failed() {
                    tracing::error!(
                        error = %e,
                        "cannot delete a delivered spool segment; the spool keeps it and grows past 'spool max size'"
                    );
                }
                self.segments.push_front(seg);
                return Err(e);
            }
        }
        self.delete_failures.ok();
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
                spool = %self.dir.display(),
                max_bytes = self.max_bytes,
                segments,
                metrics = d.metrics,
                bytes = d.bytes,
                intervals = d.intervals,
                "the spool reached 'spool max size'; deleted its oldest segments, losing data never delivered. \
                 Raise 'spool max size' to keep more of a long outage"
            );
        }
        d
    }

    /// Read back pending records with a sequence number above `after`, oldest first, until
    /// their payloads reach `max_bytes` (at least one record is returned when there is one).
    /// A record found damaged is skipped, logged and counted in [`ReadBack::lost`]; an error means
    /// a segment could not be read at all.
    pub fn read_after(&mut self, after: u64, max_bytes: usize) -> Result<ReadBack, SpoolError> {
        let mut out = ReadBack::default();
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
                            Ok((r, _)) => RecordDamage::OutOfOrder { seq: r.seq, after: m.seq - 1 },
                            Err(bad) => bad,
                        };
                        tracing::error!(
                            path = %seg.path.display(),
                            offset = m.offset,
                            problem = %bad,
                            metrics = m.metrics,
                            bytes = m.len,
                            "a spooled record is damaged; skipped it, its intervals are lost"
                        );
                        damaged.push((si, m.seq));
                    }
                }
            }
        }
        out.lost = self.forget_damaged(damaged);
        Ok(out)
    }

    /// Take the records found damaged (`(segment index, sequence number)`) out of the index;
    /// returns what they held.
    fn forget_damaged(&mut self, damaged: Vec<(usize, u64)>) -> Dropped {
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
        dropped(&lost)
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
