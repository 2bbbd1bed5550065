//! Which points a `/api/v1/data` request gets: netdata 1.37's window rules.
//!
//! One job: from `after`, `before`, `points`, `gtime` and the chart's stored range, decide the
//! time of the last point, how many points, and how many slots each groups. Pure: now is
//! passed in.
//!
//! The rules (netdata's `query_target_calculate_window` and `rrdr_relative_window_to_absolute`):
//! * `after`/`before` up to 3 years in magnitude are relative: `before` to now − 1 s, `after`
//!   to `before` (`after = before + after + 1`, so that `after=-5` gives 5 points); positive
//!   relative values count as negative; `before = 0` is the newest stored slot, `after = 0`
//!   the oldest; a window in the future is shifted back to now;
//! * `points = 0` asks for every slot; otherwise the slots are grouped so that at most
//!   `points` points cover the window, the group rounded to the nearest integer;
//! * `gtime` makes the group a multiple of `gtime` seconds;
//! * unless `unaligned`, the last point's time is a multiple of the group's duration, so the
//!   same slots fall into the same point from one request to the next.
//!
//! Slots of a chart whose `update every` exceeds 1 s are never split across points: points are
//! always whole slots (netdata's "natural points"; its "virtual points" interpolate between
//! slots, which a store without tiers does not need).

use super::request::{opt, RELATIVE_TIME_MAX};

/// The parameters the window depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowRequest {
    /// `after` as given.
    pub after: i64,
    /// `before` as given.
    pub before: i64,
    /// `points` as given (0: every slot).
    pub points: i64,
    /// `gtime` as given (0: none).
    pub gtime: i64,
    /// Option bits.
    pub options: u32,
}

/// The chart's stored range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Oldest and newest slot times, if any slot is stored.
    pub range: Option<(i64, i64)>,
    /// Seconds per slot.
    pub update_every: i64,
    /// Slots the chart keeps: no answer has more points, so that its memory stays within what
    /// the chart itself holds (netdata allows 86 400 points whatever the chart).
    pub history: usize,
}

/// The points of an answer: point `k` (0 = oldest) is at `before − (points − 1 − k) × step`
/// and groups the slots in `(its time − step, its time]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// The newest point's time.
    pub before: i64,
    /// Number of points.
    pub points: usize,
    /// Slots per point.
    pub group: i64,
    /// Seconds per slot of the query.
    pub granularity: i64,
    /// `average` divides by this instead of the count when `gtime` asked for resampling.
    pub resampling_divisor: Option<f64>,
    /// The option bits, with `natural-points` or `virtual-points` as netdata reports them.
    pub options: u32,
}

impl Window {
    /// Seconds per point.
    pub fn step(&self) -> i64 {
        self.group * self.granularity
    }

    /// The oldest point's time.
    pub fn first_point(&self) -> i64 {
        self.before - (self.points as i64 - 1) * self.step()
    }
}

/// netdata's relative → absolute conversion; `now` is the wall clock in seconds.
fn relative_to_absolute(after: i64, before: i64, now: i64) -> (i64, i64) {
    let now = now - 1;
    let mut before = before;
    let mut after = after;
    if before.abs() <= RELATIVE_TIME_MAX {
        before = now - before.abs();
    }
    if after.abs() <= RELATIVE_TIME_MAX {
        let a = if after == 0 { -600 } else { -after.abs() };
        after = before + a + 1;
    }
    if after > before {
        std::mem::swap(&mut after, &mut before);
    }
    if before > now {
        let delta = before - now;
        before -= delta;
        after -= delta;
    }
    let (lowest, highest) = (now - 10 * 365 * 86_400, now + 365 * 86_400);
    (after.clamp(lowest, highest), before.clamp(lowest, highest))
}

/// The window of a request over a chart, at wall-clock second `now`.
pub fn window(req: WindowRequest, stored: Stored, now: i64) -> Window {
    let ue = stored.update_every.max(1);
    let mut options = req.options;
    let aligned = options & opt::NOT_ALIGNED == 0;
    let automatic_points = req.points == 0;
    let relative = req.before.abs() <= RELATIVE_TIME_MAX || req.after.abs() <= RELATIVE_TIME_MAX;
    let natural = (options & opt::NATURAL_POINTS != 0 || automatic_points || relative)
        && options & opt::VIRTUAL_POINTS == 0;
    options |= if natural { opt::NATURAL_POINTS } else { opt::VIRTUAL_POINTS };
    options &= !if natural { opt::VIRTUAL_POINTS } else { opt::NATURAL_POINTS };

    let mut points = req.points.max(0) as u64;
    let (mut after, mut before) = (req.after, req.before);
    let mut before_is_db_end = false;
    if after == 0 || before == 0 {
        // Without a stored slot, the newest possible one stands in: every point is empty.
        let (first, last) = stored.range.unwrap_or((now - 1, now - 1));
        if after == 0 {
            after = first;
        }
        if before == 0 {
            before = last;
            before_is_db_end = true;
        }
    }
    if points == 0 {
        points = 600;
    }
    (after, before) = relative_to_absolute(after, before, now);

    // Natural points are the chart's own slots; so are the points of a chart slower than 1 s.
    let granularity = ue;
    before -= before.rem_euclid(granularity);
    after -= after.rem_euclid(granularity);
    if automatic_points {
        points = (((before - after + 1) / granularity).max(1)) as u64;
    }
    let mut duration = before - after;
    let gtime = req.gtime;
    if gtime > duration {
        after = before - gtime;
        duration = before - after;
    }
    if gtime > granularity && duration % gtime != 0 {
        let delta = duration % gtime;
        if delta > gtime / 10 {
            after -= gtime - delta;
            duration = before - after;
        }
    }
    let available = ((duration + 1) / granularity).max(1) as u64;
    points = points.min(available).min(86_400).min(stored.history.max(1) as u64);
    let mut group = (available / points).max(1);
    if available % points > points / 2 {
        group += 1;
    }
    if points * group * (granularity as u64) < duration as u64 {
        points = available / group;
        if points * group < available {
            points += 1;
        }
        points = points.max(1);
    }
    let mut resampling_divisor = None;
    if gtime > granularity {
        let mut rg = (gtime / granularity) as u64;
        if gtime % granularity != 0 {
            rg += 1;
        }
        group = group.max(rg);
        if !group.is_multiple_of(rg) {
            group += rg - group % rg;
        }
        resampling_divisor = Some((group * granularity as u64) as f64 / gtime as f64);
    }
    // Never more points than slots kept: a wider window gets fewer points, never more memory.
    points = points.min(stored.history.max(1) as u64);
    let step = group as i64 * granularity;
    if aligned && before.rem_euclid(step) != 0 {
        if before_is_db_end {
            before -= before.rem_euclid(step);
        } else {
            before += step - before.rem_euclid(step);
        }
    }
    Window { before, points: points as usize, group: group as i64, granularity, resampling_divisor, options }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_657_042;

    fn req(after: i64, before: i64, points: i64) -> WindowRequest {
        WindowRequest { after, before, points, gtime: 0, options: 0 }
    }

    fn stored(first: i64, last: i64, ue: i64) -> Stored {
        Stored { range: Some((first, last)), update_every: ue, history: 3600 }
    }

    fn span(w: &Window) -> (i64, i64, usize, i64) {
        (w.first_point(), w.before, w.points, w.group)
    }

    /// What netdata 1.37.1 answered at this second: `after=-5` → 5 points 037..041 (before is
    /// now − 1 even though slot 042 is stored).
    #[test]
    fn relative_windows_end_a_second_before_now() {
        let s = stored(1_796_656_979, NOW, 1);
        let w = window(req(-5, 0, 0), s, NOW);
        assert_eq!(span(&w), (1_796_657_037, 1_796_657_041, 5, 1));
        assert_eq!(w.options, opt::NATURAL_POINTS);
        // after=-5 with before=-10: 5 points ending 11 s ago.
        let w = window(req(-5, -10, 0), s, NOW);
        assert_eq!(span(&w), (1_796_657_027, 1_796_657_031, 5, 1));
        // Positive relative values count as negative.
        assert_eq!(span(&window(req(5, 10, 0), s, NOW)), span(&w));
    }

    /// `before=0` is the newest stored slot when it is older than now − 1; aligned to the group
    /// by going back, never forward past the data.
    #[test]
    fn before_zero_is_the_newest_slot_and_aligns_backwards() {
        let s = stored(1000, 1_796_657_030, 1);
        let w = window(req(-60, 0, 6), s, NOW);
        // 60 s in 6 points of 10 slots, the last at a multiple of 10 at or before 030.
        assert_eq!(span(&w), (1_796_656_980, 1_796_657_030, 6, 10));
        let s = stored(1000, 1_796_657_036, 1);
        let w = window(req(-60, 0, 6), s, NOW);
        assert_eq!(span(&w), (1_796_656_980, 1_796_657_030, 6, 10));
        // Unaligned: ends at the newest slot.
        let w = window(WindowRequest { options: opt::NOT_ALIGNED, ..req(-60, 0, 6) }, s, NOW);
        assert_eq!(span(&w), (1_796_656_986, 1_796_657_036, 6, 10));
    }

    /// An absolute `before` that is not a multiple of the group moves forward to one.
    #[test]
    fn absolute_windows_align_forward() {
        let s = stored(1000, NOW, 1);
        let w = window(req(1_796_656_000, 1_796_656_055, 6), s, NOW);
        assert_eq!(w.group, 9, "56 slots in 6 points: 9.33 rounds to 9");
        assert_eq!(w.before, 1_796_656_059, "the next multiple of 9");
        assert_eq!(w.points, 7, "6 × 9 = 54 < 55: one more point covers the rest");
        assert_eq!(w.options, opt::VIRTUAL_POINTS);
        // Group rounding: 56 slots in 5 points → 11.2 → 11; 58 in 4 → 14.5 → 15.
        assert_eq!(window(req(1_796_656_000, 1_796_656_055, 5), s, NOW).group, 11);
        assert_eq!(window(req(1_796_656_000, 1_796_656_057, 4), s, NOW).group, 14);
        assert_eq!(window(req(1_796_656_000, 1_796_656_058, 4), s, NOW).group, 15);
    }

    #[test]
    fn slower_charts_count_whole_slots() {
        let s = stored(1_796_650_000, 1_796_657_040, 10);
        let w = window(req(-600, 0, 0), s, NOW);
        assert_eq!(span(&w), (1_796_656_450, 1_796_657_040, 60, 1));
        let w = window(req(-600, 0, 20), s, NOW);
        assert_eq!((w.points, w.group, w.step()), (20, 3, 30));
        assert_eq!(w.before % 30, 0);
    }

    #[test]
    fn gtime_makes_the_group_a_multiple_of_it() {
        let s = stored(1000, NOW, 1);
        // netdata keeps the 600 points every slot would have made, each now 60 slots wide.
        let w = window(WindowRequest { gtime: 60, ..req(-600, 0, 0) }, s, NOW);
        assert_eq!((w.points, w.group, w.before), (600, 60, 1_796_657_040), "a multiple of 60");
        assert_eq!(w.resampling_divisor, Some(1.0));
        let w = window(WindowRequest { gtime: 60, ..req(-600, 0, 5) }, s, NOW);
        assert_eq!((w.points, w.group), (5, 120));
        assert_eq!(w.resampling_divisor, Some(2.0));
    }

    /// A window of years on a chart of an hour: at most an hour of points, each wider.
    #[test]
    fn points_never_outnumber_the_slots_a_chart_keeps() {
        let s = Stored { range: Some((NOW - 3599, NOW - 1)), update_every: 1, history: 3600 };
        let w = window(req(-RELATIVE_TIME_MAX, 0, 0), s, NOW);
        assert_eq!(w.points, 3600);
        assert!(w.step() as usize * w.points >= RELATIVE_TIME_MAX as usize - w.step() as usize);
        let w = window(req(-RELATIVE_TIME_MAX, 0, 86_400), s, NOW);
        assert_eq!(w.points, 3600);
        let w = window(req(-7200, 0, 0), Stored { history: 100, ..s }, NOW);
        assert_eq!((w.points, w.group), (100, 72));
    }

    #[test]
    fn no_data_gives_a_window_ending_now() {
        let s = Stored { range: None, update_every: 1, history: 3600 };
        let w = window(req(-10, 0, 0), s, NOW);
        assert_eq!(span(&w), (NOW - 10, NOW - 1, 10, 1));
    }
}
