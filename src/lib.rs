//! rrdpipe: a metrics agent.
//!
//! Collectors feed an in-memory round-robin database; exporters read completed slots from it and
//! deliver them to Graphite, OpenTSDB, JSON and Prometheus remote-write receivers.
//!
//! ```text
//!  collect/ ──(collect)──▶ rrd/ ──(read completed slots)──▶ export/
//!  proc, plugins.d,        hosts → charts → dimensions      select/compute → format → buffer → transport
//!  streaming children
//! ```
//!
//! # Layout
//! * [`config`]: netdata.conf-style configuration; every error names `file:line`;
//! * [`rrd`]: the round-robin store: storage numbers, charts, hosts;
//! * [`collect`]: the `proc` collector, external plugins (plugins.d protocol) and netdata children
//!   streaming in (parent mode);
//! * [`shutdown`]: the stop signal every thread waits on;
//! * [`export`]: exporter instances: windows, values, formats, outbox, transports;
//! * [`api`]: netdata's HTTP API (`/api/v1`) over the store;
//! * [`pattern`]: netdata's simple patterns, as filters in configuration, streaming, export and the API;
//! * [`clock`]: wall-clock time in microseconds, milliseconds and seconds;
//! * [`logs`]: how often a recurring condition is logged; outside text escaped for logs;
//! * [`demo`]: the self-contained demonstration behind `rrdpipe --demo`;
//! * [`agent`]: wires the pieces together and runs them until shutdown.

#![deny(missing_docs)]

pub mod agent;
pub mod api;
pub mod clock;
pub mod collect;
pub mod config;
pub mod demo;
pub mod export;
pub mod logs;
pub mod pattern;
pub mod rrd;
pub mod shutdown;
#[doc(hidden)]
pub mod testdata;
