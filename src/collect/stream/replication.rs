//! Replication: a child replays the slots its parent is missing, as netdata 1.37 does it.
//!
//! One job: decide what to ask a child for, and store what it replays. A child that was
//! answered the `REPLICATION` capability ends each chart's definition with
//! `CHART_DEFINITION_END first last world` (the slots it stores) and holds that chart's data
//! until the parent answers `REPLAY_CHART "id" "true|false" after before`. The child replies
//! with `RBEGIN "id"`, then per slot `RBEGIN '' start end wall` and one `RSET "dim" value "flags"`
//! per dimension (the values it stored, after algorithm, multiplier and divisor), and, once it
//! streams the chart again, `RDSTATE`/`RSSTATE` (where its collection stands), then
//! `REND update_every first last start_streaming after before wall`. With `start_streaming`
//! false the parent asks for the next step; with true the child streams BEGIN/SET/END again.
//! A request `after = before = 0` asks for nothing and only starts streaming.
//!
//! What is asked for (netdata's `replicate_chart_request`): the gap from this parent's newest
//! slot of the chart (or, for a chart it has nothing of, `seconds to replicate` back, and never
//! more than the ring keeps) to now, from what the child has, at most
//! `seconds per replication step` per request.
//!
//! Replayed slots are written into the past of the chart's ring ([`Chart::store_replayed`]);
//! the chart is marked as replicating meanwhile ([`Chart::begin_replication`]) so that
//! exporters wait for it and then send the late slots once. [`Request`] and [`request`] are
//! pure; [`Replayer`] applies the child's lines to the store and writes no socket: the lines to
//! send wait in [`Replayer::take_output`].

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use tracing::{debug, info, warn};

use crate::collect::plugins_d::parser::Replay;
use crate::logs::Escaped;
use crate::rrd::storage_number::{self, SN_EMPTY, SN_EXISTS, SN_EXISTS_RESET};
use crate::rrd::{Chart, Host};

/// Default of `seconds to replicate`, as netdata 1.37.
pub const DEFAULT_SECONDS: u64 = 86_400;
/// Default of `seconds per replication step`, as netdata 1.37.
pub const DEFAULT_STEP: u64 = 600;

/// How much a parent asks its children for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `enable replication`: offer the capability at all.
    pub enabled: bool,
    /// `seconds to replicate`: how far back a chart this parent has nothing of is filled.
    pub seconds: u64,
    /// `seconds per replication step`: the longest span asked for at once.
    pub step: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { enabled: true, seconds: DEFAULT_SECONDS, step: DEFAULT_STEP }
    }
}

/// One `REPLAY_CHART` request: slots `(after, before]`, and whether the child is to stream
/// the chart once it has sent them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Exclusive start; 0 with `before` 0: nothing.
    pub after: u64,
    /// Inclusive end.
    pub before: u64,
    /// Whether the child streams the chart after this reply.
    pub start_streaming: bool,
}

impl Request {
    /// Nothing to replay: the child only starts streaming.
    pub const NOTHING: Request = Request { after: 0, before: 0, start_streaming: true };

    /// The line that asks it, newline included.
    pub fn line(&self, chart: &str) -> String {
        format!("REPLAY_CHART \"{chart}\" \"{}\" {} {}\n", self.start_streaming, self.after, self.before)
    }
}

/// What the parent knows when it asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// Its newest slot of the chart.
    pub local_last: Option<u64>,
    /// The longest span its ring keeps (history × update every), in seconds.
    pub keeps: u64,
    /// The `before` of the previous request of this replication, if any.
    pub previous_before: Option<u64>,
    /// The child's oldest and newest slot.
    pub child: (u64, u64),
    /// The chart has dimensions.
    pub has_dimensions: bool,
    /// The parent's wall clock.
    pub now: u64,
}

/// What to ask for next (netdata 1.37's `replicate_chart_request`, bounded by the ring).
pub fn request(s: &Settings, k: &Known) -> Request {
    let (child_first, child_last) = k.child;
    if !s.enabled || child_last == 0 || child_first == 0 || child_first > child_last || !k.has_dimensions {
        return Request::NOTHING;
    }
    let local_last = k.local_last.map(|l| l.min(k.now));
    if local_last.is_some_and(|l| l > child_last) {
        return Request::NOTHING;
    }
    let reach = s.seconds.min(k.keeps);
    let from = match (k.previous_before, local_last) {
        (Some(b), _) => b,
        (None, Some(l)) => l,
        (None, None) => k.now.saturating_sub(reach),
    };
    // Never before what the ring keeps.
    let from = from.max(k.now.saturating_sub(reach));
    let after = from.max(child_first);
    let mut before = if k.now.saturating_sub(after) > s.step { after + s.step } else { k.now };
    before = before.min(child_last);
    let after = after.min(before);
    let start_streaming = k.now.saturating_sub(after) <= s.step || before == child_last;
    Request { after, before, start_streaming }
}

/// One chart's replication in this connection.
struct ChartReplay {
    chart: Arc<Chart>,
    /// The `before` of the last request, while a replication goes on.
    previous_before: Option<u64>,
    /// Whether the chart is marked as replicating in the store.
    marked: bool,
}

/// The slot whose values are arriving (after `RBEGIN '' start end`).
struct Slot {
    t: i64,
    values: Vec<(usize, u32)>,
}

/// Counters of one connection's replication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// `REPLAY_CHART` requests sent.
    pub requests: u64,
    /// Replayed slots stored.
    pub slots: u64,
    /// Replayed slots refused: not aligned, older than the ring, or already holding values.
    pub refused: u64,
}

/// What applying a line changed that the session must know.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing for the session.
    Done,
    /// The chart's collection now stands at this time (µs): the next BEGIN counts from it.
    Continues {
        /// The chart.
        chart: String,
        /// Its last collection (µs).
        last_collected_ut: u64,
    },
}

/// One connection's replication state; see the module docs.
pub struct Replayer {
    settings: Settings,
    host: Arc<Host>,
    charts: HashMap<String, ChartReplay>,
    /// The chart of the last `RBEGIN "id"`.
    current: Option<String>,
    slot: Option<Slot>,
    /// `RDSTATE` values of the current chart: (dimension index, last collected µs, raw value).
    states: Vec<(usize, u64, i64)>,
    out: Vec<u8>,
    stats: ReplayStats,
}

impl Replayer {
    /// Replication into `host`, asking as `settings` say.
    pub fn new(settings: Settings, host: Arc<Host>) -> Replayer {
        Replayer {
            settings,
            host,
            charts: HashMap::new(),
            current: None,
            slot: None,
            states: Vec::new(),
            out: Vec::new(),
            stats: ReplayStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// The lines to send to the child, if any; taken once.
    pub fn take_output(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// Apply one replication line that arrived at `now` (seconds); `defined` is the chart of
    /// the last CHART line (the one a `CHART_DEFINITION_END` ends). `Err` says why it was not.
    pub fn apply(
        &mut self,
        r: Replay<'_>,
        defined: Option<&Arc<Chart>>,
        now: u64,
    ) -> Result<Applied, String> {
        match r {
            Replay::DefinitionEnd { first, last, .. } => {
                let chart = defined.ok_or("CHART_DEFINITION_END before any CHART")?;
                self.definition_end(chart, first, last, now);
                Ok(Applied::Done)
            }
            Replay::Begin { id, span, .. } => self.begin(&id, span),
            Replay::Set { id, value, reset } => self.set(&id, value, reset),
            Replay::DimensionState { id, last_collected_ut, last_collected_value } => {
                self.flush_slot();
                let chart = self.current_chart()?;
                let i = chart.dimension_index(&id).ok_or_else(|| {
                    format!("RDSTATE of dimension '{}' the chart does not have", Escaped::str(&id))
                })?;
                self.states.push((i, last_collected_ut, last_collected_value));
                Ok(Applied::Done)
            }
            Replay::ChartState { last_collected_ut, .. } => {
                self.flush_slot();
                let chart = self.current_chart()?;
                let states = std::mem::take(&mut self.states);
                chart.restore_collection(last_collected_ut, &states);
                Ok(Applied::Continues { chart: chart.id().to_string(), last_collected_ut })
            }
            Replay::End { first, last, start_streaming, before, .. } => {
                self.flush_slot();
                self.states.clear();
                let id = self.current.take().ok_or("REND without RBEGIN")?;
                self.end(&id, (first, last), start_streaming, before, now);
                Ok(Applied::Done)
            }
        }
    }

    /// `CHART_DEFINITION_END`: ask for what this parent is missing of `chart`.
    fn definition_end(&mut self, chart: &Arc<Chart>, first: u64, last: u64, now: u64) {
        let id = chart.id().to_string();
        let entry = self.charts.entry(id.clone()).or_insert_with(|| ChartReplay {
            chart: chart.clone(),
            previous_before: None,
            marked: false,
        });
        if entry.marked {
            // The chart was defined again while its replication goes on: as netdata, the
            // request in flight stands.
            return;
        }
        entry.previous_before = None;
        self.ask(&id, (first, last), now);
    }

    /// Send the next request for chart `id`, whose child stores slots `child`.
    fn ask(&mut self, id: &str, child: (u64, u64), now: u64) {
        let Some(entry) = self.charts.get_mut(id) else { return };
        let known = {
            let d = entry.chart.read();
            Known {
                local_last: d.last_entry_t().filter(|&t| t > 0).map(|t| t as u64),
                keeps: (d.history() as u64 - 1) * d.update_every() as u64,
                previous_before: entry.previous_before,
                child,
                has_dimensions: !d.dims.is_empty(),
                now,
            }
        };
        let req = request(&self.settings, &known);
        if req != Request::NOTHING && !entry.marked {
            entry.chart.begin_replication(req.after as i64);
            entry.marked = true;
        }
        entry.previous_before = Some(req.before);
        debug!(chart = %Escaped::str(id), after = req.after, before = req.before, start_streaming = req.start_streaming, "asking the child to replay");
        self.stats.requests += 1;
        let _ = self.out.write_all(req.line(id).as_bytes());
    }

    /// `REND`: the chart streams again, or the next step is asked for.
    fn end(&mut self, id: &str, child: (u64, u64), start_streaming: bool, before: u64, now: u64) {
        let Some(entry) = self.charts.get_mut(id) else { return };
        if start_streaming {
            if entry.marked {
                entry.chart.end_replication();
                entry.marked = false;
            }
            entry.previous_before = None;
            return;
        }
        entry.previous_before = Some(before);
        self.ask(id, child, now);
    }

    fn current_chart(&self) -> Result<Arc<Chart>, String> {
        let id = self.current.as_deref().ok_or("a replication line without RBEGIN")?;
        self.charts
            .get(id)
            .map(|c| c.chart.clone())
            .ok_or_else(|| format!("replay of chart '{}' that was not asked for", Escaped::str(id)))
    }

    /// `RBEGIN "id"` (a reply starts) or `RBEGIN '' start end` (a slot's values follow).
    fn begin(&mut self, id: &str, span: Option<(u64, u64)>) -> Result<Applied, String> {
        self.flush_slot();
        if !id.is_empty() {
            self.states.clear();
            if !self.charts.contains_key(id) {
                // A reply to a request of an earlier connection: store it all the same.
                let chart = self
                    .host
                    .chart(id)
                    .ok_or_else(|| format!("RBEGIN of chart '{}' that was not defined", Escaped::str(id)))?;
                self.charts
                    .insert(id.to_string(), ChartReplay { chart, previous_before: None, marked: false });
            }
            self.current = Some(id.to_string());
        } else if self.current.is_none() {
            return Err("RBEGIN '' without a chart".into());
        }
        if let Some((start, end)) = span {
            if start >= end || end > i64::MAX as u64 {
                return Err(format!("RBEGIN with a slot from {start} to {end}"));
            }
            self.slot = Some(Slot { t: end as i64, values: Vec::new() });
        }
        Ok(Applied::Done)
    }

    /// `RSET "dim" value "flags"`: one value of the slot of the last `RBEGIN`.
    fn set(&mut self, id: &str, value: Option<f64>, reset: bool) -> Result<Applied, String> {
        let chart = self.current_chart()?;
        let Some(slot) = self.slot.as_mut() else {
            return Err("RSET without a slot (RBEGIN '' start end)".into());
        };
        let i = chart
            .dimension_index(id)
            .ok_or_else(|| format!("RSET of dimension '{}' the chart does not have", Escaped::str(id)))?;
        let n = match value {
            Some(v) => storage_number::pack(v, if reset { SN_EXISTS_RESET } else { SN_EXISTS }),
            None => SN_EMPTY,
        };
        slot.values.push((i, n));
        Ok(Applied::Done)
    }

    /// Store the slot whose values have all arrived.
    fn flush_slot(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let Ok(chart) = self.current_chart() else { return };
        if chart.store_replayed(slot.t, &slot.values) {
            self.stats.slots += 1;
        } else {
            self.stats.refused += 1;
        }
    }
}

impl Drop for Replayer {
    /// A connection that ends mid-replication leaves no chart waiting for it.
    fn drop(&mut self) {
        let unfinished: Vec<&str> =
            self.charts.iter().filter(|(_, c)| c.marked).map(|(id, _)| id.as_str()).collect();
        if !unfinished.is_empty() {
            warn!(
                charts = unfinished.len(),
                "the connection ended before the child finished replaying; the rest of the gap stays empty"
            );
        }
        for c in self.charts.values().filter(|c| c.marked) {
            c.chart.end_replication();
        }
        if self.stats.requests > 0 {
            info!(
                requests = self.stats.requests,
                slots = self.stats.slots,
                refused = self.stats.refused,
                "replication: replayed slots stored (refused: older than history, or already holding values)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::plugins_d::session::{Feed, Session, SessionConfig};
    use crate::rrd::{Db, HostInfo};

    const S: u64 = 1_000_000;

    fn known(local_last: Option<u64>, child: (u64, u64), now: u64) -> Known {
        Known { local_last, keeps: 3599, previous_before: None, child, has_dimensions: true, now }
    }

    #[test]
    fn the_gap_from_the_newest_local_slot_to_now_is_asked_for_in_steps() {
        let s = Settings::default();
        // A gap of 30 s: one request, and the child streams after it.
        assert_eq!(
            request(&s, &known(Some(1000), (500, 1030), 1031)),
            Request { after: 1000, before: 1030, start_streaming: true }
        );
        // A gap of 2000 s: 600 s at a time, then on from where the last one ended.
        let r = request(&s, &known(Some(1000), (500, 3000), 3000));
        assert_eq!(r, Request { after: 1000, before: 1600, start_streaming: false });
        let next = Known { previous_before: Some(r.before), ..known(Some(1000), (500, 3000), 3000) };
        assert_eq!(request(&s, &next), Request { after: 1600, before: 2200, start_streaming: false });
        // Nothing here: `seconds to replicate` back, but never more than the ring keeps.
        assert_eq!(
            request(&s, &known(None, (500, 9000), 9000)),
            Request { after: 5401, before: 6001, start_streaming: false }
        );
        let short = Settings { seconds: 60, ..s };
        assert_eq!(
            request(&short, &known(None, (500, 9000), 9000)),
            Request { after: 8940, before: 9000, start_streaming: true }
        );
        // The child has less than the gap: what it has.
        assert_eq!(
            request(&s, &known(Some(1000), (1020, 1030), 1031)),
            Request { after: 1020, before: 1030, start_streaming: true }
        );
        assert_eq!(
            Request { after: 1000, before: 1030, start_streaming: true }.line("system.cpu"),
            "REPLAY_CHART \"system.cpu\" \"true\" 1000 1030\n"
        );
    }

    #[test]
    fn nothing_is_asked_when_there_is_nothing_to_replay() {
        let s = Settings::default();
        assert_eq!(request(&s, &known(Some(1000), (0, 0), 1031)), Request::NOTHING, "the child has nothing");
        assert_eq!(request(&s, &known(Some(1040), (500, 1030), 1041)), Request::NOTHING, "newer here");
        let off = Settings { enabled: false, ..s };
        assert_eq!(request(&off, &known(Some(1000), (500, 1030), 1031)), Request::NOTHING);
        assert_eq!(Request::NOTHING.line("a.b"), "REPLAY_CHART \"a.b\" \"true\" 0 0\n");
    }

    fn feed(s: &mut Session, lines: &str, at_ut: u64) {
        for line in lines.lines() {
            assert_eq!(s.feed(line.as_bytes(), at_ut), Feed::Ok, "{line}");
        }
    }

    /// A child's whole exchange for one chart, with the lines as netdata 1.37.1 writes them:
    /// the request asked, the replayed slots stored, and the first streamed collection after
    /// them stored in the very next slot.
    #[test]
    fn a_replayed_chart_has_every_slot_and_streaming_goes_on_after_it() {
        let db = Db::new(HostInfo { hostname: "parent".into(), update_every: 1, ..Default::default() }, 100);
        let (host, _) = db.host_by_guid(HostInfo {
            hostname: "c".into(),
            machine_guid: "g".into(),
            update_every: 1,
            ..Default::default()
        });
        let mut s = Session::new(SessionConfig::new("stream/c", 1), host.clone());
        s.enable_replication(Settings::default());
        feed(
            &mut s,
            "CHART \"test.clock\" \"\" \"The clock\" \"s\" \"test\" \"test.clock\" \"line\" 1 1 \"   \" \"clock.plugin\" \"\"\n\
             DIMENSION \"now\" \"now\" \"absolute\" 1 1 \"  \"\n\
             CHART_DEFINITION_END 1000 1010 1010",
            1010 * S + 600_000,
        );
        assert_eq!(s.take_output().unwrap(), b"REPLAY_CHART \"test.clock\" \"true\" 1000 1010\n");
        assert_eq!(s.take_output(), None);
        let chart = host.chart("test.clock").unwrap();
        assert_eq!((chart.read().late().unwrap().generation, chart.read().late().unwrap().active), (1, true));
        let mut reply = String::from("RBEGIN \"test.clock\"\n");
        for t in 1001..=1010 {
            reply.push_str(&format!("RBEGIN '' {} {t} 1010\nRSET \"now\" {t}.0000000 \"\"\n", t - 1));
        }
        reply.push_str(
            "RDSTATE \"now\" 1010500000 1010 0.0000000 0.0000000\n\
             RSSTATE 1010500000 1010000000\n\
             REND 1 1000 1010 true 1000 1010 1010",
        );
        feed(&mut s, &reply, 1010 * S + 700_000);
        assert_eq!(s.take_output(), None, "nothing more to ask");
        feed(&mut s, "BEGIN \"test.clock\" 1000000\nSET \"now\" = 1011\nEND", 1011 * S + 510_000);
        let d = chart.read();
        assert_eq!((d.late().unwrap().generation, d.late().unwrap().active), (1, false));
        let stored: Vec<(i64, f64)> = {
            let mut v = Vec::new();
            d.for_each_value(0, 990, 1020, |t, x| v.push((t, x)));
            v
        };
        assert_eq!(stored, (1001..=1011).map(|t| (t, t as f64)).collect::<Vec<_>>());
        assert_eq!(s.replay_stats(), Some(ReplayStats { requests: 1, slots: 10, refused: 0 }));
    }

    /// A step that does not start streaming is followed by the next request; a connection that
    /// ends mid-replication leaves the chart no longer replicating.
    #[test]
    fn a_reply_without_streaming_asks_for_the_next_step_and_a_lost_connection_ends_it() {
        let db = Db::new(HostInfo { hostname: "parent".into(), update_every: 1, ..Default::default() }, 3600);
        let (host, _) = db.host_by_guid(HostInfo {
            hostname: "c".into(),
            machine_guid: "g".into(),
            update_every: 1,
            ..Default::default()
        });
        let mut s = Session::new(SessionConfig::new("stream/c", 1), host.clone());
        s.enable_replication(Settings { step: 5, ..Settings::default() });
        feed(&mut s, "CHART test.x '' t u f c line 1 1\nDIMENSION a a absolute 1 1\nCHART_DEFINITION_END 1000 1020 1020", 1020 * S);
        assert_eq!(s.take_output().unwrap(), b"REPLAY_CHART \"test.x\" \"false\" 1000 1005\n");
        feed(&mut s, "RBEGIN \"test.x\"\nRBEGIN '' 1004 1005 1020\nRSET \"a\" 5.0000000 \"\"\nREND 1 1000 1020 false 1000 1005 1020", 1020 * S);
        assert_eq!(s.take_output().unwrap(), b"REPLAY_CHART \"test.x\" \"false\" 1005 1010\n");
        let chart = host.chart("test.x").unwrap();
        assert!(chart.read().late().unwrap().active);
        drop(s);
        assert!(!chart.read().late().unwrap().active, "no exporter waits for a replication that cannot end");
        assert_eq!(chart.read().late().unwrap().from.iter().copied().collect::<Vec<_>>(), vec![(1, 1000)]);
    }
}
