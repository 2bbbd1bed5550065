//! Clock helpers for tests: deadlines, wall-clock seconds, and polling until a condition holds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The instant `secs` seconds from now, for the `deadline` arguments.
pub fn deadline_in(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// Wall-clock seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock before 1970").as_secs() as i64
}

/// Polls `f` every 20 ms until it returns true (→ true) or `deadline` passes
/// (→ false). `f` is always called at least once.
pub fn wait_until(deadline: Instant, mut f: impl FnMut() -> bool) -> bool {
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
