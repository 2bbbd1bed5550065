//! The store's memory per sample as the process pays it: for each shape of data and each
//! history, a fresh process fills a store of N dimensions until its ring has wrapped, and
//! reports its anonymous resident memory and the store's own accounting (`memory_bytes`).
//! Bytes per sample are the difference between two histories divided by the extra samples held:
//! `(RSS at H2 − RSS at H1) / ((H2 − H1) × N)`, so what the process holds besides the ring (code,
//! the tool's own inputs, per-dimension structures) cancels out.
//!
//! ```text
//! cargo run --release --example store_memory -- [--dims N] [--histories 60,300]
//!     [--shapes constant,counter,noise,corpus] [--corpus FILE]
//! ```
//!
//! Shapes, in charts of 100 dimensions collected every second on a fake clock:
//! * `constant`: absolute dimensions, each its own constant (`benches/scripts/peer/synth.plugin`);
//! * `counter`: incremental dimensions whose counters grow by a steady amount per second
//!   (`synth.plugin` with `SYNTH_ALGO=incremental`): a constant rate per dimension;
//! * `noise`: absolute dimensions holding independent random 24-bit integers (the worst case);
//! * `corpus`: the recorded real metrics (`benches/corpus/proc-apps.corpus.gz`), its series
//!   tiled to N dimensions: dimension k of the store replays series k mod the series count,
//!   each chart from its own offset in time, a series shorter than the run starting over. The
//!   corpus holds storage numbers, so they are written as they are, slot by slot, through
//!   [`Chart::store_replayed`] (the path a child's replication takes): the store holds exactly
//!   the recorded numbers.
//!
//! The first three go through [`Chart::collect`], the public collection API.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use rrdpipe::rrd::{Algorithm, Chart, ChartDef, Db, DimensionDef, HostInfo};
use rrdpipe::testdata::corpus::{self, Corpus};

/// Dimensions per chart.
const DIMS_PER_CHART: usize = 100;
/// The first collection time (µs), on a whole second.
const T0_S: i64 = 1_700_000_000;
const USEC: u64 = 1_000_000;

fn usage() -> ! {
    eprintln!(
        "usage: store_memory [--dims N] [--histories H1,H2,...] [--shapes constant,counter,noise,corpus] \
         [--corpus FILE]"
    );
    std::process::exit(2)
}

/// What to measure: the parent's matrix.
struct Settings {
    dims: usize,
    histories: Vec<usize>,
    shapes: Vec<String>,
    corpus: String,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Settings {
    let mut s = Settings {
        dims: 50_000,
        histories: vec![60, 300],
        shapes: ["constant", "counter", "noise", "corpus"].map(String::from).to_vec(),
        corpus: concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus/proc-apps.corpus.gz").to_string(),
    };
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dims" => s.dims = v.parse().unwrap_or_else(|_| usage()),
            "--histories" => {
                s.histories = v.split(',').map(|h| h.parse().unwrap_or_else(|_| usage())).collect()
            }
            "--shapes" => s.shapes = v.split(',').map(String::from).collect(),
            "--corpus" => s.corpus = v,
            _ => usage(),
        }
    }
    if s.histories.len() < 2 || s.dims < DIMS_PER_CHART {
        usage()
    }
    s
}

/// Anonymous resident bytes of this process (`Anonymous:` of `/proc/self/smaps_rollup`).
fn anonymous_bytes() -> u64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("/proc/self/smaps_rollup");
    let kb: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("Anonymous: in /proc/self/smaps_rollup");
    kb * 1024
}

/// A random 24-bit integer for dimension `k` at second `t` (splitmix64).
fn noise(k: usize, t: i64) -> i64 {
    let mut z = (k as u64) << 32 ^ t as u64;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) & 0xff_ffff) as i64
}

/// `dims` dimensions in charts of [`DIMS_PER_CHART`], of `algorithm`.
fn charts(db: &Db, dims: usize, algorithm: Algorithm) -> Vec<Arc<Chart>> {
    let host = db.localhost();
    (0..dims / DIMS_PER_CHART)
        .map(|c| {
            let (chart, _) = host.define_chart(&ChartDef::new(&format!("synth.c{c}"), 1));
            for d in 0..DIMS_PER_CHART {
                chart.add_dimension(&DimensionDef::new(&format!("d{d}"), algorithm));
            }
            chart
        })
        .collect()
}

/// Collect `seconds` times through [`Chart::collect`], each value `value(dimension number, t)`.
fn collect(charts: &[Arc<Chart>], seconds: i64, value: impl Fn(usize, i64) -> i64) {
    let mut row = Vec::with_capacity(DIMS_PER_CHART);
    for t in T0_S..T0_S + seconds {
        for (c, chart) in charts.iter().enumerate() {
            row.clear();
            row.extend((0..DIMS_PER_CHART).map(|d| (d, value(c * DIMS_PER_CHART + d, t))));
            chart.collect(&row, t as u64 * USEC).expect("collection times only go forward");
        }
    }
}

/// Write the corpus's storage numbers slot by slot, tiled over the charts.
fn replay(charts: &[Arc<Chart>], seconds: i64, corpus: &Corpus) {
    let series: Vec<_> = corpus.series.iter().filter(|s| !s.values.is_empty()).collect();
    assert!(!series.is_empty(), "the corpus has no slot");
    let mut row = Vec::with_capacity(DIMS_PER_CHART);
    for t in T0_S..T0_S + seconds {
        for (c, chart) in charts.iter().enumerate() {
            let at = (t - T0_S) as usize + c * 7;
            row.clear();
            row.extend((0..DIMS_PER_CHART).map(|d| {
                let s = &series[(c * DIMS_PER_CHART + d) % series.len()];
                (d, s.values[at % s.values.len()])
            }));
            assert!(chart.store_replayed(t, &row), "slot {t} was refused");
        }
    }
}

/// One setting, in this process: print `anonymous=BYTES memory_bytes=BYTES`.
fn one(shape: &str, history: usize, dims: usize, corpus_path: &str) {
    // Loaded before the baseline, the same in every process.
    let corpus = (shape == "corpus").then(|| {
        let f = std::fs::File::open(corpus_path).unwrap_or_else(|e| panic!("{corpus_path}: {e}"));
        corpus::read(f).unwrap_or_else(|e| panic!("{corpus_path}: {e}"))
    });
    let db = Db::new(HostInfo { hostname: "memory".into(), update_every: 1, ..Default::default() }, history);
    // Twice the history and a little: the ring has wrapped, as it has at steady state.
    let seconds = 2 * history as i64 + 10;
    let algorithm = if shape == "counter" { Algorithm::Incremental } else { Algorithm::Absolute };
    let charts = charts(&db, dims, algorithm);
    match shape {
        "constant" => collect(&charts, seconds, |k, _| k as i64),
        "counter" => collect(&charts, seconds, |k, t| t * (k % DIMS_PER_CHART + 1) as i64),
        "noise" => collect(&charts, seconds, noise),
        "corpus" => replay(&charts, seconds, corpus.as_ref().expect("loaded above")),
        _ => usage(),
    }
    let store: usize = charts.iter().map(|c| c.read().memory_bytes()).sum();
    println!("anonymous={} memory_bytes={store}", anonymous_bytes());
}

/// Run one setting in a fresh process and read its two figures.
fn measure(shape: &str, history: usize, s: &Settings) -> (f64, f64) {
    let exe = std::env::current_exe().expect("the path of this program");
    let out = Command::new(exe)
        .args(["--one", shape, &history.to_string(), &s.dims.to_string(), &s.corpus])
        .output()
        .expect("run a measuring process");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!("{shape} at history {history} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
    };
    (field("anonymous"), field("memory_bytes"))
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--one") {
        let a: Vec<String> = args.skip(1).collect();
        let [shape, h, n, corpus] = &a[..] else { usage() };
        one(shape, h.parse().unwrap_or_else(|_| usage()), n.parse().unwrap_or_else(|_| usage()), corpus);
        return;
    }
    let s = parse_args(args);
    let dims = s.dims / DIMS_PER_CHART * DIMS_PER_CHART;
    let (h1, hn) = (s.histories[0], *s.histories.last().expect("two histories"));
    println!("# {dims} dimensions, histories {:?}; bytes per sample between {h1} and {hn}", s.histories);
    println!(
        "| shape | history | anonymous RSS MB | memory_bytes MB | RSS B/sample | memory_bytes B/sample |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for shape in &s.shapes {
        let figures: Vec<(f64, f64)> = s.histories.iter().map(|&h| measure(shape, h, &s)).collect();
        let extra = ((hn - h1) * dims) as f64;
        let (first, last) = (figures[0], figures[figures.len() - 1]);
        for (&h, (rss, store)) in s.histories.iter().zip(&figures) {
            let per = if h == hn {
                format!("{:.3} | {:.3}", (last.0 - first.0) / extra, (last.1 - first.1) / extra)
            } else {
                " | ".into()
            };
            println!("| {shape} | {h} | {:.1} | {:.1} | {per} |", rss / 1e6, store / 1e6);
        }
        std::io::stdout().flush().expect("stdout");
    }
}
