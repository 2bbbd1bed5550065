//! One exporter wake-up over the benchmark store (1000 charts × 100 dimensions, history 3600),
//! alone in a process, for counting its instructions with callgrind.
//!
//! Timings from `cargo bench` move with whatever else the host runs; an instruction count does
//! not. Use this to compare two builds of the export path:
//!
//! ```text
//! cargo build --release --example export_walk
//! valgrind --tool=callgrind --toggle-collect='export_walk::measured' \
//!     target/release/examples/export_walk graphite average
//! ```
//!
//! callgrind's `Collected` count is the wake-up's instructions; divide by the metrics printed.
//! As in `benches/export.rs`, the formatter first formats the previous window (not counted).

#[path = "../benches/common/mod.rs"]
mod common;

use rrdpipe::export::encode::Batch;
use rrdpipe::export::format::Source;
use rrdpipe::export::instance::{Formatter, LineFormat};
use rrdpipe::rrd::Db;

use common::{filled_db, instance, S, T0};

/// The wake-up callgrind counts (`--toggle-collect`).
#[inline(never)]
fn measured(f: &mut Formatter, db: &Db, now_ut: u64) -> Vec<Batch> {
    f.format_due(db, now_ut)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let format = match args.first().map_or("graphite", String::as_str) {
        "graphite" => LineFormat::Graphite,
        "opentsdb" => LineFormat::Opentsdb,
        "json" => LineFormat::Json,
        other => usage(&format!("unknown format '{other}'")),
    };
    let source = match args.get(1).map_or("average", String::as_str) {
        "average" => Source::Average,
        "sum" => Source::Sum,
        "as-collected" => Source::AsCollected,
        other => usage(&format!("unknown data source '{other}'")),
    };
    let db = filled_db(1000, 33);
    let now = T0 + 33;
    let mut f = Formatter::new(instance(format, source, 10), (now - 20) * S);
    f.format_due(&db, (now - 10) * S);
    let batches = measured(&mut f, &db, now * S);
    let metrics: usize = batches.iter().map(|b| b.metrics).sum();
    let bytes: usize = batches.iter().map(|b| b.bytes.len()).sum();
    println!("{} {source:?}: {metrics} metrics, {bytes} bytes", format.as_str());
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: export_walk [graphite|opentsdb|json] [average|sum|as-collected]");
    std::process::exit(2)
}
