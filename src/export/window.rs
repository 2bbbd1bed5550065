//! Export windows: which completed slots an exporter wake-up covers.
//!
//! One job: given the wake-up time, the exporter's `update every` (U) and a chart's own
//! `update every`, list the windows `(after, end]` that are due, each exactly once.
//!
//! A slot can only be read once its collection has surely happened, so a window ends two
//! collection intervals behind the wake-up: `end = align_down(now - 2 × chart_ue, U)`. The next
//! window starts where the previous one ended, so consecutive windows meet with no gap and no
//! overlap. When wake-ups were missed (a slow walk, a suspended process), every missed interval
//! is returned as its own window, never merged.
//!
//! Pure: the clock is passed in.

use std::collections::HashMap;

/// A window of slots `(after, end]`; `end` is also the timestamp sent for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// Exclusive start.
    pub after: i64,
    /// Inclusive end, a multiple of the exporter's `update every`.
    pub end: i64,
}

/// Windows already handed out, per chart `update every`.
#[derive(Debug)]
pub struct Windows {
    every: i64,
    max_catch_up: usize,
    last_end: HashMap<u32, i64>,
}

impl Windows {
    /// Windows of `every` seconds. At most `max_catch_up` missed windows are returned at once;
    /// older ones are skipped (their slots have left the ring anyway).
    pub fn new(every: u32, max_catch_up: usize) -> Windows {
        Windows { every: every.max(1) as i64, max_catch_up: max_catch_up.max(1), last_end: HashMap::new() }
    }

    /// The end of the window due at `now` for charts collected every `chart_ue` seconds.
    pub fn end_at(&self, now: i64, chart_ue: u32) -> i64 {
        let e = now - 2 * chart_ue.max(1) as i64;
        e.div_euclid(self.every) * self.every
    }

    /// The end of the last window handed out for charts collected every `chart_ue` seconds.
    pub fn last_end(&self, chart_ue: u32) -> Option<i64> {
        self.last_end.get(&chart_ue).copied()
    }

    /// The windows due at `now` for charts collected every `chart_ue` seconds, oldest first,
    /// and remember them as handed out. The first call hands out one window.
    pub fn due(&mut self, now: i64, chart_ue: u32) -> Vec<Window> {
        let end = self.end_at(now, chart_ue);
        let every = self.every;
        let last = *self.last_end.entry(chart_ue).or_insert(end - every);
        if end <= last {
            return Vec::new();
        }
        let mut first_end = last + every;
        let count = ((end - last) / every) as usize;
        if count > self.max_catch_up {
            first_end = end - (self.max_catch_up as i64 - 1) * every;
        }
        self.last_end.insert(chart_ue, end);
        let mut out = Vec::with_capacity(count.min(self.max_catch_up));
        let mut e = first_end;
        while e <= end {
            out.push(Window { after: e - every, end: e });
            e += every;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ends_two_collection_intervals_behind_the_wake_up() {
        let mut w = Windows::new(10, 100);
        assert_eq!(w.due(1000, 1), vec![Window { after: 980, end: 990 }]);
        assert_eq!(w.due(1010, 1), vec![Window { after: 990, end: 1000 }]);
        assert_eq!(w.due(1020, 1), vec![Window { after: 1000, end: 1010 }]);
    }

    #[test]
    fn consecutive_windows_meet_with_no_gap_and_no_overlap() {
        let mut w = Windows::new(2, 100);
        let mut all = vec![];
        for now in (100..200).step_by(2) {
            all.extend(w.due(now, 1));
        }
        for pair in all.windows(2) {
            assert_eq!(pair[0].end, pair[1].after);
        }
        assert!(all.iter().all(|x| x.end % 2 == 0 && x.end - x.after == 2));
        assert_eq!(all.len(), 50);
    }

    #[test]
    fn a_late_wake_up_gets_every_missed_window_separately() {
        let mut w = Windows::new(10, 100);
        w.due(1000, 1);
        // Woken at 1043 instead of 1010: the windows ending 1000 to 1040 are all due.
        assert_eq!(
            w.due(1043, 1),
            (1000..=1040).step_by(10).map(|end| Window { after: end - 10, end }).collect::<Vec<_>>()
        );
        assert_eq!(w.due(1045, 1), vec![]);
        assert_eq!(w.due(1052, 1), vec![Window { after: 1040, end: 1050 }]);
    }

    #[test]
    fn an_early_or_repeated_wake_up_hands_out_nothing_twice() {
        let mut w = Windows::new(5, 100);
        assert_eq!(w.due(100, 1).len(), 1);
        assert_eq!(w.due(100, 1).len(), 0);
        assert_eq!(w.due(101, 1).len(), 0);
    }

    #[test]
    fn slow_charts_lag_by_their_own_interval() {
        let mut w = Windows::new(10, 100);
        assert_eq!(w.end_at(1000, 1), 990);
        assert_eq!(w.end_at(1000, 5), 990);
        assert_eq!(w.end_at(1000, 10), 980);
        assert_eq!(w.due(1000, 10), vec![Window { after: 970, end: 980 }]);
    }

    #[test]
    fn catch_up_is_bounded() {
        let mut w = Windows::new(1, 3);
        w.due(100, 1);
        let due = w.due(200, 1);
        assert_eq!(due.len(), 3);
        assert_eq!(due.last().unwrap().end, 198);
        assert_eq!(due[0], Window { after: 195, end: 196 });
    }
}
