//! The compressed ring against a plain reference: every slot of every dimension reads back
//! bit-identical after any sequence of writes, gaps, writes into the past and added dimensions.

use proptest::prelude::*;

use super::ring::{Ring, BLOCK_SLOTS};
use super::storage_number::{StorageNumber, SN_EMPTY, SN_EXISTS, SN_EXISTS_RESET};
use super::*;

/// The reference: one row per slot, as many storage numbers as dimensions.
struct Model {
    rows: Vec<Vec<StorageNumber>>,
    dims: usize,
    /// The next slot written by an advancing write.
    cursor: usize,
}

#[derive(Clone, Debug)]
enum Op {
    /// Rows written one after the other from the cursor on.
    Rows(Vec<Vec<StorageNumber>>),
    /// Empty rows written from the cursor on.
    Gap(usize),
    /// A row written `back` slots before the cursor.
    Past(usize, Vec<StorageNumber>),
    /// Dimensions added.
    Grow(usize),
}

fn number() -> impl Strategy<Value = StorageNumber> {
    prop_oneof![
        3 => Just(SN_EMPTY),
        3 => Just(SN_EXISTS | 5),
        1 => Just(SN_EXISTS_RESET | 7),
        1 => (0u32..4).prop_map(|k| SN_EXISTS | k),
        2 => any::<u32>(),
    ]
}

fn row() -> impl Strategy<Value = Vec<StorageNumber>> {
    prop::collection::vec(number(), 0..12)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(row(), 1..150).prop_map(Op::Rows),
        // Rows of one repeated value: constant columns over whole blocks.
        2 => (row(), 1usize..200).prop_map(|(r, n)| Op::Rows(vec![r; n])),
        1 => (1usize..400).prop_map(Op::Gap),
        2 => (1usize..300, row()).prop_map(|(b, r)| Op::Past(b, r)),
        1 => (1usize..4).prop_map(Op::Grow),
    ]
}

impl Model {
    fn write(&mut self, ring: &mut Ring, slot: usize, values: &[StorageNumber], advance: bool) {
        let row = ring.row_mut(slot, advance);
        row.fill(SN_EMPTY);
        let n = values.len().min(self.dims);
        row[..n].copy_from_slice(&values[..n]);
        let model = &mut self.rows[slot];
        model.clear();
        model.resize(self.dims, SN_EMPTY);
        model[..n].copy_from_slice(&values[..n]);
    }

    fn apply(&mut self, ring: &mut Ring, op: &Op) {
        let history = self.rows.len();
        match op {
            Op::Rows(rows) => {
                for r in rows {
                    self.write(ring, self.cursor, r, true);
                    self.cursor = (self.cursor + 1) % history;
                }
            }
            Op::Gap(n) => {
                for _ in 0..*n {
                    self.write(ring, self.cursor, &[], true);
                    self.cursor = (self.cursor + 1) % history;
                }
            }
            Op::Past(back, r) => {
                let slot = (self.cursor + history - back % history) % history;
                self.write(ring, slot, r, false);
            }
            Op::Grow(n) => {
                self.dims += n;
                ring.grow(self.dims);
            }
        }
    }

    fn expected(&self, slot: usize, dim: usize) -> StorageNumber {
        self.rows[slot].get(dim).copied().unwrap_or(SN_EMPTY)
    }

    /// Every slot of every dimension by `get`, and rows from every block boundary and from
    /// `start` by `for_each_row`.
    fn check(&self, ring: &Ring, start: usize, count: usize) -> Result<(), TestCaseError> {
        let history = self.rows.len();
        for slot in 0..history {
            for dim in 0..self.dims + 2 {
                prop_assert_eq!(ring.get(slot, dim), self.expected(slot, dim), "slot {} dim {}", slot, dim);
            }
        }
        let starts = (0..history).step_by(BLOCK_SLOTS).chain([start % history]);
        for (from, n) in starts.map(|s| (s, history)).chain([(start % history, count % (history + 1))]) {
            let mut seen = 0;
            ring.for_each_row(from, n, self.dims, |k, row| {
                let slot = (from + k) % history;
                assert_eq!(k, seen, "rows in order");
                seen += 1;
                assert!(row.len() <= self.dims, "row of {} for {} dimensions", row.len(), self.dims);
                for dim in 0..self.dims {
                    let got = row.get(dim).copied().unwrap_or(SN_EMPTY);
                    assert_eq!(got, self.expected(slot, dim), "row slot {slot} dim {dim}");
                }
            });
            prop_assert_eq!(seen, n);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_ring_reads_back_what_a_plain_ring_holds(
        history in prop_oneof![Just(10usize), Just(64), Just(100), Just(200), Just(300)],
        dims in 0usize..6,
        offset in 0usize..64,
        ops in prop::collection::vec(op(), 1..25),
        start in 0usize..1000,
        count in 0usize..1000,
    ) {
        let mut ring = Ring::new(history, dims, offset);
        let mut model = Model { rows: vec![Vec::new(); history], dims, cursor: 0 };
        for op in &ops {
            model.apply(&mut ring, op);
            model.check(&ring, start, count)?;
        }
    }
}

/// Memory follows the blocks' contents: a full ring of constant values holds one plain block
/// (the one being written), its spare, and five bytes per column of every other block.
#[test]
fn a_full_ring_of_constant_values_keeps_five_bytes_per_column_and_block() {
    let (history, dims) = (640, 10);
    let mut ring = Ring::new(history, dims, 0);
    let row = [SN_EXISTS | 42; 10];
    for slot in (0..history).chain(0..history) {
        ring.row_mut(slot, true).copy_from_slice(&row);
    }
    let plain = BLOCK_SLOTS * dims * 4;
    // Nine packed blocks, and the tail of the block being written (packed too).
    let packed = 10 * dims * 5;
    let bookkeeping = ring.memory_bytes() - 2 * plain - packed;
    assert!(bookkeeping < 512, "{} bytes besides the blocks", bookkeeping);
    assert_eq!(ring.get(639, 9), SN_EXISTS | 42);
    assert_eq!(ring.get(0, 10), SN_EMPTY);
}

/// A chart compresses its sealed block at its own row of the next block, not at its first;
/// the buffer it leaves is the spare of the next block.
#[test]
fn a_sealed_block_is_compressed_at_the_chart_s_offset() {
    let dims = 4;
    let mut ring = Ring::new(256, dims, 10);
    for slot in (0..256).chain(0..74) {
        ring.row_mut(slot, true).fill(SN_EXISTS | 1);
    }
    let sealed = ring.memory_bytes();
    ring.row_mut(74, true).fill(SN_EXISTS | 1);
    assert_eq!(
        ring.memory_bytes(),
        sealed + dims * 5,
        "row 10: the sealed block packed, its buffer the spare"
    );
    for slot in 75..256 {
        ring.row_mut(slot, true).fill(SN_EXISTS | 1);
    }
    assert_eq!(ring.memory_bytes(), sealed + dims * 5, "the steady state allocates nothing more");
}

/// Charts with different ids compress at different rows.
#[test]
fn charts_compress_at_offsets_spread_by_their_ids() {
    let offsets: std::collections::BTreeSet<usize> = (0..1000)
        .map(|i| {
            let c = Chart::new(&ChartDef::new(&format!("app.chart{i}"), 1), 128);
            c.add_dimension(&DimensionDef::new("d", Algorithm::Absolute));
            // Fill the first block, then find the row of the second at which it is packed (its
            // buffer kept as the spare, the packed bytes added; row 0 reads as 64).
            for t in 0..=64u64 {
                c.collect(&[(0, 1)], t * 1_000_000).unwrap();
            }
            let plain = c.read().memory_bytes();
            (65..128u64)
                .find(|&t| {
                    c.collect(&[(0, 1)], t * 1_000_000).unwrap();
                    c.read().memory_bytes() != plain
                })
                .map_or(64, |t| (t - 64) as usize)
        })
        .collect();
    assert!(offsets.len() >= 60, "{} different rows", offsets.len());
}

/// A chart fed replayed slots: ahead of the last one (gaps between stay empty), into empty
/// slots of its past (packed blocks among them) and before its first; dimensions added.
#[derive(Clone, Debug)]
enum ChartOp {
    /// Slot `last + delta` with the row's values.
    Replay(i64, Vec<StorageNumber>),
    /// Slots `last + 1 ..= last + n`, each with the same row: constant columns.
    Run(usize, Vec<StorageNumber>),
    /// A dimension more.
    AddDimension,
}

fn chart_op() -> impl Strategy<Value = ChartOp> {
    prop_oneof![
        4 => (-350i64..400, row()).prop_map(|(d, r)| ChartOp::Replay(d, r)),
        3 => (1usize..150, row()).prop_map(|(n, r)| ChartOp::Run(n, r)),
        1 => Just(ChartOp::AddDimension),
    ]
}

/// The reference: the rows stored at each slot time, absent meaning empty.
#[derive(Default)]
struct ChartModel {
    rows: std::collections::BTreeMap<i64, Vec<StorageNumber>>,
}

impl ChartModel {
    fn replay(&mut self, c: &Chart, t: i64, row: &[StorageNumber]) {
        let (first, last) = {
            let d = c.read();
            (d.first_entry_t(), d.last_entry_t())
        };
        let values: Vec<(usize, StorageNumber)> = row.iter().copied().enumerate().collect();
        if !c.store_replayed(t, &values) {
            return;
        }
        if let Some(last) = last.filter(|&l| t > l) {
            self.rows.retain(|&s, _| s <= last || s >= t);
        }
        if let Some(first) = first.filter(|&f| t < f) {
            self.rows.retain(|&s, _| s < t || s >= first);
        }
        let width = c.dimension_count();
        let stored: Vec<StorageNumber> = row.iter().copied().take(width).collect();
        self.rows.insert(t, stored);
    }

    fn expected(&self, t: i64, dim: usize) -> StorageNumber {
        self.rows.get(&t).and_then(|r| r.get(dim)).copied().unwrap_or(SN_EMPTY)
    }

    fn check(&self, c: &Chart, after: i64, before: i64) -> Result<(), TestCaseError> {
        let d = c.read();
        let (Some(first), Some(last)) = (d.first_entry_t(), d.last_entry_t()) else { return Ok(()) };
        let dims = d.dims.len();
        for t in first - 2..=last + 2 {
            for dim in 0..=dims {
                let want = if (first..=last).contains(&t) { self.expected(t, dim) } else { SN_EMPTY };
                prop_assert_eq!(d.value_at(dim, t), want, "value_at t {} dim {}", t, dim);
            }
        }
        let (after, before) =
            (first + after.rem_euclid(last - first + 2) - 1, first + before.rem_euclid(last - first + 2));
        let mut next = (after + 1).max(first);
        d.for_each_row(after, before, |t, row| {
            assert_eq!(t, next, "rows in order");
            next += 1;
            for dim in 0..dims {
                assert_eq!(
                    row.get(dim).copied().unwrap_or(SN_EMPTY),
                    self.expected(t, dim),
                    "row t {t} dim {dim}"
                );
            }
        });
        prop_assert_eq!(next, before.min(last).max(after.max(first - 1)) + 1);
        for dim in 0..dims {
            let mut seen = Vec::new();
            d.for_each_value(dim, first - 1, last, |t, v| seen.push((t, v.to_bits())));
            let want: Vec<(i64, u64)> = (first..=last)
                .filter(|&t| storage_number::exists(self.expected(t, dim)))
                .map(|t| (t, storage_number::unpack(self.expected(t, dim)).to_bits()))
                .collect();
            prop_assert_eq!(seen, want, "for_each_value dim {}", dim);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn a_chart_reads_back_every_replayed_slot_bit_identical(
        dims in 1usize..6,
        ops in prop::collection::vec(chart_op(), 1..30),
        after in 0i64..1000,
        before in 0i64..1000,
    ) {
        let c = Chart::new(&ChartDef::new("t.model", 1), 300);
        for i in 0..dims {
            c.add_dimension(&DimensionDef::new(&format!("d{i}"), Algorithm::Absolute));
        }
        let mut model = ChartModel::default();
        for op in &ops {
            let last = c.read().last_entry_t().unwrap_or(1000);
            match op {
                ChartOp::Replay(delta, row) => model.replay(&c, last + delta, row),
                ChartOp::Run(n, row) => (1..=*n as i64).for_each(|k| model.replay(&c, last + k, row)),
                ChartOp::AddDimension => {
                    let n = c.dimension_count();
                    c.add_dimension(&DimensionDef::new(&format!("d{n}"), Algorithm::Absolute));
                }
            }
            model.check(&c, after, before)?;
        }
    }
}
