//! The `rrd-cleanup` thread: removes orphan hosts once they are due, and gives their memory
//! back to the operating system.
//!
//! One job: the schedule. Which host is due is decided by [`Db::remove_orphans`]; this thread
//! asks often enough that a host goes within a few seconds of being due (every tenth of
//! `cleanup orphan hosts after secs`, at least every second, at most every minute), logs what
//! went, and then trims the allocator: glibc keeps freed memory in its arenas, where it stays
//! resident, unless asked to return it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::info;

use super::host::Db;
use crate::logs::Escaped;
use crate::shutdown::Shutdown;

/// How often due hosts are looked for, for a cleanup time of `after`.
pub fn check_every(after: Duration) -> Duration {
    (after / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Start the thread: hosts orphaned for `after` and exported by every exporter are removed.
pub fn start(db: Arc<Db>, after: Duration, shutdown: Shutdown) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("rrd-cleanup".into()).spawn(move || run(&db, after, &shutdown))
}

/// Checks after a removal at which the allocator is trimmed again: the removed hosts' last
/// windows may still be on their way to a receiver at the first trim, and the buffers they
/// took are freed only when sent.
const TRIMS_AFTER_REMOVAL: u32 = 10;

fn run(db: &Db, after: Duration, shutdown: &Shutdown) {
    let every = check_every(after);
    let mut trims = 0;
    while !shutdown.wait_timeout(every) {
        if remove_due(db, after) > 0 {
            trims = TRIMS_AFTER_REMOVAL;
        } else if trims > 0 {
            trims -= 1;
            trim_allocator();
        }
    }
}

/// Remove the hosts due now, log each, and return freed memory to the system.
pub fn remove_due(db: &Db, after: Duration) -> usize {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let removed = db.remove_orphans(now, after.as_secs());
    for host in &removed {
        let hi = host.info();
        info!(
            "rrd: removed host '{}' (machine guid {}): no child connected for {} s \
             ([db] cleanup orphan hosts after secs = {}) and every exporter has sent all of its data; \
             {} charts and {} dimensions freed",
            Escaped::str(&hi.hostname),
            Escaped::str(&hi.machine_guid),
            host.orphan_since().map_or(0, |since| now - since),
            after.as_secs(),
            host.chart_count(),
            host.dimension_count()
        );
    }
    let count = removed.len();
    // An export walk may still hold a removed host for a moment: its memory is freed when
    // the walk lets go, and only then can it be returned.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while removed.iter().any(|h| Arc::strong_count(h) > 1) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(removed);
    if count > 0 {
        trim_allocator();
    }
    count
}

/// Ask the allocator to return free memory to the system.
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
