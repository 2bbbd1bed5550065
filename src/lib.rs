//! rrdpipe: a metrics agent.
//!
//! Collectors feed an in-memory round-robin database; exporters read completed slots from it and
//! deliver them to Graphite, OpenTSDB, JSON and Prometheus remote-write receivers.
//!
//! ```text
//!  collect/ ──(collect)──▶ rrd/ ──(read completed slots)──▶ export/
//!  proc, plugins.d         hosts → charts → dimensions      select/compute → format → buffer → transport
//! ```
//!
//! # Layout
//! * [`config`]: netdata.conf-style configuration; every error names `file:line`;
//! * [`rrd`]: the round-robin store: storage numbers, charts, hosts;
//! * [`collect`]: the `proc` collector and external plugins (plugins.d protocol);
//! * [`export`]: formats completed slots for Graphite, OpenTSDB, JSON and remote write;
//! * [`shutdown`]: the stop signal every thread waits on;
//! * [`agent`]: wires the pieces together and runs them until shutdown.

#![deny(missing_docs)]

pub mod agent;
pub mod collect;
pub mod config;
pub mod export;
pub mod rrd;
pub mod shutdown;
