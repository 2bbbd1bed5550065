//! Inputs shared by the unit tests, the integration tests and the benchmarks, so that each is
//! written once. Not part of the agent: hidden from the documentation.
//!
//! * [`corpus`]: real metrics recorded slot by slot, replayed by the store's tests and benchmarks;
//! * [`shapes`]: synthetic series (constant, counters' rates, gauges, gaps, resets, noise);
//! * [`ratio`]: bytes per sample of the store's block codec over series, and its choices.

pub mod corpus;
pub mod ratio;
pub mod shapes;

use std::fmt::Write;

use crate::api::AgentFacts;

/// The facts of an agent `v0.1.0` collecting every second, keeping `history` slots, started at
/// `started_s` (seconds since the epoch); the rest default.
pub fn agent_facts(history: usize, started_s: i64) -> AgentFacts {
    AgentFacts { version: "v0.1.0".into(), update_every: 1, history, started_s, ..Default::default() }
}

/// A configuration of 78 000 keys of every shape: host labels, unknown keys, a key set 5 000
/// times, UUID-named sections (main file and stream.conf) and exporter sections. Returns the
/// main file and stream.conf.
pub fn config_of_78000_keys() -> (String, String) {
    let mut main = String::from("[global]\nhostname = big\n");
    for i in 0..5_000 {
        writeln!(main, "update every = {}", i + 1).unwrap();
    }
    for i in 0..45_999 {
        writeln!(main, "unknown {i} = v").unwrap();
    }
    main.push_str("[host labels]\n");
    for i in 0..20_000 {
        writeln!(main, "label{i} = value {i}").unwrap();
    }
    for i in 0..2_500 {
        writeln!(main, "[graphite:g{i}]\nenabled = no\ndestination = 127.0.0.1:{}", 1000 + i).unwrap();
    }
    for i in 0..1_000 {
        writeln!(main, "[00000000-0000-0000-0000-{i:012}]\nenabled = yes").unwrap();
    }
    let mut stream = String::new();
    for i in 500..1_500 {
        writeln!(stream, "[00000000-0000-0000-0000-{i:012}]\nallow from = 10.*").unwrap();
    }
    (main, stream)
}
