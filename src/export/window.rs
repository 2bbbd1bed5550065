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
    /// and remember them as handed out. The first call hands out one window. After
    /// [`Windows::continue_from`] with another `update every`, the first window runs from where
    /// the previous ones ended to the next multiple of this one's `update every`.
    pub fn due(&mut self, now: i64, chart_ue: u32) -> Vec<Window> {
        let end = self.end_at(now, chart_ue);
        let every = self.every;
        let last = *self.last_end.entry(chart_ue).or_insert(end - every);
        if end <= last {
            return Vec::new();
        }
        // Every multiple of `every` in (last, end] ends a window.
        let first_end = (last.div_euclid(every) + 1) * every;
        let count = ((end - first_end) / every + 1) as usize;
        let (mut after, mut e) = (last, first_end);
        if count > self.max_catch_up {
            e = end - (self.max_catch_up as i64 - 1) * every;
            after = e - every;
        }
        self.last_end.insert(chart_ue, end);
        let mut out = Vec::with_capacity(count.min(self.max_catch_up));
        while e <= end {
            out.push(Window { after, end: e });
            after = e;
            e += every;
        }
        out
    }

    /// Seconds per window.
    pub fn every(&self) -> i64 {
        self.every
    }

    /// The windows that end at the multiples of `every` in `(after, end]`, oldest first, the
    /// first starting at `after`; at most the newest `max_catch_up` of them.
    pub fn between(&self, after: i64, end: i64) -> Vec<Window> {
        let every = self.every;
        if end <= after {
            return Vec::new();
        }
        let mut e = (after.div_euclid(every) + 1) * every;
        let mut a = after;
        let count = if e > end { 0 } else { ((end - e) / every + 1) as usize };
        if count > self.max_catch_up {
            e += (count - self.max_catch_up) as i64 * every;
            a = e - every;
        }
        let mut out = Vec::with_capacity(count.min(self.max_catch_up));
        while e <= end {
            out.push(Window { after: a, end: e });
            a = e;
            e += every;
        }
        out
    }

    /// The `update every` of the charts windows were handed out for, and the end of the last.
    pub fn last_ends(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        self.last_end.iter().map(|(&ue, &end)| (ue, end))
    }

    /// Windows of `every` seconds that go on exactly where `previous` stopped, so that an
    /// exporter restarted with new settings neither skips nor repeats a slot.
    pub fn continue_from(previous: Windows, every: u32) -> Windows {
        Windows { every: every.max(1) as i64, ..previous }
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
    fn continuing_with_another_interval_neither_skips_nor_repeats_a_slot() {
        // From 10 s windows to 5 s: the next windows start at the last end.
        let mut w = Windows::new(10, 100);
        assert_eq!(w.due(1000, 1), vec![Window { after: 980, end: 990 }]);
        let mut w = Windows::continue_from(w, 5);
        assert_eq!(w.due(1003, 1), vec![Window { after: 990, end: 995 }, Window { after: 995, end: 1000 }]);
        // From 5 s windows to 10 s, the last end not a multiple of 10: one shorter window first.
        let mut w = Windows::new(5, 100);
        assert_eq!(w.due(1002, 1), vec![Window { after: 995, end: 1000 }]);
        assert_eq!(w.due(1007, 1), vec![Window { after: 1000, end: 1005 }]);
        let mut w = Windows::continue_from(w, 10);
        assert_eq!(w.due(1009, 1), vec![]);
        assert_eq!(w.due(1012, 1), vec![Window { after: 1005, end: 1010 }]);
        assert_eq!(w.due(1022, 1), vec![Window { after: 1010, end: 1020 }]);
    }

    #[test]
    fn windows_between_two_ends_meet_and_keep_the_newest() {
        let w = Windows::new(10, 3);
        assert_eq!(
            w.between(985, 1010),
            vec![
                Window { after: 985, end: 990 },
                Window { after: 990, end: 1000 },
                Window { after: 1000, end: 1010 }
            ]
        );
        assert_eq!(w.between(990, 995), vec![]);
        assert_eq!(w.between(1000, 1000), vec![]);
        assert_eq!(
            w.between(900, 1010),
            vec![
                Window { after: 980, end: 990 },
                Window { after: 990, end: 1000 },
                Window { after: 1000, end: 1010 }
            ]
        );
        let w = Windows::new(1, 100);
        assert_eq!(w.between(5, 8).iter().map(|x| x.end).collect::<Vec<_>>(), vec![6, 7, 8]);
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
