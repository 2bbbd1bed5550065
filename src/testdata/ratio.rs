//! What the block codec makes of series: bytes per sample over their complete blocks, and the
//! share of columns each encoding was chosen for. Shared by the codec's ratio test and the
//! `codec_ratio` example that prints the table of `BENCHMARKS.md`.

use std::collections::BTreeMap;

use crate::rrd::codec;
use crate::rrd::storage_number::StorageNumber;

/// Slots in a block, as the store compresses them.
pub const BLOCK_SLOTS: usize = 64;

/// The codec's result over a set of series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ratio {
    /// Slots in complete blocks (a series' last incomplete block stays plain in the store).
    pub samples: usize,
    /// Encoded bytes of those blocks' columns.
    pub bytes: usize,
    /// Columns per encoding name ([`codec::encoding_name`]).
    pub columns: BTreeMap<&'static str, usize>,
}

impl Ratio {
    /// Encode every complete block of every series.
    pub fn of<'a>(series: impl IntoIterator<Item = &'a [StorageNumber]>) -> Ratio {
        let mut r = Ratio::default();
        let mut out = Vec::with_capacity(1 + 4 * BLOCK_SLOTS);
        for s in series {
            for column in s.chunks_exact(BLOCK_SLOTS) {
                out.clear();
                codec::encode(column, &mut out);
                r.samples += BLOCK_SLOTS;
                r.bytes += out.len();
                *r.columns.entry(codec::encoding_name(&out)).or_default() += 1;
            }
        }
        r
    }

    /// Encoded bytes per sample.
    pub fn bytes_per_sample(&self) -> f64 {
        self.bytes as f64 / self.samples.max(1) as f64
    }

    /// `name 42.0 %, …`: the share of columns per encoding, most used first.
    pub fn shares(&self) -> String {
        let total: usize = self.columns.values().sum();
        let mut v: Vec<_> = self.columns.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let share = |n: usize| 100.0 * n as f64 / total.max(1) as f64;
        v.iter().map(|(name, &n)| format!("{name} {:.1} %", share(n))).collect::<Vec<_>>().join(", ")
    }
}
