//! Export: read completed slots out of the store and deliver them to backends.
//!
//! The pipeline, top to bottom, for each exporter instance:
//!
//! ```text
//! window (which slots are due) → compute (average/sum/as collected) → format → encode (batches)
//!     → channel → outbox (of lines, or of request bodies)
//!     → transport (tcp/udp, or http(s); failover)
//! ```
//!
//! * [`window`]: which completed slots a wake-up covers, each exactly once;
//! * [`compute`]: a dimension's value for a window;
//! * [`format`](mod@format): graphite, opentsdb, json, remote write bytes;
//! * [`encode`]: a window's metrics as one buffer of lines or as size-limited request bodies;
//! * [`outbox`]: what waits for delivery: lines (advanced at line boundaries) or whole bodies;
//! * [`spool`]: an optional write-ahead log on disk of what waits, surviving outages and restarts;
//! * [`transport`]: getting bytes to the first reachable destination, over a socket or HTTP(S);
//! * [`sender`]: the delivery thread: retries, drops, counters;
//! * [`stats`]: an instance's counters;
//! * [`selfmon`]: those counters charted back into the store as `netdata.*` charts;
//! * [`instance`]: one configured exporter: its formatter and sender threads.

pub mod compute;
pub mod encode;
pub mod format;
pub mod instance;
pub mod outbox;
pub mod selfmon;
pub mod sender;
pub mod spool;
pub mod stats;
pub mod transport;
pub mod window;
