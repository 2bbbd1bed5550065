//! Memory per dimension, with a counting allocator.
//!
//! 1. 100 charts × 100 dimensions collected through a plugins.d [`Session`] for 3601 seconds,
//!    so every slot of history is written: the live heap bytes per dimension, and the growth
//!    of the resident set per dimension as the kernel counts it.
//! 2. 1000 charts × 100 dimensions (3600 slots) defined and primed, as a plugin does it: the
//!    heap bytes per dimension besides the ring (definitions, names, interpolation state, the
//!    session's id maps, the ring's block table), whose blocks are allocated on first write.
//!
//! Target: at most `history × 4 + 200` bytes per dimension.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use rrdpipe::collect::plugins_d::session::{Feed, Session, SessionConfig};
use rrdpipe::rrd::{Db, HostInfo};

use common::{block, definitions, DIMS, HISTORY, S, T0};

/// Counts live heap bytes as the C allocator spends them: a small block costs its size plus an
/// 8-byte header, rounded up to 16, at least 32; a large one (mapped) whole pages.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

fn cost(size: usize) -> usize {
    if size >= 128 * 1024 {
        (size + 16 + 4095) & !4095
    } else {
        ((size + 8 + 15) & !15).max(32)
    }
}

// SAFETY: forwards every call to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(cost(l.size()), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(cost(l.size()), Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(cost(l.size()), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_sub(cost(l.size()), Ordering::Relaxed);
        LIVE.fetch_add(cost(new), Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Anonymous resident memory (heap and mappings; not the program's own code pages, which the
/// first run of each code path faults in).
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon in /proc/self/status");
    kb * 1024
}

fn lines(text: &str) -> Vec<Vec<u8>> {
    text.lines().map(|l| l.as_bytes().to_vec()).collect()
}

/// The plugin's text for `charts` charts: definitions, and one collection per chart.
type Text = (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>);

fn text(charts: usize) -> Text {
    (lines(&definitions(charts)), (0..charts).map(|c| lines(&block(c, T0))).collect())
}

/// A store and session with the charts `defs` defines, collected `seconds` times.
fn build((defs, blocks): &Text, seconds: u64) -> (Db, Session) {
    let db =
        Db::new(HostInfo { hostname: "bench-host".into(), update_every: 1, ..Default::default() }, HISTORY);
    let mut s = Session::new(SessionConfig::new("synth", 1), db.localhost());
    for line in defs {
        assert_eq!(s.feed(line, T0 * S), Feed::Ok);
    }
    for t in 0..seconds {
        for b in blocks {
            for line in b {
                s.feed(line, (T0 + t) * S + S / 2);
            }
        }
    }
    assert_eq!(s.stats().errors, 0);
    (db, s)
}

fn main() {
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"memory".contains(a.as_str())) {
        return; // `cargo bench -- NAME` selected other benchmarks
    }
    let ring = HISTORY * 4;
    let target = ring + 200;

    // Resident set first, while the process is fresh: nothing freed yet to be reused.
    let input = text(100);
    let rss0 = rss_bytes();
    let live0 = LIVE.load(Ordering::Relaxed);
    let (db, s) = build(&input, HISTORY as u64 + 1);
    let dims = 100 * DIMS;
    let rss = (rss_bytes() - rss0) as f64 / dims as f64;
    let heap = (LIVE.load(Ordering::Relaxed) - live0) as f64 / dims as f64;
    println!(
        "memory: anonymous resident memory per dimension after {} collections (history full), 100 × 100 dims: \
         {rss:.0} bytes (heap {heap:.0}; target ≤ {target})",
        HISTORY + 1
    );
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: a read-only query of the C allocator's statistics.
        let free = unsafe { libc::mallinfo2() }.fordblks as f64 / dims as f64;
        println!(
            "memory: of which free blocks the C allocator keeps for reuse: {free:.0} bytes per dimension"
        );
    }
    drop((s, db));

    // Everything but the ring, on a store of realistic size: defined, primed by one collection
    // (which stores nothing), so no block of the ring is allocated yet.
    let input = text(1000);
    let before = LIVE.load(Ordering::Relaxed);
    let (db, s) = build(&input, 1);
    let dims = 1000 * DIMS;
    let per_dim = (LIVE.load(Ordering::Relaxed) - before) as f64 / dims as f64;
    println!(
        "memory: heap per dimension besides the ring, 1000 × 100 dims: {per_dim:.0} bytes \
         (+ ring {ring} once history is full = {:.0}; target ≤ {target})",
        per_dim + ring as f64
    );
    drop((s, db));
}
