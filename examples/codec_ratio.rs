//! Bytes per sample of the store's block codec, per synthetic shape and on a recorded corpus,
//! with the share of columns each encoding was chosen for: the table of `BENCHMARKS.md`'s
//! "Block codec".
//!
//! ```text
//! cargo run --release --example codec_ratio -- [CORPUS]   (default benches/corpus/proc-apps.corpus.gz)
//! ```

use std::fs::File;

use rrdpipe::testdata::corpus;
use rrdpipe::testdata::ratio::Ratio;
use rrdpipe::testdata::shapes::{self, SHAPES};

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "benches/corpus/proc-apps.corpus.gz".into());
    let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open the corpus {path}: {e}"));
    let c = corpus::read(file).unwrap_or_else(|e| panic!("cannot read the corpus {path}: {e}"));
    let charts = c.series.iter().map(|s| &s.chart).collect::<std::collections::BTreeSet<_>>().len();
    let seconds = c.series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    println!("corpus: {charts} charts, {} dimensions, {seconds} s, {} samples", c.series.len(), c.samples());
    println!("| shape | bytes/sample | columns per encoding |");
    println!("|---|---|---|");
    let r = Ratio::of(c.series.iter().map(|s| &s.values[..]));
    println!("| corpus | {:.3} | {} |", r.bytes_per_sample(), r.shares());
    for shape in SHAPES {
        let series: Vec<_> = (0..200).map(|seed| shapes::series(shape, seed, 640)).collect();
        let r = Ratio::of(series.iter().map(|s| &s[..]));
        println!("| {shape} | {:.3} | {} |", r.bytes_per_sample(), r.shares());
    }
}
