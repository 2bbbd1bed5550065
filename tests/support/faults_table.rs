//! The fault suite's bookkeeping: what a receiver holds, compared with what it must hold, counted
//! per fault and per connector, and the table that shows it.
//!
//! A run is a sequence of [`Phase`]s (a fault and the recovery after it). Every row the exporter
//! sends has a timestamp `ts` (its window's end) and first leaves rrdpipe about
//! [`Plan::send_lag`] seconds later; a row belongs to the phase under way when it first left,
//! so a row lost to a fault counts against that fault even if the loss only shows later.
//!
//! For each connector and phase a [`Cell`] counts:
//!
//! * **missing**: (series, ts) the plan expects that the receiver does not hold;
//! * **duplicates**: extra samples of a (series, ts) it holds more than once (allowed, when
//!   their values are identical);
//! * **garbled**: rows that should not exist or say the wrong thing: the receiver's own
//!   invalid-row counters, duplicates whose values differ, values that are not the expected
//!   one, samples off the one-second grid, and samples of series that are not expected at all
//!   (a cut line that parsed as another name).
//!
//! Pure: samples, counters and the clock readings come in as values; nothing here does I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a (series, ts) must hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expected {
    /// Exactly this value (up to the 7 decimals a text format prints).
    Exact(f64),
    /// A value between these two, both included: the store interpolated between two
    /// collections whose values differ.
    Between(f64, f64),
}

impl Expected {
    /// Whether `v` satisfies the expectation.
    pub fn admits(self, v: f64) -> bool {
        // Whole numbers are stored exactly; interpolated ones within 1e-6 relative.
        let tol = |x: f64| (1e-6 * x.abs()).max(1e-3);
        match self {
            Expected::Exact(x) => (v - x).abs() <= 1e-3,
            Expected::Between(a, b) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                v >= lo - tol(lo) && v <= hi + tol(hi)
            }
        }
    }
}

/// One fault and the recovery after it, from the moment it was applied to the next phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// What happened, as the table shows it.
    pub name: String,
    /// Wall-clock time (seconds) the phase began.
    pub from: f64,
}

/// What the receiver must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The phases, in time order; the first also takes rows sent before it began.
    pub phases: Vec<Phase>,
    /// Number of series; series are identified by index `0..series`.
    pub series: usize,
    /// Inclusive ranges of timestamps (seconds) at which every series must have a row.
    pub required: Vec<(i64, i64)>,
    /// Inclusive range of timestamps looked at at all; rows outside (the partial windows at
    /// the very start and end of a run) are ignored.
    pub checked: (i64, i64),
    /// Seconds from a row's timestamp to its first send.
    pub send_lag: i64,
}

impl Plan {
    /// The phase a row with timestamp `ts` (seconds) belongs to.
    pub fn phase_of(&self, ts: i64) -> usize {
        let sent = (ts + self.send_lag) as f64;
        self.phases.iter().rposition(|p| p.from <= sent).unwrap_or(0)
    }

    /// Whether every series must have a row at `ts`.
    pub fn requires(&self, ts: i64) -> bool {
        self.required.iter().any(|&(a, b)| (a..=b).contains(&ts))
    }

    /// Required rows per series in each phase.
    pub fn required_per_phase(&self) -> Vec<u64> {
        let mut n = vec![0u64; self.phases.len()];
        for &(a, b) in &self.required {
            for ts in a..=b {
                n[self.phase_of(ts)] += 1;
            }
        }
        n
    }
}

/// One connector's samples as read back from the receiver.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readback {
    /// Samples `(timestamp_ms, value)` of each expected series, by index (`series` long).
    pub series: Vec<Vec<(i64, f64)>>,
    /// Series that are not expected: a description (name and labels) and their samples.
    pub unexpected: Vec<(String, Vec<(i64, f64)>)>,
}

impl Readback {
    /// An empty read-back for `series` series.
    pub fn new(series: usize) -> Readback {
        Readback { series: vec![Vec::new(); series], unexpected: Vec::new() }
    }
}

/// The counts of one connector in one phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// (series, ts) the receiver must hold.
    pub required: u64,
    /// Of those, not held.
    pub missing: u64,
    /// Extra samples of a (series, ts) held more than once.
    pub duplicates: u64,
    /// Of those, extra samples whose value differs from the first.
    pub duplicates_differing: u64,
    /// Samples whose value is not the expected one.
    pub wrong_values: u64,
    /// Samples whose timestamp is not a whole second.
    pub off_grid: u64,
    /// Samples of series that are not expected.
    pub unexpected: u64,
    /// Rows or requests the receiver itself counted as invalid.
    pub receiver_invalid: u64,
}

impl Cell {
    /// Everything that should not have reached the receiver as it did.
    pub fn garbled(&self) -> u64 {
        self.duplicates_differing
            + self.wrong_values
            + self.off_grid
            + self.unexpected
            + self.receiver_invalid
    }

    /// Whether the cell meets the requirement: nothing missing, nothing garbled.
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.garbled() == 0
    }
}

/// How many examples of each problem a cell keeps.
const EXAMPLES: usize = 4;

/// Faults × connectors.
#[derive(Clone, Debug)]
pub struct Table {
    /// Connector names, in column order.
    pub connectors: Vec<String>,
    /// Phase names, in row order.
    pub phases: Vec<String>,
    /// `cells[phase][connector]`.
    pub cells: Vec<Vec<Cell>>,
    /// Examples of problems, per `(phase, connector)`.
    pub examples: BTreeMap<(usize, usize), Vec<String>>,
    /// Free-form notes printed under the table.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table for `plan`'s phases and these connectors, with the required counts set.
    pub fn new(plan: &Plan, connectors: &[&str]) -> Table {
        let required = plan.required_per_phase();
        let cells = required
            .iter()
            .map(|&r| vec![Cell { required: r * plan.series as u64, ..Cell::default() }; connectors.len()])
            .collect();
        Table {
            connectors: connectors.iter().map(|c| c.to_string()).collect(),
            phases: plan.phases.iter().map(|p| p.name.clone()).collect(),
            cells,
            examples: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    fn example(&mut self, phase: usize, connector: usize, text: impl FnOnce() -> String) {
        let e = self.examples.entry((phase, connector)).or_default();
        if e.len() < EXAMPLES {
            e.push(text());
        }
    }

    /// Adds `n` rows the receiver counted as invalid during `phase` to `connector`'s cell.
    pub fn add_receiver_invalid(&mut self, phase: usize, connector: usize, n: u64) {
        self.cells[phase][connector].receiver_invalid += n;
        if n > 0 {
            self.example(phase, connector, || format!("receiver counted {n} invalid rows or requests"));
        }
    }

    /// Counts `connector`'s read-back against `plan`; `expect(series, ts)` is what a row must
    /// hold, `name(series)` names a series in examples.
    pub fn account(
        &mut self,
        plan: &Plan,
        connector: usize,
        rb: &Readback,
        expect: impl Fn(usize, i64) -> Expected,
        name: impl Fn(usize) -> String,
    ) {
        let (lo, hi) = plan.checked;
        for (s, samples) in rb.series.iter().enumerate() {
            // ts (s) → values, in arrival order.
            let mut by_ts: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            for &(ms, v) in samples {
                let ts = ms.div_euclid(1000);
                if ts < lo || ts > hi {
                    continue;
                }
                let p = plan.phase_of(ts);
                if ms % 1000 != 0 {
                    self.cells[p][connector].off_grid += 1;
                    self.example(p, connector, || format!("off-grid sample {} @{ms} ms = {v}", name(s)));
                    continue;
                }
                by_ts.entry(ts).or_default().push(v);
            }
            for (&ts, values) in &by_ts {
                let p = plan.phase_of(ts);
                let want = expect(s, ts);
                for &v in values {
                    if !want.admits(v) {
                        self.cells[p][connector].wrong_values += 1;
                        self.example(p, connector, || {
                            format!("wrong value {} @{ts} = {v}, expected {want:?}", name(s))
                        });
                    }
                }
                if values.len() > 1 {
                    let extra = values.len() as u64 - 1;
                    let differing = values[1..].iter().filter(|v| v.to_bits() != values[0].to_bits()).count();
                    let c = &mut self.cells[p][connector];
                    c.duplicates += extra;
                    c.duplicates_differing += differing as u64;
                    if differing > 0 {
                        self.example(p, connector, || {
                            format!("duplicates with differing values {} @{ts}: {values:?}", name(s))
                        });
                    }
                }
            }
            for &(a, b) in &plan.required {
                for ts in a..=b {
                    if !by_ts.contains_key(&ts) {
                        let p = plan.phase_of(ts);
                        self.cells[p][connector].missing += 1;
                        self.example(p, connector, || format!("missing {} @{ts}", name(s)));
                    }
                }
            }
        }
        for (what, samples) in &rb.unexpected {
            for &(ms, v) in samples {
                let ts = ms.div_euclid(1000);
                if ts < lo || ts > hi {
                    continue;
                }
                let p = plan.phase_of(ts);
                self.cells[p][connector].unexpected += 1;
                self.example(p, connector, || format!("unexpected series {what} @{ms} ms = {v}"));
            }
        }
    }

    /// The sum of every phase's cell for `connector`.
    pub fn total(&self, connector: usize) -> Cell {
        let mut t = Cell::default();
        for row in &self.cells {
            let c = row[connector];
            t.required += c.required;
            t.missing += c.missing;
            t.duplicates += c.duplicates;
            t.duplicates_differing += c.duplicates_differing;
            t.wrong_values += c.wrong_values;
            t.off_grid += c.off_grid;
            t.unexpected += c.unexpected;
            t.receiver_invalid += c.receiver_invalid;
        }
        t
    }

    /// Whether every cell is ok.
    pub fn ok(&self) -> bool {
        self.cells.iter().flatten().all(Cell::ok)
    }

    /// One line per failing cell: phase, connector, counts and examples.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (p, row) in self.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if cell.ok() {
                    continue;
                }
                let ex = self.examples.get(&(p, c)).map(|e| e.join("; ")).unwrap_or_default();
                out.push(format!(
                    "{} × {}: {} of {} missing, {} garbled (receiver invalid {}, wrong values {}, differing duplicates {}, off-grid {}, unexpected series {}); e.g. {ex}",
                    self.phases[p],
                    self.connectors[c],
                    cell.missing,
                    cell.required,
                    cell.garbled(),
                    cell.receiver_invalid,
                    cell.wrong_values,
                    cell.duplicates_differing,
                    cell.off_grid,
                    cell.unexpected
                ));
            }
        }
        out
    }

    /// The table in Markdown: one row per phase plus a total, three columns per connector
    /// (missing, duplicates, garbled); a failing cell's numbers are in bold. Notes follow.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("| fault | rows |");
        for c in &self.connectors {
            let _ = write!(s, " {c}: missing | dup | garbled |");
        }
        s.push_str("\n|---|---:|");
        for _ in &self.connectors {
            s.push_str("---:|---:|---:|");
        }
        s.push('\n');
        let row = |s: &mut String, name: &str, cells: &[Cell]| {
            let _ = write!(s, "| {name} | {} |", cells.first().map_or(0, |c| c.required));
            for c in cells {
                let bold = |n: u64| if n > 0 { format!("**{n}**") } else { n.to_string() };
                let _ = write!(s, " {} | {} | {} |", bold(c.missing), c.duplicates, bold(c.garbled()));
            }
            s.push('\n');
        };
        for (p, name) in self.phases.iter().enumerate() {
            row(&mut s, name, &self.cells[p]);
        }
        let totals: Vec<Cell> = (0..self.connectors.len()).map(|c| self.total(c)).collect();
        row(&mut s, "**total**", &totals);
        s.push('\n');
        s.push_str(if self.ok() {
            "Verdict: PASS (0 missing, 0 garbled everywhere).\n"
        } else {
            "Verdict: FAIL.\n"
        });
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        let failures = self.failures();
        if !failures.is_empty() {
            s.push_str("\nFailing cells:\n\n");
            for f in failures {
                let _ = writeln!(s, "- {f}");
            }
        }
        s
    }
}
