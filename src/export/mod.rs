//! Export: read completed slots out of the store and deliver them to backends.
//!
//! The pipeline, top to bottom, for each exporter instance:
//!
//! ```text
//! window (which slots are due) → compute (average/sum/as collected) → format (bytes)
//!     → channel → buffer (outbox, line boundaries) → transport (tcp/udp, failover)
//! ```
//!
//! * [`window`]: which completed slots a wake-up covers, each exactly once;
//! * [`compute`]: a dimension's value for a window;
//! * [`pattern`]: netdata's simple patterns for chart and host filters;
//! * [`format`]: graphite, opentsdb, json, remote write bytes;
//! * [`buffer`]: the outbox of formatted intervals, advanced at line boundaries;
//! * [`transport`]: getting bytes to the first reachable destination;
//! * [`sender`]: the delivery thread: retries, drops, counters;
//! * [`stats`]: an instance's counters;
//! * [`instance`]: one configured exporter: its formatter and sender threads.

pub mod buffer;
pub mod compute;
pub mod format;
pub mod instance;
pub mod pattern;
pub mod sender;
pub mod stats;
pub mod transport;
pub mod window;
