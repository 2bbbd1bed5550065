//! Each scraper's averaging window, per host, and the slots a chart's window covers.
//!
//! One job: netdata's rule for which slots an average or sum scrape reads. A scraper (named by
//! `server=`) is remembered per host with the time of its last request; its next request
//! covers `(last request, now]`, its first the last `[prometheus:exporter] update every` seconds (10 by default). Entries unseen
//! for [`FORGET_AFTER_S`] are forgotten and at most [`MAX_SCRAPERS`] are kept (the oldest go
//! first), so clients inventing names cannot grow memory. Pure apart from the lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A scraper not seen for this long starts again with a first window.
pub const FORGET_AFTER_S: i64 = 24 * 3600;

/// Scraper × host entries kept at most.
pub const MAX_SCRAPERS: usize = 4096;

/// Each scraper's last request, per host; and the size of the last answer of each format, to
/// size the next one's buffer in one allocation. Shared by the server's threads: the lock is
/// held to read and update one entry, never while the store is read.
#[derive(Debug, Default)]
pub struct Scrapers {
    /// `server NUL host` → seconds of its last request.
    last_access: Mutex<HashMap<String, i64>>,
    /// Bytes of the last answer, per format.
    last_size: [AtomicUsize; 4],
}

impl Scrapers {
    /// Records a request of `server` for `host` at `now_s`; returns the time of its previous
    /// one, `None` for the first (or after it was forgotten).
    pub fn swap_last_access(&self, server: &str, host: &str, now_s: i64) -> Option<i64> {
        let key = format!("{server}\0{host}");
        let mut map = self.last_access.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = map.get_mut(&key) {
            let previous = std::mem::replace(last, now_s);
            if now_s - previous <= FORGET_AFTER_S {
                return Some(previous);
            }
        }
        // A new (or forgotten) scraper: the stale entries go, and the oldest if still full.
        map.retain(|_, &mut t| now_s - t <= FORGET_AFTER_S);
        if map.len() >= MAX_SCRAPERS {
            if let Some(oldest) = map.iter().min_by_key(|(_, &t)| t).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        map.entry(key).or_insert(now_s);
        None
    }

    /// Scraper × host entries remembered.
    pub fn len(&self) -> usize {
        self.last_access.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no scraper is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity to start format `format`'s next answer with: the last one's size and an
    /// eighth more.
    pub(super) fn expected_size(&self, format: usize) -> usize {
        let last = self.last_size[format].load(Ordering::Relaxed);
        last + last / 8
    }

    /// Remembers the size of an answer of format `format`.
    pub(super) fn remember_size(&self, format: usize, len: usize) {
        self.last_size[format].store(len, Ordering::Relaxed);
    }
}

/// The slots `[first, last]` (both inclusive) a chart updated every `update_every` seconds
/// contributes to a scrape covering `(after, before]`, as netdata computes them: both ends
/// step back two intervals (so that every dimension of the chart was stored), are aligned
/// down to the interval, and the last slot steps back one more (it is reported next time);
/// a window shorter than one slot becomes the last slot alone. `None` when the chart holds
/// no slot in it (`stored` is the chart's first and last stored slot).
pub fn chart_window(after: i64, before: i64, update_every: u32, stored: (i64, i64)) -> Option<(i64, i64)> {
    let ue = update_every.max(1) as i64;
    let mut first = after - 2 * ue;
    let mut last = before - 2 * ue;
    first -= first.rem_euclid(ue);
    last -= last.rem_euclid(ue);
    last -= ue;
    first = first.min(last).max(stored.0);
    last = last.min(stored.1);
    (last >= stored.0 && first <= stored.1).then_some((first, last))
}
