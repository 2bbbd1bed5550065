//! The store's block codec: one dimension's storage numbers over the slots of one block, in as
//! few bytes as a lossless encoding allows, readable by slot range without decoding the rest.
//!
//! Pure: slices in, bytes out. Every encoding reads back bit-identical; the encoder picks, per
//! column, the smallest of those that fit it (on a tie the first of raw, frame of reference,
//! linear, sparse changes and two ranges). An encoded column starts with a tag byte that says
//! its encoding; with the column's slot count (the block's, known to the reader) the tag and the
//! slot map that follows some tags give the encoded size, so the columns of a block can be laid
//! back to back.
//!
//! | tag | encoding | bytes after the tag | slot `i` reads |
//! |---|---|---|---|
//! | `0x00` | empty: every slot empty | none | `0` |
//! | `0x01` | constant | `v` (4) | `v` |
//! | `0x20 + w`, `w` 1..=31 | frame of reference | `min` (4), `w` bits per slot | `min + p[i]` |
//! | `0x40 + w`, `w` 0..=31 | linear | `slope` (4), `base` (4), `w` bits per slot | `base + slope·i + p[i]` |
//! | `0x60 + w − 1`, `w` 1..=32 | sparse changes | `map` (8), `min` (4), `w` bits per run | `min + p[k − 1]`, `k` the bits of `map` set in `0..=i` |
//! | `0x80 + a`, `a` 0..=31 | two ranges | `b` (1), `map` (8), `min_b` (4), `min_a` (4), `b` bits per set bit of `map`, then `a` bits per clear bit | `min_b + p_b[k]` if bit `i` of `map` is set, else `min_a + p_a[i − k]`, `k` the bits set below `i` |
//! | `0x02` | raw | every slot (4 each) | itself |
//!
//! Numbers are little-endian; arithmetic wraps modulo 2³². Packed fields `p[k]` are `w` bits
//! each, the `k`-th at bit `k·w` of a little-endian bit stream, and take `⌈count·w / 8⌉`
//! bytes. A `map` bit `i` stands for slot `i`: in sparse changes it is set where a run of equal
//! values starts (bit 0 always), in two ranges where the slot's value is in range `b`, the rest.
//! So the maps cap those two encodings at 64 slots; longer columns use the others.
//!
//! What the encodings catch, on a real corpus of `/proc` and `apps.plugin` metrics
//! (`BENCHMARKS.md`, "Block codec"): constant columns (the most common), gauges that move within a
//! few bits (frame of reference), uptimes and other steady ramps (linear), values that change
//! now and then (sparse changes), and noise around one level with a few slots at another, such
//! as zeros or a value across a power of ten (two ranges). Noisy computed rates keep close to
//! their 4 bytes under any of them.

use super::storage_number::{StorageNumber, SN_EMPTY};

/// Every slot is empty.
const TAG_EMPTY: u8 = 0x00;
/// Every slot holds the same storage number, which follows (4 bytes).
const TAG_CONSTANT: u8 = 0x01;
/// The storage numbers follow as they are (4 bytes each).
const TAG_RAW: u8 = 0x02;
/// Frame of reference: the smallest value, then each slot's distance from it in `w` bits.
const KIND_FOR: u8 = 0x20;
/// A line through the slots plus each slot's distance above it in `w` bits.
const KIND_LINEAR: u8 = 0x40;
/// A map of where the value changes, then the runs' values as a frame of reference.
const KIND_SPARSE: u8 = 0x60;
/// A map of which slots are in the second of two value ranges, each range a frame of reference.
const KIND_TWO: u8 = 0x80;
const KIND_MASK: u8 = 0xE0;
const WIDTH_MASK: u8 = 0x1F;
/// The most slots a slot map covers.
const MAP_SLOTS: usize = 64;

/// How one column is encoded, with what it needs to be written and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Empty,
    Constant(StorageNumber),
    For { min: u32, w: u32 },
    Linear { slope: u32, base: u32, w: u32 },
    Sparse { map: u64, min: u32, w: u32 },
    Two { map: u64, min_a: u32, a: u32, min_b: u32, b: u32 },
    Raw,
}

/// The bytes `count` values of `w` bits take.
#[inline]
fn packed_len(count: usize, w: u32) -> usize {
    (count * w as usize).div_ceil(8)
}

/// Bits needed for any value up to `span`.
#[inline]
fn width(span: u32) -> u32 {
    32 - span.leading_zeros()
}

impl Plan {
    fn size(&self, slots: usize) -> usize {
        match *self {
            Plan::Empty => 1,
            Plan::Constant(_) => 5,
            Plan::For { w, .. } => 5 + packed_len(slots, w),
            Plan::Linear { w, .. } => 9 + packed_len(slots, w),
            Plan::Sparse { map, w, .. } => 13 + packed_len(map.count_ones() as usize, w),
            Plan::Two { map, a, b, .. } => {
                let in_b = map.count_ones() as usize;
                18 + packed_len(in_b, b) + packed_len(slots - in_b, a)
            }
            Plan::Raw => 1 + 4 * slots,
        }
    }
}

/// Append the encoding of `column` (one storage number per slot, oldest first) to `out`.
pub fn encode(column: &[StorageNumber], out: &mut Vec<u8>) {
    let plan = choose(column);
    let start = out.len();
    write(&plan, column, out);
    debug_assert_eq!(out.len() - start, plan.size(column.len()), "{plan:?}");
}

/// The smallest encoding of `column`.
fn choose(column: &[StorageNumber]) -> Plan {
    let Some(&first) = column.first() else { return Plan::Empty };
    let (min, max) = column.iter().fold((first, first), |(lo, hi), &n| (lo.min(n), hi.max(n)));
    if min == max {
        return if first == SN_EMPTY { Plan::Empty } else { Plan::Constant(first) };
    }
    let slots = column.len();
    let smaller = |best: Plan, plan: Option<Plan>| match plan {
        Some(plan) if plan.size(slots) < best.size(slots) => plan,
        _ => best,
    };
    let w = width(max - min);
    let mut best = smaller(Plan::Raw, (w < 32).then_some(Plan::For { min, w }));
    best = smaller(best, linear(column));
    if slots <= MAP_SLOTS {
        best = smaller(best, Some(sparse(column)));
        if best.size(slots) > 18 {
            best = smaller(best, two_ranges(column, best.size(slots)));
        }
    }
    best
}

/// The line through the first and last slot, if the slots keep within 31 bits above it.
fn linear(column: &[StorageNumber]) -> Option<Plan> {
    let n = column.len() as i64;
    let slope = (*column.last()? as i64 - column[0] as i64) / (n - 1).max(1);
    if slope == 0 {
        return None;
    }
    let residual = |i: usize, v: u32| v as i64 - slope * i as i64;
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (i, &v) in column.iter().enumerate() {
        let r = residual(i, v);
        lo = lo.min(r);
        hi = hi.max(r);
    }
    let w = width(u32::try_from(hi - lo).ok()?);
    (w < 32).then_some(Plan::Linear { slope: slope as u32, base: lo as u32, w })
}

/// Where the value changes, and the range of the runs' values.
fn sparse(column: &[StorageNumber]) -> Plan {
    let (mut map, mut min, mut max) = (1u64, column[0], column[0]);
    for (i, pair) in column.windows(2).enumerate() {
        if pair[0] != pair[1] {
            map |= 1 << (i + 1);
            min = min.min(pair[1]);
            max = max.max(pair[1]);
        }
    }
    Plan::Sparse { map, min, w: width(max - min) }
}

/// Outliers tried on both sides at once by [`two_ranges`].
const BOTH_SIDES: usize = 4;

/// The best split of the values into one range (`a`: the slots whose values lie in a window of
/// the sorted values) and the rest (`b`), `None` when none beats `within` bytes. The windows
/// tried leave out values at one end of the sorted order, any number of them, or a few at
/// both ends: the zeros or the slots across a power of ten that spoil a frame of reference.
fn two_ranges(column: &[StorageNumber], within: usize) -> Option<Plan> {
    let mut sorted = [0u32; MAP_SLOTS];
    let sorted = &mut sorted[..column.len()];
    sorted.copy_from_slice(column);
    sorted.sort_unstable();
    let n = sorted.len();
    let size = |lo: usize, hi: usize| {
        let b_span = match (lo > 0, hi < n) {
            (true, true) => sorted[n - 1] - sorted[0],
            (true, false) => sorted[lo - 1] - sorted[0],
            (false, true) => sorted[n - 1] - sorted[hi],
            (false, false) => 0,
        };
        let a = width(sorted[hi - 1] - sorted[lo]);
        18 + packed_len(n - (hi - lo), width(b_span)) + packed_len(hi - lo, a)
    };
    // With one end fixed, a window keeps its width until it takes the value that widens it:
    // only the widest window of each width can be the best of that width.
    let lower = (1..n).filter(|&hi| width(sorted[hi] - sorted[0]) > width(sorted[hi - 1] - sorted[0]));
    let upper =
        (1..n).filter(|&lo| width(sorted[n - 1] - sorted[lo - 1]) > width(sorted[n - 1] - sorted[lo]));
    let one_side = lower.map(|hi| (0, hi)).chain(upper.map(|lo| (lo, n)));
    let both = (1..=BOTH_SIDES).flat_map(|lo| (1..=BOTH_SIDES).map(move |k| (lo, n.saturating_sub(k))));
    let (lo, hi) = one_side.chain(both).filter(|&(lo, hi)| lo < hi).min_by_key(|&(lo, hi)| size(lo, hi))?;
    if size(lo, hi) >= within {
        return None;
    }
    let (lo, hi, a) = (lo, hi - 1, width(sorted[hi - 1] - sorted[lo]));
    let (min_a, max_a) = (sorted[lo], sorted[hi]);
    let (mut map, mut min_b, mut max_b) = (0u64, u32::MAX, 0u32);
    for (i, &v) in column.iter().enumerate() {
        if v < min_a || v > max_a {
            map |= 1 << i;
            min_b = min_b.min(v);
            max_b = max_b.max(v);
        }
    }
    if map == 0 {
        (min_b, max_b) = (0, 0);
    }
    Some(Plan::Two { map, min_a, a, min_b, b: width(max_b - min_b) })
}

/// Packs values of a fixed width into a little-endian bit stream.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, bits: 0 }
    }

    #[inline]
    fn push(&mut self, v: u32, w: u32) {
        if w == 0 {
            return;
        }
        self.acc |= (v as u64 & mask(w)) << self.bits;
        self.bits += w;
        while self.bits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    fn finish(self) {
        if self.bits > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

#[inline]
fn mask(w: u32) -> u64 {
    (1u64 << w) - 1
}

fn write(plan: &Plan, column: &[StorageNumber], out: &mut Vec<u8>) {
    match *plan {
        Plan::Empty => out.push(TAG_EMPTY),
        Plan::Constant(v) => {
            out.push(TAG_CONSTANT);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Plan::Raw => {
            out.push(TAG_RAW);
            out.extend(column.iter().flat_map(|n| n.to_le_bytes()));
        }
        Plan::For { min, w } => {
            out.push(KIND_FOR | w as u8);
            out.extend_from_slice(&min.to_le_bytes());
            let mut bits = BitWriter::new(out);
            column.iter().for_each(|&v| bits.push(v.wrapping_sub(min), w));
            bits.finish();
        }
        Plan::Linear { slope, base, w } => {
            out.push(KIND_LINEAR | w as u8);
            out.extend_from_slice(&slope.to_le_bytes());
            out.extend_from_slice(&base.to_le_bytes());
            let mut bits = BitWriter::new(out);
            for (i, &v) in column.iter().enumerate() {
                bits.push(v.wrapping_sub(base).wrapping_sub(slope.wrapping_mul(i as u32)), w);
            }
            bits.finish();
        }
        Plan::Sparse { map, min, w } => {
            out.push(KIND_SPARSE | (w - 1) as u8);
            out.extend_from_slice(&map.to_le_bytes());
            out.extend_from_slice(&min.to_le_bytes());
            let mut bits = BitWriter::new(out);
            for (i, &v) in column.iter().enumerate() {
                if map >> i & 1 == 1 {
                    bits.push(v.wrapping_sub(min), w);
                }
            }
            bits.finish();
        }
        Plan::Two { map, min_a, a, min_b, b } => write_two(column, map, (min_a, a), (min_b, b), out),
    }
}

fn write_two(
    column: &[StorageNumber],
    map: u64,
    (min_a, a): (u32, u32),
    (min_b, b): (u32, u32),
    out: &mut Vec<u8>,
) {
    out.push(KIND_TWO | a as u8);
    out.push(b as u8);
    out.extend_from_slice(&map.to_le_bytes());
    out.extend_from_slice(&min_b.to_le_bytes());
    out.extend_from_slice(&min_a.to_le_bytes());
    let in_b = |i: usize| map >> i & 1 == 1;
    let mut bits = BitWriter::new(out);
    column.iter().enumerate().filter(|&(i, _)| in_b(i)).for_each(|(_, &v)| bits.push(v - min_b, b));
    bits.finish();
    let mut bits = BitWriter::new(out);
    column.iter().enumerate().filter(|&(i, _)| !in_b(i)).for_each(|(_, &v)| bits.push(v - min_a, a));
    bits.finish();
}

/// The size of the encoded column of `slots` slots at the start of `bytes`.
#[inline]
pub fn encoded_len(bytes: &[u8], slots: usize) -> usize {
    let tag = bytes[0];
    let w = (tag & WIDTH_MASK) as u32;
    match tag & KIND_MASK {
        KIND_FOR => 5 + packed_len(slots, w),
        KIND_LINEAR => 9 + packed_len(slots, w),
        KIND_SPARSE => 13 + packed_len(map_at(bytes, 1).count_ones() as usize, w + 1),
        KIND_TWO => {
            let in_b = map_at(bytes, 2).count_ones() as usize;
            18 + packed_len(in_b, bytes[1] as u32) + packed_len(slots - in_b, w)
        }
        _ => match tag {
            TAG_EMPTY => 1,
            TAG_CONSTANT => 5,
            _ => 1 + 4 * slots,
        },
    }
}

#[inline]
fn word(bytes: &[u8], at: usize) -> StorageNumber {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[inline]
fn map_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The `k`-th value of `w` bits in the bit stream that starts `packed`. Reads one unaligned
/// 8-byte word when the slice has it (the bytes past the stream belong to the next column or
/// are not there: either way they are masked off).
#[inline]
fn unpack(packed: &[u8], k: usize, w: u32) -> u32 {
    let bit = k * w as usize;
    let at = bit / 8;
    let word = match packed.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
        None => {
            let mut b = [0u8; 8];
            let tail = packed.get(at..).unwrap_or_default();
            b[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(b)
        }
    };
    ((word >> (bit % 8)) & mask(w)) as u32
}

/// The map's bits for slots `0 ..= i`.
#[inline]
fn through(map: u64, i: usize) -> u64 {
    map & (u64::MAX >> (63 - i))
}

/// Decode slots `from .. from + out.len()` of the encoded column at the start of `bytes`.
#[inline]
pub fn decode(bytes: &[u8], from: usize, out: &mut [StorageNumber]) {
    let tag = bytes[0];
    let w = (tag & WIDTH_MASK) as u32;
    match tag & KIND_MASK {
        KIND_FOR => {
            let (min, packed) = (word(bytes, 1), &bytes[5..]);
            for (i, n) in out.iter_mut().enumerate() {
                *n = min.wrapping_add(unpack(packed, from + i, w));
            }
        }
        KIND_LINEAR => {
            let (slope, packed) = (word(bytes, 1), &bytes[9..]);
            let mut line = word(bytes, 5).wrapping_add(slope.wrapping_mul(from as u32));
            for (i, n) in out.iter_mut().enumerate() {
                *n = line.wrapping_add(unpack(packed, from + i, w));
                line = line.wrapping_add(slope);
            }
        }
        KIND_SPARSE => decode_sparse(bytes, w + 1, from, out),
        KIND_TWO => decode_two(bytes, w, from, out),
        _ => match tag {
            TAG_EMPTY => out.fill(SN_EMPTY),
            TAG_CONSTANT => out.fill(word(bytes, 1)),
            _ => {
                for (i, n) in out.iter_mut().enumerate() {
                    *n = word(bytes, 1 + 4 * (from + i));
                }
            }
        },
    }
}

#[inline]
fn decode_sparse(bytes: &[u8], w: u32, from: usize, out: &mut [StorageNumber]) {
    let (map, min, packed) = (map_at(bytes, 1), word(bytes, 9), &bytes[13..]);
    let Some(first) = out.first_mut() else { return };
    let mut run = through(map, from).count_ones() as usize - 1;
    let mut v = min.wrapping_add(unpack(packed, run, w));
    *first = v;
    for (i, n) in out.iter_mut().enumerate().skip(1) {
        if map >> (from + i) & 1 == 1 {
            run += 1;
            v = min.wrapping_add(unpack(packed, run, w));
        }
        *n = v;
    }
}

/// Slots `from ..` of a two-ranges column whose first range is `a` bits wide.
#[inline]
fn decode_two(bytes: &[u8], a: u32, from: usize, out: &mut [StorageNumber]) {
    if out.is_empty() {
        return;
    }
    let (b, map, min_b, min_a) = (bytes[1] as u32, map_at(bytes, 2), word(bytes, 10), word(bytes, 14));
    let packed_b = &bytes[18..];
    let packed_a = &packed_b[packed_len(map.count_ones() as usize, b)..];
    let mut in_b = (map & ((1u64 << from) - 1)).count_ones() as usize;
    for (i, n) in (from..).zip(out.iter_mut()) {
        if map >> i & 1 == 1 {
            *n = min_b.wrapping_add(unpack(packed_b, in_b, b));
            in_b += 1;
        } else {
            *n = min_a.wrapping_add(unpack(packed_a, i - in_b, a));
        }
    }
}

/// The name of the encoding of the column at the start of `bytes`, as the table above says it:
/// `empty`, `constant`, `frame of reference`, `linear`, `sparse changes`, `two ranges` or `raw`.
pub fn encoding_name(bytes: &[u8]) -> &'static str {
    match (bytes[0] & KIND_MASK, bytes[0]) {
        (KIND_FOR, _) => "frame of reference",
        (KIND_LINEAR, _) => "linear",
        (KIND_SPARSE, _) => "sparse changes",
        (KIND_TWO, _) => "two ranges",
        (_, TAG_EMPTY) => "empty",
        (_, TAG_CONSTANT) => "constant",
        _ => "raw",
    }
}

/// The storage number of slot `i` of the encoded column at the start of `bytes`.
#[inline]
pub fn get(bytes: &[u8], i: usize) -> StorageNumber {
    let mut n = [SN_EMPTY];
    decode(bytes, i, &mut n);
    n[0]
}

#[cfg(test)]
mod tests {
    use super::super::storage_number::SN_EXISTS_RESET;
    use super::*;
    use proptest::prelude::*;

    fn encoded(column: &[StorageNumber]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(column, &mut out);
        assert_eq!(encoded_len(&out, column.len()), out.len(), "the tag gives the size");
        out
    }

    #[test]
    fn constant_and_empty_columns_take_five_bytes_and_one() {
        assert_eq!(encoded(&[SN_EMPTY; 64]), [TAG_EMPTY]);
        assert_eq!(encoded(&[0x0100_002a; 64]), [TAG_CONSTANT, 0x2a, 0, 0, 1]);
        assert_eq!(encoded(&[]), [TAG_EMPTY]);
    }

    #[test]
    fn a_column_with_no_pattern_is_kept_as_it_is_plus_its_tag() {
        let column: Vec<u32> = (0..64u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
        let bytes = encoded(&column);
        assert_eq!(bytes[0], TAG_RAW);
        assert_eq!(bytes.len(), 1 + 64 * 4);
        assert_eq!(get(&bytes, 0), 0);
        assert_eq!(get(&bytes, 63), 63u32.wrapping_mul(0x9e37_79b9));
    }

    #[test]
    fn values_within_a_few_bits_are_packed_above_their_minimum() {
        let column = [0x0100_0000, 0x0100_0001, 0x0100_0003, 0x0100_0002];
        let bytes = encoded(&column);
        assert_eq!(bytes, [0x22, 0, 0, 0, 1, 0b10_11_01_00]);
        assert_eq!(get(&bytes, 2), 0x0100_0003);
    }

    #[test]
    fn a_steady_ramp_is_a_line_plus_a_bit_per_slot() {
        let column: Vec<u32> = (0..64).map(|i| 1000 + 7 * i + i % 2).collect();
        let bytes = encoded(&column);
        let mut expected = vec![0x41, 7, 0, 0, 0, 0xe8, 0x03, 0, 0];
        expected.extend([0xaa; 8]);
        assert_eq!(bytes, expected);
        assert_eq!(get(&bytes, 63), 1000 + 7 * 63 + 1);
    }

    #[test]
    fn a_value_that_changes_once_is_a_map_and_two_runs() {
        let column: Vec<u32> = (0..64).map(|i| if i < 10 { 5 } else { 9 }).collect();
        let bytes = encoded(&column);
        assert_eq!(bytes, [0x62, 0x01, 0x04, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0x20]);
        assert_eq!((get(&bytes, 9), get(&bytes, 10)), (5, 9));
    }

    #[test]
    fn two_zeros_among_one_bit_of_noise_are_a_range_of_their_own() {
        let column: Vec<u32> =
            (0..64).map(|i| if i == 3 || i == 40 { 0x0100_0000 } else { 0x3100_0000 + i % 2 }).collect();
        let bytes = encoded(&column);
        // the two zeros are the first range (0 bits), the noise the second (1 bit)
        let mut expected =
            vec![0x80, 1, 0xf7, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0, 0, 0, 0x31, 0, 0, 0, 1];
        expected.extend([0x52, 0x55, 0x55, 0x55, 0xd5, 0xaa, 0xaa, 0x2a]);
        assert_eq!(bytes, expected);
        assert_eq!(
            (get(&bytes, 3), get(&bytes, 4), get(&bytes, 41)),
            (0x0100_0000, 0x3100_0000, 0x3100_0001)
        );
    }

    /// Columns of every shape the encodings tell apart, and the ones at their edges.
    fn columns() -> impl Strategy<Value = Vec<StorageNumber>> {
        let any_word = prop_oneof![Just(SN_EMPTY), Just(0x0100_0001u32), any::<u32>()];
        let len = 1usize..=64;
        prop_oneof![
            prop::collection::vec(any_word, len.clone()),
            // values of w bits above a base, w from 0 to 32
            (any::<u32>(), 0u32..=32, prop::collection::vec(any::<u32>(), len.clone()))
                .prop_map(|(base, w, v)| v.iter().map(|x| base.wrapping_add(x & mask(w) as u32)).collect()),
            // all equal but one
            (any::<u32>(), any::<u32>(), len.clone(), any::<prop::sample::Index>()).prop_map(
                |(v, odd, n, at)| {
                    let mut c = vec![v; n];
                    c[at.index(n)] = odd;
                    c
                }
            ),
            // a ramp with noise, empty slots and counter resets mixed in
            (
                any::<u32>(),
                any::<u32>(),
                0u32..=32,
                prop::collection::vec((any::<u32>(), 0u8..8), len.clone())
            )
                .prop_map(|(base, slope, w, v)| {
                    v.iter()
                        .enumerate()
                        .map(|(i, &(x, kind))| match kind {
                            0 => SN_EMPTY,
                            1 => base ^ SN_EXISTS_RESET,
                            _ => base
                                .wrapping_add(slope.wrapping_mul(i as u32))
                                .wrapping_add(x & mask(w) as u32),
                        })
                        .collect()
                }),
            // a few runs
            (prop::collection::vec(any::<u32>(), 1..4), prop::collection::vec(0usize..4, len.clone()))
                .prop_map(|(values, picks)| picks.iter().map(|&p| values[p % values.len()]).collect()),
            // longer than a slot map
            prop::collection::vec(prop_oneof![Just(7u32), 0u32..300, any::<u32>()], 65..=100),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn every_range_and_every_slot_of_every_column_read_back_bit_identical(column in columns()) {
            let bytes = encoded(&column);
            prop_assert!(bytes.len() <= 1 + 4 * column.len(), "never more than raw");
            // laid back to back with another column, and alone at the end of the buffer
            let mut followed = bytes.clone();
            followed.extend([0xff; 16]);
            for buffer in [&bytes[..], &followed[..]] {
                for from in 0..column.len() {
                    for to in from..=column.len() {
                        let mut out = vec![0xdead_beef; to - from];
                        decode(buffer, from, &mut out);
                        prop_assert_eq!(&out[..], &column[from..to], "{}..{} of {:x?}", from, to, &bytes);
                    }
                }
                for (i, &n) in column.iter().enumerate() {
                    prop_assert_eq!(get(buffer, i), n);
                }
            }
        }
    }
}
