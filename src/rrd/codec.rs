//! The store's block codec: one dimension's storage numbers over the slots of one block, in as
//! few bytes as a lossless encoding allows, readable by slot range without decoding the rest.
//!
//! Pure: slices in, bytes out. Every encoding reads back bit-identical; the encoder picks, per
//! column, the smallest of those that fit it. An encoded column starts with a tag byte that
//! says its encoding; with the column's slot count (the block's, known to the reader) the tag
//! alone gives the encoded size, so the columns of a block can be laid back to back.

use super::storage_number::{StorageNumber, SN_EMPTY};

/// Every slot is empty.
const TAG_EMPTY: u8 = 0;
/// Every slot holds the same storage number, which follows (4 bytes).
const TAG_CONSTANT: u8 = 1;
/// The storage numbers follow as they are (4 bytes each).
const TAG_RAW: u8 = 2;

/// Append the encoding of `column` (one storage number per slot, oldest first) to `out`.
pub fn encode(column: &[StorageNumber], out: &mut Vec<u8>) {
    let Some(&first) = column.first() else {
        out.push(TAG_EMPTY);
        return;
    };
    if column.iter().all(|&n| n == first) {
        if first == SN_EMPTY {
            out.push(TAG_EMPTY);
        } else {
            out.push(TAG_CONSTANT);
            out.extend_from_slice(&first.to_le_bytes());
        }
        return;
    }
    out.push(TAG_RAW);
    out.extend(column.iter().flat_map(|n| n.to_le_bytes()));
}

/// The size of the encoded column of `slots` slots at the start of `bytes`.
#[inline]
pub fn encoded_len(bytes: &[u8], slots: usize) -> usize {
    match bytes[0] {
        TAG_EMPTY => 1,
        TAG_CONSTANT => 5,
        _ => 1 + 4 * slots,
    }
}

#[inline]
fn word(bytes: &[u8], at: usize) -> StorageNumber {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Decode slots `from .. from + out.len()` of the encoded column at the start of `bytes`.
#[inline]
pub fn decode(bytes: &[u8], from: usize, out: &mut [StorageNumber]) {
    match bytes[0] {
        TAG_EMPTY => out.fill(SN_EMPTY),
        TAG_CONSTANT => out.fill(word(bytes, 1)),
        _ => {
            for (i, n) in out.iter_mut().enumerate() {
                *n = word(bytes, 1 + 4 * (from + i));
            }
        }
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
        assert_eq!(bytes.len(), 1 + 64 * 4);
        assert_eq!(get(&bytes, 0), 0);
        assert_eq!(get(&bytes, 63), 63u32.wrapping_mul(0x9e37_79b9));
    }

    proptest! {
        #[test]
        fn every_range_of_every_column_reads_back_bit_identical(
            column in prop::collection::vec(prop_oneof![Just(SN_EMPTY), Just(0x0100_0001u32), any::<u32>()], 1..=64),
            a in 0usize..64, b in 0usize..64,
        ) {
            let bytes = encoded(&column);
            let (from, to) = (a.min(b) % column.len(), (a.max(b) % column.len()) + 1);
            let to = to.max(from);
            let mut out = vec![0xdead_beef; to - from];
            decode(&bytes, from, &mut out);
            prop_assert_eq!(&out[..], &column[from..to]);
            for (i, &n) in column.iter().enumerate() {
                prop_assert_eq!(get(&bytes, i), n);
            }
        }
    }
}
