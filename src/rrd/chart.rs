//! A chart: its definition, its dimensions, and the round-robin slots they are stored in.
//!
//! One job: turn raw collected integers into per-slot values and keep the last `history` of them.
//! It applies the dimension algorithm, multiplier and divisor, interpolates or spreads values over
//! the slot boundaries a collection crosses, and answers time → slot questions for readers.
//!
//! It knows nothing of plugins, exporters or wall clocks: collection times are passed in as
//! microseconds since the Unix epoch.
//!
//! # Slots
//! A slot is identified by its boundary time `t`, a multiple of the chart's `update every` (`ue`),
//! and holds the value of the interval `(t - ue, t]`. Slot `t` lives at ring index
//! `(t / ue) % history`, so time → slot is one division and stays right after the ring wraps.
//!
//! # Memory
//! The slots are kept by [`Ring`](super::ring::Ring): slot-major rows for the block being
//! written, so one collection writes one contiguous run; completed blocks compressed.

use std::cell::RefCell;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;
use parking_lot::{RwLock, RwLockReadGuard};

use super::labels::Labels;
use super::ring::Ring;
use super::storage_number::{self, StorageNumber, SN_EMPTY, SN_EXISTS, SN_EXISTS_RESET};
use crate::clock::USEC_PER_SEC;

/// How a dimension's raw collected integers become stored values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The collected value itself.
    Absolute,
    /// The rate of change per second of a counter; a counter going backwards is a reset.
    Incremental,
    /// The value as a percentage of the sum of the row's collected values.
    PercentageOfAbsoluteRow,
    /// The delta as a percentage of the sum of the row's deltas.
    PercentageOfIncrementalRow,
}

impl Algorithm {
    /// Parse netdata's spelling of an algorithm.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "absolute" => Some(Algorithm::Absolute),
            "incremental" => Some(Algorithm::Incremental),
            "percentage-of-absolute-row" => Some(Algorithm::PercentageOfAbsoluteRow),
            "percentage-of-incremental-row" => Some(Algorithm::PercentageOfIncrementalRow),
            _ => None,
        }
    }

    /// netdata's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Absolute => "absolute",
            Algorithm::Incremental => "incremental",
            Algorithm::PercentageOfAbsoluteRow => "percentage-of-absolute-row",
            Algorithm::PercentageOfIncrementalRow => "percentage-of-incremental-row",
        }
    }
}

/// How a chart is drawn (netdata's `chart_type`: line, area, stacked); exported as-is in JSON.
/// Not the chart's type, the first part of its id ([`ChartMeta::type_part`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartType {
    /// Lines.
    Line,
    /// Filled areas.
    Area,
    /// Stacked areas.
    Stacked,
}

impl ChartType {
    /// Parse netdata's spelling.
    pub fn parse(s: &str) -> Option<ChartType> {
        match s {
            "line" => Some(ChartType::Line),
            "area" => Some(ChartType::Area),
            "stacked" => Some(ChartType::Stacked),
            _ => None,
        }
    }

    /// netdata's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartType::Line => "line",
            ChartType::Area => "area",
            ChartType::Stacked => "stacked",
        }
    }
}

/// Everything needed to create or redefine a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartDef {
    /// `type.id`, e.g. `system.cpu`.
    pub id: String,
    /// The name as given (without `type.`); `None` or empty means "use the id".
    pub name: Option<String>,
    /// Human title.
    pub title: String,
    /// Units, e.g. `percentage`.
    pub units: String,
    /// Family (submenu); empty means the chart's type.
    pub family: String,
    /// Context; empty means the chart's id.
    pub context: String,
    /// Line, area or stacked.
    pub chart_type: ChartType,
    /// Sort order.
    pub priority: i64,
    /// Seconds between collections (≥ 1).
    pub update_every: u32,
    /// Obsolete flag from the chart options.
    pub obsolete: bool,
    /// Producing plugin, for information.
    pub plugin: String,
    /// Producing module, for information.
    pub module: String,
}

impl ChartDef {
    /// A definition with netdata's defaults for everything but the id.
    pub fn new(id: &str, update_every: u32) -> ChartDef {
        ChartDef {
            id: id.to_string(),
            name: None,
            title: String::new(),
            units: String::new(),
            family: String::new(),
            context: String::new(),
            chart_type: ChartType::Line,
            priority: 1000,
            update_every: update_every.max(1),
            obsolete: false,
            plugin: String::new(),
            module: String::new(),
        }
    }
}

/// Everything needed to create or redefine a dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct DimensionDef {
    /// Identifier, unique within the chart.
    pub id: String,
    /// Display name; `None` or empty means the id.
    pub name: Option<String>,
    /// How raw values become stored values.
    pub algorithm: Algorithm,
    /// Applied after the algorithm (0 is taken as 1).
    pub multiplier: i64,
    /// Applied after the algorithm (0 is taken as 1).
    pub divisor: i64,
    /// Hidden from dashboards; still stored and exported.
    pub hidden: bool,
    /// Marked obsolete by its collector.
    pub obsolete: bool,
}

impl DimensionDef {
    /// An absolute dimension with multiplier and divisor 1.
    pub fn new(id: &str, algorithm: Algorithm) -> DimensionDef {
        DimensionDef {
            id: id.to_string(),
            name: None,
            algorithm,
            multiplier: 1,
            divisor: 1,
            hidden: false,
            obsolete: false,
        }
    }

    /// Builder: set multiplier and divisor.
    pub fn scaled(mut self, multiplier: i64, divisor: i64) -> DimensionDef {
        self.multiplier = multiplier;
        self.divisor = divisor;
        self
    }
}

/// Replace characters netdata does not allow in chart names with `_`.
pub fn sanitize_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' { c } else { '_' })
        .collect()
}

/// Chart metadata as stored (defaults resolved).
#[derive(Clone, Debug)]
pub struct ChartMeta {
    /// `type.id`.
    pub id: Box<str>,
    /// `type.` + sanitized name, or the id.
    pub name: Box<str>,
    /// The chart's type in netdata's sense: the part of the id before the first `.`
    /// (`system` of `system.cpu`). Not [`ChartType`], which is how the chart is drawn.
    pub type_part: Box<str>,
    /// Human title.
    pub title: Box<str>,
    /// Units.
    pub units: Box<str>,
    /// Family (defaults to the type).
    pub family: Box<str>,
    /// Context (defaults to the id).
    pub context: Box<str>,
    /// Line, area or stacked.
    pub chart_type: ChartType,
    /// Sort order.
    pub priority: i64,
    /// Seconds between collections.
    pub update_every: u32,
    /// Obsolete flag.
    pub obsolete: bool,
}

impl ChartMeta {
    fn from_def(def: &ChartDef) -> ChartMeta {
        let type_part = def.id.split('.').next().unwrap_or("").to_string();
        let name = match def.name.as_deref() {
            Some(n) if !n.is_empty() => format!("{}.{}", type_part, sanitize_name(n)),
            _ => def.id.clone(),
        };
        ChartMeta {
            id: def.id.clone().into(),
            name: name.into(),
            family: if def.family.is_empty() { type_part.clone() } else { def.family.clone() }.into(),
            context: if def.context.is_empty() { def.id.clone() } else { def.context.clone() }.into(),
            type_part: type_part.into(),
            title: def.title.clone().into(),
            units: def.units.clone().into(),
            chart_type: def.chart_type,
            priority: def.priority,
            update_every: def.update_every.max(1),
            obsolete: def.obsolete,
        }
    }
}

/// A dimension: its definition, its last collection and its interpolation state. Its id and
/// name are in the chart's [`DimNames`].
#[derive(Debug)]
pub struct Dimension {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Multiplier (never 0).
    pub multiplier: i64,
    /// Divisor (never 0).
    pub divisor: i64,
    /// Hidden option.
    pub hidden: bool,
    /// Obsolete option.
    pub obsolete: bool,
    /// The last raw integer collected, before algorithm, multiplier and divisor.
    pub last_collected_value: i64,
    /// When it was collected (µs since the epoch); 0 = never.
    pub last_collected_ut: u64,
    /// Absolute and the percentages: the value of the last collection after algorithm,
    /// multiplier and divisor, where the interpolation to the next collection starts.
    last_level: f64,
    /// Incremental: the scaled counts not yet attributed to a slot.
    carry: f64,
    /// Incremental: start of the time the carry covers (µs since the epoch).
    carry_since_ut: u64,
    /// Whether the dimension has a previous collection to compute deltas from.
    primed: bool,
}

impl Dimension {
    fn from_def(def: &DimensionDef) -> Dimension {
        let mut d = Dimension {
            algorithm: def.algorithm,
            multiplier: 1,
            divisor: 1,
            hidden: false,
            obsolete: false,
            last_collected_value: 0,
            last_collected_ut: 0,
            last_level: 0.0,
            carry: 0.0,
            carry_since_ut: 0,
            primed: false,
        };
        d.redefine(def);
        d
    }

    fn redefine(&mut self, def: &DimensionDef) {
        if self.algorithm != def.algorithm {
            self.primed = false;
        }
        self.algorithm = def.algorithm;
        self.multiplier = if def.multiplier == 0 { 1 } else { def.multiplier };
        self.divisor = if def.divisor == 0 { 1 } else { def.divisor };
        self.hidden = def.hidden;
        self.obsolete = def.obsolete;
    }

    #[inline]
    fn scale(&self) -> f64 {
        self.multiplier as f64 / self.divisor as f64
    }

    /// Takes the collection at `now_ut` as the start of the dimension's next interval, with
    /// nothing stored for it: its first collection, or its first after a gap.
    #[inline]
    fn prime(&mut self, now_ut: u64) {
        self.primed = true;
        self.last_collected_ut = now_ut;
        self.carry = 0.0;
        self.carry_since_ut = now_ut;
        self.last_level = match self.algorithm {
            Algorithm::Absolute => self.last_collected_value as f64 * self.scale(),
            _ => 0.0,
        };
    }

    /// The value of a collection of this primed dimension, whose previous raw value was
    /// `raw_prev`, at `now_ut`.
    #[inline]
    fn compute(&self, raw_prev: i64, totals: RowTotals, now_ut: u64) -> Computed {
        let raw = self.last_collected_value;
        let scale = self.scale();
        match self.algorithm {
            Algorithm::Absolute => Computed::Level { value: raw as f64 * scale, reset: false },
            Algorithm::PercentageOfAbsoluteRow => {
                let total = totals.absolute;
                let v = if total != 0.0 { 100.0 * raw as f64 / total } else { 0.0 };
                Computed::Level { value: v * scale, reset: false }
            }
            Algorithm::PercentageOfIncrementalRow => {
                let delta = raw.wrapping_sub(raw_prev);
                let reset = delta < 0;
                let delta = if reset { 0.0 } else { delta as f64 };
                let total = totals.incremental;
                let v = if total != 0.0 { 100.0 * delta / total } else { 0.0 };
                Computed::Level { value: v * scale, reset }
            }
            Algorithm::Incremental => {
                let delta = raw.wrapping_sub(raw_prev);
                let reset = delta < 0;
                let delta = if reset { 0.0 } else { delta as f64 };
                let dt = (now_ut - self.last_collected_ut) as f64 / USEC_PER_SEC as f64;
                Computed::Rate { rate: delta * scale / dt, reset }
            }
        }
    }

    /// The storage number of the slot whose boundary is `b_ut`, crossed by the collection at
    /// `now_ut` that computed `computed`. A level is interpolated from the last one when the
    /// collection crossed more than one boundary (`interpolate`); a rate spreads the carry and
    /// the counts up to the boundary over the time since the carry started, and the carry
    /// starts again at the boundary.
    #[inline]
    fn slot_value(&mut self, computed: Computed, interpolate: bool, b_ut: u64, now_ut: u64) -> StorageNumber {
        match computed {
            Computed::Missing | Computed::Priming => SN_EMPTY,
            Computed::Level { value, reset } => {
                let v = if interpolate {
                    let prev_ut = self.last_collected_ut as f64;
                    let frac = (b_ut as f64 - prev_ut) / (now_ut as f64 - prev_ut);
                    let last = self.last_level;
                    last + (value - last) * frac
                } else {
                    value
                };
                pack_flagged(v, reset)
            }
            Computed::Rate { rate, reset } => {
                let start_ut = self.last_collected_ut.max(self.carry_since_ut);
                let counts = self.carry + rate * (b_ut - start_ut) as f64 / USEC_PER_SEC as f64;
                let span = (b_ut - self.carry_since_ut) as f64 / USEC_PER_SEC as f64;
                let per_s = if span > 0.0 { counts / span } else { rate };
                self.carry = 0.0;
                self.carry_since_ut = b_ut;
                // `start` for the next boundary is this one.
                self.last_collected_ut = self.last_collected_ut.max(b_ut);
                pack_flagged(per_s, reset)
            }
        }
    }

    /// Keeps the collection at `now_ut` that computed `computed` as the start of the next
    /// interval: a level to interpolate from, or the counts since the last boundary added to
    /// the carry.
    #[inline]
    fn remember(&mut self, computed: Computed, now_ut: u64) {
        match computed {
            Computed::Missing => {}
            Computed::Priming => self.prime(now_ut),
            Computed::Level { value, .. } => {
                self.last_level = value;
                self.last_collected_ut = now_ut;
            }
            Computed::Rate { rate, .. } => {
                let start_ut = self.last_collected_ut.max(self.carry_since_ut);
                self.carry += rate * (now_ut - start_ut) as f64 / USEC_PER_SEC as f64;
                self.last_collected_ut = now_ut;
            }
        }
    }
}

/// The ids and names of a chart's dimensions, back to back in one string.
///
/// A dimension's name costs nothing of its own (no allocation, no pointer in [`Dimension`]),
/// and the export walk reads a chart's names in one sweep of a few hundred bytes instead of
/// one cold allocation per dimension.
///
/// Finding a dimension by id scans the ids while a chart has up to [`INDEX_FROM`] dimensions;
/// a larger chart gets a hash index of positions (4 bytes and a control byte per dimension,
/// the ids stay in the text), so that defining a chart costs time linear in its dimensions.
#[derive(Debug, Default)]
pub struct DimNames {
    text: String,
    /// Per dimension: where its id starts and ends, and where its name starts and ends (the
    /// id's own span when it has no other name). Every span covers whole strings pushed into
    /// `text`, so it starts and ends on character boundaries.
    spans: Vec<[u32; 4]>,
    /// Dimensions whose id or name has a byte that is not [plain](is_plain).
    unplain: u32,
    /// Bytes of `text` held by names that were replaced: compacted away when they outweigh
    /// the live text.
    garbage: u32,
    /// Id → position, once the chart has more than [`INDEX_FROM`] dimensions.
    index: Option<Box<IdIndex>>,
}

/// Dimensions a chart may have before [`DimNames`] indexes their ids: up to this many a scan
/// of their ids (a few hundred bytes, under a microsecond) costs no memory, and charts of
/// usual sizes (the `memory` test's 100 dimensions) stay as small as they were.
pub const INDEX_FROM: usize = 128;

/// The hash index of a large chart's ids: positions only, hashed with a key of its own so
/// that a source cannot choose ids that collide.
#[derive(Debug, Default)]
struct IdIndex {
    table: HashTable<u32>,
    hasher: RandomState,
}

/// Whether `s` holds only ASCII letters and digits, `.`, `_` and `-`: text that every export
/// format writes as it is, with nothing to sanitize or escape.
#[inline]
pub fn is_plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The text of `span` in `text`.
#[inline(always)]
fn span_of(text: &str, start: u32, end: u32) -> &str {
    let (start, end) = (start as usize, end as usize);
    assert!(start <= end && end <= text.len());
    // SAFETY: in bounds (checked), and every span starts and ends where a whole string pushed
    // into `text` starts or ends: on character boundaries.
    unsafe { text.get_unchecked(start..end) }
}

impl DimNames {
    /// Number of dimensions.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there is no dimension.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Dimension `i`'s id.
    #[inline]
    pub fn id(&self, i: usize) -> &str {
        let [a, b, ..] = self.spans[i];
        span_of(&self.text, a, b)
    }

    /// Dimension `i`'s display name (its id unless it was given another).
    #[inline]
    pub fn name(&self, i: usize) -> &str {
        let [.., c, d] = self.spans[i];
        span_of(&self.text, c, d)
    }

    /// Whether every id and name is [plain](is_plain), so that a writer may copy them as
    /// they are.
    #[inline]
    pub fn all_plain(&self) -> bool {
        self.unplain == 0
    }

    /// Whether dimension `i` was given a name other than its id.
    fn has_other_name(&self, i: usize) -> bool {
        let [a, b, c, d] = self.spans[i];
        (c, d) != (a, b)
    }

    /// Whether dimension `i`'s id or name is not plain.
    fn is_unplain(&self, i: usize) -> bool {
        !is_plain(self.id(i)) || (self.has_other_name(i) && !is_plain(self.name(i)))
    }

    /// The index of the dimension with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => {
                let hash = ix.hasher.hash_one(id);
                ix.table.find(hash, |&k| self.id(k as usize) == id).map(|&k| k as usize)
            }
            None => (0..self.len()).find(|&i| self.id(i) == id),
        }
    }

    /// Whether the ids are indexed (the chart has more than [`INDEX_FROM`] dimensions).
    pub fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    fn append(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(s);
        let end = u32::try_from(self.text.len()).expect("dimension names of one chart exceed 4 GiB");
        (start as u32, end)
    }

    /// A name that is not the id, or `None`.
    fn other_name<'a>(id: &str, name: Option<&'a str>) -> Option<&'a str> {
        name.filter(|n| !n.is_empty() && *n != id)
    }

    fn push(&mut self, id: &str, name: Option<&str>) {
        let (a, b) = self.append(id);
        let other = Self::other_name(id, name);
        let (c, d) = match other {
            Some(n) => self.append(n),
            None => (a, b),
        };
        self.spans.push([a, b, c, d]);
        let k = self.len() - 1;
        self.unplain += self.is_unplain(k) as u32;
        if self.index.is_some() {
            self.index_one(k);
        } else if self.len() > INDEX_FROM {
            self.build_index();
        }
    }

    /// Index every id.
    fn build_index(&mut self) {
        let mut ix = Box::<IdIndex>::default();
        ix.table.reserve(self.len(), |_| unreachable!("reserved before any insert"));
        self.index = Some(ix);
        for k in 0..self.len() {
            self.index_one(k);
        }
    }

    /// Add dimension `k`'s id to the index.
    fn index_one(&mut self, k: usize) {
        let DimNames { text, spans, index, .. } = self;
        let Some(ix) = index.as_mut() else { return };
        let id_of = |k: u32| {
            let [a, b, ..] = spans[k as usize];
            span_of(text, a, b)
        };
        let hash = ix.hasher.hash_one(id_of(k as u32));
        let hasher = &ix.hasher;
        ix.table.insert_unique(hash, k as u32, |&j| hasher.hash_one(id_of(j)));
    }

    /// Gives dimension `i` a new name (`None` or empty: its id). A name that did not change
    /// writes nothing; the text is compacted when replaced names make up most of it.
    fn rename(&mut self, i: usize, name: Option<&str>) {
        let [a, b, c0, d0] = self.spans[i];
        let new = Self::other_name(self.id(i), name);
        let had_other = self.has_other_name(i);
        if new == had_other.then(|| self.name(i)) {
            return;
        }
        self.unplain -= self.is_unplain(i) as u32;
        if had_other {
            self.garbage += d0 - c0;
        }
        let (c, d) = match new {
            Some(n) => self.append(n),
            None => (a, b),
        };
        self.spans[i][2] = c;
        self.spans[i][3] = d;
        self.unplain += self.is_unplain(i) as u32;
        let live = self.text.len() - self.garbage as usize;
        if self.text.len() > 2 * live + 256 {
            let old = std::mem::take(self);
            for k in 0..old.len() {
                let name = old.has_other_name(k).then(|| old.name(k));
                self.push(old.id(k), name);
            }
        }
    }

    /// Bytes of text held (ids, names and replaced names not compacted yet).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.spans.shrink_to_fit();
        let DimNames { text, spans, index, .. } = self;
        if let Some(ix) = index.as_mut() {
            let hasher = &ix.hasher;
            ix.table.shrink_to_fit(|&j| {
                let [a, b, ..] = spans[j as usize];
                hasher.hash_one(span_of(text, a, b))
            });
        }
    }
}

/// Why a collection was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectError {
    /// The collection time is not after the previous one.
    TimeWentBackwards,
}

/// Mutable chart state, behind the chart's lock.
#[derive(Debug)]
pub struct ChartData {
    /// Definition with defaults resolved.
    pub meta: ChartMeta,
    /// Dimensions in definition order; indices are stable (dimensions are never removed).
    pub dims: Vec<Dimension>,
    /// Their ids and names, by the same index.
    pub names: DimNames,
    /// The chart's labels (`CLABEL`), replaced whole on `CLABEL_COMMIT`; kept when the chart
    /// is redefined.
    pub labels: Arc<Labels>,
    ring: Ring,
    /// Oldest slot written since the chart was created or reset.
    first_t: Option<i64>,
    /// Newest slot written (empty or not).
    last_t: Option<i64>,
    /// Last collection time (µs); `None` until the first collection or after a reset.
    last_collected_ut: Option<u64>,
    /// The newest slot boundary already accounted for (written, or passed while priming).
    last_boundary: Option<i64>,
    /// Slots written late by replication, for exporters; `None` for a chart never replicated
    /// (8 bytes, not the record's, for every local chart).
    late: Option<Box<Late>>,
}

/// Replications of a chart: slots written into its past after the time they belong to, so
/// that exporters can send them once (see `export::instance`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Late {
    /// Replications started so far (0: never).
    pub generation: u64,
    /// Whether one is in progress: its slots are still arriving.
    pub active: bool,
    /// `(generation, from)` of the last [`Late::KEPT`] replications, oldest first: each wrote
    /// slots after `from` only.
    pub from: std::collections::VecDeque<(u64, i64)>,
    /// The newest slot a replication wrote.
    pub replayed_to: Option<i64>,
}

impl Late {
    /// Replications remembered: an exporter that missed more treats the oldest kept as the
    /// first it missed.
    pub const KEPT: usize = 8;

    /// The earliest `from` of the replications after `seen`; `None` when there is none.
    pub fn from_since(&self, seen: u64) -> Option<i64> {
        if self.generation <= seen {
            return None;
        }
        self.from
            .iter()
            .filter(|(g, _)| *g > seen)
            .map(|(_, f)| *f)
            .min()
            .or(self.from.front().map(|(_, f)| *f))
    }
}

/// A chart. Collectors write through [`Chart::collect`]; readers take [`Chart::read`].
///
/// The lock is held for one collection or one reader's pass over the chart: microseconds.
#[derive(Debug)]
pub struct Chart {
    id: Box<str>,
    data: RwLock<ChartData>,
}

impl Chart {
    /// Asks the processor to start loading the chart's own fields (its lock, definition and
    /// the headers of its names and ring), so that taking the lock soon after does not wait.
    #[inline]
    pub fn prefetch(&self) {
        prefetch_bytes((self as *const Chart).cast(), std::mem::size_of::<Chart>());
    }

    /// Create a chart with room for `history` slots per dimension.
    pub fn new(def: &ChartDef, history: usize) -> Chart {
        Chart {
            id: def.id.clone().into(),
            data: RwLock::new(ChartData {
                meta: ChartMeta::from_def(def),
                dims: Vec::new(),
                names: DimNames::default(),
                labels: super::labels::none(),
                ring: Ring::new(history.max(2), 0, compress_offset(&def.id)),
                first_t: None,
                last_t: None,
                last_collected_ut: None,
                last_boundary: None,
                late: None,
            }),
        }
    }

    /// The chart's id, `type.id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Take a read lock: metadata, dimensions and slots, consistent with each other.
    pub fn read(&self) -> RwLockReadGuard<'_, ChartData> {
        self.data.read()
    }

    /// [`Chart::read`] if the lock can be had at once, without waiting; `None` otherwise.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, ChartData>> {
        self.data.try_read()
    }

    /// Update the definition (a plugin re-sending CHART). A changed `update every` restarts
    /// collection: slots already stored stay readable at their old spacing only if it is equal.
    pub fn redefine(&self, def: &ChartDef) {
        let mut d = self.data.write();
        let meta = ChartMeta::from_def(def);
        if meta.update_every != d.meta.update_every {
            d.first_t = None;
            d.last_t = None;
            d.last_boundary = None;
            d.last_collected_ut = None;
            d.ring = d.ring.cleared();
        }
        d.meta = meta;
    }

    /// Replace the chart's labels; exporters send them from their next walk.
    pub fn set_labels(&self, labels: Labels) {
        self.data.write().labels = Arc::new(labels);
    }

    /// Add a dimension, or redefine it if the id exists. Returns its stable index.
    pub fn add_dimension(&self, def: &DimensionDef) -> usize {
        let mut d = self.data.write();
        if let Some(i) = d.names.position(&def.id) {
            d.dims[i].redefine(def);
            d.names.rename(i, def.name.as_deref());
            return i;
        }
        d.dims.push(Dimension::from_def(def));
        d.names.push(&def.id, def.name.as_deref());
        let n = d.dims.len();
        if n > d.ring.dim_cap() && d.last_t.is_some() {
            d.ring.grow(n);
        }
        n - 1
    }

    /// Number of dimensions.
    pub fn dimension_count(&self) -> usize {
        self.data.read().dims.len()
    }

    /// Index of a dimension by id.
    pub fn dimension_index(&self, id: &str) -> Option<usize> {
        self.data.read().names.position(id)
    }

    /// A replication starts: slots after `from` will be written late. Returns its generation.
    pub fn begin_replication(&self, from: i64) -> u64 {
        let mut d = self.data.write();
        let late = d.late.get_or_insert_with(Box::default);
        late.generation += 1;
        late.active = true;
        late.from.push_back((late.generation, from));
        if late.from.len() > Late::KEPT {
            late.from.pop_front();
        }
        late.generation
    }

    /// The replication in progress, if any, has ended: its slots are all written.
    pub fn end_replication(&self) {
        if let Some(late) = self.data.write().late.as_mut() {
            late.active = false;
        }
    }

    /// Store a replayed slot: the stored values of slot `t` (a multiple of `update every`),
    /// as `(dimension index, storage number)`. The slot must be after the last one stored, or
    /// an existing slot left empty (a gap); slots between the last stored one and `t` stay
    /// empty. A slot older than the ring keeps, or one already holding a value, is refused
    /// (`false`). The collection in progress ends here: the next one primes, unless
    /// [`Chart::restore_collection`] says where it stands.
    pub fn store_replayed(&self, t: i64, values: &[(usize, StorageNumber)]) -> bool {
        let mut d = self.data.write();
        d.store_replayed(t, values)
    }

    /// Continue collection from where the child's stands after a replication:
    /// `last_collected_ut` is the chart's last collection (µs), and each of `dims` is
    /// `(dimension index, its last collection (µs), its last raw value)`. The next collection
    /// then computes from those values instead of only priming, so no slot is left empty
    /// between the replayed ones and the streamed ones.
    pub fn restore_collection(&self, last_collected_ut: u64, dims: &[(usize, u64, i64)]) {
        let mut d = self.data.write();
        let ue_s = d.meta.update_every as i64;
        let boundary = (last_collected_ut / (ue_s as u64 * USEC_PER_SEC)) as i64 * ue_s;
        if d.last_boundary.is_some_and(|lb| lb > boundary) || last_collected_ut == 0 {
            return;
        }
        if let Some(last) = d.last_t {
            // Slots between the last one written and this boundary hold nothing of this run.
            let mut t = (last + ue_s).max(boundary - (d.ring.history() as i64 - 1) * ue_s);
            while t <= boundary {
                d.store_empty_row(t);
                t += ue_s;
            }
        }
        d.last_boundary = Some(boundary);
        d.last_collected_ut = Some(last_collected_ut);
        for dim in d.dims.iter_mut() {
            dim.primed = false;
        }
        for &(i, ut, value) in dims {
            if let Some(dim) = d.dims.get_mut(i) {
                dim.last_collected_value = value;
                dim.prime(ut.min(last_collected_ut));
            }
        }
    }

    /// Forget the previous collection: the next one only primes, and the time since the last
    /// stored slot stays empty. Used when a collector restarts or a child reconnects.
    pub fn restart_collection(&self) {
        let mut d = self.data.write();
        d.last_collected_ut = None;
        for dim in d.dims.iter_mut() {
            dim.primed = false;
        }
    }

    /// Store one collection: `values` are `(dimension index, raw value)` pairs collected at
    /// `now_ut` (µs since the epoch). Dimensions not listed get empty slots for this interval.
    pub fn collect(&self, values: &[(usize, i64)], now_ut: u64) -> Result<(), CollectError> {
        let mut guard = self.data.write();
        guard.collect(values, now_ut)
    }
}

/// One dimension's part of a collection in progress.
#[derive(Clone, Copy)]
struct Work {
    /// Collected this time.
    updated: bool,
    /// The raw value of the previous collection.
    raw_prev: i64,
    /// What to store.
    computed: Computed,
}

impl Work {
    const MISSING: Work = Work { updated: false, raw_prev: 0, computed: Computed::Missing };
}

thread_local! {
    /// Scratch space of the collections made on this thread.
    static WORK: RefCell<Vec<Work>> = const { RefCell::new(Vec::new()) };
}

/// The sums over a collection's row that the percentage algorithms divide by.
#[derive(Clone, Copy)]
struct RowTotals {
    /// Of the raw values of the percentage-of-absolute-row dimensions.
    absolute: f64,
    /// Of the positive deltas of the percentage-of-incremental-row dimensions.
    incremental: f64,
}

/// Per-dimension value computed for one collection.
#[derive(Clone, Copy)]
enum Computed {
    /// Not collected this time.
    Missing,
    /// First collection of this dimension: primes only.
    Priming,
    /// Absolute-like value to interpolate.
    Level { value: f64, reset: bool },
    /// Incremental: scaled counts per second over the dimension's own interval.
    Rate { rate: f64, reset: bool },
}

impl ChartData {
    /// `update every` in seconds.
    pub fn update_every(&self) -> u32 {
        self.meta.update_every
    }

    /// Slots per dimension.
    pub fn history(&self) -> usize {
        self.ring.history()
    }

    /// Heap and inline bytes the chart holds: its ring blocks as allocated so far, its
    /// dimensions and their names (allocator overhead not counted).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Chart>()
            + self.ring.memory_bytes()
            + self.dims.capacity() * std::mem::size_of::<Dimension>()
            + self.names.text_len()
    }

    /// Oldest readable slot time.
    pub fn first_entry_t(&self) -> Option<i64> {
        let last = self.last_t?;
        let first = self.first_t?;
        let span = (self.ring.history() as i64 - 1) * self.meta.update_every as i64;
        Some(first.max(last - span))
    }

    /// Newest stored slot time.
    pub fn last_entry_t(&self) -> Option<i64> {
        self.last_t
    }

    /// Time of the last collection (µs), if collection is running.
    pub fn last_collected_ut(&self) -> Option<u64> {
        self.last_collected_ut
    }

    /// The replications of the chart; `None` when it was never replicated.
    pub fn late(&self) -> Option<&Late> {
        self.late.as_deref()
    }

    /// See [`Chart::store_replayed`].
    fn store_replayed(&mut self, t: i64, values: &[(usize, StorageNumber)]) -> bool {
        let ue = self.meta.update_every as i64;
        if t.rem_euclid(ue) != 0 {
            return false;
        }
        self.fit_ring_to_dims();
        match self.last_t {
            Some(last) if t <= last => {
                let oldest = last - (self.ring.history() as i64 - 1) * ue;
                let slot = self.time2slot(t);
                let stored = self.value_range_contains(t) && !self.ring.row_is_empty(slot);
                if t < oldest || stored {
                    return false;
                }
                if !self.value_range_contains(t) {
                    // Older than the first slot written, but still within the ring.
                    for s in (t..self.first_t.unwrap_or(t)).step_by(ue as usize) {
                        self.ring.row_mut(self.time2slot(s), false).fill(SN_EMPTY);
                    }
                    self.first_t = Some(t);
                }
            }
            Some(last) => {
                let mut s = (last + ue).max(t - (self.ring.history() as i64 - 1) * ue);
                while s < t {
                    self.store_empty_row(s);
                    s += ue;
                }
            }
            None => self.first_t = Some(t),
        }
        let width = self.dims.len();
        let slot = self.time2slot(t);
        let advance = self.last_t.is_none_or(|last| t > last);
        let row = self.ring.row_mut(slot, advance);
        row.fill(SN_EMPTY);
        for &(i, n) in values {
            if i < width {
                row[i] = n;
            }
        }
        if self.last_t.is_none_or(|last| t > last) {
            self.last_t = Some(t);
        }
        if let Some(late) = self.late.as_mut() {
            late.replayed_to = late.replayed_to.max(Some(t));
        }
        if self.last_boundary.is_none_or(|lb| t > lb) {
            // A collection before the replayed slots cannot be interpolated across them.
            self.last_boundary = Some(t);
            self.last_collected_ut = None;
            for d in self.dims.iter_mut() {
                d.primed = false;
            }
        }
        true
    }

    /// Whether slot `t` is within the slots written so far (first to last).
    fn value_range_contains(&self, t: i64) -> bool {
        matches!((self.first_t, self.last_t), (Some(f), Some(l)) if t >= f && t <= l)
    }

    /// Ring index of the slot whose boundary is `t` (any time is rounded down to a boundary).
    #[inline]
    pub fn time2slot(&self, t: i64) -> usize {
        let ue = self.meta.update_every as i64;
        self.ring.wrap(if ue == 1 { t } else { t.div_euclid(ue) })
    }

    /// The storage number of dimension `dim` at slot time `t`; empty outside the stored range.
    #[inline]
    pub fn value_at(&self, dim: usize, t: i64) -> StorageNumber {
        match (self.first_entry_t(), self.last_t) {
            (Some(first), Some(last)) if t >= first && t <= last => self.ring.get(self.time2slot(t), dim),
            _ => SN_EMPTY,
        }
    }

    /// The first and last stored slot times in `(after, before]`, if any.
    #[inline]
    fn stored_range(&self, after: i64, before: i64) -> Option<(i64, i64)> {
        let (first, last) = (self.first_entry_t()?, self.last_t?);
        let ue = self.meta.update_every as i64;
        let t = if ue == 1 { after + 1 } else { (after.div_euclid(ue) + 1) * ue }.max(first);
        let end = before.min(last);
        (t <= end).then_some((t, end))
    }

    /// Visit the existing values of dimension `dim` in slots `(after, before]`, oldest first.
    /// Slot times outside the stored range are skipped.
    #[inline]
    pub fn for_each_value(&self, dim: usize, after: i64, before: i64, mut f: impl FnMut(i64, f64)) {
        if dim >= self.ring.dim_cap() {
            return; // a dimension never stored: all its slots are empty
        }
        self.for_each_row(after, before, |t, row| {
            if let Some(&n) = row.get(dim) {
                if storage_number::exists(n) {
                    f(t, storage_number::unpack(n));
                }
            }
        });
    }

    /// Visit the rows of slots `(after, before]` within the stored range, oldest first. A row
    /// holds one storage number per dimension, in dimension order; it may be shorter than
    /// [`dims`](ChartData::dims) (dimensions not stored yet, which read as empty). Rows are
    /// contiguous in memory: this is the fast way to read many dimensions of one window.
    #[inline]
    pub fn for_each_row(&self, after: i64, before: i64, mut f: impl FnMut(i64, &[StorageNumber])) {
        let Some((t, end)) = self.stored_range(after, before) else {
            return;
        };
        let ue = self.meta.update_every as i64;
        let count = ((end - t) / ue) as usize + 1;
        self.ring.for_each_row(self.time2slot(t), count, self.dims.len(), |k, row| f(t + k as i64 * ue, row));
    }

    /// Asks the processor to start loading what a reader of slots `(after, before]` touches:
    /// the dimensions' names, the chart's id and name and the window's rows. A hint only: it
    /// changes nothing, and a walk that gives it for the next chart while it works on the
    /// current one does not wait for those loads.
    #[inline]
    pub fn prefetch(&self, after: i64, before: i64) {
        let spans: &[[u32; 4]] = &self.names.spans;
        for p in [
            spans.as_ptr().cast::<u8>(),
            self.names.text.as_ptr(),
            self.meta.id.as_ptr(),
            self.meta.name.as_ptr(),
        ] {
            prefetch_read(p);
        }
        if let Some((t, end)) = self.stored_range(after, before) {
            let count = ((end - t) / self.meta.update_every as i64) as usize + 1;
            self.ring.prefetch(self.time2slot(t), count, self.dims.len(), prefetch_bytes);
        }
    }

    fn collect(&mut self, values: &[(usize, i64)], now_ut: u64) -> Result<(), CollectError> {
        WORK.with(|work| match work.try_borrow_mut() {
            Ok(mut work) => self.collect_with(&mut work, values, now_ut),
            // Not reachable (collect never calls itself), but never worth a panic.
            Err(_) => self.collect_with(&mut Vec::new(), values, now_ut),
        })
    }

    /// [`ChartData::collect`] with `work` as scratch space: one entry per dimension, reused from
    /// one collection to the next so that a collection allocates nothing.
    ///
    /// The phases: check the collection's time, size the ring for the dimensions, record the
    /// raw values; then the chart's first collection only primes, and any later one computes
    /// each dimension's value, stores every slot boundary crossed since the last collection
    /// and keeps this collection as the start of the next interval.
    fn collect_with(
        &mut self,
        work: &mut Vec<Work>,
        values: &[(usize, i64)],
        now_ut: u64,
    ) -> Result<(), CollectError> {
        self.check_time(now_ut)?;
        self.fit_ring_to_dims();
        self.record_raw(work, values);
        let ue_s = self.meta.update_every as i64;
        let now_boundary = (now_ut / (ue_s as u64 * USEC_PER_SEC)) as i64 * ue_s;
        if self.last_collected_ut.is_none() {
            self.prime(work, now_ut, now_boundary);
        } else {
            self.compute(work, now_ut);
            self.store_boundaries(work, now_ut, now_boundary);
            for (w, d) in work.iter().zip(self.dims.iter_mut()) {
                d.remember(w.computed, now_ut);
            }
        }
        self.last_collected_ut = Some(now_ut);
        Ok(())
    }

    /// Refuses a collection that is not after the previous one, and forgets a previous one
    /// too long ago to interpolate across (the chart starts over).
    fn check_time(&mut self, now_ut: u64) -> Result<(), CollectError> {
        let Some(prev) = self.last_collected_ut else {
            return Ok(());
        };
        if now_ut <= prev {
            return Err(CollectError::TimeWentBackwards);
        }
        let ue_ut = self.meta.update_every as u64 * USEC_PER_SEC;
        if now_ut - prev > self.ring.history() as u64 * ue_ut {
            self.reset_time();
        }
        Ok(())
    }

    /// Gives the ring a column for every dimension.
    fn fit_ring_to_dims(&mut self) {
        if self.ring.dim_cap() < self.dims.len() {
            self.ring.grow(self.dims.len());
            // Dimensions are usually all defined before the first collection: drop the
            // vectors' growth slack once the ring is sized for them.
            self.dims.shrink_to_fit();
            self.names.shrink_to_fit();
        }
    }

    /// Takes the raw `values` as the dimensions' last collected, and notes in `work` which
    /// were collected and their previous raw values.
    fn record_raw(&mut self, work: &mut Vec<Work>, values: &[(usize, i64)]) {
        work.clear();
        work.resize(self.dims.len(), Work::MISSING);
        for &(i, v) in values {
            if let Some(d) = self.dims.get_mut(i) {
                work[i].raw_prev = d.last_collected_value;
                work[i].updated = true;
                d.last_collected_value = v;
            }
        }
    }

    /// The chart's first collection, or its first after a restart: nothing is stored for it,
    /// and the slots since the last stored one, if any, stay empty. Dimensions not collected
    /// prime at their next collection.
    fn prime(&mut self, work: &[Work], now_ut: u64, now_boundary: i64) {
        let ue_s = self.meta.update_every as i64;
        if let Some(lb) = self.last_boundary {
            let mut t = lb + ue_s;
            while t <= now_boundary {
                self.store_empty_row(t);
                t += ue_s;
            }
        }
        self.last_boundary = Some(self.last_boundary.map_or(now_boundary, |lb| lb.max(now_boundary)));
        for (w, d) in work.iter().zip(self.dims.iter_mut()) {
            if w.updated {
                d.prime(now_ut);
            } else {
                d.primed = false;
            }
        }
    }

    /// The sums over the row that the percentage algorithms divide by.
    fn row_totals(&self, work: &[Work]) -> RowTotals {
        let mut totals = RowTotals { absolute: 0.0, incremental: 0.0 };
        for (w, d) in work.iter().zip(self.dims.iter()) {
            if !w.updated || !d.primed {
                continue;
            }
            match d.algorithm {
                Algorithm::PercentageOfAbsoluteRow => totals.absolute += d.last_collected_value as f64,
                Algorithm::PercentageOfIncrementalRow => {
                    let delta = d.last_collected_value.wrapping_sub(w.raw_prev);
                    if delta > 0 {
                        totals.incremental += delta as f64;
                    }
                }
                _ => {}
            }
        }
        totals
    }

    /// What each dimension stores for this collection.
    fn compute(&self, work: &mut [Work], now_ut: u64) {
        let totals = self.row_totals(work);
        for (w, d) in work.iter_mut().zip(self.dims.iter()) {
            w.computed = if !w.updated {
                Computed::Missing
            } else if !d.primed {
                Computed::Priming
            } else {
                d.compute(w.raw_prev, totals, now_ut)
            };
        }
    }

    /// Writes the row of every slot boundary in (last boundary, now].
    fn store_boundaries(&mut self, work: &[Work], now_ut: u64, now_boundary: i64) {
        let ue_s = self.meta.update_every as i64;
        let lb = self.last_boundary.unwrap_or(now_boundary);
        let crossed = if now_boundary > lb { ((now_boundary - lb) / ue_s) as usize } else { 0 };
        self.restart_stale_carries(work, lb as u64 * USEC_PER_SEC);
        let mut t = lb + ue_s;
        while t <= now_boundary {
            self.store_row(work, t, crossed > 1, now_ut);
            t += ue_s;
        }
        if now_boundary > lb {
            self.last_boundary = Some(now_boundary);
        }
    }

    /// Incremental dimensions that missed boundaries restart their carry at the last one,
    /// `lb_ut`.
    fn restart_stale_carries(&mut self, work: &[Work], lb_ut: u64) {
        for (w, d) in work.iter().zip(self.dims.iter_mut()) {
            if let Computed::Rate { .. } = w.computed {
                if d.carry_since_ut < lb_ut && d.last_collected_ut <= lb_ut {
                    d.carry = 0.0;
                    d.carry_since_ut = lb_ut;
                }
            }
        }
    }

    /// Writes the row of the slot whose boundary is `t`.
    #[inline]
    fn store_row(&mut self, work: &[Work], t: i64, interpolate: bool, now_ut: u64) {
        let b_ut = t as u64 * USEC_PER_SEC;
        let slot = self.time2slot(t);
        let row = self.ring.row_mut(slot, true);
        let (used, rest) = row.split_at_mut(self.dims.len());
        for ((cell, w), d) in used.iter_mut().zip(work.iter()).zip(self.dims.iter_mut()) {
            *cell = d.slot_value(w.computed, interpolate, b_ut, now_ut);
        }
        rest.fill(SN_EMPTY);
        if self.first_t.is_none() {
            self.first_t = Some(t);
        }
        self.last_t = Some(t);
    }

    fn store_empty_row(&mut self, t: i64) {
        let slot = self.time2slot(t);
        self.ring.row_mut(slot, true).fill(SN_EMPTY);
        if self.first_t.is_none() {
            self.first_t = Some(t);
        }
        self.last_t = Some(t);
    }

    fn reset_time(&mut self) {
        self.first_t = None;
        self.last_t = None;
        self.last_boundary = None;
        self.last_collected_ut = None;
        for d in self.dims.iter_mut() {
            d.primed = false;
        }
    }
}

/// The row within a ring block at which chart `id` compresses its sealed blocks: spread over
/// the block by the id, so that charts collected in the same second compress in different ones.
fn compress_offset(id: &str) -> usize {
    // FNV-1a: stable across runs and builds.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    (hash % super::ring::BLOCK_SLOTS as u64) as usize
}

#[inline]
fn pack_flagged(v: f64, reset: bool) -> StorageNumber {
    if !v.is_finite() {
        return SN_EMPTY;
    }
    storage_number::pack(v, if reset { SN_EXISTS_RESET } else { SN_EXISTS })
}

/// A hint to load the cache line at `p`; nothing on processors without one.
#[inline(always)]
fn prefetch_read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address, and writes nothing.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch_read`] for every cache line of `len` bytes at `p`.
#[inline(always)]
fn prefetch_bytes(p: *const u8, len: usize) {
    for offset in (0..len).step_by(64) {
        prefetch_read(p.wrapping_add(offset));
    }
}

#[cfg(test)]
mod dim_names_tests {
    use super::*;

    fn def(id: &str, name: Option<&str>) -> DimensionDef {
        DimensionDef { name: name.map(str::to_string), ..DimensionDef::new(id, Algorithm::Absolute) }
    }

    /// Ids are found the same way below and above the size that gets an index, and the index
    /// follows every later definition.
    #[test]
    fn ids_are_found_before_and_after_the_chart_gets_an_index() {
        let c = Chart::new(&ChartDef::new("t.big", 1), 5);
        for i in 0..INDEX_FROM {
            assert_eq!(c.add_dimension(&def(&format!("d{i}"), None)), i);
        }
        assert!(!c.read().names.is_indexed(), "{INDEX_FROM} dimensions are scanned");
        assert_eq!(c.dimension_index("d7"), Some(7));
        for i in INDEX_FROM..5000 {
            assert_eq!(c.add_dimension(&def(&format!("d{i}"), None)), i);
        }
        assert!(c.read().names.is_indexed());
        for i in (0..5000).step_by(7) {
            assert_eq!(c.dimension_index(&format!("d{i}")), Some(i));
        }
        assert_eq!(c.dimension_index("d5000"), None);
        assert_eq!(c.dimension_index("d"), None);
        // Redefining finds the existing dimension: no duplicate.
        assert_eq!(c.add_dimension(&def("d4321", Some("renamed"))), 4321);
        assert_eq!(c.dimension_count(), 5000);
        assert_eq!(c.read().names.name(4321), "renamed");
    }

    /// Compaction rebuilds the text and the index; renames keep the plain flag exact.
    #[test]
    fn renames_of_an_indexed_chart_compact_and_keep_every_id_findable() {
        let c = Chart::new(&ChartDef::new("t.ren", 1), 5);
        for i in 0..200 {
            c.add_dimension(&def(&format!("d{i}"), None));
        }
        let before = c.read().names.text_len();
        for r in 0..5000 {
            c.add_dimension(&def(&format!("d{}", r % 200), Some(&format!("name {r}"))));
        }
        let d = c.read();
        assert!(d.names.text_len() < 3 * before + 3 * 200 * 10, "compacted: {} bytes", d.names.text_len());
        for i in 0..200 {
            assert_eq!(d.names.position(&format!("d{i}")), Some(i));
            assert_eq!(d.names.name(i), format!("name {}", 4800 + i));
        }
        assert!(!d.names.all_plain(), "names with spaces");
        drop(d);
        for i in 0..200 {
            c.add_dimension(&def(&format!("d{i}"), None));
        }
        assert!(c.read().names.all_plain(), "every name back to its plain id");
        c.add_dimension(&def("d5", Some("x y")));
        c.add_dimension(&def("d6", Some("x y")));
        c.add_dimension(&def("d5", Some("xy")));
        assert!(!c.read().names.all_plain(), "d6 is still not plain");
        c.add_dimension(&def("d6", None));
        assert!(c.read().names.all_plain());
    }

    /// Defining n dimensions compares ids a number of times linear in n: 100 000 dimensions,
    /// each defined twice, finish in well under the seconds a scan per definition would take.
    #[test]
    fn defining_many_dimensions_takes_linear_time() {
        let c = Chart::new(&ChartDef::new("t.lin", 1), 5);
        let started = std::time::Instant::now();
        for round in 0..2 {
            for i in 0..100_000 {
                assert_eq!(c.add_dimension(&def(&format!("dimension{i}"), None)), i, "round {round}");
            }
        }
        // A scan per definition: 10¹⁰ comparisons, minutes. Linear: tens of milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!(c.dimension_count(), 100_000);
    }
}
