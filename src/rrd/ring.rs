//! A chart's ring of slots: one storage number per slot and dimension for the last `history`
//! slots, the completed blocks of it compressed losslessly and readable at random.
//!
//! # Memory layout
//! The ring is cut in blocks of [`BLOCK_SLOTS`] slots (the last block of a history that is not
//! a multiple of it is shorter). A block is
//! * never written: it costs nothing and reads empty;
//! * plain: row-major (`rows × dim_cap` storage numbers, one contiguous row per slot), as the
//!   block being written and a block sealed but not compressed yet are;
//! * packed: one allocation holding the block's columns back to back in dimension order, each
//!   encoded by [`codec`], and the block's width, the number of columns encoded (trailing
//!   dimensions that were empty all the block long are not); a dimension beyond it reads empty.
//!
//! Writing is sequential: when it moves into a new block, that block is opened and the one it
//! leaves is sealed. A sealed block is compressed later, at the first row written whose index
//! within its block reaches the chart's own offset, so that the charts collected in the same
//! second do not all compress in the same second. The plain buffer a compressed block leaves
//! is kept as the spare of the next block opened, so the steady state allocates only the
//! packed bytes; an open block's rows are not cleared when it is opened (every write
//! overwrites a whole row; the rows not written yet read from the tail, or empty) but when it
//! is sealed, so no second clears every chart's block at once.
//!
//! A packed block that writing moves into again (the ring wrapped) is not decoded: its packed
//! bytes stay as the open block's tail, read for the rows not rewritten yet, and are dropped
//! when the block is sealed. A write into the past of a packed block (replication) unpacks it
//! and seals it again.

use std::cell::RefCell;

use super::codec;
use super::storage_number::{StorageNumber, SN_EMPTY};

/// Slots per block: a packed column covers this many slots.
pub const BLOCK_SLOTS: usize = 64;

/// The fresh mask of an open block whose every row holds its own value.
const ALL_FRESH: u64 = u64::MAX;

/// One block of the ring.
#[derive(Debug, Default)]
enum Block {
    /// Never written: reads empty.
    #[default]
    Never,
    /// Row-major storage numbers, `rows × dim_cap`.
    Plain(Box<[StorageNumber]>),
    /// Columns encoded by [`codec`].
    Packed(Packed),
}

/// A block's columns, encoded back to back.
#[derive(Debug)]
struct Packed {
    bytes: Box<[u8]>,
    /// Columns encoded; the dimensions from this one on read empty.
    width: u32,
}

impl Packed {
    /// Encode the first `width` columns of the row-major `plain` block of `rows` rows and
    /// `cap` storage numbers per row, trailing columns empty in every row left out.
    fn encode(plain: &[StorageNumber], rows: usize, cap: usize, out: &mut Vec<u8>) -> Packed {
        let used = |c: usize| (0..rows).any(|r| plain[r * cap + c] != SN_EMPTY);
        let width = (0..cap).rev().find(|&c| used(c)).map_or(0, |c| c + 1);
        let mut column = [SN_EMPTY; BLOCK_SLOTS];
        out.clear();
        for c in 0..width {
            for (r, n) in column[..rows].iter_mut().enumerate() {
                *n = plain[r * cap + c];
            }
            codec::encode(&column[..rows], out);
        }
        Packed { bytes: out.as_slice().into(), width: width as u32 }
    }

    /// The storage number of row `r` of column `dim`, in a block of `rows` rows.
    fn get(&self, rows: usize, r: usize, dim: usize) -> StorageNumber {
        if dim >= self.width as usize {
            return SN_EMPTY;
        }
        let mut at = 0;
        for _ in 0..dim {
            at += codec::encoded_len(&self.bytes[at..], rows);
        }
        codec::get(&self.bytes[at..], r)
    }

    /// Decode rows `r .. r + n` of the first `width` columns (at most the block's) into `out`,
    /// row-major, `w` storage numbers per row; returns `w`.
    fn decode_rows(
        &self,
        rows: usize,
        r: usize,
        n: usize,
        width: usize,
        out: &mut Vec<StorageNumber>,
    ) -> usize {
        let w = width.min(self.width as usize);
        out.clear();
        out.resize(n * w, SN_EMPTY);
        let mut column = [SN_EMPTY; BLOCK_SLOTS];
        let mut at = 0;
        for c in 0..w {
            let bytes = &self.bytes[at..];
            codec::decode(bytes, r, &mut column[..n]);
            for (k, &v) in column[..n].iter().enumerate() {
                out[k * w + c] = v;
            }
            at += codec::encoded_len(bytes, rows);
        }
        w
    }

    /// Decode the whole block into the row-major `plain` of `cap` storage numbers per row,
    /// only the rows `keep` does not flag (bit `r` for row `r`).
    fn unpack_into(&self, rows: usize, cap: usize, keep: u64, plain: &mut [StorageNumber]) {
        let mut column = [SN_EMPTY; BLOCK_SLOTS];
        let mut at = 0;
        for c in 0..(self.width as usize).min(cap) {
            let bytes = &self.bytes[at..];
            codec::decode(bytes, 0, &mut column[..rows]);
            for (r, &v) in column[..rows].iter().enumerate() {
                if keep & (1 << r) == 0 {
                    plain[r * cap + c] = v;
                }
            }
            at += codec::encoded_len(bytes, rows);
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.bytes)
    }
}

thread_local! {
    /// Rows of packed blocks decoded for a reader, and the encoding of a block being packed.
    static SCRATCH: RefCell<(Vec<StorageNumber>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The ring; see the module docs.
#[derive(Debug)]
pub struct Ring {
    blocks: Vec<Block>,
    /// Storage numbers per row of a plain block (dimensions, with room to grow).
    dim_cap: usize,
    history: usize,
    /// `⌊2⁶⁴ / history⌋ + 1`: turns `% history` into two multiplications (see [`Ring::wrap`]).
    history_magic: u64,
    /// The block being written, if any.
    open: Option<u32>,
    /// Rows of the open block written since it was opened (bit `r` for row `r`): the others
    /// read from `tail`, or empty without one, and are not cleared until the block is sealed.
    fresh: u64,
    /// The packed bytes the open block had when it was opened, for the rows not rewritten.
    tail: Option<Packed>,
    /// Sealed blocks, plain, to compress.
    pending: Vec<u32>,
    /// A plain buffer of a full block, cleared before its next use.
    spare: Option<Box<[StorageNumber]>>,
    /// The row within a block from which the sealed blocks are compressed.
    offset: u8,
}

impl Ring {
    /// An empty ring of `history` slots with room for `dim_cap` dimensions, compressing at row
    /// `offset % BLOCK_SLOTS` of each block.
    pub fn new(history: usize, dim_cap: usize, offset: usize) -> Ring {
        Ring {
            blocks: (0..history.div_ceil(BLOCK_SLOTS)).map(|_| Block::Never).collect(),
            dim_cap,
            history,
            history_magic: (u64::MAX / history as u64).wrapping_add(1),
            open: None,
            fresh: 0,
            tail: None,
            pending: Vec::new(),
            spare: None,
            offset: (offset % BLOCK_SLOTS) as u8,
        }
    }

    /// An empty ring of the same size and offset.
    pub fn cleared(&self) -> Ring {
        Ring::new(self.history, self.dim_cap, self.offset as usize)
    }

    /// Slots.
    pub fn history(&self) -> usize {
        self.history
    }

    /// Storage numbers per plain row.
    pub fn dim_cap(&self) -> usize {
        self.dim_cap
    }

    /// `n.rem_euclid(history)`. For `0 ≤ n < 2³²` (slot numbers until the year 2106) and a
    /// history below 2³² this is Lemire's exact "fastmod" (no division instruction); anything
    /// else takes the division.
    #[inline]
    pub fn wrap(&self, n: i64) -> usize {
        if (0..1 << 32).contains(&n) && self.history < 1 << 32 {
            let low = self.history_magic.wrapping_mul(n as u64);
            ((low as u128 * self.history as u128) >> 64) as usize
        } else {
            n.rem_euclid(self.history as i64) as usize
        }
    }

    /// Rows in block `b`.
    #[inline]
    fn rows(&self, b: usize) -> usize {
        BLOCK_SLOTS.min(self.history - b * BLOCK_SLOTS)
    }

    /// Heap and inline bytes of the ring: plain and packed blocks, the open block's tail, the
    /// spare and the list of sealed blocks.
    pub fn memory_bytes(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Never => 0,
                Block::Plain(p) => std::mem::size_of_val(&**p),
                Block::Packed(p) => p.bytes(),
            })
            .sum();
        std::mem::size_of_val(&*self.blocks)
            + blocks
            + self.tail.as_ref().map_or(0, Packed::bytes)
            + self.spare.as_ref().map_or(0, |s| std::mem::size_of_val(&**s))
            + self.pending.capacity() * std::mem::size_of::<u32>()
    }

    /// Gives every plain row room for `dims` dimensions (and some more). Packed blocks stay as
    /// they are: their width says which dimensions they hold.
    pub fn grow(&mut self, dims: usize) {
        if dims <= self.dim_cap {
            return;
        }
        let cap = dims.max(self.dim_cap + self.dim_cap / 2);
        let old = self.dim_cap;
        for b in 0..self.blocks.len() {
            let rows = self.rows(b);
            if let Block::Plain(block) = &self.blocks[b] {
                let mut next = vec![SN_EMPTY; rows * cap].into_boxed_slice();
                for r in 0..rows {
                    next[r * cap..r * cap + old].copy_from_slice(&block[r * old..(r + 1) * old]);
                }
                self.blocks[b] = Block::Plain(next);
            }
        }
        self.spare = None;
        self.dim_cap = cap;
    }

    /// A plain buffer for block `b`: the spare when it fits, cleared if `clear` (an open
    /// block's rows are cleared as they are written, or when it is sealed).
    fn take_plain(&mut self, b: usize, clear: bool) -> Box<[StorageNumber]> {
        let len = self.rows(b) * self.dim_cap;
        match self.spare.take() {
            Some(mut s) if s.len() == len => {
                if clear {
                    s.fill(SN_EMPTY);
                }
                s
            }
            _ => vec![SN_EMPTY; len].into_boxed_slice(),
        }
    }

    /// The row of `slot`, to be overwritten whole by the caller (its contents are left as they
    /// were). `advance` says the write is the ring's next one in time (collection, a gap's
    /// empty rows, a slot after the last one); otherwise it writes into the past.
    #[inline]
    pub fn row_mut(&mut self, slot: usize, advance: bool) -> &mut [StorageNumber] {
        let (b, r) = (slot / BLOCK_SLOTS, slot % BLOCK_SLOTS);
        if self.open != Some(b as u32) {
            if advance {
                self.open_block(b);
            } else {
                self.unpack(b);
            }
        }
        if self.open == Some(b as u32) {
            self.fresh |= 1 << r;
            if advance && !self.pending.is_empty() && r >= (self.offset as usize).min(self.rows(b) - 1) {
                self.compress_pending();
            }
        }
        let cap = self.dim_cap;
        match &mut self.blocks[b] {
            Block::Plain(p) => &mut p[r * cap..(r + 1) * cap],
            _ => unreachable!("a block being written is plain"),
        }
    }

    /// Writing moves into block `b`: the open block is sealed and `b` opened.
    #[cold]
    fn open_block(&mut self, b: usize) {
        self.seal_open();
        self.fresh = 0;
        match std::mem::take(&mut self.blocks[b]) {
            Block::Never => self.blocks[b] = Block::Plain(self.take_plain(b, false)),
            Block::Plain(p) => {
                self.blocks[b] = Block::Plain(p);
                self.fresh = ALL_FRESH;
                self.pending.retain(|&x| x as usize != b);
            }
            Block::Packed(packed) => {
                self.blocks[b] = Block::Plain(self.take_plain(b, false));
                self.tail = Some(packed);
            }
        }
        self.open = Some(b as u32);
    }

    /// The open block, if any, is sealed: the rows it did not rewrite are taken from its
    /// tail (or cleared, without one), and it waits for compression.
    fn seal_open(&mut self) {
        let Some(o) = self.open.take() else { return };
        let o = o as usize;
        let tail = self.tail.take();
        let (rows, cap) = (self.rows(o), self.dim_cap);
        let all = if rows == BLOCK_SLOTS { ALL_FRESH } else { (1u64 << rows) - 1 };
        if self.fresh & all != all {
            if let Block::Plain(p) = &mut self.blocks[o] {
                for r in (0..rows).filter(|r| self.fresh & (1 << r) == 0) {
                    p[r * cap..(r + 1) * cap].fill(SN_EMPTY);
                }
                if let Some(tail) = tail {
                    tail.unpack_into(rows, cap, self.fresh, p);
                }
            }
        }
        self.pending.push(o as u32);
    }

    /// A write into the past of block `b`, not the open one: it is made plain (decoded if
    /// packed) and sealed again.
    #[cold]
    fn unpack(&mut self, b: usize) {
        match std::mem::take(&mut self.blocks[b]) {
            Block::Plain(p) => self.blocks[b] = Block::Plain(p),
            Block::Never => {
                self.blocks[b] = Block::Plain(self.take_plain(b, true));
                self.pending.push(b as u32);
            }
            Block::Packed(packed) => {
                let mut plain = self.take_plain(b, true);
                packed.unpack_into(self.rows(b), self.dim_cap, 0, &mut plain);
                self.blocks[b] = Block::Plain(plain);
                self.pending.push(b as u32);
            }
        }
    }

    /// Compresses the sealed blocks; the first plain buffer of a full block freed becomes the
    /// spare.
    #[cold]
    fn compress_pending(&mut self) {
        SCRATCH.with(|s| {
            let mut out = std::mem::take(&mut s.borrow_mut().1);
            while let Some(b) = self.pending.pop() {
                let b = b as usize;
                let rows = self.rows(b);
                if let Block::Plain(p) = std::mem::take(&mut self.blocks[b]) {
                    self.blocks[b] = Block::Packed(Packed::encode(&p, rows, self.dim_cap, &mut out));
                    if self.spare.is_none() && p.len() == BLOCK_SLOTS * self.dim_cap {
                        self.spare = Some(p);
                    }
                }
            }
            s.borrow_mut().1 = out;
        });
    }

    /// Whether row `r` of block `b` is a row of the open block not written since it was
    /// opened: read from its tail, or empty without one.
    #[inline]
    fn stale(&self, b: usize, r: usize) -> bool {
        self.open == Some(b as u32) && self.fresh & (1 << r) == 0
    }

    /// The storage number of dimension `dim` at `slot`.
    #[inline]
    pub fn get(&self, slot: usize, dim: usize) -> StorageNumber {
        let (b, r) = (slot / BLOCK_SLOTS, slot % BLOCK_SLOTS);
        match &self.blocks[b] {
            Block::Never => SN_EMPTY,
            Block::Plain(_) if self.stale(b, r) => {
                self.tail.as_ref().map_or(SN_EMPTY, |t| t.get(self.rows(b), r, dim))
            }
            Block::Plain(p) if dim < self.dim_cap => p[r * self.dim_cap + dim],
            Block::Plain(_) => SN_EMPTY,
            Block::Packed(p) => p.get(self.rows(b), r, dim),
        }
    }

    /// Visit the `count` rows from `slot` on (wrapping), with at most `width` storage numbers
    /// each, as `f(k, row)` for the `k`-th. A row is shorter when the block holds fewer
    /// dimensions (they read empty), and empty when the block was never written.
    #[inline]
    pub fn for_each_row(
        &self,
        slot: usize,
        count: usize,
        width: usize,
        mut f: impl FnMut(usize, &[StorageNumber]),
    ) {
        let mut slot = slot;
        let mut done = 0;
        while done < count {
            let (b, r) = (slot / BLOCK_SLOTS, slot % BLOCK_SLOTS);
            let n = (self.rows(b) - r).min(count - done);
            self.block_rows(b, r, n, width, |k, row| f(done + k, row));
            done += n;
            slot += n;
            if slot == self.history {
                slot = 0;
            }
        }
    }

    /// Rows `r .. r + n` of block `b`, for [`Ring::for_each_row`].
    #[inline]
    fn block_rows(
        &self,
        b: usize,
        r: usize,
        n: usize,
        width: usize,
        mut f: impl FnMut(usize, &[StorageNumber]),
    ) {
        let cap = self.dim_cap;
        match &self.blocks[b] {
            Block::Never => (0..n).for_each(|k| f(k, &[])),
            Block::Plain(p) => {
                let w = width.min(cap);
                for k in 0..n {
                    if self.stale(b, r + k) {
                        match &self.tail {
                            Some(tail) => with_decoded(tail, self.rows(b), r + k, 1, width, |row| f(k, row)),
                            None => f(k, &[]),
                        }
                    } else {
                        let at = (r + k) * cap;
                        f(k, &p[at..at + w]);
                    }
                }
            }
            Block::Packed(packed) => with_decoded(packed, self.rows(b), r, n, width, |rows| {
                let w = rows.len() / n;
                if w == 0 {
                    (0..n).for_each(|k| f(k, &[]));
                } else {
                    rows.chunks_exact(w).enumerate().for_each(|(k, row)| f(k, row));
                }
            }),
        }
    }

    /// Whether every storage number of `slot` is empty.
    pub fn row_is_empty(&self, slot: usize) -> bool {
        let mut empty = true;
        self.for_each_row(slot, 1, self.dim_cap, |_, row| empty = row.iter().all(|&n| n == SN_EMPTY));
        empty
    }

    /// Asks the processor to start loading the `count` rows from `slot` on (wrapping): the
    /// rows of plain blocks, the first bytes of packed ones.
    #[inline]
    pub fn prefetch(&self, slot: usize, count: usize, width: usize, load: impl Fn(*const u8, usize)) {
        let mut slot = slot;
        let mut done = 0;
        while done < count {
            let (b, r) = (slot / BLOCK_SLOTS, slot % BLOCK_SLOTS);
            let n = (self.rows(b) - r).min(count - done);
            match &self.blocks[b] {
                Block::Never => {}
                Block::Plain(p) => {
                    let w = width.min(self.dim_cap);
                    let rows = &p[r * self.dim_cap..(r + n - 1) * self.dim_cap + w];
                    load(rows.as_ptr().cast(), std::mem::size_of_val(rows));
                }
                Block::Packed(packed) => load(packed.bytes.as_ptr(), packed.bytes.len().min(PREFETCH_PACKED)),
            }
            done += n;
            slot += n;
            if slot == self.history {
                slot = 0;
            }
        }
    }
}

/// Bytes of a packed block a prefetch asks for: the first columns, not a whole large chart.
const PREFETCH_PACKED: usize = 1 << 20;

/// Decode rows `r .. r + n` of the first `width` columns of `packed` (`rows` rows) into the
/// thread's scratch and hand them to `f`, row-major.
#[inline]
fn with_decoded(
    packed: &Packed,
    rows: usize,
    r: usize,
    n: usize,
    width: usize,
    f: impl FnOnce(&[StorageNumber]),
) {
    // Taken out of the thread's cell, so that a reader reading another chart from `f` gets a
    // buffer of its own.
    let mut buf = SCRATCH.with(|s| std::mem::take(&mut s.borrow_mut().0));
    packed.decode_rows(rows, r, n, width, &mut buf);
    f(&buf);
    SCRATCH.with(|s| s.borrow_mut().0 = buf);
}
