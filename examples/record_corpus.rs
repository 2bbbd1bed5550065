//! Record a corpus of this machine's real metrics for the store's codec tests and benchmarks:
//! the agent runs its `proc` collector and netdata's `apps.plugin` (from the installed netdata
//! package) every second for the given time, then every dimension's storage numbers, slot by
//! slot, are written in the format of `rrdpipe::testdata::corpus`.
//!
//! ```text
//! cargo run --release --example record_corpus -- SECONDS OUTPUT
//! ```
//!
//! `benches/corpus/record.sh` runs it with the settings the repository's corpus was made with.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rrdpipe::agent::Agent;
use rrdpipe::config;
use rrdpipe::rrd::Host;
use rrdpipe::shutdown::Shutdown;
use rrdpipe::testdata::corpus::{self, Corpus, Series};

fn usage() -> ! {
    eprintln!(
        "usage: record_corpus SECONDS OUTPUT (e.g. record_corpus 1800 benches/corpus/proc-apps.corpus.gz)"
    );
    std::process::exit(2)
}

/// The agent's configuration: the local collectors only, every second, keeping all `seconds`.
fn configuration(seconds: u64) -> String {
    format!(
        "[global]\n    hostname = corpus\n    update every = 1\n    history = {}\n\
         [web]\n    mode = none\n\
         [plugins]\n    proc = yes\n    apps = yes\n    enable running new plugins = no\n",
        seconds + 120
    )
}

/// Every dimension of `host`, its slots from the first one stored to the last.
fn dump(host: &Host) -> Corpus {
    let mut out = Corpus::default();
    for chart in host.charts() {
        let d = chart.read();
        let (Some(first), Some(last)) = (d.first_entry_t(), d.last_entry_t()) else { continue };
        let ue = d.update_every() as i64;
        for (i, dim) in d.dims.iter().enumerate() {
            out.series.push(Series {
                chart: d.meta.id.to_string(),
                dimension: d.names.id(i).to_string(),
                algorithm: dim.algorithm.as_str().to_string(),
                update_every: ue as u32,
                first_t: first,
                values: (first..=last).step_by(ue as usize).map(|t| d.value_at(i, t)).collect(),
            });
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [seconds, output] = &args[..] else { usage() };
    let Ok(seconds) = seconds.parse::<u64>() else { usage() };
    let output = PathBuf::from(output);
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();

    let dir = tempfile::tempdir().expect("a temporary directory");
    let conf = dir.path().join("netdata.conf");
    std::fs::write(&conf, configuration(seconds)).expect("the configuration written");
    let loaded = config::load(&conf).unwrap_or_else(|e| panic!("configuration refused: {e}"));
    let agent = Agent::start(&loaded.config, Shutdown::new()).unwrap_or_else(|e| panic!("{}", e.0));

    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10));
        let host = agent.db.localhost();
        eprintln!(
            "{:>5} s: {} charts, {} dimensions",
            start.elapsed().as_secs(),
            host.chart_count(),
            host.dimension_count()
        );
    }
    let corpus = dump(&agent.db.localhost());
    agent.stop();
    let file = File::create(&output).unwrap_or_else(|e| panic!("cannot create {}: {e}", output.display()));
    corpus::write(&corpus, BufWriter::new(file)).expect("the corpus written");
    let charts: std::collections::BTreeSet<&str> = corpus.series.iter().map(|s| s.chart.as_str()).collect();
    eprintln!(
        "{}: {} charts, {} dimensions, {} samples",
        output.display(),
        charts.len(),
        corpus.series.len(),
        corpus.samples()
    );
}
