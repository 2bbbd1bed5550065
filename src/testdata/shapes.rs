//! Synthetic series of storage numbers in the shapes the store meets, for the block codec's
//! tests and benchmarks beside the real corpus: each is deterministic for its seed.

use crate::rrd::storage_number::{pack, StorageNumber, SN_EMPTY, SN_EXISTS, SN_EXISTS_RESET};

/// A small deterministic generator (xorshift64*), so the shapes need no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The shapes, by name, as the benchmarks and the ratio report list them.
pub const SHAPES: [&str; 6] = ["constant", "counter rate", "gauge", "gaps", "resets", "noise"];

/// `slots` storage numbers of the shape named `shape` (one of [`SHAPES`]), for `seed`.
pub fn series(shape: &str, seed: u64, slots: usize) -> Vec<StorageNumber> {
    let mut rng = Rng::new(seed);
    match shape {
        "constant" => constant(seed, slots),
        "counter rate" => counter_rate(&mut rng, slots),
        "gauge" => gauge(&mut rng, slots),
        "gaps" => gaps(&mut rng, slots),
        "resets" => resets(&mut rng, slots),
        "noise" => noise(&mut rng, slots),
        _ => panic!("no synthetic shape {shape:?}: the shapes are {SHAPES:?}"),
    }
}

/// What `benches/scripts/peer/synth.plugin` sends with `absolute` dimensions: `chart × 1000 +
/// dimension`, every slot the same.
pub fn constant(seed: u64, slots: usize) -> Vec<StorageNumber> {
    let (chart, dim) = (seed / 100, seed % 100);
    vec![pack((chart * 1000 + dim) as f64, SN_EXISTS); slots]
}

/// The per-second rate of a counter that grows by the same amount every second, read at
/// instants that jitter by up to ±100 µs: the rate moves in its last digits.
fn counter_rate(rng: &mut Rng, slots: usize) -> Vec<StorageNumber> {
    let step = (1 + rng.next() % 100_000) as f64;
    (0..slots).map(|_| pack(step / (1.0 + (rng.unit() - 0.5) * 2e-4), SN_EXISTS)).collect()
}

/// A level that wanders by small whole steps now and then, like memory in KiB.
fn gauge(rng: &mut Rng, slots: usize) -> Vec<StorageNumber> {
    let mut v = (1_000 + rng.next() % 10_000_000) as f64;
    (0..slots)
        .map(|_| {
            if rng.next().is_multiple_of(4) {
                v += (rng.next() % 201) as f64 - 100.0;
            }
            pack(v, SN_EXISTS)
        })
        .collect()
}

/// A gauge whose collector misses now and then: runs of empty slots.
fn gaps(rng: &mut Rng, slots: usize) -> Vec<StorageNumber> {
    let mut values = gauge(rng, slots);
    let mut i = 0;
    while i < slots {
        i += 5 + (rng.next() % 40) as usize;
        let gap = 1 + (rng.next() % 5) as usize;
        values[i.min(slots)..(i + gap).min(slots)].fill(SN_EMPTY);
        i += gap;
    }
    values
}

/// A counter's rate that drops to zero with the reset flag now and then (a restarted process).
fn resets(rng: &mut Rng, slots: usize) -> Vec<StorageNumber> {
    let mut values = counter_rate(rng, slots);
    for n in values.iter_mut() {
        if rng.next().is_multiple_of(30) {
            *n = pack(0.0, SN_EXISTS_RESET);
        }
    }
    values
}

/// The worst case: uniform random words with the exists flag, random mantissas and exponents.
fn noise(rng: &mut Rng, slots: usize) -> Vec<StorageNumber> {
    (0..slots).map(|_| (rng.next() as u32 & !0x0700_0000) | SN_EXISTS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_the_same_for_the_same_seed_and_has_its_slots() {
        for shape in SHAPES {
            let a = series(shape, 7, 100);
            assert_eq!(a, series(shape, 7, 100), "{shape}");
            assert_eq!(a.len(), 100);
        }
        assert_eq!(constant(1203, 3), [pack(12_003.0, SN_EXISTS); 3]);
        assert!(series("gaps", 7, 200).contains(&SN_EMPTY));
        assert!(series("resets", 7, 200).iter().any(|&n| n & SN_EXISTS_RESET != 0));
    }
}
