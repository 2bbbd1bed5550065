//! Wall-clock time in the units the agent keeps it in.
//!
//! One job: read the system clock once per call and say it in one unit. Timestamps of collected
//! values are microseconds since the Unix epoch (`_ut`, as netdata names them); the API speaks
//! milliseconds and seconds. A clock before 1970 reads as 0.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds in a second: converts `_ut` timestamps to and from seconds.
pub const USEC_PER_SEC: u64 = 1_000_000;

/// Microseconds since the Unix epoch.
pub fn now_ut() -> u64 {
    since_epoch().as_micros() as u64
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    since_epoch().as_millis() as u64
}

/// Seconds since the Unix epoch.
pub fn now_s() -> i64 {
    since_epoch().as_secs() as i64
}

fn since_epoch() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
