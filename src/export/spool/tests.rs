//! Tests of the spool, on temporary directories.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};

use proptest::prelude::*;

use super::*;

const INSTANCE: &str = "inst";

fn batch(timestamp: i64, metrics: usize, bytes: &[u8]) -> Batch {
    Batch { timestamp, metrics, bytes: bytes.to_vec() }
}

/// A batch of 10 payload bytes: a record of 50 bytes on disk.
fn ten(timestamp: i64, metrics: usize) -> Batch {
    batch(timestamp, metrics, format!("{timestamp:>9}\n").as_bytes())
}

fn open(root: &Path, max_bytes: u64, segment_max: u64) -> (Spool, Recovered) {
    Spool::open_with(root, INSTANCE, max_bytes, segment_max).unwrap_or_else(|e| panic!("{e}"))
}

/// `(first seq, size)` of the segment files, in order.
fn segments(root: &Path) -> Vec<(u64, u64)> {
    let mut list: Vec<(u64, u64)> = fs::read_dir(root.join(INSTANCE))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let first = parse_segment_name(e.file_name().to_str()?)?;
            Some((first, e.metadata().unwrap().len()))
        })
        .collect();
    list.sort_unstable();
    list
}

fn segment_path(root: &Path, first: u64) -> PathBuf {
    root.join(INSTANCE).join(segment_name(first))
}

fn numbered(batches: &[Batch], first: u64) -> Vec<(u64, Batch)> {
    batches.iter().cloned().zip(first..).map(|(b, s)| (s, b)).collect()
}

/// CRC-32 (IEEE, reflected, as zlib), bit by bit: an independent check of the checksum used.
fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_record_is_laid_out_as_documented() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(s.append(&batch(-2, 3, b"abc")).unwrap(), 1);
    let mut covered = vec![1, 0, 0, 0, 27, 0, 0, 0];
    covered.extend_from_slice(&1u64.to_le_bytes());
    covered.extend_from_slice(&(-2i64).to_le_bytes());
    covered.extend_from_slice(&3u64.to_le_bytes());
    covered.extend_from_slice(b"abc");
    let mut want = b"RPSL".to_vec();
    want.extend_from_slice(&covered[..8]);
    let mut crc_input = covered[..8].to_vec();
    crc_input.extend_from_slice(&covered[8..]);
    want.extend_from_slice(&crc32_ieee(&crc_input).to_le_bytes());
    want.extend_from_slice(&covered[8..]);
    assert_eq!(fs::read(segment_path(root.path(), 1)).unwrap(), want);
    assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926); // the standard check value
}

#[test]
fn acknowledged_file_is_laid_out_as_documented() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
    for t in 0..3 {
        s.append(&ten(t, 1)).unwrap();
    }
    s.acknowledge(2).unwrap();
    let mut want = b"RPSA".to_vec();
    want.extend_from_slice(&[1, 0, 0, 0]);
    want.extend_from_slice(&2u64.to_le_bytes());
    let crc = crc32_ieee(&want[4..16]);
    want.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(fs::read(root.path().join(INSTANCE).join("acknowledged")).unwrap(), want);
}

#[test]
fn appended_batches_come_back_exactly_and_in_order_after_reopening() {
    let root = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let batches = vec![
        batch(1_700_000_000, 2, b"a.b 1 1700000000\nc.d 2 1700000000\n"),
        batch(1_700_000_000, 0, b""),
        batch(-5, 1, b"\x00\xff\n"),
        batch(1_700_000_010, 2500, &big),
        batch(i64::MAX, usize::MAX >> 1, b"x\n"),
    ];
    {
        // 200-byte segments: the big batch gets one of its own.
        let (mut s, rec) = open(root.path(), 1 << 30, 200);
        assert_eq!(rec, Recovered::default());
        for (i, b) in batches.iter().enumerate() {
            assert_eq!(s.append(b).unwrap(), i as u64 + 1);
        }
        assert_eq!(s.disk_bytes(), 5 * 40 + 34 + 3 + 100_000 + 2);
    }
    // Records 1 to 3 share a segment (157 bytes); the big one and the one after it do not fit.
    assert_eq!(segments(root.path()), vec![(1, 74 + 40 + 43), (4, 100_040), (5, 42)]);
    let (s, rec) = open(root.path(), 1 << 30, 200);
    assert_eq!(rec, Recovered { batches: numbered(&batches, 1), ..Recovered::default() });
    let metrics = batches.iter().map(|b| b.metrics as u64).sum();
    assert_eq!(s.pending(), Pending { records: 5, metrics, bytes: 34 + 3 + 100_000 + 2 });
    assert_eq!((s.next_seq(), s.oldest_pending(), s.durable_upto()), (6, Some(1), 5));
}

#[test]
fn appending_after_a_restart_starts_a_new_segment_and_leaves_the_old_one_untouched() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
    s.append(&ten(10, 1)).unwrap();
    s.append(&ten(20, 1)).unwrap();
    drop(s);
    let before = fs::read(segment_path(root.path(), 1)).unwrap();
    let (mut s, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(rec.batches.len(), 2);
    assert_eq!(s.append(&ten(30, 1)).unwrap(), 3);
    assert_eq!(segments(root.path()), vec![(1, 100), (3, 50)]);
    assert_eq!(fs::read(segment_path(root.path(), 1)).unwrap(), before);
    drop(s);
    let (_, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(rec.batches, numbered(&[ten(10, 1), ten(20, 1), ten(30, 1)], 1));
}

#[test]
fn a_cut_last_record_is_reported_with_exact_byte_counts_at_every_cut() {
    let root = tempfile::tempdir().unwrap();
    let batches = [ten(10, 1), batch(20, 2, b"0123456789abcdef\n"), ten(30, 3)];
    {
        let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
        for b in &batches {
            s.append(b).unwrap();
        }
    }
    let path = segment_path(root.path(), 1);
    let full = fs::read(&path).unwrap();
    let last_start = full.len() - 50;
    assert_eq!(last_start, 50 + 57);
    for cut in last_start..full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        let (s, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
        assert_eq!(rec.batches, numbered(&batches[..2], 1), "cut at {cut}");
        let k = cut - last_start;
        if k == 0 {
            assert_eq!((rec.corrupt.len(), rec.lost_bytes), (0, 0));
            continue;
        }
        let need = if k < HEADER { HEADER } else { 50 };
        assert_eq!(
            rec.corrupt,
            vec![format!(
                "{}: offset {last_start}: record cut short ({k} of {need} bytes present); skipped \
                 {k} bytes (this record and the rest of the file)",
                path.display()
            )],
            "cut at {cut}"
        );
        assert_eq!(rec.lost_bytes, k as u64);
        assert_eq!(s.pending().records, 2);
        // The tail was cut off: the next start reports nothing.
        assert_eq!(fs::metadata(&path).unwrap().len(), last_start as u64);
        drop(s);
        let (_, again) = open(root.path(), 1 << 30, SEGMENT_MAX);
        assert_eq!(again, Recovered { batches: numbered(&batches[..2], 1), ..Recovered::default() });
    }
}

#[test]
fn a_flipped_byte_skips_that_record_and_the_rest_of_its_file_only() {
    let root = tempfile::tempdir().unwrap();
    let batches: Vec<Batch> = (1..=9).map(|i| ten(i * 10, i as usize)).collect();
    {
        // 150-byte segments: three records of 50 bytes each.
        let (mut s, _) = open(root.path(), 1 << 30, 150);
        for b in &batches {
            s.append(b).unwrap();
        }
    }
    assert_eq!(segments(root.path()), vec![(1, 150), (4, 150), (7, 150)]);
    let snapshot: Vec<(PathBuf, Vec<u8>)> = [1, 4, 7]
        .iter()
        .map(|f| segment_path(root.path(), *f))
        .map(|p| (p.clone(), fs::read(p).unwrap()))
        .collect();
    let middle = segment_path(root.path(), 4);
    let mut expected = numbered(&batches[..4], 1);
    expected.extend(numbered(&batches[6..], 7));
    // Record 5 is bytes 50..100 of the middle file.
    for at in 50..100 {
        for (p, bytes) in &snapshot {
            fs::write(p, bytes).unwrap();
        }
        let mut bytes = snapshot[1].1.clone();
        bytes[at] ^= 0xff;
        fs::write(&middle, &bytes).unwrap();
        let (s, rec) = open(root.path(), 1 << 30, 150);
        assert_eq!(rec.batches, expected, "byte {at} flipped");
        assert_eq!(rec.lost_bytes, 100);
        assert_eq!(rec.corrupt.len(), 1);
        let message = &rec.corrupt[0];
        let prefix = format!("{}: offset 50: ", middle.display());
        let suffix = "; skipped 100 bytes (this record and the rest of the file)";
        assert!(message.starts_with(&prefix) && message.ends_with(suffix), "{message}");
        let reason = &message[prefix.len()..message.len() - suffix.len()];
        let want = match at - 50 {
            0..=3 => "no record starts here (bad magic)".to_string(),
            4 => "record version 254; this rrdpipe reads version 1".to_string(),
            5 => "record version 65281; this rrdpipe reads version 1".to_string(),
            6 => "unknown record flags 0x00ff".to_string(),
            7 => "unknown record flags 0xff00".to_string(),
            8..=11 => {
                let mut len = 34u32.to_le_bytes();
                len[at - 58] ^= 0xff;
                format!("record cut short (100 of {} bytes present)", 16 + u32::from_le_bytes(len) as u64)
            }
            _ => "checksum mismatch".to_string(),
        };
        assert_eq!(reason, want, "byte {at} flipped");
        assert_eq!(s.pending().records, 7);
        assert_eq!(segments(root.path()), vec![(1, 150), (4, 50), (7, 150)]);
    }
}

#[test]
fn records_out_of_order_are_reported_and_skipped() {
    let root = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = open(root.path(), 1 << 30, 100);
        for t in 1..=4 {
            s.append(&ten(t, 1)).unwrap();
        }
    }
    // A copy of the first segment under a later name: its records repeat 1 and 2.
    fs::copy(segment_path(root.path(), 1), segment_path(root.path(), 9)).unwrap();
    let (s, rec) = open(root.path(), 1 << 30, 100);
    assert_eq!(rec.batches, numbered(&[ten(1, 1), ten(2, 1), ten(3, 1), ten(4, 1)], 1));
    assert_eq!(
        rec.corrupt,
        vec![format!(
            "{}: offset 0: sequence number 1 where more than 8 was expected; skipped 100 bytes \
             (this record and the rest of the file)",
            segment_path(root.path(), 9).display()
        )]
    );
    // The emptied file is gone, and numbering goes on after the highest name seen.
    assert_eq!(segments(root.path()), vec![(1, 100), (3, 100)]);
    assert_eq!(s.next_seq(), 10);
}

#[test]
fn acknowledged_segments_are_deleted_and_not_sent_again() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, 150);
    for t in 1..=9 {
        s.append(&ten(t, t as usize)).unwrap();
    }
    s.acknowledge(4).unwrap();
    assert_eq!(segments(root.path()), vec![(4, 150), (7, 150)]);
    assert_eq!(s.pending(), Pending { records: 5, metrics: 5 + 6 + 7 + 8 + 9, bytes: 50 });
    assert_eq!(s.oldest_pending(), Some(5));
    s.acknowledge(3).unwrap(); // going back changes nothing
    assert_eq!(s.pending().records, 5);
    s.acknowledge(6).unwrap();
    assert_eq!(segments(root.path()), vec![(7, 150)]);
    // The open segment, fully acknowledged and over a quarter full, goes too.
    s.acknowledge(9).unwrap();
    assert_eq!(segments(root.path()), vec![]);
    assert_eq!((s.pending(), s.disk_bytes(), s.oldest_pending()), (Pending::default(), 0, None));
    assert_eq!(s.append(&ten(10, 1)).unwrap(), 10);
    assert_eq!(segments(root.path()), vec![(10, 50)]);
    drop(s);
    let (_, rec) = open(root.path(), 1 << 30, 150);
    assert_eq!(rec.batches, vec![(10, ten(10, 1))]);
}

#[test]
fn a_small_acknowledged_open_segment_stays_and_is_not_sent_again_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, 1000);
    s.append(&ten(1, 1)).unwrap();
    s.append(&ten(2, 1)).unwrap();
    s.acknowledge(2).unwrap();
    // 100 bytes, under a quarter of 1000: kept open, no file per interval.
    assert_eq!(segments(root.path()), vec![(1, 100)]);
    s.append(&ten(3, 1)).unwrap();
    assert_eq!(segments(root.path()), vec![(1, 150)]);
    s.acknowledge(3).unwrap();
    drop(s);
    let (mut s, rec) = open(root.path(), 1 << 30, 1000);
    assert_eq!(rec, Recovered::default());
    assert_eq!(segments(root.path()), vec![]);
    assert_eq!(s.append(&ten(4, 1)).unwrap(), 4);
}

#[test]
fn the_cap_drops_the_oldest_segments_and_reports_exactly_what_was_lost() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 300, 150);
    let stamps = [10, 10, 20, 20, 30, 30, 40];
    for (i, t) in stamps.iter().enumerate() {
        s.append(&ten(*t, i + 1)).unwrap();
        if i < 6 {
            assert_eq!(s.enforce_cap(), Dropped::default(), "{} bytes fit in 300", s.disk_bytes());
        }
        if i == 2 {
            s.acknowledge(1).unwrap();
        }
    }
    // 350 bytes: the oldest segment (records 1 to 3, the first acknowledged) goes.
    assert_eq!(s.enforce_cap(), Dropped { metrics: 2 + 3, bytes: 20, intervals: 2 });
    assert_eq!(segments(root.path()), vec![(4, 150), (7, 50)]);
    assert_eq!((s.disk_bytes(), s.oldest_pending()), (200, Some(4)));
    assert_eq!(s.pending(), Pending { records: 4, metrics: 4 + 5 + 6 + 7, bytes: 40 });
    drop(s);
    let (_, rec) = open(root.path(), 300, 150);
    assert_eq!(rec.batches, numbered(&[ten(20, 4), ten(30, 5), ten(30, 6), ten(40, 7)], 4));
}

#[test]
fn the_cap_never_deletes_the_open_segment() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 10, 1000);
    for t in 1..=3 {
        s.append(&ten(t, 1)).unwrap();
    }
    assert_eq!(s.enforce_cap(), Dropped::default());
    assert_eq!(segments(root.path()), vec![(1, 150)]);
}

#[test]
fn a_lowered_cap_applies_at_start() {
    let root = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = open(root.path(), 1 << 30, 150);
        for t in 1..=6 {
            s.append(&ten(t, 2)).unwrap();
        }
    }
    let (s, rec) = open(root.path(), 200, 150);
    assert_eq!(rec.over_cap, Dropped { metrics: 6, bytes: 30, intervals: 3 });
    assert_eq!(rec.batches, numbered(&[ten(4, 2), ten(5, 2), ten(6, 2)], 4));
    assert_eq!(s.pending().records, 3);
}

#[test]
fn read_after_pages_through_pending_records_and_skips_damaged_ones() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, 150);
    let batches: Vec<Batch> = (1..=5).map(|i| ten(i * 10, i as usize)).collect();
    for b in &batches {
        s.append(b).unwrap();
    }
    let r = s.read_after(0, 25).unwrap();
    assert_eq!((r.batches, r.more, r.lost), (numbered(&batches[..3], 1), true, Dropped::default()));
    let r = s.read_after(3, 1 << 20).unwrap();
    assert_eq!((r.batches, r.more), (numbered(&batches[3..], 4), false));
    assert_eq!(s.read_after(5, 1 << 20).unwrap(), ReadBack::default());
    // At least one record, even over the budget.
    assert_eq!(s.read_after(0, 0).unwrap().batches, numbered(&batches[..1], 1));
    s.acknowledge(2).unwrap();
    assert_eq!(s.read_after(0, 1 << 20).unwrap().batches, numbered(&batches[2..], 3));
    // Record 4 starts the second segment; damage its payload.
    let path = segment_path(root.path(), 4);
    let mut bytes = fs::read(&path).unwrap();
    bytes[45] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let r = s.read_after(0, 1 << 20).unwrap();
    let mut rest = numbered(&batches[2..3], 3);
    rest.extend(numbered(&batches[4..], 5));
    assert_eq!((&r.batches, r.lost), (&rest, Dropped { metrics: 4, bytes: 10, intervals: 1 }));
    assert_eq!(s.pending(), Pending { records: 2, metrics: 3 + 5, bytes: 20 });
    assert_eq!(s.read_after(0, 1 << 20).unwrap(), ReadBack { batches: rest, ..ReadBack::default() });
}

#[test]
fn sync_policy_bounds_what_a_power_loss_can_take() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, 150);
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    s.append(&ten(1, 1)).unwrap();
    assert_eq!(s.durable_upto(), 0);
    assert!(s.maybe_sync(at(0)).unwrap());
    assert_eq!(s.durable_upto(), 1);
    // Within a second of the last sync: not yet; record 2 is what a power loss could take.
    s.append(&ten(2, 1)).unwrap();
    assert!(!s.maybe_sync(at(500)).unwrap());
    assert!(!s.maybe_sync(at(999)).unwrap());
    assert_eq!(s.durable_upto(), 1);
    assert!(s.maybe_sync(at(1000)).unwrap());
    assert_eq!(s.durable_upto(), 2);
    // Nothing new: nothing to do.
    assert!(!s.maybe_sync(at(5000)).unwrap());
    // An interval every 10 s is synced as soon as it is appended.
    s.append(&ten(3, 1)).unwrap();
    assert!(s.maybe_sync(at(10_000)).unwrap());
    assert_eq!(s.durable_upto(), 3);
    // Closing a full segment syncs it, whatever the clock.
    s.append(&ten(4, 1)).unwrap();
    assert_eq!(s.durable_upto(), 3);
    s.append(&ten(5, 1)).unwrap();
    assert_eq!(s.durable_upto(), 3);
    s.append(&ten(6, 1)).unwrap();
    s.append(&ten(7, 1)).unwrap(); // rotates: 4 to 6 are synced with their segment
    assert_eq!(s.durable_upto(), 6);
    assert!(!s.maybe_sync(at(10_500)).unwrap());
    s.sync().unwrap();
    assert_eq!(s.durable_upto(), 7);
    // An acknowledgement is synced too.
    s.acknowledge(2).unwrap();
    assert!(s.maybe_sync(at(20_000)).unwrap());
    assert!(!s.maybe_sync(at(30_000)).unwrap());
}

#[test]
fn a_failed_write_is_an_error_that_says_what_to_do_and_the_next_append_works() {
    let root = tempfile::tempdir().unwrap();
    let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
    // The first segment's writes go to a device that is always full (a link to it would be
    // refused, so the open file is swapped for it).
    let path = segment_path(root.path(), 1);
    s.new_segment(1).unwrap();
    s.writer = Some(OpenOptions::new().write(true).open("/dev/full").unwrap());
    let e = s.append(&ten(1, 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot write to {}: No space left on device (os error 28); free space on that file \
             system, or lower 'spool max size'",
            path.display()
        )
    );
    assert_eq!((s.pending(), s.disk_bytes(), s.next_seq()), (Pending::default(), 0, 1));
    assert_eq!(s.append(&ten(2, 1)).unwrap(), 1);
    assert_eq!(fs::metadata(&path).unwrap().len(), 50);
    drop(s);
    let (_, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(rec.batches, vec![(1, ten(2, 1))]);
}

#[test]
fn a_spool_that_cannot_be_created_says_why() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("plain-file");
    fs::write(&file, b"").unwrap();
    let e = Spool::open(&file, "g", 1 << 30).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "refused {}: it is a regular file, not a directory; change 'spool directory'",
            file.display()
        )
    );
    let e = Spool::open(&file.join("below"), "g", 1 << 30).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot create the spool directory {}/below: Not a directory (os error 20); check the \
             file system, or change 'spool directory'",
            file.display()
        )
    );
    assert_eq!(
        Spool::open(root.path(), "", 1 << 30).unwrap_err().to_string(),
        "an exporter without a name cannot have a spool"
    );
}

// ---- links and other users ----

/// What an attacker points a planted link at: a file outside the spool.
const TARGET: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n";

/// A spool root and, outside it, the target of planted links: (root, target).
fn planted() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("passwd");
    fs::write(&target, TARGET).unwrap();
    fs::create_dir(root.path().join(INSTANCE)).unwrap();
    (root, outside, target)
}

fn plant_link(root: &Path, name: &str, target: &Path) -> PathBuf {
    let link = root.join(INSTANCE).join(name);
    std::os::unix::fs::symlink(target, &link).unwrap();
    link
}

#[test]
fn a_symlink_as_acknowledged_is_refused_and_its_target_left_alone() {
    let (root, _outside, target) = planted();
    let link = plant_link(root.path(), "acknowledged", &target);
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "refused {}: it is a symbolic link (to {}); rrdpipe never follows links or writes \
             through them in its spool: remove it (and find out who put it there)",
            link.display(),
            target.display()
        )
    );
    assert_eq!(fs::read(&target).unwrap(), TARGET);
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn a_symlink_as_the_lock_is_refused() {
    let (root, _outside, target) = planted();
    let link = plant_link(root.path(), "lock", &target);
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("refused {}: it is a symbolic link (to ", link.display())),
        "{e}"
    );
    assert_eq!(fs::read(&target).unwrap(), TARGET);
}

#[test]
fn a_symlink_as_a_segment_is_refused_left_alone_and_the_spool_goes_on() {
    let (root, _outside, target) = planted();
    let link = plant_link(root.path(), &segment_name(3), &target);
    {
        let (mut s, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
        let want = format!(
            "refused {}: it is a symbolic link (to {}); rrdpipe never follows links or writes \
             through them in its spool: remove it (and find out who put it there)",
            link.display(),
            target.display()
        );
        assert_eq!(rec, Recovered { refused: vec![want], ..Recovered::default() });
        // New segments are named after it: never the same name.
        assert_eq!(s.append(&ten(10, 1)).unwrap(), 4);
        s.append(&ten(20, 1)).unwrap();
        s.acknowledge(4).unwrap();
    }
    let (_, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(rec.batches, numbered(&[ten(20, 1)], 5));
    assert_eq!(rec.refused.len(), 1);
    assert_eq!((rec.corrupt.len(), rec.lost_bytes), (0, 0));
    assert_eq!(fs::read(&target).unwrap(), TARGET);
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn a_symlink_planted_as_the_next_segment_is_refused_and_the_batch_kept_in_memory() {
    let (root, _outside, target) = planted();
    let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
    let link = plant_link(root.path(), &segment_name(1), &target);
    let e = s.append(&ten(10, 1)).unwrap_err();
    assert!(e.to_string().starts_with(&format!("refused {}: it is a symbolic link", link.display())), "{e}");
    assert_eq!(fs::read(&target).unwrap(), TARGET);
    fs::remove_file(&link).unwrap();
    assert_eq!(s.append(&ten(20, 1)).unwrap(), 1);
    assert_eq!(fs::read(&target).unwrap(), TARGET);
}

#[test]
fn a_hard_link_or_a_fifo_as_a_segment_is_refused() {
    let (root, outside, target) = planted();
    let hard = root.path().join(INSTANCE).join(segment_name(1));
    fs::hard_link(&target, &hard).unwrap();
    let fifo = root.path().join(INSTANCE).join(segment_name(2));
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path that `c` keeps alive.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let (mut s, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(
        rec.refused,
        vec![
            format!(
                "refused {}: it has 2 hard links, so writing it would change another file too; {REMOVE_IT}",
                hard.display()
            ),
            format!("refused {}: it is a FIFO, not a regular file; {REMOVE_IT}", fifo.display()),
        ]
    );
    assert_eq!(s.append(&ten(1, 1)).unwrap(), 3);
    assert_eq!(fs::read(&target).unwrap(), TARGET);
    drop(outside);
}

#[test]
fn a_symlink_as_the_instance_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let link = root.path().join(INSTANCE);
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("refused {}: it is a symbolic link (to ", link.display())),
        "{e}"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn a_spool_directory_writable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    let p = root.path().display();
    assert_eq!(
        e.to_string(),
        format!(
            "refused {p}: it is writable by other users (mode 0777); any of them could put links \
             there that make rrdpipe overwrite other files; run 'chmod o-w {p}', or change \
             'spool directory'"
        )
    );
    // The sticky bit does not help: others may still create entries.
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(Spool::open(root.path(), INSTANCE, 1 << 30).is_err());
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let inst = root.path().join(INSTANCE);
    fs::create_dir(&inst).unwrap();
    fs::set_permissions(&inst, fs::Permissions::from_mode(0o757)).unwrap();
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    assert!(e
        .to_string()
        .starts_with(&format!("refused {}: it is writable by other users (mode 0757)", inst.display())));
    fs::set_permissions(&inst, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Spool::open(root.path(), INSTANCE, 1 << 30).is_ok());
}

#[test]
fn a_spool_directory_owned_by_another_user_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let me = euid();
    if me != 0 {
        return; // Only root can give a directory away.
    }
    std::os::unix::fs::chown(root.path(), Some(4242), None).unwrap();
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    let p = root.path().display();
    assert_eq!(
        e.to_string(),
        format!(
            "refused {p}: it belongs to user 4242, neither root nor the user rrdpipe runs as (0); \
             that user could put links there that make rrdpipe overwrite other files; run \
             'chown 0 {p}', or change 'spool directory'"
        )
    );
}

#[test]
fn missing_directories_are_created_not_writable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let deep = root.path().join("a/b");
    let (s, _) = Spool::open(&deep, INSTANCE, 1 << 30).unwrap();
    for d in [root.path().join("a"), deep.clone(), s.dir().to_path_buf()] {
        let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode & 0o022, 0, "{}: {mode:o}", d.display());
    }
}

#[test]
fn two_processes_never_share_a_spool() {
    let root = tempfile::tempdir().unwrap();
    let (first, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
    let e = Spool::open(root.path(), INSTANCE, 1 << 30).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "spool {}/inst is in use by another process; give each running rrdpipe its own \
             'spool directory'",
            root.path().display()
        )
    );
    drop(first);
    assert!(Spool::open(root.path(), INSTANCE, 1 << 30).is_ok());
}

#[test]
fn a_damaged_acknowledgement_is_reported_and_costs_duplicates_only() {
    let root = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = open(root.path(), 1 << 30, SEGMENT_MAX);
        for t in 1..=3 {
            s.append(&ten(t, 1)).unwrap();
        }
        s.acknowledge(2).unwrap();
    }
    let ack = root.path().join(INSTANCE).join("acknowledged");
    let mut bytes = fs::read(&ack).unwrap();
    bytes[9] ^= 1;
    fs::write(&ack, &bytes).unwrap();
    let (s, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(rec.batches, numbered(&[ten(1, 1), ten(2, 1), ten(3, 1)], 1));
    assert_eq!(
        rec.corrupt,
        vec![format!(
            "{}: unreadable (20 bytes, not a valid acknowledgement); batches delivered before the \
             restart may be sent again",
            ack.display()
        )]
    );
    assert_eq!(rec.lost_bytes, 0);
    // Cleared: reported once.
    assert_eq!(fs::metadata(&ack).unwrap().len(), 0);
    drop(s);
    let (_, rec) = open(root.path(), 1 << 30, SEGMENT_MAX);
    assert_eq!(
        rec,
        Recovered { batches: numbered(&[ten(1, 1), ten(2, 1), ten(3, 1)], 1), ..Recovered::default() }
    );
}

#[test]
fn instance_directory_names_are_safe_and_distinct() {
    let names = ["my_graphite", "a/b", "a%2Fb", "..", ".hidden", "x.y", "é", "a b", ""];
    let dirs: Vec<String> = names.iter().map(|n| dir_name(n)).collect();
    assert_eq!(
        dirs,
        vec!["my_graphite", "a%2Fb", "a%252Fb", "%2E.", "%2Ehidden", "x.y", "%C3%A9", "a%20b", ""]
    );
}

#[test]
fn acks_map_what_left_a_queue_back_to_sequence_numbers() {
    let mut a = Acks::new();
    a.pushed(Some(1), 10);
    a.pushed(None, 5); // not spooled
    a.pushed(Some(2), 0); // a tick
    a.pushed(Some(3), 10);
    assert_eq!(a.newest(), Some(3));
    assert_eq!(a.settled(25), None);
    assert_eq!(a.settled(16), None); // 9 of 10 bytes out: a line boundary not reached
    assert_eq!(a.settled(15), Some(1));
    assert_eq!(a.settled(10), Some(2));
    assert_eq!(a.settled(10), None);
    assert_eq!(a.settled(0), Some(3));
    assert_eq!(a.newest(), None);
    a.pushed(Some(4), 7);
    a.clear();
    assert_eq!((a.newest(), a.settled(0)), (None, None));
    a.pushed(Some(5), 3);
    assert_eq!(a.settled(0), Some(5));
}

// ---------------------------------------------------------------- kill -9

const CHILD_DIR: &str = "RRDPIPE_SPOOL_TEST_DIR";
const CHILD_STOP_AFTER: &str = "RRDPIPE_SPOOL_TEST_STOP_AFTER";

/// The batch numbered `n`: 18 KiB, so segments rotate and writes are large.
fn nth(n: u64) -> Batch {
    Batch {
        timestamp: n as i64 * 10,
        metrics: (n % 7) as usize + 1,
        bytes: format!("{n:08}\n").repeat(2000).into_bytes(),
    }
}

#[test]
#[ignore = "a helper: the kill -9 tests run it in a child process"]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let stop_after: Option<u64> = std::env::var(CHILD_STOP_AFTER).ok().and_then(|n| n.parse().ok());
    let (mut s, _) = Spool::open(Path::new(&dir), "killed", 1 << 30).unwrap();
    let mut out = io::stdout();
    let mut n = 0;
    loop {
        if Some(n) == stop_after {
            writeln!(out, "appended {n}, waiting").unwrap();
            out.flush().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        n = s.append(&nth(n + 1)).unwrap();
        if stop_after.is_none() {
            writeln!(out, "appended {n}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// Run [`child_appends_until_killed`] in a child process; returns it and what it says it
/// appended (its lines after `appended `), each within 60 s or the child is killed and the test
/// fails.
fn spawn_child(dir: &Path, stop_after: Option<u64>) -> (Child, impl Iterator<Item = String>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "export::spool::tests::child_appends_until_killed",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_DIR, dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if let Some(n) = stop_after {
        cmd.env(CHILD_STOP_AFTER, n.to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            // The harness prints `test NAME ... ` before the test's own output, on one line.
            let Ok(line) = line else { return };
            let Some((_, said)) = line.split_once("appended ") else { continue };
            if tx.send(said.to_string()).is_err() {
                return;
            }
        }
    });
    let pid = child.id();
    let lines = std::iter::from_fn(move || match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(said) => Some(said),
        Err(e) => {
            // SAFETY: kill only sends a signal; the child is not reaped yet, so `pid` is still it.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("the child said nothing more within 60 s ({e})");
        }
    });
    (child, lines)
}

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn kill_9_after_appends_loses_none_of_them() {
    let root = tempfile::tempdir().unwrap();
    let (child, mut lines) = spawn_child(root.path(), Some(300));
    assert_eq!(lines.next().as_deref(), Some("300, waiting"));
    kill_9(child);
    let (s, rec) = Spool::open(root.path(), "killed", 1 << 30).unwrap();
    let want: Vec<(u64, Batch)> = (1..=300).map(|n| (n, nth(n))).collect();
    assert_eq!(rec.batches.len(), 300);
    assert!(rec.batches == want, "recovered batches differ from those appended");
    assert_eq!((rec.corrupt, rec.lost_bytes), (Vec::<String>::new(), 0));
    assert!(s.disk_bytes() > SEGMENT_MAX, "the child rotated segments");
}

#[test]
fn kill_9_while_appending_loses_nothing_appended() {
    let root = tempfile::tempdir().unwrap();
    let (child, mut lines) = spawn_child(root.path(), None);
    let mut seen = 0;
    // By reference: the pipe stays read until the kill, so the child never fails a write first.
    for line in lines.by_ref() {
        seen = line.parse().unwrap();
        if seen >= 200 {
            break;
        }
    }
    kill_9(child);
    drop(lines);
    let (_, rec) = Spool::open(root.path(), "killed", 1 << 30).unwrap();
    let last = rec.batches.last().map_or(0, |(n, _)| *n);
    assert!(last >= seen, "appended {seen}, recovered {last}");
    let want: Vec<(u64, Batch)> = (1..=last).map(|n| (n, nth(n))).collect();
    assert!(rec.batches == want, "recovered batches differ from those appended");
    // The append under way at the kill may have left part of its record: reported, and smaller
    // than a record.
    assert!(rec.corrupt.len() <= 1, "{:?}", rec.corrupt);
    if let Some(problem) = rec.corrupt.first() {
        assert!(problem.contains("record cut short"), "{problem}");
        assert!(rec.lost_bytes > 0 && rec.lost_bytes < (HEAD + nth(last + 1).bytes.len()) as u64);
    }
}

// ---------------------------------------------------------------- property

#[derive(Clone, Debug)]
enum Op {
    Append { len: usize, metrics: usize, next_window: bool },
    Ack(usize),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..120, 0usize..50, any::<bool>())
            .prop_map(|(len, metrics, next_window)| Op::Append { len, metrics, next_window }),
        2 => (0usize..20).prop_map(Op::Ack),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn appends_acknowledgements_and_restarts_never_lose_an_unacknowledged_record(
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let root = tempfile::tempdir().unwrap();
        let (mut s, _) = open(root.path(), u64::MAX, 300);
        let mut model: Vec<(u64, Batch)> = Vec::new();
        let mut last_seq = 0;
        let mut window = 0i64;
        for op in ops {
            match op {
                Op::Append { len, metrics, next_window } => {
                    window += i64::from(next_window) * 10;
                    let b = Batch { timestamp: window, metrics, bytes: vec![b'a' + (last_seq % 26) as u8; len] };
                    let seq = s.append(&b).unwrap();
                    prop_assert!(seq > last_seq);
                    last_seq = seq;
                    model.push((seq, b));
                }
                Op::Ack(k) => {
                    let n = k % (model.len() + 1);
                    if n > 0 {
                        s.acknowledge(model[n - 1].0).unwrap();
                        model.drain(..n);
                    }
                }
                Op::Reopen => {
                    drop(s);
                    let (again, rec) = open(root.path(), u64::MAX, 300);
                    s = again;
                    prop_assert_eq!(&rec, &Recovered { batches: model.clone(), ..Recovered::default() });
                }
            }
            let pending = Pending {
                records: model.len() as u64,
                metrics: model.iter().map(|(_, b)| b.metrics as u64).sum(),
                bytes: model.iter().map(|(_, b)| b.bytes.len() as u64).sum(),
            };
            prop_assert_eq!(s.pending(), pending);
        }
        prop_assert_eq!(s.read_after(0, usize::MAX).unwrap().batches, model.clone());
        drop(s);
        let (_, rec) = open(root.path(), u64::MAX, 300);
        prop_assert_eq!(rec, Recovered { batches: model, ..Recovered::default() });
    }
}
