//! A plugins.d session: the commands of one source, applied to one host of the store.
//!
//! One job: keep the state the protocol needs between lines (which chart the next DIMENSION
//! belongs to, which BEGIN block is open, the values SET so far) and turn it into
//! [`Chart::collect`] calls. One session serves one plugin process run, or one streaming child
//! connection; it knows nothing about processes, pipes or clocks: every line comes with the time
//! it arrived (or a way to ask for it, for the few lines that need it).
//!
//! # Hot path
//! A SET finds its dimension in the session's own list of ids (no store lock, and no hashing
//! while SETs come in the order of the DIMENSION lines, as plugins send them); values wait in a
//! vector until END hands them to the store in one [`Chart::collect`] call.
//!
//! # Timing
//! `BEGIN type.id usec` with `usec > 0` after a previous collection of the chart times the new
//! collection at "previous + usec", the plugin's own measurement, unless that is more than one
//! `update every` away from the arrival time, in which case the arrival time is used. Without
//! `usec` (or with 0) collections are timed by arrival.
//!
//! # Restarts
//! A chart that exists in the store but not yet in this session (the plugin restarted, the child
//! reconnected) has its collection restarted, so the time the source was away stays empty
//! instead of being interpolated over.
//!
//! # Errors
//! Lines that cannot be applied are logged with their line number and reason (the first 10,
//! then every 1000th) and skipped; the caller's span (a plugin's, a child's) says whose. [`Feed`] tells the caller what happened to each
//! line, so a supervisor can spot a source that sends nothing but garbage.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tracing::{debug, warn};

use super::parser::{parse_line, plain_set, ChartCmd, Command, DimensionCmd, ParseError, ParseWarning};
use crate::logs::Escaped;
use crate::rrd::labels::{Added, Labels, MAX_BYTES, MAX_LABELS};
use crate::rrd::{Chart, ChartDef, CollectError, DimensionDef, Host};

/// Default for `[plugins] max charts per plugin`.
pub const DEFAULT_MAX_CHARTS: usize = 10_000;
/// Default for `[plugins] max dimensions per plugin`.
pub const DEFAULT_MAX_DIMENSIONS: usize = 200_000;

/// Errors logged one by one before logging thins out to every 1000th.
const LOG_FIRST: u64 = 10;
const LOG_EVERY: u64 = 1000;
const NOT_PENDING: u32 = u32::MAX;

/// Settings of one session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    /// The source's name (a plugin's, or `stream/HOSTNAME`): the charts' plugin when CHART gives
    /// none. Log lines take the source from the caller's span.
    pub name: String,
    /// Seconds between collections for charts that do not say.
    pub update_every: u32,
    /// Charts this session may create; more are refused (`[plugins] max charts per plugin`).
    pub max_charts: usize,
    /// Dimensions this session may create over all its charts
    /// (`[plugins] max dimensions per plugin`).
    pub max_dimensions: usize,
    /// Apply the caps to the whole host rather than to this session: for a streaming child,
    /// whose reconnections are new sessions on the same host and must not add up past the caps.
    pub whole_host: bool,
}

impl SessionConfig {
    /// A configuration with the default caps.
    pub fn new(name: &str, update_every: u32) -> SessionConfig {
        SessionConfig {
            name: name.to_string(),
            update_every: update_every.max(1),
            max_charts: DEFAULT_MAX_CHARTS,
            max_dimensions: DEFAULT_MAX_DIMENSIONS,
            whole_host: false,
        }
    }
}

/// What happened to one line.
#[derive(Clone, Debug, PartialEq)]
pub enum Feed {
    /// Applied.
    Ok,
    /// Valid but nothing to do: a blank line, a keyword not used here, a VARIABLE, or a
    /// definition or value refused by a cap.
    Ignored,
    /// Not applied; the reason was logged.
    Error(SessionError),
    /// The source sent DISABLE: it asks not to be run again.
    Disable,
}

/// Why a line could not be applied.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionError {
    /// The line did not parse.
    Parse(ParseError),
    /// The first word is not a protocol keyword (upper case letters, digits, `_`).
    NotACommand(String),
    /// DIMENSION before any CHART.
    DimensionWithoutChart(String),
    /// BEGIN of a chart this session did not define.
    UnknownChart(String),
    /// SET outside a BEGIN/END block.
    SetWithoutBegin(String),
    /// END without BEGIN.
    EndWithoutBegin,
    /// SET of a dimension the chart does not have.
    UnknownDimension {
        /// Chart id.
        chart: String,
        /// Dimension id.
        dimension: String,
    },
    /// The collection time is not after the previous one (the clock went backwards).
    TimeWentBackwards {
        /// Chart id.
        chart: String,
    },
    /// CLABEL before any CHART or BEGIN.
    ClabelWithoutChart,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Parse(e) => write!(f, "{e}"),
            SessionError::NotACommand(w) => {
                let w: String = w.chars().take(40).collect();
                write!(
                    f,
                    "'{}' is not a plugins.d command (is the plugin printing text to stdout instead of stderr?)",
                    Escaped::str(&w)
                )
            }
            SessionError::DimensionWithoutChart(d) => {
                write!(f, "DIMENSION '{}' before any CHART; send CHART type.id first", Escaped::str(d))
            }
            SessionError::UnknownChart(c) => {
                let c = Escaped::str(c);
                write!(f, "BEGIN of chart '{c}' that was not defined; send CHART {c} first")
            }
            SessionError::SetWithoutBegin(d) => {
                write!(f, "SET '{}' outside a BEGIN/END block; send BEGIN type.id first", Escaped::str(d))
            }
            SessionError::EndWithoutBegin => f.write_str("END without BEGIN"),
            SessionError::UnknownDimension { chart, dimension } => {
                let (chart, dimension) = (Escaped::str(chart), Escaped::str(dimension));
                write!(
                f,
                "SET of dimension '{dimension}' that chart '{chart}' does not have; send DIMENSION {dimension} after CHART {chart}"
            )
            }
            SessionError::TimeWentBackwards { chart } => write!(
                f,
                "collection of chart '{}' is not later than the previous one (did the clock go backwards?); collection restarted",
                Escaped::str(chart)
            ),
            SessionError::ClabelWithoutChart => {
                f.write_str("CLABEL before any CHART or BEGIN; send CHART type.id (or BEGIN type.id) first")
            }
        }
    }
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Lines fed.
    pub lines: u64,
    /// Lines that could not be applied.
    pub errors: u64,
    /// Fields that fell back to a default.
    pub warnings: u64,
    /// Collections stored (END lines applied).
    pub collections: u64,
    /// Values handed to the store.
    pub values_stored: u64,
    /// CHART lines refused by `max_charts`.
    pub charts_refused: u64,
    /// DIMENSION lines refused by `max_dimensions` (or belonging to a refused chart).
    pub dimensions_refused: u64,
    /// LABEL and CLABEL lines refused by the label caps or with an empty name.
    pub labels_refused: u64,
}

/// A chart as this session knows it.
struct SessionChart {
    chart: Arc<Chart>,
    /// The dimensions this session defined.
    dims: DimIds,
    update_every: u32,
    /// The time of this session's previous collection of the chart.
    last_collected_ut: Option<u64>,
}

/// Ordered lookups tried before a chart gets a hash index.
const PROBES: usize = 8;
const NONE: u32 = u32::MAX;

/// The dimensions a session defined for one chart, by id.
///
/// Plugins send their SET lines in the order of their DIMENSION lines, so a lookup tries the
/// dimension after the one found last, then the next few (a plugin may skip dimensions it has
/// no value for): no hashing, and the ids sit back to back in one string, so a collection reads
/// them in one sequential sweep. Only a chart whose SETs come in another order gets a hash
/// index, built the first time an ordered probe misses.
#[derive(Default)]
struct DimIds {
    /// The ids back to back, in definition order.
    names: String,
    /// One per dimension, in definition order.
    entries: Vec<DimEntry>,
    /// Store index → definition order, or `NONE`.
    by_store: Vec<u32>,
    /// Where the next lookup starts.
    next: usize,
    /// id → definition order, for charts whose SETs come out of order.
    index: Option<HashMap<Box<str>, u32>>,
}

#[derive(Clone, Copy)]
struct DimEntry {
    /// End of the id in `DimIds::names` (it starts where the previous one ends).
    end: u32,
    /// Index in the store's chart.
    store: u32,
    /// Position in `Session::pending`, or `NOT_PENDING`.
    pending_at: u32,
}

impl DimIds {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn id(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.entries[k - 1].end as usize };
        &self.names[start..self.entries[k].end as usize]
    }

    /// Whether dimension `k` has this id. Ids are a few bytes: a byte loop beats a call to
    /// `memcmp`.
    #[inline]
    fn is(&self, k: usize, id: &str) -> bool {
        let (a, b) = (self.id(k).as_bytes(), id.as_bytes());
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    }

    /// The definition-order position of `id`.
    fn find(&mut self, id: &str) -> Option<usize> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let mut k = if self.next < n { self.next } else { 0 };
        for _ in 0..n.min(PROBES) {
            if self.is(k, id) {
                self.next = k + 1;
                return Some(k);
            }
            k += 1;
            if k == n {
                k = 0;
            }
        }
        if n <= PROBES {
            return None; // every dimension was compared
        }
        if self.index.is_none() {
            let index = (0..n).map(|k| (Box::from(self.id(k)), k as u32)).collect();
            self.index = Some(index);
        }
        let k = *self.index.as_ref()?.get(id)? as usize;
        self.next = k + 1;
        Some(k)
    }

    /// Whether SET lookups needed the hash index.
    #[cfg(test)]
    fn indexed(&self) -> bool {
        self.index.is_some()
    }

    /// The definition-order position of store index `store`, if this session defined it.
    fn by_store(&self, store: usize) -> Option<usize> {
        self.by_store.get(store).filter(|&&k| k != NONE).map(|&k| k as usize)
    }

    fn insert(&mut self, id: &str, store: usize) {
        let k = self.len() as u32;
        self.names.push_str(id);
        self.entries.push(DimEntry {
            end: self.names.len() as u32,
            store: store as u32,
            pending_at: NOT_PENDING,
        });
        if self.by_store.len() <= store {
            self.by_store.resize(store + 1, NONE);
        }
        self.by_store[store] = k;
        if let Some(index) = self.index.as_mut() {
            index.insert(id.into(), k);
        }
    }

    /// Drop growth slack; definitions are usually over once collections start.
    fn shrink(&mut self) {
        if self.entries.capacity() > self.entries.len() {
            self.names.shrink_to_fit();
            self.entries.shrink_to_fit();
            self.by_store.shrink_to_fit();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum LastChart {
    None,
    Chart(usize),
    /// The last CHART was refused by the cap: its DIMENSIONs are refused quietly.
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Current {
    None,
    Chart {
        idx: usize,
        at_ut: u64,
    },
    /// Inside a block whose BEGIN failed: its SET and END lines are skipped quietly.
    Skipping,
}

/// The state of one plugins.d source; see the module docs.
pub struct Session {
    cfg: SessionConfig,
    host: Arc<Host>,
    charts: Vec<SessionChart>,
    by_id: HashMap<Box<str>, usize>,
    dimensions: usize,
    /// See [`Session::host_dimensions`].
    host_dimensions: Option<usize>,
    last_defined: LastChart,
    /// The chart CLABEL lines label: the last one defined or begun.
    label_chart: LastChart,
    /// Host labels sent by LABEL since the last OVERWRITE.
    host_labels: Option<Labels>,
    /// Chart labels sent by CLABEL since the last CLABEL_COMMIT, and their chart.
    chart_labels: Option<(usize, Labels)>,
    labels_cap_logged: bool,
    current: Current,
    /// `(definition-order position, value)` SET in the open block, in arrival order.
    pending: Vec<(u32, Option<i64>)>,
    /// Reused buffer for the values handed to the store.
    collect_buf: Vec<(usize, i64)>,
    stats: SessionStats,
    charts_cap_logged: bool,
    dimensions_cap_logged: bool,
    disabled: bool,
}

impl Session {
    /// A session writing into `host`.
    pub fn new(cfg: SessionConfig, host: Arc<Host>) -> Session {
        Session {
            cfg,
            host,
            charts: Vec::new(),
            by_id: HashMap::new(),
            dimensions: 0,
            host_dimensions: None,
            last_defined: LastChart::None,
            label_chart: LastChart::None,
            host_labels: None,
            chart_labels: None,
            labels_cap_logged: false,
            current: Current::None,
            pending: Vec::new(),
            collect_buf: Vec::new(),
            stats: SessionStats::default(),
            charts_cap_logged: false,
            dimensions_cap_logged: false,
            disabled: false,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Whether the source sent DISABLE.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Charts this session defined.
    pub fn chart_count(&self) -> usize {
        self.charts.len()
    }

    /// Dimensions this session defined, over all its charts.
    pub fn dimension_count(&self) -> usize {
        self.dimensions
    }

    /// Apply one line that arrived at `now_ut` (µs since the Unix epoch).
    pub fn feed(&mut self, line: &[u8], now_ut: u64) -> Feed {
        self.feed_timed(line, || now_ut)
    }

    /// Apply one line; `now_ut` tells the time it arrived (µs since the Unix epoch) and is only
    /// called for the lines whose effect depends on it (BEGIN), so a reader can skip reading
    /// the clock for the SET lines that make up nearly all of a plugin's output.
    pub fn feed_timed(&mut self, line: &[u8], now_ut: impl FnOnce() -> u64) -> Feed {
        self.stats.lines += 1;
        if let Some((id, value)) = plain_set(line) {
            return self.set(id, value);
        }
        let cmd = match parse_line(line) {
            Ok(c) => c,
            Err(e) => return self.error(SessionError::Parse(e)),
        };
        match cmd {
            Command::Empty => Feed::Ignored,
            Command::Chart(c) => self.chart(c),
            Command::Dimension(d) => self.dimension(d),
            Command::Begin { id, microseconds } => self.begin(&id, microseconds, now_ut()),
            Command::Set { id, value } => self.set(&id, value),
            Command::End => self.end(),
            Command::Flush => {
                self.discard_pending();
                self.current = Current::None;
                Feed::Ok
            }
            Command::Disable => {
                self.disabled = true;
                Feed::Disable
            }
            Command::Variable { scope, name, value } => {
                debug!(
                    line = self.stats.lines,
                    "VARIABLE {scope:?} {} = {value} accepted and not used",
                    Escaped::str(&name)
                );
                Feed::Ignored
            }
            Command::Label { name, source, value } => {
                let added = self.host_labels.get_or_insert_with(Labels::new).add(&name, &value, source);
                self.label_added(added, "LABEL", &name)
            }
            Command::Overwrite => match self.host_labels.take() {
                Some(labels) => {
                    self.host.overwrite_labels(labels);
                    Feed::Ok
                }
                None => Feed::Ignored,
            },
            Command::Clabel { name, value, source } => self.clabel(&name, &value, source),
            Command::ClabelCommit => match self.chart_labels.take() {
                Some((idx, labels)) => {
                    self.charts[idx].chart.set_labels(labels);
                    Feed::Ok
                }
                None => Feed::Ignored,
            },
            Command::Ignored(keyword) => {
                let protocol_like = keyword.starts_with(|c: char| c.is_ascii_uppercase())
                    && keyword.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if protocol_like {
                    Feed::Ignored
                } else {
                    self.error(SessionError::NotACommand(keyword.into_owned()))
                }
            }
        }
    }

    /// CLABEL: a label of the chart last defined or begun, held until CLABEL_COMMIT.
    fn clabel(&mut self, name: &str, value: &str, source: u32) -> Feed {
        let idx = match self.label_chart {
            LastChart::None => return self.error(SessionError::ClabelWithoutChart),
            LastChart::Refused => return Feed::Ignored,
            LastChart::Chart(idx) => idx,
        };
        if self.chart_labels.as_ref().is_none_or(|(i, _)| *i != idx) {
            self.chart_labels = Some((idx, Labels::new()));
        }
        let added = self.chart_labels.as_mut().map_or(Added::Refused, |(_, l)| l.add(name, value, source));
        self.label_added(added, "CLABEL", name)
    }

    /// Counts and reports (once) a label the caps refused, or whose name is empty once cleaned.
    fn label_added(&mut self, added: Added, keyword: &str, name: &str) -> Feed {
        match added {
            Added::New | Added::Replaced => Feed::Ok,
            Added::EmptyName => {
                self.stats.labels_refused += 1;
                debug!(
                    line = self.stats.lines,
                    "{keyword} '{}' has no usable name; skipped",
                    Escaped::str(name)
                );
                Feed::Ignored
            }
            Added::Refused => {
                self.stats.labels_refused += 1;
                if !self.labels_cap_logged {
                    self.labels_cap_logged = true;
                    warn!(
                        line = self.stats.lines,
                        max_labels = MAX_LABELS,
                        max_bytes = MAX_BYTES,
                        "{keyword}: too many labels (a host or chart keeps at most {MAX_LABELS} labels of {MAX_BYTES} \
                         bytes in all); further labels are ignored"
                    );
                }
                Feed::Ignored
            }
        }
    }

    fn error(&mut self, e: SessionError) -> Feed {
        self.stats.errors += 1;
        let n = self.stats.errors;
        if n <= LOG_FIRST || n.is_multiple_of(LOG_EVERY) {
            warn!(line = self.stats.lines, "{e}; line skipped");
            if n == LOG_FIRST {
                warn!("{LOG_FIRST} errors so far; from now on only every {LOG_EVERY}th is logged");
            }
        }
        Feed::Error(e)
    }

    fn warnings(&mut self, what: &str, id: &str, warnings: &[ParseWarning]) {
        for w in warnings {
            if let ParseWarning::UnknownOption(_) = w {
                // As netdata: an option it does not know is skipped silently (slabinfo.plugin and
                // nfacct.plugin of netdata 1.37 put their own name where options go).
                debug!(line = self.stats.lines, "{what} '{}': {w}", Escaped::str(id));
                continue;
            }
            self.stats.warnings += 1;
            let n = self.stats.warnings;
            if n <= LOG_FIRST || n.is_multiple_of(LOG_EVERY) {
                warn!(line = self.stats.lines, "{what} '{}': {w}", Escaped::str(id));
            }
        }
    }

    fn chart(&mut self, c: ChartCmd<'_>) -> Feed {
        self.warnings("CHART", &c.id, &c.warnings);
        let existing = self.by_id.get(&*c.id).copied();
        let over_cap = existing.is_none()
            && if self.cfg.whole_host {
                self.host.chart(&c.id).is_none() && self.host.chart_count() >= self.cfg.max_charts
            } else {
                self.charts.len() >= self.cfg.max_charts
            };
        if over_cap {
            self.stats.charts_refused += 1;
            self.last_defined = LastChart::Refused;
            self.label_chart = LastChart::Refused;
            if !self.charts_cap_logged {
                self.charts_cap_logged = true;
                warn!(
                    max = self.cfg.max_charts,
                    "reached max charts per plugin; ignoring new charts. Raise [plugins] max charts per plugin \
                     if this is expected"
                );
            }
            return Feed::Ignored;
        }
        let update_every = if c.update_every == 0 { self.cfg.update_every } else { c.update_every };
        let def = ChartDef {
            id: c.id.to_string(),
            name: if c.name.is_empty() { None } else { Some(c.name.into_owned()) },
            title: c.title.into_owned(),
            units: c.units.into_owned(),
            family: c.family.into_owned(),
            context: c.context.into_owned(),
            chart_type: c.chart_type,
            priority: c.priority,
            update_every,
            obsolete: c.options.obsolete,
            plugin: if c.plugin.is_empty() { self.cfg.name.clone() } else { c.plugin.into_owned() },
            module: c.module.into_owned(),
        };
        let (chart, is_new) = self.host.define_chart(&def);
        let idx = match existing {
            Some(idx) => {
                let sc = &mut self.charts[idx];
                if sc.update_every != update_every {
                    // The store restarted the chart at the new spacing.
                    sc.update_every = update_every;
                    sc.last_collected_ut = None;
                }
                idx
            }
            None => {
                if !is_new {
                    chart.restart_collection();
                }
                self.charts.push(SessionChart {
                    chart,
                    dims: DimIds::default(),
                    update_every,
                    last_collected_ut: None,
                });
                let idx = self.charts.len() - 1;
                self.by_id.insert(def.id.into_boxed_str(), idx);
                idx
            }
        };
        self.last_defined = LastChart::Chart(idx);
        self.label_chart = LastChart::Chart(idx);
        Feed::Ok
    }

    fn dimension(&mut self, d: DimensionCmd<'_>) -> Feed {
        let idx = match self.last_defined {
            LastChart::None => return self.error(SessionError::DimensionWithoutChart(d.id.into_owned())),
            LastChart::Refused => {
                self.stats.dimensions_refused += 1;
                return Feed::Ignored;
            }
            LastChart::Chart(idx) => idx,
        };
        self.warnings("DIMENSION", &d.id, &d.warnings);
        // The store finds the id in time independent of the chart's size (see `DimNames`);
        // scanning the session's own ids here would make defining a chart quadratic.
        let in_store = self.charts[idx].chart.dimension_index(&d.id);
        let new_here = in_store.and_then(|i| self.charts[idx].dims.by_store(i)).is_none();
        let over_cap = new_here
            && if self.cfg.whole_host {
                in_store.is_none() && self.host_dimensions() >= self.cfg.max_dimensions
            } else {
                self.dimensions >= self.cfg.max_dimensions
            };
        if over_cap {
            self.stats.dimensions_refused += 1;
            if !self.dimensions_cap_logged {
                self.dimensions_cap_logged = true;
                warn!(
                    max = self.cfg.max_dimensions,
                    "reached max dimensions per plugin; ignoring new dimensions. Raise [plugins] max dimensions \
                     per plugin if this is expected"
                );
            }
            return Feed::Ignored;
        }
        let def = DimensionDef {
            id: d.id.to_string(),
            name: if d.name.is_empty() { None } else { Some(d.name.into_owned()) },
            algorithm: d.algorithm,
            multiplier: d.multiplier,
            divisor: d.divisor,
            hidden: d.options.hidden,
            obsolete: d.options.obsolete,
        };
        let sc = &mut self.charts[idx];
        let i = sc.chart.add_dimension(&def);
        if sc.dims.by_store(i).is_none() {
            sc.dims.insert(&def.id, i);
            self.dimensions += 1;
        }
        if in_store.is_none() {
            if let Some(n) = self.host_dimensions.as_mut() {
                *n += 1;
            }
        }
        Feed::Ok
    }

    /// Dimensions of the whole host, for caps that apply to it: counted over the host's
    /// charts once, then kept up to date by this session, the host's only writer while its
    /// child is connected. Counting on every DIMENSION line would cost a pass over every chart
    /// per new dimension.
    fn host_dimensions(&mut self) -> usize {
        let host = &self.host;
        *self.host_dimensions.get_or_insert_with(|| host.charts().iter().map(|c| c.dimension_count()).sum())
    }

    fn begin(&mut self, id: &str, microseconds: Option<u64>, now_ut: u64) -> Feed {
        if self.current != Current::None {
            debug!(
                line = self.stats.lines,
                "BEGIN {} while another block is open; the open block is discarded",
                Escaped::str(id)
            );
            self.discard_pending();
        }
        let Some(&idx) = self.by_id.get(id) else {
            self.current = Current::Skipping;
            self.label_chart = LastChart::Refused;
            if self.stats.charts_refused > 0 {
                // Most likely a chart refused by the cap, already reported once.
                return Feed::Ignored;
            }
            return self.error(SessionError::UnknownChart(id.to_string()));
        };
        let sc = &self.charts[idx];
        let ue_ut = sc.update_every as u64 * crate::clock::USEC_PER_SEC;
        let at_ut = match (microseconds, sc.last_collected_ut) {
            (Some(us), Some(prev)) if us > 0 => {
                let t = prev.saturating_add(us);
                if t.abs_diff(now_ut) > ue_ut {
                    now_ut
                } else {
                    t
                }
            }
            _ => now_ut,
        };
        self.charts[idx].dims.next = 0;
        self.current = Current::Chart { idx, at_ut };
        self.label_chart = LastChart::Chart(idx);
        Feed::Ok
    }

    fn set(&mut self, id: &str, value: Option<i64>) -> Feed {
        let idx = match self.current {
            Current::None => return self.error(SessionError::SetWithoutBegin(id.to_string())),
            Current::Skipping => return Feed::Ignored,
            Current::Chart { idx, .. } => idx,
        };
        let sc = &mut self.charts[idx];
        let Some(k) = sc.dims.find(id) else {
            let chart = sc.chart.id().to_string();
            return self.error(SessionError::UnknownDimension { chart, dimension: id.to_string() });
        };
        let entry = &mut sc.dims.entries[k];
        if entry.pending_at == NOT_PENDING {
            entry.pending_at = self.pending.len() as u32;
            self.pending.push((k as u32, value));
        } else {
            // A second SET of the same dimension in one block: the last one wins.
            self.pending[entry.pending_at as usize].1 = value;
        }
        Feed::Ok
    }

    fn end(&mut self) -> Feed {
        let (idx, at_ut) = match self.current {
            Current::None => return self.error(SessionError::EndWithoutBegin),
            Current::Skipping => {
                self.current = Current::None;
                return Feed::Ignored;
            }
            Current::Chart { idx, at_ut } => (idx, at_ut),
        };
        self.current = Current::None;
        let entries = &self.charts[idx].dims.entries;
        self.collect_buf.clear();
        self.collect_buf.extend(
            self.pending.iter().filter_map(|&(k, v)| v.map(|v| (entries[k as usize].store as usize, v))),
        );
        self.discard_pending_of(idx);
        let sc = &mut self.charts[idx];
        sc.dims.shrink();
        match sc.chart.collect(&self.collect_buf, at_ut) {
            Ok(()) => {
                sc.last_collected_ut = Some(at_ut);
                self.stats.collections += 1;
                self.stats.values_stored += self.collect_buf.len() as u64;
                Feed::Ok
            }
            Err(CollectError::TimeWentBackwards) => {
                // Start over from this collection so that the chart does not stay stuck until
                // the clock catches up with the old time.
                sc.chart.restart_collection();
                let _ = sc.chart.collect(&self.collect_buf, at_ut);
                sc.last_collected_ut = Some(at_ut);
                let chart = sc.chart.id().to_string();
                self.error(SessionError::TimeWentBackwards { chart })
            }
        }
    }

    fn discard_pending(&mut self) {
        if let Current::Chart { idx, .. } = self.current {
            self.discard_pending_of(idx);
        }
        self.pending.clear();
    }

    fn discard_pending_of(&mut self, idx: usize) {
        let entries = &mut self.charts[idx].dims.entries;
        for &(k, _) in &self.pending {
            entries[k as usize].pending_at = NOT_PENDING;
        }
        self.pending.clear();
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("name", &self.cfg.name)
            .field("charts", &self.charts.len())
            .field("dimensions", &self.dimensions)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rrd::storage_number::{self, SN_EMPTY};
    use crate::rrd::{Db, HostInfo};

    const S: u64 = 1_000_000;

    fn db() -> Db {
        Db::new(HostInfo { hostname: "test".into(), update_every: 1, ..Default::default() }, 100)
    }

    fn session(db: &Db) -> Session {
        Session::new(SessionConfig::new("test", 1), db.localhost())
    }

    /// Feed every line of `text` at time `now_ut`, asserting each one is applied.
    fn feed_ok(s: &mut Session, text: &str, now_ut: u64) {
        for line in text.lines() {
            assert_eq!(s.feed(line.as_bytes(), now_ut), Feed::Ok, "line {line:?}");
        }
    }

    /// The stored value of dimension `dim` at slot `t`, `None` when empty.
    fn value(db: &Db, chart: &str, dim: usize, t: i64) -> Option<f64> {
        let c = db.localhost().chart(chart).expect("chart exists");
        let data = c.read();
        let n = data.value_at(dim, t);
        (n != SN_EMPTY).then(|| storage_number::unpack(n))
    }

    #[test]
    fn absolute_values_at_one_second_steps_land_in_their_slots() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART test.abs '' 'Absolute' 'things'\nDIMENSION x '' absolute 1 1", 1000 * S);
        for i in 0..5u64 {
            let now = (1000 + i) * S + S / 2;
            feed_ok(&mut s, &format!("BEGIN test.abs\nSET x = {}\nEND", 10 + i), now);
        }
        // The first collection primes; each later one fills the slot it closes.
        assert_eq!(value(&db, "test.abs", 0, 1000), None);
        for t in 1001..=1004 {
            assert_eq!(value(&db, "test.abs", 0, t), Some((10 + t - 1000) as f64), "slot {t}");
        }
        let c = db.localhost().chart("test.abs").unwrap();
        let mut seen = Vec::new();
        c.read().for_each_value(0, 990, 1010, |t, v| seen.push((t, v)));
        assert_eq!(seen, vec![(1001, 11.0), (1002, 12.0), (1003, 13.0), (1004, 14.0)]);
        let st = s.stats();
        assert_eq!((st.lines, st.errors, st.collections, st.values_stored), (17, 0, 5, 5));
    }

    #[test]
    fn incremental_counter_becomes_a_scaled_rate() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART net.eth0 '' 'Traffic' 'kilobits/s'\nDIMENSION rx '' incremental 8 1000", 0);
        for i in 0..4u64 {
            let now = (2000 + i) * S + S / 2;
            feed_ok(&mut s, &format!("BEGIN net.eth0\nSET rx = {}\nEND", 1_000_000 + 500 * i), now);
        }
        // 500 bytes/s × 8 / 1000 = 4 kilobits/s.
        for t in 2001..=2003 {
            assert_eq!(value(&db, "net.eth0", 0, t), Some(4.0), "slot {t}");
        }
    }

    #[test]
    fn chart_and_dimension_defaults_reach_the_store() {
        let db = db();
        let mut s = Session::new(SessionConfig::new("myplugin", 3), db.localhost());
        feed_ok(&mut s, "CHART app.requests\nDIMENSION ok", 0);
        let c = db.localhost().chart("app.requests").unwrap();
        let data = c.read();
        assert_eq!(data.update_every(), 3);
        assert_eq!(data.meta.priority, 1000);
        assert_eq!(&*data.meta.family, "app");
        assert_eq!(&*data.meta.context, "app.requests");
        assert_eq!(&*data.meta.name, "app.requests");
        let d = &data.dims[0];
        assert_eq!((data.names.id(0), data.names.name(0)), ("ok", "ok"));
        assert_eq!((d.algorithm, d.multiplier, d.divisor), (crate::rrd::Algorithm::Absolute, 1, 1));
    }

    #[test]
    fn begin_microseconds_time_the_collection_unless_they_drift() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.c\nDIMENSION x", 0);
        let last = |db: &Db| db.localhost().chart("t.c").unwrap().read().last_collected_ut();
        // No previous collection: arrival time.
        feed_ok(&mut s, "BEGIN t.c 1000000\nSET x = 1\nEND", 1000 * S + 100_000);
        assert_eq!(last(&db), Some(1000 * S + 100_000));
        // Arrived 0.4 s late: the plugin's measurement wins.
        feed_ok(&mut s, "BEGIN t.c 1000000\nSET x = 1\nEND", 1001 * S + 500_000);
        assert_eq!(last(&db), Some(1001 * S + 100_000));
        // No microseconds: arrival.
        feed_ok(&mut s, "BEGIN t.c\nSET x = 1\nEND", 1002 * S + 300_000);
        assert_eq!(last(&db), Some(1002 * S + 300_000));
        // 0 microseconds: arrival.
        feed_ok(&mut s, "BEGIN t.c 0\nSET x = 1\nEND", 1003 * S + 200_000);
        assert_eq!(last(&db), Some(1003 * S + 200_000));
        // previous + usec would be 7 s behind the arrival: arrival.
        feed_ok(&mut s, "BEGIN t.c 1000000\nSET x = 1\nEND", 1011 * S);
        assert_eq!(last(&db), Some(1011 * S));
    }

    #[test]
    fn restarted_plugin_leaves_the_time_it_was_away_empty() {
        let db = db();
        let def = "CHART t.r\nDIMENSION x";
        let mut first = session(&db);
        feed_ok(&mut first, def, 0);
        for i in 0..4u64 {
            feed_ok(&mut first, "BEGIN t.r\nSET x = 7\nEND", (1000 + i) * S + S / 2);
        }
        drop(first);
        let mut second = session(&db);
        feed_ok(&mut second, def, 1010 * S);
        for i in 0..3u64 {
            feed_ok(&mut second, "BEGIN t.r\nSET x = 9\nEND", (1010 + i) * S + S / 2);
        }
        for t in 1001..=1003 {
            assert_eq!(value(&db, "t.r", 0, t), Some(7.0), "slot {t}");
        }
        for t in 1004..=1010 {
            assert_eq!(value(&db, "t.r", 0, t), None, "slot {t} should stay empty");
        }
        for t in 1011..=1012 {
            assert_eq!(value(&db, "t.r", 0, t), Some(9.0), "slot {t}");
        }
    }

    #[test]
    fn redefining_a_chart_in_the_same_session_keeps_collecting() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.k\nDIMENSION x", 0);
        feed_ok(&mut s, "BEGIN t.k\nSET x = 5\nEND", 1000 * S + S / 2);
        feed_ok(&mut s, "CHART t.k '' 'New title'\nDIMENSION x", 1001 * S);
        feed_ok(&mut s, "BEGIN t.k\nSET x = 6\nEND", 1001 * S + S / 2);
        assert_eq!(value(&db, "t.k", 0, 1001), Some(6.0));
        assert_eq!(&*db.localhost().chart("t.k").unwrap().read().meta.title, "New title");
    }

    #[test]
    fn set_last_value_wins_and_empty_value_means_not_collected() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.s\nDIMENSION a\nDIMENSION b", 0);
        feed_ok(&mut s, "BEGIN t.s\nSET a = 1\nSET b = 1\nEND", 1000 * S + S / 2);
        feed_ok(&mut s, "BEGIN t.s\nSET a = 100\nSET a = 2\nSET b =\nEND", 1001 * S + S / 2);
        assert_eq!(value(&db, "t.s", 0, 1001), Some(2.0));
        assert_eq!(value(&db, "t.s", 1, 1001), None);
        assert_eq!(s.stats().values_stored, 3);
    }

    #[test]
    fn flush_discards_the_open_block() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.f\nDIMENSION x\nBEGIN t.f\nSET x = 1\nFLUSH", 1000 * S);
        assert_eq!(s.feed(b"END", 1000 * S), Feed::Error(SessionError::EndWithoutBegin));
        assert_eq!(s.stats().collections, 0);
        assert_eq!(db.localhost().chart("t.f").unwrap().read().last_collected_ut(), None);
    }

    #[test]
    fn protocol_errors_are_reported_counted_and_skipped() {
        let db = db();
        let mut s = session(&db);
        let e = |s: &mut Session, line: &str| s.feed(line.as_bytes(), 1000 * S);
        assert_eq!(e(&mut s, "DIMENSION x"), Feed::Error(SessionError::DimensionWithoutChart("x".into())));
        assert_eq!(e(&mut s, "SET x = 1"), Feed::Error(SessionError::SetWithoutBegin("x".into())));
        assert_eq!(e(&mut s, "END"), Feed::Error(SessionError::EndWithoutBegin));
        assert_eq!(e(&mut s, "BEGIN no.such"), Feed::Error(SessionError::UnknownChart("no.such".into())));
        assert_eq!(e(&mut s, "SET x = 1"), Feed::Ignored, "SET inside a failed block is skipped quietly");
        assert_eq!(e(&mut s, "END"), Feed::Ignored);
        assert_eq!(e(&mut s, "CHART t.e"), Feed::Ok);
        assert_eq!(e(&mut s, "BEGIN t.e"), Feed::Ok);
        assert_eq!(
            e(&mut s, "SET nope = 1"),
            Feed::Error(SessionError::UnknownDimension { chart: "t.e".into(), dimension: "nope".into() })
        );
        assert_eq!(e(&mut s, "SET"), Feed::Error(SessionError::Parse(ParseError::MissingSetId)));
        assert_eq!(
            e(&mut s, "Traceback (most recent call last):"),
            Feed::Error(SessionError::NotACommand("Traceback".into()))
        );
        assert_eq!(e(&mut s, "CLABEL_COMMIT"), Feed::Ignored);
        assert_eq!(e(&mut s, "VARIABLE CHART x = 1"), Feed::Ignored);
        assert_eq!(e(&mut s, ""), Feed::Ignored);
        assert_eq!(e(&mut s, "DISABLE"), Feed::Disable);
        assert!(s.is_disabled());
        let st = s.stats();
        assert_eq!((st.lines, st.errors), (15, 7));
    }

    /// `(name, value, source)` of each label.
    fn labels_of(l: &crate::rrd::Labels) -> Vec<(String, String, u32)> {
        l.iter().map(|l| (l.name.to_string(), l.value.to_string(), l.source)).collect()
    }

    fn triples(t: &[(&str, &str, u32)]) -> Vec<(String, String, u32)> {
        t.iter().map(|(n, v, s)| (n.to_string(), v.to_string(), *s)).collect()
    }

    /// Host labels as a netdata 1.37 child sends them: LABEL lines, then OVERWRITE; a second
    /// round replaces the first whole.
    #[test]
    fn label_then_overwrite_replaces_the_host_labels() {
        let db = db();
        let host = db.localhost();
        host.set_own_labels(crate::rrd::Labels::from_pairs(&[("room".into(), "b12".into())], 2));
        let mut s = session(&db);
        feed_ok(&mut s, "LABEL \"_os_name\" = 1 \"Debian GNU/Linux\"\nLABEL \"Team\" = 2 \"a;b=c\"", 0);
        assert_eq!(labels_of(&host.labels()), triples(&[("room", "b12", 2)]), "nothing before OVERWRITE");
        feed_ok(&mut s, "OVERWRITE labels", 0);
        assert_eq!(
            labels_of(&host.labels()),
            triples(&[("room", "b12", 2), ("_os_name", "Debian GNU/Linux", 1), ("team", "a:b:c", 2)])
        );
        feed_ok(&mut s, "LABEL room = 2 \"c 3\"\nOVERWRITE labels", 0);
        assert_eq!(labels_of(&host.labels()), triples(&[("room", "c 3", 2)]));
        assert_eq!(s.feed(b"OVERWRITE labels", 0), Feed::Ignored, "no LABEL since: nothing changes");
        assert_eq!(labels_of(&host.labels()), triples(&[("room", "c 3", 2)]));
    }

    /// A streaming child's labels belong to its own host: the parent's stay as they are.
    #[test]
    fn a_childs_labels_label_its_host_only() {
        let db = db();
        db.localhost().set_own_labels(crate::rrd::Labels::from_pairs(&[("room".into(), "b12".into())], 2));
        let info = HostInfo {
            hostname: "kid".into(),
            machine_guid: "g-kid".into(),
            update_every: 1,
            ..Default::default()
        };
        let (kid, _) = db.host_by_guid(info);
        let mut cfg = SessionConfig::new("stream/kid", 1);
        cfg.whole_host = true;
        let mut s = Session::new(cfg, kid.clone());
        feed_ok(&mut s, "LABEL \"_os_name\" = 1 \"Debian\"\nLABEL \"team\" = 2 \"db\"\nOVERWRITE labels", 0);
        feed_ok(&mut s, "CHART k.a\nCLABEL \"device\" \"sda\" 1\nCLABEL_COMMIT\nDIMENSION x", 0);
        assert_eq!(labels_of(&kid.labels()), triples(&[("_os_name", "Debian", 1), ("team", "db", 2)]));
        assert_eq!(labels_of(&kid.chart("k.a").unwrap().read().labels), triples(&[("device", "sda", 1)]));
        assert_eq!(labels_of(&db.localhost().labels()), triples(&[("room", "b12", 2)]));
    }

    /// Chart labels: CLABEL lines after CHART (or BEGIN) apply on CLABEL_COMMIT, replace the
    /// chart's labels whole, and survive the chart's redefinition.
    #[test]
    fn clabel_commit_labels_the_chart_last_defined_or_begun() {
        let db = db();
        let mut s = session(&db);
        let e = |s: &mut Session, line: &str| s.feed(line.as_bytes(), 1000 * S);
        assert_eq!(e(&mut s, "CLABEL a b 1"), Feed::Error(SessionError::ClabelWithoutChart));
        feed_ok(&mut s, "CHART t.a\nDIMENSION x\nCHART t.b\nDIMENSION y", 0);
        feed_ok(&mut s, "CLABEL \"device\" \"sda\" 1\nCLABEL \"mount\" \"/ \\\"x\\\"\" 2", 0);
        let labels = |id: &str| labels_of(&db.localhost().chart(id).unwrap().read().labels);
        assert!(labels("t.b").is_empty(), "nothing before CLABEL_COMMIT");
        feed_ok(&mut s, "CLABEL_COMMIT", 0);
        assert_eq!(labels("t.b"), triples(&[("device", "sda", 1), ("mount", "/ _x_", 2)]));
        assert!(labels("t.a").is_empty());
        feed_ok(&mut s, "BEGIN t.a\nCLABEL k v 2\nCLABEL_COMMIT\nSET x = 1\nEND", 1000 * S);
        assert_eq!(labels("t.a"), triples(&[("k", "v", 2)]));
        feed_ok(&mut s, "CHART t.b 'new name'\nCLABEL only one 2\nCLABEL_COMMIT", 0);
        assert_eq!(labels("t.b"), triples(&[("only", "one", 2)]));
        feed_ok(&mut s, "CHART t.b 'again'", 0);
        assert_eq!(labels("t.b"), triples(&[("only", "one", 2)]), "a redefinition keeps the labels");
        assert_eq!(e(&mut s, "CLABEL_COMMIT"), Feed::Ignored);
    }

    /// A hostile plugin: 10 000 labels of 10 KB each, to the host and to a chart. The caps
    /// hold, the first labels that fit are kept, every other one is counted as refused.
    #[test]
    fn label_caps_hold_against_a_flood() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.a\nDIMENSION x", 0);
        let big = "v".repeat(10_000);
        for i in 0..10_000 {
            s.feed(format!("LABEL k{i} = 2 {big}").as_bytes(), 0);
            s.feed(format!("CLABEL k{i} {big} 2").as_bytes(), 0);
        }
        feed_ok(&mut s, "OVERWRITE labels\nCLABEL_COMMIT", 0);
        let host = db.localhost().labels();
        let chart = db.localhost().chart("t.a").unwrap().read().labels.clone();
        for l in [&host, &chart] {
            assert_eq!(l.len(), 10);
            assert!(l.bytes() <= crate::rrd::labels::MAX_BYTES);
            assert!(l.iter().all(|l| l.value.len() == crate::rrd::labels::VALUE_MAX));
        }
        assert_eq!(s.stats().labels_refused, 2 * 9_990);
        let mut many = session(&db);
        for i in 0..10_000 {
            many.feed(format!("LABEL k{i} = 2 v").as_bytes(), 0);
        }
        many.feed(b"OVERWRITE labels", 0);
        assert_eq!(db.localhost().labels().len(), crate::rrd::labels::MAX_LABELS);
    }

    #[test]
    fn clock_going_backwards_is_an_error_and_collection_restarts() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.b\nDIMENSION x", 0);
        feed_ok(&mut s, "BEGIN t.b\nSET x = 1\nEND", 1005 * S);
        feed_ok(&mut s, "BEGIN t.b", 1003 * S);
        s.feed(b"SET x = 1", 1003 * S);
        assert_eq!(
            s.feed(b"END", 1003 * S),
            Feed::Error(SessionError::TimeWentBackwards { chart: "t.b".into() })
        );
        assert_eq!(db.localhost().chart("t.b").unwrap().read().last_collected_ut(), Some(1003 * S));
        feed_ok(&mut s, "BEGIN t.b\nSET x = 1\nEND", 1004 * S + S / 2);
    }

    #[test]
    fn chart_cap_refuses_new_charts_and_their_lines_quietly() {
        let db = db();
        let mut cfg = SessionConfig::new("capped", 1);
        cfg.max_charts = 2;
        let mut s = Session::new(cfg, db.localhost());
        feed_ok(&mut s, "CHART t.one\nDIMENSION x\nCHART t.two\nDIMENSION x", 0);
        assert_eq!(s.feed(b"CHART t.three", 0), Feed::Ignored);
        assert_eq!(s.feed(b"DIMENSION x", 0), Feed::Ignored);
        assert_eq!(s.feed(b"CHART t.four", 0), Feed::Ignored);
        assert_eq!(s.feed(b"BEGIN t.three", 0), Feed::Ignored);
        assert_eq!(s.feed(b"SET x = 1", 0), Feed::Ignored);
        assert_eq!(s.feed(b"END", 0), Feed::Ignored);
        // Redefining an accepted chart still works.
        assert_eq!(s.feed(b"CHART t.one", 0), Feed::Ok);
        assert_eq!(db.localhost().chart_count(), 2);
        assert!(db.localhost().chart("t.three").is_none());
        let st = s.stats();
        assert_eq!((st.charts_refused, st.dimensions_refused, st.errors), (2, 1, 0));
    }

    #[test]
    fn dimension_cap_counts_over_all_charts() {
        let db = db();
        let mut cfg = SessionConfig::new("capped", 1);
        cfg.max_dimensions = 3;
        let mut s = Session::new(cfg, db.localhost());
        feed_ok(&mut s, "CHART t.a\nDIMENSION a\nDIMENSION b\nCHART t.b\nDIMENSION c", 0);
        assert_eq!(s.feed(b"DIMENSION d", 0), Feed::Ignored);
        assert_eq!(s.feed(b"DIMENSION c '' incremental", 0), Feed::Ok, "known dimension");
        assert_eq!(s.dimension_count(), 3);
        assert_eq!(db.localhost().chart("t.b").unwrap().dimension_count(), 1);
        assert_eq!(s.stats().dimensions_refused, 1);
        feed_ok(&mut s, "BEGIN t.b", 0);
        assert_eq!(
            s.feed(b"SET d = 1", 0),
            Feed::Error(SessionError::UnknownDimension { chart: "t.b".into(), dimension: "d".into() })
        );
    }

    /// SETs are found by an ordered probe when they follow the DIMENSION order and through an
    /// index otherwise; both must reach the same dimensions.
    #[test]
    fn sets_in_any_order_reach_their_dimensions() {
        let db = db();
        let mut s = session(&db);
        let mut def = String::from("CHART t.many");
        for d in 0..20 {
            def.push_str(&format!("\nDIMENSION d{d}"));
        }
        feed_ok(&mut s, &def, 0);
        assert!(!s.charts[0].dims.indexed(), "defining dimensions builds no index");
        let block = |order: &mut dyn Iterator<Item = usize>, base: i64| {
            let mut b = String::from("BEGIN t.many");
            for d in order {
                b.push_str(&format!("\nSET d{d} = {}", base + d as i64));
            }
            b + "\nEND"
        };
        // In order, then skipping every third one, then backwards, then shuffled.
        feed_ok(&mut s, &block(&mut (0..20), 100), 1000 * S + S / 2);
        feed_ok(&mut s, &def, 1000 * S + S / 2);
        assert!(!s.charts[0].dims.indexed(), "SETs and redefinitions in order need no index");
        feed_ok(&mut s, &block(&mut (0..20).filter(|d| d % 3 != 0), 200), 1001 * S + S / 2);
        assert!(!s.charts[0].dims.indexed(), "a few skipped dimensions need no index");
        feed_ok(&mut s, &block(&mut (0..20).rev(), 300), 1002 * S + S / 2);
        assert!(s.charts[0].dims.indexed(), "SETs out of order get the index");
        feed_ok(&mut s, &block(&mut (0..20).map(|d| (d * 7) % 20), 400), 1003 * S + S / 2);
        for d in 0..20usize {
            let skipped = d % 3 == 0;
            assert_eq!(value(&db, "t.many", d, 1001), (!skipped).then_some(200.0 + d as f64), "d{d}");
            assert_eq!(value(&db, "t.many", d, 1002), Some(300.0 + d as f64), "d{d}");
            assert_eq!(value(&db, "t.many", d, 1003), Some(400.0 + d as f64), "d{d}");
        }
        // A dimension defined after the index was built is found too; unknown ones are errors.
        feed_ok(&mut s, "CHART t.many\nDIMENSION late", 1004 * S);
        feed_ok(&mut s, "BEGIN t.many\nSET late = 5\nSET d3 = 1\nEND", 1004 * S + S / 2);
        feed_ok(&mut s, "BEGIN t.many\nSET d3 = 1\nSET late = 6\nEND", 1005 * S + S / 2);
        assert_eq!(value(&db, "t.many", 20, 1005), Some(6.0), "its first value only primes");
        feed_ok(&mut s, "BEGIN t.many", 1006 * S);
        assert_eq!(
            s.feed(b"SET nope = 1", 1006 * S),
            Feed::Error(SessionError::UnknownDimension { chart: "t.many".into(), dimension: "nope".into() })
        );
        assert_eq!(s.dimension_count(), 21);
    }

    /// A chart of many dimensions, defined twice: the second definition finds every dimension
    /// (through the store's index), so nothing is counted or stored twice, and SETs land.
    #[test]
    fn redefining_a_large_chart_finds_every_dimension() {
        let db = db();
        let mut s = session(&db);
        let mut def = String::from("CHART t.large");
        for d in 0..3000 {
            def.push_str(&format!("\nDIMENSION d{d}"));
        }
        feed_ok(&mut s, &def, 0);
        feed_ok(&mut s, &def, 0);
        assert_eq!(s.dimension_count(), 3000);
        assert_eq!(db.localhost().chart("t.large").unwrap().dimension_count(), 3000);
        for t in 0..2u64 {
            let mut block = String::from("BEGIN t.large");
            for d in 0..3000 {
                block.push_str(&format!("\nSET d{d} = {d}"));
            }
            feed_ok(&mut s, &(block + "\nEND"), (1000 + t) * S + S / 2);
        }
        assert_eq!(value(&db, "t.large", 2999, 1001), Some(2999.0));
    }

    /// With caps on the whole host (a streaming child), dimensions already on the host count,
    /// and so does every one this session adds; known ones are redefined past the cap.
    #[test]
    fn whole_host_dimension_cap_counts_the_host_once_then_what_the_session_adds() {
        let db = db();
        let mut earlier = session(&db);
        feed_ok(&mut earlier, "CHART t.old\nDIMENSION a\nDIMENSION b", 0);
        drop(earlier);
        let mut cfg = SessionConfig::new("stream/child", 1);
        cfg.whole_host = true;
        cfg.max_dimensions = 4;
        let mut s = Session::new(cfg, db.localhost());
        feed_ok(&mut s, "CHART t.new\nDIMENSION c\nDIMENSION d", 0);
        assert_eq!(s.feed(b"DIMENSION e", 0), Feed::Ignored, "2 old + 2 new = the cap");
        feed_ok(&mut s, "CHART t.old\nDIMENSION a\nDIMENSION b '' incremental", 0);
        assert_eq!(s.feed(b"DIMENSION z", 0), Feed::Ignored);
        assert_eq!(s.stats().dimensions_refused, 2);
        let c = db.localhost().chart("t.old").unwrap();
        assert_eq!(c.dimension_count(), 2);
        assert_eq!(c.read().dims[1].algorithm, crate::rrd::Algorithm::Incremental);
    }

    /// Words from the source are shown escaped wherever an error or warning names them.
    #[test]
    fn errors_show_source_words_escaped() {
        let e = SessionError::NotACommand("evil\rFAKE\0\x1b[2J".into());
        assert_eq!(
            e.to_string(),
            "'evil\\rFAKE\\0\\x1b[2J' is not a plugins.d command (is the plugin printing text to stdout instead of stderr?)"
        );
        let e = SessionError::UnknownDimension { chart: "a.b\n".into(), dimension: "d\r".into() };
        assert_eq!(
            e.to_string(),
            "SET of dimension 'd\\r' that chart 'a.b\\n' does not have; send DIMENSION d\\r after CHART a.b\\n"
        );
        let e = SessionError::Parse(ParseError::ChartIdWithoutDot("x\ry".into()));
        assert_eq!(e.to_string(), "chart id 'x\\ry' is not of the form type.id (for example system.cpu)");
        let w = ParseWarning::UnknownAlgorithm("a\u{1b}".into());
        assert!(w.to_string().starts_with("unknown algorithm 'a\\x1b', using"), "{w}");
    }

    #[test]
    fn bad_algorithm_falls_back_to_absolute_and_counts_a_warning() {
        let db = db();
        let mut s = session(&db);
        feed_ok(&mut s, "CHART t.w\nDIMENSION x '' sideways", 0);
        let c = db.localhost().chart("t.w").unwrap();
        assert_eq!(c.read().dims[0].algorithm, crate::rrd::Algorithm::Absolute);
        assert_eq!(s.stats().warnings, 1);
    }
}
