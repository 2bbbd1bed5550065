//! The recorded corpus of real metrics (benches/corpus/proc-apps.corpus.gz) through charts
//! with a compressed ring: every slot of every dimension reads back bit-identical.

use std::collections::BTreeMap;

use rrdpipe::rrd::storage_number::{StorageNumber, SN_EMPTY};
use rrdpipe::rrd::{Algorithm, Chart, ChartDef, DimensionDef};
use rrdpipe::testdata::corpus::{self, Series};

const HISTORY: usize = 600;

fn load() -> corpus::Corpus {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus/proc-apps.corpus.gz");
    let file = std::fs::File::open(path).expect("the corpus is in the repository");
    corpus::read(file).expect("the corpus reads")
}

/// The series' storage number at slot time `t`; empty outside it.
fn at(s: &Series, t: i64) -> StorageNumber {
    let i = (t - s.first_t) / s.update_every as i64;
    if t < s.first_t || (t - s.first_t) % s.update_every as i64 != 0 {
        return SN_EMPTY;
    }
    s.values.get(i as usize).copied().unwrap_or(SN_EMPTY)
}

/// Every readable slot of the chart, by `value_at` and by `for_each_row`, against the series.
fn check(c: &Chart, series: &[&Series]) {
    let d = c.read();
    let (first, last) = (d.first_entry_t().unwrap(), d.last_entry_t().unwrap());
    let ue = d.update_every() as i64;
    for (dim, s) in series.iter().enumerate() {
        for t in (first..=last).step_by(ue as usize) {
            assert_eq!(d.value_at(dim, t), at(s, t), "{}.{} at {t}", s.chart, s.dimension);
        }
    }
    let mut rows = 0;
    d.for_each_row(first - ue, last, |t, row| {
        rows += 1;
        for (dim, s) in series.iter().enumerate() {
            assert_eq!(
                row.get(dim).copied().unwrap_or(SN_EMPTY),
                at(s, t),
                "{}.{} row {t}",
                s.chart,
                s.dimension
            );
        }
    });
    assert_eq!(rows, (last - first) / ue + 1);
}

#[test]
fn the_corpus_reads_back_bit_identical_through_compressed_rings() {
    let corpus = load();
    let mut charts: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in &corpus.series {
        charts.entry(&s.chart).or_default().push(s);
    }
    let (mut bytes, mut dims) = (0, 0);
    for (id, series) in &charts {
        let ue = series[0].update_every;
        let c = Chart::new(&ChartDef::new(id, ue), HISTORY);
        for s in series {
            c.add_dimension(&DimensionDef::new(&s.dimension, Algorithm::parse(&s.algorithm).unwrap()));
        }
        let from = series.iter().map(|s| s.first_t).min().unwrap();
        let to = series.iter().map(|s| s.first_t + (s.values.len() as i64 - 1) * ue as i64).max().unwrap();
        for t in (from..=to).step_by(ue as usize) {
            let row: Vec<(usize, StorageNumber)> =
                series.iter().enumerate().map(|(i, s)| (i, at(s, t))).collect();
            assert!(c.store_replayed(t, &row), "{id} at {t}");
            if (t - from) % 97 == 0 {
                check(&c, series);
            }
        }
        check(&c, series);
        bytes += c.read().memory_bytes();
        dims += series.len();
    }
    assert_eq!(dims, corpus.series.len());
    eprintln!(
        "{} charts, {dims} dimensions, history {HISTORY}: {} bytes per dimension",
        charts.len(),
        bytes / dims
    );
}
