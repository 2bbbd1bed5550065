//! Export: read completed slots out of the store and deliver them to backends.
//!
//! The pipeline, top to bottom, for each exporter instance:
//!
//! ```text
//! window (which slots are due) → compute (average/sum/as collected) → connector (format)
//!     → batch → channel → outbox (of lines, or of request bodies)
//!     → transport (tcp/udp, or http(s); failover)
//! ```
//!
//! * [`window`]: which completed slots a wake-up covers, each exactly once;
//! * [`compute`]: a dimension's value for a window;
//! * [`connector`]: each exporter type in one place: graphite, opentsdb, json, remote write
//!   (its types, default port, format, body limits and headers, lines or HTTP);
//! * [`format`](mod@format): the building blocks of the formats (line templates, JSON-array
//!   bodies, sanitizing, number printing);
//! * [`batch`]: a window's metrics as one buffer of lines or as size-limited request bodies;
//! * [`outbox`]: what waits for delivery: lines (advanced at line boundaries) or whole bodies;
//! * [`spool`]: an optional write-ahead log on disk of what waits, surviving outages and restarts;
//! * [`transport`]: getting bytes to the first reachable destination, over a socket or HTTP(S);
//! * [`sender`]: the delivery thread: retries, drops, counters;
//! * [`stats`]: an instance's counters;
//! * [`selfmon`]: those counters charted back into the store as `netdata.*` charts;
//! * [`instance`]: one configured exporter: its formatter and sender threads.

pub mod batch;
pub mod compute;
pub mod connector;
pub mod exported;
pub mod format;
pub mod instance;
pub mod outbox;
pub mod selfmon;
pub mod sender;
pub mod spool;
pub mod stats;
pub mod transport;
pub mod window;
