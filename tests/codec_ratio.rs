//! The store's block codec on the repository's real corpus and on the synthetic shapes: bytes
//! per sample stay within what `BENCHMARKS.md` ("Block codec") records, and every block of the
//! corpus reads back bit-identical, slot by slot and by 10-slot windows.

use std::fs::File;
use std::path::Path;

use rrdpipe::rrd::codec;
use rrdpipe::testdata::corpus::{self, Corpus};
use rrdpipe::testdata::ratio::{Ratio, BLOCK_SLOTS};
use rrdpipe::testdata::shapes;

fn corpus() -> Corpus {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/corpus/proc-apps.corpus.gz");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    corpus::read(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shape(name: &str) -> Ratio {
    let series: Vec<_> = (0..200).map(|seed| shapes::series(name, seed, 640)).collect();
    Ratio::of(series.iter().map(|s| &s[..]))
}

#[test]
fn the_real_corpus_takes_under_0_9_bytes_per_sample() {
    let c = corpus();
    assert_eq!((c.series.len(), c.samples()), (210, 385_760), "the corpus the figures are for");
    let r = Ratio::of(c.series.iter().map(|s| &s.values[..]));
    assert_eq!(r.samples, 6018 * BLOCK_SLOTS);
    let b = r.bytes_per_sample();
    assert!(b <= 0.9, "corpus: {b:.3} bytes per sample ({})", r.shares());
}

#[test]
fn constant_columns_take_under_a_tenth_of_a_byte_and_noise_no_more_than_raw() {
    let constant = shape("constant").bytes_per_sample();
    assert!(constant <= 0.1, "constant: {constant:.3}");
    let noise = shape("noise");
    assert!(noise.bytes_per_sample() <= 4.2, "noise: {:.3}", noise.bytes_per_sample());
    assert_eq!(noise.bytes, noise.samples / BLOCK_SLOTS * (1 + 4 * BLOCK_SLOTS), "raw plus the tag");
}

#[test]
fn every_block_of_the_corpus_reads_back_bit_identical() {
    let c = corpus();
    let mut bytes = Vec::new();
    for s in &c.series {
        for column in s.values.chunks(BLOCK_SLOTS) {
            bytes.clear();
            codec::encode(column, &mut bytes);
            assert_eq!(codec::encoded_len(&bytes, column.len()), bytes.len());
            for (i, &n) in column.iter().enumerate() {
                assert_eq!(codec::get(&bytes, i), n, "{}.{} slot {i}", s.chart, s.dimension);
            }
            for from in 0..column.len().saturating_sub(10) {
                let mut out = [0u32; 10];
                codec::decode(&bytes, from, &mut out);
                assert_eq!(out, column[from..from + 10], "{}.{} from {from}", s.chart, s.dimension);
            }
        }
    }
}
